// Speed of the analytics subgraph: prints figures, asserts nothing (tests never time).
//
//   npm run bench:analytics -- [--mode all|reads|consumer] [--sizes 100000,5000000] [--requests 1000]
//                              [--rate-requests 3000] [--events 10000] [--explain]
//   (--requests 0: the database figures of the reads without the HTTP timing)
//
// reads: for each size (a number of synthetic ratings), a scratch database whose analytics read
//   model holds what that many ratings leave behind: movie_stats, user_activity,
//   activity_buckets (two years of hours, days and weeks) and platform_totals, written directly
//   (no ratings: no field reads them). The analytics subgraph runs as its own process on a free
//   port, with the cache off (ANALYTICS_CACHE_TTL_SECONDS=0, the honest figure) and then on (5 s);
//   one client sends `--requests` requests per field, one at a time, with an admin token (signed
//   here, verified by the subgraph through a JWKS this script serves): p50/p99 per field and size,
//   and the subgraph process's CPU time per request. Then what each field costs PostgreSQL: its
//   data-layer call runs once on a recording pool and every statement is EXPLAIN ANALYZEd (rows
//   read, pages, execution time: figures that do not depend on the machine's load); --explain
//   prints the plans too.
// consumer: (1) rateMovie load through the reviews subgraph (as bench/rate-movie.ts sends it), both
//   subgraphs as processes on one event-stream prefix of their own: requests/s, events applied/s,
//   the lag from each event's occurredAt to its application (analytics.processed_events.processed_at),
//   and the analytics group's pending entries over time. (2) raw catch-up: `--events` events
//   appended to fresh streams before the subgraph starts; events/s while it drains them.
//
// Everything (load generator, subgraphs, PostgreSQL, Redis) shares this machine's CPUs: figures
// are noisy when other work runs beside them; the load average is printed with them.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { createEvent, migrateSchema, repoRoot, type AnyEvent, type Role } from '@platform/shared';
import { seededRandom } from '@platform/shared/testing';
import { migrateAll } from '../scripts/lib/migrations.ts';
import { createScratchDatabase, ensureServices } from '../scripts/lib/services.ts';
import { analyticsConsumerGroup } from '../subgraphs/analytics/src/consumer.ts';
import { createAnalyticsData } from '../subgraphs/analytics/src/data.ts';
import type { Granularity } from '../subgraphs/analytics/src/tables.ts';

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'all' },
    sizes: { type: 'string', default: '100000,5000000' },
    requests: { type: 'string', default: '1000' },
    'rate-requests': { type: 'string', default: '3000' },
    events: { type: 'string', default: '10000' },
    explain: { type: 'boolean', default: false },
  },
});
const mode = args.mode;
if (mode !== 'all' && mode !== 'reads' && mode !== 'consumer') throw new Error(`--mode must be all, reads or consumer, got ${mode}`);
const sizes = args.sizes.split(',').map((size) => Number(size.trim()));
const requestsPerField = Number(args.requests);
const rateRequests = Number(args['rate-requests']);
const rawEvents = Number(args.events);

const log = (message: string): void => {
  process.stderr.write(`${message}\n`);
};
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))] ?? Number.NaN;
const sortedCopy = (values: number[]): number[] => [...values].sort((a, b) => a - b);
const machine = (): string => `load average ${loadavg().map((load) => load.toFixed(1)).join(' ')} on ${cpus().length} CPUs`;
const formatCount = (value: number): string => value.toLocaleString('en-US');
const sizeLabel = (ratings: number): string => (ratings >= 1_000_000 ? `${ratings / 1_000_000}M` : ratings >= 1_000 ? `${ratings / 1_000}k` : String(ratings));

const services = await ensureServices({ need: { postgres: true, redis: true, neo4j: false }, log: () => {} });
const redis = new Redis(services.redisUrl);

// ---------------------------------------------------------------------------------------------
// Tokens: a key pair of this script's, published as a JWKS the subgraph processes fetch (JWKS_URL)

const keyId = randomUUID();
const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: keyId, alg: 'EdDSA', use: 'sig' }] });
const jwksServer = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(jwks);
});
await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
const jwksAddress = jwksServer.address();
if (jwksAddress === null || typeof jwksAddress === 'string') throw new Error('the JWKS server has no port');
const jwksUrl = `http://127.0.0.1:${jwksAddress.port}/.well-known/jwks.json`;

/** A token as the users subgraph signs it (default issuer and audience), valid for the whole run. */
const signToken = (userId: string, role: Role): Promise<string> =>
  new SignJWT({ role })
    .setProtectedHeader({ alg: 'EdDSA', kid: keyId, typ: 'JWT' })
    .setSubject(userId)
    .setIssuer('movie-platform')
    .setAudience('movie-platform-api')
    .setIssuedAt()
    .setExpirationTime('3h')
    .sign(privateKey);
const adminToken = await signToken(randomUUID(), 'ADMIN');

// ---------------------------------------------------------------------------------------------
// Subgraph processes (the load generator must not share their event loop)

