import { sql } from 'drizzle-orm';
import { type AnyEvent, type Database, type EventType } from '@platform/shared';
import { bucketStart } from './buckets.ts';
import { granularities, processedEvents, type Granularity } from './tables.ts';

// How one event changes the read model. Every change is a delta (counts added, a rating moved
// from one half-star slot to another, a timestamp raised), computed from the payload alone: the
// payloads carry the previous values (shared/README.md), so an update, a delete or an admin's
// rollback adjusts the aggregates without reading anything back. Deltas commute, so events of
// different streams (users, movies, reviews) may arrive in any relative order.
//
// Each event is applied at most once: its id is recorded in analytics.processed_events in the
// same transaction as the deltas, so a redelivered or replayed event changes nothing.

/** The event types this read model consumes; all others are acknowledged and ignored. */
export const consumedEventTypes = [
  'user.registered',
  'movie.created',
  'review.upserted',
  'review.deleted',
  'reaction.set',
  'reaction.cleared',
] as const satisfies readonly EventType[];

const consumed = new Set<string>(consumedEventTypes);

export interface MovieDelta {
  movieId: number;
  ratings: number;
  halvesSum: number;
  /** ten slots, index 0 = 0.5 stars ... 9 = 5.0 stars */
  distribution: number[];
  likes: number;
  dislikes: number;
}

export interface UserDelta {
  userId: string;
  ratings: number;
  halvesSum: number;
  /** set for the user's own actions only */
  activeAt: Date | null;
  registeredAt: Date | null;
}

export interface TotalsDelta {
  users: number;
  movies: number;
  ratings: number;
  reviews: number;
  likes: number;
  dislikes: number;
  halvesSum: number;
}

/** One own action of a user, counted in the hour, day and week that contain `at`. */
export interface ActivityDelta {
  userId: string;
  at: Date;
  ratings: number;
  reviews: number;
  newUsers: number;
}

export interface EventEffect {
  movie: MovieDelta | null;
  user: UserDelta | null;
  totals: TotalsDelta;
  activity: ActivityDelta | null;
}

/** A payload this code cannot apply (a producer bug): the consumer retries it, then dead-letters it. */
export class EventPayloadError extends Error {
  override name = 'EventPayloadError';
}

/**
 * Ratings travel in stars (0.5 .. 5.0), as the public API speaks them; the read model keeps
 * whole half-stars (1 .. 10), as reviews.reviews does, so sums and averages stay exact.
 */
export function halvesOf(stars: number, field: string): number {
  const halves = stars * 2;
  if (!Number.isInteger(halves) || halves < 1 || halves > 10) throw new EventPayloadError(`${field} must be 0.5 .. 5.0 in half-star steps, got ${String(stars)}`);
  return halves;
}

function timeOf(at: string, type: string): Date {
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) throw new EventPayloadError(`${type}: at is not a date-time: ${JSON.stringify(at)}`);
  return date;
}

function checkMovieId(movieId: number, type: string): number {
  if (!Number.isSafeInteger(movieId) || movieId < 1) throw new EventPayloadError(`${type}: movieId must be a positive integer, got ${String(movieId)}`);
  return movieId;
}

const noTotals: TotalsDelta = { users: 0, movies: 0, ratings: 0, reviews: 0, likes: 0, dislikes: 0, halvesSum: 0 };

function slots(...changes: [halves: number, by: number][]): number[] {
  const distribution = new Array<number>(10).fill(0);
  for (const [halves, by] of changes) distribution[halves - 1] = (distribution[halves - 1] ?? 0) + by;
  return distribution;
}

const likeDelta = (now: 'LIKE' | 'DISLIKE' | null, before: 'LIKE' | 'DISLIKE' | null, kind: 'LIKE' | 'DISLIKE'): number =>
  (now === kind ? 1 : 0) - (before === kind ? 1 : 0);

