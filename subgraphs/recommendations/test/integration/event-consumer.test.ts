import { Redis } from 'ioredis';
import neo4j from 'neo4j-driver';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger, type AnyEvent } from '@platform/shared';
import { startGraphEventConsumer, type GraphEventConsumer, type GraphEventConsumerOptions } from '../../src/event-consumer.ts';
import {
  caughtUp,
  countByType,
  event,
  iso,
  publish,
  replay,
  reviewEvents as review,
  snapshot,
  testStreamRegistry,
  type TestStreams,
} from '../helpers/events.ts';
import { startTestGraph, uniqueIds, type TestGraph } from '../helpers/test-graph.ts';

// The consumer against real Redis streams and a private Neo4j: every event type, latest-wins with
// tombstones whatever the order, replays that change nothing, dead letters, and entries left by a
// consumer that died before acknowledging.

const redisUrl = inject('services').redisUrl;
const quietLogger = createLogger('recommendations-test', { sink: () => {} });

let graph: TestGraph;
const redis = new Redis(redisUrl);
const running: GraphEventConsumer[] = [];
const streamRegistry = testStreamRegistry(redisUrl);

beforeAll(async () => {
  graph = await startTestGraph();
});

afterEach(async () => {
  for (const consumer of running.splice(0)) await consumer.stop();
});

afterAll(async () => {
  await streamRegistry.deleteAll();
  redis.disconnect();
  await graph?.stop();
});

const newStreams = (): TestStreams => streamRegistry.create();

async function startConsumer(streams: TestStreams, options: Partial<GraphEventConsumerOptions> = {}): Promise<GraphEventConsumer> {
  const consumer = await startGraphEventConsumer({
    redis: new Redis(redisUrl),
    driver: graph.driver,
    logger: quietLogger,
    streams: streams.all,
    blockMs: 100,
    retryInitialMs: 50,
    retryMaxMs: 500,
    ...options,
  });
  running.push(consumer);
  return consumer;
}

/** Publishes, waits until the consumer has applied (and acknowledged) everything. */
async function deliver(consumer: GraphEventConsumer, streams: TestStreams, events: readonly AnyEvent[]): Promise<void> {
  await publish(redis, streams, events);
  await caughtUp(() => consumer.lag());
}

async function pairs(userId: string): Promise<string[]> {
  const { records } = await graph.driver.executeQuery(
    `MATCH (:User {id: $userId})-[r]->(m:Movie) RETURN type(r) + ' ' + toString(m.id) + ' ' + coalesce(toString(r.rating), '-') + ' ' + toString(r.at) AS line ORDER BY line`,
    { userId },
  );
  return records.map((record) => record.get('line') as string);
}

