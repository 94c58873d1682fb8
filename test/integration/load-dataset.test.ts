import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { testPool } from '@platform/shared/testing';
import neo4j from 'neo4j-driver';
import { connectNeo4j, type Driver } from '@platform/shared';
import type { Dataset, DatasetRating } from '../../scripts/lib/dataset.ts';
import { creditRowsOf, loadDataset, type LoadSummary, type LoadTarget } from '../../scripts/lib/load-dataset.ts';
import { migrateAll } from '../../scripts/lib/migrations.ts';
import { startNeo4j, type RunningNeo4j } from '../../scripts/lib/neo4j.ts';
import { createScratchDatabase } from '../../scripts/lib/services.ts';
import { generateSyntheticDataset } from '../../scripts/lib/synthetic.ts';

// The dataset loader against a scratch PostgreSQL database and a private Neo4j (so node and
// relationship counts are exact): a first load, an identical second load that must change
// nothing, and a third with one changed rating. The loader emits no events; instead the views
// other subgraphs keep from events (the like-graph, the analytics read model, the reviews
// subgraph's known movies) must agree row for row with PostgreSQL after every load.

const dataset = generateSyntheticDataset({ seed: 7, users: 25, movies: 60, ratingsPerUser: 12, people: 80, now: new Date('2026-01-01T00:00:00Z') });
const ratingsInDataset = [...dataset.ratings()];
const reactionsInDataset = [...dataset.reactions()];

let scratch: { url: string; drop(): Promise<void> };
let neo4jHome: string;
let neo4jServer: RunningNeo4j;
let target: LoadTarget;
let pool: pg.Pool;
let driver: Driver;
let firstLoad: LoadSummary;

