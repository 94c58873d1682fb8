import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createScratchDatabase, ensureServices, ServiceError } from '../../scripts/lib/services.ts';

async function queryOnce<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function databaseExists(serverUrl: string, name: string): Promise<boolean> {
  const rows = await queryOnce(serverUrl, 'SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return rows.length === 1;
}

describe('ensureServices with the local servers', () => {
  it('uses PostgreSQL and Redis on their standard ports and starts nothing', async () => {
    const services = await ensureServices({ env: {}, need: { postgres: true, redis: true, neo4j: false } });
    try {
      expect(services.started).toEqual([]);
      expect(services.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/movie_platform');
      const [row] = await queryOnce<{ name: string }>(services.databaseUrl, 'SELECT current_database() AS name');
      expect(row?.name).toBe('movie_platform');
      const redis = new Redis(services.redisUrl);
      expect(await redis.ping()).toBe('PONG');
      redis.disconnect();
    } finally {
      await services.stop();
    }
  });

  it('creates the database a DATABASE_URL names when the server answers but it is missing', async () => {
    const name = `services_test_${Date.now().toString(36)}`;
    const url = `postgres://postgres@127.0.0.1:5432/${name}`;
    try {
      const services = await ensureServices({ env: { DATABASE_URL: url }, need: { postgres: true, redis: false, neo4j: false } });
      expect(services.databaseUrl).toBe(url);
      expect(await databaseExists('postgres://postgres@127.0.0.1:5432/postgres', name)).toBe(true);
    } finally {
      await queryOnce('postgres://postgres@127.0.0.1:5432/postgres', `DROP DATABASE IF EXISTS "${name}"`);
    }
  });
});

describe('ensureServices with a configured server that is unusable', () => {
  it('names REDIS_URL and says what to do when nothing answers there', async () => {
    const attempt = ensureServices({ env: { REDIS_URL: 'redis://127.0.0.1:1' }, need: { postgres: false, redis: true, neo4j: false } });
    await expect(attempt).rejects.toBeInstanceOf(ServiceError);
    await expect(attempt).rejects.toMatchObject({
      service: 'redis',
      variable: 'REDIS_URL',
      message:
        'REDIS_URL=redis://127.0.0.1:1 does not answer (connection refused): start Redis there or unset REDIS_URL to let the project start its own',
    });
  });

  it('says the credentials are wrong, without echoing the password', async () => {
    const attempt = ensureServices({
      env: { DATABASE_URL: 'postgres://no_such_role:hunter22@127.0.0.1:5432/movie_platform' },
      need: { postgres: true, redis: false, neo4j: false },
    });
    const error = await attempt.catch((caught: unknown) => caught);
    expect(error).toMatchObject({ variable: 'DATABASE_URL' });
    expect((error as Error).message).toMatch(/rejects the credentials/);
    expect((error as Error).message).not.toContain('hunter22');
  });

  it('asks for NEO4J_PASSWORD when only NEO4J_URI is set', async () => {
    const attempt = ensureServices({ env: { NEO4J_URI: 'bolt://127.0.0.1:7999' }, need: { postgres: false, redis: false, neo4j: true } });
    await expect(attempt).rejects.toMatchObject({ service: 'neo4j', variable: 'NEO4J_PASSWORD' });
  });

  it('reports a dead NEO4J_URI in one line', async () => {
    const attempt = ensureServices({
      env: { NEO4J_URI: 'bolt://127.0.0.1:7999', NEO4J_PASSWORD: 'whatever-it-is' },
      need: { postgres: false, redis: false, neo4j: true },
    });
    await expect(attempt).rejects.toThrow(
      'NEO4J_URI=bolt://127.0.0.1:7999 does not answer (connection refused): start Neo4j there or unset NEO4J_URI to let the project start its own',
    );
  });
});

describe('ensureServices starting private servers', () => {
  it('starts PostgreSQL and Redis under the data folder and stops exactly those', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'services-test-'));
    // mkdtemp makes the folder private to us; initdb runs as the postgres user and must reach into it.
    await chmod(dataDir, 0o755);
    try {
      const services = await ensureServices({ dataDir, env: {}, reuseLocalServers: false, database: 'private_test', need: { neo4j: false } });
      expect(services.started.sort()).toEqual(['postgres', 'redis']);
      expect(services.databaseUrl).not.toContain(':5432/');
      expect(services.redisUrl).not.toContain(':6379');
      const [row] = await queryOnce<{ name: string }>(services.databaseUrl, 'SELECT current_database() AS name');
      expect(row?.name).toBe('private_test');
      const redis = new Redis(services.redisUrl);
      expect(await redis.ping()).toBe('PONG');
      redis.disconnect();

      await services.stop();
      await expect(queryOnce(services.databaseUrl, 'SELECT 1')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      const probe = new Redis(services.redisUrl, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => {});
      await expect(probe.connect()).rejects.toThrow();
      probe.disconnect();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('createScratchDatabase', () => {
  it('creates a uniquely named database and drops it, even with a connection left open', async () => {
    const serverUrl = 'postgres://postgres@127.0.0.1:5432/postgres';
    const scratch = await createScratchDatabase(serverUrl, 'Services Test');
    const name = new URL(scratch.url).pathname.slice(1);
    expect(name).toMatch(/^services_test_[a-z0-9]+$/);
    expect(await databaseExists(serverUrl, name)).toBe(true);

    const forgotten = new pg.Client({ connectionString: scratch.url });
    forgotten.on('error', () => {});
    await forgotten.connect();
    await scratch.drop();
    expect(await databaseExists(serverUrl, name)).toBe(false);
    await forgotten.end().catch(() => {});
  });
});
