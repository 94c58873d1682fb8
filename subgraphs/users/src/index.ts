import { join } from 'node:path';
import { createLocalJWKSet } from 'jose';
import {
  connectPostgres,
  createLogger,
  createTokenVerifier,
  defaultDataDir,
  envReader,
  loadTypeDefs,
  readCommonConfig,
  startSubgraphServer,
  type RunningServer,
} from '@platform/shared';
import { createUsersData } from './data.ts';
import { createUsersLoaders } from './loaders.ts';
import { resolvers, type UsersContext } from './resolvers.ts';
import { loadOrCreateKeyFile, toSigningKeys } from './tokens.ts';

export function readUsersConfig(env: Record<string, string | undefined> = process.env) {
  const read = envReader(env);
  return {
    ...readCommonConfig(env),
    host: read.string('HOST', '127.0.0.1'),
    port: read.port('PORT', 4001),
    databaseUrl: read.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    keysFile: read.string('JWT_KEYS_FILE', join(defaultDataDir(env), 'keys', 'signing-keys.json')),
    accessTokenTtlSeconds: read.int('ACCESS_TOKEN_TTL_SECONDS', 900, { min: 30, max: 86_400 }),
    refreshTokenTtlSeconds: read.int('REFRESH_TOKEN_TTL_SECONDS', 30 * 86_400, { min: 60 }),
  };
}

export async function startUsersSubgraph(env: Record<string, string | undefined> = process.env): Promise<RunningServer> {
  const config = readUsersConfig(env);
  const logger = createLogger('users', { level: config.logLevel });
  const postgres = connectPostgres(config.databaseUrl, { applicationName: 'users', logger });
  const data = createUsersData(postgres.db);
  const keys = await toSigningKeys(await loadOrCreateKeyFile(config.keysFile));
  // The users subgraph verifies with its own key set instead of fetching its own JWKS over HTTP.
  const verifier = createTokenVerifier({ issuer: config.jwtIssuer, audience: config.jwtAudience, keys: createLocalJWKSet(keys.jwks) });
  const tokens = {
    keys,
    settings: { issuer: config.jwtIssuer, audience: config.jwtAudience, ttlSeconds: config.accessTokenTtlSeconds },
    refreshTtlSeconds: config.refreshTokenTtlSeconds,
  };

  const server = await startSubgraphServer<UsersContext>({
    name: 'users',
    typeDefs: loadTypeDefs(import.meta.url),
    resolvers,
    host: config.host,
    port: config.port,
    logger,
    verifier,
    createContext: (base) => ({ ...base, data, loaders: createUsersLoaders(data), tokens }),
    checkReady: async () => {
      await postgres.pool.query('SELECT 1');
    },
    routes: (app) => {
      app.get('/.well-known/jwks.json', (_request, response) => {
        response.setHeader('cache-control', 'public, max-age=300');
        response.json(keys.jwks);
      });
    },
  });
  return {
    ...server,
    stop: async () => {
      await server.stop();
      await postgres.close();
    },
  };
}
