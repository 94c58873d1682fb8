import { hostname } from 'node:os';
import { sql } from 'drizzle-orm';
import { connectPostgres, startStreamConsumer, type AnyEvent, type Database, type Logger, type Redis, type StreamConsumer } from '@platform/shared';
import { knownMovies } from './tables.ts';

// The reviews subgraph accepts ratings, reactions and exclusions only for movies the catalogue
// has: it cannot read the movies schema, so it keeps reviews.known_movies, fed by this consumer
// of the movies stream. Redis delivers a new entry to the blocked XREADGROUP as soon as the
// movies relay adds it (itself woken by NOTIFY at commit), and applying it is one INSERT, so a
// new movie becomes known here within tens of milliseconds of its commit (the relay's lag,
// README "Ratings with their events"). A rating sent inside that window gets NOT_FOUND with a
// hint to retry (see unknownMovie in resolvers.ts).

/** The consumer group of this subgraph on the movies stream. */
export const knownMoviesConsumerGroup = 'reviews';

export interface KnownMovie {
  movieId: number;
  /** when the catalogue created the movie */
  createdAt: Date;
}

/** Thrown by a write for a movie not (yet) in known_movies; its transaction rolls back. */
export class UnknownMovieError extends Error {
  override name = 'UnknownMovieError';
  readonly movieId: number;
  constructor(movieId: number) {
    super(`movie ${movieId} is not known to the reviews subgraph`);
    this.movieId = movieId;
  }
}

/**
 * The movie an event proves to exist. movie.updated counts too: it can only follow a
 * movie.created, and it is harmless if that one was applied already.
 */
export function knownMovieOf(event: AnyEvent): KnownMovie | null {
  if (event.type !== 'movie.created' && event.type !== 'movie.updated') return null;
  const { movieId, at } = event.payload;
  if (!Number.isSafeInteger(movieId) || movieId < 1) throw new Error(`${event.type} ${event.id} carries movieId ${JSON.stringify(movieId)}, not a movie id`);
  const createdAt = new Date(at);
  if (Number.isNaN(createdAt.getTime())) throw new Error(`${event.type} ${event.id} carries at ${JSON.stringify(at)}, not a time`);
  return { movieId, createdAt };
}

/**
 * Records movies as known. Idempotent (a redelivered event, or the loader and the stream both
 * announcing a movie, changes nothing): the first row of a movie stays.
 */
export async function recordKnownMovies(db: Database, movies: readonly KnownMovie[]): Promise<void> {
  if (movies.length === 0) return;
  await db
    .insert(knownMovies)
    .values(movies.map((movie) => ({ movieId: movie.movieId, createdAt: movie.createdAt })))
    .onConflictDoNothing();
}

/** True when the movie is known; a transaction's first statement in each checked write. */
export async function isKnownMovie(db: Database, movieId: number): Promise<boolean> {
  const result = await db.execute<{ known: boolean }>(sql`SELECT EXISTS (SELECT 1 FROM ${knownMovies} WHERE ${knownMovies.movieId} = ${movieId}) AS known`);
  return result.rows[0]?.known === true;
}

export interface KnownMoviesConsumerOptions {
  databaseUrl: string;
  /** a connection to copy: the consumer blocks one of its own on XREADGROUP */
  redis: Redis;
  /** the movies stream (`<EVENT_STREAM_PREFIX>:movies`) */
  stream: string;
  logger: Logger;
}

/**
 * Starts the consumer group `reviews` on the movies stream. A group created now starts at the
 * stream's first entry, so a fresh known_movies is rebuilt from every movie.created still on the
 * stream. Each entry is acknowledged only after its row committed. It has a two-connection pool
 * of its own, so a burst of new movies never takes a slot from requests.
 */
export async function startKnownMoviesConsumer(options: KnownMoviesConsumerOptions): Promise<{ stop(): Promise<void>; consumer: StreamConsumer }> {
  const postgres = connectPostgres(options.databaseUrl, { applicationName: 'reviews-known-movies', max: 2, logger: options.logger });
  try {
    const consumer = await startStreamConsumer({
      redis: options.redis.duplicate(),
      streams: [options.stream],
      group: knownMoviesConsumerGroup,
      consumer: `reviews-${hostname()}-${process.pid}`,
      logger: options.logger,
      handle: async (event) => {
        const movie = knownMovieOf(event);
        if (movie) await recordKnownMovies(postgres.db, [movie]);
      },
    });
    return {
      consumer,
      stop: async () => {
        await consumer.stop();
        await postgres.close();
      },
    };
  } catch (error) {
    await postgres.close();
    throw error;
  }
}
