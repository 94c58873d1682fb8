import { describe, expect, it } from 'vitest';
import {
  fillUpTo,
  genreRecommendation,
  neighboursBySeed,
  popularRecommendations,
  rankBySeedSimilarity,
  type RecommendedMovie,
} from '../../src/recommender.ts';

const item = (movieId: number, source: RecommendedMovie['source'] = 'POPULAR', score = 1): RecommendedMovie => ({
  movieId,
  score,
  because: [],
  source,
});

describe('neighboursBySeed', () => {
  it('groups by seed, most similar first (ties by id), cut to the limit', () => {
    const bySeed = neighboursBySeed(
      [
        { seedId: 1, movieId: 10, similarity: 0.2 },
        { seedId: 1, movieId: 11, similarity: 0.9 },
        { seedId: 1, movieId: 9, similarity: 0.2 },
        { seedId: 2, movieId: 10, similarity: 0.5 },
      ],
      2,
    );
    expect(bySeed.get(1)?.map((entry) => entry.movieId)).toEqual([11, 9]);
    expect(bySeed.get(2)).toEqual([{ movieId: 10, score: 0.5, because: [], source: 'COLLABORATIVE' }]);
  });
});

describe('rankBySeedSimilarity', () => {
  it('sums similarities over seeds and names the three strongest seeds as reasons', () => {
    const ranked = rankBySeedSimilarity(
      [
        { seedId: 1, movieId: 100, similarity: 0.1 },
        { seedId: 2, movieId: 100, similarity: 0.4 },
        { seedId: 3, movieId: 100, similarity: 0.3 },
        { seedId: 4, movieId: 100, similarity: 0.05 },
        { seedId: 1, movieId: 200, similarity: 0.6 },
      ],
      10,
    );
    expect(ranked.map((entry) => entry.movieId)).toEqual([100, 200]);
    expect(ranked[0]?.score).toBeCloseTo(0.85);
    expect(ranked[0]?.because).toEqual([2, 3, 1]);
    expect(ranked[1]).toEqual({ movieId: 200, score: 0.6, because: [1], source: 'COLLABORATIVE' });
  });

  it('keeps only the best `limit` candidates', () => {
    const rows = [1, 2, 3].map((movieId) => ({ seedId: 9, movieId, similarity: movieId / 10 }));
    expect(rankBySeedSimilarity(rows, 2).map((entry) => entry.movieId)).toEqual([3, 2]);
  });
});

describe('fillUpTo', () => {
  it('takes lists in priority order, skipping excluded movies and repeats', () => {
    const filled = fillUpTo(
      4,
      [[item(1, 'COLLABORATIVE')], [item(2, 'GENRE_PREFERENCE'), item(1, 'GENRE_PREFERENCE'), item(5, 'GENRE_PREFERENCE')], [item(3), item(4), item(6)]],
      new Set([5]),
    );
    expect(filled.map((entry) => [entry.movieId, entry.source])).toEqual([
      [1, 'COLLABORATIVE'],
      [2, 'GENRE_PREFERENCE'],
      [3, 'POPULAR'],
      [4, 'POPULAR'],
    ]);
  });

  it('returns fewer when the lists run out', () => {
    expect(fillUpTo(5, [[item(1)], []])).toHaveLength(1);
  });
});

describe('fallback scores', () => {
  it('scores a genre match by the share of asked genres it has', () => {
    expect(genreRecommendation({ movieId: 1, sharedGenres: 2, genreCount: 4 })).toEqual({
      movieId: 1,
      score: 0.5,
      because: [],
      source: 'GENRE_PREFERENCE',
    });
    expect(genreRecommendation({ movieId: 1, sharedGenres: 0, genreCount: 0 }).score).toBe(0);
  });

  it('scores popularity relative to the most popular movie of the list', () => {
    const scored = popularRecommendations([
      { movieId: 1, popularity: 40 },
      { movieId: 2, popularity: 10 },
    ]);
    expect(scored.map((entry) => entry.score)).toEqual([1, 0.25]);
    expect(scored.every((entry) => entry.source === 'POPULAR' && entry.because.length === 0)).toBe(true);
    expect(popularRecommendations([])).toEqual([]);
  });
});
