import pg from 'pg';
import type { Redis } from '@platform/shared';
import { analyticsConsumerGroup, defaultAnalyticsStreams, streamList, type AnalyticsStreams } from './consumer.ts';
import { consumedEventTypes } from './projection.ts';
import { emptyDistribution } from './tables.ts';

// The backfill rebuilds the analytics read model from the source of truth. It is the ONE place
// where analytics may read other subgraphs' schemas (users, movies, reviews): everywhere else a
// subgraph owns its schema alone and learns about other subgraphs' changes only from events.
// Reading them here is acceptable because it is an operator-run, read-only repair path (first
// start, after an outage of the event consumer longer than the streams keep, after a bulk import
// that emits no events).
//
// Not double counting what the consumer will still deliver:
//  1. The stream positions are read FIRST. Every entry up to them was published after its write
//     committed, so the snapshot taken next contains its effect.
//  2. One REPEATABLE READ transaction takes the snapshot, after locking the read model's tables
//     against writes (LOCK comes before the first query, so the snapshot is taken once the
//     consumer's in-flight transaction has committed and while no further one can). It rebuilds
//     every table from the snapshot, and records in processed_events the id of every event in the
//     producers' outboxes visible in it: an event whose write the snapshot holds but which its
//     relay publishes only after step 1 (the ordering caveat: publish lags commit) is then
//     skipped by applyOnce when it arrives, instead of being counted twice.
//  3. After the commit, the consumer group's last-delivered id is set to the positions of step 1
//     (XGROUP SETID, ENTRIESREAD keeps Redis's lag exact), so the consumer does not even read the
//     entries the snapshot already holds. Done after the commit on purpose: a failed commit must
//     not move the group past events nobody applied. A crash between commit and SETID only makes
//     the consumer re-read entries that processed_events already marks.
// The result is exact as long as an outbox row outlives the lag of its relay (outboxes are never
// pruned today). Activity history is rebuilt from what the sources keep: review_history (every
// rating change, with its actor), the reactions that still exist (at their created_at) and users'
// created_at; a reaction cleared or switched before the backfill leaves no trace of its hour.

export interface PlatformTotals {
  users: number;
  movies: number;
  /** every review carries a rating */
  ratings: number;
  /** reviews with a non-blank comment */
  reviews: number;
  likes: number;
  dislikes: number;
  updatedAt: Date;
}

export const readModelTables = ['platform_totals', 'movie_stats', 'user_activity', 'activity_buckets', 'active_users'] as const;
export type ReadModelTable = (typeof readModelTables)[number];

export interface BackfillResult {
  totals: PlatformTotals;
  /** false when every table already matched the sources (nothing written, updatedAt untouched) */
  changed: boolean;
  /** rows inserted, updated or deleted, per table */
  changedRows: Record<ReadModelTable, number>;
  /** outbox events newly recorded as processed (their effect is in the snapshot) */
  eventsMarked: number;
  /** stream -> id of the last entry the rebuilt read model accounts for; null when no Redis was given */
  streamPositions: Record<string, string> | null;
}

export interface BackfillOptions {
  /** With a Redis connection, the consumer group is moved to the positions the backfill corresponds to. */
  redis?: Redis;
  streams?: AnalyticsStreams;
}

/** A pool (a connection is taken for the transaction) or one client of it. */
export type BackfillConnection = pg.Pool | pg.ClientBase;

interface StreamPosition {
  stream: string;
  lastId: string;
  entriesAdded: number;
}

async function readStreamPositions(redis: Redis, streams: string[]): Promise<StreamPosition[]> {
  const positions: StreamPosition[] = [];
  for (const stream of streams) {
    let info: unknown[];
    try {
      info = (await redis.xinfo('STREAM', stream)) as unknown[];
    } catch (error) {
      if (error instanceof Error && /no such key/i.test(error.message)) {
        positions.push({ stream, lastId: '0-0', entriesAdded: 0 });
        continue;
      }
      throw error;
    }
    const field = (name: string): unknown => info[info.indexOf(name) + 1];
    const lastId = field('last-generated-id');
    const entriesAdded = field('entries-added');
    if (typeof lastId !== 'string' || typeof entriesAdded !== 'number') throw new Error(`XINFO STREAM ${stream} lacks last-generated-id or entries-added (Redis 7 is required)`);
    positions.push({ stream, lastId, entriesAdded });
  }
  return positions;
}

async function moveConsumerGroup(redis: Redis, positions: StreamPosition[]): Promise<void> {
  for (const { stream, lastId, entriesAdded } of positions) {
    try {
      await redis.call('XGROUP', 'CREATE', stream, analyticsConsumerGroup, lastId, 'MKSTREAM', 'ENTRIESREAD', entriesAdded);
    } catch (error) {
      if (!(error instanceof Error && error.message.includes('BUSYGROUP'))) throw error;
      await redis.call('XGROUP', 'SETID', stream, analyticsConsumerGroup, lastId, 'ENTRIESREAD', entriesAdded);
    }
  }
}