describe('graph event consumer', () => {
  it('applies every event type of the catalogue', async () => {
    const ids = uniqueIds();
    const streams = newStreams();
    const consumer = await startConsumer(streams);
    const ann = ids.user('ann');
    const [drama, crime] = [ids.genre('Drama'), ids.genre('Crime')];
    const m = (n: number) => ids.movie(n);
    await deliver(consumer, streams, [
      event('user.registered', { userId: ann, username: 'ann', at: iso(1_000) }),
      event('user.profile-updated', { userId: ann, favoriteGenres: [drama, crime], at: iso(2_000) }),
      event('movie.created', { movieId: m(1), title: 'Heat', year: 1994, genres: [drama], languages: ['en'], personIds: [], at: iso(1_000) }),
      event('movie.updated', { movieId: m(1), title: 'Heat', year: 1995, genres: [crime], languages: ['en'], personIds: [], at: iso(2_000) }),
      review.upserted(ann, m(1), 4.5, 1_000),
      review.upserted(ann, m(2), 3, 1_000),
      review.deleted(ann, m(2), 2_000),
      review.reacted(ann, m(1), 'LIKE', 1_000),
      review.reacted(ann, m(3), 'DISLIKE', 1_000),
      review.cleared(ann, m(3), 2_000),
      review.excluded(ann, m(4), 1_000),
      review.excluded(ann, m(5), 1_000),
      review.included(ann, m(5), 2_000),
    ]);

    expect(await pairs(ann)).toEqual([
      `EXCLUDED ${m(4)} - 1000`,
      `EXCLUSION_CLEARED ${m(5)} - 2000`,
      `LIKED ${m(1)} - 1000`,
      `RATED ${m(1)} 4.5 1000`,
      `RATING_DELETED ${m(2)} - 2000`,
      `REACTION_CLEARED ${m(3)} - 2000`,
    ]);
    const { records } = await graph.driver.executeQuery(
      `MATCH (m:Movie {id: $movieId}), (u:User {id: $userId})
       RETURN m.title AS title, m.year AS year, m.genres AS genres, m.changedAt AS changedAt,
              COLLECT { MATCH (m)-[:IN_GENRE]->(g) RETURN g.name } AS linked,
              COLLECT { MATCH (u)-[:PREFERS]->(g) RETURN g.name ORDER BY g.name } AS preferred`,
      { movieId: neo4j.int(m(1)), userId: ann },
    );
    expect(records[0]?.toObject()).toEqual({ title: 'Heat', year: 1995, genres: [crime], changedAt: 2_000, linked: [crime], preferred: [crime, drama].sort() });
  });

  it('lets the latest change win whatever the delivery order: a late older set never resurrects a removal', async () => {
    const ids = uniqueIds();
    const streams = newStreams();
    const consumer = await startConsumer(streams);
    const bob = ids.user('bob');
    const m = (n: number) => ids.movie(n);
    // The removals first (each in a round of its own), then the older sets they undid, then equal times.
    await deliver(consumer, streams, [review.deleted(bob, m(1), 2_000), review.cleared(bob, m(2), 2_000), review.included(bob, m(3), 2_000)]);
    await deliver(consumer, streams, [review.upserted(bob, m(1), 5, 1_000), review.reacted(bob, m(2), 'LIKE', 1_000), review.excluded(bob, m(3), 1_000)]);
    await deliver(consumer, streams, [review.upserted(bob, m(1), 4, 2_000), review.reacted(bob, m(2), 'DISLIKE', 2_000), review.excluded(bob, m(3), 2_000)]);
    expect(await pairs(bob)).toEqual([`EXCLUSION_CLEARED ${m(3)} - 2000`, `RATING_DELETED ${m(1)} - 2000`, `REACTION_CLEARED ${m(2)} - 2000`]);

    // Newer sets win over the tombstones and replace them; older removals then change nothing.
    await deliver(consumer, streams, [review.upserted(bob, m(1), 3.5, 3_000), review.reacted(bob, m(2), 'DISLIKE', 3_000), review.excluded(bob, m(3), 3_000)]);
    await deliver(consumer, streams, [review.deleted(bob, m(1), 2_500), review.cleared(bob, m(2), 2_500), review.included(bob, m(3), 2_500)]);
    expect(await pairs(bob)).toEqual([`DISLIKED ${m(2)} - 3000`, `EXCLUDED ${m(3)} - 3000`, `RATED ${m(1)} 3.5 3000`]);

    // A movie.updated that overtakes a newer one is ignored too.
    const movie = (title: string, at: number) => event('movie.updated', { movieId: m(9), title, year: null, genres: [], languages: [], personIds: [], at: iso(at) });
    await deliver(consumer, streams, [movie('new title', 5_000)]);
    await deliver(consumer, streams, [movie('old title', 4_000)]);
    const { records } = await graph.driver.executeQuery('MATCH (m:Movie {id: $id}) RETURN m.title AS title', { id: neo4j.int(m(9)) });
    expect(records[0]?.get('title')).toBe('new title');
  });

  it('changes nothing when the whole stream is replayed, twice and in reverse order', async () => {
    const ids = uniqueIds();
    const streams = newStreams();
    const consumer = await startConsumer(streams, { batchSize: 7 }); // several rounds per replay
    const users = ['a', 'b', 'c'].map((name) => ids.user(name));
    const movieIds = Array.from({ length: 12 }, (_, index) => ids.movie(index));
    const history: AnyEvent[] = [];
    users.forEach((userId, u) => {
      history.push(event('user.registered', { userId, username: `user-${u}`, at: iso(100) }));
      history.push(event('user.profile-updated', { userId, favoriteGenres: [ids.genre(`G${u}`)], at: iso(200 + u) }));
    });
    movieIds.forEach((movieId, index) => {
      history.push(event('movie.created', { movieId, title: `Movie ${index}`, year: 2000, genres: [ids.genre(`G${index % 3}`)], languages: [], personIds: [], at: iso(100) }));
    });
    users.forEach((userId, u) => {
      movieIds.forEach((movieId, index) => {
        const at = 1_000 + index * 10 + u;
        history.push(review.upserted(userId, movieId, 1 + ((index + u) % 9) / 2, at));
        if (index % 4 === u) history.push(review.deleted(userId, movieId, at + 1));
        if (index % 3 === 0) history.push(review.reacted(userId, movieId, (index + u) % 2 === 0 ? 'LIKE' : 'DISLIKE', at));
        if (index % 5 === u) history.push(review.cleared(userId, movieId, at + 2));
        if (index % 6 === u) history.push(review.excluded(userId, movieId, at));
      });
    });
    await deliver(consumer, streams, history);
    const first = await snapshot(graph.driver, users, movieIds);
    expect(countByType(first)).toMatchObject({ RATED: expect.any(Number), RATING_DELETED: expect.any(Number), EXCLUDED: expect.any(Number) });

    await replay(redis, streams);
    await replay(redis, streams); // now every event is in the streams four times
    await caughtUp(() => consumer.lag());
    expect(await snapshot(graph.driver, users, movieIds)).toEqual(first);

    await replay(redis, streams, 'reversed');
    await caughtUp(() => consumer.lag());
    expect(await snapshot(graph.driver, users, movieIds)).toEqual(first);
  });

  it('moves unreadable and unusable events to the dead-letter stream and goes on', async () => {
    const ids = uniqueIds();
    const streams = newStreams();
    const consumer = await startConsumer(streams);
    await redis.xadd(streams.reviews, '*', 'event', 'not json');
    await redis.xadd(streams.reviews, '*', 'event', JSON.stringify({ ...review.upserted(ids.user('a'), ids.movie(1), 4, 1_000), version: 99 }));
    await deliver(consumer, streams, [review.upserted(ids.user('a'), 1.5, 4, 1_000), review.upserted(ids.user('a'), ids.movie(2), 4, 1_000)]);

    expect(await pairs(ids.user('a'))).toEqual([`RATED ${ids.movie(2)} 4.0 1000`]);
    const dead = (await redis.xrange(`${streams.reviews}:dead`, '-', '+')) as [string, string[]][];
    const reasons = dead.map(([, fields]) => fields[fields.indexOf('reason') + 1]);
    expect(reasons).toEqual(['event is not JSON', 'review.upserted version 99 is not 1, the version this code reads', expect.stringMatching(/movie id must be an integer, got 1\.5$/)]);
    expect(dead.every(([, fields]) => fields[fields.indexOf('group') + 1] === 'recommendations')).toBe(true);
  });

  it('applies the events a consumer took but never acknowledged (it died): nothing is lost', async () => {
    const ids = uniqueIds();
    const streams = newStreams();
    // Create the group, then let a consumer that "dies" take every entry without acknowledging.
    await (await startConsumer(streams)).stop();
    running.length = 0;
    const userId = ids.user('a');
    const events = Array.from({ length: 30 }, (_, index) => review.upserted(userId, ids.movie(index), 4, 1_000 + index));
    await publish(redis, streams, events);
    const taken = (await redis.xreadgroup('GROUP', 'recommendations', 'died-before-ack', 'COUNT', 100, 'STREAMS', streams.reviews, '>')) as [string, unknown[]][];
    expect(taken[0]?.[1]).toHaveLength(30);

    const consumer = await startConsumer(streams, { claimIdleMs: 100 });
    await caughtUp(() => consumer.lag());
    expect(await pairs(userId)).toHaveLength(30);
  });

  it('writes large rounds (500 entries per stream) in one go', async () => {
    const ids = uniqueIds();
    const streams = newStreams();
    const consumer = await startConsumer(streams);
    const users = Array.from({ length: 10 }, (_, index) => ids.user(String(index)));
    await deliver(
      consumer,
      streams,
      users.flatMap((userId, u) => Array.from({ length: 120 }, (_, index) => review.upserted(userId, ids.movie(index), 0.5 + (index % 10) / 2, 1_000 + u))),
    );
    const { records } = await graph.driver.executeQuery('MATCH (u:User)-[r:RATED]->() WHERE u.id IN $users RETURN count(r) AS n', { users });
    expect(records[0]?.get('n')).toBe(1_200);
  });
});
