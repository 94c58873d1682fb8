import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { connectPostgres, parseEvent, type AnyEvent, type PostgresHandle, type Role, type RunningServer } from '@platform/shared';
import { createTestTokens, graphqlClient, type GraphQLTestClient } from '@platform/shared/testing';
import { migrateAll } from '../../../../scripts/lib/migrations.ts';
import { createScratchDatabase } from '../../../../scripts/lib/services.ts';
import { startMoviesSubgraph, type MoviesSubgraphOptions } from '../../src/index.ts';

// The movies subgraph over real HTTP against a scratch database with every migration applied, its
// outbox relay publishing to a Redis stream of its own (removed afterwards), and tokens signed by a
// key pair the test owns.

export interface MoviesHarness {
  databaseUrl: string;
  graphql: GraphQLTestClient;
  /** a pool of the test's own (fixtures and checks), not the subgraph's */
  fixtures: PostgresHandle;
  stream: string;
  tokenFor(role: Role): Promise<string>;
  rows<T>(text: string, values?: unknown[]): Promise<T[]>;
  /** waits until the relay has published every outbox row, then returns the stream's events in order */
  publishedEvents(): Promise<AnyEvent[]>;
  stop(): Promise<void>;
}

/** What a test adds to the subgraph's start, made once its database exists. */
export interface HarnessSetup {
  options?: MoviesSubgraphOptions;
  env?: Record<string, string>;
  /** runs after the subgraph stopped (e.g. closes the pools the test handed in) */
  close?(): Promise<void>;
}

export async function startMoviesHarness(prefix: string, setupFor: (databaseUrl: string) => HarnessSetup = () => ({})): Promise<MoviesHarness> {
  const services = inject('services');
  const scratch = await createScratchDatabase(services.databaseUrl, prefix);
  const redis = new Redis(services.redisUrl);
  const stream = `test:movies:${randomUUID()}`;
  let fixtures: PostgresHandle | undefined;
  let server: RunningServer | undefined;
  let setup: HarnessSetup = {};
  const stop = async () => {
    await server?.stop();
    await setup.close?.();
    await fixtures?.close();
    await redis.del(stream);
    redis.disconnect();
    await scratch.drop();
  };
  try {
    await migrateAll(scratch.url);
    fixtures = connectPostgres(scratch.url, { applicationName: 'movies-test-fixtures', max: 4 });
    const tokens = await createTestTokens();
    setup = setupFor(scratch.url);
    server = await startMoviesSubgraph(
      { DATABASE_URL: scratch.url, REDIS_URL: services.redisUrl, PORT: '0', LOG_LEVEL: 'error', ...setup.env },
      { verifier: tokens.verifier, eventStream: stream, ...setup.options },
    );
    const pool = fixtures.pool;
    const rows = async <T>(text: string, values: unknown[] = []): Promise<T[]> => (await pool.query(text, values)).rows as T[];
    return {
      databaseUrl: scratch.url,
      graphql: graphqlClient(server.url),
      fixtures,
      stream,
      tokenFor: (role) => tokens.sign(randomUUID(), { role }),
      rows,
      publishedEvents: async () => {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const [pending] = await rows<{ n: number }>('SELECT count(*)::int AS n FROM movies.outbox WHERE published_at IS NULL');
          if (pending?.n === 0) break;
          if (Date.now() > deadline) throw new Error(`the relay left ${pending?.n} outbox rows unpublished for 10 s`);
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        const entries = await redis.xrange(stream, '-', '+');
        return entries.map(([, fields]) => parseEvent(fields[fields.indexOf('event') + 1] ?? ''));
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
