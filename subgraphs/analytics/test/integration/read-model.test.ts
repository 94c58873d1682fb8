import { afterEach, describe, expect, it } from 'vitest';
import { connectPostgres, createEvent } from '@platform/shared';
import { createAnalyticsData, type MovieStatsView, type TopBy } from '../../src/data.ts';
import { streamList } from '../../src/consumer.ts';
import { createHarness, replayFromStart, type Harness } from './harness.ts';
import { expectedBayesian, generateWorkload, referenceBucketStarts, type Expected, type ExpectedMovie, type Workload } from './workload.ts';

// The event-fed read model against a random workload: every answer of the API must equal a
// direct recomputation from the same workload, and replaying every stream from the start
// (redelivery of everything, as after a lost consumer group) must change nothing at all.

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const movieFields = 'movie { id } ratingCount averageRating bayesianAverage distribution';
const userFields = 'user { id } ratingCount averageGiven lastActiveAt';
const bucketFields = 'start ratings reviews newUsers activeUsers';

const topMoviesCases: { by: TopBy; minRatings: number; first: number }[] = [
  { by: 'RATING', minRatings: 0, first: 100 },
  { by: 'RATING', minRatings: 1, first: 5 },
  { by: 'RATING', minRatings: 3, first: 3 },
  { by: 'RATING', minRatings: 5, first: 10 },
  { by: 'RATING', minRatings: 40, first: 10 },
  { by: 'COUNT', minRatings: 0, first: 100 },
  { by: 'COUNT', minRatings: 2, first: 4 },
];
const movieStatsPriorWeight = 3;

interface MovieStatsAnswer {
  movie: { id: string };
  ratingCount: number;
  averageRating: number | null;
  bayesianAverage: number | null;
  distribution: number[];
}
interface UserActivityAnswer {
  user: { id: string };
  ratingCount: number;
  averageGiven: number | null;
  lastActiveAt: string | null;
}
interface BucketAnswer {
  start: string;
  ratings: number;
  reviews: number;
  newUsers: number;
  activeUsers: number;
}

type Answers = Record<string, unknown>;

function movieAnswer(movie: ExpectedMovie, priorWeight: number, expected: Expected): MovieStatsAnswer {
  return {
    movie: { id: String(movie.movieId) },
    ratingCount: movie.ratingCount,
    averageRating: movie.ratingCount === 0 ? null : movie.halvesSum / movie.ratingCount / 2,
    bayesianAverage: expectedBayesian(movie, priorWeight, expected),
    distribution: movie.distribution,
  };
}

function expectedTopMovies(expected: Expected, by: TopBy, minRatings: number, first: number): MovieStatsAnswer[] {
  const candidates = [...expected.movies.values()].filter((movie) => movie.ratingCount >= Math.max(minRatings, 1));
  const score = (movie: ExpectedMovie): number => expectedBayesian(movie, minRatings, expected) ?? 0;
  candidates.sort((a, b) => (by === 'RATING' ? score(b) - score(a) : b.ratingCount - a.ratingCount) || a.movieId - b.movieId);
  return candidates.slice(0, first).map((movie) => movieAnswer(movie, minRatings, expected));
}

function expectedBuckets(expected: Expected, from: Date, to: Date, granularity: 'HOUR' | 'DAY' | 'WEEK'): BucketAnswer[] {
  const step = { HOUR: 3_600_000, DAY: 86_400_000, WEEK: 7 * 86_400_000 }[granularity];
  const first = referenceBucketStarts(from.getTime()).find(([g]) => g === granularity)?.[1] ?? Number.NaN;
  const buckets: BucketAnswer[] = [];
  for (let start = first; start < to.getTime(); start += step) {
    const bucket = expected.buckets.get(`${granularity}|${start}`);
    buckets.push({
      start: new Date(start).toISOString(),
      ratings: bucket?.ratings ?? 0,
      reviews: bucket?.reviews ?? 0,
      newUsers: bucket?.newUsers ?? 0,
      activeUsers: bucket?.activeUsers.size ?? 0,
    });
  }
  return buckets;
}

