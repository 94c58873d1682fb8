import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { pgSchema, text, uuid } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/node-postgres';
import { Redis } from 'ioredis';
import pg from 'pg';
import { testPool } from '../../src/testing.ts';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createScratchDatabase } from '../../../scripts/lib/services.ts';
import { createEvent, type AnyEvent } from '../../src/events.ts';
import { createLogger } from '../../src/logger.ts';
import { appendEvents, applyOnce, outboxTable, processedEventsTable, startOutboxRelay } from '../../src/outbox.ts';
import { startStreamConsumer } from '../../src/stream-consumer.ts';

// The outbox guarantees on real PostgreSQL and Redis: a write and its event commit together,
// the relay publishes in commit order, and a relay killed between publishing and marking loses
// nothing while the idempotent consumer applies nothing twice.

const producer = pgSchema('outbox_it');
const outbox = outboxTable(producer);
const writes = producer.table('writes', { id: uuid('id').primaryKey(), note: text('note').notNull() });
const consumerSchema = pgSchema('consumer_it');
const processed = processedEventsTable(consumerSchema);
const applied = consumerSchema.table('applied', { eventId: uuid('event_id').notNull(), movieId: text('movie_id').notNull() });
const logger = createLogger('outbox-test', { sink: () => {} });

describe('transactional outbox, relay and idempotent consumer', () => {
  let database: Awaited<ReturnType<typeof createScratchDatabase>>;
  let pool: pg.Pool;
  const redisUrl = inject('services').redisUrl;
  const redis = new Redis(redisUrl);

  beforeAll(async () => {
    database = await createScratchDatabase(inject('services').databaseUrl, 'outbox_it');
    pool = testPool(database.url, 6);
    await pool.query(`
      CREATE SCHEMA outbox_it;
      CREATE TABLE outbox_it.outbox (id bigserial PRIMARY KEY, event_id uuid NOT NULL UNIQUE, envelope jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(), published_at timestamptz);
      CREATE TABLE outbox_it.writes (id uuid PRIMARY KEY, note text NOT NULL);
      CREATE SCHEMA consumer_it;
      CREATE TABLE consumer_it.processed_events (event_id uuid PRIMARY KEY, processed_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE consumer_it.applied (event_id uuid NOT NULL, movie_id text NOT NULL);`);
  });
  const streamsUsed: string[] = [];
  const newStream = (): string => {
    const stream = `test:outbox:${randomUUID()}`;
    streamsUsed.push(stream, `${stream}:dead`);
    return stream;
  };
  afterAll(async () => {
    if (streamsUsed.length > 0) await redis.del(...streamsUsed);
    redis.disconnect();
    await pool?.end();
    await database?.drop();
  });

  const db = () => drizzle(pool);
  const writeWithEvent = (index: number, fail = false) =>
    db().transaction(async (tx) => {
      await tx.insert(writes).values({ id: randomUUID(), note: `write ${index}` });
      const event = createEvent('reviews', 'exclusion.set', { userId: randomUUID(), movieId: index, at: new Date().toISOString() });
      await appendEvents(tx, outbox, 'outbox_it', [event]);
      if (fail) throw new Error('the write fails after its event was appended');
    });

  it('rolls the event back with the write', async () => {
    await expect(writeWithEvent(-1, true)).rejects.toThrow(/write fails/);
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM outbox_it.outbox WHERE (envelope->'payload'->>'movieId')::int = -1");
    expect(rows[0].n).toBe(0);
  });

  it('survives a relay killed after publishing and before marking: nothing lost, nothing applied twice', async () => {
    const stream = newStream();
    for (let index = 0; index < 25; index += 1) await writeWithEvent(index);

    const child = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/crashing-relay.ts', import.meta.url)), database.url, redisUrl, 'outbox_it', stream], {
      stdio: 'ignore',
    });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, killed) => resolve(killed)));
    expect(signal).toBe('SIGKILL');
    expect(await redis.xlen(stream)).toBe(10); // one batch reached the stream...
    const unpublished = await pool.query('SELECT count(*)::int AS n FROM outbox_it.outbox WHERE published_at IS NULL');
    expect(unpublished.rows[0].n).toBe(25); // ...but none was marked published

    const relay = await startOutboxRelay({ pool, schemaName: 'outbox_it', redis, stream, logger, batchSize: 10, pollMs: 50 });
    await relay.drain();
    await relay.stop();
    expect(await redis.xlen(stream)).toBe(35); // the first batch went out twice

    const seenOrder: number[] = [];
    const consumer = await startStreamConsumer({
      redis: new Redis(redisUrl),
      streams: [stream],
      group: 'consumer-it',
      consumer: 'c1',
      logger,
      blockMs: 100,
      handle: async (event: AnyEvent) => {
        if (event.type !== 'exclusion.set') return;
        await applyOnce(db(), processed, event.id, async (tx) => {
          await tx.insert(applied).values({ eventId: event.id, movieId: String(event.payload.movieId) });
          seenOrder.push(event.payload.movieId);
        });
      },
    });
    const deadline = Date.now() + 10_000;
    while (seenOrder.length < 25 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await consumer.lag())[stream]).toBe(0);
    await consumer.stop();

    const { rows } = await pool.query('SELECT count(*)::int AS total, count(DISTINCT event_id)::int AS distinct_events FROM consumer_it.applied');
    expect(rows[0]).toEqual({ total: 25, distinct_events: 25 });
    expect(seenOrder).toEqual([...Array(25).keys()]); // commit order
    const published = await pool.query('SELECT count(*)::int AS n FROM outbox_it.outbox WHERE published_at IS NULL');
    expect(published.rows[0].n).toBe(0);
  });

  it('prunes published rows past the retention, oldest first, and never an unpublished one', async () => {
    const stream = newStream();
    await pool.query('TRUNCATE outbox_it.outbox');
    for (let index = 0; index < 12; index += 1) await writeWithEvent(100 + index);
    // Another session holds the relay lock, so the relays' own loops stay idle and only the
    // explicit drain() and prune() calls below touch the table.
    const lockHolder = await pool.connect();
    await lockHolder.query('SELECT pg_advisory_lock(hashtext($1))', ['relay:outbox_it']);
    const relay = await startOutboxRelay({ pool, schemaName: 'outbox_it', redis, stream, logger, pollMs: 60_000, retainPublishedMs: 7 * 24 * 3_600_000 });
    try {
      expect(await relay.drain()).toBe(12);
      // Ten published rows age past a week; two more events stay unpublished however old.
      await pool.query(`UPDATE outbox_it.outbox SET published_at = now() - interval '8 days' WHERE id IN (SELECT id FROM outbox_it.outbox ORDER BY id LIMIT 10)`);
      for (let index = 0; index < 2; index += 1) await writeWithEvent(200 + index);
      await pool.query(`UPDATE outbox_it.outbox SET created_at = now() - interval '30 days' WHERE published_at IS NULL`);

      expect(await relay.prune()).toBe(10);
      const { rows } = await pool.query<{ movie: number; published: boolean }>(
        `SELECT (envelope->'payload'->>'movieId')::int AS movie, published_at IS NOT NULL AS published FROM outbox_it.outbox ORDER BY id`,
      );
      expect(rows).toEqual([
        { movie: 110, published: true },
        { movie: 111, published: true },
        { movie: 200, published: false },
        { movie: 201, published: false },
      ]);
      expect(await relay.prune()).toBe(0);
      // Pruning never touches what still has to go out.
      expect(await relay.drain()).toBe(2);
    } finally {
      await relay.stop();
    }
    const keepForever = await startOutboxRelay({ pool, schemaName: 'outbox_it', redis, stream, logger, pollMs: 60_000, retainPublishedMs: null });
    await pool.query(`UPDATE outbox_it.outbox SET published_at = now() - interval '800 days'`);
    expect(await keepForever.prune()).toBe(0);
    await keepForever.stop();
    await lockHolder.query('SELECT pg_advisory_unlock(hashtext($1))', ['relay:outbox_it']);
    lockHolder.release();
    expect((await pool.query('SELECT count(*)::int AS n FROM outbox_it.outbox')).rows[0].n).toBe(4);

    // The active relay prunes by itself, every pruneEveryMs.
    const active = await startOutboxRelay({ pool, schemaName: 'outbox_it', redis, stream, logger, pollMs: 50, pruneEveryMs: 50, retainPublishedMs: 3_600_000 });
    try {
      const deadline = Date.now() + 10_000;
      let left = 4;
      while (left > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        left = (await pool.query('SELECT count(*)::int AS n FROM outbox_it.outbox')).rows[0].n;
      }
      expect(left).toBe(0);
    } finally {
      await active.stop();
    }
  });

  it('survives Postgres ending its LISTEN connection: no crash, a new connection, the next event still published', async () => {
    const stream = newStream();
    const relay = await startOutboxRelay({ pool, schemaName: 'outbox_it', redis, stream, logger, pollMs: 50 });
    try {
      await relay.drain();
      const before = await redis.xlen(stream);
      // The relay's own session: the one listening on the outbox channel (this pool is its only user).
      const listening = async (): Promise<number[]> =>
        (await pool.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND (query LIKE 'SELECT pg_try_advisory_lock%' OR query LIKE 'LISTEN %')")).rows.map(
          (row) => row.pid,
        );
      const deadline = Date.now() + 10_000;
      let pids = await listening();
      while (pids.length === 0 && Date.now() < deadline) pids = await listening();
      expect(pids.length).toBe(1);
      await pool.query('SELECT pg_terminate_backend($1)', [pids[0]]);
      // A session other than the terminated one takes the lock again.
      let again = await listening();
      while (!(again.length === 1 && again[0] !== pids[0]) && Date.now() < deadline) again = await listening();
      expect(again).toHaveLength(1);
      expect(again[0]).not.toBe(pids[0]);
      await writeWithEvent(900);
      while ((await redis.xlen(stream)) === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await redis.xlen(stream)).toBe(before + 1);
    } finally {
      await relay.stop();
    }
  });

  it('dead-letters an event it cannot read instead of blocking the stream', async () => {
    const stream = newStream();
    await redis.xadd(stream, '*', 'event', '{"id":"x","type":"no.such-event","version":1,"payload":{}}');
    const good = createEvent('reviews', 'exclusion.cleared', { userId: randomUUID(), movieId: 7, at: new Date().toISOString() });
    await redis.xadd(stream, '*', 'event', JSON.stringify(good));
    const handled: string[] = [];
    const consumer = await startStreamConsumer({
      redis: new Redis(redisUrl),
      streams: [stream],
      group: 'consumer-it',
      consumer: 'c1',
      logger,
      blockMs: 100,
      handle: async (event) => {
        handled.push(event.id);
      },
    });
    const deadline = Date.now() + 5_000;
    while (handled.length < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    await consumer.stop();
    expect(handled).toEqual([good.id]);
    expect(await redis.xlen(`${stream}:dead`)).toBe(1);
  });
});
