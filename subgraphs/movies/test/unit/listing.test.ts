import { describe, expect, it } from 'vitest';
import { encodeCursor } from '@platform/shared';
import { thrownBy } from '@platform/shared/testing';
import { parseMovieFilter } from '../../src/listing.ts';
import { decodeMovieCursor, encodeMovieCursor, movieOrdering } from '../../src/ordering.ts';

/** What a BAD_USER_INPUT error about `field` looks like: the field named in the message and extensions. */
const badInputOn = (field: string) => ({ message: expect.stringMatching(new RegExp(`^${field}: `)), extensions: { code: 'BAD_USER_INPUT', field } });

describe('parseMovieFilter', () => {
  it('turns an absent filter into no restrictions', () => {
    const none = { search: null, genres: [], languages: [], yearFrom: null, yearTo: null, personId: null };
    expect(parseMovieFilter(undefined)).toEqual(none);
    expect(parseMovieFilter({ search: null, genres: null })).toEqual(none);
  });

  it('trims the search, removes repeated genres and parses the person id', () => {
    expect(parseMovieFilter({ search: '  heat ', genres: ['Crime', 'Crime', 'Drama'], personId: '42', yearFrom: 1990, yearTo: 1990 })).toEqual({
      search: 'heat',
      genres: ['Crime', 'Drama'],
      languages: [],
      yearFrom: 1990,
      yearTo: 1990,
      personId: 42,
    });
  });

  it.each([
    [{ search: '' }, 'filter.search'],
    [{ search: ' \t ' }, 'filter.search'],
    [{ search: 'a'.repeat(201) }, 'filter.search'],
    [{ yearFrom: 2000, yearTo: 1999 }, 'filter.yearFrom'],
    [{ personId: '12abc' }, 'filter.personId'],
    [{ personId: '0' }, 'filter.personId'],
    [{ languages: Array.from({ length: 21 }, (_, index) => `l${index}`) }, 'filter.languages'],
  ])('rejects %j', (filter, field) => {
    expect(thrownBy(() => parseMovieFilter(filter))).toMatchObject(badInputOn(field));
  });

  it('accepts a search of exactly 200 characters', () => {
    expect(parseMovieFilter({ search: 'a'.repeat(200) }).search).toHaveLength(200);
  });
});

describe('movie cursors', () => {
  const byTitle = movieOrdering('TITLE', null);

  it('round-trips the sort keys of a row', () => {
    expect(decodeMovieCursor(encodeMovieCursor(byTitle, ['heat', 7]), byTitle)).toEqual(['heat', 7]);
  });

  it('treats RELEVANCE without a search as TITLE, so their cursors are interchangeable', () => {
    const relevance = movieOrdering('RELEVANCE', null);
    expect(relevance.name).toBe('TITLE');
    expect(decodeMovieCursor(encodeMovieCursor(byTitle, ['heat', 7]), relevance)).toEqual(['heat', 7]);
  });

  it.each([
    ['not base64 JSON', '%%%'],
    ['JSON that is not an object', encodeCursor([1, 2])],
    ['too few keys', encodeCursor({ order: 'TITLE', keys: ['heat'] })],
    ['a key of the wrong type', encodeCursor({ order: 'TITLE', keys: [7, 'heat'] })],
    ['an id beyond the safe integers', encodeCursor({ order: 'TITLE', keys: ['heat', 2 ** 60] })],
    ['another order', encodeMovieCursor(movieOrdering('YEAR_DESC', null), [1999, 7])],
  ])('rejects a cursor with %s', (_name, cursor) => {
    expect(thrownBy(() => decodeMovieCursor(cursor, byTitle))).toMatchObject(badInputOn('after'));
  });
});
