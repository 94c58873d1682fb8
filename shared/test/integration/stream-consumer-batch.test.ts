import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createEvent, type AnyEvent } from '../../src/events.ts';
import { createLogger } from '../../src/logger.ts';
import { startStreamConsumer, type StreamEvent } from '../../src/stream-consumer.ts';

// startStreamConsumer with a batch handler, on real Redis: a read is handed over whole and
// acknowledged only after the handler resolves; when the batch fails, its events go one by one
// through `handle`, so a poison event is dead-lettered alone and the others still apply.

const logger = createLogger('stream-consumer-test', { sink: () => {} });
const redisUrl = inject('services').redisUrl;
const redis = new Redis(redisUrl);
const streamsUsed: string[] = [];
const newStream = (): string => {
  const stream = `test:stream-consumer:${randomUUID()}`;
  streamsUsed.push(stream, `${stream}:dead`);
  return stream;
};
afterAll(async () => {
  if (streamsUsed.length > 0) await redis.del(...streamsUsed);
  redis.disconnect();
});

const ratingEvent = (movieId: number): AnyEvent => {
  const userId = randomUUID();
  return createEvent('reviews', 'review.upserted', {
    userId, movieId, rating: 3, hasComment: false, previousRating: null, previousHasComment: null, actorId: userId, at: new Date().toISOString(),
  });
};

const until = async (condition: () => Promise<boolean>): Promise<void> => {
  const deadline = Date.now() + 20_000; // a guard against a hung consumer, not a timing assertion
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};
const pendingCount = async (stream: string, group: string): Promise<number> => {
  const summary = (await redis.xpending(stream, group)) as [number, ...unknown[]];
  return summary[0];
};

describe('startStreamConsumer with handleBatch', () => {
  it('hands a whole read to the batch handler and acknowledges it only after the handler resolves', async () => {
    const stream = newStream();
    const group = 'batch-test';
    const events = Array.from({ length: 25 }, (_, index) => ratingEvent(index + 1));
    for (const event of events) await redis.xadd(stream, '*', 'event', JSON.stringify(event));
    const batches: string[][] = [];
    const pendingWhileHandling: number[] = [];
    const consumer = await startStreamConsumer({
      redis: redis.duplicate(), streams: [stream], group, consumer: 'one', logger, batchSize: 200,
      handle: () => Promise.reject(new Error('handle must not be called')),
      handleBatch: async (batch: StreamEvent[]) => {
        pendingWhileHandling.push(await pendingCount(stream, group));
        batches.push(batch.map(({ event }) => event.id));
        expect(batch.every((entry) => entry.stream === stream && /^\d+-\d+$/.test(entry.entryId))).toBe(true);
      },
    });
    try {
      await until(async () => batches.length > 0 && (await pendingCount(stream, group)) === 0);
    } finally {
      await consumer.stop();
    }
    expect(batches).toEqual([events.map((event) => event.id)]);
    expect(pendingWhileHandling).toEqual([25]);
    expect(await redis.exists(`${stream}:dead`)).toBe(0);
  });

  it('falls back to one by one when a batch fails: a poison event is dead-lettered, the rest apply', async () => {
    const stream = newStream();
    const group = 'batch-test';
    const events = Array.from({ length: 9 }, (_, index) => ratingEvent(index + 1));
    const poison = events[4];
    if (!poison) throw new Error('nine events');
    for (const [index, event] of events.entries()) {
      await redis.xadd(stream, '*', 'event', JSON.stringify(event));
      if (index === 2) await redis.xadd(stream, '*', 'event', 'not json');
    }
    const applied: string[] = [];
    let batchCalls = 0;
    const consumer = await startStreamConsumer({
      redis: redis.duplicate(), streams: [stream], group, consumer: 'one', logger, maxDeliveries: 2,
      handle: async (event) => {
        if (event.id === poison.id) throw new Error('poison');
        if (!applied.includes(event.id)) applied.push(event.id);
      },
      handleBatch: async (batch) => {
        batchCalls += 1;
        if (batch.some(({ event }) => event.id === poison.id)) throw new Error('the batch holds the poison event');
        for (const { event } of batch) if (!applied.includes(event.id)) applied.push(event.id);
      },
    });
    try {
      await until(async () => (await redis.xlen(`${stream}:dead`)) === 2 && (await pendingCount(stream, group)) === 0);
    } finally {
      await consumer.stop();
    }
    expect(batchCalls).toBeGreaterThanOrEqual(2);
    expect(applied).toEqual(events.filter((event) => event !== poison).map((event) => event.id));
    const dead = await redis.xrange(`${stream}:dead`, '-', '+');
    expect(dead.map(([, fields]) => fields[fields.indexOf('event') + 1])).toEqual(['not json', JSON.stringify(poison)]);
  });
});
