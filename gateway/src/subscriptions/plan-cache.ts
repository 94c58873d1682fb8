import { createHash } from 'node:crypto';

// Subscription plans are cached like the gateway caches its query plans: by the operation's text
// and the operation name (a document may hold several operations, each with its own plan).
// Clients are expected to use variables, not literals, so one text serves every user.

/**
 * The cache key of (query text, operation name). Hashed so long documents do not become long
 * map keys; the two parts are length-prefixed so no text/name split can collide with another.
 */
export function planCacheKey(query: string, operationName: string | null | undefined): string {
  const name = operationName ?? '';
  return createHash('sha256')
    .update(`${query.length}:${query}`)
    .update(operationName === null || operationName === undefined ? '-' : `${name.length}:${name}`)
    .digest('hex');
}

/** A least-recently-used map with a fixed number of entries (a Map keeps insertion order). */
export class LruCache<V> {
  readonly maxEntries: number;
  #entries = new Map<string, V>();

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`LruCache needs at least one entry, got ${maxEntries}`);
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) return undefined;
    // Re-inserted: now the most recently used.
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  set(key: string, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }
}
