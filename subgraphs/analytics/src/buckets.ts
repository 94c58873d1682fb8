import type { Granularity } from './tables.ts';

// Bucket arithmetic in UTC, the same as PostgreSQL's date_trunc on `timestamptz AT TIME ZONE 'UTC'`
// (the backfill groups with that): hours, days, and ISO weeks that start on Monday 00:00 UTC.
// Fixed lengths hold because UTC has no daylight-saving shifts.

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;

export const bucketLengthMs: { readonly [G in Granularity]: number } = { HOUR: hourMs, DAY: dayMs, WEEK: 7 * dayMs };

/** The start of the bucket of this granularity that contains `at`. */
export function bucketStart(at: Date, granularity: Granularity): Date {
  const time = at.getTime();
  if (granularity === 'HOUR') return new Date(Math.floor(time / hourMs) * hourMs);
  const day = Math.floor(time / dayMs) * dayMs;
  if (granularity === 'DAY') return new Date(day);
  const daysSinceMonday = (new Date(day).getUTCDay() + 6) % 7;
  return new Date(day - daysSinceMonday * dayMs);
}

/** Starts of the buckets from the one containing `from` up to (excluding) `to`. */
export function bucketStarts(from: Date, to: Date, granularity: Granularity): Date[] {
  const starts: Date[] = [];
  for (let start = bucketStart(from, granularity).getTime(); start < to.getTime(); start += bucketLengthMs[granularity]) starts.push(new Date(start));
  return starts;
}

/** How many buckets bucketStarts would return, without building them (for validation). */
export function bucketCount(from: Date, to: Date, granularity: Granularity): number {
  const first = bucketStart(from, granularity).getTime();
  return Math.max(0, Math.ceil((to.getTime() - first) / bucketLengthMs[granularity]));
}
