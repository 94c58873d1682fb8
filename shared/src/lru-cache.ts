// A least-recently-used map (a Map keeps insertion order: re-inserting on a hit makes an entry the
// newest, and the first key is always the oldest). Bounded by entries and, optionally, by a total
// weight (e.g. the length of text keys), so a few huge entries cannot pile up where many small
// ones were planned for.

export interface LruWeight<V> {
  maxWeight: number;
  weightOf(key: string, value: V): number;
}

export class LruCache<V> {
  readonly maxEntries: number;
  readonly #weight: LruWeight<V> | undefined;
  #entries = new Map<string, V>();
  #totalWeight = 0;

  constructor(maxEntries: number, weight?: LruWeight<V>) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`LruCache needs at least one entry, got ${maxEntries}`);
    this.maxEntries = maxEntries;
    this.#weight = weight;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  set(key: string, value: V): void {
    const weight = this.#weight?.weightOf(key, value) ?? 0;
    // An entry heavier than the whole budget would only push every other one out.
    if (this.#weight && weight > this.#weight.maxWeight) return;
    this.#remove(key);
    this.#entries.set(key, value);
    this.#totalWeight += weight;
    while (this.#entries.size > this.maxEntries || (this.#weight && this.#totalWeight > this.#weight.maxWeight)) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#remove(oldest.value);
    }
  }

  #remove(key: string): void {
    const value = this.#entries.get(key);
    if (value === undefined) return;
    this.#entries.delete(key);
    this.#totalWeight -= this.#weight?.weightOf(key, value) ?? 0;
  }
}
