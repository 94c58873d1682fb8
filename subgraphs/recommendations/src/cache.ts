import { randomBytes } from 'node:crypto';
import type { Logger, Redis } from '@platform/shared';
import type { RecommendationSource, RecommendedMovie, Recommender } from './recommender.ts';

// A Redis cache in front of any Recommender (the live one or a model-backed one): the resolvers
// see the same interface, index.ts wraps whatever engine it builds.
//
// What is stored (keys under `<prefix>:recs:`, prefix = EVENT_STREAM_PREFIX so that stacks sharing
// one Redis never see each other's entries):
//   generation           INCR counter; bumped by invalidateAll() (a model switch)
//   user:<userId>        "<generation>|<stamp>|<items>"   the user's list, `listLength` long
//   user-changed:<id>    "<stamp>"  random token set by each invalidation of that user
//   similar:<movieId>    "<generation>|<version>|<items>" a movie's similar movies, with the model
//                        version they come from (empty before the first model)
//
// An entry is served only when its generation and stamp equal the current ones, read together
// with the entry in ONE MGET. Both are stamped with the values read BEFORE the list was computed,
// so a list computed from a graph that an event changed meanwhile is never served afterwards:
// its stamp no longer matches. Invalidating a user therefore only replaces their stamp; the old
// entry stays readable (until its TTL), which is what the live updates compare a new list with.
// The generation is part of the entry, not of the key, so a bump costs one INCR, every entry of
// older generations is ignored and simply overwritten by the next computation.
//
// The longest list a caller may ask for (`listLength`, the API's maximum page of 100) is computed
// and cached once; smaller pages are slices of it (the Recommender contract ranks the same way for
// any limit, so the first 20 of 100 are the top 20).
//
// Redis is an optimisation, never a dependency: when it is not connected, errs or is slower than
// `redisTimeoutMs`, reads go straight to the inner recommender for `retryAfterMs`, and the outage
// is logged once per `outageLogIntervalMs`. An invalidation lost to an outage cannot be replayed
// per user, so the cache owes a generation bump and pays it with the first command that succeeds.

export interface RecommendationCacheOptions {
  /** Namespace of every key (the event stream prefix). */
  prefix: string;
  /** Safety net against anything an invalidation missed; 0 disables the cache entirely. */
  ttlSeconds: number;
  logger: Logger;
  /** Items computed and cached per user and per movie; requests for more bypass the cache. */
  listLength?: number;
  /** A cache command slower than this counts as Redis being unavailable. */
  redisTimeoutMs?: number;
  /** After a failure, Redis is left alone (every call bypasses the cache) for this long. */
  retryAfterMs?: number;
  /** At most one "cache unavailable" warning per interval. */
  outageLogIntervalMs?: number;
}

export interface CachedRecommender extends Recommender {
  /** False when ttlSeconds is 0: every call goes to the inner recommender. */
  readonly enabled: boolean;
  /**
   * Makes every cached list (users and movies) stale at once: call it when a new model version
   * becomes active. One INCR; deferred to the first successful Redis command when Redis is down.
   */
  invalidateAll(): Promise<void>;
  /**
   * Makes these users' lists stale, and returns each one's last stored list (of any generation):
   * what their client most likely shows. null: nothing stored, or Redis unavailable.
   */
  invalidateUsers(userIds: readonly string[]): Promise<Map<string, RecommendedMovie[] | null>>;
  /** Drops these movies' similar-movie lists (their title or genres changed, or they are new). */
  invalidateSimilar(movieIds: readonly number[]): Promise<void>;
  /** Computes the user's list now (never joining a computation that started earlier) and stores it. */
  refreshUser(userId: string): Promise<RecommendedMovie[]>;
}

export const defaultCacheListLength = 100;

// ---------------------------------------------------------------------------------------------
// Keys and entry encoding (pure)

export interface CacheKeys {
  generation: string;
  user(userId: string): string;
  userChanged(userId: string): string;
  similar(movieId: number): string;
}

export function cacheKeys(prefix: string): CacheKeys {
  const base = `${prefix}:recs:`;
  return {
    generation: `${base}generation`,
    user: (userId) => `${base}user:${userId}`,
    userChanged: (userId) => `${base}user-changed:${userId}`,
    similar: (movieId) => `${base}similar:${movieId}`,
  };
}

const sourceCodes: Record<RecommendationSource, string> = { COLLABORATIVE: 'C', GENRE_PREFERENCE: 'G', POPULAR: 'P' };
const sourcesByCode = new Map(Object.entries(sourceCodes).map(([source, code]) => [code, source as RecommendationSource]));

export interface CacheEntry {
  /** The generation counter's value (its text; "0" before the first bump) when the list was computed. */
  generation: string;
  /**
   * Users: their invalidation stamp when the list was computed ("" for none). Movies: the model
   * version the list comes from ("" for none).
   */
  stamp: string;
  items: RecommendedMovie[];
}

