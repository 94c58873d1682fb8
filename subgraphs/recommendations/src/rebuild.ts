import type pg from 'pg';
import neo4j, { type Driver } from 'neo4j-driver';
import { envReader, type Neo4jSettings } from '@platform/shared';
import {
  ensureGraphSchema,
  graphUserIdsAfter,
  pairRelationshipTypes,
  removeGraphPairsNotIn,
  upsertGraphExclusions,
  upsertGraphMovies,
  upsertGraphRatings,
  upsertGraphReactions,
  upsertGraphUsers,
  type PairRelationshipType,
  type UserPairsInSource,
} from './graph.ts';
import { readNeo4jSettings } from './neo4j-settings.ts';

// Rebuilds the like-graph from PostgreSQL, the source of truth: after losing Neo4j, or to resync
// a graph that drifted (events dead-lettered, a consumer group deleted). `npm run graph:rebuild`.
//
// 1. Writes every movie, user, rating, reaction and exclusion through graph.ts's batched,
//    idempotent latest-wins writes (keyset pages of `batchSize` rows; each page commits on its
//    own, so an interrupted rebuild is simply run again). PostgreSQL's timestamps become the `at`
//    of each write, exactly like the events' `at`, so a rebuild racing the live consumer never
//    overwrites a newer change, and a tombstone newer than a row (a delete that committed after
//    the row was read) keeps winning.
// 2. Removes what PostgreSQL no longer has: walks every User node of the graph in id order and,
//    per page of users, reads their current rows from PostgreSQL and deletes their RATED, LIKED,
//    DISLIKED and EXCLUDED relationships to movies those rows do not name. Walking the graph (not
//    PostgreSQL) also finds users PostgreSQL has no row for at all. Relationships written within
//    `recentMs` before the rebuild started are kept: they may come from events newer than what
//    was read, and the event stream settles them. Tombstones stay (they still guard against late
//    older events), and so do nodes: a node without relationships recommends nothing.
//
// It holds the dataset loader's advisory lock while it runs: a load writes Neo4j ahead of
// PostgreSQL, and step 2 would delete what the load has not committed to PostgreSQL yet.

export interface RebuildConfig {
  databaseUrl: string;
  neo4j: Neo4jSettings;
}

/** DATABASE_URL, NEO4J_URI, NEO4J_USER (default neo4j), NEO4J_PASSWORD. */
export function readRebuildConfig(env: Record<string, string | undefined> = process.env): RebuildConfig {
  const read = envReader(env);
  return {
    databaseUrl: read.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    neo4j: readNeo4jSettings(read),
  };
}

export interface RebuildProgress {
  phase: string;
  done: number;
  total: number | null;
}

export interface RebuildOptions {
  /** Rows per PostgreSQL page and Neo4j write; default 5,000. */
  batchSize?: number;
  /** Graph users per removal page (each brings all their rows); default 500. */
  usersPerCheck?: number;
  /** Relationships written this recently before the start are never removed; default 60 s. */
  recentMs?: number;
  onProgress?(progress: RebuildProgress): void;
}

export interface RebuildSummary {
  written: { movies: number; users: number; ratings: number; reactions: number; exclusions: number };
  /** Relationships removed because PostgreSQL no longer has them, per type. */
  removed: Record<PairRelationshipType, number>;
  usersChecked: number;
  totalMs: number;
}

/** Same key as scripts/lib/load-dataset.ts: a rebuild and a dataset load never overlap. */
const loadLockKey = 'movie-platform:load-dataset';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** bigint columns arrive as text; ids stay far below 2^53. */
const toId = (text: string): number => Number(text);

interface KeysetQuery {
  /** output columns (ids cast to text, which JS reads losslessly); must include every key column under its own name */
  select: string;
  /** the table, aliased `t` */
  from: string;
  /** primary-key columns of `t`, in order */
  keys: readonly string[];
}

/**
 * Pages through a table in primary-key order. Keyset pagination (not OFFSET) keeps every page an
 * index range scan however deep it is, and needs no long-lived transaction or cursor. Ordering and
 * comparing name the table's columns (`t.id`), never the text-cast output columns of the same
 * name, which would order '10' before '2'.
 */
async function* keysetPages<Row extends Record<string, unknown>>(pool: pg.Pool, query: KeysetQuery, batchSize: number): AsyncGenerator<Row[]> {
  const columns = query.keys.map((key) => `t.${key}`).join(', ');
  const first = `SELECT ${query.select} FROM ${query.from} ORDER BY ${columns} LIMIT $1`;
  const placeholders = query.keys.map((_, index) => `$${index + 2}`).join(', ');
  const next = `SELECT ${query.select} FROM ${query.from} WHERE (${columns}) > (${placeholders}) ORDER BY ${columns} LIMIT $1`;
  let after: unknown[] | null = null;
  for (;;) {
    const { rows }: pg.QueryResult<Row> = after === null ? await pool.query<Row>(first, [batchSize]) : await pool.query<Row>(next, [batchSize, ...after]);
    if (rows.length > 0) yield rows;
    if (rows.length < batchSize) return;
    const last = rows[rows.length - 1] as Row;
    after = query.keys.map((key) => last[key]);
  }
}

