import {
  ConfigError,
  connectNeo4j,
  createLogger,
  createTokenVerifier,
  envReader,
  loadTypeDefs,
  readCommonConfig,
  startSubgraphServer,
  type Driver,
  type Logger,
  type RunningServer,
  type TokenVerifier,
} from '@platform/shared';
import { ensureGraphSchema } from './graph.ts';
import { isGraphAuthError, isGraphUnavailable } from './graph-errors.ts';
import { createLiveRecommender } from './live-recommender.ts';
import { createRecommendationLoaders } from './loaders.ts';
import type { Recommender } from './recommender.ts';
import { resolvers, type RecommendationsContext } from './resolvers.ts';

export const neo4jProtocols = ['bolt:', 'neo4j:', 'bolt+s:', 'neo4j+s:', 'bolt+ssc:', 'neo4j+ssc:'];

export function readRecommendationsConfig(env: Record<string, string | undefined> = process.env) {
  const read = envReader(env);
  return {
    ...readCommonConfig(env),
    host: read.string('HOST', '127.0.0.1'),
    port: read.port('PORT', 4004),
    neo4j: {
      uri: read.url('NEO4J_URI', neo4jProtocols),
      user: read.string('NEO4J_USER', 'neo4j'),
      password: read.string('NEO4J_PASSWORD'),
    },
  };
}

export type RecommendationsConfig = ReturnType<typeof readRecommendationsConfig>;

export interface RecommendationsStartOptions {
  /** Tests inject a verifier over a local key set; otherwise tokens are checked against JWKS_URL. */
  verifier?: TokenVerifier;
  logger?: Logger;
}

const schemaRetryMs = 5_000;

/**
 * Gets the graph ready (constraints online). Neo4j being down at start is not fatal: the service
 * starts, answers SERVICE_UNAVAILABLE and reports not-ready until Neo4j is back, because
 * orchestrators start services in any order. A rejected password is fatal: it will not fix itself.
 */
function prepareGraph(driver: Driver, config: RecommendationsConfig, logger: Logger) {
  let ready = false;
  let stopped = false;
  let retryTimer: NodeJS.Timeout | undefined;

  const attempt = async (): Promise<void> => {
    // getServerInfo makes one connection attempt; executeQuery alone would retry for 30 s.
    await driver.getServerInfo();
    await ensureGraphSchema(driver);
    ready = true;
    logger.info('graph schema ready', { neo4j: config.neo4j.uri });
  };

  const retryLater = (): void => {
    if (stopped) return;
    retryTimer = setTimeout(() => {
      attempt().catch((error: unknown) => {
        logger.warn('neo4j still unavailable; retrying', { error: error instanceof Error ? error.message : String(error) });
        retryLater();
      });
    }, schemaRetryMs);
    retryTimer.unref();
  };

  return {
    async start(): Promise<void> {
      try {
        await attempt();
      } catch (error) {
        if (isGraphAuthError(error)) {
          throw new ConfigError('NEO4J_PASSWORD', `(with NEO4J_USER "${config.neo4j.user}") was rejected by Neo4j at ${config.neo4j.uri}; check both`);
        }
        if (!isGraphUnavailable(error)) throw error;
        logger.warn('neo4j unavailable at start; serving SERVICE_UNAVAILABLE until it is back', {
          neo4j: config.neo4j.uri,
          error: error instanceof Error ? error.message : String(error),
        });
        retryLater();
      }
    },
    isReady: () => ready,
    stop(): void {
      stopped = true;
      clearTimeout(retryTimer);
    },
  };
}

export async function startRecommendationsSubgraph(
  env: Record<string, string | undefined> = process.env,
  options: RecommendationsStartOptions = {},
): Promise<RunningServer> {
  const config = readRecommendationsConfig(env);
  const logger = options.logger ?? createLogger('recommendations', { level: config.logLevel });
  const verifier =
    options.verifier ?? createTokenVerifier({ issuer: config.jwtIssuer, audience: config.jwtAudience, keys: config.jwksUrl });
  const driver = connectNeo4j(config.neo4j);
  const graph = prepareGraph(driver, config, logger);
  let server: RunningServer;
  try {
    await graph.start();
    const recommender: Recommender = createLiveRecommender(driver, logger);
    server = await startSubgraphServer<RecommendationsContext>({
      name: 'recommendations',
      typeDefs: loadTypeDefs(import.meta.url),
      resolvers,
      host: config.host,
      port: config.port,
      logger,
      verifier,
      createContext: (base) => ({ ...base, recommender, loaders: createRecommendationLoaders(recommender) }),
      checkReady: async () => {
        if (!graph.isReady()) throw new Error('graph schema not ensured yet (Neo4j unreachable at start)');
        await driver.getServerInfo();
      },
    });
  } catch (error) {
    graph.stop();
    await driver.close();
    throw error;
  }
  return {
    ...server,
    stop: async () => {
      graph.stop();
      await server.stop();
      await driver.close();
    },
  };
}
