import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier, repoRoot } from '@platform/shared';
import { rotateKeyFile, type StoredKey } from '../../src/tokens.ts';
import { goodPassword, kidOf, startUsersHarness, type UsersHarness } from './harness.ts';

const run = promisify(execFile);

describe('users subgraph: signing key rotation', () => {
  let users: UsersHarness;
  let keysFile: string;

  beforeAll(async () => {
    users = await startUsersHarness();
    keysFile = join(users.dataDir, 'keys', 'signing-keys.json');
  });
  afterAll(async () => {
    await users?.stop();
  });

  const storedKids = () => (JSON.parse(readFileSync(keysFile, 'utf8')) as StoredKey[]).map((key) => key.kid);
  const publishedKids = async () => {
    const jwks = (await (await fetch(new URL('/.well-known/jwks.json', users.url))).json()) as { keys: { kid: string }[] };
    return jwks.keys.map((key) => key.kid);
  };
  const me = (accessToken: string) => users.call<{ me: { id: string } | null }>('{ me { id } }', {}, { token: accessToken });

  it('keeps tokens signed with the previous key working after `npm run keys:rotate` and a restart', async () => {
    const session = await users.register();
    const [firstKid] = storedKids();
    expect(kidOf(session.accessToken)).toBe(firstKid);

    const { stdout } = await run(process.execPath, [join(repoRoot, 'scripts', 'rotate-signing-key.ts')], {
      cwd: repoRoot,
      env: { ...process.env, JWT_KEYS_FILE: keysFile },
    });
    const [newKid, previousKid] = storedKids();
    expect(previousKid).toBe(firstKid);
    expect(stdout).toContain(`added signing key ${newKid}`);

    // The key set is read at start: until the restart, the old key still signs.
    expect(kidOf((await users.login(session.user.username)).data!.login.accessToken)).toBe(firstKid);

    await users.restart();
    expect((await me(session.accessToken)).data!.me!.id).toBe(session.user.id);
    const fresh = (await users.login(session.user.username, goodPassword)).data!.login;
    expect(kidOf(fresh.accessToken)).toBe(newKid);
    expect(await publishedKids()).toEqual([newKid, firstKid]);

    // Another service verifies both against the published JWKS.
    const verifier = createTokenVerifier({
      issuer: 'movie-platform',
      audience: 'movie-platform-api',
      keys: new URL('/.well-known/jwks.json', users.url).toString(),
    });
    expect((await verifier.verify(session.accessToken)).id).toBe(session.user.id);
    expect((await verifier.verify(fresh.accessToken)).id).toBe(session.user.id);
  });

  it('keeps at most three keys; tokens of a dropped key stop verifying', async () => {
    const session = await users.register();
    const signedWith = kidOf(session.accessToken);
    await rotateKeyFile(keysFile);
    await rotateKeyFile(keysFile);
    const afterTwo = storedKids();
    expect(afterTwo).toHaveLength(3);
    expect(afterTwo[2]).toBe(signedWith);

    const { dropped } = await rotateKeyFile(keysFile);
    expect(dropped.map((key) => key.kid)).toEqual([signedWith]);
    await users.restart();
    expect(await publishedKids()).toEqual(storedKids());
    expect(await publishedKids()).not.toContain(signedWith);
    const refused = await me(session.accessToken);
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});
