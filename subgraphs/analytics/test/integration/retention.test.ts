import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { sql } from 'drizzle-orm';
import { connectPostgres, type Database } from '@platform/shared';
import { closedPort, pollUntil } from '@platform/shared/testing';
import { streamList } from '../../src/consumer.ts';
import { pruneProcessedEvents } from '../../src/retention.ts';
import { createHarness, type Harness } from './harness.ts';

// Retention of processed event ids against a real PostgreSQL (scratch database) and Redis
// (streams of this test): ids go once applied longer ago than the retention and before the
// oldest entry any stream still holds, and never without an answer from Redis.

const day = 24 * 3_600_000;
let harness: Harness | undefined;
let closeDatabase: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closeDatabase?.();
  closeDatabase = undefined;
  await harness?.close();
  harness = undefined;
});

async function setUp(): Promise<{ harness: Harness; db: Database }> {
  harness = await createHarness({ sources: false });
  const postgres = connectPostgres(harness.databaseUrl, { applicationName: 'analytics-retention-test', max: 2 });
  closeDatabase = () => postgres.close();
  return { harness, db: postgres.db };
}

/** Inserts ids applied `agoMs` before now (PostgreSQL's clock); returns them. */
async function processedAgo(db: Database, agoMs: number, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  for (const id of ids) {
    await db.execute(sql`INSERT INTO analytics.processed_events (event_id, processed_at) VALUES (${id}, now() - make_interval(secs => ${agoMs / 1000}))`);
  }
  return ids;
}

async function remainingIds(db: Database): Promise<string[]> {
  const result = await db.execute<{ event_id: string }>(sql`SELECT event_id FROM analytics.processed_events ORDER BY event_id`);
  return result.rows.map((row) => row.event_id).sort();
}

describe('processed event ids retention', () => {
  it('deletes ids applied longer ago than the retention, in batches, and keeps the others', async () => {
    const { harness, db } = await setUp();
    await processedAgo(db, 40 * day, 7);
    const recent = await processedAgo(db, 10 * day, 3);
    const deleted = await pruneProcessedEvents(db, harness.redis, streamList(harness.streams), { retainMs: 30 * day, batchSize: 2 });
    expect(deleted).toBe(7);
    expect(await remainingIds(db)).toEqual(recent.sort());
    expect(await pruneProcessedEvents(db, harness.redis, streamList(harness.streams), { retainMs: 30 * day, batchSize: 2 })).toBe(0);
  });

  it('keeps ids applied after the oldest entry a stream still holds (a replay could deliver it again)', async () => {
    const { harness, db } = await setUp();
    // An entry taken 35 days ago, still in the reviews stream (the stream was never trimmed).
    await harness.redis.xadd(harness.streams.reviews, `${Date.now() - 35 * day}-0`, 'event', '{}');
    const beforeEntry = await processedAgo(db, 40 * day, 2);
    const afterEntry = await processedAgo(db, 35 * day - 3_600_000, 2);
    const recent = await processedAgo(db, day, 1);
    const deleted = await pruneProcessedEvents(db, harness.redis, streamList(harness.streams), { retainMs: 30 * day, clockMarginMs: 3_600_000 });
    expect(deleted).toBe(beforeEntry.length);
    expect(await remainingIds(db)).toEqual([...afterEntry, ...recent].sort());
  });

  it('deletes nothing when Redis does not answer', async () => {
    const { harness, db } = await setUp();
    const old = await processedAgo(db, 40 * day, 3);
    const unreachable = new Redis({ port: await closedPort(), host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    unreachable.on('error', () => undefined);
    await expect(pruneProcessedEvents(db, unreachable, streamList(harness.streams), { retainMs: 30 * day })).rejects.toThrow();
    unreachable.disconnect();
    expect(await remainingIds(db)).toEqual(old.sort());
  });

  it('is done by the running subgraph by itself (ANALYTICS_PROCESSED_EVENTS_RETENTION_HOURS)', async () => {
    const { harness, db } = await setUp();
    await processedAgo(db, 3 * 3_600_000, 4);
    const recent = await processedAgo(db, 0, 1);
    await harness.start({ ANALYTICS_PROCESSED_EVENTS_RETENTION_HOURS: '1' }, { processedEventsPruneEveryMs: 100 });
    await pollUntil(async () => ((await remainingIds(db)).length === 1 ? true : null), 20_000);
    expect(await remainingIds(db)).toEqual(recent);
  });
});
