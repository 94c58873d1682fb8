// Offline evaluation of recommenders, following the Microsoft Recommenders benchmark protocol so
// that our figures can be compared with published ones:
//   - a per-movie stratified 75/25 split (`python_stratified_split(ratio=0.75, filter_by="item",
//     seed)`), reproduced bit for bit, including numpy's legacy seeded shuffle;
//   - top-k lists that never contain the user's training movies, every held-out rating relevant;
//   - Precision@k, Recall@k, nDCG@k (binary relevance) and MAP, averaged over the test users.
// Engines are behind a small interface so that the same harness measures the in-memory model
// (the pure functions of similarity.ts) and the production path through Neo4j.

import {
  buildProfile,
  computeSimilarities,
  defaultSimilarityOptions,
  maxProfileItems,
  type Neighbour,
  type SimilarityModel,
  type SimilarityOptions,
  type TrainingInteraction,
} from './similarity.ts';
import { scoreCandidates } from './scoring.ts';

/** One row of a MovieLens-style ratings.csv. */
export interface RatingRow {
  userId: string;
  movieId: number;
  rating: number;
  /** Epoch seconds, as in MovieLens. */
  timestamp: number;
}

// ---------------------------------------------------------------------------------------------
// numpy's legacy RandomState: MT19937 seeded with init_genrand, and permutation() as its legacy
// Fisher-Yates shuffle. Reimplemented here because the split must pick exactly the rows the
// reference implementation picks, or the figures are not comparable.

const stateSize = 624;
const shiftSize = 397;

/** MT19937 as numpy's `RandomState(seed)` with an integer seed (init_genrand, 32-bit outputs). */
export class LegacyRandomState {
  readonly #state = new Uint32Array(stateSize);
  #position = stateSize;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in 0..2^32-1, got ${seed}`);
    this.#state[0] = seed >>> 0;
    for (let i = 1; i < stateSize; i += 1) {
      const previous = this.#state[i - 1]!;
      // Math.imul keeps the product modulo 2^32, as the C code's unsigned arithmetic does.
      this.#state[i] = (Math.imul(1812433253, previous ^ (previous >>> 30)) + i) >>> 0;
    }
  }

  nextUint32(): number {
    if (this.#position >= stateSize) this.#regenerate();
    let y = this.#state[this.#position]!;
    this.#position += 1;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A uniform integer in 0..max (inclusive), by masked rejection sampling as numpy's random_interval. */
  interval(max: number): number {
    if (max === 0) return 0;
    if (max > 0xffffffff) throw new RangeError('interval above 2^32-1 is not needed here and not implemented');
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    for (;;) {
      const value = (this.nextUint32() & mask) >>> 0;
      if (value <= max) return value;
    }
  }

  /** numpy's legacy `permutation(n)`: arange(n) shuffled from the last position down. */
  permutation(n: number): number[] {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i >= 1; i -= 1) {
      const j = this.interval(i);
      const swap = order[i]!;
      order[i] = order[j]!;
      order[j] = swap;
    }
    return order;
  }

  #regenerate(): void {
    const state = this.#state;
    for (let i = 0; i < stateSize; i += 1) {
      const y = (state[i]! & 0x80000000) | (state[(i + 1) % stateSize]! & 0x7fffffff);
      let next = state[(i + shiftSize) % stateSize]! ^ (y >>> 1);
      if (y & 1) next ^= 0x9908b0df;
      state[i] = next >>> 0;
    }
    this.#position = 0;
  }
}

/** Python 3's round() for the values a split needs: halves go to the even neighbour. */
export function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export interface SplitOptions {
  /** Share of each movie's ratings that goes to training. */
  ratio: number;
  seed: number;
}

export interface Split {
  train: RatingRow[];
  test: RatingRow[];
}

/**
 * Per-movie stratified split as Microsoft Recommenders' `python_stratified_split(data, ratio,
 * filter_by="item", seed)`: each movie's ratings (in input order) are shuffled by pandas'
 * `sample(frac=1, random_state=seed)`, i.e. a fresh `RandomState(seed).permutation(n)` per movie,
 * and the first round(ratio·n) go to training (Python's round, so a movie with 1 or 2 ratings
 * never reaches the test set). Both outputs keep the input order of the rows.
 */
