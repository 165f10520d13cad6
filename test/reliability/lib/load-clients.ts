/**
 * Many node-postgres sessions at once, each running statements in a loop until a shared
 * deadline: simple-protocol queries and extended-protocol (bound) ones in turn. Every client
 * error is collected, never thrown, so one failure cannot hide the others.
 */
import pg from 'pg';

export interface ClientTarget {
  readonly port: number;
  readonly database: string;
  readonly password: string;
}

export interface ClientRun {
  /** The user name the session logged in with: the ledger's session.start names it. */
  readonly user: string;
  /** Statements that got their answer; each is one protocol message, so one command entry. */
  readonly statements: number;
  readonly errors: readonly string[];
}

export async function runClients(target: ClientTarget, count: number, durationMs: number): Promise<ClientRun[]> {
  const deadline = Date.now() + durationMs;
  return Promise.all(Array.from({ length: count }, (_, index) => runClient(target, `load-${index}`, index, deadline)));
}

async function runClient(target: ClientTarget, user: string, index: number, deadline: number): Promise<ClientRun> {
  const errors: string[] = [];
  let statements = 0;
  const client = new pg.Client({ host: '127.0.0.1', port: target.port, user, database: target.database, password: target.password });
  client.on('error', (error: Error) => errors.push(`connection: ${error.message}`));
  try {
    await client.connect();
    while (Date.now() < deadline) {
      const n = statements;
      // No parameters: the simple protocol (Query); with parameters: Parse/Bind/Execute/Sync.
      const { rows } = n % 2 === 0 ? await client.query(`SELECT ${index} AS client, ${n} AS n, repeat('x', 200) AS pad`) : await client.query('SELECT $1::int AS client, $2::int AS n', [index, n]);
      const row = rows[0] as { client: number; n: number } | undefined;
      if (row?.client !== index || row.n !== n) errors.push(`statement ${n}: wrong answer ${JSON.stringify(rows)}`);
      statements++;
    }
  } catch (error) {
    errors.push((error as Error).message);
  } finally {
    await client.end().catch((error: Error) => errors.push(`end: ${error.message}`));
  }
  return { user, statements, errors };
}
