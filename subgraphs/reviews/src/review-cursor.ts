import { decodeCursor, encodeCursor } from '@platform/shared';
import { isUuid, parseNumericId } from '@platform/shared/ids';
import type { MoviePosition, ReviewPosition } from './data.ts';

// Cursors hold the last row's sort keys. The values go back to PostgreSQL as casts, so they are
// checked strictly here: a malformed one must be the caller's BAD_USER_INPUT, never a failing
// cast (a 500).

// ---- a movie's reviews (newest first): (updated_at, user_id)

interface ReviewCursor {
  at: string;
  user: string;
}

export function encodeReviewCursor(position: ReviewPosition): string {
  const cursor: ReviewCursor = { at: position.updatedAt, user: position.userId };
  return encodeCursor(cursor);
}

export function decodeReviewCursor(after: string): ReviewPosition {
  const cursor = decodeCursor(after, isReviewCursor);
  return { updatedAt: cursor.at, userId: cursor.user };
}

function isReviewCursor(value: unknown): value is ReviewCursor {
  if (typeof value !== 'object' || value === null) return false;
  const { at, user } = value as Record<string, unknown>;
  return typeof at === 'string' && isExactInstant(at) && typeof user === 'string' && isUuid(user);
}

// ---- one user's lists (newest first): (time, movie_id)

/** Which of a user's lists a cursor belongs to, so one list's cursor is refused by the other. */
export type UserList = 'reviews' | 'reactions';

interface UserListCursor {
  list: UserList;
  at: string;
  movie: string;
}

export function encodeUserListCursor(list: UserList, position: MoviePosition): string {
  const cursor: UserListCursor = { list, at: position.at, movie: String(position.movieId) };
  return encodeCursor(cursor);
}

export function decodeUserListCursor(list: UserList, after: string): MoviePosition {
  const cursor = decodeCursor(after, (value): value is UserListCursor => isUserListCursor(list, value));
  // isUserListCursor checked that the movie is a numeric id
  return { at: cursor.at, movieId: parseNumericId(cursor.movie) as number };
}

function isUserListCursor(list: UserList, value: unknown): value is UserListCursor {
  if (typeof value !== 'object' || value === null) return false;
  const cursor = value as Record<string, unknown>;
  return (
    cursor.list === list &&
    typeof cursor.at === 'string' &&
    isExactInstant(cursor.at) &&
    typeof cursor.movie === 'string' &&
    parseNumericId(cursor.movie) !== null
  );
}

const exactInstantPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** e.g. 2026-11-21T20:04:00.123456Z; a real calendar instant (no February 30th). */
function isExactInstant(text: string): boolean {
  if (!exactInstantPattern.test(text)) return false;
  const milliseconds = `${text.slice(0, 23)}Z`;
  const date = new Date(milliseconds);
  return !Number.isNaN(date.getTime()) && date.toISOString() === milliseconds;
}
