import { and, arrayContains, arrayOverlaps, eq, gte, inArray, lte, sql, type SQL } from 'drizzle-orm';
import type { Database } from '@platform/shared';
import type { MovieFilter } from './listing.ts';
import { afterPosition, keyColumnsOf, orderByOf, yearRangeOnSortKey, type CursorKey, type MovieOrdering } from './ordering.ts';
import { searchMatch, useSearchThreshold } from './search.ts';
import { movieCredits, movies, people } from './tables.ts';

// Every read the API needs, as one SQL statement each. Lookups take many ids at once, so the
// per-request DataLoaders turn N entity references into one query.

// Everything the API exposes; search_vector is large and internal, so it is never selected.
export const movieColumns = {
  id: movies.id,
  title: movies.title,
  year: movies.year,
  genres: movies.genres,
  languages: movies.languages,
  runtimeMinutes: movies.runtimeMinutes,
  overview: movies.overview,
  imdbId: movies.imdbId,
  tmdbId: movies.tmdbId,
  tags: movies.tags,
};

export type MovieRow = Pick<typeof movies.$inferSelect, keyof typeof movieColumns>;
export type PersonRow = typeof people.$inferSelect;
export type CreditRole = (typeof movieCredits.$inferSelect)['role'];

export interface CreditRow {
  movieId: number;
  role: CreditRole;
  character: string | null;
  person: PersonRow;
}

/** The database or a transaction on it: whatever can run a select. */
type Reader = Pick<Database, 'select'>;

export interface MovieListingQuery {
  filter: MovieFilter;
  ordering: MovieOrdering;
  size: number;
  after: CursorKey[] | null;
  /** false when the caller did not ask for totalCount: counting every match is the costly part of a listing */
  withCount: boolean;
}

export interface ListedMovie extends MovieRow {
  /** sort-key values of this row, for its cursor */
  position: CursorKey[];
}

