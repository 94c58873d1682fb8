import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectPostgres, type PostgresHandle, type RunningServer } from '@platform/shared';
import { graphqlClient, logPoolQueries, type GraphQLTestClient, type QueryLog } from '@platform/shared/testing';
import { migrateAll } from '../../../../scripts/lib/migrations.ts';
import { createScratchDatabase } from '../../../../scripts/lib/services.ts';
import { startMoviesSubgraph } from '../../src/index.ts';
import { insertCredit, insertMovies, insertPerson, uniqueTag } from './fixtures.ts';

// The movies subgraph over real HTTP against a scratch database with every migration applied.

const serverUrl = inject('services')?.databaseUrl ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
let postgres: PostgresHandle;
let queries: QueryLog;
let server: RunningServer;
let graphql: GraphQLTestClient;

beforeAll(async () => {
  scratch = await createScratchDatabase(serverUrl, 'movies_it');
  await migrateAll(scratch.url);
  postgres = connectPostgres(scratch.url, { applicationName: 'movies-test' });
  queries = logPoolQueries(postgres.pool);
  // This file writes no movie through the API, so the relay's stream stays empty; it is still one of its own.
  server = await startMoviesSubgraph(
    { DATABASE_URL: scratch.url, REDIS_URL: inject('services').redisUrl, PORT: '0', LOG_LEVEL: 'error' },
    { postgres, eventStream: `test:movies-listing:${randomUUID()}` },
  );
  graphql = graphqlClient(server.url);
});

afterAll(async () => {
  await server?.stop();
  await postgres?.close();
  await scratch?.drop();
});

interface MovieNode {
  id: string;
  title: string;
  year: number | null;
}
interface MoviesPage {
  movies: {
    edges: { node: MovieNode; cursor: string }[];
    pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string | null };
    totalCount: number;
  };
}

const moviesQuery = `
  query Movies($filter: MovieFilter, $sort: MovieSort, $first: Int, $after: String) {
    movies(filter: $filter, sort: $sort, first: $first, after: $after) {
      edges { cursor node { id title year } }
      pageInfo { hasNextPage hasPreviousPage endCursor }
      totalCount
    }
  }`;

async function listMovies(variables: Record<string, unknown>): Promise<MoviesPage['movies']> {
  const result = await graphql<MoviesPage>(moviesQuery, variables);
  expect(result.errors).toBeUndefined();
  return result.data!.movies;
}

/** Follows endCursor to the end; returns every node in the order served. */
async function walkAllPages(variables: Record<string, unknown>, first: number): Promise<{ nodes: MovieNode[]; pages: number }> {
  const nodes: MovieNode[] = [];
  let after: string | null = null;
  let pages = 0;
  for (;;) {
    const page = await listMovies({ ...variables, first, after });
    pages += 1;
    nodes.push(...page.edges.map((edge) => edge.node));
    expect(page.pageInfo.hasPreviousPage).toBe(after !== null);
    if (!page.pageInfo.hasNextPage) return { nodes, pages };
    after = page.pageInfo.endCursor;
    expect(pages).toBeLessThan(50);
  }
}

