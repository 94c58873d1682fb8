import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import neo4j from 'neo4j-driver';
import { createLogger } from '@platform/shared';
import { upsertGraphMovies, upsertGraphRatings, upsertGraphReactions, upsertGraphUsers, type GraphRating } from '../../src/graph.ts';
import { createLiveRecommender, defaultLiveRecommenderOptions } from '../../src/live-recommender.ts';
import type { Recommender } from '../../src/recommender.ts';
import { startTestGraph, uniqueIds, type TestGraph } from '../helpers/test-graph.ts';

let graph: TestGraph;
let recommender: Recommender;

beforeAll(async () => {
  graph = await startTestGraph();
  recommender = createLiveRecommender(graph.driver, createLogger('test', { sink: () => {} }));
});

afterAll(async () => {
  await graph?.stop();
});

const { shrinkage } = defaultLiveRecommenderOptions;
/** The documented similarity, for co users positive about both and the two engagement degrees. */
const similarity = (co: number, engagedA: number, engagedB: number) => (co / Math.sqrt(engagedA * engagedB)) * (co / (co + shrinkage));

let clock = 1_700_000_000_000;
/** Ratings from a compact table: { user: { movie: rating } }. */
async function rate(table: Record<string, Record<number, number>>, ids: ReturnType<typeof uniqueIds>) {
  const ratings: GraphRating[] = Object.entries(table).flatMap(([user, movies]) =>
    Object.entries(movies).map(([movie, rating]) => ({ userId: ids.user(user), movieId: ids.movie(Number(movie)), rating, at: (clock += 1_000) })),
  );
  await upsertGraphRatings(graph.driver, ratings);
}

async function movies(ids: ReturnType<typeof uniqueIds>, genresByMovie: Record<number, string[]>) {
  await upsertGraphMovies(
    graph.driver,
    Object.entries(genresByMovie).map(([n, genres]) => ({ id: ids.movie(Number(n)), title: `Movie ${n}`, year: null, genres: genres.map(ids.genre) })),
  );
}

const idsOf = (list: { movieId: number }[]) => list.map((item) => item.movieId);

describe('similarMovies', () => {
  it('ranks movies the same people rated highly, by normalised co-occurrence', async () => {
    const ids = uniqueIds();
    const [A, B, C, D] = [1, 2, 3, 4];
    await movies(ids, { [A]: ['g1'], [B]: ['g2'], [C]: ['g2'], [D]: ['g1'] });
    await rate(
      {
        u1: { [A]: 5, [B]: 5, [C]: 2 },
        u2: { [A]: 4, [B]: 4.5 },
        u3: { [A]: 5, [C]: 4 },
        u4: { [B]: 4, [D]: 5 },
      },
      ids,
    );

    const result = (await recommender.similarMovies([ids.movie(A)], 2)).get(ids.movie(A));
    expect(result).toHaveLength(2);
    // B: u1 and u2 loved both; C: only u3 (u1 rated C 2, not a positive).
    expect(result?.[0]).toMatchObject({ movieId: ids.movie(B), source: 'COLLABORATIVE', because: [] });
    expect(result?.[0]?.score).toBeCloseTo(similarity(2, 3, 3), 10);
    expect(result?.[1]).toMatchObject({ movieId: ids.movie(C), source: 'COLLABORATIVE' });
    expect(result?.[1]?.score).toBeCloseTo(similarity(1, 3, 2), 10);

    // Past the co-rated movies, the list is filled with movies sharing A's genre, then with popular
    // ones not listed yet, as far as the graph has any.
    const longer = (await recommender.similarMovies([ids.movie(A)], 10)).get(ids.movie(A)) ?? [];
    expect(longer.slice(0, 3).map((item) => [item.movieId, item.source])).toEqual([
      [ids.movie(B), 'COLLABORATIVE'],
      [ids.movie(C), 'COLLABORATIVE'],
      [ids.movie(D), 'GENRE_PREFERENCE'],
    ]);
    expect(longer.slice(3).every((item) => item.source === 'POPULAR')).toBe(true);
    expect(new Set(idsOf(longer)).size).toBe(longer.length);
    expect(idsOf(longer)).not.toContain(ids.movie(A));
  });

  it('counts a LIKE as a positive signal and answers several movies in one call', async () => {
    const ids = uniqueIds();
    await movies(ids, { 1: ['g'], 2: ['g'], 3: ['h'] });
    await upsertGraphReactions(graph.driver, [
      { userId: ids.user('a'), movieId: ids.movie(1), reaction: 'LIKE', at: 1 },
      { userId: ids.user('a'), movieId: ids.movie(2), reaction: 'LIKE', at: 2 },
      { userId: ids.user('b'), movieId: ids.movie(2), reaction: 'LIKE', at: 3 },
      { userId: ids.user('b'), movieId: ids.movie(3), reaction: 'LIKE', at: 4 },
    ]);
    const bySeed = await recommender.similarMovies([ids.movie(1), ids.movie(2), ids.movie(1)], 1);
    expect(bySeed.get(ids.movie(1))?.map((item) => [item.movieId, item.source])).toEqual([[ids.movie(2), 'COLLABORATIVE']]);
    expect(bySeed.get(ids.movie(2))?.map((item) => item.movieId)).toEqual([ids.movie(1)]); // tie with 3, lower id first
  });

  it('falls back to popular movies of the same genres when nobody co-rated the movie', async () => {
    const ids = uniqueIds();
    await movies(ids, { 1: ['g', 'h'], 2: ['g'], 3: ['g', 'h'], 4: ['other'] });
    await rate({ a: { 2: 3 }, b: { 2: 2 }, c: { 3: 1 }, d: { 4: 5 } }, ids);
    const result = (await recommender.similarMovies([ids.movie(1)], 2)).get(ids.movie(1));
    // 3 shares both genres; 2 shares one of two.
    expect(result).toEqual([
      { movieId: ids.movie(3), score: 1, because: [], source: 'GENRE_PREFERENCE' },
      { movieId: ids.movie(2), score: 0.5, because: [], source: 'GENRE_PREFERENCE' },
    ]);
  });

  it('falls back to popular movies for a movie without genres or unknown to the graph', async () => {
    const ids = uniqueIds();
    await movies(ids, { 1: [], 2: ['x'], 3: ['x'] });
    // By far the most rated movies of this graph, so they head the popular list.
    const table: Record<string, Record<number, number>> = {};
    for (let n = 0; n < 30; n++) table[`fan${n}`] = n < 20 ? { 2: 1, 3: 1 } : { 2: 1 };
    await rate(table, ids);

    for (const movieId of [ids.movie(1), ids.movie(999)]) {
      const result = (await recommender.similarMovies([movieId], 2)).get(movieId);
      expect(result).toEqual([
        { movieId: ids.movie(2), score: 1, because: [], source: 'POPULAR' },
        { movieId: ids.movie(3), score: 20 / 30, because: [], source: 'POPULAR' },
      ]);
    }
    // The most popular movie itself gets the next ones instead of itself.
    const own = (await recommender.similarMovies([ids.movie(2)], 1)).get(ids.movie(2));
    expect(own?.[0]?.movieId).toBe(ids.movie(3));
  });
});

