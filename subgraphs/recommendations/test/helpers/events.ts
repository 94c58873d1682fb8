import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import neo4j from 'neo4j-driver';
import { createEvent, type AnyEvent, type Driver, type EventPayloads, type EventType, type Producer } from '@platform/shared';
import type { StreamLag } from '../../src/event-consumer.ts';

// Event streams of one test (the real events:* streams are shared by every suite running against
// the same Redis), envelopes as the producers write them, and waiting for a consumer to catch up.

export interface TestStreams {
  reviews: string;
  movies: string;
  users: string;
  all: string[];
}

export function testStreams(): TestStreams {
  const tag = randomUUID();
  const [reviews, movies, users] = ['reviews', 'movies', 'users'].map((producer) => `test:recommendations:${tag}:${producer}`) as [string, string, string];
  return { reviews, movies, users, all: [reviews, movies, users] };
}

const producerOf: Record<EventType, Producer> = {
  'user.registered': 'users',
  'user.profile-updated': 'users',
  'movie.created': 'movies',
  'movie.updated': 'movies',
  'review.upserted': 'reviews',
  'review.deleted': 'reviews',
  'reaction.set': 'reviews',
  'reaction.cleared': 'reviews',
  'exclusion.set': 'reviews',
  'exclusion.cleared': 'reviews',
};

export function event<T extends EventType>(type: T, payload: EventPayloads[T]): AnyEvent {
  return createEvent(producerOf[type], type, payload) as AnyEvent;
}

export const iso = (ms: number): string => new Date(ms).toISOString();

/** The shapes the reviews subgraph publishes, with the fields the graph ignores filled in. */
export const reviewEvents = {
  upserted: (userId: string, movieId: number, rating: number, at: number) =>
    event('review.upserted', { userId, movieId, rating, hasComment: false, previousRating: null, previousHasComment: null, actorId: userId, at: iso(at) }),
  deleted: (userId: string, movieId: number, at: number) =>
    event('review.deleted', { userId, movieId, previousRating: 3, previousHasComment: false, actorId: userId, at: iso(at) }),
  reacted: (userId: string, movieId: number, reaction: 'LIKE' | 'DISLIKE', at: number) =>
    event('reaction.set', { userId, movieId, reaction, previousReaction: null, at: iso(at) }),
  cleared: (userId: string, movieId: number, at: number) => event('reaction.cleared', { userId, movieId, previousReaction: 'LIKE', at: iso(at) }),
  excluded: (userId: string, movieId: number, at: number) => event('exclusion.set', { userId, movieId, at: iso(at) }),
  included: (userId: string, movieId: number, at: number) => event('exclusion.cleared', { userId, movieId, at: iso(at) }),
};

export function streamFor(streams: TestStreams, item: AnyEvent): string {
  return streams[item.producer];
}

/** Publishes like the outbox relay does: one entry per event, field `event` = the JSON envelope. */
export async function publish(redis: Redis, streams: TestStreams, events: readonly AnyEvent[]): Promise<void> {
  for (const item of events) await redis.xadd(streamFor(streams, item), '*', 'event', JSON.stringify(item));
}

/** Adds every entry of the streams again, in stream order or reversed: a replay of the whole history. */
export async function replay(redis: Redis, streams: TestStreams, order: 'same' | 'reversed' = 'same'): Promise<number> {
  let count = 0;
  for (const stream of streams.all) {
    const entries = (await redis.xrange(stream, '-', '+')) as [string, string[]][];
    const texts = entries.map(([, fields]) => fields[fields.indexOf('event') + 1] ?? '');
    for (const text of order === 'same' ? texts : texts.reverse()) {
      await redis.xadd(stream, '*', 'event', text);
      count += 1;
    }
  }
  return count;
}

export async function deleteStreams(redisUrl: string, streams: TestStreams): Promise<void> {
  const redis = new Redis(redisUrl);
  await redis.del(...streams.all, ...streams.all.map((stream) => `${stream}:dead`));
  redis.disconnect();
}

/** The streams one test file makes: new ones on demand, every one deleted at the end. */
export function testStreamRegistry(redisUrl: string) {
  const made: TestStreams[] = [];
  return {
    create(): TestStreams {
      const streams = testStreams();
      made.push(streams);
      return streams;
    },
    async deleteAll(): Promise<void> {
      for (const streams of made.splice(0)) await deleteStreams(redisUrl, streams);
    },
  };
}

/** Waits until nothing is pending on any stream (polls; fails with the last lag after `timeoutMs`). */
export async function caughtUp(lag: () => Promise<StreamLag[]>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: StreamLag[] = [];
  while (Date.now() < deadline) {
    last = await lag();
    if (last.every((stream) => stream.pending === 0)) return;
    await delay(50);
  }
  throw new Error(`the consumer did not catch up: ${JSON.stringify(last)}`);
}

export interface GraphSnapshot {
  nodes: string[];
  relationships: string[];
}

/** A map's entries in key order, so equal property sets print equally. */
function sortedJson(value: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b))));
}

/**
 * Every node and relationship touching the given users and movies, with all properties, as
 * sorted text: two snapshots are equal exactly when nothing of that part of the graph changed.
 */
export async function snapshot(driver: Driver, userIds: readonly string[], movieIds: readonly number[]): Promise<GraphSnapshot> {
  const parameters = { userIds, movieIds: movieIds.map((id) => neo4j.int(id)) };
  const nodes = await driver.executeQuery(
    `MATCH (n) WHERE (n:User AND n.id IN $userIds) OR (n:Movie AND n.id IN $movieIds)
     RETURN labels(n) AS labels, properties(n) AS props`,
    parameters,
  );
  const relationships = await driver.executeQuery(
    `MATCH (a)-[r]->(b)
     WHERE (a:User AND a.id IN $userIds) OR (a:Movie AND a.id IN $movieIds)
     RETURN type(r) AS type, toString(a.id) AS from, coalesce(toString(b.id), b.name) AS to, properties(r) AS props`,
    parameters,
  );
  return {
    nodes: nodes.records.map((record) => `${(record.get('labels') as string[]).join(':')} ${sortedJson(record.get('props') as Record<string, unknown>)}`).sort(),
    relationships: relationships.records
      .map((record) => `${record.get('type') as string} ${record.get('from') as string}->${record.get('to') as string} ${sortedJson(record.get('props') as Record<string, unknown>)}`)
      .sort(),
  };
}

/** Relationship counts by type among a snapshot. */
export function countByType(graph: GraphSnapshot): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of graph.relationships) {
    const type = line.slice(0, line.indexOf(' '));
    counts[type] = (counts[type] ?? 0) + 1;
  }
  return counts;
}
