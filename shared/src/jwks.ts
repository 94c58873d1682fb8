import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { serviceUnavailable } from './errors.ts';
import type { Logger } from './logger.ts';

// A remote key set that survives its source being briefly down: the last good JWKS keeps
// verifying tokens while refreshes fail. It refreshes when stale and, at most once per cooldown,
// when a token names a key it does not know yet (the users subgraph just rotated its key).

export interface RemoteJwksOptions {
  /** a key set older than this is re-fetched before use (the old one still serves if that fails) */
  maxAgeMs?: number;
  /** minimum time between fetches caused by unknown key ids, so bad tokens cannot hammer the source */
  cooldownMs?: number;
  timeoutMs?: number;
  logger?: Logger;
}

export interface RemoteJwks {
  getKey: JWTVerifyGetKey;
  /** fetch now; resolves false (keeping the old keys) when the source does not answer */
  refresh(): Promise<boolean>;
}

export function createRemoteJwks(url: string, options: RemoteJwksOptions = {}): RemoteJwks {
  const maxAgeMs = options.maxAgeMs ?? 5 * 60_000;
  const cooldownMs = options.cooldownMs ?? 30_000;
  const timeoutMs = options.timeoutMs ?? 3_000;
  let keys: JWTVerifyGetKey | null = null;
  let fetchedAt = 0;
  let lastAttemptAt = 0;
  let inFlight: Promise<boolean> | null = null;

  const fetchKeys = async (): Promise<boolean> => {
    lastAttemptAt = Date.now();
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = (await response.json()) as JSONWebKeySet;
      if (!Array.isArray(body.keys)) throw new Error('the answer has no "keys" array');
      keys = createLocalJWKSet(body);
      fetchedAt = Date.now();
      return true;
    } catch (error) {
      options.logger?.warn('could not refresh the token signing keys; keeping the previous ones', {
        url,
        error: error instanceof Error ? error.message : String(error),
      });
      return false;
    }
  };
  // Concurrent verifications share one fetch instead of each starting their own.
  const refresh = (): Promise<boolean> => {
    inFlight ??= fetchKeys().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };

  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (!keys || Date.now() - fetchedAt > maxAgeMs) await refresh();
    if (!keys) throw serviceUnavailable('Token verification (the signing keys could not be fetched)');
    try {
      return await keys(header, token);
    } catch (error) {
      const unknownKey = error instanceof joseErrors.JWKSNoMatchingKey;
      if (!unknownKey || Date.now() - lastAttemptAt < cooldownMs || !(await refresh())) throw error;
      return keys(header, token);
    }
  };
  return { getKey, refresh };
}
