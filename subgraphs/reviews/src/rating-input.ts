import { badInput } from '@platform/shared';
import { parseNumericId } from '@platform/shared/ids';
import { storableText } from '@platform/shared/text-input';

// Checks what the mutations receive before anything touches the database.

export const maxCommentLength = 2000;

export interface Rating {
  movieId: number;
  /** 1..10, the rating in half-stars, as stored */
  ratingHalves: number;
  comment: string | null;
}

export function parseRatingInput(args: { movieId: string; rating: number; comment?: string | null }): Rating {
  return { movieId: parseMovieId(args.movieId), ratingHalves: parseRating(args.rating), comment: parseComment(args.comment) };
}

/** A movie id argument as stored (bigint), or BAD_USER_INPUT naming `movieId`. */
export function parseMovieId(movieId: string): number {
  const id = parseNumericId(movieId);
  if (id === null) throw badInput('movieId', 'is not a movie id; pass the id of a Movie');
  return id;
}

function parseRating(rating: number): number {
  const halves = rating * 2;
  if (!Number.isInteger(halves) || halves < 1 || halves > 10) {
    throw badInput('rating', `must be between 0.5 and 5.0 in steps of 0.5, got ${rating}`);
  }
  return halves;
}

/** Surrounding whitespace is dropped; a comment of only whitespace is no comment. */
function parseComment(comment: string | null | undefined): string | null {
  const trimmed = storableText('comment', comment?.trim() ?? '');
  if (trimmed.length === 0) return null;
  // Counted in characters as people see them (code points), not UTF-16 units, so an emoji is one.
  const length = [...trimmed].length;
  if (length > maxCommentLength) throw badInput('comment', `must be at most ${maxCommentLength} characters, got ${length}`);
  return trimmed;
}
