/**
 * Fault injection for the crash-safety tests: with WARDEN_CRASH_AT=<name> the process kills
 * itself (SIGKILL, no cleanup) when it reaches that point. Unset in every real deployment.
 */
export function crashPoint(name: string): void {
  if (process.env.WARDEN_CRASH_AT === name) process.kill(process.pid, 'SIGKILL');
}
