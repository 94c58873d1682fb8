import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { connectPostgres, type PostgresHandle, type Role, type RunningServer } from '@platform/shared';
import { createTestTokens, graphqlClient, logPoolQueries, type GraphQLTestClient, type QueryLog, type TestTokens } from '@platform/shared/testing';
import { migrateAll } from '../../../../scripts/lib/migrations.ts';
import { createScratchDatabase } from '../../../../scripts/lib/services.ts';
import { startReviewsSubgraph } from '../../src/index.ts';
import { makeTestMoviesKnown, newMovieId } from '../helpers/known-movies.ts';

// The reviews subgraph over real HTTP against a scratch database with every migration applied.
// Users and movies live in other subgraphs: tests make up their ids (random, so tests never meet);
// the movie ids of newMovieId() are made known to the subgraph (reviews.known_movies) first.

const serverUrl = inject('services')?.databaseUrl ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
let postgres: PostgresHandle;
let queries: QueryLog;
let tokens: TestTokens;
let server: RunningServer;
let graphql: GraphQLTestClient;
let redis: Redis;
// A stream and write-limit counters of this file's own, and limits this file never reaches.
const run = randomUUID();
const eventStream = `test:reviews-events:${run}`;
const movieEventStream = `test:movies-events:${run}`;
const writeLimitKeyPrefix = `test:reviews-write-limit:${run}:`;

