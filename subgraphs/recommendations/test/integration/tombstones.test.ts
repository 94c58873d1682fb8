import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '@platform/shared';
import { closedPort, createTestTokens, pollUntil } from '@platform/shared/testing';
import { noGraphChanges, prepareGraphChanges, writeGraphChanges, type GraphChanges } from '../../src/graph.ts';
import { startRecommendationsSubgraph } from '../../src/index.ts';
import { pruneTombstones } from '../../src/tombstones.ts';
import { testStreamRegistry, type TestStreams } from '../helpers/events.ts';
import { startTestGraph, subgraphEnv, uniqueIds, type TestGraph } from '../helpers/test-graph.ts';

// Retention of the like-graph's tombstones against a private Neo4j and real Redis streams: a
// tombstone goes once older than the retention and than the oldest entry the streams hold, the
// relationships themselves are never touched, and nothing goes without an answer from Redis.

const redisUrl = inject('services').redisUrl;
const quietLogger = createLogger('recommendations-test', { sink: () => {} });
const hour = 3_600_000;
const day = 24 * hour;

let graph: TestGraph;
const redis = new Redis(redisUrl);
const streamRegistry = testStreamRegistry(redisUrl);

beforeAll(async () => {
  graph = await startTestGraph();
});

afterAll(async () => {
  await streamRegistry.deleteAll();
  redis.disconnect();
  await graph?.stop();
});

const newStreams = (): TestStreams => streamRegistry.create();

async function write(changes: Partial<GraphChanges>): Promise<void> {
  const session = graph.driver.session();
  try {
    await session.executeWrite((tx) => writeGraphChanges(tx, prepareGraphChanges({ ...noGraphChanges(), ...changes })));
  } finally {
    await session.close();
  }
}

/** The user's relationships as "TYPE movie", sorted. */
async function pairsOf(userId: string): Promise<string[]> {
  const { records } = await graph.driver.executeQuery(`MATCH (:User {id: $userId})-[r]->(m:Movie) RETURN type(r) + ' ' + toString(m.id) AS line ORDER BY line`, { userId });
  return records.map((record) => record.get('line') as string);
}

/** A user with one removal of each kind at `removedAt` (set `day` before), and a rating and a like kept. */
async function userWithRemovals(name: string, removedAt: number) {
  const ids = uniqueIds();
  const userId = ids.user(name);
  const m = (n: number) => ids.movie(n);
  const setAt = removedAt - day;
  await write({
    ratings: [
      { userId, movieId: m(1), rating: 4, at: setAt },
      { userId, movieId: m(2), rating: 5, at: setAt },
    ],
    reactions: [
      { userId, movieId: m(3), reaction: 'LIKE', at: setAt },
      { userId, movieId: m(4), reaction: 'DISLIKE', at: setAt },
    ],
    exclusions: [{ userId, movieId: m(5), excluded: true, at: setAt }],
  });
  await write({
    ratings: [{ userId, movieId: m(1), rating: null, at: removedAt }],
    reactions: [{ userId, movieId: m(4), reaction: null, at: removedAt }],
    exclusions: [{ userId, movieId: m(5), excluded: false, at: removedAt }],
  });
  const kept = [`LIKED ${m(3)}`, `RATED ${m(2)}`];
  const tombstones = [`EXCLUSION_CLEARED ${m(5)}`, `RATING_DELETED ${m(1)}`, `REACTION_CLEARED ${m(4)}`];
  return { userId, kept, tombstones };
}

describe('tombstone retention', () => {
  it('deletes tombstones older than the retention and keeps newer ones and every relationship', async () => {
    const now = Date.now();
    const old = await userWithRemovals('old', now - 40 * day);
    const recent = await userWithRemovals('recent', now - 10 * day);
    expect(await pairsOf(old.userId)).toEqual([...old.tombstones, ...old.kept].sort());

    const streams = newStreams();
    const deleted = await pruneTombstones(graph.driver, redis, streams.all, { retainMs: 30 * day, batchSize: 2 });
    expect(deleted).toBeGreaterThanOrEqual(3);
    expect(await pairsOf(old.userId)).toEqual(old.kept.sort());
    expect(await pairsOf(recent.userId)).toEqual([...recent.tombstones, ...recent.kept].sort());
  });

  it('keeps tombstones newer than the oldest entry a stream still holds (it could be delivered again)', async () => {
    const now = Date.now();
    const streams = newStreams();
    await redis.xadd(streams.reviews, `${now - 35 * day}-0`, 'event', '{}');
    const beforeEntry = await userWithRemovals('before-entry', now - 40 * day);
    const afterEntry = await userWithRemovals('after-entry', now - 35 * day - hour / 2);
    await pruneTombstones(graph.driver, redis, streams.all, { retainMs: 30 * day, clockMarginMs: hour });
    expect(await pairsOf(beforeEntry.userId)).toEqual(beforeEntry.kept.sort());
    expect(await pairsOf(afterEntry.userId)).toEqual([...afterEntry.tombstones, ...afterEntry.kept].sort());
  });

  it('deletes nothing when Redis does not answer', async () => {
    const old = await userWithRemovals('redis-down', Date.now() - 40 * day);
    const unreachable = new Redis({ port: await closedPort(), host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    unreachable.on('error', () => undefined);
    await expect(pruneTombstones(graph.driver, unreachable, newStreams().all, { retainMs: 30 * day })).rejects.toThrow();
    unreachable.disconnect();
    expect(await pairsOf(old.userId)).toEqual([...old.tombstones, ...old.kept].sort());
  });

  it('is done by the running subgraph by itself (RECOMMENDATION_TOMBSTONE_RETENTION_HOURS)', async () => {
    const old = await userWithRemovals('by-itself', Date.now() - 3 * hour);
    const recent = await userWithRemovals('by-itself-recent', Date.now() - hour / 2);
    const tokens = await createTestTokens();
    const server = await startRecommendationsSubgraph(
      subgraphEnv(graph.settings, redisUrl, { RECOMMENDATION_TOMBSTONE_RETENTION_HOURS: '1', RECOMMENDATION_MODEL_REBUILD_MINUTES: '0', EVENT_STREAM_PREFIX: `test-${randomUUID()}` }),
      { verifier: tokens.verifier, logger: quietLogger, events: { streams: newStreams().all }, tombstonePruneEveryMs: 100 },
    );
    try {
      await pollUntil(async () => ((await pairsOf(old.userId)).length === old.kept.length ? true : null), 20_000);
      expect(await pairsOf(old.userId)).toEqual(old.kept.sort());
      expect(await pairsOf(recent.userId)).toEqual([...recent.tombstones, ...recent.kept].sort());
    } finally {
      await server.stop();
    }
  });
});
