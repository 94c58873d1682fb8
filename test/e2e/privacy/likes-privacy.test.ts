import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEnvironment, type GraphQLResponse, type TestEnvironment } from '../../helpers/test-environment.ts';

// A user's likes, reviews list and excluded movies are readable by that user and admins only,
// however a request reaches them through the gateway: a root field, several aliases, or a
// nested path from a public movie to the review's author. Public aggregates stay public. A
// review is public only when written (with a comment): a bare rating is in no movie's reviews.

interface SignedUp {
  id: string;
  username: string;
  token: string;
}

interface TestMovie {
  id: string;
  title: string;
}

describe('privacy of a user\'s likes, reviews and exclusions through the gateway', () => {
  let env: TestEnvironment;
  let alice: SignedUp;
  let bob: SignedUp;
  let admin: SignedUp;
  let liked: TestMovie;
  let disliked: TestMovie;
  let excluded: TestMovie;
  /** rated by Alice without a comment: a private rating */
  let rated: TestMovie;
  // Alice's written review of `liked` is public in the movie's reviews, but must not leak
  // through her refused lists either.
  const aliceComment = `alice-written-review-${randomInt(1e9)}`;

  /** Movies with large random ids and unique titles, so their ids cannot turn up in a body by accident. */
  async function insertMovie(label: string): Promise<TestMovie> {
    const id = String(randomInt(1e12, 9e12));
    const title = `${label} ${randomInt(1e9)}`;
    await env.sql('INSERT INTO movies.movies (id, title, year, genres) OVERRIDING SYSTEM VALUE VALUES ($1, $2, 2001, $3)', [id, title, ['Drama']]);
    // Written straight into the catalogue, so no movie.created tells the reviews subgraph: make it known there as the loader does.
    await env.sql('INSERT INTO reviews.known_movies (movie_id) VALUES ($1)', [id]);
    return { id, title };
  }

  async function succeed<T>(query: string, variables: Record<string, unknown>, token?: string): Promise<T> {
    const result = await env.graphql<T>(query, variables, token);
    expect(result.errors).toBeUndefined();
    return result.data!;
  }

  beforeAll(async () => {
    env = await startTestEnvironment();
    [alice, bob] = [await env.signUp('alice'), await env.signUp('bob')];
    const adminUser = await env.signUp('admin');
    admin = { ...adminUser, token: await env.promote(adminUser.username) };
    [liked, disliked, excluded, rated] = [await insertMovie('Liked'), await insertMovie('Disliked'), await insertMovie('Excluded'), await insertMovie('Rated')];

    await succeed(`mutation($m: ID!) { reactToMovie(movieId: $m, reaction: LIKE) { id } }`, { m: liked.id }, alice.token);
    await succeed(`mutation($m: ID!) { reactToMovie(movieId: $m, reaction: DISLIKE) { id } }`, { m: disliked.id }, alice.token);
    await succeed(`mutation($m: ID!, $c: String) { rateMovie(movieId: $m, rating: 4.5, comment: $c) { id } }`, { m: liked.id, c: aliceComment }, alice.token);
    await succeed(`mutation($m: ID!) { excludeFromRecommendations(movieId: $m) }`, { m: excluded.id }, alice.token);
    // last, so it is the newest of her reviews
    await succeed(`mutation($m: ID!) { rateMovie(movieId: $m, rating: 1.5) { id } }`, { m: rated.id }, alice.token);
  });

  afterAll(async () => {
    await env?.stop();
  });

  const privateSelection = `
    reactions { totalCount edges { node { reaction at movie { id title } } } }
    reviews { totalCount edges { node { rating comment movie { id title } } } }
    excludedMovies { id title }`;

  /** Every error is `code` from the reviews subgraph, and nothing of Alice's lists is in the body. */
  function expectRefused(result: GraphQLResponse, code: 'FORBIDDEN' | 'UNAUTHENTICATED', minimumErrors = 1): void {
    expect(result.errors?.length ?? 0).toBeGreaterThanOrEqual(minimumErrors);
    for (const error of result.errors!) expect(error.extensions).toMatchObject({ code, serviceName: 'reviews' });
    const body = JSON.stringify(result);
    for (const movie of [liked, disliked, excluded, rated]) {
      expect(body).not.toContain(movie.id);
      expect(body).not.toContain(movie.title);
    }
    expect(body).not.toContain(aliceComment);
    expect(body).not.toContain('LIKE');
    expect(body).not.toContain('4.5');
  }

  describe('another signed-in user', () => {
    it('cannot read them via user(id:)', async () => {
      const result = await env.graphql(`query($id: ID!) { user(id: $id) { username ${privateSelection} } }`, { id: alice.id }, bob.token);
      expectRefused(result, 'FORBIDDEN');
      expect(result.data?.user ?? null).toBeNull();
    });

    it.each([
      ['reactions', 'reactions { totalCount edges { node { reaction movie { id } } } }'],
      ['reviews', 'reviews { totalCount edges { node { rating comment movie { id } } } }'],
      ['excludedMovies', 'excludedMovies { id title }'],
    ])('cannot read %s alone', async (_name, selection) => {
      const result = await env.graphql(`query($id: ID!) { user(id: $id) { ${selection} } }`, { id: alice.id }, bob.token);
      expectRefused(result, 'FORBIDDEN');
    });

    it('cannot read them via several aliases in one request', async () => {
      const result = await env.graphql<Record<string, unknown>>(
        `query($id: ID!) {
          a1: user(id: $id) { reactions { totalCount edges { node { movie { id } reaction } } } }
          a2: user(id: $id) { reviews { totalCount edges { node { rating movie { id } } } } }
          a3: user(id: $id) { excludedMovies { id } }
          a4: user(id: $id) { id username }
        }`,
        { id: alice.id },
        bob.token,
      );
      expectRefused(result, 'FORBIDDEN', 3);
      expect(result.data).toMatchObject({ a1: null, a2: null, a3: null, a4: { id: alice.id, username: alice.username } });
    });

    it('cannot read them via the nested path from a movie\'s reviews to their author', async () => {
      const result = await env.graphql(
        `query($m: ID!) { movie(id: $m) { reviews { edges { node { author { reactions { totalCount edges { node { movie { id } } } } } } } } } }`,
        { m: liked.id },
        bob.token,
      );
      expectRefused(result, 'FORBIDDEN');
    });

    it('still sees the public aggregates of the movies, and only their own reaction', async () => {
      const data = await succeed<{ movie: { likeCount: number; averageRating: number; ratingCount: number; myReaction: string | null } }>(
        `query($m: ID!) { movie(id: $m) { likeCount averageRating ratingCount myReaction } }`,
        { m: liked.id },
        bob.token,
      );
      expect(data.movie).toEqual({ likeCount: 1, averageRating: 4.5, ratingCount: 1, myReaction: null });
    });
  });

  describe('an anonymous caller', () => {
    it('cannot read them via user(id:), aliases or the nested path', async () => {
      expectRefused(await env.graphql(`query($id: ID!) { user(id: $id) { ${privateSelection} } }`, { id: alice.id }), 'UNAUTHENTICATED');
      expectRefused(
        await env.graphql(`query($id: ID!) { a1: user(id: $id) { reactions { totalCount } } a2: user(id: $id) { reviews { totalCount } } }`, { id: alice.id }),
        'UNAUTHENTICATED',
        2,
      );
      expectRefused(
        await env.graphql(`query($m: ID!) { movie(id: $m) { reviews { edges { node { author { excludedMovies { id } } } } } } }`, { m: liked.id }),
        'UNAUTHENTICATED',
      );
    });

    it('still sees the public aggregates', async () => {
      const data = await succeed<{ movie: { likeCount: number; averageRating: number } }>(`query($m: ID!) { movie(id: $m) { likeCount averageRating } }`, { m: liked.id });
      expect(data.movie).toEqual({ likeCount: 1, averageRating: 4.5 });
    });
  });

  interface PrivateLists {
    reactions: { totalCount: number; edges: { node: { reaction: string; movie: { id: string; title: string } } }[] };
    reviews: { totalCount: number; edges: { node: { rating: number; comment: string | null; movie: { id: string; title: string } } }[] };
    excludedMovies: { id: string; title: string }[];
  }

  const expectAlicesLists = (lists: PrivateLists) => {
    expect(lists.reactions.totalCount).toBe(2);
    expect(lists.reactions.edges.map((edge) => [edge.node.movie, edge.node.reaction])).toEqual([
      [disliked, 'DISLIKE'],
      [liked, 'LIKE'],
    ]);
    expect(lists.reviews.totalCount).toBe(2);
    expect(lists.reviews.edges.map((edge) => edge.node)).toEqual([
      { rating: 1.5, comment: null, movie: rated },
      { rating: 4.5, comment: aliceComment, movie: liked },
    ]);
    expect(lists.excludedMovies).toEqual([excluded]);
  };

  it('lets the user read their own lists via me and user(id:), with titles from the movies subgraph', async () => {
    const viaMe = await succeed<{ me: PrivateLists }>(`{ me { ${privateSelection} } }`, {}, alice.token);
    expectAlicesLists(viaMe.me);
    const viaUser = await succeed<{ user: PrivateLists }>(`query($id: ID!) { user(id: $id) { ${privateSelection} } }`, { id: alice.id }, alice.token);
    expectAlicesLists(viaUser.user);
  });

  it('lets an admin read them, also via the nested path', async () => {
    const viaUser = await succeed<{ user: PrivateLists }>(`query($id: ID!) { user(id: $id) { ${privateSelection} } }`, { id: alice.id }, admin.token);
    expectAlicesLists(viaUser.user);
    const nested = await succeed<{ movie: { reviews: { edges: { node: { author: { id: string; reactions: { totalCount: number } } } }[] } } }>(
      `query($m: ID!) { movie(id: $m) { reviews { edges { node { author { id reactions { totalCount } } } } } } }`,
      { m: liked.id },
      admin.token,
    );
    expect(nested.movie.reviews.edges.map((edge) => edge.node.author)).toEqual([{ id: alice.id, reactions: { totalCount: 2 } }]);
  });

  describe('a movie\'s reviews: written ones public, bare ratings private', () => {
    interface MovieReviews {
      movie: {
        ratingCount: number;
        reviews: { totalCount: number; edges: { node: { rating: number; author: { id: string } } }[] };
      };
    }
    const movieReviews = `query($m: ID!) { movie(id: $m) { ratingCount reviews { totalCount edges { node { rating author { id } } } } } }`;

    it.each([
      ['another user', () => bob.token],
      ['an anonymous caller', () => undefined],
      ['Alice herself', () => alice.token],
    ] as [string, () => string | undefined][])('does not show Alice\'s bare rating to %s', async (_name, token) => {
      const result = await env.graphql<MovieReviews>(movieReviews, { m: rated.id }, token());
      expect(result.errors).toBeUndefined();
      // the aggregate still counts it: a count, never who
      expect(result.data!.movie).toEqual({ ratingCount: 1, reviews: { totalCount: 0, edges: [] } });
      if (token() !== alice.token) expect(JSON.stringify(result)).not.toContain(alice.id);
    });

    it('still shows Alice her bare rating as her own review', async () => {
      const data = await succeed<{ movie: { myReview: { rating: number; comment: string | null; author: { id: string } } } }>(
        `query($m: ID!) { movie(id: $m) { myReview { rating comment author { id } } } }`,
        { m: rated.id },
        alice.token,
      );
      expect(data.movie.myReview).toEqual({ rating: 1.5, comment: null, author: { id: alice.id } });
    });

    it('shows Alice\'s written review, with its rating and author, to another user', async () => {
      const data = await succeed<{ movie: { reviews: { totalCount: number; edges: { node: { rating: number; comment: string; author: { id: string; username: string } } }[] } } }>(
        `query($m: ID!) { movie(id: $m) { reviews { totalCount edges { node { rating comment author { id username } } } } } }`,
        { m: liked.id },
        bob.token,
      );
      expect(data.movie.reviews).toEqual({
        totalCount: 1,
        edges: [{ node: { rating: 4.5, comment: aliceComment, author: { id: alice.id, username: alice.username } } }],
      });
    });
  });
});
