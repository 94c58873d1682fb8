import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { createLogger } from '@platform/shared';
import { closedPort } from '@platform/shared/testing';
import { cacheKeys, createCachedRecommender, type RecommendationCacheOptions } from '../../src/cache.ts';
import { upsertGraphMovies, upsertGraphRatings, upsertGraphReactions } from '../../src/graph.ts';
import { createLiveRecommender } from '../../src/live-recommender.ts';
import type { RecommendedMovie, Recommender } from '../../src/recommender.ts';
import { startTestGraph, uniqueIds, type TestGraph } from '../helpers/test-graph.ts';

// The cache against real Redis, in front of the live recommender over a private Neo4j. The inner
// recommender is wrapped only to count its calls: every answer still comes from the graph.

const redisUrl = inject('services').redisUrl;
const quietLogger = createLogger('recommendations-test', { sink: () => {} });

/** Counts calls to the inner recommender; `gate`, when set, holds forUser calls until it resolves. */
function counting(inner: Recommender) {
  const calls = { forUser: 0, similarMovies: 0 };
  let gate: Promise<void> | null = null;
  const recommender: Recommender = {
    async forUser(userId, limit) {
      calls.forUser += 1;
      const answer = inner.forUser(userId, limit);
      if (gate) await gate;
      return answer;
    },
    similarMovies(movieIds, limit) {
      calls.similarMovies += 1;
      return inner.similarMovies(movieIds, limit);
    },
  };
  return { calls, recommender, hold: (until: Promise<void> | null) => (gate = until) };
}


