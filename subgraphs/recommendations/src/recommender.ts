// What the GraphQL layer needs from a recommendation engine. The first implementation computes
// everything live from the like-graph (live-recommender.ts); a precomputed model (SIMILAR edges)
// with a Redis cache will implement the same interface, so swapping engines touches index.ts only.

export type RecommendationSource = 'COLLABORATIVE' | 'GENRE_PREFERENCE' | 'POPULAR';

export interface RecommendedMovie {
  movieId: number;
  /** Orders results of one source; see README for what it means per source. */
  score: number;
  /** Movies of the user that led here, strongest first; empty for fallbacks and for similar movies. */
  because: number[];
  source: RecommendationSource;
}

export interface Recommender {
  /**
   * "More like this" for several movies at once (one call per GraphQL request and page size).
   * `modelVersion` (engines with servingVersion): answer from that version, as servingVersion
   * reported it; by default the engine's own view of the active version.
   */
  similarMovies(movieIds: readonly number[], limit: number, modelVersion?: string): Promise<Map<number, RecommendedMovie[]>>;
  /**
   * The model version similarMovies answers from now (null: no model yet). Engines built on
   * versioned models have it; the cache stamps its similar-movie lists with it.
   */
  servingVersion?(): Promise<string | null>;
  /** Recommendations for one user, never including a movie they rated, liked, disliked or excluded. */
  forUser(userId: string, limit: number): Promise<RecommendedMovie[]>;
}

/** How many of a user's movies a recommendation names as its reason. */
export const maxReasons = 3;

export interface NeighbourRow {
  seedId: number;
  movieId: number;
  similarity: number;
}

const byScoreThenId = (a: RecommendedMovie, b: RecommendedMovie): number => b.score - a.score || a.movieId - b.movieId;

/** Per seed movie: its neighbours, most similar first. */
export function neighboursBySeed(rows: readonly NeighbourRow[], limit: number): Map<number, RecommendedMovie[]> {
  const bySeed = new Map<number, RecommendedMovie[]>();
  for (const row of rows) {
    const list = bySeed.get(row.seedId) ?? [];
    list.push({ movieId: row.movieId, score: row.similarity, because: [], source: 'COLLABORATIVE' });
    bySeed.set(row.seedId, list);
  }
  for (const [seedId, list] of bySeed) bySeed.set(seedId, list.sort(byScoreThenId).slice(0, limit));
  return bySeed;
}

/**
 * Item-based recommendations from the neighbours of all of a user's seed movies: a candidate's
 * score is the sum of its similarities to the seeds (so a movie close to several of the user's
 * favourites beats one close to a single favourite), and its reasons are the seeds that
 * contributed most.
 */
export function rankBySeedSimilarity(rows: readonly NeighbourRow[], limit: number): RecommendedMovie[] {
  const byCandidate = new Map<number, { score: number; contributions: { seedId: number; similarity: number }[] }>();
  for (const row of rows) {
    const entry = byCandidate.get(row.movieId) ?? { score: 0, contributions: [] };
    entry.score += row.similarity;
    entry.contributions.push({ seedId: row.seedId, similarity: row.similarity });
    byCandidate.set(row.movieId, entry);
  }
  const ranked: RecommendedMovie[] = [...byCandidate].map(([movieId, entry]) => ({
    movieId,
    score: entry.score,
    because: entry.contributions
      .sort((a, b) => b.similarity - a.similarity || a.seedId - b.seedId)
      .slice(0, maxReasons)
      .map((contribution) => contribution.seedId),
    source: 'COLLABORATIVE',
  }));
  return ranked.sort(byScoreThenId).slice(0, limit);
}

/**
 * Concatenates ranked lists in priority order (collaborative, then genre, then popular) up to
 * `limit`, skipping excluded movies and movies an earlier list already holds.
 */
export function fillUpTo(limit: number, lists: readonly (readonly RecommendedMovie[])[], excluded: ReadonlySet<number> = new Set()): RecommendedMovie[] {
  const picked: RecommendedMovie[] = [];
  const taken = new Set(excluded);
  for (const list of lists) {
    for (const item of list) {
      if (picked.length >= limit) return picked;
      if (taken.has(item.movieId)) continue;
      taken.add(item.movieId);
      picked.push(item);
    }
  }
  return picked;
}

export interface GenreMatchRow {
  movieId: number;
  sharedGenres: number;
  genreCount: number;
}

/** Score: the share of the asked genres the movie has (ties are already ordered by popularity). */
export function genreRecommendation(row: GenreMatchRow): RecommendedMovie {
  return {
    movieId: row.movieId,
    score: row.genreCount > 0 ? row.sharedGenres / row.genreCount : 0,
    because: [],
    source: 'GENRE_PREFERENCE',
  };
}

export interface PopularityRow {
  movieId: number;
  popularity: number;
}

/** Score: popularity relative to the most popular movie of the list (which scores 1). */
export function popularRecommendations(rows: readonly PopularityRow[]): RecommendedMovie[] {
  const top = Math.max(0, ...rows.map((row) => row.popularity));
  return rows.map((row) => ({ movieId: row.movieId, score: top > 0 ? row.popularity / top : 0, because: [], source: 'POPULAR' }));
}
