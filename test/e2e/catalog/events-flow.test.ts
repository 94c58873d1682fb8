import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { parseEvent, streamOf, type AnyEvent } from '@platform/shared';
import { startTestEnvironment, type TestEnvironment } from '../../helpers/test-environment.ts';

// The catalogue's events across processes, through the gateway: an account's user.registered and
// user.profile-updated reach the users stream once each; a movie an admin adds becomes rateable
// once its movie.created has reached the reviews subgraph (a rating sent before that is told to
// retry), and a movie id the catalogue never had is refused.

describe('catalogue events through the whole stack', () => {
  let env: TestEnvironment;
  let redis: Redis;
  let admin: { id: string; username: string; token: string };

  beforeAll(async () => {
    env = await startTestEnvironment();
    redis = new Redis(inject('services').redisUrl);
    const user = await env.signUp('admin');
    admin = { ...user, token: await env.promote(user.username) };
  });

  afterAll(async () => {
    redis?.disconnect();
    await env?.stop();
  });

  /** Polls until `attempt` returns a value; a bounded wait for asynchronous delivery, never a timing assertion. */
  async function eventually<T>(what: string, attempt: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const value = await attempt();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`gave up waiting until ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  const usersEventsOf = async (userId: string): Promise<AnyEvent[]> =>
    (await redis.xrange(streamOf('users', env.eventStreamPrefix), '-', '+'))
      .map(([, fields]) => parseEvent(fields[fields.indexOf('event') + 1] ?? ''))
      .filter((event) => 'userId' in event.payload && event.payload.userId === userId);

  it('publishes user.registered once per sign-up and user.profile-updated when the genres change', async () => {
    const user = await env.signUp('events');
    const updated = await env.graphql('mutation { updateProfile(favoriteGenres: ["Comedy", "drama"]) { id } }', {}, user.token);
    expect(updated.errors).toBeUndefined();

    const events = await eventually('both events are on the users stream', async () => {
      const found = await usersEventsOf(user.id);
      return found.length >= 2 ? found : undefined;
    });
    expect(events.map((event) => event.type)).toEqual(['user.registered', 'user.profile-updated']);
    expect(events[0]!.payload).toMatchObject({ userId: user.id, username: user.username });
    expect(events[1]!.payload).toMatchObject({ userId: user.id, favoriteGenres: ['Comedy', 'Drama'] });
  });

  it('accepts ratings of a movie an admin just added once movie.created has reached the reviews subgraph', async () => {
    const added = await env.graphql<{ addMovie: { id: string } }>(
      'mutation { addMovie(input: { title: "Freshly Added", year: 2024, genres: ["Drama"] }) { id } }',
      {},
      admin.token,
    );
    expect(added.errors).toBeUndefined();
    const movieId = added.data!.addMovie.id;
    const rater = await env.signUp('rater');

    // Sent at once, the rating may beat the event: then it is NOT_FOUND naming movieId with a
    // retry hint, never anything else, and a retry succeeds.
    const rating = await eventually('the new movie is rateable', async () => {
      const result = await env.graphql<{ rateMovie: { rating: number; movie: { title: string } } }>(
        'mutation($m: ID!) { rateMovie(movieId: $m, rating: 4.5) { rating movie { title } } }',
        { m: movieId },
        rater.token,
      );
      if (result.data?.rateMovie) return result.data.rateMovie;
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'movieId' });
      expect(result.errors?.[0]?.message).toMatch(/retry in a moment/);
      return undefined;
    });
    expect(rating).toEqual({ rating: 4.5, movie: { title: 'Freshly Added' } });
  });

  it('refuses a movie id the catalogue never had, writing nothing', async () => {
    const user = await env.signUp('stranger');
    const before = await env.sql<{ n: string }>('SELECT count(*) AS n FROM reviews.outbox');
    for (const mutation of [
      'mutation { rateMovie(movieId: "987654321987", rating: 3) { id } }',
      'mutation { reactToMovie(movieId: "987654321987", reaction: LIKE) { id } }',
      'mutation { excludeFromRecommendations(movieId: "987654321987") }',
    ]) {
      const result = await env.graphql(mutation, {}, user.token);
      expect(result.errors?.[0]?.message).toMatch(/^No movie with id "987654321987"; check movieId/);
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'movieId' });
    }
    expect(await env.sql<{ n: string }>('SELECT count(*) AS n FROM reviews.outbox')).toEqual(before);
    expect(await env.sql('SELECT 1 FROM reviews.movie_stats WHERE movie_id = 987654321987')).toEqual([]);
  });
});