/** What an event changes; null for event types this read model does not consume. Pure. */
export function effectOf(event: AnyEvent): EventEffect | null {
  switch (event.type) {
    case 'user.registered': {
      const at = timeOf(event.payload.at, event.type);
      const { userId } = event.payload;
      return {
        movie: null,
        user: { userId, ratings: 0, halvesSum: 0, activeAt: at, registeredAt: at },
        totals: { ...noTotals, users: 1 },
        activity: { userId, at, ratings: 0, reviews: 0, newUsers: 1 },
      };
    }
    case 'movie.created': {
      const movieId = checkMovieId(event.payload.movieId, event.type);
      return {
        movie: { movieId, ratings: 0, halvesSum: 0, distribution: slots(), likes: 0, dislikes: 0 },
        user: null,
        totals: { ...noTotals, movies: 1 },
        activity: null,
      };
    }
    case 'review.upserted': {
      const { userId, rating, hasComment, previousRating, previousHasComment, actorId } = event.payload;
      const movieId = checkMovieId(event.payload.movieId, event.type);
      const at = timeOf(event.payload.at, event.type);
      const halves = halvesOf(rating, 'rating');
      const previous = previousRating === null ? null : halvesOf(previousRating, 'previousRating');
      const added = previous === null ? 1 : 0; // an update moves a rating, it adds none
      const halvesSum = halves - (previous ?? 0);
      // A rollback replays history with the admin as actor: the author did nothing just now.
      const own = actorId === userId;
      return {
        movie: { movieId, ratings: added, halvesSum, distribution: previous === null ? slots([halves, 1]) : slots([halves, 1], [previous, -1]), likes: 0, dislikes: 0 },
        user: { userId, ratings: added, halvesSum, activeAt: own ? at : null, registeredAt: null },
        totals: { ...noTotals, ratings: added, halvesSum, reviews: (hasComment ? 1 : 0) - (previousHasComment === true ? 1 : 0) },
        activity: own ? { userId, at, ratings: 1, reviews: hasComment ? 1 : 0, newUsers: 0 } : null,
      };
    }
    case 'review.deleted': {
      const { userId, previousRating, previousHasComment, actorId } = event.payload;
      const movieId = checkMovieId(event.payload.movieId, event.type);
      const at = timeOf(event.payload.at, event.type);
      const previous = halvesOf(previousRating, 'previousRating');
      const own = actorId === userId;
      return {
        movie: { movieId, ratings: -1, halvesSum: -previous, distribution: slots([previous, -1]), likes: 0, dislikes: 0 },
        user: { userId, ratings: -1, halvesSum: -previous, activeAt: own ? at : null, registeredAt: null },
        totals: { ...noTotals, ratings: -1, halvesSum: -previous, reviews: previousHasComment ? -1 : 0 },
        // Deleting one's own rating is activity, but not a rating written.
        activity: own ? { userId, at, ratings: 0, reviews: 0, newUsers: 0 } : null,
      };
    }
    case 'reaction.set':
    case 'reaction.cleared': {
      const { userId, previousReaction } = event.payload;
      const reaction = event.type === 'reaction.set' ? event.payload.reaction : null;
      const movieId = checkMovieId(event.payload.movieId, event.type);
      const at = timeOf(event.payload.at, event.type);
      const likes = likeDelta(reaction, previousReaction, 'LIKE');
      const dislikes = likeDelta(reaction, previousReaction, 'DISLIKE');
      return {
        movie: { movieId, ratings: 0, halvesSum: 0, distribution: slots(), likes, dislikes },
        user: { userId, ratings: 0, halvesSum: 0, activeAt: at, registeredAt: null },
        totals: { ...noTotals, likes, dislikes },
        activity: { userId, at, ratings: 0, reviews: 0, newUsers: 0 },
      };
    }
    default:
      return null;
  }
}

/**
 * Applies one event to the read model at most once. Resolves true when it changed the read
 * model, false for a repeat (already in processed_events) or a type this model does not consume
 * (not recorded: nothing to protect, and processed_events stays the size of what matters).
 */
export async function applyAnalyticsEvent(db: Database, event: AnyEvent): Promise<boolean> {
  // A batch of one: the same statements as the batch path, so the two cannot drift apart.
  return (await applyAnalyticsEvents(db, [event])).length > 0;
}

/** The summed effect of many events: one entry per movie, per user, per bucket, one for the totals. */
export interface BatchEffect {
  movies: Map<number, MovieDelta>;
  users: Map<string, UserDelta>;
  totals: TotalsDelta;
  /** key: `${granularity}|${start ISO}` */
  buckets: Map<string, { granularity: Granularity; start: string; ratings: number; reviews: number; newUsers: number; users: Set<string> }>;
}

const later = (a: Date | null, b: Date | null): Date | null => (a === null ? b : b === null ? a : a >= b ? a : b);
const earlier = (a: Date | null, b: Date | null): Date | null => (a === null ? b : b === null ? a : a <= b ? a : b);

