import { afterEach, describe, expect, it } from 'vitest';
import { connectPostgres, createEvent, createLogger, type AnyEvent } from '@platform/shared';
import { startAnalyticsConsumer } from '../../src/consumer.ts';
import { applyAnalyticsEvent, applyAnalyticsEvents } from '../../src/projection.ts';
import { createHarness, type Harness } from './harness.ts';
import { seededRandom } from '@platform/shared/testing';
import { generateWorkload } from './workload.ts';

// Events applied a batch per transaction (applyAnalyticsEvents, as the consumer does) must leave
// exactly what applying them one by one (applyAnalyticsEvent) leaves, repeats included; and a
// bad event in the middle of a batch must be dead-lettered alone while the others apply.

const harnesses: Harness[] = [];
afterEach(async () => {
  for (const harness of harnesses.splice(0)) await harness.close();
});
const newHarness = async (): Promise<Harness> => {
  const harness = await createHarness({ sources: false });
  harnesses.push(harness);
  return harness;
};

type Postgres = ReturnType<typeof connectPostgres>;

async function withPostgres<T>(h: Harness, use: (postgres: Postgres) => Promise<T>): Promise<T> {
  const postgres = connectPostgres(h.databaseUrl, { applicationName: 'analytics-batch-test', max: 2 });
  try {
    return await use(postgres);
  } finally {
    await postgres.close();
  }
}

/** Every row of the read model (processed_at and updated_at aside: they are times of application). */
async function snapshot(postgres: Postgres): Promise<Record<string, unknown[]>> {
  const queries: Record<string, string> = {
    totals: 'SELECT id, users, movies, ratings, reviews, likes, dislikes, rating_halves_sum FROM analytics.platform_totals ORDER BY id',
    movies: 'SELECT movie_id, rating_count, rating_halves_sum, distribution, like_count, dislike_count FROM analytics.movie_stats ORDER BY movie_id',
    users: 'SELECT user_id, rating_count, rating_halves_sum, last_active_at, registered_at FROM analytics.user_activity ORDER BY user_id',
    buckets: 'SELECT granularity, start, ratings, reviews, new_users, active_users FROM analytics.activity_buckets ORDER BY granularity, start',
    activeUsers: 'SELECT granularity, start, user_id FROM analytics.active_users ORDER BY granularity, start, user_id',
    processed: 'SELECT event_id FROM analytics.processed_events ORDER BY event_id',
  };
  const result: Record<string, unknown[]> = {};
  for (const [name, text] of Object.entries(queries)) result[name] = (await postgres.pool.query(text)).rows;
  return result;
}

const at = '2031-05-14T10:20:00.000Z';
const logger = createLogger('analytics-batch-test', { sink: () => {} });

