import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import neo4j from 'neo4j-driver';
import pg from 'pg';
import { testPool } from '@platform/shared/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadDataset } from '../../../../scripts/lib/load-dataset.ts';
import { migrateAll } from '../../../../scripts/lib/migrations.ts';
import { createScratchDatabase } from '../../../../scripts/lib/services.ts';
import { generateSyntheticDataset } from '../../../../scripts/lib/synthetic.ts';
import { normaliseGenres } from '../../src/graph.ts';
import { formatRebuildSummary, rebuildGraph, type RebuildSummary } from '../../src/rebuild.ts';
import { startTestGraph, type TestGraph } from '../helpers/test-graph.ts';

// The rebuild against a scratch PostgreSQL database filled by the dataset loader and a private
// Neo4j (graph-wide counts must be exact): wipe the graph, rebuild, and the graph holds exactly
// what PostgreSQL holds; relationships PostgreSQL no longer has are removed; a second rebuild
// changes nothing. Also `npm run graph:rebuild` itself, as a process.

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const dataset = generateSyntheticDataset({ seed: 11, users: 20, movies: 40, ratingsPerUser: 8, people: 30, now: new Date('2026-01-01T00:00:00Z') });

let scratch: { url: string; drop(): Promise<void> };
let graph: TestGraph;
let pool: pg.Pool;

beforeAll(async () => {
  scratch = await createScratchDatabase(inject('services').databaseUrl, 'rebuild_graph');
  await migrateAll(scratch.url);
  graph = await startTestGraph();
  pool = testPool(scratch.url, 4);
  await loadDataset(dataset, { databaseUrl: scratch.url, neo4j: graph.settings });
  // The loader writes no exclusions: exclude three rated movies, at the time of their rating.
  await pool.query(`
    INSERT INTO reviews.exclusions (user_id, movie_id, created_at)
    SELECT user_id, movie_id, updated_at FROM reviews.reviews ORDER BY user_id, movie_id LIMIT 3`);
});

afterAll(async () => {
  await pool?.end();
  await graph?.stop();
  await scratch?.drop();
});

