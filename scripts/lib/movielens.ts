// Reads a MovieLens "latest" directory (ml-latest-small, ml-latest) into the common Dataset
// shape. The data itself is never bundled with the project: its licence forbids redistribution.
//
// ratings.csv can hold tens of millions of rows (ml-latest has ~33M), so it is never held in
// memory: one pass up front validates it and collects what users need (first rating time) and
// the exact count; ratings() then re-reads the file on each iteration.

import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Dataset, DatasetMovie, DatasetRating, DatasetUser } from './dataset.ts';
import { repoRoot } from '@platform/shared';

/** Where the workplace keeps ml-latest-small (research licence: read from there, never copied into the repo). */
export const defaultMovieLensDir = join(repoRoot, '..', 'shared', 'data', 'ml-latest-small');

const MAX_TAGS_PER_MOVIE = 20;
const NO_GENRES = '(no genres listed)';
const READ_CHUNK_BYTES = 1 << 20;
const REQUIRED_FILES = ['movies.csv', 'ratings.csv'] as const;

// ---------------------------------------------------------------------------------------------
// CSV

/**
 * Splits one CSV record into fields following RFC 4180: fields may be wrapped in double quotes,
 * inside which commas are literal and a doubled quote stands for one quote. Records spanning
 * several lines (newlines inside quotes) are not supported; MovieLens has none, and such a line
 * is reported as an unterminated quoted field.
 */