describe('applying analytics events in batches', () => {
  it('leaves exactly what applying the events one by one leaves, repeats across and within batches included', { timeout: 180_000 }, async () => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const context = `workload seed ${seed}`;
    const workload = generateWorkload({ seed, steps: 1_500, movies: 40, users: 30 });
    const events = workload.published.map(({ event }) => event);
    const random = seededRandom(seed ^ 0x5bd1e995);
    const one = await newHarness();
    const batched = await newHarness();

    await withPostgres(one, async (postgres) => {
      for (const event of events) await applyAnalyticsEvent(postgres.db, event);
    });
    const expected = await withPostgres(one, snapshot);

    await withPostgres(batched, async (postgres) => {
      let applied = 0;
      for (let offset = 0; offset < events.length; ) {
        const size = 1 + Math.floor(random() * 250);
        const chunk = events.slice(offset, offset + size);
        offset += size;
        // Plus a repeat of an event of an earlier batch and one of this batch's own.
        const earlier = events[Math.floor(random() * offset)];
        const own = chunk[Math.floor(random() * chunk.length)];
        const batch: AnyEvent[] = [...chunk];
        if (earlier) batch.splice(Math.floor(random() * batch.length), 0, earlier);
        if (own) batch.push(own);
        applied += (await applyAnalyticsEvents(postgres.db, batch)).length;
      }
      expect(applied, context).toBe(workload.consumedCount);
    });
    const actual = await withPostgres(batched, snapshot);
    expect(actual, context).toEqual(expected);
    expect(actual.processed, context).toHaveLength(workload.consumedCount);
  });

  it('counts each event once in a batch holding repeats of earlier events and of its own', async () => {
    const h = await newHarness();
    const u1 = '11111111-1111-4111-8111-111111111111';
    const u2 = '22222222-2222-4222-8222-222222222222';
    const movieId = 42;
    const registered = createEvent('users', 'user.registered', { userId: u1, username: 'one', at });
    const created = createEvent('movies', 'movie.created', { movieId, title: 'Forty-two', year: null, genres: [], languages: [], personIds: [], at });
    const firstRating = createEvent('reviews', 'review.upserted', {
      userId: u1, movieId, rating: 4, hasComment: true, previousRating: null, previousHasComment: null, actorId: u1, at,
    });
    const like = createEvent('reviews', 'reaction.set', { userId: u1, movieId, reaction: 'LIKE', previousReaction: null, at });
    const secondRating = createEvent('reviews', 'review.upserted', {
      userId: u2, movieId, rating: 1.5, hasComment: false, previousRating: null, previousHasComment: null, actorId: u2, at,
    });
    await withPostgres(h, async (postgres) => {
      expect(await applyAnalyticsEvents(postgres.db, [registered, created, firstRating])).toHaveLength(3);
      const applied = await applyAnalyticsEvents(postgres.db, [firstRating, like, like, secondRating, registered, firstRating, secondRating, like, created]);
      expect(applied.sort()).toEqual([like.id, secondRating.id].sort());
      // A batch of nothing but repeats changes nothing.
      expect(await applyAnalyticsEvents(postgres.db, [like, registered, secondRating])).toEqual([]);

      const rows = await snapshot(postgres);
      expect(rows.totals).toEqual([{ id: 1, users: '1', movies: '1', ratings: '2', reviews: '1', likes: '1', dislikes: '0', rating_halves_sum: '11' }]);
      expect(rows.movies).toEqual([{ movie_id: '42', rating_count: 2, rating_halves_sum: '11', distribution: [0, 0, 1, 0, 0, 0, 0, 1, 0, 0], like_count: 1, dislike_count: 0 }]);
      expect(rows.users).toEqual([
        { user_id: u1, rating_count: 1, rating_halves_sum: '8', last_active_at: new Date(at), registered_at: new Date(at) },
        { user_id: u2, rating_count: 1, rating_halves_sum: '3', last_active_at: new Date(at), registered_at: null },
      ]);
      const bucket = { ratings: 2, reviews: 1, new_users: 1, active_users: 2 };
      expect(rows.buckets).toMatchObject([bucket, bucket, bucket]);
      expect(rows.activeUsers).toHaveLength(6);
      expect(rows.processed).toHaveLength(5);
    });
  });

  it('dead-letters a bad event in the middle of a batch and applies the others', { timeout: 60_000 }, async () => {
    const h = await newHarness();
    const ratings = Array.from({ length: 6 }, (_, index) => {
      const userId = `3333333${index}-3333-4333-8333-333333333333`;
      return createEvent('reviews', 'review.upserted', {
        userId, movieId: 7, rating: 5, hasComment: false, previousRating: null, previousHasComment: null, actorId: userId, at,
      });
    });
    // 7 stars is no rating: a payload error on every delivery.
    const badUser = '44444444-4444-4444-8444-444444444444';
    const bad = createEvent('reviews', 'review.upserted', {
      userId: badUser, movieId: 7, rating: 7, hasComment: false, previousRating: null, previousHasComment: null, actorId: badUser, at,
    });
    const [r0, r1, r2, r3, r4, r5] = ratings;
    if (!r0 || !r1 || !r2 || !r3 || !r4 || !r5) throw new Error('six ratings');
    // All published before the consumer starts: its first read holds them all.
    for (const event of [r0, r1, r2]) await h.publish('reviews', event);
    await h.redis.xadd(h.streams.reviews, '*', 'event', '{"not": "an event"');
    await h.publish('reviews', bad);
    for (const event of [r3, r1, r4, r5]) await h.publish('reviews', event);

    await withPostgres(h, async (postgres) => {
      const consumer = await startAnalyticsConsumer({ db: postgres.db, redis: h.redis.duplicate(), streams: h.streams, logger, maxDeliveries: 2 });
      try {
        await h.drained();
      } finally {
        await consumer.stop();
      }
      const dead = await h.redis.xrange(`${h.streams.reviews}:dead`, '-', '+');
      const deadEvents = dead.map(([, fields]) => fields[fields.indexOf('event') + 1]);
      expect(deadEvents).toEqual(['{"not": "an event"', JSON.stringify(bad)]);
      const rows = await snapshot(postgres);
      expect(rows.processed).toEqual([r0, r1, r2, r3, r4, r5].map((event) => ({ event_id: event.id })).sort((a, b) => (a.event_id < b.event_id ? -1 : 1)));
      expect(rows.totals).toMatchObject([{ ratings: '6', rating_halves_sum: '60' }]);
      expect(rows.movies).toMatchObject([{ movie_id: '7', rating_count: 6, distribution: [0, 0, 0, 0, 0, 0, 0, 0, 0, 6] }]);
    });
  });
});
