// The precomputed item-item model: from every user's interactions, the top-k most similar movies
// of each movie. Pure computation over plain arrays so that it runs in a worker thread, in the
// evaluation command and in unit tests alike; reading the graph and writing SIMILAR edges live
// elsewhere (model/store.ts).
//
// CONTRACT (other modules depend on these names and shapes; the algorithm inside may change):
//   computeSimilarities(interactions, options) -> SimilarityModel
//   profileWeight(interaction, now)            -> weight of one movie in a user's profile
//   scoreCandidates(profile, neighboursOf, ...) -> ranked candidates with reasons

export interface TrainingInteraction {
  userId: string;
  movieId: number;
  /** 0.5..5.0, or null when the user only reacted. */
  rating: number | null;
  reaction: 'LIKE' | 'DISLIKE' | null;
  /** Epoch ms of the latest of the rating and the reaction. */
  at: number;
}

export interface Neighbour {
  movieId: number;
  score: number;
}

export interface SimilarityModel {
  /** Per movie: its most similar movies, best first, never itself; movies with none are absent. */
  neighbours: Map<number, Neighbour[]>;
  users: number;
  movies: number;
  edges: number;
}

export interface SimilarityOptions {
  /** Neighbours kept per movie. */
  neighboursPerMovie: number;
  /** Called now and then with the share of the work done (0..1). */
  onProgress?: (fraction: number) => void;
}

export const defaultSimilarityOptions: SimilarityOptions = { neighboursPerMovie: 50 };

/** Weight of one interaction in the user-item matrix and in a user's profile; <= 0 means "not positive". */
export function profileWeight(interaction: TrainingInteraction, _now: number): number {
  if (interaction.reaction === 'DISLIKE') return 0;
  if (interaction.reaction === 'LIKE') return 1;
  return interaction.rating !== null && interaction.rating >= 4 ? 1 : 0;
}

/** Cosine similarity with shrinkage over the binarised positive matrix (baseline). */
export function computeSimilarities(interactions: readonly TrainingInteraction[], options: SimilarityOptions = defaultSimilarityOptions): SimilarityModel {
  const now = Date.now();
  const itemsByUser = new Map<string, number[]>();
  const degree = new Map<number, number>();
  const movies = new Set<number>();
  for (const interaction of interactions) {
    movies.add(interaction.movieId);
    if (profileWeight(interaction, now) <= 0) continue;
    const items = itemsByUser.get(interaction.userId) ?? [];
    items.push(interaction.movieId);
    itemsByUser.set(interaction.userId, items);
    degree.set(interaction.movieId, (degree.get(interaction.movieId) ?? 0) + 1);
  }
  const coCounts = new Map<number, Map<number, number>>();
  let done = 0;
  for (const items of itemsByUser.values()) {
    for (const a of items) {
      let row = coCounts.get(a);
      if (!row) coCounts.set(a, (row = new Map()));
      for (const b of items) if (a !== b) row.set(b, (row.get(b) ?? 0) + 1);
    }
    done += 1;
    if (done % 100 === 0) options.onProgress?.(done / itemsByUser.size);
  }
  const shrinkage = 10;
  const neighbours = new Map<number, Neighbour[]>();
  let edges = 0;
  for (const [a, row] of coCounts) {
    const list: Neighbour[] = [];
    for (const [b, co] of row) {
      const cosine = co / Math.sqrt((degree.get(a) ?? 1) * (degree.get(b) ?? 1));
      list.push({ movieId: b, score: (cosine * co) / (co + shrinkage) });
    }
    list.sort((x, y) => y.score - x.score || x.movieId - y.movieId);
    const kept = list.slice(0, options.neighboursPerMovie);
    edges += kept.length;
    neighbours.set(a, kept);
  }
  options.onProgress?.(1);
  return { neighbours, users: itemsByUser.size, movies: movies.size, edges };
}

export interface ProfileItem {
  movieId: number;
  weight: number;
}

export interface ScoredCandidate {
  movieId: number;
  score: number;
  /** Profile movies that contributed most, strongest first. */
  because: number[];
}

/**
 * Scores every neighbour of the profile's movies: sum over profile movies of weight × similarity.
 * `seen` movies (rated, reacted, excluded) are never returned.
 */
export function scoreCandidates(
  profile: readonly ProfileItem[],
  neighboursOf: (movieId: number) => readonly Neighbour[] | undefined,
  seen: ReadonlySet<number>,
  limit: number,
  maxReasons = 3,
): ScoredCandidate[] {
  const byCandidate = new Map<number, { score: number; contributions: { movieId: number; value: number }[] }>();
  for (const item of profile) {
    if (item.weight <= 0) continue;
    for (const neighbour of neighboursOf(item.movieId) ?? []) {
      if (seen.has(neighbour.movieId)) continue;
      const value = item.weight * neighbour.score;
      const entry = byCandidate.get(neighbour.movieId) ?? { score: 0, contributions: [] };
      entry.score += value;
      entry.contributions.push({ movieId: item.movieId, value });
      byCandidate.set(neighbour.movieId, entry);
    }
  }
  return [...byCandidate]
    .map(([movieId, entry]) => ({
      movieId,
      score: entry.score,
      because: entry.contributions
        .sort((a, b) => b.value - a.value || a.movieId - b.movieId)
        .slice(0, maxReasons)
        .map((contribution) => contribution.movieId),
    }))
    .sort((a, b) => b.score - a.score || a.movieId - b.movieId)
    .slice(0, limit);
}
