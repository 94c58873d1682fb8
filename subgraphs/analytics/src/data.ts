import { and, asc, desc, eq, gt, gte, lt, sql } from 'drizzle-orm';
import type { Database } from '@platform/shared';
import { bucketStarts } from './buckets.ts';
import { activityBuckets, averageIndexFloors, movieStats, platformTotals, userActivity, type Granularity } from './tables.ts';

export type TotalsRow = typeof platformTotals.$inferSelect;

export interface MovieStatsView {
  movieId: number;
  ratingCount: number;
  /** stars; null when nobody rated the movie */
  averageRating: number | null;
  /** stars, shrunk toward the global mean (see bayesianHalves); null when nobody rated the movie */
  bayesianAverage: number | null;
  /** counts of 0.5, 1.0, ..., 5.0 stars */
  distribution: number[];
}

export interface UserActivityView {
  userId: string;
  ratingCount: number;
  /** stars; null when the user rated nothing */
  averageGiven: number | null;
  lastActiveAt: Date | null;
}

export interface ActivityBucketView {
  start: Date;
  ratings: number;
  reviews: number;
  newUsers: number;
  activeUsers: number;
}

export interface StreamLag {
  stream: string;
  /** events not yet applied: undelivered + unacknowledged; null when Redis cannot tell */
  pending: number | null;
  /** not yet delivered to the analytics consumer group (XINFO GROUPS `lag`); null when Redis cannot tell */
  undelivered: number | null;
  /** delivered but not yet applied and acknowledged */
  unacknowledged: number;
}

export type TopBy = 'RATING' | 'COUNT';

/** Where the consumer's lag comes from (Redis, about the `analytics` consumer group). */
export interface EventLagSource {
  lag(): Promise<StreamLag[]>;
}

/**
 * The Bayesian average in half-stars, the IMDb "weighted rating":
 *
 *   WR = (v / (v + m)) · R + (m / (v + m)) · C  =  (S + m · C) / (v + m)
 *
 * with v the movie's rating count, R its mean, S = v · R its sum of ratings, C the mean of every
 * rating on the platform and m the prior weight (topMovies' minRatings): a movie's own mean counts
 * as much as m ratings of the global mean do, so a handful of 5-star ratings cannot beat hundreds
 * of 4.5s. m = 0 gives the plain mean. Null when the movie has no rating.
 */
export function bayesianHalves(sum: number, count: number, priorWeight: number, globalMeanHalves: number | null): number | null {
  if (count === 0) return null;
  if (priorWeight === 0 || globalMeanHalves === null) return sum / count;
  return (sum + priorWeight * globalMeanHalves) / (count + priorWeight);
}

type MovieStatsRow = Pick<typeof movieStats.$inferSelect, 'movieId' | 'ratingCount' | 'ratingHalvesSum' | 'distribution'>;

const movieColumns = {
  movieId: movieStats.movieId,
  ratingCount: movieStats.ratingCount,
  ratingHalvesSum: movieStats.ratingHalvesSum,
  distribution: movieStats.distribution,
};

function toMovieStatsView(row: MovieStatsRow, priorWeight: number, globalMeanHalves: number | null): MovieStatsView {
  const bayesian = bayesianHalves(row.ratingHalvesSum, row.ratingCount, priorWeight, globalMeanHalves);
  return {
    movieId: row.movieId,
    ratingCount: row.ratingCount,
    averageRating: row.ratingCount === 0 ? null : row.ratingHalvesSum / row.ratingCount / 2,
    bayesianAverage: bayesian === null ? null : bayesian / 2,
    distribution: row.distribution,
  };
}

function toUserActivityView(row: typeof userActivity.$inferSelect): UserActivityView {
  return {
    userId: row.userId,
    ratingCount: row.ratingCount,
    averageGiven: row.ratingCount === 0 ? null : row.ratingHalvesSum / row.ratingCount / 2,
    lastActiveAt: row.lastActiveAt,
  };
}

/** Rows fetched per step of the topMovies(by: RATING) walk. */
const defaultWalkBatch = 200;
/** Keeps the early stop of that walk safe from the last-bit rounding of the score's division. */
const roundingMargin = 1e-9;

export interface AnalyticsDataTuning {
  /** rows per step of the topMovies(by: RATING) walk (tests make it tiny to cross many steps) */
  walkBatch?: number;
}