describe('movie and person lookups', () => {
  it('returns a movie with its directors and cast in billing order, and a person with both filmographies', async () => {
    const db = postgres.db;
    const [heat, ronin] = await insertMovies(db, [
      { title: 'Heat', year: 1995, genres: ['Crime', 'Thriller'], overview: 'A group of professional bank robbers.' },
      { title: 'Ronin', year: 1998, genres: ['Action'] },
    ]);
    const mann = await insertPerson(db, 'Michael Mann');
    const deNiro = await insertPerson(db, 'Robert De Niro');
    const pacino = await insertPerson(db, 'Al Pacino');
    await insertCredit(db, { movieId: heat!, personId: mann, role: 'DIRECTOR', position: 0 });
    await insertCredit(db, { movieId: heat!, personId: pacino, role: 'ACTOR', position: 0, character: 'Vincent Hanna' });
    await insertCredit(db, { movieId: heat!, personId: deNiro, role: 'ACTOR', position: 1, character: 'Neil McCauley' });
    await insertCredit(db, { movieId: ronin!, personId: deNiro, role: 'ACTOR', position: 0, character: 'Sam' });
    await insertCredit(db, { movieId: ronin!, personId: deNiro, role: 'DIRECTOR', position: 0 });

    const result = await graphql<{
      movie: { id: string; title: string; year: number; genres: string[]; directors: { name: string }[]; cast: { person: { name: string }; character: string }[] };
      person: { name: string; directed: { title: string }[]; actedIn: { title: string }[] };
    }>(
      `query($movie: ID!, $person: ID!) {
        movie(id: $movie) { id title year genres directors { name } cast { person { name } character } }
        person(id: $person) { name directed { title } actedIn { title } }
      }`,
      { movie: heat, person: deNiro },
    );

    expect(result.errors).toBeUndefined();
    expect(result.data!.movie).toEqual({
      id: heat,
      title: 'Heat',
      year: 1995,
      genres: ['Crime', 'Thriller'],
      directors: [{ name: 'Michael Mann' }],
      cast: [
        { person: { name: 'Al Pacino' }, character: 'Vincent Hanna' },
        { person: { name: 'Robert De Niro' }, character: 'Neil McCauley' },
      ],
    });
    expect(result.data!.person).toEqual({
      name: 'Robert De Niro',
      directed: [{ title: 'Ronin' }],
      actedIn: [{ title: 'Ronin' }, { title: 'Heat' }],
    });
  });

  it('answers null, not an error, for ids that are malformed or unknown', async () => {
    const result = await graphql<Record<string, null>>(
      `{ a: movie(id: "abc") { id } b: movie(id: "999999999999") { id } c: movie(id: "99999999999999999999") { id }
         d: person(id: "-1") { id } e: person(id: "1.5") { id } }`,
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ a: null, b: null, c: null, d: null, e: null });
  });
});

