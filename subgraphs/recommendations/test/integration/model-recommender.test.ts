import { randomUUID } from 'node:crypto';
import neo4j from 'neo4j-driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@platform/shared';
import { readGraph } from '../../src/graph-errors.ts';
import { upsertGraphMovies, upsertGraphRatings, upsertGraphReactions, upsertGraphUsers } from '../../src/graph.ts';
import { createLiveRecommender } from '../../src/live-recommender.ts';
import { buildModelNow } from '../../src/model/builder.ts';
import { createModelRecommender, genreMatchesInCopy } from '../../src/model/model-recommender.ts';
import { defaultSimilarityOptions } from '../../src/model/similarity.ts';
import { addNewMovies, loadActiveModel } from '../../src/model/store.ts';
import type { RecommendedMovie, Recommender } from '../../src/recommender.ts';
import { startTestGraph, uniqueIds, type TestGraph } from '../helpers/test-graph.ts';

// Serving from the active model: exclusions, reasons, new movies reaching the right users,
// content fallbacks, and the live fallback before any model exists. Each test builds a model
// under a key of its own, over ids of its own, in this file's private graph.

const quietLogger = createLogger('model-recommender-test', { sink: () => {} });
let graph: TestGraph;

beforeAll(async () => {
  graph = await startTestGraph();
});

afterAll(async () => {
  await graph?.stop();
});

const newKey = () => `test-${randomUUID().slice(0, 8)}`;

/**
 * The same model served two ways: neighbours read from the graph per request, and from the
 * in-process copy of the active version (loaded before returning). Every answer is checked on both.
 */
async function servedBothWays(modelKey: string): Promise<Recommender> {
  const fromGraph = createModelRecommender(graph.driver, quietLogger, { modelKey, maxCopiedEdges: 0 });
  const fromCopy = createModelRecommender(graph.driver, quietLogger, { modelKey });
  expect(await fromCopy.preload()).toBe(true);
  expect(await fromGraph.preload()).toBe(false);
  return {
    async forUser(userId, limit) {
      const answer = await fromGraph.forUser(userId, limit);
      expect(await fromCopy.forUser(userId, limit)).toEqual(answer);
      return answer;
    },
    async similarMovies(movieIds, limit) {
      const answer = await fromGraph.similarMovies(movieIds, limit);
      expect(await fromCopy.similarMovies(movieIds, limit)).toEqual(answer);
      return answer;
    },
  };
}
const idsOf = (list: readonly RecommendedMovie[]) => list.map((item) => item.movieId);

let clock = 1_700_000_000_000;
async function rate(ids: ReturnType<typeof uniqueIds>, table: Record<string, Record<number, number>>): Promise<void> {
  await upsertGraphRatings(
    graph.driver,
    Object.entries(table).flatMap(([user, movies]) =>
      Object.entries(movies).map(([movie, rating]) => ({ userId: ids.user(user), movieId: ids.movie(Number(movie)), rating, at: (clock += 1_000) })),
    ),
  );
}

async function movies(ids: ReturnType<typeof uniqueIds>, genresByMovie: Record<number, string[]>): Promise<void> {
  await upsertGraphMovies(
    graph.driver,
    Object.entries(genresByMovie).map(([n, genres]) => ({ id: ids.movie(Number(n)), title: `Movie ${n}`, year: 2000, genres: genres.map(ids.genre) })),
  );
}

/**
 * Two taste groups. Action fans (f1..f4) love 1, 2, 3, 4, 5; drama fans (d1..d3) love 20, 21, 22.
 * The viewer liked 1, rated 2 highly and 3 badly, disliked 4 and excluded 5.
 */
