import { sql } from 'drizzle-orm';
import { bigint, bigserial, check, index, integer, pgSchema, primaryKey, smallint, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { outboxTable } from '@platform/shared/outbox';

export const reviewsSchema = pgSchema('reviews');

// Ratings are stored as whole half-stars (1..10 = 0.5..5.0): exact arithmetic for sums and
// averages, and half the size of numeric.
// The table is hash-partitioned by user_id in the migration (drizzle-kit cannot express that),
// so it can grow to hundreds of millions of rows; the primary key therefore starts with user_id.
export const reviews = reviewsSchema.table(
  'reviews',
  {
    userId: uuid('user_id').notNull(),
    movieId: bigint('movie_id', { mode: 'number' }).notNull(),
    ratingHalves: smallint('rating_halves').notNull(),
    comment: text('comment'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ columns: [table.userId, table.movieId] }),
    // Every review of a movie (the dataset loader's recount of a movie's stats).
    index('reviews_movie_idx').on(table.movieId, table.updatedAt, table.userId),
    // A movie's public list (Movie.reviews) holds written reviews only: walked backwards, this
    // index yields exactly the rows of the page. reviews_movie_idx would also pass over every bare
    // rating, and most ratings have no comment, so one page could cost a whole movie's ratings.
    index('reviews_movie_written_idx')
      .on(table.movieId, table.updatedAt, table.userId)
      .where(sql`${table.comment} is not null`),
    // A user's own reviews, newest first (User.reviews): walked backwards and stopped after a page.
    index('reviews_user_updated_idx').on(table.userId, table.updatedAt, table.movieId),
    check('reviews_rating_range', sql`${table.ratingHalves} between 1 and 10`),
  ],
);

export const reactions = reviewsSchema.table(
  'reactions',
  {
    userId: uuid('user_id').notNull(),
    movieId: bigint('movie_id', { mode: 'number' }).notNull(),
    reaction: text('reaction', { enum: ['LIKE', 'DISLIKE'] }).notNull(),
    // When the current reaction was set: switching LIKE <-> DISLIKE sets it anew (as the dataset
    // loader does), so a user's reactions list shows the switch as their newest reaction.
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ columns: [table.userId, table.movieId] }),
    check('reactions_kind', sql`${table.reaction} in ('LIKE', 'DISLIKE')`),
    // A user's reactions, newest first (User.reactions): walked backwards and stopped after a page.
    index('reactions_user_created_idx').on(table.userId, table.createdAt, table.movieId),
  ],
);

export const exclusions = reviewsSchema.table(
  'exclusions',
  {
    userId: uuid('user_id').notNull(),
    movieId: bigint('movie_id', { mode: 'number' }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.userId, table.movieId] })],
);

// Kept incrementally in the same transaction as every review/reaction change, so reading a
// movie's average or like count is one primary-key lookup instead of a scan.
export const movieStats = reviewsSchema.table('movie_stats', {
  movieId: bigint('movie_id', { mode: 'number' }).primaryKey(),
  ratingCount: integer('rating_count').notNull().default(0),
  ratingHalvesSum: bigint('rating_halves_sum', { mode: 'number' }).notNull().default(0),
  // Written reviews (comment is not null): the totalCount of the movie's public review list,
  // which leaves bare ratings out.
  commentCount: integer('comment_count').notNull().default(0),
  likeCount: integer('like_count').notNull().default(0),
  dislikeCount: integer('dislike_count').notNull().default(0),
});

// Every change to a review: who made it, when, old and new values and why, for audits and rollback.
export const reviewHistory = reviewsSchema.table(
  'review_history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: uuid('user_id').notNull(),
    movieId: bigint('movie_id', { mode: 'number' }).notNull(),
    action: text('action', { enum: ['CREATE', 'UPDATE', 'DELETE', 'ROLLBACK', 'IMPORT'] }).notNull(),
    oldRatingHalves: smallint('old_rating_halves'),
    newRatingHalves: smallint('new_rating_halves'),
    oldComment: text('old_comment'),
    newComment: text('new_comment'),
    actorId: uuid('actor_id'),
    reason: text('reason'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index('review_history_user_at_idx').on(table.userId, table.at)],
);

// The movies this subgraph accepts writes for: the reviews schema cannot see the movies schema,
// so it keeps this copy of the catalogue's ids, fed by its consumer of the movies stream
// (movie.created; src/known-movies.ts) and filled by the dataset loader for the movies it loads.
// Rows are only ever added (movies are never deleted), so a write checks it without a lock.
export const knownMovies = reviewsSchema.table('known_movies', {
  movieId: bigint('movie_id', { mode: 'number' }).primaryKey(),
  // When the movie was created in the catalogue (the event's `at`), not when it became known here.
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

// Events of every write above (review.*, reaction.*, exclusion.*), appended in the write's own
// transaction and copied to the `events:reviews` stream by the relay (see shared/src/outbox.ts).
export const outbox = outboxTable(reviewsSchema);
