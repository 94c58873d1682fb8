// rateMovie end to end through the reviews subgraph over HTTP, including its event: throughput
// and latency at several concurrencies, and relay lag (commit -> entry on the Redis stream,
// from the stream entry id's millisecond clock against the review's updated_at).
// Usage: npm run bench:rate-movie [-- --requests 2000]
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createTestTokens } from '@platform/shared/testing';
import { migrateAll } from '../scripts/lib/migrations.ts';
import { createScratchDatabase, ensureServices } from '../scripts/lib/services.ts';
import { startReviewsSubgraph } from '../subgraphs/reviews/src/index.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '2000' } } });
const requestsPerRun = Number(values.requests);
const services = await ensureServices({ need: { postgres: true, redis: true }, log: () => {} });
const database = await createScratchDatabase(services.databaseUrl, 'bench_rate');
await migrateAll(database.url);
const redis = new Redis(services.redisUrl);
const stream = `bench:reviews:${randomUUID()}`;
// The movies rated below (ids 1..500) must be known to the reviews subgraph, as the movies
// stream or the dataset loader would have made them; its movies stream is the bench's own.
const movieStream = `bench:movies:${randomUUID()}`;
{
  const seed = new pg.Pool({ connectionString: database.url, max: 1 });
  await seed.query('INSERT INTO reviews.known_movies (movie_id) SELECT generate_series(1, 500)');
  await seed.end();
}
const tokens = await createTestTokens();
const server = await startReviewsSubgraph(
  {
    DATABASE_URL: database.url,
    REDIS_URL: services.redisUrl,
    PORT: '0',
    LOG_LEVEL: 'error',
    REVIEW_WRITES_PER_MINUTE_PER_USER: '1000000',
    REVIEW_WRITES_PER_MINUTE_PER_ADDRESS: '1000000',
  },
  { verifier: tokens.verifier, eventStream: stream, movieEventStream: movieStream, writeLimitKeyPrefix: `bench:${randomUUID()}:` },
);

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const users = await Promise.all(Array.from({ length: 200 }, async () => {
  const id = randomUUID();
  return { id, token: await tokens.sign(id) };
}));
const mutation = 'mutation($m: ID!, $r: Float!) { rateMovie(movieId: $m, rating: $r) { rating } }';

async function run(concurrency: number): Promise<string> {
  let next = 0;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requestsPerRun) {
        const index = next++;
        const user = users[index % users.length]!;
        const begun = performance.now();
        const response = await fetch(server.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
          body: JSON.stringify({ query: mutation, variables: { m: String(1 + (index % 500)), r: 0.5 + (index % 10) / 2 } }),
        });
        const body = (await response.json()) as { errors?: unknown[] };
        if (body.errors) throw new Error(JSON.stringify(body.errors));
        latencies.push(performance.now() - begun);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return `| ${concurrency} | ${Math.round(requestsPerRun / seconds)} /s | ${percentile(latencies, 50).toFixed(1)} ms | ${percentile(latencies, 99).toFixed(1)} ms |`;
}

const rows: string[] = [];
for (const concurrency of [1, 8, 32]) rows.push(await run(concurrency));

// Relay lag: let the relay drain, then compare each entry's XADD time with the review's commit time.
await new Promise((resolve) => setTimeout(resolve, 1_500));
const entries = (await redis.xrange(stream, '-', '+')) as [string, string[]][];
const pool = new pg.Pool({ connectionString: database.url, max: 1 });
const updated = new Map(
  (await pool.query<{ key: string; at: Date }>("SELECT user_id || ':' || movie_id AS key, updated_at AS at FROM reviews.reviews")).rows.map((row) => [row.key, row.at.getTime()]),
);
const lags: number[] = [];
for (const [id, fields] of entries) {
  const event = JSON.parse(fields[1] ?? '{}') as { payload?: { userId?: string; movieId?: number; at?: string } };
  const committedAt = event.payload?.at ? Date.parse(event.payload.at) : updated.get(`${event.payload?.userId}:${event.payload?.movieId}`);
  if (committedAt !== undefined) lags.push(Number(id.split('-')[0]) - committedAt);
}
lags.sort((a, b) => a - b);

process.stdout.write(
  `\nrateMovie through the reviews subgraph over HTTP (${requestsPerRun} requests per row, each with its review.upserted event)\n\n` +
    `| concurrency | throughput | p50 | p99 |\n|---|---|---|---|\n${rows.join('\n')}\n\n` +
    `relay lag over ${lags.length} events (updated_at -> stream entry): p50 ${percentile(lags, 50)} ms, p99 ${percentile(lags, 99)} ms, max ${lags.at(-1) ?? 0} ms\n` +
    `stream entries: ${entries.length} (expected ${requestsPerRun * 3})\n`,
);

await server.stop();
await pool.end();
await redis.del(stream, movieStream);
redis.disconnect();
await database.drop();
await services.stop();
