import { sql } from 'drizzle-orm';
import { bigint, check, pgSchema, smallint, timestamp } from 'drizzle-orm/pg-core';

export const analyticsSchema = pgSchema('analytics');

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
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [check('platform_totals_single_row', sql`${table.id} = 1`)],
);
