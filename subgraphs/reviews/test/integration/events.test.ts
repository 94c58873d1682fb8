import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyEvent } from '@platform/shared';
import { newMovieId, reviewsUserOf, startReviewsHarness, type ReviewsHarness, type TestUser } from './harness.ts';

// The transactional outbox of the reviews subgraph on real PostgreSQL and Redis: every write
// appends its event in its own transaction, the relay copies them to the stream in commit order,
// writes that change nothing emit nothing, and a write that rolls back leaves no outbox row.

let harness: ReviewsHarness;

beforeAll(async () => {
  harness = await startReviewsHarness('reviews_events_it');
});

afterAll(async () => {
  await harness?.stop();
});

const rateMutation = `mutation($movieId: ID!, $rating: Float!, $comment: String) { rateMovie(movieId: $movieId, rating: $rating, comment: $comment) { updatedAt } }`;
const deleteMutation = `mutation($movieId: ID!) { deleteReview(movieId: $movieId) }`;
const reactMutation = `mutation($movieId: ID!, $reaction: Reaction!) { reactToMovie(movieId: $movieId, reaction: $reaction) { id } }`;
const clearMutation = `mutation($movieId: ID!) { clearReaction(movieId: $movieId) { id } }`;
const excludeMutation = `mutation($movieId: ID!) { excludeFromRecommendations(movieId: $movieId) }`;
const includeMutation = `mutation($movieId: ID!) { includeInRecommendations(movieId: $movieId) }`;

async function succeed<T>(query: string, variables: Record<string, unknown>, user: TestUser): Promise<T> {
  const result = await harness.graphql<T>(query, variables, { token: user.token });
  expect(result.errors).toBeUndefined();
  return result.data!;
}

/** The events about one user, in stream order, with the fields a test compares. */
async function eventsOf(userId: string): Promise<AnyEvent[]> {
  return (await harness.events()).map((entry) => entry.event).filter((event) => reviewsUserOf(event) === userId);
}

