// The precomputed item-item model: from every user's interactions, the top-k most similar movies
// of each movie. Pure computation over plain arrays so that it runs in a worker thread, in the
// evaluation command and in unit tests alike; reading the graph and writing SIMILAR edges live
// elsewhere (model/store.ts).
//
// CONTRACT (other modules depend on these names and shapes; the algorithm inside may change):
//   computeSimilarities(interactions, options) -> SimilarityModel
//   profileWeight(interaction, now)            -> weight of one movie in a user's profile
//   buildProfile(interactions, now)            -> the profile serving scores (most recent first)
//   scoreCandidates(profile, neighboursOf, ...) -> ranked candidates with reasons (scoring.ts)
//
// The default algorithm is EASE (Steck 2019) over the 1000 most rated movies, with signed weights
// and a low-rank term (see computeEase): mean nDCG@10 0.401 against RP3beta's 0.351. The previous default, still
// available as similarity: 'rp3beta', is RP3beta (Paudel et al. 2017; as evaluated by Dacrema et al. 2019): a
// random walk of length 3 item -> user -> item on the interaction graph, with both transition
// matrices row-normalised, raised elementwise to the power alpha, and the arrival item's score
// divided by its popularity^beta; each movie keeps its 50 best neighbours, their scores scaled to
// sum to 1 so that every profile movie has the same say. It was chosen over item-kNN cosine and
// P3alpha, and its parameters were tuned, by measurement with scripts/eval-recs.ts (MovieLens
// ml-latest-small, Microsoft Recommenders protocol); the comparison table and the command are in
// the subgraph's README (offline evaluation).

import { topEigenpairs, type Eigenpairs } from './spectral.ts';

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

export type SimilarityKind = 'rp3beta' | 'cosine' | 'ease';

/** How one interaction turns into a weight, in the user-item matrix and in a profile. */
export interface InteractionWeighting {
  /** Ratings below this carry no weight (0.5 keeps every rating). */
  minRating: number;
  /** 'binary': every kept rating weighs 1; 'linear': rating / 5. */
  ratingScale: 'binary' | 'linear';
  /** Weight of a LIKE (a liked and rated movie takes the larger of the two weights). */
  likeWeight: number;
  /**
   * Profile only: half-life in days of an exponential decay by age (now - at); null = no decay.
   * The matrix never decays: co-occurrence is evidence however old it is.
   */
  halfLifeDays: number | null;
}

export interface SimilarityModel {
  /** Per movie: its most similar movies, best first, never itself; movies with none are absent. */
  neighbours: Map<number, Neighbour[]>;
  /** Users with at least one positive interaction. */
  users: number;
  /**
   * Optional serving-side popularity penalty, present when the model was built with
   * `popularityPenalty` > 0: per movie (every movie with a positive interaction), the amount
   * scoreCandidates subtracts from the candidate's per-user normalised score (pass
   * `(id) => model.popularityPenalty.get(id) ?? 0` as its `penaltyOf`). See penaltyOf there.
   */
  popularityPenalty?: Map<number, number>;
  /** Distinct movies in the input. */
  movies: number;
  edges: number;
  /** The options the model was built with (onProgress left out), for recording a model version. */
  parameters: ModelParameters;
}

export interface SimilarityOptions {
  /**
   * Neighbours kept per movie; default per measure (defaultNeighboursPerMovie: 50 for rp3beta and
   * cosine, 200 for ease, where the edges with the largest |weight| are kept, negative ones too).
   */
  neighboursPerMovie?: number;
  /** The similarity measure; default defaultSimilarityOptions.similarity. */
  similarity?: SimilarityKind;
  /** RP3beta: exponent of the transition probabilities (1 = plain random walk). */
  alpha?: number;
  /** RP3beta: popularity penalty exponent of the arrival movie (0 = P3alpha). */
  beta?: number;
  /** Cosine: added to the denominator, so pairs with little support score lower. */
  shrinkage?: number;
  /** Which side of a movie's edges is limited to neighboursPerMovie; see computeSimilarities. */
  neighbourhood?: 'incoming' | 'outgoing';
  /** Scale every movie's neighbour scores to sum to 1. Not used by 'ease' (signed weights; recorded as false). */
  normalizeRows?: boolean;
  weighting?: InteractionWeighting;
  /** EASE: the model covers the N movies with the most positive interactions (dense N×N solve). */
  easeMovies?: number;
  /** EASE: L2 regularisation added to the Gram matrix's diagonal. */
  easeLambda?: number;
  /** EASE: scale each user's contribution to the Gram matrix by 1/sqrt(their interactions). */
  easeUserScaling?: boolean;
  /**
   * EASE: dropout rate p of the emphasized denoising variant (EDLAE, Steck 2020), 0 = plain EASE:
   * each movie's diagonal gets p/(1-p) times its own Gram entry on top of easeLambda, so popular
   * movies are regularised in proportion to their weight instead of all by the same constant.
   */
  easeDropout?: number;
  /**
   * EASE: weight α of the low-rank term added to B (0 = plain EASE, default 0.075): B' = B + α·c·L with
   * L = V diag(s / (s + easeLambda)) Vᵀ (zero diagonal) over the `easeLowRankDimensions` leading
   * eigenpairs (s, V) of the unregularised Gram matrix, and c = mean |B| / mean |L| off the diagonal
   * so that α is a share of EASE's own scale. EASE fits each movie from the others exactly; the
   * low-rank term adds the broad taste dimensions shared by many movies (what a matrix
   * factorisation sees), which EASE's one-movie-at-a-time weights spread too thin.
   */
  easeLowRankWeight?: number;
  /** EASE: how many leading eigenpairs the low-rank term uses. */
  easeLowRankDimensions?: number;
  /**
   * Strength g of the optional popularity penalty (0 = none): the model then carries
   * `popularityPenalty`, g · ln(1 + n_j) / ln(1 + n_max) per movie j (n = users with a positive
   * interaction), which scoreCandidates subtracts from each candidate's score divided by the user's
   * best score. Serving applies it only if it passes the penalties to scoreCandidates.
   */
  popularityPenalty?: number;
  /** Called now and then with the share of the work done (0..1). */
  onProgress?: (fraction: number) => void;
}

