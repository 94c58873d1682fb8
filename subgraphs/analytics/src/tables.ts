import { bigint, pgSchema, smallint, timestamp } from 'drizzle-orm/pg-core';

export const analyticsSchema = pgSchema('analytics');

// A single row of platform-wide counters, read in O(1); id is always 1.
export const platformTotals = analyticsSchema.table('platform_totals', {
  id: smallint('id').primaryKey().default(1),
  users: bigint('users', { mode: 'number' }).notNull().default(0),
  movies: bigint('movies', { mode: 'number' }).notNull().default(0),
  ratings: bigint('ratings', { mode: 'number' }).notNull().default(0),
  reviews: bigint('reviews', { mode: 'number' }).notNull().default(0),
  likes: bigint('likes', { mode: 'number' }).notNull().default(0),
  dislikes: bigint('dislikes', { mode: 'number' }).notNull().default(0),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
