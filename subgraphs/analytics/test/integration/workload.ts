import { randomUUID } from 'node:crypto';
import { createEvent, type AnyEvent, type EventPayloads, type EventType, type Producer, type ReactionKind } from '@platform/shared';
import { seededRandom } from '@platform/shared/testing';

// A random but reproducible (seeded) workload of events as the producers would publish them,
// with the previous values a producer knows from its own state, and the answers the analytics
// read model must give for it, recomputed directly from the workload's final state and its list of
// actions: not by replaying the consumer's delta logic.


export interface Published {
  producer: Producer;
  event: AnyEvent;
}

interface Review {
  halves: number;
  hasComment: boolean;
}

/** An own action of a user at a time (what activity counts). */
interface Action {
  userId: string;
  at: number;
  ratings: number;
  reviews: number;
  newUsers: number;
}

export interface Workload {
  /** in publication order, repeats included (a repeat is the same envelope published again) */
  published: Published[];
  /** distinct events of consumed types */
  consumedCount: number;
  windowStart: Date;
  windowEnd: Date;
  expected: Expected;
}

export interface ExpectedMovie {
  movieId: number;
  ratingCount: number;
  halvesSum: number;
  distribution: number[];
}

export interface ExpectedUser {
  userId: string;
  ratingCount: number;
  halvesSum: number;
  lastActiveAt: number | null;
}

export interface ExpectedBucket {
  ratings: number;
  reviews: number;
  newUsers: number;
  activeUsers: Set<string>;
}

export interface Expected {
  totals: { users: number; movies: number; ratings: number; reviews: number; likes: number; dislikes: number };
  totalHalves: number;
  movies: Map<number, ExpectedMovie>;
  users: Map<string, ExpectedUser>;
  /** key: `${granularity}|${startMs}` */
  buckets: Map<string, ExpectedBucket>;
}

export interface WorkloadOptions {
  seed: number;
  steps: number;
  movies: number;
  users: number;
}

const stars = (halves: number): number => halves / 2;