interface ServiceProcess {
  url: string;
  /** CPU seconds the process has used so far (user + system), from /proc: what requests cost it, whatever the load */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** utime + stime of a process in seconds (Linux /proc/<pid>/stat, in clock ticks of 1/100 s). */
function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    // The command name (field 2) may hold spaces: count the fields after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

const running = new Set<ChildProcess>();

function startService(name: 'analytics' | 'reviews', env: Record<string, string>): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [join(repoRoot, 'subgraphs', name, 'src', 'main.ts')], {
    env: { ...process.env, REDIS_URL: services.redisUrl, JWKS_URL: jwksUrl, PORT: '0', LOG_LEVEL: 'warn', APOLLO_TELEMETRY_DISABLED: '1', ...env },
    // JSON log lines (warnings only) go to this script's stderr: stdout holds the figures.
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  child.stdout?.pipe(process.stderr);
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));
  return new Promise((resolve, reject) => {
    child.once('message', (message: { type?: string; url?: string }) => {
      if (message.type !== 'listening' || !message.url) return;
      resolve({
        url: message.url,
        cpuSeconds: () => processCpuSeconds(child.pid),
        async stop() {
          if (child.exitCode === null) child.kill('SIGTERM');
          await exited;
        },
      });
    });
    child.once('exit', (code) => reject(new Error(`the ${name} subgraph exited with code ${code} before listening`)));
  });
}

interface GraphQLBody {
  data?: unknown;
  errors?: { message: string; extensions?: { code?: string } }[];
}

async function post(url: string, token: string, query: string, variables: Record<string, unknown>): Promise<GraphQLBody> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as GraphQLBody;
}

// ---------------------------------------------------------------------------------------------
// The read model of N ratings, written directly


function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const clampHalves = (value: number): number => Math.min(10, Math.max(1, Math.round(value)));

/**
 * The catalogue and audience that many ratings come with, anchored on MovieLens: ml-latest-small
 * has 100,836 ratings of 9,724 movies by 610 users, ml-25m 25M ratings of 62,423 movies by 162,541
 * users. Movies grow much slower than ratings; users about in proportion.
 */
function shapeOf(ratings: number): { movies: number; users: number } {
  return { movies: Math.round(9_700 * (ratings / 100_000) ** 0.37), users: Math.max(600, Math.round(ratings / 150)) };
}

interface GeneratedReadModel {
  movieIds: number[];
  userIds: string[];
  ratings: number;
}

/**
 * Writes what `ratings` ratings leave in the read model. Per-movie rating counts are log-normal
 * (a long tail: at 5M most movies have fewer than 10 ratings, a few have tens of thousands), each
 * movie has a quality around 3.5 stars, and a movie with few ratings gets them drawn one by one, so
 * its mean is as noisy as real small samples are (many 5.0 and 0.5 averages among them, which is
 * what the topMovies(by: RATING) walk has to step over).
 */
