import { describe, expect, it } from 'vitest';
import { GraphQLError } from 'graphql';
import { createLogger, type Viewer } from '@platform/shared';
import { createRecommendationLoaders } from '../../src/loaders.ts';
import type { StreamLag } from '../../src/event-consumer.ts';
import type { RecommendedMovie, Recommender } from '../../src/recommender.ts';
import { resolvers, type RecommendationsContext } from '../../src/resolvers.ts';

// A recording stand-in for the recommendation engine (not for the database): these tests are
// about argument handling, auth and batching in the GraphQL layer.
function recordingRecommender() {
  const calls: { similar: { movieIds: number[]; limit: number }[]; forUser: { userId: string; limit: number }[] } = { similar: [], forUser: [] };
  const recommender: Recommender = {
    async similarMovies(movieIds, limit) {
      calls.similar.push({ movieIds: [...movieIds], limit });
      return new Map(movieIds.map((id): [number, RecommendedMovie[]] => [id, [{ movieId: id + 1, score: 0.5, because: [], source: 'COLLABORATIVE' }]]));
    },
    async forUser(userId, limit) {
      calls.forUser.push({ userId, limit });
      return [{ movieId: 7, score: 1.5, because: [3, 4], source: 'COLLABORATIVE' }];
    },
  };
  return { recommender, calls };
}

const sampleLag: StreamLag[] = [{ stream: 'events:reviews', pending: 3, undelivered: 1, unacknowledged: 2 }];

function contextFor(recommender: Recommender, viewer: Viewer | null, eventLag: () => Promise<StreamLag[]> = async () => sampleLag): RecommendationsContext {
  return {
    viewer,
    requestId: 'test-request',
    clientAddress: '127.0.0.1',
    logger: createLogger('test', { sink: () => {} }),
    recommender,
    loaders: createRecommendationLoaders(recommender),
    eventLag,
  };
}

const viewer: Viewer = { id: 'c0ffee00-0000-4000-8000-000000000001', role: 'USER', expiresAt: Date.now() / 1000 + 60 };

async function errorOf(promise: Promise<unknown>): Promise<GraphQLError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof GraphQLError)) throw new Error(`expected a GraphQLError, got ${String(error)}`);
  return error;
}

describe('Query.recommendations', () => {
  it('needs a signed-in user', async () => {
    const { recommender } = recordingRecommender();
    const error = await errorOf(resolvers.Query.recommendations(undefined, {}, contextFor(recommender, null)));
    expect(error.extensions.code).toBe('UNAUTHENTICATED');
  });

  it('asks for 20 by default and maps movies and reasons to Movie references', async () => {
    const { recommender, calls } = recordingRecommender();
    const result = await resolvers.Query.recommendations(undefined, {}, contextFor(recommender, viewer));
    expect(calls.forUser).toEqual([{ userId: viewer.id, limit: 20 }]);
    expect(result).toEqual([
      {
        movie: { __typename: 'Movie', id: '7' },
        score: 1.5,
        because: [
          { __typename: 'Movie', id: '3' },
          { __typename: 'Movie', id: '4' },
        ],
        source: 'COLLABORATIVE',
      },
    ]);
  });

  it.each([0, -1, 101, 2.5])('rejects first: %s naming the argument', async (first) => {
    const { recommender, calls } = recordingRecommender();
    const error = await errorOf(resolvers.Query.recommendations(undefined, { first }, contextFor(recommender, viewer)));
    expect(error.extensions.code).toBe('BAD_USER_INPUT');
    expect(error.extensions.field).toBe('first');
    expect(error.message).toMatch(/^first: must be between 1 and 100/);
    expect(calls.forUser).toEqual([]);
  });
});

describe('Movie.similarMovies', () => {
  it('batches the movies of one request into one recommender call per page size', async () => {
    const { recommender, calls } = recordingRecommender();
    const context = contextFor(recommender, null);
    const results = await Promise.all([
      resolvers.Movie.similarMovies({ id: '1' }, {}, context),
      resolvers.Movie.similarMovies({ id: '2' }, {}, context),
      resolvers.Movie.similarMovies({ id: '2' }, {}, context),
      resolvers.Movie.similarMovies({ id: '3' }, { first: 3 }, context),
    ]);
    expect(calls.similar).toEqual([
      { movieIds: [1, 2], limit: 10 },
      { movieIds: [3], limit: 3 },
    ]);
    expect(results[0]?.[0]?.movie).toEqual({ __typename: 'Movie', id: '2' });
    expect(results[3]?.[0]?.movie).toEqual({ __typename: 'Movie', id: '4' });
  });

  it('has no similar movies for an id that cannot name a movie', async () => {
    const { recommender, calls } = recordingRecommender();
    expect(await resolvers.Movie.similarMovies({ id: 'tt0113277' }, {}, contextFor(recommender, null))).toEqual([]);
    expect(calls.similar).toEqual([]);
  });

  it('validates first even so', async () => {
    const { recommender } = recordingRecommender();
    const error = await errorOf(resolvers.Movie.similarMovies({ id: 'x' }, { first: 500 }, contextFor(recommender, null)));
    expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  });
});

describe('Query.recommendationEventLag', () => {
  // @admin is enforced by the schema directive (covered over HTTP in the integration tests).
  it("returns the consumer's lag per stream", async () => {
    const { recommender } = recordingRecommender();
    expect(await resolvers.Query.recommendationEventLag(undefined, {}, contextFor(recommender, viewer))).toEqual(sampleLag);
  });

  it('answers SERVICE_UNAVAILABLE when Redis cannot be asked', async () => {
    const { recommender } = recordingRecommender();
    const failing = async (): Promise<StreamLag[]> => {
      throw new Error('Connection is closed.');
    };
    const error = await errorOf(resolvers.Query.recommendationEventLag(undefined, {}, contextFor(recommender, viewer, failing)));
    expect(error.extensions.code).toBe('SERVICE_UNAVAILABLE');
    expect(error.message).toBe('The event stream service (Redis) is unavailable right now; retry in a few seconds');
  });
});
