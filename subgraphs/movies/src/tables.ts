import { sql, type SQL } from 'drizzle-orm';
import { bigint, customType, index, integer, pgSchema, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { outboxTable } from '@platform/shared/outbox';

export const moviesSchema = pgSchema('movies');

const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' });

export const movies = moviesSchema.table(
  'movies',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    // Natural key of an imported or seeded movie ("ml:movie:1"); null for movies added by admins.
    sourceKey: text('source_key').unique(),
    title: text('title').notNull(),
    year: integer('year'),
    genres: text('genres').array().notNull().default(sql`'{}'::text[]`),
    languages: text('languages').array().notNull().default(sql`'{}'::text[]`),
    runtimeMinutes: integer('runtime_minutes'),
    overview: text('overview'),
    imdbId: text('imdb_id'),
    tmdbId: text('tmdb_id'),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    // Title outranks overview (weights A and B); 'simple' keeps names and non-English titles intact.
    searchVector: tsvector('search_vector').generatedAlwaysAs(
      (): SQL =>
        sql`setweight(to_tsvector('simple', coalesce(title, '')), 'A') || setweight(to_tsvector('english', coalesce(overview, '')), 'B')`,
    ),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index('movies_search_vector_idx').using('gin', table.searchVector),
    index('movies_title_trgm_idx').using('gin', sql`lower(${table.title}) gin_trgm_ops`),
    index('movies_genres_idx').using('gin', table.genres),
    index('movies_languages_idx').using('gin', table.languages),
    index('movies_year_idx').on(table.year),
    index('movies_title_idx').on(sql`lower(${table.title})`, table.id),
    // The keys of the YEAR_DESC and YEAR_ASC orders (ordering.ts): a listing by year, and each of
    // its next pages, is an index scan that stops after one page instead of a sort of every movie.
    index('movies_newest_first_idx').on(sql`coalesce(${table.year}, 0)`, table.id),
    index('movies_oldest_first_idx').on(sql`coalesce(${table.year}, 2147483647)`, table.id),
  ],
);

export const people = moviesSchema.table('people', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  sourceKey: text('source_key').unique(),
  name: text('name').notNull(),
});

export const movieCredits = moviesSchema.table(
  'movie_credits',
  {
    movieId: bigint('movie_id', { mode: 'number' })
      .notNull()
      .references(() => movies.id, { onDelete: 'cascade' }),
    personId: bigint('person_id', { mode: 'number' })
      .notNull()
      .references(() => people.id, { onDelete: 'cascade' }),
    role: text('role', { enum: ['DIRECTOR', 'ACTOR'] }).notNull(),
    character: text('character'),
    position: integer('position').notNull().default(0),
  },
  (table) => [primaryKey({ columns: [table.movieId, table.role, table.personId] }), index('movie_credits_person_idx').on(table.personId, table.role)],
);

// movie.created / movie.updated, committed in the same transaction as the write that causes them;
// the relay in this process copies them to the `events:movies` stream (see shared/src/outbox.ts).
export const outbox = outboxTable(moviesSchema);