export type ModelParameters = Required<Omit<SimilarityOptions, 'onProgress'>>;

/**
 * Every rating counts, in proportion to its value (rating / 5): measured, this beat both
 * "every rating weighs 1" and "only ratings >= 4", and a time decay only lost accuracy. A LIKE
 * weighs as much as a 5-star rating (the strongest statement a rating can make; MovieLens has no
 * likes to measure a larger weight against); a DISLIKE is left out entirely (interactionStrength).
 */
export const defaultWeighting: InteractionWeighting = { minRating: 0.5, ratingScale: 'linear', likeWeight: 1, halfLifeDays: null };

/** Neighbours kept per movie when the options do not say. */
export const defaultNeighboursPerMovie: Readonly<Record<SimilarityKind, number>> = { rp3beta: 50, cosine: 50, ease: 300 };

/**
 * What production builds: EASE over the 1000 most rated movies, lambda 12, users scaled by
 * 1/sqrt(interactions), plus a 20-dimension low-rank term of weight 0.075, 300 signed edges per
 * movie: mean nDCG@10 0.4005 / P@10 0.3495 over seeds 42-44 (profile of 1000) against 0.351 /
 * 0.307 for RP3beta (README, offline evaluation). Every choice was made on validation splits
 * carved out of the training parts (eval:recs --validation), never on the test parts: the low-rank
 * term, its weight, its dimensions and the 300 edges are the cheapest setting within one standard
 * error of the best of a grid there (the one-standard-error rule). alpha, beta, shrinkage are
 * RP3beta's / cosine's tuned values, used when those are chosen. The popularity penalty and
 * EDLAE's dropout stay off: neither helped on the validation splits (README).
 */
export const defaultSimilarityOptions: SimilarityOptions & ModelParameters = {
  neighboursPerMovie: 300,
  similarity: 'ease',
  alpha: 0.5,
  beta: 0.5,
  shrinkage: 10,
  neighbourhood: 'outgoing',
  normalizeRows: false,
  weighting: defaultWeighting,
  easeMovies: 1000,
  easeLambda: 12,
  easeUserScaling: true,
  easeDropout: 0,
  easeLowRankWeight: 0.075,
  easeLowRankDimensions: 20,
  popularityPenalty: 0,
};

/**
 * Most recent interactions of a user that serving (and the evaluation) reads as the profile.
 * Measured with EASE (README, mean nDCG@10 of 3 seeds): 500 -> 0.390, 1000 -> 0.398, all -> 0.398
 * (validation splits agree). Only users with more interactions than the limit are affected
 * (ml-latest-small: 27 of 610 have over 500), and each profile movie costs one neighbour-list
 * lookup per request: 1000 takes the gain and still bounds the cost of the heaviest raters.
 */
export const maxProfileItems = 1000;

const dayMs = 86_400_000;

/** Weight of an interaction before any time decay; <= 0 means "not positive". */
function interactionStrength(interaction: TrainingInteraction, weighting: InteractionWeighting): number {
  // An explicit DISLIKE outranks any rating: the movie says nothing about what the user wants,
  // and counting it would make movies disliked together look similar.
  if (interaction.reaction === 'DISLIKE') return 0;
  const rating = interaction.rating;
  const fromRating = rating !== null && rating >= weighting.minRating ? (weighting.ratingScale === 'binary' ? 1 : rating / 5) : 0;
  return interaction.reaction === 'LIKE' ? Math.max(weighting.likeWeight, fromRating) : fromRating;
}

/** Weight of one interaction in the user-item matrix and in a user's profile; <= 0 means "not positive". */
export function profileWeight(interaction: TrainingInteraction, now: number, weighting: InteractionWeighting = defaultWeighting): number {
  const strength = interactionStrength(interaction, weighting);
  if (strength <= 0 || weighting.halfLifeDays === null) return strength;
  const ageDays = Math.max(0, now - interaction.at) / dayMs;
  // Never exactly 0 (underflow for very old interactions would turn a positive into "not positive").
  return Math.max(strength * 0.5 ** (ageDays / weighting.halfLifeDays), Number.MIN_VALUE);
}

