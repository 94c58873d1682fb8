import { randomInt } from 'node:crypto';
import type pg from 'pg';

// The reviews subgraph accepts ratings, reactions and exclusions only for movies in
// reviews.known_movies (fed by the movies stream in production). Its tests make up movie ids, so
// each test file draws them from a pool of random ids that every harness of the file makes known
// in its scratch database at start (makeTestMoviesKnown): tests keep calling newMovieId()
// synchronously, and an id that must be unknown comes from unknownMovieId().

const poolSize = 10_000;
const maxMovieId = 2 ** 40;

const moviePool: string[] = (() => {
  const ids = new Set<string>();
  while (ids.size < poolSize) ids.add(String(randomInt(1, maxMovieId)));
  return [...ids];
})();
const inPool = new Set(moviePool);
let drawn = 0;

/** A movie id no other test of this file uses, known to every harness of this file. */
export function newMovieId(): string {
  const id = moviePool[drawn];
  if (id === undefined) throw new Error(`this test file used all ${poolSize} known test movie ids; raise poolSize in test/helpers/known-movies.ts`);
  drawn += 1;
  return id;
}

/** A well-formed movie id that no harness made known: the catalogue has no such movie. */
export function unknownMovieId(): string {
  for (;;) {
    const id = String(randomInt(1, maxMovieId));
    if (!inPool.has(id)) return id;
  }
}

/** Makes the file's whole pool of test movie ids (and any `extra` ids) known in one statement. */
export async function makeTestMoviesKnown(pool: pg.Pool, extra: readonly string[] = []): Promise<void> {
  await pool.query('INSERT INTO reviews.known_movies (movie_id) SELECT unnest($1::bigint[]) ON CONFLICT (movie_id) DO NOTHING', [[...moviePool, ...extra]]);
}
