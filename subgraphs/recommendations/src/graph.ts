import neo4j, { type Driver, type Integer, type ManagedTransaction } from 'neo4j-driver';

// The like-graph: who rated, liked, disliked or excluded which movie, and which genres movies
// belong to and users prefer. Every write is an idempotent MERGE over a whole batch (one UNWIND
// per statement), so loaders, the event consumer and the rebuild may replay a batch as often as
// they like.
//
// Events can arrive late or twice (stream replays, entries claimed from a dead consumer, a rebuild
// racing the live consumer), so every change carries its `at` and only overwrites what the graph
// holds when it is not older: the latest user action wins whatever the delivery order. Removals
// (a deleted rating, a cleared reaction or exclusion) leave a tombstone relationship holding their
// `at`, so an older "set" that arrives after the removal cannot bring the relationship back. A
// (user, movie) pair holds at most one of {RATED, RATING_DELETED}, of {LIKED, DISLIKED,
// REACTION_CLEARED} and of {EXCLUDED, EXCLUSION_CLEARED}. On equal times a removal wins, whatever
// arrived first, so the outcome never depends on the order.

export interface GraphMovie {
  id: number;
  title: string;
  year: number | null;
  genres: string[];
  /**
   * When this version was written (epoch ms). Given: ignored if the graph holds a newer version.
   * Absent (dataset loads): always applied.
   */
  at?: number | null;
}

