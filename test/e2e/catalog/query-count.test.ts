import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEnvironment, type TestEnvironment } from '../../helpers/test-environment.ts';

// Issue 4, "tests that must exist": a page of movies with their reviews and the reviews' authors,
// through the gateway, costs each subgraph a constant number of SQL statements, however many
// movies the page holds: DataLoaders and one batched `_entities` call per subgraph, never a
// statement per movie or per review. Statements are counted (never timed) inside the subgraph
// processes: SQL_STATEMENT_COUNTING=1 (shared/src/postgres.ts) makes each one count what its
// request pool sends and serve the counts at GET /test/sql-statements.

/** The pool of each subgraph that serves requests (its application name is the subgraph's name). */
const subgraphs = ['movies', 'reviews', 'users'] as const;
type Subgraph = (typeof subgraphs)[number];

/**
 * The most statements one page may cost each subgraph: movies one listing query (the page, with
 * its look-ahead row); reviews one for every movie's page of written reviews and one for their
 * stats (totalCount, averageRating); users one for every author.
 */
const statementBudget: Record<Subgraph, number> = { movies: 1, reviews: 2, users: 1 };

const pageQuery = `
  query Page($first: Int!) {
    movies(first: $first) {
      edges {
        node {
          id
          title
          averageRating
          reviews(first: 5) { totalCount edges { node { rating comment author { username } } } }
        }
      }
    }
  }`;

interface Page {
  movies: {
    edges: {
      node: {
        id: string;
        title: string;
        averageRating: number | null;
        reviews: { totalCount: number; edges: { node: { rating: number; comment: string; author: { username: string } | null } }[] };
      };
    }[];
  };
}

const movieCount = 60;
const reviewsPerMovie = 6;
const authorCount = 12;

describe('SQL statements of a page of movies with reviews and authors', () => {
  let env: TestEnvironment;

  beforeAll(async () => {
    const previous = process.env.SQL_STATEMENT_COUNTING;
    // Inherited by the stack's processes; this worker's own pools are not asked.
    process.env.SQL_STATEMENT_COUNTING = '1';
    try {
      env = await startTestEnvironment();
    } finally {
      if (previous === undefined) delete process.env.SQL_STATEMENT_COUNTING;
      else process.env.SQL_STATEMENT_COUNTING = previous;
    }
    // A catalogue written straight into the scratch database: every movie has more written
    // reviews than a page shows, by authors that differ from movie to movie.
    await env.sql(`INSERT INTO users.users (username) SELECT 'qc_author_' || n FROM generate_series(1, ${authorCount}) AS n`);
    await env.sql(`INSERT INTO movies.movies (title, year, genres) SELECT 'Query Count ' || lpad(n::text, 3, '0'), 2000, '{Drama}' FROM generate_series(1, ${movieCount}) AS n`);
    await env.sql(`
      INSERT INTO reviews.reviews (user_id, movie_id, rating_halves, comment, created_at, updated_at)
      SELECT u.id, m.id, 1 + (m.n + k) % 10, 'Review ' || k || ' of ' || m.title, now() - k * interval '1 minute', now() - k * interval '1 minute'
      FROM (SELECT id, title, row_number() OVER (ORDER BY id) AS n FROM movies.movies) m
      CROSS JOIN generate_series(0, ${reviewsPerMovie - 1}) AS k
      JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM users.users) u ON u.i = (m.n + k) % ${authorCount}`);
    await env.sql(`
      INSERT INTO reviews.movie_stats (movie_id, rating_count, rating_halves_sum, comment_count)
      SELECT movie_id, count(*), sum(rating_halves), count(*) FROM reviews.reviews GROUP BY movie_id`);
  });

  afterAll(async () => {
    await env?.stop();
  });

  async function statementCounts(): Promise<Record<Subgraph, number>> {
    const counts = {} as Record<Subgraph, number>;
    for (const name of subgraphs) {
      const response = await fetch(new URL('/test/sql-statements', env.subgraphUrl(name)));
      expect(response.status, `${name} serves its statement counts`).toBe(200);
      const perPool = (await response.json()) as Record<string, number>;
      counts[name] = perPool[name] ?? Number.NaN;
    }
    return counts;
  }

  /** Statements each subgraph sent while the gateway answered one page of `first` movies. */
  async function statementsForPage(first: number): Promise<Record<Subgraph, number>> {
    const before = await statementCounts();
    const result = await env.graphql<Page>(pageQuery, { first });
    const after = await statementCounts();
    expect(result.errors).toBeUndefined();
    const edges = result.data!.movies.edges;
    // The page really did the work being counted: every movie, 5 reviews each, every author.
    expect(edges).toHaveLength(first);
    for (const { node } of edges) {
      expect(node.reviews.totalCount).toBe(reviewsPerMovie);
      expect(node.reviews.edges).toHaveLength(5);
      expect(node.averageRating).not.toBeNull();
      for (const review of node.reviews.edges) expect(review.node.author?.username).toMatch(/^qc_author_\d+$/);
    }
    return Object.fromEntries(subgraphs.map((name) => [name, after[name] - before[name]])) as Record<Subgraph, number>;
  }

  it('is the same for 10 movies as for 50, and within a small budget per subgraph', async () => {
    await statementsForPage(5); // warm-up: connections, prepared plans, JWKS; not counted
    const ten = await statementsForPage(10);
    const fifty = await statementsForPage(50);

    expect(fifty).toEqual(ten);
    for (const name of subgraphs) {
      expect(ten[name], name).toBeGreaterThan(0);
      expect(ten[name], `${name}: ${ten[name]} statements for one page, budget ${statementBudget[name]}`).toBeLessThanOrEqual(statementBudget[name]);
    }
  });
});
