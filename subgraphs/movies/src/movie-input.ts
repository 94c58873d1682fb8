import type { GraphQLError } from 'graphql';
import { badInput, ErrorCode, platformError } from '@platform/shared';
import { knownGenres } from '@platform/shared/genres';
import { parseNumericId } from '@platform/shared/ids';
import { storableText } from '@platform/shared/text-input';
import { iso639_1Codes } from './languages.ts';

// Checks what an admin writes into the catalogue (addMovie, updateMovie) before anything touches
// the database, so every mistake is reported against the input field that caused it and the data
// layer only ever sees values it can store as they are.

/** `AddMovieInput` as GraphQL hands it over. */
export interface AddMovieInput {
  title: string;
  year?: number | null;
  genres?: readonly string[] | null;
  languages?: readonly string[] | null;
  runtimeMinutes?: number | null;
  overview?: string | null;
  imdbId?: string | null;
  tmdbId?: string | null;
  directorIds?: readonly string[] | null;
  castIds?: readonly string[] | null;
}

/** `UpdateMovieInput`: an absent field stays as it is; an explicit null clears it (where it may be empty). */
export type UpdateMovieInput = { [Field in keyof AddMovieInput]?: AddMovieInput[Field] | null };

/** The descriptive columns of a movie, checked and normalised. */
export interface MovieFields {
  title: string;
  year: number | null;
  genres: string[];
  languages: string[];
  runtimeMinutes: number | null;
  overview: string | null;
  imdbId: string | null;
  tmdbId: string | null;
}

export interface NewMovie extends MovieFields {
  /** in credit order, without repeats */
  directorIds: number[];
  /** in billing order, without repeats */
  castIds: number[];
}

/** Only the fields the caller gave: each one replaces the stored value (lists as a whole). */
export type MovieChanges = Partial<NewMovie>;

export const titleMaxLength = 300;
export const overviewMaxLength = 5000;
export const firstFilmYear = 1870;
/** Films are announced a few years ahead; further out is almost certainly a typo. */
export const yearsAheadAllowed = 5;
export const runtimeRange = { min: 1, max: 1000 } as const;
export const maxLanguages = 20;
export const maxDirectors = 20;
export const maxCast = 200;
/** Bounds the work on a list before its repeats are removed. */
const maxListEntries = 500;

const imdbIdPattern = /^tt\d{7,8}$/;
const tmdbIdPattern = /^\d{1,10}$/;

const canonicalGenre = new Map<string, string>(knownGenres.map((genre) => [genre.toLowerCase(), genre]));

export function parseAddMovieInput(input: AddMovieInput): NewMovie {
  return {
    title: parseTitle(input.title),
    year: parseYear(input.year),
    genres: parseGenres(input.genres ?? []),
    languages: parseLanguages(input.languages ?? []),
    runtimeMinutes: parseRuntime(input.runtimeMinutes),
    overview: parseOverview(input.overview),
    imdbId: parseExternalId('imdbId', input.imdbId, imdbIdPattern, 'an IMDb id: "tt" and 7 or 8 digits, e.g. "tt0113277"'),
    tmdbId: parseExternalId('tmdbId', input.tmdbId, tmdbIdPattern, 'a TMDb id: 1 to 10 digits, e.g. "949"'),
    directorIds: parsePersonIds('directorIds', input.directorIds ?? [], maxDirectors),
    castIds: parsePersonIds('castIds', input.castIds ?? [], maxCast),
  };
}

export function parseUpdateMovieInput(input: UpdateMovieInput): MovieChanges {
  const changes: MovieChanges = {};
  const given = (field: keyof UpdateMovieInput): boolean => Object.hasOwn(input, field);
  if (given('title')) {
    if (input.title === null || input.title === undefined) throw badInput('input.title', 'cannot be removed; omit it to keep the current title');
    changes.title = parseTitle(input.title);
  }
  if (given('year')) changes.year = parseYear(input.year);
  if (given('genres')) changes.genres = parseGenres(requiredList('genres', input.genres));
  if (given('languages')) changes.languages = parseLanguages(requiredList('languages', input.languages));
  if (given('runtimeMinutes')) changes.runtimeMinutes = parseRuntime(input.runtimeMinutes);
  if (given('overview')) changes.overview = parseOverview(input.overview);
  if (given('imdbId')) changes.imdbId = parseExternalId('imdbId', input.imdbId, imdbIdPattern, 'an IMDb id: "tt" and 7 or 8 digits, e.g. "tt0113277"');
  if (given('tmdbId')) changes.tmdbId = parseExternalId('tmdbId', input.tmdbId, tmdbIdPattern, 'a TMDb id: 1 to 10 digits, e.g. "949"');
  if (given('directorIds')) changes.directorIds = parsePersonIds('directorIds', requiredList('directorIds', input.directorIds), maxDirectors);
  if (given('castIds')) changes.castIds = parsePersonIds('castIds', requiredList('castIds', input.castIds), maxCast);
  return changes;
}