/** "<generation>|<stamp>|<json>", items as [movieId, score, source code, because]: about 30 bytes each. */
export function encodeEntry(entry: CacheEntry): string {
  const items = entry.items.map((item) => [item.movieId, item.score, sourceCodes[item.source], item.because]);
  return `${entry.generation}|${entry.stamp}|${JSON.stringify(items)}`;
}

/** null for anything that is not a well-formed entry (an older format, a foreign value): a miss. */
export function decodeEntry(text: string | null | undefined): CacheEntry | null {
  if (!text) return null;
  const first = text.indexOf('|');
  const second = first < 0 ? -1 : text.indexOf('|', first + 1);
  if (second < 0) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text.slice(second + 1));
  } catch {
    return null;
  }
  if (!Array.isArray(raw)) return null;
  const items: RecommendedMovie[] = [];
  for (const value of raw as unknown[]) {
    if (!Array.isArray(value) || value.length !== 4) return null;
    const [movieId, score, code, because] = value as unknown[];
    const source = typeof code === 'string' ? sourcesByCode.get(code) : undefined;
    if (!Number.isSafeInteger(movieId) || typeof score !== 'number' || !source || !Array.isArray(because) || !because.every(Number.isSafeInteger)) return null;
    items.push({ movieId: movieId as number, score, source, because: because as number[] });
  }
  return { generation: text.slice(0, first), stamp: text.slice(first + 1, second), items };
}

/** A stored entry is current when nothing invalidated it after it was computed. */
export const isCurrent = (entry: CacheEntry | null, generation: string | null, stamp: string | null): entry is CacheEntry =>
  entry !== null && entry.generation === (generation ?? '0') && entry.stamp === (stamp ?? '');

const newStamp = (): string => `${Date.now().toString(36)}.${randomBytes(6).toString('base64url')}`;

// ---------------------------------------------------------------------------------------------

class RedisUnavailable extends Error {
  override name = 'RedisUnavailable';
}

