import { eq } from 'drizzle-orm';
import type { Database } from '@platform/shared';
import { platformTotals } from './tables.ts';

export type TotalsRow = typeof platformTotals.$inferSelect;

export function createAnalyticsData(db: Database) {
  return {
    /** One primary-key read, whatever the size of the platform. */
    async totals(): Promise<TotalsRow> {
      const [row] = await db.select().from(platformTotals).where(eq(platformTotals.id, 1));
      // Migration 0001 creates the row; its absence means the schema was not migrated.
      if (!row) throw new Error('analytics.platform_totals has no row; run `npm run migrate`');
      return row;
    },
  };
}

export type AnalyticsData = ReturnType<typeof createAnalyticsData>;
