import { badInput, DateTimeScalar, ErrorCode, pageSize, platformError, requireAdmin, requireViewer, toConnection, type RequestContext, type Viewer } from '@platform/shared';
import { isUuid, parseNumericId } from '@platform/shared/ids';
import { isWritten, type MovieStatsRow, type PagedReaction, type ReactionKind, type ReviewRow, type ReviewsData } from './data.ts';
import { UnknownMovieError } from './known-movies.ts';
import type { ReviewsLoaders } from './loaders.ts';
import { parseMovieId, parseRatingInput } from './rating-input.ts';
import { decodeReviewCursor, decodeUserListCursor, encodeReviewCursor, encodeUserListCursor } from './review-cursor.ts';
import { decodeReviewId, encodeReviewId } from './review-key.ts';
import type { WriteLimiter } from './write-limits.ts';

// Authorization lives in schema.graphql (@signedIn on the mutations, @selfOrAdmin on a user's
// reviews, reactions and excluded movies) and is enforced by wrapping these resolvers, on every
// path including `_entities`. The one rule a directive cannot express is that a bare rating (a
// review without a comment) is private while a written one is public, as it depends on the row:
// Movie.reviews lists written reviews only (in SQL), and a Review reference checks the row with
// reviewVisibleTo. Mutations take the user only from the verified viewer, never from an argument.

export interface ReviewsContext extends RequestContext {
  data: ReviewsData;
  loaders: ReviewsLoaders;
  writeLimiter: WriteLimiter;
}

/** A Movie as this subgraph knows it: only its id; every field here is computed from it. */
interface MovieReference {
  id: string;
}

/** A User as this subgraph knows it: only its id (`@selfOrAdmin` compares the viewer with it). */
interface UserReference {
  id: string;
}

interface PageArgs {
  first?: number | null;
  after?: string | null;
}

const movieReference = (movieId: number): MovieReference => ({ id: String(movieId) });

const averageRatingOf = (stats: MovieStatsRow | null): number | null =>
  stats && stats.ratingCount > 0 ? stats.ratingHalvesSum / stats.ratingCount / 2 : null;

/**
 * Who may read a review reached by its id: anyone if it is written (its author published the
 * words), otherwise only its author or an admin, as for every other private rating. The author is
 * matched by the exact id of the verified token (like @selfOrAdmin), never loosely.
 */
export function reviewVisibleTo(review: ReviewRow, viewer: Viewer | null): boolean {
  return isWritten(review) || (viewer !== null && (viewer.id === review.userId || viewer.role === 'ADMIN'));
}

async function reviewsOfMovie(movie: MovieReference, args: PageArgs, context: ReviewsContext) {
  const size = pageSize(args.first);
  const after = args.after === null || args.after === undefined ? null : decodeReviewCursor(args.after);
  const movieId = parseNumericId(movie.id);
  const [rows, stats] = await Promise.all([
    movieId === null ? [] : context.loaders.reviewPage.load({ owner: movieId, limit: size + 1, after }),
    context.loaders.statsByMovie.load(movie.id),
  ]);
  // The list holds written reviews only, so its total is their running count (kept with every
  // change, an O(1) read), not ratingCount: it must match the edges a client can page through.
  return toConnection(rows, size, stats?.commentCount ?? 0, (row) => encodeReviewCursor(row.position), after !== null);
}

async function reviewsOfUser(user: UserReference, args: PageArgs, context: ReviewsContext) {
  const size = pageSize(args.first);
  const after = args.after === null || args.after === undefined ? null : decodeUserListCursor('reviews', args.after);
  const [rows, totalCount] = await Promise.all([
    context.loaders.userReviewPage.load({ owner: user.id, limit: size + 1, after }),
    context.loaders.reviewCountByUser.load(user.id),
  ]);
  return toConnection(rows, size, totalCount, (row) => encodeUserListCursor('reviews', row.position), after !== null);
}

async function reactionsOfUser(user: UserReference, args: PageArgs, context: ReviewsContext) {
  const size = pageSize(args.first);
  const after = args.after === null || args.after === undefined ? null : decodeUserListCursor('reactions', args.after);
  const [rows, totalCount] = await Promise.all([
    context.loaders.reactionPage.load({ owner: user.id, limit: size + 1, after }),
    context.loaders.reactionCountByUser.load(user.id),
  ]);
  return toConnection(rows, size, totalCount, (row) => encodeUserListCursor('reactions', row.position), after !== null);
}

function myReviewOf(movie: MovieReference, context: ReviewsContext) {
  const movieId = parseNumericId(movie.id);
  if (!context.viewer || movieId === null) return null;
  return context.loaders.reviewByKey.load({ userId: context.viewer.id, movieId });
}

