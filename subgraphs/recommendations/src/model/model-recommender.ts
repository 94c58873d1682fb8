import neo4j, { type Driver } from 'neo4j-driver';
import type { Logger } from '@platform/shared';
import { readGraph } from '../graph-errors.ts';
import {
  createLiveRecommender,
  genreMatches,
  genreMatchesCypher,
  genreMatchesOfMoviesCypher,
  popular,
  type LiveRecommenderOptions,
  type Reader,
} from '../live-recommender.ts';
import { fillUpTo, genreRecommendation, maxReasons, popularRecommendations, type RecommendedMovie, type Recommender } from '../recommender.ts';
import {
  buildProfile,
  defaultWeighting,
  maxProfileItems,
  type InteractionWeighting,
  type Neighbour,
  type TrainingInteraction,
} from './similarity.ts';
import { scoreCandidates } from './scoring.ts';
import { addNewMovies, checkModelKey, defaultModelKey, foldUserInteractions, loadActiveModel, type LoadedModel } from './store.ts';

// Serving from the active precomputed model (SIMILAR edges of one version, see store.ts).
//
// forUser reads, in one statement, the active version, the user's ratings and reactions,
// exclusions and favourite genres, and the movies newer than the model (ids above the highest it
// saw, plus those nobody had rated when it was built). The neighbours of the user's positive
// profile movies come from the in-process copy of that version (servingCopies) or, until it is
// loaded, from a second statement over the version's SIMILAR edges. Profile weights and ranking are
// the algorithm's own (buildProfile, scoreCandidates), so serving scores as the offline evaluation
// does. New movies that match the genres of the user's liked movies are mixed in
// (mixInNewMovies); then the fallbacks fill up: favourite genres, then popular movies.
//
// similarMovies answers from the version this process last read as active, re-read at most once
// a second (activeVersions): for a movie of the loaded copy it then needs no statement at all.
// Another process's activation is seen within that second; the cache stamps similar-movie lists
// with their version (cache.ts), so a list of the old version stops being served as soon as it is.
//
// Without an active model (a fresh install before its first build) every call goes to the live
// recommender, which computes the same kind of answer from the like-graph directly.

export interface ModelRecommenderOptions {
  modelKey: string;
  queryTimeoutMs: number;
  /** Most recent interactions that make up a user's profile. */
  maxProfileItems: number;
  /** A new movie rated or liked more often than this is no longer "new" (the next build models it). */
  newMovieMaxRatings: number;
  /** Newest movies above the model's highest id examined per request. */
  newMovieCandidates: number;
  /** Taste match (0..1, see scoreNewMovies) a new movie needs to be mixed in. */
  newMovieMinScore: number;
  /**
   * Mix new movies into recommendations at all. Off for an offline evaluation, where movies
   * without training ratings can never be relevant and only take places.
   */
  mixInNewMovies: boolean;
  /**
   * Keep an in-process copy of the active version when it has at most this many edges (~40 bytes
   * each in memory); 0 = always read neighbours from the graph.
   */
  maxCopiedEdges: number;
  /** After a failed load of the copy, wait this long before trying again. */
  copyRetryMs: number;
  /** How often the copy looks for movies created since it was loaded (for its genre fallbacks). */
  copyRefreshMs: number;
  /**
   * How long similarMovies trusts the active version it last read: a version activated by another
   * process is seen within this (this process's own activations at once, through preload()).
   * 0 = read it for every request.
   */
  activeVersionTtlMs: number;
  /** Options of the live recommender used before the first model exists. */
  live: Partial<LiveRecommenderOptions>;
}

export const defaultModelRecommenderOptions: ModelRecommenderOptions = {
  modelKey: defaultModelKey,
  queryTimeoutMs: 10_000,
  maxProfileItems,
  newMovieMaxRatings: 10,
  newMovieCandidates: 100,
  newMovieMinScore: 0.3,
  mixInNewMovies: true,
  maxCopiedEdges: 5_000_000,
  copyRetryMs: 30_000,
  copyRefreshMs: 60_000,
  activeVersionTtlMs: 1_000,
  live: {},
};