/**
 * The options with every default filled in, as computeSimilarities records them. Defaults that
 * depend on the measure (neighboursPerMovie, normalizeRows) follow the chosen measure: the
 * defaultSimilarityOptions value when it is the default measure, else that measure's own.
 */
export function resolveSimilarityOptions(options: SimilarityOptions): ModelParameters {
  const defaults = defaultSimilarityOptions;
  const similarity = options.similarity ?? defaults.similarity;
  const sameKind = similarity === defaults.similarity;
  const ease = similarity === 'ease';
  const resolved: ModelParameters = {
    neighboursPerMovie: options.neighboursPerMovie ?? (sameKind ? defaults.neighboursPerMovie : defaultNeighboursPerMovie[similarity]),
    similarity,
    alpha: options.alpha ?? defaults.alpha,
    beta: options.beta ?? defaults.beta,
    shrinkage: options.shrinkage ?? defaults.shrinkage,
    neighbourhood: options.neighbourhood ?? defaults.neighbourhood,
    // EASE weights are signed: scaling a row to sum to 1 has no meaning there.
    normalizeRows: ease ? false : (options.normalizeRows ?? (sameKind ? defaults.normalizeRows : true)),
    weighting: options.weighting ?? defaults.weighting,
    easeMovies: options.easeMovies ?? defaults.easeMovies,
    easeLambda: options.easeLambda ?? defaults.easeLambda,
    easeUserScaling: options.easeUserScaling ?? defaults.easeUserScaling,
    easeDropout: options.easeDropout ?? defaults.easeDropout,
    easeLowRankWeight: options.easeLowRankWeight ?? defaults.easeLowRankWeight,
    easeLowRankDimensions: options.easeLowRankDimensions ?? defaults.easeLowRankDimensions,
    popularityPenalty: options.popularityPenalty ?? defaults.popularityPenalty,
  };
  if (!Number.isSafeInteger(resolved.neighboursPerMovie) || resolved.neighboursPerMovie < 1) throw new RangeError(`neighboursPerMovie must be a whole number >= 1, got ${resolved.neighboursPerMovie}`);
  if (!(resolved.alpha > 0)) throw new RangeError(`alpha must be > 0, got ${resolved.alpha}`);
  if (!(resolved.beta >= 0)) throw new RangeError(`beta must be >= 0, got ${resolved.beta}`);
  if (!(resolved.shrinkage >= 0)) throw new RangeError(`shrinkage must be >= 0, got ${resolved.shrinkage}`);
  if (!Number.isSafeInteger(resolved.easeMovies) || resolved.easeMovies < 1) throw new RangeError(`easeMovies must be a whole number >= 1, got ${resolved.easeMovies}`);
  if (!(resolved.easeLambda > 0 && Number.isFinite(resolved.easeLambda))) throw new RangeError(`easeLambda must be > 0, got ${resolved.easeLambda}`);
  if (!(resolved.easeDropout >= 0 && resolved.easeDropout < 1)) throw new RangeError(`easeDropout must be in [0, 1), got ${resolved.easeDropout}`);
  if (!(resolved.easeLowRankWeight >= 0 && Number.isFinite(resolved.easeLowRankWeight))) throw new RangeError(`easeLowRankWeight must be >= 0, got ${resolved.easeLowRankWeight}`);
  if (!Number.isSafeInteger(resolved.easeLowRankDimensions) || resolved.easeLowRankDimensions < 1) throw new RangeError(`easeLowRankDimensions must be a whole number >= 1, got ${resolved.easeLowRankDimensions}`);
  if (!(resolved.popularityPenalty >= 0 && Number.isFinite(resolved.popularityPenalty))) throw new RangeError(`popularityPenalty must be >= 0, got ${resolved.popularityPenalty}`);
  if (ease && resolved.neighbourhood !== 'outgoing') throw new RangeError(`similarity 'ease' keeps outgoing neighbourhoods only, got neighbourhood '${resolved.neighbourhood}'`);
  return resolved;
}

/**
 * The positive interactions as a sparse matrix in both orientations (CSR by user, CSC by movie),
 * in typed arrays: a few MB for a million interactions, and tight loops without hashing.
 */
interface InteractionMatrix {
  users: number;
  /** Dense movie index -> movie id, for every movie of the input (positive or not). */
  movieIds: Float64Array;
  userStart: Int32Array; // length users + 1
  userMovies: Int32Array; // dense movie indices
  userWeights: Float64Array;
  movieStart: Int32Array; // length movies + 1
  movieUsers: Int32Array; // dense user indices
  movieWeights: Float64Array;
  /** CSC position -> the CSR position of the same entry. */
  movieEntryInUserOrder: Int32Array;
}