async function writeWorld(ids: ReturnType<typeof uniqueIds>) {
  await movies(ids, {
    1: ['action', 'scifi'], 2: ['action'], 3: ['action'], 4: ['action'], 5: ['action'], 6: ['action', 'scifi'], 7: ['action'],
    20: ['drama'], 21: ['drama'], 22: ['drama', 'romance'],
  });
  await rate(ids, {
    f1: { 1: 5, 2: 5, 3: 4, 6: 5, 7: 4 },
    f2: { 1: 4, 2: 4.5, 4: 5, 6: 4 },
    f3: { 1: 5, 3: 5, 5: 5, 7: 5 },
    f4: { 2: 5, 5: 4, 6: 5 },
    d1: { 20: 5, 21: 5, 22: 4 },
    d2: { 20: 4, 21: 5 },
    d3: { 21: 4, 22: 5 },
    viewer: { 2: 5, 3: 1 },
    dramaViewer: { 20: 5 },
  });
  const viewer = ids.user('viewer');
  await upsertGraphReactions(graph.driver, [
    { userId: viewer, movieId: ids.movie(1), reaction: 'LIKE', at: (clock += 1_000) },
    { userId: viewer, movieId: ids.movie(4), reaction: 'DISLIKE', at: (clock += 1_000) },
  ]);
  await graph.driver.executeQuery('MATCH (u:User {id: $viewer}), (m:Movie {id: $movie}) MERGE (u)-[:EXCLUDED {at: 1}]->(m)', {
    viewer,
    movie: neo4j.int(ids.movie(5)),
  });
  return { viewer, dramaViewer: ids.user('dramaViewer') };
}

/** The id the next movie would get: above every movie of the graph (this file's tests use random id blocks). */
async function nextMovieId(): Promise<number> {
  const { records } = await graph.driver.executeQuery('MATCH (m:Movie) RETURN max(m.id) AS id');
  return (records[0]?.get('id') as number) + 1;
}