async function fillReadModel(pool: pg.Pool, ratings: number): Promise<GeneratedReadModel> {
  const { movies, users } = shapeOf(ratings);
  const random = seededRandom(ratings);

  const popularity = Array.from({ length: movies }, () => Math.exp(2.2 * normal(random)));
  const popularityTotal = popularity.reduce((sum, value) => sum + value, 0);
  const movieRows = { id: [] as number[], count: [] as number[], sum: [] as number[], distribution: [] as string[], likes: [] as number[], dislikes: [] as number[] };
  for (let index = 0; index < movies; index += 1) {
    const count = Math.max(1, Math.round((ratings * (popularity[index] ?? 0)) / popularityTotal));
    const quality = 7 + 1.2 * normal(random);
    const slots = new Array<number>(10).fill(0);
    if (count <= 50) {
      for (let draw = 0; draw < count; draw += 1) slots[clampHalves(quality + 1.5 * normal(random)) - 1]! += 1;
    } else {
      // Many ratings: their histogram is the quality's bell curve, no need to draw each.
      const weights = slots.map((_, slot) => Math.exp(-((slot + 1 - quality) ** 2) / (2 * 1.5 ** 2)));
      const weightTotal = weights.reduce((sum, weight) => sum + weight, 0);
      weights.forEach((weight, slot) => (slots[slot] = Math.floor((count * weight) / weightTotal)));
      slots[clampHalves(quality) - 1]! += count - slots.reduce((sum, value) => sum + value, 0);
    }
    movieRows.id.push(index + 1);
    movieRows.count.push(count);
    movieRows.sum.push(slots.reduce((sum, value, slot) => sum + value * (slot + 1), 0));
    movieRows.distribution.push(`{${slots.join(',')}}`);
    movieRows.likes.push(Math.round(count * 0.3 * random()));
    movieRows.dislikes.push(Math.round(count * 0.05 * random()));
  }

  const now = Date.now();
  const dayMs = 86_400_000;
  const activity = Array.from({ length: users }, () => Math.exp(1.3 * normal(random)));
  const activityTotal = activity.reduce((sum, value) => sum + value, 0);
  const hex = (): string => Math.floor(random() * 0x1_0000_0000).toString(16).padStart(8, '0');
  const userRows = { id: [] as string[], count: [] as number[], sum: [] as number[], lastActive: [] as string[], registered: [] as string[] };
  for (let index = 0; index < users; index += 1) {
    const count = Math.max(1, Math.round((ratings * (activity[index] ?? 0)) / activityTotal));
    const given = Math.min(10, Math.max(1, 7 + normal(random)));
    const lastActive = now - random() * 730 * dayMs;
    const [a, b, c, d] = [hex(), hex(), hex(), hex()];
    userRows.id.push(`${a}-${b.slice(0, 4)}-4${b.slice(5)}-8${c.slice(1, 4)}-${c.slice(4)}${d}`);
    userRows.count.push(count);
    userRows.sum.push(Math.round(count * given));
    userRows.lastActive.push(new Date(lastActive).toISOString());
    userRows.registered.push(new Date(lastActive - random() * 365 * dayMs).toISOString());
  }

  const chunk = 10_000;
  for (let from = 0; from < movies; from += chunk) {
    const to = from + chunk;
    await pool.query(
      `INSERT INTO analytics.movie_stats (movie_id, rating_count, rating_halves_sum, distribution, like_count, dislike_count)
       SELECT id, count, sum, distribution::integer[], likes, dislikes
       FROM unnest($1::bigint[], $2::integer[], $3::bigint[], $4::text[], $5::integer[], $6::integer[]) AS t(id, count, sum, distribution, likes, dislikes)`,
      [movieRows.id.slice(from, to), movieRows.count.slice(from, to), movieRows.sum.slice(from, to), movieRows.distribution.slice(from, to), movieRows.likes.slice(from, to), movieRows.dislikes.slice(from, to)],
    );
  }
  for (let from = 0; from < users; from += chunk) {
    const to = from + chunk;
    await pool.query(
      `INSERT INTO analytics.user_activity (user_id, rating_count, rating_halves_sum, last_active_at, registered_at)
       SELECT * FROM unnest($1::uuid[], $2::integer[], $3::bigint[], $4::timestamptz[], $5::timestamptz[])`,
      [userRows.id.slice(from, to), userRows.count.slice(from, to), userRows.sum.slice(from, to), userRows.lastActive.slice(from, to), userRows.registered.slice(from, to)],
    );
  }

  // Two years of hourly buckets (more by day than by night), and the days and weeks they add up to.
  await pool.query(`SELECT setseed(0.42)`);
  await pool.query(
    `INSERT INTO analytics.activity_buckets (granularity, start, ratings, reviews, new_users, active_users)
     SELECT 'HOUR', start, ratings, (ratings * 0.3)::integer, new_users, least(ratings, (ratings * 0.6)::integer + new_users)
     FROM (
       SELECT start,
              round($1::float8 / 17520 * (1 + 0.6 * sin(2 * pi() * extract(hour FROM start AT TIME ZONE 'UTC') / 24)) * (0.5 + random()))::integer AS ratings,
              round($2::float8 / 17520 * (0.5 + random()))::integer AS new_users
       FROM generate_series(date_trunc('hour', now()) - interval '730 days', date_trunc('hour', now()), interval '1 hour') AS start
     ) AS hours`,
    [ratings, users],
  );
  for (const [granularity, field, share] of [['DAY', 'day', 0.5], ['WEEK', 'week', 0.3]] as const) {
    await pool.query(
      `INSERT INTO analytics.activity_buckets (granularity, start, ratings, reviews, new_users, active_users)
       SELECT $1, date_trunc('${field}', start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', sum(ratings), sum(reviews), sum(new_users), (sum(active_users) * $2::float8)::integer
       FROM analytics.activity_buckets WHERE granularity = 'HOUR' GROUP BY 2`,
      [granularity, share],
    );
  }

  const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);
  const ratingCount = sum(movieRows.count);
  await pool.query(
    `UPDATE analytics.platform_totals SET users = $1, movies = $2, ratings = $3, reviews = $4, likes = $5, dislikes = $6, rating_halves_sum = $7, updated_at = now() WHERE id = 1`,
    [users, movies, ratingCount, Math.round(ratingCount * 0.3), sum(movieRows.likes), sum(movieRows.dislikes), sum(movieRows.sum)],
  );
  // As a database that has run a while is: statistics known, visibility map set.
  for (const table of ['movie_stats', 'user_activity', 'activity_buckets', 'platform_totals']) await pool.query(`VACUUM ANALYZE analytics.${table}`);
  return { movieIds: movieRows.id, userIds: userRows.id, ratings: ratingCount };
}

// ---------------------------------------------------------------------------------------------
// reads

const movieFields = 'movie { id } ratingCount averageRating bayesianAverage distribution';
const userFields = 'user { id } ratingCount averageGiven lastActiveAt';
const bucketFields = 'start ratings reviews newUsers activeUsers';

type AnalyticsData = ReturnType<typeof createAnalyticsData>;

interface FieldCase {
  name: string;
  query: string;
  variables(model: GeneratedReadModel, index: number): Record<string, unknown>;
  /** the data-layer call behind it, whose statements are EXPLAINed (none for eventLag: Redis) */
  dataCall?: (data: AnalyticsData, model: GeneratedReadModel) => Promise<unknown>;
}

const hourMs = 3_600_000;
const activityRange = (granularity: Granularity, buckets: number): { from: string; to: string } => {
  const length = { HOUR: hourMs, DAY: 24 * hourMs, WEEK: 7 * 24 * hourMs }[granularity];
  const to = Date.now();
  return { from: new Date(to - (buckets - 1) * length).toISOString(), to: new Date(to).toISOString() };
};
/** The most rated movie and the most active user: the rows with the most behind them. */
const busiestMovie = (model: GeneratedReadModel): number => model.movieIds[0] ?? 1;

