// Writes a Dataset (synthetic or MovieLens) into PostgreSQL and Neo4j, then rebuilds the
// analytics totals. Used by `npm run seed`, `npm run import:movielens` and `npm start`.
//
// It emits no events: it writes the source rows, the like-graph and reviews.known_movies directly
// and then rebuilds the analytics read model from the source tables (the same backfill
// `npm run analytics:backfill` runs), which also marks every outbox event already reflected as
// processed. Consumers then continue from the stream positions they had; see the README
// ("Bulk loads and events") for why that is equivalent to publishing an event per row.
//
// Rules:
// - Idempotent: rows are matched on natural keys (source_key for movies and people, the
//   case-insensitive username for users, (user, movie) for ratings and reactions), and an update
//   only happens when a value differs, so loading the same data twice changes no row and writes
//   no review_history.
// - Never deletes: a rating or credit missing from a later version of a dataset stays.
// - Streams ratings and reactions in batches from a single pass over the dataset; PostgreSQL
//   and Neo4j consume the batches independently (the faster one at most ~100k rows ahead), so
//   a multi-million-rating set never sits in memory and neither database waits on the other.
// - Every batch commits on its own: an interrupted load leaves consistent rows behind, and
//   running it again completes it.
// - All values travel as query parameters (unnest arrays or one jsonb document per batch),
//   never spliced into SQL text.

import { setImmediate as nextTurn } from 'node:timers/promises';
import pg from 'pg';
import { connectNeo4j, connectPostgres, envReader, type Driver, type Neo4jSettings } from '@platform/shared';
import {
  ensureGraphSchema,
  upsertGraphMovies,
  upsertGraphRatings,
  upsertGraphReactions,
  upsertGraphUsers,
  type GraphMovie,
  type GraphRating,
  type GraphReaction,
  type GraphUser,
} from '../../subgraphs/recommendations/src/graph.ts';
import { backfillPlatformTotals, type PlatformTotals } from '../../subgraphs/analytics/src/backfill.ts';
import type { Dataset, DatasetMovie, DatasetPerson, DatasetRating, DatasetReaction, DatasetUser } from './dataset.ts';
import { generateSyntheticDataset, type SyntheticDatasetOptions } from './synthetic.ts';

export interface LoadTarget {
  databaseUrl: string;
  neo4j: Neo4jSettings;
}

export interface LoadProgress {
  phase: string;
  done: number;
  /** null when the size is not known up front */
  total: number | null;
}

export interface LoadOptions {
  onProgress?(progress: LoadProgress): void;
  /** Rows per statement / per Neo4j call; default 5,000. */
  batchSize?: number;
}

/** How many rows of one kind the dataset held and how many of them were inserted or updated. */
export interface RowCounts {
  total: number;
  changed: number;
}

export interface LoadSummary {
  source: string;
  people: RowCounts;
  movies: RowCounts;
  credits: RowCounts;
  users: RowCounts;
  ratings: RowCounts;
  reactions: RowCounts;
  /** rows of the dataset that could not be stored, by reason */
  skipped: { unknownUser: number; unknownMovie: number; invalidRating: number };
  /** review_history rows written (one per new or changed rating) */
  historyRows: number;
  /** movies whose movie_stats row was recomputed */
  statsRecomputed: number;
  analytics: PlatformTotals;
  /**
   * Milliseconds per phase (wall clock; the neo4j phases overlap the postgres ones), plus
   * "<database> <relation> busy": the summed time of that database's statements for the relation.
   */
  timingsMs: Record<string, number>;
  totalMs: number;
}

const defaultBatchSize = 5_000;
// movie_stats recomputation locks rows; smaller batches keep those locks short.
const statsBatchSize = 1_000;
const loadLockKey = 'movie-platform:load-dataset';

interface LoadRun {
  pool: pg.Pool;
  driver: Driver;
  batchSize: number;
  report(phase: string, done: number, total: number | null): void;
  timingsMs: Record<string, number>;
}

/** Loads a dataset; waits while another load into the same database is running. */
export async function loadDataset(dataset: Dataset, target: LoadTarget, options: LoadOptions = {}): Promise<LoadSummary> {
  return withConnections(target, options, (run) => loadUnderLock(run, dataset));
}

/**
 * Seeds the default synthetic dataset when movies.movies is empty (what `npm start` does).
 * Returns null when there was data already. Checking and loading happen under the load lock,
 * so two starts racing on an empty database seed it once.
 */
export async function seedIfEmpty(
  target: LoadTarget,
  log: (message: string) => void = () => {},
  synthetic: SyntheticDatasetOptions = {},
  options: LoadOptions = {},
): Promise<LoadSummary | null> {
  return withConnections(target, options, async (run) => {
    const release = await acquireLoadLock(run);
    try {
      if (await hasMovies(run.pool)) {
        log('database already has movies; not seeding');
        return null;
      }
      log('database is empty; seeding synthetic demo data');
      const summary = await loadAll(run, generateSyntheticDataset(synthetic));
      log(formatLoadSummary(summary));
      return summary;
    } finally {
      await release();
    }
  });
}

export async function hasMovies(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ present: boolean }>('SELECT EXISTS (SELECT 1 FROM movies.movies) AS present');
  return rows[0]?.present ?? false;
}