function expectedAnswers(workload: Workload, range: { from: Date; to: Date }, unknownUser: string): Answers {
  const { expected } = workload;
  const users = [...expected.users.values()];
  const userAnswer = (userId: string): UserActivityAnswer | null => {
    const user = expected.users.get(userId);
    if (!user) return null;
    return {
      user: { id: user.userId },
      ratingCount: user.ratingCount,
      averageGiven: user.ratingCount === 0 ? null : user.halvesSum / user.ratingCount / 2,
      lastActiveAt: user.lastActiveAt === null ? null : new Date(user.lastActiveAt).toISOString(),
    };
  };
  const mostActive = users
    .filter((user) => user.ratingCount > 0)
    .sort((a, b) => b.ratingCount - a.ratingCount || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  return {
    totals: expected.totals,
    topMovies: topMoviesCases.map(({ by, minRatings, first }) => expectedTopMovies(expected, by, minRatings, first)),
    movieStats: Object.fromEntries(
      [...expected.movies.values()].map((movie) => [String(movie.movieId), movieAnswer(movie, movieStatsPriorWeight, expected)]),
    ),
    unknownMovie: null,
    userActivity: Object.fromEntries(users.map((user) => [user.userId, userAnswer(user.userId)])),
    unknownUser: userAnswer(unknownUser),
    mostActiveUsers: [mostActive.slice(0, 100).map((user) => userAnswer(user.userId)), mostActive.slice(0, 3).map((user) => userAnswer(user.userId))],
    activity: {
      HOUR: expectedBuckets(expected, range.from, range.to, 'HOUR'),
      DAY: expectedBuckets(expected, range.from, range.to, 'DAY'),
      WEEK: expectedBuckets(expected, range.from, range.to, 'WEEK'),
    },
  };
}

function data<T>(response: { data?: T | null; errors?: unknown[] }): T {
  expect(response.errors).toBeUndefined();
  if (!response.data) throw new Error('no data');
  return response.data;
}

/** Every answer the API gives about the workload, in the shape expectedAnswers builds. */
async function apiAnswers(h: Harness, workload: Workload, range: { from: Date; to: Date }, unknownUser: string): Promise<{ answers: Answers; updatedAt: string }> {
  const main = data(
    await h.graphql<{
      analytics: {
        totals: Record<string, number | string>;
        hours: BucketAnswer[];
        days: BucketAnswer[];
        weeks: BucketAnswer[];
        all: UserActivityAnswer[];
        top3: UserActivityAnswer[];
        unknownMovie: MovieStatsAnswer | null;
        unknownUser: UserActivityAnswer | null;
      } & Record<string, MovieStatsAnswer[]>;
    }>(
      `query($from: DateTime!, $to: DateTime!, $unknownUser: ID!) { analytics {
        totals { users movies ratings reviews likes dislikes updatedAt }
        hours: activity(from: $from, to: $to, interval: HOUR) { ${bucketFields} }
        days: activity(from: $from, to: $to, interval: DAY) { ${bucketFields} }
        weeks: activity(from: $from, to: $to, interval: WEEK) { ${bucketFields} }
        all: mostActiveUsers(first: 100) { ${userFields} }
        top3: mostActiveUsers(first: 3) { ${userFields} }
        unknownMovie: movieStats(movieId: "999999999999") { ${movieFields} }
        unknownUser: userActivity(userId: $unknownUser) { ${userFields} }
        ${topMoviesCases.map(({ by, minRatings, first }, index) => `tm${index}: topMovies(by: ${by}, minRatings: ${minRatings}, first: ${first}) { ${movieFields} }`).join('\n')}
      } }`,
      { from: range.from.toISOString(), to: range.to.toISOString(), unknownUser },
    ),
  ).analytics;

  // One entity per alias, a few dozen per request.
  const movieIds = [...workload.expected.movies.keys()];
  const userIds = [...workload.expected.users.keys()];
  const movieStats: Record<string, MovieStatsAnswer | null> = {};
  for (let offset = 0; offset < movieIds.length; offset += 25) {
    const chunk = movieIds.slice(offset, offset + 25);
    const answer = data(
      await h.graphql<{ analytics: Record<string, MovieStatsAnswer | null> }>(
        `{ analytics { ${chunk.map((id, index) => `m${index}: movieStats(movieId: "${id}", minRatings: ${movieStatsPriorWeight}) { ${movieFields} }`).join('\n')} } }`,
      ),
    ).analytics;
    chunk.forEach((id, index) => (movieStats[String(id)] = answer[`m${index}`] ?? null));
  }
  const userActivity: Record<string, UserActivityAnswer | null> = {};
  for (let offset = 0; offset < userIds.length; offset += 25) {
    const chunk = userIds.slice(offset, offset + 25);
    const answer = data(
      await h.graphql<{ analytics: Record<string, UserActivityAnswer | null> }>(
        `{ analytics { ${chunk.map((id, index) => `u${index}: userActivity(userId: "${id}") { ${userFields} }`).join('\n')} } }`,
      ),
    ).analytics;
    chunk.forEach((id, index) => (userActivity[id] = answer[`u${index}`] ?? null));
  }

  const { updatedAt, ...totals } = main.totals;
  return {
    updatedAt: String(updatedAt),
    answers: {
      totals,
      topMovies: topMoviesCases.map((_, index) => main[`tm${index}`]),
      movieStats,
      unknownMovie: main.unknownMovie,
      userActivity,
      unknownUser: main.unknownUser,
      mostActiveUsers: [main.all, main.top3],
      activity: { HOUR: main.hours, DAY: main.days, WEEK: main.weeks },
    },
  };
}

async function processedCount(h: Harness): Promise<number> {
  const postgres = connectPostgres(h.databaseUrl, { applicationName: 'analytics-test', max: 1 });
  try {
    const { rows } = await postgres.pool.query<{ n: number }>('SELECT count(*)::integer AS n FROM analytics.processed_events');
    return rows[0]?.n ?? -1;
  } finally {
    await postgres.close();
  }
}

describe('the event-fed analytics read model', () => {
  it('answers exactly what the workload implies, and a full replay changes nothing', { timeout: 180_000 }, async () => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const workload = generateWorkload({ seed, steps: 1_500, movies: 40, users: 30 });
    const context = `workload seed ${seed}`;
    const range = { from: new Date(workload.windowStart.getTime() - 3_600_000), to: new Date(workload.windowEnd.getTime() + 3_600_000) };
    const unknownUser = '00000000-0000-4000-8000-000000000000';
    harness = await createHarness({ sources: false });
    const h = harness;

    // Half before the consumer starts (a backlog), half while it runs.
    const half = Math.floor(workload.published.length / 2);
    for (const { producer, event } of workload.published.slice(0, half)) await h.publish(producer, event);
    await h.start();
    for (const { producer, event } of workload.published.slice(half)) await h.publish(producer, event);
    await h.drained();

    const expected = expectedAnswers(workload, range, unknownUser);
    const first = await apiAnswers(h, workload, range, unknownUser);
    expect(first.answers, context).toEqual(expected);
    expect(await processedCount(h), context).toBe(workload.consumedCount);
    for (const stream of streamList(h.streams)) expect(await h.redis.exists(`${stream}:dead`), `${stream}:dead`).toBe(0);
    const lag = data(await h.graphql<{ analytics: { eventLag: unknown[] } }>('{ analytics { eventLag { stream pending undelivered unacknowledged } } }'));
    expect(lag.analytics.eventLag).toEqual(streamList(h.streams).map((stream) => ({ stream, pending: 0, undelivered: 0, unacknowledged: 0 })));

    // Every stream again from its first entry: all redelivered, none applied.
    for (const stream of streamList(h.streams)) await replayFromStart(h.redis, stream);
    await h.drained();
    const replayed = await apiAnswers(h, workload, range, unknownUser);
    expect(replayed.answers, context).toEqual(expected);
    expect(replayed.updatedAt, 'totals.updatedAt moves only when a count changes').toBe(first.updatedAt);
    expect(await processedCount(h), context).toBe(workload.consumedCount);

    // The walk behind topMovies(by: RATING), with batches of 3 rows: many steps, same answers.
    const postgres = connectPostgres(h.databaseUrl, { applicationName: 'analytics-test', max: 2 });
    try {
      const small = createAnalyticsData(postgres.db, { lag: async () => [] }, { walkBatch: 3 });
      const cases = [0, 1, 2, 3, 5, 8].flatMap((minRatings) => [1, 4, 15, 100].map((first) => ({ minRatings, first })));
      for (const { minRatings, first } of cases) {
        const views: MovieStatsView[] = await small.topMovies('RATING', minRatings, first);
        const answer = views.map((view) => ({ movie: { id: String(view.movieId) }, ...view, movieId: undefined }));
        const wanted = expectedTopMovies(workload.expected, 'RATING', minRatings, first).map((movie) => ({ ...movie, movieId: undefined }));
        expect(answer, `${context}, minRatings ${minRatings}, first ${first}`).toEqual(wanted);
      }
    } finally {
      await postgres.close();
    }
  });

  it('validates arguments with BAD_USER_INPUT naming the field', async () => {
    harness = await createHarness({ sources: false });
    await harness.start();
    const cases: [query: string, field: string][] = [
      ['{ analytics { activity(from: "2031-01-02T00:00:00Z", to: "2031-01-01T00:00:00Z") { start } } }', 'from'],
      ['{ analytics { activity(from: "2031-01-01T00:00:00Z", to: "2031-01-01T00:00:00Z") { start } } }', 'from'],
      ['{ analytics { activity(from: "2031-01-01T00:00:00Z", to: "2031-03-01T00:00:00Z", interval: HOUR) { start } } }', 'to'],
      ['{ analytics { topMovies(first: 0) { ratingCount } } }', 'first'],
      ['{ analytics { topMovies(first: 101) { ratingCount } } }', 'first'],
      ['{ analytics { topMovies(minRatings: -1) { ratingCount } } }', 'minRatings'],
      ['{ analytics { movieStats(movieId: "1", minRatings: 1000001) { ratingCount } } }', 'minRatings'],
      ['{ analytics { mostActiveUsers(first: 500) { ratingCount } } }', 'first'],
    ];
    for (const [query, field] of cases) {
      const response = await harness.graphql(query);
      expect(response.errors?.map((error) => [error.extensions?.code, error.extensions?.field]), query).toEqual([['BAD_USER_INPUT', field]]);
    }
    // 1,000 buckets is allowed: 999 hours plus the partial one the range starts in.
    const allowed = await harness.graphql<{ analytics: { activity: unknown[] } }>(
      '{ analytics { activity(from: "2031-01-01T00:30:00Z", to: "2031-02-11T15:30:00Z", interval: HOUR) { start } } }',
    );
    expect(allowed.errors).toBeUndefined();
    expect(allowed.data?.analytics.activity).toHaveLength(1_000);
  });

  it('shows an event the consumer keeps failing on in eventLag, though Redis says it was delivered', async () => {
    harness = await createHarness({ sources: false });
    const h = harness;
    const userId = '6f1d7a4e-2b0c-4c55-9a1e-0d5b8c3e7f21';
    // 7 stars is no rating: the handler throws on every delivery until the entry is dead-lettered.
    const broken = createEvent('reviews', 'review.upserted', {
      userId, movieId: 1, rating: 7, hasComment: false, previousRating: null, previousHasComment: null, actorId: userId, at: new Date().toISOString(),
    });
    await h.publish('reviews', broken);
    await h.start();
    type Lag = { stream: string; pending: number | null; undelivered: number | null; unacknowledged: number };
    const deadline = Date.now() + 20_000; // a guard against waiting forever, not a timing assertion
    let reviewsLag: Lag | undefined;
    while (Date.now() < deadline) {
      const response = data(await h.graphql<{ analytics: { eventLag: Lag[] } }>('{ analytics { eventLag { stream pending undelivered unacknowledged } } }'));
      reviewsLag = response.analytics.eventLag.find((lag) => lag.stream === h.streams.reviews);
      if (reviewsLag?.undelivered === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(reviewsLag).toEqual({ stream: h.streams.reviews, pending: 1, undelivered: 0, unacknowledged: 1 });
  });

  it('refuses the new fields to users and anonymous callers over HTTP', async () => {
    harness = await createHarness({ sources: false });
    await harness.start();
    for (const query of ['{ analytics { topMovies { ratingCount } } }', '{ analytics { eventLag { stream } } }']) {
      for (const [role, code] of [['USER', 'FORBIDDEN'], [null, 'UNAUTHENTICATED']] as const) {
        const response = await harness.graphql<{ analytics: unknown }>(query, {}, role);
        expect(response.errors?.map((error) => error.extensions?.code), query).toEqual([code]);
        expect(response.data?.analytics ?? null).toBeNull();
      }
    }
  });
});