// ---------------------------------------------------------------------------------------------
// Pure helpers (exported for unit tests)

/** A rating of at least this, or a LIKE, makes a movie "liked": the platform's positive signal. */
export const likedRating = 4;

export const isLiked = (interaction: TrainingInteraction): boolean =>
  interaction.reaction === 'LIKE' || (interaction.reaction !== 'DISLIKE' && interaction.rating !== null && interaction.rating >= likedRating);

export interface LikedMovie {
  movieId: number;
  genres: readonly string[];
  /** its profile weight (> 0) */
  weight: number;
}

export interface NewMovieCandidate {
  movieId: number;
  genres: readonly string[];
  /** RATED + LIKED relationships */
  ratings: number;
}

export interface NewMovieRules {
  maxRatings: number;
  minScore: number;
  /** Return at most this many (default: all). Reasons are worked out only for those returned. */
  limit?: number;
}

/**
 * Content-based scores of movies the model does not know yet. The user's taste for a genre is
 * the share of their liked movies' weight that has it; a movie's score is the mean taste over its
 * genres (so a movie counts as matching only if its genres are, on average, what the user likes,
 * not merely one of them). Candidates with too many ratings, no genres, or a score below
 * `minScore` are dropped. `because` names the liked movies sharing most genres with it (heavier
 * first). Best first; source GENRE_PREFERENCE.
 */
export function scoreNewMovies(liked: readonly LikedMovie[], candidates: readonly NewMovieCandidate[], rules: NewMovieRules): RecommendedMovie[] {
  const totalWeight = liked.reduce((sum, movie) => sum + movie.weight, 0);
  if (totalWeight <= 0) return [];
  const taste = new Map<string, number>();
  for (const movie of liked) for (const genre of new Set(movie.genres)) taste.set(genre, (taste.get(genre) ?? 0) + movie.weight / totalWeight);
  const matching: { movieId: number; genres: string[]; score: number }[] = [];
  for (const candidate of candidates) {
    const genres = [...new Set(candidate.genres)];
    if (candidate.ratings > rules.maxRatings || genres.length === 0) continue;
    const score = genres.reduce((sum, genre) => sum + (taste.get(genre) ?? 0), 0) / genres.length;
    if (score >= rules.minScore) matching.push({ movieId: candidate.movieId, genres, score });
  }
  matching.sort((a, b) => b.score - a.score || b.movieId - a.movieId);
  // A request mixes in one or two of them: ranking every liked movie as a reason for every match
  // cost more than the rest of this function.
  return matching.slice(0, rules.limit ?? matching.length).map(({ movieId, genres, score }) => {
    const because = liked
      .map((movie) => ({ movie, shared: movie.genres.filter((genre) => genres.includes(genre)).length }))
      .filter((entry) => entry.shared > 0)
      .sort((a, b) => b.shared - a.shared || b.movie.weight - a.movie.weight || a.movie.movieId - b.movie.movieId)
      .slice(0, maxReasons)
      .map((entry) => entry.movie.movieId);
    return { movieId, score, because, source: 'GENRE_PREFERENCE' as const };
  });
}

/** How many of `limit` places new movies may take: one in ten, at least one. */
export const newMovieSlots = (limit: number): number => Math.max(1, Math.floor(limit / 10));

/**
 * Mixes new movies into the collaborative list: at most newMovieSlots(limit) of them, at
 * positions 3, 8, 13, ... (1-based; appended when the list is shorter), so the best collaborative
 * pick stays first and a matching new movie still shows on the first screen. Duplicates of a
 * collaborative pick are skipped. The result has at most `limit` items.
 */
