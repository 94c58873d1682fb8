import { describe, expect, it } from 'vitest';
import { tombstoneCutoff } from '../../src/tombstones.ts';

const hour = 3_600_000;
const day = 24 * hour;

describe('tombstoneCutoff', () => {
  const now = Date.UTC(2026, 10, 22);

  it('is the retention alone when the streams hold nothing', () => {
    expect(tombstoneCutoff(now, 30 * day, null, hour)).toBe(now - 30 * day);
  });

  it('stops before the oldest entry a stream still holds, less the clock margin', () => {
    expect(tombstoneCutoff(now, 30 * day, now - 40 * day, hour)).toBe(now - 40 * day - hour);
    // A young oldest entry leaves the retention in charge.
    expect(tombstoneCutoff(now, 30 * day, now - day, hour)).toBe(now - 30 * day);
  });

  it('never goes below 0 and is whole milliseconds', () => {
    expect(tombstoneCutoff(10, 30 * day, null, hour)).toBe(0);
    expect(tombstoneCutoff(now + 0.7, 1.5, null, 0)).toBe(now - 1);
  });
});