export function createCachedRecommender(inner: Recommender, redis: Redis, options: RecommendationCacheOptions): CachedRecommender {
  const keys = cacheKeys(options.prefix);
  const ttlSeconds = options.ttlSeconds;
  const enabled = ttlSeconds > 0;
  const listLength = options.listLength ?? defaultCacheListLength;
  const redisTimeoutMs = options.redisTimeoutMs ?? 250;
  const retryAfterMs = options.retryAfterMs ?? 1_000;
  const outageLogIntervalMs = options.outageLogIntervalMs ?? 60_000;
  const log = options.logger.child({ component: 'recommendation-cache' });

  let skipUntil = 0;
  let lastOutageLogAt = Number.NEGATIVE_INFINITY;
  let unloggedFailures = 0;
  let inOutage = false;
  let generationBumpOwed = false;

  const noteFailure = (error: unknown): void => {
    skipUntil = Date.now() + retryAfterMs;
    inOutage = true;
    unloggedFailures += 1;
    if (Date.now() - lastOutageLogAt < outageLogIntervalMs) return;
    log.warn('recommendation cache unavailable; answering from the recommender', {
      error: error instanceof Error ? error.message : String(error),
      failuresSinceLastWarning: unloggedFailures,
    });
    lastOutageLogAt = Date.now();
    unloggedFailures = 0;
  };

  const withTimeout = <T>(work: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisUnavailable(`no answer within ${redisTimeoutMs} ms`)), redisTimeoutMs);
      timer.unref();
    });
    // A command that answers after the timeout has nowhere to report: keep it from being unhandled.
    work.catch(() => undefined);
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  };

  /** Runs a cache command, or returns undefined when Redis cannot be used right now. */
  const guarded = async <T>(command: () => Promise<T>): Promise<T | undefined> => {
    if (redis.status !== 'ready' || Date.now() < skipUntil) {
      if (Date.now() >= skipUntil) noteFailure(new RedisUnavailable(`connection ${redis.status}`));
      return undefined;
    }
    try {
      if (generationBumpOwed) {
        await withTimeout(redis.incr(keys.generation));
        generationBumpOwed = false;
        log.info('invalidated every cached list: invalidations may have been lost while Redis was unavailable');
      }
      const result = await withTimeout(command());
      if (inOutage) {
        inOutage = false;
        log.info('recommendation cache available again');
      }
      return result;
    } catch (error) {
      noteFailure(error);
      return undefined;
    }
  };

  /** For invalidations: a lost one is made up for by invalidating everything later. */
  const guardedInvalidation = async <T>(command: () => Promise<T>): Promise<T | undefined> => {
    const result = await guarded(command);
    if (result === undefined) generationBumpOwed = true;
    return result;
  };

  // Readers do not await it: a slow write must not hold up an answer that is already computed.
  const store = (key: string, entry: CacheEntry): Promise<unknown> => guarded(() => redis.set(key, encodeEntry(entry), 'EX', ttlSeconds));

  // Concurrent misses of one user (a page load firing several requests) share one computation,
  // but only misses that read the same generation and stamp: a request that already saw a newer
  // invalidation must not adopt (and store as current) a list computed before it.
  const computing = new Map<string, Promise<RecommendedMovie[]>>();

  const computeForUser = (userId: string, generation: string, stamp: string): Promise<RecommendedMovie[]> => {
    const key = `${generation}|${stamp}|${userId}`;
    let pending = computing.get(key);
    if (!pending) {
      pending = inner.forUser(userId, listLength).finally(() => computing.delete(key));
      computing.set(key, pending);
    }
    return pending;
  };

  const readUserState = (userId: string) => guarded(() => redis.mget(keys.generation, keys.userChanged(userId), keys.user(userId)));

  return {
    enabled,

    async forUser(userId, limit) {
      if (!enabled || limit > listLength) return inner.forUser(userId, limit);
      const state = await readUserState(userId);
      // Redis unusable: nothing will be stored, so compute only what was asked for.
      if (!state) return inner.forUser(userId, limit);
      const [generation, stamp, text] = state;
      const entry = decodeEntry(text);
      if (isCurrent(entry, generation ?? null, stamp ?? null)) return entry.items.slice(0, limit);
      const current = { generation: generation ?? '0', stamp: stamp ?? '' };
      const items = await computeForUser(userId, current.generation, current.stamp);
      void store(keys.user(userId), { ...current, items });
      return items.slice(0, limit);
    },

    async similarMovies(movieIds, limit) {
      if (!enabled || limit > listLength) return inner.similarMovies(movieIds, limit);
      const ids = [...new Set(movieIds)];
      // The model version the lists come from is their stamp: a replica that has not seen a new
      // version yet (servingVersion trusts what it read for a second) may store a list of the old
      // one after the switch bumped the generation, and that list must stop being served as soon
      // as this replica knows the new version.
      const version = (await inner.servingVersion?.()) ?? null;
      const stamp = version ?? '';
      const state = await guarded(() => redis.mget(keys.generation, ...ids.map((id) => keys.similar(id))));
      if (!state) return inner.similarMovies(ids, limit, version ?? undefined);
      const generation = state[0] ?? '0';
      const result = new Map<number, RecommendedMovie[]>();
      const missing: number[] = [];
      ids.forEach((id, index) => {
        const entry = decodeEntry(state[index + 1]);
        if (isCurrent(entry, generation, stamp)) result.set(id, entry.items.slice(0, limit));
        else missing.push(id);
      });
      if (missing.length === 0) return result;
      const computed = await inner.similarMovies(missing, listLength, version ?? undefined);
      for (const id of missing) {
        const items = computed.get(id) ?? [];
        result.set(id, items.slice(0, limit));
        void store(keys.similar(id), { generation, stamp, items });
      }
      return result;
    },

    async invalidateAll() {
      if (!enabled) return;
      await guardedInvalidation(() => redis.incr(keys.generation));
    },

    async invalidateUsers(userIds) {
      const previous = new Map<string, RecommendedMovie[] | null>(userIds.map((id) => [id, null]));
      if (!enabled || userIds.length === 0) return previous;
      // One round trip: read each user's stored list and replace their stamp, atomically, so the
      // list returned is exactly the one the new stamp makes stale.
      const replies = await guardedInvalidation(async () => {
        const transaction = redis.multi();
        for (const userId of userIds) {
          transaction.get(keys.user(userId));
          // Outlives any entry stamped before it (entries live ttlSeconds).
          transaction.set(keys.userChanged(userId), newStamp(), 'EX', ttlSeconds * 2);
        }
        const result = await transaction.exec();
        if (!result) throw new RedisUnavailable('invalidation transaction aborted');
        return result;
      });
      if (!replies) return previous;
      userIds.forEach((userId, index) => {
        const [error, value] = replies[index * 2] ?? [null, null];
        if (!error) previous.set(userId, decodeEntry(value as string | null)?.items ?? null);
      });
      return previous;
    },

    async invalidateSimilar(movieIds) {
      if (!enabled || movieIds.length === 0) return;
      await guardedInvalidation(() => redis.del(...movieIds.map((id) => keys.similar(id))));
    },

    async refreshUser(userId) {
      if (!enabled) return inner.forUser(userId, listLength);
      const state = await readUserState(userId);
      const items = await inner.forUser(userId, listLength);
      // Awaited here (no caller is waiting for an answer): a read right after the refresh hits.
      if (state) await store(keys.user(userId), { generation: state[0] ?? '0', stamp: state[1] ?? '', items });
      return items;
    },
  };
}
