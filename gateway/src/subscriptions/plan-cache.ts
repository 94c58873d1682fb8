import { createHash } from 'node:crypto';

// Subscription plans are cached like the gateway caches its query plans: by the operation's text
// and the operation name (a document may hold several operations, each with its own plan).
// Clients are expected to use variables, not literals, so one text serves every user.

/**
 * The cache key of (query text, operation name). Hashed so long documents do not become long
 * map keys; the two parts are length-prefixed so no text/name split can collide with another.
 */
export function planCacheKey(query: string, operationName: string | null | undefined): string {
  const name = operationName ?? '';
  return createHash('sha256')
    .update(`${query.length}:${query}`)
    .update(operationName === null || operationName === undefined ? '-' : `${name.length}:${name}`)
    .digest('hex');
}
