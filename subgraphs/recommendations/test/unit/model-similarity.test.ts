import { describe, expect, it } from 'vitest';
import {
  buildProfile,
  computeSimilarities,
  defaultSimilarityOptions,
  defaultWeighting,
  maxProfileItems,
  profileWeight,
  type InteractionWeighting,
  type Neighbour,
  type SimilarityOptions,
  type TrainingInteraction,
} from '../../src/model/similarity.ts';

const day = 86_400_000;

function rated(userId: string, movieId: number, rating: number | null = 4, reaction: TrainingInteraction['reaction'] = null, at = 0): TrainingInteraction {
  return { userId, movieId, rating, reaction, at };
}

/** Every user rated each of their movies 4 (so binary and linear weights agree up to a factor). */
function fromBaskets(baskets: Record<string, number[]>): TrainingInteraction[] {
  return Object.entries(baskets).flatMap(([userId, movies]) => movies.map((movieId) => rated(userId, movieId)));
}

const binary: InteractionWeighting = { ...defaultWeighting, ratingScale: 'binary' };

// A=1, B=2, C=3, D=4: u1 and u2 watched A and B, u3 watched A and C, u4 watched C and D.
const tiny = fromBaskets({ u1: [1, 2], u2: [1, 2], u3: [1, 3], u4: [3, 4] });

const ids = (list: readonly Neighbour[] | undefined): number[] => (list ?? []).map((neighbour) => neighbour.movieId);

