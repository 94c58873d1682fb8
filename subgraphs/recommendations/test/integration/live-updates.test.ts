import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { createLogger, liveChannelFor, parseLiveMessage, type AnyEvent, type LiveMessage, type RunningServer } from '@platform/shared';
import { createTestTokens, graphqlClient } from '@platform/shared/testing';
import { cacheKeys, createCachedRecommender, type CachedRecommender } from '../../src/cache.ts';
import { startGraphEventConsumer, type GraphEventConsumer } from '../../src/event-consumer.ts';
import { upsertGraphMovies, upsertGraphReactions, upsertGraphUsers } from '../../src/graph.ts';
import { startRecommendationsSubgraph } from '../../src/index.ts';
import { createLiveRecommender } from '../../src/live-recommender.ts';
import { startLiveUpdates, type LiveUpdates } from '../../src/live-updates.ts';
import type { Recommender } from '../../src/recommender.ts';
import { deleteStreams, event, iso, publish, reviewEvents as review, testStreams } from '../helpers/events.ts';
import { startTestGraph, subgraphEnv, uniqueIds, type TestGraph } from '../helpers/test-graph.ts';

// From an event appended to a stream, through the real consumer (graph write, acknowledgement,
// onApplied), to cache invalidation, recomputation and the messages on the users' live channels,
// received by a second Redis connection subscribed like a subscription server would be.

const redisUrl = inject('services').redisUrl;
const quietLogger = createLogger('recommendations-test', { sink: () => {} });

/** Subscribes to users' live channels and keeps what arrives. */
function createInbox(prefix: string) {
  const subscriber = new Redis(redisUrl);
  const received = new Map<string, LiveMessage[]>();
  subscriber.on('message', (_channel: string, text: string) => {
    const message = parseLiveMessage(text);
    if (message) received.set(message.userId, [...(received.get(message.userId) ?? []), message]);
  });
  const of = (userId: string): LiveMessage[] => received.get(userId) ?? [];
  return {
    of,
    watch: (...userIds: string[]) => subscriber.subscribe(...userIds.map((userId) => liveChannelFor(userId, prefix))),
    /** Waits for the user's `count`-th message. */
    waitFor: async (userId: string, count = 1): Promise<LiveMessage[]> => {
      await vi.waitFor(() => expect(of(userId).length).toBeGreaterThanOrEqual(count), { timeout: 20_000, interval: 20 });
      return of(userId);
    },
    /**
     * Everything published to these users before this call has arrived once a marker published
     * after it arrives (Redis delivers one connection's messages in order of execution).
     */
    drain: async (publisher: Redis, ...userIds: string[]): Promise<void> => {
      for (const userId of userIds) {
        const reason = `test marker ${randomUUID()}`;
        const isMarker = (message: LiveMessage) => message.kind === 'recommendations-updated' && message.reason === reason;
        const marker: LiveMessage = { kind: 'recommendations-updated', userId, reason, at: new Date().toISOString() };
        await publisher.publish(liveChannelFor(userId, prefix), JSON.stringify(marker));
        await vi.waitFor(() => expect(of(userId).some(isMarker)).toBe(true), { timeout: 5_000, interval: 10 });
        received.set(userId, of(userId).filter((message) => !isMarker(message)));
      }
    },
    close: () => subscriber.disconnect(),
  };
}

