import { asc, desc, sql, type SQL } from 'drizzle-orm';
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

/** A total order: keys compared left to right, all in one direction, the id last as tie-breaker. */
export interface MovieOrdering {
  /** The order actually applied (RELEVANCE without a search is TITLE); cursors carry it. */
  name: MovieSort;
  direction: 'asc' | 'desc';
  keys: SortKey[];
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

const keyList = (ordering: MovieOrdering): SQL =>
  sql.join(
    ordering.keys.map((key) => key.expression),
    sql`, `,
  );

export function orderByOf(ordering: MovieOrdering): SQL[] {
  return ordering.keys.map((key) => (ordering.direction === 'asc' ? asc(key.expression) : desc(key.expression)));
}

/** The row's sort-key values as PostgreSQL computed them (JS cannot reproduce lower() or ts_rank). */
export function positionOf(ordering: MovieOrdering): SQL<CursorKey[]> {
  return sql<CursorKey[]>`json_build_array(${keyList(ordering)})`;
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
