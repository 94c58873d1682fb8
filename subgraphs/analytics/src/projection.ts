import { sql } from 'drizzle-orm';
import { applyOnce, type AnyEvent, type Database, type EventType } from '@platform/shared';
import { bucketStart } from './buckets.ts';
import { granularities, processedEvents } from './tables.ts';

// How one event changes the read model. Every change is a delta (counts added, a rating moved
// from one half-star slot to another, a timestamp raised), computed from the payload alone: the
// payloads carry the previous values (shared/README.md), so an update, a delete or an admin's
// rollback adjusts the aggregates without reading anything back. Deltas commute, so events of
// different streams (users, movies, reviews) may arrive in any relative order.
//
// Each event is applied with applyOnce: its id is recorded in analytics.processed_events in the
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

const pgIntArray = (values: number[]): string => `{${values.join(',')}}`;

async function writeEffect(tx: Database, effect: EventEffect): Promise<void> {
  // Always the same order (movie, user, totals, buckets), so two consumers applying different
  // events concurrently take row locks in one order and cannot deadlock.
  const { movie, user, totals, activity } = effect;
  if (movie) {
    await tx.execute(sql`
      INSERT INTO analytics.movie_stats AS s (movie_id, rating_count, rating_halves_sum, distribution, like_count, dislike_count)
      VALUES (${movie.movieId}, ${movie.ratings}, ${movie.halvesSum}, ${pgIntArray(movie.distribution)}::integer[], ${movie.likes}, ${movie.dislikes})
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
  if (user) {
    // greatest/least ignore nulls: an event without a time for this column leaves it as it is.
    await tx.execute(sql`
      INSERT INTO analytics.user_activity AS u (user_id, rating_count, rating_halves_sum, last_active_at, registered_at)
      VALUES (${user.userId}, ${user.ratings}, ${user.halvesSum}, ${user.activeAt?.toISOString() ?? null}::timestamptz, ${user.registeredAt?.toISOString() ?? null}::timestamptz)
      ON CONFLICT (user_id) DO UPDATE SET
        rating_count = u.rating_count + excluded.rating_count,
        rating_halves_sum = u.rating_halves_sum + excluded.rating_halves_sum,
        last_active_at = greatest(u.last_active_at, excluded.last_active_at),
        registered_at = least(u.registered_at, excluded.registered_at)`);
  }
  const changed = Object.values(totals).some((value) => value !== 0);
  if (changed) {
    const result = await tx.execute(sql`
      UPDATE analytics.platform_totals SET
        users = users + ${totals.users}, movies = movies + ${totals.movies}, ratings = ratings + ${totals.ratings},
        reviews = reviews + ${totals.reviews}, likes = likes + ${totals.likes}, dislikes = dislikes + ${totals.dislikes},
        rating_halves_sum = rating_halves_sum + ${totals.halvesSum}, updated_at = now()
      WHERE id = 1`);
    // Migration 0001 creates the row; without it the counts would silently go nowhere.
    if (result.rowCount !== 1) throw new Error('analytics.platform_totals has no row; run `npm run migrate`');
  }
  if (activity) {
    const [hour, day, week] = granularities.map((granularity) => bucketStart(activity.at, granularity).toISOString());
    // The membership insert says whether this is the user's first action in each bucket; only
    // then does the bucket's distinct active-user count go up.
    await tx.execute(sql`
      WITH buckets (granularity, start) AS (
        VALUES ('HOUR', ${hour}::timestamptz), ('DAY', ${day}::timestamptz), ('WEEK', ${week}::timestamptz)
      ), first_action AS (
        INSERT INTO analytics.active_users (granularity, start, user_id)
        SELECT granularity, start, ${activity.userId}::uuid FROM buckets
        ON CONFLICT DO NOTHING
        RETURNING granularity, start
      )
      INSERT INTO analytics.activity_buckets AS b (granularity, start, ratings, reviews, new_users, active_users)
      SELECT buckets.granularity, buckets.start, ${activity.ratings}::integer, ${activity.reviews}::integer, ${activity.newUsers}::integer,
             (first_action.start IS NOT NULL)::integer
      FROM buckets LEFT JOIN first_action USING (granularity, start)
      ON CONFLICT (granularity, start) DO UPDATE SET
        ratings = b.ratings + excluded.ratings,
        reviews = b.reviews + excluded.reviews,
        new_users = b.new_users + excluded.new_users,
        active_users = b.active_users + excluded.active_users`);
  }
}

/**
 * Applies one event to the read model at most once. Resolves true when it changed the read
 * model, false for a repeat (already in processed_events) or a type this model does not consume
 * (not recorded: nothing to protect, and processed_events stays the size of what matters).
 */
export async function applyAnalyticsEvent(db: Database, event: AnyEvent): Promise<boolean> {
  if (!consumed.has(event.type)) return false;
  // Computed before the transaction: a malformed payload fails without touching the database.
  const effect = effectOf(event);
  if (!effect) return false;
  return applyOnce(db, processedEvents, event.id, (tx) => writeEffect(tx, effect));
}
