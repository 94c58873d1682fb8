// Search and listing speed of the movies subgraph: prints figures, asserts nothing (tests never time).
//
//   npm run bench:search -- [--requests 2000] [--concurrency 16]
//
// Loads ml-latest-small into a scratch database (skips with a message when it is absent), starts
// the movies subgraph as its own process on a free port, and measures `movies(filter, sort, first)`
// over HTTP for each kind of query, `--concurrency` clients at a time: p50/p99 per kind, then the
// kinds mixed. Then prints EXPLAIN ANALYZE of each kind's page and count statements (the SQL the
// data layer sends) and flags every sequential scan of movies.movies; for one it shows the plan
// with enable_seqscan=off beside it, to tell a planner's choice on a small table from a missing
// index.
//
// MovieLens has no languages and no people: the bench assigns them deterministically (languages
// skewed to English, 3,000 people with skewed credit counts) so those filters have data to find.
// Neo4j is needed by the loader only: a private one runs during the load and stops before timing.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { repoRoot } from '@platform/shared';
import { loadDataset } from '../scripts/lib/load-dataset.ts';
import { migrateAll } from '../scripts/lib/migrations.ts';
import { defaultMovieLensDir, readMovieLensDataset } from '../scripts/lib/movielens.ts';
import { startNeo4j } from '../scripts/lib/neo4j.ts';
import { createScratchDatabase, ensureServices } from '../scripts/lib/services.ts';
import { createMoviesData, type MovieListingQuery } from '../subgraphs/movies/src/data.ts';
import { parseMovieFilter, type MovieFilterInput } from '../subgraphs/movies/src/listing.ts';
import { decodeMovieCursor, movieOrdering, type MovieSort } from '../subgraphs/movies/src/ordering.ts';
import { wordSimilarityThreshold } from '../subgraphs/movies/src/search.ts';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
  },
});
const requestsPerKind = Number(args.requests);
const concurrency = Number(args.concurrency);
const log = (message: string): void => {
  process.stderr.write(`${message}\n`);
};