describe('movies listing', () => {
  const sorts = ['TITLE', 'YEAR_DESC', 'YEAR_ASC', 'RELEVANCE'] as const;

  it.each(sorts)('walks every page sorted by %s, returning each movie exactly once in order', async (sort) => {
    const genre = uniqueTag('walk');
    // Equal titles and equal or missing years force the id tie-breaker to do its job.
    const ids = await insertMovies(postgres.db, [
      { title: 'Alpha', year: 2001, genres: [genre] },
      { title: 'alpha', year: 2001, genres: [genre] },
      { title: 'Bravo', year: null, genres: [genre] },
      { title: 'Charlie', year: 1999, genres: [genre] },
      { title: 'Delta', year: 2001, genres: [genre] },
      { title: 'Echo', year: null, genres: [genre] },
      { title: 'Foxtrot', year: 2010, genres: [genre] },
    ]);

    const { nodes, pages } = await walkAllPages({ filter: { genres: [genre] }, sort }, 3);

    expect(pages).toBe(3);
    expect(nodes.map((node) => node.id).sort()).toEqual([...ids].sort());
    expect(nodes).toEqual([...nodes].sort(comparatorFor(sort)));
  });

  it('reports the total of all matches on every page', async () => {
    const genre = uniqueTag('total');
    await insertMovies(postgres.db, Array.from({ length: 5 }, (_, index) => ({ title: `Total ${index}`, genres: [genre] })));
    const first = await listMovies({ filter: { genres: [genre] }, first: 2 });
    const second = await listMovies({ filter: { genres: [genre] }, first: 2, after: first.pageInfo.endCursor });
    expect([first.totalCount, second.totalCount]).toEqual([5, 5]);
    expect(first.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
  });

  it('reports the total of all search matches on the first page (counted with it) and on later ones', async () => {
    const genre = uniqueTag('nebula');
    await insertMovies(postgres.db, Array.from({ length: 5 }, (_, index) => ({ title: `Nebula Drift ${index}`, genres: [genre] })));
    const first = await listMovies({ filter: { search: 'nebula drift', genres: [genre] }, first: 2 });
    const second = await listMovies({ filter: { search: 'nebula drift', genres: [genre] }, first: 2, after: first.pageInfo.endCursor });
    const none = await listMovies({ filter: { search: 'nebula drift', genres: [uniqueTag('empty')] }, first: 2 });
    expect([first.totalCount, second.totalCount, none.totalCount]).toEqual([5, 5, 0]);
  });

  it('counts the matches only when totalCount is asked for, also through a fragment', async () => {
    const genre = uniqueTag('lazy');
    await insertMovies(postgres.db, [{ title: 'Lazy One', genres: [genre] }, { title: 'Lazy Two', genres: [genre] }]);
    const statements = logClientQueries(postgres.pool);
    for (const search of [null, 'lazy']) {
      const filter = { genres: [genre], ...(search ? { search } : {}) };
      statements.length = 0;
      const withoutCount = await graphql<{ movies: { edges: unknown[] } }>('query($filter: MovieFilter) { movies(filter: $filter) { edges { cursor } } }', { filter });
      expect(withoutCount.data!.movies.edges).toHaveLength(2);
      expect(statements.filter((text) => text.includes('from "movies"."movies"')).length, `search ${search}`).toBe(1);
      expect(statements.filter((text) => /count\(\*\)/.test(text)), `search ${search}`).toEqual([]);

      statements.length = 0;
      const throughFragment = await graphql<{ movies: { totalCount: number } }>(
        'query($filter: MovieFilter) { movies(filter: $filter) { ...Total } } fragment Total on MovieConnection { ... on MovieConnection { totalCount } }',
        { filter },
      );
      expect(throughFragment.data!.movies.totalCount, `search ${search}`).toBe(2);
      expect(statements.filter((text) => /count\(\*\)/.test(text)), `search ${search}`).toHaveLength(1);
    }
  });

  it('finds a movie by a title with a typo, and by a word of its overview', async () => {
    const [godfather, matrix, zanzibar] = await insertMovies(postgres.db, [
      { title: 'The Godfather', year: 1972, overview: 'The aging patriarch of an organized crime dynasty transfers control.' },
      { title: 'The Matrix', year: 1999 },
      { title: 'Zanzibar Nocturne', year: 2003, overview: 'Smugglers plan one last heist under the monsoon.' },
    ]);

    const expectations: [string, string | undefined][] = [
      ['Godfathr', godfather],
      ['the godfahter', godfather],
      ['Godfather', godfather],
      // scores 0.57 against "the matrix": found only thanks to the lowered word-similarity threshold
      ['matrex', matrix],
    ];
    for (const [typo, expected] of expectations) {
      const page = await listMovies({ filter: { search: typo }, first: 5 });
      expect(page.edges[0]?.node.id, `search "${typo}"`).toBe(expected);
    }
    const byStem = await listMovies({ filter: { search: 'heists monsoon' }, first: 5 });
    expect(byStem.edges.map((edge) => edge.node.id)).toEqual([zanzibar]);
    const typoInLongTitle = await listMovies({ filter: { search: 'zanzibr' }, first: 5 });
    expect(typoInLongTitle.edges.map((edge) => edge.node.id)).toContain(zanzibar);
  });

  it('pages through search results by relevance without repeats', async () => {
    const genre = uniqueTag('quasar');
    const ids = await insertMovies(postgres.db, [
      { title: 'Quasar', genres: [genre] },
      { title: 'Quasar Run', genres: [genre] },
      { title: 'Quasar Run Two', genres: [genre] },
      { title: 'Return of the Quasar Run', genres: [genre] },
      { title: 'Quasar', genres: [genre] },
    ]);
    const { nodes } = await walkAllPages({ filter: { search: 'quasar', genres: [genre] }, sort: 'RELEVANCE' }, 2);
    expect(nodes.map((node) => node.id).sort()).toEqual([...ids].sort());
    expect(nodes[0]!.title).toBe('Quasar');
  });

  it('requires all listed genres, any listed language, the year range and the person', async () => {
    const [a, b, c, d] = [uniqueTag('g'), uniqueTag('g'), uniqueTag('g'), uniqueTag('g')];
    const [both, onlyA, onlyB, french] = await insertMovies(postgres.db, [
      { title: 'Both', year: 1990, genres: [a, b, c] },
      { title: 'Only A', year: 2000, genres: [a, c] },
      { title: 'Only B', year: 2010, genres: [b, c] },
      { title: 'Français', year: 2000, genres: [a, c, d], languages: ['fr'] },
    ]);
    const director = await insertPerson(postgres.db, 'Listing Director');
    const actor = await insertPerson(postgres.db, 'Listing Actor');
    await insertCredit(postgres.db, { movieId: onlyB!, personId: director, role: 'DIRECTOR', position: 0 });
    await insertCredit(postgres.db, { movieId: both!, personId: actor, role: 'ACTOR', position: 3 });

    const idsFor = async (filter: Record<string, unknown>) =>
      (await listMovies({ filter: { genres: [c], ...filter }, sort: 'TITLE' })).edges.map((edge) => edge.node.id);

    expect(await idsFor({ genres: [a, b] })).toEqual([both]);
    expect(await idsFor({ genres: [a] })).toEqual([both, french, onlyA]);
    expect(await idsFor({ languages: ['fr', 'de'] })).toEqual([french]);
    expect(await idsFor({ yearFrom: 1995, yearTo: 2005 })).toEqual([french, onlyA]);
    expect(await idsFor({ yearFrom: 2005 })).toEqual([onlyB]);
    expect(await idsFor({ personId: director })).toEqual([onlyB]);
    expect(await idsFor({ personId: actor })).toEqual([both]);
    expect(await idsFor({ genres: [a, b, d] })).toEqual([]);
  });

  it.each(['YEAR_DESC', 'YEAR_ASC'] as const)('pages through a year range sorted by %s, never including movies without a year', async (sort) => {
    const genre = uniqueTag('decade');
    const ids = await insertMovies(postgres.db, [
      { title: 'Early', year: 1989, genres: [genre] },
      { title: 'First', year: 1990, genres: [genre] },
      { title: 'Middle A', year: 1995, genres: [genre] },
      { title: 'Middle B', year: 1995, genres: [genre] },
      { title: 'Last', year: 1999, genres: [genre] },
      { title: 'Late', year: 2000, genres: [genre] },
      { title: 'Undated', year: null, genres: [genre] },
    ]);
    const { nodes } = await walkAllPages({ filter: { genres: [genre], yearFrom: 1990, yearTo: 1999 }, sort }, 2);
    expect(nodes.map((node) => node.id).sort()).toEqual(ids.slice(1, 5).sort());
    expect(nodes).toEqual([...nodes].sort(comparatorFor(sort)));
    const from = await walkAllPages({ filter: { genres: [genre], yearFrom: 1999 }, sort }, 2);
    expect(from.nodes.map((node) => node.title).sort()).toEqual(['Last', 'Late']);
    const until = await walkAllPages({ filter: { genres: [genre], yearTo: 0 }, sort }, 2);
    expect(until.nodes).toEqual([]);
  });

  it('lists every genre once, alphabetically', async () => {
    const [early, late] = ['aaa-' + uniqueTag('genre'), 'zzz-' + uniqueTag('genre')];
    await insertMovies(postgres.db, [
      { title: 'Genre Zero', genres: ['Zebra', 'apple', 'Mango'] },
      { title: 'Genre One', genres: [late, early] },
      { title: 'Genre Two', genres: [early] },
    ]);
    const result = await graphql<{ genres: string[] }>('{ genres }');
    const genres = result.data!.genres;
    expect(genres.filter((genre) => genre === early)).toHaveLength(1);
    expect(genres.indexOf(early)).toBeLessThan(genres.indexOf(late));
    const caseInsensitive = (x: string, y: string) => compare(x.toLowerCase(), y.toLowerCase()) || compare(x, y);
    expect(genres).toEqual([...genres].sort(caseInsensitive));
  });
});

describe('bad input', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['an empty search', { filter: { search: '' } }, 'filter.search'],
    ['a blank search', { filter: { search: '   ' } }, 'filter.search'],
    ['a search longer than 200 characters', { filter: { search: 'x'.repeat(201) } }, 'filter.search'],
    ['a search with a NUL character', { filter: { search: 'heat\u0000' } }, 'filter.search'],
    ['a genre with a NUL character', { filter: { genres: ['Dra\u0000ma'] } }, 'filter.genres'],
    ['yearFrom after yearTo', { filter: { yearFrom: 2001, yearTo: 2000 } }, 'filter.yearFrom'],
    ['a malformed personId', { filter: { personId: 'abc' } }, 'filter.personId'],
    ['too many genres', { filter: { genres: Array.from({ length: 21 }, (_, index) => `g${index}`) } }, 'filter.genres'],
    ['first = 0', { first: 0 }, 'first'],
    ['first above 100', { first: 101 }, 'first'],
    ['an after that is not base64 JSON', { after: 'not a cursor' }, 'after'],
    ['an after of the wrong shape', { after: Buffer.from(JSON.stringify({ order: 'TITLE', keys: [1] })).toString('base64url') }, 'after'],
    ['an after with a NUL character', { after: Buffer.from(JSON.stringify({ order: 'TITLE', keys: ['a\u0000', 1] })).toString('base64url') }, 'after'],
    ['an after carrying SQL', { after: Buffer.from(JSON.stringify({ order: 'TITLE', keys: ["'; DROP TABLE x; --", 'y'] })).toString('base64url') }, 'after'],
  ];

  it.each(cases)('rejects %s as BAD_USER_INPUT naming the field', async (_name, variables, field) => {
    const result = await graphql<MoviesPage>(moviesQuery, variables);
    expect(result.data).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(result.errors![0]!.message).toContain(field);
  });

  it('rejects a cursor from a listing in another order', async () => {
    const genre = uniqueTag('order');
    await insertMovies(postgres.db, [{ title: 'One', genres: [genre] }, { title: 'Two', genres: [genre] }]);
    const page = await listMovies({ filter: { genres: [genre] }, sort: 'TITLE', first: 1 });
    const result = await graphql<MoviesPage>(moviesQuery, { filter: { genres: [genre] }, sort: 'YEAR_DESC', after: page.pageInfo.endCursor });
    expect(result.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
  });
});

