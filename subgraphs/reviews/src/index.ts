import {
  checkRedis,
  closeRedis,
  connectRedis,
  createLogger,
  createReleaseStack,
  envReader,
  loadTypeDefs,
  type Redis,
  type RunningServer,
  startProducerRelay,
  streamOf,
} from '@platform/shared';
import { readPostgresSubgraphConfig, startPostgresSubgraph, type PostgresSubgraphOptions } from '@platform/shared/postgres-subgraph';
import { createReviewsData } from './data.ts';
import { startKnownMoviesConsumer } from './known-movies.ts';
import { createReviewsLoaders } from './loaders.ts';
import { resolvers, type ReviewsContext } from './resolvers.ts';
import { createWriteLimiter } from './write-limits.ts';

export function readReviewsConfig(env: Record<string, string | undefined> = process.env) {
  const read = envReader(env);
  return {
    ...readPostgresSubgraphConfig(env, 4003),
    redisUrl: read.url('REDIS_URL', ['redis:', 'rediss:'], 'redis://127.0.0.1:6379'),
    writeLimits: {
      perUserPerWindow: read.int('REVIEW_WRITES_PER_MINUTE_PER_USER', 60, { min: 1 }),
      perAddressPerWindow: read.int('REVIEW_WRITES_PER_MINUTE_PER_ADDRESS', 300, { min: 1 }),
      windowSeconds: 60,
    },
  };
}

export interface ReviewsSubgraphOptions extends PostgresSubgraphOptions {
  /** A Redis connection (relay and write limits) instead of one to REDIS_URL; the caller closes it. */
  redis?: Redis;
  /** The stream the relay publishes to (default `events:reviews`); tests use one of their own. */
  eventStream?: string;
  /** The movies stream whose movie.created events feed known_movies (default `<EVENT_STREAM_PREFIX>:movies`); tests use one of their own. */
  movieEventStream?: string;
  /** Prefix of the write-limit counters (default "reviews:write-limit:"); tests use one per server. */
  writeLimitKeyPrefix?: string;
}


/**
 * The reviews subgraph plus the relay that publishes its outbox (review.*, reaction.*,
 * exclusion.*) to `events:reviews`, and the consumer of `events:movies` that keeps known_movies
 * (the movies writes are accepted for). The relay and the consumer have small pools of their own:
 * the relay's LISTEN connection is held for the process's life and neither may take a slot from
 * requests.
 */
export async function startReviewsSubgraph(
  env: Record<string, string | undefined> = process.env,
  options: ReviewsSubgraphOptions = {},
): Promise<RunningServer> {
  const config = readReviewsConfig(env);
  const { redis: givenRedis, eventStream, movieEventStream, writeLimitKeyPrefix, ...postgresOptions } = options;
  const logger = createLogger('reviews', { level: config.logLevel });

  const releases = createReleaseStack(logger);

  try {
    const redis = givenRedis ?? connectRedis(config.redisUrl, { name: 'reviews', logger });
    if (!givenRedis) {
      releases.push(() => closeRedis(redis));
    }
    await checkRedis(redis);
    const writeLimiter = createWriteLimiter(redis, config.writeLimits, { keyPrefix: writeLimitKeyPrefix ?? 'reviews:write-limit:', logger });

    const relay = await startProducerRelay({ databaseUrl: config.databaseUrl, schemaName: 'reviews', redis, stream: eventStream ?? streamOf('reviews', config.eventStreamPrefix), logger, retainPublishedMs: config.outboxRetentionMs });
    releases.push(() => relay.stop());

    const knownMovies = await startKnownMoviesConsumer({
      databaseUrl: config.databaseUrl,
      redis,
      stream: movieEventStream ?? streamOf('movies', config.eventStreamPrefix),
      logger,
    });
    releases.push(() => knownMovies.stop());

    const server = await startPostgresSubgraph<ReviewsContext>({
      name: 'reviews',
      config,
      options: postgresOptions,
      typeDefs: loadTypeDefs(import.meta.url),
      resolvers,
      contextFor: (db) => {
        const data = createReviewsData(db);
        return (base) => ({ ...base, data, writeLimiter, loaders: createReviewsLoaders(data, base.viewer?.id ?? null) });
      },
      checkReady: async () => {
        await redis.ping();
      },
    });
    // The server stops first: in-flight writes finish (and append their events) before the relay stops.
    releases.push(() => server.stop());
    return { ...server, stop: releases.releaseAll };
  } catch (error) {
    await releases.releaseAll();
    throw error;
  }
}