const distributionColumns = Array.from({ length: 10 }, (_, index) => `count(*) FILTER (WHERE rating_halves = ${index + 1})`).join(', ');

// Temporary tables hold what each read-model table should contain; the writes below then touch
// only rows that differ, so a backfill over unchanged sources writes nothing at all.
const expectedSql = [
  `CREATE TEMP TABLE backfill_movie_stats ON COMMIT DROP AS
   WITH ratings AS (
     SELECT movie_id, count(*)::integer AS rating_count, sum(rating_halves)::bigint AS rating_halves_sum,
            ARRAY[${distributionColumns}]::integer[] AS distribution
     FROM reviews.reviews GROUP BY movie_id
   ), reactions AS (
     SELECT movie_id, count(*) FILTER (WHERE reaction = 'LIKE')::integer AS like_count,
            count(*) FILTER (WHERE reaction = 'DISLIKE')::integer AS dislike_count
     FROM reviews.reactions GROUP BY movie_id
   ), ids AS (
     SELECT id AS movie_id FROM movies.movies UNION SELECT movie_id FROM ratings UNION SELECT movie_id FROM reactions
   )
   SELECT ids.movie_id, coalesce(r.rating_count, 0) AS rating_count, coalesce(r.rating_halves_sum, 0)::bigint AS rating_halves_sum,
          coalesce(r.distribution, '${emptyDistribution}'::integer[]) AS distribution,
          coalesce(x.like_count, 0) AS like_count, coalesce(x.dislike_count, 0) AS dislike_count
   FROM ids LEFT JOIN ratings r USING (movie_id) LEFT JOIN reactions x USING (movie_id)`,
  // Users' own actions, as the consumer counts them: rating writes and deletions by the author
  // (an admin's rollback is not the author's activity; imports carry no actor and are the
  // author's), reactions, registrations.
  `CREATE TEMP TABLE backfill_actions ON COMMIT DROP AS
   SELECT user_id, at, 1 AS ratings, (btrim(coalesce(new_comment, '')) <> '')::integer AS reviews, 0 AS new_users
   FROM reviews.review_history
   WHERE action IN ('CREATE', 'UPDATE', 'IMPORT') AND (actor_id IS NULL OR actor_id = user_id)
   UNION ALL
   SELECT user_id, at, 0, 0, 0 FROM reviews.review_history WHERE action = 'DELETE' AND (actor_id IS NULL OR actor_id = user_id)
   UNION ALL
   SELECT user_id, created_at, 0, 0, 0 FROM reviews.reactions
   UNION ALL
   SELECT id, created_at, 0, 0, 1 FROM users.users`,
  `CREATE TEMP TABLE backfill_user_activity ON COMMIT DROP AS
   WITH ratings AS (
     SELECT user_id, count(*)::integer AS rating_count, sum(rating_halves)::bigint AS rating_halves_sum FROM reviews.reviews GROUP BY user_id
   ), active AS (
     SELECT user_id, max(at) AS last_active_at FROM backfill_actions GROUP BY user_id
   ), ids AS (
     SELECT user_id FROM ratings UNION SELECT user_id FROM active UNION SELECT user_id FROM reviews.review_history
   )
   SELECT ids.user_id, coalesce(r.rating_count, 0) AS rating_count, coalesce(r.rating_halves_sum, 0)::bigint AS rating_halves_sum,
          a.last_active_at, u.created_at AS registered_at
   FROM ids LEFT JOIN ratings r USING (user_id) LEFT JOIN active a USING (user_id) LEFT JOIN users.users u ON u.id = ids.user_id`,
  // Same buckets as src/buckets.ts: date_trunc in UTC (weeks start on Monday).
  `CREATE TEMP TABLE backfill_bucketed ON COMMIT DROP AS
   SELECT g.granularity, date_trunc(g.granularity, a.at, 'UTC') AS start, a.user_id, a.ratings, a.reviews, a.new_users
   FROM backfill_actions a CROSS JOIN (VALUES ('HOUR'), ('DAY'), ('WEEK')) AS g (granularity)`,
  `CREATE TEMP TABLE backfill_activity_buckets ON COMMIT DROP AS
   SELECT granularity, start, sum(ratings)::integer AS ratings, sum(reviews)::integer AS reviews, sum(new_users)::integer AS new_users,
          count(DISTINCT user_id)::integer AS active_users
   FROM backfill_bucketed GROUP BY granularity, start`,
  `CREATE TEMP TABLE backfill_active_users ON COMMIT DROP AS SELECT DISTINCT granularity, start, user_id FROM backfill_bucketed`,
];

