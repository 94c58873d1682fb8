import { describe, expect, it } from 'vitest';
import { createEvent, type AnyEvent, type EventPayloads, type EventType, type Producer } from '@platform/shared';
import { checkEventApplies, EventPayloadError, graphEventStreams, prepareEventBatch } from '../../src/graph-events.ts';
import { latestPerPair, prepareGraphChanges, noGraphChanges } from '../../src/graph.ts';

const userId = 'c0ffee00-0000-4000-8000-000000000001';
const iso = (ms: number) => new Date(ms).toISOString();

function event<T extends EventType>(producer: Producer, type: T, payload: EventPayloads[T]): AnyEvent {
  return createEvent(producer, type, payload) as AnyEvent;
}

const upserted = (movieId: number, rating: number, at: number) =>
  event('reviews', 'review.upserted', { userId, movieId, rating, hasComment: false, previousRating: null, previousHasComment: null, actorId: userId, at: iso(at) });
const deleted = (movieId: number, at: number) =>
  event('reviews', 'review.deleted', { userId, movieId, previousRating: 4, previousHasComment: false, actorId: userId, at: iso(at) });

/** Plain values of a prepared batch (Cypher integers as numbers), for comparisons. */
function plain(events: AnyEvent[]) {
  return JSON.parse(JSON.stringify(prepareEventBatch(events), (_key, value: unknown) => (isInteger(value) ? Number(value.low) : value))) as Record<string, unknown[]>;
}
function isInteger(value: unknown): value is { low: number; high: number } {
  return typeof value === 'object' && value !== null && 'low' in value && 'high' in value;
}

describe('graph events', () => {
  it('follows the reviews, movies and users streams', () => {
    expect(graphEventStreams).toEqual(['events:reviews', 'events:movies', 'events:users']);
  });

  it('maps every event type of the catalogue to its graph change', () => {
    const batch = plain([
      upserted(1, 4.5, 1_000),
      deleted(2, 1_000),
      event('reviews', 'reaction.set', { userId, movieId: 3, reaction: 'LIKE', previousReaction: null, at: iso(1_000) }),
      event('reviews', 'reaction.set', { userId, movieId: 4, reaction: 'DISLIKE', previousReaction: null, at: iso(1_000) }),
      event('reviews', 'reaction.cleared', { userId, movieId: 5, previousReaction: 'LIKE', at: iso(1_000) }),
      event('reviews', 'exclusion.set', { userId, movieId: 6, at: iso(1_000) }),
      event('reviews', 'exclusion.cleared', { userId, movieId: 7, at: iso(1_000) }),
      event('movies', 'movie.created', { movieId: 8, title: 'Heat', year: 1995, genres: ['Crime', ' Crime', ''], languages: [], personIds: [], at: iso(1_000) }),
      event('users', 'user.registered', { userId, username: 'ann', at: iso(1_000) }),
      event('users', 'user.profile-updated', { userId, favoriteGenres: ['Drama'], at: iso(2_000) }),
    ]);
    const pair = (movieId: number) => ({ userId, movieId, at: 1_000 });
    expect(batch).toEqual({
      movies: [{ id: 8, title: 'Heat', year: 1995, genres: ['Crime'], at: 1_000 }],
      users: [{ id: userId, favoriteGenres: ['Drama'], at: 2_000 }],
      userIds: [userId],
      ratings: [{ userId, movieId: 1, rating: 4.5, at: 1_000 }],
      ratingDeletions: [pair(2)],
      likes: [pair(3)],
      dislikes: [pair(4)],
      reactionClears: [pair(5)],
      exclusions: [pair(6)],
      exclusionClears: [pair(7)],
    });
  });

  it('keeps the latest change per pair in a batch, whatever the order; a removal wins a tie', () => {
    const forward = [upserted(1, 2, 1_000), deleted(1, 2_000), upserted(1, 5, 3_000), upserted(2, 3, 1_000), deleted(2, 1_000)];
    expect(plain(forward)).toMatchObject({ ratings: [{ movieId: 1, rating: 5, at: 3_000 }], ratingDeletions: [{ movieId: 2, at: 1_000 }] });
    expect(plain([...forward].reverse())).toEqual(plain(forward));
  });

  it('keeps the latest version of a movie in a batch', () => {
    const movie = (title: string, at: number) => event('movies', 'movie.updated', { movieId: 9, title, year: null, genres: [], languages: [], personIds: [], at: iso(at) });
    expect(plain([movie('new', 2_000), movie('old', 1_000)]).movies).toEqual([{ id: 9, title: 'new', year: null, genres: [], at: 2_000 }]);
  });

  it('rejects payloads it cannot apply, naming the event', () => {
    const bad: AnyEvent[] = [
      { ...upserted(1, 4, 1_000), payload: { ...(upserted(1, 4, 1_000).payload as EventPayloads['review.upserted']), movieId: 1.5 } } as AnyEvent,
      { ...upserted(1, 4, 1_000), payload: { ...(upserted(1, 4, 1_000).payload as EventPayloads['review.upserted']), at: 'yesterday' } } as AnyEvent,
      { ...deleted(1, 1_000), payload: { ...(deleted(1, 1_000).payload as EventPayloads['review.deleted']), userId: '' } } as AnyEvent,
      event('movies', 'movie.created', { movieId: 8, title: 'x', year: null, genres: 'Drama' as unknown as string[], languages: [], personIds: [], at: iso(1) }),
    ];
    for (const item of bad) {
      expect(() => checkEventApplies(item)).toThrow(EventPayloadError);
      expect(() => checkEventApplies(item)).toThrow(new RegExp(`^${item.type} ${item.id}: `));
    }
    expect(() => checkEventApplies(upserted(1, 4, 1_000))).not.toThrow();
  });
});

describe('latestPerPair', () => {
  it('lets a removal win a tie from either side and the later set win a tie of sets', () => {
    const rows = [
      { userId: 'a', movieId: 1, at: 5, removal: true },
      { userId: 'a', movieId: 1, at: 5, removal: false },
      { userId: 'b', movieId: 1, at: 5, removal: false, n: 1 },
      { userId: 'b', movieId: 1, at: 5, removal: false, n: 2 },
    ];
    expect(latestPerPair(rows, (row) => row.removal)).toEqual([rows[0], rows[3]]);
    expect(latestPerPair([rows[1]!, rows[0]!], (row) => row.removal)).toEqual([rows[0]]);
  });
});

describe('prepareGraphChanges', () => {
  it('validates before anything is written', () => {
    const changes = noGraphChanges();
    changes.exclusions.push({ userId: 'u', movieId: 1, excluded: true, at: -1 });
    expect(() => prepareGraphChanges(changes)).toThrow(/exclusion of movie 1 by user "u": at must be epoch milliseconds/);
  });
});
