import { and, asc, desc, eq, gte, inArray, or, sql, type SQLWrapper } from 'drizzle-orm';
import { appendEvents, createEvent, type Database, type EventEnvelope, type EventType } from '@platform/shared';
import { isKnownMovie, UnknownMovieError } from './known-movies.ts';
import type { ReviewKey } from './review-key.ts';
import { exclusions, movieStats, outbox, reactions, reviewHistory, reviews } from './tables.ts';

export type ReviewRow = typeof reviews.$inferSelect;
export type MovieStatsRow = typeof movieStats.$inferSelect;
export type ReactionRow = typeof reactions.$inferSelect;
export type ReactionKind = ReactionRow['reaction'];

/** Where a page of a movie's reviews (newest first) continues: the last row's sort keys. */
export interface ReviewPosition {
  /** updated_at to the microsecond, as ISO-8601 UTC; a JS Date would drop the microseconds */
  updatedAt: string;
  userId: string;
}

/** Where a page of one user's reviews or reactions (newest first) continues. */
export interface MoviePosition {
  /** the row's time to the microsecond, as ISO-8601 UTC (see ReviewPosition) */
  at: string;
  movieId: number;
}

export interface PagedReview extends ReviewRow {
  position: ReviewPosition;
}

export interface PagedUserReview extends ReviewRow {
  position: MoviePosition;
}

export interface PagedReaction extends ReactionRow {
  position: MoviePosition;
}

export interface UserCount {
  userId: string;
  count: number;
}

export interface RatingChange {
  userId: string;
  movieId: number;
  ratingHalves: number;
  comment: string | null;
  /** who made the change (the author, or later an admin), for review_history */
  actorId: string;
}

export interface ReviewDeletion {
  userId: string;
  movieId: number;
  /** who deleted it, for review_history */
  actorId: string;
}

export interface ReactionChange {
  userId: string;
  movieId: number;
  reaction: ReactionKind;
}

/** An admin's request to put one user's reviews back as they were at `since`. */
export interface RatingsRollback {
  userId: string;
  since: Date;
  /** the admin, recorded in review_history and the events */
  actorId: string;
}

/** A user and a movie: the key of a reaction or an exclusion. */
export interface UserMovie {
  userId: string;
  movieId: number;
}

type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];

/**
 * A written review: one with a comment (the API stores a blank comment as null). Only these are
 * public; a bare rating is readable by its author and admins only. The one definition shared by
 * the public list, its index (reviews_movie_written_idx has the same predicate, which lets the
 * planner use it) and movie_stats.comment_count.
 */
export const isWritten = (review: Pick<ReviewRow, 'comment'>): boolean => review.comment !== null;
const writtenReview = sql`${reviews.comment} is not null`;