/** Sums effects in memory (deltas commute; last activity is a max, registration a min). Pure. */
export function sumEffects(effects: EventEffect[]): BatchEffect {
  const sum: BatchEffect = { movies: new Map(), users: new Map(), totals: { ...noTotals }, buckets: new Map() };
  for (const { movie, user, totals, activity } of effects) {
    if (movie) {
      const into = sum.movies.get(movie.movieId);
      if (!into) sum.movies.set(movie.movieId, { ...movie, distribution: [...movie.distribution] });
      else {
        into.ratings += movie.ratings;
        into.halvesSum += movie.halvesSum;
        into.likes += movie.likes;
        into.dislikes += movie.dislikes;
        movie.distribution.forEach((by, index) => (into.distribution[index] = (into.distribution[index] ?? 0) + by));
      }
    }
    if (user) {
      const into = sum.users.get(user.userId);
      if (!into) sum.users.set(user.userId, { ...user });
      else {
        into.ratings += user.ratings;
        into.halvesSum += user.halvesSum;
        into.activeAt = later(into.activeAt, user.activeAt);
        into.registeredAt = earlier(into.registeredAt, user.registeredAt);
      }
    }
    for (const key of Object.keys(totals) as (keyof TotalsDelta)[]) sum.totals[key] += totals[key];
    if (activity) {
      for (const granularity of granularities) {
        const start = bucketStart(activity.at, granularity).toISOString();
        const key = `${granularity}|${start}`;
        let bucket = sum.buckets.get(key);
        if (!bucket) sum.buckets.set(key, (bucket = { granularity, start, ratings: 0, reviews: 0, newUsers: 0, users: new Set() }));
        bucket.ratings += activity.ratings;
        bucket.reviews += activity.reviews;
        bucket.newUsers += activity.newUsers;
        bucket.users.add(activity.userId);
      }
    }
  }
  return sum;
}

const jsonRows = (rows: unknown[]): string => JSON.stringify(rows);
const byKey = <K extends string | number>(a: K, b: K): number => (a < b ? -1 : a > b ? 1 : 0);

