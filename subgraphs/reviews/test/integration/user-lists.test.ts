import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '@platform/shared';
import { newMovieId, startReviewsHarness, type ReviewsHarness, type TestUser } from './harness.ts';

// A user's reviews, reactions and excluded movies: readable by that user and admins only, on
// every path the subgraph answers (here `_entities`, as the gateway or anyone who reaches the
// subgraph directly would send it), and paged newest first.

let harness: ReviewsHarness;

beforeAll(async () => {
  harness = await startReviewsHarness('reviews_user_lists_it');
});

afterAll(async () => {
  await harness?.stop();
});

const as = (user: TestUser | null) => (user ? { token: user.token } : {});

async function succeed<T>(query: string, variables: Record<string, unknown>, user: TestUser): Promise<T> {
  const result = await harness.graphql<T>(query, variables, as(user));
  expect(result.errors).toBeUndefined();
  return result.data!;
}

const rate = (user: TestUser, movieId: string, rating: number, comment: string | null = null) =>
  succeed(`mutation($m: ID!, $r: Float!, $c: String) { rateMovie(movieId: $m, rating: $r, comment: $c) { id } }`, { m: movieId, r: rating, c: comment }, user);
const react = (user: TestUser, movieId: string, reaction: 'LIKE' | 'DISLIKE') =>
  succeed(`mutation($m: ID!, $r: Reaction!) { reactToMovie(movieId: $m, reaction: $r) { id } }`, { m: movieId, r: reaction }, user);
const exclude = (user: TestUser, movieId: string) => succeed(`mutation($m: ID!) { excludeFromRecommendations(movieId: $m) }`, { m: movieId }, user);

const userRepresentation = (id: string) => ({ __typename: 'User', id });