beforeAll(async () => {
  scratch = await createScratchDatabase(serverUrl, 'reviews_it');
  await migrateAll(scratch.url);
  postgres = connectPostgres(scratch.url, { applicationName: 'reviews-test' });
  await makeTestMoviesKnown(postgres.pool);
  queries = logPoolQueries(postgres.pool);
  tokens = await createTestTokens();
  redis = new Redis(inject('services')?.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  server = await startReviewsSubgraph(
    {
      DATABASE_URL: scratch.url,
      PORT: '0',
      LOG_LEVEL: 'error',
      REVIEW_WRITES_PER_MINUTE_PER_USER: '100000',
      REVIEW_WRITES_PER_MINUTE_PER_ADDRESS: '100000',
    },
    { postgres, verifier: tokens.verifier, redis, eventStream, movieEventStream, writeLimitKeyPrefix },
  );
  graphql = graphqlClient(server.url);
});

afterAll(async () => {
  await server?.stop();
  await postgres?.close();
  await scratch?.drop();
  if (redis) {
    await redis.del(eventStream, movieEventStream, ...(await redis.keys(`${writeLimitKeyPrefix}*`)));
    redis.disconnect();
  }
});

interface User {
  id: string;
  token: string;
}
async function newUser(role: Role = 'USER'): Promise<User> {
  const id = randomUUID();
  return { id, token: await tokens.sign(id, { role }) };
}

interface ReviewResult {
  id: string;
  rating: number;
  comment: string | null;
  createdAt: string;
  updatedAt: string;
  movie: { id: string; averageRating: number | null; ratingCount: number };
  author: { id: string };
}

const rateMutation = `
  mutation Rate($movieId: ID!, $rating: Float!, $comment: String) {
    rateMovie(movieId: $movieId, rating: $rating, comment: $comment) {
      id rating comment createdAt updatedAt
      movie { id averageRating ratingCount }
      author { id }
    }
  }`;

async function rate(user: User, movieId: string, rating: number, comment?: string | null): Promise<ReviewResult> {
  const result = await graphql<{ rateMovie: ReviewResult }>(rateMutation, { movieId, rating, comment }, { token: user.token });
  expect(result.errors).toBeUndefined();
  return result.data!.rateMovie;
}

async function rows<T>(text: string, values: unknown[] = []): Promise<T[]> {
  return (await postgres.pool.query(text, values)).rows as T[];
}

async function writtenFor(movieId: string): Promise<{ reviews: number; history: number; stats: number }> {
  const [counts] = await rows<{ reviews: number; history: number; stats: number }>(
    `SELECT (SELECT count(*)::int FROM reviews.reviews WHERE movie_id = $1) AS reviews,
            (SELECT count(*)::int FROM reviews.review_history WHERE movie_id = $1) AS history,
            (SELECT count(*)::int FROM reviews.movie_stats WHERE movie_id = $1) AS stats`,
    [movieId],
  );
  return counts!;
}

interface StatsRow {
  movie_id: string;
  rating_count: number;
  rating_halves_sum: number;
}

describe('rateMovie', () => {
  it('creates a review, then replaces it, recording both in the history', async () => {
    const user = await newUser();
    const movieId = newMovieId();

    const created = await rate(user, movieId, 4.5, '  A classic.  ');
    expect(created).toMatchObject({
      rating: 4.5,
      comment: 'A classic.',
      movie: { id: movieId, averageRating: 4.5, ratingCount: 1 },
      author: { id: user.id },
    });
    expect(created.createdAt).toBe(created.updatedAt);

    const updated = await rate(user, movieId, 2, '   ');
    expect(updated).toMatchObject({ id: created.id, rating: 2, comment: null, createdAt: created.createdAt });
    expect(updated.movie).toEqual({ id: movieId, averageRating: 2, ratingCount: 1 });
    expect(Date.parse(updated.updatedAt)).toBeGreaterThan(Date.parse(created.updatedAt));

    const history = await rows(
      `SELECT action, old_rating_halves, new_rating_halves, old_comment, new_comment, actor_id
         FROM reviews.review_history WHERE movie_id = $1 AND user_id = $2 ORDER BY id`,
      [movieId, user.id],
    );
    expect(history).toEqual([
      { action: 'CREATE', old_rating_halves: null, new_rating_halves: 9, old_comment: null, new_comment: 'A classic.', actor_id: user.id },
      { action: 'UPDATE', old_rating_halves: 9, new_rating_halves: 4, old_comment: 'A classic.', new_comment: null, actor_id: user.id },
    ]);
    // the comment was removed: the review is a bare rating now, no longer a written one
    expect(await rows(`SELECT rating_count, rating_halves_sum::int, comment_count FROM reviews.movie_stats WHERE movie_id = $1`, [movieId])).toEqual([
      { rating_count: 1, rating_halves_sum: 4, comment_count: 0 },
    ]);
  });

  it('counts written reviews as comments are added, kept, replaced and removed, and reviews deleted', async () => {
    const [author, other] = [await newUser(), await newUser()];
    const movieId = newMovieId();
    const counts = async () => {
      const [stats] = await rows<{ rating_count: number; comment_count: number }>(
        'SELECT rating_count, comment_count FROM reviews.movie_stats WHERE movie_id = $1',
        [movieId],
      );
      const result = await graphql<{ _entities: { reviews: { totalCount: number } }[] }>(
        `query($r: [_Any!]!) { _entities(representations: $r) { ... on Movie { reviews { totalCount } } } }`,
        { r: [{ __typename: 'Movie', id: movieId }] },
      );
      expect(result.data!._entities[0]!.reviews.totalCount).toBe(stats!.comment_count);
      return [stats!.rating_count, stats!.comment_count];
    };

    await rate(author, movieId, 3);
    expect(await counts()).toEqual([1, 0]); // a bare rating
    await rate(author, movieId, 3, 'Grows on you.');
    expect(await counts()).toEqual([1, 1]); // comment added
    await rate(author, movieId, 4, 'Grows on you a lot.');
    expect(await counts()).toEqual([1, 1]); // comment replaced: still one written review
    await rate(other, movieId, 2, 'Not for me.');
    expect(await counts()).toEqual([2, 2]);
    await rate(author, movieId, 4.5);
    expect(await counts()).toEqual([2, 1]); // comment removed (no comment given)
    await rate(author, movieId, 4.5);
    expect(await counts()).toEqual([2, 1]); // still none
    await graphql(`mutation($m: ID!) { deleteReview(movieId: $m) }`, { m: movieId }, { token: other.token });
    expect(await counts()).toEqual([1, 0]); // a written review deleted
    await graphql(`mutation($m: ID!) { deleteReview(movieId: $m) }`, { m: movieId }, { token: author.token });
    expect(await counts()).toEqual([0, 0]); // a bare rating deleted
  });

  it('accepts every half step from 0.5 to 5.0 and a 2000-character comment', async () => {
    const user = await newUser();
    for (const rating of [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5]) {
      expect((await rate(user, newMovieId(), rating)).rating).toBe(rating);
    }
    const emoji = '🎬'.repeat(2000); // 2000 characters, 4000 UTF-16 units
    expect((await rate(user, newMovieId(), 3, emoji)).comment).toBe(emoji);
  });

  const badInputs: [string, Record<string, unknown>, string][] = [
    ['a rating of 0', { rating: 0 }, 'rating'],
    ['a rating above 5', { rating: 5.5 }, 'rating'],
    ['a negative rating', { rating: -1 }, 'rating'],
    ['a rating that is not a half step', { rating: 4.3 }, 'rating'],
    ['a comment over 2000 characters', { rating: 3, comment: 'x'.repeat(2001) }, 'comment'],
    ['a comment with a NUL character', { rating: 3, comment: 'nice\u0000' }, 'comment'],
    ['a non-numeric movie id', { rating: 3, movieId: 'tt0111161' }, 'movieId'],
    ['a negative movie id', { rating: 3, movieId: '-5' }, 'movieId'],
  ];

  it.each(badInputs)('rejects %s as BAD_USER_INPUT naming the field, writing nothing', async (_name, variables, field) => {
    const user = await newUser();
    const movieId = newMovieId();
    const result = await graphql(rateMutation, { movieId, ...variables }, { token: user.token });
    expect(result.data).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(result.errors![0]!.message).toContain(field);
    expect(await writtenFor(movieId)).toEqual({ reviews: 0, history: 0, stats: 0 });
    expect(await rows('SELECT 1 FROM reviews.review_history WHERE user_id = $1', [user.id])).toEqual([]);
  });

  it('requires a signed-in user', async () => {
    const movieId = newMovieId();
    const anonymous = await graphql(rateMutation, { movieId, rating: 3 });
    expect(anonymous.errors![0]!.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    const forged = await graphql(rateMutation, { movieId, rating: 3 }, { token: 'not.a.token' });
    expect(forged.errors![0]!.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(await writtenFor(movieId)).toEqual({ reviews: 0, history: 0, stats: 0 });
  });

  it('keeps movie_stats equal to a recount of the reviews after many ratings, some simultaneous', async () => {
    const movies = [newMovieId(), newMovieId(), newMovieId()];
    const users = await Promise.all(Array.from({ length: 6 }, () => newUser()));
    const ratings = Array.from({ length: 60 }, (_, index) => ({
      user: users[index % users.length]!,
      movieId: movies[(index * 7) % movies.length]!,
      rating: ((index * 3) % 10) / 2 + 0.5,
    }));

    // In batches of 12 at a time: the same user and movie often meet inside one batch, which
    // exercises the insert race (two "first" ratings) and concurrent updates of one stats row.
    for (let start = 0; start < ratings.length; start += 12) {
      await Promise.all(ratings.slice(start, start + 12).map(({ user, movieId, rating }) => rate(user, movieId, rating)));
    }

    const [stats, recount, history] = await Promise.all([
      rows<StatsRow>(`SELECT movie_id::text, rating_count, rating_halves_sum::int FROM reviews.movie_stats WHERE movie_id = ANY($1) ORDER BY movie_id`, [movies]),
      rows<StatsRow>(
        `SELECT movie_id::text, count(*)::int AS rating_count, sum(rating_halves)::int AS rating_halves_sum
           FROM reviews.reviews WHERE movie_id = ANY($1) GROUP BY movie_id ORDER BY movie_id`,
        [movies],
      ),
      rows<{ action: string; count: number }>(
        `SELECT action, count(*)::int FROM reviews.review_history WHERE movie_id = ANY($1) GROUP BY action ORDER BY action`,
        [movies],
      ),
    ]);
    expect(stats).toEqual(recount);
    const reviewCount = recount.reduce((sum, row) => sum + row.rating_count, 0);
    expect(history).toEqual([
      { action: 'CREATE', count: reviewCount },
      { action: 'UPDATE', count: ratings.length - reviewCount },
    ]);
  });
});

describe('Movie fields', () => {
  const movieFields = `
    query($representations: [_Any!]!) {
      _entities(representations: $representations) { ... on Movie { id averageRating ratingCount likeCount } }
    }`;

  it('reads the stats of many movies with one query; unrated and malformed ids have none', async () => {
    const [rated, unrated] = [newMovieId(), newMovieId()];
    const [alice, bob] = [await newUser(), await newUser()];
    await rate(alice, rated, 4);
    await rate(bob, rated, 2.5);

    queries.reset();
    const result = await graphql<{ _entities: unknown[] }>(movieFields, {
      representations: [rated, unrated, 'abc'].map((id) => ({ __typename: 'Movie', id })),
    });

    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([
      { id: rated, averageRating: 3.25, ratingCount: 2, likeCount: 0 },
      { id: unrated, averageRating: null, ratingCount: 0, likeCount: 0 },
      { id: 'abc', averageRating: null, ratingCount: 0, likeCount: 0 },
    ]);
    expect(queries.statements).toHaveLength(1);
    expect(queries.statements[0]).toMatch(/from "reviews"\."movie_stats"/);
  });

  const reviewsQuery = `
    query($representations: [_Any!]!, $first: Int, $after: String) {
      _entities(representations: $representations) {
        ... on Movie {
          id
          reviews(first: $first, after: $after) {
            totalCount
            pageInfo { hasNextPage hasPreviousPage endCursor }
            edges { cursor node { id rating author { id } updatedAt } }
          }
        }
      }
    }`;

  interface ReviewsPage {
    id: string;
    reviews: {
      totalCount: number;
      pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string | null };
      edges: { node: { id: string; rating: number; author: { id: string }; updatedAt: string } }[];
    };
  }

  async function reviewsPage(movieIds: string[], first: number, after: string | null = null) {
    const result = await graphql<{ _entities: ReviewsPage[] }>(reviewsQuery, {
      representations: movieIds.map((id) => ({ __typename: 'Movie', id })),
      first,
      after,
    });
    expect(result.errors).toBeUndefined();
    return result.data!._entities;
  }

  it('pages through a movie\'s written reviews newest first, each exactly once, even with equal timestamps', async () => {
    const movieId = newMovieId();
    const users = Array.from({ length: 7 }, () => randomUUID());
    // Written directly to control updated_at: three reviews share one instant (to the microsecond).
    const shared = '2026-01-02 10:00:00.123456+00';
    const instants = ['2026-01-01 10:00:00.000001+00', shared, shared, shared, '2026-01-03 00:00:00+00', '2026-01-04 00:00:00+00', '2026-01-05 00:00:00+00'];
    for (const [index, userId] of users.entries()) {
      // SQL, not drizzle values: a JS Date cannot carry the microseconds.
      await postgres.pool.query(
        'INSERT INTO reviews.reviews (user_id, movie_id, rating_halves, comment, updated_at) VALUES ($1, $2, $3, $4, $5::timestamptz)',
        [userId, movieId, index + 1, `review ${index}`, instants[index]],
      );
    }
    // Bare ratings between them, one at the shared instant: private, so never on any page.
    const bareRaters = Array.from({ length: 4 }, () => randomUUID());
    for (const [index, userId] of bareRaters.entries()) {
      await postgres.pool.query(
        'INSERT INTO reviews.reviews (user_id, movie_id, rating_halves, updated_at) VALUES ($1, $2, 5, $3::timestamptz)',
        [userId, movieId, [shared, '2026-01-02 23:00:00+00', '2026-01-04 12:00:00+00', '2026-01-06 00:00:00+00'][index]],
      );
    }
    await postgres.pool.query(
      `INSERT INTO reviews.movie_stats (movie_id, rating_count, rating_halves_sum, comment_count) VALUES ($1, 11, 48, 7)`,
      [movieId],
    );

    const seen: ReviewsPage['reviews']['edges'][number]['node'][] = [];
    let after: string | null = null;
    for (let pages = 1; ; pages += 1) {
      const [movie] = await reviewsPage([movieId], 3, after);
      expect(movie!.reviews.totalCount).toBe(7);
      expect(movie!.reviews.pageInfo.hasPreviousPage).toBe(after !== null);
      seen.push(...movie!.reviews.edges.map((edge) => edge.node));
      if (!movie!.reviews.pageInfo.hasNextPage) break;
      after = movie!.reviews.pageInfo.endCursor;
      expect(pages).toBeLessThan(5);
    }

    expect(seen.map((node) => node.author.id).sort()).toEqual([...users].sort());
    for (const userId of bareRaters) expect(JSON.stringify(seen)).not.toContain(userId);
    const order = seen.map((node) => `${node.updatedAt}|${node.author.id}`);
    expect(order).toEqual([...order].sort().reverse());
  });

  it('loads the first page of reviews of many movies with one query', async () => {
    const movieIds = [newMovieId(), newMovieId(), newMovieId()];
    const user = await newUser();
    for (const movieId of movieIds) await rate(user, movieId, 3, 'Seen it.');

    queries.reset();
    const movies = await reviewsPage(movieIds, 2);

    expect(movies.map((movie) => movie.reviews.edges.map((edge) => edge.node.author.id))).toEqual(movieIds.map(() => [user.id]));
    expect(queries.statements.filter((text) => /from "reviews"\."reviews"/i.test(text))).toHaveLength(1);
    expect(queries.statements.filter((text) => /from "reviews"\."movie_stats"/i.test(text))).toHaveLength(1);
  });

  it.each([
    ['first = 0', { first: 0 }, 'first'],
    ['first above 100', { first: 101 }, 'first'],
    ['a malformed after', { after: 'garbage' }, 'after'],
    ['an after with an impossible date', { after: Buffer.from(JSON.stringify({ at: '2026-02-30T10:00:00.000000Z', user: randomUUID() })).toString('base64url') }, 'after'],
    ['an after with a malformed user', { after: Buffer.from(JSON.stringify({ at: '2026-02-03T10:00:00.000000Z', user: "x' OR 1=1" })).toString('base64url') }, 'after'],
  ])('rejects %s on reviews as BAD_USER_INPUT', async (_name, variables, field) => {
    const result = await graphql(reviewsQuery, { representations: [{ __typename: 'Movie', id: newMovieId() }], first: 3, ...variables });
    expect(result.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(result.errors![0]!.message).toContain(field);
  });

  it('shows the signed-in user their own review only', async () => {
    const movieId = newMovieId();
    const [author, other] = [await newUser(), await newUser()];
    const review = await rate(author, movieId, 3.5, 'mine');
    const query = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Movie { myReview { id rating comment } } } }`;
    const variables = { r: [{ __typename: 'Movie', id: movieId }] };

    const asAuthor = await graphql<{ _entities: { myReview: unknown }[] }>(query, variables, { token: author.token });
    expect(asAuthor.data!._entities).toEqual([{ myReview: { id: review.id, rating: 3.5, comment: 'mine' } }]);
    const asOther = await graphql<{ _entities: { myReview: unknown }[] }>(query, variables, { token: other.token });
    expect(asOther.data!._entities).toEqual([{ myReview: null }]);
    const anonymous = await graphql<{ _entities: { myReview: unknown }[] }>(query, variables);
    expect(anonymous.data!._entities).toEqual([{ myReview: null }]);
  });
});

describe('Review references', () => {
  it('resolves many Review references with one query; foreign or malformed ids are null', async () => {
    const user = await newUser();
    const movieIds = [newMovieId(), newMovieId(), newMovieId()];
    const created = [];
    // written, so public: the anonymous caller below may read them
    for (const [index, movieId] of movieIds.entries()) created.push(await rate(user, movieId, index + 1, `Review ${index}`));
    const unknownReview = Buffer.from(`${randomUUID()}:${newMovieId()}`).toString('base64url');
    const malformed = ['', 'abc', Buffer.from('not-a-uuid:12').toString('base64url'), Buffer.from(`${user.id}:x`).toString('base64url')];

    queries.reset();
    const result = await graphql<{ _entities: unknown[] }>(
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Review { id rating movie { id } author { id } } } }`,
      { r: [...created.map((review) => review.id), unknownReview, ...malformed].map((id) => ({ __typename: 'Review', id })) },
    );

    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([
      ...created.map((review, index) => ({ id: review.id, rating: index + 1, movie: { id: movieIds[index] }, author: { id: user.id } })),
      null,
      ...malformed.map(() => null),
    ]);
    expect(queries.statements).toHaveLength(1);
  });
});

