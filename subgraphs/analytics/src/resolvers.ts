import { DateTimeScalar, type RequestContext } from '@platform/shared';
import type { AnalyticsData } from './data.ts';

export interface AnalyticsContext extends RequestContext {
  data: AnalyticsData;
}

/**
 * What `Query.analytics` resolves to: nothing but a namespace, so returning it reveals nothing.
 * `type Analytics @admin` in schema.graphql guards every field below it before any data is read.
 */
export type AnalyticsNamespace = Record<string, never>;

const emptyNamespace: AnalyticsNamespace = {};

export const resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    analytics: (): AnalyticsNamespace => emptyNamespace,
  },
  Analytics: {
    totals: (_parent: AnalyticsNamespace, _args: unknown, context: AnalyticsContext) => context.data.totals(),
  },
};
