import { describe, expect, it } from 'vitest';
import { movieReference, parseMovieId } from '../../src/movie-ids.ts';

describe('parseMovieId', () => {
  it('accepts canonical decimal ids', () => {
    expect(parseMovieId('0')).toBe(0);
    expect(parseMovieId('42')).toBe(42);
    expect(parseMovieId('999999999999999')).toBe(999_999_999_999_999);
  });

  it('rejects anything else, so every movie has exactly one GraphQL id', () => {
    for (const id of ['', 'abc', '-1', '007', '4.2', '1e3', ' 42', '42 ', '1234567890123456']) {
      expect(parseMovieId(id), id).toBeNull();
    }
  });
});

describe('movieReference', () => {
  it('is a Movie entity reference with a string id', () => {
    expect(movieReference(42)).toEqual({ __typename: 'Movie', id: '42' });
  });
});
