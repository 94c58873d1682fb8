// Scoring a user's profile against a model's neighbour lists: what serving (model-recommender.ts)
// and the offline evaluation (evaluation.ts) both call, so that the evaluation measures exactly
// what users get. The model itself is computed in similarity.ts.

import type { Neighbour, ProfileItem } from './similarity.ts';

export interface ScoredCandidate {
  movieId: number;
  score: number;
  /** Profile movies that contributed most, strongest first. */
  because: number[];
}

export interface ScoringOptions {
  /** Reasons named per candidate (default 3). */
  maxReasons?: number;
  /** The model's popularity penalty per movie, when it has one (see below). */
  penaltyOf?: (movieId: number) => number;
  /**
   * Which profile movies may be named as reasons (default: all). Serving names only movies the
   * user liked ("because you liked X" must be true), while the algorithm learns from every rating.
   */
  canExplain?: (movieId: number) => boolean;
}

/**
 * Scores every neighbour of the profile's movies: sum over profile movies of weight × similarity.
 * `seen` movies (rated, reacted, excluded) are never returned. Ties: lower movie id first.
 *
 * Signed similarities (EASE): a candidate needs at least one positive contribution to be returned
 * at all (one only ever pushed down by the profile is no recommendation); those whose total is
 * <= 0 still rank below every candidate with a positive total. `because` names the largest
 * positive contributions only.
 *
 * `penaltyOf` (optional, e.g. the model's popularityPenalty): the score becomes the raw total
 * divided by the user's best raw total (so 1 for the best candidate) minus penaltyOf(movie), and
 * candidates are ranked by it; without it, `score` is the raw total.
 */
export function scoreCandidates(
  profile: readonly ProfileItem[],
  neighboursOf: (movieId: number) => readonly Neighbour[] | undefined,
  seen: ReadonlySet<number>,
  limit: number,
  options: ScoringOptions = {},
): ScoredCandidate[] {
  const { maxReasons = 3, penaltyOf, canExplain } = options;
  // Two passes: totals for every candidate first, reasons only for the few that are returned (a
  // long profile reaches every movie of the model; keeping every contribution would dominate).
  // A 1000-movie profile means ~300,000 (profile movie, neighbour) pairs per request: the totals
  // live in scratch arrays indexed by movie id (reused, zeroed after use) instead of hash maps,
  // with the seen movies marked up front so the hot loop never asks the Set. Ids that cannot
  // index an array take the Map path.
  const dense = denseTotals(profile, neighboursOf, seen);
  const totals = dense ?? mapTotals(profile, neighboursOf, seen);
  let best = 0;
  for (const [, raw] of totals) best = Math.max(best, raw);
  const ranked = topCandidates(totals, Math.max(0, limit), penaltyOf && best > 0 ? (movieId, raw) => raw / best - penaltyOf(movieId) : null);
  const reasons = maxReasons > 0 && ranked.length > 0 ? strongestReasons(profile, neighboursOf, ranked, Math.min(maxReasons, profile.length), canExplain, dense !== null) : null;
  return ranked.map(([movieId, score], slot) => ({ movieId, score, because: reasons?.[slot] ?? [] }));
}

/** [movieId, score as returned, raw total > 0] */
type RankedCandidate = [number, number, boolean];

/** Ranking order: positive raw totals first, then higher score, then lower movie id. */
const ranksBefore = (a: RankedCandidate, b: RankedCandidate): boolean => (a[2] !== b[2] ? a[2] : a[1] !== b[1] ? a[1] > b[1] : a[0] < b[0]);

/**
 * The best `limit` candidates in ranking order. A bounded insertion keeps only `limit` of them
 * (a page is at most 100 of the ~1000 candidates), so the rest is never sorted.
 */
