import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier, viewerFromAuthorization, type TokenVerifier } from '../../src/auth.ts';

const issuer = 'movie-platform';
const audience = 'movie-platform-api';

describe('access token verification', () => {
  let verifier: TokenVerifier;
  let sign: (claims: Record<string, unknown>, options?: { kid?: string; expiresIn?: string; issuer?: string; audience?: string }) => Promise<string>;
  let publicJwk: JWK;

  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    publicJwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA' };
    verifier = createTokenVerifier({ issuer, audience, keys: createLocalJWKSet({ keys: [publicJwk] }) });
    sign = (claims, options = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'EdDSA', kid: options.kid ?? 'k1' })
        .setSubject('user-1')
        .setIssuer(options.issuer ?? issuer)
        .setAudience(options.audience ?? audience)
        .setIssuedAt()
        .setExpirationTime(options.expiresIn ?? '5m')
        .sign(privateKey);
  });

  it('accepts a valid token and returns the viewer', async () => {
    const viewer = await verifier.verify(await sign({ role: 'ADMIN' }));
    expect(viewer).toMatchObject({ id: 'user-1', role: 'ADMIN' });
  });

  const rejected = async (token: string) => {
    const error = await verifier.verify(token).then(
      () => null,
      (caught: unknown) => caught as { extensions?: { code?: string } },
    );
    return error?.extensions?.code;
  };

  it('rejects expired, foreign and malformed tokens with UNAUTHENTICATED', async () => {
    expect(await rejected(await sign({ role: 'USER' }, { expiresIn: '-1m' }))).toBe('UNAUTHENTICATED');
    expect(await rejected(await sign({ role: 'USER' }, { issuer: 'evil' }))).toBe('UNAUTHENTICATED');
    expect(await rejected(await sign({ role: 'USER' }, { audience: 'other-api' }))).toBe('UNAUTHENTICATED');
    expect(await rejected(await sign({ role: 'USER' }, { kid: 'unknown' }))).toBe('UNAUTHENTICATED');
    expect(await rejected(await sign({ role: 'ROOT' }))).toBe('UNAUTHENTICATED');
    expect(await rejected('garbage')).toBe('UNAUTHENTICATED');
  });

  it('rejects alg "none" and HS256 signed with the public key as secret', async () => {
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const claims = { sub: 'user-1', role: 'ADMIN', iss: issuer, aud: audience, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300 };
    expect(await rejected(`${encode({ alg: 'none', kid: 'k1' })}.${encode(claims)}.`)).toBe('UNAUTHENTICATED');
    const hs256 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
    expect(await rejected(hs256)).toBe('UNAUTHENTICATED');
  });

  it('rejects a tampered payload', async () => {
    const [header, , signature] = (await sign({ role: 'USER' })).split('.');
    const payload = Buffer.from(JSON.stringify({ sub: 'user-1', role: 'ADMIN', iss: issuer, aud: audience, exp: 9e9, iat: 1 })).toString('base64url');
    expect(await rejected(`${header}.${payload}.${signature}`)).toBe('UNAUTHENTICATED');
  });

  it('treats a missing header as anonymous and a malformed one as an error', async () => {
    expect(await viewerFromAuthorization(undefined, verifier)).toBeNull();
    await expect(viewerFromAuthorization('Token abc', verifier)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
  });
});