async function withConnections<T>(target: LoadTarget, options: LoadOptions, work: (run: LoadRun) => Promise<T>): Promise<T> {
  const batchSize = options.batchSize ?? defaultBatchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  // One connection holds the lock, one writes ratings while another writes credits or stats.
  const postgres = connectPostgres(target.databaseUrl, { applicationName: 'load-dataset', max: 4 });
  const driver = connectNeo4j(target.neo4j);
  try {
    return await work({
      pool: postgres.pool,
      driver,
      batchSize,
      report: (phase, done, total) => options.onProgress?.({ phase, done, total }),
      timingsMs: {},
    });
  } finally {
    await Promise.allSettled([postgres.close(), driver.close()]);
  }
}

/**
 * A session-level advisory lock on a dedicated connection: concurrent loads would otherwise
 * interleave their batches and could deadlock on each other's rows.
 */
async function acquireLoadLock(run: LoadRun): Promise<() => Promise<void>> {
  const client = await run.pool.connect();
  try {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [loadLockKey]);
    if (!rows[0]?.locked) {
      run.report('waiting for another load to finish', 0, null);
      await client.query('SELECT pg_advisory_lock(hashtext($1))', [loadLockKey]);
    }
  } catch (error) {
    client.release(true);
    throw error;
  }
  return async () => {
    try {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [loadLockKey]);
      client.release();
    } catch {
      // Destroying the connection ends its session, which releases the lock too.
      client.release(true);
    }
  };
}

async function loadUnderLock(run: LoadRun, dataset: Dataset): Promise<LoadSummary> {
  const release = await acquireLoadLock(run);
  try {
    return await loadAll(run, dataset);
  } finally {
    await release();
  }
}

async function loadAll(parent: LoadRun, dataset: Dataset): Promise<LoadSummary> {
  // Fresh timings per load (seedIfEmpty and loadDataset share the connection setup).
  const run: LoadRun = { ...parent, timingsMs: {} };
  const started = performance.now();
  // Neo4j work runs beside the PostgreSQL phases. Whatever happens, loadAll returns only once
  // all of it has settled, so connections are never closed under a running write; the empty
  // catch handlers only keep a failure from being reported as unhandled before that.
  const graphWork: Promise<unknown>[] = [];
  const inBackground = <T>(work: Promise<T>): Promise<T> => {
    work.catch(() => {});
    graphWork.push(work);
    return work;
  };
  try {
    const graphSchema = inBackground(timed(run, 'neo4j schema', () => ensureGraphSchema(run.driver)));
    // The catalogue and users come first: every later row refers to their ids.
    const people = await timed(run, 'people', () => upsertPeople(run, dataset.people));
    const movies = await timed(run, 'movies', () => upsertMovies(run, dataset.movies));
    // The bulk path announces no movie.created, so the reviews subgraph learns of these movies here.
    await timed(run, 'known movies', () => recordKnownMovies(run, [...movies.ids.values()]));
    const users = await timed(run, 'users', () => upsertUsers(run, dataset.users));
    const graphNodes = inBackground(graphSchema.then(() => timed(run, 'neo4j nodes', () => writeGraphNodes(run, dataset, movies.ids, users.ids))));
    const credits = await timed(run, 'credits', () => upsertCredits(run, dataset.movies, people.ids, movies.ids));

    // PostgreSQL and Neo4j now advance independently, each at its own pace, fed from a single
    // pass over the ratings and reactions: Neo4j is usually the slower one, so PostgreSQL gets
    // its rows, stats and analytics done while the graph is still being written.
    const skipped: Skipped = { unknownUser: 0, unknownMovie: 0, invalidRating: 0 };
    const postgres = createPostgresRelationWriter(run, dataset);
    const graph = createGraphRelationWriter(run, dataset, graphNodes);
    const lookahead = Math.max(2, Math.ceil(lookaheadRows / run.batchSize));
    const batches = relationBatches(run, dataset, { movies: movies.ids, users: users.ids }, skipped);
    const [postgresDone, graphDone] = fanOut(batches, [postgres.write, graph.write], lookahead);
    inBackground(graphDone);
    const streamStarted = performance.now();
    await postgresDone;
    run.timingsMs['postgres ratings+reactions'] = Math.round(performance.now() - streamStarted);
    await timed(run, 'movie stats', () => recomputeMovieStats(run, [...postgres.touchedMovies]));
    const analytics = await timed(run, 'analytics', () => refreshAnalytics(run));
    // Fresh planner statistics: right after a bulk load, before autovacuum catches up, the planner
    // would otherwise pick sequential scans for searches (measured 40-46 ms instead of ~2 ms).
    await timed(run, 'analyze', () => run.pool.query('ANALYZE movies.movies, movies.people, movies.movie_credits, users.users, reviews.reviews, reviews.reactions, reviews.movie_stats'));
    await graphDone;
    run.timingsMs['neo4j ratings+reactions'] = Math.round(performance.now() - streamStarted);

    return {
      source: dataset.source,
      people: people.counts,
      movies: movies.counts,
      credits,
      users: users.counts,
      ratings: postgres.ratings,
      reactions: postgres.reactions,
      skipped,
      historyRows: postgres.historyRows,
      statsRecomputed: postgres.touchedMovies.size,
      analytics,
      timingsMs: run.timingsMs,
      totalMs: Math.round(performance.now() - started),
    };
  } finally {
    await Promise.allSettled(graphWork);
  }
}