function topCandidates(totals: CandidateTotals, limit: number, scoreOf: ((movieId: number, raw: number) => number) | null): RankedCandidate[] {
  const kept: RankedCandidate[] = [];
  if (limit === 0) return kept;
  for (const [movieId, raw] of totals) {
    const candidate: RankedCandidate = [movieId, scoreOf ? scoreOf(movieId, raw) : raw, raw > 0];
    if (kept.length === limit && !ranksBefore(candidate, kept[limit - 1]!)) continue;
    let position = kept.length === limit ? limit - 1 : kept.length;
    if (kept.length < limit) kept.push(candidate);
    while (position > 0 && ranksBefore(candidate, kept[position - 1]!)) {
      kept[position] = kept[position - 1]!;
      position -= 1;
    }
    kept[position] = candidate;
  }
  return kept;
}

/**
 * Per ranked candidate, the profile movies with the largest positive contributions (weight ×
 * similarity), strongest first, ties by lower movie id; at most `maxReasons` each, kept in place
 * as they come instead of collecting every contribution.
 */
function strongestReasons(
  profile: readonly ProfileItem[],
  neighboursOf: (movieId: number) => readonly Neighbour[] | undefined,
  ranked: readonly RankedCandidate[],
  maxReasons: number,
  canExplain: ((movieId: number) => boolean) | undefined,
  denseIds: boolean,
): number[][] {
  const reasonIds = new Float64Array(ranked.length * maxReasons);
  const reasonValues = new Float64Array(ranked.length * maxReasons).fill(Number.NEGATIVE_INFINITY);
  // Which ranked candidate a neighbour is: its slot + 1 in the (zeroed) scratch totals when every
  // id indexes them, else a map.
  const slots = denseIds ? null : new Map(ranked.map(([movieId], slot) => [movieId, slot]));
  if (denseIds) ranked.forEach(([movieId], slot) => (scratchTotals[movieId] = slot + 1));
  for (const item of profile) {
    if (item.weight <= 0 || (canExplain && !canExplain(item.movieId))) continue;
    const list = neighboursOf(item.movieId);
    if (!list) continue;
    // Dense ids: the columns denseTotals packed (every list it read could be).
    const columns = slots ? null : packed(list);
    for (let index = 0; index < list.length; index += 1) {
      const movieId = columns ? columns.movieIds[index]! : list[index]!.movieId;
      const score = columns ? columns.scores[index]! : list[index]!.score;
      if (score <= 0) continue;
      const slot = slots ? (slots.get(movieId) ?? -1) : scratchTotals[movieId]! - 1;
      if (slot < 0) continue;
      const value = item.weight * score;
      const base = slot * maxReasons;
      let position = maxReasons;
      while (position > 0 && (value > reasonValues[base + position - 1]! || (value === reasonValues[base + position - 1]! && item.movieId < reasonIds[base + position - 1]!))) position -= 1;
      if (position === maxReasons) continue;
      for (let shift = maxReasons - 1; shift > position; shift -= 1) {
        reasonValues[base + shift] = reasonValues[base + shift - 1]!;
        reasonIds[base + shift] = reasonIds[base + shift - 1]!;
      }
      reasonValues[base + position] = value;
      reasonIds[base + position] = item.movieId;
    }
  }
  if (denseIds) for (const [movieId] of ranked) scratchTotals[movieId] = 0;
  return ranked.map((_, slot) => {
    const because: number[] = [];
    for (let position = 0; position < maxReasons && reasonValues[slot * maxReasons + position]! > Number.NEGATIVE_INFINITY; position += 1) {
      because.push(reasonIds[slot * maxReasons + position]!);
    }
    return because;
  });
}

/** [movieId, raw total] of every unseen candidate with at least one positive contribution. */
type CandidateTotals = [number, number][];

function mapTotals(profile: readonly ProfileItem[], neighboursOf: (movieId: number) => readonly Neighbour[] | undefined, seen: ReadonlySet<number>): CandidateTotals {
  const scores = new Map<number, number>();
  const supported = new Set<number>();
  for (const item of profile) {
    if (item.weight <= 0) continue;
    for (const neighbour of neighboursOf(item.movieId) ?? []) {
      if (seen.has(neighbour.movieId)) continue;
      scores.set(neighbour.movieId, (scores.get(neighbour.movieId) ?? 0) + item.weight * neighbour.score);
      if (neighbour.score > 0) supported.add(neighbour.movieId);
    }
  }
  return [...supported].map((movieId) => [movieId, scores.get(movieId)!]);
}

