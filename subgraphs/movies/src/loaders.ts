import DataLoader from 'dataloader';
import { loadByNumericIds } from '@platform/shared/ids';
import type { CreditRole, CreditRow, MovieRow, MoviesData, PersonRow } from './data.ts';

/**
 * Per-request loaders: all references to one kind of thing in a request cost one query together.
 * `reads` is asked at each batch, not once, because a mutation moves its request's reads from the
 * replica to the primary after the loaders exist.
 */
export function createMoviesLoaders(reads: () => MoviesData) {
  return {
    movieById: new DataLoader<string, MovieRow | null>((ids) => loadByNumericIds(ids, reads().moviesByIds, (movie) => movie.id)),
    personById: new DataLoader<string, PersonRow | null>((ids) => loadByNumericIds(ids, reads().peopleByIds, (person) => person.id)),
    creditsByMovie: new DataLoader<number, CreditRow[]>(async (movieIds) =>
      groupByKey(movieIds, await reads().creditsOfMovies([...movieIds]), (credit) => credit.movieId),
    ),
    directedBy: filmographyLoader(reads, 'DIRECTOR'),
    actedInBy: filmographyLoader(reads, 'ACTOR'),
  };
}

export type MoviesLoaders = ReturnType<typeof createMoviesLoaders>;

function filmographyLoader(reads: () => MoviesData, role: CreditRole): DataLoader<number, MovieRow[]> {
  return new DataLoader(async (personIds) =>
    groupByKey(personIds, await reads().filmographies([...personIds], role), (row) => row.personId),
  );
}

/** One list per key, in key order, keeping the rows' order within each list. */
function groupByKey<Row>(keys: readonly number[], rows: Row[], keyOf: (row: Row) => number): Row[][] {
  const groups = new Map<number, Row[]>(keys.map((key) => [key, []]));
  for (const row of rows) groups.get(keyOf(row))?.push(row);
  return keys.map((key) => groups.get(key) ?? []);
}