describe('computeSimilarities', () => {
  it('cosine on a tiny matrix: hand-computed scores, best first', () => {
    const model = computeSimilarities(tiny, { neighboursPerMovie: 10, similarity: 'cosine', shrinkage: 0, normalizeRows: false, weighting: binary });
    // |A| = sqrt(3), |B| = |C| = sqrt(2), |D| = 1; A·B = 2, A·C = 1, C·D = 1.
    expect(model.neighbours.get(1)).toEqual([
      { movieId: 2, score: expect.closeTo(2 / Math.sqrt(6), 12) },
      { movieId: 3, score: expect.closeTo(1 / Math.sqrt(6), 12) },
    ]);
    expect(ids(model.neighbours.get(3))).toEqual([4, 1]);
    expect(model.neighbours.get(4)).toEqual([{ movieId: 3, score: expect.closeTo(1 / Math.sqrt(2), 12) }]);
    expect(model).toMatchObject({ users: 4, movies: 4, edges: 6 });
  });

  it('cosine shrinkage lowers scores with little support', () => {
    const model = computeSimilarities(tiny, { neighboursPerMovie: 10, similarity: 'cosine', shrinkage: 1, normalizeRows: false, weighting: binary });
    expect(model.neighbours.get(1)?.[0]?.score).toBeCloseTo(2 / (Math.sqrt(6) + 1), 12);
  });

  it('rp3beta on a tiny matrix: hand-computed random-walk scores with the popularity penalty', () => {
    const options: SimilarityOptions = { neighboursPerMovie: 10, similarity: 'rp3beta', alpha: 1, beta: 0.5, normalizeRows: false, weighting: binary };
    const model = computeSimilarities(tiny, options);
    // A -> u (1/3 each of u1, u2, u3) -> B (1/2 from u1 and u2) or C (1/2 from u3); popularity(B) = popularity(C) = 2.
    expect(model.neighbours.get(1)).toEqual([
      { movieId: 2, score: expect.closeTo((2 * (1 / 3) * (1 / 2)) / Math.sqrt(2), 12) },
      { movieId: 3, score: expect.closeTo((1 / 3) * (1 / 2) / Math.sqrt(2), 12) },
    ]);
    // Not symmetric: B -> A is 1/2·1/2·2 / sqrt(3).
    expect(model.neighbours.get(2)).toEqual([{ movieId: 1, score: expect.closeTo(0.5 / Math.sqrt(3), 12) }]);
  });

  it('rp3beta alpha sharpens the transition probabilities', () => {
    const model = computeSimilarities(tiny, { neighboursPerMovie: 10, similarity: 'rp3beta', alpha: 2, beta: 0, normalizeRows: false, weighting: binary });
    expect(model.neighbours.get(1)?.[0]).toEqual({ movieId: 2, score: expect.closeTo(2 * (1 / 9) * (1 / 4), 12) });
  });

  it('normalised rows sum to 1 and keep their order', () => {
    const model = computeSimilarities(tiny, { neighboursPerMovie: 10, similarity: 'rp3beta', normalizeRows: true, weighting: binary });
    for (const list of model.neighbours.values()) expect(list.reduce((sum, neighbour) => sum + neighbour.score, 0)).toBeCloseTo(1, 12);
    expect(ids(model.neighbours.get(1))).toEqual([2, 3]);
  });

  const crowd = fromBaskets(
    Object.fromEntries(Array.from({ length: 30 }, (_, user) => [`u${user}`, Array.from({ length: 12 }, (_, index) => ((user * 7 + index * 3) % 40) + 1)])),
  );

  it('never lists a movie as its own neighbour and keeps at most k per movie (outgoing)', () => {
    for (const similarity of ['rp3beta', 'cosine'] as const) {
      const model = computeSimilarities(crowd, { neighboursPerMovie: 5, similarity, neighbourhood: 'outgoing' });
      expect(model.neighbours.size).toBeGreaterThan(0);
      let edges = 0;
      for (const [movieId, list] of model.neighbours) {
        expect(ids(list)).not.toContain(movieId);
        expect(list.length).toBeLessThanOrEqual(5);
        expect(new Set(ids(list)).size).toBe(list.length);
        const scores = list.map((neighbour) => neighbour.score);
        expect(scores).toEqual([...scores].sort((a, b) => b - a));
        edges += list.length;
      }
      expect(model.edges).toBe(edges);
    }
  });

  it('incoming neighbourhoods: every movie is reached from at most k movies, never from itself', () => {
    const model = computeSimilarities(crowd, { neighboursPerMovie: 5, similarity: 'cosine', neighbourhood: 'incoming', normalizeRows: false });
    const incoming = new Map<number, number>();
    for (const [movieId, list] of model.neighbours) {
      expect(ids(list)).not.toContain(movieId);
      for (const neighbour of list) incoming.set(neighbour.movieId, (incoming.get(neighbour.movieId) ?? 0) + 1);
    }
    expect(Math.max(...incoming.values())).toBeLessThanOrEqual(5);
    // Same scores as the outgoing model of a symmetric measure, only pruned on the other side.
    const outgoing = computeSimilarities(crowd, { neighboursPerMovie: 1000, similarity: 'cosine', neighbourhood: 'outgoing', normalizeRows: false });
    const [movieId, list] = [...model.neighbours][0]!;
    for (const neighbour of list) {
      expect(outgoing.neighbours.get(movieId)?.find((other) => other.movieId === neighbour.movieId)?.score).toBeCloseTo(neighbour.score, 12);
    }
  });

  it('dislikes do not make movies similar, whatever the rating; likes do', () => {
    const disliked = [1, 2, 3].flatMap((user) => [rated(`d${user}`, 10, 5, 'DISLIKE'), rated(`d${user}`, 11, 5, 'DISLIKE')]);
    const other = [rated('x', 10), rated('x', 12), rated('y', 11), rated('y', 13)];
    const model = computeSimilarities([...disliked, ...other], { neighboursPerMovie: 10 });
    expect(ids(model.neighbours.get(10))).toEqual([12]);
    expect(ids(model.neighbours.get(11))).toEqual([13]);
    expect(model.users).toBe(2);

    const liked = [1, 2, 3].flatMap((user) => [rated(`l${user}`, 10, null, 'LIKE'), rated(`l${user}`, 11, null, 'LIKE')]);
    expect(ids(computeSimilarities([...liked, ...other], { neighboursPerMovie: 10 }).neighbours.get(10))[0]).toBe(11);
  });

  it('ratings below minRating are left out of the matrix', () => {
    const interactions = [rated('u', 1, 2), rated('u', 2, 2), rated('v', 1, 5), rated('v', 3, 5)];
    const model = computeSimilarities(interactions, { neighboursPerMovie: 10, weighting: { ...defaultWeighting, minRating: 3 } });
    expect(ids(model.neighbours.get(1))).toEqual([3]);
    expect(model.movies).toBe(3);
  });

  it('a (user, movie) pair given twice counts once', () => {
    const options: SimilarityOptions = { neighboursPerMovie: 10, similarity: 'cosine', shrinkage: 0 };
    const once = computeSimilarities(tiny, options);
    const twice = computeSimilarities([...tiny, rated('u1', 1), rated('u3', 3)], options);
    expect(twice.neighbours).toEqual(once.neighbours);
  });

  it('reports progress up to 1 and rejects nonsensical options', () => {
    const progress: number[] = [];
    computeSimilarities(crowd, { neighboursPerMovie: 5, onProgress: (fraction) => progress.push(fraction) });
    expect(progress.length).toBeGreaterThan(2);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(1);
    expect(() => computeSimilarities(tiny, { neighboursPerMovie: 0 })).toThrow(RangeError);
    expect(() => computeSimilarities(tiny, { neighboursPerMovie: 5, alpha: 0 })).toThrow(RangeError);
  });

  it('records the parameters it used, with the defaults filled in', () => {
    const model = computeSimilarities(tiny, { neighboursPerMovie: 7, beta: 0.2 });
    expect(model.parameters).toEqual({ ...defaultSimilarityOptions, neighboursPerMovie: 7, beta: 0.2 });
    expect(computeSimilarities([], defaultSimilarityOptions)).toMatchObject({ users: 0, movies: 0, edges: 0 });
  });
});

