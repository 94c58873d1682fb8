import { randomBytes } from 'node:crypto';
import neo4j, { type Driver, type ManagedTransaction } from 'neo4j-driver';
import type { NeighbourColumns } from './build-worker.ts';
import type { ModelParameters, Neighbour, TrainingInteraction } from './similarity.ts';

// The precomputed model in the graph: what a build reads, what it writes, and the pointer that
// says which version serves.
//
//   (:RecommendationModel {key, version, status, phase, progress, ...})   one node per build
//   (:ActiveModel {key})-[:ACTIVE]->(:RecommendationModel)                  one pointer per key
//   (:Movie)-[:SIMILAR {score, model: <version>}]->(:Movie)                 the top-k neighbours
//
// A build writes its SIMILAR edges under a version no reader asks for, then activation moves the
// pointer in one transaction: readers resolve the active version first and only follow edges of
// that version, so they see the previous model until the flip and the complete new one after it.
// Superseded versions keep their edges for a grace period (a reader that resolved the old version
// just before the flip may still be following its edges) and are deleted in batches afterwards.
//
// `key` separates independent model lifecycles in one graph: production uses 'default'; tests
// and the evaluation command use keys of their own so they never touch the production pointer.

export const defaultModelKey = 'default';

export type ModelStatus = 'BUILDING' | 'READY' | 'FAILED';
/** What a build is doing; READY models are DONE. */
export type ModelPhase = 'READING' | 'COMPUTING' | 'WRITING' | 'ACTIVATING' | 'DONE' | 'FAILED';

/** Share of a build's total progress each phase stands for: roughly its share of a build's time on ml-latest-small (writing the edges dominates). */
export const phaseShares: Record<'READING' | 'COMPUTING' | 'WRITING' | 'ACTIVATING', { start: number; share: number }> = {
  READING: { start: 0, share: 0.1 },
  COMPUTING: { start: 0.1, share: 0.25 },
  WRITING: { start: 0.35, share: 0.63 },
  ACTIVATING: { start: 0.98, share: 0.02 },
};

/** Overall progress (0..1) of a build that is `fraction` through `phase`. */
export function overallProgress(phase: ModelPhase, fraction: number): number {
  if (phase === 'DONE') return 1;
  if (phase === 'FAILED') return 0;
  const { start, share } = phaseShares[phase];
  return start + share * Math.min(1, Math.max(0, fraction));
}

export interface ModelRecord {
  key: string;
  version: string;
  status: ModelStatus;
  phase: ModelPhase;
  /** 0..1 over the whole build */
  progress: number;
  active: boolean;
  /** epoch ms */
  startedAt: number;
  /** epoch ms: when it was activated (READY) or gave up (FAILED) */
  finishedAt: number | null;
  buildMillis: number | null;
  users: number;
  movies: number;
  similarityEdges: number;
  /** why the build failed */
  error: string | null;
}

