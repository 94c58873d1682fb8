import { buildSubgraphSchema } from '@apollo/subgraph';
import { graphql, Kind, type ObjectTypeDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { applyAuthDirectives, createLogger, loadTypeDefs, type Viewer } from '@platform/shared';
import { resolvers, type AnalyticsContext } from '../../src/resolvers.ts';
import type { AnalyticsData } from '../../src/data.ts';

// Every field of `Analytics` must refuse non-admins before touching any data, through the same
// schema build and auth directives the running subgraph uses. The data access object here only
// records whether it was reached; it is not a database stand-in.

const typeDefs = loadTypeDefs(new URL('../../src/schema.graphql', import.meta.url).href, 'schema.graphql');
const schema = applyAuthDirectives(buildSubgraphSchema([{ typeDefs, resolvers }]));
const analyticsType = typeDefs.definitions.find(
  (definition): definition is ObjectTypeDefinitionNode => definition.kind === Kind.OBJECT_TYPE_DEFINITION && definition.name.value === 'Analytics',
);
const selectionOf: Record<string, string> = {
  totals: 'totals { users movies ratings reviews likes dislikes updatedAt }',
  topMovies: 'topMovies(by: RATING, minRatings: 2, first: 5) { movie { id } ratingCount averageRating bayesianAverage distribution }',
  movieStats: 'movieStats(movieId: "7") { movie { id } ratingCount averageRating bayesianAverage distribution }',
  userActivity: 'userActivity(userId: "0b5e2c8e-6d7f-4c2a-9a51-4f7e0d7f1a11") { user { id } ratingCount averageGiven lastActiveAt }',
  mostActiveUsers: 'mostActiveUsers(first: 3) { user { id } ratingCount averageGiven lastActiveAt }',
  activity: 'activity(from: "2026-01-01T00:00:00Z", to: "2026-01-03T00:00:00Z", interval: DAY) { start ratings reviews newUsers activeUsers }',
  eventLag: 'eventLag { stream pending undelivered unacknowledged }',
};
const fields = analyticsType?.fields?.map((field) => field.name.value) ?? [];

function contextFor(viewer: Viewer | null): { context: AnalyticsContext; reached: () => boolean } {
  let reached = false;
  // Each method only notes that it was reached and answers with a minimal value of its type.
  const reach = <T>(value: T) => async (): Promise<T> => {
    reached = true;
    return value;
  };
  const movie = { movieId: 7, ratingCount: 0, averageRating: null, bayesianAverage: null, distribution: new Array<number>(10).fill(0) };
  const user = { userId: '0b5e2c8e-6d7f-4c2a-9a51-4f7e0d7f1a11', ratingCount: 0, averageGiven: null, lastActiveAt: null };
  const data: AnalyticsData = {
    totals: reach({ id: 1, users: 0, movies: 0, ratings: 0, reviews: 0, likes: 0, dislikes: 0, ratingHalvesSum: 0, updatedAt: new Date(0) }),
    topMovies: reach([movie]),
    movieStats: reach(movie),
    userActivity: reach(user),
    mostActiveUsers: reach([user]),
    activity: reach([{ start: new Date(0), ratings: 0, reviews: 0, newUsers: 0, activeUsers: 0 }]),
    eventLag: reach([{ stream: 'events:users', pending: 0, undelivered: 0, unacknowledged: 0 }]),
  };
  const logger = createLogger('analytics-test', { sink: () => {} });
  return { context: { viewer, requestId: 'test-request', logger, data, clientAddress: '127.0.0.1' }, reached: () => reached };
}

const expiresAt = Math.floor(Date.now() / 1000) + 600;

describe('Analytics is admin-only on every field', () => {
  it('has a selection for every field in the schema', () => {
    expect(fields.length).toBeGreaterThan(0);
    expect(Object.keys(selectionOf).sort()).toEqual([...fields].sort());
  });

  for (const field of fields) {
    const run = (viewer: Viewer | null) => {
      const { context, reached } = contextFor(viewer);
      return graphql({ schema, source: `{ analytics { ${selectionOf[field]} } }`, contextValue: context }).then((result) => ({ result, reached: reached() }));
    };

    it(`${field}: anonymous callers get UNAUTHENTICATED and reach no data`, async () => {
      const { result, reached } = await run(null);
      expect(result.errors?.map((error) => error.extensions.code)).toEqual(['UNAUTHENTICATED']);
      // A non-null field takes `analytics` down with it; a nullable one is null itself: no data either way.
      const analytics = result.data?.analytics as Record<string, unknown> | null | undefined;
      expect(analytics?.[field] ?? null).toBeNull();
      expect(reached).toBe(false);
    });

    it(`${field}: users get FORBIDDEN and reach no data`, async () => {
      const { result, reached } = await run({ id: 'u1', role: 'USER', expiresAt });
      expect(result.errors?.map((error) => error.extensions.code)).toEqual(['FORBIDDEN']);
      const analytics = result.data?.analytics as Record<string, unknown> | null | undefined;
      expect(analytics?.[field] ?? null).toBeNull();
      expect(reached).toBe(false);
    });

    it(`${field}: admins get an answer`, async () => {
      const { result, reached } = await run({ id: 'a1', role: 'ADMIN', expiresAt });
      expect(result.errors).toBeUndefined();
      expect(reached).toBe(true);
    });
  }
});