async function writeBatchEffect(tx: Database, effect: BatchEffect): Promise<void> {
  // One statement per aggregate, rows in key order, in the same order every time (movies,
  // users, totals, buckets): concurrent consumers take row locks in one order and cannot deadlock.
  // Rows travel as one JSON parameter (jsonb_to_recordset): one round trip whatever the count.
  const movies = [...effect.movies.values()].sort((a, b) => a.movieId - b.movieId);
  if (movies.length > 0) {
    const rows = movies.map((m) => ({ movie_id: m.movieId, rating_count: m.ratings, rating_halves_sum: m.halvesSum, distribution: m.distribution, like_count: m.likes, dislike_count: m.dislikes }));
    await tx.execute(sql`
      INSERT INTO analytics.movie_stats AS s (movie_id, rating_count, rating_halves_sum, distribution, like_count, dislike_count)
      SELECT movie_id, rating_count, rating_halves_sum, distribution, like_count, dislike_count
      FROM jsonb_to_recordset(${jsonRows(rows)}::jsonb)
        AS r(movie_id bigint, rating_count integer, rating_halves_sum bigint, distribution integer[], like_count integer, dislike_count integer)
      ORDER BY movie_id
      ON CONFLICT (movie_id) DO UPDATE SET
        rating_count = s.rating_count + excluded.rating_count,
        rating_halves_sum = s.rating_halves_sum + excluded.rating_halves_sum,
        distribution = array(
          SELECT slot.current + slot.delta
          FROM unnest(s.distribution, excluded.distribution) WITH ORDINALITY AS slot(current, delta, position)
          ORDER BY slot.position),
        like_count = s.like_count + excluded.like_count,
        dislike_count = s.dislike_count + excluded.dislike_count`);
  }
  const users = [...effect.users.values()].sort((a, b) => byKey(a.userId, b.userId));
  if (users.length > 0) {
    const rows = users.map((u) => ({
      user_id: u.userId, rating_count: u.ratings, rating_halves_sum: u.halvesSum,
      last_active_at: u.activeAt?.toISOString() ?? null, registered_at: u.registeredAt?.toISOString() ?? null,
    }));
    await tx.execute(sql`
      INSERT INTO analytics.user_activity AS u (user_id, rating_count, rating_halves_sum, last_active_at, registered_at)
      SELECT user_id, rating_count, rating_halves_sum, last_active_at, registered_at
      FROM jsonb_to_recordset(${jsonRows(rows)}::jsonb)
        AS r(user_id uuid, rating_count integer, rating_halves_sum bigint, last_active_at timestamptz, registered_at timestamptz)
      ORDER BY user_id
      ON CONFLICT (user_id) DO UPDATE SET
        rating_count = u.rating_count + excluded.rating_count,
        rating_halves_sum = u.rating_halves_sum + excluded.rating_halves_sum,
        last_active_at = greatest(u.last_active_at, excluded.last_active_at),
        registered_at = least(u.registered_at, excluded.registered_at)`);
  }
  const { totals } = effect;
  if (Object.values(totals).some((value) => value !== 0)) {
    const result = await tx.execute(sql`
      UPDATE analytics.platform_totals SET
        users = users + ${totals.users}, movies = movies + ${totals.movies}, ratings = ratings + ${totals.ratings},
        reviews = reviews + ${totals.reviews}, likes = likes + ${totals.likes}, dislikes = dislikes + ${totals.dislikes},
        rating_halves_sum = rating_halves_sum + ${totals.halvesSum}, updated_at = now()
      WHERE id = 1`);
    if (result.rowCount !== 1) throw new Error('analytics.platform_totals has no row; run `npm run migrate`');
  }
  const buckets = [...effect.buckets.values()].sort((a, b) => byKey(a.granularity, b.granularity) || byKey(a.start, b.start));
  if (buckets.length > 0) {
    const bucketRows = buckets.map((b) => ({ granularity: b.granularity, start: b.start, ratings: b.ratings, reviews: b.reviews, new_users: b.newUsers }));
    const memberRows = buckets.flatMap((b) => [...b.users].sort(byKey).map((userId) => ({ granularity: b.granularity, start: b.start, user_id: userId })));
    // A membership row inserted now is a user's first action in that bucket,
    // and only those raise its distinct active-user count.
    await tx.execute(sql`
      WITH first_action AS (
        INSERT INTO analytics.active_users (granularity, start, user_id)
        SELECT granularity, start, user_id
        FROM jsonb_to_recordset(${jsonRows(memberRows)}::jsonb) AS m(granularity text, start timestamptz, user_id uuid)
        ORDER BY granularity, start, user_id
        ON CONFLICT DO NOTHING
        RETURNING granularity, start
      ), newly_active AS (
        SELECT granularity, start, count(*)::integer AS users FROM first_action GROUP BY granularity, start
      )
      INSERT INTO analytics.activity_buckets AS b (granularity, start, ratings, reviews, new_users, active_users)
      SELECT r.granularity, r.start, r.ratings, r.reviews, r.new_users, coalesce(newly_active.users, 0)
      FROM jsonb_to_recordset(${jsonRows(bucketRows)}::jsonb) AS r(granularity text, start timestamptz, ratings integer, reviews integer, new_users integer)
        LEFT JOIN newly_active USING (granularity, start)
      ORDER BY r.granularity, r.start
      ON CONFLICT (granularity, start) DO UPDATE SET
        ratings = b.ratings + excluded.ratings,
        reviews = b.reviews + excluded.reviews,
        new_users = b.new_users + excluded.new_users,
        active_users = b.active_users + excluded.active_users`);
  }
}

/**
 * Applies many events in ONE transaction, each at most once: every consumed event's id is
 * inserted into processed_events in one statement, and only the ids that statement inserted
 * (neither applied before nor repeated earlier in the batch) have their effects summed and written,
 * one multi-row upsert per aggregate. The result is the same as applyAnalyticsEvent on each event
 * in turn. Throws, changing nothing, when any event's payload is malformed or a write fails: the
 * caller then falls back to applying the events one by one. Resolves the ids it applied.
 */
export async function applyAnalyticsEvents(db: Database, events: AnyEvent[]): Promise<string[]> {
  // Effects first, outside the transaction: a malformed payload fails without touching the database.
  const effects = new Map<string, EventEffect>();
  for (const event of events) {
    if (!consumed.has(event.type)) continue;
    const effect = effectOf(event);
    // PostgreSQL returns uuids in lower case; the first of several envelopes with one id wins, as one by one.
    const id = event.id.toLowerCase();
    if (effect && !effects.has(id)) effects.set(id, effect);
  }
  if (effects.size === 0) return [];
  return db.transaction(async (tx) => {
    const inserted = await tx
      .insert(processedEvents)
      .values([...effects.keys()].sort().map((eventId) => ({ eventId })))
      .onConflictDoNothing()
      .returning({ eventId: processedEvents.eventId });
    const applied = inserted.map((row) => row.eventId);
    const fresh = applied.flatMap((id) => effects.get(id) ?? []);
    if (fresh.length !== applied.length) throw new Error('processed_events returned an event id the batch does not hold');
    if (fresh.length > 0) await writeBatchEffect(tx, sumEffects(fresh));
    return applied;
  });
}
