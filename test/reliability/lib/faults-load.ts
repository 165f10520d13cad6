/**
 * Sessions under load for a fault test: each node-postgres client runs `SELECT <seq> AS
 * <marker>` in a loop, where the marker (an identifier, so the ledger's masked text keeps it)
 * names the run, the client and the statement. Each client writes down what came back for
 * every statement (the right row, or the error), in which phase of the test it was sent and
 * in which the error came, and every failed connection attempt; a client whose connection
 * broke connects again.
 */
import pg from 'pg';

export type Phase = 'before' | 'fault' | 'after';

export interface ClientError {
  /** The load client's index; -1 for a one-off session. */
  readonly client: number;
  /** When the client got the error. */
  readonly phase: Phase;
  /** SQLSTATE when the error came from the wire, else node's error code (ECONNREFUSED…). */
  readonly code: string | undefined;
  readonly message: string;
}

export interface StatementOutcome {
  readonly client: number;
  /** When the statement was sent. */
  readonly phase: Phase;
  readonly marker: string;
  /** Set when the statement's row reached the client. */
  readonly result: boolean;
  readonly error?: ClientError;
}

export interface LoadReport {
  readonly statements: readonly StatementOutcome[];
  readonly connectFailures: readonly ClientError[];
}

export interface Load {
  /** Later statements and connection attempts are counted in this phase. */
  setPhase(phase: Phase): void;
  /** The clients that got at least one result for a statement sent in this phase. */
  clientsWithResults(phase: Phase): Set<number>;
  /** Lets every client finish its statement, closes the connections, and reports. */
  stop(): Promise<LoadReport>;
}

export interface SessionTarget {
  readonly port: number;
  /** The gateway's connection name. */
  readonly database: string;
}

const PAUSE_MS = 20;
const RECONNECT_PAUSE_MS = 200;

/** `tokens`: one Warden token per client. `label` starts every marker: unique to the run. */
export function startLoad(target: SessionTarget, tokens: readonly string[], label: string): Load {
  let phase: Phase = 'before';
  let stopping = false;
  const statements: StatementOutcome[] = [];
  const connectFailures: ClientError[] = [];

  const runClient = async (index: number) => {
    let connection: pg.Client | undefined;
    for (let seq = 0; !stopping; ) {
      if (!connection) {
        const client = newClient(target, `load${index}`, tokens[index]!);
        try {
          await client.connect();
          connection = client;
        } catch (error) {
          connectFailures.push(clientError(index, phase, error));
          await client.end().catch(() => undefined);
          await pause(RECONNECT_PAUSE_MS);
        }
        continue;
      }
      seq += 1;
      const marker = `${label}_c${index}_s${seq}`;
      const sentIn = phase;
      try {
        const { rows } = await connection.query(`SELECT ${seq} AS ${marker}`);
        statements.push({ client: index, phase: sentIn, marker, result: rows[0]?.[marker] === seq });
      } catch (error) {
        statements.push({ client: index, phase: sentIn, marker, result: false, error: clientError(index, phase, error) });
        // An ERROR leaves the session usable; FATAL or a broken socket ends it.
        if ((error as { severity?: string }).severity !== 'ERROR') {
          await connection.end().catch(() => undefined);
          connection = undefined;
        }
      }
      await pause(PAUSE_MS);
    }
    await connection?.end().catch(() => undefined);
  };

  const clients = Promise.all(tokens.map((_, index) => runClient(index)));
  return {
    setPhase: (next) => {
      phase = next;
    },
    clientsWithResults: (wanted) => new Set(statements.filter((statement) => statement.phase === wanted && statement.result).map((statement) => statement.client)),
    stop: async () => {
      stopping = true;
      await clients;
      return { statements, connectFailures };
    },
  };
}

/** One new session that runs `SELECT 1 AS <marker>`: undefined when its row came back, else what the client got. */
export async function tryNewSession(target: SessionTarget, token: string, marker: string, phase: Phase): Promise<ClientError | undefined> {
  const client = newClient(target, 'probe', token);
  try {
    await client.connect();
    const { rows } = await client.query(`SELECT 1 AS ${marker}`);
    return rows[0]?.[marker] === 1 ? undefined : clientError(-1, phase, new Error(`unexpected row ${JSON.stringify(rows[0])}`));
  } catch (error) {
    return clientError(-1, phase, error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function newClient(target: SessionTarget, user: string, token: string): pg.Client {
  const client = new pg.Client({ host: '127.0.0.1', port: target.port, user, database: target.database, password: token, connectionTimeoutMillis: 15_000, query_timeout: 30_000 });
  // A connection the gateway drops while idle is noticed at the next statement.
  client.on('error', () => undefined);
  return client;
}

function clientError(client: number, phase: Phase, error: unknown): ClientError {
  const { code, message } = error as { code?: string; message?: string };
  return { client, phase, code, message: message ?? String(error) };
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
