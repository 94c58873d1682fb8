import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, createLogger } from '@platform/shared';
import { knownMoviesConsumerGroup, startKnownMoviesConsumer } from '../../src/known-movies.ts';
import { newMovieId, startReviewsHarness, unknownMovieId, type ReviewsHarness, type TestUser } from './harness.ts';

// Writes are accepted only for movies in reviews.known_movies, which the subgraph's consumer of
// the movies stream fills from movie.created (the harness's own movies stream stands in for the
// movies subgraph's relay). An unknown movie is NOT_FOUND naming movieId, with nothing written
// and no event; the consumer applies each movie once and acknowledges only after its write.

let harness: ReviewsHarness;

beforeAll(async () => {
  harness = await startReviewsHarness('reviews_known_movies_it');
});

afterAll(async () => {
  await harness?.stop();
});

const rateMutation = 'mutation($m: ID!) { rateMovie(movieId: $m, rating: 4, comment: "Seen it") { id rating } }';
const reactMutation = 'mutation($m: ID!) { reactToMovie(movieId: $m, reaction: LIKE) { id likeCount } }';
const excludeMutation = 'mutation($m: ID!) { excludeFromRecommendations(movieId: $m) }';

/** Everything a write of the subgraph could leave behind, counted. */
async function footprint(): Promise<Record<string, number>> {
  const [row] = await harness.rows<Record<string, string>>(`
    SELECT (SELECT count(*) FROM reviews.reviews) AS reviews, (SELECT count(*) FROM reviews.review_history) AS history,
           (SELECT count(*) FROM reviews.reactions) AS reactions, (SELECT count(*) FROM reviews.exclusions) AS exclusions,
           (SELECT count(*) FROM reviews.movie_stats) AS stats, (SELECT count(*) FROM reviews.outbox) AS outbox`);
  return Object.fromEntries(Object.entries(row ?? {}).map(([key, value]) => [key, Number(value)]));
}

/** Polls until `check` holds; a bounded wait for the consumer, never a timing assertion. */
async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const knownRow = async (movieId: string) =>
  (await harness.rows<{ created_at: Date }>('SELECT created_at FROM reviews.known_movies WHERE movie_id = $1', [movieId]))[0] ?? null;

const pendingOf = async (stream: string, group = knownMoviesConsumerGroup): Promise<number> => {
  const [count] = (await harness.redis.xpending(stream, group)) as [number, ...unknown[]];
  return Number(count);
};

describe('writes for unknown movies', () => {
  it.each([
    ['rateMovie', rateMutation],
    ['reactToMovie', reactMutation],
    ['excludeFromRecommendations', excludeMutation],
  ])('%s of a movie the catalogue does not have is NOT_FOUND naming movieId, and writes nothing', async (field, mutation) => {
    const user: TestUser = await harness.newUser();
    const movieId = unknownMovieId();
    const before = await footprint();
    const eventsBefore = (await harness.events()).length;

    const result = await harness.graphql(mutation, { m: movieId }, { token: user.token });

    expect(result.data).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors?.[0]).toMatchObject({
      path: [field],
      message: expect.stringMatching(new RegExp(`^No movie with id "${movieId}"; check movieId\\. .*retry`)),
      extensions: { code: 'NOT_FOUND', field: 'movieId', movieId },
    });
    expect(await footprint()).toEqual(before);
    expect(await harness.events()).toHaveLength(eventsBefore);
  });

  it('removals of an unknown movie stay harmless no-ops (they can only touch rows that passed the check)', async () => {
    const user = await harness.newUser();
    const movieId = unknownMovieId();
    const before = await footprint();
    for (const mutation of ['mutation($m: ID!) { clearReaction(movieId: $m) { id } }', 'mutation($m: ID!) { includeInRecommendations(movieId: $m) }']) {
      expect((await harness.graphql(mutation, { m: movieId }, { token: user.token })).errors).toBeUndefined();
    }
    const deleted = await harness.graphql('mutation($m: ID!) { deleteReview(movieId: $m) }', { m: movieId }, { token: user.token });
    expect(deleted.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
    expect(await footprint()).toEqual(before);
  });

  it('a known movie is accepted by every write', async () => {
    const user = await harness.newUser();
    const movieId = newMovieId();
    for (const mutation of [rateMutation, reactMutation, excludeMutation]) {
      expect((await harness.graphql(mutation, { m: movieId }, { token: user.token })).errors).toBeUndefined();
    }
  });
});