if (!existsSync(join(defaultMovieLensDir, 'movies.csv'))) {
  console.log(`bench:search skipped: ml-latest-small not found at ${defaultMovieLensDir} (download it from grouplens.org; it is never bundled)`);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Data

const services = await ensureServices({ need: { postgres: true, redis: true }, log: () => {} });
const database = await createScratchDatabase(services.databaseUrl, 'bench_search');
const pool = new pg.Pool({ connectionString: database.url, max: 2, application_name: 'bench-search' });
// Dropping the database at the end terminates whatever connection is still closing; unhandled,
// that error would end the process before it reports.
pool.on('error', () => {});
let subgraph: ChildProcess | undefined;

try {
  await migrateAll(database.url);
  const neo4jHome = mkdtempSync(join(tmpdir(), 'bench-search-neo4j-'));
  const neo4j = await startNeo4j({ home: neo4jHome, port: 0, heapMb: 512, pageCacheMb: 128 });
  try {
    const loadStarted = performance.now();
    const summary = await loadDataset(await readMovieLensDataset(defaultMovieLensDir), { databaseUrl: database.url, neo4j });
    log(`loaded ml-latest-small: ${summary.movies.total} movies, ${summary.ratings.total} ratings in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`);
  } finally {
    await neo4j.stop();
    rmSync(neo4jHome, { recursive: true, force: true });
  }
  await addLanguagesAndPeople();

  // -------------------------------------------------------------------------------------------
  // The subgraph, as its own process (the load generator must not share its event loop)

  const url = await startSubgraph();
  const { rows: prolific } = await pool.query<{ person_id: string; credits: number }>(
    'SELECT person_id::text, count(*)::int AS credits FROM movies.movie_credits GROUP BY person_id ORDER BY count(*) DESC, person_id LIMIT 1',
  );
  const deepCursor = await cursorAfter(url, 5_000);

  interface Kind {
    name: string;
    filter: MovieFilterInput | null;
    sort: MovieSort;
    after?: string;
  }
  const kinds: Kind[] = [
    { name: 'full-text word ("love")', filter: { search: 'love' }, sort: 'RELEVANCE' },
    { name: 'typo ("godfathr")', filter: { search: 'godfathr' }, sort: 'RELEVANCE' },
    { name: 'two words + genre ("star wars", Sci-Fi)', filter: { search: 'star wars', genres: ['Sci-Fi'] }, sort: 'RELEVANCE' },
    { name: 'genres AND (Action, Sci-Fi)', filter: { genres: ['Action', 'Sci-Fi'] }, sort: 'TITLE' },
    { name: 'common genre (Drama)', filter: { genres: ['Drama'] }, sort: 'TITLE' },
    { name: 'year range 1990-1999, newest first', filter: { yearFrom: 1990, yearTo: 1999 }, sort: 'YEAR_DESC' },
    { name: 'language (fr)', filter: { languages: ['fr'] }, sort: 'TITLE' },
    { name: `person (${prolific[0]?.credits ?? 0} credits)`, filter: { personId: prolific[0]?.person_id ?? '1' }, sort: 'YEAR_DESC' },
    { name: 'all movies by title', filter: null, sort: 'TITLE' },
    { name: 'all movies, newest first', filter: null, sort: 'YEAR_DESC' },
    { name: 'deep page (after row 5,000, by title)', filter: null, sort: 'TITLE', after: deepCursor },
  ];

  const query = `query Bench($filter: MovieFilter, $sort: MovieSort, $after: String) {
    movies(filter: $filter, sort: $sort, first: 20, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id title year genres } }
    }
  }`;
  const send = async (kind: Kind): Promise<{ ms: number; totalCount: number }> => {
    const started = performance.now();
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables: { filter: kind.filter, sort: kind.sort, after: kind.after ?? null } }),
    });
    const body = (await response.json()) as { data?: { movies: { totalCount: number } }; errors?: { message: string }[] };
    const ms = performance.now() - started;
    if (!body.data) throw new Error(`${kind.name}: ${body.errors?.[0]?.message ?? `HTTP ${response.status}`}`);
    return { ms, totalCount: body.data.movies.totalCount };
  };

  /** `count` requests from `concurrency` clients, each sending its next one when the previous answered. */
  const measure = async (pick: (index: number) => Kind, count: number): Promise<{ latencies: number[]; seconds: number }> => {
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const index = next++;
          latencies.push((await send(pick(index))).ms);
        }
      }),
    );
    return { latencies, seconds: (performance.now() - started) / 1000 };
  };

  const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))] ?? NaN;
  const rows: string[][] = [];
  const row = (name: string, matches: string, alone: number[], result: { latencies: number[]; seconds: number }): void => {
    const sorted = [...result.latencies].sort((a, b) => a - b);
    const figures = [percentile([...alone].sort((a, b) => a - b), 0.5), percentile(sorted, 0.5), percentile(sorted, 0.99)];
    rows.push([name, matches, ...figures.map((ms) => ms.toFixed(1)), String(Math.round(result.latencies.length / result.seconds))]);
    log(`  ${name}: alone ${figures[0]!.toFixed(1)} ms; p50 ${figures[1]!.toFixed(1)} ms, p99 ${figures[2]!.toFixed(1)} ms`);
  };
  /** One client, one request at a time: what a request costs without waiting behind others. */
  const alone = async (pick: (index: number) => Kind, count: number): Promise<number[]> => {
    const latencies: number[] = [];
    for (let index = 0; index < count; index += 1) latencies.push((await send(pick(index))).ms);
    return latencies;
  };

  log(`timing ${requestsPerKind} requests per kind, ${concurrency} concurrent clients, after a warm-up of 200`);
  await measure((index) => kinds[index % kinds.length]!, 200);
  for (const kind of kinds) {
    const { totalCount } = await send(kind);
    row(kind.name, totalCount.toLocaleString('en-US'), await alone(() => kind, 200), await measure(() => kind, requestsPerKind));
  }
  const interleaved = (index: number): Kind => kinds[index % kinds.length]!;
  row('all of the above, interleaved', '', await alone(interleaved, 200), await measure(interleaved, requestsPerKind * 2));

  console.log(
    `\nmovies(filter, sort, first: 20) { totalCount, 20 edges } over HTTP: p50 of one client alone, then p50/p99 with ${concurrency} ` +
      `concurrent clients, ${requestsPerKind} requests per kind (target p99 <= 20 ms); load average ${loadavg().map((load) => load.toFixed(1)).join(' ')} on ${cpus().length} CPUs\n`,
  );
  console.log(`| query | matches | alone p50 ms | p50 ms | p99 ms | req/s |\n|---|---:|---:|---:|---:|---:|`);
  for (const cells of rows) console.log(`| ${cells.join(' | ')} |`);

  // -------------------------------------------------------------------------------------------
  // Plans

  console.log('\nPlans (EXPLAIN ANALYZE of the statements the data layer sends; "Seq Scan on movies" flagged)\n');
  const data = createMoviesData(drizzle(pool));
  const flagged: string[] = [];
  for (const kind of kinds) {
    const filter = parseMovieFilter(kind.filter);
    const ordering = movieOrdering(kind.sort, filter.search);
    const listing: MovieListingQuery = { filter, ordering, size: 20, after: kind.after ? decodeMovieCursor(kind.after, ordering) : null, withCount: true };
    const { statements, searchThreshold } = data.listingSql(listing);
    console.log(`### ${kind.name}`);
    for (const { label, sql } of statements) {
      const plan = await explain(sql.sql, sql.params, searchThreshold, false);
      const seqScan = plan.some((line) => /Seq Scan on movies\b/.test(line));
      console.log(`${label}${seqScan ? '  ** Seq Scan on movies.movies **' : ''}:\n${indent(plan)}`);
      if (seqScan) {
        flagged.push(`${kind.name} (${label})`);
        console.log(`${label} with enable_seqscan=off:\n${indent(await explain(sql.sql, sql.params, searchThreshold, true))}`);
      }
    }
    console.log('');
  }
  console.log(flagged.length === 0 ? 'No statement scans movies.movies sequentially.' : `Sequential scans of movies.movies: ${flagged.join('; ')}`);
} finally {
  if (subgraph && subgraph.exitCode === null) {
    const exited = new Promise((resolve) => subgraph?.once('exit', resolve));
    subgraph.kill('SIGTERM');
    await exited;
  }
  await pool.end();
  await database.drop();
  await services.stop();
}

