import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger, type RunningServer } from '@platform/shared';
import { closedPort, createTestTokens, graphqlClient, type GraphQLTestClient, type TestTokens } from '@platform/shared/testing';
import { upsertGraphMovies, upsertGraphRatings } from '../../src/graph.ts';
import { startRecommendationsSubgraph } from '../../src/index.ts';
import { startTestGraph, subgraphEnv, uniqueIds, type TestGraph } from '../helpers/test-graph.ts';

const quietLogger = createLogger('recommendations-test', { sink: () => {} });

const recommendationsQuery = `query($first: Int) {
  recommendations(first: $first) { movie { id } score because { id } source }
}`;
const similarQuery = `query($representations: [_Any!]!, $first: Int) {
  _entities(representations: $representations) {
    ... on Movie { id similarMovies(first: $first) { movie { id } score because { id } source } }
  }
}`;

const redisUrl = inject('services').redisUrl;

/** Streams of this test only: the real events:* streams are shared by every suite. */
function testStreams(): string[] {
  const tag = randomUUID();
  return ['reviews', 'movies', 'users'].map((producer) => `test:recommendations:${tag}:${producer}`);
}

async function deleteStreams(streams: string[]): Promise<void> {
  const redis = new Redis(redisUrl);
  await redis.del(...streams, ...streams.map((stream) => `${stream}:dead`));
  redis.disconnect();
}

const lagQuery = `{ recommendationEventLag { stream pending undelivered unacknowledged } }`;

interface RecommendationJson {
  movie: { id: string };
  score: number;
  because: { id: string }[];
  source: string;
}

