// The precomputed recommendation model on ml-latest-small: build time per phase, then serving
// latency over HTTP. Prints figures, asserts nothing (tests never time).
//
//   npm run bench:recommendation-model -- [--builds 3] [--requests 4000] [--concurrency 32] [--no-serving] [--no-load]
//                                         [--think-ms 1000,100,30] [--paced-requests 1920] [--only <text>] [--pin]
//
// Uses the Neo4j at NEO4J_URI / NEO4J_USER / NEO4J_PASSWORD when set (it writes the dataset and
// the 'default' model into it: use a scratch database), otherwise starts a private one (1 GB heap,
// 512 MB page cache) in a temporary folder and removes it after. The dataset is read from
// ../shared/data/ml-latest-small (research use only, never bundled); without it the bench skips.
//
// 1. Loads the dataset into the graph with the production write path (graph.ts), ids as the
//    dataset's (movie 1 = graph movie 1, user 1 = "ml-user-1"). `--no-load` skips the writes when
//    the graph at NEO4J_URI holds them from an earlier run.
// 2. Builds the model `--builds` times with buildModelNow (the code path of the admin mutation
//    and the schedule): read / compute / write / activate per build; the first runs on a cold JVM.
//    After each, the version it superseded is retired (its edges deleted), timed on its own.
// 3. Starts the recommendations subgraph as its own process (so the load generator does not share
//    its event loop) with the Redis cache off, no automatic builds and NODE_ENV=production (as the
//    Docker image sets it), signs tokens with a key
//    whose JWKS this bench serves, and measures `recommendations(first: 20)` for random users and
//    `Movie.similarMovies(first: 10)` (through `_entities`, as the gateway calls it) for random
//    movies: one client alone, then `--concurrency` clients: p50, p99 and throughput. A last row,
//    `{ __typename }` with a user's token, is the floor: what HTTP, the token check and GraphQL
//    cost on this machine before any recommendation work. Each row also shows the CPU time per
//    request of the subgraph, Neo4j (its pid: known when the bench starts it, else NEO4J_PID)
//    and the load generator (this process), read from /proc: where a request's time goes.
// 4. The same users with think times (`--think-ms`, exponential with that mean, after every
//    answer) for a random user's recommendations and a random movie's similarMovies: latency at
//    the rates people browsing produce, rather than with every client sending back to back.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { connectNeo4j, repoRoot, type Driver, type Neo4jSettings } from '@platform/shared';
import { defaultMovieLensDir, readMovieLensDataset } from '../scripts/lib/movielens.ts';
import { startNeo4j } from '../scripts/lib/neo4j.ts';
import { ensureServices } from '../scripts/lib/services.ts';
import { ensureGraphSchema, upsertGraphMovies, upsertGraphRatings, upsertGraphUsers, type GraphRating } from '../subgraphs/recommendations/src/graph.ts';
import { buildModelNow, type BuildSummary } from '../subgraphs/recommendations/src/model/builder.ts';
import { defaultModelKey, retireOldVersions } from '../subgraphs/recommendations/src/model/store.ts';

const { values: args } = parseArgs({
  options: {
    builds: { type: 'string', default: '3' },
    requests: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '32' },
    'no-serving': { type: 'boolean', default: false },
    'no-load': { type: 'boolean', default: false },
    'think-ms': { type: 'string', default: '1000,100,30' },
    'paced-requests': { type: 'string', default: '1920' },
    only: { type: 'string', default: '' },
    pin: { type: 'boolean', default: false },
  },
});
const builds = Number(args.builds);
const requests = Number(args.requests);
const concurrency = Number(args.concurrency);
const thinkTimes = args['think-ms'] === '' ? [] : args['think-ms'].split(',').map(Number);
const pacedRequests = Number(args['paced-requests']);
if (thinkTimes.some((value) => !Number.isFinite(value) || value <= 0)) {
  console.error(`--think-ms takes positive milliseconds separated by commas (or '' for none), got '${args['think-ms']}'`);
  process.exit(2);
}
const log = (message: string): void => {
  process.stderr.write(`${message}\n`);
};

if (!existsSync(join(defaultMovieLensDir, 'ratings.csv'))) {
  console.log(`bench:recommendation-model skipped: ml-latest-small not found at ${defaultMovieLensDir} (download it from grouplens.org; it is never bundled)`);
  process.exit(0);
}

