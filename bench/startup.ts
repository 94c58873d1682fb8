// Foundation figures, side by side in one run:
//   1. Neo4j runtime: first fetch into an empty project cache vs the cached call
//   2. Neo4j start to READY and its resident memory
//   3. synthetic demo seed and ml-latest-small import (PostgreSQL + Neo4j)
//   4. cold `npm start` to the first answered query, with and without cached Neo4j jars, and that
//      Ctrl-C (SIGINT) leaves nothing running
// Usage: npm run bench:startup [-- --skip-start]
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '@platform/shared';
import { generateSyntheticDataset } from '../scripts/lib/synthetic.ts';
import { defaultMovieLensDir, readMovieLensDataset } from '../scripts/lib/movielens.ts';
import { loadDataset } from '../scripts/lib/load-dataset.ts';
import { migrateAll } from '../scripts/lib/migrations.ts';
import { ensureNeo4jRuntime, startNeo4j } from '../scripts/lib/neo4j.ts';
import { createScratchDatabase, ensureServices } from '../scripts/lib/services.ts';

const rows: [string, string][] = [];
const record = (what: string, value: string): void => {
  rows.push([what, value]);
  process.stderr.write(`  ${what}: ${value}\n`);
};
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const timed = async <T>(task: () => Promise<T>): Promise<[T, number]> => {
  const started = performance.now();
  const result = await task();
  return [result, performance.now() - started];
};
const residentMb = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
};
const scratchDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755); // a private PostgreSQL runs as the postgres user and must traverse it
  return dir;
};

const services = await ensureServices({ need: { postgres: true, redis: true }, log: () => {} });

// 1. Neo4j runtime
{
  const emptyCache = scratchDir('bench-neo4j-cache-');
  const [, cold] = await timed(() => ensureNeo4jRuntime({ cacheRoot: emptyCache }));
  const [, warm] = await timed(() => ensureNeo4jRuntime({ cacheRoot: emptyCache }));
  record('Neo4j runtime, empty project cache (Maven repository warm)', seconds(cold));
  record('Neo4j runtime, cached', `${warm.toFixed(0)} ms`);
  rmSync(emptyCache, { recursive: true, force: true });
}

// 2 + 3. Neo4j start, memory, seed and import
const neo4jHome = scratchDir('bench-neo4j-');
const [neo4j, neo4jStart] = await timed(() => startNeo4j({ home: neo4jHome, port: 0 }));
record('Neo4j start to READY (heap 512 MB, page cache 256 MB)', seconds(neo4jStart));
record('Neo4j resident memory after start', `${residentMb(neo4j.pid).toFixed(0)} MB`);
try {
  const target = async () => {
    const database = await createScratchDatabase(services.databaseUrl, 'bench_load');
    await migrateAll(database.url);
    return database;
  };
  const seedDb = await target();
  const [seeded, seedMs] = await timed(() => loadDataset(generateSyntheticDataset(), { databaseUrl: seedDb.url, neo4j }));
  record(`synthetic demo seed (${seeded.ratings.total} ratings, ${seeded.movies.total} movies, ${seeded.users.total} users)`, seconds(seedMs));
  await seedDb.drop();

  if (existsSync(join(defaultMovieLensDir, 'ratings.csv'))) {
    const mlDb = await target();
    const [, importMs] = await timed(async () => loadDataset(await readMovieLensDataset(defaultMovieLensDir), { databaseUrl: mlDb.url, neo4j }));
    record('ml-latest-small import (100,836 ratings, PostgreSQL + Neo4j)', seconds(importMs));
    await mlDb.drop();
  } else {
    record('ml-latest-small import', `skipped: ${defaultMovieLensDir} not present`);
  }
} finally {
  await neo4j.stop();
  rmSync(neo4jHome, { recursive: true, force: true });
}

// 4. cold npm start
async function coldStart(label: string, runtimeCache: string | undefined): Promise<void> {
  const dataDir = scratchDir('bench-start-');
  const database = await createScratchDatabase(services.databaseUrl, 'bench_start');
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, DATABASE_URL: database.url, REDIS_URL: services.redisUrl };
  delete env.NEO4J_URI;
  if (runtimeCache) env.NEO4J_RUNTIME_CACHE = runtimeCache;
  const started = performance.now();
  const child = spawn(process.execPath, [join(repoRoot, 'scripts', 'start.ts'), '--free-ports'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const endpoint = await new Promise<string>((resolve, reject) => {
    const onLine = (line: string): void => {
      lines.push(line);
      const match = /GraphQL endpoint: (\S+)/.exec(line);
      if (match?.[1]) resolve(match[1]);
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${lines.slice(-20).join('\n')}`)));
  });
  let answered = false;
  while (!answered) {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ movies(first: 1) { totalCount edges { node { title averageRating } } } }' }),
    }).catch(() => null);
    const body = response ? ((await response.json()) as { data?: { movies?: { totalCount: number } } }) : null;
    answered = (body?.data?.movies?.totalCount ?? 0) > 0;
  }
  record(`cold npm start to first answered query, ${label}`, seconds(performance.now() - started));
  const [, stopMs] = await timed(
    () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGINT');
      }),
  );
  const ownerFile = join(dataDir, 'neo4j', 'neo4j.owner.json');
  const neo4jPid = existsSync(ownerFile) ? (JSON.parse(readFileSync(ownerFile, 'utf8')) as { pid?: number }).pid : undefined;
  const leftover = neo4jPid !== undefined && existsSync(`/proc/${neo4jPid}`);
  const gatewayPort = new URL(endpoint).port;
  const gatewayStillUp = await fetch(`http://127.0.0.1:${gatewayPort}/health`).then(
    () => true,
    () => false,
  );
  record(`Ctrl-C stop, ${label}`, `${seconds(stopMs)}; processes left running: ${leftover || gatewayStillUp ? 'YES' : 'none'}`);
  await database.drop();
  rmSync(dataDir, { recursive: true, force: true });
}

if (!process.argv.includes('--skip-start')) {
  const emptyCache = scratchDir('bench-start-cache-');
  await coldStart('Neo4j jars not cached', emptyCache);
  await coldStart('Neo4j jars cached', undefined);
  rmSync(emptyCache, { recursive: true, force: true });
}

await services.stop();
process.stdout.write(`\n| measurement | result |\n|---|---|\n${rows.map(([what, value]) => `| ${what} | ${value} |`).join('\n')}\n`);
