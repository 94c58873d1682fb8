import { randomUUID } from 'node:crypto';

// The platform's event catalogue, in one place. Every event is an envelope with a stable `type`,
// a `version` (bumped on any incompatible payload change; consumers must reject versions they do
// not know rather than misread them) and a globally unique `id` that consumers use to apply each
// event at most once. Payloads carry the previous values too, so read models can adjust their
// aggregates incrementally without calling back into the producer.
//
// Streams: each producing subgraph writes to its own Redis stream (`events:<producer>`), so the
// order of one producer's events is the order they committed in.

export type ReactionKind = 'LIKE' | 'DISLIKE';

export interface EventPayloads {
  /** users: an account was created (registration or first OIDC login) */
  'user.registered': { userId: string; username: string; at: string };
  /** users: display name or favourite genres changed */
  'user.profile-updated': { userId: string; favoriteGenres: string[]; at: string };
  /** movies: an admin added a movie (or an import created it) */
  'movie.created': { movieId: number; title: string; year: number | null; genres: string[]; languages: string[]; personIds: number[]; at: string };
  /** movies: an admin changed a movie's descriptive fields */
  'movie.updated': { movieId: number; title: string; year: number | null; genres: string[]; languages: string[]; personIds: number[]; at: string };
  /** reviews: a rating (with optional comment) was created or replaced; previous* are null for a new one */
  'review.upserted': {
    userId: string;
    movieId: number;
    rating: number;
    hasComment: boolean;
    previousRating: number | null;
    previousHasComment: boolean | null;
    /** a rollback replays history: the actor is the admin, not the author */
    actorId: string;
    at: string;
  };
  'review.deleted': { userId: string; movieId: number; previousRating: number; previousHasComment: boolean; actorId: string; at: string };
  'reaction.set': { userId: string; movieId: number; reaction: ReactionKind; previousReaction: ReactionKind | null; at: string };
  'reaction.cleared': { userId: string; movieId: number; previousReaction: ReactionKind; at: string };
  'exclusion.set': { userId: string; movieId: number; at: string };
  'exclusion.cleared': { userId: string; movieId: number; at: string };
}

export type EventType = keyof EventPayloads;

/** Current version of each event type's payload. */
export const eventVersions: { readonly [T in EventType]: number } = {
  'user.registered': 1,
  'user.profile-updated': 1,
  'movie.created': 1,
  'movie.updated': 1,
  'review.upserted': 1,
  'review.deleted': 1,
  'reaction.set': 1,
  'reaction.cleared': 1,
  'exclusion.set': 1,
  'exclusion.cleared': 1,
};

export type Producer = 'users' | 'movies' | 'reviews';

export interface EventEnvelope<T extends EventType = EventType> {
  id: string;
  type: T;
  version: number;
  producer: Producer;
  occurredAt: string;
  payload: EventPayloads[T];
}

export type AnyEvent = { [T in EventType]: EventEnvelope<T> }[EventType];

/**
 * The Redis stream of one producer. The prefix (EVENT_STREAM_PREFIX, default "events") keeps
 * several stacks sharing one Redis (tests, a second `npm start`) from reading each other's events.
 */
export const streamOf = (producer: Producer, prefix = 'events'): string => `${prefix}:${producer}`;

export function createEvent<T extends EventType>(producer: Producer, type: T, payload: EventPayloads[T], occurredAt = new Date()): EventEnvelope<T> {
  return { id: randomUUID(), type, version: eventVersions[type], producer, occurredAt: occurredAt.toISOString(), payload };
}

export class EventFormatError extends Error {
  override name = 'EventFormatError';
}

/** Parses a stream entry; throws EventFormatError for anything this code cannot safely apply. */
export function parseEvent(text: string): AnyEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new EventFormatError('event is not JSON');
  }
  const envelope = value as Partial<EventEnvelope>;
  if (typeof envelope !== 'object' || envelope === null) throw new EventFormatError('event is not an object');
  if (typeof envelope.id !== 'string' || typeof envelope.type !== 'string' || typeof envelope.payload !== 'object' || envelope.payload === null) {
    throw new EventFormatError('event lacks id, type or payload');
  }
  if (!(envelope.type in eventVersions)) throw new EventFormatError(`unknown event type "${envelope.type}"`);
  const known = eventVersions[envelope.type as EventType];
  if (envelope.version !== known) throw new EventFormatError(`${envelope.type} version ${String(envelope.version)} is not ${known}, the version this code reads`);
  return envelope as AnyEvent;
}
