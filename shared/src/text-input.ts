import { badInput } from './errors.ts';

/**
 * PostgreSQL text cannot hold U+0000 (GraphQL strings can), and sending it fails in the driver,
 * which clients would see as an internal error. Free text bound for the database passes here
 * first, so it is the caller's BAD_USER_INPUT instead.
 */
export function storableText(field: string, text: string): string {
  if (text.includes('\u0000')) throw badInput(field, 'must not contain the NUL character (U+0000)');
  return text;
}
