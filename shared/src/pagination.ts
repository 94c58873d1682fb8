import { badInput } from './errors.ts';

// Relay-style pagination helpers. Cursors are opaque base64url JSON, so their content can change
// without breaking clients; a malformed one is the caller's mistake (BAD_USER_INPUT), never a 500.

export const maxPageSize = 100;

export interface PageInfo {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

export interface Connection<T> {
  edges: { node: T; cursor: string }[];
  pageInfo: PageInfo;
  totalCount: number;
}

export function pageSize(first: number | null | undefined, fallback = 20, field = 'first'): number {
  const size = first ?? fallback;
  if (!Number.isInteger(size) || size < 1 || size > maxPageSize) {
    throw badInput(field, `must be between 1 and ${maxPageSize}, got ${size}`);
  }
  return size;
}

export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** Decodes a cursor and checks its shape with `isValid`; anything else is BAD_USER_INPUT. */
export function decodeCursor<T>(cursor: string, isValid: (value: unknown) => value is T, field = 'after'): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badInput(field, 'is not a cursor returned by this API; pass an endCursor from a previous page');
  }
  if (!isValid(value)) throw badInput(field, 'is not a cursor returned by this API; pass an endCursor from a previous page');
  return value;
}

/** Builds a connection from `size + 1` fetched rows (the extra row only says whether more exist). */
export function toConnection<T>(rows: T[], size: number, totalCount: number, cursorOf: (row: T) => string, hasPreviousPage: boolean): Connection<T> {
  const page = rows.slice(0, size);
  const edges = page.map((node) => ({ node, cursor: cursorOf(node) }));
  return {
    edges,
    totalCount,
    pageInfo: {
      hasNextPage: rows.length > size,
      hasPreviousPage,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}
