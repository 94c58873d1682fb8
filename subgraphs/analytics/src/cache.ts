import type { Logger, Redis } from '@platform/shared';
import { bucketCount, bucketStart } from './buckets.ts';
import type { ActivityBucketView, AnalyticsData, MovieStatsView, UserActivityView } from './data.ts';

// A short-lived Redis cache in front of the list fields (topMovies, mostActiveUsers, activity).
// They already read only precomputed rows, so the cache is not what makes them fast: it takes
// repeated dashboard reads off PostgreSQL and shares them between analytics replicas. An answer
// can therefore be up to the TTL old. The primary-key reads (totals, movieStats, userActivity)
// are not cached: a Redis round trip costs about what they cost. eventLag is never cached: it
// exists to show the consumer's state now.
//
// Redis is optional here. When it fails (refuses, times out, is not connected) the request reads
// PostgreSQL as if the cache were off, the failure is logged once, and the cache is left alone
// for a while instead of making every request wait for a timeout first.

/** Bumped when a cached value's shape changes, so a deploy never reads the previous version's values. */
const valueVersion = 'v1';
/** A cache that does not answer within this long is treated as down (it normally answers in well under a millisecond). */
const redisTimeoutMs = 100;
/** After a failure, requests skip Redis this long before one tries it again. */
const retryAfterMs = 5_000;

export interface ReadCacheOptions {
  redis: Redis;
  /** > 0: how long an answer is served from Redis */
  ttlSeconds: number;
  /** what the cached answers come from, so stacks sharing one Redis never see each other's (see cacheNamespaceOf) */
  namespace: string;
  logger: Logger;
}

export interface ReadCache {
  /** The cached value under `key`, or `load()`'s, which is then cached; `revive` restores what JSON flattened (dates). */
  readThrough<T>(key: string, load: () => Promise<T>, revive: (value: T) => T): Promise<T>;
}

/**
 * Names the database the answers are read from (host, port, database; never credentials): the
 * only thing a cached answer is valid for. Replicas of one stack share their entries; another
 * stack, a test or a bench on its own (scratch) database never reads them.
 */
export function cacheNamespaceOf(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  return `analytics:cache:${valueVersion}:${url.hostname}:${url.port || '5432'}${url.pathname}`;
}

export function createReadCache(options: ReadCacheOptions): ReadCache {
  const { redis, ttlSeconds, namespace, logger } = options;
  /** 0 while Redis answers; otherwise when the next request may try it again */
  let skipUntil = 0;

  const failed = (reason: string): void => {
    if (skipUntil === 0) logger.warn('analytics cache unavailable; reading PostgreSQL instead', { reason, retryAfterMs });
    skipUntil = Date.now() + retryAfterMs;
  };
  const answered = (): void => {
    if (skipUntil !== 0) logger.info('analytics cache answers again');
    skipUntil = 0;
  };
  const usable = (): boolean => {
    if (Date.now() < skipUntil) return false;
    // Not connected: the command would wait in ioredis's offline queue; better not to send it.
    if (redis.status !== 'ready') {
      failed(`Redis connection is ${redis.status}`);
      return false;
    }
    return true;
  };

  const get = async (key: string): Promise<string | null> => {
    if (!usable()) return null;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      // Via setImmediate: when this process itself was stalled (a busy CPU), the reply may be
      // waiting on the socket as the timer fires; the event loop reads sockets before it runs
      // immediates, so such a reply still wins and only a Redis that did not answer times out.
      timer = setTimeout(() => setImmediate(() => resolve('timeout')), redisTimeoutMs);
    });
    try {
      const result = await Promise.race([redis.get(key), timeout]);
      if (result === 'timeout') {
        failed(`no answer within ${redisTimeoutMs} ms`);
        return null;
      }
      answered();
      return result;
    } catch (error) {
      failed(error instanceof Error ? error.message : String(error));
      return null;
    } finally {
      clearTimeout(timer);
    }
  };

  const set = (key: string, value: string): void => {
    if (!usable()) return;
    // Not awaited: the admin has the answer already. The next GET goes over the same connection
    // after this SET, so Redis applies them in that order.
    redis.set(key, value, 'EX', ttlSeconds).catch((error: unknown) => failed(error instanceof Error ? error.message : String(error)));
  };

  return {
    async readThrough<T>(key: string, load: () => Promise<T>, revive: (value: T) => T): Promise<T> {
      const fullKey = `${namespace}:${key}`;
      const cached = await get(fullKey);
      if (cached !== null) {
        try {
          return revive(JSON.parse(cached) as T);
        } catch (error) {
          // Only this code writes these keys; an unreadable value is replaced, never an error.
          logger.warn('unreadable analytics cache entry; reading PostgreSQL', { key: fullKey, error: error instanceof Error ? error.message : String(error) });
        }
      }
      const fresh = await load();
      set(fullKey, JSON.stringify(fresh));
      return fresh;
    },
  };
}

const asIs = <T>(value: T): T => value;
const reviveUsers = (users: UserActivityView[]): UserActivityView[] =>
  users.map((user) => ({ ...user, lastActiveAt: user.lastActiveAt === null ? null : new Date(user.lastActiveAt) }));
const reviveBuckets = (buckets: ActivityBucketView[]): ActivityBucketView[] => buckets.map((bucket) => ({ ...bucket, start: new Date(bucket.start) }));

/**
 * `data` with its list fields read through the cache, keyed by field and arguments. activity is
 * keyed by what its answer depends on (the first bucket and the number of buckets), not by the
 * raw `from`/`to`: a dashboard asking "up to now" every few seconds shares one entry per bucket.
 */
export function withReadCache(data: AnalyticsData, cache: ReadCache): AnalyticsData {
  return {
    ...data,
    topMovies: (by, minRatings, first) =>
      cache.readThrough<MovieStatsView[]>(`topMovies:${by}:${minRatings}:${first}`, () => data.topMovies(by, minRatings, first), asIs),
    mostActiveUsers: (first) => cache.readThrough(`mostActiveUsers:${first}`, () => data.mostActiveUsers(first), reviveUsers),
    activity: (from, to, granularity) => {
      const key = `activity:${granularity}:${bucketStart(from, granularity).toISOString()}:${bucketCount(from, to, granularity)}`;
      return cache.readThrough(key, () => data.activity(from, to, granularity), reviveBuckets);
    },
  };
}
