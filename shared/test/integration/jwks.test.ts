import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../../src/auth.ts';
import { createRemoteJwks } from '../../src/jwks.ts';

// A real HTTP JWKS endpoint on loopback whose answers the test controls. The verifiers keep no
// verified tokens (cache: false): two tokens signed in the same second are the same text, and
// these tests are about when the key set is fetched.
describe('remote JWKS that survives its source being down', () => {
  let server: Server;
  let url: string;
  let served: { status: number; keys: JWK[] } = { status: 200, keys: [] };
  let fetches = 0;
  const signer = async (kid: string) => {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA' };
    const sign = () =>
      new SignJWT({ role: 'USER' }).setProtectedHeader({ alg: 'EdDSA', kid }).setSubject('u1').setIssuer('iss').setAudience('aud').setIssuedAt().setExpirationTime('5m').sign(privateKey);
    return { publicJwk, sign };
  };

  beforeAll(async () => {
    server = createServer((_request, response) => {
      fetches += 1;
      response.writeHead(served.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: served.keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('keeps verifying with the last good keys while the endpoint fails', async () => {
    const first = await signer('k1');
    served = { status: 200, keys: [first.publicJwk] };
    const jwks = createRemoteJwks(url, { maxAgeMs: 0, cooldownMs: 0 });
    const verifier = createTokenVerifier({ issuer: 'iss', audience: 'aud', keys: jwks.getKey, cache: false });
    await expect(verifier.verify(await first.sign())).resolves.toMatchObject({ id: 'u1' });
    served = { status: 503, keys: [] };
    const before = fetches;
    await expect(verifier.verify(await first.sign())).resolves.toMatchObject({ id: 'u1' });
    expect(fetches).toBeGreaterThan(before); // it did try, and fell back to the old set
  });

  it('fetches again for a key id it does not know (rotation), at most once per cooldown', async () => {
    const oldKey = await signer('old');
    const newKey = await signer('new');
    served = { status: 200, keys: [oldKey.publicJwk] };
    const jwks = createRemoteJwks(url, { maxAgeMs: 60_000, cooldownMs: 0 });
    const verifier = createTokenVerifier({ issuer: 'iss', audience: 'aud', keys: jwks.getKey, cache: false });
    await verifier.verify(await oldKey.sign());
    served = { status: 200, keys: [newKey.publicJwk, oldKey.publicJwk] };
    await expect(verifier.verify(await newKey.sign())).resolves.toMatchObject({ id: 'u1' });

    const cooled = createRemoteJwks(url, { maxAgeMs: 60_000, cooldownMs: 60_000 });
    served = { status: 200, keys: [oldKey.publicJwk] };
    const strict = createTokenVerifier({ issuer: 'iss', audience: 'aud', keys: cooled.getKey, cache: false });
    await strict.verify(await oldKey.sign());
    const before = fetches;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      await expect(strict.verify(await newKey.sign())).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    }
    expect(fetches).toBe(before);
  });

  it('answers SERVICE_UNAVAILABLE when it never got any keys', async () => {
    served = { status: 500, keys: [] };
    const verifier = createTokenVerifier({ issuer: 'iss', audience: 'aud', keys: createRemoteJwks(url).getKey });
    const token = await (await signer('k')).sign();
    await expect(verifier.verify(token)).rejects.toMatchObject({ extensions: { code: 'SERVICE_UNAVAILABLE' } });
  });
});
