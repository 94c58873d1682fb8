import { describe, expect, it } from 'vitest';
import {
  genreMatchesInCopy,
  isLiked,
  mixInNewMovies,
  neighboursFromPairs,
  newMovieSlots,
  scoreNewMovies,
  weightingOf,
  type LikedMovie,
} from '../../src/model/model-recommender.ts';
import type { RecommendedMovie } from '../../src/recommender.ts';
import { defaultWeighting } from '../../src/model/similarity.ts';

const collaborative = (movieId: number): RecommendedMovie => ({ movieId, score: 1 / movieId, because: [1], source: 'COLLABORATIVE' });
const fresh = (movieId: number): RecommendedMovie => ({ movieId, score: 0.5, because: [], source: 'GENRE_PREFERENCE' });

describe('scoreNewMovies', () => {
  // Taste: Sci-Fi in all liked weight (1), Action in 3/4, Drama in 1/4.
  const liked: LikedMovie[] = [
    { movieId: 1, genres: ['Sci-Fi', 'Action'], weight: 2 },
    { movieId: 2, genres: ['Sci-Fi', 'Action'], weight: 1 },
    { movieId: 3, genres: ['Sci-Fi', 'Drama'], weight: 1 },
  ];
  const rules = { maxRatings: 10, minScore: 0.3 };

  it('scores a movie by the mean taste over its genres and names the liked movies sharing most of them', () => {
    const result = scoreNewMovies(liked, [{ movieId: 100, genres: ['Sci-Fi', 'Action'], ratings: 0 }], rules);
    expect(result).toHaveLength(1);
    expect(result[0]).toMatchObject({ movieId: 100, source: 'GENRE_PREFERENCE', because: [1, 2, 3] });
    expect(result[0]?.score).toBeCloseTo((1 + 0.75) / 2, 10);
  });

  it('leaves out movies off the user’s taste, without genres, or with too many ratings already', () => {
    const result = scoreNewMovies(
      liked,
      [
        { movieId: 100, genres: ['Drama', 'Romance'], ratings: 0 }, // (0.25 + 0) / 2 < 0.3
        { movieId: 101, genres: [], ratings: 0 },
        { movieId: 102, genres: ['Sci-Fi'], ratings: 11 },
        { movieId: 103, genres: ['Sci-Fi'], ratings: 10 },
        { movieId: 104, genres: ['Drama'], ratings: 0 }, // 0.25
      ],
      rules,
    );
    expect(result.map((item) => item.movieId)).toEqual([103]);
  });

  it('ranks better matches first (ties: newer, i.e. higher, id first)', () => {
    const result = scoreNewMovies(
      liked,
      [
        { movieId: 100, genres: ['Sci-Fi', 'Drama'], ratings: 0 },
        { movieId: 101, genres: ['Sci-Fi'], ratings: 0 },
        { movieId: 102, genres: ['Sci-Fi'], ratings: 0 },
      ],
      rules,
    );
    expect(result.map((item) => item.movieId)).toEqual([102, 101, 100]);
  });

  it('returns only the best `limit`, each with its reasons, as the full ranking would', () => {
    const candidates = [
      { movieId: 100, genres: ['Sci-Fi', 'Drama'], ratings: 0 },
      { movieId: 101, genres: ['Sci-Fi'], ratings: 0 },
      { movieId: 102, genres: ['Sci-Fi', 'Action'], ratings: 0 },
    ];
    const all = scoreNewMovies(liked, candidates, rules);
    const best = scoreNewMovies(liked, candidates, { ...rules, limit: 2 });
    expect(best).toEqual(all.slice(0, 2));
    expect(best.map((item) => item.movieId)).toEqual([101, 102]);
    expect(best[1]?.because).toEqual([1, 2, 3]);
  });

  it('finds nothing for a user who liked nothing', () => {
    expect(scoreNewMovies([], [{ movieId: 100, genres: ['Sci-Fi'], ratings: 0 }], rules)).toEqual([]);
  });
});