let settings: Neo4jSettings;
let stopNeo4j = async (): Promise<void> => {};
// For the CPU columns: the JVM's pid (NEO4J_PID when the Neo4j is someone else's).
let neo4jPid: number | null = process.env.NEO4J_PID ? Number(process.env.NEO4J_PID) : null;
if (process.env.NEO4J_URI && process.env.NEO4J_PASSWORD) {
  settings = { uri: process.env.NEO4J_URI, user: process.env.NEO4J_USER ?? 'neo4j', password: process.env.NEO4J_PASSWORD };
} else {
  const home = await mkdtemp(join(tmpdir(), 'bench-recommendation-model-'));
  const server = await startNeo4j({ home, port: 0, heapMb: 1024, pageCacheMb: 512 });
  settings = { uri: server.uri, user: server.user, password: server.password };
  neo4jPid = server.pid;
  stopNeo4j = async () => {
    await server.stop();
    await rm(home, { recursive: true, force: true });
  };
}

const driver = connectNeo4j(settings);
const cleanups: (() => Promise<void>)[] = [];
let subgraph: ChildProcess | undefined;
const eventStreamPrefix = `bench-recommendation-model-${process.pid}`;
try {
  const dataset = await loadMovieLens(driver);

  // -------------------------------------------------------------------------------------------
  // Builds

  const summaries: { summary: BuildSummary; retireMs: number; retiredEdges: number }[] = [];
  for (let run = 1; run <= builds; run++) {
    const summary = await buildModelNow(driver, { modelKey: defaultModelKey, retireAfterMs: 3_600_000 });
    const retireStarted = performance.now();
    const retired = await retireOldVersions(driver, defaultModelKey, { graceMs: 0 });
    const retireMs = performance.now() - retireStarted;
    summaries.push({ summary, retireMs, retiredEdges: retired.edgesDeleted });
    const { read, compute, write, activate } = summary.phaseMillis;
    log(
      `build ${run}: ${ms(read + compute + write + activate)} (read ${ms(read)}, compute ${ms(compute)}, write ${ms(write)}, activate ${ms(activate)}); ` +
        `${summary.interactions.toLocaleString('en')} interactions, ${summary.model.similarityEdges.toLocaleString('en')} edges; retired ${retired.edgesDeleted.toLocaleString('en')} edges in ${ms(retireMs)}`,
    );
  }

  console.log(
    `\nModel build on ml-latest-small (${dataset.ratings.toLocaleString('en')} ratings, ${dataset.users} users, ${dataset.movies.toLocaleString('en')} movies); ` +
      `Neo4j ${settings.uri}; load average ${loadavg().map((load) => load.toFixed(1)).join(' ')} on ${cpus().length} CPUs\n`,
  );
  console.log('| build | read | compute (worker) | write | activate | total (target <= 10 s) | similarity edges | then retiring the previous version |\n|---|---:|---:|---:|---:|---:|---:|---:|');
  summaries.forEach(({ summary, retireMs, retiredEdges }, index) => {
    const { read, compute, write, activate } = summary.phaseMillis;
    console.log(
      `| ${index + 1} | ${ms(read)} | ${ms(compute)} | ${ms(write)} | ${ms(activate)} | ${ms(read + compute + write + activate)} | ${summary.model.similarityEdges.toLocaleString('en')} | ` +
        `${retiredEdges > 0 ? `${retiredEdges.toLocaleString('en')} edges in ${ms(retireMs)}` : '-'} |`,
    );
  });

  // -------------------------------------------------------------------------------------------
  // Serving

  if (!args['no-serving']) {
    const tokens = await startTokenIssuer();
    cleanups.push(tokens.stop);
    const url = await startSubgraph(tokens.jwksUrl);
    if (args.pin) pinSubgraphToItsOwnCpu();
    cleanups.push(stopSubgraph);

    const userTokens = await Promise.all(dataset.userIds.map((userId) => tokens.sign(userId)));
    const newcomerToken = await tokens.sign('bench-newcomer-without-ratings');
    const recommendationsQuery = 'query($first: Int) { recommendations(first: $first) { movie { id } score because { id } source } }';
    const similarQuery = `query($representations: [_Any!]!) {
      _entities(representations: $representations) { ... on Movie { similarMovies(first: 10) { movie { id } score source } } }
    }`;
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

    interface Kind {
      name: string;
      request: () => { query: string; variables: Record<string, unknown>; token?: string };
      /** also measured with think times (the two the targets name) */
      paced?: boolean;
    }
    const kinds: Kind[] = [
      {
        name: 'recommendations(first: 20), random user',
        request: () => ({ query: recommendationsQuery, variables: { first: 20 }, token: pick(userTokens) }),
        paced: true,
      },
      {
        name: 'similarMovies(first: 10), random movie',
        request: () => ({ query: similarQuery, variables: { representations: [{ __typename: 'Movie', id: String(pick(dataset.movieIds)) }] } }),
        paced: true,
      },
      {
        name: 'similarMovies(first: 10), one of the 100 most rated',
        request: () => ({ query: similarQuery, variables: { representations: [{ __typename: 'Movie', id: String(pick(dataset.mostRatedMovieIds)) }] } }),
      },
      {
        name: 'similarMovies(first: 10), page of 20 random movies',
        request: () => ({
          query: similarQuery,
          variables: { representations: Array.from({ length: 20 }, () => ({ __typename: 'Movie', id: String(pick(dataset.movieIds)) })) },
        }),
      },
      { name: 'recommendations(first: 20), user without ratings', request: () => ({ query: recommendationsQuery, variables: { first: 20 }, token: newcomerToken }) },
      // The floor of this machine: the same HTTP, token check and GraphQL pipeline, no resolver and
      // no database. No request kind can beat it at the same concurrency.
      { name: 'floor: `{ __typename }`, random user (no resolver, no database)', request: () => ({ query: '{ __typename }', variables: {}, token: pick(userTokens) }) },
    ];

    // --only: the request kinds whose name contains the text (e.g. to profile one of them).
    const measured = kinds.filter((kind) => kind.name.includes(args.only));
    // node:http with kept-alive sockets rather than fetch: the load generator shares the two CPUs
    // with the subgraph and Neo4j, and fetch cost it about twice the CPU per request.
    const target = new URL(url);
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    cleanups.push(async () => agent.destroy());
    const post = (body: string, token: string | undefined): Promise<string> =>
      new Promise((resolve, reject) => {
        const request = httpRequest(
          {
            agent,
            host: target.hostname,
            port: target.port,
            path: target.pathname,
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(token ? { authorization: `Bearer ${token}` } : {}) },
          },
          (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
            response.on('error', reject);
          },
        );
        request.on('error', reject);
        request.end(body);
      });
    const send = async (kind: Kind): Promise<number> => {
      const { query, variables, token } = kind.request();
      const started = performance.now();
      const text = await post(JSON.stringify({ query, variables }), token);
      const elapsed = performance.now() - started;
      const body = JSON.parse(text) as { errors?: { message: string }[] };
      if (body.errors) throw new Error(`${kind.name}: ${body.errors[0]?.message}`);
      return elapsed;
    };
    interface Measured {
      latencies: number[];
      seconds: number;
      /** CPU milliseconds per request: the subgraph, Neo4j (null: pid unknown) and this load generator. */
      cpu: { subgraph: number | null; neo4j: number | null; loadGenerator: number };
    }
    /**
     * `clients` clients send `count` requests in all, each one after its previous answer; with
     * `thinkMs`, each also pauses a random think time (exponential, that mean) after every answer,
     * and they start staggered over one think time rather than in one burst.
     */
    const measure = async (kind: Kind, count: number, clients: number, thinkMs = 0): Promise<Measured> => {
      const latencies: number[] = [];
      let next = 0;
      const cpuBefore = { subgraph: processCpuMs(subgraph?.pid), neo4j: processCpuMs(neo4jPid), own: process.cpuUsage() };
      const started = performance.now();
      await Promise.all(
        Array.from({ length: clients }, async () => {
          if (thinkMs > 0) await sleep(random() * thinkMs);
          while (next < count) {
            next++;
            latencies.push(await send(kind));
            if (thinkMs > 0) await sleep(-Math.log(1 - random()) * thinkMs);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const own = process.cpuUsage(cpuBefore.own);
      const perRequest = (before: number | null, after: number | null) => (before === null || after === null ? null : (after - before) / count);
      return {
        latencies: latencies.sort((a, b) => a - b),
        seconds,
        cpu: {
          subgraph: perRequest(cpuBefore.subgraph, processCpuMs(subgraph?.pid)),
          neo4j: perRequest(cpuBefore.neo4j, processCpuMs(neo4jPid)),
          loadGenerator: (own.user + own.system) / 1000 / count,
        },
      };
    };

    log(`serving: warming up, then ${requests} requests per kind with ${concurrency} concurrent clients`);
    for (const kind of measured) await measure(kind, 300, concurrency);
    const cpuCell = (value: number | null): string => (value === null ? '-' : value.toFixed(2));
    const rows: string[] = [];
    for (const kind of measured) {
      const alone = await measure(kind, 200, 1);
      const loaded = await measure(kind, requests, concurrency);
      const row = [
        kind.name,
        percentile(alone.latencies, 0.5).toFixed(1),
        percentile(loaded.latencies, 0.5).toFixed(1),
        percentile(loaded.latencies, 0.99).toFixed(1),
        String(Math.round(loaded.latencies.length / loaded.seconds)),
        cpuCell(loaded.cpu.subgraph),
        cpuCell(loaded.cpu.neo4j),
        cpuCell(loaded.cpu.loadGenerator),
      ];
      rows.push(`| ${row.join(' | ')} |`);
      log(`  ${row.join('  ')}`);
    }

    // The same users with a think time between a response and their next request (exponential,
    // mean --think-ms): what 32 people browsing see, as opposed to 32 clients sending back to back.
    const pacedRows: string[] = [];
    const paced = measured.filter((kind) => kind.paced);
    for (const thinkMs of thinkTimes) {
      for (const kind of paced) {
        const result = await measure(kind, pacedRequests, concurrency, thinkMs);
        const row = [
          kind.name,
          String(thinkMs),
          percentile(result.latencies, 0.5).toFixed(1),
          percentile(result.latencies, 0.99).toFixed(1),
          result.latencies.at(-1)?.toFixed(1) ?? '-',
          String(Math.round(result.latencies.length / result.seconds)),
        ];
        pacedRows.push(`| ${row.join(' | ')} |`);
        log(`  ${row.join('  ')}`);
      }
    }

    console.log(
      `\nServing over HTTP (recommendations subgraph, own process, cache off; targets: recommendations p99 <= 15 ms, similarMovies p99 <= 10 ms at 32 clients); ` +
        `load average ${loadavg().map((load) => load.toFixed(1)).join(' ')} on ${cpus().length} CPUs${args.pin ? '; the subgraph pinned to a CPU of its own (--pin)' : ''}\n`,
    );
    console.log(
      `| request | 1 client p50 ms | ${concurrency} clients p50 ms | p99 ms | req/s | CPU ms per request: subgraph | Neo4j | load generator |\n|---|---:|---:|---:|---:|---:|---:|---:|`,
    );
    for (const row of rows) console.log(row);
    if (pacedRows.length > 0) {
      console.log(`\n${concurrency} users, each waiting a think time (exponential, mean as shown) between a response and their next request:\n`);
      console.log('| request | think time ms | p50 ms | p99 ms | max ms | req/s |\n|---|---:|---:|---:|---:|---:|');
      for (const row of pacedRows) console.log(row);
    }
  }
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => log(`cleanup failed: ${String(error)}`));
  await driver.close();
  await stopNeo4j();
}

// ---------------------------------------------------------------------------------------------

function ms(value: number): string {
  return value >= 1_000 ? `${(value / 1_000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

/**
 * --pin: the subgraph alone on the last CPU, this process (the load generator) and Neo4j on the
 * others (every thread, with taskset), as when clients and database run on other machines.
 */
function pinSubgraphToItsOwnCpu(): void {
  const count = cpus().length;
  if (count < 2 || !subgraph?.pid) {
    log('--pin: needs at least 2 CPUs and the subgraph running; not pinned');
    return;
  }
  const others = count === 2 ? '0' : `0-${count - 2}`;
  try {
    execFileSync('taskset', ['-a', '-cp', String(count - 1), String(subgraph.pid)], { stdio: 'ignore' });
    execFileSync('taskset', ['-a', '-cp', others, String(process.pid)], { stdio: 'ignore' });
    if (neo4jPid) execFileSync('taskset', ['-a', '-cp', others, String(neo4jPid)], { stdio: 'ignore' });
    log(`--pin: the subgraph on CPU ${count - 1}; the load generator${neo4jPid ? ' and Neo4j' : ''} on CPU ${others}`);
  } catch (error) {
    log(`--pin: taskset failed (${error instanceof Error ? error.message : String(error)}); not pinned`);
  }
}

/** CPU time (user + system) a process has used so far, from /proc; null where unknown. */
function processCpuMs(pid: number | null | undefined): number | null {
  if (!pid) return null;
  // /proc reports CPU time in USER_HZ ticks, 100 per second on every Linux architecture Node runs on.
  // (A function-local constant: module-level ones below the bench's top-level code are not yet initialised when it runs.)
  const clockTicksPerSecond = 100;
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond;
  } catch {
    return null;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

async function loadMovieLens(target: Driver, write = !args['no-load']) {
  const started = performance.now();
  const dataset = await readMovieLensDataset(defaultMovieLensDir);
  const idOf = (key: string): number => Number(key.slice(key.lastIndexOf(':') + 1));
  const userIdOf = (key: string): string => `ml-user-${idOf(key)}`;
  await ensureGraphSchema(target);
  if (write) {
    await upsertGraphMovies(
      target,
      dataset.movies.map((movie) => ({ id: idOf(movie.key), title: movie.title, year: movie.year, genres: movie.genres })),
    );
    await upsertGraphUsers(
      target,
      dataset.users.map((user) => ({ id: userIdOf(user.key), favoriteGenres: user.favoriteGenres })),
    );
  }
  const ratings: GraphRating[] = [];
  const ratingCounts = new Map<number, number>();
  for (const rating of dataset.ratings()) {
    const movieId = idOf(rating.movieKey);
    ratings.push({ userId: userIdOf(rating.userKey), movieId, rating: rating.rating, at: rating.at.getTime() });
    ratingCounts.set(movieId, (ratingCounts.get(movieId) ?? 0) + 1);
  }
  if (write) await upsertGraphRatings(target, ratings);
  log(`${write ? 'loaded' : 'using'} ml-latest-small in ${settings.uri}: ${dataset.movies.length} movies, ${dataset.users.length} users, ${ratings.length} ratings in ${ms(performance.now() - started)}`);
  return {
    ratings: ratings.length,
    users: dataset.users.length,
    movies: dataset.movies.length,
    userIds: dataset.users.map((user) => userIdOf(user.key)),
    movieIds: [...ratingCounts.keys()],
    mostRatedMovieIds: [...ratingCounts].sort((a, b) => b[1] - a[1]).slice(0, 100).map(([movieId]) => movieId),
  };
}

/** A signing key pair whose public half this bench serves as a JWKS, as the users subgraph does. */
async function startTokenIssuer(): Promise<{ jwksUrl: string; sign(userId: string): Promise<string>; stop(): Promise<void> }> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const kid = 'bench-recommendation-model';
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' }] });
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(jwks);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    sign: (userId) =>
      new SignJWT({ role: 'USER' })
        .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
        .setSubject(userId)
        .setIssuer('movie-platform')
        .setAudience('movie-platform-api')
        .setIssuedAt()
        .setExpirationTime('2h')
        .sign(privateKey),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}


async function startSubgraph(jwksUrl: string): Promise<string> {
  const services = await ensureServices({ need: { redis: true }, log: () => {} });
  cleanups.push(() => services.stop());
  cleanups.push(async () => {
    // The subgraph's consumer groups created streams (and the cache keys) under the bench's prefix.
    const redis = new Redis(services.redisUrl);
    const keys = await redis.keys(`${eventStreamPrefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  const child = spawn(process.execPath, [join(repoRoot, 'subgraphs', 'recommendations', 'src', 'main.ts')], {
    env: {
      ...process.env,
      NEO4J_URI: settings.uri,
      NEO4J_USER: settings.user,
      NEO4J_PASSWORD: settings.password,
      REDIS_URL: services.redisUrl,
      JWKS_URL: jwksUrl,
      // Streams of its own: the bench must not consume (or be slowed by) anyone's events.
      EVENT_STREAM_PREFIX: eventStreamPrefix,
      RECOMMENDATION_MODEL_REBUILD_MINUTES: '0',
      RECOMMENDATION_CACHE_TTL_SECONDS: '0',
      // As the Docker image runs it: graphql-js skips its development-mode checks.
      NODE_ENV: 'production',
      PORT: '0',
      // info: the bench waits for the line saying the model's serving copy is loaded.
      LOG_LEVEL: 'info',
      APOLLO_TELEMETRY_DISABLED: '1',
    },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  subgraph = child;
  // Measured is the steady state: the subgraph listening and its copy of the model loaded.
  const copyLoaded = new Promise<void>((resolve) => {
    let pending = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes('loaded the recommendation model for serving')) {
          log(`subgraph: ${line}`);
          resolve();
        } else if (/"level":"(warn|error)"/.test(line)) log(`subgraph: ${line}`);
      }
    });
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (message: { type?: string; url?: string }) => {
      if (message.type === 'listening' && message.url) resolve(message.url);
    });
    child.once('exit', (code) => reject(new Error(`the recommendations subgraph exited with code ${code} before listening`)));
  });
  await copyLoaded;
  return url;
}

async function stopSubgraph(): Promise<void> {
  if (!subgraph || subgraph.exitCode !== null) return;
  const exited = new Promise((resolve) => subgraph?.once('exit', resolve));
  subgraph.kill('SIGTERM');
  await exited;
}
