import { readFileSync } from 'node:fs';
import { badInput } from '@platform/shared';
import { knownGenres } from '@platform/shared/genres';
import { storableText } from '@platform/shared/text-input';

// Validation of everything a caller may write into an account. Each check throws BAD_USER_INPUT
// naming the argument, before anything is written.

export const usernamePattern = /^[A-Za-z0-9_.-]{3,32}$/;
export const usernameMaxLength = 32;
export const passwordMinLength = 8;
export const passwordMaxLength = 128;
export const displayNameMaxLength = 64;
export const maxFavoriteGenres = 10;

export function validateUsername(username: string): string {
  if (!usernamePattern.test(username)) {
    throw badInput('username', 'must be 3-32 characters of letters, digits, "_", "." or "-"');
  }
  return username;
}

// Read once at start: a few hundred lines. Lower-cased so the check is case-insensitive
// ("Password1" is as guessable as "password1").
const commonPasswords: ReadonlySet<string> = new Set(
  readFileSync(new URL('common-passwords.txt', import.meta.url), 'utf8')
    .split('\n')
    .map((line) => line.trim().toLowerCase())
    .filter((line) => line !== '' && !line.startsWith('#')),
);

export function isCommonPassword(password: string): boolean {
  return commonPasswords.has(password.toLowerCase());
}

export function validatePassword(password: string, username: string): string {
  if (password.length < passwordMinLength) throw badInput('password', `must be at least ${passwordMinLength} characters`);
  if (password.length > passwordMaxLength) throw badInput('password', `must be at most ${passwordMaxLength} characters`);
  if (password.toLowerCase() === username.toLowerCase()) throw badInput('password', 'must not be the username; choose something else');
  if (isCommonPassword(password)) {
    throw badInput('password', 'is one of the most commonly used passwords and would be guessed first; choose a less common one');
  }
  return password;
}

/** Trimmed; empty means "no display name" (null). */
export function validateDisplayName(displayName: string | null | undefined): string | null {
  if (displayName === null || displayName === undefined) return null;
  const trimmed = storableText('displayName', displayName).trim();
  if (trimmed.length === 0) return null;
  if (trimmed.length > displayNameMaxLength) throw badInput('displayName', `must be at most ${displayNameMaxLength} characters`);
  return trimmed;
}

/** Echoes a caller's value in a message without letting a huge one blow up the response. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

const canonicalGenre = new Map<string, string>(knownGenres.map((genre) => [genre.toLowerCase(), genre]));

/**
 * Each entry must name a known genre (matched case-insensitively, stored in the canonical
 * spelling); duplicates collapse, first occurrence wins the order.
 */
export function validateFavoriteGenres(genres: readonly string[]): string[] {
  const chosen: string[] = [];
  for (const genre of genres) {
    const canonical = canonicalGenre.get(genre.trim().toLowerCase());
    if (!canonical) {
      throw badInput('favoriteGenres', `${quoted(genre)} is not a known genre; choose from ${knownGenres.join(', ')}`);
    }
    if (!chosen.includes(canonical)) chosen.push(canonical);
  }
  if (chosen.length > maxFavoriteGenres) {
    throw badInput('favoriteGenres', `at most ${maxFavoriteGenres} genres, got ${chosen.length}`);
  }
  return chosen;
}
