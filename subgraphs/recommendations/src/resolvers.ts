import { pageSize, requireViewer, serviceUnavailable, type RequestContext } from '@platform/shared';
import type { StreamLag } from './event-consumer.ts';
import type { RecommendationLoaders } from './loaders.ts';
import { movieReference, parseMovieId, type MovieReference } from './movie-ids.ts';
import type { RecommendationSource, RecommendedMovie, Recommender } from './recommender.ts';

export interface RecommendationsContext extends RequestContext {
  recommender: Recommender;
  loaders: RecommendationLoaders;
  /** How far the like-graph is behind its event streams (the consumer's lag). */
  eventLag(): Promise<StreamLag[]>;
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
    // Admins only (@admin in the schema, enforced before this runs).
    recommendationEventLag: async (_: unknown, _args: unknown, context: RecommendationsContext): Promise<StreamLag[]> => {
      try {
        return await context.eventLag();
      } catch (error) {
        context.logger.warn('could not read the event consumer lag', { error: error instanceof Error ? error.message : String(error) });
        throw serviceUnavailable('The event stream service (Redis)');
      }
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
