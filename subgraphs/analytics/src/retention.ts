import { sql } from 'drizzle-orm';
import { defaultConsumerRecordRetentionMs, oldestStreamEntryMs, startPeriodicTask, streamClockMarginMs, type Database, type Logger, type PeriodicTask, type Redis } from '@platform/shared';

// Retention of analytics.processed_events: the consumer records one row per applied event, so
// without this the table grows by every event ever published.
//
// A row is what makes a redelivered event change nothing, so it may go only when its event can no
// longer be delivered again:
// - its stream entry is gone (trimmed): the group can re-read, or a replay (XGROUP SETID 0, a lost
//   consumer group re-created at 0) can re-deliver, only what is still in a stream. An entry's id
//   is the time Redis took it, at or before the event was applied, so rows applied before the
//   oldest entry still held in any of the streams (less `clockMarginMs` for the two servers'
//   clocks) belong to trimmed entries;
// - and it is older than the retention: the outbox relay republishes a row it could not mark as
//   published (a crash between XADD and its UPDATE) under a new entry, and keeps published rows a
//   week (OUTBOX_RETENTION_HOURS); the default retention of 30 days stays well beyond both.
// Without an answer from Redis nothing is deleted.

export interface ProcessedEventsRetentionOptions {
  /** Rows applied longer ago than this may go (if their entries are gone, above). */
  retainMs: number;
  /** Rows deleted per statement, oldest first. */
  batchSize?: number;
  /** Allowance for the Redis and PostgreSQL clocks disagreeing. */
  clockMarginMs?: number;
}

export const defaultProcessedEventsRetentionMs = defaultConsumerRecordRetentionMs;
const defaultBatchSize = 5_000;

/** Deletes the rows the rules above allow, in batches; resolves with how many it deleted. */
export async function pruneProcessedEvents(db: Database, redis: Redis, streams: readonly string[], options: ProcessedEventsRetentionOptions): Promise<number> {
  const batchSize = options.batchSize ?? defaultBatchSize;
  const oldestEntryMs = await oldestStreamEntryMs(redis, streams);
  const entryBoundMs = oldestEntryMs === null ? null : oldestEntryMs - (options.clockMarginMs ?? streamClockMarginMs);
  let deleted = 0;
  for (;;) {
    // The cutoff in PostgreSQL's clock (processed_at is its now()), bounded by the oldest entry.
    const result = await db.execute(sql`
      DELETE FROM analytics.processed_events WHERE event_id IN (
        SELECT event_id FROM analytics.processed_events
        WHERE processed_at < now() - make_interval(secs => ${options.retainMs / 1000})
          AND (${entryBoundMs}::double precision IS NULL OR processed_at < to_timestamp(${entryBoundMs}::double precision / 1000))
        ORDER BY processed_at
        LIMIT ${batchSize})`);
    const count = result.rowCount ?? 0;
    deleted += count;
    if (count < batchSize) return deleted;
  }
}

/** Prunes every `everyMs` (first after one interval); failures are logged and retried next time. */
export function startProcessedEventsPruner(options: {
  db: Database;
  redis: Redis;
  streams: readonly string[];
  logger: Logger;
  retainMs: number;
  everyMs: number;
}): PeriodicTask {
  return startPeriodicTask({
    everyMs: options.everyMs,
    logger: options.logger,
    done: 'pruned processed event ids',
    failed: 'could not prune processed event ids; trying again later',
    work: () => pruneProcessedEvents(options.db, options.redis, options.streams, { retainMs: options.retainMs }),
  });
}
