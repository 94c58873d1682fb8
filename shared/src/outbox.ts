import { sql } from 'drizzle-orm';
import { bigserial, index, jsonb, timestamp, uuid, type PgSchema } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import { checkPostgres, connectPostgres, type Database } from './postgres.ts';
import type { AnyEvent, EventEnvelope, EventType } from './events.ts';
import type { Logger } from './logger.ts';

// Transactional outbox: a write and the events it causes commit in one PostgreSQL transaction
// (appendEvents inside the writer's transaction); a relay then copies committed rows, in id
// order, to the producer's Redis stream and marks them published. A crash before the mark
// republishes the same envelopes (same event ids), which consumers skip, so nothing is lost and
// nothing is applied twice.

/** The outbox table inside a subgraph's own schema (each producer declares it in tables.ts). */
export function outboxTable(schema: PgSchema) {
  return schema.table(
    'outbox',
    {
      id: bigserial('id', { mode: 'number' }).primaryKey(),
      eventId: uuid('event_id').notNull().unique(),
      envelope: jsonb('envelope').$type<AnyEvent>().notNull(),
      createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
      publishedAt: timestamp('published_at', { withTimezone: true }),
    },
    (table) => [index(`${schema.schemaName}_outbox_unpublished_idx`).on(table.id).where(sql`${table.publishedAt} is null`)],
  );
}

export type OutboxTable = ReturnType<typeof outboxTable>;

/** Channel the relay LISTENs on, so an event is published within milliseconds of its commit. */
export const outboxChannel = (schemaName: string): string => `outbox_${schemaName}`;

/** Appends events inside the caller's transaction and wakes the relay once it commits. */
export async function appendEvents(tx: Database, table: OutboxTable, schemaName: string, events: EventEnvelope<EventType>[]): Promise<void> {
  if (events.length === 0) return;
  await tx.insert(table).values(events.map((event) => ({ eventId: event.id, envelope: event as AnyEvent })));
  // NOTIFY is transactional: delivered only if the transaction commits.
  await tx.execute(sql`select pg_notify(${outboxChannel(schemaName)}, '')`);
}

export interface OutboxRelayOptions {
  pool: pg.Pool;
  schemaName: string;
  redis: Redis;
  stream: string;
  logger: Logger;
  batchSize?: number;
  /** poll interval when no NOTIFY arrives (covers a missed notification) */
  pollMs?: number;
  /** approximate cap on the stream's length; old entries are trimmed */
  maxStreamLength?: number;
  /** test hook: runs after the XADDs of a batch and before they are marked published */
  afterPublish?(eventIds: string[]): Promise<void> | void;
  /**
   * Published rows older than this are deleted by the relay holding the lock (null: kept for
   * ever). They stay a while so an operator can re-publish after losing the stream, or audit.
   */
  retainPublishedMs?: number | null;
  /** How often that relay prunes. */
  pruneEveryMs?: number;
}

/** Published outbox rows are kept a week unless configured otherwise (OUTBOX_RETENTION_HOURS). */
export const defaultOutboxRetentionMs = 7 * 24 * 3_600_000;

export interface OutboxRelay {
  /** publishes everything committed so far; resolves with how many events it moved */
  drain(): Promise<number>;
  /** deletes published rows past the retention now; resolves with how many it deleted */
  prune(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Moves committed outbox rows to the stream, one batch at a time, in id order. Only one relay
 * per schema works at a time (a session advisory lock), so replicas never reorder events; the
 * others wait and take over if it dies.
 */
export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const { pool, schemaName, redis, stream, logger } = options;
  const batchSize = options.batchSize ?? 500;
  const pollMs = options.pollMs ?? 1_000;
  const maxLength = options.maxStreamLength ?? 1_000_000;
  const retainMs = options.retainPublishedMs === undefined ? defaultOutboxRetentionMs : options.retainPublishedMs;
  const pruneEveryMs = options.pruneEveryMs ?? 10 * 60_000;
  const pruneBatch = 5_000;
  let prunedAt = 0;
  const table = `"${schemaName}"."outbox"`;
  let stopped = false;
  let wake: (() => void) | null = null;
  let holdsLock = false;

  // The LISTEN connection also holds the relay's advisory lock. Postgres may end it (a restart,
  // a dropped database, an administrator): the client then emits 'error', which without a
  // listener would crash the process. The relay forgets it and the loop opens a new one; the lock
  // went with the old session, so it is taken again there.
  let listener: pg.PoolClient | null = null;
  const connectListener = async (): Promise<pg.PoolClient> => {
    const client = await pool.connect();
    client.on('error', (error) => {
      logger.warn('outbox relay lost its Postgres connection; reconnecting', { schema: schemaName, error: error.message });
      if (listener !== client) return;
      listener = null;
      holdsLock = false;
      client.release(error);
    });
    client.on('notification', () => wake?.());
    try {
      await client.query(`LISTEN ${outboxChannel(schemaName)}`);
    } catch (error) {
      client.release(error instanceof Error ? error : true);
      throw error;
    }
    listener = client;
    return client;
  };
  await connectListener();

  const publishBatch = async (): Promise<number> => {
    const { rows } = await pool.query<{ id: string; envelope: AnyEvent }>(
      `SELECT id, envelope FROM ${table} WHERE published_at IS NULL ORDER BY id LIMIT $1`,
      [batchSize],
    );
    if (rows.length === 0) return 0;
    const pipeline = redis.pipeline();
    for (const row of rows) pipeline.xadd(stream, 'MAXLEN', '~', String(maxLength), '*', 'event', JSON.stringify(row.envelope));
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error);
    if (failed?.[0]) throw failed[0];
    await options.afterPublish?.(rows.map((row) => row.envelope.id));
    await pool.query(`UPDATE ${table} SET published_at = now() WHERE id = ANY($1::bigint[])`, [rows.map((row) => row.id)]);
    return rows.length;
  };

