import { describe, expect, it } from 'vitest';
import { GraphQLError, Kind, type ObjectTypeDefinitionNode } from 'graphql';
import { createLogger, loadTypeDefs, type Viewer } from '@platform/shared';
import { resolvers, type AnalyticsContext } from '../../src/resolvers.ts';
import type { AnalyticsData } from '../../src/data.ts';

// Every field of `Analytics` in schema.graphql must refuse non-admins before touching any data.
// The data access object here only records whether it was reached; it is not a database stand-in.

const schema = loadTypeDefs(new URL('../../src/schema.graphql', import.meta.url).href, 'schema.graphql');
const analyticsType = schema.definitions.find(
  (definition): definition is ObjectTypeDefinitionNode => definition.kind === Kind.OBJECT_TYPE_DEFINITION && definition.name.value === 'Analytics',
);
const analyticsFields = analyticsType?.fields?.map((field) => field.name.value) ?? [];
const fieldResolvers: Record<string, unknown> = resolvers.Analytics;

function contextFor(viewer: Viewer | null): { context: AnalyticsContext; reached: () => boolean } {
  let reached = false;
  const data: AnalyticsData = {
    totals: async () => {
      reached = true;
      return { id: 1, users: 0, movies: 0, ratings: 0, reviews: 0, likes: 0, dislikes: 0, updatedAt: new Date(0) };
    },
  };
  const logger = createLogger('analytics-test', { sink: () => {} });
  return { context: { viewer, requestId: 'test-request', logger, data }, reached: () => reached };
}

async function codeOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error instanceof GraphQLError ? error.extensions.code : error;
  }
  return 'no error';
}

const expiresAt = Math.floor(Date.now() / 1000) + 600;

describe('Analytics field resolvers', () => {
  it('covers every field in the schema', () => {
    expect(analyticsFields.length).toBeGreaterThan(0);
    expect(Object.keys(fieldResolvers).sort()).toEqual([...analyticsFields].sort());
  });

  for (const field of analyticsFields) {
    const resolve = fieldResolvers[field] as (parent: unknown, args: unknown, context: AnalyticsContext) => Promise<unknown>;

    it(`${field}: anonymous callers get UNAUTHENTICATED and reach no data`, async () => {
      const { context, reached } = contextFor(null);
      expect(await codeOf(resolve({}, {}, context))).toBe('UNAUTHENTICATED');
      expect(reached()).toBe(false);
    });

    it(`${field}: users get FORBIDDEN and reach no data`, async () => {
      const { context, reached } = contextFor({ id: 'u1', role: 'USER', expiresAt });
      expect(await codeOf(resolve({}, {}, context))).toBe('FORBIDDEN');
      expect(reached()).toBe(false);
    });

    it(`${field}: admins get an answer`, async () => {
      const { context } = contextFor({ id: 'a1', role: 'ADMIN', expiresAt });
      await expect(resolve({}, {}, context)).resolves.toBeDefined();
    });
  }
});
