import { loadTypeDefs, type RunningServer } from '@platform/shared';
import { readPostgresSubgraphConfig, startPostgresSubgraph, type PostgresSubgraphOptions } from '@platform/shared/postgres-subgraph';
import { createMoviesData } from './data.ts';
import { createMoviesLoaders } from './loaders.ts';
import { resolvers, type MoviesContext } from './resolvers.ts';

export const readMoviesConfig = (env: Record<string, string | undefined> = process.env) => readPostgresSubgraphConfig(env, 4002);

export function startMoviesSubgraph(
  env: Record<string, string | undefined> = process.env,
  options: PostgresSubgraphOptions = {},
): Promise<RunningServer> {
  return startPostgresSubgraph<MoviesContext>({
    name: 'movies',
    config: readMoviesConfig(env),
    options,
    typeDefs: loadTypeDefs(import.meta.url),
    resolvers,
    contextFor: (db) => {
      const data = createMoviesData(db);
      return (base) => ({ ...base, data, loaders: createMoviesLoaders(data) });
    },
  });
}