/** A new, unique version name: the key, the UTC start time, and a random suffix (two processes may start in the same second). */
export function newModelVersion(key: string, now: number = Date.now()): string {
  const time = new Date(now).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${key}-${time}-${randomBytes(3).toString('hex')}`;
}

const modelKeyPattern = /^[A-Za-z0-9_.:-]{1,100}$/;

/** Keys end up in version names and log lines: a short plain token. */
export function checkModelKey(key: string): string {
  if (!modelKeyPattern.test(key)) throw new RangeError(`model key must be 1-100 letters, digits or _.:-, got ${JSON.stringify(key)}`);
  return key;
}

// ---------------------------------------------------------------------------------------------
// Reading the training data

/** What a build learns from, plus what serving needs to know about the catalogue at that moment. */
export interface TrainingData {
  interactions: TrainingInteraction[];
  /** The highest movie id in the graph when the build started: movies above it are newer than the model. */
  maxMovieId: number;
  /** Movies nobody had rated, liked or disliked when the build started (newest first, capped): cold-start candidates. */
  unratedMovieIds: number[];
}

export interface ReadTrainingOptions {
  /** Users per page; a page holds all their interactions. */
  usersPerPage?: number;
  /** Cap on unratedMovieIds (the newest are kept). */
  maxUnratedMovies?: number;
  /** Called after each page with the users read so far and the total. */
  onProgress?(usersRead: number, usersTotal: number): void;
}

const defaultUsersPerPage = 2_000;
// Every forUser request looks these up (model-recommender.ts): the newest few are what matters.
const defaultMaxUnratedMovies = 100;

// Interactions come as parallel lists per user (one row per user, not per relationship): far
// fewer Bolt records to decode. collect() drops nulls, so absent values are coded (-1 / 0).
const interactionPageCypher = `
MATCH (u:User) WHERE u.id > $after
WITH u ORDER BY u.id LIMIT $limit
CALL (u) {
  MATCH (u)-[r:RATED|LIKED|DISLIKED]->(m:Movie)
  RETURN collect(m.id) AS movieIds,
         collect(CASE type(r) WHEN 'RATED' THEN 0 WHEN 'LIKED' THEN 1 ELSE 2 END) AS kinds,
         collect(coalesce(r.rating, -1.0)) AS ratings,
         collect(coalesce(r.at, 0)) AS ats
}
RETURN u.id AS userId, movieIds, kinds, ratings, ats`;

const catalogueCypher = `
RETURN
  COUNT { MATCH (u:User) } AS users,
  coalesce(COLLECT { MATCH (m:Movie) WHERE m.id IS NOT NULL RETURN m.id ORDER BY m.id DESC LIMIT 1 }[0], 0) AS maxMovieId,
  COLLECT {
    MATCH (m:Movie) WHERE COUNT { (m)<-[:RATED|LIKED|DISLIKED]-(:User) } = 0
    RETURN m.id ORDER BY m.id DESC LIMIT $maxUnrated
  } AS unratedMovieIds`;

const interactionKinds = ['RATED', 'LIKED', 'DISLIKED'] as const;

/** One user's relationships (parallel lists as the page query returns them) folded into one interaction per movie. */
export function foldUserInteractions(
  userId: string,
  movieIds: readonly number[],
  kinds: readonly number[],
  ratings: readonly number[],
  ats: readonly number[],
): TrainingInteraction[] {
  const byMovie = new Map<number, TrainingInteraction>();
  for (let index = 0; index < movieIds.length; index++) {
    const movieId = movieIds[index] as number;
    const kind = interactionKinds[kinds[index] as number];
    const at = ats[index] ?? 0;
    const entry = byMovie.get(movieId) ?? { userId, movieId, rating: null, reaction: null, at: 0 };
    if (kind === 'RATED') entry.rating = (ratings[index] ?? -1) >= 0 ? (ratings[index] as number) : null;
    else if (kind === 'LIKED') entry.reaction = 'LIKE';
    else if (kind === 'DISLIKED') entry.reaction = 'DISLIKE';
    entry.at = Math.max(entry.at, at);
    byMovie.set(movieId, entry);
  }
  return [...byMovie.values()];
}

/**
 * Reads every user's ratings and reactions, a page of users at a time (keyset order on the
 * User.id index), as one TrainingInteraction per (user, movie). The catalogue facts are read
 * first, so a movie created while the pages are read counts as newer than the model.
 */
export async function readTrainingData(driver: Driver, options: ReadTrainingOptions = {}): Promise<TrainingData> {
  const usersPerPage = options.usersPerPage ?? defaultUsersPerPage;
  const catalogue = (
    await driver.executeQuery(catalogueCypher, { maxUnrated: neo4j.int(options.maxUnratedMovies ?? defaultMaxUnratedMovies) }, { routing: neo4j.routing.READ })
  ).records[0];
  const usersTotal = (catalogue?.get('users') as number | undefined) ?? 0;
  const interactions: TrainingInteraction[] = [];
  let after = '';
  let usersRead = 0;
  for (;;) {
    const { records } = await driver.executeQuery(interactionPageCypher, { after, limit: neo4j.int(usersPerPage) }, { routing: neo4j.routing.READ });
    for (const record of records) {
      const folded = foldUserInteractions(
        record.get('userId') as string,
        record.get('movieIds') as number[],
        record.get('kinds') as number[],
        record.get('ratings') as number[],
        record.get('ats') as number[],
      );
      for (const interaction of folded) interactions.push(interaction);
    }
    usersRead += records.length;
    options.onProgress?.(usersRead, Math.max(usersTotal, usersRead));
    if (records.length < usersPerPage) break;
    after = records.at(-1)?.get('userId') as string;
  }
  return {
    interactions,
    maxMovieId: (catalogue?.get('maxMovieId') as number | undefined) ?? 0,
    unratedMovieIds: (catalogue?.get('unratedMovieIds') as number[] | undefined) ?? [],
  };
}

/** Movies ranked by how often they were rated or liked (the live recommender's popularity), most first. */
export function popularityRanking(interactions: readonly TrainingInteraction[], limit: number): { movieIds: number[]; counts: number[] } {
  const counts = new Map<number, number>();
  for (const interaction of interactions) {
    const signals = (interaction.rating !== null ? 1 : 0) + (interaction.reaction === 'LIKE' ? 1 : 0);
    if (signals > 0) counts.set(interaction.movieId, (counts.get(interaction.movieId) ?? 0) + signals);
  }
  const ranked = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, limit);
  return { movieIds: ranked.map(([movieId]) => movieId), counts: ranked.map(([, count]) => count) };
}

// ---------------------------------------------------------------------------------------------
// The build's life cycle

type Transaction = Pick<ManagedTransaction, 'run'>;

/**
 * One explicit transaction, not retried: what an admin request runs, so that a Neo4j outage
 * answers SERVICE_UNAVAILABLE at once instead of after the driver's 30 s of managed retries.
 */
async function inTransaction<T>(driver: Driver, mode: 'READ' | 'WRITE', work: (tx: Transaction) => Promise<T>): Promise<T> {
  const session = driver.session({ defaultAccessMode: mode === 'READ' ? neo4j.session.READ : neo4j.session.WRITE });
  try {
    const tx = await session.beginTransaction({ timeout: 10_000 });
    try {
      const result = await work(tx);
      await tx.commit();
      return result;
    } finally {
      if (tx.isOpen()) await tx.rollback().catch(() => undefined);
    }
  } finally {
    await session.close().catch(() => undefined);
  }
}

const modelFields = `{
  key: model.key, version: model.version, status: model.status, phase: model.phase,
  progress: model.progress, active: EXISTS { (:ActiveModel {key: model.key})-[:ACTIVE]->(model) },
  startedAt: model.startedAt, finishedAt: model.finishedAt, buildMillis: model.buildMillis,
  users: model.users, movies: model.movies, similarityEdges: model.similarityEdges, error: model.error
}`;

interface ModelRow {
  key: string;
  version: string;
  status: ModelStatus;
  phase: ModelPhase;
  progress: number | null;
  active: boolean;
  startedAt: number;
  finishedAt: number | null;
  buildMillis: number | null;
  users: number | null;
  movies: number | null;
  similarityEdges: number | null;
  error: string | null;
}

function toModelRecord(row: ModelRow): ModelRecord {
  return {
    key: row.key,
    version: row.version,
    status: row.status,
    phase: row.phase,
    progress: row.progress ?? 0,
    active: row.active,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt ?? null,
    buildMillis: row.buildMillis ?? null,
    users: row.users ?? 0,
    movies: row.movies ?? 0,
    similarityEdges: row.similarityEdges ?? 0,
    error: row.error ?? null,
  };
}

export type BeginBuildResult = { started: true; model: ModelRecord } | { started: false; model: ModelRecord };

export interface BeginBuildOptions {
  key: string;
  version: string;
  now: number;
  /** A BUILDING model whose heartbeat is older than this is abandoned (its process died). */
  staleAfterMs: number;
}

/**
 * Starts a build unless one with a fresh heartbeat is already running for the key (in any
 * process): then returns that one. The check and the creation run in one transaction that first
 * takes the write lock of the key's ActiveModel node, so two processes asking at once cannot
 * both start. A BUILDING model whose heartbeat went stale is marked FAILED on the way.
 */
export async function beginBuild(driver: Driver, options: BeginBuildOptions): Promise<BeginBuildResult> {
  // Not retried (see inTransaction); two processes meeting here serialise on the pointer's lock.
  return inTransaction(driver, 'WRITE', async (tx) => {
    const now = neo4j.int(options.now);
    // SET takes the pointer's exclusive lock before anything is read: the lock of this key.
    await tx.run('MERGE (pointer:ActiveModel {key: $key}) SET pointer.lockedAt = $now', { key: options.key, now });
    const running = await tx.run(
      `MATCH (model:RecommendationModel {key: $key}) WHERE model.status = 'BUILDING' AND model.heartbeatAt >= $freshSince
       RETURN ${modelFields} AS model ORDER BY model.startedAt DESC LIMIT 1`,
      { key: options.key, freshSince: neo4j.int(options.now - options.staleAfterMs) },
    );
    const current = running.records[0]?.get('model') as ModelRow | undefined;
    if (current) return { started: false as const, model: toModelRecord(current) };
    await tx.run(
      `MATCH (model:RecommendationModel {key: $key}) WHERE model.status = 'BUILDING'
       SET model.status = 'FAILED', model.phase = 'FAILED', model.finishedAt = $now,
           model.error = 'abandoned: its process stopped reporting progress (stopped or crashed)'`,
      { key: options.key, now },
    );
    const created = await tx.run(
      `CREATE (model:RecommendationModel {
         key: $key, version: $version, status: 'BUILDING', phase: 'READING', progress: 0.0,
         startedAt: $now, heartbeatAt: $now, users: 0, movies: 0, similarityEdges: 0
       })
       RETURN ${modelFields} AS model`,
      { key: options.key, version: options.version, now },
    );
    return { started: true as const, model: toModelRecord(created.records[0]?.get('model') as ModelRow) };
  });
}

/** Records the phase and progress of a running build and refreshes its heartbeat; false when it is no longer BUILDING. */
export async function recordBuildProgress(driver: Driver, version: string, phase: ModelPhase, progress: number, now: number = Date.now()): Promise<boolean> {
  const { records } = await driver.executeQuery(
    `MATCH (model:RecommendationModel {version: $version}) WHERE model.status = 'BUILDING'
     SET model.phase = $phase, model.progress = $progress, model.heartbeatAt = $now
     RETURN true AS updated`,
    { version, phase, progress, now: neo4j.int(now) },
    { routing: neo4j.routing.WRITE },
  );
  return records.length > 0;
}

/** Marks a build FAILED with its reason; the active model is untouched. */
export async function recordBuildFailure(driver: Driver, version: string, message: string, now: number = Date.now()): Promise<void> {
  await driver.executeQuery(
    `MATCH (model:RecommendationModel {version: $version}) WHERE model.status = 'BUILDING'
     SET model.status = 'FAILED', model.phase = 'FAILED', model.finishedAt = $now, model.error = $message`,
    { version, message: message.slice(0, 1_000), now: neo4j.int(now) },
    { routing: neo4j.routing.WRITE },
  );
}

export interface SimilarityRow {
  from: number;
  to: number[];
  scores: number[];
}

/**
 * Groups the edges into transactions of about `edgesPerBatch` edges: one row per source movie (a
 * movie's list may be split across two batches), so each transaction is one UNWIND.
 */
export function similarityBatches(columns: NeighbourColumns, edgesPerBatch: number): SimilarityRow[][] {
  if (!Number.isInteger(edgesPerBatch) || edgesPerBatch < 1) throw new RangeError(`edges per batch must be a positive integer, got ${edgesPerBatch}`);
  const batches: SimilarityRow[][] = [];
  let batch: SimilarityRow[] = [];
  let inBatch = 0;
  for (let movie = 0; movie < columns.movieIds.length; movie++) {
    let start = columns.offsets[movie] as number;
    const end = columns.offsets[movie + 1] as number;
    while (start < end) {
      const take = Math.min(end - start, edgesPerBatch - inBatch);
      batch.push({
        from: columns.movieIds[movie] as number,
        to: Array.from(columns.targets.subarray(start, start + take)),
        scores: Array.from(columns.scores.subarray(start, start + take)),
      });
      inBatch += take;
      start += take;
      if (inBatch === edgesPerBatch) {
        batches.push(batch);
        batch = [];
        inBatch = 0;
      }
    }
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

// Ids travel as FLOATs here and are turned back into INTEGERs in Cypher: wrapping 300k numbers in
// driver Integer objects costs more than toInteger() in the database, and ids are far below 2^53.
// CREATE, not MERGE: a version's edges are new by construction (one writer per version).
const writeSimilaritiesCypher = `
UNWIND $rows AS row
MATCH (source:Movie {id: toInteger(row.from)})
UNWIND range(0, size(row.to) - 1) AS i
MATCH (target:Movie {id: toInteger(row.to[i])})
CREATE (source)-[:SIMILAR {score: row.scores[i], model: $version}]->(target)`;

/** Edges per write transaction. */
export const similarityEdgesPerTransaction = 10_000;

export interface WriteSimilaritiesOptions {
  edgesPerBatch?: number;
  /** Transactions in flight at once (separate sessions). */
  concurrency?: number;
  onProgress?(edgesWritten: number, edgesTotal: number): void;
  /** Checked between batches: a stopping process gives up instead of writing on. */
  shouldStop?(): boolean;
}

/** Writes a version's SIMILAR edges, about 10,000 per transaction. Returns the number created. */
export async function writeSimilarityEdges(driver: Driver, version: string, columns: NeighbourColumns, options: WriteSimilaritiesOptions = {}): Promise<number> {
  const batches = similarityBatches(columns, options.edgesPerBatch ?? similarityEdgesPerTransaction);
  const total = columns.targets.length;
  let next = 0;
  let written = 0;
  let created = 0;
  const writer = async (): Promise<void> => {
    const session = driver.session({ defaultAccessMode: neo4j.session.WRITE });
    try {
      while (next < batches.length) {
        if (options.shouldStop?.()) throw new Error('stopped while writing the similarity edges');
        const batch = batches[next++] as SimilarityRow[];
        const result = await session.executeWrite((tx) => tx.run(writeSimilaritiesCypher, { rows: batch, version }));
        created += result.summary.counters.updates().relationshipsCreated;
        written += batch.reduce((sum, row) => sum + row.to.length, 0);
        options.onProgress?.(written, total);
      }
    } finally {
      await session.close();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 1) }, writer));
  return created;
}

export interface ModelSummary {
  users: number;
  movies: number;
  similarityEdges: number;
  buildMillis: number;
  maxMovieId: number;
  unratedMovieIds: number[];
  popularMovieIds: number[];
  popularCounts: number[];
  /**
   * The popularity penalty serving subtracts per candidate movie (parallel lists; empty when the
   * model was built without one). Stored with the version because it belongs to the build's counts.
   */
  penaltyMovieIds: number[];
  penaltyValues: number[];
  /** The algorithm's resolved options; serving weighs profiles the same way (stored as JSON). */
  parameters: ModelParameters;
  /** Milliseconds per phase, kept on the node for operators. */
  phaseMillis: Record<string, number>;
}

/**
 * Makes `version` the key's active model in one transaction: the model becomes READY with its
 * figures and the pointer moves to it; the previous one is stamped `supersededAt` (its edges stay
 * until retireOldVersions removes them). Throws when the build is no longer BUILDING (another
 * process declared it abandoned), leaving the pointer where it was.
 */
export async function activateModel(driver: Driver, key: string, version: string, summary: ModelSummary, now: number = Date.now()): Promise<ModelRecord> {
  const session = driver.session({ defaultAccessMode: neo4j.session.WRITE });
  try {
    return await session.executeWrite(async (tx) => {
      const nowInt = neo4j.int(now);
      await tx.run('MERGE (pointer:ActiveModel {key: $key}) SET pointer.lockedAt = $now', { key, now: nowInt });
      const result = await tx.run(
        `MATCH (pointer:ActiveModel {key: $key})
         MATCH (model:RecommendationModel {version: $version}) WHERE model.key = $key AND model.status = 'BUILDING'
         CALL (pointer) {
           OPTIONAL MATCH (pointer)-[old:ACTIVE]->(previous:RecommendationModel)
           SET previous.supersededAt = $now
           DELETE old
         }
         CREATE (pointer)-[:ACTIVE]->(model)
         SET pointer.version = model.version, pointer.activatedAt = $now,
             model.status = 'READY', model.phase = 'DONE', model.progress = 1.0, model.finishedAt = $now,
             model.heartbeatAt = $now, model.buildMillis = $buildMillis, model.users = $users, model.movies = $movies,
             model.similarityEdges = $similarityEdges, model.maxMovieId = $maxMovieId,
             model.unratedMovieIds = $unratedMovieIds, model.popularMovieIds = $popularMovieIds,
             model.popularCounts = $popularCounts, model.phaseMillis = $phaseMillis,
             model.penaltyMovieIds = $penaltyMovieIds, model.penaltyValues = $penaltyValues,
             model.parameters = $parameters
         RETURN ${modelFields} AS model`,
        {
          key,
          version,
          now: nowInt,
          buildMillis: neo4j.int(Math.round(summary.buildMillis)),
          users: neo4j.int(summary.users),
          movies: neo4j.int(summary.movies),
          similarityEdges: neo4j.int(summary.similarityEdges),
          maxMovieId: neo4j.int(summary.maxMovieId),
          unratedMovieIds: summary.unratedMovieIds.map((id) => neo4j.int(id)),
          popularMovieIds: summary.popularMovieIds.map((id) => neo4j.int(id)),
          popularCounts: summary.popularCounts.map((count) => neo4j.int(count)),
          penaltyMovieIds: summary.penaltyMovieIds.map((id) => neo4j.int(id)),
          penaltyValues: summary.penaltyValues,
          parameters: JSON.stringify(summary.parameters),
          // A map is not a storable property: kept as "phase=ms" strings.
          phaseMillis: Object.entries(summary.phaseMillis).map(([phase, ms]) => `${phase}=${Math.round(ms)}`),
        },
      );
      const row = result.records[0]?.get('model') as ModelRow | undefined;
      if (!row) throw new Error(`model ${version} is no longer BUILDING (declared abandoned by another process?); the active model was left as it was`);
      return toModelRecord(row);
    });
  } finally {
    await session.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Reading models

export async function readActiveModel(driver: Driver, key: string): Promise<ModelRecord | null> {
  return inTransaction(driver, 'READ', async (tx) => {
    const { records } = await tx.run(`MATCH (:ActiveModel {key: $key})-[:ACTIVE]->(model:RecommendationModel) RETURN ${modelFields} AS model`, { key });
    const row = records[0]?.get('model') as ModelRow | undefined;
    return row ? toModelRecord(row) : null;
  });
}

export async function readModel(driver: Driver, version: string): Promise<ModelRecord | null> {
  return inTransaction(driver, 'READ', async (tx) => {
    const { records } = await tx.run(`MATCH (model:RecommendationModel {version: $version}) RETURN ${modelFields} AS model`, { version });
    const row = records[0]?.get('model') as ModelRow | undefined;
    return row ? toModelRecord(row) : null;
  });
}

/** The key's most recent builds, newest first. */
export async function listModels(driver: Driver, key: string, first: number): Promise<ModelRecord[]> {
  return inTransaction(driver, 'READ', async (tx) => {
    const { records } = await tx.run(
      `MATCH (model:RecommendationModel {key: $key})
       WITH model ORDER BY model.startedAt DESC, model.version DESC LIMIT $first
       RETURN ${modelFields} AS model`,
      { key, first: neo4j.int(first) },
    );
    return records.map((record) => toModelRecord(record.get('model') as ModelRow));
  });
}

// ---------------------------------------------------------------------------------------------
// Retiring old versions

export interface RetireOptions {
  /** Versions superseded (or failed) less than this long ago keep their edges: a reader may still follow them. */
  graceMs: number;
  now?: number;
  /** Model nodes kept per key (history for recommendationModels); older ones are deleted once their edges are gone. */
  keepModels?: number;
  /** Source movies per delete transaction (each has up to neighboursPerMovie edges per version). */
  moviesPerTransaction?: number;
}

export interface RetireResult {
  versions: string[];
  edgesDeleted: number;
  modelsDeleted: number;
}

export const defaultKeptModels = 20;

// Walks every movie (SIMILAR.model has no index, see graph.ts) and deletes the given versions'
// edges, committing every `batch` movies (about 10,000 edges with 50 neighbours per movie).
// CALL ... IN TRANSACTIONS needs an auto-commit session.run.
const retireEdgesCypher = `
MATCH (source:Movie)
CALL (source) {
  MATCH (source)-[similar:SIMILAR]->()
  WHERE similar.model IN $versions
  DELETE similar
} IN TRANSACTIONS OF $batch ROWS`;

/**
 * Deletes the SIMILAR edges of the key's versions that no reader can need any more: superseded
 * (READY, not active) or FAILED more than `graceMs` ago. Then trims the key's model history to
 * `keepModels` nodes. BUILDING versions are never touched: their builder is still writing.
 * Interrupted, it simply runs again: a version is marked retired only once its edges are gone.
 */
export async function retireOldVersions(driver: Driver, key: string, options: RetireOptions): Promise<RetireResult> {
  const now = options.now ?? Date.now();
  const { records } = await driver.executeQuery(
    `MATCH (model:RecommendationModel {key: $key})
     WHERE model.status IN ['READY', 'FAILED'] AND model.edgesRetiredAt IS NULL
       AND NOT EXISTS { (:ActiveModel {key: $key})-[:ACTIVE]->(model) }
       AND coalesce(model.supersededAt, model.finishedAt, model.startedAt) <= $retireBefore
     RETURN model.version AS version`,
    { key, retireBefore: neo4j.int(now - options.graceMs) },
    { routing: neo4j.routing.WRITE },
  );
  const versions = records.map((record) => record.get('version') as string);
  let edgesDeleted = 0;
  if (versions.length > 0) {
    const session = driver.session({ defaultAccessMode: neo4j.session.WRITE });
    try {
      const result = await session.run(retireEdgesCypher, { versions, batch: neo4j.int(options.moviesPerTransaction ?? 200) });
      edgesDeleted = result.summary.counters.updates().relationshipsDeleted;
    } finally {
      await session.close();
    }
    await driver.executeQuery(
      'MATCH (model:RecommendationModel) WHERE model.version IN $versions SET model.edgesRetiredAt = $now',
      { versions, now: neo4j.int(now) },
      { routing: neo4j.routing.WRITE },
    );
  }
  const trimmed = await driver.executeQuery(
    `MATCH (model:RecommendationModel {key: $key})
     WITH model ORDER BY model.startedAt DESC, model.version DESC
     WITH collect(model) AS models
     UNWIND models[$keep..] AS old
     WITH old WHERE old.edgesRetiredAt IS NOT NULL
     DETACH DELETE old`,
    { key, keep: neo4j.int(options.keepModels ?? defaultKeptModels) },
    { routing: neo4j.routing.WRITE },
  );
  return { versions, edgesDeleted, modelsDeleted: trimmed.summary.counters.updates().nodesDeleted };
}

// ---------------------------------------------------------------------------------------------
// Loading a whole version (the serving copy, see model-recommender.ts)

export interface LoadedModel {
  version: string;
  /** Per movie: its neighbours in this version, best first. */
  neighbours: Map<number, Neighbour[]>;
  /** Every movie's genres when the version was loaded (for content matching). */
  genres: Map<number, readonly string[]>;
  /** Per genre: its movies. */
  moviesByGenre: Map<string, number[]>;
  /** Every movie's RATED + LIKED count when loaded (the live recommender's popularity). */
  popularity: Map<number, number>;
  popularMovieIds: number[];
  popularCounts: number[];
  edges: number;
  /** The highest movie id the copy knows: later movies are added by addNewMovies. */
  maxMovieId: number;
}

// Every movie in id order (keyset pages on the Movie.id index), with this version's edges.
const modelPageCypher = `
MATCH (source:Movie) WHERE source.id > $after
WITH source ORDER BY source.id LIMIT $limit
RETURN source.id AS movieId, source.genres AS genres, COUNT { (source)<-[:RATED|LIKED]-() } AS popularity,
       [(source)-[similar:SIMILAR]->(target:Movie) WHERE similar.model = $version | [target.id, similar.score]] AS neighbours`;

function addMovie(copy: LoadedModel, movieId: number, genres: readonly string[], popularity: number): void {
  copy.genres.set(movieId, genres);
  copy.popularity.set(movieId, popularity);
  copy.maxMovieId = Math.max(copy.maxMovieId, movieId);
  for (const genre of new Set(genres)) {
    const movies = copy.moviesByGenre.get(genre);
    if (movies) movies.push(movieId);
    else copy.moviesByGenre.set(genre, [movieId]);
  }
}

/**
 * Adds the movies created since the copy was loaded (ids above the highest it knows; ids grow)
 * with their genres and popularity, so genre fallbacks served from the copy include them.
 * Returns how many were added.
 */
export async function addNewMovies(driver: Driver, copy: LoadedModel, limit = 1_000): Promise<number> {
  const { records } = await driver.executeQuery(
    `MATCH (movie:Movie) WHERE movie.id > $after
     WITH movie ORDER BY movie.id LIMIT $limit
     RETURN movie.id AS movieId, coalesce(movie.genres, []) AS genres, COUNT { (movie)<-[:RATED|LIKED]-() } AS popularity`,
    { after: neo4j.int(copy.maxMovieId), limit: neo4j.int(limit) },
    { routing: neo4j.routing.READ },
  );
  for (const record of records) {
    const movieId = record.get('movieId') as number;
    if (!copy.genres.has(movieId)) addMovie(copy, movieId, record.get('genres') as string[], record.get('popularity') as number);
  }
  return records.length;
}

/**
 * Reads one version's SIMILAR edges and every movie's genres and popularity, `moviesPerPage`
 * source movies per query. Returns null when the version is not the key's active one after the read: an inactive
 * version may be retired while it is read, and a partial copy must never serve.
 */
export async function loadActiveModel(driver: Driver, key: string, version: string, moviesPerPage = 2_000): Promise<LoadedModel | null> {
  const loaded: LoadedModel = {
    version,
    neighbours: new Map(),
    genres: new Map(),
    moviesByGenre: new Map(),
    popularity: new Map(),
    popularMovieIds: [],
    popularCounts: [],
    edges: 0,
    maxMovieId: 0,
  };
  // Genre names repeat on every movie: one string instance per name.
  const names = new Map<string, string>();
  let after = -1;
  for (;;) {
    const { records } = await driver.executeQuery(modelPageCypher, { after: neo4j.int(after), limit: neo4j.int(moviesPerPage), version }, { routing: neo4j.routing.READ });
    for (const record of records) {
      const movieId = record.get('movieId') as number;
      addMovie(loaded, movieId, ((record.get('genres') as string[] | null) ?? []).map((name) => names.get(name) ?? (names.set(name, name), name)), record.get('popularity') as number);
      const pairs = record.get('neighbours') as [number, number][];
      if (pairs.length > 0) {
        loaded.neighbours.set(
          movieId,
          pairs.map(([target, score]) => ({ movieId: target, score })).sort((a, b) => b.score - a.score || a.movieId - b.movieId),
        );
        loaded.edges += pairs.length;
      }
    }
    if (records.length < moviesPerPage) break;
    after = records.at(-1)?.get('movieId') as number;
  }
  const { records } = await driver.executeQuery(
    `MATCH (:ActiveModel {key: $key})-[:ACTIVE]->(model:RecommendationModel {version: $version})
     RETURN coalesce(model.popularMovieIds, []) AS movieIds, coalesce(model.popularCounts, []) AS counts`,
    { key, version },
    { routing: neo4j.routing.READ },
  );
  const active = records[0];
  if (!active) return null;
  loaded.popularMovieIds = active.get('movieIds') as number[];
  loaded.popularCounts = active.get('counts') as number[];
  return loaded;
}