function buildMatrix(interactions: readonly TrainingInteraction[], weighting: InteractionWeighting): InteractionMatrix {
  const movieIndex = new Map<number, number>();
  const movieIdList: number[] = [];
  const userIndex = new Map<string, number>();
  const entryUser = new Int32Array(interactions.length);
  const entryMovie = new Int32Array(interactions.length);
  const entryWeight = new Float64Array(interactions.length);
  let entries = 0;
  for (const interaction of interactions) {
    let movie = movieIndex.get(interaction.movieId);
    if (movie === undefined) {
      movie = movieIdList.length;
      movieIndex.set(interaction.movieId, movie);
      movieIdList.push(interaction.movieId);
    }
    const weight = interactionStrength(interaction, weighting);
    if (!(weight > 0)) continue;
    let user = userIndex.get(interaction.userId);
    if (user === undefined) {
      user = userIndex.size;
      userIndex.set(interaction.userId, user);
    }
    entryUser[entries] = user;
    entryMovie[entries] = movie;
    entryWeight[entries] = weight;
    entries += 1;
  }
  const users = userIndex.size;
  const movies = movieIdList.length;

  // Counting sort of the entries by user; a (user, movie) pair given twice keeps its larger weight.
  const userStart = new Int32Array(users + 1);
  for (let e = 0; e < entries; e += 1) userStart[entryUser[e]! + 1]! += 1;
  for (let u = 0; u < users; u += 1) userStart[u + 1]! += userStart[u]!;
  const fill = userStart.slice(0, users);
  const sortedMovies = new Int32Array(entries);
  const sortedWeights = new Float64Array(entries);
  for (let e = 0; e < entries; e += 1) {
    const position = fill[entryUser[e]!]!;
    fill[entryUser[e]!]! += 1;
    sortedMovies[position] = entryMovie[e]!;
    sortedWeights[position] = entryWeight[e]!;
  }
  const positionOfMovie = new Int32Array(movies).fill(-1);
  const compactStart = new Int32Array(users + 1);
  let kept = 0;
  for (let u = 0; u < users; u += 1) {
    const rowStart = kept;
    for (let p = userStart[u]!; p < userStart[u + 1]!; p += 1) {
      const movie = sortedMovies[p]!;
      const earlier = positionOfMovie[movie]!;
      if (earlier >= rowStart) {
        sortedWeights[earlier] = Math.max(sortedWeights[earlier]!, sortedWeights[p]!);
        continue;
      }
      positionOfMovie[movie] = kept;
      sortedMovies[kept] = movie;
      sortedWeights[kept] = sortedWeights[p]!;
      kept += 1;
    }
    compactStart[u + 1] = kept;
  }
  const userMovies = sortedMovies.slice(0, kept);
  const userWeights = sortedWeights.slice(0, kept);

  // Transpose: the same entries by movie.
  const movieStart = new Int32Array(movies + 1);
  for (let p = 0; p < kept; p += 1) movieStart[userMovies[p]! + 1]! += 1;
  for (let m = 0; m < movies; m += 1) movieStart[m + 1]! += movieStart[m]!;
  const movieFill = movieStart.slice(0, movies);
  const movieUsers = new Int32Array(kept);
  const movieWeights = new Float64Array(kept);
  const movieEntryInUserOrder = new Int32Array(kept);
  for (let u = 0; u < users; u += 1) {
    for (let p = compactStart[u]!; p < compactStart[u + 1]!; p += 1) {
      const movie = userMovies[p]!;
      const position = movieFill[movie]!;
      movieFill[movie]! += 1;
      movieUsers[position] = u;
      movieWeights[position] = userWeights[p]!;
      movieEntryInUserOrder[position] = p;
    }
  }
  return { users, movieIds: Float64Array.from(movieIdList), userStart: compactStart, userMovies, userWeights, movieStart, movieUsers, movieWeights, movieEntryInUserOrder };
}

/**
 * Keeps the k best (score, movie) pairs of one row: a binary min-heap on typed arrays whose root
 * is the worst kept pair, so most candidates are rejected with one comparison.
 */
class TopK {
  readonly #scores: Float64Array;
  readonly #movies: Int32Array;
  readonly #movieIds: Float64Array;
  size = 0;

  constructor(capacity: number, movieIds: Float64Array) {
    this.#scores = new Float64Array(capacity);
    this.#movies = new Int32Array(capacity);
    this.#movieIds = movieIds;
  }

  /** True when (scoreA, movieA) ranks below (scoreB, movieB): lower score, or equal and higher id. */
  #worse(scoreA: number, movieA: number, scoreB: number, movieB: number): boolean {
    return scoreA < scoreB || (scoreA === scoreB && this.#movieIds[movieA]! > this.#movieIds[movieB]!);
  }