describe('forUser from the active model', () => {
  it('recommends what the model relates to the user’s movies, never a movie they rated, disliked or excluded, naming liked movies as reasons', async () => {
    const ids = uniqueIds();
    const { viewer } = await writeWorld(ids);
    const modelKey = newKey();
    await buildModelNow(graph.driver, { modelKey });
    const recommender = await servedBothWays(modelKey);

    const result = await recommender.forUser(viewer, 10);
    for (const seen of [1, 2, 3, 4, 5]) expect(idsOf(result)).not.toContain(ids.movie(seen));
    const collaborative = result.filter((item) => item.source === 'COLLABORATIVE');
    expect(idsOf(collaborative).sort()).toEqual([ids.movie(6), ids.movie(7)].sort());
    for (const item of collaborative) {
      expect(item.because.length).toBeGreaterThan(0);
      // 1 (liked) and 2 (rated 5) may be reasons; 3 (rated 1) is not something the user liked.
      for (const reason of item.because) expect([ids.movie(1), ids.movie(2)]).toContain(reason);
    }
    // The drama movies share no taste with the viewer: they come, if at all, after the collaborative ones.
    expect(result.slice(0, 2).every((item) => item.source === 'COLLABORATIVE')).toBe(true);
  });

  it('applies the popularity penalty stored with the version: each score is the raw total over the best one, minus the movie’s penalty', async () => {
    const ids = uniqueIds();
    const { viewer } = await writeWorld(ids);
    const plainKey = newKey();
    const penalisedKey = newKey();
    // Same graph, same deterministic computation: only the penalty differs between the two versions.
    await buildModelNow(graph.driver, { modelKey: plainKey, similarity: { ...defaultSimilarityOptions, popularityPenalty: 0 } });
    const built = await buildModelNow(graph.driver, { modelKey: penalisedKey, similarity: { ...defaultSimilarityOptions, popularityPenalty: 0.3 } });
    const { records } = await graph.driver.executeQuery(
      'MATCH (model:RecommendationModel {version: $version}) RETURN model.penaltyMovieIds AS movieIds, model.penaltyValues AS values',
      { version: built.model.version },
    );
    const stored = new Map((records[0]!.get('movieIds') as number[]).map((movieId, index) => [movieId, (records[0]!.get('values') as number[])[index]!]));
    for (const movie of [6, 7]) expect(stored.get(ids.movie(movie))).toBeGreaterThan(0);
    expect(Math.max(...stored.values())).toBeCloseTo(0.3, 10);

    const plain = (await (await servedBothWays(plainKey)).forUser(viewer, 10)).filter((item) => item.source === 'COLLABORATIVE');
    const penalised = (await (await servedBothWays(penalisedKey)).forUser(viewer, 10)).filter((item) => item.source === 'COLLABORATIVE');
    const best = Math.max(...plain.map((item) => item.score));
    const expected = plain
      .map((item) => ({ movieId: item.movieId, positive: item.score > 0, score: item.score / best - stored.get(item.movieId)! }))
      // As scoreCandidates ranks: a positive raw total first, then the penalised score.
      .sort((a, b) => Number(b.positive) - Number(a.positive) || b.score - a.score || a.movieId - b.movieId);
    expect(idsOf(penalised)).toEqual(expected.map((item) => item.movieId));
    penalised.forEach((item, index) => expect(item.score).toBeCloseTo(expected[index]!.score, 10));
  });

  it('gets a brand-new movie with no ratings to the users whose liked movies share its genres, and not to others', async () => {
    const ids = uniqueIds();
    const { viewer, dramaViewer } = await writeWorld(ids);
    const modelKey = newKey();
    await buildModelNow(graph.driver, { modelKey });
    const recommender = await servedBothWays(modelKey);

    // Added after the build, with the next id as the movies subgraph would assign it (ids grow:
    // PostgreSQL identity); the model has no edges for it and nobody rated it.
    const newMovieId = await nextMovieId();
    await upsertGraphMovies(graph.driver, [{ id: newMovieId, title: 'Brand new', year: 2026, genres: [ids.genre('action'), ids.genre('scifi')] }]);
    const forViewer = await recommender.forUser(viewer, 10);
    const newMovie = forViewer.find((item) => item.movieId === newMovieId);
    expect(newMovie).toMatchObject({ source: 'GENRE_PREFERENCE' });
    expect(newMovie?.because).toContain(ids.movie(1));
    expect(forViewer.indexOf(newMovie!)).toBeLessThanOrEqual(2);

    const forDramaFan = await recommender.forUser(dramaViewer, 10);
    const position = idsOf(forDramaFan).indexOf(newMovieId);
    // Not mixed in as a taste match; at most it appears among the last fallbacks.
    if (position >= 0) expect(forDramaFan[position]?.because).toEqual([]);
  });

  it('also counts a movie nobody had rated when the model was built as new', async () => {
    const ids = uniqueIds();
    const { viewer } = await writeWorld(ids);
    await movies(ids, { 800: ['action'] });
    const modelKey = newKey();
    await buildModelNow(graph.driver, { modelKey });
    const recommender = await servedBothWays(modelKey);
    const result = await recommender.forUser(viewer, 10);
    expect(result.find((item) => item.movieId === ids.movie(800))).toMatchObject({ source: 'GENRE_PREFERENCE', because: expect.arrayContaining([ids.movie(1)]) });
  });

  it('fills up with favourite genres and popular movies for a user with no history', async () => {
    const ids = uniqueIds();
    await writeWorld(ids);
    const modelKey = newKey();
    await buildModelNow(graph.driver, { modelKey });
    const recommender = await servedBothWays(modelKey);
    const newcomer = ids.user('newcomer');
    await upsertGraphUsers(graph.driver, [{ id: newcomer, favoriteGenres: [ids.genre('romance')] }]);

    const result = await recommender.forUser(newcomer, 5);
    expect(result[0]).toMatchObject({ movieId: ids.movie(22), source: 'GENRE_PREFERENCE', because: [] });
    expect(result.slice(1).every((item) => item.source === 'POPULAR')).toBe(true);
    expect(result).toHaveLength(5);
  });
});