// Scratch state of denseTotals. Safe to share: scoring is synchronous, so calls never interleave.
const denseIdLimit = 1 << 24; // 16M ids: 128 MB of totals at most, only if such ids exist
const touchedFlag = 1;
const seenFlag = 2;
const supportedFlag = 4;
let scratchTotals = new Float64Array(1024);
let scratchFlags = new Uint8Array(1024);

const indexable = (movieId: number): boolean => movieId >= 0 && movieId < denseIdLimit && Number.isInteger(movieId);

function growScratch(movieId: number): void {
  let size = scratchFlags.length;
  while (size <= movieId) size *= 2;
  const totals = new Float64Array(size);
  totals.set(scratchTotals);
  const flags = new Uint8Array(size);
  flags.set(scratchFlags);
  scratchTotals = totals;
  scratchFlags = flags;
}

/** A neighbour list as two columns: the hot loops read contiguous numbers instead of one object per pair. */
interface PackedNeighbours {
  movieIds: Int32Array;
  scores: Float64Array;
}

// Neighbour lists packed into columns once, after checking that their ids index the scratch
// arrays (which only ever grow): a model's lists are immutable and asked again on every request.
// null: a list with an id that cannot index them (the Map path then). ~12 bytes per edge, and
// dropped with the lists (a retired model's copy).
const packedLists = new WeakMap<readonly Neighbour[], PackedNeighbours | null>();

function packed(list: readonly Neighbour[]): PackedNeighbours | null {
  const known = packedLists.get(list);
  if (known !== undefined) return known;
  let columns: PackedNeighbours | null = { movieIds: new Int32Array(list.length), scores: new Float64Array(list.length) };
  for (let index = 0; index < list.length; index += 1) {
    const { movieId, score } = list[index]!;
    if (!indexable(movieId)) {
      columns = null;
      break;
    }
    if (movieId >= scratchFlags.length) growScratch(movieId);
    columns.movieIds[index] = movieId;
    columns.scores[index] = score;
  }
  packedLists.set(list, columns);
  return columns;
}

/** mapTotals over scratch arrays (same sums in the same order), or null when an id cannot index one. */
function denseTotals(profile: readonly ProfileItem[], neighboursOf: (movieId: number) => readonly Neighbour[] | undefined, seen: ReadonlySet<number>): CandidateTotals | null {
  const touched: number[] = [];
  const reset = (): void => {
    for (const movieId of touched) {
      scratchFlags[movieId] = 0;
      scratchTotals[movieId] = 0;
    }
  };
  for (const movieId of seen) {
    if (!indexable(movieId)) {
      reset();
      return null;
    }
    if (movieId >= scratchFlags.length) growScratch(movieId);
    if (scratchFlags[movieId] === 0) touched.push(movieId);
    scratchFlags[movieId] = touchedFlag | seenFlag;
  }
  for (const item of profile) {
    const weight = item.weight;
    if (weight <= 0) continue;
    const list = neighboursOf(item.movieId);
    if (!list) continue;
    const columns = packed(list);
    if (!columns) {
      reset();
      return null;
    }
    const { movieIds, scores } = columns;
    for (let index = 0; index < movieIds.length; index += 1) {
      const movieId = movieIds[index]!;
      const flags = scratchFlags[movieId]!;
      if ((flags & seenFlag) !== 0) continue;
      if (flags === 0) touched.push(movieId);
      const score = scores[index]!;
      scratchTotals[movieId]! += weight * score;
      scratchFlags[movieId] = flags | touchedFlag | (score > 0 ? supportedFlag : 0);
    }
  }
  const totals: CandidateTotals = [];
  for (const movieId of touched) if ((scratchFlags[movieId]! & supportedFlag) !== 0) totals.push([movieId, scratchTotals[movieId]!]);
  reset();
  return totals;
}
