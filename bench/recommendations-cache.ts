// The recommendation cache and live updates, measured through the recommendations subgraph over
// HTTP: prints figures, asserts nothing (tests never time).
//
//   bash scripts/node.sh bench/recommendations-cache.ts [--users 32 --requests 100 --cold-requests 2 --likes 40 --synthetic]
//
// 1. `recommendations(first: 20)` latency: without the cache (RECOMMENDATION_CACHE_TTL_SECONDS=0),
//    one user at a time and with `--users` clients at once (one user each, each sending its
//    requests one after the other); then with the cache: the misses that fill it, and warm.
// 2. Like -> message: a LIKE of the user's current first recommendation is appended to the
//    subgraph's reviews stream; the time until the `recommendations-updated` message arrives on
//    the user's live channel (consumer round + graph write + coalescing window + recomputation +
//    PUBLISH), one like at a time.
//
// Data: MovieLens ml-latest-small from /work/shared/data (scripts/lib/movielens.ts) when present,
// else (or with --synthetic) the synthetic generator; written straight into the graph. Neo4j:
// NEO4J_URI / NEO4J_USER / NEO4J_PASSWORD when set (the bench writes into it: use a scratch one),
// else a private one in a temporary folder. Redis: REDIS_URL or the local one; every key and
// stream the bench makes is under a prefix of its own and deleted at the end.

import { randomUUID } from 'node:crypto';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { connectNeo4j, createEvent, createLogger, liveChannelFor, parseLiveMessage, type Neo4jSettings, type RunningServer } from '@platform/shared';
import { createTestTokens, graphqlClient, type TestTokens } from '@platform/shared/testing';
import type { Dataset } from '../scripts/lib/dataset.ts';
import { defaultMovieLensDir, readMovieLensDataset } from '../scripts/lib/movielens.ts';
import { startNeo4j } from '../scripts/lib/neo4j.ts';
import { ensureServices } from '../scripts/lib/services.ts';
import { generateSyntheticDataset } from '../scripts/lib/synthetic.ts';
import { ensureGraphSchema, upsertGraphMovies, upsertGraphRatings, upsertGraphReactions, type GraphRating, type GraphReaction } from '../subgraphs/recommendations/src/graph.ts';
import { createCachedRecommender } from '../subgraphs/recommendations/src/cache.ts';
import { startRecommendationsSubgraph } from '../subgraphs/recommendations/src/index.ts';
import { createLiveRecommender } from '../subgraphs/recommendations/src/live-recommender.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '32' },
    requests: { type: 'string', default: '100' },
    'cold-requests': { type: 'string', default: '2' },
    likes: { type: 'string', default: '40' },
    synthetic: { type: 'boolean', default: false },
  },
});
const clientCount = Number(values.users);
const requestsPerClient = Number(values.requests);
const coldRequestsPerClient = Number(values['cold-requests']);
const likeCount = Number(values.likes);

const runId = randomUUID().slice(0, 8);
const prefix = `bench-recs-${runId}`;
const quietLogger = createLogger('bench', { level: 'error' });

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN;
const ms = (value: number): string => `${value.toFixed(1)} ms`;

async function loadData(): Promise<Dataset> {
  if (!values.synthetic) {
    try {
      await access(join(defaultMovieLensDir, 'ratings.csv'));
      return await readMovieLensDataset(defaultMovieLensDir);
    } catch {
      console.log(`MovieLens not found at ${defaultMovieLensDir}; using the synthetic dataset`);
    }
  }
  return generateSyntheticDataset({ users: 600, movies: 3_000, ratingsPerUser: 80 });
}

// ---------------------------------------------------------------------------------------------
// Services and data

// Redis only (`need` defaults to everything): the bench's Neo4j is its own, below.
const services = await ensureServices({ need: { postgres: false, redis: true, neo4j: false }, log: () => {} });
let neo4jSettings: Neo4jSettings;
let stopNeo4j = async (): Promise<void> => {};
if (process.env.NEO4J_URI && process.env.NEO4J_PASSWORD) {
  neo4jSettings = { uri: process.env.NEO4J_URI, user: process.env.NEO4J_USER ?? 'neo4j', password: process.env.NEO4J_PASSWORD };
} else {
  const home = await mkdtemp(join(tmpdir(), 'bench-recs-cache-'));
  const server = await startNeo4j({ home, port: 0, heapMb: 1024, pageCacheMb: 512 });
  neo4jSettings = { uri: server.uri, user: server.user, password: server.password };
  stopNeo4j = async () => {
    await server.stop();
    await rm(home, { recursive: true, force: true });
  };
}

const redis = new Redis(services.redisUrl);
const subscriber = new Redis(services.redisUrl);
const servers: RunningServer[] = [];

