import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { ConfigError } from './config.ts';
import type { Logger } from './logger.ts';

export type Database = NodePgDatabase;

export interface PostgresHandle {
  pool: pg.Pool;
  db: Database;
  close(): Promise<void>;
}

export function connectPostgres(url: string, options: { applicationName: string; max?: number; logger?: Logger }): PostgresHandle {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    application_name: options.applicationName,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection emits 'error' on the pool; unhandled, it would kill the process.
  pool.on('error', (error) => options.logger?.warn('postgres idle client error', { error: error.message }));
  if (statementCountingEnabled()) countStatements(pool, options.applicationName);
  return { pool, db: drizzle(pool), close: () => pool.end() };
}

// Test-only statement counter. The query-count test (test/e2e/catalog/query-count.test.ts) must
// count the SQL statements each subgraph process sends for one gateway request, and those
// processes are separate from the test. With SQL_STATEMENT_COUNTING=1 in a process's environment
// (never set in production, where this code does nothing), every statement sent by a client of a
// pool of that process is counted under the pool's application name; the subgraphs then serve the
// counts at GET /test/sql-statements. Counting client.query catches everything once: pool.query
// runs on a client too, and so do drizzle's transactions (BEGIN and COMMIT count as statements).

const statementCounts = new Map<string, number>();

/** True when this process counts its SQL statements (SQL_STATEMENT_COUNTING=1). */
export function statementCountingEnabled(): boolean {
  return process.env.SQL_STATEMENT_COUNTING === '1';
}

/** Statements sent so far per pool application name; null when counting is off. */
export function sqlStatementCounts(): Record<string, number> | null {
  return statementCountingEnabled() ? Object.fromEntries(statementCounts) : null;
}

function countStatements(pool: pg.Pool, applicationName: string): void {
  statementCounts.set(applicationName, statementCounts.get(applicationName) ?? 0);
  pool.on('connect', (client) => {
    // pg's Client.query has many overloads; the wrapper forwards its arguments untouched.
    const counted = client as unknown as { query: (...args: unknown[]) => unknown };
    const original = counted.query.bind(client);
    counted.query = (...args: unknown[]) => {
      statementCounts.set(applicationName, (statementCounts.get(applicationName) ?? 0) + 1);
      return original(...args);
    };
  });
}

/**
 * Applies a subgraph's drizzle-kit migrations into its own schema. An advisory lock per schema
 * makes concurrent starts of replicas safe: one migrates, the others wait and find nothing to do.
 */
export async function migrateSchema(url: string, schema: string, migrationsFolder: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: `migrate-${schema}` });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await migrate(drizzle(client), { migrationsFolder, migrationsSchema: schema, migrationsTable: '__migrations' });
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`migrate:${schema}`]).catch(() => undefined);
    await client.end();
  }
}

/**
 * Fails start-up with one line naming the variable when the database cannot be used, instead of
 * a service that starts and then fails every request.
 */
export async function checkPostgres(pool: pg.Pool, variable = 'DATABASE_URL'): Promise<void> {
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    const code = (error as { code?: string }).code;
    const reason =
      code === '28P01' || code === '28000'
        ? 'rejects the credentials: check the user and password in it'
        : code === '3D000'
          ? 'names a database that does not exist: create it, or let `npm start` do it'
          : code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH'
            ? `does not answer (${code}): start PostgreSQL there or fix the host and port`
            : `cannot be used: ${error instanceof Error ? error.message : String(error)}`;
    throw new ConfigError(variable, reason);
  }
}