/** A timestamp rendered so that casting it back to timestamptz gives exactly the stored value. */
const exactInstant = (column: SQLWrapper) =>
  sql<string>`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export function createReviewsData(db: Database) {
  return {
    async statsOfMovies(movieIds: number[]): Promise<MovieStatsRow[]> {
      return db.select().from(movieStats).where(inArray(movieStats.movieId, movieIds));
    },

    async reviewsByKeys(keys: ReviewKey[]): Promise<ReviewRow[]> {
      if (keys.length === 0) return [];
      return db
        .select()
        .from(reviews)
        .where(or(...keys.map((key) => and(eq(reviews.userId, key.userId), eq(reviews.movieId, key.movieId)))));
    },

    /**
     * The next `limit` written reviews of each movie (its public list: bare ratings are private),
     * newest first, in one statement: a LATERAL subquery per movie walks the partial index
     * reviews_movie_written_idx backwards and stops after `limit` rows, so a movie with 100 000
     * ratings costs no more than one with ten, however few of them have a comment.
     */
    async reviewPages(movieIds: number[], limit: number, after: ReviewPosition | null): Promise<PagedReview[]> {
      const afterPosition = after
        ? sql`AND (${reviews.updatedAt}, ${reviews.userId}) < (${after.updatedAt}::timestamptz, ${after.userId}::uuid)`
        : sql``;
      const result = await db.execute<RawReview>(sql`
        SELECT page.*
        FROM unnest(${sql.param(movieIds)}::bigint[]) AS wanted(movie_id)
        CROSS JOIN LATERAL (
          SELECT ${reviews.userId} AS user_id, ${reviews.movieId} AS movie_id, ${reviews.ratingHalves} AS rating_halves,
                 ${reviews.comment} AS comment, ${reviews.createdAt} AS created_at, ${reviews.updatedAt} AS updated_at,
                 ${exactInstant(reviews.updatedAt)} AS position_at
          FROM ${reviews}
          WHERE ${reviews.movieId} = wanted.movie_id AND ${writtenReview} ${afterPosition}
          ORDER BY ${reviews.updatedAt} DESC, ${reviews.userId} DESC
          LIMIT ${limit}
        ) AS page`);
      return result.rows.map((row) => ({ ...toReviewRow(row), position: { updatedAt: row.position_at, userId: row.user_id } }));
    },

    /**
     * The next `limit` reviews of each user, newest first, in one statement: per user, one
     * partition's reviews_user_updated_idx walked backwards (same shape as reviewPages).
     */
    async userReviewPages(userIds: string[], limit: number, after: MoviePosition | null): Promise<PagedUserReview[]> {
      const afterPosition = after
        ? sql`AND (${reviews.updatedAt}, ${reviews.movieId}) < (${after.at}::timestamptz, ${after.movieId}::bigint)`
        : sql``;
      const result = await db.execute<RawReview>(sql`
        SELECT page.*
        FROM unnest(${sql.param(userIds)}::uuid[]) AS wanted(user_id)
        CROSS JOIN LATERAL (
          SELECT ${reviews.userId} AS user_id, ${reviews.movieId} AS movie_id, ${reviews.ratingHalves} AS rating_halves,
                 ${reviews.comment} AS comment, ${reviews.createdAt} AS created_at, ${reviews.updatedAt} AS updated_at,
                 ${exactInstant(reviews.updatedAt)} AS position_at
          FROM ${reviews}
          WHERE ${reviews.userId} = wanted.user_id ${afterPosition}
          ORDER BY ${reviews.updatedAt} DESC, ${reviews.movieId} DESC
          LIMIT ${limit}
        ) AS page`);
      return result.rows.map((row) => ({ ...toReviewRow(row), position: { at: row.position_at, movieId: Number(row.movie_id) } }));
    },

    async reviewCountsOfUsers(userIds: string[]): Promise<UserCount[]> {
      return db
        .select({ userId: reviews.userId, count: sql<number>`count(*)::integer` })
        .from(reviews)
        .where(inArray(reviews.userId, userIds))
        .groupBy(reviews.userId);
    },

    /** The next `limit` reactions of each user, newest first (reactions_user_created_idx). */
    async reactionPages(userIds: string[], limit: number, after: MoviePosition | null): Promise<PagedReaction[]> {
      const afterPosition = after
        ? sql`AND (${reactions.createdAt}, ${reactions.movieId}) < (${after.at}::timestamptz, ${after.movieId}::bigint)`
        : sql``;
      const result = await db.execute<RawReaction>(sql`
        SELECT page.*
        FROM unnest(${sql.param(userIds)}::uuid[]) AS wanted(user_id)
        CROSS JOIN LATERAL (
          SELECT ${reactions.userId} AS user_id, ${reactions.movieId} AS movie_id, ${reactions.reaction} AS reaction,
                 ${reactions.createdAt} AS created_at, ${exactInstant(reactions.createdAt)} AS position_at
          FROM ${reactions}
          WHERE ${reactions.userId} = wanted.user_id ${afterPosition}
          ORDER BY ${reactions.createdAt} DESC, ${reactions.movieId} DESC
          LIMIT ${limit}
        ) AS page`);
      return result.rows.map((row) => ({
        userId: row.user_id,
        movieId: Number(row.movie_id),
        reaction: row.reaction,
        createdAt: row.created_at,
        position: { at: row.position_at, movieId: Number(row.movie_id) },
      }));
    },

    async reactionCountsOfUsers(userIds: string[]): Promise<UserCount[]> {
      return db
        .select({ userId: reactions.userId, count: sql<number>`count(*)::integer` })
        .from(reactions)
        .where(inArray(reactions.userId, userIds))
        .groupBy(reactions.userId);
    },

    /** One user's reactions to some movies (Movie.myReaction of every movie in a request). */
    async reactionsOfUser(userId: string, movieIds: number[]): Promise<ReactionRow[]> {
      return db
        .select()
        .from(reactions)
        .where(and(eq(reactions.userId, userId), inArray(reactions.movieId, movieIds)));
    },

    /** Every exclusion of the users, newest first. */
    async exclusionsOfUsers(userIds: string[]): Promise<UserMovie[]> {
      return db
        .select({ userId: exclusions.userId, movieId: exclusions.movieId })
        .from(exclusions)
        .where(inArray(exclusions.userId, userIds))
        .orderBy(desc(exclusions.createdAt), desc(exclusions.movieId));
    },

    /**
     * Creates or replaces a user's review of a movie, in one transaction with its history row
     * and the movie's running totals, so movie_stats always equals a recount of the reviews
     * (including comment_count when a comment is added, removed or kept).
     */
    async rate(change: RatingChange): Promise<ReviewRow> {
      return db.transaction(async (tx) => {
        await requireKnownMovie(tx, change.movieId);
        const { before, after } = await upsertReview(tx, change);
        await recordReviewChange(tx, before, after, { action: before ? 'UPDATE' : 'CREATE', actorId: change.actorId, reason: null });
        // Last, because it locks the movie's single stats row that every rater of the movie
        // needs: held from here to commit only.
        await adjustStats(tx, change.movieId, reviewStatsDelta(before, after));
        return after;
      });
    },

    /**
     * Deletes a user's review with its history row and stats adjustment in one transaction;
     * null (and nothing written) when there was no review.
     */
    async deleteReview(deletion: ReviewDeletion): Promise<ReviewRow | null> {
      return db.transaction(async (tx) => {
        // DELETE … RETURNING reads the row it removes under its lock: a concurrent delete of the
        // same review finds nothing here, so the review is subtracted from the stats only once.
        const [deleted] = await tx
          .delete(reviews)
          .where(and(eq(reviews.userId, deletion.userId), eq(reviews.movieId, deletion.movieId)))
          .returning();
        if (!deleted) return null;
        await recordReviewChange(tx, deleted, null, { action: 'DELETE', actorId: deletion.actorId, reason: null });
        await adjustStats(tx, deletion.movieId, reviewStatsDelta(deleted, null));
        return deleted;
      });
    },

    /**
     * Puts every review of one user that changed at or after `since` back to its state just
     * before `since`, in one transaction: per movie, the earliest history row at/after `since`
     * holds the values of that moment (old null: the review did not exist, so it is deleted).
     * Each restored review gets a ROLLBACK history row and the same event as a normal edit, with
     * the admin as actor; a review already in its old state is left alone. Returns how many
     * reviews changed. Running it twice with the same `since` changes nothing the second time:
     * the earliest row at/after `since` is still the one the first run read.
     */
    async rollbackRatings(rollback: RatingsRollback): Promise<number> {
      return db.transaction(async (tx) => {
        const targets = await tx
          .selectDistinctOn([reviewHistory.movieId], {
            movieId: reviewHistory.movieId,
            ratingHalves: reviewHistory.oldRatingHalves,
            comment: reviewHistory.oldComment,
          })
          .from(reviewHistory)
          .where(and(eq(reviewHistory.userId, rollback.userId), gte(reviewHistory.at, rollback.since)))
          .orderBy(asc(reviewHistory.movieId), asc(reviewHistory.at), asc(reviewHistory.id));
        const reason = `rollback since ${rollback.since.toISOString()}`;
        const deltas: { movieId: number; delta: StatsDelta }[] = [];
        // In movie order (DISTINCT ON sorts by it), so two rollbacks lock rows in the same order.
        for (const target of targets) {
          const key = and(eq(reviews.userId, rollback.userId), eq(reviews.movieId, target.movieId));
          const [current] = await tx.select().from(reviews).where(key).for('update');
          if (target.ratingHalves === null) {
            if (!current) continue; // created after `since` and already deleted again
            const [deleted] = await tx.delete(reviews).where(key).returning();
            if (!deleted) continue;
            await recordReviewChange(tx, deleted, null, { action: 'ROLLBACK', actorId: rollback.actorId, reason });
            deltas.push({ movieId: target.movieId, delta: reviewStatsDelta(deleted, null) });
            continue;
          }
          if (current && current.ratingHalves === target.ratingHalves && current.comment === target.comment) continue;
          const { before, after } = await upsertReview(tx, {
            userId: rollback.userId,
            movieId: target.movieId,
            ratingHalves: target.ratingHalves,
            comment: target.comment,
            actorId: rollback.actorId,
          });
          await recordReviewChange(tx, before, after, { action: 'ROLLBACK', actorId: rollback.actorId, reason });
          deltas.push({ movieId: target.movieId, delta: reviewStatsDelta(before, after) });
        }
        // Stats last (shared rows, see rate), in movie order like every other writer's single row.
        for (const { movieId, delta } of deltas) await adjustStats(tx, movieId, delta);
        return deltas.length;
      });
    },

    /** Sets a user's reaction to a movie and the movie's like/dislike counters in one transaction. */
    async react(change: ReactionChange): Promise<void> {
      await db.transaction(async (tx) => {
        await requireKnownMovie(tx, change.movieId);
        const { before, at } = await upsertReaction(tx, change);
        if (at === null) return; // liking twice changes nothing, so it tells nobody anything
        await appendReviewsEvents(tx, [
          createEvent('reviews', 'reaction.set', {
            userId: change.userId,
            movieId: change.movieId,
            reaction: change.reaction,
            previousReaction: before,
            at: at.toISOString(),
          }),
        ]);
        await adjustStats(tx, change.movieId, {
          likeCount: countOf('LIKE', change.reaction) - countOf('LIKE', before),
          dislikeCount: countOf('DISLIKE', change.reaction) - countOf('DISLIKE', before),
        });
      });
    },

    /** Removes a user's reaction (if any) and adjusts the movie's counters in one transaction. */
    async clearReaction(key: UserMovie): Promise<void> {
      await db.transaction(async (tx) => {
        const [deleted] = await tx
          .delete(reactions)
          .where(and(eq(reactions.userId, key.userId), eq(reactions.movieId, key.movieId)))
          .returning({ reaction: reactions.reaction, at: sql`now()`.mapWith(reactions.createdAt) });
        if (!deleted) return; // nothing to clear: no event
        await appendReviewsEvents(tx, [
          createEvent('reviews', 'reaction.cleared', { ...key, previousReaction: deleted.reaction, at: deleted.at.toISOString() }),
        ]);
        await adjustStats(tx, key.movieId, { likeCount: -countOf('LIKE', deleted.reaction), dislikeCount: -countOf('DISLIKE', deleted.reaction) });
      });
    },

    /** Excluding an excluded movie again keeps its first time and emits no second event. */
    async exclude(key: UserMovie): Promise<void> {
      await db.transaction(async (tx) => {
        await requireKnownMovie(tx, key.movieId);
        const [created] = await tx.insert(exclusions).values(key).onConflictDoNothing().returning({ at: exclusions.createdAt });
        if (!created) return;
        await appendReviewsEvents(tx, [createEvent('reviews', 'exclusion.set', { ...key, at: created.at.toISOString() })]);
      });
    },

    /** Including a movie that was not excluded changes nothing and emits nothing. */
    async include(key: UserMovie): Promise<void> {
      await db.transaction(async (tx) => {
        const [deleted] = await tx
          .delete(exclusions)
          .where(and(eq(exclusions.userId, key.userId), eq(exclusions.movieId, key.movieId)))
          .returning({ at: sql`now()`.mapWith(exclusions.createdAt) });
        if (!deleted) return;
        await appendReviewsEvents(tx, [createEvent('reviews', 'exclusion.cleared', { ...key, at: deleted.at.toISOString() })]);
      });
    },
  };
}

export type ReviewsData = ReturnType<typeof createReviewsData>;

const countOf = (kind: ReactionKind, reaction: ReactionKind | null): number => (reaction === kind ? 1 : 0);
const writtenCount = (review: ReviewRow | null): number => (review !== null && isWritten(review) ? 1 : 0);

/** What a review going from `before` to `after` (null: absent) does to its movie's totals. */
function reviewStatsDelta(before: ReviewRow | null, after: ReviewRow | null): StatsDelta {
  return {
    ratingCount: (after ? 1 : 0) - (before ? 1 : 0),
    ratingHalvesSum: (after?.ratingHalves ?? 0) - (before?.ratingHalves ?? 0),
    commentCount: writtenCount(after) - writtenCount(before),
  };
}

/**
 * The first statement of every write that can create a row for a movie (rate, react, exclude):
 * an unknown movie throws UnknownMovieError, so the transaction rolls back before anything,
 * event included, is written. Removals (deleteReview, clearReaction, include) need no check:
 * they can only touch rows that passed it. known_movies only grows, so no lock is needed.
 */
async function requireKnownMovie(tx: Transaction, movieId: number): Promise<void> {
  if (!(await isKnownMovie(tx, movieId))) throw new UnknownMovieError(movieId);
}

/** Appends to this subgraph's outbox inside the caller's transaction (see shared/src/outbox.ts). */
const appendReviewsEvents = (tx: Transaction, events: EventEnvelope<EventType>[]): Promise<void> => appendEvents(tx, outbox, 'reviews', events);

/** Ratings travel in events as stars (0.5..5.0), as the API shows them, not as stored half-stars. */
const stars = (halves: number): number => halves / 2;

/**
 * The history row and the event of one review change (`after` null: deleted), both inside the
 * caller's transaction, so review_history, the outbox and the review never disagree. A deletion's
 * `at` is the history row's (the transaction's time); an upsert's is the review's updated_at.
 */
async function recordReviewChange(
  tx: Transaction,
  before: ReviewRow | null,
  after: ReviewRow | null,
  how: { action: 'CREATE' | 'UPDATE' | 'DELETE' | 'ROLLBACK'; actorId: string; reason: string | null },
): Promise<void> {
  const review = after ?? before;
  if (!review) return;
  const [history] = await tx
    .insert(reviewHistory)
    .values({
      userId: review.userId,
      movieId: review.movieId,
      action: how.action,
      oldRatingHalves: before?.ratingHalves ?? null,
      newRatingHalves: after?.ratingHalves ?? null,
      oldComment: before?.comment ?? null,
      newComment: after?.comment ?? null,
      actorId: how.actorId,
      reason: how.reason,
    })
    .returning({ at: reviewHistory.at });
  const event = after
    ? createEvent('reviews', 'review.upserted', {
        userId: after.userId,
        movieId: after.movieId,
        rating: stars(after.ratingHalves),
        hasComment: isWritten(after),
        previousRating: before ? stars(before.ratingHalves) : null,
        previousHasComment: before ? isWritten(before) : null,
        actorId: how.actorId,
        at: after.updatedAt.toISOString(),
      })
    : createEvent('reviews', 'review.deleted', {
        userId: review.userId,
        movieId: review.movieId,
        previousRating: stars(review.ratingHalves),
        previousHasComment: isWritten(review),
        actorId: how.actorId,
        at: (history?.at ?? new Date()).toISOString(),
      });
  await appendReviewsEvents(tx, [event]);
}

/** Attempts before giving up on a row that keeps being deleted and re-created under us. */
const upsertAttempts = 3;

/**
 * Insert-or-update that also tells what the row was before, without a race: the insert waits
 * for a concurrent insert of the same key to commit, and the update locks the row it reads, so
 * two simultaneous first ratings can never both count as new.
 */
async function upsertReview(tx: Transaction, change: RatingChange): Promise<{ before: ReviewRow | null; after: ReviewRow }> {
  const values = { ratingHalves: change.ratingHalves, comment: change.comment };
  const sameReview = and(eq(reviews.userId, change.userId), eq(reviews.movieId, change.movieId));
  for (let attempt = 1; attempt <= upsertAttempts; attempt += 1) {
    const [created] = await tx
      .insert(reviews)
      .values({ userId: change.userId, movieId: change.movieId, ...values })
      .onConflictDoNothing()
      .returning();
    if (created) return { before: null, after: created };
    const [before] = await tx.select().from(reviews).where(sameReview).for('update');
    if (!before) continue; // deleted between the two statements: insert again
    const [after] = await tx
      .update(reviews)
      .set({ ...values, updatedAt: sql`now()` })
      .where(sameReview)
      .returning();
    if (after) return { before, after };
  }
  throw new Error(`review of movie ${change.movieId} by user ${change.userId} kept changing concurrently`);
}

/**
 * The reaction counterpart of upsertReview (same race-free pattern): returns the reaction
 * before the change, null when there was none, and when the new one was set (null when nothing
 * changed). Repeating the current reaction writes nothing, so its time stays the time it was
 * first set.
 */
async function upsertReaction(tx: Transaction, change: ReactionChange): Promise<{ before: ReactionKind | null; at: Date | null }> {
  const sameReaction = and(eq(reactions.userId, change.userId), eq(reactions.movieId, change.movieId));
  for (let attempt = 1; attempt <= upsertAttempts; attempt += 1) {
    const [created] = await tx.insert(reactions).values(change).onConflictDoNothing().returning({ at: reactions.createdAt });
    if (created) return { before: null, at: created.at };
    const [before] = await tx.select({ reaction: reactions.reaction }).from(reactions).where(sameReaction).for('update');
    if (!before) continue; // cleared between the two statements: insert again
    if (before.reaction === change.reaction) return { before: before.reaction, at: null };
    const [updated] = await tx
      .update(reactions)
      .set({ reaction: change.reaction, createdAt: sql`now()` })
      .where(sameReaction)
      .returning({ at: reactions.createdAt });
    return { before: before.reaction, at: updated?.at ?? new Date() };
  }
  throw new Error(`reaction to movie ${change.movieId} by user ${change.userId} kept changing concurrently`);
}

interface StatsDelta {
  ratingCount?: number;
  ratingHalvesSum?: number;
  commentCount?: number;
  likeCount?: number;
  dislikeCount?: number;
}

/** Adds `delta` to a movie's running totals (creating its row): call it last in a transaction. */
async function adjustStats(tx: Transaction, movieId: number, delta: StatsDelta): Promise<void> {
  const values = {
    ratingCount: delta.ratingCount ?? 0,
    ratingHalvesSum: delta.ratingHalvesSum ?? 0,
    commentCount: delta.commentCount ?? 0,
    likeCount: delta.likeCount ?? 0,
    dislikeCount: delta.dislikeCount ?? 0,
  };
  if (Object.values(values).every((value) => value === 0)) return;
  await tx
    .insert(movieStats)
    .values({ movieId, ...values })
    .onConflictDoUpdate({
      target: movieStats.movieId,
      set: {
        ratingCount: sql`${movieStats.ratingCount} + excluded.rating_count`,
        ratingHalvesSum: sql`${movieStats.ratingHalvesSum} + excluded.rating_halves_sum`,
        commentCount: sql`${movieStats.commentCount} + excluded.comment_count`,
        likeCount: sql`${movieStats.likeCount} + excluded.like_count`,
        dislikeCount: sql`${movieStats.dislikeCount} + excluded.dislike_count`,
      },
    });
}

/** A review as the driver returns raw SQL results: bigint as text, snake_case names. */
interface RawReview extends Record<string, unknown> {
  user_id: string;
  movie_id: string;
  rating_halves: number;
  comment: string | null;
  created_at: Date;
  updated_at: Date;
  position_at: string;
}

interface RawReaction extends Record<string, unknown> {
  user_id: string;
  movie_id: string;
  reaction: ReactionKind;
  created_at: Date;
  position_at: string;
}

function toReviewRow(row: RawReview): ReviewRow {
  return {
    userId: row.user_id,
    movieId: Number(row.movie_id),
    ratingHalves: row.rating_halves,
    comment: row.comment,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