describe('entity references', () => {
  it('resolves many Movie and Person references with one query per type', async () => {
    const movieIds = await insertMovies(
      postgres.db,
      Array.from({ length: 6 }, (_, index) => ({ title: `Reference ${index}`, year: 2000 + index })),
    );
    const personIds = await Promise.all(['Ref One', 'Ref Two', 'Ref Three'].map((name) => insertPerson(postgres.db, name)));
    const representations = [
      ...movieIds.map((id) => ({ __typename: 'Movie', id })),
      { __typename: 'Movie', id: 'not-a-number' },
      { __typename: 'Movie', id: '987654321' },
      ...personIds.map((id) => ({ __typename: 'Person', id })),
    ];

    queries.reset();
    const result = await graphql<{ _entities: ({ id: string; title?: string; name?: string } | null)[] }>(
      `query($representations: [_Any!]!) {
        _entities(representations: $representations) { ... on Movie { id title } ... on Person { id name } }
      }`,
      { representations },
    );

    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([
      ...movieIds.map((id, index) => ({ id, title: `Reference ${index}` })),
      null,
      null,
      ...personIds.map((id, index) => ({ id, name: ['Ref One', 'Ref Two', 'Ref Three'][index] })),
    ]);
    expect(queries.statements.filter((text) => /from "movies"\."movies"/.test(text))).toHaveLength(1);
    expect(queries.statements.filter((text) => /from "movies"\."people"/.test(text))).toHaveLength(1);
    expect(queries.statements).toHaveLength(2);
  });

  it('loads directors and cast of many movies with one query', async () => {
    const movieIds = await insertMovies(postgres.db, [{ title: 'Credits A' }, { title: 'Credits B' }, { title: 'Credits C' }]);
    const person = await insertPerson(postgres.db, 'Credits Person');
    for (const movieId of movieIds) await insertCredit(postgres.db, { movieId, personId: person, role: 'DIRECTOR', position: 0 });

    queries.reset();
    const result = await graphql<{ _entities: { directors: { name: string }[]; cast: unknown[] }[] }>(
      `query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Movie { directors { name } cast { character } } } }`,
      { representations: movieIds.map((id) => ({ __typename: 'Movie', id })) },
    );

    expect(result.data!._entities).toEqual(movieIds.map(() => ({ directors: [{ name: 'Credits Person' }], cast: [] })));
    expect(queries.statements.filter((text) => /"movies"\."movie_credits"/.test(text))).toHaveLength(1);
  });
});