/** Echoes a caller's value in a message without letting a huge one blow up the response. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/** Length as people count characters: an emoji or an accented letter is one, not two UTF-16 units. */
const characterCount = (text: string): number => [...text].length;

function requiredList<T>(field: string, values: readonly T[] | null | undefined): readonly T[] {
  if (values === null || values === undefined) throw badInput(`input.${field}`, 'cannot be null; omit it to keep the current list, or pass [] to empty it');
  if (values.length > maxListEntries) throw badInput(`input.${field}`, `must list at most ${maxListEntries} values, got ${values.length}`);
  return values;
}

function parseTitle(title: string): string {
  const trimmed = storableText('input.title', title).trim();
  const length = characterCount(trimmed);
  if (length === 0) throw badInput('input.title', 'must not be empty');
  if (length > titleMaxLength) throw badInput('input.title', `must be at most ${titleMaxLength} characters, got ${length}`);
  return trimmed;
}

function parseYear(year: number | null | undefined): number | null {
  if (year === null || year === undefined) return null;
  const latest = new Date().getUTCFullYear() + yearsAheadAllowed;
  if (year < firstFilmYear || year > latest) throw badInput('input.year', `must be between ${firstFilmYear} and ${latest}, got ${year}`);
  return year;
}

/** Known genres only, matched case-insensitively and stored in the vocabulary's spelling; repeats collapse. */
function parseGenres(genres: readonly string[]): string[] {
  if (genres.length > maxListEntries) throw badInput('input.genres', `must list at most ${maxListEntries} values, got ${genres.length}`);
  const chosen = new Set<string>();
  for (const genre of genres) {
    const canonical = canonicalGenre.get(genre.trim().toLowerCase());
    if (!canonical) throw badInput('input.genres', `${quoted(genre)} is not a known genre; choose from ${knownGenres.join(', ')}`);
    chosen.add(canonical);
  }
  return [...chosen];
}

/** ISO 639-1 codes, stored lower-case ("EN" is accepted as "en"); repeats collapse. */
function parseLanguages(languages: readonly string[]): string[] {
  if (languages.length > maxListEntries) throw badInput('input.languages', `must list at most ${maxListEntries} values, got ${languages.length}`);
  const chosen = new Set<string>();
  for (const language of languages) {
    const code = language.trim().toLowerCase();
    if (!iso639_1Codes.has(code)) {
      throw badInput('input.languages', `${quoted(language)} is not an ISO 639-1 language code; use two letters such as "en", "fr" or "ja"`);
    }
    chosen.add(code);
  }
  if (chosen.size > maxLanguages) throw badInput('input.languages', `must list at most ${maxLanguages} languages, got ${chosen.size}`);
  return [...chosen];
}

function parseRuntime(minutes: number | null | undefined): number | null {
  if (minutes === null || minutes === undefined) return null;
  if (minutes < runtimeRange.min || minutes > runtimeRange.max) {
    throw badInput('input.runtimeMinutes', `must be between ${runtimeRange.min} and ${runtimeRange.max} minutes, got ${minutes}`);
  }
  return minutes;
}

/** Blank means "no overview". */
function parseOverview(overview: string | null | undefined): string | null {
  if (overview === null || overview === undefined) return null;
  const trimmed = storableText('input.overview', overview).trim();
  const length = characterCount(trimmed);
  if (length > overviewMaxLength) throw badInput('input.overview', `must be at most ${overviewMaxLength} characters, got ${length}`);
  return length === 0 ? null : trimmed;
}

/** Blank means "none"; anything else must have the id's exact shape. */
function parseExternalId(field: string, id: string | null | undefined, pattern: RegExp, shape: string): string | null {
  if (id === null || id === undefined) return null;
  const trimmed = id.trim();
  if (trimmed === '') return null;
  if (!pattern.test(trimmed)) throw badInput(`input.${field}`, `${quoted(id)} is not ${shape}`);
  return trimmed;
}

/**
 * Person ids, repeats removed (first mention keeps its place). An id that cannot be a person's
 * is NOT_FOUND like an unknown one: the existence of the others is checked in the write itself.
 */
function parsePersonIds(field: 'directorIds' | 'castIds', ids: readonly string[], max: number): number[] {
  if (ids.length > maxListEntries) throw badInput(`input.${field}`, `must list at most ${maxListEntries} values, got ${ids.length}`);
  const parsed = new Set<number>();
  for (const id of ids) {
    const personId = parseNumericId(id);
    if (personId === null) throw personNotFound(field, id);
    parsed.add(personId);
  }
  if (parsed.size > max) throw badInput(`input.${field}`, `must list at most ${max} people, got ${parsed.size}`);
  return [...parsed];
}

export function personNotFound(field: 'directorIds' | 'castIds', id: string): GraphQLError {
  return platformError(ErrorCode.NotFound, `input.${field}: person ${quoted(id)} does not exist; check the id (Query.person finds people)`, {
    field: `input.${field}`,
    id,
  });
}