describe('recommendation cache', () => {
  let graph: TestGraph;
  let live: Recommender;
  const redis = new Redis(redisUrl);
  // Each test gets a key prefix of its own (its own generation counter too): a fresh, empty cache.
  const filePrefix = `test-recs-cache-${randomUUID()}`;
  let prefix = '';
  let keys = cacheKeys(prefix);
  const ids = uniqueIds();
  const fan = ids.user('fan');
  const viewer = ids.user('viewer');
  const other = ids.user('other');

  beforeEach(() => {
    prefix = `${filePrefix}:${randomUUID()}`;
    keys = cacheKeys(prefix);
  });

  const cacheOptions = (overrides: Partial<RecommendationCacheOptions> = {}): RecommendationCacheOptions => ({
    prefix,
    ttlSeconds: 60,
    logger: quietLogger,
    ...overrides,
  });

  /** The write after a miss is not awaited by the reader; wait until it landed. */
  const stored = (key: string) => vi.waitFor(async () => expect(await redis.exists(key)).toBe(1), { timeout: 5_000, interval: 20 });

  beforeAll(async () => {
    graph = await startTestGraph();
    // A generous timeout: the first queries of a JVM that just started are slow on a busy machine.
    live = createLiveRecommender(graph.driver, quietLogger, { queryTimeoutMs: 60_000 });
    await upsertGraphMovies(
      graph.driver,
      [1, 2, 3, 4, 5, 6].map((n) => ({ id: ids.movie(n), title: `Movie ${n}`, year: 2000, genres: [ids.genre(n % 2 ? 'odd' : 'even')] })),
    );
    await upsertGraphReactions(graph.driver, [
      { userId: fan, movieId: ids.movie(1), reaction: 'LIKE', at: 1 },
      { userId: fan, movieId: ids.movie(2), reaction: 'LIKE', at: 2 },
      { userId: fan, movieId: ids.movie(3), reaction: 'LIKE', at: 3 },
      { userId: viewer, movieId: ids.movie(1), reaction: 'LIKE', at: 4 },
      { userId: other, movieId: ids.movie(4), reaction: 'LIKE', at: 5 },
    ]);
    await upsertGraphRatings(graph.driver, [
      { userId: fan, movieId: ids.movie(4), rating: 4.5, at: 6 },
      { userId: fan, movieId: ids.movie(5), rating: 2, at: 7 },
    ]);
    // Warms Neo4j's query plans, so the tests compare answers rather than wait for the JIT.
    await live.forUser(viewer, 20);
    await live.similarMovies([ids.movie(1)], 10);
  });

  afterAll(async () => {
    const leftovers = await redis.keys(`${filePrefix}:*`);
    if (leftovers.length > 0) await redis.del(...leftovers);
    redis.disconnect();
    await graph?.stop();
  });

  it('serves the same list as the recommender, and asks it only once', async () => {
    const { calls, recommender } = counting(live);
    const cached = createCachedRecommender(recommender, redis, cacheOptions());

    const expected = await live.forUser(viewer, 20);
    expect(expected.length).toBeGreaterThan(2);
    expect(await cached.forUser(viewer, 20)).toEqual(expected);
    expect(calls.forUser).toBe(1);
    await stored(keys.user(viewer));

    expect(await cached.forUser(viewer, 20)).toEqual(expected);
    expect(await cached.forUser(viewer, 2)).toEqual(expected.slice(0, 2));
    expect(calls.forUser).toBe(1);
  });

  it('caches similar movies per movie, serving any page size from one computation', async () => {
    const { calls, recommender } = counting(live);
    const cached = createCachedRecommender(recommender, redis, cacheOptions());
    const movieIds = [ids.movie(1), ids.movie(2)];

    const expected = await live.similarMovies(movieIds, 3);
    expect(await cached.similarMovies(movieIds, 3)).toEqual(expected);
    await stored(keys.similar(ids.movie(2)));
    expect(await cached.similarMovies([ids.movie(2), ids.movie(1)], 3)).toEqual(new Map([...expected].reverse()));
    expect((await cached.similarMovies([ids.movie(1)], 1)).get(ids.movie(1))).toEqual(expected.get(ids.movie(1))?.slice(0, 1));
    expect(calls.similarMovies).toBe(1);

    // Only the movie not cached yet is computed.
    await cached.similarMovies([ids.movie(1), ids.movie(3)], 3);
    expect(calls.similarMovies).toBe(2);
    await cached.invalidateSimilar([ids.movie(1)]);
    await cached.similarMovies([ids.movie(1)], 3);
    expect(calls.similarMovies).toBe(3);
  });

  it('invalidates one user, returning the list they were last served, and leaves others cached', async () => {
    const { calls, recommender } = counting(live);
    const cached = createCachedRecommender(recommender, redis, cacheOptions());
    const viewerList = await cached.forUser(viewer, 20);
    await cached.forUser(other, 20);
    await stored(keys.user(viewer));
    await stored(keys.user(other));
    expect(calls.forUser).toBe(2);

    const previous = await cached.invalidateUsers([viewer, ids.user('never-seen')]);
    expect(previous.get(viewer)).toEqual(viewerList);
    expect(previous.get(ids.user('never-seen'))).toBeNull();

    await cached.forUser(other, 20);
    expect(calls.forUser).toBe(2);
    await cached.forUser(viewer, 20);
    expect(calls.forUser).toBe(3);
  });

  it('never serves a list whose computation started before an invalidation', async () => {
    const { calls, recommender, hold } = counting(live);
    const cached = createCachedRecommender(recommender, redis, cacheOptions());
    await cached.invalidateUsers([fan]);
    let release = () => {};
    hold(new Promise<void>((resolve) => (release = resolve)));
    const slowRead = cached.forUser(fan, 20);
    await vi.waitFor(() => expect(calls.forUser).toBe(1));
    // An event for the fan is applied while the read computes from the graph as it was.
    await cached.invalidateUsers([fan]);
    hold(null);
    release();
    await slowRead;
    await stored(keys.user(fan));

    await cached.forUser(fan, 20);
    expect(calls.forUser).toBe(2);
  });

  it('makes every entry miss after invalidateAll (a model switch)', async () => {
    const { calls, recommender } = counting(live);
    const cached = createCachedRecommender(recommender, redis, cacheOptions());
    await cached.forUser(other, 20);
    await cached.similarMovies([ids.movie(4)], 5);
    await stored(keys.user(other));
    await stored(keys.similar(ids.movie(4)));
    await cached.forUser(other, 20);
    expect(calls).toEqual({ forUser: 1, similarMovies: 1 });

    const before = Number((await redis.get(keys.generation)) ?? 0);
    await cached.invalidateAll();
    expect(Number(await redis.get(keys.generation))).toBe(before + 1);

    expect(await cached.forUser(other, 20)).toEqual(await live.forUser(other, 20));
    await cached.similarMovies([ids.movie(4)], 5);
    expect(calls).toEqual({ forUser: 2, similarMovies: 2 });
  });

  it('stamps similar movies with the model version and stops serving a version once a newer one is seen', async () => {
    // A versioned engine standing for a replica: its lists name the version they come from.
    let version = 'model-a';
    const asked: (string | undefined)[] = [];
    const versioned: Recommender = {
      forUser: (userId, limit) => live.forUser(userId, limit),
      async servingVersion() {
        return version;
      },
      async similarMovies(movieIds, limit, modelVersion) {
        asked.push(modelVersion);
        const score = modelVersion === 'model-b' ? 2 : 1;
        return new Map(movieIds.map((id) => [id, [{ movieId: id + 1, score, because: [], source: 'COLLABORATIVE' as const }].slice(0, limit)]));
      },
    };
    const cached = createCachedRecommender(versioned, redis, cacheOptions());
    const scoreOf = async () => (await cached.similarMovies([ids.movie(1)], 5)).get(ids.movie(1))?.[0]?.score;

    expect(await scoreOf()).toBe(1);
    await stored(keys.similar(ids.movie(1)));
    expect(await scoreOf()).toBe(1);
    expect(asked).toEqual(['model-a']);
    expect(await redis.get(keys.similar(ids.movie(1)))).toMatch(/^\d+\|model-a\|/);

    // Another replica activated model-b and bumped the generation; this one learns of it later.
    // An entry of model-a stored under the new generation (a replica still trusting model-a)...
    await cached.invalidateAll();
    expect(await scoreOf()).toBe(1);
    const generation = await redis.get(keys.generation);
    await vi.waitFor(async () => expect(await redis.get(keys.similar(ids.movie(1)))).toMatch(new RegExp(`^${generation}\\|model-a\\|`)), { timeout: 5_000, interval: 20 });
    expect(await scoreOf()).toBe(1);
    // ...is no longer served once this replica sees model-b: computed again, from model-b.
    version = 'model-b';
    expect(await scoreOf()).toBe(2);
    expect(asked).toEqual(['model-a', 'model-a', 'model-b']);
    expect(await scoreOf()).toBe(2);
  });

  it('stores the list of an explicit refresh, so the next read hits', async () => {
    const { calls, recommender } = counting(live);
    const cached = createCachedRecommender(recommender, redis, cacheOptions());
    await cached.invalidateUsers([viewer]);
    const refreshed = await cached.refreshUser(viewer);
    expect(await cached.forUser(viewer, 20)).toEqual(refreshed.slice(0, 20));
    expect(calls.forUser).toBe(1);
  });

  it('answers from the recommender when Redis does not answer, warning once per interval', async () => {
    const lines: string[] = [];
    const logger = createLogger('recommendations-test', { sink: (line) => lines.push(line) });
    const unreachable = new Redis(`redis://127.0.0.1:${await closedPort()}`, { maxRetriesPerRequest: 1, retryStrategy: () => 200 });
    unreachable.on('error', () => {});
    try {
      const { calls, recommender } = counting(live);
      const cached = createCachedRecommender(recommender, unreachable, cacheOptions({ logger }));
      const expected = await live.forUser(viewer, 20);
      for (let round = 0; round < 3; round++) expect(await cached.forUser(viewer, 20)).toEqual(expected);
      expect(await cached.similarMovies([ids.movie(1)], 2)).toEqual(await live.similarMovies([ids.movie(1)], 2));
      expect(calls).toEqual({ forUser: 3, similarMovies: 1 });

      expect((await cached.invalidateUsers([viewer])).get(viewer)).toBeNull();
      await cached.invalidateAll();
      expect(await cached.refreshUser(viewer)).toEqual(await live.forUser(viewer, 100));

      const warnings = lines.filter((line) => line.includes('recommendation cache unavailable'));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 'warn', component: 'recommendation-cache' });
    } finally {
      unreachable.disconnect();
    }
  });

  it('invalidates everything once Redis is back when an invalidation was lost meanwhile', async () => {
    const connection = new Redis(redisUrl);
    try {
      await connection.ping(); // the cache leaves a connection alone until it is ready
      const { calls, recommender } = counting(live);
      const cached = createCachedRecommender(recommender, connection, cacheOptions({ retryAfterMs: 0 }));
      await cached.forUser(other, 20);
      await stored(keys.user(other));

      connection.disconnect();
      await cached.invalidateUsers([other]); // lost: Redis is unreachable for this process
      await connection.connect();

      await cached.forUser(other, 20);
      expect(calls.forUser).toBe(2);
    } finally {
      connection.disconnect();
    }
  });

  it('passes everything through when the TTL is 0', async () => {
    const { calls, recommender } = counting(live);
    const cached = createCachedRecommender(recommender, redis, cacheOptions({ ttlSeconds: 0 }));
    const first: RecommendedMovie[] = await cached.forUser(ids.user('uncached'), 20);
    expect(await cached.forUser(ids.user('uncached'), 20)).toEqual(first);
    expect(calls.forUser).toBe(2);
    expect(cached.enabled).toBe(false);
    expect(await redis.exists(keys.user(ids.user('uncached')))).toBe(0);
  });
});
