import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import neo4j from 'neo4j-driver';
import pg from 'pg';
import { testPool } from '@platform/shared/testing';
import { Redis } from 'ioredis';
import { createScratchDatabase } from '../../scripts/lib/services.ts';
import { migrateAll } from '../../scripts/lib/migrations.ts';
import { startSupergraphStack, type SupergraphStack } from '../../scripts/lib/supergraph-stack.ts';

// The end-to-end environment: a scratch PostgreSQL database, the e2e-only Neo4j (wiped), and the
// whole supergraph (five subgraph processes + gateway) on free ports, exactly as `npm start` runs it.

export interface GraphQLResponse<T = Record<string, unknown>> {
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
}

export interface TestEnvironment {
  gatewayUrl: string;
  databaseUrl: string;
  /** the stack's DATA_DIR (the users subgraph's signing keys live in keys/signing-keys.json) */
  dataDir: string;
  /** URL of one subgraph's /graphql, for tests that bypass the gateway */
  subgraphUrl(name: string): string;
  stack: SupergraphStack;
  graphql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, token?: string): Promise<GraphQLResponse<T>>;
  /** registers a fresh user (unique name) and returns its token and id */
  signUp(prefix?: string): Promise<{ id: string; username: string; token: string }>;
  /** makes a user ADMIN directly in the database (as `npm run user:promote` does) and signs in again */
  promote(username: string, password?: string): Promise<string>;
  /** this stack's event streams are `<prefix>:users|movies|reviews` */
  eventStreamPrefix: string;
  sql<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]>;
  stop(): Promise<void>;
}

export const testPassword = 'e2e-password-1';

export async function startTestEnvironment(): Promise<TestEnvironment> {
  const services = inject('services');
  const graph = inject('e2eNeo4j');
  if (!graph) throw new Error('the e2e Neo4j is missing: run e2e tests with `vitest run --project e2e`');
  await wipeGraph(graph);
  const scratch = await createScratchDatabase(services.databaseUrl, 'e2e');
  await migrateAll(scratch.url);
  const dataDir = mkdtempSync(join(tmpdir(), 'e2e-data-'));
  const eventStreamPrefix = `e2e-events-${randomUUID()}`;
  const stack = await startSupergraphStack({
    services: { ...services, databaseUrl: scratch.url, neo4j: graph },
    dataDir,
    freePorts: true,
    // Every e2e stack shares the local Redis and calls from 127.0.0.1: a per-address login limit
    // would let one test file's failed logins throttle the next file.
    extraEnv: {
      LOG_LEVEL: 'warn',
      LOGIN_MAX_FAILURES_PER_ADDRESS: '100000',
      REVIEW_WRITES_PER_MINUTE_PER_ADDRESS: '100000',
      // its own event streams: other stacks on the same Redis must not feed this one's consumers
      EVENT_STREAM_PREFIX: eventStreamPrefix,
    },
  });
  const pool = testPool(scratch.url, 2);

  const graphql: TestEnvironment['graphql'] = async (query, variables, token) => {
    const response = await fetch(stack.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as never;
  };

  const login = async (username: string, password: string): Promise<string> => {
    const result = await graphql<{ login: { accessToken: string } }>(
      'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }',
      { u: username, p: password },
    );
    if (!result.data?.login) throw new Error(`login failed: ${JSON.stringify(result.errors)}`);
    return result.data.login.accessToken;
  };

  return {
    gatewayUrl: stack.gatewayUrl,
    databaseUrl: scratch.url,
    dataDir,
    subgraphUrl(name) {
      const running = stack.processes.find((process) => process.name === name);
      if (!running) throw new Error(`no subgraph named ${name}`);
      return running.url;
    },
    stack,
    graphql,
    async signUp(prefix = 'user') {
      const username = `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
      const result = await graphql<{ register: { accessToken: string; user: { id: string } } }>(
        'mutation($u: String!, $p: String!) { register(username: $u, password: $p) { accessToken user { id } } }',
        { u: username, p: testPassword },
      );
      if (!result.data?.register) throw new Error(`register failed: ${JSON.stringify(result.errors)}`);
      return { id: result.data.register.user.id, username, token: result.data.register.accessToken };
    },
    async promote(username, password = testPassword) {
      await pool.query("UPDATE users.users SET role = 'ADMIN' WHERE lower(username) = lower($1)", [username]);
      return login(username, password);
    },
    async sql(text, values) {
      return (await pool.query(text, values)).rows;
    },
    eventStreamPrefix,
    async stop() {
      await stack.stop();
      const redis = new Redis(services.redisUrl);
      const streams = await redis.keys(`${eventStreamPrefix}:*`);
      if (streams.length > 0) await redis.del(...streams);
      redis.disconnect();
      await pool.end();
      await scratch.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function wipeGraph(endpoint: { uri: string; user: string; password: string }): Promise<void> {
  const driver = neo4j.driver(endpoint.uri, neo4j.auth.basic(endpoint.user, endpoint.password));
  try {
    // The e2e graph holds a few hundred nodes at most: one transaction is enough.
    await driver.executeQuery('MATCH (n) DETACH DELETE n');
  } finally {
    await driver.close();
  }
}