export function mixInNewMovies(collaborative: readonly RecommendedMovie[], newMovies: readonly RecommendedMovie[], limit: number): RecommendedMovie[] {
  const mixed = [...collaborative];
  const present = new Set(mixed.map((item) => item.movieId));
  let inserted = 0;
  for (const movie of newMovies) {
    if (inserted >= newMovieSlots(limit)) break;
    if (present.has(movie.movieId)) continue;
    mixed.splice(Math.min(2 + 5 * inserted, mixed.length), 0, movie);
    present.add(movie.movieId);
    inserted++;
  }
  return mixed.slice(0, limit);
}

type GenreIndex = Pick<LoadedModel, 'moviesByGenre' | 'popularity' | 'maxMovieId'>;

interface GenreRanking {
  movieIds: number[];
  shared: number[];
  /** false when the ranking was cut at its cap (more movies share a genre) */
  complete: boolean;
}

/** Movies sharing the asked genres, best first (most shared, most popular, lower id), at most `cap`. */
function rankByGenres(copy: GenreIndex, asked: readonly string[], cap: number): GenreRanking {
  const shared = new Map<number, number>();
  for (const genre of asked) for (const movieId of copy.moviesByGenre.get(genre) ?? []) shared.set(movieId, (shared.get(movieId) ?? 0) + 1);
  // Bucketed by shared genres: only the buckets needed to reach the cap are sorted.
  const buckets: number[][] = Array.from({ length: asked.length + 1 }, () => []);
  for (const [movieId, count] of shared) buckets[count]?.push(movieId);
  const popularity = (movieId: number) => copy.popularity.get(movieId) ?? 0;
  const ranking: GenreRanking = { movieIds: [], shared: [], complete: shared.size <= cap };
  for (let count = asked.length; count > 0 && ranking.movieIds.length < cap; count--) {
    const bucket = (buckets[count] ?? []).sort((a, b) => popularity(b) - popularity(a) || a - b);
    for (const movieId of bucket.slice(0, cap - ranking.movieIds.length)) {
      ranking.movieIds.push(movieId);
      ranking.shared.push(count);
    }
  }
  return ranking;
}

// Rankings per genre combination (a catalogue has a few hundred to a few thousand), kept per copy
// and dropped when the copy learns new movies: a big genre has thousands of movies to rank, too
// many to do for every request of a page of similarMovies.
const rankingsPerCopy = new WeakMap<GenreIndex, { maxMovieId: number; byGenres: Map<string, GenreRanking> }>();
const rankedPerGenreSet = 200;
const maxCachedGenreSets = 10_000;

/**
 * GENRE_PREFERENCE matches from a loaded copy, exactly as the live genre queries rank them: most
 * shared genres first, then most rated and liked, then lower id; score = shared / asked genres.
 */
export function genreMatchesInCopy(copy: GenreIndex, genres: readonly string[], excluded: ReadonlySet<number>, limit: number): RecommendedMovie[] {
  const asked = [...new Set(genres)].sort();
  let rankings = rankingsPerCopy.get(copy);
  if (!rankings || rankings.maxMovieId !== copy.maxMovieId || rankings.byGenres.size >= maxCachedGenreSets) {
    rankings = { maxMovieId: copy.maxMovieId, byGenres: new Map() };
    rankingsPerCopy.set(copy, rankings);
  }
  const key = asked.join('\u0000');
  let ranking = rankings.byGenres.get(key);
  if (!ranking) {
    ranking = rankByGenres(copy, asked, rankedPerGenreSet);
    rankings.byGenres.set(key, ranking);
  }
  const pick = (from: GenreRanking): RecommendedMovie[] => {
    const picked: RecommendedMovie[] = [];
    for (let index = 0; index < from.movieIds.length && picked.length < limit; index++) {
      const movieId = from.movieIds[index] as number;
      if (!excluded.has(movieId)) picked.push(genreRecommendation({ movieId, sharedGenres: from.shared[index] as number, genreCount: asked.length }));
    }
    return picked;
  };
  const picked = pick(ranking);
  // Many exclusions (a user who has seen most of the top of these genres): rank them all.
  return picked.length < limit && !ranking.complete ? pick(rankByGenres(copy, asked, Number.POSITIVE_INFINITY)) : picked;
}