export function stratifiedSplit(rows: readonly RatingRow[], options: SplitOptions): Split {
  if (!(options.ratio > 0 && options.ratio < 1)) throw new RangeError(`ratio must be between 0 and 1, got ${options.ratio}`);
  const rowsByMovie = new Map<number, number[]>();
  rows.forEach((row, index) => {
    const group = rowsByMovie.get(row.movieId);
    if (group) group.push(index);
    else rowsByMovie.set(row.movieId, [index]);
  });
  // The same permutation serves every movie with the same number of ratings (same seed, fresh state).
  const permutations = new Map<number, number[]>();
  const inTrain = new Uint8Array(rows.length);
  for (const group of rowsByMovie.values()) {
    const size = group.length;
    let order = permutations.get(size);
    if (!order) permutations.set(size, (order = new LegacyRandomState(options.seed).permutation(size)));
    const trainSize = roundHalfToEven(options.ratio * size);
    for (let position = 0; position < trainSize; position += 1) inTrain[group[order[position]!]!] = 1;
  }
  const train: RatingRow[] = [];
  const test: RatingRow[] = [];
  rows.forEach((row, index) => (inTrain[index] ? train : test).push(row));
  return { train, test };
}

// ---------------------------------------------------------------------------------------------
// Ranking metrics.

export interface RankingMetrics {
  /** Mean average precision within the top k (divided by the number of relevant movies). */
  map: number;
  ndcg: number;
  precision: number;
  recall: number;
  /** Users averaged over: every user with at least one held-out rating. */
  users: number;
}

/** The metrics of one user's top-k list against the movies they actually rated in the test set. */
export function userMetrics(recommended: readonly number[], relevant: ReadonlySet<number>, k: number): Omit<RankingMetrics, 'users'> {
  if (relevant.size === 0) throw new RangeError('a user without relevant movies cannot be scored');
  let hits = 0;
  let dcg = 0;
  let precisionSum = 0;
  const top = recommended.slice(0, k);
  top.forEach((movieId, index) => {
    if (!relevant.has(movieId)) return;
    hits += 1;
    dcg += 1 / Math.log2(index + 2);
    precisionSum += hits / (index + 1);
  });
  let idealDcg = 0;
  for (let index = 0; index < Math.min(k, relevant.size); index += 1) idealDcg += 1 / Math.log2(index + 2);
  return { map: precisionSum / relevant.size, ndcg: dcg / idealDcg, precision: hits / k, recall: hits / relevant.size };
}

/** Relevant movies per user: every held-out rating, whatever its value. */
export function relevantByUser(test: readonly RatingRow[]): Map<string, Set<number>> {
  const relevant = new Map<string, Set<number>>();
  for (const row of test) {
    const movies = relevant.get(row.userId);
    if (movies) movies.add(row.movieId);
    else relevant.set(row.userId, new Set([row.movieId]));
  }
  return relevant;
}

/** Averages the metrics over every user in `relevant`; a user without a list scores 0. */
export function rankingMetrics(recommendations: ReadonlyMap<string, readonly number[]>, relevant: ReadonlyMap<string, ReadonlySet<number>>, k: number): RankingMetrics {
  const sum = { map: 0, ndcg: 0, precision: 0, recall: 0 };
  for (const [userId, movies] of relevant) {
    const metrics = userMetrics(recommendations.get(userId) ?? [], movies, k);
    sum.map += metrics.map;
    sum.ndcg += metrics.ndcg;
    sum.precision += metrics.precision;
    sum.recall += metrics.recall;
  }
  const users = relevant.size;
  const mean = (value: number): number => (users === 0 ? 0 : value / users);
  return { map: mean(sum.map), ndcg: mean(sum.ndcg), precision: mean(sum.precision), recall: mean(sum.recall), users };
}

// ---------------------------------------------------------------------------------------------
// Engines: anything that can be trained on rating rows and asked for a user's top k.

export interface RecommenderEngine {
  readonly name: string;
  train(rows: readonly RatingRow[]): Promise<void>;
  /** Up to k movie ids, best first, none of them a movie the user has in the training rows. */
  recommend(userId: string, k: number): Promise<number[]>;
  /** Frees what training built (connections, graph data); optional. */
  close?(): Promise<void>;
}

/** Training movies grouped by user, shared by the engines below. */
function rowsByUser(rows: readonly RatingRow[]): Map<string, RatingRow[]> {
  const byUser = new Map<string, RatingRow[]>();
  for (const row of rows) {
    const list = byUser.get(row.userId);
    if (list) list.push(row);
    else byUser.set(row.userId, [row]);
  }
  return byUser;
}

