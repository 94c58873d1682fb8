import { describe, expect, it } from 'vitest';
import neo4j from 'neo4j-driver';
import { chunk, latestPerUserAndMovie, normaliseGenres, toMovieRow, toRatingRow, toReactionRow } from '../../src/graph.ts';

describe('chunk', () => {
  it('splits into pieces of at most the given size, keeping order', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([], 2)).toEqual([]);
  });

  it('uses transaction-sized chunks of 10,000 by default', () => {
    const sizes = chunk(Array.from({ length: 25_001 }, (_, index) => index)).map((piece) => piece.length);
    expect(sizes).toEqual([10_000, 10_000, 5_001]);
  });

  it('refuses a size that would never advance', () => {
    expect(() => chunk([1], 0)).toThrow(RangeError);
  });
});

describe('normaliseGenres', () => {
  it('trims, de-duplicates and drops blanks and the MovieLens placeholder', () => {
    expect(normaliseGenres([' Drama', 'Comedy', 'Drama ', '', '  ', '(no genres listed)'])).toEqual(['Drama', 'Comedy']);
  });
});

describe('latestPerUserAndMovie', () => {
  it('keeps the latest row per user and movie, the later one on equal times', () => {
    const rows = [
      { userId: 'a', movieId: 1, at: 10, rating: 1 },
      { userId: 'a', movieId: 1, at: 30, rating: 3 },
      { userId: 'a', movieId: 1, at: 20, rating: 2 },
      { userId: 'b', movieId: 1, at: 5, rating: 4 },
      { userId: 'b', movieId: 1, at: 5, rating: 5 },
      { userId: 'a', movieId: 2, at: 1, rating: 1 },
    ];
    expect(latestPerUserAndMovie(rows).map((row) => row.rating).sort()).toEqual([1, 3, 5]);
  });
});

describe('row conversion', () => {
  it('sends ids and times as Cypher integers and ratings as floats', () => {
    const row = toRatingRow({ userId: 'u', movieId: 42, rating: 4, at: 1_700_000_000_000 });
    expect(neo4j.isInt(row.movieId)).toBe(true);
    expect(row.movieId.toNumber()).toBe(42);
    expect(neo4j.isInt(row.at)).toBe(true);
    expect(row.at.toNumber()).toBe(1_700_000_000_000);
    expect(row.rating).toBe(4);
  });

  it('normalises a movie and keeps a missing year as null', () => {
    const row = toMovieRow({ id: 7, title: 'Heat', year: null, genres: ['Crime', 'Crime', 'Action'] });
    expect(row.id.toNumber()).toBe(7);
    expect(row.year).toBeNull();
    expect(row.genres).toEqual(['Crime', 'Action']);
  });

  it('rejects rows that would corrupt the graph, naming the row', () => {
    expect(() => toRatingRow({ userId: 'u', movieId: 1.5, rating: 4, at: 1 })).toThrow(/movie id must be an integer/);
    expect(() => toRatingRow({ userId: '', movieId: 1, rating: 4, at: 1 })).toThrow(/user id/);
    expect(() => toRatingRow({ userId: 'u', movieId: 1, rating: Number.NaN, at: 1 })).toThrow(/rating must be a finite number/);
    expect(() => toRatingRow({ userId: 'u', movieId: 1, rating: 4, at: -1 })).toThrow(/epoch milliseconds/);
    expect(() => toMovieRow({ id: 1, title: 't', year: 1999.5, genres: [] })).toThrow(/year/);
    expect(() => toReactionRow({ userId: 'u', movieId: 1, reaction: 'MEH' as 'LIKE', at: 1 })).toThrow(/LIKE or DISLIKE/);
  });
});