async function refreshAnalytics(run: LoadRun): Promise<PlatformTotals> {
  run.report('analytics', 0, 1);
  const result = await backfillPlatformTotals(run.pool);
  run.report('analytics', 1, 1);
  return result.totals;
}

async function timed<T>(run: LoadRun, phase: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    run.timingsMs[phase] = Math.round(performance.now() - started);
  }
}

/** Adds the time since `started` to a running total: shows what a streamed phase waits on. */
function addTime(run: LoadRun, label: string, started: number): void {
  run.timingsMs[label] = (run.timingsMs[label] ?? 0) + Math.round(performance.now() - started);
}

// ---------------------------------------------------------------------------------------------
// Pure helpers (unit-tested)

/** Splits any iterable (also a lazy generator) into arrays of at most `size` items. */
export function* inBatches<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let batch: T[] = [];
  for (const item of items) {
    batch.push(item);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** 0.5..5.0 stars in half steps → 1..10 half-stars, as stored; null for anything else. */
export function toRatingHalves(stars: number): number | null {
  const halves = stars * 2;
  return Number.isInteger(halves) && halves >= 1 && halves <= 10 ? halves : null;
}

/** Keeps the last item per key, in first-seen order: one statement may not touch a row twice. */
export function lastPerKey<T>(items: readonly T[], keyOf: (item: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const item of items) byKey.set(keyOf(item), item);
  return [...byKey.values()];
}

export interface CreditRow {
  movieId: number;
  personId: number;
  role: 'DIRECTOR' | 'ACTOR';
  character: string | null;
  position: number;
}

/**
 * A movie's directors and cast as movie_credits rows; position is the billing order. A person
 * listed twice in one role keeps the first billing; unknown people are left out.
 */
export function creditRowsOf(movie: DatasetMovie, movieId: number, personIds: ReadonlyMap<string, number>): CreditRow[] {
  const rows: CreditRow[] = [];
  const seen = new Set<string>();
  const add = (role: CreditRow['role'], personKey: string, character: string | null, position: number): void => {
    const personId = personIds.get(personKey);
    if (personId === undefined || seen.has(`${role}:${personId}`)) return;
    seen.add(`${role}:${personId}`);
    rows.push({ movieId, personId, role, character, position });
  };
  movie.directorKeys.forEach((personKey, position) => add('DIRECTOR', personKey, null, position));
  movie.cast.forEach((member, position) => add('ACTOR', member.personKey, member.character, position));
  return rows;
}

export function formatLoadSummary(summary: LoadSummary): string {
  const counts = (name: string, rows: RowCounts): string => `${name} ${rows.total} (${rows.changed} changed)`;
  const skipped = summary.skipped.unknownUser + summary.skipped.unknownMovie + summary.skipped.invalidRating;
  const timings = Object.entries(summary.timingsMs)
    .map(([phase, ms]) => `${phase} ${(ms / 1000).toFixed(1)} s`)
    .join(', ');
  return [
    `loaded ${summary.source} in ${(summary.totalMs / 1000).toFixed(1)} s: ` +
      [
        counts('movies', summary.movies),
        counts('people', summary.people),
        counts('credits', summary.credits),
        counts('users', summary.users),
        counts('ratings', summary.ratings),
        counts('reactions', summary.reactions),
      ].join(', '),
    `  history rows ${summary.historyRows}, movie_stats recomputed ${summary.statsRecomputed}` +
      (skipped > 0
        ? `, skipped ${skipped} (unknown user ${summary.skipped.unknownUser}, unknown movie ${summary.skipped.unknownMovie}, invalid rating ${summary.skipped.invalidRating})`
        : ''),
    `  phases: ${timings}`,
  ].join('\n');
}

/** DATABASE_URL, NEO4J_URI, NEO4J_USER (default neo4j) and NEO4J_PASSWORD, as the CLIs read them. */
export function readLoadTarget(env: Record<string, string | undefined> = process.env): LoadTarget {
  const read = envReader(env);
  return {
    databaseUrl: read.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    neo4j: {
      uri: read.url('NEO4J_URI', ['bolt:', 'bolt+s:', 'bolt+ssc:', 'neo4j:', 'neo4j+s:', 'neo4j+ssc:']),
      user: read.string('NEO4J_USER', 'neo4j'),
      password: read.string('NEO4J_PASSWORD'),
    },
  };
}

const numberFormat = new Intl.NumberFormat('en-US');

/** "ratings 45,000 / 100,836 (45%)"; without a known total just the count. */
export function formatProgress(progress: LoadProgress): string {
  const done = numberFormat.format(progress.done);
  if (progress.total === null) return `${progress.phase} ${done}`;
  const percent = progress.total === 0 ? 100 : Math.floor((progress.done / progress.total) * 100);
  return `${progress.phase} ${done} / ${numberFormat.format(progress.total)} (${percent}%)`;
}

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressDisplay {
  update(progress: LoadProgress): void;
  /** Ends the display (the TTY line gets its newline, plain output its last phase). */
  finish(): void;
}

/**
 * On a terminal: one line rewritten in place (at most every 100 ms) showing every phase in
 * progress, e.g. both the PostgreSQL and the Neo4j lane. Elsewhere (CI logs, files): a plain line
 * per finished phase and, during long phases, the phases in progress every 5 s.
 */
export function createProgressDisplay(stream: ProgressStream, now: () => number = () => performance.now()): ProgressDisplay {
  const started = now();
  const elapsed = (): string => `[${((now() - started) / 1000).toFixed(1)} s]`;
  const phases = new PhaseTracker();
  return stream.isTTY ? terminalDisplay(stream, now, elapsed, phases) : plainDisplay(stream, now, elapsed, phases);
}

/** The phases in progress, in the order they started, and the one that finished last. */
class PhaseTracker {
  readonly active = new Map<string, LoadProgress>();
  lastFinished: LoadProgress | null = null;

  /** Records an update; true when it finished its phase. */
  record(progress: LoadProgress): boolean {
    if (progress.total !== null && progress.done >= progress.total) {
      this.active.delete(progress.phase);
      this.lastFinished = progress;
      return true;
    }
    this.active.set(progress.phase, progress);
    return false;
  }
}

function terminalDisplay(stream: ProgressStream, now: () => number, elapsed: () => string, phases: PhaseTracker): ProgressDisplay {
  let lastDrawn = Number.NEGATIVE_INFINITY;
  let lineShown = false;
  return {
    update(progress) {
      const finishedPhase = phases.record(progress);
      if (!finishedPhase && now() - lastDrawn < 100) return;
      lastDrawn = now();
      const shown = phases.active.size > 0 ? [...phases.active.values()] : [progress];
      stream.write(`\r\x1b[2K${shown.map(formatProgress).join(' | ')}  ${elapsed()}`);
      lineShown = true;
    },
    finish() {
      if (lineShown) stream.write('\n');
      lineShown = false;
    },
  };
}

function plainDisplay(stream: ProgressStream, now: () => number, elapsed: () => string, phases: PhaseTracker): ProgressDisplay {
  let lastWriteAt = now();
  const write = (progress: LoadProgress): void => {
    lastWriteAt = now();
    stream.write(`${formatProgress(progress)}  ${elapsed()}\n`);
  };
  const writeActive = (): void => {
    for (const progress of phases.active.values()) write(progress);
  };
  return {
    update(progress) {
      if (phases.record(progress)) write(progress);
      else if (now() - lastWriteAt >= 5_000) writeActive();
    },
    finish() {
      // Phases of unknown size (reactions) only end here.
      writeActive();
      phases.active.clear();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Catalogue and users: upserts keyed by natural keys, returning the key → id map

interface KeyedUpsert<TKey> {
  ids: Map<string, TKey>;
  counts: RowCounts;
}

interface KeyedRow extends pg.QueryResultRow {
  key: string;
  id: string;
  written: boolean;
}

/**
 * Runs a keyed upsert statement per batch. Each statement must return (key, id, written) for
 * every input row: the rows it wrote plus the unchanged existing ones (see the SQL below).
 */
async function upsertKeyed<TItem, TId>(
  run: LoadRun,
  phase: string,
  items: readonly TItem[],
  keyOf: (item: TItem) => string,
  write: (batch: TItem[]) => Promise<KeyedRow[]>,
  parseId: (raw: string) => TId,
): Promise<KeyedUpsert<TId>> {
  const unique = lastPerKey(items, keyOf);
  const ids = new Map<string, TId>();
  let changed = 0;
  run.report(phase, 0, unique.length);
  for (const batch of inBatches(unique, run.batchSize)) {
    for (const row of await write(batch)) {
      ids.set(row.key, parseId(row.id));
      if (row.written) changed++;
    }
    run.report(phase, ids.size, unique.length);
  }
  return { ids, counts: { total: unique.length, changed } };
}

// In one statement the SELECT sees the table as it was before the INSERT, so the second half
// finds exactly the existing rows the INSERT left alone (ids never change on update).
const upsertPeopleSql = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS t(source_key text, name text)
), written AS (
  INSERT INTO movies.people AS p (source_key, name)
  SELECT source_key, name FROM input
  ON CONFLICT (source_key) DO UPDATE SET name = excluded.name
  WHERE p.name IS DISTINCT FROM excluded.name
  RETURNING p.source_key, p.id
)
SELECT source_key AS key, id, true AS written FROM written
UNION ALL
SELECT p.source_key, p.id, false FROM movies.people p JOIN input USING (source_key)
WHERE p.source_key NOT IN (SELECT source_key FROM written)`;

function upsertPeople(run: LoadRun, people: readonly DatasetPerson[]): Promise<KeyedUpsert<number>> {
  return upsertKeyed(
    run,
    'people',
    people,
    (person) => person.key,
    async (batch) => {
      const input = batch.map((person) => ({ source_key: person.key, name: person.name }));
      return (await run.pool.query<KeyedRow>(upsertPeopleSql, [JSON.stringify(input)])).rows;
    },
    Number,
  );
}

const movieColumns = ['title', 'year', 'genres', 'languages', 'runtime_minutes', 'overview', 'imdb_id', 'tmdb_id', 'tags'] as const;

const upsertMoviesSql = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS t(
    source_key text, title text, year integer, genres text[], languages text[], runtime_minutes integer,
    overview text, imdb_id text, tmdb_id text, tags text[])
), written AS (
  INSERT INTO movies.movies AS m (source_key, ${movieColumns.join(', ')})
  SELECT source_key, ${movieColumns.join(', ')} FROM input
  ON CONFLICT (source_key) DO UPDATE SET ${movieColumns.map((column) => `${column} = excluded.${column}`).join(', ')}, updated_at = now()
  WHERE (${movieColumns.map((column) => `m.${column}`).join(', ')})
    IS DISTINCT FROM (${movieColumns.map((column) => `excluded.${column}`).join(', ')})
  RETURNING m.source_key, m.id
)
SELECT source_key AS key, id, true AS written FROM written
UNION ALL
SELECT m.source_key, m.id, false FROM movies.movies m JOIN input USING (source_key)
WHERE m.source_key NOT IN (SELECT source_key FROM written)`;

function upsertMovies(run: LoadRun, movies: readonly DatasetMovie[]): Promise<KeyedUpsert<number>> {
  return upsertKeyed(
    run,
    'movies',
    movies,
    (movie) => movie.key,
    async (batch) => {
      const input = batch.map((movie) => ({
        source_key: movie.key,
        title: movie.title,
        year: movie.year,
        genres: movie.genres,
        languages: movie.languages,
        runtime_minutes: movie.runtimeMinutes,
        overview: movie.overview,
        imdb_id: movie.imdbId,
        tmdb_id: movie.tmdbId,
        tags: movie.tags,
      }));
      return (await run.pool.query<KeyedRow>(upsertMoviesSql, [JSON.stringify(input)])).rows;
    },
    Number,
  );
}

// The reviews subgraph accepts writes only for movies in reviews.known_movies, which its consumer
// of the movies stream fills from movie.created. This loader writes movies without events, so it
// fills the table itself, from the rows it just wrote (same id, same created_at as the movie), in
// the same run: a movie is never loaded without becoming rateable. An id already known is left
// alone, so a second load writes nothing here either.
const recordKnownMoviesSql = `
INSERT INTO reviews.known_movies (movie_id, created_at)
SELECT id, created_at FROM movies.movies WHERE id = ANY($1::bigint[])
ON CONFLICT (movie_id) DO NOTHING`;

async function recordKnownMovies(run: LoadRun, movieIds: number[]): Promise<void> {
  let done = 0;
  run.report('known movies', 0, movieIds.length);
  for (const batch of inBatches(movieIds, run.batchSize)) {
    await run.pool.query(recordKnownMoviesSql, [batch]);
    done += batch.length;
    run.report('known movies', done, movieIds.length);
  }
}

// Only profile fields are updated on conflict: role and password_hash belong to the account
// (an admin may have promoted a demo user, or someone registered that name), never to the data.
const upsertUsersSql = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS t(username text, display_name text, favorite_genres text[], created_at timestamptz)
), written AS (
  INSERT INTO users.users AS u (username, display_name, favorite_genres, role, password_hash, created_at, updated_at)
  SELECT username, display_name, favorite_genres, 'USER', NULL, created_at, created_at FROM input
  ON CONFLICT ((lower(username))) DO UPDATE SET
    display_name = excluded.display_name, favorite_genres = excluded.favorite_genres, updated_at = now()
  WHERE (u.display_name, u.favorite_genres) IS DISTINCT FROM (excluded.display_name, excluded.favorite_genres)
  RETURNING lower(u.username) AS username_key, u.id
)
SELECT username_key AS key, id, true AS written FROM written
UNION ALL
SELECT lower(u.username), u.id, false FROM users.users u JOIN input ON lower(u.username) = lower(input.username)
WHERE lower(u.username) NOT IN (SELECT username_key FROM written)`;

/** Returns ids by dataset user key (the SQL matches on the lower-cased username). */
async function upsertUsers(run: LoadRun, users: readonly DatasetUser[]): Promise<KeyedUpsert<string>> {
  const byUsername = await upsertKeyed(
    run,
    'users',
    users,
    (user) => user.username.toLowerCase(),
    async (batch) => {
      const input = batch.map((user) => ({
        username: user.username,
        display_name: user.displayName,
        favorite_genres: user.favoriteGenres,
        created_at: user.createdAt.toISOString(),
      }));
      return (await run.pool.query<KeyedRow>(upsertUsersSql, [JSON.stringify(input)])).rows;
    },
    String,
  );
  const ids = new Map<string, string>();
  for (const user of users) {
    const id = byUsername.ids.get(user.username.toLowerCase());
    if (id !== undefined) ids.set(user.key, id);
  }
  return { ids, counts: byUsername.counts };
}

const upsertCreditsSql = `
INSERT INTO movies.movie_credits AS c (movie_id, person_id, role, character, position)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::integer[])
ON CONFLICT (movie_id, role, person_id) DO UPDATE SET character = excluded.character, position = excluded.position
WHERE (c.character, c.position) IS DISTINCT FROM (excluded.character, excluded.position)`;

async function upsertCredits(
  run: LoadRun,
  movies: readonly DatasetMovie[],
  personIds: ReadonlyMap<string, number>,
  movieIds: ReadonlyMap<string, number>,
): Promise<RowCounts> {
  const rows: CreditRow[] = [];
  for (const movie of lastPerKey(movies, (m) => m.key)) {
    const movieId = movieIds.get(movie.key);
    if (movieId !== undefined) rows.push(...creditRowsOf(movie, movieId, personIds));
  }
  let changed = 0;
  let done = 0;
  run.report('credits', 0, rows.length);
  for (const batch of inBatches(rows, run.batchSize)) {
    const result = await run.pool.query(upsertCreditsSql, [
      batch.map((row) => row.movieId),
      batch.map((row) => row.personId),
      batch.map((row) => row.role),
      batch.map((row) => row.character),
      batch.map((row) => row.position),
    ]);
    changed += result.rowCount ?? 0;
    done += batch.length;
    run.report('credits', done, rows.length);
  }
  return { total: rows.length, changed };
}

async function writeGraphNodes(
  run: LoadRun,
  dataset: Dataset,
  movieIds: ReadonlyMap<string, number>,
  userIds: ReadonlyMap<string, string>,
): Promise<void> {
  const graphMovies: GraphMovie[] = [];
  for (const movie of lastPerKey(dataset.movies, (m) => m.key)) {
    const id = movieIds.get(movie.key);
    if (id !== undefined) graphMovies.push({ id, title: movie.title, year: movie.year, genres: movie.genres });
  }
  const graphUsers: GraphUser[] = [];
  for (const user of lastPerKey(dataset.users, (u) => u.key)) {
    const id = userIds.get(user.key);
    if (id !== undefined) graphUsers.push({ id, favoriteGenres: user.favoriteGenres });
  }
  await writeGraphBatches(run, 'movies → neo4j', graphMovies, (batch) => upsertGraphMovies(run.driver, batch));
  await writeGraphBatches(run, 'users → neo4j', graphUsers, (batch) => upsertGraphUsers(run.driver, batch));
}

async function writeGraphBatches<T>(run: LoadRun, phase: string, items: readonly T[], write: (batch: T[]) => Promise<void>): Promise<void> {
  let done = 0;
  run.report(phase, 0, items.length);
  for (const batch of inBatches(items, run.batchSize)) {
    await write(batch);
    done += batch.length;
    run.report(phase, done, items.length);
  }
}

// ---------------------------------------------------------------------------------------------
// Ratings and reactions: one stream of batches, consumed by a PostgreSQL and a Neo4j lane

interface KeyMaps {
  movies: ReadonlyMap<string, number>;
  users: ReadonlyMap<string, string>;
}

interface Skipped {
  unknownUser: number;
  unknownMovie: number;
  invalidRating: number;
}

interface ResolvedRow {
  userId: string;
  movieId: number;
  at: Date;
}

interface RatingRow extends ResolvedRow {
  halves: number;
}

interface ReactionRow extends ResolvedRow {
  reaction: 'LIKE' | 'DISLIKE';
}

/** One batch of the stream both databases consume; `read` counts dataset rows, skipped ones included. */
type RelationBatch = { kind: 'ratings'; rows: RatingRow[]; read: number } | { kind: 'reactions'; rows: ReactionRow[]; read: number };

// How far (in rows) the faster database may run ahead of the slower one; bounds memory.
const lookaheadRows = 100_000;

/** Maps dataset keys to database ids; rows naming an unknown user or movie are counted and dropped. */
function resolveKeys<TIn extends { userKey: string; movieKey: string }, TOut extends ResolvedRow>(
  items: readonly TIn[],
  keys: KeyMaps,
  skipped: Skipped,
  convert: (item: TIn, userId: string, movieId: number) => TOut | null,
): TOut[] {
  const resolved: TOut[] = [];
  for (const item of items) {
    const userId = keys.users.get(item.userKey);
    const movieId = keys.movies.get(item.movieKey);
    if (userId === undefined) skipped.unknownUser++;
    else if (movieId === undefined) skipped.unknownMovie++;
    else {
      const row = convert(item, userId, movieId);
      if (row !== null) resolved.push(row);
    }
  }
  return lastPerKey(resolved, (row) => `${row.userId}:${row.movieId}`);
}

function* relationBatches(run: LoadRun, dataset: Dataset, keys: KeyMaps, skipped: Skipped): Generator<RelationBatch> {
  for (const batch of inBatches<DatasetRating>(dataset.ratings(), run.batchSize)) {
    const rows = resolveKeys(batch, keys, skipped, (rating, userId, movieId): RatingRow | null => {
      const halves = toRatingHalves(rating.rating);
      if (halves === null) {
        skipped.invalidRating++;
        return null;
      }
      return { userId, movieId, halves, at: rating.at };
    });
    yield { kind: 'ratings', rows, read: batch.length };
  }
  for (const batch of inBatches<DatasetReaction>(dataset.reactions(), run.batchSize)) {
    const rows = resolveKeys(batch, keys, skipped, (item, userId, movieId): ReactionRow => ({ userId, movieId, reaction: item.reaction, at: item.at }));
    yield { kind: 'reactions', rows, read: batch.length };
  }
}

/**
 * Feeds every batch to each consumer in order, each consumer at its own pace. The producer
 * runs at most `maxQueued` batches ahead of the slowest consumer, so memory stays bounded.
 * Returns one promise per consumer, settled once that consumer is done (or everything stopped
 * because the producer or any consumer failed; batches still queued are then skipped).
 */
export function fanOut<T>(batches: Iterable<T>, consumers: readonly ((batch: T) => Promise<void>)[], maxQueued: number): Promise<void>[] {
  let failure: { error: unknown } | null = null;
  const lanes = consumers.map((consume) => ({ consume, tail: Promise.resolve(), queued: [] as Promise<void>[] }));
  const produce = async (): Promise<void> => {
    for (const batch of batches) {
      for (const lane of lanes) {
        if (lane.queued.length >= maxQueued) await lane.queued.shift();
        if (failure) throw failure.error;
        const consumed = lane.tail.then(() => (failure ? undefined : lane.consume(batch)));
        consumed.catch((error: unknown) => {
          failure ??= { error };
        });
        lane.tail = consumed;
        lane.queued.push(consumed);
      }
      // Producing is synchronous CPU work (parsing, generating): let the consumers' I/O
      // callbacks run between batches, or nothing would be written until the queues fill up.
      await nextTurn();
    }
  };
  const produced = produce();
  produced.catch((error: unknown) => {
    failure ??= { error };
  });
  return lanes.map((lane) =>
    produced.then(
      () => lane.tail,
      async (error: unknown) => {
        await lane.tail.catch(() => {});
        throw error;
      },
    ),
  );
}

interface BatchOutcome extends pg.QueryResultRow {
  changed: number;
  /** bigint[] arrives as text */
  movie_ids: string[];
}

// A stored rating is replaced only by a different value that is not older than it, the rule the
// graph writer follows too: re-importing an old dataset never undoes what a user changed since.
// `previous` reads the rows as they were before this statement (one snapshot for all CTEs), so
// the history gets the old value of every changed rating. It is a LATERAL lookup with LIMIT so
// the planner cannot turn it into a merge join over the whole table: one primary-key probe per
// input row (in the one partition that holds it) keeps a batch's cost independent of table size. The comment is not part of a rating
// import; it is carried over unchanged on both sides of the history row.
const upsertRatingsSql = `
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::smallint[], $4::timestamptz[]) AS t(user_id, movie_id, rating_halves, at)
), previous AS (
  SELECT i.user_id, i.movie_id, r.rating_halves, r.comment
  FROM input i CROSS JOIN LATERAL (
    SELECT rating_halves, comment FROM reviews.reviews WHERE user_id = i.user_id AND movie_id = i.movie_id LIMIT 1
  ) r
), written AS (
  INSERT INTO reviews.reviews AS r (user_id, movie_id, rating_halves, created_at, updated_at)
  SELECT user_id, movie_id, rating_halves, at, at FROM input
  ON CONFLICT (user_id, movie_id) DO UPDATE SET rating_halves = excluded.rating_halves, updated_at = excluded.updated_at
  WHERE r.rating_halves IS DISTINCT FROM excluded.rating_halves AND r.updated_at <= excluded.updated_at
  RETURNING r.user_id, r.movie_id, r.rating_halves, r.updated_at
), logged AS (
  INSERT INTO reviews.review_history
    (user_id, movie_id, action, old_rating_halves, new_rating_halves, old_comment, new_comment, actor_id, reason, at)
  SELECT w.user_id, w.movie_id, 'IMPORT', p.rating_halves, w.rating_halves, p.comment, p.comment, NULL, $5, w.updated_at
  FROM written w LEFT JOIN previous p ON p.user_id = w.user_id AND p.movie_id = w.movie_id
  RETURNING movie_id
)
SELECT count(*)::integer AS changed, coalesce(array_agg(DISTINCT movie_id), '{}') AS movie_ids FROM logged`;

// Same "not older" rule as ratings; reactions keep no history (review_history is about reviews).
const upsertReactionsSql = `
WITH written AS (
  INSERT INTO reviews.reactions AS x (user_id, movie_id, reaction, created_at)
  SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::timestamptz[])
  ON CONFLICT (user_id, movie_id) DO UPDATE SET reaction = excluded.reaction, created_at = excluded.created_at
  WHERE x.reaction IS DISTINCT FROM excluded.reaction AND x.created_at <= excluded.created_at
  RETURNING x.movie_id
)
SELECT count(*)::integer AS changed, coalesce(array_agg(DISTINCT movie_id), '{}') AS movie_ids FROM written`;

function writeRatingsToPostgres(run: LoadRun, rows: RatingRow[], reason: string): Promise<pg.QueryResult<BatchOutcome>> {
  return run.pool.query<BatchOutcome>(upsertRatingsSql, [
    rows.map((row) => row.userId),
    rows.map((row) => row.movieId),
    rows.map((row) => row.halves),
    rows.map((row) => row.at.toISOString()),
    reason,
  ]);
}

function writeReactionsToPostgres(run: LoadRun, rows: ReactionRow[]): Promise<pg.QueryResult<BatchOutcome>> {
  return run.pool.query<BatchOutcome>(upsertReactionsSql, [
    rows.map((row) => row.userId),
    rows.map((row) => row.movieId),
    rows.map((row) => row.reaction),
    rows.map((row) => row.at.toISOString()),
  ]);
}

/** The PostgreSQL lane: writes each batch and tallies what changed. */
function createPostgresRelationWriter(run: LoadRun, dataset: Dataset) {
  const reason = `dataset import: ${dataset.source}`;
  const read = { ratings: 0, reactions: 0 };
  const writer = {
    ratings: { total: 0, changed: 0 } as RowCounts,
    reactions: { total: 0, changed: 0 } as RowCounts,
    historyRows: 0,
    /** movies with a new or changed rating or reaction: their movie_stats need recomputing */
    touchedMovies: new Set<number>(),
    async write(batch: RelationBatch): Promise<void> {
      const counts = writer[batch.kind];
      if (batch.rows.length > 0) {
        const started = performance.now();
        const result =
          batch.kind === 'ratings' ? await writeRatingsToPostgres(run, batch.rows, reason) : await writeReactionsToPostgres(run, batch.rows);
        addTime(run, `postgres ${batch.kind} busy`, started);
        const outcome = result.rows[0];
        counts.changed += outcome?.changed ?? 0;
        if (batch.kind === 'ratings') writer.historyRows += outcome?.changed ?? 0;
        for (const movieId of outcome?.movie_ids ?? []) writer.touchedMovies.add(Number(movieId));
      }
      counts.total += batch.rows.length;
      read[batch.kind] += batch.read;
      run.report(`${batch.kind} → postgres`, read[batch.kind], batch.kind === 'ratings' ? dataset.ratingCount : null);
    },
  };
  return writer;
}

/** The Neo4j lane: starts once the movie and user nodes are written (`ready`). */
function createGraphRelationWriter(run: LoadRun, dataset: Dataset, ready: Promise<void>) {
  const read = { ratings: 0, reactions: 0 };
  return {
    async write(batch: RelationBatch): Promise<void> {
      await ready;
      const started = performance.now();
      if (batch.kind === 'ratings') {
        const ratings = batch.rows.map((row): GraphRating => ({ userId: row.userId, movieId: row.movieId, rating: row.halves / 2, at: row.at.getTime() }));
        if (ratings.length > 0) await upsertGraphRatings(run.driver, ratings);
      } else {
        const reactions = batch.rows.map((row): GraphReaction => ({ userId: row.userId, movieId: row.movieId, reaction: row.reaction, at: row.at.getTime() }));
        if (reactions.length > 0) await upsertGraphReactions(run.driver, reactions);
      }
      addTime(run, `neo4j ${batch.kind} busy`, started);
      read[batch.kind] += batch.read;
      run.report(`${batch.kind} → neo4j`, read[batch.kind], batch.kind === 'ratings' ? dataset.ratingCount : null);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// movie_stats

// The reviews subgraph adjusts a movie's stats row in the same transaction as each review
// change (an increment, which takes the row lock). To recompute without losing such a concurrent
// adjustment, the stats rows are created and locked first; the aggregate then runs under a fresh
// snapshot (READ COMMITTED: one per statement) that includes every review whose transaction
// already adjusted the stats, while later ones wait for our commit and then add their increment
// on top of the recomputed value.
const ensureStatsRowsSql = `
INSERT INTO reviews.movie_stats (movie_id) SELECT unnest($1::bigint[]) ON CONFLICT (movie_id) DO NOTHING`;
const lockStatsRowsSql = `
SELECT movie_id FROM reviews.movie_stats WHERE movie_id = ANY($1::bigint[]) ORDER BY movie_id FOR UPDATE`;
const recomputeStatsSql = `
UPDATE reviews.movie_stats s SET
  rating_count = a.rating_count, rating_halves_sum = a.rating_halves_sum,
  like_count = a.like_count, dislike_count = a.dislike_count