export interface GraphUser {
  id: string;
  favoriteGenres: string[];
  /** When the favourite genres were set (epoch ms); same rule as GraphMovie.at. */
  at?: number | null;
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

export interface GraphExclusion {
  userId: string;
  movieId: number;
  /** epoch ms */
  at: number;
}

/** A rating set (`rating` a number) or deleted (`rating` null) at `at`. */
export interface GraphRatingChange {
  userId: string;
  movieId: number;
  rating: number | null;
  at: number;
}

/** A reaction set (LIKE or DISLIKE) or cleared (null) at `at`. */
export interface GraphReactionChange {
  userId: string;
  movieId: number;
  reaction: 'LIKE' | 'DISLIKE' | null;
  at: number;
}

/** "Never show me this" set (true) or cleared (false) at `at`. */
export interface GraphExclusionChange {
  userId: string;
  movieId: number;
  excluded: boolean;
  at: number;
}

/** Everything one transaction writes; the event consumer fills it from a batch of events. */
export interface GraphChanges {
  movies: GraphMovie[];
  /** favourite genres */
  users: GraphUser[];
  /** users known to exist (registered) whose genres this change does not touch */
  userIds: string[];
  ratings: GraphRatingChange[];
  reactions: GraphReactionChange[];
  exclusions: GraphExclusionChange[];
}

export const noGraphChanges = (): GraphChanges => ({ movies: [], users: [], userIds: [], ratings: [], reactions: [], exclusions: [] });

/** Rows per transaction: big enough to amortise round trips, small enough to keep transaction state modest. */
export const graphWriteBatchSize = 10_000;

/** What Cypher runs on: a managed (retried) or an explicit transaction. */
export type GraphTransaction = Pick<ManagedTransaction, 'run'>;

const schemaStatements = [
  'CREATE CONSTRAINT user_id IF NOT EXISTS FOR (user:User) REQUIRE user.id IS UNIQUE',
  'CREATE CONSTRAINT movie_id IF NOT EXISTS FOR (movie:Movie) REQUIRE movie.id IS UNIQUE',
  'CREATE CONSTRAINT person_id IF NOT EXISTS FOR (person:Person) REQUIRE person.id IS UNIQUE',
  'CREATE CONSTRAINT genre_name IF NOT EXISTS FOR (genre:Genre) REQUIRE genre.name IS UNIQUE',
  // The precomputed model (model/store.ts): versions and per-key pointers are looked up by these.
  // SIMILAR.model has no index on purpose: it would be updated for every one of the ~500k edges a
  // build writes, while only the retirement of old versions looks edges up by it (by movie).
  'CREATE CONSTRAINT recommendation_model_version IF NOT EXISTS FOR (model:RecommendationModel) REQUIRE model.version IS UNIQUE',
  'CREATE CONSTRAINT active_model_key IF NOT EXISTS FOR (pointer:ActiveModel) REQUIRE pointer.key IS UNIQUE',
  'CREATE INDEX recommendation_model_key IF NOT EXISTS FOR (model:RecommendationModel) ON (model.key)',
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
  return latestPerPair(rows, () => false);
}

/**
 * Like latestPerUserAndMovie, but on equal times a removal beats a set wherever it stands in the
 * array: the rule the graph applies across batches, so a batch gives the same result as the
 * same changes delivered one by one in any order.
 */
export function latestPerPair<T extends { userId: string; movieId: number; at: number }>(rows: readonly T[], isRemoval: (row: T) => boolean): T[] {
  const latest = new Map<string, T>();
  for (const row of rows) {
    const key = `${row.movieId}\u0000${row.userId}`;
    const current = latest.get(key);
    const wins = !current || row.at > current.at || (row.at === current.at && (isRemoval(row) || !isRemoval(current)));
    if (wins) latest.set(key, row);
  }
  return [...latest.values()];
}

/** One row per id: the latest `at` (an absent `at` counts as newest), the later one on a tie. */
function latestPerId<T extends { at?: number | null }>(rows: readonly T[], idOf: (row: T) => string | number): T[] {
  const latest = new Map<string | number, T>();
  const timeOf = (row: T) => row.at ?? Number.POSITIVE_INFINITY;
  for (const row of rows) {
    const current = latest.get(idOf(row));
    if (!current || timeOf(row) >= timeOf(current)) latest.set(idOf(row), row);
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

function checkGenres(genres: unknown, what: string): string[] {
  if (!Array.isArray(genres) || !genres.every((genre): genre is string => typeof genre === 'string')) {
    throw new RangeError(`${what}: genres must be a list of strings, got ${JSON.stringify(genres)}`);
  }
  return normaliseGenres(genres);
}

export interface MovieRow {
  id: Integer;
  title: string;
  year: Integer | null;
  genres: string[];
  at: Integer | null;
}

export function toMovieRow(movie: GraphMovie): MovieRow {
  const what = `movie ${JSON.stringify(movie.id)}`;
  if (movie.year !== null && (typeof movie.year !== 'number' || !Number.isSafeInteger(movie.year))) {
    throw new RangeError(`${what}: year must be an integer or null, got ${JSON.stringify(movie.year)}`);
  }
  if (typeof movie.title !== 'string') throw new RangeError(`${what}: title must be a string, got ${JSON.stringify(movie.title)}`);
  return {
    id: checkMovieId(movie.id, what),
    title: movie.title,
    year: movie.year === null ? null : neo4j.int(movie.year),
    genres: checkGenres(movie.genres, what),
    at: movie.at === undefined || movie.at === null ? null : checkTimestamp(movie.at, what),
  };
}

export interface UserRow {
  id: string;
  favoriteGenres: string[];
  at: Integer | null;
}

export function toUserRow(user: GraphUser): UserRow {
  const what = `user ${JSON.stringify(user.id)}`;
  return {
    id: checkUserId(user.id, what),
    favoriteGenres: checkGenres(user.favoriteGenres, what),
    at: user.at === undefined || user.at === null ? null : checkTimestamp(user.at, what),
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

/** A (user, movie) pair at a time: reactions, exclusions and every removal. */
export interface PairRow {
  userId: string;
  movieId: Integer;
  at: Integer;
}

function toPairRow(pair: { userId: string; movieId: number; at: number }, what: string): PairRow {
  return { userId: checkUserId(pair.userId, what), movieId: checkMovieId(pair.movieId, what), at: checkTimestamp(pair.at, what) };
}

const pairWhat = (what: string, pair: { userId: unknown; movieId: unknown }) =>
  `${what} of movie ${JSON.stringify(pair.movieId)} by user ${JSON.stringify(pair.userId)}`;

export function toReactionRow(reaction: GraphReaction): PairRow {
  const what = pairWhat('reaction', reaction);
  if (reaction.reaction !== 'LIKE' && reaction.reaction !== 'DISLIKE') {
    throw new RangeError(`${what}: reaction must be LIKE or DISLIKE, got ${JSON.stringify(reaction.reaction)}`);
  }
  return toPairRow(reaction, what);
}

/** Rows for one transaction, validated and reduced to one per pair (or id); built before anything is written. */
export interface PreparedGraphChanges {
  movies: MovieRow[];
  users: UserRow[];
  userIds: string[];
  ratings: RatingRow[];
  ratingDeletions: PairRow[];
  likes: PairRow[];
  dislikes: PairRow[];
  reactionClears: PairRow[];
  exclusions: PairRow[];
  exclusionClears: PairRow[];
}

/** Total rows of a prepared batch (for logs). */
export function preparedRowCount(prepared: PreparedGraphChanges): number {
  return Object.values(prepared).reduce((sum: number, rows: readonly unknown[]) => sum + rows.length, 0);
}

/**
 * Validates every change (throws a RangeError naming the first bad one) and keeps the latest per
 * (kind, user, movie), so no statement touches a pair twice and the batch means the same as its
 * changes applied one by one in any order.
 */
export function prepareGraphChanges(changes: GraphChanges): PreparedGraphChanges {
  const movies = latestPerId(changes.movies, (movie) => movie.id).map(toMovieRow);
  const users = latestPerId(changes.users, (user) => user.id).map(toUserRow);
  const userIds = [...new Set(changes.userIds.map((id) => checkUserId(id, `user ${JSON.stringify(id)}`)))];

  const ratings = latestPerPair(changes.ratings, (change) => change.rating === null);
  const reactions = latestPerPair(changes.reactions, (change) => change.reaction === null);
  const exclusions = latestPerPair(changes.exclusions, (change) => !change.excluded);
  const prepared: PreparedGraphChanges = {
    movies,
    users,
    userIds,
    ratings: [],
    ratingDeletions: [],
    likes: [],
    dislikes: [],
    reactionClears: [],
    exclusions: [],
    exclusionClears: [],
  };
  for (const change of ratings) {
    if (change.rating === null) prepared.ratingDeletions.push(toPairRow(change, pairWhat('rating deletion', change)));
    else prepared.ratings.push(toRatingRow({ ...change, rating: change.rating }));
  }
  for (const change of reactions) {
    if (change.reaction === null) prepared.reactionClears.push(toPairRow(change, pairWhat('reaction clearing', change)));
    else (change.reaction === 'LIKE' ? prepared.likes : prepared.dislikes).push(toReactionRow({ ...change, reaction: change.reaction }));
  }
  for (const change of exclusions) {
    const what = pairWhat(change.excluded ? 'exclusion' : 'exclusion clearing', change);
    if (typeof change.excluded !== 'boolean') throw new RangeError(`${what}: excluded must be true or false, got ${JSON.stringify(change.excluded)}`);
    (change.excluded ? prepared.exclusions : prepared.exclusionClears).push(toPairRow(change, what));
  }
  return prepared;
}

// ---------------------------------------------------------------------------------------------
// Statements

// Genres are kept twice on purpose: `genres` on the node for cheap reads, IN_GENRE edges for
// traversals (movies sharing a genre). The two sub-queries make the edges match the list exactly,
// so a movie whose genres changed loses its old edges. `changedAt` (the version's `at`) makes an
// older movie.updated that arrives late a no-op; rows without `at` (dataset loads) always apply.
export const upsertMoviesCypher = `
UNWIND $movies AS movie
MERGE (m:Movie {id: movie.id})
WITH m, movie
WHERE movie.at IS NULL OR m.changedAt IS NULL OR m.changedAt <= movie.at
SET m.title = movie.title, m.year = movie.year, m.genres = movie.genres,
    m.changedAt = coalesce(movie.at, m.changedAt)
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
WHERE user.at IS NULL OR u.favoriteGenresAt IS NULL OR u.favoriteGenresAt <= user.at
SET u.favoriteGenresAt = coalesce(user.at, u.favoriteGenresAt)
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

/** A registered user: the node only (favourite genres come with user.profile-updated). */
export const mergeUsersCypher = `
UNWIND $userIds AS userId
MERGE (:User {id: userId})`;

// Users and movies a rating or reaction refers to may not have been loaded yet (events of
// different streams arrive in any order): they are created as bare nodes and filled in later.
const mergeEndpoints = (rows: string, row: string) => `
UNWIND $${rows} AS ${row}
MERGE (u:User {id: ${row}.userId})
MERGE (m:Movie {id: ${row}.movieId})`;

/**
 * Blocks a set that is not newer than the pair's tombstone, and removes an older tombstone. One
 * OPTIONAL MATCH does both (DELETE of a null is a no-op): the common case, no tombstone, costs a
 * single expand-into between the two nodes already matched.
 */
const passTombstone = (row: string, tombstone: string) => `
WITH u, m, ${row}
OPTIONAL MATCH (u)-[gone:${tombstone}]->(m)
WITH u, m, ${row}, gone
WHERE gone IS NULL OR gone.at < ${row}.at
DELETE gone
WITH u, m, ${row}`;

export const upsertRatingsCypher = `${mergeEndpoints('ratings', 'rating')}${passTombstone('rating', 'RATING_DELETED')}
MERGE (u)-[rated:RATED]->(m)
WITH rated, rating
WHERE rated.at IS NULL OR rated.at <= rating.at
SET rated.rating = rating.rating, rated.at = rating.at`;

/** A LIKE removes the DISLIKE of the same pair and vice versa, unless that one is newer. */
function upsertReactionCypher(kept: 'LIKED' | 'DISLIKED', replaced: 'LIKED' | 'DISLIKED'): string {
  return `${mergeEndpoints('reactions', 'reaction')}
WITH u, m, reaction
WHERE NOT EXISTS { (u)-[newer:LIKED|DISLIKED]->(m) WHERE newer.at > reaction.at }${passTombstone('reaction', 'REACTION_CLEARED')}
CALL (u, m) {
  MATCH (u)-[opposite:${replaced}]->(m)
  DELETE opposite
}
MERGE (u)-[reacted:${kept}]->(m)
SET reacted.at = reaction.at`;
}

export const upsertLikesCypher = upsertReactionCypher('LIKED', 'DISLIKED');
export const upsertDislikesCypher = upsertReactionCypher('DISLIKED', 'LIKED');

export const upsertExclusionsCypher = `${mergeEndpoints('exclusions', 'exclusion')}${passTombstone('exclusion', 'EXCLUSION_CLEARED')}
MERGE (u)-[excluded:EXCLUDED]->(m)
WITH excluded, exclusion
WHERE excluded.at IS NULL OR excluded.at <= exclusion.at
SET excluded.at = exclusion.at`;

/**
 * A removal: unless the pair holds a newer `types` relationship, deletes it and records the
 * removal's time in the pair's tombstone (kept at the latest removal). The pair's nodes are merged
 * like for a set: the tombstone must exist even when the removal overtakes the set it undoes.
 */
function removalCypher(rows: string, types: string, tombstone: string): string {
  return `${mergeEndpoints(rows, 'removal')}
WITH u, m, removal
WHERE NOT EXISTS { (u)-[newer:${types}]->(m) WHERE newer.at > removal.at }
CALL (u, m) {
  MATCH (u)-[old:${types}]->(m)
  DELETE old
}
MERGE (u)-[gone:${tombstone}]->(m)
SET gone.at = CASE WHEN gone.at IS NULL OR gone.at < removal.at THEN removal.at ELSE gone.at END`;
}

export const deleteRatingsCypher = removalCypher('removals', 'RATED', 'RATING_DELETED');
export const clearReactionsCypher = removalCypher('removals', 'LIKED|DISLIKED', 'REACTION_CLEARED');
export const clearExclusionsCypher = removalCypher('removals', 'EXCLUDED', 'EXCLUSION_CLEARED');

/** Relationship types that hold a user's current state about a movie (tombstones aside). */
export const pairRelationshipTypes = ['RATED', 'LIKED', 'DISLIKED', 'EXCLUDED'] as const;
export type PairRelationshipType = (typeof pairRelationshipTypes)[number];

// ---------------------------------------------------------------------------------------------
// Writes

/**
 * Writes a prepared batch inside the caller's transaction. Nodes first, then the relationships;
 * within a kind the sets and removals touch disjoint pairs (prepareGraphChanges), so their order
 * does not matter.
 */
export async function writeGraphChanges(tx: GraphTransaction, prepared: PreparedGraphChanges): Promise<void> {
  const statements: [string, string, readonly unknown[]][] = [
    [mergeUsersCypher, 'userIds', prepared.userIds],
    [upsertUsersCypher, 'users', prepared.users],
    [upsertMoviesCypher, 'movies', prepared.movies],
    [upsertRatingsCypher, 'ratings', prepared.ratings],
    [deleteRatingsCypher, 'removals', prepared.ratingDeletions],
    [upsertLikesCypher, 'reactions', prepared.likes],
    [upsertDislikesCypher, 'reactions', prepared.dislikes],
    [clearReactionsCypher, 'removals', prepared.reactionClears],
    [upsertExclusionsCypher, 'exclusions', prepared.exclusions],
    [clearExclusionsCypher, 'removals', prepared.exclusionClears],
  ];
  for (const [cypher, parameter, rows] of statements) {
    if (rows.length > 0) await tx.run(cypher, { [parameter]: rows });
  }
}

/** Runs work in one managed write transaction (the driver retries transient failures). */
async function inWriteTransaction(driver: Driver, work: (tx: GraphTransaction) => Promise<void>): Promise<void> {
  const session = driver.session({ defaultAccessMode: neo4j.session.WRITE });
  try {
    await session.executeWrite(work);
  } finally {
    await session.close();
  }
}

export async function upsertGraphMovies(driver: Driver, movies: GraphMovie[]): Promise<void> {
  const rows = latestPerId(movies, (movie) => movie.id).map(toMovieRow);
  for (const batch of chunk(rows)) {
    await driver.executeQuery(upsertMoviesCypher, { movies: batch }, { routing: neo4j.routing.WRITE });
  }
}

export async function upsertGraphUsers(driver: Driver, users: GraphUser[]): Promise<void> {
  const rows = latestPerId(users, (user) => user.id).map(toUserRow);
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
    await inWriteTransaction(driver, async (tx) => {
      if (likes.length > 0) await tx.run(upsertLikesCypher, { reactions: likes });
      if (dislikes.length > 0) await tx.run(upsertDislikesCypher, { reactions: dislikes });
    });
  }
}

export async function upsertGraphExclusions(driver: Driver, exclusions: GraphExclusion[]): Promise<void> {
  const rows = latestPerUserAndMovie(exclusions).map((exclusion) => toPairRow(exclusion, pairWhat('exclusion', exclusion)));
  for (const batch of chunk(rows)) {
    await driver.executeQuery(upsertExclusionsCypher, { exclusions: batch }, { routing: neo4j.routing.WRITE });
  }
}

// ---------------------------------------------------------------------------------------------
// Resync (used by the rebuild)

/** Graph user ids after `after` in id order: pages for walking every user. */
export async function graphUserIdsAfter(driver: Driver, after: string | null, limit: number): Promise<string[]> {
  const { records } = await driver.executeQuery(
    `MATCH (u:User) WHERE $after IS NULL OR u.id > $after
     RETURN u.id AS id ORDER BY id LIMIT $limit`,
    { after, limit: neo4j.int(limit) },
    { routing: neo4j.routing.READ },
  );
  return records.map((record) => record.get('id') as string);
}

/** What the source of truth holds for one user: the movie ids of each relationship type. */
export interface UserPairsInSource {
  userId: string;
  keep: Record<PairRelationshipType, number[]>;
}

/**
 * Deletes the users' RATED, LIKED, DISLIKED and EXCLUDED relationships to movies their `keep`
 * lists do not name, unless written at or after `olderThan` (epoch ms): those may come from events
 * newer than the source read, which the event stream will settle. Tombstones are left alone (they
 * still guard against late older events). Returns the count removed per type.
 */
export async function removeGraphPairsNotIn(driver: Driver, users: UserPairsInSource[], olderThan: number): Promise<Record<PairRelationshipType, number>> {
  const removed: Record<PairRelationshipType, number> = { RATED: 0, LIKED: 0, DISLIKED: 0, EXCLUDED: 0 };
  if (users.length === 0) return removed;
  const cutoff = checkTimestamp(olderThan, 'resync cut-off');
  const rowsByType = pairRelationshipTypes.map((type) => ({
    type,
    rows: users.map((user) => ({
      userId: checkUserId(user.userId, 'resync'),
      keep: user.keep[type].map((id) => checkMovieId(id, `resync of user ${user.userId}`)),
    })),
  }));
  await inWriteTransaction(driver, async (tx) => {
    for (const { type, rows } of rowsByType) {
      const result = await tx.run(
        `UNWIND $users AS entry
         MATCH (u:User {id: entry.userId})-[r:${type}]->(m:Movie)
         WHERE NOT m.id IN entry.keep AND (r.at IS NULL OR r.at < $olderThan)
         DELETE r`,
        { users: rows, olderThan: cutoff },
      );
      // Assigned, not added: a retried transaction runs this callback again from the start.
      removed[type] = result.summary.counters.updates().relationshipsDeleted;
    }
  });
  return removed;
}

// ---------------------------------------------------------------------------------------------
// Retention (tombstones.ts decides the cut-off)

/**
 * Deletes tombstones (RATING_DELETED, REACTION_CLEARED, EXCLUSION_CLEARED) whose `at` is before
 * `before` (epoch ms), `batchSize` per transaction; resolves with how many it deleted.
 */
export async function deleteTombstonesBefore(driver: Driver, before: number, batchSize = 10_000): Promise<number> {
  const cutoff = checkTimestamp(before, 'tombstone cut-off');
  let deleted = 0;
  for (;;) {
    const result = await driver.executeQuery(
      `MATCH ()-[gone:RATING_DELETED|REACTION_CLEARED|EXCLUSION_CLEARED]->()
       WHERE gone.at < $before
       WITH gone LIMIT $batchSize
       DELETE gone`,
      { before: cutoff, batchSize: neo4j.int(batchSize) },
      { routing: neo4j.routing.WRITE },
    );
    const count = result.summary.counters.updates().relationshipsDeleted;
    deleted += count;
    if (count < batchSize) return deleted;
  }
}
