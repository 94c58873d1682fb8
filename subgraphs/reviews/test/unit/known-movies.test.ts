import { describe, expect, it } from 'vitest';
import { createEvent, type AnyEvent } from '@platform/shared';
import { knownMovieOf } from '../../src/known-movies.ts';

// Which events of the movies stream make a movie known to the reviews subgraph.

const movie = { title: 'A', year: 2001, genres: ['Drama'], languages: ['en'], personIds: [], at: '2026-05-06T07:08:09.010Z' };

describe('knownMovieOf', () => {
  it('takes the movie and its time from movie.created and movie.updated', () => {
    expect(knownMovieOf(createEvent('movies', 'movie.created', { ...movie, movieId: 42 }))).toEqual({ movieId: 42, createdAt: new Date(movie.at) });
    expect(knownMovieOf(createEvent('movies', 'movie.updated', { ...movie, movieId: 43 }))).toEqual({ movieId: 43, createdAt: new Date(movie.at) });
  });

  it('ignores every other event type', () => {
    expect(knownMovieOf(createEvent('users', 'user.registered', { userId: 'u', username: 'ann', at: movie.at }))).toBeNull();
    expect(knownMovieOf(createEvent('reviews', 'exclusion.set', { userId: 'u', movieId: 42, at: movie.at }))).toBeNull();
  });

  it('refuses a payload it cannot store, so the consumer retries and then dead-letters it instead of storing garbage', () => {
    // What a faulty producer could put on the stream: the types say it cannot happen, the stream does not.
    const broken = (payload: Record<string, unknown>) => ({ ...createEvent('movies', 'movie.created', { ...movie, movieId: 1 }), payload: { ...movie, ...payload } }) as unknown as AnyEvent;
    expect(() => knownMovieOf(broken({ movieId: '42' }))).toThrow(/movieId "42", not a movie id/);
    expect(() => knownMovieOf(broken({ movieId: 0 }))).toThrow(/not a movie id/);
    expect(() => knownMovieOf(broken({ movieId: 2 ** 60 }))).toThrow(/not a movie id/);
    expect(() => knownMovieOf(broken({ movieId: 7, at: 'yesterday' }))).toThrow(/at "yesterday", not a time/);
  });
});
