import { DateTimeScalar, pageSize, requireViewer, serviceUnavailable, type RequestContext } from '@platform/shared';
import type { StreamLag } from './event-consumer.ts';
import { graphUnavailableWhat, isGraphUnavailable } from './graph-errors.ts';
import type { RecommendationLoaders } from './loaders.ts';
import { movieReference, parseMovieId, type MovieReference } from './movie-ids.ts';
import type { RecommendationSource, RecommendedMovie, Recommender } from './recommender.ts';
import type { ModelAdmin } from './model/builder.ts';
import type { ModelRecord } from './model/store.ts';

export interface RecommendationsContext extends RequestContext {
  recommender: Recommender;
  loaders: RecommendationLoaders;
  /** How far the like-graph is behind its event streams (the consumer's lag). */
  eventLag(): Promise<StreamLag[]>;
  /** The precomputed model's admin operations; absent where no model is wired (GraphQL-layer unit tests). */
  models?: ModelAdmin;
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
export const defaultRecommendationModels = 10;

export interface RecommendationModelResult {
  version: string;
  active: boolean;
  status: string;
  phase: string;
  progress: number;
  startedAt: Date;
  builtAt: Date | null;
  buildMillis: number | null;
  users: number;
  movies: number;
  similarityEdges: number;
  error: string | null;
}

export function toRecommendationModelResult(model: ModelRecord): RecommendationModelResult {
  return {
    version: model.version,
    active: model.active,
    status: model.status,
    phase: model.phase,
    progress: model.progress,
    startedAt: new Date(model.startedAt),
    builtAt: model.status === 'READY' && model.finishedAt !== null ? new Date(model.finishedAt) : null,
    buildMillis: model.status === 'READY' ? model.buildMillis : null,
    users: model.users,
    movies: model.movies,
    similarityEdges: model.similarityEdges,
    error: model.status === 'FAILED' ? model.error : null,
  };
}

/** Runs an admin model operation; Neo4j being down becomes SERVICE_UNAVAILABLE (anything else stays masked). */
async function withModels<T>(context: RecommendationsContext, work: (models: ModelAdmin) => Promise<T>): Promise<T> {
  if (!context.models) throw serviceUnavailable('The recommendation model service');
  try {
    return await work(context.models);
  } catch (error) {
    if (!isGraphUnavailable(error)) throw error;
    context.logger.warn('neo4j unavailable for a recommendation model request', { error: error instanceof Error ? error.message : String(error) });
    throw serviceUnavailable(graphUnavailableWhat);
  }
}

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
    // The three model fields are admins only (@admin in the schema).
    recommendationModel: (_: unknown, _args: unknown, context: RecommendationsContext) =>
      withModels(context, async (models) => {
        const model = await models.active();
        return model ? toRecommendationModelResult(model) : null;
      }),
    recommendationModels: (_: unknown, args: { first?: number | null }, context: RecommendationsContext) => {
      const first = pageSize(args.first, defaultRecommendationModels, 'first');
      return withModels(context, async (models) => (await models.recent(first)).map(toRecommendationModelResult));
    },
  },
  Mutation: {
    rebuildRecommendationModel: (_: unknown, _args: unknown, context: RecommendationsContext) =>
      withModels(context, async (models) => {
        const model = await models.rebuild();
        context.logger.info('recommendation model rebuild requested', { version: model.version, status: model.status, by: context.viewer?.id });
        return toRecommendationModelResult(model);
      }),
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
  DateTime: DateTimeScalar,
};