function myReactionOf(movie: MovieReference, context: ReviewsContext) {
  const movieId = parseNumericId(movie.id);
  if (!context.viewer || movieId === null) return null;
  return context.loaders.myReactionByMovie.load(movieId);
}

/**
 * NOT_FOUND for a write naming a movie the catalogue does not have. A movie an admin added a
 * moment ago reaches this subgraph through the movies stream, usually within tens of
 * milliseconds; a write inside that window is refused too, hence the retry hint.
 */
export const unknownMovie = (movieId: number) =>
  platformError(
    ErrorCode.NotFound,
    `No movie with id "${movieId}"; check movieId. (A movie added in the last few seconds may not be known here yet: retry in a moment.)`,
    { field: 'movieId', movieId: String(movieId) },
  );

/** Runs a write that requires a known movie, turning UnknownMovieError into NOT_FOUND. */
async function forKnownMovie<T>(movieId: number, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof UnknownMovieError) throw unknownMovie(movieId);
    throw error;
  }
}

/** The caller of a mutation: `@signedIn` already refused anonymous callers; this names them. */
const signedInViewer = (context: ReviewsContext): Viewer => requireViewer(context);

/**
 * The caller of a limited write (rateMovie, deleteReview, reactToMovie, clearReaction), counted
 * against the per-user and per-address limits before anything else, once per field call (each
 * alias is a call). A refused call throws RATE_LIMITED here, before its input is read or its
 * transaction starts, so it writes nothing.
 */
async function limitedWriter(context: ReviewsContext): Promise<Viewer> {
  const viewer = signedInViewer(context);
  await context.writeLimiter.take(viewer.id, context.clientAddress);
  return viewer;
}

/**
 * rollbackRatings (@admin): validates before any statement, so a bad call writes nothing. `since`
 * in the future is refused rather than treated as "nothing to roll back": it is almost certainly
 * a time-zone mistake the admin should see.
 */
async function rollbackRatings(args: { userId: string; since: Date }, context: ReviewsContext): Promise<number> {
  const admin = requireAdmin(context);
  if (!isUuid(args.userId)) throw badInput('userId', 'must be a user id (a UUID such as 0b9e6a52-2f63-4c4e-9a53-3c1e0f4b7d21)');
  if (args.since.getTime() > Date.now()) {
    throw badInput('since', `${args.since.toISOString()} is in the future; give the time the user's reviews should be restored to (now or earlier)`);
  }
  const changed = await context.data.rollbackRatings({ userId: args.userId, since: args.since, actorId: admin.id });
  context.loaders.reviewCountByUser.clear(args.userId);
  context.logger.info('ratings rolled back', { userId: args.userId, since: args.since.toISOString(), changed, adminId: admin.id });
  return changed;
}

async function rateMovie(args: { movieId: string; rating: number; comment?: string | null }, context: ReviewsContext) {
  const viewer = await limitedWriter(context);
  const rating = parseRatingInput(args);
  const review = await forKnownMovie(rating.movieId, () => context.data.rate({ ...rating, userId: viewer.id, actorId: viewer.id }));
  // Later fields of this same request (e.g. `rateMovie { movie { averageRating } }`) must see the change.
  context.loaders.statsByMovie.clear(String(rating.movieId));
  context.loaders.reviewByKey.clear(review).prime(review, review);
  context.logger.info('movie rated', { movieId: rating.movieId, userId: viewer.id });
  return review;
}

async function deleteReview(args: { movieId: string }, context: ReviewsContext): Promise<boolean> {
  const viewer = await limitedWriter(context);
  const movieId = parseMovieId(args.movieId);
  const deleted = await context.data.deleteReview({ userId: viewer.id, movieId, actorId: viewer.id });
  if (!deleted) {
    throw platformError(ErrorCode.NotFound, `You have no review of movie "${movieId}" to delete; check the movieId`, { movieId: String(movieId) });
  }
  context.loaders.statsByMovie.clear(String(movieId));
  context.loaders.reviewByKey.clear(deleted);
  context.loaders.reviewCountByUser.clear(viewer.id);
  context.logger.info('review deleted', { movieId, userId: viewer.id });
  return true;
}

async function reactToMovie(args: { movieId: string; reaction: ReactionKind }, context: ReviewsContext): Promise<MovieReference> {
  const viewer = await limitedWriter(context);
  const movieId = parseMovieId(args.movieId);
  await forKnownMovie(movieId, () => context.data.react({ userId: viewer.id, movieId, reaction: args.reaction }));
  // `reactToMovie { likeCount myReaction }` in the same request must see the change.
  context.loaders.statsByMovie.clear(String(movieId));
  context.loaders.myReactionByMovie.clear(movieId).prime(movieId, args.reaction);
  context.loaders.reactionCountByUser.clear(viewer.id);
  context.logger.info('reaction set', { movieId, userId: viewer.id });
  return movieReference(movieId);
}

