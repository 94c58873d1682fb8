import { describe, expect, it } from 'vitest';
import { ConfigError } from '@platform/shared';
import { readAnalyticsConfig } from '../../src/index.ts';

const base = { DATABASE_URL: 'postgres://127.0.0.1:5432/platform' };

describe('readAnalyticsConfig', () => {
  it('keeps processed event ids 30 days unless told otherwise; 0 keeps them for ever', () => {
    expect(readAnalyticsConfig(base).processedEventsRetentionHours).toBe(720);
    expect(readAnalyticsConfig({ ...base, ANALYTICS_PROCESSED_EVENTS_RETENTION_HOURS: '0' }).processedEventsRetentionHours).toBe(0);
    expect(readAnalyticsConfig({ ...base, ANALYTICS_PROCESSED_EVENTS_RETENTION_HOURS: '24' }).processedEventsRetentionHours).toBe(24);
  });

  it('names the variable when the retention is not a whole number of hours in range', () => {
    for (const value of ['-1', 'a week', '100000']) {
      expect(() => readAnalyticsConfig({ ...base, ANALYTICS_PROCESSED_EVENTS_RETENTION_HOURS: value })).toThrow(ConfigError);
      expect(() => readAnalyticsConfig({ ...base, ANALYTICS_PROCESSED_EVENTS_RETENTION_HOURS: value })).toThrow(/^ANALYTICS_PROCESSED_EVENTS_RETENTION_HOURS/);
    }
  });
});
