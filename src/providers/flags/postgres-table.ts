/**
 * Feature flags kept in a Postgres table (name text primary key, enabled boolean, updated_at,
 * updated_by), as the sandbox and many small services keep them.
 */
import pg from 'pg';
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';
import { secretFromEnv, type ProviderDefinition } from '../types.ts';

const settingsSchema = z.strictObject({
  databaseUrlEnv: envVarName,
  table: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a plain lower-case table name').default('feature_flags'),
});
type Settings = z.infer<typeof settingsSchema>;

export const postgresTableFlags: ProviderDefinition<'flags', Settings> = {
  id: 'postgres-table',
  description: 'feature flags in a Postgres table (name, enabled, updated_at, updated_by), as the sandbox keeps them',
  capabilities: ['flags'],
  settingsSchema,
  example: { databaseUrlEnv: 'FLAGS_DATABASE_URL', table: 'feature_flags' },
  create(settings, context) {
    // Idle connections close soon: a database swap ends every backend, and a pool holding none has nothing to lose.
    const pool = new pg.Pool({ connectionString: secretFromEnv(context, settings.databaseUrlEnv), max: 2, idleTimeoutMillis: 5000 });
    pool.on('error', (err) => context.logger.warn({ error: err, table: settings.table }, 'an idle flags connection was closed by the server'));
    const table = pg.escapeIdentifier(settings.table);
    return {
      flags: {
        async readFlags() {
          const { rows } = await pool.query<{ name: string; enabled: boolean }>(`SELECT name, enabled FROM ${table} ORDER BY name`);
          return Object.fromEntries(rows.map((row) => [row.name, row.enabled]));
        },
        async setFlag(name, enabled, { actor }) {
          // Only an actual change touches the row, so a retried call leaves updated_at as it was.
          const result = await pool.query(
            `UPDATE ${table} SET enabled = $2, updated_at = now(), updated_by = $3 WHERE name = $1 AND enabled IS DISTINCT FROM $2`,
            [name, enabled, actor],
          );
          if (result.rowCount === 0) {
            const exists = await pool.query(`SELECT 1 FROM ${table} WHERE name = $1`, [name]);
            if (exists.rowCount === 0) throw new Error(`unknown feature flag '${name}' in table ${settings.table}`);
          }
        },
      },
      close: () => pool.end(),
    };
  },
};
