import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createEvent, type AnyEvent, type EventPayloads, type EventType, type Producer, type ReactionKind } from '@platform/shared';
import { backfillAnalytics, readModelTables } from '../../src/backfill.ts';
import { streamList } from '../../src/consumer.ts';
import { createHarness, groupState, type Harness } from './harness.ts';

// The backfill against real source schemas: it rebuilds the read model from them, and the
// consumer then continues from the stream positions the backfill recorded without counting
// anything twice, neither the events already in the streams at the time nor an event whose write
// the backfill saw but whose relay published it only afterwards. The proof is a second backfill
// after the consumer caught up: it finds nothing to change in any table, so the event-fed state
// equals the state rebuilt from the sources, activity buckets and distinct active users included.

let harness: Harness | undefined;
let client: pg.Client | undefined;
afterEach(async () => {
  await client?.end();
  client = undefined;
  await harness?.close();
  harness = undefined;
});

/**
 * Writes to the source schemas as their subgraphs do (a review with its review_history row, a
 * reaction with its time) and returns the event each write publishes.
 */
function sourceWriter(db: pg.Client) {
  const event = <T extends EventType>(producer: Producer, type: T, payload: EventPayloads[T], at: Date) =>
    ({ producer, event: createEvent(producer, type, payload, at) as AnyEvent });
  const stars = (halves: number): number => halves / 2;

  return {
    async register(at: Date) {
      const userId = randomUUID();
      const username = `backfill-${userId.slice(0, 12)}`;
      await db.query('INSERT INTO users.users (id, username, created_at, updated_at) VALUES ($1, $2, $3, $3)', [userId, username, at]);
      return { userId, published: event('users', 'user.registered', { userId, username, at: at.toISOString() }, at) };
    },
    async createMovie(title: string, at: Date) {
      const { rows } = await db.query<{ id: string }>('INSERT INTO movies.movies (title, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id', [title, at]);
      const movieId = Number(rows[0]?.id);
      return { movieId, published: event('movies', 'movie.created', { movieId, title, year: null, genres: [], languages: [], personIds: [], at: at.toISOString() }, at) };
    },
    async rate(change: { userId: string; movieId: number; halves: number; comment: string | null; actorId?: string; rollback?: boolean }, at: Date) {
      const actorId = change.actorId ?? change.userId;
      const { rows } = await db.query<{ rating_halves: number; comment: string | null }>(
        'SELECT rating_halves, comment FROM reviews.reviews WHERE user_id = $1 AND movie_id = $2',
        [change.userId, change.movieId],
      );
      const before = rows[0] ?? null;
      await db.query(
        `INSERT INTO reviews.reviews (user_id, movie_id, rating_halves, comment, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (user_id, movie_id) DO UPDATE SET rating_halves = excluded.rating_halves, comment = excluded.comment, updated_at = excluded.updated_at`,
        [change.userId, change.movieId, change.halves, change.comment, at],
      );
      await db.query(
        `INSERT INTO reviews.review_history (user_id, movie_id, action, old_rating_halves, new_rating_halves, old_comment, new_comment, actor_id, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [change.userId, change.movieId, change.rollback ? 'ROLLBACK' : before ? 'UPDATE' : 'CREATE', before?.rating_halves ?? null, change.halves, before?.comment ?? null, change.comment, actorId, at],
      );
      return event(
        'reviews',
        'review.upserted',
        {
          userId: change.userId,
          movieId: change.movieId,
          rating: stars(change.halves),
          hasComment: change.comment !== null,
          previousRating: before ? stars(before.rating_halves) : null,
          previousHasComment: before ? before.comment !== null : null,
          actorId,
          at: at.toISOString(),
        },
        at,
      );
    },
    async deleteReview(userId: string, movieId: number, at: Date) {
      const { rows } = await db.query<{ rating_halves: number; comment: string | null }>(
        'DELETE FROM reviews.reviews WHERE user_id = $1 AND movie_id = $2 RETURNING rating_halves, comment',
        [userId, movieId],
      );
      const deleted = rows[0];
      if (!deleted) throw new Error('no review to delete');
      await db.query(
        `INSERT INTO reviews.review_history (user_id, movie_id, action, old_rating_halves, old_comment, actor_id, at) VALUES ($1, $2, 'DELETE', $3, $4, $1, $5)`,
        [userId, movieId, deleted.rating_halves, deleted.comment, at],
      );
      return event(
        'reviews',
        'review.deleted',
        { userId, movieId, previousRating: stars(deleted.rating_halves), previousHasComment: deleted.comment !== null, actorId: userId, at: at.toISOString() },
        at,
      );
    },
    async react(userId: string, movieId: number, reaction: ReactionKind, at: Date) {
      await db.query('INSERT INTO reviews.reactions (user_id, movie_id, reaction, created_at) VALUES ($1, $2, $3, $4)', [userId, movieId, reaction, at]);
      return event('reviews', 'reaction.set', { userId, movieId, reaction, previousReaction: null, at: at.toISOString() }, at);
    },
    /** The outbox row a producer writes with its change, still unpublished. */
    async appendToOutbox(published: { event: AnyEvent }) {
      await db.query('INSERT INTO reviews.outbox (event_id, envelope) VALUES ($1, $2)', [published.event.id, JSON.stringify(published.event)]);
    },
  };
}

async function sourceTotals(db: pg.Client) {
  const { rows } = await db.query<Record<string, number>>(`
    SELECT (SELECT count(*)::integer FROM users.users) AS users, (SELECT count(*)::integer FROM movies.movies) AS movies,
           (SELECT count(*)::integer FROM reviews.reviews) AS ratings,
           (SELECT count(*)::integer FROM reviews.reviews WHERE comment IS NOT NULL) AS reviews,
           (SELECT count(*)::integer FROM reviews.reactions WHERE reaction = 'LIKE') AS likes,
           (SELECT count(*)::integer FROM reviews.reactions WHERE reaction = 'DISLIKE') AS dislikes`);
  return rows[0];
}

describe('analytics backfill', () => {
  it('rebuilds the read model, and the consumer continues from there without double counting', { timeout: 120_000 }, async () => {
    harness = await createHarness({ sources: true });
    const h = harness;
    client = new pg.Client({ connectionString: h.databaseUrl });
    await client.connect();
    const source = sourceWriter(client);
    const base = Date.UTC(2032, 2, 5, 9); // a Friday: the activity spans two ISO weeks
    const at = (minutes: number): Date => new Date(base + minutes * 60_000);
    const admin = randomUUID();

    // Before the backfill: writes whose events are already in the streams.
    const before: { producer: Producer; event: AnyEvent }[] = [];
    const u1 = await source.register(at(0));
    const u2 = await source.register(at(5));
    const u3 = await source.register(at(70));
    const m1 = await source.createMovie('Backfilled One', at(1));
    const m2 = await source.createMovie('Backfilled Two', at(2));
    before.push(u1.published, u2.published, u3.published, m1.published, m2.published);
    before.push(await source.rate({ userId: u1.userId, movieId: m1.movieId, halves: 8, comment: 'Loved it' }, at(10)));
    before.push(await source.rate({ userId: u2.userId, movieId: m1.movieId, halves: 3, comment: null }, at(12)));
    before.push(await source.rate({ userId: u3.userId, movieId: m2.movieId, halves: 10, comment: null }, at(75)));
    before.push(await source.rate({ userId: u1.userId, movieId: m1.movieId, halves: 9, comment: null }, at(24 * 60)));
    before.push(await source.deleteReview(u2.userId, m1.movieId, at(24 * 60 + 3)));
    before.push(await source.rate({ userId: u3.userId, movieId: m2.movieId, halves: 6, comment: null, actorId: admin, rollback: true }, at(24 * 60 + 30)));
    before.push(await source.react(u1.userId, m1.movieId, 'LIKE', at(30)));
    before.push(await source.react(u2.userId, m2.movieId, 'DISLIKE', at(3 * 24 * 60)));
    for (const { producer, event } of before) await h.publish(producer, event);

    // A write the backfill will see whose event its relay publishes only after the backfill.
    const late = await source.rate({ userId: u2.userId, movieId: m2.movieId, halves: 7, comment: 'Solid' }, at(3 * 24 * 60 + 10));
    await source.appendToOutbox(late);

    const first = await backfillAnalytics(h.databaseUrl, { redis: h.redis, streams: h.streams });
    expect(first.changed).toBe(true);
    expect(first.eventsMarked).toBe(1);
    expect(first.totals).toMatchObject(await sourceTotals(client));
    const lastIds = await Promise.all(streamList(h.streams).map(async (stream) => (await h.redis.xrevrange(stream, '+', '-', 'COUNT', 1))[0]?.[0]));
    expect(first.streamPositions).toEqual(Object.fromEntries(streamList(h.streams).map((stream, index) => [stream, lastIds[index]])));

    // After the backfill: the late event, then new writes with their events.
    await h.publish(late.producer, late.event);
    const u4 = await source.register(at(4 * 24 * 60));
    const m3 = await source.createMovie('Backfilled Three', at(4 * 24 * 60 + 1));
    const after = [
      u4.published,
      m3.published,
      await source.rate({ userId: u4.userId, movieId: m3.movieId, halves: 4, comment: 'Meh' }, at(4 * 24 * 60 + 5)),
      await source.rate({ userId: u1.userId, movieId: m1.movieId, halves: 2, comment: null }, at(4 * 24 * 60 + 20)),
      await source.deleteReview(u3.userId, m2.movieId, at(5 * 24 * 60)),
      await source.react(u4.userId, m1.movieId, 'LIKE', at(5 * 24 * 60 + 2)),
    ];
    for (const { producer, event } of after) await h.publish(producer, event);

    await h.start();
    await h.drained();
    for (const stream of streamList(h.streams)) expect(await groupState(h.redis, stream)).toEqual({ lag: 0, pending: 0 });

    const response = await h.graphql<{ analytics: { totals: Record<string, number>; movieStats: { ratingCount: number; distribution: number[] } } }>(
      `query($movieId: ID!) { analytics { totals { users movies ratings reviews likes dislikes } movieStats(movieId: $movieId) { ratingCount distribution } } }`,
      { movieId: String(m2.movieId) },
    );
    expect(response.errors).toBeUndefined();
    expect(response.data?.analytics.totals).toEqual(await sourceTotals(client));
    // m2: u3's 10 (rolled back to 6, then deleted) is gone; u2's late 7 counts once.
    expect(response.data?.analytics.movieStats).toEqual({ ratingCount: 1, distribution: [0, 0, 0, 0, 0, 0, 1, 0, 0, 0] });

    // The consumer's state is exactly what a rebuild from the sources gives.
    await h.stopServer();
    const second = await backfillAnalytics(h.databaseUrl);
    expect(second.changedRows).toEqual(Object.fromEntries(readModelTables.map((table) => [table, 0])));
    expect(second.changed).toBe(false);
    expect(second.eventsMarked).toBe(0);
    expect(second.streamPositions).toBeNull();
  });
});