describe('forUser', () => {
  it('recommends what neighbours loved, never what the user already rated, liked, disliked or excluded', async () => {
    const ids = uniqueIds();
    const [A, B, C, E, F, G, H] = [1, 2, 3, 5, 6, 7, 8];
    await movies(ids, { [A]: ['g'], [B]: ['g'], [C]: ['g'], [E]: ['g'], [F]: ['g'], [G]: ['g'], [H]: ['g'] });
    await rate(
      {
        n1: { [A]: 5, [B]: 5, [C]: 5 },
        n2: { [A]: 4, [E]: 5, [C]: 4 },
        n3: { [E]: 4, [F]: 5, [G]: 5, [H]: 5 },
        viewer: { [A]: 5, [E]: 4.5, [B]: 2 },
      },
      ids,
    );
    const viewer = ids.user('viewer');
    await upsertGraphReactions(graph.driver, [{ userId: viewer, movieId: ids.movie(G), reaction: 'DISLIKE', at: clock + 1 }]);
    await graph.driver.executeQuery('MATCH (u:User {id: $viewer}), (m:Movie {id: $movie}) MERGE (u)-[:EXCLUDED]->(m)', {
      viewer,
      movie: neo4j.int(ids.movie(H)),
    });

    const result = await recommender.forUser(viewer, 20);
    for (const seen of [A, B, E, G, H]) expect(idsOf(result)).not.toContain(ids.movie(seen));

    // Engagement: A 3 (n1, n2, viewer), C 2, E 3 (n2, n3, viewer), F 1.
    expect(result.slice(0, 2)).toEqual([
      { movieId: ids.movie(C), score: expect.closeTo(similarity(2, 3, 2) + similarity(1, 3, 2), 10), because: [ids.movie(A), ids.movie(E)], source: 'COLLABORATIVE' },
      { movieId: ids.movie(F), score: expect.closeTo(similarity(1, 3, 1), 10), because: [ids.movie(E)], source: 'COLLABORATIVE' },
    ]);
    expect(result.slice(2).every((item) => item.source !== 'COLLABORATIVE')).toBe(true);
    expect(idsOf(await recommender.forUser(viewer, 1))).toEqual([ids.movie(C)]);
  });

  it('gives a user without ratings movies of their favourite genres, then popular ones', async () => {
    const ids = uniqueIds();
    await movies(ids, { 1: ['g1', 'g2'], 2: ['g1'], 3: ['g2'], 4: ['g1'], 5: ['other'] });
    await rate({ a: { 2: 2, 3: 1 }, b: { 2: 5 } }, ids);
    const newcomer = ids.user('newcomer');
    await upsertGraphUsers(graph.driver, [{ id: newcomer, favoriteGenres: [ids.genre('g1'), ids.genre('g2')] }]);
    await upsertGraphReactions(graph.driver, [{ userId: newcomer, movieId: ids.movie(4), reaction: 'DISLIKE', at: 1 }]);

    const result = await recommender.forUser(newcomer, 5);
    expect(result.slice(0, 3)).toEqual([
      { movieId: ids.movie(1), score: 1, because: [], source: 'GENRE_PREFERENCE' },
      { movieId: ids.movie(2), score: 0.5, because: [], source: 'GENRE_PREFERENCE' }, // more popular than 3
      { movieId: ids.movie(3), score: 0.5, because: [], source: 'GENRE_PREFERENCE' },
    ]);
    expect(result.slice(3).map((item) => item.source)).toEqual(['POPULAR', 'POPULAR']);
    expect(idsOf(result)).not.toContain(ids.movie(4)); // disliked
  });

  it('gives a user the graph does not know popular movies', async () => {
    const ids = uniqueIds();
    const result = await recommender.forUser(ids.user('stranger'), 3);
    expect(result).toHaveLength(3);
    expect(result.every((item) => item.source === 'POPULAR' && item.because.length === 0)).toBe(true);
    expect(result.map((item) => item.score)).toEqual([...result.map((item) => item.score)].sort((a, b) => b - a));
  });
});