async function countRows(pool: pg.Pool, table: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(rows[0]?.n ?? 0);
}

interface MovieRowInPostgres extends Record<string, unknown> {
  id: string;
  title: string;
  year: number | null;
  genres: string[];
  updated_at: Date;
}

interface UserRowInPostgres extends Record<string, unknown> {
  id: string;
  favorite_genres: string[];
  updated_at: Date;
}

interface PairRowInPostgres extends Record<string, unknown> {
  user_id: string;
  movie_id: string;
}

interface ReviewRowInPostgres extends PairRowInPostgres {
  rating_halves: number;
  updated_at: Date;
}

interface ReactionRowInPostgres extends PairRowInPostgres {
  reaction: 'LIKE' | 'DISLIKE';
  created_at: Date;
}

interface ExclusionRowInPostgres extends PairRowInPostgres {
  created_at: Date;
}

async function withLoadLock<T>(pool: pg.Pool, report: (progress: RebuildProgress) => void, work: () => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let locked = false;
  try {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [loadLockKey]);
    if (!rows[0]?.locked) {
      report({ phase: 'waiting for a dataset load to finish', done: 0, total: null });
      await client.query('SELECT pg_advisory_lock(hashtext($1))', [loadLockKey]);
    }
    locked = true;
    return await work();
  } finally {
    if (locked) {
      await client
        .query('SELECT pg_advisory_unlock(hashtext($1))', [loadLockKey])
        .then(() => client.release())
        // Destroying the connection ends its session, which releases the lock too.
        .catch(() => client.release(true));
    } else {
      client.release(true);
    }
  }
}

export async function rebuildGraph(pool: pg.Pool, driver: Driver, options: RebuildOptions = {}): Promise<RebuildSummary> {
  const batchSize = options.batchSize ?? 5_000;
  const usersPerCheck = options.usersPerCheck ?? 500;
  const recentMs = options.recentMs ?? 60_000;
  for (const [name, value] of Object.entries({ batchSize, usersPerCheck, recentMs })) {
    if (!Number.isSafeInteger(value) || value < (name === 'recentMs' ? 0 : 1)) throw new RangeError(`${name} must be a ${name === 'recentMs' ? 'non-negative' : 'positive'} integer, got ${value}`);
  }
  const report = options.onProgress ?? (() => {});
  const started = performance.now();

  return withLoadLock(pool, report, async () => {
    // PostgreSQL's clock, the one every `at` comes from.
    const clock = await pool.query<{ now_ms: string }>('SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms');
    const startedAtMs = Number(clock.rows[0]?.now_ms);
    await ensureGraphSchema(driver);

    const written = { movies: 0, users: 0, ratings: 0, reactions: 0, exclusions: 0 };
    const phase = async <Row extends Record<string, unknown>>(
      name: keyof typeof written,
      table: string,
      query: KeysetQuery,
      write: (rows: Row[]) => Promise<void>,
    ): Promise<void> => {
      const total = await countRows(pool, table);
      report({ phase: name, done: 0, total });
      for await (const rows of keysetPages<Row>(pool, query, batchSize)) {
        await write(rows);
        written[name] += rows.length;
        report({ phase: name, done: written[name], total: Math.max(total, written[name]) });
      }
      report({ phase: name, done: written[name], total: written[name] });
    };

    await phase<MovieRowInPostgres>('movies', 'movies.movies', { select: 't.id::text AS id, t.title, t.year, t.genres, t.updated_at', from: 'movies.movies t', keys: ['id'] }, (rows) =>
      upsertGraphMovies(
        driver,
        rows.map((row) => ({ id: toId(row.id), title: row.title, year: row.year, genres: row.genres, at: row.updated_at.getTime() })),
      ),
    );
    await phase<UserRowInPostgres>('users', 'users.users', { select: 't.id::text AS id, t.favorite_genres, t.updated_at', from: 'users.users t', keys: ['id'] }, (rows) =>
      upsertGraphUsers(
        driver,
        rows.map((row) => ({ id: row.id, favoriteGenres: row.favorite_genres, at: row.updated_at.getTime() })),
      ),
    );
    const pairKeys = ['user_id', 'movie_id'];
    const pairColumns = 't.user_id::text AS user_id, t.movie_id::text AS movie_id';
    await phase<ReviewRowInPostgres>(
      'ratings',
      'reviews.reviews',
      { select: `${pairColumns}, t.rating_halves, t.updated_at`, from: 'reviews.reviews t', keys: pairKeys },
      (rows) =>
        upsertGraphRatings(
          driver,
          rows.map((row) => ({ userId: row.user_id, movieId: toId(row.movie_id), rating: row.rating_halves / 2, at: row.updated_at.getTime() })),
        ),
    );
    await phase<ReactionRowInPostgres>(
      'reactions',
      'reviews.reactions',
      { select: `${pairColumns}, t.reaction, t.created_at`, from: 'reviews.reactions t', keys: pairKeys },
      (rows) =>
        upsertGraphReactions(
          driver,
          rows.map((row) => ({ userId: row.user_id, movieId: toId(row.movie_id), reaction: row.reaction, at: row.created_at.getTime() })),
        ),
    );
    await phase<ExclusionRowInPostgres>(
      'exclusions',
      'reviews.exclusions',
      { select: `${pairColumns}, t.created_at`, from: 'reviews.exclusions t', keys: pairKeys },
      (rows) => upsertGraphExclusions(driver, rows.map((row) => ({ userId: row.user_id, movieId: toId(row.movie_id), at: row.created_at.getTime() }))),
    );

    const removed = Object.fromEntries(pairRelationshipTypes.map((type) => [type, 0])) as Record<PairRelationshipType, number>;
    const graphUsers = await countGraphUsers(driver);
    let usersChecked = 0;
    const checkPhase = 'removing what PostgreSQL no longer has (graph users)';
    report({ phase: checkPhase, done: 0, total: graphUsers });
    for (let after: string | null = null; ; ) {
      const userIds = await graphUserIdsAfter(driver, after, usersPerCheck);
      if (userIds.length === 0) break;
      const counts = await removeGraphPairsNotIn(driver, await pairsInPostgres(pool, userIds), startedAtMs - recentMs);
      for (const type of pairRelationshipTypes) removed[type] += counts[type];
      usersChecked += userIds.length;
      report({ phase: checkPhase, done: usersChecked, total: Math.max(graphUsers, usersChecked) });
      after = userIds[userIds.length - 1] ?? null;
    }
    report({ phase: checkPhase, done: usersChecked, total: usersChecked });

    return { written, removed, usersChecked, totalMs: performance.now() - started };
  });
}

