import { describe, expect, it } from 'vitest';
import { ConfigError, envReader } from '../../src/config.ts';
import { readPostgresSubgraphConfig } from '../../src/postgres-subgraph.ts';

describe('envReader', () => {
  it('uses defaults when a variable is unset or blank', () => {
    const read = envReader({ PORT: '  ' });
    expect(read.port('PORT', 4001)).toBe(4001);
    expect(read.string('HOST', '127.0.0.1')).toBe('127.0.0.1');
  });

  it('names the variable and the problem in one line', () => {
    const read = envReader({ PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG: 'maybe' });
    expect(() => read.port('PORT', 1)).toThrowError(new ConfigError('PORT', 'must be a whole number, got "eighty"'));
    expect(() => read.url('DATABASE_URL', ['postgres:'])).toThrowError(/DATABASE_URL must use postgres:, got "mysql:"/);
    expect(() => read.bool('LOG', false)).toThrowError(/LOG must be true or false/);
    expect(() => read.string('MISSING')).toThrowError(/MISSING is required but not set/);
    expect(() => envReader({ PORT: '70000' }).port('PORT', 1)).toThrowError(/PORT must be <= 65535/);
    expect(() => envReader({ U: 'not a url' }).url('U', ['http:'])).toThrowError(/U is not a valid URL/);
  });

  it('accepts only the listed choices', () => {
    expect(envReader({ LOG_LEVEL: 'warn' }).oneOf('LOG_LEVEL', ['info', 'warn'] as const, 'info')).toBe('warn');
    expect(() => envReader({ LOG_LEVEL: 'loud' }).oneOf('LOG_LEVEL', ['info', 'warn'] as const, 'info')).toThrowError(
      /must be one of info, warn/,
    );
  });
});

describe('readPostgresSubgraphConfig: OUTBOX_RETENTION_HOURS', () => {
  const base = { DATABASE_URL: 'postgres://127.0.0.1/db' };
  it('keeps published outbox rows a week by default, the given hours otherwise, for ever with 0', () => {
    expect(readPostgresSubgraphConfig(base, 4002).outboxRetentionMs).toBe(168 * 3_600_000);
    expect(readPostgresSubgraphConfig({ ...base, OUTBOX_RETENTION_HOURS: '24' }, 4002).outboxRetentionMs).toBe(86_400_000);
    expect(readPostgresSubgraphConfig({ ...base, OUTBOX_RETENTION_HOURS: '0' }, 4002).outboxRetentionMs).toBeNull();
    expect(() => readPostgresSubgraphConfig({ ...base, OUTBOX_RETENTION_HOURS: '-1' }, 4002)).toThrowError(/OUTBOX_RETENTION_HOURS must be >= 0/);
    expect(() => readPostgresSubgraphConfig({ ...base, OUTBOX_RETENTION_HOURS: 'a week' }, 4002)).toThrowError(/OUTBOX_RETENTION_HOURS must be a whole number/);
  });
});
