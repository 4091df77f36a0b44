/**
 * The sandbox's Postgres database: customers, orders, order items, payments and the feature_flags
 * table the flags provider reads. Creating and seeding are idempotent: a second run finds everything
 * in place and changes nothing.
 */
import pg from 'pg';

export const SANDBOX_FLAGS: Record<string, { enabled: boolean; description: string }> = {
  // Modelled on the five phases of the LangGraph migration runbook.
  hmac_verification: { enabled: true, description: 'Phase 1: verify webhook HMAC signatures' },
  langgraph_enabled: { enabled: true, description: 'Phase 2: LangGraph chat pipeline instead of direct chat' },
  dual_lane_routing: { enabled: true, description: 'Phase 3: dual-lane routing' },
  rag_memory_enabled: { enabled: true, description: 'Phase 4: RAG and memory' },
  grok_integration: { enabled: true, description: 'Phase 5: Grok as LLM provider' },
  appointment_tools_enabled: { enabled: true, description: 'Appointment booking tools' },
  maintenance_mode: { enabled: false, description: 'Kill switch: reject writes while on' },
};

const schema = `
CREATE TABLE IF NOT EXISTS customers (
  id bigint PRIMARY KEY,
  email text NOT NULL UNIQUE,
  full_name text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
  id bigint PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customers(id),
  status text NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
  total_cents integer NOT NULL CHECK (total_cents >= 0),
  created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS order_items (
  order_id bigint NOT NULL REFERENCES orders(id),
  line integer NOT NULL,
  sku text NOT NULL,
  quantity integer NOT NULL CHECK (quantity > 0),
  unit_cents integer NOT NULL,
  PRIMARY KEY (order_id, line)
);
CREATE TABLE IF NOT EXISTS payments (
  id bigint PRIMARY KEY,
  order_id bigint NOT NULL REFERENCES orders(id),
  amount_cents integer NOT NULL,
  provider text NOT NULL,
  captured_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS feature_flags (
  name text PRIMARY KEY,
  enabled boolean NOT NULL,
  description text NOT NULL DEFAULT '',
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL DEFAULT 'seed'
);
`;

// Deterministic rows (derived from generate_series), so every sandbox holds the same data.
const seed = `
INSERT INTO customers (id, email, full_name, created_at)
SELECT i, 'customer' || i || '@example.test', 'Customer ' || i, timestamptz '2026-01-01' + i * interval '37 minutes'
FROM generate_series(1, 500) AS i ON CONFLICT DO NOTHING;
INSERT INTO orders (id, customer_id, status, total_cents, created_at)
SELECT i, 1 + (i * 7919) % 500, (ARRAY['pending', 'paid', 'shipped', 'cancelled'])[1 + i % 4], 0,
       timestamptz '2026-02-01' + i * interval '11 minutes'
FROM generate_series(1, 2000) AS i ON CONFLICT DO NOTHING;
INSERT INTO order_items (order_id, line, sku, quantity, unit_cents)
SELECT o, l, 'SKU-' || lpad(((o * 31 + l * 17) % 250)::text, 4, '0'), 1 + (o + l) % 3, 199 + ((o * l * 53) % 9800)
FROM generate_series(1, 2000) AS o, generate_series(1, 3) AS l ON CONFLICT DO NOTHING;
UPDATE orders SET total_cents = t.total FROM (
  SELECT order_id, sum(quantity * unit_cents)::int AS total FROM order_items GROUP BY order_id
) AS t WHERE orders.id = t.order_id AND orders.total_cents = 0;
INSERT INTO payments (id, order_id, amount_cents, provider, captured_at)
SELECT o.id, o.id, o.total_cents, (ARRAY['stripe', 'adyen'])[1 + o.id % 2], o.created_at + interval '2 minutes'
FROM orders o WHERE o.status IN ('paid', 'shipped') ON CONFLICT DO NOTHING;
`;

function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!name) throw new Error('the sandbox database URL names no database');
  return name;
}

/** Creates the database when it is missing, then its tables and rows. */
export async function ensureSandboxDatabase(url: string): Promise<void> {
  const name = databaseName(url);
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: maintenance.toString() });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) {
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // created meanwhile by a concurrent start: fine
      });
    }
  } finally {
    await admin.end();
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['sandbox-seed']);
    await client.query(schema);
    await client.query(seed);
    for (const [flag, { enabled, description }] of Object.entries(SANDBOX_FLAGS)) {
      await client.query('INSERT INTO feature_flags (name, enabled, description) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
        flag,
        enabled,
        description,
      ]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    await client.end();
  }
}
