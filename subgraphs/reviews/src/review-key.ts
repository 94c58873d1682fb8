import { isUuid, parseNumericId } from '@platform/shared/ids';

// A review is identified by its author and movie (one review per user and movie). Its public id
// encodes both, so resolving a Review reference is a primary-key lookup that touches only the
// author's partition of the reviews table.

export interface ReviewKey {
  userId: string;
  movieId: number;
}

export function encodeReviewId(key: ReviewKey): string {
  return Buffer.from(`${key.userId}:${key.movieId}`, 'utf8').toString('base64url');
}

/** The key behind a review id, or null when the id is not one this subgraph issued. */
export function decodeReviewId(id: string): ReviewKey | null {
  const [userId, movieId, ...rest] = Buffer.from(id, 'base64url').toString('utf8').split(':');
  if (rest.length > 0 || userId === undefined || movieId === undefined || !isUuid(userId)) return null;
  const numericMovieId = parseNumericId(movieId);
  return numericMovieId === null ? null : { userId, movieId: numericMovieId };
}

/** Cache key for loaders: two spellings of one key (upper/lower-case UUID) are one review. */
export const reviewKeyString = (key: ReviewKey): string => `${key.userId.toLowerCase()}:${key.movieId}`;
