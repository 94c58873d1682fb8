import { randomInt, randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { connectPostgres, type PostgresHandle, type Role, type RunningServer } from '@platform/shared';
import { createTestTokens, graphqlClient, logPoolQueries, type GraphQLTestClient, type QueryLog } from '@platform/shared/testing';
import { migrateAll } from '../../../../scripts/lib/migrations.ts';
import { createScratchDatabase } from '../../../../scripts/lib/services.ts';
import { startReviewsSubgraph } from '../../src/index.ts';

// The reviews subgraph over real HTTP against a scratch database with every migration applied,
// for the integration tests of one file. Users and movies live in other subgraphs: tests make up
// their ids (random, so tests never meet) and sign tokens with a key pair of their own.

export interface TestUser {
  id: string;
  token: string;
}

export interface ReviewsHarness {
  graphql: GraphQLTestClient;
  /** every statement the subgraph sends through its pool */
  queries: QueryLog;
  rows<T>(text: string, values?: unknown[]): Promise<T[]>;
  newUser(role?: Role): Promise<TestUser>;
  stop(): Promise<void>;
}

export const newMovieId = (): string => String(randomInt(1, 2 ** 40));

export async function startReviewsHarness(prefix: string): Promise<ReviewsHarness> {
  const serverUrl = inject('services')?.databaseUrl ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const scratch = await createScratchDatabase(serverUrl, prefix);
  let postgres: PostgresHandle | undefined;
  let server: RunningServer | undefined;
  const stop = async () => {
    await server?.stop();
    await postgres?.close();
    await scratch.drop();
  };
  try {
    await migrateAll(scratch.url);
    postgres = connectPostgres(scratch.url, { applicationName: `${prefix}-test` });
    const pool = postgres.pool;
    const queries = logPoolQueries(pool);
    const tokens = await createTestTokens();
    server = await startReviewsSubgraph({ DATABASE_URL: scratch.url, PORT: '0', LOG_LEVEL: 'error' }, { postgres, verifier: tokens.verifier });
    return {
      graphql: graphqlClient(server.url),
      queries,
      rows: async <T>(text: string, values: unknown[] = []) => (await pool.query(text, values)).rows as T[],
      newUser: async (role: Role = 'USER') => {
        const id = randomUUID();
        return { id, token: await tokens.sign(id, { role }) };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