describe('events of review writes', () => {
  it('a sequence of writes produces exactly its events, in order, with the previous values', async () => {
    const user = await harness.newUser();
    const movie = newMovieId();
    const other = newMovieId();
    const movieId = Number(movie);
    const otherId = Number(other);

    const first = await succeed<{ rateMovie: { updatedAt: string } }>(rateMutation, { movieId: movie, rating: 3.5 }, user);
    const second = await succeed<{ rateMovie: { updatedAt: string } }>(rateMutation, { movieId: movie, rating: 4, comment: 'Better the second time' }, user);
    await succeed(reactMutation, { movieId: movie, reaction: 'LIKE' }, user);
    await succeed(reactMutation, { movieId: movie, reaction: 'LIKE' }, user); // no change: no event
    await succeed(reactMutation, { movieId: movie, reaction: 'DISLIKE' }, user);
    await succeed(clearMutation, { movieId: movie }, user);
    await succeed(clearMutation, { movieId: movie }, user); // nothing to clear: no event
    await succeed(excludeMutation, { movieId: other }, user);
    await succeed(excludeMutation, { movieId: other }, user); // already excluded: no event
    await succeed(includeMutation, { movieId: other }, user);
    await succeed(includeMutation, { movieId: other }, user); // not excluded: no event
    await succeed(deleteMutation, { movieId: movie }, user);

    const events = await eventsOf(user.id);
    expect(events.map((event) => event.type)).toEqual([
      'review.upserted',
      'review.upserted',
      'reaction.set',
      'reaction.set',
      'reaction.cleared',
      'exclusion.set',
      'exclusion.cleared',
      'review.deleted',
    ]);
    // `at` is compared separately: it is the row's time, which the test knows only for reviews.
    const payloads = events.map((event) => {
      const { at: _at, ...rest } = event.payload;
      return rest;
    });
    expect(payloads).toEqual([
      { userId: user.id, movieId, rating: 3.5, hasComment: false, previousRating: null, previousHasComment: null, actorId: user.id },
      { userId: user.id, movieId, rating: 4, hasComment: true, previousRating: 3.5, previousHasComment: false, actorId: user.id },
      { userId: user.id, movieId, reaction: 'LIKE', previousReaction: null },
      { userId: user.id, movieId, reaction: 'DISLIKE', previousReaction: 'LIKE' },
      { userId: user.id, movieId, previousReaction: 'DISLIKE' },
      { userId: user.id, movieId: otherId },
      { userId: user.id, movieId: otherId },
      { userId: user.id, movieId, previousRating: 4, previousHasComment: true, actorId: user.id },
    ]);
    expect(events[0]?.payload.at).toBe(first.rateMovie.updatedAt);
    expect(events[1]?.payload.at).toBe(second.rateMovie.updatedAt);
    for (const event of events) {
      expect(event).toMatchObject({ producer: 'reviews', version: 1 });
      expect(Number.isNaN(Date.parse(event.payload.at))).toBe(false);
    }
    expect(new Set(events.map((event) => event.id)).size).toBe(events.length);

    // The outbox holds the same events, each marked published, in the same order.
    const outboxRows = await harness.rows<{ event_id: string; published: boolean }>(
      `SELECT event_id, published_at IS NOT NULL AS published FROM reviews.outbox WHERE envelope->'payload'->>'userId' = $1 ORDER BY id`,
      [user.id],
    );
    expect(outboxRows.map((row) => row.event_id)).toEqual(events.map((event) => event.id));
    expect(outboxRows.every((row) => row.published)).toBe(true);
  });

  // Outbox ids are drawn when a row is inserted, not when its transaction commits, so across
  // concurrent writers the stream may not follow id order; what must hold is that every event
  // arrives exactly once and each user's events arrive in the order that user made them.
  it('concurrent writers: every event on the stream exactly once, each user\'s in order', async () => {
    const users = await Promise.all([1, 2, 3, 4].map(() => harness.newUser()));
    await Promise.all(
      users.map(async (user) => {
        for (let index = 0; index < 5; index += 1) await succeed(rateMutation, { movieId: newMovieId(), rating: 1 + index / 2 }, user);
      }),
    );
    const ids = new Set(users.map((user) => user.id));
    const streamed = (await harness.events()).filter((entry) => ids.has(reviewsUserOf(entry.event) ?? ''));
    const outboxOrder = await harness.rows<{ event_id: string }>(
      `SELECT event_id FROM reviews.outbox WHERE envelope->'payload'->>'userId' = ANY($1::text[]) ORDER BY id`,
      [[...ids]],
    );
    expect(streamed.map((entry) => entry.event.id).sort()).toEqual(outboxOrder.map((row) => row.event_id).sort());
    expect(new Set(streamed.map((entry) => entry.event.id)).size).toBe(streamed.length);
    // Per user, the ratings arrive in the order the user made them.
    for (const user of users) {
      const ratings = streamed.filter((entry) => reviewsUserOf(entry.event) === user.id).map((entry) => (entry.event.type === 'review.upserted' ? entry.event.payload.rating : null));
      expect(ratings).toEqual([1, 1.5, 2, 2.5, 3]);
    }
  });

  it('a write that rolls back (a constraint fails after its event was appended) leaves no outbox row', async () => {
    const user = await harness.newUser();
    const movie = newMovieId();
    // movie_stats is written last in rateMovie, after the review, its history row and its event:
    // a constraint refusing this movie's stats row makes the whole transaction roll back there.
    await harness.rows(`ALTER TABLE reviews.movie_stats ADD CONSTRAINT events_test_refuses_${movie} CHECK (movie_id <> ${movie})`);
    try {
      const result = await harness.graphql(rateMutation, { movieId: movie, rating: 2 }, { token: user.token });
      expect(result.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      expect(result.errors?.[0]?.message).not.toMatch(/constraint|movie_stats|check|insert/i);
    } finally {
      await harness.rows(`ALTER TABLE reviews.movie_stats DROP CONSTRAINT events_test_refuses_${movie}`);
    }
    const [written] = await harness.rows<{ reviews: number; history: number; outbox: number }>(
      `SELECT (SELECT count(*)::int FROM reviews.reviews WHERE user_id = $1) AS reviews,
              (SELECT count(*)::int FROM reviews.review_history WHERE user_id = $1) AS history,
              (SELECT count(*)::int FROM reviews.outbox WHERE envelope->'payload'->>'userId' = $1::text) AS outbox`,
      [user.id],
    );
    expect(written).toEqual({ reviews: 0, history: 0, outbox: 0 });
    expect(await eventsOf(user.id)).toEqual([]);

    // The same write succeeds once the constraint is gone, with exactly one event.
    await succeed(rateMutation, { movieId: movie, rating: 2 }, user);
    expect((await eventsOf(user.id)).map((event) => event.type)).toEqual(['review.upserted']);
  });
});