const fieldCases: FieldCase[] = [
  {
    name: 'totals',
    query: '{ analytics { totals { users movies ratings reviews likes dislikes updatedAt } } }',
    variables: () => ({}),
    dataCall: (data) => data.totals(),
  },
  {
    name: 'topMovies(by: RATING) (defaults: minRatings 10, first 10)',
    query: `{ analytics { topMovies(by: RATING) { ${movieFields} } } }`,
    variables: () => ({}),
    dataCall: (data) => data.topMovies('RATING', 10, 10),
  },
  {
    name: 'topMovies(by: RATING, minRatings: 1000, first: 100)',
    query: `{ analytics { topMovies(by: RATING, minRatings: 1000, first: 100) { ${movieFields} } } }`,
    variables: () => ({}),
    dataCall: (data) => data.topMovies('RATING', 1000, 100),
  },
  {
    name: 'topMovies(by: COUNT, first: 100)',
    query: `{ analytics { topMovies(by: COUNT, first: 100) { ${movieFields} } } }`,
    variables: () => ({}),
    dataCall: (data) => data.topMovies('COUNT', 10, 100),
  },
  {
    name: 'movieStats (a random movie)',
    query: `query($id: ID!) { analytics { movieStats(movieId: $id) { ${movieFields} } } }`,
    variables: (model, index) => ({ id: String(model.movieIds[(index * 7919) % model.movieIds.length]) }),
    dataCall: (data, model) => data.movieStats(busiestMovie(model), 10),
  },
  {
    name: 'userActivity (a random user)',
    query: `query($id: ID!) { analytics { userActivity(userId: $id) { ${userFields} } } }`,
    variables: (model, index) => ({ id: model.userIds[(index * 7919) % model.userIds.length] }),
    dataCall: (data, model) => data.userActivity(model.userIds[0] ?? ''),
  },
  {
    name: 'mostActiveUsers(first: 100)',
    query: `{ analytics { mostActiveUsers(first: 100) { ${userFields} } } }`,
    variables: () => ({}),
    dataCall: (data) => data.mostActiveUsers(100),
  },
  ...([
    ['DAY', 30],
    ['HOUR', 168],
    ['HOUR', 1000],
    ['WEEK', 104],
  ] as const).map(([granularity, buckets]): FieldCase => ({
    name: `activity(interval: ${granularity}, ${buckets} buckets up to now)`,
    query: `query($from: DateTime!, $to: DateTime!) { analytics { activity(from: $from, to: $to, interval: ${granularity}) { ${bucketFields} } } }`,
    variables: () => activityRange(granularity, buckets),
    dataCall: (data) => {
      const { from, to } = activityRange(granularity, buckets);
      return data.activity(new Date(from), new Date(to), granularity);
    },
  })),
  { name: 'eventLag (Redis, not PostgreSQL)', query: '{ analytics { eventLag { stream pending undelivered unacknowledged } } }', variables: () => ({}) },
];

interface Percentiles {
  p50: number;
  p99: number;
  /** the subgraph process's CPU time per request, ms */
  cpuMs: number;
}

/** `requestsPerField` requests of one field, one at a time, after a warm-up. */
async function timeField(subgraph: ServiceProcess, field: FieldCase, model: GeneratedReadModel): Promise<Percentiles> {
  const send = async (index: number): Promise<number> => {
    const started = performance.now();
    const body = await post(subgraph.url, adminToken, field.query, field.variables(model, index));
    const elapsed = performance.now() - started;
    if (body.errors) throw new Error(`${field.name}: ${JSON.stringify(body.errors)}`);
    return elapsed;
  };
  for (let index = 0; index < 50; index += 1) await send(index);
  const latencies: number[] = [];
  const cpuBefore = subgraph.cpuSeconds();
  for (let index = 0; index < requestsPerField; index += 1) latencies.push(await send(index));
  const cpuMs = ((subgraph.cpuSeconds() - cpuBefore) * 1000) / requestsPerField;
  const sorted = sortedCopy(latencies);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), cpuMs };
}

interface DatabaseWork {
  statements: number;
  /** shared buffers hit or read by all of them: the work, whatever else the machine does */
  pages: number;
  /** rows the plans read (Actual Rows of every scan node, including those a filter removed) */
  rowsRead: number;
  executionMs: number;
  plans: string[];
}

interface JsonPlanNode {
  'Node Type': string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: JsonPlanNode[];
}

function rowsScanned(node: JsonPlanNode): number {
  // A bitmap index scan's rows are the heap scan's candidates: count them once, at the heap.
  const own = /Scan/.test(node['Node Type']) && node['Node Type'] !== 'Bitmap Index Scan' ? ((node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0)) * (node['Actual Loops'] ?? 1) : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + rowsScanned(child), 0);
}

/**
 * What the statements a data-layer call sends cost PostgreSQL: the call runs once on a pool that
 * records them, then each is EXPLAIN ANALYZEd (JSON for the figures, text for --explain).
 */
