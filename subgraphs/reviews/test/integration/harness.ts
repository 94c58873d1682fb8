import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { Redis } from 'ioredis';
import { connectPostgres, createEvent, parseEvent, type AnyEvent, type PostgresHandle, type Role, type RunningServer } from '@platform/shared';
import { createTestTokens, graphqlClient, logPoolQueries, type GraphQLTestClient, type QueryLog } from '@platform/shared/testing';
import { migrateAll } from '../../../../scripts/lib/migrations.ts';
import { createScratchDatabase } from '../../../../scripts/lib/services.ts';
import { startReviewsSubgraph } from '../../src/index.ts';
import { makeTestMoviesKnown } from '../helpers/known-movies.ts';

export { newMovieId, unknownMovieId } from '../helpers/known-movies.ts';

// The reviews subgraph over real HTTP against a scratch database with every migration applied,
// for the integration tests of one file. Users and movies live in other subgraphs: tests make up
// their ids (random, so tests never meet) and sign tokens with a key pair of their own; the movie
// ids of newMovieId() are made known (reviews.known_movies) at start. Each harness publishes to a
// stream, reads movie events from a stream and counts write limits under a prefix of its own, and
// its limits are high unless a test asks for others, so files and tests never throttle each other.

export interface TestUser {
  id: string;
  token: string;
}

export interface ReviewsHarness {
  graphql: GraphQLTestClient;
  /** the subgraph's GraphQL endpoint, for requests with headers of a test's own */
  url: string;
  /** the scratch database */
  databaseUrl: string;
  /** every statement the subgraph sends through its pool */
  queries: QueryLog;
  rows<T>(text: string, values?: unknown[]): Promise<T[]>;
  newUser(role?: Role): Promise<TestUser>;
  redis: Redis;
  /** the stream this harness's relay publishes to */
  stream: string;
  /** the movies stream this harness's known-movies consumer reads (nothing else writes to it) */
  movieStream: string;
  /** publishes movie.created for a movie id on movieStream, as the movies subgraph's relay would */
  announceMovie(movieId: string, at?: Date): Promise<AnyEvent>;
  /** publishes everything committed so far, then returns the stream's events in order */
  events(): Promise<StreamEvent[]>;
  stop(): Promise<void>;
}

export interface StreamEvent {
  /** the stream entry id ("<ms>-<seq>") */
  entryId: string;
  event: AnyEvent;
}

export interface HarnessOptions {
  /** extra environment, e.g. REVIEW_WRITES_PER_MINUTE_PER_USER */
  env?: Record<string, string>;
}

export async function startReviewsHarness(prefix: string, options: HarnessOptions = {}): Promise<ReviewsHarness> {
  const serverUrl = inject('services')?.databaseUrl ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = inject('services')?.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const scratch = await createScratchDatabase(serverUrl, prefix);
  const redis = new Redis(redisUrl);
  const run = randomUUID();
  const stream = `test:reviews-events:${run}`;
  const movieStream = `test:movies-events:${run}`;
  const writeLimitKeyPrefix = `test:reviews-write-limit:${run}:`;
  let postgres: PostgresHandle | undefined;
  let server: RunningServer | undefined;
  const stop = async () => {
    await server?.stop();
    await postgres?.close();
    await scratch.drop();
    const limitKeys = await redis.keys(`${writeLimitKeyPrefix}*`);
    await redis.del(stream, movieStream, ...limitKeys);
    redis.disconnect();
  };
  try {
    await migrateAll(scratch.url);
    postgres = connectPostgres(scratch.url, { applicationName: `${prefix}-test` });
    const pool = postgres.pool;
    await makeTestMoviesKnown(pool);
    const queries = logPoolQueries(pool);
    const tokens = await createTestTokens();
    server = await startReviewsSubgraph(
      {
        DATABASE_URL: scratch.url,
        PORT: '0',
        LOG_LEVEL: 'error',
        REVIEW_WRITES_PER_MINUTE_PER_USER: '100000',
        REVIEW_WRITES_PER_MINUTE_PER_ADDRESS: '100000',
        ...options.env,
      },
      { postgres, verifier: tokens.verifier, redis, eventStream: stream, movieEventStream: movieStream, writeLimitKeyPrefix },
    );
    const relayed = async (): Promise<StreamEvent[]> => {
      const entries = await redis.xrange(stream, '-', '+');
      return entries.map(([entryId, fields]) => ({ entryId, event: parseEvent(fields[fields.indexOf('event') + 1] ?? '') }));
    };
    return {
      graphql: graphqlClient(server.url),
      url: server.url,
      databaseUrl: scratch.url,
      queries,
      rows: async <T>(text: string, values: unknown[] = []) => (await pool.query(text, values)).rows as T[],
      newUser: async (role: Role = 'USER') => {
        const id = randomUUID();
        return { id, token: await tokens.sign(id, { role }) };
      },
      redis,
      stream,
      movieStream,
      announceMovie: async (movieId, at = new Date()) => {
        const event = createEvent('movies', 'movie.created', { movieId: Number(movieId), title: `Movie ${movieId}`, year: 2001, genres: ['Drama'], languages: [], personIds: [], at: at.toISOString() });
        await redis.xadd(movieStream, '*', 'event', JSON.stringify(event));
        return event;
      },
      // The relay publishes within milliseconds of a commit (NOTIFY), but a test must not depend
      // on timing: wait until nothing committed is left unpublished, then read the stream.
      events: async () => {
        for (;;) {
          const [pending] = (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM reviews.outbox WHERE published_at IS NULL')).rows;
          if (pending?.n === 0) return relayed();
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The user an event is about (every event this subgraph emits has one). */
export const reviewsUserOf = (event: AnyEvent): string | null => ('userId' in event.payload ? event.payload.userId : null);

/** The movie an event is about (every event this subgraph emits has one). */
export const movieOf = (event: AnyEvent): number | null => ('movieId' in event.payload ? event.payload.movieId : null);
