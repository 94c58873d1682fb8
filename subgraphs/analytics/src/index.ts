import { loadTypeDefs, type RunningServer } from '@platform/shared';
import { readPostgresSubgraphConfig, startPostgresSubgraph, type PostgresSubgraphOptions } from '@platform/shared/postgres-subgraph';
import { createAnalyticsData } from './data.ts';
import { resolvers, type AnalyticsContext } from './resolvers.ts';

export const readAnalyticsConfig = (env: Record<string, string | undefined> = process.env) => readPostgresSubgraphConfig(env, 4005);

export function startAnalyticsSubgraph(
  env: Record<string, string | undefined> = process.env,
  options: PostgresSubgraphOptions = {},
): Promise<RunningServer> {
  return startPostgresSubgraph<AnalyticsContext>({
    name: 'analytics',
    config: readAnalyticsConfig(env),
    options,
    typeDefs: loadTypeDefs(import.meta.url),
    resolvers,
    // Few, cheap queries (one primary-key read per totals request): a small pool is plenty.
    poolSize: 5,
    contextFor: (db) => {
      const data = createAnalyticsData(db);
      return (base) => ({ ...base, data });
    },
  });
}