async function databaseWork(databaseUrl: string, field: FieldCase, model: GeneratedReadModel): Promise<DatabaseWork | null> {
  if (!field.dataCall) return null;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const statements: { text: string; values: unknown[] }[] = [];
  const observed = pool as unknown as { query: (...queryArgs: unknown[]) => unknown };
  const original = observed.query.bind(pool);
  // drizzle sends (text, values) or (config, values) with config = { text, rowMode, ... }.
  observed.query = (...queryArgs: unknown[]) => {
    const [first, second] = queryArgs;
    const text = typeof first === 'string' ? first : first && typeof first === 'object' && 'text' in first ? String(first.text) : null;
    if (text !== null) statements.push({ text, values: Array.isArray(second) ? second : [] });
    return original(...queryArgs);
  };
  try {
    await field.dataCall(createAnalyticsData(drizzle(pool), { lag: async () => [] }), model);
    observed.query = original;
    const work: DatabaseWork = { statements: statements.length, pages: 0, rowsRead: 0, executionMs: 0, plans: [] };
    for (const statement of statements) {
      const { rows } = await pool.query<{ 'QUERY PLAN': [{ Plan: JsonPlanNode; 'Execution Time': number }] }>(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${statement.text}`,
        statement.values,
      );
      const [explained] = rows[0]?.['QUERY PLAN'] ?? [];
      if (!explained) continue;
      work.pages += (explained.Plan['Shared Hit Blocks'] ?? 0) + (explained.Plan['Shared Read Blocks'] ?? 0);
      work.rowsRead += rowsScanned(explained.Plan);
      work.executionMs += explained['Execution Time'];
      if (args.explain) {
        const { rows: text } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${statement.text}`, statement.values);
        work.plans.push(`    ${statement.text.replace(/\s+/g, ' ')}`, ...text.map((row) => `      ${row['QUERY PLAN']}`));
      }
    }
    return work;
  } finally {
    await pool.end();
  }
}

async function benchReads(): Promise<void> {
  const results = new Map<string, Map<string, Percentiles>>(); // field -> "<size>/<off|on>" -> figures
  const work = new Map<string, Map<number, DatabaseWork | null>>(); // field -> size -> database work
  const shapes: string[] = [];
  const plans: string[] = [];
  for (const size of sizes) {
    const database = await createScratchDatabase(services.databaseUrl, 'bench_analytics');
    const pool = new pg.Pool({ connectionString: database.url, max: 2, application_name: 'bench-analytics' });
    pool.on('error', () => {});
    try {
      await migrateSchema(database.url, 'analytics', join(repoRoot, 'subgraphs', 'analytics', 'drizzle'));
      const filling = performance.now();
      const model = await fillReadModel(pool, size);
      const seconds = ((performance.now() - filling) / 1000).toFixed(1);
      const { rows } = await pool.query<{ movies: number; under10: number; users: number; buckets: number }>(
        `SELECT (SELECT count(*) FROM analytics.movie_stats)::integer AS movies,
                (SELECT count(*) FROM analytics.movie_stats WHERE rating_count < 10)::integer AS under10,
                (SELECT count(*) FROM analytics.user_activity)::integer AS users,
                (SELECT count(*) FROM analytics.activity_buckets)::integer AS buckets`,
      );
      const shape = rows[0];
      shapes.push(
        `| ${sizeLabel(size)} | ${formatCount(model.ratings)} | ${formatCount(shape?.movies ?? 0)} (${formatCount(shape?.under10 ?? 0)} with < 10 ratings) | ${formatCount(shape?.users ?? 0)} | ${formatCount(shape?.buckets ?? 0)} | ${seconds} s |`,
      );
      log(`${sizeLabel(size)}: read model of ${formatCount(model.ratings)} ratings written in ${seconds} s`);

      for (const field of fieldCases) {
        const measured = await databaseWork(database.url, field, model);
        const perField = work.get(field.name) ?? new Map<number, DatabaseWork | null>();
        perField.set(size, measured);
        work.set(field.name, perField);
        if (measured && measured.plans.length > 0) plans.push(`### ${sizeLabel(size)}: ${field.name}`, ...measured.plans, '');
      }

      // --requests 0: the database figures alone.
      for (const [label, ttl] of requestsPerField > 0 ? ([['off', '0'], ['on', '5']] as const) : []) {
        // Streams of its own (empty; its consumer creates them): it must not consume a running stack's events.
        const prefix = `bench:analytics:${randomUUID()}`;
        const subgraph = await startService('analytics', { DATABASE_URL: database.url, ANALYTICS_CACHE_TTL_SECONDS: ttl, EVENT_STREAM_PREFIX: prefix });
        try {
          // Every field's path compiled and every pool connection open before any is timed.
          for (let round = 0; round < 100; round += 1) {
            for (const field of fieldCases) await post(subgraph.url, adminToken, field.query, field.variables(model, round));
          }
          for (const field of fieldCases) {
            const figures = await timeField(subgraph, field, model);
            const perField = results.get(field.name) ?? new Map<string, Percentiles>();
            perField.set(`${size}/${label}`, figures);
            results.set(field.name, perField);
            log(`  ${sizeLabel(size)}, cache ${label}: ${field.name}: p50 ${figures.p50.toFixed(2)} ms, p99 ${figures.p99.toFixed(2)} ms, subgraph CPU ${figures.cpuMs.toFixed(2)} ms/request`);
          }
        } finally {
          await subgraph.stop();
          await redis.del(...['users', 'movies', 'reviews'].map((producer) => `${prefix}:${producer}`));
        }
      }
    } finally {
      await pool.end();
      await database.drop();
    }
  }

  console.log(`\nRead model per size (written directly; no ratings are stored in analytics)\n`);
  console.log('| ratings | sum of rating counts | movie_stats rows | user_activity rows | activity_buckets rows | written in |\n|---|---:|---:|---:|---:|---:|');
  for (const line of shapes) console.log(line);

  const labels = ['off', 'on'] as const;
  const header = labels.flatMap((label) => sizes.flatMap((size) => [`${label} ${sizeLabel(size)} p50`, `${label} ${sizeLabel(size)} p99`]));
  console.log(
    `\nAnalytics fields at the subgraph over HTTP with an admin token, ms. One client, ${requestsPerField} requests per field, after 100 rounds of every field and 50 of the field itself to warm up. ` +
      `Cache off = ANALYTICS_CACHE_TTL_SECONDS=0 (every request reads PostgreSQL); on = 5 s (lists only). Target p99 <= 5 ms. ${machine()}.\n`,
  );
  console.log(`| field | ${header.join(' | ')} |\n|---|${header.map(() => '---:').join('|')}|`);
  for (const field of fieldCases) {
    const figures = results.get(field.name);
    const cells = labels.flatMap((label) =>
      sizes.flatMap((size) => {
        const value = figures?.get(`${size}/${label}`);
        return value ? [value.p50.toFixed(2), value.p99.toFixed(2)] : ['-', '-'];
      }),
    );
    console.log(`| ${field.name} | ${cells.join(' | ')} |`);
  }

  const cpuHeader = labels.flatMap((label) => sizes.map((size) => `${label} ${sizeLabel(size)}`));
  console.log(
    '\nCPU time of the subgraph process per request, ms (from /proc over the timed requests: token check, GraphQL, the data layer, JSON; ' +
      'not PostgreSQL\'s or Redis\'s). Less sensitive to other load than the latencies\n',
  );
  console.log(`| field | ${cpuHeader.join(' | ')} |\n|---|${cpuHeader.map(() => '---:').join('|')}|`);
  for (const field of fieldCases) {
    const figures = results.get(field.name);
    const cells = labels.flatMap((label) => sizes.map((size) => figures?.get(`${size}/${label}`)?.cpuMs.toFixed(2) ?? '-'));
    console.log(`| ${field.name} | ${cells.join(' | ')} |`);
  }

  const workHeader = sizes.flatMap((size) => [`${sizeLabel(size)} statements`, `${sizeLabel(size)} rows read`, `${sizeLabel(size)} pages`, `${sizeLabel(size)} ms`]);
  console.log(
    '\nWhat each field costs PostgreSQL (EXPLAIN ANALYZE of the statements the data layer sends, once each: rows the scans read including filtered ones, ' +
      'shared buffers touched, execution time); the rows and pages do not depend on the machine\'s load\n',
  );
  console.log(`| field | ${workHeader.join(' | ')} |\n|---|${workHeader.map(() => '---:').join('|')}|`);
  for (const field of fieldCases) {
    const cells = sizes.flatMap((size) => {
      const measured = work.get(field.name)?.get(size);
      return measured ? [String(measured.statements), formatCount(measured.rowsRead), formatCount(measured.pages), measured.executionMs.toFixed(2)] : ['-', '-', '-', '-'];
    });
    console.log(`| ${field.name} | ${cells.join(' | ')} |`);
  }
  if (plans.length > 0) console.log(`\nPlans (EXPLAIN ANALYZE, BUFFERS)\n\n${plans.join('\n')}`);
}