describe('recommendations subgraph over HTTP', () => {
  let graph: TestGraph;
  let server: RunningServer;
  let tokens: TestTokens;
  let graphql: GraphQLTestClient;
  const ids = uniqueIds();
  const streams = testStreams();

  beforeAll(async () => {
    graph = await startTestGraph();
    tokens = await createTestTokens();
    server = await startRecommendationsSubgraph(
      subgraphEnv(graph.settings, redisUrl),
      { verifier: tokens.verifier, logger: quietLogger, events: { streams } },
    );
    graphql = graphqlClient(server.url);

    await upsertGraphMovies(graph.driver, [1, 2, 3].map((n) => ({ id: ids.movie(n), title: `Movie ${n}`, year: 2000, genres: [ids.genre('g')] })));
    await upsertGraphRatings(graph.driver, [
      { userId: ids.user('fan'), movieId: ids.movie(1), rating: 5, at: 1 },
      { userId: ids.user('fan'), movieId: ids.movie(2), rating: 5, at: 2 },
      { userId: ids.user('viewer'), movieId: ids.movie(1), rating: 4.5, at: 3 },
    ]);
  });

  afterAll(async () => {
    await server?.stop();
    await graph?.stop();
    await deleteStreams(streams);
  });

  it('recommends to the signed-in user, with the reason, never a movie they rated', async () => {
    const token = await tokens.sign(ids.user('viewer'));
    const result = await graphql<{ recommendations: RecommendationJson[] }>(recommendationsQuery, { first: 5 }, { token });
    expect(result.errors).toBeUndefined();
    const recommendations = result.data?.recommendations ?? [];
    expect(recommendations[0]).toMatchObject({ movie: { id: String(ids.movie(2)) }, because: [{ id: String(ids.movie(1)) }], source: 'COLLABORATIVE' });
    expect(recommendations.map((item) => item.movie.id)).not.toContain(String(ids.movie(1)));
  });

  it('asks anonymous callers to sign in', async () => {
    const result = await graphql(recommendationsQuery, {});
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it.each([0, 101])('rejects first: %s as BAD_USER_INPUT naming the argument', async (first) => {
    const token = await tokens.sign(ids.user('viewer'));
    const result = await graphql(recommendationsQuery, { first }, { token });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
    expect(result.errors?.[0]?.message).toMatch(/^first: must be between 1 and 100/);
  });

  it('resolves Movie.similarMovies for entity references, [] for ids that cannot name a movie', async () => {
    const result = await graphql<{ _entities: { id: string; similarMovies: RecommendationJson[] }[] }>(similarQuery, {
      representations: [
        { __typename: 'Movie', id: String(ids.movie(2)) },
        { __typename: 'Movie', id: 'not-a-number' },
      ],
      first: 1,
    });
    expect(result.errors).toBeUndefined();
    expect(result.data?._entities).toEqual([
      { id: String(ids.movie(2)), similarMovies: [{ movie: { id: String(ids.movie(1)) }, score: expect.any(Number), because: [], source: 'COLLABORATIVE' }] },
      { id: 'not-a-number', similarMovies: [] },
    ]);
  });

  it('shows admins how far the graph is behind each event stream, and nobody else', async () => {
    const admin = await tokens.sign(ids.user('admin'), { role: 'ADMIN' });
    const result = await graphql<{ recommendationEventLag: unknown[] }>(lagQuery, {}, { token: admin });
    expect(result.errors).toBeUndefined();
    expect(result.data?.recommendationEventLag).toEqual(streams.map((stream) => ({ stream, pending: 0, undelivered: 0, unacknowledged: 0 })));

    const user = await tokens.sign(ids.user('viewer'));
    expect((await graphql(lagQuery, {}, { token: user })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await graphql(lagQuery, {})).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('is ready', async () => {
    const response = await fetch(server.url.replace(/\/graphql$/, '/ready'));
    expect(response.status).toBe(200);
  });

  it('refuses to start with a password Neo4j rejects, naming the variables to check', async () => {
    const starting = startRecommendationsSubgraph(
      { NEO4J_URI: graph.settings.uri, NEO4J_PASSWORD: 'wrong-password', REDIS_URL: redisUrl, PORT: '0' },
      { verifier: tokens.verifier, logger: quietLogger, events: { streams } },
    );
    await expect(starting).rejects.toMatchObject({ name: 'ConfigError', variable: 'NEO4J_PASSWORD' });
    await expect(starting).rejects.toThrow(/NEO4J_USER "neo4j"\) was rejected by Neo4j/);
  });

  it('refuses to start when REDIS_URL does not answer, naming the variable', async () => {
    const starting = startRecommendationsSubgraph(
      subgraphEnv(graph.settings, `redis://127.0.0.1:${await closedPort()}`),
      { verifier: tokens.verifier, logger: quietLogger, events: { streams } },
    );
    await expect(starting).rejects.toMatchObject({ name: 'ConfigError', variable: 'REDIS_URL', message: expect.stringMatching(/^REDIS_URL does not answer .*start Redis there or fix the URL$/) });
  });
});

describe('recommendations subgraph without Neo4j', () => {
  let server: RunningServer;
  let tokens: TestTokens;
  let graphql: GraphQLTestClient;
  const streams = testStreams();

  beforeAll(async () => {
    tokens = await createTestTokens();
    server = await startRecommendationsSubgraph(
      { NEO4J_URI: `bolt://127.0.0.1:${await closedPort()}`, NEO4J_PASSWORD: 'irrelevant-password', REDIS_URL: redisUrl, PORT: '0' },
      { verifier: tokens.verifier, logger: quietLogger, events: { streams } },
    );
    graphql = graphqlClient(server.url);
  });

  afterAll(async () => {
    await server?.stop();
    await deleteStreams(streams);
  });

  it('still starts, and answers SERVICE_UNAVAILABLE with a clear message instead of a masked 500', async () => {
    const token = await tokens.sign('c0ffee00-0000-4000-8000-000000000002');
    const recommendations = await graphql(recommendationsQuery, { first: 3 }, { token });
    const similar = await graphql(similarQuery, { representations: [{ __typename: 'Movie', id: '1' }] });
    for (const result of [recommendations, similar]) {
      expect(result.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
      expect(result.errors?.[0]?.message).toBe('The recommendation graph (Neo4j) is unavailable right now; retry in a few seconds');
    }
  });

  it('reports not ready', async () => {
    const response = await fetch(server.url.replace(/\/graphql$/, '/ready'));
    expect(response.status).toBe(503);
  });
});