export function createMoviesData(db: Database) {
  function filterConditions(filter: MovieFilter): SQL | undefined {
    return and(
      filter.search === null ? undefined : searchMatch(filter.search),
      filter.genres.length === 0 ? undefined : arrayContains(movies.genres, filter.genres),
      filter.languages.length === 0 ? undefined : arrayOverlaps(movies.languages, filter.languages),
      filter.yearFrom === null ? undefined : gte(movies.year, filter.yearFrom),
      filter.yearTo === null ? undefined : lte(movies.year, filter.yearTo),
      filter.personId === null
        ? undefined
        : inArray(movies.id, db.select({ movieId: movieCredits.movieId }).from(movieCredits).where(eq(movieCredits.personId, filter.personId))),
    );
  }

  return {
    async moviesByIds(ids: number[]): Promise<MovieRow[]> {
      return db.select(movieColumns).from(movies).where(inArray(movies.id, ids));
    },

    async peopleByIds(ids: number[]): Promise<PersonRow[]> {
      return db.select().from(people).where(inArray(people.id, ids));
    },

    /** Directors and cast of the given movies, each movie's credits in billing order. */
    async creditsOfMovies(movieIds: number[]): Promise<CreditRow[]> {
      return db
        .select({
          movieId: movieCredits.movieId,
          role: movieCredits.role,
          character: movieCredits.character,
          person: { id: people.id, sourceKey: people.sourceKey, name: people.name },
        })
        .from(movieCredits)
        .innerJoin(people, eq(people.id, movieCredits.personId))
        .where(inArray(movieCredits.movieId, movieIds))
        .orderBy(movieCredits.movieId, movieCredits.position, people.id);
    },

    /** The movies these people directed (or acted in), newest first. */
    async filmographies(personIds: number[], role: CreditRole): Promise<(MovieRow & { personId: number })[]> {
      return db
        .select({ personId: movieCredits.personId, ...movieColumns })
        .from(movieCredits)
        .innerJoin(movies, eq(movies.id, movieCredits.movieId))
        .where(and(inArray(movieCredits.personId, personIds), eq(movieCredits.role, role)))
        .orderBy(movieCredits.personId, sql`${movies.year} DESC NULLS LAST`, movies.id);
    },

    /** Case-insensitive alphabetical, whatever the database's collation ("Action" < "comedy" < "Drama"). */
    async genres(): Promise<string[]> {
      const distinctGenres = db
        .selectDistinct({ genre: sql<string>`unnest(${movies.genres})`.as('genre') })
        .from(movies)
        .as('distinct_genres');
      const rows = await db
        .select({ genre: distinctGenres.genre })
        .from(distinctGenres)
        .orderBy(sql`lower(${distinctGenres.genre})`, distinctGenres.genre);
      return rows.map((row) => row.genre);
    },

    /**
     * One page (plus one row, to tell whether another page follows) and the total number of
     * matches. Without a search the page and the count run in parallel: the page of a listing is
     * often an index scan that stops after a page, so it must not wait for a count of everything.
     * A search runs in one transaction that carries its trigram threshold; on its first page the
     * count comes with the page, since every match is read to be ranked anyway.
     */
    async listMovies(query: MovieListingQuery): Promise<{ rows: ListedMovie[]; totalCount: number | null }> {
      const statements = listingStatements(query);
      if (query.filter.search === null) {
        const [rows, totalCount] = await Promise.all([statements.page(db), query.withCount ? countOf(statements.count(db)) : null]);
        return { rows: rows.map(listed), totalCount };
      }
      return db.transaction(async (tx) => {
        await tx.execute(useSearchThreshold);
        if (!query.withCount) return { rows: (await statements.page(tx)).map(listed), totalCount: null };
        if (query.after === null) {
          const counted = await statements.pageWithCount(tx);
          return { rows: counted.map(({ totalCount: _totalCount, ...row }) => listed(row)), totalCount: counted[0]?.totalCount ?? 0 };
        }
        return { rows: (await statements.page(tx)).map(listed), totalCount: await countOf(statements.count(tx)) };
      });
    },

    /**
     * The statements listMovies sends for a query, for EXPLAIN (bench/search.ts). With
     * searchThreshold, run `useSearchThreshold` in the same transaction first.
     */
    listingSql(query: MovieListingQuery): { statements: { label: string; sql: SqlText }[]; searchThreshold: boolean } {
      const statements = listingStatements(query);
      const searchThreshold = query.filter.search !== null;
      if (!query.withCount) return { statements: [{ label: 'page', sql: statements.page(db).toSQL() }], searchThreshold };
      if (searchThreshold && query.after === null) {
        return { statements: [{ label: 'page with count', sql: statements.pageWithCount(db).toSQL() }], searchThreshold };
      }
      return {
        statements: [
          { label: 'page', sql: statements.page(db).toSQL() },
          { label: 'count', sql: statements.count(db).toSQL() },
        ],
        searchThreshold,
      };
    },
  };

  function listingStatements(query: MovieListingQuery) {
    const matches = filterConditions(query.filter);
    // Conditions on the order's keys, which its index can start from.
    const pageBounds = and(
      yearRangeOnSortKey(query.ordering, query.filter.yearFrom, query.filter.yearTo),
      query.after === null ? undefined : afterPosition(query.ordering, query.after),
    );
    const pageColumns = { ...movieColumns, ...keyColumnsOf(query.ordering) };
    return {
      page: (reader: Reader) =>
        reader
          .select(pageColumns)
          .from(movies)
          .where(and(matches, pageBounds))
          .orderBy(...orderByOf(query.ordering))
          .limit(query.size + 1),
      // The window counts every row that passed the WHERE clause, before ORDER BY and LIMIT.
      pageWithCount: (reader: Reader) =>
        reader
          .select({ ...pageColumns, totalCount: sql<number>`count(*) over ()`.mapWith(Number) })
          .from(movies)
          .where(and(matches, pageBounds))
          .orderBy(...orderByOf(query.ordering))
          .limit(query.size + 1),
      count: (reader: Reader) => reader.select({ count: sql<number>`count(*)::int` }).from(movies).where(matches),
    };
  }
}

function listed({ sortKey, tieBreaker, ...movie }: MovieRow & { sortKey: CursorKey; tieBreaker: CursorKey }): ListedMovie {
  return { ...movie, position: [sortKey, tieBreaker] };
}

async function countOf(rows: PromiseLike<{ count: number }[]>): Promise<number> {
  const [row] = await rows;
  return row?.count ?? 0;
}

export interface SqlText {
  sql: string;
  params: unknown[];
}

export type MoviesData = ReturnType<typeof createMoviesData>;
