import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import pg from 'pg';
import { testPool } from '@platform/shared/testing';
import { Redis } from 'ioredis';
import { parseEvent, type AnyEvent, type RunningServer } from '@platform/shared';
import { createScratchDatabase } from '../../../../scripts/lib/services.ts';
import { migrateAll } from '../../../../scripts/lib/migrations.ts';
import { startUsersSubgraph } from '../../src/index.ts';

// One users subgraph on a free port over a scratch database of its own, with real Redis. Each
// harness counts login failures under its own Redis prefix, so tests never throttle each other,
// and its outbox relay publishes to a stream of its own, so tests never read each other's events.

export interface GraphQLResult<T> {
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

export interface CallOptions {
  token?: string;
  /** sent as x-forwarded-for, as the gateway does for the caller's address */
  forwardedFor?: string;
}

export interface Session {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: { id: string; username: string; role: string };
}

export const goodPassword = 'a-good-password';
const sessionFields = 'accessToken refreshToken expiresIn user { id username role }';

export interface UsersHarness {
  readonly url: string;
  readonly databaseUrl: string;
  readonly dataDir: string;
  readonly pool: pg.Pool;
  call<T>(query: string, variables?: Record<string, unknown>, options?: CallOptions): Promise<GraphQLResult<T>>;
  register(username?: string, password?: string, displayName?: string): Promise<Session>;
  registerRaw(username: string, password: string, displayName?: string): Promise<GraphQLResult<{ register: Session }>>;
  login(username: string, password?: string, options?: CallOptions): Promise<GraphQLResult<{ login: Session }>>;
  refresh(refreshToken: string): Promise<GraphQLResult<{ refreshToken: Session }>>;
  /** SQL against the harness's database, for arranging and for checking what was written */
  sql<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]>;
  /** the stream this harness's relay publishes to */
  readonly stream: string;
  /** waits until every committed outbox row is published, then returns the stream's events in order */
  events(): Promise<AnyEvent[]>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A name no other test uses. */
export const unique = (prefix: string): string => `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 10)}`;

export const claimsOf = (token: string) => decodeJwt(token);
export const kidOf = (token: string) => decodeProtectedHeader(token).kid;

export async function startUsersHarness(extraEnv: Record<string, string> = {}): Promise<UsersHarness> {
  const services = inject('services');
  const database = await createScratchDatabase(services.databaseUrl, 'users_it');
  await migrateAll(database.url);
  const dataDir = mkdtempSync(join(tmpdir(), 'users-it-'));
  const env = { DATABASE_URL: database.url, REDIS_URL: services.redisUrl, DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'error', ...extraEnv };
  const stream = `test:users-events:${randomUUID()}`;
  const options = { loginThrottleKeyPrefix: `users-it:${randomUUID()}:`, eventStream: stream };
  let server: RunningServer = await startUsersSubgraph(env, options);
  const pool = testPool(database.url, 2);
  const redis = new Redis(services.redisUrl);

  const call: UsersHarness['call'] = async (query, variables = {}, options = {}) => {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.forwardedFor ? { 'x-forwarded-for': options.forwardedFor } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as never;
  };
  const registerRaw: UsersHarness['registerRaw'] = (username, password, displayName) =>
    call(`mutation($u: String!, $p: String!, $d: String) { register(username: $u, password: $p, displayName: $d) { ${sessionFields} } }`, {
      u: username,
      p: password,
      d: displayName,
    });

  return {
    get url() {
      return server.url;
    },
    databaseUrl: database.url,
    dataDir,
    pool,
    call,
    registerRaw,
    async register(username = unique('user'), password = goodPassword, displayName) {
      const result = await registerRaw(username, password, displayName);
      if (!result.data?.register) throw new Error(`register failed: ${JSON.stringify(result.errors)}`);
      return result.data.register;
    },
    login: (username, password = goodPassword, options = {}) =>
      call(`mutation($u: String!, $p: String!) { login(username: $u, password: $p) { ${sessionFields} } }`, { u: username, p: password }, options),
    refresh: (refreshToken) => call(`mutation($r: String!) { refreshToken(refreshToken: $r) { ${sessionFields} } }`, { r: refreshToken }),
    sql: async (text, values) => (await pool.query(text, values)).rows,
    stream,
    // The relay publishes within milliseconds of a commit (NOTIFY), but a test must not depend
    // on timing: wait until nothing committed is left unpublished, then read the stream.
    async events() {
      for (;;) {
        const [pending] = (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM users.outbox WHERE published_at IS NULL')).rows;
        if (pending?.n === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const entries = await redis.xrange(stream, '-', '+');
      return entries.map(([, fields]) => parseEvent(fields[fields.indexOf('event') + 1] ?? ''));
    },
    async restart() {
      await server.stop();
      server = await startUsersSubgraph(env, options);
    },
    async stop() {
      await server.stop();
      await pool.end();
      await redis.del(stream);
      redis.disconnect();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
