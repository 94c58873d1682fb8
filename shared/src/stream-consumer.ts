import type { Redis } from 'ioredis';
import { EventFormatError, parseEvent, type AnyEvent } from './events.ts';
import type { Logger } from './logger.ts';

// A consumer-group reader over one or more event streams. An entry is acknowledged only after
// the handler's own write has committed, so a crash anywhere leaves it pending and it is
// delivered again (to this consumer on restart, or claimed by another after claimIdleMs).
// Handlers must therefore be idempotent: apply each event id at most once.

export interface StreamConsumerOptions {
  /** a dedicated connection: XREADGROUP BLOCK holds it */
  redis: Redis;
  streams: string[];
  group: string;
  consumer: string;
  logger: Logger;
  handle(event: AnyEvent, stream: string): Promise<void>;
  /**
   * Optional: applies every event of one read at once (e.g. in one transaction), used instead of
   * `handle` when given. The whole read is acknowledged only after it resolves; when it throws,
   * the same entries go through `handle` one by one (with the usual retries and dead letters), so
   * one bad event does not hold back the others. It must be idempotent, as `handle` is.
   */
  handleBatch?(events: StreamEvent[]): Promise<void>;
  /** entries per stream per read (XREADGROUP COUNT) */
  batchSize?: number;
  blockMs?: number;
  /** pending entries idle this long (their consumer died) are claimed by this one */
  claimIdleMs?: number;
  /** deliveries after which a failing entry is moved to `<stream>:dead` and acknowledged */
  maxDeliveries?: number;
}

export interface StreamConsumer {
  stop(): Promise<void>;
  /** entries not yet delivered to the group, per stream (Redis 7's XINFO GROUPS `lag`) */
  lag(): Promise<Record<string, number | null>>;
}

/** One parsed entry of a read, for a batch handler. */
export interface StreamEvent {
  stream: string;
  /** the entry's id in its stream */
  entryId: string;
  event: AnyEvent;
}

type StreamEntries = [stream: string, entries: [id: string, fields: string[]][]][];

function eventText(fields: string[]): string | undefined {
  for (let index = 0; index + 1 < fields.length; index += 2) if (fields[index] === 'event') return fields[index + 1];
  return undefined;
}

