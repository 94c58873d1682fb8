import { sql, type SQL } from 'drizzle-orm';
import { bigint, check, doublePrecision, index, integer, pgSchema, primaryKey, smallint, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { processedEventsTable } from '@platform/shared/outbox';

export const analyticsSchema = pgSchema('analytics');

// The analytics read model (CQRS): every table below is kept incrementally by the event consumer
// (src/projection.ts) and rebuilt from the source schemas by the backfill (src/backfill.ts).
// Queries read only these precomputed rows, never the ratings themselves.

/** Ids of the events already applied (shared/src/outbox.ts, applyOnce): a replay changes nothing. */
export const processedEvents = processedEventsTable(analyticsSchema);

// A single row of platform-wide counters, read in O(1). The check pins id to 1 so a second row
// can never appear, and migration 0001 creates that row, so readers never have to handle "none".
export const platformTotals = analyticsSchema.table(
  'platform_totals',
  {
    id: smallint('id').primaryKey().default(1),
    users: bigint('users', { mode: 'number' }).notNull().default(0),
    movies: bigint('movies', { mode: 'number' }).notNull().default(0),
    ratings: bigint('ratings', { mode: 'number' }).notNull().default(0),
    reviews: bigint('reviews', { mode: 'number' }).notNull().default(0),
    likes: bigint('likes', { mode: 'number' }).notNull().default(0),
    dislikes: bigint('dislikes', { mode: 'number' }).notNull().default(0),
    // Sum of every rating in half-stars: with `ratings` it gives the global mean C of the Bayesian
    // average in one primary-key read.
    ratingHalvesSum: bigint('rating_halves_sum', { mode: 'number' }).notNull().default(0),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [check('platform_totals_single_row', sql`${table.id} = 1`)],
);

/** Ten zeros: the distribution of a movie nobody rated (index 0 = 0.5 stars ... 9 = 5.0 stars). */
export const emptyDistribution = '{0,0,0,0,0,0,0,0,0,0}';

/**
 * Rating-count floors with an index of their own for topMovies(by: RATING): its walk reads movies
 * by mean and must step over every one with fewer than minRatings ratings. In a long-tailed
 * catalogue most movies have a handful of ratings, many of them with extreme means, so without
 * these the default minRatings (10) read about 1,800 rows per call to keep 200 (bench/analytics.ts).
 * The walk uses the highest floor not above minRatings (see data.ts).
 */
export const averageIndexFloors = [10, 100, 1000] as const;

// One row per movie the platform knows (created, rated or reacted to). Ratings are whole
// half-stars (1..10), as in reviews.reviews, so sums and averages are exact integers.
export const movieStats = analyticsSchema.table(
  'movie_stats',
  {
    movieId: bigint('movie_id', { mode: 'number' }).primaryKey(),
    ratingCount: integer('rating_count').notNull().default(0),
    ratingHalvesSum: bigint('rating_halves_sum', { mode: 'number' }).notNull().default(0),
    // One array rather than ten columns: a change moves a count between two slots with a single
    // element-wise addition of a delta array (see projection.ts), whatever the two ratings are.
    distribution: integer('distribution').array().notNull().default(sql.raw(`'${emptyDistribution}'::integer[]`)),
    likeCount: integer('like_count').notNull().default(0),
    dislikeCount: integer('dislike_count').notNull().default(0),
    // The plain mean in half-stars. Stored (it does not depend on the global mean C, unlike the
    // Bayesian average) so that topMovies(by: RATING) can walk movies from the best mean down and
    // stop early; see data.ts.
    averageHalves: doublePrecision('average_halves').generatedAlwaysAs(
      (): SQL => sql`case when rating_count > 0 then rating_halves_sum::double precision / rating_count end`,
    ),
  },
  (table) => [
    check('movie_stats_distribution_ten', sql`cardinality(${table.distribution}) = 10`),
    // topMovies(by: COUNT): an index scan that stops after `first` rows.
    index('movie_stats_count_idx').on(table.ratingCount.desc(), table.movieId),
    // topMovies(by: RATING): walked backwards from the best mean (see data.ts).
    index('movie_stats_average_idx').on(table.averageHalves, table.movieId).where(sql`${table.ratingCount} > 0`),
    // The same for movies with at least 10, 100, 1000 ratings (literal floors: a partial index's predicate).
    ...averageIndexFloors.map((floor) =>
      index(`movie_stats_average_min${floor}_idx`).on(table.averageHalves, table.movieId).where(sql`${table.ratingCount} >= ${sql.raw(String(floor))}`),
    ),
  ],
);

// One row per user the platform knows (registered, or seen rating or reacting). last_active_at
// is the user's own latest action: an admin rolling back their ratings does not make them active.
export const userActivity = analyticsSchema.table(
  'user_activity',
  {
    userId: uuid('user_id').primaryKey(),
    ratingCount: integer('rating_count').notNull().default(0),
    ratingHalvesSum: bigint('rating_halves_sum', { mode: 'number' }).notNull().default(0),
    lastActiveAt: timestamp('last_active_at', { withTimezone: true }),
    registeredAt: timestamp('registered_at', { withTimezone: true }),
  },
  // mostActiveUsers: an index scan that stops after `first` rows; users who never rated are not in it.
  (table) => [index('user_activity_count_idx').on(table.ratingCount.desc(), table.userId).where(sql`${table.ratingCount} > 0`)],
);

export const granularities = ['HOUR', 'DAY', 'WEEK'] as const;
export type Granularity = (typeof granularities)[number];

// Activity over time, one row per bucket and granularity (UTC hours, UTC days, ISO weeks starting
// Monday 00:00 UTC). Every granularity is stored, not only hours: a DAY or WEEK query then reads at
// most one row per bucket it returns (at most 1,000), instead of summing up to 168 hourly rows per
// week, and distinct active users cannot be summed from smaller buckets anyway.
export const activityBuckets = analyticsSchema.table(
  'activity_buckets',
  {
    granularity: text('granularity', { enum: granularities }).notNull(),
    start: timestamp('start', { withTimezone: true }).notNull(),
    /** ratings written (created or replaced) by their authors */
    ratings: integer('ratings').notNull().default(0),
    /** of those, the ones with a comment */
    reviews: integer('reviews').notNull().default(0),
    newUsers: integer('new_users').notNull().default(0),
    /** distinct users with an own action in the bucket: exact, kept with active_users below */
    activeUsers: integer('active_users').notNull().default(0),
  },
  (table) => [
    primaryKey({ columns: [table.granularity, table.start] }),
    check('activity_buckets_granularity', sql`${table.granularity} in ('HOUR', 'DAY', 'WEEK')`),
  ],
);

// Who was active in which bucket: the membership that makes activity_buckets.active_users an exact
// distinct count. A user's first action in a bucket inserts a row here and, in the same
// transaction, adds one to the bucket; later actions in that bucket find the row and add nothing.
// (A sketch such as HyperLogLog would be smaller but only approximate.)
export const activeUsers = analyticsSchema.table(
  'active_users',
  {
    granularity: text('granularity', { enum: granularities }).notNull(),
    start: timestamp('start', { withTimezone: true }).notNull(),
    userId: uuid('user_id').notNull(),
  },
  (table) => [primaryKey({ columns: [table.granularity, table.start, table.userId] })],
);