describe('the consumer of the movies stream', () => {
  it('makes a new movie known after its movie.created, which a rating sent too early is told to retry for', async () => {
    const user = await harness.newUser();
    const movieId = unknownMovieId();
    // The race: the catalogue committed the movie, but its event has not reached this subgraph.
    const early = await harness.graphql(rateMutation, { m: movieId }, { token: user.token });
    expect(early.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'movieId' });
    expect(early.errors?.[0]?.message).toMatch(/retry in a moment/);

    const createdAt = new Date('2026-03-04T05:06:07.891Z');
    await harness.announceMovie(movieId, createdAt);
    await eventually(`movie ${movieId} is known`, async () => (await knownRow(movieId)) !== null);

    expect(await knownRow(movieId)).toEqual({ created_at: createdAt });
    const retried = await harness.graphql<{ rateMovie: { rating: number } }>(rateMutation, { m: movieId }, { token: user.token });
    expect(retried.errors).toBeUndefined();
    expect(retried.data?.rateMovie.rating).toBe(4);
    // acknowledged once written: nothing of the group's stays pending
    await eventually('the entry is acknowledged', async () => (await pendingOf(harness.movieStream)) === 0);
  });

  it('applies a movie once, however often it is announced, and acknowledges events it does not use', async () => {
    const movieId = unknownMovieId();
    const first = new Date('2026-01-01T00:00:00.000Z');
    await harness.announceMovie(movieId, first);
    await harness.announceMovie(movieId, new Date('2026-02-01T00:00:00.000Z'));
    const updated = createEvent('movies', 'movie.updated', {
      movieId: Number(movieId), title: 'Renamed', year: 2002, genres: [], languages: [], personIds: [], at: '2026-03-01T00:00:00.000Z',
    });
    await harness.redis.xadd(harness.movieStream, '*', 'event', JSON.stringify(updated));
    // an event of another type, as a stream shared with other producers could carry
    const other = createEvent('users', 'user.registered', { userId: randomUUID(), username: 'someone', at: first.toISOString() });
    await harness.redis.xadd(harness.movieStream, '*', 'event', JSON.stringify(other));
    const lastId = await harness.redis.xadd(harness.movieStream, '*', 'event', JSON.stringify(createEvent('movies', 'movie.created', {
      movieId: Number(newMovieId()), title: 'Marker', year: null, genres: [], languages: [], personIds: [], at: first.toISOString(),
    })));

    // Every entry up to the marker delivered and acknowledged.
    await eventually('the group has read every entry', async () => {
      const groups = (await harness.redis.xinfo('GROUPS', harness.movieStream)) as (string | number)[][];
      const mine = groups.find((fields) => fields[fields.indexOf('name') + 1] === knownMoviesConsumerGroup);
      return mine !== undefined && mine[mine.indexOf('last-delivered-id') + 1] === lastId && (await pendingOf(harness.movieStream)) === 0;
    });
    expect(await harness.rows('SELECT movie_id::text AS movie_id, created_at FROM reviews.known_movies WHERE movie_id = $1', [movieId])).toEqual([
      { movie_id: movieId, created_at: first },
    ]);
  });

  it('rebuilds from the first entry of the stream when its group is new, and leaves an entry pending until its write commits', async () => {
    const stream = `test:movies-events:replay:${randomUUID()}`;
    const logger = createLogger('reviews-test', { level: 'error' });
    const [early, late] = [unknownMovieId(), unknownMovieId()];
    try {
      // Published before any consumer exists (e.g. a fresh known_movies against an old stream).
      await harness.redis.xadd(stream, '*', 'event', JSON.stringify(createEvent('movies', 'movie.created', {
        movieId: Number(early), title: 'Early', year: 1999, genres: [], languages: [], personIds: [], at: new Date().toISOString(),
      })));

      // A consumer whose database does not exist: its write fails, so the entry is not acknowledged.
      const missingDatabase = new URL(harness.databaseUrl);
      missingDatabase.pathname = `/no_such_database_${randomUUID().slice(0, 8)}`;
      const broken = await startKnownMoviesConsumer({ databaseUrl: missingDatabase.toString(), redis: harness.redis, stream, logger });
      try {
        // Delivered again after the failed write: it was never acknowledged.
        await eventually('the failed entry is delivered a second time', async () => {
          const [entry] = (await harness.redis.xpending(stream, knownMoviesConsumerGroup, '-', '+', 1)) as [string, string, number, number][];
          return (entry?.[3] ?? 0) >= 2;
        });
      } finally {
        await broken.stop();
      }
      expect(await knownRow(early)).toBeNull();

      // The same consumer (same name) started against the right database takes its pending entry first.
      const working = await startKnownMoviesConsumer({ databaseUrl: harness.databaseUrl, redis: harness.redis, stream, logger });
      try {
        await harness.redis.xadd(stream, '*', 'event', JSON.stringify(createEvent('movies', 'movie.created', {
          movieId: Number(late), title: 'Late', year: 2020, genres: [], languages: [], personIds: [], at: new Date().toISOString(),
        })));
        await eventually('both movies are known', async () => (await knownRow(early)) !== null && (await knownRow(late)) !== null);
        await eventually('nothing is pending', async () => (await pendingOf(stream)) === 0);
      } finally {
        await working.stop();
      }
    } finally {
      await harness.redis.del(stream, `${stream}:dead`);
    }
  });
});
