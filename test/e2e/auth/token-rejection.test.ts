import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEnvironment, type TestEnvironment } from '../../helpers/test-environment.ts';

// Forged and broken tokens are refused by the gateway (401, before any subgraph runs) and by a
// subgraph reached directly, which trusts nothing it did not verify itself.
describe('access tokens that must be refused', () => {
  let env: TestEnvironment;
  let signingKey: CryptoKey;
  let kid: string;
  let publicJwk: JWK;
  let userId: string;
  let validToken: string;

  beforeAll(async () => {
    env = await startTestEnvironment();
    const user = await env.signUp('victim');
    userId = user.id;
    validToken = user.token;
    const [current] = JSON.parse(readFileSync(join(env.dataDir, 'keys', 'signing-keys.json'), 'utf8')) as { kid: string; privateJwk: JWK }[];
    kid = current!.kid;
    signingKey = (await importJWK(current!.privateJwk, 'EdDSA')) as CryptoKey;
    const { d: _private, ...rest } = current!.privateJwk;
    publicJwk = rest;
  });
  afterAll(async () => {
    await env?.stop();
  });

  const claims = (overrides: Record<string, unknown> = {}) => ({
    sub: userId,
    role: 'ADMIN',
    iss: 'movie-platform',
    aud: 'movie-platform-api',
    iat: Math.floor(Date.now() / 1000),
    exp: Math.floor(Date.now() / 1000) + 300,
    ...overrides,
  });
  const signed = (payload: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', kid, ...header }).sign(signingKey);
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  const forgeries = async (): Promise<Record<string, string>> => {
    const [header, , signature] = validToken.split('.');
    return {
      expired: await signed(claims({ iat: 1_000, exp: 2_000 })),
      'wrong issuer': await signed(claims({ iss: 'https://evil.example' })),
      'wrong audience': await signed(claims({ aud: 'another-api' })),
      'alg none': `${encode({ alg: 'none', kid })}.${encode(claims())}.`,
      'HS256 with the public key as secret': await new SignJWT(claims())
        .setProtectedHeader({ alg: 'HS256', kid })
        .sign(new TextEncoder().encode(JSON.stringify(publicJwk))),
      'unknown kid': await signed(claims(), { kid: 'not-a-key-we-have' }),
      'tampered payload (USER made ADMIN)': `${header}.${encode(claims())}.${signature}`,
      garbage: 'definitely.not.a-jwt',
    };
  };

  it('the gateway answers 401 UNAUTHENTICATED for every forgery', async () => {
    for (const [name, token] of Object.entries(await forgeries())) {
      const response = await fetch(env.gatewayUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: '{ me { id role } }' }),
      });
      const body = (await response.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
      expect({ name, status: response.status, code: body.errors?.[0]?.extensions?.code, data: body.data ?? null }).toEqual({
        name,
        status: 401,
        code: 'UNAUTHENTICATED',
        data: null,
      });
    }
  });

  it('a subgraph reached directly refuses them too', async () => {
    for (const [name, token] of Object.entries(await forgeries())) {
      const response = await fetch(env.subgraphUrl('users'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: '{ me { id role } }' }),
      });
      const body = (await response.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
      expect({ name, code: body.errors?.[0]?.extensions?.code, data: body.data ?? null }).toEqual({ name, code: 'UNAUTHENTICATED', data: null });
    }
  });

  it('the genuine token still works', async () => {
    const result = await env.graphql<{ me: { id: string; role: string } }>('{ me { id role } }', {}, validToken);
    expect(result.data?.me).toEqual({ id: userId, role: 'USER' });
  });
});
