/**
 * The embedded demo database: PostgreSQL 18 compiled to WASM (PGlite), served on a loopback
 * port, seeded with obviously fake personal data. It lets a newcomer try the gateway with
 * nothing installed. It is for `warden up` only; tests use a real PostgreSQL server.
 */
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { PostgresConnection } from '../core/config.js';

export const DEMO_CONNECTION = 'demo';

// Fake people. The SSNs use area 9xx, which is never issued; the cards are network test numbers.
const seed = `
CREATE TABLE customers (
  id serial PRIMARY KEY,
  full_name text NOT NULL,
  email text NOT NULL,
  ssn text NOT NULL,
  card_number text NOT NULL,
  city text NOT NULL
);
INSERT INTO customers (full_name, email, ssn, card_number, city) VALUES
  ('Ada Demo', 'ada.demo@example.com', '900-12-3456', '4111111111111111', 'Lisbon'),
  ('Grace Sample', 'grace.sample@example.com', '900-23-4567', '5555555555554444', 'Oslo'),
  ('Alan Fixture', 'alan.fixture@example.org', '900-34-5678', '378282246310005', 'Austin'),
  ('Edsger Mock', 'edsger.mock@example.net', '900-45-6789', '6011111111111117', 'Utrecht'),
  ('Barbara Stub', 'barbara.stub@example.com', '900-56-7890', '4000056655665556', 'Boston');
CREATE TABLE orders (
  id serial PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES customers(id),
  total_cents integer NOT NULL,
  placed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO orders (customer_id, total_cents) VALUES (1, 1299), (1, 4500), (2, 999), (3, 15000), (5, 250);
`;

export interface DemoDatabase {
  readonly connection: PostgresConnection;
  close(): Promise<void>;
}

export async function startDemoDatabase(): Promise<DemoDatabase> {
  const db = await PGlite.create();
  await db.exec(seed);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 16 });
  await server.start();
  const address = server.getServerConn();
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return {
    connection: { kind: 'postgres', host: '127.0.0.1', port, database: 'postgres', user: 'postgres', tls: 'disable' },
    close: async () => {
      await server.stop();
      await db.close();
    },
  };
}
