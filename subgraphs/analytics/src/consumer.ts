import { hostname } from 'node:os';
import { startStreamConsumer, streamOf, type Database, type Logger, type Redis, type StreamConsumer } from '@platform/shared';
import type { StreamLag } from './data.ts';
import { applyAnalyticsEvent, applyAnalyticsEvents } from './projection.ts';

/** The streams the read model is fed from, one per producer. */
export interface AnalyticsStreams {
  users: string;
  movies: string;
  reviews: string;
}

export const analyticsStreamsFor = (prefix: string): AnalyticsStreams => ({
  users: streamOf('users', prefix),
  movies: streamOf('movies', prefix),
  reviews: streamOf('reviews', prefix),
});
export const defaultAnalyticsStreams: AnalyticsStreams = analyticsStreamsFor('events');

/** The consumer group: every analytics replica reads as one member of it, so each event is applied by one. */
export const analyticsConsumerGroup = 'analytics';

export const streamList = (streams: AnalyticsStreams): string[] => [streams.users, streams.movies, streams.reviews];

export interface AnalyticsConsumerOptions {
  db: Database;
  /** a dedicated connection: the consumer blocks on it, and disconnects it when stopped */
  redis: Redis;
  streams: AnalyticsStreams;
  logger: Logger;
  /** unique per process; defaults to host and pid, so replicas never share pending entries */
  consumerName?: string;
  /** entries read (and applied in one transaction) per stream at a time; default 200 */
  batchSize?: number;
  /** deliveries before a failing event is dead-lettered (shared/src/stream-consumer.ts); default 10 */
  maxDeliveries?: number;
}

export function startAnalyticsConsumer(options: AnalyticsConsumerOptions): Promise<StreamConsumer> {
  const { db, logger } = options;
  return startStreamConsumer({
    redis: options.redis,
    streams: streamList(options.streams),
    group: analyticsConsumerGroup,
    consumer: options.consumerName ?? `analytics@${hostname()}:${process.pid}`,
    logger,
    batchSize: options.batchSize ?? 200,
    maxDeliveries: options.maxDeliveries,
    // A read's events in one transaction, their deltas summed (projection.ts); if that fails, the
    // consumer applies them one by one with `handle`, so a bad event is retried and dead-lettered alone.
    handleBatch: async (events) => {
      const applied = await applyAnalyticsEvents(db, events.map(({ event }) => event));
      logger.debug('events applied to the analytics read model', { read: events.length, applied: applied.length });
    },
    handle: async (event, stream) => {
      const applied = await applyAnalyticsEvent(db, event);
      if (applied) logger.debug('event applied to the analytics read model', { stream, id: event.id, type: event.type });
    },
  });
}

/**
 * How far the read model is behind each stream. Redis's `lag` alone counts only entries not yet
 * delivered: entries delivered to a consumer that keeps failing on them (PostgreSQL down, a bad
 * payload being retried) would read as "no lag", so the group's pending entries are added.
 */
export async function readGroupLag(redis: Redis, streams: string[]): Promise<StreamLag[]> {
  const result: StreamLag[] = [];
  for (const stream of streams) {
    const groups = (await redis.xinfo('GROUPS', stream).catch((error: unknown) => {
      // No stream yet (nothing published, consumer not started): nothing is behind.
      if (error instanceof Error && /no such key/i.test(error.message)) return [];
      throw error;
    })) as unknown[][];
    const mine = groups.find((fields) => fields[fields.indexOf('name') + 1] === analyticsConsumerGroup);
    const lag = mine ? mine[mine.indexOf('lag') + 1] : null;
    const pending = mine ? mine[mine.indexOf('pending') + 1] : 0;
    const undelivered = typeof lag === 'number' ? lag : null;
    const unacknowledged = typeof pending === 'number' ? pending : 0;
    result.push({ stream, pending: undelivered === null ? null : undelivered + unacknowledged, undelivered, unacknowledged });
  }
  return result;
}