export function createAnalyticsData(db: Database, events: EventLagSource, tuning: AnalyticsDataTuning = {}) {
  const walkBatch = tuning.walkBatch ?? defaultWalkBatch;
  const totals = async (): Promise<TotalsRow> => {
    const [row] = await db.select().from(platformTotals).where(eq(platformTotals.id, 1));
    // Migration 0001 creates the row; its absence means the schema was not migrated.
    if (!row) throw new Error('analytics.platform_totals has no row; run `npm run migrate`');
    return row;
  };

  /** C of the Bayesian average, in half-stars: one primary-key read. */
  const globalMeanHalves = async (): Promise<number | null> => {
    const row = await totals();
    return row.ratings === 0 ? null : row.ratingHalvesSum / row.ratings;
  };

  /**
   * The best `first` movies by Bayesian average among those with at least max(m, 1) ratings,
   * without scoring every movie. WR always lies between the movie's own mean R and C, so once
   * `first` candidates are held and the k-th best score exceeds both C and the next movie's
   * mean, no movie further down (all with a mean no higher) can reach it. The walk therefore
   * reads movie_stats backwards along (average_halves, movie_id), a stored plain mean that does
   * not depend on C, and usually stops after a few batches; only when the k-th best score is not
   * above C (fewer than `first` movies beat the platform's mean) does it read every candidate.
   */
  const topByRating = async (priorWeight: number, first: number): Promise<MovieStatsView[]> => {
    const mean = await globalMeanHalves();
    const minimum = Math.max(priorWeight, 1);
    // The partial index the walk follows: the one of the highest floor the candidates all reach,
    // so it steps over as few movies with too few ratings as possible. A literal, not a parameter:
    // the planner picks a partial index only when the query's condition implies its predicate.
    const floor = averageIndexFloors.findLast((candidate) => candidate <= minimum);
    const indexPredicate = floor === undefined ? gt(movieStats.ratingCount, 0) : sql`${movieStats.ratingCount} >= ${sql.raw(String(floor))}`;
    const best: { row: MovieStatsRow; score: number }[] = [];
    const ranks = (a: { row: MovieStatsRow; score: number }, b: { row: MovieStatsRow; score: number }): number =>
      b.score - a.score || a.row.movieId - b.row.movieId;
    let after: { average: number; movieId: number } | null = null;
    for (;;) {
      const rows = await db
        .select({ ...movieColumns, averageHalves: movieStats.averageHalves })
        .from(movieStats)
        .where(
          and(
            indexPredicate,
            gte(movieStats.ratingCount, minimum),
            after === null ? undefined : sql`(${movieStats.averageHalves}, ${movieStats.movieId}) < (${after.average}, ${after.movieId})`,
          ),
        )
        .orderBy(desc(movieStats.averageHalves), desc(movieStats.movieId))
        .limit(walkBatch);
      for (const row of rows) {
        const average = row.ratingHalvesSum / row.ratingCount;
        const kth = best.length === first ? best[first - 1]?.score : undefined;
        // This row's mean, and every later one's, is below the k-th best score, and so is C: no
        // later score (between its mean and C) can reach it.
        const settled = kth !== undefined && average < kth - roundingMargin && (mean ?? average) < kth - roundingMargin;
        if (settled) return best.map(({ row: kept }) => toMovieStatsView(kept, priorWeight, mean));
        const score = bayesianHalves(row.ratingHalvesSum, row.ratingCount, priorWeight, mean) ?? 0;
        if (kth === undefined || score >= kth) {
          best.push({ row, score });
          best.sort(ranks);
          if (best.length > first) best.pop();
        }
      }
      const last = rows.at(-1);
      if (rows.length < walkBatch || !last || last.averageHalves === null) break;
      after = { average: last.averageHalves, movieId: last.movieId };
    }
    return best.map(({ row }) => toMovieStatsView(row, priorWeight, mean));
  };

  return {
    /** One primary-key read, whatever the size of the platform. */
    totals,

    async movieStats(movieId: number, priorWeight: number): Promise<MovieStatsView | null> {
      const [row] = await db.select(movieColumns).from(movieStats).where(eq(movieStats.movieId, movieId));
      return row ? toMovieStatsView(row, priorWeight, await globalMeanHalves()) : null;
    },

    async topMovies(by: TopBy, minRatings: number, first: number): Promise<MovieStatsView[]> {
      if (by === 'RATING') return topByRating(minRatings, first);
      // An index scan of movie_stats_count_idx that stops after `first` rows.
      const [rows, mean] = await Promise.all([
        db
          .select(movieColumns)
          .from(movieStats)
          .where(gte(movieStats.ratingCount, Math.max(minRatings, 1)))
          .orderBy(sql`${movieStats.ratingCount} desc nulls last`, asc(movieStats.movieId))
          .limit(first),
        globalMeanHalves(),
      ]);
      return rows.map((row) => toMovieStatsView(row, minRatings, mean));
    },

    async userActivity(userId: string): Promise<UserActivityView | null> {
      const [row] = await db.select().from(userActivity).where(eq(userActivity.userId, userId));
      return row ? toUserActivityView(row) : null;
    },

    /** Users who rated most (ties by id); an index scan of user_activity_count_idx. */
    async mostActiveUsers(first: number): Promise<UserActivityView[]> {
      const rows = await db
        .select()
        .from(userActivity)
        .where(gt(userActivity.ratingCount, 0))
        .orderBy(sql`${userActivity.ratingCount} desc nulls last`, asc(userActivity.userId))
        .limit(first);
      return rows.map(toUserActivityView);
    },

    /** Every bucket from the one containing `from` up to `to`, empty ones as zeros; one range scan. */
    async activity(from: Date, to: Date, granularity: Granularity): Promise<ActivityBucketView[]> {
      const starts = bucketStarts(from, to, granularity);
      const firstStart = starts[0];
      if (!firstStart) return [];
      const rows = await db
        .select()
        .from(activityBuckets)
        .where(and(eq(activityBuckets.granularity, granularity), gte(activityBuckets.start, firstStart), lt(activityBuckets.start, to)))
        .orderBy(asc(activityBuckets.start));
      const byStart = new Map(rows.map((row) => [row.start.getTime(), row]));
      return starts.map((start) => {
        const row = byStart.get(start.getTime());
        return { start, ratings: row?.ratings ?? 0, reviews: row?.reviews ?? 0, newUsers: row?.newUsers ?? 0, activeUsers: row?.activeUsers ?? 0 };
      });
    },

    eventLag: (): Promise<StreamLag[]> => events.lag(),
  };
}

export type AnalyticsData = ReturnType<typeof createAnalyticsData>;