// ---------------------------------------------------------------------------------------------

async function explain(text: string, params: unknown[], searchThreshold: boolean, noSeqScan: boolean): Promise<string[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    if (searchThreshold) await client.query("SELECT set_config('pg_trgm.word_similarity_threshold', $1, true)", [String(wordSimilarityThreshold)]);
    if (noSeqScan) await client.query('SET LOCAL enable_seqscan = off');
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) ${text}`, params);
    return rows.map((row) => row['QUERY PLAN']);
  } finally {
    await client.query('ROLLBACK').catch(() => {});
    client.release();
  }
}

function indent(lines: string[]): string {
  return lines.map((line) => `    ${line}`).join('\n');
}

/** Languages and credits MovieLens lacks, deterministic (derived from the movie id) so runs compare. */
async function addLanguagesAndPeople(): Promise<void> {
  await pool.query(`
    UPDATE movies.movies SET languages = CASE
      WHEN (id * 7919) % 100 < 70 THEN ARRAY['en']
      WHEN (id * 7919) % 100 < 78 THEN ARRAY['fr']
      WHEN (id * 7919) % 100 < 83 THEN ARRAY['es']
      WHEN (id * 7919) % 100 < 87 THEN ARRAY['de']
      WHEN (id * 7919) % 100 < 91 THEN ARRAY['ja']
      WHEN (id * 7919) % 100 < 94 THEN ARRAY['it']
      WHEN (id * 7919) % 100 < 97 THEN ARRAY['ko']
      ELSE ARRAY['en', 'fr'] END`);
  await pool.query(`INSERT INTO movies.people (source_key, name) SELECT 'bench:person:' || n, 'Bench Person ' || n FROM generate_series(1, 3000) AS n`);
  // One director among the first 300 people and four actors, squared draws so a few people have many credits.
  const { rowCount } = await pool.query(`
    INSERT INTO movies.movie_credits (movie_id, person_id, role, position)
    SELECT DISTINCT ON (m.id, c.role, p.id) m.id, p.id, c.role, c.position
      FROM movies.movies m
      CROSS JOIN (VALUES ('DIRECTOR', 0, 300), ('ACTOR', 0, 3000), ('ACTOR', 1, 3000), ('ACTOR', 2, 3000), ('ACTOR', 3, 3000)) AS c(role, position, pool_size)
      JOIN movies.people p ON p.source_key = 'bench:person:' || (1 + floor(pool_size * power(((m.id * 2654435761 + c.position * 40503) % 1000003) / 1000003.0, 2)))::int
    ON CONFLICT DO NOTHING`);
  // A fresh bulk load leaves GIN pending lists unmerged, and the UPDATE above a dead version of
  // every row; until autovacuum runs, searches are planned as sequential scans and read twice
  // the pages. Measured here is the settled state.
  for (const table of ['movies.movies', 'movies.people', 'movies.movie_credits']) await pool.query(`VACUUM ANALYZE ${table}`);
  log(`assigned languages to every movie and ${rowCount} credits among 3,000 people; vacuumed and analysed`);
}

async function startSubgraph(): Promise<string> {
  const child = spawn(process.execPath, [join(repoRoot, 'subgraphs', 'movies', 'src', 'main.ts')], {
    env: { ...process.env, DATABASE_URL: database.url, REDIS_URL: services.redisUrl, PORT: '0', LOG_LEVEL: 'warn', APOLLO_TELEMETRY_DISABLED: '1' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  subgraph = child;
  return new Promise((resolve, reject) => {
    child.once('message', (message: { type?: string; url?: string }) => {
      if (message.type === 'listening' && message.url) resolve(message.url);
    });
    child.once('exit', (code) => reject(new Error(`the movies subgraph exited with code ${code} before listening`)));
  });
}

/** The cursor after the first `rows` movies by title, found by paging through them. */
async function cursorAfter(url: string, rows: number): Promise<string> {
  let after: string | null = null;
  for (let seen = 0; seen < rows; seen += 100) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: 'query($after: String) { movies(sort: TITLE, first: 100, after: $after) { pageInfo { endCursor } } }',
        variables: { after },
      }),
    });
    const body = (await response.json()) as { data: { movies: { pageInfo: { endCursor: string } } } };
    after = body.data.movies.pageInfo.endCursor;
  }
  if (after === null) throw new Error('no movies to page through');
  return after;
}