function comparatorFor(sort: 'TITLE' | 'YEAR_DESC' | 'YEAR_ASC' | 'RELEVANCE'): (a: MovieNode, b: MovieNode) => number {
  const byId = (a: MovieNode, b: MovieNode) => Number(a.id) - Number(b.id);
  switch (sort) {
    case 'TITLE':
    case 'RELEVANCE':
      return (a, b) => compare(a.title.toLowerCase(), b.title.toLowerCase()) || byId(a, b);
    case 'YEAR_ASC':
      return (a, b) => (a.year ?? Infinity) - (b.year ?? Infinity) || byId(a, b);
    case 'YEAR_DESC':
      return (a, b) => (b.year ?? -Infinity) - (a.year ?? -Infinity) || byId(b, a);
  }
}

const compare = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);

/**
 * Records the SQL of every statement any client of the pool runs from now on, transactions
 * included (logPoolQueries sees only pool.query).
 */
function logClientQueries(pool: PostgresHandle['pool']): string[] {
  const statements: string[] = [];
  const wrapped = new WeakSet<object>();
  pool.on('acquire', (client) => {
    if (wrapped.has(client)) return;
    wrapped.add(client);
    // pg's query has many overloads; the wrapper forwards its arguments untouched and only reads the text.
    const observed = client as unknown as { query: (...args: unknown[]) => unknown };
    const original = observed.query.bind(client);
    observed.query = (...args: unknown[]) => {
      const [first] = args;
      statements.push(typeof first === 'string' ? first : String((first as { text?: unknown } | undefined)?.text));
      return original(...args);
    };
  });
  return statements;
}
