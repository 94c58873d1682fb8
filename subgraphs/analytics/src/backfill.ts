import pg from 'pg';

// The backfill rebuilds the analytics read model from the source of truth. It is the ONE place
// where analytics may read other subgraphs' schemas (users, movies, reviews): everywhere else a
// subgraph owns its schema alone and learns about other subgraphs' changes only from events.
// Reading them here is acceptable because it is an operator-run, read-only repair path (first
// start, after an outage of the event consumer, after a bulk import that emits no events).

/** Anything that runs a query: a pool, a pooled client or a plain client. */
export interface Queryable {
  query<Row extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<Row>>;
}

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

export interface BackfillResult {
  totals: PlatformTotals;
  /** false when the stored totals already matched the sources (updatedAt untouched) */
  changed: boolean;
}

// One statement, so every count comes from the same snapshot. updated_at moves only when a count
// changed: it says when the read model last changed, not when someone last looked.
const backfillTotalsSql = `
WITH source AS (
  SELECT
    (SELECT count(*) FROM users.users) AS users,
    (SELECT count(*) FROM movies.movies) AS movies,
    r.ratings, r.reviews, x.likes, x.dislikes
  FROM (
    SELECT count(*) AS ratings,
           count(*) FILTER (WHERE btrim(coalesce(comment, '')) <> '') AS reviews
    FROM reviews.reviews
  ) AS r,
  (
    SELECT count(*) FILTER (WHERE reaction = 'LIKE') AS likes,
           count(*) FILTER (WHERE reaction = 'DISLIKE') AS dislikes
    FROM reviews.reactions
  ) AS x
)
INSERT INTO analytics.platform_totals AS t (id, users, movies, ratings, reviews, likes, dislikes, updated_at)
SELECT 1, users, movies, ratings, reviews, likes, dislikes, now() FROM source
ON CONFLICT (id) DO UPDATE SET
  users = excluded.users, movies = excluded.movies, ratings = excluded.ratings,
  reviews = excluded.reviews, likes = excluded.likes, dislikes = excluded.dislikes,
  updated_at = excluded.updated_at
WHERE (t.users, t.movies, t.ratings, t.reviews, t.likes, t.dislikes)
  IS DISTINCT FROM (excluded.users, excluded.movies, excluded.ratings, excluded.reviews, excluded.likes, excluded.dislikes)
RETURNING 1`;

interface TotalsRow extends pg.QueryResultRow {
  users: string;
  movies: string;
  ratings: string;
  reviews: string;
  likes: string;
  dislikes: string;
  updated_at: Date;
}

/** Recomputes analytics.platform_totals through an existing connection (the dataset loader's). */
export async function backfillPlatformTotals(db: Queryable): Promise<BackfillResult> {
  const written = await db.query(backfillTotalsSql);
  const { rows } = await db.query<TotalsRow>(
    'SELECT users, movies, ratings, reviews, likes, dislikes, updated_at FROM analytics.platform_totals WHERE id = 1',
  );
  const row = rows[0];
  if (!row) throw new Error('analytics.platform_totals has no row after the backfill');
  return { totals: toPlatformTotals(row), changed: (written.rowCount ?? 0) > 0 };
}

/** Opens its own connection; for the CLI and for callers that hold no pool. */
export async function backfillAnalytics(databaseUrl: string): Promise<BackfillResult> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'analytics-backfill' });
  await client.connect();
  try {
    return await backfillPlatformTotals(client);
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
