import { sql, type SQL } from 'drizzle-orm';
import { badInput, decodeCursor, encodeCursor } from '@platform/shared';
import { relevanceOf } from './search.ts';
import { movies } from './tables.ts';

// Listings are paged by keyset: a cursor holds the sort-key values of the last row seen, and the
// next page starts strictly after them. Deep pages stay as cheap as the first, and rows inserted
// meanwhile neither repeat nor vanish (as they would with OFFSET).

export type MovieSort = 'RELEVANCE' | 'TITLE' | 'YEAR_DESC' | 'YEAR_ASC';

/** PostgreSQL type a cursor value is cast back to; fixed per key, never taken from input. */
type KeyType = 'text' | 'integer' | 'bigint' | 'double precision';

interface SortKey {
  expression: SQL;
  type: KeyType;
}

/** A total order: the sort key, then the id as tie-breaker, both in one direction. */
export interface MovieOrdering {
  /** The order actually applied (RELEVANCE without a search is TITLE); cursors carry it. */
  name: MovieSort;
  direction: 'asc' | 'desc';
  keys: [sortKey: SortKey, tieBreaker: SortKey];
}

export type CursorKey = string | number;

const idKey: SortKey = { expression: sql`${movies.id}`, type: 'bigint' };

// Same expression as the movies_title_idx index, so a title listing is an index scan.
const byTitle: MovieOrdering = {
  name: 'TITLE',
  direction: 'asc',
  keys: [{ expression: sql`lower(${movies.title})`, type: 'text' }, idKey],
};
// Movies without a year come last in both directions; keyset comparisons cannot handle NULL.
// Same expressions as the movies_newest_first_idx and movies_oldest_first_idx indexes.
const newestFirst: MovieOrdering = {
  name: 'YEAR_DESC',
  direction: 'desc',
  keys: [{ expression: sql`coalesce(${movies.year}, 0)`, type: 'integer' }, idKey],
};
const oldestFirst: MovieOrdering = {
  name: 'YEAR_ASC',
  direction: 'asc',
  keys: [{ expression: sql`coalesce(${movies.year}, 2147483647)`, type: 'integer' }, idKey],
};

export function movieOrdering(sort: MovieSort, search: string | null): MovieOrdering {
  switch (sort) {
    case 'RELEVANCE':
      if (search === null) return byTitle;
      return { name: 'RELEVANCE', direction: 'desc', keys: [{ expression: relevanceOf(search), type: 'double precision' }, idKey] };
    case 'TITLE':
      return byTitle;
    case 'YEAR_DESC':
      return newestFirst;
    case 'YEAR_ASC':
      return oldestFirst;
  }
}

/**
 * A year filter restated on the first key of a year order (`coalesce(year, …)`), so the index of
 * that order can start at the range and stop after a page instead of walking past every newer
 * (or older) movie. Implied by the plain year filter (a movie inside the range has a year, so its
 * key is its year), it never changes which movies match.
 */
export function yearRangeOnSortKey(ordering: MovieOrdering, yearFrom: number | null, yearTo: number | null): SQL | undefined {
  if (ordering.name !== 'YEAR_DESC' && ordering.name !== 'YEAR_ASC') return undefined;
  const key = ordering.keys[0].expression;
  const bounds = [yearFrom === null ? null : sql`${key} >= ${yearFrom}`, yearTo === null ? null : sql`${key} <= ${yearTo}`].filter((bound) => bound !== null);
  return bounds.length === 0 ? undefined : sql.join(bounds, sql` and `);
}

const keyList = (ordering: MovieOrdering): SQL =>
  sql.join(
    ordering.keys.map((key) => key.expression),
    sql`, `,
  );

// The page query selects the keys as these columns and orders by the column names, so PostgreSQL
// computes each key once per row (a relevance rank is the costly part of a search), and the
// cursor gets the values exactly as PostgreSQL computed them (JS cannot reproduce lower() or
// ts_rank). Ordering by an output column keeps its expression, so indexes still serve it.
const keyColumnNames = ['sort_key', 'tie_breaker'] as const;

/** The sort-key columns of a page query: a row's position is [sortKey, tieBreaker]. */
export function keyColumnsOf(ordering: MovieOrdering) {
  const [sortKey, tieBreaker] = ordering.keys;
  return {
    sortKey: sql<CursorKey>`${sortKey.expression}`.mapWith(parserOf(sortKey.type)).as(keyColumnNames[0]),
    tieBreaker: sql<CursorKey>`${tieBreaker.expression}`.mapWith(parserOf(tieBreaker.type)).as(keyColumnNames[1]),
  };
}

/** pg returns bigint as text (it may exceed 2^53); ids stay far below, and cursors check it. */
function parserOf(type: KeyType): (value: unknown) => CursorKey {
  return type === 'text' ? String : Number;
}

export function orderByOf(ordering: MovieOrdering): SQL[] {
  return keyColumnNames.map((name) => sql`${sql.identifier(name)} ${sql.raw(ordering.direction)}`);
}

/** Rows strictly after a position: one row comparison, which a btree on the same keys can serve. */
export function afterPosition(ordering: MovieOrdering, position: readonly CursorKey[]): SQL {
  const keys = keyList(ordering);
  const values = sql.join(
    ordering.keys.map((key, index) => sql`${position[index]}::${sql.raw(key.type)}`),
    sql`, `,
  );
  return ordering.direction === 'asc' ? sql`(${keys}) > (${values})` : sql`(${keys}) < (${values})`;
}

interface MovieCursor {
  order: MovieSort;
  keys: CursorKey[];
}

export function encodeMovieCursor(ordering: MovieOrdering, position: CursorKey[]): string {
  const cursor: MovieCursor = { order: ordering.name, keys: position };
  return encodeCursor(cursor);
}

export function decodeMovieCursor(after: string, ordering: MovieOrdering): CursorKey[] {
  // Keys are checked only against their own order: a well-formed cursor of another order gets
  // its own message, because "start again" is the fix there, not "copy the cursor correctly".
  const isValid = (value: unknown): value is MovieCursor => {
    if (typeof value !== 'object' || value === null) return false;
    const { order, keys } = value as Record<string, unknown>;
    return typeof order === 'string' && Array.isArray(keys) && (order !== ordering.name || fitsKeys(keys, ordering.keys));
  };
  const cursor = decodeCursor(after, isValid);
  if (cursor.order !== ordering.name) {
    throw badInput('after', `belongs to a listing in another order, not ${ordering.name}; start again without after`);
  }
  return cursor.keys;
}

function fitsKeys(values: unknown[], keys: SortKey[]): values is CursorKey[] {
  return values.length === keys.length && keys.every((key, index) => fitsType(values[index], key.type));
}

function fitsType(value: unknown, type: KeyType): boolean {
  switch (type) {
    case 'text':
      return typeof value === 'string' && !value.includes('\u0000'); // PostgreSQL text cannot hold NUL
    case 'integer':
      return Number.isInteger(value) && (value as number) >= -(2 ** 31) && (value as number) < 2 ** 31;
    case 'bigint':
      return Number.isSafeInteger(value);
    case 'double precision':
      return typeof value === 'number' && Number.isFinite(value);
  }
}