const writeSql: { table: ReadModelTable; statements: string[] }[] = [
  {
    table: 'movie_stats',
    statements: [
      `DELETE FROM analytics.movie_stats s WHERE NOT EXISTS (SELECT 1 FROM backfill_movie_stats e WHERE e.movie_id = s.movie_id)`,
      `INSERT INTO analytics.movie_stats AS s (movie_id, rating_count, rating_halves_sum, distribution, like_count, dislike_count)
       SELECT movie_id, rating_count, rating_halves_sum, distribution, like_count, dislike_count FROM backfill_movie_stats
       ON CONFLICT (movie_id) DO UPDATE SET
         rating_count = excluded.rating_count, rating_halves_sum = excluded.rating_halves_sum, distribution = excluded.distribution,
         like_count = excluded.like_count, dislike_count = excluded.dislike_count
       WHERE (s.rating_count, s.rating_halves_sum, s.distribution, s.like_count, s.dislike_count)
         IS DISTINCT FROM (excluded.rating_count, excluded.rating_halves_sum, excluded.distribution, excluded.like_count, excluded.dislike_count)`,
    ],
  },
  {
    table: 'user_activity',
    statements: [
      `DELETE FROM analytics.user_activity s WHERE NOT EXISTS (SELECT 1 FROM backfill_user_activity e WHERE e.user_id = s.user_id)`,
      `INSERT INTO analytics.user_activity AS s (user_id, rating_count, rating_halves_sum, last_active_at, registered_at)
       SELECT user_id, rating_count, rating_halves_sum, last_active_at, registered_at FROM backfill_user_activity
       ON CONFLICT (user_id) DO UPDATE SET
         rating_count = excluded.rating_count, rating_halves_sum = excluded.rating_halves_sum,
         last_active_at = excluded.last_active_at, registered_at = excluded.registered_at
       WHERE (s.rating_count, s.rating_halves_sum, s.last_active_at, s.registered_at)
         IS DISTINCT FROM (excluded.rating_count, excluded.rating_halves_sum, excluded.last_active_at, excluded.registered_at)`,
    ],
  },
  {
    table: 'activity_buckets',
    statements: [
      `DELETE FROM analytics.activity_buckets s
       WHERE NOT EXISTS (SELECT 1 FROM backfill_activity_buckets e WHERE e.granularity = s.granularity AND e.start = s.start)`,
      `INSERT INTO analytics.activity_buckets AS s (granularity, start, ratings, reviews, new_users, active_users)
       SELECT granularity, start, ratings, reviews, new_users, active_users FROM backfill_activity_buckets
       ON CONFLICT (granularity, start) DO UPDATE SET
         ratings = excluded.ratings, reviews = excluded.reviews, new_users = excluded.new_users, active_users = excluded.active_users
       WHERE (s.ratings, s.reviews, s.new_users, s.active_users)
         IS DISTINCT FROM (excluded.ratings, excluded.reviews, excluded.new_users, excluded.active_users)`,
    ],
  },
  {
    table: 'active_users',
    statements: [
      `DELETE FROM analytics.active_users s
       WHERE NOT EXISTS (SELECT 1 FROM backfill_active_users e WHERE (e.granularity, e.start, e.user_id) = (s.granularity, s.start, s.user_id))`,
      `INSERT INTO analytics.active_users (granularity, start, user_id) SELECT granularity, start, user_id FROM backfill_active_users
       ON CONFLICT DO NOTHING`,
    ],
  },
  {
    table: 'platform_totals',
    // updated_at moves only when a count changed: it says when the read model last changed.
    statements: [
      `WITH source AS (
         SELECT
           (SELECT count(*) FROM users.users) AS users,
           (SELECT count(*) FROM movies.movies) AS movies,
           r.ratings, r.reviews, r.rating_halves_sum, x.likes, x.dislikes
         FROM (
           SELECT count(*) AS ratings,
                  count(*) FILTER (WHERE btrim(coalesce(comment, '')) <> '') AS reviews,
                  coalesce(sum(rating_halves), 0) AS rating_halves_sum
           FROM reviews.reviews
         ) AS r,
         (
           SELECT count(*) FILTER (WHERE reaction = 'LIKE') AS likes,
                  count(*) FILTER (WHERE reaction = 'DISLIKE') AS dislikes
           FROM reviews.reactions
         ) AS x
       )
       INSERT INTO analytics.platform_totals AS t (id, users, movies, ratings, reviews, likes, dislikes, rating_halves_sum, updated_at)
       SELECT 1, users, movies, ratings, reviews, likes, dislikes, rating_halves_sum, now() FROM source
       ON CONFLICT (id) DO UPDATE SET
         users = excluded.users, movies = excluded.movies, ratings = excluded.ratings, reviews = excluded.reviews,
         likes = excluded.likes, dislikes = excluded.dislikes, rating_halves_sum = excluded.rating_halves_sum,
         updated_at = excluded.updated_at
       WHERE (t.users, t.movies, t.ratings, t.reviews, t.likes, t.dislikes, t.rating_halves_sum)
         IS DISTINCT FROM (excluded.users, excluded.movies, excluded.ratings, excluded.reviews, excluded.likes, excluded.dislikes, excluded.rating_halves_sum)`,
    ],
  },
];

