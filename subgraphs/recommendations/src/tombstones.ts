import type { Driver } from 'neo4j-driver';
import { defaultConsumerRecordRetentionMs, oldestStreamEntryMs, startPeriodicTask, streamClockMarginMs, type Logger, type PeriodicTask, type Redis } from '@platform/shared';
import { deleteTombstonesBefore } from './graph.ts';

// Retention of the like-graph's tombstones (graph.ts). A tombstone stops a "set" older than the
// removal from bringing the relationship back; it is needed as long as such an event can still be
// delivered, so it goes only when both hold:
// - its `at` is older than the retention: an event reaches the stream late when its producer's
//   relay lags, and a relay republishes rows it could not mark as published; the default of 30
//   days is far beyond both (outbox rows themselves are kept a week, OUTBOX_RETENTION_HOURS);
// - its `at` is before the oldest entry the consumed streams still hold (less `clockMarginMs` for
//   the producers' and Redis's clocks): an older "set" still in a stream could be delivered again
//   (pending entries, XGROUP SETID, a lost group re-created at 0); one already trimmed cannot.
// Without an answer from Redis nothing is deleted.

export const defaultTombstoneRetentionMs = defaultConsumerRecordRetentionMs;

export interface TombstoneRetentionOptions {
  retainMs: number;
  clockMarginMs?: number;
  /** Tombstones deleted per transaction. */
  batchSize?: number;
  /** This process's clock (epoch ms); tests move it. */
  now?: () => number;
}

/** The `at` before which tombstones may go: the older of the two bounds above. */
export function tombstoneCutoff(nowMs: number, retainMs: number, oldestEntryMs: number | null, clockMarginMs: number): number {
  const byAge = nowMs - retainMs;
  const cutoff = oldestEntryMs === null ? byAge : Math.min(byAge, oldestEntryMs - clockMarginMs);
  return Math.max(0, Math.floor(cutoff));
}

/** Deletes the tombstones the rules above allow; resolves with how many it deleted. */
export async function pruneTombstones(driver: Driver, redis: Redis, streams: readonly string[], options: TombstoneRetentionOptions): Promise<number> {
  const oldestEntry = await oldestStreamEntryMs(redis, streams);
  const cutoff = tombstoneCutoff((options.now ?? Date.now)(), options.retainMs, oldestEntry, options.clockMarginMs ?? streamClockMarginMs);
  return deleteTombstonesBefore(driver, cutoff, options.batchSize);
}

/** Prunes every `everyMs` (first after one interval) while the graph is ready; failures are logged and retried. */
export function startTombstonePruner(options: {
  driver: Driver;
  redis: Redis;
  streams: readonly string[];
  logger: Logger;
  retainMs: number;
  everyMs: number;
  isGraphReady(): boolean;
}): PeriodicTask {
  return startPeriodicTask({
    everyMs: options.everyMs,
    logger: options.logger,
    done: 'pruned like-graph tombstones',
    failed: 'could not prune like-graph tombstones; trying again later',
    // Before the graph is prepared (constraints, a resync) there is nothing to tidy.
    work: async () => (options.isGraphReady() ? pruneTombstones(options.driver, options.redis, options.streams, { retainMs: options.retainMs }) : 0),
  });
}