/** Movie ids by number of training ratings, most rated first (ties: lower id first). */
export function popularityOrder(rows: readonly RatingRow[]): number[] {
  const counts = new Map<number, number>();
  for (const row of rows) counts.set(row.movieId, (counts.get(row.movieId) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([movieId]) => movieId);
}

/** First k movies of `order` that are not in `seen`. */
function firstUnseen(order: readonly number[], seen: ReadonlySet<number>, k: number, into: number[] = []): number[] {
  for (const movieId of order) {
    if (into.length >= k) break;
    if (!seen.has(movieId) && !into.includes(movieId)) into.push(movieId);
  }
  return into;
}

/** The baseline: the most rated training movies the user has not rated. */
export function createPopularityEngine(): RecommenderEngine {
  let order: number[] = [];
  let seenByUser = new Map<string, Set<number>>();
  return {
    name: 'popularity',
    async train(rows) {
      order = popularityOrder(rows);
      seenByUser = new Map([...rowsByUser(rows)].map(([userId, list]) => [userId, new Set(list.map((row) => row.movieId))]));
    },
    async recommend(userId, k) {
      return firstUnseen(order, seenByUser.get(userId) ?? new Set(), k);
    },
  };
}

/** A MovieLens row as the model's input: ratings only, no reactions; seconds become ms. */
export function toTrainingInteraction(row: RatingRow): TrainingInteraction {
  return { userId: row.userId, movieId: row.movieId, rating: row.rating, reaction: null, at: row.timestamp * 1000 };
}

export interface InMemoryEngineOptions {
  similarity?: SimilarityOptions;
  /** Most recent interactions used as the profile (serving reads the same number). */
  profileItems?: number;
  /**
   * Fill a list the model cannot fill with popular movies, as serving's POPULAR fallback does.
   * On by default so that the figures are those of what users get.
   */
  popularFallback?: boolean;
}

export interface InMemoryEngine extends RecommenderEngine {
  /** The model of the last train(), for build figures. */
  readonly model: SimilarityModel | undefined;
  /** Milliseconds computeSimilarities took in the last train(): wall clock, and CPU of this process. */
  readonly buildMs: number;
  readonly buildCpuMs: number;
  /** Users whose list needed the popular fallback, since the last train(). */
  readonly filledFromPopular: number;
}

/**
 * The production algorithm without the database: computeSimilarities over the training rows,
 * then, per user, the same profile (buildProfile: the `profileItems` most recent interactions
 * weighted by profileWeight) and scoreCandidates that serving uses, with every training movie of
 * the user as "seen". `now` is the newest training timestamp, the moment the data set stands for.
 */
export function createInMemoryEngine(options: InMemoryEngineOptions = {}): InMemoryEngine {
  const similarity = options.similarity ?? defaultSimilarityOptions;
  const profileItems = options.profileItems ?? maxProfileItems;
  const popularFallback = options.popularFallback ?? true;
  let model: SimilarityModel | undefined;
  let buildMs = 0;
  let buildCpuMs = 0;
  let filledFromPopular = 0;
  let interactionsByUser = new Map<string, TrainingInteraction[]>();
  let popular: number[] = [];
  let now = 0;
  const neighboursOf = (movieId: number): readonly Neighbour[] | undefined => model?.neighbours.get(movieId);
  return {
    name: 'model',
    get model() {
      return model;
    },
    get buildMs() {
      return buildMs;
    },
    get buildCpuMs() {
      return buildCpuMs;
    },
    get filledFromPopular() {
      return filledFromPopular;
    },
    async train(rows) {
      const interactions = rows.map(toTrainingInteraction);
      const started = performance.now();
      const cpuStarted = process.cpuUsage();
      model = computeSimilarities(interactions, similarity);
      buildMs = performance.now() - started;
      const cpu = process.cpuUsage(cpuStarted);
      buildCpuMs = (cpu.user + cpu.system) / 1000;
      interactionsByUser = new Map();
      now = 0;
      for (const interaction of interactions) {
        now = Math.max(now, interaction.at);
        const list = interactionsByUser.get(interaction.userId);
        if (list) list.push(interaction);
        else interactionsByUser.set(interaction.userId, [interaction]);
      }
      popular = popularityOrder(rows);
      filledFromPopular = 0;
    },
    async recommend(userId, k) {
      const interactions = interactionsByUser.get(userId) ?? [];
      const seen = new Set(interactions.map((interaction) => interaction.movieId));
      const profile = buildProfile(interactions, now, { limit: profileItems, weighting: similarity.weighting });
      // The model's optional popularity penalty, applied as serving would (see scoreCandidates).
      const penalties = model?.popularityPenalty;
      const penaltyOf = penalties ? (movieId: number): number => penalties.get(movieId) ?? 0 : undefined;
      const list = scoreCandidates(profile, neighboursOf, seen, k, { penaltyOf }).map((candidate) => candidate.movieId);
      if (list.length < k && popularFallback) {
        filledFromPopular += 1;
        firstUnseen(popular, seen, k, list);
      }
      return list;
    },
  };
}

export interface EngineEvaluation {
  engine: string;
  metrics: RankingMetrics;
  trainMs: number;
  recommendMs: number;
  /** Every test user's list, in the order of first appearance in the test rows. */
  recommendations: Map<string, number[]>;
}

/** Trains the engine on `train` and scores its top-k lists for every user of `test`. */
export async function evaluateEngine(engine: RecommenderEngine, train: readonly RatingRow[], test: readonly RatingRow[], k: number): Promise<EngineEvaluation> {
  const trainStarted = performance.now();
  await engine.train(train);
  const trainMs = performance.now() - trainStarted;
  const relevant = relevantByUser(test);
  const recommendations = new Map<string, number[]>();
  const recommendStarted = performance.now();
  for (const userId of relevant.keys()) recommendations.set(userId, await engine.recommend(userId, k));
  const recommendMs = performance.now() - recommendStarted;
  return { engine: engine.name, metrics: rankingMetrics(recommendations, relevant, k), trainMs, recommendMs, recommendations };
}

// ---------------------------------------------------------------------------------------------
// Input.

export class RatingsFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RatingsFileError';
  }
}