export async function startStreamConsumer(options: StreamConsumerOptions): Promise<StreamConsumer> {
  const { redis, streams, group, consumer, logger } = options;
  const batchSize = options.batchSize ?? 100;
  const blockMs = options.blockMs ?? 1_000;
  const claimIdleMs = options.claimIdleMs ?? 30_000;
  const maxDeliveries = options.maxDeliveries ?? 10;
  const control = redis.duplicate(); // for acks and admin commands while `redis` blocks
  for (const stream of streams) {
    try {
      await control.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
    } catch (error) {
      if (!(error instanceof Error && error.message.includes('BUSYGROUP'))) throw error;
    }
  }

  let stopped = false;

  const deadLetter = async (stream: string, id: string, text: string | undefined, reason: string): Promise<void> => {
    await control.xadd(`${stream}:dead`, '*', 'event', text ?? '', 'reason', reason, 'group', group);
    await control.xack(stream, group, id);
    logger.error('event moved to the dead-letter stream', { stream, id, reason });
  };

  const deliveriesOf = async (stream: string, id: string): Promise<number> => {
    const pending = (await control.xpending(stream, group, id, id, 1)) as [string, string, number, number][];
    return pending[0]?.[3] ?? 0;
  };

  /** The entry's event, or null after moving it to the dead letters: unreadable now means unreadable on every delivery. */
  const parseEntry = async (stream: string, id: string, text: string | undefined): Promise<AnyEvent | null> => {
    try {
      return parseEvent(text ?? '');
    } catch (error) {
      await deadLetter(stream, id, text, error instanceof EventFormatError ? error.message : 'unreadable');
      return null;
    }
  };

  const processEach = async (entries: StreamEntries): Promise<void> => {
    for (const [stream, items] of entries) {
      for (const [id, fields] of items) {
        if (stopped) return;
        const text = eventText(fields);
        const event = await parseEntry(stream, id, text);
        if (!event) continue;
        try {
          await options.handle(event, stream);
          await control.xack(stream, group, id);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          if ((await deliveriesOf(stream, id)) >= maxDeliveries) await deadLetter(stream, id, text, message);
          else {
            logger.warn('event handler failed; it stays pending and is retried', { stream, id, type: event.type, error: message });
            // Keep order within a stream: do not skip ahead of a failed entry.
            return;
          }
        }
      }
    }
  };

  const { handleBatch } = options;
  const processBatch = async (entries: StreamEntries, batch: (events: StreamEvent[]) => Promise<void>): Promise<void> => {
    const events: StreamEvent[] = [];
    const readable: StreamEntries = [];
    for (const [stream, items] of entries) {
      const kept: [string, string[]][] = [];
      for (const [id, fields] of items) {
        if (stopped) return;
        const event = await parseEntry(stream, id, eventText(fields));
        if (!event) continue;
        events.push({ stream, entryId: id, event });
        kept.push([id, fields]);
      }
      if (kept.length > 0) readable.push([stream, kept]);
    }
    if (events.length === 0 || stopped) return;
    try {
      await batch(events);
    } catch (error) {
      logger.warn('batch handler failed; applying its events one by one', {
        group, count: events.length, error: error instanceof Error ? error.message : String(error),
      });
      await processEach(readable);
      return;
    }
    for (const [stream, items] of readable) await control.xack(stream, group, ...items.map(([id]) => id));
  };

  const process = (entries: StreamEntries): Promise<void> => (handleBatch ? processBatch(entries, (events) => handleBatch.call(options, events)) : processEach(entries));

  const readOwnPending = async (): Promise<StreamEntries> =>
    ((await redis.xreadgroup('GROUP', group, consumer, 'COUNT', batchSize, 'STREAMS', ...streams, ...streams.map(() => '0'))) as StreamEntries | null) ?? [];

  const claimAbandoned = async (): Promise<void> => {
    for (const stream of streams) {
      const [, claimed] = (await control.xautoclaim(stream, group, consumer, claimIdleMs, '0-0', 'COUNT', batchSize)) as [string, [string, string[]][]];
      if (claimed.length > 0) logger.info('claimed abandoned events', { stream, count: claimed.length });
    }
  };

  const loop = (async () => {
    let lastClaim = 0;
    let backoffMs = 0;
    while (!stopped) {
      try {
        if (backoffMs > 0) await new Promise((resolve) => setTimeout(resolve, backoffMs));
        if (Date.now() - lastClaim > claimIdleMs) {
          await claimAbandoned();
          lastClaim = Date.now();
        }
        // Redelivery first (after a crash or a failed handler), then new entries.
        const pending = await readOwnPending();
        const hasPending = pending.some(([, items]) => items.length > 0);
        if (hasPending) {
          await process(pending);
          const still = await readOwnPending();
          // Entries still pending mean a handler keeps failing: wait longer each round.
          backoffMs = still.some(([, items]) => items.length > 0) ? Math.min(Math.max(backoffMs * 2, 200), 5_000) : 0;
          continue;
        }
        const fresh = (await redis.xreadgroup(
          'GROUP', group, consumer, 'COUNT', batchSize, 'BLOCK', blockMs, 'STREAMS', ...streams, ...streams.map(() => '>'),
        )) as StreamEntries | null;
        if (fresh) await process(fresh);
        backoffMs = 0;
      } catch (error) {
        if (stopped) break;
        logger.warn('stream consumer error; retrying', { group, error: error instanceof Error ? error.message : String(error) });
        backoffMs = Math.min(Math.max(backoffMs * 2, 200), 5_000);
      }
    }
  })();

  return {
    stop: async () => {
      stopped = true;
      redis.disconnect(); // interrupts a blocking read
      await loop;
      control.disconnect();
    },
    lag: async () => {
      const result: Record<string, number | null> = {};
      for (const stream of streams) {
        const groups = (await control.xinfo('GROUPS', stream)) as (string | number | null)[][];
        const mine = groups.find((fields) => fields[fields.indexOf('name') + 1] === group);
        const lag = mine ? mine[mine.indexOf('lag') + 1] : null;
        result[stream] = typeof lag === 'number' ? lag : null;
      }
      return result;
    },
  };
}

/**
 * Defaults of that retention: how long a consumer's records are kept at least (30 days, far beyond
 * the outbox's week and any relay republish), and the allowance between Redis's clock, which
 * stamps entry ids, and the clock that stamped the record.
 */
export const defaultConsumerRecordRetentionMs = 30 * 24 * 3_600_000;
export const streamClockMarginMs = 3_600_000;

/**
 * The time (ms since epoch, Redis's clock) of the oldest entry any of the streams still holds;
 * null when they hold none. What a stream holds can still be delivered again (pending entries, a
 * group moved back with XGROUP SETID, a lost group re-created at 0); what was trimmed cannot. The
 * retention of de-duplication and ordering records (analytics' processed event ids, the
 * like-graph's tombstones) is bounded by it.
 */
export async function oldestStreamEntryMs(redis: Redis, streams: readonly string[]): Promise<number | null> {
  let oldest: number | null = null;
  for (const stream of streams) {
    // A stream that does not exist yet answers with no entries.
    const [first] = await redis.xrange(stream, '-', '+', 'COUNT', 1);
    const at = first ? Number(first[0].split('-')[0]) : Number.NaN;
    if (Number.isFinite(at) && (oldest === null || at < oldest)) oldest = at;
  }
  return oldest;
}