  const drainAll = async (): Promise<number> => {
    let moved = 0;
    for (;;) {
      const count = await publishBatch();
      moved += count;
      if (count < batchSize) return moved;
    }
  };
  // The loop and explicit drain() calls take turns, so two batches are never in flight at once
  // (which would publish the same rows twice, out of order).
  let turn: Promise<unknown> = Promise.resolve();
  const drain = (): Promise<number> => {
    const next = turn.then(drainAll, drainAll);
    turn = next.catch(() => undefined);
    return next;
  };

  // Small batches, oldest ids first (the primary key walks straight to them): a week of events
  // deleted at once would hold row locks and bloat one transaction for nothing.
  const prune = async (): Promise<number> => {
    if (retainMs === null) return 0;
    let removed = 0;
    for (;;) {
      const { rowCount } = await pool.query(
        `DELETE FROM ${table} WHERE id IN (
           SELECT id FROM ${table} WHERE published_at < now() - make_interval(secs => $1) ORDER BY id LIMIT $2)`,
        [retainMs / 1000, pruneBatch],
      );
      removed += rowCount ?? 0;
      if ((rowCount ?? 0) < pruneBatch) return removed;
    }
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      // stop() may come while the loop is busy (no sleep to wake): then it must not start one.
      if (stopped) return resolve();
      const timer = setTimeout(() => {
        wake = null;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        wake = null;
        resolve();
      };
    });

  const loop = (async () => {
    while (!stopped) {
      try {
        if (!holdsLock) {
          const { rows } = await (listener ?? (await connectListener())).query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [`relay:${schemaName}`]);
          holdsLock = rows[0]?.locked === true;
          if (!holdsLock) {
            await sleep(pollMs);
            continue;
          }
          logger.info('outbox relay active', { schema: schemaName, stream });
        }
        const moved = await drain();
        if (moved > 0) logger.debug('outbox relay published', { schema: schemaName, count: moved });
        if (retainMs !== null && Date.now() - prunedAt >= pruneEveryMs) {
          prunedAt = Date.now();
          const removed = await prune();
          if (removed > 0) logger.info('outbox relay pruned published rows', { schema: schemaName, count: removed, retainHours: retainMs / 3_600_000 });
        }
        await sleep(pollMs);
      } catch (error) {
        logger.warn('outbox relay failed; retrying', { schema: schemaName, error: error instanceof Error ? error.message : String(error) });
        await sleep(Math.min(pollMs, 1_000));
      }
    }
  })();

  return {
    drain,
    prune,
    stop: async () => {
      stopped = true;
      wake?.();
      await loop;
      const client = listener;
      listener = null;
      if (!client) return;
      if (holdsLock) await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`relay:${schemaName}`]).catch(() => undefined);
      client.release();
    },
  };
}

/**
 * Consumer side: ids of events already applied, in the consumer's own schema. Indexed by
 * processed_at for the consumer's retention (oldest first, in batches).
 */
export function processedEventsTable(schema: PgSchema) {
  return schema.table(
    'processed_events',
    {
      eventId: uuid('event_id').primaryKey(),
      processedAt: timestamp('processed_at', { withTimezone: true }).notNull().defaultNow(),
    },
    (table) => [index('processed_events_processed_at_idx').on(table.processedAt)],
  );
}

export type ProcessedEventsTable = ReturnType<typeof processedEventsTable>;

/**
 * Runs `apply` in a transaction only if this event id was never applied: the id is recorded in
 * the same transaction as the consumer's own write, so a redelivered event changes nothing.
 * Resolves true when it applied the event.
 */
export async function applyOnce(db: Database, table: ProcessedEventsTable, eventId: string, apply: (tx: Database) => Promise<void>): Promise<boolean> {
  return db.transaction(async (tx) => {
    const inserted = await tx.insert(table).values({ eventId }).onConflictDoNothing().returning({ eventId: table.eventId });
    if (inserted.length === 0) return false;
    await apply(tx);
    return true;
  });
}

/**
 * A producer subgraph's relay with a small pool of its own: its LISTEN connection is held for
 * the process's life and must not take a slot from requests. stop() stops the relay, then the pool.
 */
export async function startProducerRelay(options: {
  databaseUrl: string;
  schemaName: string;
  redis: Redis;
  stream: string;
  logger: Logger;
  /** See OutboxRelayOptions.retainPublishedMs. */
  retainPublishedMs?: number | null;
}): Promise<{ stop(): Promise<void> }> {
  const postgres = connectPostgres(options.databaseUrl, { applicationName: `${options.schemaName}-outbox-relay`, max: 2, logger: options.logger });
  try {
    await checkPostgres(postgres.pool);
    const relay = await startOutboxRelay({
      pool: postgres.pool,
      schemaName: options.schemaName,
      redis: options.redis,
      stream: options.stream,
      logger: options.logger,
      retainPublishedMs: options.retainPublishedMs,
    });
    return {
      stop: async () => {
        await relay.stop();
        await postgres.close();
      },
    };
  } catch (error) {
    await postgres.close();
    throw error;
  }
}
