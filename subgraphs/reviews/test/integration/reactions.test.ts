import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newMovieId, startReviewsHarness, type ReviewsHarness, type TestUser } from './harness.ts';

// The mutations that change a user's likes, exclusions and reviews: what they write, that the
// movie's counters follow in the same transaction, and what they refuse.

let harness: ReviewsHarness;

beforeAll(async () => {
  harness = await startReviewsHarness('reviews_reactions_it');
});

afterAll(async () => {
  await harness?.stop();
});

type Kind = 'LIKE' | 'DISLIKE';
interface MovieAfter {
  id: string;
  likeCount: number;
  myReaction: Kind | null;
}
interface GraphQLErrorShape {
  message: string;
  extensions?: Record<string, unknown>;
}

const reactMutation = `mutation($movieId: ID!, $reaction: Reaction!) { reactToMovie(movieId: $movieId, reaction: $reaction) { id likeCount myReaction } }`;
const clearMutation = `mutation($movieId: ID!) { clearReaction(movieId: $movieId) { id likeCount myReaction } }`;
const excludeMutation = `mutation($movieId: ID!) { excludeFromRecommendations(movieId: $movieId) }`;
const includeMutation = `mutation($movieId: ID!) { includeInRecommendations(movieId: $movieId) }`;
const rateMutation = `mutation($movieId: ID!, $rating: Float!, $comment: String) { rateMovie(movieId: $movieId, rating: $rating, comment: $comment) { id } }`;
const deleteMutation = `mutation($movieId: ID!) { deleteReview(movieId: $movieId) }`;

async function succeed<T>(query: string, variables: Record<string, unknown>, user: TestUser): Promise<T> {
  const result = await harness.graphql<T>(query, variables, { token: user.token });
  expect(result.errors).toBeUndefined();
  return result.data!;
}

const react = async (user: TestUser, movieId: string, reaction: Kind) =>
  (await succeed<{ reactToMovie: MovieAfter }>(reactMutation, { movieId, reaction }, user)).reactToMovie;
const clear = async (user: TestUser, movieId: string) => (await succeed<{ clearReaction: MovieAfter }>(clearMutation, { movieId }, user)).clearReaction;

interface StatsRow {
  movie_id: string;
  rating_count: number;
  rating_halves_sum: number;
  comment_count: number;
  like_count: number;
  dislike_count: number;
}

const statsOf = (movieIds: string[]) =>
  harness.rows<StatsRow>(
    `SELECT movie_id::text, rating_count, rating_halves_sum::int, comment_count, like_count, dislike_count
       FROM reviews.movie_stats s WHERE s.movie_id = ANY($1) ORDER BY s.movie_id`, // the bigint: "movie_id" alone would sort the text column
    [movieIds],
  );

/** What movie_stats must hold: counted from scratch from reviews and reactions. */
const recountOf = (movieIds: string[]) =>
  harness.rows<StatsRow>(
    `SELECT m.movie_id::text,
            (SELECT count(*)::int FROM reviews.reviews r WHERE r.movie_id = m.movie_id) AS rating_count,
            (SELECT coalesce(sum(rating_halves), 0)::int FROM reviews.reviews r WHERE r.movie_id = m.movie_id) AS rating_halves_sum,
            (SELECT count(*)::int FROM reviews.reviews r WHERE r.movie_id = m.movie_id AND r.comment IS NOT NULL) AS comment_count,
            (SELECT count(*)::int FROM reviews.reactions x WHERE x.movie_id = m.movie_id AND x.reaction = 'LIKE') AS like_count,
            (SELECT count(*)::int FROM reviews.reactions x WHERE x.movie_id = m.movie_id AND x.reaction = 'DISLIKE') AS dislike_count
       FROM reviews.movie_stats m WHERE m.movie_id = ANY($1) ORDER BY m.movie_id`,
    [movieIds],
  );

const reactionRows = (userId: string) =>
  harness.rows<{ movie_id: string; reaction: Kind; created_at: Date }>(
    'SELECT movie_id::text, reaction, created_at FROM reviews.reactions WHERE user_id = $1 ORDER BY movie_id',
    [userId],
  );

