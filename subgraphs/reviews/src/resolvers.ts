import { DateTimeScalar, pageSize, requireViewer, toConnection, type RequestContext } from '@platform/shared';
import { parseNumericId } from '@platform/shared/ids';
import type { MovieStatsRow, ReviewRow, ReviewsData } from './data.ts';
import type { ReviewsLoaders } from './loaders.ts';
import { parseRatingInput } from './rating-input.ts';
import { decodeReviewCursor, encodeReviewCursor } from './review-cursor.ts';
import { decodeReviewId, encodeReviewId } from './review-key.ts';

export interface ReviewsContext extends RequestContext {
  data: ReviewsData;
  loaders: ReviewsLoaders;
}

/** A Movie as this subgraph knows it: only its id; every field here is computed from it. */
interface MovieReference {
  id: string;
}

const averageRatingOf = (stats: MovieStatsRow | null): number | null =>
  stats && stats.ratingCount > 0 ? stats.ratingHalvesSum / stats.ratingCount / 2 : null;

async function reviewsOf(movie: MovieReference, args: { first?: number | null; after?: string | null }, context: ReviewsContext) {
  const size = pageSize(args.first);
  const after = args.after === null || args.after === undefined ? null : decodeReviewCursor(args.after);
  const movieId = parseNumericId(movie.id);
  const [rows, stats] = await Promise.all([
    movieId === null ? [] : context.loaders.reviewPage.load({ movieId, limit: size + 1, after }),
    context.loaders.statsByMovie.load(movie.id),
  ]);
  // Every review carries a rating, so the movie's rating count is its number of reviews.
  return toConnection(rows, size, stats?.ratingCount ?? 0, (row) => encodeReviewCursor(row.position), after !== null);
}

function myReviewOf(movie: MovieReference, context: ReviewsContext) {
  const movieId = parseNumericId(movie.id);
  if (!context.viewer || movieId === null) return null;
  return context.loaders.reviewByKey.load({ userId: context.viewer.id, movieId });
}

async function rateMovie(args: { movieId: string; rating: number; comment?: string | null }, context: ReviewsContext) {
  const viewer = requireViewer(context);
  const rating = parseRatingInput(args);
  const review = await context.data.rate({ ...rating, userId: viewer.id, actorId: viewer.id });
  // Later fields of this same request (e.g. `rateMovie { movie { averageRating } }`) must see the change.
  context.loaders.statsByMovie.clear(String(rating.movieId));
  context.loaders.reviewByKey.clear(review).prime(review, review);
  context.logger.info('movie rated', { movieId: rating.movieId, userId: viewer.id });
  return review;
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
    reviews: (movie: MovieReference, args: { first?: number | null; after?: string | null }, context: ReviewsContext) =>
      reviewsOf(movie, args, context),
    myReview: (movie: MovieReference, _: unknown, context: ReviewsContext) => myReviewOf(movie, context),
  },
  Review: {
    __resolveReference: (reference: { id: string }, context: ReviewsContext) => {
      const key = decodeReviewId(reference.id);
      return key ? context.loaders.reviewByKey.load(key) : null;
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
  },
};
