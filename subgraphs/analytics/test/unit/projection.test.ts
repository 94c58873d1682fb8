import { describe, expect, it } from 'vitest';
import { createEvent } from '@platform/shared';
import { bucketCount, bucketStart, bucketStarts } from '../../src/buckets.ts';
import { bayesianHalves } from '../../src/data.ts';
import { EventPayloadError, effectOf, halvesOf } from '../../src/projection.ts';

// The pure parts of the read model: what each event changes, bucket arithmetic and the Bayesian
// average. The integration tests check the same against PostgreSQL and Redis end to end.

const userId = '6f1d7a4e-2b0c-4c55-9a1e-0d5b8c3e7f21';
const admin = 'a0a0a0a0-0000-4000-8000-000000000001';
const at = '2031-03-09T23:59:59.999Z'; // a Sunday: still the ISO week of Monday 2031-03-03
const slotsWith = (...pairs: [index: number, count: number][]): number[] => {
  const slots = new Array<number>(10).fill(0);
  for (const [index, count] of pairs) slots[index] = count;
  return slots;
};

describe('effectOf', () => {
  it('counts a new rating once, in its half-star slot, as the author’s activity', () => {
    const effect = effectOf(
      createEvent('reviews', 'review.upserted', { userId, movieId: 7, rating: 4.5, hasComment: true, previousRating: null, previousHasComment: null, actorId: userId, at }),
    );
    expect(effect?.movie).toEqual({ movieId: 7, ratings: 1, halvesSum: 9, distribution: slotsWith([8, 1]), likes: 0, dislikes: 0 });
    expect(effect?.user).toMatchObject({ ratings: 1, halvesSum: 9, activeAt: new Date(at) });
    expect(effect?.totals).toMatchObject({ ratings: 1, reviews: 1, halvesSum: 9 });
    expect(effect?.activity).toEqual({ userId, at: new Date(at), ratings: 1, reviews: 1, newUsers: 0 });
  });

  it('moves an updated rating from its old slot to the new one without counting it again', () => {
    const effect = effectOf(
      createEvent('reviews', 'review.upserted', { userId, movieId: 7, rating: 2, hasComment: false, previousRating: 4.5, previousHasComment: true, actorId: userId, at }),
    );
    expect(effect?.movie).toMatchObject({ ratings: 0, halvesSum: -5, distribution: slotsWith([3, 1], [8, -1]) });
    expect(effect?.totals).toMatchObject({ ratings: 0, reviews: -1, halvesSum: -5 });
  });

  it('changes no slot when only the comment changed', () => {
    const effect = effectOf(
      createEvent('reviews', 'review.upserted', { userId, movieId: 7, rating: 3, hasComment: true, previousRating: 3, previousHasComment: false, actorId: userId, at }),
    );
    expect(effect?.movie).toMatchObject({ ratings: 0, halvesSum: 0, distribution: slotsWith() });
    expect(effect?.totals).toMatchObject({ reviews: 1 });
  });

  it('adjusts the aggregates for an admin’s rollback but does not make the author active', () => {
    const effect = effectOf(
      createEvent('reviews', 'review.upserted', { userId, movieId: 7, rating: 5, hasComment: false, previousRating: 0.5, previousHasComment: false, actorId: admin, at }),
    );
    expect(effect?.movie).toMatchObject({ halvesSum: 9, distribution: slotsWith([0, -1], [9, 1]) });
    expect(effect?.user).toMatchObject({ activeAt: null });
    expect(effect?.activity).toBeNull();
  });

  it('removes a deleted rating using its previous value', () => {
    const effect = effectOf(createEvent('reviews', 'review.deleted', { userId, movieId: 7, previousRating: 1.5, previousHasComment: true, actorId: userId, at }));
    expect(effect?.movie).toMatchObject({ ratings: -1, halvesSum: -3, distribution: slotsWith([2, -1]) });
    expect(effect?.totals).toMatchObject({ ratings: -1, reviews: -1, halvesSum: -3 });
    expect(effect?.activity).toMatchObject({ ratings: 0, reviews: 0 });
  });

  it('switches reaction counters and clears them', () => {
    const switched = effectOf(createEvent('reviews', 'reaction.set', { userId, movieId: 7, reaction: 'DISLIKE', previousReaction: 'LIKE', at }));
    expect(switched?.movie).toMatchObject({ likes: -1, dislikes: 1 });
    expect(switched?.totals).toMatchObject({ likes: -1, dislikes: 1 });
    const cleared = effectOf(createEvent('reviews', 'reaction.cleared', { userId, movieId: 7, previousReaction: 'DISLIKE', at }));
    expect(cleared?.movie).toMatchObject({ likes: 0, dislikes: -1 });
  });

  it('counts registrations and new movies, and ignores what analytics does not consume', () => {
    expect(effectOf(createEvent('users', 'user.registered', { userId, username: 'ana', at }))).toMatchObject({
      totals: { users: 1 },
      user: { registeredAt: new Date(at), activeAt: new Date(at) },
      activity: { newUsers: 1 },
    });
    expect(effectOf(createEvent('movies', 'movie.created', { movieId: 9, title: 'T', year: null, genres: [], languages: [], personIds: [], at }))).toMatchObject({
      totals: { movies: 1 },
      movie: { movieId: 9, ratings: 0 },
    });
    expect(effectOf(createEvent('reviews', 'exclusion.set', { userId, movieId: 7, at }))).toBeNull();
  });

  it('rejects ratings that are not half-stars from 0.5 to 5.0', () => {
    expect(halvesOf(0.5, 'rating')).toBe(1);
    expect(halvesOf(5, 'rating')).toBe(10);
    for (const stars of [0, 5.5, 0.3, Number.NaN, -1]) expect(() => halvesOf(stars, 'rating')).toThrow(EventPayloadError);
  });
});

describe('buckets (UTC)', () => {
  it('starts hours, days and ISO weeks (Monday) at the right instant', () => {
    const sunday = new Date(at);
    expect(bucketStart(sunday, 'HOUR').toISOString()).toBe('2031-03-09T23:00:00.000Z');
    expect(bucketStart(sunday, 'DAY').toISOString()).toBe('2031-03-09T00:00:00.000Z');
    expect(bucketStart(sunday, 'WEEK').toISOString()).toBe('2031-03-03T00:00:00.000Z');
    expect(bucketStart(new Date('2031-03-10T00:00:00Z'), 'WEEK').toISOString()).toBe('2031-03-10T00:00:00.000Z');
  });

  it('lists every bucket from the one containing `from` to the last starting before `to`', () => {
    const from = new Date('2031-03-01T10:30:00Z');
    const to = new Date('2031-03-03T00:00:00Z');
    expect(bucketStarts(from, to, 'DAY').map((start) => start.toISOString())).toEqual(['2031-03-01T00:00:00.000Z', '2031-03-02T00:00:00.000Z']);
    expect(bucketCount(from, to, 'HOUR')).toBe(38);
    expect(bucketStarts(from, to, 'HOUR')).toHaveLength(38);
  });
});

describe('bayesianHalves', () => {
  it('is (S + m·C) / (v + m), the plain mean without prior weight, null without ratings', () => {
    expect(bayesianHalves(20, 2, 0, 6)).toBe(10);
    expect(bayesianHalves(20, 2, 2, 6)).toBe(8); // (20 + 12) / 4
    expect(bayesianHalves(0, 0, 10, 6)).toBeNull();
  });
});
