import { and, arrayContains, arrayOverlaps, eq, gte, inArray, lte, sql, type SQL } from 'drizzle-orm';
import type { Database } from '@platform/shared';
import type { MovieFilter } from './listing.ts';
import { afterPosition, orderByOf, positionOf, type CursorKey, type MovieOrdering } from './ordering.ts';
import { searchMatch, useSearchThreshold } from './search.ts';
import { movieCredits, movies, people } from './tables.ts';

// Every read the API needs, as one SQL statement each. Lookups take many ids at once, so the
// per-request DataLoaders turn N entity references into one query.

// Everything the API exposes; search_vector is large and internal, so it is never selected.
const movieColumns = {
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
     * matches. Without a search the two statements run in parallel; a search runs them in one
     * transaction that carries its trigram threshold.
     */
    async listMovies(query: MovieListingQuery): Promise<{ rows: ListedMovie[]; totalCount: number }> {
      const matches = filterConditions(query.filter);
      const page = (reader: Reader) =>
        reader
          .select({ ...movieColumns, position: positionOf(query.ordering) })
          .from(movies)
          .where(and(matches, query.after === null ? undefined : afterPosition(query.ordering, query.after)))
          .orderBy(...orderByOf(query.ordering))
          .limit(query.size + 1);
      const count = async (reader: Reader) => {
        const [row] = await reader.select({ count: sql<number>`count(*)::int` }).from(movies).where(matches);
        return row?.count ?? 0;
      };

      if (query.filter.search === null) {
        const [rows, totalCount] = await Promise.all([page(db), count(db)]);
        return { rows, totalCount };
      }
      return db.transaction(async (tx) => {
        await tx.execute(useSearchThreshold);
        return { rows: await page(tx), totalCount: await count(tx) };
      });
    },
  };
}

export type MoviesData = ReturnType<typeof createMoviesData>;
