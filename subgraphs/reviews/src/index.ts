import { loadTypeDefs, type RunningServer } from '@platform/shared';
import { readPostgresSubgraphConfig, startPostgresSubgraph, type PostgresSubgraphOptions } from '@platform/shared/postgres-subgraph';
import { createReviewsData } from './data.ts';
import { createReviewsLoaders } from './loaders.ts';
import { resolvers, type ReviewsContext } from './resolvers.ts';

export const readReviewsConfig = (env: Record<string, string | undefined> = process.env) => readPostgresSubgraphConfig(env, 4003);

export function startReviewsSubgraph(
  env: Record<string, string | undefined> = process.env,
  options: PostgresSubgraphOptions = {},
): Promise<RunningServer> {
  return startPostgresSubgraph<ReviewsContext>({
    name: 'reviews',
    config: readReviewsConfig(env),
    options,
    typeDefs: loadTypeDefs(import.meta.url),
    resolvers,
    contextFor: (db) => {
      const data = createReviewsData(db);
      return (base) => ({ ...base, data, loaders: createReviewsLoaders(data, base.viewer?.id ?? null) });
    },
  });
}
