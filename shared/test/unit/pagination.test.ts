import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, pageSize, toConnection } from '../../src/pagination.ts';

const isOffset = (value: unknown): value is { o: number } =>
  typeof value === 'object' && value !== null && typeof (value as { o?: unknown }).o === 'number';

describe('pagination helpers', () => {
  it('round-trips cursors and rejects foreign ones with BAD_USER_INPUT', () => {
    expect(decodeCursor(encodeCursor({ o: 5 }), isOffset)).toEqual({ o: 5 });
    for (const bad of ['%%%', encodeCursor({ x: 1 }), 'eyJ']) {
      expect(() => decodeCursor(bad, isOffset)).toThrowError(/after: is not a cursor returned by this API/);
    }
  });

  it('bounds the page size', () => {
    expect(pageSize(undefined)).toBe(20);
    expect(pageSize(100)).toBe(100);
    for (const bad of [0, -1, 101, 2.5]) expect(() => pageSize(bad)).toThrowError(/first: must be between 1 and 100/);
  });

  it('uses the extra row only to say that another page exists', () => {
    const connection = toConnection([1, 2, 3], 2, 10, (n) => `c${n}`, false);
    expect(connection.edges.map((edge) => edge.node)).toEqual([1, 2]);
    expect(connection.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false, startCursor: 'c1', endCursor: 'c2' });
  });
});