try {
  const dataset = await loadData();
  // Ids of this run only, so a shared Neo4j keeps its own data apart.
  const movieIdBase = 2_000_000_000 + Math.floor(Math.random() * 1_000) * 1_000_000;
  const movieIds = new Map(dataset.movies.map((movie, index) => [movie.key, movieIdBase + index]));
  const userIds = new Map(dataset.users.map((user, index) => [user.key, `bench-${runId}-${index}`]));

  const driver = connectNeo4j(neo4jSettings);
  const loadStarted = performance.now();
  await ensureGraphSchema(driver);
  await upsertGraphMovies(
    driver,
    dataset.movies.map((movie) => ({ id: movieIds.get(movie.key)!, title: movie.title, year: movie.year, genres: movie.genres })),
  );
  const ratings: GraphRating[] = [];
  const ratingsPerUser = new Map<string, number>();
  for (const rating of dataset.ratings()) {
    const userId = userIds.get(rating.userKey);
    const movieId = movieIds.get(rating.movieKey);
    if (!userId || movieId === undefined) continue;
    ratings.push({ userId, movieId, rating: rating.rating, at: rating.at.getTime() });
    ratingsPerUser.set(userId, (ratingsPerUser.get(userId) ?? 0) + 1);
  }
  await upsertGraphRatings(driver, ratings);
  const reactions: GraphReaction[] = [];
  for (const reaction of dataset.reactions()) {
    const userId = userIds.get(reaction.userKey);
    const movieId = movieIds.get(reaction.movieKey);
    if (userId && movieId !== undefined) reactions.push({ userId, movieId, reaction: reaction.reaction, at: reaction.at.getTime() });
  }
  await upsertGraphReactions(driver, reactions);
  await driver.close();
  console.log(
    `${dataset.source}: ${dataset.movies.length} movies, ${userIds.size} users, ${ratings.length} ratings, ${reactions.length} reactions ` +
      `written to ${neo4jSettings.uri} in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`,
  );

  // Clients: users spread over the activity range (every k-th user by rating count).
  const byActivity = [...ratingsPerUser].sort((a, b) => b[1] - a[1]).map(([userId]) => userId);
  const step = Math.max(1, Math.floor(byActivity.length / clientCount));
  const clients = Array.from({ length: Math.min(clientCount, byActivity.length) }, (_, index) => byActivity[index * step]!);

  const tokens: TestTokens = await createTestTokens();
  const tokenOf = new Map(await Promise.all(clients.map(async (userId) => [userId, await tokens.sign(userId, { expiresInSeconds: 3_600 })] as const)));

  const startServer = async (cacheTtlSeconds: number): Promise<string> => {
    const server = await startRecommendationsSubgraph(
      {
        NEO4J_URI: neo4jSettings.uri,
        NEO4J_USER: neo4jSettings.user,
        NEO4J_PASSWORD: neo4jSettings.password,
        REDIS_URL: services.redisUrl,
        EVENT_STREAM_PREFIX: prefix,
        RECOMMENDATION_CACHE_TTL_SECONDS: String(cacheTtlSeconds),
        // No model builds: one finishing mid-run would invalidate the cache and compete for the CPUs.
        RECOMMENDATION_MODEL_REBUILD_MINUTES: '0',
        PORT: '0',
        LOG_LEVEL: 'error',
      },
      { verifier: tokens.verifier, logger: quietLogger, events: { blockMs: 200 } },
    );
    servers.push(server);
    return server.url;
  };

  const query = `query Recommendations($first: Int) { recommendations(first: $first) { movie { id } score source } }`;
  type RecommendationsData = { recommendations: { movie: { id: string } }[] };

  interface LoadResult {
    /** Latencies of the answers without errors, sorted. */
    sorted: number[];
    errors: Map<string, number>;
    seconds: number;
  }

  /** Every client (or only `only`) sends `perClient` requests one after the other, all clients at once. */
  async function load(url: string, perClient: number, only: readonly string[] = clients): Promise<LoadResult> {
    const graphql = graphqlClient(url);
    const times: number[] = [];
    const errors = new Map<string, number>();
    const started = performance.now();
    await Promise.all(
      only.map(async (userId) => {
        for (let request = 0; request < perClient; request++) {
          const begun = performance.now();
          const result = await graphql<RecommendationsData>(query, { first: 20 }, { token: tokenOf.get(userId)! });
          const elapsed = performance.now() - begun;
          const code = result.errors?.[0]?.extensions?.code;
          if (result.errors) errors.set(String(code), (errors.get(String(code)) ?? 0) + 1);
          else times.push(elapsed);
        }
      }),
    );
    return { sorted: times.sort((a, b) => a - b), errors, seconds: (performance.now() - started) / 1000 };
  }

  const report = (label: string, { sorted, errors, seconds }: LoadResult): void => {
    const failed = [...errors].map(([code, count]) => `${count} ${code}`).join(', ');
    console.log(
      `${label.padEnd(40)} p50 ${ms(percentile(sorted, 0.5)).padStart(9)}  p99 ${ms(percentile(sorted, 0.99)).padStart(9)}  ` +
        `max ${ms(sorted.at(-1) ?? Number.NaN).padStart(9)}  ${sorted.length} answers, ${Math.round(sorted.length / seconds)}/s` +
        (failed ? `; errors: ${failed}` : ''),
    );
  };

  /** Results of several runs as one. */
  const merge = (results: readonly LoadResult[]): LoadResult => {
    const errors = new Map<string, number>();
    for (const result of results) for (const [code, count] of result.errors) errors.set(code, (errors.get(code) ?? 0) + count);
    return { sorted: results.flatMap((result) => result.sorted).sort((a, b) => a - b), errors, seconds: results.reduce((sum, result) => sum + result.seconds, 0) };
  };

  // -- 1. Latency --------------------------------------------------------------------------------
  console.log(`load average before: ${loadavg().map((value) => value.toFixed(1)).join(' ')} (${availableParallelism()} CPUs)`);
  const uncachedUrl = await startServer(0);
  // Warms Neo4j's query plans and page cache.
  for (const userId of clients) await load(uncachedUrl, 1, [userId]);
  const sequential: LoadResult[] = [];
  for (const userId of clients) sequential.push(await load(uncachedUrl, 1, [userId]));
  report('no cache, one user at a time', merge(sequential));
  if (coldRequestsPerClient > 0) report(`no cache, ${clients.length} concurrent users`, await load(uncachedUrl, coldRequestsPerClient));
  await servers.pop()!.stop();

  const cachedUrl = await startServer(600);
  // Fills the cache one user at a time (a computation that timed out is retried, so that the warm
  // figures below are of cache hits only).
  const fills: LoadResult[] = [];
  for (const userId of clients) {
    for (let attempt = 0; attempt < 3; attempt++) {
      const result = await load(cachedUrl, 1, [userId]);
      fills.push(result);
      if (result.errors.size === 0) break;
    }
  }
  report('cache miss (first request per user)', merge(fills));
  report(`warm cache, ${clients.length} concurrent users`, await load(cachedUrl, requestsPerClient));

  // The same hits without HTTP, GraphQL and token checks: what the cache itself costs.
  {
    const cacheRedis = new Redis(services.redisUrl);
    const hitDriver = connectNeo4j(neo4jSettings);
    const cached = createCachedRecommender(createLiveRecommender(hitDriver, quietLogger), cacheRedis, { prefix, ttlSeconds: 600, logger: quietLogger });
    await cacheRedis.ping();
    const times: number[] = [];
    const started = performance.now();
    await Promise.all(
      clients.map(async (userId) => {
        for (let request = 0; request < requestsPerClient; request++) {
          const begun = performance.now();
          await cached.forUser(userId, 20);
          times.push(performance.now() - begun);
        }
      }),
    );
    report(`cache hit in process, ${clients.length} at once`, { sorted: times.sort((a, b) => a - b), errors: new Map(), seconds: (performance.now() - started) / 1000 });
    cacheRedis.disconnect();
    await hitDriver.close();
  }

  // -- 2. Like -> recommendations-updated ----------------------------------------------------------
  const arrivals = new Map<string, (reason: string) => void>();
  subscriber.on('message', (_channel: string, text: string) => {
    const message = parseLiveMessage(text);
    if (message?.kind === 'recommendations-updated') arrivals.get(message.userId)?.(message.reason);
  });
  await subscriber.subscribe(...clients.map((userId) => liveChannelFor(userId, prefix)));
  const graphql = graphqlClient(cachedUrl);
  const delays: number[] = [];
  let missed = 0;
  let lastReason = '';
  for (let index = 0; index < likeCount; index++) {
    const userId = clients[index % clients.length]!;
    const current = await graphql<RecommendationsData>(query, { first: 20 }, { token: tokenOf.get(userId)! });
    const top = current.data?.recommendations[0]?.movie.id;
    if (!top) continue;
    const arrived = new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 15_000);
      arrivals.set(userId, (reason) => {
        clearTimeout(timer);
        resolve(reason);
      });
    });
    const like = createEvent('reviews', 'reaction.set', { userId, movieId: Number(top), reaction: 'LIKE', previousReaction: null, at: new Date().toISOString() });
    const begun = performance.now();
    await redis.xadd(`${prefix}:reviews`, '*', 'event', JSON.stringify(like));
    const reason = await arrived;
    arrivals.delete(userId);
    if (reason === null) missed += 1;
    else {
      delays.push(performance.now() - begun);
      lastReason = reason;
    }
  }
  delays.sort((a, b) => a - b);
  console.log(
    `${'like -> recommendations-updated'.padEnd(40)} p50 ${ms(percentile(delays, 0.5)).padStart(9)}  p99 ${ms(percentile(delays, 0.99)).padStart(9)}  ` +
      `max ${ms(delays.at(-1) ?? Number.NaN).padStart(9)}  ${delays.length} likes, ${missed} without a message (coalescing window 200 ms included)`,
  );
  if (lastReason) console.log(`  e.g. reason: "${lastReason}"`);
  console.log(`load average after: ${loadavg().map((value) => value.toFixed(1)).join(' ')}`);
} finally {
  for (const server of servers.splice(0)) await server.stop().catch(() => undefined);
  subscriber.disconnect();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1_000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  redis.disconnect();
  await stopNeo4j();
  await services.stop(); // a Redis it had to start, if any
}
