import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { Redis } from 'ioredis';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createTokenVerifier, migrateSchema, type AnyEvent, type Role, type RunningServer, type TokenVerifier } from '@platform/shared';
import { createScratchDatabase } from '../../../../scripts/lib/services.ts';
import { migrateAll } from '../../../../scripts/lib/migrations.ts';
import { startAnalyticsSubgraph, type AnalyticsSubgraphOptions } from '../../src/index.ts';
import { analyticsConsumerGroup, streamList, type AnalyticsStreams } from '../../src/consumer.ts';

// The analytics subgraph over real HTTP, PostgreSQL (a scratch database per test) and Redis
// (streams named per test), with access tokens signed by a key pair the test owns.

const issuer = 'analytics-test';
const audience = 'analytics-test-api';

export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string; field?: string } }[];
}

export interface Harness {
  databaseUrl: string;
  redis: Redis;
  streams: AnalyticsStreams;
  server: RunningServer | null;
  /**
   * Starts the subgraph with the cache off (ANALYTICS_CACHE_TTL_SECONDS=0): the consistency tests
   * must read the read model itself, not an answer cached before a replay. `env` adds or overrides,
   * as `options` does for the subgraph's options.
   */
  start(env?: Record<string, string>, options?: Omit<AnalyticsSubgraphOptions, 'verifier' | 'eventStreams'>): Promise<RunningServer>;
  stopServer(): Promise<void>;
  graphql<T>(query: string, variables?: Record<string, unknown>, role?: Role | null): Promise<GraphQLResponse<T>>;
  publish(stream: keyof AnalyticsStreams, event: AnyEvent): Promise<string>;
  /** Resolves once every entry of every stream was delivered to and acknowledged by the consumer group. */
  drained(): Promise<void>;
  close(): Promise<void>;
}

let keys: Promise<{ signingKey: CryptoKey; verifier: TokenVerifier }> | undefined;

function testKeys() {
  keys ??= (async () => {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'EdDSA', use: 'sig' };
    return { signingKey: privateKey, verifier: createTokenVerifier({ issuer, audience, keys: createLocalJWKSet({ keys: [publicJwk] }) }) };
  })();
  return keys;
}

async function tokenFor(role: Role): Promise<string> {
  const { signingKey } = await testKeys();
  return new SignJWT({ role })
    .setProtectedHeader({ alg: 'EdDSA', kid: 'test-key' })
    .setSubject(randomUUID())
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(signingKey);
}

const services = () => inject('services');

/**
 * A scratch database (with every subgraph's schema when `sources` is set, for the backfill; only
 * analytics otherwise) and streams of its own; the subgraph is started by `start()`.
 */
export async function createHarness(options: { sources: boolean }): Promise<Harness> {
  const scratch = await createScratchDatabase(services().databaseUrl, 'analytics_rm');
  if (options.sources) await migrateAll(scratch.url);
  else await migrateSchema(scratch.url, 'analytics', fileURLToPath(new URL('../../drizzle', import.meta.url)));
  const redis = new Redis(services().redisUrl);
  const prefix = `test:analytics:${randomUUID()}`;
  const streams: AnalyticsStreams = { users: `${prefix}:users`, movies: `${prefix}:movies`, reviews: `${prefix}:reviews` };
  const { verifier } = await testKeys();

  const harness: Harness = {
    databaseUrl: scratch.url,
    redis,
    streams,
    server: null,
    async start(env = {}, options = {}) {
      harness.server = await startAnalyticsSubgraph(
        {
          DATABASE_URL: scratch.url,
          REDIS_URL: services().redisUrl,
          PORT: '0',
          LOG_LEVEL: 'error',
          JWT_ISSUER: issuer,
          JWT_AUDIENCE: audience,
          ANALYTICS_CACHE_TTL_SECONDS: '0',
          ...env,
        },
        { ...options, verifier, eventStreams: streams },
      );
      return harness.server;
    },
    async stopServer() {
      await harness.server?.stop();
      harness.server = null;
    },
    async graphql<T>(query: string, variables: Record<string, unknown> = {}, role: Role | null = 'ADMIN') {
      if (!harness.server) throw new Error('start() the subgraph first');
      const token = role === null ? null : await tokenFor(role);
      const response = await fetch(harness.server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      return (await response.json()) as GraphQLResponse<T>;
    },
    async publish(stream, event) {
      const id = await redis.xadd(streams[stream], '*', 'event', JSON.stringify(event));
      if (id === null) throw new Error('XADD returned no id');
      return id;
    },
    async drained() {
      // A guard against a hung consumer, not a timing assertion: it normally drains in seconds.
      const deadline = Date.now() + 50_000;
      for (;;) {
        const states = await Promise.all(streamList(streams).map((stream) => groupState(redis, stream)));
        if (states.every((state) => state !== null && state.lag === 0 && state.pending === 0)) return;
        if (Date.now() > deadline) throw new Error(`the consumer did not drain the streams: ${JSON.stringify(states)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async close() {
      await harness.stopServer();
      const keysToDelete = streamList(streams).flatMap((stream) => [stream, `${stream}:dead`]);
      await redis.del(...keysToDelete);
      redis.disconnect();
      await scratch.drop();
    },
  };
  return harness;
}

/** The analytics group's lag (undelivered) and pending (delivered, unacknowledged) entries. */
export async function groupState(redis: Redis, stream: string): Promise<{ lag: number | null; pending: number } | null> {
  const groups = (await redis.xinfo('GROUPS', stream).catch(() => [])) as (string | number | null)[][];
  const mine = groups.find((fields) => fields[fields.indexOf('name') + 1] === analyticsConsumerGroup);
  if (!mine) return null;
  const lag = mine[mine.indexOf('lag') + 1];
  const pending = mine[mine.indexOf('pending') + 1];
  return { lag: typeof lag === 'number' ? lag : null, pending: typeof pending === 'number' ? pending : -1 };
}

/** Replays a stream from its start to the group: XGROUP SETID 0 (ENTRIESREAD 0 keeps the lag exact). */
export async function replayFromStart(redis: Redis, stream: string): Promise<void> {
  await redis.call('XGROUP', 'SETID', stream, analyticsConsumerGroup, '0', 'ENTRIESREAD', 0);
}
