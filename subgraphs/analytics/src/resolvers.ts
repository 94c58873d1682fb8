import { DateTimeScalar, requireAdmin, type RequestContext } from '@platform/shared';
import type { AnalyticsData, TotalsRow } from './data.ts';

export interface AnalyticsContext extends RequestContext {
  data: AnalyticsData;
}

/**
 * What `Query.analytics` resolves to: nothing but a namespace. It carries no data, so returning
 * it to anyone reveals nothing; every field below it checks the caller's role itself.
 */
export type AnalyticsNamespace = Record<string, never>;

type AnalyticsFieldResolver<TArgs, TResult> = (parent: AnalyticsNamespace, args: TArgs, context: AnalyticsContext) => Promise<TResult>;

/**
 * Guards one Analytics field: the role check runs before the resolver touches any data, so
 * anonymous callers get UNAUTHENTICATED and non-admins FORBIDDEN, and neither learns anything.
 * Checking per field (rather than once on Query.analytics) keeps each field safe on its own,
 * e.g. if another root field ever returns Analytics.
 */
export function adminOnly<TArgs, TResult>(resolve: AnalyticsFieldResolver<TArgs, TResult>): AnalyticsFieldResolver<TArgs, TResult> {
  return async (parent, args, context) => {
    requireAdmin(context);
    return resolve(parent, args, context);
  };
}

const emptyNamespace: AnalyticsNamespace = {};

export const resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    analytics: (): AnalyticsNamespace => emptyNamespace,
  },
  Analytics: {
    totals: adminOnly<Record<string, never>, TotalsRow>((_parent, _args, context) => context.data.totals()),
  },
};
