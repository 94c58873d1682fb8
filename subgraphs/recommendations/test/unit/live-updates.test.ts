import { describe, expect, it } from 'vitest';
import { createEvent, type AnyEvent, type EventPayloads, type EventType, type Producer } from '@platform/shared';
import {
  latestTrigger,
  newMovieMessage,
  reasonText,
  summarizeAppliedEvents,
  topEntriesChanged,
  triggerOf,
  type UserTrigger,
} from '../../src/live-updates.ts';
import type { RecommendedMovie } from '../../src/recommender.ts';

const at = '2026-11-02T10:00:00.000Z';
const atMs = Date.parse(at);

function event<T extends EventType>(producer: Producer, type: T, payload: EventPayloads[T]): AnyEvent {
  return createEvent(producer, type, payload) as AnyEvent;
}

const list = (...ids: number[]): RecommendedMovie[] => ids.map((movieId, index) => ({ movieId, score: 1 / (index + 1), because: [], source: 'COLLABORATIVE' }));

describe('triggerOf', () => {
  it('names what the user did, for every event that changes their recommendations', () => {
    const rows: [AnyEvent, string | null][] = [
      [event('reviews', 'review.upserted', { userId: 'u', movieId: 1, rating: 4, hasComment: false, previousRating: null, previousHasComment: null, actorId: 'u', at }), 'rated'],
      [event('reviews', 'review.upserted', { userId: 'u', movieId: 1, rating: 4, hasComment: false, previousRating: 2, previousHasComment: false, actorId: 'admin', at }), 'rating-restored'],
      [event('reviews', 'review.deleted', { userId: 'u', movieId: 1, previousRating: 4, previousHasComment: false, actorId: 'u', at }), 'rating-removed'],
      [event('reviews', 'review.deleted', { userId: 'u', movieId: 1, previousRating: 4, previousHasComment: false, actorId: 'admin', at }), 'rating-removed-by-admin'],
      [event('reviews', 'reaction.set', { userId: 'u', movieId: 1, reaction: 'LIKE', previousReaction: null, at }), 'liked'],
      [event('reviews', 'reaction.set', { userId: 'u', movieId: 1, reaction: 'DISLIKE', previousReaction: 'LIKE', at }), 'disliked'],
      [event('reviews', 'reaction.cleared', { userId: 'u', movieId: 1, previousReaction: 'LIKE', at }), 'reaction-cleared'],
      [event('reviews', 'exclusion.set', { userId: 'u', movieId: 1, at }), 'excluded'],
      [event('reviews', 'exclusion.cleared', { userId: 'u', movieId: 1, at }), 'exclusion-cleared'],
      [event('users', 'user.profile-updated', { userId: 'u', favoriteGenres: ['Drama'], at }), 'genres-changed'],
      [event('users', 'user.registered', { userId: 'u', username: 'u', at }), null],
      [event('movies', 'movie.created', { movieId: 1, title: 'Heat', year: 1995, genres: [], languages: [], personIds: [], at }), null],
    ];
    for (const [item, kind] of rows) {
      const trigger = triggerOf(item);
      expect(trigger?.kind ?? null, item.type).toBe(kind);
      if (trigger) expect(trigger).toMatchObject({ userId: 'u', at: atMs, movieId: kind === 'genres-changed' ? null : 1 });
    }
  });
});

describe('summarizeAppliedEvents', () => {
  it('groups triggers per user in order, and lists new and changed movies once', () => {
    const movie = { year: 1995, genres: ['Crime'], languages: [], personIds: [], at };
    const changes = summarizeAppliedEvents([
      event('reviews', 'reaction.set', { userId: 'a', movieId: 1, reaction: 'LIKE', previousReaction: null, at }),
      event('movies', 'movie.created', { movieId: 7, title: 'Heat', ...movie }),
      event('reviews', 'exclusion.set', { userId: 'b', movieId: 2, at }),
      event('reviews', 'review.upserted', { userId: 'a', movieId: 3, rating: 5, hasComment: false, previousRating: null, previousHasComment: null, actorId: 'a', at }),
      event('movies', 'movie.updated', { movieId: 7, title: 'Heat (1995)', ...movie }),
      event('movies', 'movie.updated', { movieId: 8, title: 'Ronin', ...movie }),
      event('users', 'user.registered', { userId: 'c', username: 'c', at }),
    ]);
    expect([...changes.triggersByUser.keys()]).toEqual(['a', 'b']);
    expect(changes.triggersByUser.get('a')?.map((trigger) => trigger.kind)).toEqual(['liked', 'rated']);
    expect(changes.createdMovies).toEqual([{ movieId: 7, title: 'Heat', at: atMs }]);
    expect(changes.changedMovieIds).toEqual([7, 8]);
  });
});

