import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { movieOf, newMovieId, startReviewsHarness, type ReviewsHarness, type TestUser } from './harness.ts';

// rollbackRatings on real PostgreSQL: after random edits before and after a time T, the user's
// reviews are exactly what they were at T, movie_stats equals a recount, the changes are in the
// history and on the stream like normal edits, and only an admin may do it.

let harness: ReviewsHarness;

beforeAll(async () => {
  harness = await startReviewsHarness('reviews_rollback_it');
});

afterAll(async () => {
  await harness?.stop();
});

const rateMutation = `mutation($movieId: ID!, $rating: Float!, $comment: String) { rateMovie(movieId: $movieId, rating: $rating, comment: $comment) { id } }`;
const deleteMutation = `mutation($movieId: ID!) { deleteReview(movieId: $movieId) }`;
const rollbackMutation = `mutation($userId: ID!, $since: DateTime!) { rollbackRatings(userId: $userId, since: $since) }`;

/** A small seeded generator, so a failing random sequence can be replayed from its seed. */
function seeded(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % below);
  };
}

interface ReviewState {
  movie_id: string;
  rating_halves: number;
  comment: string | null;
}

const reviewsOf = (userId: string) =>
  harness.rows<ReviewState>('SELECT movie_id::text, rating_halves, comment FROM reviews.reviews WHERE user_id = $1 ORDER BY movie_id', [userId]);

/** Random edits by `user` on `movies`: ratings with, without or with a blank comment, and deletes. */
async function randomEdits(user: TestUser, movies: string[], count: number, next: (below: number) => number): Promise<void> {
  for (let index = 0; index < count; index += 1) {
    const movieId = movies[next(movies.length)]!;
    const choice = next(4);
    if (choice === 0) {
      await harness.graphql(deleteMutation, { movieId }, { token: user.token }); // NOT_FOUND when there is none: fine
    } else {
      const comment = choice === 1 ? null : choice === 2 ? '   ' : `comment ${index}`;
      const result = await harness.graphql(rateMutation, { movieId, rating: (1 + next(10)) / 2, comment }, { token: user.token });
      expect(result.errors).toBeUndefined();
    }
  }
}

