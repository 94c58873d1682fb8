import neo4j, { type Driver, type ManagedTransaction } from 'neo4j-driver';
import type { Logger } from '@platform/shared';
import { readGraph } from './graph-errors.ts';
import {
  fillUpTo,
  genreRecommendation,
  neighboursBySeed,
  popularRecommendations,
  rankBySeedSimilarity,
  type GenreMatchRow,
  type NeighbourRow,
  type PopularityRow,
  type RecommendedMovie,
  type Recommender,
} from './recommender.ts';

// Recommendations computed live from the like-graph, with no precomputed model. A "positive"
// signal is a rating >= minPositiveRating or a LIKE. Similarity of two movies a and b:
//
//   co(a, b)   = users positive about both
//   cosine     = co / sqrt(engaged(a) * engaged(b))        engaged = RATED + LIKED + DISLIKED degree
//   similarity = cosine * co / (co + shrinkage)
//
// Engagement is the relationship degree, which Neo4j reads in O(1) from its degree store, so no
// query has to count the positive raters of every candidate; it also lowers movies that many
// people rated badly. The shrinkage factor keeps a movie that one single person happened to love
// along with this one from outranking movies dozens of people loved together with it.
//
// Limits keep a blockbuster as cheap as a niche film: per seed movie only the `ratersPerSeed`
// most recent positive raters are expanded (co is scaled back up to all raters), and only its
// `candidatesPerSeed` most co-liked movies are scored.

export interface LiveRecommenderOptions {
  minPositiveRating: number;
  ratersPerSeed: number;
  candidatesPerSeed: number;
  /** How many of a user's most recent positive movies seed their recommendations. */
  seedsPerUser: number;
  shrinkage: number;
  queryTimeoutMs: number;
}

export const defaultLiveRecommenderOptions: LiveRecommenderOptions = {
  minPositiveRating: 4,
  ratersPerSeed: 500,
  candidatesPerSeed: 100,
  seedsPerUser: 20,
  shrinkage: 3,
  queryTimeoutMs: 10_000,
};

/** Neighbours of each seed; parameters: seedIds, excludedMovieIds, viewerId (or null), limits. */
export const neighboursCypher = `
UNWIND $seedIds AS seedId
MATCH (seed:Movie {id: seedId})
CALL (seed) {
  MATCH (seed)<-[positive:RATED|LIKED]-(rater:User)
  WHERE (positive.rating IS NULL OR positive.rating >= $minPositiveRating)
    AND ($viewerId IS NULL OR rater.id <> $viewerId)
  WITH rater, max(positive.at) AS lastPositiveAt
  ORDER BY lastPositiveAt DESC, rater.id
  WITH collect(rater) AS raters
  RETURN raters[..$ratersPerSeed] AS sampledRaters, size(raters) AS positiveRaters
}
WITH seed, sampledRaters, positiveRaters
WHERE positiveRaters > 0
CALL (seed, sampledRaters) {
  UNWIND sampledRaters AS rater
  MATCH (rater)-[positive:RATED|LIKED]->(candidate:Movie)
  WHERE candidate <> seed
    AND (positive.rating IS NULL OR positive.rating >= $minPositiveRating)
    AND NOT candidate.id IN $excludedMovieIds
  WITH candidate, count(DISTINCT rater) AS sampledCoRaters
  ORDER BY sampledCoRaters DESC, candidate.id
  LIMIT $candidatesPerSeed
  RETURN candidate, sampledCoRaters
}
WITH seed, candidate,
     sampledCoRaters * toFloat(positiveRaters) / size(sampledRaters) AS coRaters,
     COUNT { (seed)<-[:RATED|LIKED|DISLIKED]-() } AS seedEngagement,
     COUNT { (candidate)<-[:RATED|LIKED|DISLIKED]-() } AS candidateEngagement
WITH seed, candidate, coRaters, coRaters / sqrt(toFloat(seedEngagement) * candidateEngagement) AS cosine
RETURN seed.id AS seedId,
       candidate.id AS movieId,
       CASE WHEN cosine > 1.0 THEN 1.0 ELSE cosine END * coRaters / (coRaters + $shrinkage) AS similarity`;

