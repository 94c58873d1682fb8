import { pageSize, requireViewer, type RequestContext } from '@platform/shared';
import type { RecommendationLoaders } from './loaders.ts';
import { movieReference, parseMovieId, type MovieReference } from './movie-ids.ts';
import type { RecommendationSource, RecommendedMovie, Recommender } from './recommender.ts';

export interface RecommendationsContext extends RequestContext {
  recommender: Recommender;
  loaders: RecommendationLoaders;
}

export interface RecommendationResult {
  movie: MovieReference;
  score: number;
  because: MovieReference[];
  source: RecommendationSource;
}

export function toRecommendationResult(item: RecommendedMovie): RecommendationResult {
  return {
    movie: movieReference(item.movieId),
    score: item.score,
    because: item.because.map(movieReference),
    source: item.source,
  };
}

export const defaultSimilarMovies = 10;
export const defaultRecommendations = 20;

export const resolvers = {
  Query: {
    recommendations: async (_: unknown, args: { first?: number | null }, context: RecommendationsContext) => {
      const viewer = requireViewer(context);
      const limit = pageSize(args.first, defaultRecommendations, 'first');
      return (await context.recommender.forUser(viewer.id, limit)).map(toRecommendationResult);
    },
  },
  Movie: {
    similarMovies: async (movie: { id: string }, args: { first?: number | null }, context: RecommendationsContext) => {
      const limit = pageSize(args.first, defaultSimilarMovies, 'first');
      // The id comes from another subgraph's entity, not from the caller's input: an id that
      // cannot name a movie simply has no similar movies, instead of failing the whole query.
      const movieId = parseMovieId(movie.id);
      if (movieId === null) return [];
      return (await context.loaders.similarMovies(movieId, limit)).map(toRecommendationResult);
    },
  },
};
