import { decodeCursor, encodeCursor } from '@platform/shared';
import { isUuid } from '@platform/shared/ids';
import type { ReviewPosition } from './data.ts';

// Cursors of a movie's reviews (newest first) hold the last row's (updated_at, user_id). Both
// values go back to PostgreSQL as casts, so they are checked strictly here: a malformed one
// must be the caller's BAD_USER_INPUT, never a failing cast (a 500).

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

const exactInstantPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** e.g. 2026-11-21T20:04:00.123456Z; a real calendar instant (no February 30th). */
function isExactInstant(text: string): boolean {
  if (!exactInstantPattern.test(text)) return false;
  const milliseconds = `${text.slice(0, 23)}Z`;
  const date = new Date(milliseconds);
  return !Number.isNaN(date.getTime()) && date.toISOString() === milliseconds;
}