// Sampling estimates co from the most recent raters, so on a truncated sample the scaled value
// can exceed the true engagement of a candidate; the CASE caps cosine at its mathematical bound.

const genreMatchesTail = `
CALL (genres, excludedMovieIds) {
  MATCH (genre:Genre)<-[:IN_GENRE]-(movie:Movie)
  WHERE genre.name IN genres AND NOT movie.id IN excludedMovieIds
  WITH movie, count(genre) AS sharedGenres
  WITH movie, sharedGenres, COUNT { (movie)<-[:RATED|LIKED]-() } AS popularity
  ORDER BY sharedGenres DESC, popularity DESC, movie.id
  LIMIT $limit
  RETURN movie.id AS movieId, sharedGenres
}
RETURN key, size(genres) AS genreCount, movieId, sharedGenres`;

/** Movies sharing most genres with each given movie, popular ones first. */
export const genreMatchesOfMoviesCypher = `
UNWIND $movieIds AS movieId
MATCH (source:Movie {id: movieId})
WITH source.id AS key, [(source)-[:IN_GENRE]->(genre:Genre) | genre.name] AS genres, [source.id] AS excludedMovieIds
${genreMatchesTail}`;

/** Movies in most of the given genres, popular ones first. */
export const genreMatchesCypher = `
WITH 0 AS key, $genres AS genres, $excludedMovieIds AS excludedMovieIds
${genreMatchesTail}`;

/** Most rated and liked movies; a movie nobody has rated or liked is not popular. */
export const popularMoviesCypher = `
MATCH (movie:Movie)
WHERE NOT movie.id IN $excludedMovieIds
WITH movie, COUNT { (movie)<-[:RATED|LIKED]-() } AS popularity
WHERE popularity > 0
RETURN movie.id AS movieId, popularity
ORDER BY popularity DESC, movieId
LIMIT $limit`;

/** What the recommendations of one user start from. */
export const userProfileCypher = `
OPTIONAL MATCH (viewer:User {id: $viewerId})
RETURN
  COLLECT {
    MATCH (viewer)-[positive:RATED|LIKED]->(seed:Movie)
    WHERE positive.rating IS NULL OR positive.rating >= $minPositiveRating
    WITH seed, max(positive.at) AS lastPositiveAt
    ORDER BY lastPositiveAt DESC, seed.id
    LIMIT $seedsPerUser
    RETURN seed.id
  } AS seedIds,
  COLLECT { MATCH (viewer)-[:RATED|LIKED|DISLIKED|EXCLUDED]->(seen:Movie) RETURN DISTINCT seen.id } AS seenMovieIds,
  COLLECT { MATCH (viewer)-[:PREFERS]->(genre:Genre) RETURN genre.name } AS favoriteGenres`;

export type Reader = Pick<ManagedTransaction, 'run'>;

// LIMIT and list slices need Cypher INTEGERs; plain JS numbers would travel as FLOATs.
const integer = (value: number) => neo4j.int(value);
const integers = (values: Iterable<number>) => [...values].map(integer);

/**
 * GENRE_PREFERENCE lists per key from genreMatchesCypher (key 0) or genreMatchesOfMoviesCypher
 * (key = the source movie). Shared with the model recommender's fallbacks.
 */
export async function genreMatches(tx: Reader, cypher: string, parameters: Record<string, unknown>, limit: number): Promise<Map<number, RecommendedMovie[]>> {
  const result = await tx.run(cypher, { ...parameters, limit: integer(limit) });
  const byKey = new Map<number, RecommendedMovie[]>();
  for (const record of result.records) {
    const key = record.get('key') as number;
    const row: GenreMatchRow = {
      movieId: record.get('movieId') as number,
      sharedGenres: record.get('sharedGenres') as number,
      genreCount: record.get('genreCount') as number,
    };
    byKey.set(key, [...(byKey.get(key) ?? []), genreRecommendation(row)]);
  }
  return byKey;
}

/** POPULAR list computed live (popularMoviesCypher). */
export async function popular(tx: Reader, excludedMovieIds: Iterable<number>, limit: number): Promise<RecommendedMovie[]> {
  const result = await tx.run(popularMoviesCypher, { excludedMovieIds: integers(excludedMovieIds), limit: integer(limit) });
  const rows: PopularityRow[] = result.records.map((record) => ({
    movieId: record.get('movieId') as number,
    popularity: record.get('popularity') as number,
  }));
  return popularRecommendations(rows);
}