  offer(score: number, movie: number): void {
    const scores = this.#scores;
    const movies = this.#movies;
    if (this.size < scores.length) {
      let child = this.size;
      this.size += 1;
      while (child > 0) {
        const parent = (child - 1) >> 1;
        if (!this.#worse(score, movie, scores[parent]!, movies[parent]!)) break;
        scores[child] = scores[parent]!;
        movies[child] = movies[parent]!;
        child = parent;
      }
      scores[child] = score;
      movies[child] = movie;
      return;
    }
    if (!this.#worse(scores[0]!, movies[0]!, score, movie)) return;
    let parent = 0;
    for (;;) {
      let child = 2 * parent + 1;
      if (child >= this.size) break;
      if (child + 1 < this.size && this.#worse(scores[child + 1]!, movies[child + 1]!, scores[child]!, movies[child]!)) child += 1;
      if (!this.#worse(scores[child]!, movies[child]!, score, movie)) break;
      scores[parent] = scores[child]!;
      movies[parent] = movies[child]!;
      parent = child;
    }
    scores[parent] = score;
    movies[parent] = movie;
  }

  /** Calls `visit` for every kept pair (in heap order) and empties the heap. */
  drain(visit: (score: number, movie: number) => void): void {
    for (let i = 0; i < this.size; i += 1) visit(this.#scores[i]!, this.#movies[i]!);
    this.size = 0;
  }
}

/**
 * The similar movies of every movie. Both measures are computed one movie at a time as a sparse
 * product (the movie's users, then their movies), accumulating into one dense array, so the work
 * is the sum over users of (positive interactions)^2 and memory stays O(interactions + movies).
 *
 * - 'rp3beta': score(i -> j) = sum over users u of P(i->u)^alpha * P(u->j)^alpha / popularity(j)^beta,
 *   where P(i->u) = w(u,i) / sum_v w(v,i), P(u->j) = w(u,j) / sum_m w(u,m), popularity(j) = number
 *   of users with a positive interaction with j. Not symmetric: score(i -> j) is how strongly
 *   someone who watched i is led to j.
 * - 'cosine': score(i, j) = sum_u w(u,i) w(u,j) / (|w(.,i)| |w(.,j)| + shrinkage).
 *
 * Pruning ('neighbourhood'): 'incoming' keeps, for every movie j, the k movies i with the highest
 * score(i -> j) (j is suggested only from its k closest movies, the classic item-kNN), so a popular
 * movie can lead to many more than k movies; 'outgoing' keeps the k best j of every i.
 */
export function computeSimilarities(interactions: readonly TrainingInteraction[], options: SimilarityOptions = defaultSimilarityOptions): SimilarityModel {
  const parameters = resolveSimilarityOptions(options);
  const onProgress = options.onProgress;
  const matrix = buildMatrix(interactions, parameters.weighting);
  const popularityPenalty = parameters.popularityPenalty > 0 ? popularityPenalties(matrix, parameters.popularityPenalty) : undefined;
  const withPenalty = (model: SimilarityModel): SimilarityModel => (popularityPenalty ? { ...model, popularityPenalty } : model);
  if (parameters.similarity === 'ease') return withPenalty(computeEase(matrix, parameters, onProgress));
  const movies = matrix.movieIds.length;
  const { userStart, userMovies, userWeights, movieStart, movieUsers, movieWeights, movieEntryInUserOrder } = matrix;
  const entries = userWeights.length;
  const rp3beta = parameters.similarity === 'rp3beta';

  // The two factors of every entry (u, m), stored in both orders so that either side of the
  // product reads them sequentially: toMovie = factor of the step u -> m, fromMovie = m -> u.
  const toMovieByUser = new Float64Array(entries);
  const fromMovieByUser = new Float64Array(entries);
  // rp3beta: popularity(m)^-beta; cosine: |w(., m)|.
  const movieScale = new Float64Array(movies);
  if (rp3beta) {
    for (let u = 0; u < matrix.users; u += 1) {
      let total = 0;
      for (let p = userStart[u]!; p < userStart[u + 1]!; p += 1) total += userWeights[p]!;
      for (let p = userStart[u]!; p < userStart[u + 1]!; p += 1) toMovieByUser[p] = (userWeights[p]! / total) ** parameters.alpha;
    }
    for (let m = 0; m < movies; m += 1) {
      let total = 0;
      for (let q = movieStart[m]!; q < movieStart[m + 1]!; q += 1) total += movieWeights[q]!;
      for (let q = movieStart[m]!; q < movieStart[m + 1]!; q += 1) fromMovieByUser[movieEntryInUserOrder[q]!] = (movieWeights[q]! / total) ** parameters.alpha;
      const popularity = movieStart[m + 1]! - movieStart[m]!;
      movieScale[m] = popularity > 0 ? popularity ** -parameters.beta : 0;
    }
  } else {
    toMovieByUser.set(userWeights);
    fromMovieByUser.set(userWeights);
    for (let m = 0; m < movies; m += 1) {
      let squares = 0;
      for (let q = movieStart[m]!; q < movieStart[m + 1]!; q += 1) squares += movieWeights[q]! ** 2;
      movieScale[m] = Math.sqrt(squares);
    }
  }
  const toMovieByMovie = new Float64Array(entries);
  const fromMovieByMovie = new Float64Array(entries);
  for (let q = 0; q < entries; q += 1) {
    toMovieByMovie[q] = toMovieByUser[movieEntryInUserOrder[q]!]!;
    fromMovieByMovie[q] = fromMovieByUser[movieEntryInUserOrder[q]!]!;
  }
  const score = (sum: number, from: number, to: number): number =>
    rp3beta ? sum * movieScale[to]! : sum / (movieScale[from]! * movieScale[to]! + parameters.shrinkage);

  // outgoing: for movie i, sum[j] = sum_u from(i,u) * to(u,j); incoming: for movie j, sum[i] likewise.
  const outgoing = parameters.neighbourhood === 'outgoing';
  const anchorFactor = outgoing ? fromMovieByMovie : toMovieByMovie;
  const otherFactor = outgoing ? toMovieByUser : fromMovieByUser;
  const sums = new Float64Array(movies);
  const touched = new Int32Array(movies);
  const best = new TopK(parameters.neighboursPerMovie, matrix.movieIds);
  const edgeFrom = new Int32Array(movies * parameters.neighboursPerMovie);
  const edgeTo = new Int32Array(edgeFrom.length);
  const edgeScore = new Float64Array(edgeFrom.length);
  let edges = 0;
  const keepEdge = outgoing
    ? (anchor: number) => (value: number, other: number) => {
        edgeFrom[edges] = anchor;
        edgeTo[edges] = other;
        edgeScore[edges] = value;
        edges += 1;
      }
    : (anchor: number) => (value: number, other: number) => {
        edgeFrom[edges] = other;
        edgeTo[edges] = anchor;
        edgeScore[edges] = value;
        edges += 1;
      };
  const progressEvery = Math.max(1, Math.ceil(movies / 50));
  for (let anchor = 0; anchor < movies; anchor += 1) {
    let touchedCount = 0;
    for (let q = movieStart[anchor]!; q < movieStart[anchor + 1]!; q += 1) {
      const user = movieUsers[q]!;
      const anchorStep = anchorFactor[q]!;
      for (let p = userStart[user]!; p < userStart[user + 1]!; p += 1) {
        const other = userMovies[p]!;
        if (sums[other] === 0) touched[touchedCount++] = other;
        sums[other]! += anchorStep * otherFactor[p]!;
      }
    }
    for (let t = 0; t < touchedCount; t += 1) {
      const other = touched[t]!;
      const sum = sums[other]!;
      sums[other] = 0;
      if (other === anchor) continue;
      const value = outgoing ? score(sum, anchor, other) : score(sum, other, anchor);
      if (value > 0) best.offer(value, other);
    }
    best.drain(keepEdge(anchor));
    if (onProgress && (anchor + 1) % progressEvery === 0) onProgress(((anchor + 1) / movies) * 0.95);
  }

  const neighbours = groupEdges(matrix.movieIds, edgeFrom, edgeTo, edgeScore, edges, parameters.normalizeRows);
  onProgress?.(1);
  return withPenalty({ neighbours, users: matrix.users, movies, edges, parameters });
}

/** g · ln(1 + n_j) / ln(1 + n_max) for every movie with n_j >= 1 positive interactions. */
function popularityPenalties(matrix: InteractionMatrix, strength: number): Map<number, number> {
  const { movieStart, movieIds } = matrix;
  let most = 0;
  for (let m = 0; m < movieIds.length; m += 1) most = Math.max(most, movieStart[m + 1]! - movieStart[m]!);
  const penalties = new Map<number, number>();
  for (let m = 0; m < movieIds.length; m += 1) {
    const count = movieStart[m + 1]! - movieStart[m]!;
    if (count > 0) penalties.set(movieIds[m]!, (strength * Math.log1p(count)) / Math.log1p(most));
  }
  return penalties;
}

/**
 * EASE (Steck 2019) restricted to the `easeMovies` most popular movies M, with users weighted:
 *   G = Xᵀ D X + λ I   (X[u, i] = the interaction weight of u for i in M, D = diag(1 / sqrt(deg_u)),
 *                       deg_u = u's positive interactions over all movies when easeUserScaling)
 *   P = G⁻¹,  B[i, j] = -P[i, j] / P[j, j],  B[i, i] = 0
 * B is the closed-form ridge regression of each movie's column on all the others under the
 * constraint of a zero diagonal; score(i -> j) = B[i, j], signed: a negative weight says that
 * having watched i makes j less likely. Each movie keeps its `neighboursPerMovie` largest |B[i, j]|
 * (negative ones too: dropping them loses most of EASE's gain). Movies outside M get no edges.
 *
 * Dense in M: G is inverted by Cholesky (G = L Lᵀ, W = L⁻¹, P = Wᵀ W), about N³/2 multiply-adds
 * (0.5e9 for N = 1000) and two N×N Float64Arrays (16 MB for N = 1000).
 */
function computeEase(matrix: InteractionMatrix, parameters: ModelParameters, onProgress: ((fraction: number) => void) | undefined): SimilarityModel {
  const { userStart, userMovies, userWeights, movieStart, movieIds } = matrix;
  const movies = movieIds.length;
  // M: the most popular movies (ties: lower id), those with no positive interaction never.
  const ranked: number[] = [];
  for (let m = 0; m < movies; m += 1) if (movieStart[m + 1]! > movieStart[m]!) ranked.push(m);
  ranked.sort((a, b) => movieStart[b + 1]! - movieStart[b]! - (movieStart[a + 1]! - movieStart[a]!) || movieIds[a]! - movieIds[b]!);
  const n = Math.min(parameters.easeMovies, ranked.length);
  const chosen = Int32Array.from(ranked.slice(0, n));
  const chosenIds = Float64Array.from(chosen, (m) => movieIds[m]!);
  const position = new Int32Array(movies).fill(-1);
  chosen.forEach((m, k) => (position[m] = k));
  if (n < 2) {
    onProgress?.(1);
    return { neighbours: new Map(), users: matrix.users, movies, edges: 0, parameters };
  }

  // G (upper triangle first, mirrored below): the sum over users of their weighted outer products.
  const g = new Float64Array(n * n);
  const local = new Int32Array(n);
  const localWeight = new Float64Array(n);
  for (let u = 0; u < matrix.users; u += 1) {
    const scale = parameters.easeUserScaling ? 1 / Math.sqrt(userStart[u + 1]! - userStart[u]!) : 1;
    let count = 0;
    for (let p = userStart[u]!; p < userStart[u + 1]!; p += 1) {
      const k = position[userMovies[p]!]!;
      if (k < 0) continue;
      local[count] = k;
      localWeight[count] = userWeights[p]!;
      count += 1;
    }
    for (let a = 0; a < count; a += 1) {
      const ka = local[a]!;
      const wa = localWeight[a]! * scale;
      for (let b = 0; b < count; b += 1) {
        const kb = local[b]!;
        if (kb >= ka) g[ka * n + kb]! += wa * localWeight[b]!;
      }
    }
  }
  for (let i = 0; i < n; i += 1) for (let j = i + 1; j < n; j += 1) g[j * n + i] = g[i * n + j]!;
  // The low-rank term's directions come from the Gram matrix before regularisation; it only
  // re-weighs pairs that some user connects (G[i][j] > 0), remembered before g is overwritten.
  const lowRank =
    parameters.easeLowRankWeight > 0 ? { pairs: topEigenpairs(g, n, parameters.easeLowRankDimensions), coRated: Uint8Array.from(g, (value) => (value > 0 ? 1 : 0)) } : null;
  const emphasis = parameters.easeDropout / (1 - parameters.easeDropout);
  for (let i = 0; i < n; i += 1) g[i * n + i]! += parameters.easeLambda + emphasis * g[i * n + i]!;
  onProgress?.(0.05);

  // Cholesky, row by row, in place in the lower triangle: L[i][j] = (G[i][j] - L[i][<j]·L[j][<j]) / L[j][j].
  const report = (from: number, to: number, row: number): void => {
    if (onProgress && (row + 1) % 25 === 0) onProgress(from + ((to - from) * (row + 1)) / n);
  };
  for (let i = 0; i < n; i += 1) {
    const ri = i * n;
    for (let j = 0; j <= i; j += 1) {
      const rj = j * n;
      let sum = g[ri + j]!;
      for (let k = 0; k < j; k += 1) sum -= g[ri + k]! * g[rj + k]!;
      if (j < i) g[ri + j] = sum / g[rj + j]!;
      else {
        // G is positive definite (λ > 0); a non-positive pivot would only come from rounding.
        if (!(sum > 0)) throw new RangeError(`EASE: the Gram matrix is not positive definite at row ${i}; raise easeLambda`);
        g[ri + i] = Math.sqrt(sum);
      }
    }
    report(0.05, 0.4, i);
  }
  // W = L⁻¹ (lower), stored transposed (wt[j][i] = W[i][j], i >= j) so that every sum below is a
  // dot product of two contiguous row segments: W[i][j] = (δij - L[i][j..i-1]·W[j..i-1][j]) / L[i][i].
  const wt = new Float64Array(n * n);
  for (let j = 0; j < n; j += 1) {
    const rj = j * n;
    wt[rj + j] = 1 / g[rj + j]!;
    for (let i = j + 1; i < n; i += 1) {
      const ri = i * n;
      let sum = 0;
      for (let k = j; k < i; k += 1) sum += g[ri + k]! * wt[rj + k]!;
      wt[rj + i] = -sum / g[ri + i]!;
    }
    report(0.4, 0.65, j);
  }
  // P = Wᵀ W: P[a][b] = sum over k >= max(a, b) of W[k][a] W[k][b] = wt[a][k..]·wt[b][k..]; into g.
  for (let a = 0; a < n; a += 1) {
    const ra = a * n;
    for (let b = a; b < n; b += 1) {
      const rb = b * n;
      let sum = 0;
      for (let k = b; k < n; k += 1) sum += wt[ra + k]! * wt[rb + k]!;
      g[ra + b] = sum;
      g[rb + a] = sum;
    }
    report(0.65, 0.9, a);
  }

  // B[i][j] = -P[i][j] / P[j][j] (+ the low-rank term); keep the largest |B[i][j]| of every row i.
  const diagonal = new Float64Array(n);
  for (let j = 0; j < n; j += 1) diagonal[j] = g[j * n + j]!;
  // wt is free now: it holds α·c·L, or stays all zeros without a low-rank term.
  wt.fill(0);
  if (lowRank) addLowRankTerm(wt, g, diagonal, lowRank.coRated, n, lowRank.pairs, parameters.easeLambda, parameters.easeLowRankWeight);
  const keep = Math.min(parameters.neighboursPerMovie, n - 1);
  const best = new TopK(keep, chosenIds);
  const edgeFrom = new Int32Array(n * keep);
  const edgeTo = new Int32Array(edgeFrom.length);
  const edgeScore = new Float64Array(edgeFrom.length);
  let edges = 0;
  for (let i = 0; i < n; i += 1) {
    const ri = i * n;
    for (let j = 0; j < n; j += 1) {
      if (j === i) continue;
      const weight = -g[ri + j]! / diagonal[j]! + wt[ri + j]!;
      if (weight !== 0) best.offer(Math.abs(weight), j);
    }
    best.drain((_magnitude, j) => {
      edgeFrom[edges] = i;
      edgeTo[edges] = j;
      edgeScore[edges] = -g[ri + j]! / diagonal[j]! + wt[ri + j]!;
      edges += 1;
    });
    report(0.9, 0.99, i);
  }
  const neighbours = groupEdges(chosenIds, edgeFrom, edgeTo, edgeScore, edges, false);
  onProgress?.(1);
  return { neighbours, users: matrix.users, movies, edges, parameters };
}

/**
 * Writes α·c·L into `term` (n×n, zero diagonal): L = V diag(s / (s + lambda)) Vᵀ from the Gram
 * matrix's leading eigenpairs, c = mean |B| / mean |L| off the diagonal, B[i][j] = -P[i][j] / P[j][j]
 * read from `inverse` (P) and `diagonal` (P's diagonal). Pairs no user connects (`coRated` 0)
 * get no term: a truncated eigenbasis mixes unrelated groups of movies whose eigenvalues (nearly)
 * coincide, which must not invent a similarity between them, and its rounding would leave ~1e-17
 * where B is exactly 0 (movies no user connects even indirectly), which must not become an edge.
 * (Measured on the validation splits: 97.5 % of the pairs of the 1000 movies are co-rated, and the
 * mask changes nDCG@10 by 0.00005.)
 */
function addLowRankTerm(
  term: Float64Array,
  inverse: Float64Array,
  diagonal: Float64Array,
  coRated: Uint8Array,
  n: number,
  pairs: Eigenpairs,
  lambda: number,
  weight: number,
): void {
  const dimensions = pairs.values.length;
  // Ridge shrinkage per dimension, as EASE's own lambda shrinks it: s / (s + lambda).
  const shrunk = new Float64Array(dimensions);
  for (let t = 0; t < dimensions; t += 1) shrunk[t] = Math.max(0, pairs.values[t]!) / (Math.max(0, pairs.values[t]!) + lambda);
  // Row i of V (its `dimensions` coordinates), contiguous, for the n² dot products below.
  const rows = new Float64Array(n * dimensions);
  for (let t = 0; t < dimensions; t += 1) for (let i = 0; i < n; i += 1) rows[i * dimensions + t] = pairs.vectors[t * n + i]!;
  let sumL = 0;
  let sumB = 0;
  for (let i = 0; i < n; i += 1) {
    for (let j = i + 1; j < n; j += 1) {
      let value = 0;
      for (let t = 0; t < dimensions; t += 1) value += rows[i * dimensions + t]! * shrunk[t]! * rows[j * dimensions + t]!;
      term[i * n + j] = value;
      term[j * n + i] = value;
      sumL += 2 * Math.abs(value);
      sumB += Math.abs(inverse[i * n + j]! / diagonal[j]!) + Math.abs(inverse[j * n + i]! / diagonal[i]!);
    }
  }
  // sumL 0: every value written above is 0 already.
  if (!(sumL > 0)) return;
  const scale = (weight * sumB) / sumL;
  for (let index = 0; index < term.length; index += 1) term[index] = coRated[index] ? term[index]! * scale : 0;
}

/** Edges (dense indices) as per-movie neighbour lists, best first (ties: lower movie id first). */
function groupEdges(movieIds: Float64Array, from: Int32Array, to: Int32Array, scores: Float64Array, count: number, normalizeRows: boolean): Map<number, Neighbour[]> {
  const lists = new Map<number, Neighbour[]>();
  const byMovie: Neighbour[][] = [];
  for (let e = 0; e < count; e += 1) {
    const neighbour = { movieId: movieIds[to[e]!]!, score: scores[e]! };
    const list = byMovie[from[e]!];
    if (list) list.push(neighbour);
    else byMovie[from[e]!] = [neighbour];
  }
  byMovie.forEach((list, movie) => {
    list.sort((a, b) => b.score - a.score || a.movieId - b.movieId);
    if (normalizeRows) {
      let total = 0;
      for (const neighbour of list) total += neighbour.score;
      for (const neighbour of list) neighbour.score /= total;
    }
    lists.set(movieIds[movie]!, list);
  });
  return lists;
}

export interface ProfileItem {
  movieId: number;
  weight: number;
}

export interface ProfileOptions {
  /** Most recent interactions kept; default maxProfileItems. */
  limit?: number;
  weighting?: InteractionWeighting;
}

/**
 * A user's profile as serving scores it: the `limit` most recent interactions (ties: lower movie
 * id first), each weighted by profileWeight. Non-positive weights are kept (scoreCandidates skips
 * them) so that the caller sees what was read.
 */
export function buildProfile(interactions: readonly TrainingInteraction[], now: number, options: ProfileOptions = {}): ProfileItem[] {
  const limit = options.limit ?? maxProfileItems;
  const weighting = options.weighting ?? defaultWeighting;
  return [...interactions]
    .sort((a, b) => b.at - a.at || a.movieId - b.movieId)
    .slice(0, limit)
    .map((interaction) => ({ movieId: interaction.movieId, weight: profileWeight(interaction, now, weighting) }));
}