async function clearReaction(args: { movieId: string }, context: ReviewsContext): Promise<MovieReference> {
  const viewer = await limitedWriter(context);
  const movieId = parseMovieId(args.movieId);
  await context.data.clearReaction({ userId: viewer.id, movieId });
  context.loaders.statsByMovie.clear(String(movieId));
  context.loaders.myReactionByMovie.clear(movieId).prime(movieId, null);
  context.loaders.reactionCountByUser.clear(viewer.id);
  context.logger.info('reaction cleared', { movieId, userId: viewer.id });
  return movieReference(movieId);
}

async function setExclusion(args: { movieId: string }, excluded: boolean, context: ReviewsContext): Promise<boolean> {
  const viewer = signedInViewer(context);
  const movieId = parseMovieId(args.movieId);
  const key = { userId: viewer.id, movieId };
  await (excluded ? forKnownMovie(movieId, () => context.data.exclude(key)) : context.data.include(key));
  context.loaders.excludedMoviesByUser.clear(viewer.id);
  return true;
}

export const resolvers = {
  DateTime: DateTimeScalar,
  Movie: {
    __resolveReference: (reference: MovieReference): MovieReference => ({ id: reference.id }),
    averageRating: async (movie: MovieReference, _: unknown, context: ReviewsContext) =>
      averageRatingOf(await context.loaders.statsByMovie.load(movie.id)),
    ratingCount: async (movie: MovieReference, _: unknown, context: ReviewsContext) =>
      (await context.loaders.statsByMovie.load(movie.id))?.ratingCount ?? 0,
    likeCount: async (movie: MovieReference, _: unknown, context: ReviewsContext) =>
      (await context.loaders.statsByMovie.load(movie.id))?.likeCount ?? 0,
    reviews: (movie: MovieReference, args: PageArgs, context: ReviewsContext) => reviewsOfMovie(movie, args, context),
    myReview: (movie: MovieReference, _: unknown, context: ReviewsContext) => myReviewOf(movie, context),
    myReaction: (movie: MovieReference, _: unknown, context: ReviewsContext) => myReactionOf(movie, context),
  },
  User: {
    __resolveReference: (reference: UserReference): UserReference => ({ id: reference.id }),
    reviews: (user: UserReference, args: PageArgs, context: ReviewsContext) => reviewsOfUser(user, args, context),
    reactions: (user: UserReference, args: PageArgs, context: ReviewsContext) => reactionsOfUser(user, args, context),
    excludedMovies: async (user: UserReference, _: unknown, context: ReviewsContext) =>
      (await context.loaders.excludedMoviesByUser.load(user.id)).map(movieReference),
  },
  MovieReaction: {
    movie: (row: PagedReaction) => movieReference(row.movieId),
    at: (row: PagedReaction) => row.createdAt,
  },
  Review: {
    // A bare rating of someone else is null, exactly like an id that does not exist: no error,
    // which would tell the caller that this user rated this movie.
    __resolveReference: async (reference: { id: string }, context: ReviewsContext): Promise<ReviewRow | null> => {
      const key = decodeReviewId(reference.id);
      const review = key ? await context.loaders.reviewByKey.load(key) : null;
      return review !== null && reviewVisibleTo(review, context.viewer) ? review : null;
    },
    id: (review: ReviewRow) => encodeReviewId(review),
    // References: the movies and users subgraphs fill in the other fields.
    movie: (review: ReviewRow) => ({ __typename: 'Movie', id: String(review.movieId) }),
    author: (review: ReviewRow) => ({ __typename: 'User', id: review.userId }),
    rating: (review: ReviewRow) => review.ratingHalves / 2,
  },
  Mutation: {
    rateMovie: (_: unknown, args: { movieId: string; rating: number; comment?: string | null }, context: ReviewsContext) =>
      rateMovie(args, context),
    deleteReview: (_: unknown, args: { movieId: string }, context: ReviewsContext) => deleteReview(args, context),
    reactToMovie: (_: unknown, args: { movieId: string; reaction: ReactionKind }, context: ReviewsContext) => reactToMovie(args, context),
    clearReaction: (_: unknown, args: { movieId: string }, context: ReviewsContext) => clearReaction(args, context),
    excludeFromRecommendations: (_: unknown, args: { movieId: string }, context: ReviewsContext) => setExclusion(args, true, context),
    includeInRecommendations: (_: unknown, args: { movieId: string }, context: ReviewsContext) => setExclusion(args, false, context),
    rollbackRatings: (_: unknown, args: { userId: string; since: Date }, context: ReviewsContext) => rollbackRatings(args, context),
  },
};
