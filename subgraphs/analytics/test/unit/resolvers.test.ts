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
const selectionOf: Record<string, string> = { totals: 'totals { users movies ratings reviews likes dislikes updatedAt }' };
const fields = analyticsType?.fields?.map((field) => field.name.value) ?? [];

function contextFor(viewer: Viewer | null): { context: AnalyticsContext; reached: () => boolean } {
  let reached = false;
  const data: AnalyticsData = {
    totals: async () => {
      reached = true;
      return { id: 1, users: 0, movies: 0, ratings: 0, reviews: 0, likes: 0, dislikes: 0, updatedAt: new Date(0) };
    },
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
      expect(result.data?.analytics ?? null).toBeNull();
      expect(reached).toBe(false);
    });

    it(`${field}: users get FORBIDDEN and reach no data`, async () => {
      const { result, reached } = await run({ id: 'u1', role: 'USER', expiresAt });
      expect(result.errors?.map((error) => error.extensions.code)).toEqual(['FORBIDDEN']);
      expect(reached).toBe(false);
    });

    it(`${field}: admins get an answer`, async () => {
      const { result, reached } = await run({ id: 'a1', role: 'ADMIN', expiresAt });
      expect(result.errors).toBeUndefined();
      expect(reached).toBe(true);
    });
  }
});
