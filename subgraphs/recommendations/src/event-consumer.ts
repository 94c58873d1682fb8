import { hostname } from 'node:os';
import neo4j, { type Driver } from 'neo4j-driver';
import { EventFormatError, parseEvent, type AnyEvent, type Logger, type Redis } from '@platform/shared';
import { checkEventApplies, graphEventStreams, prepareEventBatch } from './graph-events.ts';
import { preparedRowCount, writeGraphChanges } from './graph.ts';
import { isGraphUnavailable } from './graph-errors.ts';

// Keeps the like-graph current from the event streams (consumer group `recommendations`).
//
// Why not @platform/shared's startStreamConsumer: it calls its handler and acknowledges one event
// at a time, so events cannot share a transaction; and it dead-letters any event that failed 10
// deliveries, which during a Neo4j outage of a minute would throw away perfectly good events.
// This consumer keeps the same stream conventions (groups created from 0 with MKSTREAM,
// `<stream>:dead` entries with event/reason/group, XAUTOCLAIM of a dead consumer's entries) but:
//
// - writes every event of a read (up to `batchSize` per stream) in ONE Neo4j transaction and
//   acknowledges them only after it committed; a crash before the XACK re-delivers, and the
//   idempotent latest-wins writes make the re-delivery change nothing;
// - never dead-letters because Neo4j is unavailable: the entries stay pending and are retried
//   with exponential backoff for as long as it takes;
// - dead-letters an event only for reasons that cannot go away: an unreadable envelope, a payload
//   it cannot apply, or (after `maxDeliveries`) a write Neo4j keeps refusing. To find the culprit
//   of a refused batch it retries that batch one event at a time, in stream order.

export const graphEventGroup = 'recommendations';

/** Unique per process, stable for its life; a restarted process's leftovers are claimed after claimIdleMs. */
export const defaultConsumerName = (): string => `${hostname()}-${process.pid}`;

export interface GraphEventConsumerOptions {
  /** A dedicated connection: XREADGROUP BLOCK holds it. The consumer disconnects it on stop. */
  redis: Redis;
  driver: Driver;
  logger: Logger;
  streams?: readonly string[];
  group?: string;
  consumer?: string;
  /** Entries read per stream per round; all of a round go into one transaction. */
  batchSize?: number;
  blockMs?: number;
  /** Pending entries idle this long (their consumer died) are claimed by this one. */
  claimIdleMs?: number;
  /** Deliveries after which an event Neo4j keeps refusing (not: Neo4j down) is dead-lettered. */
  maxDeliveries?: number;
  /** First and longest wait between retries of a failed round. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  transactionTimeoutMs?: number;
  /** While false (the graph schema is not in place yet) nothing is read or written. */
  isGraphReady?: () => boolean;
  /**
   * Told about every event once it is committed to Neo4j and acknowledged, in stream order per
   * stream (cache invalidation and live messages, see live-updates.ts). Called on the consumer's
   * loop, so it must only schedule work; what it throws is logged and ignored.
   */
  onApplied?: (events: readonly AnyEvent[]) => void;
}

export interface StreamLag {
  stream: string;
  /** Not yet applied to the graph: undelivered + unacknowledged; null when Redis cannot tell. */
  pending: number | null;
  /** Not yet read by the group (XINFO GROUPS `lag`); null when Redis cannot tell (e.g. after trimming). */
  undelivered: number | null;
  /** Read but not yet applied and acknowledged: being retried or in flight. */
  unacknowledged: number;
}

export interface GraphEventConsumer {
  stop(): Promise<void>;
  /** How far the graph is behind, per stream. */
  lag(): Promise<StreamLag[]>;
}

interface StreamEntry {
  stream: string;
  id: string;
  text: string | undefined;
}

interface ReadyEntry extends StreamEntry {
  event: AnyEvent;
}

type StreamReply = [stream: string, entries: [id: string, fields: string[]][]][];

function eventText(fields: readonly string[]): string | undefined {
  for (let index = 0; index + 1 < fields.length; index += 2) if (fields[index] === 'event') return fields[index + 1];
  return undefined;
}

