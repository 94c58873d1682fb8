import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyEvent } from '@platform/shared';
import { insertPerson } from './fixtures.ts';
import { startMoviesHarness, type MoviesHarness } from './harness.ts';

// addMovie / updateMovie over HTTP: what admins may write, what the movie.created and
// movie.updated events on the stream look like (once each, in commit order), and that callers who
// are not admins or send bad input write nothing, neither a row nor an outbox event.

let harness: MoviesHarness;
let adminToken: string;
let userToken: string;

beforeAll(async () => {
  harness = await startMoviesHarness('movies_edits_it');
  adminToken = await harness.tokenFor('ADMIN');
  userToken = await harness.tokenFor('USER');
});

afterAll(async () => {
  await harness?.stop();
});

/** A title no other test uses, so checks on "nothing was written" can look for it. */
const uniqueTitle = (label: string): string => `${label} ${randomBytes(4).toString('hex')}`;

interface MovieAnswer {
  id: string;
  title: string;
  year: number | null;
  genres: string[];
  languages: string[];
  runtimeMinutes: number | null;
  overview: string | null;
  imdbId: string | null;
  tmdbId: string | null;
  directors: { id: string; name: string }[];
  cast: { person: { id: string }; character: string | null }[];
}

const movieFields = 'id title year genres languages runtimeMinutes overview imdbId tmdbId directors { id name } cast { person { id } character }';
const addMovie = `mutation($input: AddMovieInput!) { addMovie(input: $input) { ${movieFields} } }`;
const updateMovie = `mutation($id: ID!, $input: UpdateMovieInput!) { updateMovie(id: $id, input: $input) { ${movieFields} } }`;

async function add(input: Record<string, unknown>, token = adminToken): Promise<MovieAnswer> {
  const result = await harness.graphql<{ addMovie: MovieAnswer }>(addMovie, { input }, { token });
  expect(result.errors).toBeUndefined();
  return result.data!.addMovie;
}

async function update(id: string, input: Record<string, unknown>, token = adminToken): Promise<MovieAnswer> {
  const result = await harness.graphql<{ updateMovie: MovieAnswer }>(updateMovie, { id, input }, { token });
  expect(result.errors).toBeUndefined();
  return result.data!.updateMovie;
}

const eventsAbout = (events: AnyEvent[], movieId: string) =>
  events.filter((event) => (event.type === 'movie.created' || event.type === 'movie.updated') && String(event.payload.movieId) === movieId);

/** Movies and outbox rows in the database, to show that a refused write left nothing behind. */
async function writtenState(): Promise<{ movies: number; outbox: number; credits: number }> {
  const [row] = await harness.rows<{ movies: number; outbox: number; credits: number }>(
    `SELECT (SELECT count(*) FROM movies.movies)::int AS movies, (SELECT count(*) FROM movies.outbox)::int AS outbox,
            (SELECT count(*) FROM movies.movie_credits)::int AS credits`,
  );
  return row!;
}

describe('addMovie', () => {
  it('stores a movie with its credits, answers it from the primary, and announces it once with movie.created', async () => {
    const director = await insertPerson(harness.fixtures.db, 'Edit Director');
    const [lead, support] = [await insertPerson(harness.fixtures.db, 'Edit Lead'), await insertPerson(harness.fixtures.db, 'Edit Support')];
    const title = uniqueTitle('Night Train');

    const movie = await add({
      title: `  ${title}  `,
      year: 1999,
      genres: ['drama', 'Sci-Fi', 'Drama'],
      languages: ['EN', 'fr', 'en'],
      runtimeMinutes: 124,
      overview: 'A train that never stops.',
      imdbId: 'tt0113277',
      tmdbId: '949',
      directorIds: [director],
      castIds: [lead, support, lead],
    });

    expect(movie).toEqual({
      id: expect.stringMatching(/^[1-9][0-9]*$/),
      title,
      year: 1999,
      genres: ['Drama', 'Sci-Fi'],
      languages: ['en', 'fr'],
      runtimeMinutes: 124,
      overview: 'A train that never stops.',
      imdbId: 'tt0113277',
      tmdbId: '949',
      directors: [{ id: director, name: 'Edit Director' }],
      cast: [
        { person: { id: lead }, character: null },
        { person: { id: support }, character: null },
      ],
    });
    const lookup = await harness.graphql<{ movie: MovieAnswer }>(`query($id: ID!) { movie(id: $id) { ${movieFields} } }`, { id: movie.id });
    expect(lookup.data!.movie).toEqual(movie);

    const events = eventsAbout(await harness.publishedEvents(), movie.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'movie.created',
      version: 1,
      producer: 'movies',
      payload: { movieId: Number(movie.id), title, year: 1999, genres: ['Drama', 'Sci-Fi'], languages: ['en', 'fr'], personIds: [director, lead, support].map(Number) },
    });
    expect(Date.parse(events[0]!.payload.at)).not.toBeNaN();
  });

  it('accepts the boundary values and treats blank optional text as none', async () => {
    const latestYear = new Date().getUTCFullYear() + 5;
    const longest = await add({ title: 'é'.repeat(300), year: 1870, runtimeMinutes: 1000, overview: 'o'.repeat(5000), imdbId: 'tt12345678', tmdbId: '' });
    expect(longest).toMatchObject({ title: 'é'.repeat(300), year: 1870, runtimeMinutes: 1000, imdbId: 'tt12345678', tmdbId: null });
    const latest = await add({ title: uniqueTitle('Future'), year: latestYear, runtimeMinutes: 1, overview: '   ', imdbId: ' ' });
    expect(latest).toMatchObject({ year: latestYear, runtimeMinutes: 1, overview: null, imdbId: null, genres: [], languages: [], directors: [], cast: [] });
  });
});

