import { errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { forbidden, unauthenticated } from './errors.ts';
import { createRemoteJwks } from './jwks.ts';
import type { Logger } from './logger.ts';
import { LruCache } from './lru-cache.ts';

// Every service verifies the caller's access token itself against the users subgraph's JWKS:
// a subgraph reached directly (bypassing the gateway) trusts nothing it did not verify.

export type Role = 'USER' | 'ADMIN';
export const signingAlgorithms = ['EdDSA', 'ES256'] as const;

export interface Viewer {
  id: string;
  role: Role;
  /** seconds since epoch; a live socket is closed when this passes */
  expiresAt: number;
}

export interface TokenVerifier {
  /** Resolves the viewer or throws an UNAUTHENTICATED GraphQLError. */
  verify(token: string): Promise<Viewer>;
}

export interface TokenVerifierOptions {
  issuer: string;
  audience: string;
  /** a JWKS URL (fetched, cached, kept while its source is down) or a key resolver (tests, the users subgraph itself) */
  keys: string | JWTVerifyGetKey;
  logger?: Logger;
  /** Tokens already verified, answered without checking the signature again; false: none. */
  cache?: VerifiedTokenCacheOptions | false;
  /** The clock (milliseconds since epoch) for expiry and the cache; tests move it. */
  now?: () => number;
}

export interface VerifiedTokenCacheOptions {
  maxEntries: number;
  /** A verified token is checked again after this long, whatever its expiry. */
  maxAgeMs: number;
}

// A client sends the same access token with every request until it expires, and checking an
// Ed25519 signature is the largest part of a small request's CPU (half of `{ __typename }` on a
// subgraph). So a token that verified is remembered, by its exact text, with its viewer: never past
// its `exp`, and for at most a minute, well under the remote key set's own 5-minute cache
// (jwks.ts), so a key dropped from the JWKS stops being accepted no later than it did without this.
// Only successes are kept: a rejected token is checked (and rejected) again every time.
export const defaultVerifiedTokenCache: VerifiedTokenCacheOptions = { maxEntries: 10_000, maxAgeMs: 60_000 };

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const getKey =
    typeof options.keys === 'string'
      ? createRemoteJwks(options.keys, options.logger ? { logger: options.logger } : {}).getKey
      : options.keys;
  const now = options.now ?? Date.now;
  const cacheOptions = options.cache === undefined ? defaultVerifiedTokenCache : options.cache;
  const verified = cacheOptions ? new LruCache<{ viewer: Viewer; verifiedAt: number }>(cacheOptions.maxEntries) : null;

  async function verifySignature(token: string): Promise<Viewer> {
    try {
      const { payload } = await jwtVerify(token, getKey, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: [...signingAlgorithms],
        requiredClaims: ['sub', 'exp', 'iat'],
        currentDate: new Date(now()),
      });
      const role = payload.role;
      if (typeof payload.sub !== 'string' || (role !== 'USER' && role !== 'ADMIN') || typeof payload.exp !== 'number') {
        throw unauthenticated('Access token is missing its subject or role; sign in again');
      }
      return Object.freeze({ id: payload.sub, role, expiresAt: payload.exp });
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        throw unauthenticated('Access token expired; get a new one with the refreshToken mutation');
      }
      if (error instanceof joseErrors.JOSEError || error instanceof TypeError) {
        throw unauthenticated('Access token is invalid; sign in again');
      }
      throw error;
    }
  }

  return {
    async verify(token) {
      if (!verified || !cacheOptions) return verifySignature(token);
      const at = now();
      const known = verified.get(token);
      // Expired (or kept too long): verified again, so an expired token gets jose's own answer.
      if (known && at - known.verifiedAt < cacheOptions.maxAgeMs && known.viewer.expiresAt * 1000 > at) return known.viewer;
      const viewer = await verifySignature(token);
      verified.set(token, { viewer, verifiedAt: at });
      return viewer;
    },
  };
}

/** Reads `Authorization: Bearer <token>`; no header means an anonymous caller (null). */
export async function viewerFromAuthorization(header: string | undefined, verifier: TokenVerifier): Promise<Viewer | null> {
  if (header === undefined || header.trim() === '') return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  if (!match?.[1]) throw unauthenticated('Authorization header must be "Bearer <accessToken>"');
  return verifier.verify(match[1]);
}

export interface ViewerContext {
  viewer: Viewer | null;
}

export function requireViewer(context: ViewerContext): Viewer {
  if (!context.viewer) throw unauthenticated();
  return context.viewer;
}

export function requireAdmin(context: ViewerContext): Viewer {
  const viewer = requireViewer(context);
  if (viewer.role !== 'ADMIN') throw forbidden('Only admins may do this');
  return viewer;
}

/** The owner of some private data, or an admin. */
export function requireSelfOrAdmin(context: ViewerContext, ownerId: string, what: string): Viewer {
  const viewer = requireViewer(context);
  if (viewer.id !== ownerId && viewer.role !== 'ADMIN') throw forbidden(`Only the user themself or an admin may read ${what}`);
  return viewer;
}
