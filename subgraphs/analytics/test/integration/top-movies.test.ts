import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectPostgres, migrateSchema, type PostgresHandle } from '@platform/shared';
import { createScratchDatabase } from '../../../../scripts/lib/services.ts';
import { bayesianHalves, createAnalyticsData } from '../../src/data.ts';
import { seededRandom } from '@platform/shared/testing';

// topMovies(by: RATING) stops its walk early (see data.ts). Here it must agree with scoring every
// movie, on crafted movie_stats rows, for global means C below, inside and above the movies'
// means: the early stop is only sound when the k-th best score beats C, and a C that most movies
// fall short of is exactly where a careless stop would drop a heavily rated movie.

let scratch: { url: string; drop(): Promise<void> };
let postgres: PostgresHandle;

beforeAll(async () => {
  scratch = await createScratchDatabase(inject('services').databaseUrl, 'analytics_top');
  await migrateSchema(scratch.url, 'analytics', fileURLToPath(new URL('../../drizzle', import.meta.url)));
  postgres = connectPostgres(scratch.url, { applicationName: 'analytics-test', max: 2 });
});

afterAll(async () => {
  await postgres?.close();
  await scratch?.drop();
});

interface Row {
  movieId: number;
  count: number;
  sum: number;
}

describe('topMovies by RATING', () => {
  it('equals scoring every movie, whatever the global mean', async () => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const random = seededRandom(seed);
    // Long tail: many movies with a few ratings, some with many (past every index floor of the
    // walk: 10, 100, 1000); some with none.
    const rows: Row[] = Array.from({ length: 400 }, (_, index) => {
      const draw = random();
      const count = draw < 0.1 ? 0 : draw < 0.8 ? Math.floor(1 + random() ** 3 * 80) : Math.floor(80 + random() ** 2 * 2_000);
      const mean = 1 + random() * 9;
      const sum = Math.min(count * 10, Math.max(count, Math.round(mean * count)));
      return { movieId: 1_000 + index, count, sum };
    });
    // Exact ties in mean and count, to check the order by movie id.
    rows.push({ movieId: 5_000, count: 20, sum: 160 }, { movieId: 4_999, count: 20, sum: 160 }, { movieId: 5_001, count: 40, sum: 320 });
    await postgres.pool.query(
      `INSERT INTO analytics.movie_stats (movie_id, rating_count, rating_halves_sum)
       SELECT * FROM unnest($1::bigint[], $2::integer[], $3::bigint[])`,
      [rows.map((row) => row.movieId), rows.map((row) => row.count), rows.map((row) => row.sum)],
    );

    const lagless = { lag: async () => [] };
    const walkers = [createAnalyticsData(postgres.db, lagless), createAnalyticsData(postgres.db, lagless, { walkBatch: 7 })];
    // C in half-stars: set through platform_totals (ratings, rating_halves_sum) = (1000, 1000·C).
    for (const meanHalves of [1.5, 5.5, 8.2, 9.9]) {
      await postgres.pool.query('UPDATE analytics.platform_totals SET ratings = 1000, rating_halves_sum = $1 WHERE id = 1', [Math.round(meanHalves * 1000)]);
      const c = Math.round(meanHalves * 1000) / 1000;
      for (const minRatings of [0, 1, 5, 10, 20, 60, 100, 150, 1000, 1500]) {
        for (const first of [1, 3, 10, 50]) {
          const expected = rows
            .filter((row) => row.count >= Math.max(minRatings, 1))
            .map((row) => ({ movieId: row.movieId, score: bayesianHalves(row.sum, row.count, minRatings, c) ?? 0 }))
            .sort((a, b) => b.score - a.score || a.movieId - b.movieId)
            .slice(0, first)
            .map(({ movieId, score }) => ({ movieId, bayesianAverage: score / 2 }));
          for (const walker of walkers) {
            const answer = (await walker.topMovies('RATING', minRatings, first)).map(({ movieId, bayesianAverage }) => ({ movieId, bayesianAverage }));
            expect(answer, `seed ${seed}, C ${c}, minRatings ${minRatings}, first ${first}`).toEqual(expected);
          }
        }
      }
    }
  });
});
