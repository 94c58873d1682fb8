import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeCursor } from '@platform/shared';
import { thrownBy } from '@platform/shared/testing';
import { parseRatingInput } from '../../src/rating-input.ts';
import { decodeReviewCursor, decodeUserListCursor, encodeReviewCursor, encodeUserListCursor } from '../../src/review-cursor.ts';
import { decodeReviewId, encodeReviewId } from '../../src/review-key.ts';

/** What a BAD_USER_INPUT error about `field` looks like: the field named in the message and extensions. */
const badInputOn = (field: string) => ({ message: expect.stringMatching(new RegExp(`^${field}: `)), extensions: { code: 'BAD_USER_INPUT', field } });

describe('parseRatingInput', () => {
  it('stores ratings as half-stars and trims comments', () => {
    expect(parseRatingInput({ movieId: '12', rating: 0.5, comment: '  fine  ' })).toEqual({ movieId: 12, ratingHalves: 1, comment: 'fine' });
    expect(parseRatingInput({ movieId: '12', rating: 5, comment: ' \n ' })).toEqual({ movieId: 12, ratingHalves: 10, comment: null });
    expect(parseRatingInput({ movieId: '12', rating: 3.5 })).toEqual({ movieId: 12, ratingHalves: 7, comment: null });
  });

  it('counts comment length in characters, not UTF-16 units', () => {
    expect(parseRatingInput({ movieId: '1', rating: 1, comment: '🎬'.repeat(2000) }).comment).toHaveLength(4000);
    expect(thrownBy(() => parseRatingInput({ movieId: '1', rating: 1, comment: '🎬'.repeat(2001) }))).toMatchObject(badInputOn('comment'));
  });

  it.each([
    [{ rating: 0 }, 'rating'],
    [{ rating: 0.25 }, 'rating'],
    [{ rating: 5.5 }, 'rating'],
    [{ rating: Number.NaN }, 'rating'],
    [{ rating: Number.POSITIVE_INFINITY }, 'rating'],
    [{ rating: 3, movieId: '' }, 'movieId'],
    [{ rating: 3, movieId: '1e3' }, 'movieId'],
    [{ rating: 3, movieId: '12345678901234567' }, 'movieId'],
  ])('rejects %j', (input, field) => {
    expect(thrownBy(() => parseRatingInput({ movieId: '5', ...input }))).toMatchObject(badInputOn(field));
  });
});

describe('review ids', () => {
  it('round-trip the author and movie', () => {
    const key = { userId: randomUUID(), movieId: 42 };
    expect(decodeReviewId(encodeReviewId(key))).toEqual(key);
  });

  it.each(['', 'abc', Buffer.from('x:1').toString('base64url'), Buffer.from(`${randomUUID()}:1:2`).toString('base64url'), Buffer.from(`${randomUUID()}:01`).toString('base64url')])(
    'decode %j to null',
    (id) => {
      expect(decodeReviewId(id)).toBeNull();
    },
  );
});

describe('review cursors', () => {
  it('round-trip a position to the microsecond', () => {
    const position = { updatedAt: '2026-11-21T20:04:00.123456Z', userId: randomUUID() };
    expect(decodeReviewCursor(encodeReviewCursor(position))).toEqual(position);
  });

  it.each([
    ['no microseconds', { at: '2026-11-21T20:04:00Z', user: randomUUID() }],
    ['an impossible date', { at: '2026-02-30T20:04:00.000000Z', user: randomUUID() }],
    ['an hour 24', { at: '2026-02-03T24:04:00.000000Z', user: randomUUID() }],
    ['a user that is no UUID', { at: '2026-11-21T20:04:00.123456Z', user: 'admin' }],
  ])('reject %s', (_name, cursor) => {
    expect(thrownBy(() => decodeReviewCursor(encodeCursor(cursor)))).toMatchObject(badInputOn('after'));
  });
});

describe('user list cursors', () => {
  it('round-trip a position to the microsecond', () => {
    const position = { at: '2026-11-21T20:04:00.123456Z', movieId: 9007199254740 };
    expect(decodeUserListCursor('reactions', encodeUserListCursor('reactions', position))).toEqual(position);
  });

  it("refuse the other list's cursors and a movie's review cursors", () => {
    const position = { at: '2026-11-21T20:04:00.123456Z', movieId: 12 };
    expect(thrownBy(() => decodeUserListCursor('reviews', encodeUserListCursor('reactions', position)))).toMatchObject(badInputOn('after'));
    const movieCursor = encodeReviewCursor({ updatedAt: position.at, userId: randomUUID() });
    expect(thrownBy(() => decodeUserListCursor('reviews', movieCursor))).toMatchObject(badInputOn('after'));
  });

  it.each([
    ['a numeric movie', { list: 'reviews', at: '2026-11-21T20:04:00.123456Z', movie: 12 }],
    ['a movie that is no id', { list: 'reviews', at: '2026-11-21T20:04:00.123456Z', movie: '12; DROP' }],
    ['a movie with a leading zero', { list: 'reviews', at: '2026-11-21T20:04:00.123456Z', movie: '012' }],
    ['no microseconds', { list: 'reviews', at: '2026-11-21T20:04:00Z', movie: '12' }],
    ['no list', { at: '2026-11-21T20:04:00.123456Z', movie: '12' }],
  ])('reject %s', (_name, cursor) => {
    expect(thrownBy(() => decodeUserListCursor('reviews', encodeCursor(cursor)))).toMatchObject(badInputOn('after'));
  });
});
