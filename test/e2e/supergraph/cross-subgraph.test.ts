import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { generateSyntheticDataset } from '../../../scripts/lib/synthetic.ts';
import { loadDataset } from '../../../scripts/lib/load-dataset.ts';
import { startTestEnvironment, type TestEnvironment } from '../../helpers/test-environment.ts';

// The foundation's promise: one query through the gateway crosses all five subgraphs.
describe('one query across all five subgraphs', () => {
  let env: TestEnvironment;
  let admin: { id: string; username: string; token: string };
  let movieId: string;

  beforeAll(async () => {
    env = await startTestEnvironment();
    const graph = inject('e2eNeo4j');
    await loadDataset(generateSyntheticDataset({ seed: 7, users: 40, movies: 60, ratingsPerUser: 25 }), {
      databaseUrl: env.databaseUrl,
      neo4j: graph!,
    });
    const user = await env.signUp('admin');
    admin = { ...user, token: await env.promote(user.username) };
    // the most rated movie, so it has an average and neighbours
    const [top] = await env.sql<{ movie_id: string }>('SELECT movie_id::text FROM reviews.movie_stats ORDER BY rating_count DESC, movie_id LIMIT 1');
    movieId = top!.movie_id;
  });

  afterAll(async () => {
    await env?.stop();
  });

  const crossQuery = `
    query Cross($id: ID!) {
      me { username role }
      movie(id: $id) {
        title
        genres
        averageRating
        ratingCount
        similarMovies(first: 3) { score source movie { id title ratingCount } }
      }
      analytics { totals { users movies ratings } }
    }`;

  it('answers from users, movies, reviews, recommendations and analytics in one response', async () => {
    const result = await env.graphql<{
      me: { username: string; role: string };
      movie: {
        title: string;
        genres: string[];
        averageRating: number;
        ratingCount: number;
        similarMovies: { score: number; source: string; movie: { id: string; title: string; ratingCount: number } }[];
      };
      analytics: { totals: { users: number; movies: number; ratings: number } };
    }>(crossQuery, { id: movieId }, admin.token);

    expect(result.errors).toBeUndefined();
    const data = result.data!;
    expect(data.me).toEqual({ username: admin.username, role: 'ADMIN' });

    const [expected] = await env.sql<{ title: string; count: number; avg: number }>(
      `SELECT m.title, s.rating_count AS count, s.rating_halves_sum::float / s.rating_count / 2 AS avg
         FROM movies.movies m JOIN reviews.movie_stats s ON s.movie_id = m.id WHERE m.id = $1`,
      [movieId],
    );
    expect(data.movie.title).toBe(expected!.title);
    expect(data.movie.ratingCount).toBe(expected!.count);
    expect(data.movie.averageRating).toBeCloseTo(expected!.avg, 6);

    expect(data.movie.similarMovies.length).toBeGreaterThan(0);
    for (const similar of data.movie.similarMovies) {
      expect(similar.movie.id).not.toBe(movieId);
      expect(similar.movie.title.length).toBeGreaterThan(0); // filled in by the movies subgraph
      expect(similar.movie.ratingCount).toBeGreaterThan(0); // filled in by the reviews subgraph
    }

    const [counts] = await env.sql<{ users: number; movies: number; ratings: number }>(
      `SELECT (SELECT count(*)::int FROM users.users) AS users, (SELECT count(*)::int FROM movies.movies) AS movies,
              (SELECT count(*)::int FROM reviews.reviews) AS ratings`,
    );
    // the admin registered after the backfill; the event-fed read model arrives with the analytics issue
    expect(data.analytics.totals.movies).toBe(counts!.movies);
    expect(data.analytics.totals.ratings).toBe(counts!.ratings);
  });

  it('keeps the other subgraphs answering when a normal user may not see analytics', async () => {
    const user = await env.signUp('plain');
    const result = await env.graphql<{ me: { username: string }; movie: { title: string } | null; analytics: null }>(
      `query($id: ID!) { me { username } movie(id: $id) { title } analytics { totals { users } } }`,
      { id: movieId },
      user.token,
    );
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', serviceName: 'analytics' });
    expect(result.data?.me?.username).toBe(user.username);
    expect(result.data?.movie?.title).toBeTruthy();
    expect(result.data?.analytics).toBeNull();
  });

  it('rates a movie through the gateway and reads the new average at once', async () => {
    const user = await env.signUp('rater');
    const before = await env.graphql<{ movie: { ratingCount: number } }>('query($id: ID!) { movie(id: $id) { ratingCount } }', { id: movieId });
    const rated = await env.graphql<{ rateMovie: { rating: number; movie: { title: string } } }>(
      'mutation($id: ID!) { rateMovie(movieId: $id, rating: 4.5, comment: "great") { rating movie { title } } }',
      { id: movieId },
      user.token,
    );
    expect(rated.errors).toBeUndefined();
    expect(rated.data!.rateMovie.rating).toBe(4.5);
    const after = await env.graphql<{ movie: { ratingCount: number; myReview: { rating: number } } }>(
      'query($id: ID!) { movie(id: $id) { ratingCount myReview { rating } } }',
      { id: movieId },
      user.token,
    );
    expect(after.data!.movie.ratingCount).toBe(before.data!.movie.ratingCount + 1);
    expect(after.data!.movie.myReview.rating).toBe(4.5);
  });

  it('is ready: every subgraph answers its health check', async () => {
    const ready = await fetch(new URL('/ready', env.gatewayUrl));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      subgraphs: { users: true, movies: true, reviews: true, recommendations: true, analytics: true },
    });
  });
});
