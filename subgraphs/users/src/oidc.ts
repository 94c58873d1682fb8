import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { ConfigError, envReader, platformError, serviceUnavailable, unauthenticated, ErrorCode, type Logger } from '@platform/shared';
import { usernameMaxLength } from './input.ts';

// Sign-in with an ID token from one external OpenID Connect provider (Google-style). The client
// runs the provider's own login flow and sends the ID token it got; this service checks the
// token's signature against the provider's JWKS, its issuer, audience (our client id at that
// provider) and expiry, and then links the account by (issuer, sub).

export interface OidcConfig {
  issuer: string;
  audience: string;
  jwksUrl: string;
}

const oidcVariables = ['OIDC_ISSUER', 'OIDC_AUDIENCE', 'OIDC_JWKS_URL'] as const;

/** null when none of the three variables is set (OIDC login off); a ConfigError when only some are. */
export function readOidcConfig(env: Record<string, string | undefined>): OidcConfig | null {
  const read = envReader(env);
  const set = oidcVariables.filter((name) => read.optionalString(name) !== undefined);
  if (set.length === 0) return null;
  const missing = oidcVariables.find((name) => !set.includes(name));
  if (missing) throw new ConfigError(missing, `is required when ${set.join(' and ')} is set: set all three OIDC_* variables, or none to turn OIDC login off`);
  return {
    issuer: read.string('OIDC_ISSUER'),
    audience: read.string('OIDC_AUDIENCE'),
    jwksUrl: read.url('OIDC_JWKS_URL', ['http:', 'https:']),
  };
}

/** What this service takes from a verified ID token. */
export interface ExternalIdentity {
  issuer: string;
  subject: string;
  email: string | null;
  /** a username to start from for a new account (not yet made unique) */
  usernameHint: string;
  displayName: string | null;
}

export interface OidcVerifier {
  verify(idToken: string): Promise<ExternalIdentity>;
}

export const oidcAlgorithms = ['RS256', 'ES256', 'EdDSA'];

/** Thrown by the key resolver when the provider's JWKS cannot be fetched: not the caller's fault. */
class IdentityProviderUnreachable extends Error {}

export function createOidcVerifier(config: OidcConfig, logger: Logger): OidcVerifier {
  const remoteKeys = createRemoteJWKSet(new URL(config.jwksUrl), {
    timeoutDuration: 5_000,
    cooldownDuration: 30_000,
    cacheMaxAge: 10 * 60_000,
  });
  // jose reports a network failure while fetching the JWKS as whatever fetch threw (a TypeError),
  // and a non-200 or non-JSON answer as a plain JOSEError: indistinguishable from a malformed
  // token later on. Tagging them here keeps the provider's trouble apart from the caller's.
  const providerTrouble = (error: unknown): boolean =>
    !(error instanceof joseErrors.JOSEError) ||
    error instanceof joseErrors.JWKSTimeout ||
    error instanceof joseErrors.JWKSInvalid ||
    error.code === joseErrors.JOSEError.code;
  const keys: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remoteKeys(header, token);
    } catch (error) {
      if (!providerTrouble(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      logger.warn('OIDC: cannot fetch the identity provider keys', { url: config.jwksUrl, error: reason });
      throw new IdentityProviderUnreachable(reason);
    }
  };

  return {
    async verify(idToken) {
      const { payload } = await jwtVerify(idToken, keys, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: oidcAlgorithms,
        requiredClaims: ['sub', 'exp', 'iat'],
        clockTolerance: 30,
      }).catch((error: unknown) => {
        throw idTokenError(error);
      });
      if (typeof payload.sub !== 'string' || payload.sub === '' || typeof payload.iss !== 'string') {
        throw unauthenticated('ID token has no subject; sign in at the identity provider again');
      }
      const email = typeof payload.email === 'string' ? payload.email : null;
      const preferred = typeof payload.preferred_username === 'string' ? payload.preferred_username : null;
      const name = typeof payload.name === 'string' ? payload.name.trim().slice(0, 64) : '';
      return {
        issuer: payload.iss,
        subject: payload.sub,
        email,
        usernameHint: usernameBase(preferred ?? email?.split('@')[0] ?? ''),
        displayName: name === '' ? null : name,
      };
    },
  };
}

function idTokenError(error: unknown) {
  if (error instanceof IdentityProviderUnreachable) return serviceUnavailable("The identity provider's key endpoint");
  if (error instanceof joseErrors.JWTExpired) {
    return unauthenticated('ID token expired; sign in at the identity provider again and send the new ID token');
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') {
      return unauthenticated(`ID token lacks the "${error.claim}" claim; get an ID token from the configured identity provider`);
    }
    const claim = error.claim === 'iss' ? 'issuer' : error.claim === 'aud' ? 'audience' : `"${error.claim}" claim`;
    return unauthenticated(`ID token was rejected: its ${claim} is not the one this platform accepts; get the token from the configured identity provider for this platform`);
  }
  if (error instanceof joseErrors.JOSEError || error instanceof TypeError) {
    return unauthenticated('ID token is invalid (signature, format or algorithm); sign in at the identity provider again');
  }
  return error;
}

/**
 * A username to start from: letters, digits, "_", "." and "-" only (accents dropped, anything else
 * becomes "_"), at least 3 characters, short enough to take a uniqueness suffix.
 */
export function usernameBase(hint: string): string {
  const ascii = hint.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  const cleaned = ascii
    .replace(/[^A-Za-z0-9_.-]+/g, '_')
    .replace(/^[_.-]+|[_.-]+$/g, '')
    .slice(0, usernameMaxLength - 6);
  return cleaned.length >= 3 ? cleaned : `user${cleaned ? `_${cleaned}` : ''}`;
}

export const oidcNotConfigured = () =>
  platformError(
    ErrorCode.ServiceUnavailable,
    'OIDC login is not configured on this server (OIDC_ISSUER, OIDC_AUDIENCE and OIDC_JWKS_URL are unset); sign in with username and password instead',
    { reason: 'OIDC_NOT_CONFIGURED' },
  );