export function generateWorkload(options: WorkloadOptions): Workload {
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => {
    const item = items[Math.floor(random() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  };
  const chance = (probability: number): boolean => random() < probability;

  // Nine days from a random hour in 2031: many hours, several days, two or three ISO weeks.
  const windowStart = new Date(Date.UTC(2031, 0, 1) + Math.floor(random() * 300) * 86_400_000 + Math.floor(random() * 24) * 3_600_000);
  const windowMs = 9 * 86_400_000;
  const windowEnd = new Date(windowStart.getTime() + windowMs);
  const someTime = (): number => windowStart.getTime() + Math.floor(random() * windowMs);

  const movieBase = 1_000_000 + Math.floor(random() * 1_000_000_000);
  const movieIds = Array.from({ length: options.movies }, (_, index) => movieBase + index * 7);
  const userIds = Array.from({ length: options.users }, () => randomUUID());
  const admin = randomUUID();

  const published: Published[] = [];
  const publish = <T extends EventType>(producer: Producer, type: T, payload: EventPayloads[T]): void => {
    published.push({ producer, event: createEvent(producer, type, payload) as AnyEvent });
  };

  const registered = new Set<string>();
  const created = new Set<number>();
  const reviews = new Map<string, Review>();
  const reactions = new Map<string, ReactionKind>();
  const touchedMovies = new Set<number>();
  const touchedUsers = new Set<string>();
  const actions: Action[] = [];
  const keyOf = (userId: string, movieId: number): string => `${userId}|${movieId}`;
  const splitKey = (key: string): [string, number] => {
    const [userId = '', movieId = '0'] = key.split('|');
    return [userId, Number(movieId)];
  };

  for (let step = 0; step < options.steps; step += 1) {
    const at = someTime();
    const iso = new Date(at).toISOString();
    const roll = random();
    if (roll < 0.06) {
      const unregistered = userIds.filter((userId) => !registered.has(userId));
      if (unregistered.length === 0) continue;
      const userId = pick(unregistered);
      registered.add(userId);
      touchedUsers.add(userId);
      publish('users', 'user.registered', { userId, username: `user-${userId.slice(0, 8)}`, at: iso });
      actions.push({ userId, at, ratings: 0, reviews: 0, newUsers: 1 });
    } else if (roll < 0.1) {
      const uncreated = movieIds.filter((movieId) => !created.has(movieId));
      if (uncreated.length === 0) continue;
      const movieId = pick(uncreated);
      created.add(movieId);
      publish('movies', 'movie.created', { movieId, title: `Movie ${movieId}`, year: 2000, genres: [], languages: [], personIds: [], at: iso });
    } else if (roll < 0.5) {
      // A rating: new, or replacing one (possibly with the same value, possibly by an admin's rollback).
      const userId = pick(userIds);
      const movieId = pick(movieIds);
      const key = keyOf(userId, movieId);
      const before = reviews.get(key) ?? null;
      const halves = 1 + Math.floor(random() * 10);
      const hasComment = chance(0.35);
      const actorId = before !== null && chance(0.15) ? admin : userId;
      reviews.set(key, { halves, hasComment });
      touchedMovies.add(movieId);
      touchedUsers.add(userId);
      publish('reviews', 'review.upserted', {
        userId,
        movieId,
        rating: stars(halves),
        hasComment,
        previousRating: before === null ? null : stars(before.halves),
        previousHasComment: before?.hasComment ?? null,
        actorId,
        at: iso,
      });
      if (actorId === userId) actions.push({ userId, at, ratings: 1, reviews: hasComment ? 1 : 0, newUsers: 0 });
    } else if (roll < 0.62) {
      if (reviews.size === 0) continue;
      const key = pick([...reviews.keys()]);
      const [userId, movieId] = splitKey(key);
      const before = reviews.get(key);
      if (!before) continue;
      reviews.delete(key);
      const actorId = chance(0.2) ? admin : userId;
      publish('reviews', 'review.deleted', { userId, movieId, previousRating: stars(before.halves), previousHasComment: before.hasComment, actorId, at: iso });
      if (actorId === userId) actions.push({ userId, at, ratings: 0, reviews: 0, newUsers: 0 });
    } else if (roll < 0.82) {
      // A reaction set: new, or switched (a producer publishes nothing for the same reaction again).
      const userId = pick(userIds);
      const movieId = pick(movieIds);
      const key = keyOf(userId, movieId);
      const before = reactions.get(key) ?? null;
      const reaction: ReactionKind = before === null ? (chance(0.7) ? 'LIKE' : 'DISLIKE') : before === 'LIKE' ? 'DISLIKE' : 'LIKE';
      reactions.set(key, reaction);
      touchedMovies.add(movieId);
      touchedUsers.add(userId);
      publish('reviews', 'reaction.set', { userId, movieId, reaction, previousReaction: before, at: iso });
      actions.push({ userId, at, ratings: 0, reviews: 0, newUsers: 0 });
    } else if (roll < 0.9) {
      if (reactions.size === 0) continue;
      const key = pick([...reactions.keys()]);
      const [userId, movieId] = splitKey(key);
      const before = reactions.get(key);
      if (!before) continue;
      reactions.delete(key);
      publish('reviews', 'reaction.cleared', { userId, movieId, previousReaction: before, at: iso });
      actions.push({ userId, at, ratings: 0, reviews: 0, newUsers: 0 });
    } else if (roll < 0.94) {
      // Events analytics does not consume: acknowledged, changing nothing.
      const userId = pick(userIds);
      if (chance(0.5)) publish('reviews', 'exclusion.set', { userId, movieId: pick(movieIds), at: iso });
      else publish('users', 'user.profile-updated', { userId, favoriteGenres: ['Drama'], at: iso });
    } else {
      // A redelivery: an envelope published again, as a relay that crashed before marking does.
      const earlier = published.length === 0 ? null : pick(published);
      if (earlier) published.push(earlier);
    }
  }

  const consumedTypes = new Set(['user.registered', 'movie.created', 'review.upserted', 'review.deleted', 'reaction.set', 'reaction.cleared']);
  const consumedCount = new Set(published.filter(({ event }) => consumedTypes.has(event.type)).map(({ event }) => event.id)).size;
  return { published, consumedCount, windowStart, windowEnd, expected: expectedOf({ registered, created, reviews, reactions, touchedMovies, touchedUsers, actions, splitKey }) };
}

function expectedOf(state: {
  registered: Set<string>;
  created: Set<number>;
  reviews: Map<string, Review>;
  reactions: Map<string, ReactionKind>;
  touchedMovies: Set<number>;
  touchedUsers: Set<string>;
  actions: Action[];
  splitKey(key: string): [string, number];
}): Expected {
  const movies = new Map<number, ExpectedMovie>();
  const movie = (movieId: number): ExpectedMovie => {
    let entry = movies.get(movieId);
    if (!entry) {
      entry = { movieId, ratingCount: 0, halvesSum: 0, distribution: new Array<number>(10).fill(0) };
      movies.set(movieId, entry);
    }
    return entry;
  };
  const users = new Map<string, ExpectedUser>();
  const user = (userId: string): ExpectedUser => {
    let entry = users.get(userId);
    if (!entry) {
      entry = { userId, ratingCount: 0, halvesSum: 0, lastActiveAt: null };
      users.set(userId, entry);
    }
    return entry;
  };
  for (const movieId of [...state.created, ...state.touchedMovies]) movie(movieId);
  for (const userId of [...state.registered, ...state.touchedUsers]) user(userId);

  let totalHalves = 0;
  let reviewCount = 0;
  for (const [key, review] of state.reviews) {
    const [userId, movieId] = state.splitKey(key);
    const m = movie(movieId);
    m.ratingCount += 1;
    m.halvesSum += review.halves;
    m.distribution[review.halves - 1] = (m.distribution[review.halves - 1] ?? 0) + 1;
    const u = user(userId);
    u.ratingCount += 1;
    u.halvesSum += review.halves;
    totalHalves += review.halves;
    if (review.hasComment) reviewCount += 1;
  }
  const likes = [...state.reactions.values()].filter((reaction) => reaction === 'LIKE').length;

  const buckets = new Map<string, ExpectedBucket>();
  for (const action of state.actions) {
    const u = user(action.userId);
    u.lastActiveAt = Math.max(u.lastActiveAt ?? action.at, action.at);
    for (const [granularity, start] of referenceBucketStarts(action.at)) {
      const key = `${granularity}|${start}`;
      let bucket = buckets.get(key);
      if (!bucket) {
        bucket = { ratings: 0, reviews: 0, newUsers: 0, activeUsers: new Set() };
        buckets.set(key, bucket);
      }
      bucket.ratings += action.ratings;
      bucket.reviews += action.reviews;
      bucket.newUsers += action.newUsers;
      bucket.activeUsers.add(action.userId);
    }
  }

  return {
    totals: {
      users: state.registered.size,
      movies: state.created.size,
      ratings: state.reviews.size,
      reviews: reviewCount,
      likes,
      dislikes: state.reactions.size - likes,
    },
    totalHalves,
    movies,
    users,
    buckets,
  };
}

/** Bucket starts computed with calendar fields (independently of src/buckets.ts). */
export function referenceBucketStarts(at: number): [string, number][] {
  const date = new Date(at);
  const hour = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), date.getUTCHours());
  const day = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  const mondayOffset = (date.getUTCDay() + 6) % 7; // Sunday is 0 in JS, the last day of an ISO week
  const week = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() - mondayOffset);
  return [
    ['HOUR', hour],
    ['DAY', day],
    ['WEEK', week],
  ];
}

/** The Bayesian average as the API documents it: (S + m·C) / (v + m) in half-stars, then stars. */
export function expectedBayesian(movie: ExpectedMovie, priorWeight: number, expected: Expected): number | null {
  if (movie.ratingCount === 0) return null;
  const meanHalves = expected.totals.ratings === 0 ? null : expected.totalHalves / expected.totals.ratings;
  if (priorWeight === 0 || meanHalves === null) return movie.halvesSum / movie.ratingCount / 2;
  return (movie.halvesSum + priorWeight * meanHalves) / (movie.ratingCount + priorWeight) / 2;
}