// ---------------------------------------------------------------------------------------------
// consumer

interface GroupState {
  undelivered: number;
  unacknowledged: number;
}

/** The analytics group on one stream: not yet delivered (lag) and delivered but not acknowledged. */
async function groupState(stream: string, group = analyticsConsumerGroup): Promise<GroupState | null> {
  const groups = (await redis.xinfo('GROUPS', stream).catch(() => [])) as (string | number | null)[][];
  const mine = groups.find((fields) => fields[fields.indexOf('name') + 1] === group);
  if (!mine) return null;
  const lag = mine[mine.indexOf('lag') + 1];
  const pending = mine[mine.indexOf('pending') + 1];
  return { undelivered: typeof lag === 'number' ? lag : Number.NaN, unacknowledged: typeof pending === 'number' ? pending : Number.NaN };
}

const pendingOf = (state: GroupState | null): number => (state ? state.undelivered + state.unacknowledged : Number.NaN);

async function waitUntilDrained(stream: string, group = analyticsConsumerGroup, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (pendingOf(await groupState(stream, group)) === 0) return;
    if (Date.now() > deadline) throw new Error(`group ${group} did not drain ${stream}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Samples the group's pending entries every `everyMs` until stopped. */
function samplePending(stream: string, everyMs: number): { stop(): Promise<number[]> } {
  const samples: number[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      samples.push(pendingOf(await groupState(stream)));
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return samples;
    },
  };
}

/** Event id -> when it occurred (envelope) and when it reached the stream (entry id), for entries with ids in [from, to]. */
async function streamTimes(stream: string, fromMs: number, toMs: number): Promise<Map<string, { occurredAt: number; appendedAt: number }>> {
  const times = new Map<string, { occurredAt: number; appendedAt: number }>();
  let start = String(fromMs);
  for (;;) {
    const entries = (await redis.xrange(stream, start, String(toMs), 'COUNT', 5_000)) as [string, string[]][];
    for (const [id, fields] of entries) {
      const text = fields[fields.indexOf('event') + 1];
      if (!text) continue;
      const event = JSON.parse(text) as AnyEvent;
      times.set(event.id, { occurredAt: Date.parse(event.occurredAt), appendedAt: Number(id.split('-')[0]) });
    }
    if (entries.length < 5_000) return times;
    start = `(${entries.at(-1)?.[0]}`;
  }
}

async function appliedTimes(pool: pg.Pool, eventIds: string[]): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ event_id: string; processed_at: Date }>('SELECT event_id, processed_at FROM analytics.processed_events WHERE event_id = ANY($1::uuid[])', [eventIds]);
  return new Map(rows.map((row) => [row.event_id, row.processed_at.getTime()]));
}

/** Every `every`-th sample; '-' while the group did not exist yet (the subgraph still starting). */
const compactSeries = (samples: number[], every: number): string =>
  samples
    .filter((_, index) => index % every === 0)
    .map((sample) => (Number.isFinite(sample) ? String(sample) : '-'))
    .join(' ');

/** (1) rateMovie load through the reviews subgraph; the analytics consumer follows its stream. */
async function benchUnderLoad(): Promise<string[]> {
  const database = await createScratchDatabase(services.databaseUrl, 'bench_analytics_load');
  const pool = new pg.Pool({ connectionString: database.url, max: 2, application_name: 'bench-analytics' });
  pool.on('error', () => {});
  const prefix = `bench:analytics:${randomUUID()}`;
  const streams = { users: `${prefix}:users`, movies: `${prefix}:movies`, reviews: `${prefix}:reviews` };
  const started: ServiceProcess[] = [];
  const output: string[] = [];
  try {
    await migrateAll(database.url);
    // The movies rated, announced as the catalogue would: reviews accepts ratings only for known movies.
    const movies = 500;
    const pipeline = redis.pipeline();
    for (let movieId = 1; movieId <= movies; movieId += 1) {
      const event = createEvent('movies', 'movie.created', { movieId, title: `Bench ${movieId}`, year: 2000, genres: [], languages: [], personIds: [], at: new Date().toISOString() });
      pipeline.xadd(streams.movies, '*', 'event', JSON.stringify(event));
    }
    await pipeline.exec();
    const env = { DATABASE_URL: database.url, EVENT_STREAM_PREFIX: prefix };
    started.push(await startService('analytics', { ...env, ANALYTICS_CACHE_TTL_SECONDS: '0' }));
    started.push(
      await startService('reviews', { ...env, REVIEW_WRITES_PER_MINUTE_PER_USER: '1000000', REVIEW_WRITES_PER_MINUTE_PER_ADDRESS: '1000000' }),
    );
    const [, reviews] = started;
    if (!reviews) throw new Error('the reviews subgraph did not start');
    await waitUntilDrained(streams.movies);
    if (await groupState(streams.movies, 'reviews')) await waitUntilDrained(streams.movies, 'reviews');

    const users = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const id = randomUUID();
        return { id, token: await signToken(id, 'USER') };
      }),
    );
    const mutation = 'mutation($m: ID!, $r: Float!) { rateMovie(movieId: $m, rating: $r) { rating } }';

    output.push(
      `\nAnalytics consumer under rateMovie load (reviews subgraph over HTTP -> outbox relay -> ${streams.reviews} -> analytics consumer), ` +
        `${rateRequests} requests per row; lag = processed_events.processed_at - the event's occurredAt (commit side), ` +
        `of which consumer = processed_at - stream entry time\n`,
      '| concurrency | rateMovie req/s | events applied/s (during load) | lag p50 | lag p99 | lag max | consumer part p50 | consumer part p99 | pending max | drained after load |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    const series: string[] = [];
    let sent = 0;
    for (const concurrency of [4, 16]) {
      const sampler = samplePending(streams.reviews, 100);
      const loadStart = Date.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < rateRequests) {
            const index = next++;
            const user = users[(sent + index) % users.length]!;
            const body = await post(reviews.url, user.token, mutation, { m: String(1 + ((sent + index) % movies)), r: 0.5 + ((sent + index) % 10) / 2 });
            if (body.errors) throw new Error(JSON.stringify(body.errors));
          }
        }),
      );
      sent += rateRequests;
      const loadEnd = Date.now();
      await waitUntilDrained(streams.reviews);
      const drainedAt = Date.now();
      const samples = await sampler.stop();

      const times = await streamTimes(streams.reviews, loadStart - 1_000, drainedAt);
      const applied = await appliedTimes(pool, [...times.keys()]);
      const total: number[] = [];
      const consumerPart: number[] = [];
      let appliedDuringLoad = 0;
      for (const [eventId, { occurredAt, appendedAt }] of times) {
        const at = applied.get(eventId);
        if (at === undefined) continue;
        total.push(at - occurredAt);
        consumerPart.push(at - appendedAt);
        if (at <= loadEnd) appliedDuringLoad += 1;
      }
      const totalSorted = sortedCopy(total);
      const consumerSorted = sortedCopy(consumerPart);
      const seconds = (loadEnd - loadStart) / 1000;
      output.push(
        `| ${concurrency} | ${Math.round(rateRequests / seconds)} | ${Math.round(appliedDuringLoad / seconds)} | ${percentile(totalSorted, 0.5)} ms | ${percentile(totalSorted, 0.99)} ms | ${totalSorted.at(-1) ?? '-'} ms | ` +
          `${percentile(consumerSorted, 0.5)} ms | ${percentile(consumerSorted, 0.99)} ms | ${Math.max(...samples.filter(Number.isFinite))} | ${drainedAt - loadEnd} ms |`,
      );
      series.push(`concurrency ${concurrency}: pending every 0.5 s: ${compactSeries(samples, 5)}`);
      log(`  under load, concurrency ${concurrency}: ${applied.size} of ${times.size} events applied`);
    }
    output.push('', ...series, `(${machine()})`);
    return output;
  } finally {
    for (const service of started.reverse()) await service.stop();
    await pool.end();
    await redis.del(...Object.values(streams), ...Object.values(streams).map((stream) => `${stream}:dead`));
    await database.drop();
  }
}

