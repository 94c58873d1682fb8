import { describe, expect, it } from 'vitest';
import { scoreCandidates } from '../../src/model/scoring.ts';
import type { Neighbour } from '../../src/model/similarity.ts';

describe('scoreCandidates', () => {
  const neighbours = new Map<number, Neighbour[]>([
    [1, [{ movieId: 10, score: 0.5 }, { movieId: 11, score: 0.4 }, { movieId: 2, score: 0.3 }]],
    [2, [{ movieId: 11, score: 0.6 }, { movieId: 12, score: 0.1 }]],
    [3, [{ movieId: 11, score: 0.05 }, { movieId: 10, score: 0.9 }]],
  ]);
  const neighboursOf = (movieId: number): Neighbour[] | undefined => neighbours.get(movieId);

  it('sums weight × similarity, never returns seen movies, names the strongest reasons first', () => {
    const profile = [
      { movieId: 1, weight: 1 },
      { movieId: 2, weight: 0.5 },
      { movieId: 3, weight: 0.2 },
    ];
    const ranked = scoreCandidates(profile, neighboursOf, new Set([1, 2, 3]), 10);
    // 11: 0.4 from 1, 0.3 from 2, 0.01 from 3; 10: 0.5 from 1, 0.18 from 3; 12: 0.05 from 2.
    expect(ranked.map((candidate) => candidate.movieId)).toEqual([11, 10, 12]);
    expect(ranked[0]).toEqual({ movieId: 11, score: expect.closeTo(0.71, 12), because: [1, 2, 3] });
    expect(ranked[1]).toEqual({ movieId: 10, score: expect.closeTo(0.68, 12), because: [1, 3] });
    expect(ranked[2]).toEqual({ movieId: 12, score: expect.closeTo(0.05, 12), because: [2] });
    expect(scoreCandidates(profile, neighboursOf, new Set([1, 2, 3]), 10, { maxReasons: 2 })[0]?.because).toEqual([1, 2]);
    expect(scoreCandidates(profile, neighboursOf, new Set([1, 2, 3, 11]), 1)).toEqual([{ movieId: 10, score: expect.closeTo(0.68, 12), because: [1, 3] }]);
    // Reasons limited to the movies that may explain (serving: those the user liked); the ranking is unchanged.
    const likedOnly = scoreCandidates(profile, neighboursOf, new Set([1, 2, 3]), 10, { canExplain: (id) => id !== 1 });
    expect(likedOnly.map((candidate) => [candidate.movieId, candidate.because])).toEqual([
      [11, [2, 3]],
      [10, [3]],
      [12, [2]],
    ]);
  });

  it('signed similarities: no positive contribution -> not returned; a total <= 0 ranks below positive ones', () => {
    const signed = new Map<number, Neighbour[]>([
      [1, [{ movieId: 10, score: 0.5 }, { movieId: 14, score: 0.45 }, { movieId: 11, score: 0.2 }, { movieId: 12, score: -0.3 }]],
      [2, [{ movieId: 11, score: 0.3 }, { movieId: 13, score: -0.1 }, { movieId: 10, score: -0.6 }]],
    ]);
    const profile = [
      { movieId: 1, weight: 1 },
      { movieId: 2, weight: 1 },
    ];
    // 11: 0.2 + 0.3; 14: 0.45; 10: 0.5 - 0.6 = -0.1; 12 and 13 only ever pushed down.
    const ranked = scoreCandidates(profile, (id) => signed.get(id), new Set([1, 2]), 10);
    expect(ranked).toEqual([
      { movieId: 11, score: expect.closeTo(0.5, 12), because: [2, 1] },
      { movieId: 14, score: expect.closeTo(0.45, 12), because: [1] },
      { movieId: 10, score: expect.closeTo(-0.1, 12), because: [1] },
    ]);
    // With penalties: raw / best raw - penalty; a negative total still ranks last, whatever its penalty.
    const penalties = new Map([
      [11, 0.2],
      [10, -5],
    ]);
    const adjusted = scoreCandidates(profile, (id) => signed.get(id), new Set([1, 2]), 10, { penaltyOf: (id) => penalties.get(id) ?? 0 });
    expect(adjusted.map((candidate) => [candidate.movieId, candidate.score])).toEqual([
      [14, expect.closeTo(0.9, 12)],
      [11, expect.closeTo(0.8, 12)],
      [10, expect.closeTo(-0.2 + 5, 12)],
    ]);
  });

  it('skips profile movies without positive weight or without neighbours; ties go to the lower id', () => {
    expect(scoreCandidates([{ movieId: 1, weight: 0 }, { movieId: 99, weight: 1 }], neighboursOf, new Set(), 10)).toEqual([]);
    const tie = new Map<number, Neighbour[]>([[1, [{ movieId: 30, score: 0.5 }, { movieId: 20, score: 0.5 }]]]);
    expect(scoreCandidates([{ movieId: 1, weight: 1 }], (id) => tie.get(id), new Set(), 10).map((candidate) => candidate.movieId)).toEqual([20, 30]);
  });

  it('gives the same answers for ids that cannot index an array (the map path), and keeps no state between calls', () => {
    // The same random neighbourhoods twice: small ids (scratch arrays, grown on demand) and the
    // same ids shifted beyond 2^24 or made fractional (maps).
    let seed = 7;
    const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    const small = new Map<number, Neighbour[]>();
    for (let movie = 1; movie <= 60; movie += 1) {
      small.set(movie, Array.from({ length: 25 }, () => ({ movieId: 1 + Math.floor(random() * 5000), score: random() - 0.3 })));
    }
    const profile = Array.from({ length: 40 }, (_, index) => ({ movieId: index + 1, weight: random() }));
    const seen = new Set([...profile.map((item) => item.movieId), 17, 4000]);
    for (const shift of [2 ** 24, 0.5]) {
      const shifted = new Map([...small].map(([movie, list]) => [movie, list.map((neighbour) => ({ ...neighbour, movieId: neighbour.movieId + shift }))]));
      const viaArrays = scoreCandidates(profile, (id) => small.get(id), seen, 30);
      const viaMaps = scoreCandidates(profile, (id) => shifted.get(id), new Set([...seen].map((id) => id + shift)), 30);
      expect(viaMaps.map((candidate) => ({ ...candidate, movieId: candidate.movieId - shift }))).toEqual(viaArrays);
      expect(viaArrays.length).toBe(30);
    }
    // Repeated and interleaved calls: nothing left over from the previous one.
    const first = scoreCandidates(profile, (id) => small.get(id), seen, 10);
    scoreCandidates(profile.slice(0, 5), (id) => small.get(id), new Set(), 50);
    expect(scoreCandidates(profile, (id) => small.get(id), seen, 10)).toEqual(first);
  });
});