export function parseCsvLine(line: string): string[] {
  // Almost every MovieLens line is unquoted; this keeps the common case to a single split.
  if (!line.includes('"')) return line.split(',');
  const fields: string[] = [];
  let position = 0;
  for (;;) {
    if (line.charCodeAt(position) === 0x22 /* " */) {
      let value = '';
      let cursor = position + 1;
      for (;;) {
        const quote = line.indexOf('"', cursor);
        if (quote === -1) throw new Error(`unterminated quoted field starting at column ${position + 1}`);
        value += line.slice(cursor, quote);
        if (line.charCodeAt(quote + 1) === 0x22) {
          value += '"';
          cursor = quote + 2;
          continue;
        }
        cursor = quote + 1;
        break;
      }
      fields.push(value);
      if (cursor === line.length) return fields;
      if (line.charCodeAt(cursor) !== 0x2c /* , */) {
        throw new Error(`unexpected character ${JSON.stringify(line[cursor])} after closing quote at column ${cursor + 1}`);
      }
      position = cursor + 1;
    } else {
      const comma = line.indexOf(',', position);
      const end = comma === -1 ? line.length : comma;
      const value = line.slice(position, end);
      const strayQuote = value.indexOf('"');
      if (strayQuote !== -1) throw new Error(`quote inside an unquoted field at column ${position + strayQuote + 1}`);
      fields.push(value);
      if (comma === -1) return fields;
      position = comma + 1;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Titles

// "Title (1995)", "Title (2006–2007)" (series), with stray spaces before or after the year.
const TITLE_YEAR = /^(.*?)\s*\((\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\)\s*$/;
// MovieLens files English titles library-style ("Usual Suspects, The"), optionally followed
// by an alternative title in parentheses ("Postman, The (Postino, Il)").
const TRAILING_ARTICLE = /^(.+), (The|A|An)((?: \([^()]*\))*)$/;

/**
 * Splits a MovieLens title into the display title and the release year, and moves a trailing
 * English article back to the front ("American President, The (1995)" → "The American
 * President", 1995). Articles of other languages ("Misérables, Les") are left alone, since
 * moving them correctly needs per-language elision rules (L', Il, ...).
 */
export function parseMovieLensTitle(rawTitle: string): { title: string; year: number | null } {
  const trimmed = rawTitle.trim();
  const match = TITLE_YEAR.exec(trimmed);
  let title = match === null ? trimmed : (match[1] as string).trim();
  const year = match === null ? null : Number(match[2]);
  // A title that is nothing but a year in parentheses is a title, not a missing one.
  if (title === '') return { title: trimmed, year: null };
  const article = TRAILING_ARTICLE.exec(title);
  if (article !== null) title = `${article[2]} ${article[1]}${article[3]}`;
  return { title, year };
}

// ---------------------------------------------------------------------------------------------
// Line reading

/** Cuts decoded text into lines across chunk boundaries; accepts LF and CRLF, drops a BOM. */
class LineSplitter {
  #pending = '';
  #started = false;

  push(text: string): string[] {
    let chunk = this.#pending + text;
    if (!this.#started && chunk.length > 0) {
      this.#started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    const lines = chunk.split('\n');
    this.#pending = lines.pop() as string;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string;
      if (line.endsWith('\r')) lines[i] = line.slice(0, -1);
    }
    return lines;
  }

  end(): string[] {
    const rest = this.#pending.endsWith('\r') ? this.#pending.slice(0, -1) : this.#pending;
    this.#pending = '';
    return rest === '' ? [] : [rest];
  }
}

async function* readLineBatches(path: string): AsyncGenerator<string[]> {
  const splitter = new LineSplitter();
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: READ_CHUNK_BYTES });
  for await (const chunk of stream) yield splitter.push(chunk as string);
  yield splitter.end();
}

// Synchronous because Dataset.ratings() is a synchronous iterable.
function* readLineBatchesSync(path: string): Generator<string[]> {
  const splitter = new LineSplitter();
  const decoder = new StringDecoder('utf8');
  const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const bytesRead = readSync(fd, buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      yield splitter.push(decoder.write(buffer.subarray(0, bytesRead)));
    }
    yield splitter.push(decoder.end());
    yield splitter.end();
  } finally {
    closeSync(fd);
  }
}

/** A data row with its position, for error messages. */
interface CsvRecord {
  fields: string[];
  lineNumber: number;
}

/** Resolves named columns from a header row and checks each data row against it. */
class CsvTable {
  readonly path: string;
  readonly #columns: Map<string, number>;
  readonly #width: number;

  constructor(path: string, header: string, required: readonly string[]) {
    this.path = path;
    const names = parseCsvLine(header).map((name) => name.trim());
    const missing = required.filter((name) => !names.includes(name));
    if (missing.length > 0) {
      throw new Error(`${path}:1: header ${JSON.stringify(header)} lacks column(s) ${missing.join(', ')} (expected ${required.join(',')})`);
    }
    this.#columns = new Map(names.map((name, index) => [name, index]));
    this.#width = names.length;
  }

  column(name: string): number {
    return this.#columns.get(name) as number;
  }

  parse(line: string, lineNumber: number): string[] {
    let fields: string[];
    try {
      fields = parseCsvLine(line);
    } catch (error) {
      throw this.error(lineNumber, (error as Error).message);
    }
    if (fields.length !== this.#width) throw this.error(lineNumber, `expected ${this.#width} fields, got ${fields.length}: ${JSON.stringify(line)}`);
    return fields;
  }

  error(lineNumber: number, message: string): Error {
    return new Error(`${this.path}:${lineNumber}: ${message}`);
  }
}

/** Calls onRecord for every non-blank data row, after checking the header. */
async function readCsv(path: string, required: readonly string[], onRecord: (table: CsvTable, record: CsvRecord) => void): Promise<void> {
  let table: CsvTable | null = null;
  let lineNumber = 0;
  for await (const lines of readLineBatches(path)) {
    for (const line of lines) {
      lineNumber++;
      if (table === null) {
        table = new CsvTable(path, line, required);
        continue;
      }
      if (line.trim() === '') continue;
      onRecord(table, { fields: table.parse(line, lineNumber), lineNumber });
    }
  }
  if (table === null) throw new Error(`${path}: file is empty, expected a header line ${required.join(',')}`);
}

// ---------------------------------------------------------------------------------------------
// Field parsing

const DIGITS = /^\d+$/;

function parseId(table: CsvTable, lineNumber: number, column: string, value: string): number {
  if (!DIGITS.test(value)) throw table.error(lineNumber, `${column} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

function parseTimestamp(table: CsvTable, lineNumber: number, value: string): number {
  if (!DIGITS.test(value)) throw table.error(lineNumber, `timestamp must be whole unix seconds, got ${JSON.stringify(value)}`);
  return Number(value);
}

function parseRating(table: CsvTable, lineNumber: number, value: string): number {
  const rating = Number(value);
  if (value.trim() === '' || !Number.isFinite(rating) || rating < 0.5 || rating > 5 || !Number.isInteger(rating * 2)) {
    throw table.error(lineNumber, `rating must be 0.5 to 5.0 in steps of 0.5, got ${JSON.stringify(value)}`);
  }
  return rating;
}

interface RatingRow {
  userId: number;
  movieId: number;
  rating: number;
  timestamp: number;
}

const RATING_COLUMNS = ['userId', 'movieId', 'rating', 'timestamp'] as const;

function parseRatingRow(table: CsvTable, record: CsvRecord, knownMovieIds: ReadonlySet<number>): RatingRow {
  const { fields, lineNumber } = record;
  const movieId = parseId(table, lineNumber, 'movieId', fields[table.column('movieId')] as string);
  // A rating of a movie the catalogue lacks would only fail later, inside the database load.
  if (!knownMovieIds.has(movieId)) throw table.error(lineNumber, `movieId ${movieId} does not appear in movies.csv`);
  return {
    userId: parseId(table, lineNumber, 'userId', fields[table.column('userId')] as string),
    movieId,
    rating: parseRating(table, lineNumber, fields[table.column('rating')] as string),
    timestamp: parseTimestamp(table, lineNumber, fields[table.column('timestamp')] as string),
  };
}

function movieKey(movieId: number): string {
  return `ml:movie:${movieId}`;
}

function userKey(userId: number): string {
  return `ml:user:${userId}`;
}

// ---------------------------------------------------------------------------------------------
// Files

async function assertRequiredFiles(dir: string): Promise<void> {
  const missing: string[] = [];
  for (const file of REQUIRED_FILES) {
    const info = await stat(join(dir, file)).catch(() => null);
    if (info === null || !info.isFile()) missing.push(file);
  }
  if (missing.length > 0) {
    throw new Error(`${dir} is not a MovieLens directory: missing ${missing.join(', ')} (tags.csv and links.csv are optional)`);
  }
}

async function exists(path: string): Promise<boolean> {
  const info = await stat(path).catch(() => null);
  return info !== null && info.isFile();
}

async function readMovies(path: string): Promise<Map<number, DatasetMovie>> {
  const movies = new Map<number, DatasetMovie>();
  await readCsv(path, ['movieId', 'title', 'genres'], (table, { fields, lineNumber }) => {
    const movieId = parseId(table, lineNumber, 'movieId', fields[table.column('movieId')] as string);
    if (movies.has(movieId)) throw table.error(lineNumber, `duplicate movieId ${movieId}`);
    const rawTitle = fields[table.column('title')] as string;
    if (rawTitle.trim() === '') throw table.error(lineNumber, 'title is empty');
    const { title, year } = parseMovieLensTitle(rawTitle);
    const genreField = (fields[table.column('genres')] as string).trim();
    const genres = genreField === NO_GENRES || genreField === '' ? [] : genreField.split('|').map((genre) => genre.trim()).filter((genre) => genre !== '');
    movies.set(movieId, {
      key: movieKey(movieId),
      title,
      year,
      genres,
      languages: [],
      runtimeMinutes: null,
      overview: null,
      imdbId: null,
      tmdbId: null,
      directorKeys: [],
      cast: [],
      tags: [],
    });
  });
  return movies;
}

async function readLinks(path: string, movies: ReadonlyMap<number, DatasetMovie>): Promise<void> {
  await readCsv(path, ['movieId', 'imdbId', 'tmdbId'], (table, { fields, lineNumber }) => {
    const movieId = parseId(table, lineNumber, 'movieId', fields[table.column('movieId')] as string);
    const imdbDigits = (fields[table.column('imdbId')] as string).trim();
    const tmdbDigits = (fields[table.column('tmdbId')] as string).trim();
    if (imdbDigits !== '' && !DIGITS.test(imdbDigits)) throw table.error(lineNumber, `imdbId must be digits, got ${JSON.stringify(imdbDigits)}`);
    if (tmdbDigits !== '' && !DIGITS.test(tmdbDigits)) throw table.error(lineNumber, `tmdbId must be digits or empty, got ${JSON.stringify(tmdbDigits)}`);
    // A link for a movie outside the catalogue has nothing to attach to; it is harmless.
    const movie = movies.get(movieId);
    if (movie === undefined) return;
    // IMDb ids are "tt" plus at least 7 digits; links.csv stores them without the prefix.
    movie.imdbId = imdbDigits === '' ? null : `tt${imdbDigits.padStart(7, '0')}`;
    movie.tmdbId = tmdbDigits === '' ? null : String(Number(tmdbDigits));
  });
}

async function readTags(path: string, movies: ReadonlyMap<number, DatasetMovie>): Promise<void> {
  const countsByMovie = new Map<number, Map<string, number>>();
  await readCsv(path, ['userId', 'movieId', 'tag', 'timestamp'], (table, { fields, lineNumber }) => {
    parseId(table, lineNumber, 'userId', fields[table.column('userId')] as string);
    parseTimestamp(table, lineNumber, fields[table.column('timestamp')] as string);
    const movieId = parseId(table, lineNumber, 'movieId', fields[table.column('movieId')] as string);
    const tag = (fields[table.column('tag')] as string).trim().toLowerCase();
    if (tag === '' || !movies.has(movieId)) return;
    let counts = countsByMovie.get(movieId);
    if (counts === undefined) {
      counts = new Map();
      countsByMovie.set(movieId, counts);
    }
    counts.set(tag, (counts.get(tag) ?? 0) + 1);
  });
  for (const [movieId, counts] of countsByMovie) {
    const movie = movies.get(movieId) as DatasetMovie;
    // Ties are broken alphabetically so the chosen tags do not depend on row order.
    movie.tags = [...counts]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, MAX_TAGS_PER_MOVIE)
      .map(([tag]) => tag);
  }
}

/** The validating first pass over ratings.csv. */
async function scanRatings(path: string, knownMovieIds: ReadonlySet<number>): Promise<{ count: number; firstRatingByUser: Map<number, number> }> {
  const firstRatingByUser = new Map<number, number>();
  let count = 0;
  await readCsv(path, RATING_COLUMNS, (table, record) => {
    const row = parseRatingRow(table, record, knownMovieIds);
    count++;
    const first = firstRatingByUser.get(row.userId);
    if (first === undefined || row.timestamp < first) firstRatingByUser.set(row.userId, row.timestamp);
  });
  return { count, firstRatingByUser };
}

function* streamRatings(path: string, knownMovieIds: ReadonlySet<number>, expectedCount: number): Generator<DatasetRating> {
  let table: CsvTable | null = null;
  let lineNumber = 0;
  let count = 0;
  for (const lines of readLineBatchesSync(path)) {
    for (const line of lines) {
      lineNumber++;
      if (table === null) {
        table = new CsvTable(path, line, RATING_COLUMNS);
        continue;
      }
      if (line.trim() === '') continue;
      const row = parseRatingRow(table, { fields: table.parse(line, lineNumber), lineNumber }, knownMovieIds);
      count++;
      yield { userKey: userKey(row.userId), movieKey: movieKey(row.movieId), rating: row.rating, at: new Date(row.timestamp * 1000) };
    }
  }
  // The users and ratingCount came from the first pass; a file that changed since would make
  // them silently wrong.
  if (count !== expectedCount) throw new Error(`${path} changed while the dataset was in use: read ${count} ratings, expected ${expectedCount}`);
}

export async function readMovieLensDataset(dir: string): Promise<Dataset> {
  await assertRequiredFiles(dir);
  const moviesPath = join(dir, 'movies.csv');
  const ratingsPath = join(dir, 'ratings.csv');
  const linksPath = join(dir, 'links.csv');
  const tagsPath = join(dir, 'tags.csv');

  const moviesById = await readMovies(moviesPath);
  if (await exists(linksPath)) await readLinks(linksPath, moviesById);
  if (await exists(tagsPath)) await readTags(tagsPath, moviesById);
  const knownMovieIds = new Set(moviesById.keys());
  const { count, firstRatingByUser } = await scanRatings(ratingsPath, knownMovieIds);

  const users: DatasetUser[] = [...firstRatingByUser]
    .sort((a, b) => a[0] - b[0])
    .map(([userId, firstTimestamp]) => ({
      key: userKey(userId),
      username: `ml_user_${userId}`,
      displayName: null,
      // Left empty on purpose: deriving favourites from the ratings would leak the very data
      // that recommenders are evaluated against.
      favoriteGenres: [],
      createdAt: new Date(firstTimestamp * 1000),
    }));

  return {
    source: 'movielens',
    people: [],
    movies: [...moviesById.values()],
    users,
    ratings: () => ({ [Symbol.iterator]: () => streamRatings(ratingsPath, knownMovieIds, count) }),
    reactions: () => [],
    ratingCount: count,
  };
}
