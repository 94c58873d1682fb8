import DataLoader from 'dataloader';
import type { RecommendedMovie, Recommender } from './recommender.ts';

/**
 * Per-request batching: a page of 20 movies each asking for `similarMovies(first: 10)` costs one
 * recommender call, not 20. Calls with different `first` go to different batches.
 */
export function createRecommendationLoaders(recommender: Recommender) {
  const similarByLimit = new Map<number, DataLoader<number, RecommendedMovie[]>>();
  return {
    similarMovies(movieId: number, limit: number): Promise<RecommendedMovie[]> {
      let loader = similarByLimit.get(limit);
      if (!loader) {
        loader = new DataLoader<number, RecommendedMovie[]>(
          async (movieIds) => {
            const byMovie = await recommender.similarMovies(movieIds, limit);
            return movieIds.map((movieId) => byMovie.get(movieId) ?? []);
          },
          // Bounds the work one Cypher statement does; larger pages are split into several batches.
          { maxBatchSize: 50 },
        );
        similarByLimit.set(limit, loader);
      }
      return loader.load(movieId);
    },
  };
}

export type RecommendationLoaders = ReturnType<typeof createRecommendationLoaders>;
