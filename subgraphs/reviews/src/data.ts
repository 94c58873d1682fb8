import { and, eq, inArray, or, sql } from 'drizzle-orm';
import type { Database } from '@platform/shared';
import type { ReviewKey } from './review-key.ts';
import { movieStats, reviewHistory, reviews } from './tables.ts';

export type ReviewRow = typeof reviews.$inferSelect;
export type MovieStatsRow = typeof movieStats.$inferSelect;

/** Where a page of a movie's reviews (newest first) continues: the last row's sort keys. */
export interface ReviewPosition {
  /** updated_at to the microsecond, as ISO-8601 UTC; a JS Date would drop the microseconds */
  updatedAt: string;
  userId: string;
}

export interface PagedReview extends ReviewRow {
  position: ReviewPosition;
}

export interface RatingChange {
  userId: string;
  movieId: number;
  ratingHalves: number;
  comment: string | null;
  /** who made the change (the author, or later an admin), for review_history */
  actorId: string;
}

type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];

/** updated_at rendered so that casting it back to timestamptz gives exactly the stored value. */
const exactUpdatedAt = sql<string>`to_char(${reviews.updatedAt} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

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
     * The next `limit` reviews of each movie, newest first, in one statement: a LATERAL
     * subquery per movie walks reviews_movie_idx backwards and stops after `limit` rows, so a
     * movie with 100 000 reviews costs no more than one with ten.
     */
    async reviewPages(movieIds: number[], limit: number, after: ReviewPosition | null): Promise<PagedReview[]> {
      const afterPosition = after
        ? sql`AND (${reviews.updatedAt}, ${reviews.userId}) < (${after.updatedAt}::timestamptz, ${after.userId}::uuid)`
        : sql``;
      const result = await db.execute<RawPagedReview>(sql`
        SELECT page.*
        FROM unnest(${sql.param(movieIds)}::bigint[]) AS wanted(movie_id)
        CROSS JOIN LATERAL (
          SELECT ${reviews.userId} AS user_id, ${reviews.movieId} AS movie_id, ${reviews.ratingHalves} AS rating_halves,
                 ${reviews.comment} AS comment, ${reviews.createdAt} AS created_at, ${reviews.updatedAt} AS updated_at,
                 ${exactUpdatedAt} AS position_updated_at
          FROM ${reviews}
          WHERE ${reviews.movieId} = wanted.movie_id ${afterPosition}
          ORDER BY ${reviews.updatedAt} DESC, ${reviews.userId} DESC
          LIMIT ${limit}
        ) AS page`);
      return result.rows.map(toPagedReview);
    },

    /**
     * Creates or replaces a user's review of a movie, in one transaction with its history row
     * and the movie's running totals, so movie_stats always equals a recount of the reviews.
     */
    async rate(change: RatingChange): Promise<ReviewRow> {
      return db.transaction(async (tx) => {
        const { before, after } = await upsertReview(tx, change);
        await tx.insert(reviewHistory).values({
          userId: change.userId,
          movieId: change.movieId,
          action: before ? 'UPDATE' : 'CREATE',
          oldRatingHalves: before?.ratingHalves ?? null,
          newRatingHalves: after.ratingHalves,
          oldComment: before?.comment ?? null,
          newComment: after.comment,
          actorId: change.actorId,
        });
        // Last, because it locks the movie's single stats row that every rater of the movie
        // needs: held from here to commit only.
        await adjustStats(tx, change.movieId, {
          ratingCount: before ? 0 : 1,
          ratingHalvesSum: after.ratingHalves - (before?.ratingHalves ?? 0),
        });
        return after;
      });
    },
  };
}

export type ReviewsData = ReturnType<typeof createReviewsData>;

/** Attempts before giving up on a review that keeps being deleted and re-created under us. */
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

async function adjustStats(tx: Transaction, movieId: number, delta: { ratingCount: number; ratingHalvesSum: number }): Promise<void> {
  if (delta.ratingCount === 0 && delta.ratingHalvesSum === 0) return;
  await tx
    .insert(movieStats)
    .values({ movieId, ...delta })
    .onConflictDoUpdate({
      target: movieStats.movieId,
      set: {
        ratingCount: sql`${movieStats.ratingCount} + excluded.rating_count`,
        ratingHalvesSum: sql`${movieStats.ratingHalvesSum} + excluded.rating_halves_sum`,
      },
    });
}

/** A row as the driver returns raw SQL results: bigint as text, snake_case names. */
interface RawPagedReview extends Record<string, unknown> {
  user_id: string;
  movie_id: string;
  rating_halves: number;
  comment: string | null;
  created_at: Date;
  updated_at: Date;
  position_updated_at: string;
}

function toPagedReview(row: RawPagedReview): PagedReview {
  return {
    userId: row.user_id,
    movieId: Number(row.movie_id),
    ratingHalves: row.rating_halves,
    comment: row.comment,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    position: { updatedAt: row.position_updated_at, userId: row.user_id },
  };
}
