import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DatasetMovie } from '../../scripts/lib/dataset.ts';
import { defaultMovieLensDir, parseCsvLine, parseMovieLensTitle, readMovieLensDataset } from '../../scripts/lib/movielens.ts';

describe('parseCsvLine', () => {
  it.each([
    ['1,Toy Story (1995),Adventure|Animation', ['1', 'Toy Story (1995)', 'Adventure|Animation']],
    ['11,"American President, The (1995)",Comedy|Drama', ['11', 'American President, The (1995)', 'Comedy|Drama']],
    ['7789,"11\'09""01 - September 11 (2002)",Drama', ['7789', '11\'09"01 - September 11 (2002)', 'Drama']],
    ['567,4552,"""artsy""",1525285878', ['567', '4552', '"artsy"', '1525285878']],
    ['a,,c', ['a', '', 'c']],
    [',', ['', '']],
    ['', ['']],
    ['"",x', ['', 'x']],
    ['x,""', ['x', '']],
    ['"a,b",', ['a,b', '']],
    ['"only"', ['only']],
    ['"a ""quoted"", and, commas",2', ['a "quoted", and, commas', '2']],
    ['"""",1', ['"', '1']],
    [' spaced , kept ', [' spaced ', ' kept ']],
  ])('parses %j', (line, expected) => {
    expect(parseCsvLine(line)).toEqual(expected);
  });

  it.each([
    ['1,"unterminated,x', /unterminated quoted field starting at column 3/],
    ['1,"closed"junk,x', /unexpected character "j" after closing quote at column 11/],
    ['1,half"quote,x', /quote inside an unquoted field at column 7/],
    ['"a""', /unterminated/],
  ])('rejects %j', (line, message) => {
    expect(() => parseCsvLine(line)).toThrow(message);
  });
});

describe('parseMovieLensTitle', () => {
  it.each([
    ['Toy Story (1995)', 'Toy Story', 1995],
    ['Babylon 5', 'Babylon 5', null],
    ['Dead Again (1991) ', 'Dead Again', 1991],
    ['Blind Side, The  (2009)', 'The Blind Side', 2009],
    ['American President, The (1995)', 'The American President', 1995],
    ['Few Good Men, A (1992)', 'A Few Good Men', 1992],
    ['City of Lost Children, The (Cité des enfants perdus, La) (1995)', 'The City of Lost Children (Cité des enfants perdus, La)', 1995],
    ['Misérables, Les (1995)', 'Misérables, Les', 1995],
    ['Boot, Das (Boat, The) (1981)', 'Boot, Das (Boat, The)', 1981],
    ['(500) Days of Summer (2009)', '(500) Days of Summer', 2009],
    ['1984 (1956)', '1984', 1956],
    ['Death Note: Desu nôto (2006–2007)', 'Death Note: Desu nôto', 2006],
    ['Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il) (1966)', 'The Good, the Bad and the Ugly (Buono, il brutto, il cattivo, Il)', 1966],
    ['(2019)', '(2019)', null],
  ])('splits %j', (raw, title, year) => {
    expect(parseMovieLensTitle(raw)).toEqual({ title, year });
  });
});

// A tiny MovieLens-shaped directory, written by the test: MovieLens data itself must not be
// committed (its licence forbids redistribution).
const temporaryRoot = mkdtempSync(join(tmpdir(), 'movielens-test-'));
afterAll(() => rmSync(temporaryRoot, { recursive: true, force: true }));

