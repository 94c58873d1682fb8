import { join } from 'node:path';
import { createLocalJWKSet } from 'jose';
import { createTokenVerifier, defaultDataDir, envReader, loadTypeDefs, type RunningServer } from '@platform/shared';
import { readPostgresSubgraphConfig, startPostgresSubgraph, type PostgresSubgraphOptions } from '@platform/shared/postgres-subgraph';
import { createUsersData } from './data.ts';
import { createUsersLoaders } from './loaders.ts';
import { resolvers, type UsersContext } from './resolvers.ts';
import { loadOrCreateKeyFile, toSigningKeys } from './tokens.ts';

export function readUsersConfig(env: Record<string, string | undefined> = process.env) {
  const read = envReader(env);
  return {
    ...readPostgresSubgraphConfig(env, 4001),
    keysFile: read.string('JWT_KEYS_FILE', join(defaultDataDir(env), 'keys', 'signing-keys.json')),
    accessTokenTtlSeconds: read.int('ACCESS_TOKEN_TTL_SECONDS', 900, { min: 30, max: 86_400 }),
    refreshTokenTtlSeconds: read.int('REFRESH_TOKEN_TTL_SECONDS', 30 * 86_400, { min: 60 }),
  };
}

export async function startUsersSubgraph(
  env: Record<string, string | undefined> = process.env,
  options: PostgresSubgraphOptions = {},
): Promise<RunningServer> {
  const config = readUsersConfig(env);
  const keys = await toSigningKeys(await loadOrCreateKeyFile(config.keysFile));
  const tokens = {
    keys,
    settings: { issuer: config.jwtIssuer, audience: config.jwtAudience, ttlSeconds: config.accessTokenTtlSeconds },
    refreshTtlSeconds: config.refreshTokenTtlSeconds,
  };
  return startPostgresSubgraph<UsersContext>({
    name: 'users',
    config,
    options: {
      // The users subgraph verifies with its own key set instead of fetching its own JWKS over HTTP.
      verifier: createTokenVerifier({ issuer: config.jwtIssuer, audience: config.jwtAudience, keys: createLocalJWKSet(keys.jwks) }),
      ...options,
    },
    typeDefs: loadTypeDefs(import.meta.url),
    resolvers,
    contextFor: (db) => {
      const data = createUsersData(db);
      return (base) => ({ ...base, data, loaders: createUsersLoaders(data), tokens });
    },
    routes: (app) => {
      app.get('/.well-known/jwks.json', (_request, response) => {
        response.setHeader('cache-control', 'public, max-age=300');
        response.json(keys.jwks);
      });
    },
  });
}