describe('computeSimilarities: ease', () => {
  // Binary weights, no user scaling, lambda 1 on `tiny`: G = XᵀX + I = [[4,2,1,0],[2,3,0,0],[1,0,3,1],[0,0,1,2]];
  // B = -P / diag(P) with P = G⁻¹ (exact fractions, checked with numpy):
  //   1 -> 2: 5/9, 1 -> 3: 3/8, 1 -> 4: -1/7;  2 -> 1: 2/3, 2 -> 3: -1/4, 2 -> 4: 2/21
  //   3 -> 1: 2/5, 3 -> 2: -2/9, 3 -> 4: 8/21; 4 -> 1: -1/5, 4 -> 2: 1/9, 4 -> 3: 1/2
  // Plain EASE (no low-rank term), so that every weight can be computed by hand.
  const plain: SimilarityOptions = { similarity: 'ease', easeLambda: 1, easeUserScaling: false, weighting: binary, easeLowRankWeight: 0 };

  it('on a tiny matrix: hand-computed signed weights, B_ii = 0 (never its own neighbour), best first', () => {
    const model = computeSimilarities(tiny, plain);
    expect(model.neighbours.get(1)).toEqual([
      { movieId: 2, score: expect.closeTo(5 / 9, 12) },
      { movieId: 3, score: expect.closeTo(3 / 8, 12) },
      { movieId: 4, score: expect.closeTo(-1 / 7, 12) },
    ]);
    expect(model.neighbours.get(2)).toEqual([
      { movieId: 1, score: expect.closeTo(2 / 3, 12) },
      { movieId: 4, score: expect.closeTo(2 / 21, 12) },
      { movieId: 3, score: expect.closeTo(-1 / 4, 12) },
    ]);
    expect(model.neighbours.get(4)).toEqual([
      { movieId: 3, score: expect.closeTo(1 / 2, 12) },
      { movieId: 2, score: expect.closeTo(1 / 9, 12) },
      { movieId: 1, score: expect.closeTo(-1 / 5, 12) },
    ]);
    for (const [movieId, list] of model.neighbours) expect(ids(list)).not.toContain(movieId);
    // Sign structure: co-watched pairs are positive; 2 and 3, never watched together but both with 1, explain each other away.
    expect(model.neighbours.get(3)?.find((neighbour) => neighbour.movieId === 2)?.score).toBeLessThan(0);
    expect(model).toMatchObject({ users: 4, movies: 4, edges: 12 });
    expect(model.parameters).toMatchObject({ similarity: 'ease', neighboursPerMovie: 300, normalizeRows: false, easeLambda: 1, easeLowRankWeight: 0 });
  });

  it('keeps the largest |weight| per movie, negative edges included', () => {
    const model = computeSimilarities(tiny, { ...plain, neighboursPerMovie: 2 });
    expect(ids(model.neighbours.get(1))).toEqual([2, 3]);
    // |-1/4| beats 2/21: the negative edge is kept, the weak positive one dropped.
    expect(model.neighbours.get(2)).toEqual([
      { movieId: 1, score: expect.closeTo(2 / 3, 12) },
      { movieId: 3, score: expect.closeTo(-1 / 4, 12) },
    ]);
    expect(ids(model.neighbours.get(4))).toEqual([3, 1]);
    expect(model.edges).toBe(8);
  });

  it('user scaling and rating weights: G = Xᵀ diag(1/sqrt(deg)) X + λI (default lambda and scaling)', () => {
    // Every user has 2 interactions rated 4 (weight 0.8); lambda 15 (numpy reference values).
    const model = computeSimilarities(tiny, { similarity: 'ease', easeLambda: 15, easeLowRankWeight: 0 });
    const score = (from: number, to: number): number | undefined => model.neighbours.get(from)?.find((neighbour) => neighbour.movieId === to)?.score;
    expect(score(1, 2)).toBeCloseTo(5.53753494e-2, 10);
    expect(score(1, 4)).toBeCloseTo(-7.90288327e-4, 12);
    expect(score(2, 3)).toBeCloseTo(-1.57932853e-3, 12);
    expect(score(4, 3)).toBeCloseTo(2.92863242e-2, 10);
  });

  it('covers only the easeMovies most rated movies (ties: lower id); the others get no edges', () => {
    // 1 has 3 users, 2 and 3 have 2 each: M = {1, 2}. G = [[4,2],[2,3]], P = [[3,-2],[-2,4]] / 8.
    const model = computeSimilarities(tiny, { ...plain, easeMovies: 2 });
    expect(model.neighbours.get(1)).toEqual([{ movieId: 2, score: expect.closeTo(0.5, 12) }]);
    expect(model.neighbours.get(2)).toEqual([{ movieId: 1, score: expect.closeTo(2 / 3, 12) }]);
    expect(model.neighbours.has(3)).toBe(false);
    expect(model.neighbours.has(4)).toBe(false);
    expect(model).toMatchObject({ movies: 4, edges: 2 });
  });

  it('EDLAE dropout p adds p/(1-p) · G_ii to each diagonal entry on top of lambda', () => {
    // M = {1, 2}, XᵀX = [[3,2],[2,2]]; p = 0.5 doubles the diagonal: G = [[3+3+1, 2],[2, 2+2+1]] = [[7,2],[2,5]],
    // P = [[5,-2],[-2,7]] / 31, so B_12 = 2/7 and B_21 = 2/5 (plain EASE: 1/2 and 2/3, above).
    const model = computeSimilarities(tiny, { ...plain, easeMovies: 2, easeDropout: 0.5 });
    expect(model.neighbours.get(1)).toEqual([{ movieId: 2, score: expect.closeTo(2 / 7, 12) }]);
    expect(model.neighbours.get(2)).toEqual([{ movieId: 1, score: expect.closeTo(2 / 5, 12) }]);
    expect(model.parameters.easeDropout).toBe(0.5);
    expect(computeSimilarities(tiny, { ...plain, easeDropout: 0 }).neighbours).toEqual(computeSimilarities(tiny, plain).neighbours);
    for (const bad of [-0.1, 1, Number.NaN]) expect(() => computeSimilarities(tiny, { ...plain, easeDropout: bad })).toThrow(RangeError);
  });

  it('low-rank term: B + α·c·L on co-rated pairs, L from the Gram matrix\'s leading eigenpairs, c matching mean |B| (numpy reference)', () => {
    // XᵀX of `tiny` has eigenvalues 4.8136, 2.5293, 0.6571, 0; with 1 dimension, lambda 1 and α 0.5
    // numpy gives B' = B + 0.5·c·v·(s/(s+1))·vᵀ (zero diagonal), c = mean|B| / mean|L| off the diagonal,
    // on the pairs some user rated together (1-2, 1-3, 3-4); the others keep plain EASE's weight.
    const model = computeSimilarities(tiny, { ...plain, easeLowRankWeight: 0.5, easeLowRankDimensions: 1 });
    const score = (from: number, to: number): number | undefined => model.neighbours.get(from)?.find((neighbour) => neighbour.movieId === to)?.score;
    expect(score(1, 2)).toBeCloseTo(0.989353917913, 9);
    expect(score(2, 1)).toBeCloseTo(1.100465029024, 9);
    expect(score(1, 3)).toBeCloseTo(0.614191005173, 9);
    expect(score(3, 4)).toBeCloseTo(0.405535248253, 9);
    expect(score(4, 3)).toBeCloseTo(0.5245828673, 9);
    // Never rated together: as in plain EASE (above).
    expect(score(1, 4)).toBeCloseTo(-1 / 7, 12);
    expect(score(2, 3)).toBeCloseTo(-1 / 4, 12);
    expect(score(4, 2)).toBeCloseTo(1 / 9, 12);
    expect(model.parameters).toMatchObject({ easeLowRankWeight: 0.5, easeLowRankDimensions: 1 });
    // Weight 0 is plain EASE, whatever the dimensions.
    expect(computeSimilarities(tiny, { ...plain, easeLowRankWeight: 0, easeLowRankDimensions: 3 }).neighbours).toEqual(computeSimilarities(tiny, plain).neighbours);
    for (const bad of [-0.1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => computeSimilarities(tiny, { ...plain, easeLowRankWeight: bad })).toThrow(RangeError);
    for (const bad of [0, 1.5]) expect(() => computeSimilarities(tiny, { ...plain, easeLowRankDimensions: bad })).toThrow(RangeError);
  });

  it('is deterministic, reports progress up to 1, rejects options it cannot honour', () => {
    const crowd = fromBaskets(
      Object.fromEntries(Array.from({ length: 40 }, (_, user) => [`u${user}`, Array.from({ length: 15 }, (_, index) => ((user * 11 + index * 7) % 60) + 1)])),
    );
    const progress: number[] = [];
    const first = computeSimilarities(crowd, { similarity: 'ease', neighboursPerMovie: 20, onProgress: (fraction) => progress.push(fraction) });
    expect(computeSimilarities(crowd, { similarity: 'ease', neighboursPerMovie: 20 }).neighbours).toEqual(first.neighbours);
    expect(progress.length).toBeGreaterThan(2);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(1);
    for (const list of first.neighbours.values()) expect(list.length).toBeLessThanOrEqual(20);
    expect(() => computeSimilarities(tiny, { similarity: 'ease', neighbourhood: 'incoming' })).toThrow(RangeError);
    expect(() => computeSimilarities(tiny, { similarity: 'ease', easeLambda: 0 })).toThrow(RangeError);
    expect(() => computeSimilarities(tiny, { similarity: 'ease', easeMovies: 0 })).toThrow(RangeError);
    expect(computeSimilarities([], { similarity: 'ease' })).toMatchObject({ users: 0, movies: 0, edges: 0 });
  });

  it('optional popularity penalty: g · ln(1 + n) / ln(1 + n_max) per movie, absent by default', () => {
    expect(computeSimilarities(tiny, plain).popularityPenalty).toBeUndefined();
    const penalties = computeSimilarities(tiny, { ...plain, popularityPenalty: 0.1 }).popularityPenalty;
    expect(penalties?.get(1)).toBeCloseTo(0.1, 12);
    expect(penalties?.get(4)).toBeCloseTo((0.1 * Math.log(2)) / Math.log(4), 12);
  });
});

describe('profileWeight', () => {
  it('rating-scaled by default; a LIKE weighs as a 5-star rating; a DISLIKE is never positive', () => {
    expect(profileWeight(rated('u', 1, 4), 0)).toBeCloseTo(0.8, 12);
    expect(profileWeight(rated('u', 1, 0.5), 0)).toBeCloseTo(0.1, 12);
    expect(profileWeight(rated('u', 1, null, 'LIKE'), 0)).toBe(1);
    expect(profileWeight(rated('u', 1, 2, 'LIKE'), 0)).toBe(1);
    expect(profileWeight(rated('u', 1, 5, 'DISLIKE'), 0)).toBe(0);
    expect(profileWeight(rated('u', 1, null, null), 0)).toBe(0);
  });

  it('other weightings: binary, a rating threshold, a time decay by half-lives', () => {
    expect(profileWeight(rated('u', 1, 1), 0, binary)).toBe(1);
    expect(profileWeight(rated('u', 1, 3.5), 0, { ...binary, minRating: 4 })).toBe(0);
    const decaying: InteractionWeighting = { ...binary, halfLifeDays: 30 };
    expect(profileWeight(rated('u', 1, 4, null, 0), 60 * day, decaying)).toBeCloseTo(0.25, 12);
    // Far in the past: tiny but still positive.
    expect(profileWeight(rated('u', 1, 4, null, 0), 100_000 * day, decaying)).toBeGreaterThan(0);
    expect(profileWeight(rated('u', 1, 4, 'DISLIKE', 0), 0, decaying)).toBe(0);
  });
});

describe('buildProfile', () => {
  it('keeps the most recent interactions (ties: lower movie id), weighted by profileWeight', () => {
    const interactions = [rated('u', 5, 5, null, 10), rated('u', 3, 2, null, 30), rated('u', 4, 4, null, 30), rated('u', 9, 4, 'DISLIKE', 20)];
    expect(buildProfile(interactions, 100, { limit: 3 })).toEqual([
      { movieId: 3, weight: expect.closeTo(0.4, 12) },
      { movieId: 4, weight: expect.closeTo(0.8, 12) },
      { movieId: 9, weight: 0 },
    ]);
    expect(buildProfile(interactions, 100)).toHaveLength(4);
    expect(maxProfileItems).toBeGreaterThanOrEqual(200);
  });
});
