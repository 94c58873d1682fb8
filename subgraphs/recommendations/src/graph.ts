import neo4j, { type Driver, type Integer } from 'neo4j-driver';

// The like-graph: who rated, liked, disliked or excluded which movie, and which genres movies
// belong to and users prefer. Every write is an idempotent MERGE over a whole batch (one UNWIND
// per transaction), so loaders and event consumers may replay a batch as often as they like.
//
// Events can arrive late or twice (stream replays, a backfill racing the live consumer), so a
// rating or reaction only overwrites what the graph holds when its `at` is not older: the latest
// user action wins whatever the delivery order.

export interface GraphMovie {
  id: number;
  title: string;
  year: number | null;
  genres: string[];
}

export interface GraphUser {
  id: string;
  favoriteGenres: string[];
}

export interface GraphRating {
  userId: string;
  movieId: number;
  rating: number;
  /** epoch ms */
  at: number;
}

export interface GraphReaction {
  userId: string;
  movieId: number;
  reaction: 'LIKE' | 'DISLIKE';
  /** epoch ms */
  at: number;
}

/** Rows per transaction: big enough to amortise round trips, small enough to keep transaction state modest. */
export const graphWriteBatchSize = 10_000;

const schemaStatements = [
  'CREATE CONSTRAINT user_id IF NOT EXISTS FOR (user:User) REQUIRE user.id IS UNIQUE',
  'CREATE CONSTRAINT movie_id IF NOT EXISTS FOR (movie:Movie) REQUIRE movie.id IS UNIQUE',
  'CREATE CONSTRAINT person_id IF NOT EXISTS FOR (person:Person) REQUIRE person.id IS UNIQUE',
  'CREATE CONSTRAINT genre_name IF NOT EXISTS FOR (genre:Genre) REQUIRE genre.name IS UNIQUE',
];

/**
 * Creates the uniqueness constraints (each backed by an index that every MERGE and lookup by id
 * uses) and waits until they are online. Safe to run on every start and from several processes.
 */
export async function ensureGraphSchema(driver: Driver): Promise<void> {
  for (const statement of schemaStatements) {
    try {
      await driver.executeQuery(statement);
    } catch (error) {
      // Two processes starting together can both pass the IF NOT EXISTS check; the loser finds
      // the constraint already there, which is exactly the state it wanted.
      if (!isSchemaAlreadyThere(error)) throw error;
    }
  }
  await driver.executeQuery('CALL db.awaitIndexes(300)');
}

function isSchemaAlreadyThere(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /EquivalentSchemaRuleAlreadyExists|ConstraintAlreadyExists|IndexAlreadyExists/.test(code);
}

// ---------------------------------------------------------------------------------------------
// Batch preparation (pure; exported for unit tests)