let directoryCounter = 0;
function writeDirectory(files: Record<string, string>): string {
  const dir = join(temporaryRoot, `case-${++directoryCounter}`);
  mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

const MOVIES_CSV = [
  'movieId,title,genres',
  '1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy',
  '11,"American President, The (1995)",Comedy|Drama|Romance',
  '40697,Babylon 5,Sci-Fi',
  '7789,"11\'09""01 - September 11 (2002)",Drama',
  '143410,Hyena Road,(no genres listed)',
  '',
].join('\r\n');

const RATINGS_CSV = [
  'userId,movieId,rating,timestamp',
  '1,1,4.0,964982703',
  '1,11,0.5,964981247',
  '2,40697,5.0,1445714994',
  '2,1,3.5,1445714000',
  '10,7789,2.5,1000000000',
  '',
].join('\n');

const TAGS_CSV = [
  'userId,movieId,tag,timestamp',
  '1,1,pixar,1445714994',
  '2,1,Pixar ,1445714995',
  '3,1,  fun,1445714996',
  '2,11,"politics, satire",1445714997',
  '2,11,,1445714998',
  '2,999,orphan tag,1445714999',
  '',
].join('\n');

const LINKS_CSV = ['movieId,imdbId,tmdbId', '1,0114709,862', '11,112346,9087', '40697,0105946,', '999,0000001,1', ''].join('\n');

describe('readMovieLensDataset on a fixture directory', () => {
  const fullDirectory = writeDirectory({ 'movies.csv': `\uFEFF${MOVIES_CSV}`, 'ratings.csv': RATINGS_CSV, 'tags.csv': TAGS_CSV, 'links.csv': LINKS_CSV });

  it('reads movies with clean titles, years, genres, links and tags', async () => {
    const dataset = await readMovieLensDataset(fullDirectory);
    expect(dataset.source).toBe('movielens');
    expect(dataset.people).toEqual([]);
    const byKey = new Map<string, DatasetMovie>(dataset.movies.map((movie) => [movie.key, movie]));
    expect(dataset.movies.map((movie) => movie.key)).toEqual(['ml:movie:1', 'ml:movie:11', 'ml:movie:40697', 'ml:movie:7789', 'ml:movie:143410']);
    expect(byKey.get('ml:movie:1')).toEqual({
      key: 'ml:movie:1',
      title: 'Toy Story',
      year: 1995,
      genres: ['Adventure', 'Animation', 'Children', 'Comedy', 'Fantasy'],
      languages: [],
      runtimeMinutes: null,
      overview: null,
      imdbId: 'tt0114709',
      tmdbId: '862',
      directorKeys: [],
      cast: [],
      tags: ['pixar', 'fun'],
    });
    expect(byKey.get('ml:movie:11')).toMatchObject({ title: 'The American President', year: 1995, imdbId: 'tt0112346', tmdbId: '9087', tags: ['politics, satire'] });
    expect(byKey.get('ml:movie:40697')).toMatchObject({ title: 'Babylon 5', year: null, imdbId: 'tt0105946', tmdbId: null, tags: [] });
    expect(byKey.get('ml:movie:7789')).toMatchObject({ title: '11\'09"01 - September 11', year: 2002, imdbId: null, tmdbId: null });
    expect(byKey.get('ml:movie:143410')).toMatchObject({ title: 'Hyena Road', genres: [] });
  });

  it('derives users from ratings, created at their first rating', async () => {
    const dataset = await readMovieLensDataset(fullDirectory);
    expect(dataset.users).toEqual([
      { key: 'ml:user:1', username: 'ml_user_1', displayName: null, favoriteGenres: [], createdAt: new Date(964981247 * 1000) },
      { key: 'ml:user:2', username: 'ml_user_2', displayName: null, favoriteGenres: [], createdAt: new Date(1445714000 * 1000) },
      { key: 'ml:user:10', username: 'ml_user_10', displayName: null, favoriteGenres: [], createdAt: new Date(1000000000 * 1000) },
    ]);
  });

  it('streams ratings repeatably, with an exact count and no reactions', async () => {
    const dataset = await readMovieLensDataset(fullDirectory);
    expect(dataset.ratingCount).toBe(5);
    const ratings = [...dataset.ratings()];
    expect(ratings[0]).toEqual({ userKey: 'ml:user:1', movieKey: 'ml:movie:1', rating: 4, at: new Date(964982703 * 1000) });
    expect(ratings.map((rating) => rating.rating)).toEqual([4, 0.5, 5, 3.5, 2.5]);
    const iterable = dataset.ratings();
    expect([...iterable]).toEqual(ratings);
    expect([...iterable]).toEqual(ratings);
    expect([...dataset.reactions()]).toEqual([]);
  });

  it('keeps the 20 most frequent tags per movie', async () => {
    const tagRows = ['userId,movieId,tag,timestamp'];
    // Tag t<n> is given n times, so the expected order is t25 .. t6.
    for (let n = 1; n <= 25; n++) for (let user = 1; user <= n; user++) tagRows.push(`${user},1,T${n},1445714994`);
    const dir = writeDirectory({ 'movies.csv': MOVIES_CSV, 'ratings.csv': RATINGS_CSV, 'tags.csv': tagRows.join('\n') });
    const dataset = await readMovieLensDataset(dir);
    const toyStory = dataset.movies.find((movie) => movie.key === 'ml:movie:1') as DatasetMovie;
    expect(toyStory.tags).toEqual(Array.from({ length: 20 }, (_, index) => `t${25 - index}`));
  });

  it('works without the optional tags.csv and links.csv', async () => {
    const dir = writeDirectory({ 'movies.csv': MOVIES_CSV, 'ratings.csv': RATINGS_CSV });
    const dataset = await readMovieLensDataset(dir);
    expect(dataset.movies).toHaveLength(5);
    expect(dataset.movies.every((movie) => movie.imdbId === null && movie.tags.length === 0)).toBe(true);
  });
});

describe('readMovieLensDataset errors', () => {
  it('lists every missing required file', async () => {
    const dir = writeDirectory({ 'tags.csv': TAGS_CSV });
    await expect(readMovieLensDataset(dir)).rejects.toThrow(/missing movies\.csv, ratings\.csv/);
    const onlyMovies = writeDirectory({ 'movies.csv': MOVIES_CSV });
    await expect(readMovieLensDataset(onlyMovies)).rejects.toThrow(/missing ratings\.csv \(/);
    await expect(readMovieLensDataset(join(temporaryRoot, 'does-not-exist'))).rejects.toThrow(/missing movies\.csv, ratings\.csv/);
  });

  it.each([
    ['movies.csv', 'movieId,title,genres\n1,"Broken (1995),Drama\n', /movies\.csv:2: unterminated quoted field/],
    ['movies.csv', 'movieId,title,genres\n1,Fine (1995),Drama\nx,Bad id (1995),Drama\n', /movies\.csv:3: movieId must be a non-negative integer, got "x"/],
    ['movies.csv', 'movieId,title,genres\n1,Fine (1995),Drama\n1,Again (1995),Drama\n', /movies\.csv:3: duplicate movieId 1/],
    ['movies.csv', 'movieId,name,genres\n', /movies\.csv:1: header .* lacks column\(s\) title/],
    ['ratings.csv', 'userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,11,6.0,964982703\n', /ratings\.csv:3: rating must be 0\.5 to 5\.0 in steps of 0\.5, got "6\.0"/],
    ['ratings.csv', 'userId,movieId,rating,timestamp\n1,1,4.25,964982703\n', /ratings\.csv:2: rating must be/],
    ['ratings.csv', 'userId,movieId,rating,timestamp\n1,1,4.0\n', /ratings\.csv:2: expected 4 fields, got 3/],
    ['ratings.csv', 'userId,movieId,rating,timestamp\n1,1,4.0,yesterday\n', /ratings\.csv:2: timestamp must be whole unix seconds/],
    ['ratings.csv', 'userId,movieId,rating,timestamp\n1,424242,4.0,964982703\n', /ratings\.csv:2: movieId 424242 does not appear in movies\.csv/],
    ['ratings.csv', '', /ratings\.csv: file is empty/],
    ['links.csv', 'movieId,imdbId,tmdbId\n1,tt0114709,862\n', /links\.csv:2: imdbId must be digits/],
    ['tags.csv', 'userId,movieId,tag,timestamp\n1,1,"bad"tag,1\n', /tags\.csv:2: unexpected character/],
  ])('reports a malformed %s with file and line', async (file, content, message) => {
    const files: Record<string, string> = { 'movies.csv': MOVIES_CSV, 'ratings.csv': RATINGS_CSV, [file]: content };
    await expect(readMovieLensDataset(writeDirectory(files))).rejects.toThrow(message);
  });
});

const ML_LATEST_SMALL = defaultMovieLensDir;
const hasMlLatestSmall = existsSync(join(ML_LATEST_SMALL, 'ratings.csv'));
if (!hasMlLatestSmall) console.log(`Skipping the ml-latest-small test: ${ML_LATEST_SMALL} is not present.`);

describe('readMovieLensDataset on ml-latest-small', () => {
  it.skipIf(!hasMlLatestSmall)('reads the full dataset', async () => {
    const dataset = await readMovieLensDataset(ML_LATEST_SMALL);
    let ratingCount = 0;
    for (const rating of dataset.ratings()) if (rating.rating >= 0.5) ratingCount++;
    expect(dataset.movies).toHaveLength(9_742);
    expect(dataset.users).toHaveLength(610);
    expect(dataset.ratingCount).toBe(100_836);
    expect(ratingCount).toBe(100_836);
    expect(dataset.movies.find((movie) => movie.key === 'ml:movie:1')).toMatchObject({ title: 'Toy Story', year: 1995, imdbId: 'tt0114709', tmdbId: '862' });
    expect(dataset.movies.every((movie) => movie.tags.length <= 20)).toBe(true);
  });
});