async function count(sql: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT (${sql})::bigint AS n`);
  return Number(rows[0]?.n);
}

/** What the graph must hold according to PostgreSQL. */
async function expectedCounts(): Promise<Record<string, number>> {
  const movies = await pool.query<{ genres: string[] }>('SELECT genres FROM movies.movies');
  const users = await pool.query<{ favorite_genres: string[] }>('SELECT favorite_genres FROM users.users');
  const genres = new Set([...movies.rows.flatMap((row) => normaliseGenres(row.genres)), ...users.rows.flatMap((row) => normaliseGenres(row.favorite_genres))]);
  return {
    movies: movies.rows.length,
    users: users.rows.length,
    genres: genres.size,
    inGenre: movies.rows.reduce((sum, row) => sum + normaliseGenres(row.genres).length, 0),
    prefers: users.rows.reduce((sum, row) => sum + normaliseGenres(row.favorite_genres).length, 0),
    rated: await count('SELECT count(*) FROM reviews.reviews'),
    liked: await count("SELECT count(*) FROM reviews.reactions WHERE reaction = 'LIKE'"),
    disliked: await count("SELECT count(*) FROM reviews.reactions WHERE reaction = 'DISLIKE'"),
    excluded: await count('SELECT count(*) FROM reviews.exclusions'),
  };
}

async function graphCounts(): Promise<Record<string, number>> {
  const { records } = await graph.driver.executeQuery(`
    RETURN COUNT { MATCH (:Movie) } AS movies, COUNT { MATCH (:User) } AS users, COUNT { MATCH (:Genre) } AS genres,
           COUNT { ()-[:IN_GENRE]->() } AS inGenre, COUNT { ()-[:PREFERS]->() } AS prefers,
           COUNT { ()-[:RATED]->() } AS rated, COUNT { ()-[:LIKED]->() } AS liked, COUNT { ()-[:DISLIKED]->() } AS disliked,
           COUNT { ()-[:EXCLUDED]->() } AS excluded`);
  return records[0]?.toObject() as Record<string, number>;
}

const noneRemoved = { RATED: 0, LIKED: 0, DISLIKED: 0, EXCLUDED: 0 };

describe('rebuildGraph', () => {
  it('rebuilds a wiped graph from PostgreSQL and removes relationships PostgreSQL does not have', async () => {
    const expected = await expectedCounts();
    expect(expected.rated).toBeGreaterThan(50);
    expect(expected.liked + expected.disliked).toBeGreaterThan(0);

    await graph.driver.executeQuery('MATCH (n) DETACH DELETE n');
    expect(await graphCounts()).toMatchObject({ movies: 0, rated: 0 });

    // Drift PostgreSQL does not know about: an old rating of a real user, a like by a user
    // PostgreSQL never had, and a rating newer than the rebuild's start (as if from an event that
    // raced the read; such relationships are left to the event stream).
    const { rows } = await pool.query<{ user_id: string; movie_id: string }>(`
      SELECT u.id AS user_id, m.id::text AS movie_id FROM users.users u CROSS JOIN movies.movies m
      WHERE NOT EXISTS (SELECT 1 FROM reviews.reviews r WHERE r.user_id = u.id AND r.movie_id = m.id)
      ORDER BY u.id, m.id LIMIT 2`);
    const [stale, recent] = rows.map((row) => ({ userId: row.user_id, movieId: neo4j.int(row.movie_id) }));
    await graph.driver.executeQuery(
      `MERGE (u:User {id: $stale.userId}) MERGE (m:Movie {id: $stale.movieId}) CREATE (u)-[:RATED {rating: 1.0, at: 1000}]->(m)
       MERGE (g:User {id: 'not-in-postgres'}) CREATE (g)-[:LIKED {at: 1000}]->(m)
       WITH u MERGE (r:User {id: $recent.userId}) MERGE (n:Movie {id: $recent.movieId}) CREATE (r)-[:RATED {rating: 5.0, at: timestamp() + 600000}]->(n)`,
      { stale, recent },
    );

    const progress: string[] = [];
    const summary = await rebuildGraph(pool, graph.driver, { batchSize: 7, usersPerCheck: 4, onProgress: (step) => progress.push(step.phase) });

    expect(summary.written).toEqual({
      movies: expected.movies,
      users: expected.users,
      ratings: expected.rated,
      reactions: expected.liked + expected.disliked,
      exclusions: expected.excluded,
    });
    expect(summary.removed).toEqual({ ...noneRemoved, RATED: 1, LIKED: 1 });
    expect(summary.usersChecked).toBe(expected.users + 1); // and the one PostgreSQL never had
    // The recent rating stays for the event stream to settle; the extra user node stays too.
    expect(await graphCounts()).toEqual({ ...expected, users: expected.users + 1, rated: expected.rated + 1 });
    expect(new Set(progress)).toEqual(
      new Set(['movies', 'users', 'ratings', 'reactions', 'exclusions', 'removing what PostgreSQL no longer has (graph users)']),
    );
    expect(formatRebuildSummary(summary)).toMatch(/^rebuilt the like-graph from PostgreSQL in \d+\.\d s: movies 40, users 20, /);

    // Properties come from PostgreSQL too.
    const sample = await pool.query<{ user_id: string; movie_id: string; rating_halves: number; updated_at: Date }>(
      'SELECT user_id, movie_id::text AS movie_id, rating_halves, updated_at FROM reviews.reviews ORDER BY movie_id, user_id LIMIT 1',
    );
    const row = sample.rows[0]!;
    const { records } = await graph.driver.executeQuery('MATCH (:User {id: $userId})-[r:RATED]->(:Movie {id: $movieId}) RETURN r.rating AS rating, r.at AS at', {
      userId: row.user_id,
      movieId: neo4j.int(row.movie_id),
    });
    expect(records[0]?.toObject()).toEqual({ rating: row.rating_halves / 2, at: row.updated_at.getTime() });
  });

  it('changes nothing when run again, and follows rows PostgreSQL deleted since', async () => {
    const before = await graphCounts();
    const again: RebuildSummary = await rebuildGraph(pool, graph.driver, { batchSize: 1_000 });
    expect(again.removed).toEqual(noneRemoved);
    expect(await graphCounts()).toEqual(before);

    await pool.query(`DELETE FROM reviews.reviews WHERE (user_id, movie_id) IN (SELECT user_id, movie_id FROM reviews.reviews ORDER BY user_id, movie_id LIMIT 2)`);
    await pool.query(`DELETE FROM reviews.reactions WHERE (user_id, movie_id) IN (SELECT user_id, movie_id FROM reviews.reactions ORDER BY user_id, movie_id LIMIT 1)`);
    const resync = await rebuildGraph(pool, graph.driver);
    expect(resync.removed.RATED).toBe(2);
    expect(resync.removed.LIKED + resync.removed.DISLIKED).toBe(1);
    const after = await graphCounts();
    expect(after.rated).toBe(before.rated - 2);
    expect(after.liked + after.disliked).toBe(before.liked + before.disliked - 1);
  });
});

describe('npm run graph:rebuild', () => {
  function run(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      // The variables the command reads come only from `env`, never from the test's own environment.
      const { DATABASE_URL: _d, NEO4J_URI: _u, NEO4J_USER: _n, NEO4J_PASSWORD: _p, ...inherited } = process.env;
      const child = spawn(process.execPath, ['scripts/rebuild-graph.ts'], { cwd: repoRoot, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('rebuilds and prints a summary', async () => {
    const result = await run({ DATABASE_URL: scratch.url, NEO4J_URI: graph.settings.uri, NEO4J_USER: graph.settings.user, NEO4J_PASSWORD: graph.settings.password });
    expect(result.stderr).not.toMatch(/error/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^rebuilt the like-graph from PostgreSQL in .*\n {2}removed relationships PostgreSQL no longer has \(\d+ graph users checked\): RATED 0, LIKED 0, DISLIKED 0, EXCLUDED 0\n$/);
  });

  it('fails with one line naming what to fix', async () => {
    const missing = await run({ DATABASE_URL: scratch.url, NEO4J_URI: graph.settings.uri });
    expect(missing).toMatchObject({ code: 2, stderr: 'error: NEO4J_PASSWORD is required but not set\n' });
    const wrong = await run({ DATABASE_URL: scratch.url, NEO4J_URI: graph.settings.uri, NEO4J_PASSWORD: 'wrong-password' });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/^error: NEO4J_PASSWORD \(with NEO4J_USER "neo4j"\) was rejected by Neo4j at bolt:\/\/.*; check both\n$/);
  });
});
