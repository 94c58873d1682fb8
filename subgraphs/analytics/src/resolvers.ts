import { badInput, DateTimeScalar, pageSize, serviceUnavailable, type RequestContext } from '@platform/shared';
import { isUuid, parseNumericId } from '@platform/shared/ids';
import { bucketCount } from './buckets.ts';
import type { AnalyticsData, MovieStatsView, TopBy, UserActivityView } from './data.ts';
import type { Granularity } from './tables.ts';

export interface AnalyticsContext extends RequestContext {
  data: AnalyticsData;
}

/**
 * What `Query.analytics` resolves to: nothing but a namespace, so returning it reveals nothing.
 * `type Analytics @admin` in schema.graphql guards every field below it before any data is read.
 */
export type AnalyticsNamespace = Record<string, never>;

const emptyNamespace: AnalyticsNamespace = {};

/** Beyond this a prior weight means nothing (no movie has that many ratings) and only costs a walk. */
export const maxMinRatings = 1_000_000;
/** A chart's worth; also bounds the rows one activity query reads. */
export const maxActivityBuckets = 1_000;

const defaults = { minRatings: 10, first: 10 };

function minRatingsOf(value: number | null | undefined): number {
  const minRatings = value ?? defaults.minRatings;
  if (!Number.isInteger(minRatings) || minRatings < 0 || minRatings > maxMinRatings) {
    throw badInput('minRatings', `must be between 0 and ${maxMinRatings}, got ${minRatings}`);
  }
  return minRatings;
}

interface TopMoviesArgs {
  by?: TopBy | null;
  minRatings?: number | null;
  first?: number | null;
}

interface ActivityArgs {
  from: Date;
  to: Date;
  interval?: Granularity | null;
}

type Resolver<Args, Result> = (parent: AnalyticsNamespace, args: Args, context: AnalyticsContext) => Promise<Result>;

const analytics = {
  totals: ((_parent, _args, context) => context.data.totals()) satisfies Resolver<unknown, unknown>,

  topMovies: ((_parent, args, context) => {
    const minRatings = minRatingsOf(args.minRatings);
    const first = pageSize(args.first, defaults.first);
    return context.data.topMovies(args.by ?? 'RATING', minRatings, first);
  }) satisfies Resolver<TopMoviesArgs, MovieStatsView[]>,

  movieStats: (async (_parent, args, context) => {
    const minRatings = minRatingsOf(args.minRatings);
    // A malformed id names no movie: null, as for an unknown one.
    const movieId = parseNumericId(args.movieId);
    return movieId === null ? null : context.data.movieStats(movieId, minRatings);
  }) satisfies Resolver<{ movieId: string; minRatings?: number | null }, MovieStatsView | null>,

  userActivity: (async (_parent, args, context) =>
    isUuid(args.userId) ? context.data.userActivity(args.userId.toLowerCase()) : null) satisfies Resolver<{ userId: string }, UserActivityView | null>,

  mostActiveUsers: ((_parent, args, context) => context.data.mostActiveUsers(pageSize(args.first, defaults.first))) satisfies Resolver<
    { first?: number | null },
    UserActivityView[]
  >,

  activity: ((_parent, args, context) => {
    const interval = args.interval ?? 'DAY';
    if (args.from.getTime() >= args.to.getTime()) {
      throw badInput('from', `must be before to (from ${args.from.toISOString()}, to ${args.to.toISOString()})`);
    }
    const count = bucketCount(args.from, args.to, interval);
    if (count > maxActivityBuckets) {
      throw badInput('to', `the range holds ${count} ${interval} buckets, at most ${maxActivityBuckets} are allowed: shorten the range or use a longer interval`);
    }
    return context.data.activity(args.from, args.to, interval);
  }) satisfies Resolver<ActivityArgs, unknown>,

  eventLag: (async (_parent, _args, context) => {
    try {
      return await context.data.eventLag();
    } catch (error) {
      // Redis is down or refuses: say so with a code instead of a masked internal error.
      context.logger.warn('could not read the event consumer lag', { error: error instanceof Error ? error.message : String(error) });
      throw serviceUnavailable('Redis (the event streams)');
    }
  }) satisfies Resolver<unknown, unknown>,
};

export const resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    analytics: (): AnalyticsNamespace => emptyNamespace,
  },
  Analytics: analytics,
  // References: the owning subgraphs resolve every other field of these entities.
  MovieStats: {
    movie: (stats: MovieStatsView) => ({ __typename: 'Movie', id: String(stats.movieId) }),
  },
  UserActivity: {
    user: (activity: UserActivityView) => ({ __typename: 'User', id: activity.userId }),
  },
};