/** A movie's neighbours as the graph returns them ([id, score] pairs), best first, ties by id. */
export function neighboursFromPairs(pairs: readonly (readonly [number, number])[]): Neighbour[] {
  return pairs.map(([movieId, score]) => ({ movieId, score })).sort((a, b) => b.score - a.score || a.movieId - b.movieId);
}

/** The profile weighting a model was built with (its recorded parameters), or the default. */
export function weightingOf(parameters: string | null): InteractionWeighting {
  return parsedParameters(parameters).weighting ?? defaultWeighting;
}

/** The strength of the popularity penalty a version was built with (0: none, or an older version). */
export function penaltyStrengthOf(parameters: string | null): number {
  const strength = parsedParameters(parameters).popularityPenalty;
  return typeof strength === 'number' && strength > 0 ? strength : 0;
}

function parsedParameters(parameters: string | null): { weighting?: InteractionWeighting; popularityPenalty?: unknown } {
  if (!parameters) return {};
  try {
    return JSON.parse(parameters) as { weighting?: InteractionWeighting; popularityPenalty?: unknown };
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------------------------------------
// Statements

const activeModelMatch = `OPTIONAL MATCH (:ActiveModel {key: $modelKey})-[:ACTIVE]->(model:RecommendationModel)`;

/**
 * forUser's statement: the active version, what the user did, and the movies newer than the
 * model (ids above the highest it saw, newest first, plus those nobody had rated when it was
 * built) with their genres and rating counts. One round trip when the version's copy is loaded.
 */
export const modelProfileCypher = `
${activeModelMatch}
OPTIONAL MATCH (viewer:User {id: $viewerId})
CALL (model) {
  CALL (model) {
    MATCH (movie:Movie) WHERE movie.id > model.maxMovieId
    WITH movie ORDER BY movie.id DESC LIMIT $newMovieCandidates
    RETURN movie
    UNION
    UNWIND coalesce(model.unratedMovieIds, []) AS unratedId
    MATCH (movie:Movie {id: unratedId})
    RETURN movie
  }
  RETURN collect([movie.id, movie.genres, COUNT { (movie)<-[:RATED|LIKED]-() }]) AS newMovies
}
RETURN model.version AS version,
       model.parameters AS parameters,
       model.similarityEdges AS similarityEdges,
       [(viewer)-[r:RATED|LIKED|DISLIKED]->(m:Movie) |
         [m.id, CASE type(r) WHEN 'RATED' THEN 0 WHEN 'LIKED' THEN 1 ELSE 2 END, coalesce(r.rating, -1.0), coalesce(r.at, 0)]] AS interactions,
       [(viewer)-[:EXCLUDED]->(m:Movie) | m.id] AS excludedMovieIds,
       [(viewer)-[:PREFERS]->(genre:Genre) | genre.name] AS favoriteGenres,
       newMovies`;

/** The per-movie popularity penalties stored with a version (builder.ts). */
export const modelPenaltyCypher = `
MATCH (model:RecommendationModel {version: $version})
RETURN coalesce(model.penaltyMovieIds, []) AS movieIds, coalesce(model.penaltyValues, []) AS values`;

/** Without a loaded copy: the active version's neighbours and the genres of the given movies. */
export const modelNeighboursCypher = `
UNWIND $movieIds AS movieId
MATCH (movie:Movie {id: movieId})
RETURN movie.id AS movieId, movie.genres AS genres,
       [(movie)-[similar:SIMILAR]->(neighbour:Movie) WHERE similar.model = $version | [neighbour.id, similar.score]] AS neighbours`;

const modelVersionCypher = `
${activeModelMatch}
RETURN model.version AS version, model.similarityEdges AS similarityEdges`;

const modelPopularCypher = `
MATCH (model:RecommendationModel {version: $version})
RETURN coalesce(model.popularMovieIds, []) AS movieIds, coalesce(model.popularCounts, []) AS counts`;

const integers = (values: Iterable<number>) => [...values].map((value) => neo4j.int(value));

// ---------------------------------------------------------------------------------------------

/** A Recommender over the active model, plus loading its in-process copy ahead of the first request. */
export interface ModelRecommender extends Recommender {
  /**
   * Loads the active version's copy now (after an activation, and in tests). Resolves true when
   * the copy of the currently active version is loaded.
   */
  preload(): Promise<boolean>;
}

/**
 * The in-process copy of the active version's neighbour lists (and genres, and popular list):
 * forUser then needs one statement instead of two, and the per-request expansion of up to
 * 300 x 50 SIMILAR edges (the bulk of a request's database work) disappears. Requests use the
 * copy only when it is of the version they read as active (forUser in its statement,
 * similarMovies through activeVersions below), so a flip is seen as soon as the version is (the
 * new copy loads in the background; requests use the graph meanwhile).
 */
function servingCopies(driver: Driver, logger: Logger, options: ModelRecommenderOptions) {
  let current: LoadedModel | null = null;
  let loading: { version: string; done: Promise<void> } | null = null;
  let retryAt = 0;
  let refreshedAt = 0;
  let refreshing = false;

  // Movies created after the load join the copy's genre index within copyRefreshMs.
  const refreshLater = (copy: LoadedModel): void => {
    if (refreshing || Date.now() - refreshedAt < options.copyRefreshMs) return;
    refreshing = true;
    refreshedAt = Date.now();
    addNewMovies(driver, copy)
      .catch((error: unknown) => logger.warn('could not add new movies to the served model copy', { error: error instanceof Error ? error.message : String(error) }))
      .finally(() => {
        refreshing = false;
      });
  };

  const load = (version: string): Promise<void> => {
    if (loading?.version === version) return loading.done;
    const started = performance.now();
    const done = loadActiveModel(driver, options.modelKey, version)
      .then((loaded) => {
        // null: no longer the active version (a newer one arrived while this one was read).
        if (loaded) {
          current = loaded;
          refreshedAt = Date.now();
          logger.info('loaded the recommendation model for serving', { version, edges: loaded.edges, ms: Math.round(performance.now() - started) });
        }
      })
      .catch((error: unknown) => {
        retryAt = Date.now() + options.copyRetryMs;
        logger.warn('could not load the recommendation model for serving; reading it from the graph meanwhile', {
          version,
          error: error instanceof Error ? error.message : String(error),
        });
      })
      .finally(() => {
        if (loading?.done === done) loading = null;
      });
    loading = { version, done };
    return done;
  };

  return {
    /** The copy of `version` if loaded; otherwise starts loading it (when allowed) and returns null. */
    of(version: string, edges: number | null): LoadedModel | null {
      if (current?.version === version) {
        refreshLater(current);
        return current;
      }
      if (options.maxCopiedEdges > 0 && (edges ?? 0) <= options.maxCopiedEdges && Date.now() >= retryAt) void load(version);
      return null;
    },
    async preload(version: string): Promise<boolean> {
      if (current?.version !== version && options.maxCopiedEdges > 0) await load(version);
      return current?.version === version;
    },
  };
}

export interface ActiveVersion {
  version: string | null;
  similarityEdges: number | null;
}

/**
 * The active version as this process last read it, re-read when older than `ttlMs`: a request
 * for similar movies of a loaded version then needs no statement at all (reading the pointer was
 * most of Neo4j's work for it). Every read of the pointer (forUser's statement, preload) refreshes
 * it; the newest read wins. When the graph does not answer, the last version read is kept (the
 * copy can still answer); with none, the error is the caller's.
 */
export function activeVersions(ttlMs: number, readPointer: () => Promise<ActiveVersion>, now: () => number = () => performance.now()) {
  let known: (ActiveVersion & { readAt: number }) | null = null;
  let reading: Promise<ActiveVersion> | null = null;
  const note = (active: ActiveVersion, readAt: number): void => {
    if (!known || readAt >= known.readAt) known = { ...active, readAt };
  };
  return {
    /** The memo's clock: take it before reading the pointer, and give it to note() with what was read. */
    clock: now,
    note,
    /** What was last read, however old, without reading. */
    peek: (): ActiveVersion | null => known,
    async current(): Promise<ActiveVersion> {
      if (known && now() - known.readAt < ttlMs) return known;
      reading ??= (async () => {
        const readAt = now();
        try {
          const active = await readPointer();
          note(active, readAt);
          return active;
        } catch (error) {
          if (known) return known;
          throw error;
        } finally {
          reading = null;
        }
      })();
      return reading;
    },
  };
}

export function createModelRecommender(driver: Driver, logger: Logger, overrides: Partial<ModelRecommenderOptions> = {}): ModelRecommender {
  const options: ModelRecommenderOptions = { ...defaultModelRecommenderOptions, ...overrides };
  checkModelKey(options.modelKey);
  const live = createLiveRecommender(driver, logger, { queryTimeoutMs: options.queryTimeoutMs, ...options.live });
  const read = <T>(work: (tx: Reader) => Promise<T>) => readGraph(driver, logger, { timeoutMs: options.queryTimeoutMs }, work);
  const copies = servingCopies(driver, logger, options);
  const readActiveVersion = async (): Promise<ActiveVersion> => {
    const record = await read(async (tx) => (await tx.run(modelVersionCypher, { modelKey: options.modelKey })).records[0]);
    return { version: (record?.get('version') as string | null | undefined) ?? null, similarityEdges: (record?.get('similarityEdges') as number | null | undefined) ?? null };
  };
  const active = activeVersions(options.activeVersionTtlMs, readActiveVersion);

  /** Neighbours (and genres) of the given movies in `version`: from the copy, or from the graph. */
  async function neighboursIn(tx: Reader, version: string, copy: LoadedModel | null, movieIds: readonly number[]) {
    if (copy) return { neighbours: copy.neighbours, genres: copy.genres };
    const neighbours = new Map<number, Neighbour[]>();
    const genres = new Map<number, readonly string[]>();
    if (movieIds.length > 0) {
      const result = await tx.run(modelNeighboursCypher, { version, movieIds: integers(movieIds) });
      for (const record of result.records) {
        const movieId = record.get('movieId') as number;
        neighbours.set(movieId, neighboursFromPairs(record.get('neighbours') as [number, number][]));
        genres.set(movieId, (record.get('genres') as string[] | null) ?? []);
      }
    }
    return { neighbours, genres };
  }

  /**
   * The model's popular movies (counted at build time) minus `excluded`, `limit` of them; the live
   * query when the stored list runs out (a user who has seen most of the most popular movies).
   */
  async function popularFromModel(tx: Reader, version: string, copy: LoadedModel | null, excluded: ReadonlySet<number>, limit: number): Promise<RecommendedMovie[]> {
    let movieIds = copy?.popularMovieIds;
    let counts = copy?.popularCounts;
    if (!movieIds || !counts) {
      const record = (await tx.run(modelPopularCypher, { version })).records[0];
      movieIds = (record?.get('movieIds') as number[] | undefined) ?? [];
      counts = (record?.get('counts') as number[] | undefined) ?? [];
    }
    const popularity = counts;
    // Scores stay relative to the most popular movie overall, as in the live list.
    const ranked = popularRecommendations(movieIds.map((movieId, index) => ({ movieId, popularity: popularity[index] ?? 0 }))).filter(
      (item) => !excluded.has(item.movieId),
    );
    return ranked.length >= limit ? ranked.slice(0, limit) : popular(tx, excluded, limit);
  }

  /** How serving scores with one model version: its profile weighting and popularity penalties (null: none). */
  interface VersionScoring {
    weighting: InteractionWeighting;
    penalties: ReadonlyMap<number, number> | null;
  }
  // Per version, worked out once: the parameters parsed, the penalties read (a few thousand numbers).
  const scorings = new Map<string, VersionScoring>();
  async function scoringFor(tx: Reader, version: string, parameters: string | null): Promise<VersionScoring> {
    const known = scorings.get(version);
    if (known) return known;
    let penalties: Map<number, number> | null = null;
    if (penaltyStrengthOf(parameters) > 0) {
      const record = (await tx.run(modelPenaltyCypher, { version })).records[0];
      const movieIds = (record?.get('movieIds') as number[] | undefined) ?? [];
      const values = (record?.get('values') as number[] | undefined) ?? [];
      penalties = new Map(movieIds.map((movieId, index) => [movieId, values[index] ?? 0]));
    }
    if (scorings.size > 20) scorings.clear();
    const scoring = { weighting: weightingOf(parameters), penalties };
    scorings.set(version, scoring);
    return scoring;
  }

  return {
    async preload() {
      const readAt = active.clock();
      const current = await readActiveVersion();
      active.note(current, readAt);
      return current.version ? copies.preload(current.version) : false;
    },

    async servingVersion() {
      return (await active.current()).version;
    },

    async similarMovies(movieIds, limit, modelVersion) {
      const known = modelVersion === undefined ? await active.current() : active.peek();
      const version = modelVersion ?? known?.version;
      if (!version) return live.similarMovies(movieIds, limit);
      // A version given by the caller whose size this process has not read: no copy is started
      // for it (it might be too big to copy); a later request, knowing the size, starts it.
      const edges = known?.version === version ? known.similarityEdges : Number.POSITIVE_INFINITY;
      const answer = await read(async (tx) => {
        const copy = copies.of(version, edges);
        const ids = [...new Set(movieIds)];
        const { neighbours } = await neighboursIn(tx, version, copy, ids);
        const collaborative = new Map<number, RecommendedMovie[]>(
          ids.map((id) => [
            id,
            // EASE weights are signed: a negative one means "rarely liked together", never "similar".
            (neighbours.get(id) ?? [])
              .filter((neighbour) => neighbour.score > 0)
              .slice(0, limit)
              .map((neighbour) => ({ movieId: neighbour.movieId, score: neighbour.score, because: [], source: 'COLLABORATIVE' as const })),
          ]),
        );
        // A movie the model has no (or too few) neighbours for, e.g. one added since the build:
        // movies sharing its genres, then popular ones.
        const short = ids.filter((id) => (collaborative.get(id)?.length ?? 0) < limit);
        // From the copy when it knows the movie (the genre queries scan whole genres, thousands of
        // movies: too slow per request); from the graph for movies added since it was loaded.
        const byGenre = new Map<number, RecommendedMovie[]>();
        const unknown: number[] = [];
        for (const id of short) {
          const genres = copy?.genres.get(id);
          if (copy && genres) byGenre.set(id, genreMatchesInCopy(copy, genres, new Set([id]), limit));
          else unknown.push(id);
        }
        if (unknown.length > 0) {
          for (const [id, list] of await genreMatches(tx, genreMatchesOfMoviesCypher, { movieIds: integers(unknown) }, limit)) byGenre.set(id, list);
        }
        const stillShort = short.filter((id) => (collaborative.get(id)?.length ?? 0) + (byGenre.get(id)?.length ?? 0) < limit);
        // One list for the batch: a movie holding k picks skips at most k + 1 (its picks and itself).
        const popularList = stillShort.length > 0 ? await popularFromModel(tx, version, copy, new Set(), limit + 1) : [];
        return new Map(ids.map((id) => [id, fillUpTo(limit, [collaborative.get(id) ?? [], byGenre.get(id) ?? [], popularList], new Set([id]))]));
      });
      return answer;
    },

    async forUser(userId, limit) {
      const answer = await read(async (tx) => {
        const readAt = active.clock();
        const record = (
          await tx.run(modelProfileCypher, { modelKey: options.modelKey, viewerId: userId, newMovieCandidates: neo4j.int(options.newMovieCandidates) })
        ).records[0];
        const version = record?.get('version') as string | null | undefined;
        active.note({ version: version ?? null, similarityEdges: (record?.get('similarityEdges') as number | null | undefined) ?? null }, readAt);
        if (!record || !version) return null;
        const copy = copies.of(version, record.get('similarityEdges') as number | null);

        const rows = record.get('interactions') as [number, number, number, number][];
        const interactions = foldUserInteractions(
          userId,
          rows.map((row) => row[0]),
          rows.map((row) => row[1]),
          rows.map((row) => row[2]),
          rows.map((row) => row[3]),
        );
        const favoriteGenres = record.get('favoriteGenres') as string[];
        const seen = new Set<number>([...interactions.map((interaction) => interaction.movieId), ...(record.get('excludedMovieIds') as number[])]);
        const { weighting, penalties } = await scoringFor(tx, version, record.get('parameters') as string | null);
        const profile = buildProfile(interactions, Date.now(), { limit: options.maxProfileItems, weighting });
        const seedIds = profile.filter((item) => item.weight > 0).map((item) => item.movieId);
        const { neighbours, genres } = await neighboursIn(tx, version, copy, seedIds);

        const weightOf = new Map(profile.map((item) => [item.movieId, item.weight]));
        const liked: LikedMovie[] = interactions
          .filter((interaction) => isLiked(interaction) && (weightOf.get(interaction.movieId) ?? 0) > 0)
          .map((interaction) => ({ movieId: interaction.movieId, genres: genres.get(interaction.movieId) ?? [], weight: weightOf.get(interaction.movieId) ?? 0 }));
        // `because` names the strongest contributors the user *liked*: the algorithm may learn
        // from any rating, but "because you liked X" must be true.
        const likedIds = new Set(liked.map((movie) => movie.movieId));
        const penaltyOf = penalties ? (movieId: number) => penalties.get(movieId) ?? 0 : undefined;
        const collaborative: RecommendedMovie[] = scoreCandidates(profile, (movieId) => neighbours.get(movieId), seen, limit, {
          maxReasons,
          penaltyOf,
          canExplain: (movieId) => likedIds.has(movieId),
        }).map((candidate) => ({ movieId: candidate.movieId, score: candidate.score, because: candidate.because, source: 'COLLABORATIVE' as const }));
        const newMovies: NewMovieCandidate[] = (record.get('newMovies') as [number, string[] | null, number][])
          .filter(([movieId]) => !seen.has(movieId))
          .map(([movieId, movieGenres, ratings]) => ({ movieId, genres: movieGenres ?? [], ratings }));
        // New movies are never collaborative picks (the model has no edges to them), so the best
        // newMovieSlots(limit) are all mixInNewMovies can take.
        const matchingNew = options.mixInNewMovies
          ? scoreNewMovies(liked, newMovies, { maxRatings: options.newMovieMaxRatings, minScore: options.newMovieMinScore, limit: newMovieSlots(limit) })
          : [];
        const personal = mixInNewMovies(collaborative, matchingNew, limit);
        if (personal.length >= limit) return personal;

        const picked = new Set([...seen, ...personal.map((item) => item.movieId)]);
        let byGenre: RecommendedMovie[] = [];
        if (favoriteGenres.length > 0) {
          byGenre = copy
            ? genreMatchesInCopy(copy, favoriteGenres, picked, limit - personal.length)
            : ((await genreMatches(tx, genreMatchesCypher, { genres: favoriteGenres, excludedMovieIds: integers(picked) }, limit - personal.length)).get(0) ?? []);
        }
        let popularList: RecommendedMovie[] = [];
        if (personal.length + byGenre.length < limit) {
          popularList = await popularFromModel(tx, version, copy, new Set([...picked, ...byGenre.map((item) => item.movieId)]), limit);
        }
        return fillUpTo(limit, [personal, byGenre, popularList], seen);
      });
      return answer ?? live.forUser(userId, limit);
    },
  };
}
