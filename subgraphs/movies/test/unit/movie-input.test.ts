import { describe, expect, it } from 'vitest';
import { ConfigError } from '@platform/shared';
import { thrownBy } from '@platform/shared/testing';
import { readMoviesConfig } from '../../src/index.ts';
import { parseAddMovieInput, parseUpdateMovieInput } from '../../src/movie-input.ts';

const badInputOn = (field: string) => ({ message: expect.stringMatching(new RegExp(`^${field}: `)), extensions: { code: 'BAD_USER_INPUT', field } });

describe('parseAddMovieInput', () => {
  it('trims text, spells genres as the vocabulary does, lower-cases languages and drops repeats in order', () => {
    expect(
      parseAddMovieInput({
        title: '  Heat ',
        genres: ['crime', 'THRILLER', 'Crime'],
        languages: [' EN', 'es', 'en'],
        overview: ' Bank robbers. ',
        imdbId: ' tt0113277 ',
        tmdbId: '949',
        directorIds: ['7', '7'],
        castIds: ['3', '1', '3'],
      }),
    ).toEqual({
      title: 'Heat',
      year: null,
      genres: ['Crime', 'Thriller'],
      languages: ['en', 'es'],
      runtimeMinutes: null,
      overview: 'Bank robbers.',
      imdbId: 'tt0113277',
      tmdbId: '949',
      directorIds: [7],
      castIds: [3, 1],
    });
  });

  it('counts characters, not UTF-16 units, against the title limit', () => {
    expect(parseAddMovieInput({ title: '🎬'.repeat(300) }).title).toHaveLength(600);
    expect(thrownBy(() => parseAddMovieInput({ title: '🎬'.repeat(301) }))).toMatchObject(badInputOn('input.title'));
  });

  it('reports a malformed person id as NOT_FOUND naming it', () => {
    expect(thrownBy(() => parseAddMovieInput({ title: 'X', directorIds: ['1', '-2'] }))).toMatchObject({
      extensions: { code: 'NOT_FOUND', field: 'input.directorIds', id: '-2' },
    });
  });

  it.each([
    [{ title: 'X', genres: ['Sci Fi'] }, 'input.genres'],
    [{ title: 'X', languages: ['zz'] }, 'input.languages'],
    [{ title: 'X', languages: 'en fr de es it ja ko zh ru pt sv da nl fi no pl cs hu el tr he'.split(' ') }, 'input.languages'],
    [{ title: 'X', castIds: Array.from({ length: 201 }, (_, index) => String(index + 1)) }, 'input.castIds'],
    [{ title: 'X', imdbId: 'TT0113277' }, 'input.imdbId'],
    [{ title: 'X', tmdbId: '12345678901' }, 'input.tmdbId'],
  ])('refuses %j naming %s', (input, field) => {
    expect(thrownBy(() => parseAddMovieInput(input))).toMatchObject(badInputOn(field));
  });
});

describe('parseUpdateMovieInput', () => {
  it('keeps only the fields given; null clears a nullable field', () => {
    expect(parseUpdateMovieInput({})).toEqual({});
    expect(parseUpdateMovieInput({ year: null, overview: null, imdbId: '', genres: [] })).toEqual({ year: null, overview: null, imdbId: null, genres: [] });
    expect(parseUpdateMovieInput({ title: ' New ', castIds: ['2'] })).toEqual({ title: 'New', castIds: [2] });
  });

  it.each([
    [{ title: null }, 'input.title'],
    [{ genres: null }, 'input.genres'],
    [{ languages: null }, 'input.languages'],
    [{ directorIds: null }, 'input.directorIds'],
    [{ castIds: null }, 'input.castIds'],
  ])('refuses %j: that field cannot be null', (input, field) => {
    expect(thrownBy(() => parseUpdateMovieInput(input))).toMatchObject(badInputOn(field));
  });
});

describe('readMoviesConfig', () => {
  it('defaults REDIS_URL and leaves DATABASE_READ_URL unset', () => {
    const config = readMoviesConfig({ DATABASE_URL: 'postgres://db/movies' });
    expect(config).toMatchObject({ redisUrl: 'redis://127.0.0.1:6379', databaseReadUrl: null, port: 4002, eventStreamPrefix: 'events' });
  });

  it.each([
    [{ REDIS_URL: 'http://cache:6379' }, 'REDIS_URL'],
    [{ DATABASE_READ_URL: 'mysql://replica/movies' }, 'DATABASE_READ_URL'],
    [{ DATABASE_READ_URL: 'not a url' }, 'DATABASE_READ_URL'],
  ])('names the variable of a wrong value: %j', (env, variable) => {
    const error = thrownBy(() => readMoviesConfig({ DATABASE_URL: 'postgres://db/movies', ...env }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ variable });
  });
});