async function count(sql: string, values: unknown[] = []): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT (${sql})::bigint AS n`, values);
  return Number(rows[0]?.n);
}

async function graphCount(cypher: string): Promise<number> {
  const { records } = await driver.executeQuery(cypher);
  return Number(records[0]?.get('n'));
}

const tables = [
  'users.users',
  'movies.movies',
  'movies.people',
  'movies.movie_credits',
  'reviews.reviews',
  'reviews.reactions',
  'reviews.movie_stats',
  'reviews.review_history',
  'reviews.known_movies',
  'analytics.platform_totals',
  'analytics.movie_stats',
  'analytics.user_activity',
] as const;

/**
 * Row count plus a digest of every row version's xmin and position: any INSERT, UPDATE or
 * DELETE changes it, even an UPDATE that writes identical values.
 */
async function tableVersions(): Promise<Record<string, string>> {
  const versions: Record<string, string> = {};
  for (const table of tables) {
    const { rows } = await pool.query<{ version: string }>(
      `SELECT count(*) || ':' || coalesce(md5(string_agg(xmin::text || tableoid::text || ctid::text, ',' ORDER BY tableoid, ctid)), '') AS version FROM ${table}`,
    );
    versions[table] = rows[0]?.version ?? '';
  }
  return versions;
}

async function graphCounts(): Promise<Record<string, number>> {
  return {
    movies: await graphCount('MATCH (m:Movie) RETURN count(m) AS n'),
    users: await graphCount('MATCH (u:User) RETURN count(u) AS n'),
    rated: await graphCount('MATCH ()-[r:RATED]->() RETURN count(r) AS n'),
    liked: await graphCount('MATCH ()-[r:LIKED]->() RETURN count(r) AS n'),
    disliked: await graphCount('MATCH ()-[r:DISLIKED]->() RETURN count(r) AS n'),
  };
}

const sorted = <T>(rows: T[]): T[] => rows.map((row) => JSON.stringify(row)).sort().map((text) => JSON.parse(text) as T);

/**
 * What the bulk path must leave behind instead of events: every view a consumer would have built
 * from them equals what PostgreSQL (the source of truth) says, row for row.
 */
async function expectViewsAgreeWithPostgres(): Promise<void> {
  // reviews.known_movies: every loaded movie is rateable, with the catalogue's creation time.
  const catalogue = await pool.query<{ id: string; created_at: Date }>('SELECT m.id::text AS id, m.created_at FROM movies.movies m ORDER BY m.id');
  const known = await pool.query<{ id: string; created_at: Date }>('SELECT k.movie_id::text AS id, k.created_at FROM reviews.known_movies k ORDER BY k.movie_id');
  expect(known.rows).toEqual(catalogue.rows);

  // The like-graph: the same ratings (in stars) and reactions, per user and movie.
  const ratings = await pool.query<{ user_id: string; movie_id: string; rating: number }>(
    'SELECT user_id::text, movie_id::text, rating_halves / 2.0 AS rating FROM reviews.reviews',
  );
  const graphRatings = await driver.executeQuery('MATCH (u:User)-[r:RATED]->(m:Movie) RETURN u.id AS user, m.id AS movie, r.rating AS rating');
  expect(sorted(graphRatings.records.map((record) => ({ user: String(record.get('user')), movie: String(record.get('movie')), rating: Number(record.get('rating')) })))).toEqual(
    sorted(ratings.rows.map((row) => ({ user: row.user_id, movie: row.movie_id, rating: Number(row.rating) }))),
  );
  const reactions = await pool.query<{ user_id: string; movie_id: string; reaction: string }>('SELECT user_id::text, movie_id::text, reaction FROM reviews.reactions');
  const graphReactions = await driver.executeQuery(
    "MATCH (u:User)-[r:LIKED|DISLIKED]->(m:Movie) RETURN u.id AS user, m.id AS movie, CASE type(r) WHEN 'LIKED' THEN 'LIKE' ELSE 'DISLIKE' END AS reaction",
  );
  expect(sorted(graphReactions.records.map((record) => ({ user: String(record.get('user')), movie: String(record.get('movie')), reaction: String(record.get('reaction')) })))).toEqual(
    sorted(reactions.rows.map((row) => ({ user: row.user_id, movie: row.movie_id, reaction: row.reaction }))),
  );

  // The analytics read model: per movie and per user, the aggregates of the source rows.
  const movieMismatches = await count(`
    SELECT count(*) FROM analytics.movie_stats a
    FULL JOIN (
      SELECT m.id AS movie_id, coalesce(r.n, 0) AS rating_count, coalesce(r.halves, 0) AS rating_halves_sum,
             coalesce(x.likes, 0) AS like_count, coalesce(x.dislikes, 0) AS dislike_count
      FROM movies.movies m
      LEFT JOIN (SELECT movie_id, count(*) AS n, sum(rating_halves) AS halves FROM reviews.reviews GROUP BY movie_id) r ON r.movie_id = m.id
      LEFT JOIN (SELECT movie_id, count(*) FILTER (WHERE reaction = 'LIKE') AS likes, count(*) FILTER (WHERE reaction = 'DISLIKE') AS dislikes
                 FROM reviews.reactions GROUP BY movie_id) x ON x.movie_id = m.id
    ) e USING (movie_id)
    WHERE (a.rating_count, a.rating_halves_sum, a.like_count, a.dislike_count)
      IS DISTINCT FROM (e.rating_count, e.rating_halves_sum, e.like_count, e.dislike_count)`);
  expect(movieMismatches).toBe(0);
  const userMismatches = await count(`
    SELECT count(*) FROM (SELECT user_id, rating_count, rating_halves_sum FROM analytics.user_activity WHERE rating_count > 0) a
    FULL JOIN (SELECT user_id, count(*) AS rating_count, sum(rating_halves) AS rating_halves_sum FROM reviews.reviews GROUP BY user_id) e USING (user_id)
    WHERE (a.rating_count, a.rating_halves_sum) IS DISTINCT FROM (e.rating_count, e.rating_halves_sum)`);
  expect(userMismatches).toBe(0);
  expect(await count('SELECT count(*) FROM analytics.user_activity WHERE registered_at IS NOT NULL')).toBe(await count('SELECT count(*) FROM users.users'));
}

/** The dataset with one rating replaced (every other row unchanged). */
function withRating(base: Dataset, replace: (rating: DatasetRating) => DatasetRating | null, extra: DatasetRating[] = []): Dataset {
  return {
    ...base,
    ratings: () => [...ratingsInDataset.map((rating) => replace(rating) ?? rating), ...extra],
    ratingCount: ratingsInDataset.length + extra.length,
  };
}

beforeAll(async () => {
  const serverUrl = inject('services')?.databaseUrl ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  scratch = await createScratchDatabase(serverUrl, 'load_dataset');
  await migrateAll(scratch.url);
  neo4jHome = mkdtempSync(join(tmpdir(), 'load-dataset-neo4j-'));
  neo4jServer = await startNeo4j({ home: neo4jHome, port: 0, heapMb: 512, pageCacheMb: 128 });
  target = { databaseUrl: scratch.url, neo4j: { uri: neo4jServer.uri, user: neo4jServer.user, password: neo4jServer.password } };
  pool = testPool(scratch.url, 2);
  driver = connectNeo4j(target.neo4j);
  firstLoad = await loadDataset(dataset, target);
});

afterAll(async () => {
  await driver?.close();
  await pool?.end();
  await neo4jServer?.stop();
  if (neo4jHome) rmSync(neo4jHome, { recursive: true, force: true });
  await scratch?.drop();
});

describe('loadDataset', () => {
  it('writes every dataset row into PostgreSQL', async () => {
    const credits = dataset.movies.reduce(
      (sum, movie) => sum + creditRowsOf(movie, 1, new Map(dataset.people.map((person, index) => [person.key, index]))).length,
      0,
    );
    expect(await count('SELECT count(*) FROM users.users')).toBe(dataset.users.length);
    expect(await count("SELECT count(*) FROM users.users WHERE password_hash IS NULL AND role = 'USER'")).toBe(dataset.users.length);
    expect(await count('SELECT count(*) FROM movies.movies')).toBe(dataset.movies.length);
    expect(await count('SELECT count(*) FROM movies.people')).toBe(dataset.people.length);
    expect(await count('SELECT count(*) FROM movies.movie_credits')).toBe(credits);
    expect(await count('SELECT count(*) FROM reviews.reviews')).toBe(ratingsInDataset.length);
    expect(await count('SELECT count(*) FROM reviews.reactions')).toBe(reactionsInDataset.length);
    expect(await count("SELECT count(*) FROM reviews.review_history WHERE action = 'IMPORT'")).toBe(ratingsInDataset.length);
    expect(firstLoad.ratings).toEqual({ total: ratingsInDataset.length, changed: ratingsInDataset.length });
    expect(firstLoad.historyRows).toBe(ratingsInDataset.length);
    expect(firstLoad.skipped).toEqual({ unknownUser: 0, unknownMovie: 0, invalidRating: 0 });
  });

  it('stores ratings as half-stars', async () => {
    const sample = ratingsInDataset[0] as DatasetRating;
    const { rows } = await pool.query<{ rating_halves: number }>(
      `SELECT r.rating_halves FROM reviews.reviews r
       JOIN users.users u ON u.id = r.user_id JOIN movies.movies m ON m.id = r.movie_id
       WHERE u.username = $1 AND m.source_key = $2`,
      [dataset.users.find((user) => user.key === sample.userKey)?.username, sample.movieKey],
    );
    expect(rows).toEqual([{ rating_halves: sample.rating * 2 }]);
  });

  it('writes the same users, movies, ratings and reactions into Neo4j, keyed by the PostgreSQL ids', async () => {
    const likes = reactionsInDataset.filter((reaction) => reaction.reaction === 'LIKE').length;
    expect(await graphCounts()).toEqual({
      movies: dataset.movies.length,
      users: dataset.users.length,
      rated: ratingsInDataset.length,
      liked: likes,
      disliked: reactionsInDataset.length - likes,
    });
    const { rows } = await pool.query<{ id: string }>('SELECT id FROM movies.movies');
    const { records } = await driver.executeQuery('MATCH (m:Movie) RETURN m.id AS id');
    expect(records.map((record) => Number(record.get('id'))).sort((a, b) => a - b)).toEqual(rows.map((row) => Number(row.id)).sort((a, b) => a - b));
    const users = await pool.query<{ id: string }>('SELECT id FROM users.users');
    const graphUsers = await driver.executeQuery('MATCH (u:User) RETURN u.id AS id');
    expect(graphUsers.records.map((record) => String(record.get('id'))).sort()).toEqual(users.rows.map((row) => row.id).sort());
  });

  it('keeps movie_stats equal to a recomputation from reviews and reactions', async () => {
    const mismatches = await count(`
      SELECT count(*) FROM reviews.movie_stats s
      FULL JOIN (
        SELECT movie_id, sum(rating_count)::integer AS rating_count, sum(rating_halves_sum)::bigint AS rating_halves_sum,
               sum(like_count)::integer AS like_count, sum(dislike_count)::integer AS dislike_count
        FROM (
          SELECT movie_id, count(*) AS rating_count, sum(rating_halves) AS rating_halves_sum, 0 AS like_count, 0 AS dislike_count
          FROM reviews.reviews GROUP BY movie_id
          UNION ALL
          SELECT movie_id, 0, 0, count(*) FILTER (WHERE reaction = 'LIKE'), count(*) FILTER (WHERE reaction = 'DISLIKE')
          FROM reviews.reactions GROUP BY movie_id
        ) parts GROUP BY movie_id
      ) e USING (movie_id)
      WHERE (s.rating_count, s.rating_halves_sum, s.like_count, s.dislike_count)
        IS DISTINCT FROM (e.rating_count, e.rating_halves_sum, e.like_count, e.dislike_count)`);
    expect(mismatches).toBe(0);
  });

  it('leaves analytics totals matching the source tables', async () => {
    const { rows } = await pool.query('SELECT users, movies, ratings, reviews, likes, dislikes FROM analytics.platform_totals');
    const likes = reactionsInDataset.filter((reaction) => reaction.reaction === 'LIKE').length;
    const expected = {
      users: dataset.users.length,
      movies: dataset.movies.length,
      ratings: ratingsInDataset.length,
      reviews: 0,
      likes,
      dislikes: reactionsInDataset.length - likes,
    };
    expect(rows.map((row: Record<string, string>) => Object.fromEntries(Object.entries(row).map(([key, value]) => [key, Number(value)])))).toEqual([expected]);
    expect(firstLoad.analytics).toMatchObject(expected);
  });

  it('leaves the like-graph, the analytics read model and the known movies agreeing with PostgreSQL, without events', async () => {
    await expectViewsAgreeWithPostgres();
    // The bulk path published nothing: no outbox row in any producer schema.
    expect(await count('SELECT (SELECT count(*) FROM users.outbox) + (SELECT count(*) FROM movies.outbox) + (SELECT count(*) FROM reviews.outbox)')).toBe(0);
  });

  it('changes nothing when the same data is loaded again', async () => {
    const versionsBefore = await tableVersions();
    const graphBefore = await graphCounts();
    const second = await loadDataset(dataset, target);
    for (const relation of ['people', 'movies', 'credits', 'users', 'ratings', 'reactions'] as const) {
      expect(second[relation].changed, relation).toBe(0);
      expect(second[relation].total, relation).toBe(firstLoad[relation].total);
    }
    expect(second.historyRows).toBe(0);
    expect(await tableVersions()).toEqual(versionsBefore);
    expect(await graphCounts()).toEqual(graphBefore);
  });

  it('applies a changed rating once, with one IMPORT history row holding old and new values', async () => {
    const changed = ratingsInDataset[3] as DatasetRating;
    const newStars = changed.rating === 5 ? 1 : 5;
    const later = new Date(changed.at.getTime() + 60_000);
    const isChanged = (rating: DatasetRating): boolean => rating.userKey === changed.userKey && rating.movieKey === changed.movieKey;
    const unknownMovie: DatasetRating = { userKey: changed.userKey, movieKey: 'syn:movie:does-not-exist', rating: 3, at: later };
    const historyBefore = await count('SELECT count(*) FROM reviews.review_history');

    const summary = await loadDataset(
      withRating(dataset, (rating) => (isChanged(rating) ? { ...rating, rating: newStars, at: later } : null), [unknownMovie]),
      target,
    );

    expect(summary.ratings.changed).toBe(1);
    expect(summary.skipped.unknownMovie).toBe(1);
    expect(summary.statsRecomputed).toBe(1);
    const { rows } = await pool.query(
      `SELECT h.action, h.old_rating_halves, h.new_rating_halves, h.reason FROM reviews.review_history h
       JOIN movies.movies m ON m.id = h.movie_id WHERE m.source_key = $1 ORDER BY h.id`,
      [changed.movieKey],
    );
    const forThisMovie = rows.filter((row: { old_rating_halves: number | null }) => row.old_rating_halves !== null);
    expect(forThisMovie).toEqual([{ action: 'IMPORT', old_rating_halves: changed.rating * 2, new_rating_halves: newStars * 2, reason: 'dataset import: synthetic' }]);
    expect(await count('SELECT count(*) FROM reviews.review_history')).toBe(historyBefore + 1);

    const stats = await pool.query(
      `SELECT s.rating_count, s.rating_halves_sum::integer AS sum,
              (SELECT count(*)::integer FROM reviews.reviews r WHERE r.movie_id = s.movie_id) AS expected_count,
              (SELECT sum(rating_halves)::integer FROM reviews.reviews r WHERE r.movie_id = s.movie_id) AS expected_sum
       FROM reviews.movie_stats s JOIN movies.movies m ON m.id = s.movie_id WHERE m.source_key = $1`,
      [changed.movieKey],
    );
    const [movieStats] = stats.rows as { rating_count: number; sum: number; expected_count: number; expected_sum: number }[];
    expect(movieStats?.rating_count).toBe(movieStats?.expected_count);
    expect(movieStats?.sum).toBe(movieStats?.expected_sum);

    const { records } = await driver.executeQuery(
      'MATCH (:User {id: $userId})-[r:RATED]->(:Movie {id: $movieId}) RETURN r.rating AS rating',
      {
        userId: (await pool.query<{ id: string }>('SELECT id FROM users.users WHERE username = $1', [dataset.users.find((user) => user.key === changed.userKey)?.username])).rows[0]?.id,
        // Movie ids are stored as Cypher INTEGERs; a plain JS number would travel as a FLOAT.
        movieId: neo4j.int((await pool.query<{ id: string }>('SELECT id FROM movies.movies WHERE source_key = $1', [changed.movieKey])).rows[0]?.id ?? '0'),
      },
    );
    expect(records.map((record) => record.get('rating'))).toEqual([newStars]);
    await expectViewsAgreeWithPostgres();
  });

  it('does not let an older rating overwrite a newer one', async () => {
    const target3 = ratingsInDataset[5] as DatasetRating;
    const older = new Date(target3.at.getTime() - 86_400_000);
    const isTarget = (rating: DatasetRating): boolean => rating.userKey === target3.userKey && rating.movieKey === target3.movieKey;
    const summary = await loadDataset(
      withRating(dataset, (rating) => (isTarget(rating) ? { ...rating, rating: target3.rating === 1 ? 2 : 1, at: older } : null)),
      target,
    );
    // The rating changed in the previous test is now "older" in this dataset too: neither applies.
    expect(summary.ratings.changed).toBe(0);
    expect(summary.historyRows).toBe(0);
  });
});
