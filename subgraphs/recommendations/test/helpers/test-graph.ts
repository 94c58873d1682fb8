import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectNeo4j, type Driver, type Neo4jSettings } from '@platform/shared';
import { startNeo4j } from '../../../../scripts/lib/neo4j.ts';
import { ensureGraphSchema } from '../../src/graph.ts';

// Each integration test file owns a private Neo4j in a temporary home: popularity, the one global
// ranking, would otherwise depend on what other suites wrote. Within a file, tests use unique ids.

export interface TestGraph {
  driver: Driver;
  settings: Neo4jSettings;
  stop(): Promise<void>;
}

export async function startTestGraph(): Promise<TestGraph> {
  const home = await mkdtemp(join(tmpdir(), 'recommendations-neo4j-'));
  const server = await startNeo4j({ home, port: 0, heapMb: 512, pageCacheMb: 128 });
  const settings = { uri: server.uri, user: server.user, password: server.password };
  const driver = connectNeo4j(settings);
  await ensureGraphSchema(driver);
  return {
    driver,
    settings,
    async stop() {
      await driver.close();
      await server.stop();
      await rm(home, { recursive: true, force: true });
    },
  };
}

/**
 * The environment of a recommendations subgraph started in a test: this Neo4j (or `neo4j` as
 * given, e.g. a closed port), the test Redis, a free port on loopback; `extra` adds or overrides.
 */
export function subgraphEnv(neo4j: Neo4jSettings, redisUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return { NEO4J_URI: neo4j.uri, NEO4J_USER: neo4j.user, NEO4J_PASSWORD: neo4j.password, REDIS_URL: redisUrl, PORT: '0', HOST: '127.0.0.1', ...extra };
}

/** Ids no other test uses: a random block of movie ids, prefixed user ids and genre names. */
export function uniqueIds() {
  // Below 10^14, so every id stays within the 15 digits parseMovieId accepts (2^40 * 1000 blocks
  // reached 16 digits in ~9% of runs, and such a movie's similarMovies was [] over GraphQL).
  const base = randomInt(1, 10 ** 11) * 1_000;
  const tag = base.toString(36);
  return {
    movie: (n: number) => base + n,
    user: (name: string) => `user-${tag}-${name}`,
    genre: (name: string) => `${name}-${tag}`,
  };
}

/** Relationship counts of the given users, by type: what an idempotent write must leave unchanged. */
export async function relationshipCounts(driver: Driver, userIds: string[]): Promise<Record<string, number>> {
  const { records } = await driver.executeQuery(
    `MATCH (u:User)-[r]->() WHERE u.id IN $userIds
     RETURN type(r) AS type, count(r) AS count ORDER BY type`,
    { userIds },
  );
  return Object.fromEntries(records.map((record) => [record.get('type') as string, record.get('count') as number]));
}
