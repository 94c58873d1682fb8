import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connectPostgres, type PostgresHandle } from '@platform/shared';
import { insertCredit, insertMovies, insertPerson, uniqueTag } from './fixtures.ts';
import { startMoviesHarness, type MoviesHarness } from './harness.ts';

// With a read replica configured, searches, listings and entity lookups read from it while writes
// (and everything a mutation answers) stay on the primary. "The replica" here is the same database
// reached through a second pool: what is observed is which pool each request uses.

interface CheckoutCounter {
  readonly count: number;
  reset(): void;
}

/** Counts connection checkouts: pool.query and transactions alike start with one. */
function countCheckouts(pool: PostgresHandle['pool']): CheckoutCounter {
  let count = 0;
  pool.on('acquire', () => {
    count += 1;
  });
  return {
    get count() {
      return count;
    },
    reset: () => {
      count = 0;
    },
  };
}

interface Fixture {
  movie: string;
  person: string;
  genre: string;
}

async function insertFixture(harness: MoviesHarness): Promise<Fixture> {
  const genre = uniqueTag('replica');
  const [movie] = await insertMovies(harness.fixtures.db, [
    { title: 'Replica Heist', year: 1995, genres: [genre] },
    { title: 'Second Copy', year: 2004, genres: [genre] },
  ]);
  const person = await insertPerson(harness.fixtures.db, 'Replica Director');
  await insertCredit(harness.fixtures.db, { movieId: movie!, personId: person, role: 'DIRECTOR', position: 0 });
  return { movie: movie!, person, genre };
}

const reads: [string, string, (fixture: Fixture) => Record<string, unknown>][] = [
  [
    'a search',
    'query($genre: String!) { movies(filter: { search: "replica", genres: [$genre] }) { totalCount edges { node { title } } } }',
    (fixture) => ({ genre: fixture.genre }),
  ],
  [
    'a filtered listing',
    'query($genre: String!) { movies(filter: { genres: [$genre], yearFrom: 1990 }, sort: YEAR_DESC) { totalCount } }',
    (fixture) => ({ genre: fixture.genre }),
  ],
  ['the genre list', '{ genres }', () => ({})],
  [
    'a movie with its credits and filmographies',
    'query($movie: ID!) { movie(id: $movie) { title directors { name directed { title } } } }',
    (fixture) => ({ movie: fixture.movie }),
  ],
  [
    'entity references',
    'query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Movie { title } ... on Person { name directed { title } } } }',
    (fixture) => ({ reps: [{ __typename: 'Movie', id: fixture.movie }, { __typename: 'Person', id: fixture.person }] }),
  ],
];

describe('read replica given as a pool', () => {
  let harness: MoviesHarness;
  let primary: CheckoutCounter;
  let replica: CheckoutCounter;
  let fixture: Fixture;

  beforeAll(async () => {
    harness = await startMoviesHarness('movies_replica_it', (databaseUrl) => {
      const primaryPool = connectPostgres(databaseUrl, { applicationName: 'movies-test-primary' });
      const replicaPool = connectPostgres(databaseUrl, { applicationName: 'movies-test-replica' });
      primary = countCheckouts(primaryPool.pool);
      replica = countCheckouts(replicaPool.pool);
      return {
        options: { postgres: primaryPool, readPostgres: replicaPool },
        close: async () => {
          await Promise.all([primaryPool.close(), replicaPool.close()]);
        },
      };
    });
    fixture = await insertFixture(harness);
  });

  afterAll(async () => {
    await harness?.stop();
  });

  beforeEach(() => {
    primary.reset();
    replica.reset();
  });

  it.each(reads)('reads %s from the replica only', async (_what, query, variables) => {
    const result = await harness.graphql(query, variables(fixture));
    expect(result.errors).toBeUndefined();
    expect(replica.count).toBeGreaterThan(0);
    expect(primary.count).toBe(0);
  });

  it('finds what the replica has', async () => {
    const result = await harness.graphql<{ movies: { totalCount: number; edges: { node: { title: string } }[] } }>(reads[0]![1], reads[0]![2](fixture));
    expect(result.data!.movies).toEqual({ totalCount: 1, edges: [{ node: { title: 'Replica Heist' } }] });
  });

  it('writes on the primary and answers a mutation from it, nested reads included, so the answer shows the write', async () => {
    const token = await harness.tokenFor('ADMIN');
    const result = await harness.graphql<{ addMovie: { title: string; directors: { name: string; directed: { title: string }[] }[] } }>(
      'mutation($input: AddMovieInput!) { addMovie(input: $input) { title directors { name directed { title } } } }',
      { input: { title: 'Replica Sequel', year: 1999, directorIds: [fixture.person] } },
      { token },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!.addMovie).toEqual({
      title: 'Replica Sequel',
      directors: [{ name: 'Replica Director', directed: [{ title: 'Replica Sequel' }, { title: 'Replica Heist' }] }],
    });
    expect(primary.count).toBeGreaterThan(0);
    expect(replica.count).toBe(0);
  });
});

describe('read replica configured by DATABASE_READ_URL', () => {
  let harness: MoviesHarness;

  beforeAll(async () => {
    harness = await startMoviesHarness('movies_replica_env_it', (databaseUrl) => ({ env: { DATABASE_READ_URL: databaseUrl } }));
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it('connects a second pool (application_name movies-read) and lists through it', async () => {
    const fixture = await insertFixture(harness);
    const result = await harness.graphql(reads[1]![1], reads[1]![2](fixture));
    expect(result.errors).toBeUndefined();

    // Each backend shows the last statement it ran (a listing without a search is two plain
    // statements, no transaction ending in COMMIT): the listing ran on movies-read connections,
    // and the primary's connections ran nothing but the start-up check.
    const backends = await harness.rows<{ application_name: string; query: string }>(
      "SELECT application_name, query FROM pg_stat_activity WHERE datname = current_database() AND application_name IN ('movies', 'movies-read')",
    );
    const listedOn = backends.filter((backend) => backend.query.includes('from "movies"."movies"')).map((backend) => backend.application_name);
    expect(listedOn.length).toBeGreaterThan(0);
    expect(new Set(listedOn)).toEqual(new Set(['movies-read']));
    const primaryQueries = backends.filter((backend) => backend.application_name === 'movies').map((backend) => backend.query);
    expect(primaryQueries.filter((query) => query !== 'SELECT 1')).toEqual([]);
  });
});