FROM (
  SELECT ids.movie_id,
         coalesce(r.rating_count, 0) AS rating_count, coalesce(r.rating_halves_sum, 0) AS rating_halves_sum,
         coalesce(x.like_count, 0) AS like_count, coalesce(x.dislike_count, 0) AS dislike_count
  FROM unnest($1::bigint[]) AS ids(movie_id)
  LEFT JOIN (
    SELECT movie_id, count(*)::integer AS rating_count, sum(rating_halves)::bigint AS rating_halves_sum
    FROM reviews.reviews WHERE movie_id = ANY($1::bigint[]) GROUP BY movie_id
  ) r USING (movie_id)
  LEFT JOIN (
    SELECT movie_id, (count(*) FILTER (WHERE reaction = 'LIKE'))::integer AS like_count,
           (count(*) FILTER (WHERE reaction = 'DISLIKE'))::integer AS dislike_count
    FROM reviews.reactions WHERE movie_id = ANY($1::bigint[]) GROUP BY movie_id
  ) x USING (movie_id)
) a
WHERE s.movie_id = a.movie_id
  AND (s.rating_count, s.rating_halves_sum, s.like_count, s.dislike_count)
      IS DISTINCT FROM (a.rating_count, a.rating_halves_sum, a.like_count, a.dislike_count)`;

async function recomputeMovieStats(run: LoadRun, movieIds: number[]): Promise<void> {
  const sorted = movieIds.sort((a, b) => a - b);
  let done = 0;
  run.report('movie stats', 0, sorted.length);
  for (const batch of inBatches(sorted, statsBatchSize)) {
    await inTransaction(run.pool, async (client) => {
      await client.query(ensureStatsRowsSql, [batch]);
      await client.query(lockStatsRowsSql, [batch]);
      await client.query(recomputeStatsSql, [batch]);
    });
    done += batch.length;
    run.report('movie stats', done, sorted.length);
  }
}

async function inTransaction(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await work(client);
    await client.query('COMMIT');
    client.release();
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    client.release(true);
    throw error;
  }
}