describe('bare ratings are private, written reviews public', () => {
  let rater: User; // rates without a comment
  let writer: User; // writes a review
  let stranger: User;
  let admin: User;
  let movieId: string;
  let bare: ReviewResult;
  let written: ReviewResult;

  beforeAll(async () => {
    [rater, writer, stranger, admin] = [await newUser(), await newUser(), await newUser(), await newUser('ADMIN')];
    movieId = newMovieId();
    bare = await rate(rater, movieId, 1.5, '   '); // a blank comment is no comment
    written = await rate(writer, movieId, 4, 'Worth the wait.');
  });

  const listQuery = `query($r: [_Any!]!) {
    _entities(representations: $r) {
      ... on Movie { ratingCount averageRating reviews { totalCount edges { node { id rating comment author { id } } } } }
    }
  }`;
  const viewers: [string, () => User | null][] = [
    ['the rater themself', () => rater],
    ['another user', () => stranger],
    ['an anonymous caller', () => null],
  ];

  it.each(viewers)('lists the written review and not the bare rating in Movie.reviews for %s', async (_name, viewer) => {
    const user = viewer();
    const result = await graphql(listQuery, { r: [{ __typename: 'Movie', id: movieId }] }, user ? { token: user.token } : {});
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      _entities: [
        {
          // aggregates stay public and include the bare rating
          ratingCount: 2,
          averageRating: 2.75,
          reviews: { totalCount: 1, edges: [{ node: { id: written.id, rating: 4, comment: 'Worth the wait.', author: { id: writer.id } } }] },
        },
      ],
    });
    expect(JSON.stringify(result)).not.toContain(rater.id);
    expect(JSON.stringify(result)).not.toContain(bare.id);
  });

  const referenceQuery = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Review { id rating comment author { id } movie { id } } } }`;
  const lookUp = (user: User | null, ids: string[]) =>
    graphql<{ _entities: unknown[] }>(referenceQuery, { r: ids.map((id) => ({ __typename: 'Review', id })) }, user ? { token: user.token } : {});

  it.each([
    ['another user', () => stranger],
    ['an anonymous caller', () => null],
  ] as [string, () => User | null][])('resolves a reference to the bare rating to null for %s, without an error', async (_name, viewer) => {
    const result = await lookUp(viewer(), [bare.id, written.id]);
    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([
      null,
      { id: written.id, rating: 4, comment: 'Worth the wait.', author: { id: writer.id }, movie: { id: movieId } },
    ]);
    expect(JSON.stringify(result)).not.toContain(rater.id);
  });

  it.each([
    ['its author', () => rater],
    ['an admin', () => admin],
  ] as [string, () => User][])('resolves a reference to the bare rating for %s', async (_name, viewer) => {
    const result = await lookUp(viewer(), [bare.id]);
    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([{ id: bare.id, rating: 1.5, comment: null, author: { id: rater.id }, movie: { id: movieId } }]);
  });

  it('lists a rating once it gets a comment, and hides it again when the comment is removed', async () => {
    const otherMovie = newMovieId();
    const listed = async () => {
      const result = await graphql<{ _entities: { reviews: { totalCount: number; edges: { node: { author: { id: string } } }[] } }[] }>(
        listQuery,
        { r: [{ __typename: 'Movie', id: otherMovie }] },
        { token: stranger.token },
      );
      const { totalCount, edges } = result.data!._entities[0]!.reviews;
      return { totalCount, authors: edges.map((edge) => edge.node.author.id) };
    };
    await rate(rater, otherMovie, 3);
    expect(await listed()).toEqual({ totalCount: 0, authors: [] });
    await rate(rater, otherMovie, 3, 'Changed my mind, it is good.');
    expect(await listed()).toEqual({ totalCount: 1, authors: [rater.id] });
    await rate(rater, otherMovie, 3, null);
    expect(await listed()).toEqual({ totalCount: 0, authors: [] });
  });
});
