import {
  checkRedis,
  closeRedis,
  ConfigError,
  connectNeo4j,
  connectRedis,
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
import { startGraphEventConsumer, type GraphEventConsumerOptions } from './event-consumer.ts';
import { graphEventStreamsFor } from './graph-events.ts';
import { ensureGraphSchema } from './graph.ts';
import { isGraphAuthError, isGraphUnavailable } from './graph-errors.ts';
import { readNeo4jSettings } from './neo4j-settings.ts';
import { createModelAdmin, createModelBuilder, type ModelBuilderOptions } from './model/builder.ts';
import { createModelRecommender } from './model/model-recommender.ts';
import { defaultModelKey } from './model/store.ts';
import { createRecommendationLoaders } from './loaders.ts';
import { createCachedRecommender } from './cache.ts';
import { startLiveUpdates, type LiveUpdates } from './live-updates.ts';
import { resolvers, type RecommendationsContext } from './resolvers.ts';
import { createLiveChannels, createSubscriptionResolvers } from './subscriptions.ts';
import { defaultTombstoneRetentionMs, startTombstonePruner } from './tombstones.ts';

export { neo4jProtocols } from './neo4j-settings.ts';

export function readRecommendationsConfig(env: Record<string, string | undefined> = process.env) {
  const read = envReader(env);
  return {
    ...readCommonConfig(env),
    host: read.string('HOST', '127.0.0.1'),
    port: read.port('PORT', 4004),
    neo4j: readNeo4jSettings(read),
    /** The event streams the like-graph follows (reviews, movies, users). */
    redisUrl: read.url('REDIS_URL', ['redis:', 'rediss:'], 'redis://127.0.0.1:6379'),
    /** Per-user and per-movie lists in Redis (cache.ts); the TTL is a safety net, 0 turns the cache off. */
    recommendationCacheTtlSeconds: read.int('RECOMMENDATION_CACHE_TTL_SECONDS', 600, { min: 0, max: 7 * 86_400 }),
    /** Recomputation and live messages after a user's events, new-movie notifications (live-updates.ts). */
    liveUpdates: {
      coalesceMs: read.int('RECOMMENDATION_REFRESH_COALESCE_MS', 200, { min: 0, max: 60_000 }),
      concurrency: read.int('RECOMMENDATION_REFRESH_CONCURRENCY', 4, { min: 1, max: 64 }),
      maxNotifiedUsers: read.int('NEW_MOVIE_NOTIFICATION_MAX_USERS', 1_000, { min: 0, max: 100_000 }),
    },
    /** Rebuild the precomputed model this often; 0 = no automatic builds (not even at start), only rebuildRecommendationModel. */
    recommendationModelRebuildMinutes: read.int('RECOMMENDATION_MODEL_REBUILD_MINUTES', 60, { min: 0, max: 7 * 24 * 60 }),
    /** Keep the like-graph's tombstones this long at least (tombstones.ts); 0 = forever. */
    tombstoneRetentionHours: read.int('RECOMMENDATION_TOMBSTONE_RETENTION_HOURS', defaultTombstoneRetentionMs / 3_600_000, { min: 0, max: 87_600 }),
  };
}

export type RecommendationsConfig = ReturnType<typeof readRecommendationsConfig>;

export interface RecommendationsStartOptions {
  /** Tests inject a verifier over a local key set; otherwise tokens are checked against JWKS_URL. */
  verifier?: TokenVerifier;
  logger?: Logger;
  /**
   * Overrides for the event consumer; tests give it streams of their own (the real ones are
   * shared by every suite) and short waits.
   */
  events?: Partial<Omit<GraphEventConsumerOptions, 'redis' | 'driver' | 'logger' | 'isGraphReady' | 'onApplied'>>;
  /** Overrides for the model builds; tests hold a build before activation (hooks) or shorten the grace period. */
  model?: Omit<ModelBuilderOptions, 'rebuildEveryMs' | 'onActivated'>;
  /** How often tombstones past their retention are deleted (default 10 minutes). */
  tombstonePruneEveryMs?: number;
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

  // Released in reverse order of acquisition, on stop and on a failed start alike: the server
  // stops taking requests, then the consumer finishes its transaction, then the driver closes.
  const releases: (() => Promise<void>)[] = [];
  const releaseAll = async (): Promise<void> => {
    for (const release of releases.splice(0).reverse()) {
      await release().catch((error: unknown) => logger.warn('error while releasing a resource', { error: error instanceof Error ? error.message : String(error) }));
    }
  };

  try {
    const driver = connectNeo4j(config.neo4j);
    releases.push(() => driver.close());
    const graph = prepareGraph(driver, config, logger);
    releases.push(async () => graph.stop());
    await graph.start();

    // The consumer's connection blocks in XREADGROUP; it makes (and closes) a second one itself.
    const redis = connectRedis(config.redisUrl, { name: 'recommendations-events', logger });
    let consumerOwnsRedis = false;
    releases.push(async () => {
      if (!consumerOwnsRedis) redis.disconnect();
    });
    await checkRedis(redis);
    // Cache reads, invalidations and live messages: a connection of their own, never blocked.
    const cacheRedis = connectRedis(config.redisUrl, { name: 'recommendations-cache', logger });
    releases.push(() => closeRedis(cacheRedis));
    // Created with the recommender below; the consumer's first round cannot complete before.
    let liveUpdates: LiveUpdates | undefined;
    // Stopped after the consumer (whose last round it still hears about), before Redis closes.
    releases.push(async () => liveUpdates?.stop());
    const eventStreams = options.events?.streams ?? graphEventStreamsFor(config.eventStreamPrefix);
    const consumer = await startGraphEventConsumer({
      ...options.events,
      streams: eventStreams,
      redis,
      driver,
      logger,
      isGraphReady: graph.isReady,
      onApplied: (events) => liveUpdates?.eventsApplied(events),
    });
    consumerOwnsRedis = true;
    releases.push(() => consumer.stop());
    if (config.tombstoneRetentionHours > 0) {
      const pruner = startTombstonePruner({
        driver,
        redis: cacheRedis,
        streams: eventStreams,
        logger,
        retainMs: config.tombstoneRetentionHours * 3_600_000,
        everyMs: options.tombstonePruneEveryMs ?? 10 * 60_000,
        isGraphReady: graph.isReady,
      });
      releases.push(() => pruner.stop());
    }

    // The precomputed model serves; before its first build the live recommender does (inside).
    const modelKey = options.model?.modelKey ?? defaultModelKey;
    const recommender = createModelRecommender(driver, logger, { modelKey });
    // Its in-process copy of the active model loads in the background; until then requests read
    // the neighbours from the graph (and a failure here is retried on a later request).
    void recommender.preload().catch((error: unknown) => logger.warn('could not preload the recommendation model', { error: error instanceof Error ? error.message : String(error) }));
    // Wraps whichever engine is built above. A model switch must call servedRecommender.invalidateAll().
    const servedRecommender = createCachedRecommender(recommender, cacheRedis, {
      prefix: config.eventStreamPrefix,
      ttlSeconds: config.recommendationCacheTtlSeconds,
      logger,
    });
    // Model builds (model/builder.ts): one at start when none is active, then on schedule; each
    // activation drops the cached lists computed from the previous model.
    const builder = createModelBuilder(driver, logger, {
      ...options.model,
      modelKey,
      rebuildEveryMs: config.recommendationModelRebuildMinutes * 60_000,
      // The new version's serving copy loads first, so the requests that follow the cache
      // invalidation find it (other replicas load theirs on their next request).
      onActivated: async () => {
        await recommender.preload().catch((error: unknown) => logger.warn('could not preload the new model', { error: error instanceof Error ? error.message : String(error) }));
        await servedRecommender.invalidateAll();
      },
    });
    releases.push(() => builder.stop());
    builder.start();
    const models = createModelAdmin(driver, builder);
    liveUpdates = startLiveUpdates({ ...config.liveUpdates, cache: servedRecommender, redis: cacheRedis, driver, logger, prefix: config.eventStreamPrefix });
    // Subscriptions (subscriptions.ts): closed after the server has closed its sockets.
    const liveChannels = createLiveChannels({ redisUrl: config.redisUrl, prefix: config.eventStreamPrefix, logger });
    releases.push(() => liveChannels.close());
    const server = await startSubgraphServer<RecommendationsContext>({
      name: 'recommendations',
      typeDefs: loadTypeDefs(import.meta.url),
      resolvers: { ...resolvers, ...createSubscriptionResolvers(liveChannels, { bufferSize: 100 }) },
      // The gateway carries all users' subscriptions on a few multiplexed sockets (each operation
      // with its own token, verified here), so one connection holds thousands of operations: keep
      // maxOperationsPerConnection >= the gateway's WS_UPSTREAM_OPERATIONS_PER_SOCKET, and room in
      // the send buffer for one message per operation. The per-user connection cap only concerns
      // direct (non-multiplexed) connections.
      subscriptions: {
        allowMultiplexedConnections: true,
        limits: { maxOperationsPerConnection: 10_000, maxConnectionsPerUser: 50, maxMessageBytes: 256 * 1024, maxBufferedBytes: 64 * 1024 * 1024 },
      },
      host: config.host,
      port: config.port,
      logger,
      verifier,
      createContext: (base) => ({ ...base, recommender: servedRecommender, loaders: createRecommendationLoaders(servedRecommender), eventLag: () => consumer.lag(), models }),
      checkReady: async () => {
        if (!graph.isReady()) throw new Error('graph schema not ensured yet (Neo4j unreachable at start)');
        await driver.getServerInfo();
      },
    });
    releases.push(() => server.stop());
    return { ...server, stop: releaseAll };
  } catch (error) {
    await releaseAll();
    throw error;
  }
}
