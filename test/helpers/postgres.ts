/**
 * A throwaway PostgreSQL cluster for tests: initdb into a temp dir, pg_ctl start on a free
 * loopback port, SCRAM-SHA-256 for TCP logins. As root (CI), every server command runs as
 * the postgres user, because initdb refuses to run as root.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { selfSignedCertificate } from '../../proxy-fleet/tls-certificate.js';

const run = promisify(execFile);

export interface TestPostgres {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly bindir: string;
  /** An ordinary role that owns `database`, with a random SCRAM password. */
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** The server's TLS certificate (self-signed for localhost and 127.0.0.1): the CA to verify it with. */
  readonly caCert: string;
  /** Runs SQL as the superuser over the Unix socket; returns psql's unaligned output. */
  sql(query: string, database?: string): Promise<string>;
  stop(): Promise<void>;
}

export async function findPostgresBindir(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const versions = (await readdir(root).catch(() => [] as string[])).sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql: install the postgresql package (.ci/run does)');
  return join(root, versions[0]!, 'bin');
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function postgresIds(): Promise<[number, number]> {
  const { stdout: uid } = await run('id', ['-u', 'postgres']);
  const { stdout: gid } = await run('id', ['-g', 'postgres']);
  return [Number(uid.trim()), Number(gid.trim())];
}

/** `settings`: more server settings (-c name=value), e.g. max_connections for a benchmark with hundreds of clients. */
export async function startTestPostgres(options: { settings?: Readonly<Record<string, string>> } = {}): Promise<TestPostgres> {
  const bindir = await findPostgresBindir();
  const dir = await mkdtemp(join(tmpdir(), 'warden-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  const asServer = async (command: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bindir, command), ...args]) : run(join(bindir, command), args);
  if (asRoot) await chown(dir, ...(await postgresIds()));
  await chmod(dir, 0o700);
  const superPassword = randomBytes(18).toString('base64url');
  const pwfile = join(dir, 'pwfile');
  await writeFile(pwfile, `${superPassword}\n`, { mode: 0o644 });
  await asServer('initdb', ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`, '--no-sync', '-E', 'UTF8', '--locale=C']);
  await rm(pwfile);
  const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);
  await writeFile(join(data, 'server.crt'), cert, { mode: 0o644 });
  await writeFile(join(data, 'server.key'), key, { mode: 0o600 });
  if (asRoot) for (const file of ['server.crt', 'server.key']) await chown(join(data, file), ...(await postgresIds()));
  const port = await freePort();
  await asServer('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c log_statement=all -c ssl=on${Object.entries(options.settings ?? {}).map(([name, value]) => ` -c ${name}=${value}`).join('')}`, 'start']);

  const sql = async (query: string, database = 'postgres') => {
    const { stdout } = await run(join(bindir, 'psql'), ['-h', dir, '-p', String(port), '-U', 'postgres', '-d', database, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', query], {
      env: { ...process.env, PGPASSWORD: '' },
    });
    return stdout.trim();
  };
  const user = 'warden_app';
  const password = randomBytes(18).toString('base64url');
  const database = 'appdb';
  await sql(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
  await sql(`CREATE DATABASE ${database} OWNER ${user}`);
  return {
    host: '127.0.0.1',
    port,
    bindir,
    user,
    password,
    database,
    caCert: cert,
    sql,
    stop: async () => {
      await asServer('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
