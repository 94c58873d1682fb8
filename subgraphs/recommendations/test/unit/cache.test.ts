import { describe, expect, it } from 'vitest';
import { ConfigError } from '@platform/shared';
import { cacheKeys, decodeEntry, encodeEntry, isCurrent, type CacheEntry } from '../../src/cache.ts';
import { readRecommendationsConfig } from '../../src/index.ts';

const base = { NEO4J_URI: 'bolt://127.0.0.1:7687', NEO4J_PASSWORD: 'secret-password' };

const entry: CacheEntry = {
  generation: '7',
  stamp: 'lx2.abc_-',
  items: [
    { movieId: 12, score: 0.4871234567, because: [3, 4], source: 'COLLABORATIVE' },
    { movieId: 99, score: 1, because: [], source: 'GENRE_PREFERENCE' },
    { movieId: 100_000_000_000_123, score: 0.25, because: [], source: 'POPULAR' },
  ],
};

describe('cache keys', () => {
  it('live under the stack prefix, one per user and per movie', () => {
    const keys = cacheKeys('events');
    expect(keys.generation).toBe('events:recs:generation');
    expect(keys.user('u-1')).toBe('events:recs:user:u-1');
    expect(keys.userChanged('u-1')).toBe('events:recs:user-changed:u-1');
    expect(keys.similar(42)).toBe('events:recs:similar:42');
    expect(cacheKeys('stack-b').user('u-1')).not.toBe(keys.user('u-1'));
  });
});

describe('cache entries', () => {
  it('round-trip every field, scores exactly', () => {
    const text = encodeEntry(entry);
    expect(text.startsWith('7|lx2.abc_-|[')).toBe(true);
    expect(decodeEntry(text)).toEqual(entry);
  });

  it('keep an empty list and an empty stamp', () => {
    expect(decodeEntry(encodeEntry({ generation: '0', stamp: '', items: [] }))).toEqual({ generation: '0', stamp: '', items: [] });
  });

  it.each([
    ['nothing', null],
    ['an empty string', ''],
    ['no separators', '[]'],
    ['one separator', '1|[]'],
    ['broken JSON', '1||[[1,0.5,"C",[]'],
    ['not a list', '1||{"a":1}'],
    ['an unknown source code', '1||[[1,0.5,"X",[]]]'],
    ['a fractional movie id', '1||[[1.5,0.5,"C",[]]]'],
    ['a non-numeric score', '1||[[1,"high","C",[]]]'],
    ['a malformed reason', '1||[[1,0.5,"C",["a"]]]'],
  ])('treat %s as a miss', (_, text) => {
    expect(decodeEntry(text)).toBeNull();
  });

  it('are current only when neither a model switch nor the user changed anything since', () => {
    expect(isCurrent(entry, '7', 'lx2.abc_-')).toBe(true);
    expect(isCurrent(entry, '8', 'lx2.abc_-')).toBe(false);
    expect(isCurrent(entry, '7', 'other')).toBe(false);
    expect(isCurrent(entry, '7', null)).toBe(false);
    // Before the first bump and the first invalidation, Redis holds neither key.
    expect(isCurrent({ ...entry, generation: '0', stamp: '' }, null, null)).toBe(true);
    expect(isCurrent(null, '7', 'lx2.abc_-')).toBe(false);
  });
});

describe('cache and live update configuration', () => {
  it('defaults to a 10-minute TTL, 200 ms coalescing, 4 recomputations at once, 1,000 notified users', () => {
    const config = readRecommendationsConfig(base);
    expect(config.recommendationCacheTtlSeconds).toBe(600);
    expect(config.liveUpdates).toEqual({ coalesceMs: 200, concurrency: 4, maxNotifiedUsers: 1_000 });
  });

  it('reads the variables, 0 turning the cache off', () => {
    const config = readRecommendationsConfig({
      ...base,
      RECOMMENDATION_CACHE_TTL_SECONDS: '0',
      RECOMMENDATION_REFRESH_COALESCE_MS: '50',
      RECOMMENDATION_REFRESH_CONCURRENCY: '2',
      NEW_MOVIE_NOTIFICATION_MAX_USERS: '10',
    });
    expect(config.recommendationCacheTtlSeconds).toBe(0);
    expect(config.liveUpdates).toEqual({ coalesceMs: 50, concurrency: 2, maxNotifiedUsers: 10 });
  });

  it('names a wrong variable', () => {
    expect(() => readRecommendationsConfig({ ...base, RECOMMENDATION_CACHE_TTL_SECONDS: '-1' })).toThrow(ConfigError);
    expect(() => readRecommendationsConfig({ ...base, RECOMMENDATION_CACHE_TTL_SECONDS: 'ten' })).toThrow(/^RECOMMENDATION_CACHE_TTL_SECONDS must be a whole number/);
    expect(() => readRecommendationsConfig({ ...base, RECOMMENDATION_REFRESH_CONCURRENCY: '0' })).toThrow(/^RECOMMENDATION_REFRESH_CONCURRENCY must be >= 1/);
  });
});