const expectedHeader = 'userId,movieId,rating,timestamp';

/**
 * Parses a MovieLens-style ratings CSV (`userId,movieId,rating,timestamp` header, timestamp in
 * seconds). A malformed row throws a RatingsFileError naming the file and the line.
 */
export function parseRatingsCsv(text: string, fileName: string): RatingRow[] {
  const lines = text.split(/\r?\n/);
  if ((lines[0] ?? '').replace(/^\uFEFF/, '').trim() !== expectedHeader) {
    throw new RatingsFileError(`${fileName}:1: expected the header "${expectedHeader}", got "${(lines[0] ?? '').slice(0, 80)}"`);
  }
  const rows: RatingRow[] = [];
  for (let index = 1; index < lines.length; index += 1) {
    const line = lines[index]!;
    if (line.trim() === '') continue;
    const fields = line.split(',');
    const where = `${fileName}:${index + 1}`;
    if (fields.length !== 4) throw new RatingsFileError(`${where}: expected 4 comma-separated fields (${expectedHeader}), got ${fields.length}`);
    const [userId, movieText, ratingText, timestampText] = fields.map((field) => field.trim()) as [string, string, string, string];
    const movieId = Number(movieText);
    const rating = Number(ratingText);
    const timestamp = Number(timestampText);
    if (userId === '') throw new RatingsFileError(`${where}: empty userId`);
    if (movieText === '' || !Number.isSafeInteger(movieId)) throw new RatingsFileError(`${where}: movieId must be an integer, got "${movieText}"`);
    if (ratingText === '' || !Number.isFinite(rating) || rating < 0 || rating > 5) throw new RatingsFileError(`${where}: rating must be a number in 0..5, got "${ratingText}"`);
    if (timestampText === '' || !Number.isSafeInteger(timestamp) || timestamp < 0) throw new RatingsFileError(`${where}: timestamp must be whole epoch seconds, got "${timestampText}"`);
    rows.push({ userId, movieId, rating, timestamp });
  }
  return rows;
}

/** The inverse of parseRatingsCsv. */
export function formatRatingsCsv(rows: readonly RatingRow[]): string {
  // MovieLens writes whole ratings as "4.0"; other values keep every digit so that a round trip is exact.
  const rating = (value: number): string => (Number.isInteger(value) ? value.toFixed(1) : String(value));
  return `${expectedHeader}\n${rows.map((row) => `${row.userId},${row.movieId},${rating(row.rating)},${row.timestamp}`).join('\n')}\n`;
}
