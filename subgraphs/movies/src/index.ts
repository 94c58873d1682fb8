import {
  checkPostgres,
  checkRedis,
  closeRedis,
  connectPostgres,
  connectRedis,
  createLogger,
  createReleaseStack,
  envReader,
  loadTypeDefs,
  type PostgresHandle,
  type Redis,
  type RunningServer,
  startProducerRelay,
  streamOf,
} from '@platform/shared';
import { readPostgresSubgraphConfig, startPostgresSubgraph, type PostgresSubgraphOptions } from '@platform/shared/postgres-subgraph';
import { createCatalogWrites } from './catalog.ts';
import { createMoviesData } from './data.ts';
import { createMoviesContext, resolvers, type MoviesContext } from './resolvers.ts';

export function readMoviesConfig(env: Record<string, string | undefined> = process.env) {
  const read = envReader(env);
  return {
    ...readPostgresSubgraphConfig(env, 4002),
    /** A read replica of DATABASE_URL's database; searches, listings and lookups go there when set. */
    databaseReadUrl: read.optionalUrl('DATABASE_READ_URL', ['postgres:', 'postgresql:']) ?? null,
    redisUrl: read.url('REDIS_URL', ['redis:', 'rediss:'], 'redis://127.0.0.1:6379'),
  };
}

export interface MoviesSubgraphOptions extends PostgresSubgraphOptions {
  /** A pool for reads instead of one to DATABASE_READ_URL (tests observe its queries); the caller closes it. */
  readPostgres?: PostgresHandle;
  /** A Redis connection for the outbox relay instead of one to REDIS_URL; the caller closes it. */
  redis?: Redis;
  /** The stream the relay publishes to (default `<EVENT_STREAM_PREFIX>:movies`); tests use one of their own. */
  eventStream?: string;
}


/**
 * The movies subgraph plus the relay that publishes its outbox (movie.created, movie.updated).
 * The relay has a small pool of its own: its LISTEN connection is held for the process's life and
 * must not take a slot from requests.
 */
export async function startMoviesSubgraph(env: Record<string, string | undefined> = process.env, options: MoviesSubgraphOptions = {}): Promise<RunningServer> {
  const config = readMoviesConfig(env);
  const { readPostgres: givenReadPostgres, redis: givenRedis, eventStream, ...postgresOptions } = options;
  const logger = createLogger('movies', { level: config.logLevel });

  const releases = createReleaseStack(logger);

  try {
    const readPostgres =
      givenReadPostgres ??
      (config.databaseReadUrl === null ? null : connectPostgres(config.databaseReadUrl, { applicationName: 'movies-read', logger }));
    if (readPostgres && !givenReadPostgres) releases.push(() => readPostgres.close());
    if (readPostgres) await checkPostgres(readPostgres.pool, 'DATABASE_READ_URL');

    const redis = givenRedis ?? connectRedis(config.redisUrl, { name: 'movies-outbox-relay', logger });
    if (!givenRedis) {
      releases.push(() => closeRedis(redis));
    }
    await checkRedis(redis);

    const relay = await startProducerRelay({ databaseUrl: config.databaseUrl, schemaName: 'movies', redis, stream: eventStream ?? streamOf('movies', config.eventStreamPrefix), logger, retainPublishedMs: config.outboxRetentionMs });
    releases.push(() => relay.stop());

    const server = await startPostgresSubgraph<MoviesContext>({
      name: 'movies',
      config,
      options: postgresOptions,
      typeDefs: loadTypeDefs(import.meta.url),
      resolvers,
      contextFor: (db) => {
        const primary = createMoviesData(db);
        const sources = { primary, replica: readPostgres ? createMoviesData(readPostgres.db) : primary, catalog: createCatalogWrites(db) };
        return (base) => createMoviesContext(base, sources);
      },
    });
    // The server stops first: in-flight writes finish (and append their events) before the relay stops.
    releases.push(() => server.stop());
    if (readPostgres) logger.info('reads go to the read replica (DATABASE_READ_URL)');
    return { ...server, stop: releases.releaseAll };
  } catch (error) {
    await releases.releaseAll();
    throw error;
  }
}
