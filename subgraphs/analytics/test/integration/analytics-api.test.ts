import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { Redis } from 'ioredis';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createTokenVerifier, type Role, type RunningServer } from '@platform/shared';
import { createScratchDatabase } from '../../../../scripts/lib/services.ts';
import { migrateAll } from '../../../../scripts/lib/migrations.ts';
import { startAnalyticsSubgraph } from '../../src/index.ts';
import { backfillAnalytics } from '../../src/backfill.ts';
import type { AnalyticsStreams } from '../../src/consumer.ts';

// The analytics subgraph over real HTTP and a real (scratch) PostgreSQL database, with access
// tokens signed here by a key pair the test owns.

const issuer = 'analytics-test';
const audience = 'analytics-test-api';
const totalsQuery = '{ analytics { totals { users movies ratings reviews likes dislikes updatedAt } } }';

interface GraphQLResponse {
  data?: { analytics?: unknown } | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

let scratch: { url: string; drop(): Promise<void> };
let server: RunningServer;
let signingKey: CryptoKey;
let eventStreams: AnalyticsStreams | undefined;
const redisUrl = inject('services')?.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function tokenFor(role: Role): Promise<string> {
  return new SignJWT({ role })
    .setProtectedHeader({ alg: 'EdDSA', kid: 'test-key' })
    .setSubject(randomUUID())
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(signingKey);
}

async function queryTotals(token?: string): Promise<GraphQLResponse> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: totalsQuery }),
  });
  return (await response.json()) as GraphQLResponse;
}

/** A little of everything the totals count, written straight into the source schemas. */
async function insertSourceRows(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows: users } = await client.query<{ id: string }>(
      "INSERT INTO users.users (username) VALUES ('ana'), ('ben'), ('cy') RETURNING id",
    );
    const { rows: movies } = await client.query<{ id: string }>(
      "INSERT INTO movies.movies (title) VALUES ('First'), ('Second') RETURNING id",
    );
    const [ana, ben, cy] = users.map((row) => row.id);
    const [first, second] = movies.map((row) => row.id);
    await client.query(
      `INSERT INTO reviews.reviews (user_id, movie_id, rating_halves, comment) VALUES
         ($1, $4, 8, 'Loved it'), ($2, $4, 3, '   '), ($3, $5, 10, NULL)`,
      [ana, ben, cy, first, second],
    );
    await client.query(
      `INSERT INTO reviews.reactions (user_id, movie_id, reaction) VALUES ($1, $3, 'LIKE'), ($2, $3, 'LIKE'), ($2, $4, 'DISLIKE')`,
      [ana, ben, first, second],
    );
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  signingKey = privateKey;
  const publicJwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'EdDSA', use: 'sig' };
  const verifier = createTokenVerifier({ issuer, audience, keys: createLocalJWKSet({ keys: [publicJwk] }) });

  // The global setup provides the test PostgreSQL; without it (a bare vitest config) the local one.
  const serverUrl = inject('services')?.databaseUrl ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  scratch = await createScratchDatabase(serverUrl, 'analytics_api');
  await migrateAll(scratch.url);
  await insertSourceRows(scratch.url);
  await backfillAnalytics(scratch.url);
  // Streams of its own: the consumer must not take events of the shared test Redis's real streams.
  const prefix = `test:analytics-api:${randomUUID()}`;
  eventStreams = { users: `${prefix}:users`, movies: `${prefix}:movies`, reviews: `${prefix}:reviews` };
  server = await startAnalyticsSubgraph(
    // The cache off: totals are not cached anyway, and this test reads the backfill's result.
    { DATABASE_URL: scratch.url, REDIS_URL: redisUrl, PORT: '0', LOG_LEVEL: 'error', JWT_ISSUER: issuer, JWT_AUDIENCE: audience, ANALYTICS_CACHE_TTL_SECONDS: '0' },
    { verifier, eventStreams },
  );
});

afterAll(async () => {
  await server?.stop();
  await scratch?.drop();
  if (eventStreams) {
    const redis = new Redis(redisUrl);
    await redis.del(...Object.values(eventStreams));
    redis.disconnect();
  }
});

describe('analytics subgraph over HTTP', () => {
  it('gives an admin the platform totals', async () => {
    const body = await queryTotals(await tokenFor('ADMIN'));
    expect(body.errors).toBeUndefined();
    expect(body.data).toEqual({
      analytics: {
        totals: { users: 3, movies: 2, ratings: 3, reviews: 1, likes: 2, dislikes: 1, updatedAt: expect.any(String) },
      },
    });
  });

  it('refuses a normal user with FORBIDDEN and no data', async () => {
    const body = await queryTotals(await tokenFor('USER'));
    expect(body.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(body.data?.analytics ?? null).toBeNull();
  });

  it('refuses an anonymous caller with UNAUTHENTICATED and no data', async () => {
    const body = await queryTotals();
    expect(body.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    expect(body.data?.analytics ?? null).toBeNull();
  });

  it('reports ready while PostgreSQL answers', async () => {
    const response = await fetch(new URL('/ready', server.url));
    expect(response.status).toBe(200);
  });
});
