import {
  checkPostgres,
  checkRedis,
  connectPostgres,
  connectRedis,
  createLogger,
  createReleaseStack,
  envReader,
  loadTypeDefs,
  type Logger,
  type Redis,
  type RunningServer,
} from '@platform/shared';
import { readPostgresSubgraphConfig, startPostgresSubgraph, type PostgresSubgraphOptions } from '@platform/shared/postgres-subgraph';
import { cacheNamespaceOf, createReadCache, withReadCache } from './cache.ts';
import { analyticsStreamsFor, readGroupLag, startAnalyticsConsumer, streamList, type AnalyticsStreams } from './consumer.ts';
import { createAnalyticsData } from './data.ts';
import { resolvers, type AnalyticsContext } from './resolvers.ts';
import { defaultProcessedEventsRetentionMs, startProcessedEventsPruner } from './retention.ts';

export function readAnalyticsConfig(env: Record<string, string | undefined> = process.env) {
  const read = envReader(env);
  const redisUrl = read.url('REDIS_URL', ['redis:', 'rediss:'], 'redis://127.0.0.1:6379');
  return {
    ...readPostgresSubgraphConfig(env, 4005),
    redisUrl,
    /** how long topMovies, mostActiveUsers and activity answers are served from Redis; 0 = no cache */
    cacheTtlSeconds: read.int('ANALYTICS_CACHE_TTL_SECONDS', 5, { min: 0, max: 3_600 }),
    /** the cache may live in another Redis than the streams (one that may evict, say) */
    cacheRedisUrl: read.url('ANALYTICS_CACHE_REDIS_URL', ['redis:', 'rediss:'], redisUrl),
    /** how long applied event ids are kept (src/retention.ts); 0 = forever */
    processedEventsRetentionHours: read.int('ANALYTICS_PROCESSED_EVENTS_RETENTION_HOURS', defaultProcessedEventsRetentionMs / 3_600_000, { min: 0, max: 87_600 }),
  };
}

export interface AnalyticsSubgraphOptions extends PostgresSubgraphOptions {
  /** The streams the consumer reads (default `events:users`, `events:movies`, `events:reviews`); tests use their own. */
  eventStreams?: Partial<AnalyticsStreams>;
  /** The consumer's name within the `analytics` group; defaults to host and pid. */
  consumerName?: string;
  /** How often processed event ids past their retention are deleted (default 10 minutes). */
  processedEventsPruneEveryMs?: number;
}


/**
 * The analytics subgraph plus the consumer that keeps its read model: it reads the users, movies
 * and reviews event streams as the `analytics` consumer group. The consumer has a small pool of
 * its own, so a burst of events never takes a connection from admin queries, and its own Redis
 * connection, which it blocks on.
 */
export async function startAnalyticsSubgraph(env: Record<string, string | undefined> = process.env, options: AnalyticsSubgraphOptions = {}): Promise<RunningServer> {
  const config = readAnalyticsConfig(env);
  const { eventStreams, consumerName, processedEventsPruneEveryMs, ...postgresOptions } = options;
  const streams: AnalyticsStreams = { ...analyticsStreamsFor(config.eventStreamPrefix), ...eventStreams };
  const logger = createLogger('analytics', { level: config.logLevel });

  const releases = createReleaseStack(logger);

  try {
    const redis = connectRedis(config.redisUrl, { name: 'analytics-consumer', logger });
    let consumerOwnsRedis = false;
    releases.push(async () => {
      // Once handed to the consumer, its stop() disconnects the connection.
      if (!consumerOwnsRedis) redis.disconnect();
    });
    await checkRedis(redis);

    // For eventLag: the consumer's own connection blocks in XREADGROUP.
    const statusRedis = connectRedis(config.redisUrl, { name: 'analytics-status', logger });
    releases.push(async () => statusRedis.disconnect());

    const cacheRedis = config.cacheTtlSeconds > 0 ? connectRedis(config.cacheRedisUrl, { name: 'analytics-cache', logger }) : null;
    if (cacheRedis) {
      releases.push(async () => cacheRedis.disconnect());
      // The cache is optional: its Redis being down does not stop the start (requests read
      // PostgreSQL meanwhile), but a short wait lets the first requests use it.
      await waitForCache(cacheRedis, logger);
    }

    const consumerPostgres = connectPostgres(config.databaseUrl, { applicationName: 'analytics-consumer', max: 2, logger });
    releases.push(() => consumerPostgres.close());
    await checkPostgres(consumerPostgres.pool);
    const consumer = await startAnalyticsConsumer({
      db: consumerPostgres.db,
      redis,
      streams,
      logger,
      ...(consumerName ? { consumerName } : {}),
    });
    consumerOwnsRedis = true;
    releases.push(() => consumer.stop());
    if (config.processedEventsRetentionHours > 0) {
      const pruner = startProcessedEventsPruner({
        db: consumerPostgres.db,
        redis: statusRedis,
        streams: streamList(streams),
        logger,
        retainMs: config.processedEventsRetentionHours * 3_600_000,
        everyMs: processedEventsPruneEveryMs ?? 10 * 60_000,
      });
      releases.push(() => pruner.stop());
    }

    const server = await startPostgresSubgraph<AnalyticsContext>({
      name: 'analytics',
      config,
      options: postgresOptions,
      typeDefs: loadTypeDefs(import.meta.url),
      resolvers,
      // A handful of cheap reads per request (primary-key reads and short index scans).
      poolSize: 5,
      contextFor: (db) => {
        const uncached = createAnalyticsData(db, { lag: () => readGroupLag(statusRedis, streamList(streams)) });
        const data = cacheRedis
          ? withReadCache(uncached, createReadCache({ redis: cacheRedis, ttlSeconds: config.cacheTtlSeconds, namespace: cacheNamespaceOf(config.databaseUrl), logger }))
          : uncached;
        return (base) => ({ ...base, data });
      },
    });
    // The server stops first: in-flight requests finish before the connections they use close.
    releases.push(() => server.stop());
    return { ...server, stop: releases.releaseAll };
  } catch (error) {
    await releases.releaseAll();
    throw error;
  }
}

/** Waits up to a second for the cache's connection; logs and carries on without it otherwise. */
async function waitForCache(redis: Redis, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('no answer within 1 s'), 1_000);
  });
  const reason = await Promise.race([redis.ping().then(() => null, (error: unknown) => (error instanceof Error ? error.message : String(error))), waited]);
  clearTimeout(timer);
  if (reason !== null) logger.warn('analytics cache not reachable at start; answering from PostgreSQL until it is', { reason });
}