/** Splits rows into transaction-sized chunks. */
export function chunk<T>(rows: readonly T[], size: number = graphWriteBatchSize): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size must be a positive integer, got ${size}`);
  const chunks: T[][] = [];
  for (let start = 0; start < rows.length; start += size) chunks.push(rows.slice(start, start + size));
  return chunks;
}

// MovieLens writes "(no genres listed)" where a movie has none; as a genre it would make all
// such movies look alike.
const noGenrePlaceholders = new Set(['(no genres listed)']);

/** Trimmed, de-duplicated genre names in their first order; blanks and placeholders dropped. */
export function normaliseGenres(genres: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const genre of genres) {
    const name = genre.trim();
    if (name !== '' && !noGenrePlaceholders.has(name)) seen.add(name);
  }
  return [...seen];
}

/**
 * Keeps one row per (user, movie): the one with the latest `at`, the later one in the array on a
 * tie. Within one statement Cypher does not promise to apply rows in array order, so two rows for
 * the same pair in one batch would otherwise race.
 */
export function latestPerUserAndMovie<T extends { userId: string; movieId: number; at: number }>(rows: readonly T[]): T[] {
  const latest = new Map<string, T>();
  for (const row of rows) {
    const key = `${row.movieId}\u0000${row.userId}`;
    const current = latest.get(key);
    if (!current || row.at >= current.at) latest.set(key, row);
  }
  return [...latest.values()];
}

function checkUserId(id: unknown, what: string): string {
  if (typeof id !== 'string' || id === '') throw new RangeError(`${what}: user id must be a non-empty string, got ${JSON.stringify(id)}`);
  return id;
}

function checkMovieId(id: unknown, what: string): Integer {
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw new RangeError(`${what}: movie id must be an integer, got ${JSON.stringify(id)}`);
  // JS numbers travel as Cypher FLOATs; ids are stored as INTEGERs so equality and index seeks
  // never depend on which writer happened to create the node.
  return neo4j.int(id);
}

function checkTimestamp(at: unknown, what: string): Integer {
  if (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 0) {
    throw new RangeError(`${what}: at must be epoch milliseconds (a non-negative integer), got ${JSON.stringify(at)}`);
  }
  return neo4j.int(at);
}

export interface MovieRow {
  id: Integer;
  title: string;
  year: Integer | null;
  genres: string[];
}

export function toMovieRow(movie: GraphMovie): MovieRow {
  const what = `movie ${JSON.stringify(movie.id)}`;
  if (movie.year !== null && (typeof movie.year !== 'number' || !Number.isSafeInteger(movie.year))) {
    throw new RangeError(`${what}: year must be an integer or null, got ${JSON.stringify(movie.year)}`);
  }
  return {
    id: checkMovieId(movie.id, what),
    title: movie.title,
    year: movie.year === null ? null : neo4j.int(movie.year),
    genres: normaliseGenres(movie.genres),
  };
}

export interface RatingRow {
  userId: string;
  movieId: Integer;
  rating: number;
  at: Integer;
}

export function toRatingRow(rating: GraphRating): RatingRow {
  const what = `rating of movie ${JSON.stringify(rating.movieId)} by user ${JSON.stringify(rating.userId)}`;
  if (typeof rating.rating !== 'number' || !Number.isFinite(rating.rating)) {
    throw new RangeError(`${what}: rating must be a finite number, got ${JSON.stringify(rating.rating)}`);
  }
  return {
    userId: checkUserId(rating.userId, what),
    movieId: checkMovieId(rating.movieId, what),
    // A JS number is sent as a Cypher FLOAT, so 4 is stored as 4.0: ratings keep one type.
    rating: rating.rating,
    at: checkTimestamp(rating.at, what),
  };
}

export interface ReactionRow {
  userId: string;
  movieId: Integer;
  at: Integer;
}

export function toReactionRow(reaction: GraphReaction): ReactionRow {
  const what = `reaction to movie ${JSON.stringify(reaction.movieId)} by user ${JSON.stringify(reaction.userId)}`;
  if (reaction.reaction !== 'LIKE' && reaction.reaction !== 'DISLIKE') {
    throw new RangeError(`${what}: reaction must be LIKE or DISLIKE, got ${JSON.stringify(reaction.reaction)}`);
  }
  return { userId: checkUserId(reaction.userId, what), movieId: checkMovieId(reaction.movieId, what), at: checkTimestamp(reaction.at, what) };
}

// ---------------------------------------------------------------------------------------------
// Writes

// Genres are kept twice on purpose: `genres` on the node for cheap reads, IN_GENRE edges for
// traversals (movies sharing a genre). The two sub-queries make the edges match the list exactly,
// so a movie whose genres changed loses its old edges.
export const upsertMoviesCypher = `
UNWIND $movies AS movie
MERGE (m:Movie {id: movie.id})
SET m.title = movie.title, m.year = movie.year, m.genres = movie.genres
WITH m, movie
CALL (m, movie) {
  MATCH (m)-[stale:IN_GENRE]->(genre:Genre)
  WHERE NOT genre.name IN movie.genres
  DELETE stale
}
CALL (m, movie) {
  UNWIND movie.genres AS genreName
  MERGE (genre:Genre {name: genreName})
  MERGE (m)-[:IN_GENRE]->(genre)
}`;

export const upsertUsersCypher = `
UNWIND $users AS user
MERGE (u:User {id: user.id})
WITH u, user
CALL (u, user) {
  MATCH (u)-[stale:PREFERS]->(genre:Genre)
  WHERE NOT genre.name IN user.favoriteGenres
  DELETE stale
}
CALL (u, user) {
  UNWIND user.favoriteGenres AS genreName
  MERGE (genre:Genre {name: genreName})
  MERGE (u)-[:PREFERS]->(genre)
}`;

// Users and movies a rating or reaction refers to may not have been loaded yet (events of
// different streams arrive in any order): they are created as bare nodes and filled in later.
const mergeEndpoints = (rows: string, row: string) => `
UNWIND $${rows} AS ${row}
MERGE (u:User {id: ${row}.userId})
MERGE (m:Movie {id: ${row}.movieId})`;

export const upsertRatingsCypher = `${mergeEndpoints('ratings', 'rating')}
MERGE (u)-[rated:RATED]->(m)
WITH rated, rating
WHERE rated.at IS NULL OR rated.at <= rating.at
SET rated.rating = rating.rating, rated.at = rating.at`;

/** A LIKE removes the DISLIKE of the same pair and vice versa, unless that one is newer. */
function upsertReactionCypher(kept: 'LIKED' | 'DISLIKED', replaced: 'LIKED' | 'DISLIKED'): string {
  return `${mergeEndpoints('reactions', 'reaction')}
