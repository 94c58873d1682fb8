import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWK, type JWTVerifyGetKey } from 'jose';
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

  describe('cache of verified tokens', () => {
    /** A key resolver that counts signature checks, and a verifier on a clock the test moves. */
    const countingVerifier = (cache?: { maxEntries: number; maxAgeMs: number } | false) => {
      const localKeys = createLocalJWKSet({ keys: [publicJwk] });
      const state = { keyLookups: 0, now: Date.now() };
      const counted: JWTVerifyGetKey = (header, token) => {
        state.keyLookups += 1;
        return localKeys(header, token);
      };
      const cached = createTokenVerifier({ issuer, audience, keys: counted, now: () => state.now, ...(cache === undefined ? {} : { cache }) });
      return { cached, state };
    };

    it('answers a token it verified from memory, with the same viewer', async () => {
      const { cached, state } = countingVerifier();
      const token = await sign({ role: 'USER' });
      const first = await cached.verify(token);
      const second = await cached.verify(token);
      expect(second).toEqual(first);
      expect(second).toMatchObject({ id: 'user-1', role: 'USER' });
      expect(state.keyLookups).toBe(1);
      expect(Object.isFrozen(second)).toBe(true);
    });

    it('checks the signature again after maxAgeMs', async () => {
      const { cached, state } = countingVerifier({ maxEntries: 10, maxAgeMs: 1_000 });
      const token = await sign({ role: 'USER' });
      await cached.verify(token);
      state.now += 999;
      await cached.verify(token);
      expect(state.keyLookups).toBe(1);
      state.now += 1;
      await cached.verify(token);
      expect(state.keyLookups).toBe(2);
    });

    it('never answers past the token\'s expiry: an expired token is refused as expired', async () => {
      const { cached, state } = countingVerifier({ maxEntries: 10, maxAgeMs: 3_600_000 });
      const token = await sign({ role: 'USER' }, { expiresIn: '5m' });
      await cached.verify(token);
      state.now += 5 * 60_000 + 1_000;
      await expect(cached.verify(token)).rejects.toMatchObject({ message: expect.stringContaining('expired'), extensions: { code: 'UNAUTHENTICATED' } });
      await expect(cached.verify(token)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    });

    it('does not remember rejections: a bad token is checked, and refused, every time', async () => {
      const { cached, state } = countingVerifier();
      const token = await sign({ role: 'USER' }, { issuer: 'evil' });
      await expect(cached.verify(token)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
      await expect(cached.verify(token)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
      expect(state.keyLookups).toBe(2);
    });

    it('keeps at most maxEntries tokens, and can be turned off', async () => {
      const small = countingVerifier({ maxEntries: 1, maxAgeMs: 60_000 });
      const [first, second] = [await sign({ role: 'USER' }), await sign({ role: 'ADMIN' })];
      await small.cached.verify(first);
      await small.cached.verify(second);
      await small.cached.verify(first);
      expect(small.state.keyLookups).toBe(3);

      const off = countingVerifier(false);
      await off.cached.verify(first);
      await off.cached.verify(first);
      expect(off.state.keyLookups).toBe(2);
    });
  });
});
