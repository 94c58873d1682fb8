import { describe, expect, it } from 'vitest';
import { ConfigError } from '@platform/shared';
import { readRecommendationsConfig } from '../../src/index.ts';

const base = { NEO4J_URI: 'bolt://127.0.0.1:7687', NEO4J_PASSWORD: 'secret-password' };

describe('readRecommendationsConfig', () => {
  it('has defaults for everything but the graph address and password', () => {
    const config = readRecommendationsConfig(base);
    expect(config.port).toBe(4004);
    expect(config.host).toBe('127.0.0.1');
    expect(config.neo4j).toEqual({ uri: 'bolt://127.0.0.1:7687', user: 'neo4j', password: 'secret-password' });
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(config.tombstoneRetentionHours).toBe(720);
  });

  it('reads the tombstone retention, 0 keeping them for ever', () => {
    expect(readRecommendationsConfig({ ...base, RECOMMENDATION_TOMBSTONE_RETENTION_HOURS: '0' }).tombstoneRetentionHours).toBe(0);
    expect(readRecommendationsConfig({ ...base, RECOMMENDATION_TOMBSTONE_RETENTION_HOURS: '48' }).tombstoneRetentionHours).toBe(48);
  });

  it('reads REDIS_URL for the event streams', () => {
    expect(readRecommendationsConfig({ ...base, REDIS_URL: 'rediss://cache:6380/2' }).redisUrl).toBe('rediss://cache:6380/2');
  });

  it('accepts neo4j:// routing URIs and their TLS variants', () => {
    expect(readRecommendationsConfig({ ...base, NEO4J_URI: 'neo4j://graph:7687' }).neo4j.uri).toBe('neo4j://graph:7687');
    expect(readRecommendationsConfig({ ...base, NEO4J_URI: 'neo4j+s://x.databases.example' }).neo4j.uri).toBe('neo4j+s://x.databases.example');
  });

  it('names the variable that is missing or wrong', () => {
    const problem = (env: Record<string, string>) => {
      try {
        readRecommendationsConfig(env);
      } catch (error) {
        return error instanceof ConfigError ? error.message : `not a ConfigError: ${String(error)}`;
      }
      return 'no error';
    };
    expect(problem({ NEO4J_PASSWORD: 'x' })).toMatch(/^NEO4J_URI is required/);
    expect(problem({ ...base, NEO4J_URI: 'http://127.0.0.1:7474' })).toMatch(/^NEO4J_URI must use bolt:/);
    expect(problem({ NEO4J_URI: base.NEO4J_URI })).toMatch(/^NEO4J_PASSWORD is required/);
    expect(problem({ ...base, PORT: 'eighty' })).toMatch(/^PORT must be a whole number/);
    expect(problem({ ...base, REDIS_URL: 'http://cache:6379' })).toMatch(/^REDIS_URL must use redis: or rediss:/);
    expect(problem({ ...base, RECOMMENDATION_TOMBSTONE_RETENTION_HOURS: '-1' })).toMatch(/^RECOMMENDATION_TOMBSTONE_RETENTION_HOURS/);
  });
});