describe('reactToMovie and clearReaction', () => {
  it('likes, likes again, switches to a dislike and clears, keeping both counters exact', async () => {
    const [user, other] = [await harness.newUser(), await harness.newUser()];
    const movieId = newMovieId();

    expect(await react(user, movieId, 'LIKE')).toEqual({ id: movieId, likeCount: 1, myReaction: 'LIKE' });
    const [firstLike] = await reactionRows(user.id);

    // liking twice is fine: nothing changes, not even the time of the like
    expect(await react(user, movieId, 'LIKE')).toEqual({ id: movieId, likeCount: 1, myReaction: 'LIKE' });
    expect(await reactionRows(user.id)).toEqual([firstLike]);

    expect(await react(other, movieId, 'LIKE')).toEqual({ id: movieId, likeCount: 2, myReaction: 'LIKE' });
    expect(await react(user, movieId, 'DISLIKE')).toEqual({ id: movieId, likeCount: 1, myReaction: 'DISLIKE' });
    const [switched] = await reactionRows(user.id);
    expect(switched!.reaction).toBe('DISLIKE');
    expect(switched!.created_at.getTime()).toBeGreaterThanOrEqual(firstLike!.created_at.getTime());
    expect(await statsOf([movieId])).toEqual([{ movie_id: movieId, rating_count: 0, rating_halves_sum: 0, comment_count: 0, like_count: 1, dislike_count: 1 }]);

    expect(await clear(user, movieId)).toEqual({ id: movieId, likeCount: 1, myReaction: null });
    expect(await clear(user, movieId)).toEqual({ id: movieId, likeCount: 1, myReaction: null }); // nothing left to clear: fine
    expect(await reactionRows(user.id)).toEqual([]);
    expect(await statsOf([movieId])).toEqual(await recountOf([movieId]));
  });

  it('shows each signed-in user only their own reaction', async () => {
    const [liker, disliker, bystander] = [await harness.newUser(), await harness.newUser(), await harness.newUser()];
    const movieId = newMovieId();
    await react(liker, movieId, 'LIKE');
    await react(disliker, movieId, 'DISLIKE');
    const query = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Movie { likeCount myReaction } } }`;
    const variables = { r: [{ __typename: 'Movie', id: movieId }] };
    const as = async (user?: TestUser) => (await harness.graphql<{ _entities: unknown[] }>(query, variables, user ? { token: user.token } : {})).data!._entities;

    expect(await as(liker)).toEqual([{ likeCount: 1, myReaction: 'LIKE' }]);
    expect(await as(disliker)).toEqual([{ likeCount: 1, myReaction: 'DISLIKE' }]);
    expect(await as(bystander)).toEqual([{ likeCount: 1, myReaction: null }]);
    expect(await as()).toEqual([{ likeCount: 1, myReaction: null }]);
  });

  it('counts simultaneous first likes of one user and movie once', async () => {
    const user = await harness.newUser();
    const movieId = newMovieId();
    await Promise.all(Array.from({ length: 8 }, () => react(user, movieId, 'LIKE')));
    expect(await statsOf([movieId])).toEqual([{ movie_id: movieId, rating_count: 0, rating_halves_sum: 0, comment_count: 0, like_count: 1, dislike_count: 0 }]);
  });
});

describe('excludeFromRecommendations and includeInRecommendations', () => {
  it('excludes once however often asked, and includes again', async () => {
    const user = await harness.newUser();
    const movieId = newMovieId();
    const excluded = () => harness.rows('SELECT movie_id::text FROM reviews.exclusions WHERE user_id = $1', [user.id]);

    expect(await succeed(excludeMutation, { movieId }, user)).toEqual({ excludeFromRecommendations: true });
    expect(await succeed(excludeMutation, { movieId }, user)).toEqual({ excludeFromRecommendations: true });
    expect(await excluded()).toEqual([{ movie_id: movieId }]);

    expect(await succeed(includeMutation, { movieId }, user)).toEqual({ includeInRecommendations: true });
    expect(await succeed(includeMutation, { movieId }, user)).toEqual({ includeInRecommendations: true });
    expect(await excluded()).toEqual([]);
  });
});

describe('deleteReview', () => {
  it('deletes the review, records it in the history and takes it out of the stats', async () => {
    const [author, other] = [await harness.newUser(), await harness.newUser()];
    const movieId = newMovieId();
    await succeed(rateMutation, { movieId, rating: 4 }, author);
    await succeed(rateMutation, { movieId, rating: 1 }, other);

    expect(await succeed(deleteMutation, { movieId }, author)).toEqual({ deleteReview: true });

    expect(await harness.rows('SELECT user_id FROM reviews.reviews WHERE movie_id = $1', [movieId])).toEqual([{ user_id: other.id }]);
    expect(
      await harness.rows(
        `SELECT action, old_rating_halves, new_rating_halves, actor_id FROM reviews.review_history WHERE movie_id = $1 AND user_id = $2 ORDER BY id`,
        [movieId, author.id],
      ),
    ).toEqual([
      { action: 'CREATE', old_rating_halves: null, new_rating_halves: 8, actor_id: author.id },
      { action: 'DELETE', old_rating_halves: 8, new_rating_halves: null, actor_id: author.id },
    ]);
    expect(await statsOf([movieId])).toEqual([{ movie_id: movieId, rating_count: 1, rating_halves_sum: 2, comment_count: 0, like_count: 0, dislike_count: 0 }]);
  });

  it('answers NOT_FOUND naming the movie when there is no review to delete, writing nothing', async () => {
    const [author, stranger] = [await harness.newUser(), await harness.newUser()];
    const movieId = newMovieId();
    await succeed(rateMutation, { movieId, rating: 3 }, author);

    // someone else's review of the movie is not the caller's to delete
    const result = await harness.graphql(deleteMutation, { movieId }, { token: stranger.token });
    expect(result.data).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions).toMatchObject({ code: 'NOT_FOUND', movieId });
    expect(result.errors![0]!.message).toContain(movieId);
    expect(await harness.rows('SELECT user_id FROM reviews.reviews WHERE movie_id = $1', [movieId])).toEqual([{ user_id: author.id }]);
    expect(await harness.rows(`SELECT 1 FROM reviews.review_history WHERE action = 'DELETE' AND movie_id = $1`, [movieId])).toEqual([]);
  });
});

describe('bad input and anonymous callers', () => {
  const mutations: [string, string, Record<string, unknown>][] = [
    ['reactToMovie', reactMutation, { reaction: 'LIKE' }],
    ['clearReaction', clearMutation, {}],
    ['excludeFromRecommendations', excludeMutation, {}],
    ['includeInRecommendations', includeMutation, {}],
    ['deleteReview', deleteMutation, {}],
  ];

  /** Anything this test could have left behind for `movieId`, in any table of the subgraph. */
  const writtenFor = async (movieId: string) =>
    (
      await harness.rows<{ count: number }>(
        `SELECT ((SELECT count(*) FROM reviews.reactions WHERE movie_id = $1) + (SELECT count(*) FROM reviews.exclusions WHERE movie_id = $1)
              + (SELECT count(*) FROM reviews.reviews WHERE movie_id = $1) + (SELECT count(*) FROM reviews.review_history WHERE movie_id = $1)
              + (SELECT count(*) FROM reviews.movie_stats WHERE movie_id = $1))::int AS count`,
        [movieId],
      )
    )[0]!.count;

  it.each(mutations)('%s rejects a movieId that is not numeric as BAD_USER_INPUT, writing nothing', async (_name, mutation, variables) => {
    const user = await harness.newUser();
    for (const movieId of ['tt0111161', '-5', '007', '1e3', '']) {
      const result = await harness.graphql(mutation, { movieId, ...variables }, { token: user.token });
      expect(result.data).toBeNull();
      expect(result.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'movieId' });
      expect(result.errors![0]!.message).toMatch(/^movieId: /);
    }
    const counts = await harness.rows<{ count: number }>(
      `SELECT (SELECT count(*)::int FROM reviews.reactions WHERE user_id = $1) + (SELECT count(*)::int FROM reviews.exclusions WHERE user_id = $1)
            + (SELECT count(*)::int FROM reviews.review_history WHERE user_id = $1) AS count`,
      [user.id],
    );
    expect(counts).toEqual([{ count: 0 }]);
  });

  it.each(mutations)('%s requires a signed-in user and writes nothing for anonymous or forged callers', async (_name, mutation, variables) => {
    const movieId = newMovieId();
    const anonymous = await harness.graphql(mutation, { movieId, ...variables });
    expect(anonymous.errors![0]!.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    const forged = await harness.graphql(mutation, { movieId, ...variables }, { token: 'not.a.token' });
    expect(forged.errors![0]!.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(await writtenFor(movieId)).toBe(0);
  });

  it('rejects an unknown reaction before resolving anything', async () => {
    const user = await harness.newUser();
    const movieId = newMovieId();
    const result = await harness.graphql(reactMutation, { movieId, reaction: 'LOVE' }, { token: user.token });
    expect(result.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(result.errors![0]!.message).toContain('LOVE');
    expect(await writtenFor(movieId)).toBe(0);
  });
});

/** A small seeded generator (mulberry32): a failing random sequence can be replayed from its seed. */
function seededRandom(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below);
  };
}

describe('movie_stats under a random mix of changes', () => {
  it('equals a recount of reviews and reactions after 240 random reactions, ratings (with or without a comment) and deletes, many simultaneous', async () => {
    const seed = randomInt(2 ** 31);
    const random = seededRandom(seed);
    const movies = [newMovieId(), newMovieId(), newMovieId()];
    const users = await Promise.all(Array.from({ length: 5 }, () => harness.newUser()));

    type Operation = { kind: 'like' | 'dislike' | 'clear' | 'rate' | 'delete'; user: TestUser; movieId: string; rating: number; comment: string | null };
    const kinds = ['like', 'dislike', 'clear', 'rate', 'delete'] as const;
    // A rating adds, keeps, replaces or removes a comment depending on the review before it; a
    // blank comment is stored as none, so it must count as a bare rating.
    const comments = [null, '  ', 'Loved it.', 'Not my kind of film.'] as const;
    const operations: Operation[] = Array.from({ length: 240 }, () => ({
      kind: kinds[random(kinds.length)]!,
      user: users[random(users.length)]!,
      movieId: movies[random(movies.length)]!,
      rating: (random(10) + 1) / 2,
      comment: comments[random(comments.length)]!,
    }));

    const perform = async ({ kind, user, movieId, rating, comment }: Operation): Promise<GraphQLErrorShape[]> => {
      const options = { token: user.token };
      const result =
        kind === 'like' || kind === 'dislike'
          ? await harness.graphql(reactMutation, { movieId, reaction: kind === 'like' ? 'LIKE' : 'DISLIKE' }, options)
          : kind === 'clear'
            ? await harness.graphql(clearMutation, { movieId }, options)
            : kind === 'rate'
              ? await harness.graphql(rateMutation, { movieId, rating, comment }, options)
              : await harness.graphql(deleteMutation, { movieId }, options);
      return result.errors ?? [];
    };

    // In batches of 16: the same user and movie often meet inside one batch, so inserts race
    // inserts, switches race clears and deletes race ratings on one stats row.
    const errors: GraphQLErrorShape[] = [];
    for (let start = 0; start < operations.length; start += 16) {
      errors.push(...(await Promise.all(operations.slice(start, start + 16).map(perform))).flat());
    }

    const context = `random sequence seed ${seed}`;
    // the only refusal a valid sequence can meet: deleting a review that is not (or no longer) there
    expect(errors.map((error) => error.extensions?.code), context).toEqual(errors.map(() => 'NOT_FOUND'));
    expect(await statsOf(movies), context).toEqual(await recountOf(movies));
    const [history] = await harness.rows<{ created: number; deleted: number; reviews: number }>(
      `SELECT (SELECT count(*)::int FROM reviews.review_history WHERE movie_id = ANY($1) AND action = 'CREATE') AS created,
              (SELECT count(*)::int FROM reviews.review_history WHERE movie_id = ANY($1) AND action = 'DELETE') AS deleted,
              (SELECT count(*)::int FROM reviews.reviews WHERE movie_id = ANY($1)) AS reviews`,
      [movies],
    );
    expect(history!.created - history!.deleted, context).toBe(history!.reviews);

    // Each movie's public list: exactly its written reviews, and a totalCount that matches them.
    const listed = await harness.graphql<{ _entities: { id: string; reviews: { totalCount: number; edges: { node: { author: { id: string } } }[] } }[] }>(
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Movie { id reviews(first: 100) { totalCount edges { node { author { id } } } } } } }`,
      { r: movies.map((id) => ({ __typename: 'Movie', id })) },
    );
    const writtenRows = await harness.rows<{ movie_id: string; user_id: string }>(
      'SELECT movie_id::text, user_id::text FROM reviews.reviews WHERE movie_id = ANY($1) AND comment IS NOT NULL',
      [movies],
    );
    expect(
      listed.data!._entities.map((movie) => ({ id: movie.id, totalCount: movie.reviews.totalCount, authors: movie.reviews.edges.map((edge) => edge.node.author.id).sort() })),
      context,
    ).toEqual(
      movies.map((id) => {
        const authors = writtenRows.filter((row) => row.movie_id === id).map((row) => row.user_id).sort();
        return { id, totalCount: authors.length, authors };
      }),
    );
  });
});