describe('similarMovies from the active model', () => {
  it('answers with the active version’s neighbours, filled up with movies sharing genres', async () => {
    const ids = uniqueIds();
    await writeWorld(ids);
    const modelKey = newKey();
    const built = await buildModelNow(graph.driver, { modelKey });
    const recommender = await servedBothWays(modelKey);

    const similarTo20 = (await recommender.similarMovies([ids.movie(20)], 5)).get(ids.movie(20)) ?? [];
    const { records } = await graph.driver.executeQuery(
      `MATCH (:Movie {id: $movie})-[s:SIMILAR]->(n:Movie) WHERE s.model = $version RETURN n.id AS id ORDER BY s.score DESC, id`,
      { movie: neo4j.int(ids.movie(20)), version: built.model.version },
    );
    const neighbours = records.map((record) => record.get('id') as number);
    expect(neighbours.length).toBeGreaterThan(0);
    expect(idsOf(similarTo20.slice(0, neighbours.length))).toEqual(neighbours);
    expect(similarTo20.slice(0, neighbours.length).every((item) => item.source === 'COLLABORATIVE' && item.because.length === 0)).toBe(true);
    // Past the neighbours: the other drama movie(s), then popular ones.
    expect(similarTo20.slice(neighbours.length).map((item) => item.source)).toContain('POPULAR');
    expect(idsOf(similarTo20)).not.toContain(ids.movie(20));
  });

  it('answers by shared genres for a movie added since the build', async () => {
    const ids = uniqueIds();
    await writeWorld(ids);
    const modelKey = newKey();
    await buildModelNow(graph.driver, { modelKey });
    const recommender = await servedBothWays(modelKey);
    await movies(ids, { 901: ['drama', 'romance'] });

    // 22 shares both genres with 901, 20 and 21 one of two.
    const similarTo901 = (await recommender.similarMovies([ids.movie(901)], 3)).get(ids.movie(901)) ?? [];
    expect(similarTo901[0]).toEqual({ movieId: ids.movie(22), score: 1, because: [], source: 'GENRE_PREFERENCE' });
    expect(similarTo901.slice(1).map((item) => [item.source, item.score])).toEqual([
      ['GENRE_PREFERENCE', 0.5],
      ['GENRE_PREFERENCE', 0.5],
    ]);
  });

  it('keeps its in-process copy current with movies created after it was loaded', async () => {
    const ids = uniqueIds();
    await writeWorld(ids);
    const modelKey = newKey();
    const built = await buildModelNow(graph.driver, { modelKey });
    const copy = await loadActiveModel(graph.driver, modelKey, built.model.version);
    expect(copy?.genres.get(ids.movie(20))).toEqual([ids.genre('drama')]);
    const newMovieId = await nextMovieId();
    await upsertGraphMovies(graph.driver, [{ id: newMovieId, title: 'Brand new drama', year: 2026, genres: [ids.genre('drama')] }]);

    expect(await addNewMovies(graph.driver, copy!)).toBe(1);
    expect(copy?.genres.get(newMovieId)).toEqual([ids.genre('drama')]);
    expect(genreMatchesInCopy(copy!, [ids.genre('drama')], new Set(), 10).map((item) => item.movieId)).toContain(newMovieId);
    expect(await addNewMovies(graph.driver, copy!)).toBe(0);
    // A copy of a version that is no longer active is refused (it could be retired while read).
    expect(await loadActiveModel(graph.driver, newKey(), built.model.version)).toBeNull();
  });
});

describe('before the first build', () => {
  it('answers as the live recommender does', async () => {
    const ids = uniqueIds();
    const { viewer } = await writeWorld(ids);
    const modelRecommender = createModelRecommender(graph.driver, quietLogger, { modelKey: newKey() });
    const live = createLiveRecommender(graph.driver, quietLogger);
    expect(await modelRecommender.forUser(viewer, 5)).toEqual(await live.forUser(viewer, 5));
    expect(await modelRecommender.similarMovies([ids.movie(1)], 5)).toEqual(await live.similarMovies([ids.movie(1)], 5));
  });
});

describe('readGraph (every serving read goes through it)', () => {
  it('runs each statement with the query timeout: one slower than it ends with SERVICE_UNAVAILABLE instead of running on', async () => {
    // Billions of rows: minutes without a timeout; Neo4j checks timeouts every ~2 s.
    const started = performance.now();
    const slow = readGraph(graph.driver, quietLogger, { timeoutMs: 300 }, (tx) =>
      tx.run('UNWIND range(1, 4000000000) AS x WITH x WHERE x % 7919 = 7918 RETURN count(*) AS n'),
    );
    await expect(slow).rejects.toMatchObject({ extensions: { code: 'SERVICE_UNAVAILABLE' } });
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it('runs several statements in one read, in order, and gives their results back', async () => {
    const answer = await readGraph(graph.driver, quietLogger, { timeoutMs: 5_000 }, async (tx) => {
      const first = await tx.run('RETURN 1 AS n');
      const second = await tx.run('RETURN $n AS n', { n: 2 });
      return [first.records[0]?.get('n'), second.records[0]?.get('n')];
    });
    expect(answer).toEqual([1, 2]);
  });
});
