import { createLocalJWKSet } from 'jose';
import {
  ConfigError,
  connectRedis,
  createLogger,
  createReleaseStack,
  createTokenVerifier,
  envReader,
  loadTypeDefs,
  type Redis,
  type RunningServer,
  startProducerRelay,
  streamOf,
} from '@platform/shared';
import { readPostgresSubgraphConfig, startPostgresSubgraph, type PostgresSubgraphOptions } from '@platform/shared/postgres-subgraph';
import { createUsersData } from './data.ts';
import { createUsersLoaders } from './loaders.ts';
import { createOidcVerifier, readOidcConfig } from './oidc.ts';
import { resolvers, type UsersContext } from './resolvers.ts';
import { createLoginThrottle } from './throttle.ts';
import { loadOrCreateKeyFile, signingKeysFile, toSigningKeys } from './tokens.ts';

export function readUsersConfig(env: Record<string, string | undefined> = process.env) {
  const read = envReader(env);
  return {
    ...readPostgresSubgraphConfig(env, 4001),
    redisUrl: read.url('REDIS_URL', ['redis:', 'rediss:'], 'redis://127.0.0.1:6379'),
    keysFile: signingKeysFile(env),
    accessTokenTtlSeconds: read.int('ACCESS_TOKEN_TTL_SECONDS', 900, { min: 30, max: 86_400 }),
    refreshTokenTtlSeconds: read.int('REFRESH_TOKEN_TTL_SECONDS', 30 * 86_400, { min: 60 }),
    loginThrottle: {
      maxFailuresPerUsername: read.int('LOGIN_MAX_FAILURES_PER_USERNAME', 5, { min: 1 }),
      maxFailuresPerAddress: read.int('LOGIN_MAX_FAILURES_PER_ADDRESS', 30, { min: 1 }),
      windowSeconds: read.int('LOGIN_FAILURE_WINDOW_SECONDS', 900, { min: 1, max: 86_400 }),
    },
    oidc: readOidcConfig(env),
  };
}

export interface UsersSubgraphOptions extends PostgresSubgraphOptions {
  /** A Redis connection to use instead of one to REDIS_URL; the caller closes it. */
  redis?: Redis;
  /**
   * Prefix of the login-throttle counters in Redis (default "users:login-failures:"). Tests give
   * each server its own, so failures counted by one test never throttle another.
   */
  loginThrottleKeyPrefix?: string;
  /** The stream the outbox relay publishes to (default `<EVENT_STREAM_PREFIX>:users`); tests use one of their own. */
  eventStream?: string;
}

/** Fails start-up with one line naming REDIS_URL, instead of a service whose every login fails. */
async function checkRedis(redis: Redis): Promise<void> {
  // The failed PING only says that retries ran out; the connection error says why.
  let connectionError: string | undefined;
  const remember = (error: Error): void => {
    connectionError = error.message;
  };
  redis.on('error', remember);
  try {
    await redis.ping();
  } catch (error) {
    const reason = connectionError ?? (error instanceof Error ? error.message : String(error));
    throw new ConfigError('REDIS_URL', `does not answer (${reason}): start Redis there or fix the URL`);
  } finally {
    redis.off('error', remember);
  }
}

/**
 * The users subgraph plus the relay that publishes its outbox (user.registered,
 * user.profile-updated) to `<EVENT_STREAM_PREFIX>:users`. The relay has a small pool of its own:
 * its LISTEN connection is held for the process's life and must not take a slot from requests.
 */
export async function startUsersSubgraph(
  env: Record<string, string | undefined> = process.env,
  options: UsersSubgraphOptions = {},
): Promise<RunningServer> {
  const config = readUsersConfig(env);
  const { redis: givenRedis, loginThrottleKeyPrefix, eventStream, ...postgresOptions } = options;
  // Read at every start: `npm run keys:rotate` prepends a key, and a restart starts signing with it.
  const keys = await toSigningKeys(await loadOrCreateKeyFile(config.keysFile));
  const tokens = {
    keys,
    settings: { issuer: config.jwtIssuer, audience: config.jwtAudience, ttlSeconds: config.accessTokenTtlSeconds },
    refreshTtlSeconds: config.refreshTokenTtlSeconds,
  };
  const logger = createLogger('users', { level: config.logLevel });
  const oidc = config.oidc ? createOidcVerifier(config.oidc, logger) : null;
  const releases = createReleaseStack(logger);
  try {
    const redis = givenRedis ?? connectRedis(config.redisUrl, { name: 'users', logger });
    if (!givenRedis) {
      releases.push(async () => {
        // QUIT lets pending replies arrive; on a connection that never came up it would only wait.
        if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
        else redis.disconnect();
      });
    }
    await checkRedis(redis);
    const throttle = createLoginThrottle(redis, config.loginThrottle, { keyPrefix: loginThrottleKeyPrefix ?? 'users:login-failures:', logger });

    const relay = await startProducerRelay({ databaseUrl: config.databaseUrl, schemaName: 'users', redis, stream: eventStream ?? streamOf('users', config.eventStreamPrefix), logger, retainPublishedMs: config.outboxRetentionMs });
    releases.push(() => relay.stop());

    const server = await startPostgresSubgraph<UsersContext>({
      name: 'users',
      config,
      options: {
        // The users subgraph verifies with its own key set instead of fetching its own JWKS over HTTP.
        verifier: createTokenVerifier({ issuer: config.jwtIssuer, audience: config.jwtAudience, keys: createLocalJWKSet(keys.jwks) }),
        ...postgresOptions,
      },
      typeDefs: loadTypeDefs(import.meta.url),
      resolvers,
      contextFor: (db) => {
        const data = createUsersData(db);
        return (base) => ({ ...base, data, loaders: createUsersLoaders(data), tokens, throttle, oidc });
      },
      checkReady: async () => {
        await redis.ping();
      },
      routes: (app) => {
        app.get('/.well-known/jwks.json', (_request, response) => {
          response.setHeader('cache-control', 'public, max-age=300');
          response.json(keys.jwks);
        });
      },
    });
    // The server stops first: in-flight sign-ups finish (and append their events) before the relay stops.
    releases.push(() => server.stop());
    return { ...server, stop: releases.releaseAll };
  } catch (error) {
    await releases.releaseAll();
    throw error;
  }
}
