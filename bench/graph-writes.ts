// Write and read speed of the like-graph: prints figures, asserts nothing (tests never time).
//
//   npm run bench:graph-writes -- [--users 1000] [--movies 3000] [--per-user 100]
//
// Uses the Neo4j at NEO4J_URI / NEO4J_USER / NEO4J_PASSWORD when set (and writes into it: use a
// scratch database), otherwise starts a private one in a temporary folder and removes it after.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connectNeo4j, createLogger, type Neo4jSettings } from '@platform/shared';
import { startNeo4j } from '../scripts/lib/neo4j.ts';
import {
  ensureGraphSchema,
  upsertGraphMovies,
  upsertGraphRatings,
  upsertGraphReactions,
  upsertGraphUsers,
  type GraphRating,
  type GraphReaction,
} from '../subgraphs/recommendations/src/graph.ts';
import { createLiveRecommender } from '../subgraphs/recommendations/src/live-recommender.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '1000' },
    movies: { type: 'string', default: '3000' },
    'per-user': { type: 'string', default: '100' },
  },
});
const userCount = Number(values.users);
const movieCount = Number(values.movies);
const perUser = Math.min(Number(values['per-user']), movieCount);

// Deterministic pseudo-random numbers, so runs are comparable.
let state = 42;
const random = (): number => {
  state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
  return state / 2_147_483_648;
};

const genres = ['Action', 'Adventure', 'Comedy', 'Crime', 'Drama', 'Horror', 'Romance', 'Sci-Fi', 'Thriller', 'Animation'];
const runId = Date.now().toString(36);
const movieIdBase = 1_000_000 * (1 + Math.floor(random() * 1_000));
const movies = Array.from({ length: movieCount }, (_, index) => ({
  id: movieIdBase + index,
  title: `Bench movie ${index}`,
  year: 1950 + (index % 75),
  genres: [genres[index % genres.length]!, genres[(index * 7 + 3) % genres.length]!],
}));
const users = Array.from({ length: userCount }, (_, index) => ({ id: `bench-${runId}-${index}`, favoriteGenres: [genres[index % genres.length]!] }));
// Skewed popularity (low indexes are rated far more often), as in real rating data.
const ratings: GraphRating[] = users.flatMap((user) => {
  const rated = new Set<number>();
  while (rated.size < perUser) rated.add(Math.floor(random() ** 2 * movieCount));
  return [...rated].map((index) => ({
    userId: user.id,
    movieId: movieIdBase + index,
    rating: Math.ceil(random() * 10) / 2,
    at: 1_600_000_000_000 + Math.floor(random() * 1e10),
  }));
});
const reactions: GraphReaction[] = ratings
  .filter((_, index) => index % 4 === 0)
  .map((rating) => ({ userId: rating.userId, movieId: rating.movieId, reaction: rating.rating >= 3 ? 'LIKE' : 'DISLIKE', at: rating.at + 1 }));

async function timed(label: string, count: number, work: () => Promise<unknown>): Promise<void> {
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  console.log(`${label.padEnd(34)} ${String(count).padStart(9)} in ${seconds.toFixed(2).padStart(6)} s  (${Math.round(count / seconds).toLocaleString('en')}/s)`);
}

async function latency(label: string, runs: number, work: () => Promise<unknown>): Promise<void> {
  await work(); // warm the query plan cache
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  console.log(`${label.padEnd(34)} median ${median.toFixed(0).padStart(5)} ms, max ${times.at(-1)!.toFixed(0)} ms over ${runs} runs`);
}

let settings: Neo4jSettings;
let cleanup = async (): Promise<void> => {};
if (process.env.NEO4J_URI && process.env.NEO4J_PASSWORD) {
  settings = { uri: process.env.NEO4J_URI, user: process.env.NEO4J_USER ?? 'neo4j', password: process.env.NEO4J_PASSWORD };
} else {
  const home = await mkdtemp(join(tmpdir(), 'bench-graph-'));
  const server = await startNeo4j({ home, port: 0, heapMb: 1024, pageCacheMb: 512 });
  settings = { uri: server.uri, user: server.user, password: server.password };
  cleanup = async () => {
    await server.stop();
    await rm(home, { recursive: true, force: true });
  };
}

const driver = connectNeo4j(settings);
try {
  console.log(`Neo4j ${settings.uri}: ${userCount} users, ${movieCount} movies, ${ratings.length} ratings, ${reactions.length} reactions`);
  await ensureGraphSchema(driver);
  await timed('movies (new)', movies.length, () => upsertGraphMovies(driver, movies));
  await timed('users (new)', users.length, () => upsertGraphUsers(driver, users));
  await timed('ratings (new nodes and edges)', ratings.length, () => upsertGraphRatings(driver, ratings));
  await timed('ratings (same batch replayed)', ratings.length, () => upsertGraphRatings(driver, ratings));
  await timed('reactions (new)', reactions.length, () => upsertGraphReactions(driver, reactions));
  await timed('reactions (replayed)', reactions.length, () => upsertGraphReactions(driver, reactions));

  const recommender = createLiveRecommender(driver, createLogger('bench', { level: 'error' }));
  const mostRated = movieIdBase; // index 0 is the most rated movie by construction
  const page = movies.slice(0, 20).map((movie) => movie.id);
  await latency('similarMovies(most rated, 10)', 10, () => recommender.similarMovies([mostRated], 10));
  await latency('similarMovies(page of 20, 10)', 5, () => recommender.similarMovies(page, 10));
  await latency('similarMovies(least rated, 10)', 10, () => recommender.similarMovies([movieIdBase + movieCount - 1], 10));
  await latency(`forUser(${perUser} ratings, 20)`, 10, () => recommender.forUser(users[0]!.id, 20));
  await latency('forUser(unknown user, 20)', 10, () => recommender.forUser(`nobody-${runId}`, 20));
} finally {
  await driver.close();
  await cleanup();
}