describe('live updates after applied events', () => {
  let graph: TestGraph;
  let consumer: GraphEventConsumer;
  let cache: CachedRecommender;
  let live: LiveUpdates;
  let inbox: ReturnType<typeof createInbox>;
  const redis = new Redis(redisUrl);
  const cacheRedis = new Redis(redisUrl);
  const prefix = `test-live-${randomUUID()}`;
  const streams = testStreams();
  const ids = uniqueIds();
  const calls = { forUser: 0 };
  const applied: AnyEvent[] = [];
  let inner: Recommender;

  /** Appends events to the test's streams and waits until the consumer applied them and every refresh or notification they caused is done. */
  async function deliver(events: readonly AnyEvent[]): Promise<void> {
    const target = applied.length + events.length;
    await publish(redis, streams, events);
    await vi.waitFor(() => expect(applied.length).toBeGreaterThanOrEqual(target), { timeout: 20_000, interval: 20 });
    await live.idle();
  }

  const [viewer, bystander, fan1, fan2, fan3] = ['viewer', 'bystander', 'fan1', 'fan2', 'fan3'].map((name) => ids.user(name)) as [string, string, string, string, string];
  const heat = ids.movie(1);

  beforeAll(async () => {
    graph = await startTestGraph();
    await cacheRedis.ping();
    const liveRecommender = createLiveRecommender(graph.driver, quietLogger, { queryTimeoutMs: 60_000 });
    // Counts calls only; every answer comes from the graph.
    inner = {
      forUser: (userId, limit) => {
        calls.forUser += 1;
        return liveRecommender.forUser(userId, limit);
      },
      similarMovies: (movieIds, limit) => liveRecommender.similarMovies(movieIds, limit),
    };
    cache = createCachedRecommender(inner, cacheRedis, { prefix, ttlSeconds: 60, logger: quietLogger });
    live = startLiveUpdates({ cache, redis: cacheRedis, driver: graph.driver, logger: quietLogger, prefix, coalesceMs: 150 });
    consumer = await startGraphEventConsumer({
      redis: new Redis(redisUrl),
      driver: graph.driver,
      logger: quietLogger,
      streams: streams.all,
      blockMs: 100,
      onApplied: (events) => {
        applied.push(...events);
        live.eventsApplied(events);
      },
    });
    inbox = createInbox(prefix);

    const genre = ids.genre('crime');
    await upsertGraphMovies(graph.driver, [
      { id: heat, title: 'Heat', year: 1995, genres: [genre] },
      ...[2, 3, 4, 5, 6].map((n) => ({ id: ids.movie(n), title: `Movie ${n}`, year: 2000, genres: [genre] })),
      { id: ids.movie(99), title: 'Nobody watched this', year: 2001, genres: [ids.genre('obscure')] },
    ]);
    // Heat's fans also love 2 and 3; the viewer so far only likes 4 (whose fan loves 5).
    await upsertGraphReactions(graph.driver, [
      ...[heat, ids.movie(2), ids.movie(3)].flatMap((movieId, index) => [fan1, fan2].map((userId) => ({ userId, movieId, reaction: 'LIKE' as const, at: 10 + index }))),
      { userId: fan3, movieId: ids.movie(4), reaction: 'LIKE', at: 20 },
      { userId: fan3, movieId: ids.movie(5), reaction: 'LIKE', at: 21 },
      { userId: viewer, movieId: ids.movie(4), reaction: 'LIKE', at: 22 },
      { userId: bystander, movieId: ids.movie(5), reaction: 'LIKE', at: 23 },
    ]);
    await liveRecommender.forUser(viewer, 20); // warms Neo4j's query plans
  });

  afterAll(async () => {
    await consumer?.stop();
    await live?.stop();
    inbox?.close();
    const leftovers = await redis.keys(`${prefix}:*`);
    if (leftovers.length > 0) await redis.del(...leftovers);
    await deleteStreams(redisUrl, streams);
    redis.disconnect();
    cacheRedis.disconnect();
    await graph?.stop();
  });

  it("recomputes a user's list after their like and tells them why, and nobody else", async () => {
    await inbox.watch(viewer, bystander);
    const before = await cache.forUser(viewer, 20);
    await cache.forUser(bystander, 20);
    expect(before[0]).toMatchObject({ movieId: ids.movie(5), source: 'COLLABORATIVE' });
    const callsBefore = calls.forUser;

    await deliver([review.reacted(viewer, heat, 'LIKE', Date.now())]);

    const [message] = await inbox.waitFor(viewer);
    expect(message).toEqual({ kind: 'recommendations-updated', userId: viewer, reason: 'you liked Heat', at: expect.any(String) });
    // Recomputed once, right after the event, and stored: the next read is served from the cache.
    expect(calls.forUser).toBe(callsBefore + 1);
    const after = await cache.forUser(viewer, 20);
    expect(calls.forUser).toBe(callsBefore + 1);
    expect(after).toEqual(await inner.forUser(viewer, 20));
    expect(after.slice(0, 2).map((item) => [item.movieId, item.source])).toEqual([
      [ids.movie(2), 'COLLABORATIVE'],
      [ids.movie(3), 'COLLABORATIVE'],
    ]);
    expect(after.map((item) => item.movieId)).not.toContain(heat);

    await inbox.drain(redis, viewer, bystander);
    expect(inbox.of(viewer)).toHaveLength(1);
    expect(inbox.of(bystander)).toEqual([]);
  });

  it('coalesces a burst of events into one recomputation and one message', async () => {
    const user = ids.user('burst');
    await inbox.watch(user);
    await cache.forUser(user, 20);
    const callsBefore = calls.forUser;
    const now = Date.now();
    // One MULTI: the whole burst is in the stream before the consumer reads.
    const burst = [2, 3, 4, 5, 6].map((n, index) => review.upserted(user, ids.movie(n), 5, now + index));
    const transaction = redis.multi();
    for (const item of burst) transaction.xadd(streams.reviews, '*', 'event', JSON.stringify(item));
    const target = applied.length + burst.length;
    await transaction.exec();
    await vi.waitFor(() => expect(applied.length).toBeGreaterThanOrEqual(target), { timeout: 20_000, interval: 20 });
    await live.idle();

    expect(calls.forUser).toBe(callsBefore + 1);
    await inbox.drain(redis, user);
    expect(inbox.of(user).map((message) => (message.kind === 'recommendations-updated' ? message.reason : message.kind))).toEqual([
      'you rated Movie 6 (and 4 more changes)',
    ]);
  });

  it('recomputes but stays silent when the top of the list did not change', async () => {
    const user = ids.user('quiet');
    await upsertGraphReactions(graph.driver, [{ userId: user, movieId: ids.movie(5), reaction: 'LIKE', at: Date.now() - 1_000 }]);
    await inbox.watch(user);
    await cache.forUser(user, 20);
    const callsBefore = calls.forUser;
    // A movie nobody rated: it is in no list, so excluding it changes nothing visible.
    await deliver([review.excluded(user, ids.movie(99), Date.now())]);

    expect(calls.forUser).toBe(callsBefore + 1);
    await inbox.drain(redis, user);
    expect(inbox.of(user)).toEqual([]);
  });

  it('only invalidates after old events (a backlog, a replay): no recomputation, no message', async () => {
    const user = ids.user('replayed');
    await inbox.watch(user);
    await cache.forUser(user, 20);
    const callsBefore = calls.forUser;
    await deliver([review.reacted(user, heat, 'LIKE', Date.now() - 60 * 60_000)]);

    expect(calls.forUser).toBe(callsBefore);
    await inbox.drain(redis, user);
    expect(inbox.of(user)).toEqual([]);
    await cache.forUser(user, 20);
    expect(calls.forUser).toBe(callsBefore + 1);
  });

  it('notifies users whose taste matches a new movie, once, and invalidates their lists', async () => {
    const [action, crime, drama, western] = ['action', 'crime', 'drama', 'western'].map((name) => ids.genre(`new-${name}`)) as [string, string, string, string];
    const genreFan = ids.user('genre-fan');
    const tasteFan = ids.user('taste-fan');
    const stranger = ids.user('stranger');
    const now = Date.now();
    await upsertGraphMovies(graph.driver, [
      { id: ids.movie(50), title: 'Ronin', year: 1998, genres: [crime, drama] },
      { id: ids.movie(51), title: 'Unforgiven', year: 1992, genres: [drama, western] },
    ]);
    await upsertGraphUsers(graph.driver, [
      { id: genreFan, favoriteGenres: [action], at: now },
      { id: stranger, favoriteGenres: [western], at: now },
    ]);
    await upsertGraphReactions(graph.driver, [
      // Shares crime and drama with the new movie: a match.
      { userId: tasteFan, movieId: ids.movie(50), reaction: 'LIKE', at: now - 1_000 },
      // Shares only drama: not enough.
      { userId: stranger, movieId: ids.movie(51), reaction: 'LIKE', at: now - 1_000 },
    ]);
    await inbox.watch(genreFan, tasteFan, stranger);
    await cache.forUser(tasteFan, 20);
    await vi.waitFor(async () => expect(await cacheRedis.exists(cacheKeys(prefix).user(tasteFan))).toBe(1));
    const callsBefore = calls.forUser;

    const created = event('movie.created', { movieId: ids.movie(60), title: 'Heat 2', year: 2026, genres: [action, crime, drama], languages: ['en'], personIds: [], at: iso(Date.now()) });
    await deliver([created]);

    const [toGenreFan] = await inbox.waitFor(genreFan);
    expect(toGenreFan).toEqual({
      kind: 'notification',
      notificationKind: 'NEW_RECOMMENDATION',
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      userId: genreFan,
      movieId: ids.movie(60),
      message: `New: Heat 2 — matches your taste for ${action}`,
      at: expect.any(String),
    });
    const [toTasteFan] = await inbox.waitFor(tasteFan);
    expect(toTasteFan).toMatchObject({ kind: 'notification', message: `New: Heat 2 — matches your taste for ${crime}, ${drama}` });
    await cache.forUser(tasteFan, 20);
    expect(calls.forUser).toBe(callsBefore + 1);

    // The same event delivered again (a redelivery, a replay) notifies nobody again.
    await deliver([created]);
    await inbox.drain(redis, genreFan, tasteFan, stranger);
    expect(inbox.of(genreFan)).toHaveLength(1);
    expect(inbox.of(tasteFan)).toHaveLength(1);
    expect(inbox.of(stranger)).toEqual([]);
  });

  it('is wired into the subgraph: served from the cache, published on the stack prefix after a like', async () => {
    const stackPrefix = `test-live-stack-${randomUUID()}`;
    const stackInbox = createInbox(stackPrefix);
    const tokens = await createTestTokens();
    const stackIds = uniqueIds();
    const [stackViewer, stackFan] = [stackIds.user('viewer'), stackIds.user('fan')];
    let server: RunningServer | undefined;
    try {
      await upsertGraphMovies(graph.driver, [1, 2, 3].map((n) => ({ id: stackIds.movie(n), title: n === 1 ? 'Collateral' : `Movie ${n}`, year: 2004, genres: [stackIds.genre('g')] })));
      await upsertGraphReactions(graph.driver, [
        { userId: stackFan, movieId: stackIds.movie(1), reaction: 'LIKE', at: 1 },
        { userId: stackFan, movieId: stackIds.movie(2), reaction: 'LIKE', at: 2 },
        { userId: stackViewer, movieId: stackIds.movie(3), reaction: 'LIKE', at: 3 },
      ]);
      server = await startRecommendationsSubgraph(
        subgraphEnv(graph.settings, redisUrl, { EVENT_STREAM_PREFIX: stackPrefix }),
        { verifier: tokens.verifier, logger: quietLogger, events: { blockMs: 100 } },
      );
      const graphql = graphqlClient(server.url);
      const token = await tokens.sign(stackViewer);
      const query = `query { recommendations(first: 5) { movie { id } } }`;
      const first = await graphql<{ recommendations: { movie: { id: string } }[] }>(query, {}, { token });
      expect(first.errors).toBeUndefined();
      await vi.waitFor(async () => expect(await redis.exists(cacheKeys(stackPrefix).user(stackViewer))).toBe(1), { timeout: 5_000 });

      await stackInbox.watch(stackViewer);
      await redis.xadd(`${stackPrefix}:reviews`, '*', 'event', JSON.stringify(review.reacted(stackViewer, stackIds.movie(1), 'LIKE', Date.now())));
      const [message] = await stackInbox.waitFor(stackViewer);
      expect(message).toMatchObject({ kind: 'recommendations-updated', reason: 'you liked Collateral' });

      const second = await graphql<{ recommendations: { movie: { id: string } }[] }>(query, {}, { token });
      expect(second.data?.recommendations[0]?.movie.id).toBe(String(stackIds.movie(2)));
    } finally {
      await server?.stop();
      stackInbox.close();
      const leftovers = await redis.keys(`${stackPrefix}:*`);
      if (leftovers.length > 0) await redis.del(...leftovers);
    }
  });
});