async function countGraphUsers(driver: Driver): Promise<number> {
  const { records } = await driver.executeQuery('MATCH (u:User) RETURN count(u) AS n', {}, { routing: neo4j.routing.READ });
  return Number(records[0]?.get('n') ?? 0);
}

/** PostgreSQL's current rows of the given graph users; a user id that is no UUID has none. */
async function pairsInPostgres(pool: pg.Pool, userIds: readonly string[]): Promise<UserPairsInSource[]> {
  const uuids = userIds.filter((id) => uuidPattern.test(id));
  const byUser = new Map<string, Record<PairRelationshipType, number[]>>();
  for (const id of userIds) byUser.set(id.toLowerCase(), { RATED: [], LIKED: [], DISLIKED: [], EXCLUDED: [] });
  if (uuids.length > 0) {
    const parameters = [uuids];
    const [reviews, reactions, exclusions] = await Promise.all([
      pool.query<PairRowInPostgres>('SELECT user_id::text AS user_id, movie_id::text AS movie_id FROM reviews.reviews WHERE user_id = ANY($1::uuid[])', parameters),
      pool.query<PairRowInPostgres & { reaction: 'LIKE' | 'DISLIKE' }>(
        'SELECT user_id::text AS user_id, movie_id::text AS movie_id, reaction FROM reviews.reactions WHERE user_id = ANY($1::uuid[])',
        parameters,
      ),
      pool.query<PairRowInPostgres>('SELECT user_id::text AS user_id, movie_id::text AS movie_id FROM reviews.exclusions WHERE user_id = ANY($1::uuid[])', parameters),
    ]);
    const add = (row: PairRowInPostgres, type: PairRelationshipType) => byUser.get(row.user_id)?.[type].push(toId(row.movie_id));
    for (const row of reviews.rows) add(row, 'RATED');
    for (const row of reactions.rows) add(row, row.reaction === 'LIKE' ? 'LIKED' : 'DISLIKED');
    for (const row of exclusions.rows) add(row, 'EXCLUDED');
  }
  return userIds.map((userId) => ({ userId, keep: byUser.get(userId.toLowerCase()) ?? { RATED: [], LIKED: [], DISLIKED: [], EXCLUDED: [] } }));
}

export function formatRebuildSummary(summary: RebuildSummary): string {
  const { written, removed } = summary;
  return [
    `rebuilt the like-graph from PostgreSQL in ${(summary.totalMs / 1000).toFixed(1)} s: ` +
      `movies ${written.movies}, users ${written.users}, ratings ${written.ratings}, reactions ${written.reactions}, exclusions ${written.exclusions}`,
    `  removed relationships PostgreSQL no longer has (${summary.usersChecked} graph users checked): ` +
      pairRelationshipTypes.map((type) => `${type} ${removed[type]}`).join(', '),
  ].join('\n');
}
