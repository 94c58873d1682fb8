import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureServices, type Neo4jEndpoint, type ServiceEndpoints } from '../../scripts/lib/services.ts';
import { startNeo4j } from '../../scripts/lib/neo4j.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** PostgreSQL (a test database), Redis and Neo4j shared by integration tests (unique ids per test) */
    services: ServiceEndpoints;
    /** a Neo4j owned by the end-to-end tests alone: they run one at a time and may wipe it */
    e2eNeo4j: Neo4jEndpoint | null;
  }
}

const log = (message: string): void => {
  process.stderr.write(`[test services] ${message}\n`);
};

interface SharedServices {
  running: Promise<Awaited<ReturnType<typeof ensureServices>>>;
  users: number;
}

// Vitest runs this setup once per project (integration, e2e) in one process; both must share
// one set of servers (a Neo4j store can have only one owner), so they are kept on globalThis
// with a count of users, and stopped by the last one out.
const registry = globalThis as typeof globalThis & { __platformTestServices?: SharedServices };

async function acquireServices() {
  registry.__platformTestServices ??= { running: ensureServices({ database: 'movie_platform_test', log }), users: 0 };
  registry.__platformTestServices.users += 1;
  return registry.__platformTestServices.running;
}

async function releaseServices(): Promise<void> {
  const shared = registry.__platformTestServices;
  if (!shared) return;
  shared.users -= 1;
  if (shared.users > 0) return;
  registry.__platformTestServices = undefined;
  await (await shared.running).stop();
}

// Starts (or finds) the real databases once per test run; `npm test` needs nothing running
// beforehand. What this setup started, it stops.
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const services = await acquireServices();
  project.provide('services', {
    databaseUrl: services.databaseUrl,
    redisUrl: services.redisUrl,
    neo4j: services.neo4j,
  });

  let e2eNeo4j: Awaited<ReturnType<typeof startNeo4j>> | null = null;
  let e2eHome: string | null = null;
  if (project.name === 'e2e') {
    e2eHome = mkdtempSync(join(tmpdir(), 'e2e-neo4j-'));
    e2eNeo4j = await startNeo4j({ home: e2eHome, port: 0, heapMb: 512, pageCacheMb: 128 });
    log(`e2e Neo4j at ${e2eNeo4j.uri}`);
  }
  project.provide('e2eNeo4j', e2eNeo4j ? { uri: e2eNeo4j.uri, user: e2eNeo4j.user, password: e2eNeo4j.password } : null);

  return async () => {
    await e2eNeo4j?.stop();
    if (e2eHome) rmSync(e2eHome, { recursive: true, force: true });
    await releaseServices();
  };
}