WITH u, m, reaction
WHERE NOT EXISTS { (u)-[newer:LIKED|DISLIKED]->(m) WHERE newer.at > reaction.at }
CALL (u, m) {
  MATCH (u)-[opposite:${replaced}]->(m)
  DELETE opposite
}
MERGE (u)-[reacted:${kept}]->(m)
SET reacted.at = reaction.at`;
}

export const upsertLikesCypher = upsertReactionCypher('LIKED', 'DISLIKED');
export const upsertDislikesCypher = upsertReactionCypher('DISLIKED', 'LIKED');

export async function upsertGraphMovies(driver: Driver, movies: GraphMovie[]): Promise<void> {
  const rows = movies.map(toMovieRow);
  for (const batch of chunk(rows)) {
    await driver.executeQuery(upsertMoviesCypher, { movies: batch }, { routing: neo4j.routing.WRITE });
  }
}

export async function upsertGraphUsers(driver: Driver, users: GraphUser[]): Promise<void> {
  const rows = users.map((user) => ({
    id: checkUserId(user.id, `user ${JSON.stringify(user.id)}`),
    favoriteGenres: normaliseGenres(user.favoriteGenres),
  }));
  for (const batch of chunk(rows)) {
    await driver.executeQuery(upsertUsersCypher, { users: batch }, { routing: neo4j.routing.WRITE });
  }
}

export async function upsertGraphRatings(driver: Driver, ratings: GraphRating[]): Promise<void> {
  const rows = latestPerUserAndMovie(ratings).map(toRatingRow);
  for (const batch of chunk(rows)) {
    await driver.executeQuery(upsertRatingsCypher, { ratings: batch }, { routing: neo4j.routing.WRITE });
  }
}

export async function upsertGraphReactions(driver: Driver, reactions: GraphReaction[]): Promise<void> {
  // One row per pair, so the like and dislike statements of one transaction never touch the same pair.
  const rows = latestPerUserAndMovie(reactions).map((reaction) => ({ kind: reaction.reaction, row: toReactionRow(reaction) }));
  for (const batch of chunk(rows)) {
    const likes = batch.filter((entry) => entry.kind === 'LIKE').map((entry) => entry.row);
    const dislikes = batch.filter((entry) => entry.kind === 'DISLIKE').map((entry) => entry.row);
    const session = driver.session({ defaultAccessMode: neo4j.session.WRITE });
    try {
      await session.executeWrite(async (tx) => {
        if (likes.length > 0) await tx.run(upsertLikesCypher, { reactions: likes });
        if (dislikes.length > 0) await tx.run(upsertDislikesCypher, { reactions: dislikes });
      });
    } finally {
      await session.close();
    }
  }
}
