import type { DocumentNode } from 'graphql';
import { createTokenVerifier, type TokenVerifier } from './auth.ts';
import { envReader, readCommonConfig, type CommonConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { checkPostgres, connectPostgres, sqlStatementCounts, statementCountingEnabled, type Database, type PostgresHandle } from './postgres.ts';
import { startSubgraphServer, type RequestContext, type RunningServer, type SubgraphServerOptions } from './subgraph-server.ts';

// The wiring every subgraph that keeps its data in PostgreSQL repeats: configuration, token
// verifier, pool, server, and a stop that releases them in order.

export interface PostgresSubgraphConfig extends CommonConfig {
  host: string;
  port: number;
  databaseUrl: string;
  /** Producers (users, movies, reviews): how long published outbox rows are kept; null = for ever. */
  outboxRetentionMs: number | null;
}

export function readPostgresSubgraphConfig(env: Record<string, string | undefined>, defaultPort: number): PostgresSubgraphConfig {
  const read = envReader(env);
  return {
    ...readCommonConfig(env),
    host: read.string('HOST', '127.0.0.1'),
    port: read.port('PORT', defaultPort),
    databaseUrl: read.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    outboxRetentionMs: outboxRetentionOf(read.int('OUTBOX_RETENTION_HOURS', 168, { min: 0, max: 24 * 365 })),
  };
}

/** OUTBOX_RETENTION_HOURS in ms; 0 means keep published rows for ever. */
function outboxRetentionOf(hours: number): number | null {
  return hours === 0 ? null : hours * 3_600_000;
}

/** What a caller (tests, mostly) may hand in instead of what the configuration describes. */
export interface PostgresSubgraphOptions {
  /** Verifies access tokens; defaults to the users subgraph's JWKS at JWKS_URL. Tests pass a local key set. */
  verifier?: TokenVerifier;
  /** A pool to use instead of one to DATABASE_URL (tests observe its queries); the caller closes it. */
  postgres?: PostgresHandle;
}

export interface PostgresSubgraphSpec<TContext extends RequestContext> {
  name: string;
  config: PostgresSubgraphConfig;
  options: PostgresSubgraphOptions;
  typeDefs: DocumentNode;
  resolvers: SubgraphServerOptions<TContext>['resolvers'];
  /** Called once with the database; returns what turns each request's base context into TContext. */
  contextFor(db: Database): (base: RequestContext) => TContext;
  /** Extra HTTP routes (the users subgraph's JWKS). */
  routes?: SubgraphServerOptions<TContext>['routes'];
  /** Further readiness checks beyond PostgreSQL (e.g. Redis); throws when not ready. */
  checkReady?(): Promise<void>;
  /** Pool size; the default suits a read-heavy subgraph. */
  poolSize?: number;
}

export async function startPostgresSubgraph<TContext extends RequestContext>(spec: PostgresSubgraphSpec<TContext>): Promise<RunningServer> {
  const { config, options } = spec;
  const logger = createLogger(spec.name, { level: config.logLevel });
  const verifier =
    options.verifier ?? createTokenVerifier({ issuer: config.jwtIssuer, audience: config.jwtAudience, keys: config.jwksUrl, logger });
  const postgres = options.postgres ?? connectPostgres(config.databaseUrl, { applicationName: spec.name, logger, ...(spec.poolSize ? { max: spec.poolSize } : {}) });
  const closePostgres = options.postgres ? async () => {} : () => postgres.close();

  try {
    await checkPostgres(postgres.pool);
    const server = await startSubgraphServer<TContext>({
      name: spec.name,
      typeDefs: spec.typeDefs,
      resolvers: spec.resolvers,
      host: config.host,
      port: config.port,
      logger,
      verifier,
      createContext: spec.contextFor(postgres.db),
      checkReady: async () => {
        await postgres.pool.query('SELECT 1');
        await spec.checkReady?.();
      },
      routes: (app) => {
        spec.routes?.(app);
        // Test-only (SQL_STATEMENT_COUNTING=1, see postgres.ts): statements this process sent so far.
        if (statementCountingEnabled()) app.get('/test/sql-statements', (_request, response) => response.json(sqlStatementCounts()));
      },
    });
    return {
      ...server,
      stop: async () => {
        await server.stop();
        await closePostgres();
      },
    };
  } catch (error) {
    // A failed start (e.g. the port is taken) must not leave the pool keeping the process alive.
    await closePostgres();
    throw error;
  }
}
