import { describe, expect, it, vi } from 'vitest';
import { EventQueue, mapEventStream } from '@platform/shared';

// The per-subscription buffer between an event source and a (possibly slow) socket, and the
// in-order mapping of its events: drop-oldest with a count, drain before the end, and an
// immediate teardown when the consumer goes away.

const take = async <T>(iterator: AsyncIterator<T>, count: number): Promise<T[]> => {
  const values: T[] = [];
  for (let index = 0; index < count; index += 1) {
    const item = await iterator.next();
    if (item.done) break;
    values.push(item.value);
  }
  return values;
};

describe('EventQueue', () => {
  it('hands events to a waiting consumer in order', async () => {
    const queue = new EventQueue<number>({ capacity: 3 });
    const first = queue.next();
    queue.push(1);
    queue.push(2);
    expect(await first).toEqual({ done: false, value: 1 });
    expect(await queue.next()).toEqual({ done: false, value: 2 });
  });

  it('drops the oldest waiting events when full, and counts them', async () => {
    const onDrop = vi.fn();
    const queue = new EventQueue<number>({ capacity: 3, onDrop });
    for (const value of [1, 2, 3, 4, 5]) expect(queue.push(value)).toBe(true);
    expect(queue.size).toBe(3);
    expect(onDrop).toHaveBeenCalledTimes(2);
    expect(onDrop).toHaveBeenLastCalledWith(2);
    expect(await take(queue, 3)).toEqual([3, 4, 5]);
    expect(queue.takeDropped()).toBe(2);
    // The count restarts after it was reported.
    expect(queue.takeDropped()).toBe(0);
  });

  it('delivers what is buffered before the end', async () => {
    const queue = new EventQueue<string>({ capacity: 10 });
    queue.push('a');
    queue.push('b');
    queue.end();
    expect(queue.push('late')).toBe(false);
    expect(await take(queue, 5)).toEqual(['a', 'b']);
    expect(await queue.next()).toEqual({ done: true, value: undefined });
  });

  it('delivers what is buffered, then the failure once, then the end', async () => {
    const queue = new EventQueue<string>({ capacity: 10 });
    queue.push('a');
    queue.fail(new Error('upstream closed'));
    expect(await queue.next()).toEqual({ done: false, value: 'a' });
    await expect(queue.next()).rejects.toThrow('upstream closed');
    expect(await queue.next()).toEqual({ done: true, value: undefined });
  });

  it('rejects a waiting consumer at once when the producer fails', async () => {
    const queue = new EventQueue<string>({ capacity: 10 });
    const waiting = queue.next();
    queue.fail(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
  });

  it('return() discards the buffer, wakes a waiting next() and tells the producer once', async () => {
    const onClose = vi.fn();
    const queue = new EventQueue<number>({ capacity: 10, onClose });
    const waiting = queue.next();
    await queue.return();
    await queue.return();
    expect(await waiting).toEqual({ done: true, value: undefined });
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(queue.push(1)).toBe(false);
    expect(queue.open).toBe(false);
    expect(await queue.next()).toEqual({ done: true, value: undefined });
  });

  it('refuses a capacity below one', () => {
    expect(() => new EventQueue({ capacity: 0 })).toThrow(RangeError);
  });
});

describe('mapEventStream', () => {
  it('maps events one at a time, in order, even when later maps would be faster', async () => {
    const queue = new EventQueue<number>({ capacity: 10 });
    const started: number[] = [];
    const stream = mapEventStream(queue, async (value) => {
      started.push(value);
      await new Promise((resolve) => setTimeout(resolve, value === 1 ? 30 : 1));
      return value * 10;
    });
    queue.push(1);
    queue.push(2);
    queue.push(3);
    queue.end();
    expect(await take(stream, 5)).toEqual([10, 20, 30]);
    expect(started).toEqual([1, 2, 3]);
  });

  it('return() reaches the source at once, also while waiting for an event', async () => {
    const onClose = vi.fn();
    const queue = new EventQueue<number>({ capacity: 10, onClose });
    const stream = mapEventStream(queue, async (value) => value);
    const waiting = stream.next();
    await stream.return();
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(await waiting).toEqual({ done: true, value: undefined });
  });

  it('discards a result whose map finished after return()', async () => {
    const queue = new EventQueue<number>({ capacity: 10 });
    let release: () => void = () => undefined;
    const stream = mapEventStream(queue, (value) => new Promise<number>((resolve) => (release = () => resolve(value))));
    queue.push(1);
    const pending = stream.next();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await stream.return();
    release();
    expect(await pending).toEqual({ done: true, value: undefined });
  });

  it('ends the source when a map fails, so nothing stays subscribed', async () => {
    const onClose = vi.fn();
    const queue = new EventQueue<number>({ capacity: 10, onClose });
    const stream = mapEventStream(queue, async () => {
      throw new Error('map failed');
    });
    queue.push(1);
    await expect(stream.next()).rejects.toThrow('map failed');
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(await stream.next()).toEqual({ done: true, value: undefined });
  });

  it('passes a source failure on after the events before it', async () => {
    const queue = new EventQueue<number>({ capacity: 10 });
    const stream = mapEventStream(queue, async (value) => value + 1);
    queue.push(1);
    queue.fail(new Error('closed'));
    expect(await stream.next()).toEqual({ done: false, value: 2 });
    await expect(stream.next()).rejects.toThrow('closed');
  });
});
