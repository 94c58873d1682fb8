import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger, type Neo4jSettings, type RunningServer } from '@platform/shared';
import { closedPort, createTestTokens, graphqlClient, pollUntil, type GraphQLTestClient, type TestTokens } from '@platform/shared/testing';
import { upsertGraphMovies, upsertGraphRatings } from '../../src/graph.ts';
import { startRecommendationsSubgraph } from '../../src/index.ts';
import { startTestGraph, subgraphEnv, uniqueIds, type TestGraph } from '../helpers/test-graph.ts';

// The admin API of the precomputed model over HTTP: who may use it, a rebuild that returns at once
// and finishes in the background, one build at a time, and Neo4j being down.

const quietLogger = createLogger('model-admin-test', { sink: () => {} });
const redisUrl = inject('services').redisUrl;

const modelFields = 'version active status phase progress startedAt builtAt buildMillis users movies similarityEdges error';
const activeQuery = `{ recommendationModel { ${modelFields} } }`;
const listQuery = `query($first: Int) { recommendationModels(first: $first) { ${modelFields} } }`;
const rebuildMutation = `mutation { rebuildRecommendationModel { ${modelFields} } }`;
const recommendationsQuery = '{ recommendations(first: 5) { movie { id } because { id } source } }';

interface ModelJson {
  version: string;
  active: boolean;
  status: string;
  phase: string;
  progress: number;
  startedAt: string;
  builtAt: string | null;
  buildMillis: number | null;
  users: number;
  movies: number;
  similarityEdges: number;
  error: string | null;
}

function testPrefix(): string {
  return `test:recommendations-model:${randomUUID()}`;
}

async function deleteStreams(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
}

function modelSubgraphEnv(neo4j: Neo4jSettings, prefix: string): Record<string, string> {
  return subgraphEnv(neo4j, redisUrl, {
    EVENT_STREAM_PREFIX: prefix,
    // Builds only when asked, so the test sees the state before the first one.
    RECOMMENDATION_MODEL_REBUILD_MINUTES: '0',
    RECOMMENDATION_CACHE_TTL_SECONDS: '0',
  });
}