describe('latestTrigger', () => {
  const trigger = (kind: UserTrigger['kind'], at: number): UserTrigger => ({ userId: 'u', kind, movieId: 1, at });
  it('is the latest change, the one applied last on equal times', () => {
    expect(latestTrigger([trigger('liked', 5), trigger('rated', 3)])?.kind).toBe('liked');
    expect(latestTrigger([trigger('liked', 5), trigger('excluded', 5)])?.kind).toBe('excluded');
    expect(latestTrigger([])).toBeUndefined();
  });
});

describe('reasonText', () => {
  const on = (kind: UserTrigger['kind'], movieId: number | null = 1): UserTrigger => ({ userId: 'u', kind, movieId, at: 0 });
  it('names the trigger and the movie', () => {
    expect(reasonText(on('liked'), 'Heat')).toBe('you liked Heat');
    expect(reasonText(on('rated'), 'Heat')).toBe('you rated Heat');
    expect(reasonText(on('excluded'), 'Heat')).toBe('you excluded Heat');
    expect(reasonText(on('disliked'), 'Heat')).toBe('you disliked Heat');
    expect(reasonText(on('exclusion-cleared'), 'Heat')).toBe('you allowed Heat again');
    expect(reasonText(on('rating-restored'), 'Heat')).toBe('your rating of Heat was restored');
    expect(reasonText(on('genres-changed', null), null)).toBe('you changed your favourite genres');
  });

  it('falls back to the movie id when the graph has no title, and counts the other changes', () => {
    expect(reasonText(on('liked', 42), null)).toBe('you liked movie 42');
    expect(reasonText(on('liked', 42), '  ')).toBe('you liked movie 42');
    expect(reasonText(on('rated'), 'Heat', 1)).toBe('you rated Heat (and 1 more change)');
    expect(reasonText(on('rated'), 'Heat', 49)).toBe('you rated Heat (and 49 more changes)');
  });
});

describe('topEntriesChanged', () => {
  it('compares the first ids in order, not the scores', () => {
    const before = list(1, 2, 3);
    expect(topEntriesChanged(before, list(1, 2, 3))).toBe(false);
    expect(topEntriesChanged(before, list(1, 2, 3).map((item) => ({ ...item, score: item.score / 2 })))).toBe(false);
    expect(topEntriesChanged(before, list(2, 1, 3))).toBe(true);
    expect(topEntriesChanged(before, list(1, 2, 4))).toBe(true);
    expect(topEntriesChanged(before, list(1, 2))).toBe(true);
    expect(topEntriesChanged(before, list(1, 2, 3, 4))).toBe(true);
  });

  it('ignores changes below the top entries', () => {
    expect(topEntriesChanged(list(1, 2, 3, 4), list(1, 2, 3, 5), 3)).toBe(false);
    expect(topEntriesChanged(list(1, 2, 3, 4), list(1, 2, 4, 3), 3)).toBe(true);
  });

  it('counts an unknown previous list as changed', () => {
    expect(topEntriesChanged(null, list(1))).toBe(true);
    expect(topEntriesChanged(null, [])).toBe(true);
  });
});

describe('newMovieMessage', () => {
  it('names the movie and the genres it matched', () => {
    expect(newMovieMessage('Heat', ['Action', 'Crime'])).toBe('New: Heat — matches your taste for Action, Crime');
  });
});