/** (2) `rawEvents` events already on the streams when the subgraph starts: how fast it catches up. */
async function benchCatchUp(): Promise<string[]> {
  const database = await createScratchDatabase(services.databaseUrl, 'bench_analytics_raw');
  const pool = new pg.Pool({ connectionString: database.url, max: 2, application_name: 'bench-analytics' });
  pool.on('error', () => {});
  const prefix = `bench:analytics:${randomUUID()}`;
  const streams = { users: `${prefix}:users`, movies: `${prefix}:movies`, reviews: `${prefix}:reviews` };
  let subgraph: ServiceProcess | undefined;
  try {
    await migrateSchema(database.url, 'analytics', join(repoRoot, 'subgraphs', 'analytics', 'drizzle'));
    // A rateMovie-like mix: mostly ratings (one in five replaces an earlier one), some reactions,
    // 2,000 users and 5,000 movies, all in the last hour.
    const random = seededRandom(7);
    const users = Array.from({ length: 2_000 }, () => randomUUID());
    const rated = new Map<string, number>();
    let pipeline = redis.pipeline();
    for (let index = 0; index < rawEvents; index += 1) {
      const userId = users[Math.floor(random() * users.length)]!;
      const movieId = 1 + Math.floor(random() * 5_000);
      const at = new Date(Date.now() - random() * hourMs).toISOString();
      let event: AnyEvent;
      if (random() < 0.9) {
        const key = `${userId}:${movieId}`;
        const previous = rated.get(key) ?? null;
        const rating = (1 + Math.floor(random() * 10)) / 2;
        rated.set(key, rating);
        event = createEvent('reviews', 'review.upserted', {
          userId, movieId, rating, hasComment: random() < 0.3, previousRating: previous, previousHasComment: previous === null ? null : false, actorId: userId, at,
        });
      } else {
        event = createEvent('reviews', 'reaction.set', { userId, movieId, reaction: random() < 0.8 ? 'LIKE' : 'DISLIKE', previousReaction: null, at });
      }
      pipeline.xadd(streams.reviews, '*', 'event', JSON.stringify(event));
      if (pipeline.length >= 1_000) {
        await pipeline.exec();
        pipeline = redis.pipeline();
      }
    }
    await pipeline.exec();

    const spawnedAt = Date.now();
    const sampler = samplePending(streams.reviews, 500);
    subgraph = await startService('analytics', { DATABASE_URL: database.url, EVENT_STREAM_PREFIX: prefix, ANALYTICS_CACHE_TTL_SECONDS: '0' });
    const listeningAt = Date.now();
    await waitUntilDrained(streams.reviews);
    const drainedAt = Date.now();
    const samples = await sampler.stop();
    const { rows } = await pool.query<{ applied: number; first: Date; last: Date }>(
      'SELECT count(*)::integer AS applied, min(processed_at) AS first, max(processed_at) AS last FROM analytics.processed_events',
    );
    const row = rows[0];
    const spanSeconds = row ? (row.last.getTime() - row.first.getTime()) / 1000 : Number.NaN;
    return [
      `\nRaw consumer catch-up: ${formatCount(rawEvents)} events (90% review.upserted, 10% reaction.set) on ${streams.reviews} before the subgraph starts\n`,
      '| events applied | first -> last applied | events/s | spawn -> drained (incl. process start) | process start -> listening |',
      '|---:|---:|---:|---:|---:|',
      `| ${formatCount(row?.applied ?? 0)} | ${spanSeconds.toFixed(1)} s | ${Math.round((row?.applied ?? 0) / spanSeconds)} | ${((drainedAt - spawnedAt) / 1000).toFixed(1)} s | ${((listeningAt - spawnedAt) / 1000).toFixed(1)} s |`,
      '',
      `pending every 1 s: ${compactSeries(samples, 2)}`,
      `(${machine()})`,
    ];
  } finally {
    await subgraph?.stop();
    await pool.end();
    await redis.del(...Object.values(streams), ...Object.values(streams).map((stream) => `${stream}:dead`));
    await database.drop();
  }
}

// ---------------------------------------------------------------------------------------------

try {
  if (mode === 'all' || mode === 'reads') await benchReads();
  if (mode === 'all' || mode === 'consumer') {
    const underLoad = await benchUnderLoad();
    const catchUp = await benchCatchUp();
    console.log([...underLoad, ...catchUp].join('\n'));
  }
} finally {
  for (const child of running) child.kill('SIGTERM');
  jwksServer.close();
  redis.disconnect();
  await services.stop();
}