function flatten(reply: StreamReply | null): StreamEntry[] {
  return (reply ?? []).flatMap(([stream, entries]) => entries.map(([id, fields]) => ({ stream, id, text: eventText(fields) })));
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** XINFO replies are flat [name, value, name, value, ...] lists. */
function field(reply: readonly unknown[], name: string): unknown {
  for (let index = 0; index + 1 < reply.length; index += 2) if (reply[index] === name) return reply[index + 1];
  return undefined;
}

export async function startGraphEventConsumer(options: GraphEventConsumerOptions): Promise<GraphEventConsumer> {
  const { redis, driver, logger } = options;
  const streams = [...(options.streams ?? graphEventStreams)];
  const group = options.group ?? graphEventGroup;
  const consumer = options.consumer ?? defaultConsumerName();
  const batchSize = options.batchSize ?? 500;
  const blockMs = options.blockMs ?? 2_000;
  const claimIdleMs = options.claimIdleMs ?? 60_000;
  const maxDeliveries = options.maxDeliveries ?? 10;
  const retryInitialMs = options.retryInitialMs ?? 250;
  const retryMaxMs = options.retryMaxMs ?? 10_000;
  const transactionTimeoutMs = options.transactionTimeoutMs ?? 60_000;
  const isGraphReady = options.isGraphReady ?? (() => true);
  const log = logger.child({ component: 'graph-event-consumer', group, consumer });
  const reportApplied = (entries: readonly ReadyEntry[]): void => {
    try {
      options.onApplied?.(entries.map((entry) => entry.event));
    } catch (error) {
      log.warn('onApplied failed; the events stay applied', { error: messageOf(error) });
    }
  };

  // Acks, claims and XINFO go over a second connection while `redis` blocks in XREADGROUP.
  const control = redis.duplicate();
  control.on('error', (error: Error) => log.warn('redis error', { error: error.message }));
  try {
    for (const stream of streams) {
      try {
        // From 0: a group created now (first deployment, or after its deletion) applies the
        // whole retained history, which the idempotent writes make safe.
        await control.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
      } catch (error) {
        if (!messageOf(error).includes('BUSYGROUP')) throw error;
      }
    }
  } catch (error) {
    control.disconnect();
    throw error;
  }

  let stopped = false;
  let wake: () => void = () => {};
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const acknowledge = async (entries: readonly StreamEntry[]): Promise<void> => {
    const byStream = new Map<string, string[]>();
    for (const entry of entries) byStream.set(entry.stream, [...(byStream.get(entry.stream) ?? []), entry.id]);
    for (const [stream, ids] of byStream) await control.xack(stream, group, ...ids);
  };

  const deadLetter = async (entry: StreamEntry, reason: string): Promise<void> => {
    await control.xadd(`${entry.stream}:dead`, '*', 'event', entry.text ?? '', 'reason', reason, 'group', group);
    await control.xack(entry.stream, group, entry.id);
    log.error('event moved to the dead-letter stream', { stream: entry.stream, id: entry.id, reason });
  };

  const deliveriesOf = async (entry: StreamEntry): Promise<number> => {
    const reply = (await control.xpending(entry.stream, group, entry.id, entry.id, 1)) as [string, string, number, number][];
    return reply[0]?.[3] ?? 0;
  };

  /** One transaction for all the entries; resolves once Neo4j committed it. */
  const apply = async (entries: readonly ReadyEntry[]): Promise<void> => {
    const prepared = prepareEventBatch(entries.map((entry) => entry.event));
    // An explicit transaction, not executeWrite: the driver's own retry loop (30 s) would hold up
    // stop() and hide the outage from our backoff, which retries anyway.
    const session = driver.session({ defaultAccessMode: neo4j.session.WRITE });
    try {
      const tx = await session.beginTransaction({ timeout: transactionTimeoutMs });
      try {
        await writeGraphChanges(tx, prepared);
        await tx.commit();
      } finally {
        if (tx.isOpen()) await tx.rollback().catch(() => undefined);
      }
    } finally {
      await session.close().catch(() => undefined);
    }
    log.debug('events applied', { events: entries.length, rows: preparedRowCount(prepared) });
  };

  /**
   * Retries a batch Neo4j refused (for a reason other than being unavailable) one event at a
   * time, so the good ones are applied and the bad one is found. A stream stops at its first
   * failing event, which keeps the rest of that stream in order behind it.
   */
  const applyOneByOne = async (entries: readonly ReadyEntry[]): Promise<boolean> => {
    const blocked = new Set<string>();
    for (const entry of entries) {
      if (stopped) return false;
      if (blocked.has(entry.stream)) continue;
      try {
        await apply([entry]);
        await acknowledge([entry]);
        reportApplied([entry]);
      } catch (error) {
        if (isGraphUnavailable(error)) throw error;
        if ((await deliveriesOf(entry)) >= maxDeliveries) {
          await deadLetter(entry, `neo4j refused it ${maxDeliveries} times: ${messageOf(error)}`);
        } else {
          log.warn('event not applied; it stays pending and is retried', { stream: entry.stream, id: entry.id, type: entry.event.type, error: messageOf(error) });
          blocked.add(entry.stream);
        }
      }
    }
    return blocked.size === 0;
  };

  /** True when every entry was applied (or dead-lettered) and acknowledged. */
  const processRound = async (entries: readonly StreamEntry[]): Promise<boolean> => {
    const ready: ReadyEntry[] = [];
    for (const entry of entries) {
      let event: AnyEvent;
      try {
        event = parseEvent(entry.text ?? '');
        checkEventApplies(event);
      } catch (error) {
        // Unreadable (EventFormatError) or unusable (EventPayloadError): no retry can fix it.
        await deadLetter(entry, error instanceof EventFormatError ? error.message : messageOf(error));
        continue;
      }
      ready.push({ ...entry, event });
    }
    if (ready.length === 0) return true;
    try {
      await apply(ready);
    } catch (error) {
      if (isGraphUnavailable(error)) throw error;
      log.warn('a batch of events was refused; retrying it one event at a time', { events: ready.length, error: messageOf(error) });
      return applyOneByOne(ready);
    }
    await acknowledge(ready);
    reportApplied(ready);
    return true;
  };

  const readOwnPending = async (): Promise<StreamEntry[]> =>
    flatten((await redis.xreadgroup('GROUP', group, consumer, 'COUNT', batchSize, 'STREAMS', ...streams, ...streams.map(() => '0'))) as StreamReply | null);

  const readNew = async (): Promise<StreamEntry[]> =>
    flatten(
      (await redis.xreadgroup('GROUP', group, consumer, 'COUNT', batchSize, 'BLOCK', blockMs, 'STREAMS', ...streams, ...streams.map(() => '>'))) as StreamReply | null,
    );

  /** Takes over entries of consumers that died (each process has its own name, so a restart leaves some). */
  const claimAbandoned = async (): Promise<void> => {
    for (const stream of streams) {
      const [, claimed] = (await control.xautoclaim(stream, group, consumer, claimIdleMs, '0-0', 'COUNT', batchSize)) as [string, unknown[]];
      if (claimed.length > 0) log.info('claimed events of a consumer that stopped', { stream, count: claimed.length });
      // Names of dead processes would pile up in the group; one without pending entries is only a name.
      const consumers = (await control.xinfo('CONSUMERS', stream, group)) as unknown[][];
      for (const info of consumers) {
        const name = field(info, 'name');
        if (typeof name === 'string' && name !== consumer && field(info, 'pending') === 0 && Number(field(info, 'idle')) > claimIdleMs * 10) {
          await control.xgroup('DELCONSUMER', stream, group, name);
        }
      }
    }
  };

  const loop = (async () => {
    let lastClaim = 0;
    let retryMs = 0;
    let failures = 0;
    const backOff = () => {
      retryMs = Math.min(retryMs === 0 ? retryInitialMs : retryMs * 2, retryMaxMs);
    };
    while (!stopped) {
      try {
        if (retryMs > 0) await pause(retryMs);
        if (stopped) break;
        if (!isGraphReady()) {
          backOff();
          continue;
        }
        if (Date.now() - lastClaim > claimIdleMs) {
          await claimAbandoned();
          lastClaim = Date.now();
        }
        // Entries already delivered to us (a failed round, a crash, claimed ones) come first, so
        // nothing newer of a stream is applied before them.
        const pending = await readOwnPending();
        const entries = pending.length > 0 ? pending : await readNew();
        if (entries.length === 0) {
          retryMs = 0;
          continue;
        }
        if (await processRound(entries)) {
          if (failures > 0) log.info('events are being applied again', { afterFailedRounds: failures });
          failures = 0;
          retryMs = 0;
        } else {
          failures += 1;
          backOff();
        }
      } catch (error) {
        if (stopped) break;
        failures += 1;
        backOff();
        // Neo4j or Redis down: expected during outages, so one warning per failed round with
        // the next wait; the entries stay pending and nothing is lost.
        log.warn(isGraphUnavailable(error) ? 'neo4j unavailable; events stay pending' : 'event consumer error; retrying', {
          error: messageOf(error),
          retryInMs: retryMs,
          failedRounds: failures,
        });
      }
    }
  })();

  return {
    async stop() {
      if (stopped) return loop;
      stopped = true;
      // Ends a backoff wait at once; a transaction in flight finishes (and is acknowledged) first.
      wake();
      redis.disconnect(); // interrupts a blocking read
      await loop;
      control.disconnect();
    },
    async lag() {
      const result: StreamLag[] = [];
      for (const stream of streams) {
        const groups = (await control.xinfo('GROUPS', stream)) as unknown[][];
        const mine = groups.find((info) => field(info, 'name') === group);
        const lag = mine ? field(mine, 'lag') : null;
        const undelivered = typeof lag === 'number' ? lag : null;
        const unacknowledged = mine ? Number(field(mine, 'pending') ?? 0) : 0;
        result.push({ stream, pending: undelivered === null ? null : undelivered + unacknowledged, undelivered, unacknowledged });
      }
      return result;
    },
  };
}