describe('privacy of a user\'s lists at the subgraph', () => {
  const privateFields = `
    query($r: [_Any!]!) {
      _entities(representations: $r) {
        ... on User {
          id
          reactions { totalCount edges { node { movie { id } reaction } } }
          reviews { totalCount edges { node { id rating movie { id } } } }
          excludedMovies { id }
        }
      }
    }`;

  let owner: TestUser;
  let ownerMovies: string[];

  beforeAll(async () => {
    owner = await harness.newUser();
    ownerMovies = [newMovieId(), newMovieId(), newMovieId()];
    await react(owner, ownerMovies[0]!, 'LIKE');
    await react(owner, ownerMovies[1]!, 'DISLIKE');
    // written, so the review itself is public: the nested path below reaches its author through it
    await rate(owner, ownerMovies[0]!, 4.5, 'A favourite.');
    await exclude(owner, ownerMovies[2]!);
  });

  const read = (viewer: TestUser | null, ids: string[] = [owner.id]) =>
    harness.graphql<{ _entities: unknown[] }>(privateFields, { r: ids.map(userRepresentation) }, as(viewer));

  it('lets the user themself read all three', async () => {
    const result = await read(owner);
    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([
      {
        id: owner.id,
        reactions: {
          totalCount: 2,
          edges: [
            { node: { movie: { id: ownerMovies[1] }, reaction: 'DISLIKE' } },
            { node: { movie: { id: ownerMovies[0] }, reaction: 'LIKE' } },
          ],
        },
        reviews: { totalCount: 1, edges: [{ node: { id: expect.any(String), rating: 4.5, movie: { id: ownerMovies[0] } } }] },
        excludedMovies: [{ id: ownerMovies[2] }],
      },
    ]);
  });

  it('lets an admin read them', async () => {
    const admin = await harness.newUser('ADMIN');
    const result = await read(admin);
    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toMatchObject([{ id: owner.id, reactions: { totalCount: 2 }, reviews: { totalCount: 1 }, excludedMovies: [{ id: ownerMovies[2] }] }]);
  });

  /** Nothing of the owner's lists may appear anywhere in what another caller receives. */
  function expectNothingOfOwnerIn(body: unknown): void {
    const text = JSON.stringify(body);
    for (const movieId of ownerMovies) expect(text).not.toContain(movieId);
    expect(text).not.toContain('LIKE');
    expect(text).not.toContain('4.5');
  }

  it('refuses another user with FORBIDDEN and returns no data', async () => {
    const stranger = await harness.newUser();
    const result = await read(stranger);
    expect(result.data).toEqual({ _entities: [null] });
    expect(result.errors!.length).toBeGreaterThan(0);
    for (const error of result.errors!) {
      expect(error.extensions).toMatchObject({ code: 'FORBIDDEN' });
      expect(error.message).toMatch(/only the user themself or an admin/i);
    }
    expectNothingOfOwnerIn(result);
  });

  it('refuses each field on its own, whichever is asked', async () => {
    const stranger = await harness.newUser();
    for (const selection of ['reactions { totalCount }', 'reviews { totalCount }', 'excludedMovies { id }']) {
      const result = await harness.graphql(`query($r: [_Any!]!) { _entities(representations: $r) { ... on User { ${selection} } } }`, { r: [userRepresentation(owner.id)] }, as(stranger));
      expect(result.errors?.map((error) => error.extensions?.code), selection).toEqual(['FORBIDDEN']);
      expectNothingOfOwnerIn(result);
    }
  });

  it('refuses anonymous callers with UNAUTHENTICATED and forged tokens outright', async () => {
    const anonymous = await read(null);
    expect(anonymous.data).toEqual({ _entities: [null] });
    expect(anonymous.errors!.map((error) => error.extensions?.code)).toContain('UNAUTHENTICATED');
    expect(new Set(anonymous.errors!.map((error) => error.extensions?.code))).toEqual(new Set(['UNAUTHENTICATED']));
    expectNothingOfOwnerIn(anonymous);

    const forged = await harness.graphql(privateFields, { r: [userRepresentation(owner.id)] }, { token: 'not.a.token' });
    expect(forged.errors![0]!.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expectNothingOfOwnerIn(forged);
  });

  it('does not let an upper-case spelling of the owner\'s id pass for someone else', async () => {
    const stranger = await harness.newUser();
    const result = await read(stranger, [owner.id.toUpperCase()]);
    expect(result.errors!.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    expectNothingOfOwnerIn(result);
  });

  it('answers the caller\'s own entity and refuses the other in one request', async () => {
    const stranger = await harness.newUser();
    await react(stranger, newMovieId(), 'DISLIKE');
    const result = await harness.graphql<{ _entities: ({ reactions: { totalCount: number } } | null)[] }>(
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { reactions { totalCount } } } }`,
      { r: [userRepresentation(stranger.id), userRepresentation(owner.id)] },
      as(stranger),
    );
    expect(result.data!._entities).toEqual([{ reactions: { totalCount: 1 } }, null]);
    expect(result.errors!.map((error) => [error.extensions?.code, error.path])).toEqual([['FORBIDDEN', ['_entities', 1, 'reactions']]]);
  });

  it('guards the nested path from a review to its author', async () => {
    const stranger = await harness.newUser();
    const [review] = await harness.rows<{ user_id: string; movie_id: string }>('SELECT user_id, movie_id::text FROM reviews.reviews WHERE user_id = $1', [owner.id]);
    const reviewId = Buffer.from(`${review!.user_id}:${review!.movie_id}`).toString('base64url');
    const query = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Review { author { id reactions { totalCount edges { node { movie { id } } } } } } } }`;
    const result = await harness.graphql(query, { r: [{ __typename: 'Review', id: reviewId }] }, as(stranger));
    expect(result.errors!.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(JSON.stringify(result)).not.toContain(ownerMovies[1]);

    const own = await harness.graphql(query, { r: [{ __typename: 'Review', id: reviewId }] }, as(owner));
    expect(own.errors).toBeUndefined();
  });

  it('refuses before touching the database', async () => {
    const stranger = await harness.newUser();
    harness.queries.reset();
    await read(stranger);
    expect(harness.queries.statements).toEqual([]);
  });

  it('answers an admin asking about a malformed user id with empty lists, not an error', async () => {
    const admin = await harness.newUser('ADMIN');
    const result = await read(admin, ['not-a-uuid']);
    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([
      { id: 'not-a-uuid', reactions: { totalCount: 0, edges: [] }, reviews: { totalCount: 0, edges: [] }, excludedMovies: [] },
    ]);
  });
});

describe('paging a user\'s reviews and reactions', () => {
  interface Page {
    totalCount: number;
    pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string | null };
    edges: { cursor: string; node: { movie: { id: string } } }[];
  }

  const listQuery = (list: 'reviews' | 'reactions') => `
    query($r: [_Any!]!, $first: Int, $after: String) {
      _entities(representations: $r) {
        ... on User {
          ${list}(first: $first, after: $after) {
            totalCount
            pageInfo { hasNextPage hasPreviousPage endCursor }
            edges { cursor node { movie { id } } }
          }
        }
      }
    }`;

  async function readAll(list: 'reviews' | 'reactions', user: TestUser, size: number): Promise<string[]> {
    const seen: string[] = [];
    let after: string | null = null;
    for (let pages = 1; ; pages += 1) {
      const data: { _entities: Record<string, Page>[] } = await succeed(listQuery(list), { r: [userRepresentation(user.id)], first: size, after }, user);
      const page = data._entities[0]![list]!;
      expect(page.totalCount).toBe(7);
      expect(page.pageInfo.hasPreviousPage).toBe(after !== null);
      expect(page.edges.length).toBeLessThanOrEqual(size);
      seen.push(...page.edges.map((edge) => edge.node.movie.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
      expect(pages).toBeLessThan(8);
    }
    return seen;
  }

  // Written directly to control the times: three rows share one instant (to the microsecond), so
  // the order and the cursors must fall back to the movie id; SQL, because a JS Date drops microseconds.
  const shared = '2026-01-02 10:00:00.123456+00';
  const instants = ['2026-01-01 10:00:00.000001+00', shared, shared, shared, '2026-01-03 00:00:00+00', '2026-01-04 00:00:00+00', '2026-01-05 00:00:00+00'];

  /** The movies in the order the list must show them: newest first, then the higher movie id. */
  const newestFirst = (movies: string[]) =>
    movies
      .map((movieId, index) => ({ movieId, at: instants[index]! }))
      .sort((a, b) => (a.at === b.at ? Number(BigInt(b.movieId) - BigInt(a.movieId)) : a.at < b.at ? 1 : -1))
      .map((row) => row.movieId);

  it.each([1, 2, 3, 7])('pages through a user\'s reviews %i at a time, newest first, each exactly once', async (size) => {
    const user = await harness.newUser();
    const movies = instants.map(() => newMovieId());
    for (const [index, movieId] of movies.entries()) {
      await harness.rows('INSERT INTO reviews.reviews (user_id, movie_id, rating_halves, updated_at) VALUES ($1, $2, 6, $3::timestamptz)', [user.id, movieId, instants[index]]);
    }
    expect(await readAll('reviews', user, size)).toEqual(newestFirst(movies));
  });

  it.each([1, 3, 7])('pages through a user\'s reactions %i at a time, newest first, each exactly once', async (size) => {
    const user = await harness.newUser();
    const movies = instants.map(() => newMovieId());
    for (const [index, movieId] of movies.entries()) {
      await harness.rows(`INSERT INTO reviews.reactions (user_id, movie_id, reaction, created_at) VALUES ($1, $2, 'LIKE', $3::timestamptz)`, [user.id, movieId, instants[index]]);
    }
    expect(await readAll('reactions', user, size)).toEqual(newestFirst(movies));
  });

  it('shows a switched reaction as the newest, and a reaction\'s time', async () => {
    const user = await harness.newUser();
    const [first, second] = [newMovieId(), newMovieId()];
    await react(user, first, 'LIKE');
    await react(user, second, 'LIKE');
    await react(user, first, 'DISLIKE');
    const data = await succeed<{ _entities: { reactions: { edges: { node: { movie: { id: string }; reaction: string; at: string } }[] } }[] }>(
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { reactions { edges { node { movie { id } reaction at } } } } } }`,
      { r: [userRepresentation(user.id)] },
      user,
    );
    const nodes = data._entities[0]!.reactions.edges.map((edge) => edge.node);
    expect(nodes.map((node) => [node.movie.id, node.reaction])).toEqual([
      [first, 'DISLIKE'],
      [second, 'LIKE'],
    ]);
    for (const node of nodes) expect(Date.parse(node.at)).not.toBeNaN();
  });

  it('lists excluded movies newest first', async () => {
    const user = await harness.newUser();
    const movies = [newMovieId(), newMovieId(), newMovieId()];
    for (const [index, movieId] of movies.entries()) {
      await harness.rows('INSERT INTO reviews.exclusions (user_id, movie_id, created_at) VALUES ($1, $2, $3::timestamptz)', [user.id, movieId, `2026-03-0${index + 1} 00:00:00+00`]);
    }
    const data = await succeed<{ _entities: { excludedMovies: { id: string }[] }[] }>(
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { excludedMovies { id } } } }`,
      { r: [userRepresentation(user.id)] },
      user,
    );
    expect(data._entities[0]!.excludedMovies.map((movie) => movie.id)).toEqual([...movies].reverse());
  });

  it('reads the lists of many users with one statement per list and one per count', async () => {
    const admin = await harness.newUser('ADMIN');
    const users = [await harness.newUser(), await harness.newUser(), await harness.newUser()];
    for (const user of users) {
      await rate(user, newMovieId(), 3);
      await react(user, newMovieId(), 'LIKE');
      await exclude(user, newMovieId());
    }
    harness.queries.reset();
    const data = await succeed<{ _entities: { reviews: { totalCount: number }; reactions: { totalCount: number }; excludedMovies: unknown[] }[] }>(
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on User {
         reviews(first: 5) { totalCount edges { node { rating } } } reactions(first: 5) { totalCount edges { node { reaction } } } excludedMovies { id } } } }`,
      { r: users.map((user) => userRepresentation(user.id)) },
      admin,
    );
    expect(data._entities.map((user) => [user.reviews.totalCount, user.reactions.totalCount, user.excludedMovies.length])).toEqual(users.map(() => [1, 1, 1]));
    // reviews page, reviews count, reactions page, reactions count, exclusions
    expect(harness.queries.statements).toHaveLength(5);
  });

  const reviewsCursor = (at: string, movie: string) => encodeCursor({ list: 'reviews', at, movie });

  it.each([
    ['reviews', 'first = 0', { first: 0 }, 'first'],
    ['reactions', 'first above 100', { first: 101 }, 'first'],
    ['reviews', 'a negative first', { first: -3 }, 'first'],
    ['reactions', 'a malformed after', { after: 'garbage' }, 'after'],
    ['reactions', 'a cursor of the reviews list', { after: reviewsCursor('2026-02-03T10:00:00.000000Z', '12') }, 'after'],
    ['reviews', 'a cursor of a movie\'s reviews', { after: encodeCursor({ at: '2026-02-03T10:00:00.000000Z', user: randomUUID() }) }, 'after'],
    ['reviews', 'an after with an impossible date', { after: reviewsCursor('2026-02-30T10:00:00.000000Z', '12') }, 'after'],
    ['reviews', 'an after with a malformed movie', { after: reviewsCursor('2026-02-03T10:00:00.000000Z', "1' OR 1=1") }, 'after'],
  ] as const)('rejects on %s %s as BAD_USER_INPUT', async (list, _name, variables, field) => {
    const user = await harness.newUser();
    const result = await harness.graphql(listQuery(list), { r: [userRepresentation(user.id)], first: 3, ...variables }, as(user));
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(result.errors![0]!.message).toMatch(new RegExp(`^${field}: `));
  });
});
