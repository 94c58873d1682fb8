import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { claimsOf, startUsersHarness, type Session, type UsersHarness } from './harness.ts';

// A stand-in identity provider run by the test itself: its own key pairs (one per algorithm the
// platform accepts) and a JWKS endpoint on a free port.

const issuer = 'https://id.test.example';
const audience = 'movie-platform-web';
const algorithms = ['RS256', 'ES256', 'EdDSA'] as const;
type Algorithm = (typeof algorithms)[number];

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function newKey(alg: Algorithm): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  const kid = `${alg}-${randomUUID()}`;
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

interface TestIssuer {
  jwksUrl: string;
  keys: Record<Algorithm, SigningKey>;
  /** signs an ID token; claims override the defaults (a null value drops the claim) */
  idToken(claims: Record<string, unknown>, options?: { alg?: Algorithm; key?: SigningKey; expiresInSeconds?: number }): Promise<string>;
  close(): Promise<void>;
}

async function startTestIssuer(): Promise<TestIssuer> {
  const keys = {
    RS256: await newKey('RS256'),
    ES256: await newKey('ES256'),
    EdDSA: await newKey('EdDSA'),
  };
  const server: Server = createServer((request, response) => {
    if (request.url !== '/jwks.json') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: Object.values(keys).map((key) => key.publicJwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
    keys,
    async idToken(claims, options = {}) {
      const alg = options.alg ?? 'RS256';
      const key = options.key ?? keys[alg];
      const now = Math.floor(Date.now() / 1000);
      const payload = Object.fromEntries(
        Object.entries({ iss: issuer, aud: audience, iat: now, exp: now + (options.expiresInSeconds ?? 300), ...claims }).filter(([, value]) => value !== null),
      );
      return new SignJWT(payload).setProtectedHeader({ alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const loginWithOidc = 'mutation($t: String!) { loginWithOidc(idToken: $t) { accessToken refreshToken expiresIn user { id username role } } }';

describe('users subgraph: loginWithOidc', () => {
  let idp: TestIssuer;
  let users: UsersHarness;

  beforeAll(async () => {
    idp = await startTestIssuer();
    users = await startUsersHarness({ OIDC_ISSUER: issuer, OIDC_AUDIENCE: audience, OIDC_JWKS_URL: idp.jwksUrl });
  });
  afterAll(async () => {
    await users?.stop();
    await idp?.close();
  });

  const signIn = (idToken: string) => users.call<{ loginWithOidc: Session }>(loginWithOidc, { t: idToken });
  const counts = async () =>
    (await users.sql<{ users: string; identities: string }>(
      'SELECT (SELECT count(*) FROM users.users) AS users, (SELECT count(*) FROM users.identities) AS identities',
    ))[0]!;

  it('creates an account on the first sign-in and reaches the same one afterwards', async () => {
    const subject = randomUUID();
    const handle = `jane-${randomUUID().slice(0, 8)}`;
    const first = await signIn(await idp.idToken({ sub: subject, preferred_username: handle, email: `jane@${handle}.example`, name: 'Jane Doe' }));
    expect(first.errors).toBeUndefined();
    const account = first.data!.loginWithOidc;
    expect(account.user).toMatchObject({ username: handle, role: 'USER' });
    expect(claimsOf(account.accessToken).sub).toBe(account.user.id);

    const [row] = await users.sql<{ password_hash: string | null; display_name: string }>('SELECT password_hash, display_name FROM users.users WHERE id = $1', [
      account.user.id,
    ]);
    expect(row).toEqual({ password_hash: null, display_name: 'Jane Doe' });

    // Later sign-ins, whichever key signed them and whatever the token now says, reach the same account.
    const before = await counts();
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const again = await signIn(await idp.idToken({ sub: subject, preferred_username: 'someone-else', email: 'new@example.com' }, { alg }));
      expect(again.data!.loginWithOidc.user).toEqual(account.user);
    }
    expect(await counts()).toEqual(before);
    const identities = await users.sql('SELECT issuer, subject, email FROM users.identities WHERE user_id = $1', [account.user.id]);
    expect(identities).toEqual([{ issuer, subject, email: 'new@example.com' }]);

    // The refresh token works as for any sign-in; there is no password to sign in with.
    expect((await users.refresh(account.refreshToken)).errors).toBeUndefined();
    expect((await users.login(handle, 'any-password-at-all')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('derives a unique, valid username from preferred_username or the email local part', async () => {
    const taken = (await users.register()).user.username;
    const clash = await signIn(await idp.idToken({ sub: randomUUID(), preferred_username: taken.toUpperCase() }));
    const clashName = clash.data!.loginWithOidc.user.username;
    expect(clashName).not.toBe(taken);
    expect(clashName.toLowerCase().startsWith(`${taken.toLowerCase()}_`)).toBe(true);

    const local = `bob.smith${randomUUID().slice(0, 6)}`;
    const fromEmail = await signIn(await idp.idToken({ sub: randomUUID(), email: `${local}@mail.example` }));
    expect(fromEmail.data!.loginWithOidc.user.username).toBe(local);

    const messy = await signIn(await idp.idToken({ sub: randomUUID(), preferred_username: 'José María O\'Neil 🎬' }));
    expect(messy.data!.loginWithOidc.user.username).toMatch(/^Jose_Maria_O_Neil(_\d{4}|_[0-9a-f]{8})?$/);

    const nothing = await signIn(await idp.idToken({ sub: randomUUID() }));
    expect(nothing.data!.loginWithOidc.user.username).toMatch(/^user(_\d{4}|_[0-9a-f]{8})?$/);
  });

  it('publishes user.registered once, for the sign-in that creates the account', async () => {
    const subject = randomUUID();
    const handle = `ev-${randomUUID().slice(0, 8)}`;
    const first = await signIn(await idp.idToken({ sub: subject, preferred_username: handle }));
    const userId = first.data!.loginWithOidc.user.id;
    await signIn(await idp.idToken({ sub: subject, preferred_username: handle }, { alg: 'EdDSA' }));
    const events = (await users.events()).filter((event) => 'userId' in event.payload && event.payload.userId === userId);
    expect(events).toEqual([expect.objectContaining({ type: 'user.registered', producer: 'users', payload: expect.objectContaining({ userId, username: handle }) })]);
  });

  it('creates one account when the first two sign-ins of a person arrive together', async () => {
    const subject = randomUUID();
    const [a, b] = await Promise.all([signIn(await idp.idToken({ sub: subject })), signIn(await idp.idToken({ sub: subject }, { alg: 'ES256' }))]);
    expect(a.data!.loginWithOidc.user.id).toBe(b.data!.loginWithOidc.user.id);
    expect(await users.sql('SELECT 1 FROM users.identities WHERE subject = $1', [subject])).toHaveLength(1);
    const registered = (await users.events()).filter((event) => event.type === 'user.registered' && event.payload.userId === a.data!.loginWithOidc.user.id);
    expect(registered).toHaveLength(1);
  });

  it('refuses a wrong issuer, a wrong audience, an expired token and a bad signature with UNAUTHENTICATED, writing nothing', async () => {
    const before = await counts();
    const impostor = await newKey('RS256');
    const cases: [string, string, RegExp][] = [
      ['wrong issuer', await idp.idToken({ sub: randomUUID(), iss: 'https://evil.example' }), /issuer/],
      ['wrong audience', await idp.idToken({ sub: randomUUID(), aud: 'another-app' }), /audience/],
      ['expired', await idp.idToken({ sub: randomUUID() }, { expiresInSeconds: -3600 }), /expired/],
      // signed by a key the provider never published, under the provider's key id
      ['bad signature', await idp.idToken({ sub: randomUUID() }, { key: { ...impostor, kid: idp.keys.RS256.kid } }), /invalid/],
      ['unknown key id', await idp.idToken({ sub: randomUUID() }, { key: impostor }), /invalid/],
      ['no subject', await idp.idToken({ sub: null }), /subject|invalid|claim/],
      ['garbage', 'not.a.token', /invalid/],
    ];
    for (const [what, token, message] of cases) {
      const result = await signIn(token);
      expect(result.data, what).toBeNull();
      expect(result.errors?.[0]?.extensions?.code, what).toBe('UNAUTHENTICATED');
      expect(result.errors?.[0]?.message, what).toMatch(message);
    }
    expect(await counts()).toEqual(before);
  });

  it('refuses a token signed with an HMAC secret (algorithm not allowed)', async () => {
    const secret = new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!!');
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ iss: issuer, aud: audience, sub: randomUUID(), iat: now, exp: now + 300 })
      .setProtectedHeader({ alg: 'HS256', kid: idp.keys.RS256.kid })
      .sign(secret);
    expect((await signIn(token)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('users subgraph: loginWithOidc when OIDC is not configured', () => {
  let users: UsersHarness;

  beforeAll(async () => {
    users = await startUsersHarness();
  });
  afterAll(async () => {
    await users?.stop();
  });

  it('answers a clear error saying so', async () => {
    const result = await users.call(loginWithOidc, { t: 'whatever' });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', reason: 'OIDC_NOT_CONFIGURED' });
    expect(result.errors?.[0]?.message).toMatch(/OIDC login is not configured.*sign in with username and password/);
  });
});

describe.each([
  ['does not answer', 'closed'],
  ['answers 404 for its key set', 'missing'],
] as const)('users subgraph: loginWithOidc when the provider %s', (_what, failure) => {
  let idp: TestIssuer;
  let users: UsersHarness;

  beforeAll(async () => {
    idp = await startTestIssuer();
    const jwksUrl = failure === 'closed' ? idp.jwksUrl : idp.jwksUrl.replace('/jwks.json', '/missing.json');
    // Nothing listens there any more once the issuer is closed.
    if (failure === 'closed') await idp.close();
    users = await startUsersHarness({ OIDC_ISSUER: issuer, OIDC_AUDIENCE: audience, OIDC_JWKS_URL: jwksUrl });
  });
  afterAll(async () => {
    await users?.stop();
    if (failure !== 'closed') await idp?.close();
  });

  it('answers SERVICE_UNAVAILABLE (not the caller’s fault), writing nothing', async () => {
    const result = await users.call(loginWithOidc, { t: await idp.idToken({ sub: randomUUID() }) });
    expect(result.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    expect(result.errors?.[0]?.message).toMatch(/identity provider's key endpoint is unavailable right now; retry/);
    expect(await users.sql('SELECT 1 FROM users.users')).toHaveLength(0);
  });
});
