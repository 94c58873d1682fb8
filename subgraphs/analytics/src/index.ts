import {
  connectPostgres,
  createLogger,
  createTokenVerifier,
  envReader,
  loadTypeDefs,
  readCommonConfig,
  startSubgraphServer,
  type RunningServer,
  type TokenVerifier,
} from '@platform/shared';
import { createAnalyticsData } from './data.ts';
import { resolvers, type AnalyticsContext } from './resolvers.ts';

export function readAnalyticsConfig(env: Record<string, string | undefined> = process.env) {
  const read = envReader(env);
  return {
    ...readCommonConfig(env),
    host: read.string('HOST', '127.0.0.1'),
    port: read.port('PORT', 4005),
    databaseUrl: read.url('DATABASE_URL', ['postgres:', 'postgresql:']),
  };
}

export interface AnalyticsSubgraphOptions {
  /** Verifies access tokens; defaults to the users subgraph's JWKS at JWKS_URL. Tests pass a local key set. */
  verifier?: TokenVerifier;
}

export async function startAnalyticsSubgraph(
  env: Record<string, string | undefined> = process.env,
  options: AnalyticsSubgraphOptions = {},
): Promise<RunningServer> {
  const config = readAnalyticsConfig(env);
  const logger = createLogger('analytics', { level: config.logLevel });
  const verifier =
    options.verifier ?? createTokenVerifier({ issuer: config.jwtIssuer, audience: config.jwtAudience, keys: config.jwksUrl });
  // Few, cheap queries (one primary-key read per totals request): a small pool is plenty.
  const postgres = connectPostgres(config.databaseUrl, { applicationName: 'analytics', max: 5, logger });
  const data = createAnalyticsData(postgres.db);

  try {
    const server = await startSubgraphServer<AnalyticsContext>({
      name: 'analytics',
      typeDefs: loadTypeDefs(import.meta.url),
      resolvers,
      host: config.host,
      port: config.port,
      logger,
      verifier,
      createContext: (base) => ({ ...base, data }),
      checkReady: async () => {
        await postgres.pool.query('SELECT 1');
      },
    });
    return {
      ...server,
      stop: async () => {
        await server.stop();
        await postgres.close();
      },
    };
  } catch (error) {
    // A failed start (e.g. the port is taken) must not leave the pool keeping the process alive.
    await postgres.close();
    throw error;
  }
}