/** The instant T between two phases of edits, at millisecond precision (what DateTime carries). */
async function instantBetweenPhases(): Promise<string> {
  // Rounded up to the next millisecond by the database's own clock (history rows use it), then
  // the test waits until that clock has passed it, so every later edit is at or after T and every
  // earlier one before it.
  const [row] = await harness.rows<{ t: string }>(
    `SELECT to_char((date_trunc('milliseconds', now()) + interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS t`,
  );
  const instant = row!.t;
  for (;;) {
    const [passed] = await harness.rows<{ passed: boolean }>('SELECT clock_timestamp() > $1::timestamptz AS passed', [instant]);
    if (passed?.passed) return instant;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

async function statsMatchRecount(movies: string[]): Promise<void> {
  const mismatches = await harness.rows(
    `SELECT m.movie_id, s.rating_count, s.rating_halves_sum, s.comment_count, r.n, r.total, r.written
     FROM unnest($1::bigint[]) AS m(movie_id)
     LEFT JOIN reviews.movie_stats s ON s.movie_id = m.movie_id
     LEFT JOIN LATERAL (SELECT count(*)::int AS n, coalesce(sum(rating_halves), 0)::bigint AS total, count(comment)::int AS written
                        FROM reviews.reviews WHERE movie_id = m.movie_id) r ON true
     WHERE coalesce(s.rating_count, 0) <> r.n OR coalesce(s.rating_halves_sum, 0) <> r.total OR coalesce(s.comment_count, 0) <> r.written`,
    [movies],
  );
  expect(mismatches).toEqual([]);
}

describe('rollbackRatings', () => {
  it('restores exactly the reviews as they were at T, keeps stats equal to a recount and emits the events', async () => {
    const seed = randomInt(1, 2 ** 31);
    const next = seeded(seed);
    const user = await harness.newUser();
    const bystander = await harness.newUser();
    const admin = await harness.newUser('ADMIN');
    const movies = Array.from({ length: 8 }, () => newMovieId());

    await randomEdits(user, movies, 25, next);
    await randomEdits(bystander, movies, 10, next);
    const since = await instantBetweenPhases();
    const atT = await reviewsOf(user.id);
    await randomEdits(user, movies, 25, next);
    await randomEdits(bystander, movies, 10, next);

    const beforeRollback = await reviewsOf(user.id);
    const bystanderBefore = await reviewsOf(bystander.id);
    const key = (review: ReviewState) => `${review.rating_halves}|${review.comment ?? ''}`;
    const atTByMovie = new Map(atT.map((review) => [review.movie_id, review]));
    const nowByMovie = new Map(beforeRollback.map((review) => [review.movie_id, review]));
    const differing = movies.filter((movie) => {
      const then = atTByMovie.get(movie);
      const now = nowByMovie.get(movie);
      return (then ? key(then) : null) !== (now ? key(now) : null);
    });
    const eventsBefore = (await harness.events()).length;

    const result = await harness.graphql<{ rollbackRatings: number }>(rollbackMutation, { userId: user.id, since }, { token: admin.token });
    expect(result.errors, `seed ${seed}`).toBeUndefined();
    expect(result.data?.rollbackRatings, `seed ${seed}`).toBe(differing.length);
    expect(await reviewsOf(user.id), `seed ${seed}`).toEqual(atT);
    expect(await reviewsOf(bystander.id), `seed ${seed}`).toEqual(bystanderBefore);
    await statsMatchRecount(movies);

    // One ROLLBACK history row per changed review, by the admin, with the reason.
    const history = await harness.rows<{ movie_id: string; actor_id: string; reason: string }>(
      `SELECT movie_id::text, actor_id, reason FROM reviews.review_history WHERE user_id = $1 AND action = 'ROLLBACK' ORDER BY movie_id`,
      [user.id],
    );
    expect(history.map((row) => row.movie_id).sort()).toEqual([...differing].sort());
    for (const row of history) expect(row).toMatchObject({ actor_id: admin.id, reason: `rollback since ${since}` });

    // The same events as normal edits, with the admin as actor and the pre-rollback values as previous.
    const events = (await harness.events()).slice(eventsBefore).map((entry) => entry.event);
    expect(events.map((event) => String(movieOf(event))).sort(), `seed ${seed}`).toEqual([...differing].sort());
    for (const event of events) {
      const movie = String(movieOf(event));
      const then = atTByMovie.get(movie);
      const now = nowByMovie.get(movie);
      if (event.type === 'review.deleted') {
        expect(then).toBeUndefined();
        expect(event.payload).toMatchObject({ userId: user.id, actorId: admin.id, previousRating: now!.rating_halves / 2, previousHasComment: now!.comment !== null });
      } else if (event.type === 'review.upserted') {
        expect(event.payload).toMatchObject({
          userId: user.id,
          actorId: admin.id,
          rating: then!.rating_halves / 2,
          hasComment: then!.comment !== null,
          previousRating: now ? now.rating_halves / 2 : null,
          previousHasComment: now ? now.comment !== null : null,
        });
      } else {
        throw new Error(`unexpected event ${event.type}`);
      }
    }

    // Idempotent: the earliest history row at/after T is still the same, so nothing changes.
    const again = await harness.graphql<{ rollbackRatings: number }>(rollbackMutation, { userId: user.id, since }, { token: admin.token });
    expect(again.data?.rollbackRatings).toBe(0);
    expect(await reviewsOf(user.id)).toEqual(atT);
  });

  it('deletes a review created after T and re-creates one deleted after T', async () => {
    const user = await harness.newUser();
    const admin = await harness.newUser('ADMIN');
    const [kept, created] = [newMovieId(), newMovieId()];
    await harness.graphql(rateMutation, { movieId: kept, rating: 4.5, comment: 'Before T' }, { token: user.token });
    const since = await instantBetweenPhases();
    await harness.graphql(deleteMutation, { movieId: kept }, { token: user.token });
    await harness.graphql(rateMutation, { movieId: created, rating: 1 }, { token: user.token });
    const result = await harness.graphql<{ rollbackRatings: number }>(rollbackMutation, { userId: user.id, since }, { token: admin.token });
    expect(result.data?.rollbackRatings).toBe(2);
    expect(await reviewsOf(user.id)).toEqual([{ movie_id: kept, rating_halves: 9, comment: 'Before T' }]);
    await statsMatchRecount([kept, created]);
  });

  it('refuses a non-admin (FORBIDDEN) and bad input (BAD_USER_INPUT naming the field), writing nothing', async () => {
    const user = await harness.newUser();
    const movie = newMovieId();
    await harness.graphql(rateMutation, { movieId: movie, rating: 3 }, { token: user.token });
    const since = await instantBetweenPhases();
    await harness.graphql(rateMutation, { movieId: movie, rating: 5 }, { token: user.token });
    const counts = () =>
      harness.rows<{ history: number; outbox: number }>(
        `SELECT (SELECT count(*)::int FROM reviews.review_history) AS history, (SELECT count(*)::int FROM reviews.outbox) AS outbox`,
      );
    const before = await counts();

    const self = await harness.graphql(rollbackMutation, { userId: user.id, since }, { token: user.token });
    expect(self.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const anonymous = await harness.graphql(rollbackMutation, { userId: user.id, since });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    const admin = await harness.newUser('ADMIN');
    const badUser = await harness.graphql(rollbackMutation, { userId: 'not-a-uuid', since }, { token: admin.token });
    expect(badUser.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'userId' });
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const badSince = await harness.graphql(rollbackMutation, { userId: user.id, since: future }, { token: admin.token });
    expect(badSince.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'since' });
    expect(badSince.errors?.[0]?.message).toMatch(/^since: .*future/);
    const notADate = await harness.graphql(rollbackMutation, { userId: user.id, since: 'yesterday' }, { token: admin.token });
    expect(notADate.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    expect(await counts()).toEqual(before);
    expect(await reviewsOf(user.id)).toEqual([{ movie_id: movie, rating_halves: 10, comment: null }]);
  });
});