describe('mixInNewMovies', () => {
  const list = Array.from({ length: 20 }, (_, index) => collaborative(index + 1));

  it('gives new movies one place in ten, at positions 3, 8, ...', () => {
    const mixed = mixInNewMovies(list, [fresh(100), fresh(101), fresh(102)], 20);
    expect(mixed).toHaveLength(20);
    expect(mixed.map((item) => item.movieId).slice(0, 9)).toEqual([1, 2, 100, 3, 4, 5, 6, 101, 7]);
    expect(mixed.map((item) => item.movieId)).not.toContain(102);
  });

  it('appends them to a short list, skips duplicates, and keeps at least one place for small pages', () => {
    expect(mixInNewMovies([collaborative(1)], [fresh(100)], 5).map((item) => item.movieId)).toEqual([1, 100]);
    expect(mixInNewMovies(list.slice(0, 4), [fresh(2), fresh(100)], 5).map((item) => item.movieId)).toEqual([1, 2, 100, 3, 4]);
    expect(newMovieSlots(1)).toBe(1);
    expect(newMovieSlots(25)).toBe(2);
  });

  it('changes nothing without new movies', () => {
    expect(mixInNewMovies(list, [], 10)).toEqual(list.slice(0, 10));
  });
});


describe('isLiked', () => {
  const base = { userId: 'u', movieId: 1, at: 1 };
  it('is a LIKE or a rating of 4 or more, never with a DISLIKE', () => {
    expect(isLiked({ ...base, rating: null, reaction: 'LIKE' })).toBe(true);
    expect(isLiked({ ...base, rating: 4, reaction: null })).toBe(true);
    expect(isLiked({ ...base, rating: 3.5, reaction: null })).toBe(false);
    expect(isLiked({ ...base, rating: 5, reaction: 'DISLIKE' })).toBe(false);
  });
});

describe('neighboursFromPairs and weightingOf', () => {
  it('orders neighbours best first, ties by id', () => {
    expect(
      neighboursFromPairs([
        [3, 0.2],
        [1, 0.5],
        [2, 0.2],
      ]),
    ).toEqual([
      { movieId: 1, score: 0.5 },
      { movieId: 2, score: 0.2 },
      { movieId: 3, score: 0.2 },
    ]);
  });

  it('reads the weighting a model recorded, the default when it recorded none or garbage', () => {
    const weighting = { ...defaultWeighting, minRating: 4 };
    expect(weightingOf(JSON.stringify({ neighboursPerMovie: 50, weighting }))).toEqual(weighting);
    expect(weightingOf(null)).toEqual(defaultWeighting);
    expect(weightingOf('{not json')).toEqual(defaultWeighting);
  });
});

describe('genreMatchesInCopy', () => {
  const copy = {
    maxMovieId: 6,
    moviesByGenre: new Map([
      ['Drama', [1, 2, 3, 4]],
      ['Romance', [2, 3, 5]],
      ['Comedy', [6]],
    ]),
    popularity: new Map([
      [1, 50],
      [2, 5],
      [3, 9],
      [4, 50],
      [5, 100],
      [6, 1],
    ]),
  };

  it('ranks by shared genres, then popularity, then id, scoring the share of the asked genres', () => {
    expect(genreMatchesInCopy(copy, ['Drama', 'Romance'], new Set([3]), 4)).toEqual([
      { movieId: 2, score: 1, because: [], source: 'GENRE_PREFERENCE' },
      { movieId: 5, score: 0.5, because: [], source: 'GENRE_PREFERENCE' },
      { movieId: 1, score: 0.5, because: [], source: 'GENRE_PREFERENCE' },
      { movieId: 4, score: 0.5, because: [], source: 'GENRE_PREFERENCE' },
    ]);
  });

  it('ranks them all when the exclusions eat up the cached top of a genre', () => {
    const many = {
      maxMovieId: 1_000,
      moviesByGenre: new Map([['Drama', Array.from({ length: 1_000 }, (_, index) => index + 1)]]),
      popularity: new Map(Array.from({ length: 1_000 }, (_, index) => [index + 1, 1_000 - index] as [number, number])),
    };
    const excluded = new Set(Array.from({ length: 500 }, (_, index) => index + 1));
    expect(genreMatchesInCopy(many, ['Drama'], excluded, 3).map((item) => item.movieId)).toEqual([501, 502, 503]);
    expect(genreMatchesInCopy(many, ['Drama'], new Set(), 3).map((item) => item.movieId)).toEqual([1, 2, 3]);
  });

  it('stops at the limit and knows nothing of unknown genres', () => {
    expect(genreMatchesInCopy(copy, ['Comedy', 'Comedy'], new Set(), 5).map((item) => [item.movieId, item.score])).toEqual([[6, 1]]);
    expect(genreMatchesInCopy(copy, ['Drama'], new Set(), 2).map((item) => item.movieId)).toEqual([1, 4]);
    expect(genreMatchesInCopy(copy, ['Western'], new Set(), 5)).toEqual([]);
  });
});