describe('recommendation model admin API', () => {
  let graph: TestGraph;
  let server: RunningServer;
  let tokens: TestTokens;
  let graphql: GraphQLTestClient;
  let admin: string;
  const ids = uniqueIds();
  const prefix = testPrefix();
  // Each build waits here before its activation until the test lets it go.
  let release: () => void = () => {};
  let held = Promise.resolve();
  const holdBuilds = () => {
    held = new Promise<void>((resolve) => (release = resolve));
  };
  const letBuildsRun = () => {
    release();
    held = Promise.resolve();
  };

  beforeAll(async () => {
    graph = await startTestGraph();
    tokens = await createTestTokens();
    admin = await tokens.sign(ids.user('admin'), { role: 'ADMIN' });
    server = await startRecommendationsSubgraph(modelSubgraphEnv(graph.settings, prefix), {
      verifier: tokens.verifier,
      logger: quietLogger,
      model: { hooks: { beforeActivate: () => held } },
    });
    graphql = graphqlClient(server.url);
    await upsertGraphMovies(graph.driver, [1, 2, 3].map((n) => ({ id: ids.movie(n), title: `Movie ${n}`, year: 2000, genres: [ids.genre('g')] })));
    await upsertGraphRatings(graph.driver, [
      { userId: ids.user('fan'), movieId: ids.movie(1), rating: 5, at: 1 },
      { userId: ids.user('fan'), movieId: ids.movie(2), rating: 5, at: 2 },
      { userId: ids.user('viewer'), movieId: ids.movie(1), rating: 4.5, at: 3 },
    ]);
  });

  afterAll(async () => {
    release();
    await server?.stop();
    await graph?.stop();
    await deleteStreams(prefix);
  });

  it('is for admins only', async () => {
    const user = await tokens.sign(ids.user('viewer'));
    for (const document of [activeQuery, rebuildMutation, listQuery]) {
      expect((await graphql(document, {}, { token: user })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect((await graphql(document, {})).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
    // Nothing was started by the refused mutations.
    expect((await graphql<{ recommendationModels: ModelJson[] }>(listQuery, {}, { token: admin })).data?.recommendationModels).toEqual([]);
  });

  it('has no model before the first build', async () => {
    const result = await graphql<{ recommendationModel: ModelJson | null }>(activeQuery, {}, { token: admin });
    expect(result.errors).toBeUndefined();
    expect(result.data?.recommendationModel).toBeNull();
  });

  it('rebuilds in the background: BUILDING at once, the same build to a second request, READY and active later', async () => {
    holdBuilds();
    const started = await graphql<{ rebuildRecommendationModel: ModelJson }>(rebuildMutation, {}, { token: admin });
    expect(started.errors).toBeUndefined();
    const building = started.data!.rebuildRecommendationModel;
    expect(building).toMatchObject({ status: 'BUILDING', active: false, builtAt: null, buildMillis: null, error: null });
    expect(building.progress).toBeLessThan(1);
    expect(Date.parse(building.startedAt)).toBeGreaterThan(Date.now() - 60_000);

    const again = await graphql<{ rebuildRecommendationModel: ModelJson }>(rebuildMutation, {}, { token: admin });
    expect(again.data?.rebuildRecommendationModel.version).toBe(building.version);
    const listed = await graphql<{ recommendationModels: ModelJson[] }>(listQuery, { first: 5 }, { token: admin });
    expect(listed.data?.recommendationModels.map((model) => [model.version, model.status])).toEqual([[building.version, 'BUILDING']]);

    release();
    const ready = await pollUntil(async () => {
      const model = (await graphql<{ recommendationModel: ModelJson | null }>(activeQuery, {}, { token: admin })).data?.recommendationModel;
      return model?.version === building.version ? model : null;
    });
    expect(ready).toMatchObject({ version: building.version, active: true, status: 'READY', phase: 'DONE', progress: 1, error: null });
    expect(ready.buildMillis).toBeGreaterThan(0);
    expect(Date.parse(ready.builtAt ?? '')).toBeGreaterThanOrEqual(Date.parse(building.startedAt));
    expect(ready.users).toBeGreaterThanOrEqual(2);
    expect(ready.movies).toBeGreaterThanOrEqual(2);
    expect(ready.similarityEdges).toBeGreaterThan(0);

    // Recommendations now come from the model.
    const token = await tokens.sign(ids.user('viewer'));
    const recommendations = await graphql<{ recommendations: { movie: { id: string }; because: { id: string }[]; source: string }[] }>(recommendationsQuery, {}, { token });
    expect(recommendations.data?.recommendations[0]).toEqual({ movie: { id: String(ids.movie(2)) }, because: [{ id: String(ids.movie(1)) }], source: 'COLLABORATIVE' });
  });

  it('lists recent builds newest first and checks `first`', async () => {
    letBuildsRun();
    const second = (await graphql<{ rebuildRecommendationModel: ModelJson }>(rebuildMutation, {}, { token: admin })).data!.rebuildRecommendationModel;
    await pollUntil(async () => ((await graphql<{ recommendationModel: ModelJson }>(activeQuery, {}, { token: admin })).data?.recommendationModel.version === second.version ? true : null));
    const listed = (await graphql<{ recommendationModels: ModelJson[] }>(listQuery, { first: 10 }, { token: admin })).data?.recommendationModels ?? [];
    expect(listed.map((model) => [model.version === second.version, model.active, model.status])).toEqual([
      [true, true, 'READY'],
      [false, false, 'READY'],
    ]);
    const bad = await graphql(listQuery, { first: 0 }, { token: admin });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  });
});

describe('recommendation model admin API without Neo4j', () => {
  let server: RunningServer;
  let tokens: TestTokens;
  let graphql: GraphQLTestClient;
  const prefix = testPrefix();

  beforeAll(async () => {
    tokens = await createTestTokens();
    server = await startRecommendationsSubgraph(
      modelSubgraphEnv({ uri: `bolt://127.0.0.1:${await closedPort()}`, user: 'neo4j', password: 'irrelevant-password' }, prefix),
      { verifier: tokens.verifier, logger: quietLogger },
    );
    graphql = graphqlClient(server.url);
  });

  afterAll(async () => {
    await server?.stop();
    await deleteStreams(prefix);
  });

  it('answers SERVICE_UNAVAILABLE, naming the graph', async () => {
    const admin = await tokens.sign('c0ffee00-0000-4000-8000-00000000000a', { role: 'ADMIN' });
    for (const document of [rebuildMutation, activeQuery, listQuery]) {
      const result = await graphql(document, {}, { token: admin });
      expect(result.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
      expect(result.errors?.[0]?.message).toBe('The recommendation graph (Neo4j) is unavailable right now; retry in a few seconds');
    }
  });
});

