import {
  checkPostgres,
  checkRedis,
  connectPostgres,
  connectRedis,
  createLogger,
  createReleaseStack,
  envReader,
  loadTypeDefs,
  type RunningServer,
} from '@platform/shared';
import { readPostgresSubgraphConfig, startPostgresSubgraph, type PostgresSubgraphOptions } from '@platform/shared/postgres-subgraph';
import { analyticsStreamsFor, readGroupLag, startAnalyticsConsumer, streamList, type AnalyticsStreams } from './consumer.ts';
import { createAnalyticsData } from './data.ts';
import { resolvers, type AnalyticsContext } from './resolvers.ts';

export function readAnalyticsConfig(env: Record<string, string | undefined> = process.env) {
  return {
    ...readPostgresSubgraphConfig(env, 4005),
    redisUrl: envReader(env).url('REDIS_URL', ['redis:', 'rediss:'], 'redis://127.0.0.1:6379'),
  };
}

export interface AnalyticsSubgraphOptions extends PostgresSubgraphOptions {
  /** The streams the consumer reads (default `events:users`, `events:movies`, `events:reviews`); tests use their own. */
  eventStreams?: Partial<AnalyticsStreams>;
  /** The consumer's name within the `analytics` group; defaults to host and pid. */
  consumerName?: string;
}


/**
 * The analytics subgraph plus the consumer that keeps its read model: it reads the users, movies
 * and reviews event streams as the `analytics` consumer group. The consumer has a small pool of
 * its own, so a burst of events never takes a connection from admin queries, and its own Redis
 * connection, which it blocks on.
 */
export async function startAnalyticsSubgraph(env: Record<string, string | undefined> = process.env, options: AnalyticsSubgraphOptions = {}): Promise<RunningServer> {
  const config = readAnalyticsConfig(env);
  const { eventStreams, consumerName, ...postgresOptions } = options;
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

    const server = await startPostgresSubgraph<AnalyticsContext>({
      name: 'analytics',
      config,
      options: postgresOptions,
      typeDefs: loadTypeDefs(import.meta.url),
      resolvers,
      // A handful of cheap reads per request (primary-key reads and short index scans).
      poolSize: 5,
      contextFor: (db) => {
        const data = createAnalyticsData(db, { lag: () => readGroupLag(statusRedis, streamList(streams)) });
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