const producerSchemas = ['users', 'movies', 'reviews'] as const;

interface TotalsRow extends pg.QueryResultRow {
  users: string;
  movies: string;
  ratings: string;
  reviews: string;
  likes: string;
  dislikes: string;
  updated_at: Date;
}

async function rebuild(client: pg.ClientBase): Promise<Omit<BackfillResult, 'streamPositions'>> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  try {
    // EXCLUSIVE blocks the consumer's writes but not admin queries, which keep reading the old
    // rows until the commit. Before any query, so the snapshot follows the lock (see above).
    await client.query(
      `LOCK TABLE analytics.processed_events, analytics.platform_totals, analytics.movie_stats, analytics.user_activity,
                  analytics.activity_buckets, analytics.active_users IN EXCLUSIVE MODE`,
    );
    for (const statement of expectedSql) await client.query(statement);
    const changedRows = Object.fromEntries(readModelTables.map((table) => [table, 0])) as Record<ReadModelTable, number>;
    for (const { table, statements } of writeSql) {
      for (const statement of statements) changedRows[table] += (await client.query(statement)).rowCount ?? 0;
    }
    let eventsMarked = 0;
    const { rows: outboxes } = await client.query<{ schema: string }>(
      `SELECT schema FROM unnest($1::text[]) AS schema WHERE to_regclass(quote_ident(schema) || '.outbox') IS NOT NULL`,
      [producerSchemas],
    );
    for (const { schema } of outboxes) {
      const marked = await client.query(
        `INSERT INTO analytics.processed_events (event_id)
         SELECT event_id FROM "${schema}".outbox WHERE envelope->>'type' = ANY($1::text[])
         ON CONFLICT (event_id) DO NOTHING`,
        [consumedEventTypes],
      );
      eventsMarked += marked.rowCount ?? 0;
    }
    const { rows } = await client.query<TotalsRow>(
      'SELECT users, movies, ratings, reviews, likes, dislikes, updated_at FROM analytics.platform_totals WHERE id = 1',
    );
    const row = rows[0];
    if (!row) throw new Error('analytics.platform_totals has no row after the backfill');
    await client.query('COMMIT');
    return { totals: toPlatformTotals(row), changed: Object.values(changedRows).some((count) => count > 0), changedRows, eventsMarked };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Rebuilds every read-model table from the source schemas in one snapshot and, given a Redis
 * connection, moves the `analytics` consumer group to the stream positions that snapshot covers.
 */
export async function backfillReadModel(db: BackfillConnection, options: BackfillOptions = {}): Promise<BackfillResult> {
  const streams = streamList(options.streams ?? defaultAnalyticsStreams);
  const positions = options.redis ? await readStreamPositions(options.redis, streams) : null;
  const client = db instanceof pg.Pool ? await db.connect() : db;
  let result: Omit<BackfillResult, 'streamPositions'>;
  try {
    result = await rebuild(client);
  } finally {
    if (db instanceof pg.Pool) (client as pg.PoolClient).release();
  }
  if (options.redis && positions) await moveConsumerGroup(options.redis, positions);
  return { ...result, streamPositions: positions ? Object.fromEntries(positions.map(({ stream, lastId }) => [stream, lastId])) : null };
}

/**
 * For the dataset loader (scripts/lib/load-dataset.ts), which holds a pool but no Redis: rebuilds
 * the whole read model, not only platform_totals as the name says. Without Redis the group is
 * not moved; the outbox marking alone keeps the consumer from counting anything twice.
 */
export function backfillPlatformTotals(db: BackfillConnection): Promise<BackfillResult> {
  return backfillReadModel(db);
}

/** Opens its own connection; for the CLI and for callers that hold no pool. */
export async function backfillAnalytics(databaseUrl: string, options: BackfillOptions = {}): Promise<BackfillResult> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'analytics-backfill' });
  await client.connect();
  try {
    return await backfillReadModel(client, options);
  } finally {
    await client.end();
  }
}

// pg returns bigint as text; counts stay far below 2^53.
function toPlatformTotals(row: TotalsRow): PlatformTotals {
  return {
    users: Number(row.users),
    movies: Number(row.movies),
    ratings: Number(row.ratings),
    reviews: Number(row.reviews),
    likes: Number(row.likes),
    dislikes: Number(row.dislikes),
    updatedAt: row.updated_at,
  };
}