describe('updateMovie', () => {
  it('announces every change once, in commit order, and nothing for an update that changes nothing', async () => {
    const title = uniqueTitle('Draft');
    const movie = await add({ title, year: 2000, genres: ['Drama'] });

    await update(movie.id, { title: `${title} (final cut)` });
    await update(movie.id, { genres: ['Drama', 'Thriller'], languages: ['de'] });
    const unchanged = await update(movie.id, { title: `${title} (final cut)`, genres: ['drama', 'thriller'] });
    expect(unchanged).toMatchObject({ title: `${title} (final cut)`, genres: ['Drama', 'Thriller'], languages: ['de'] });

    const events = eventsAbout(await harness.publishedEvents(), movie.id);
    expect(events.map((event) => [event.type, event.payload])).toEqual([
      ['movie.created', expect.objectContaining({ title, genres: ['Drama'], languages: [] })],
      ['movie.updated', expect.objectContaining({ title: `${title} (final cut)`, genres: ['Drama'], languages: [] })],
      ['movie.updated', expect.objectContaining({ title: `${title} (final cut)`, genres: ['Drama', 'Thriller'], languages: ['de'] })],
    ]);
    expect(new Set(events.map((event) => event.id)).size).toBe(3);
    const [outbox] = await harness.rows<{ n: number }>("SELECT count(*)::int AS n FROM movies.outbox WHERE envelope->'payload'->>'movieId' = $1", [movie.id]);
    expect(outbox!.n).toBe(3);
  });

  it('announces concurrent updates of one movie in the order they committed', async () => {
    const movie = await add({ title: uniqueTitle('Contested'), year: 2001 });
    const titles = Array.from({ length: 8 }, (_, index) => `${movie.title} take ${index}`);
    await Promise.all(titles.map((title) => update(movie.id, { title })));

    const events = eventsAbout(await harness.publishedEvents(), movie.id).filter((event) => event.type === 'movie.updated');
    const [stored] = await harness.rows<{ title: string }>('SELECT title FROM movies.movies WHERE id = $1', [movie.id]);
    expect(events.map((event) => event.payload.title).sort()).toEqual([...titles].sort());
    // The stream's last word is what the database holds, and the times never go backwards.
    expect(events.at(-1)!.payload.title).toBe(stored!.title);
    const times = events.map((event) => Date.parse(event.payload.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('keeps what is left out, clears what is null, and replaces credits keeping the characters of actors who stay', async () => {
    const [a, b, c, d] = await Promise.all(['Keep A', 'Keep B', 'Keep C', 'Keep D'].map((name) => insertPerson(harness.fixtures.db, name)));
    const movie = await add({ title: uniqueTitle('Credits'), year: 1990, overview: 'Before.', imdbId: 'tt7654321', directorIds: [a], castIds: [a, b] });
    await harness.rows("UPDATE movies.movie_credits SET character = 'The Witness' WHERE movie_id = $1 AND person_id = $2 AND role = 'ACTOR'", [movie.id, b]);

    const updated = await update(movie.id, { overview: null, year: null, castIds: [c, b], directorIds: [d, a] });

    expect(updated).toMatchObject({ title: movie.title, year: null, overview: null, imdbId: 'tt7654321' });
    expect(updated.directors.map((person) => person.id)).toEqual([d, a]);
    expect(updated.cast).toEqual([
      { person: { id: c }, character: null },
      { person: { id: b }, character: 'The Witness' },
    ]);
    const events = eventsAbout(await harness.publishedEvents(), movie.id);
    expect(events.at(-1)).toMatchObject({ type: 'movie.updated', payload: { year: null, personIds: [d, a, c, b].map(Number) } });
  });
});

describe('who may edit', () => {
  it('refuses a signed-in user who is not an admin (FORBIDDEN) and an anonymous caller (UNAUTHENTICATED), writing nothing', async () => {
    const existing = await add({ title: uniqueTitle('Guarded'), year: 2010 });
    await harness.publishedEvents();
    const before = await writtenState();
    const title = uniqueTitle('Not yours');

    const byUser = await harness.graphql(addMovie, { input: { title } }, { token: userToken });
    const byUserWithBadInput = await harness.graphql(addMovie, { input: { title: '' } }, { token: userToken });
    const anonymous = await harness.graphql(addMovie, { input: { title } });
    const updateByUser = await harness.graphql(updateMovie, { id: existing.id, input: { title } }, { token: userToken });

    for (const [result, code] of [
      [byUser, 'FORBIDDEN'],
      [byUserWithBadInput, 'FORBIDDEN'],
      [anonymous, 'UNAUTHENTICATED'],
      [updateByUser, 'FORBIDDEN'],
    ] as const) {
      expect(result.data).toBeNull();
      expect(result.errors).toHaveLength(1);
      expect(result.errors![0]!.extensions).toMatchObject({ code });
    }
    expect(await writtenState()).toEqual(before);
    expect(await harness.rows('SELECT id FROM movies.movies WHERE title = $1', [title])).toEqual([]);
    expect(await harness.rows("SELECT id FROM movies.outbox WHERE envelope->'payload'->>'title' = $1", [title])).toEqual([]);
    const [stored] = await harness.rows<{ title: string }>('SELECT title FROM movies.movies WHERE id = $1', [existing.id]);
    expect(stored!.title).toBe(existing.title);
  });
});

describe('bad input', () => {
  const latestYear = new Date().getUTCFullYear() + 5;
  // [what, input, field, text the message must contain besides the field]
  const addCases: [string, Record<string, unknown>, string, string][] = [
    ['an empty title', { title: '' }, 'input.title', 'empty'],
    ['a blank title', { title: '  \t ' }, 'input.title', 'empty'],
    ['a title of 301 characters', { title: 'x'.repeat(301) }, 'input.title', '300'],
    ['a title with a NUL character', { title: 'Heat\u0000' }, 'input.title', 'NUL'],
    ['a year before 1870', { title: 'Old', year: 1869 }, 'input.year', '1870'],
    ['a year more than five years ahead', { title: 'Far', year: latestYear + 1 }, 'input.year', String(latestYear)],
    ['an unknown genre', { title: 'G', genres: ['Drama', 'Space Opera'] }, 'input.genres', 'Space Opera'],
    ['a language name instead of a code', { title: 'L', languages: ['english'] }, 'input.languages', 'english'],
    ['a two-letter code that is not ISO 639-1', { title: 'L', languages: ['en', 'xx'] }, 'input.languages', 'xx'],
    ['a three-letter code', { title: 'L', languages: ['eng'] }, 'input.languages', 'eng'],
    ['a runtime of 0', { title: 'R', runtimeMinutes: 0 }, 'input.runtimeMinutes', '1 and 1000'],
    ['a runtime above 1000', { title: 'R', runtimeMinutes: 1001 }, 'input.runtimeMinutes', '1001'],
    ['an overview of 5001 characters', { title: 'O', overview: 'o'.repeat(5001) }, 'input.overview', '5000'],
    ['an imdbId with too few digits', { title: 'I', imdbId: 'tt123456' }, 'input.imdbId', 'tt123456'],
    ['an imdbId with too many digits', { title: 'I', imdbId: 'tt123456789' }, 'input.imdbId', 'tt123456789'],
    ['an IMDb person id', { title: 'I', imdbId: 'nm0000123' }, 'input.imdbId', 'nm0000123'],
    ['a tmdbId that is not digits', { title: 'T', tmdbId: '12a' }, 'input.tmdbId', '12a'],
    ['a negative tmdbId', { title: 'T', tmdbId: '-5' }, 'input.tmdbId', '-5'],
    ['more than 20 directors', { title: 'D', directorIds: Array.from({ length: 21 }, (_, index) => String(index + 1)) }, 'input.directorIds', '20'],
  ];

  it.each(addCases)('addMovie refuses %s as BAD_USER_INPUT naming the field, writing nothing', async (_what, input, field, detail) => {
    const before = await writtenState();
    const result = await harness.graphql(addMovie, { input }, { token: adminToken });
    expect(result.data).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(result.errors![0]!.message).toMatch(new RegExp(`^${field}: `));
    expect(result.errors![0]!.message).toContain(detail);
    expect(await writtenState()).toEqual(before);
  });

  const updateCases: [string, Record<string, unknown>, string][] = [
    ['a null title', { title: null }, 'input.title'],
    ['a null genre list', { genres: null }, 'input.genres'],
    ['a null cast list', { castIds: null }, 'input.castIds'],
    ['an unknown genre', { genres: ['Noir'] }, 'input.genres'],
    ['a year out of range', { year: 1800 }, 'input.year'],
    ['an empty title', { title: ' ' }, 'input.title'],
  ];

  it.each(updateCases)('updateMovie refuses %s as BAD_USER_INPUT naming the field, changing nothing', async (_what, input, field) => {
    const movie = await add({ title: uniqueTitle('Stable'), genres: ['Comedy'] });
    await harness.publishedEvents();
    const before = await writtenState();
    const result = await harness.graphql(updateMovie, { id: movie.id, input }, { token: adminToken });
    expect(result.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(result.errors![0]!.message).toMatch(new RegExp(`^${field}: `));
    expect(await writtenState()).toEqual(before);
    const [stored] = await harness.rows<{ title: string; genres: string[] }>('SELECT title, genres FROM movies.movies WHERE id = $1', [movie.id]);
    expect(stored).toEqual({ title: movie.title, genres: ['Comedy'] });
  });
});

describe('unknown ids', () => {
  it('addMovie answers NOT_FOUND naming a director or actor who does not exist, writing nothing', async () => {
    const known = await insertPerson(harness.fixtures.db, 'Known Person');
    const before = await writtenState();
    const cases: [Record<string, unknown>, string, string][] = [
      [{ directorIds: [known, '987654321098'] }, 'input.directorIds', '987654321098'],
      [{ castIds: [known, '987654321099'] }, 'input.castIds', '987654321099'],
      [{ castIds: ['not-an-id'] }, 'input.castIds', 'not-an-id'],
    ];
    for (const [input, field, id] of cases) {
      const result = await harness.graphql(addMovie, { input: { title: uniqueTitle('Ghost'), ...input } }, { token: adminToken });
      expect(result.data).toBeNull();
      expect(result.errors![0]!.extensions).toMatchObject({ code: 'NOT_FOUND', field, id });
      expect(result.errors![0]!.message).toContain(`"${id}"`);
    }
    expect(await writtenState()).toEqual(before);
  });

  it('updateMovie answers NOT_FOUND for an unknown or malformed movie id and for an unknown person, changing nothing', async () => {
    const movie = await add({ title: uniqueTitle('Present'), castIds: [] });
    await harness.publishedEvents();
    const before = await writtenState();
    for (const id of ['987654321098', 'abc', '0']) {
      const result = await harness.graphql(updateMovie, { id, input: { title: 'Anything' } }, { token: adminToken });
      expect(result.data).toBeNull();
      expect(result.errors![0]!.extensions).toMatchObject({ code: 'NOT_FOUND', id });
      expect(result.errors![0]!.message).toContain(`"${id}"`);
    }
    const unknownActor = await harness.graphql(updateMovie, { id: movie.id, input: { title: 'Renamed', castIds: ['987654321097'] } }, { token: adminToken });
    expect(unknownActor.errors![0]!.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'input.castIds', id: '987654321097' });
    expect(await writtenState()).toEqual(before);
    const [stored] = await harness.rows<{ title: string }>('SELECT title FROM movies.movies WHERE id = $1', [movie.id]);
    expect(stored!.title).toBe(movie.title);
  });
});