export function createLiveRecommender(driver: Driver, logger: Logger, overrides: Partial<LiveRecommenderOptions> = {}): Recommender {
  const options = { ...defaultLiveRecommenderOptions, ...overrides };
  const read = <T>(work: (tx: Reader) => Promise<T>) => readGraph(driver, logger, { timeoutMs: options.queryTimeoutMs }, work);

  async function neighbours(
    tx: Reader,
    seedIds: readonly number[],
    excludedMovieIds: Iterable<number>,
    viewerId: string | null,
    candidatesPerSeed: number,
  ): Promise<NeighbourRow[]> {
    const result = await tx.run(neighboursCypher, {
      seedIds: integers(seedIds),
      excludedMovieIds: integers(excludedMovieIds),
      viewerId,
      minPositiveRating: options.minPositiveRating,
      ratersPerSeed: integer(options.ratersPerSeed),
      candidatesPerSeed: integer(candidatesPerSeed),
      shrinkage: options.shrinkage,
    });
    return result.records.map((record) => ({
      seedId: record.get('seedId') as number,
      movieId: record.get('movieId') as number,
      similarity: record.get('similarity') as number,
    }));
  }

  return {
    similarMovies: (movieIds, limit) =>
      read(async (tx) => {
        const seedIds = [...new Set(movieIds)];
        const collaborative = neighboursBySeed(
          await neighbours(tx, seedIds, [], null, Math.max(limit, options.candidatesPerSeed)),
          limit,
        );
        const short = seedIds.filter((id) => (collaborative.get(id)?.length ?? 0) < limit);
        const byGenre =
          short.length > 0 ? await genreMatches(tx, genreMatchesOfMoviesCypher, { movieIds: integers(short) }, limit) : new Map<number, RecommendedMovie[]>();
        // One popular list serves every movie of the batch. A movie holding k < limit picks needs
        // limit - k more; at most k + 1 popular ones (its picks and itself) are skipped, so
        // limit + 1 always suffice.
        const stillShort = short.filter((id) => (collaborative.get(id)?.length ?? 0) + (byGenre.get(id)?.length ?? 0) < limit);
        const popularList = stillShort.length > 0 ? await popular(tx, [], limit + 1) : [];
        return new Map(
          seedIds.map((id) => [id, fillUpTo(limit, [collaborative.get(id) ?? [], byGenre.get(id) ?? [], popularList], new Set([id]))]),
        );
      }),

    forUser: (userId, limit) =>
      read(async (tx) => {
        const profile = (
          await tx.run(userProfileCypher, {
            viewerId: userId,
            minPositiveRating: options.minPositiveRating,
            seedsPerUser: integer(options.seedsPerUser),
          })
        ).records[0];
        const seedIds = (profile?.get('seedIds') as number[] | undefined) ?? [];
        const seen = new Set((profile?.get('seenMovieIds') as number[] | undefined) ?? []);
        const favoriteGenres = (profile?.get('favoriteGenres') as string[] | undefined) ?? [];

        const collaborative =
          seedIds.length > 0
            ? rankBySeedSimilarity(await neighbours(tx, seedIds, seen, userId, Math.max(limit, options.candidatesPerSeed)), limit)
            : [];
        const picked = new Set([...seen, ...collaborative.map((item) => item.movieId)]);
        let byGenre: RecommendedMovie[] = [];
        if (collaborative.length < limit && favoriteGenres.length > 0) {
          const matches = await genreMatches(tx, genreMatchesCypher, { genres: favoriteGenres, excludedMovieIds: integers(picked) }, limit);
          byGenre = matches.get(0) ?? [];
        }
        let popularList: RecommendedMovie[] = [];
        if (collaborative.length + byGenre.length < limit) {
          popularList = await popular(tx, [...picked, ...byGenre.map((item) => item.movieId)], limit);
        }
        return fillUpTo(limit, [collaborative, byGenre, popularList], seen);
      }),
  };
}
