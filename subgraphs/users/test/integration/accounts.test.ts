import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@platform/shared';
import { startUsersSubgraph } from '../../src/index.ts';
import { goodPassword, startUsersHarness, unique, type UsersHarness } from './harness.ts';

describe('users subgraph: accounts and tokens', () => {
  let users: UsersHarness;

  beforeAll(async () => {
    users = await startUsersHarness();
  });
  afterAll(async () => {
    await users?.stop();
  });

  const userCount = async () => Number((await users.sql<{ count: string }>('SELECT count(*) FROM users.users'))[0]!.count);

  it('registers, signs in and answers me with the token', async () => {
    const username = unique('alice');
    const registered = await users.registerRaw(username, goodPassword, 'Alice');
    expect(registered.errors).toBeUndefined();
    expect(registered.data!.register.user).toMatchObject({ username, role: 'USER' });
    expect(registered.data!.register.expiresIn).toBe(900);

    const login = await users.login(username.toUpperCase());
    const me = await users.call<{ me: { username: string; displayName: string } }>('{ me { username displayName } }', {}, { token: login.data!.login.accessToken });
    expect(me.data!.me).toEqual({ username, displayName: 'Alice' });
  });

  it('answers me with null for an anonymous caller', async () => {
    expect((await users.call<{ me: null }>('{ me { id } }')).data).toEqual({ me: null });
  });

  it('gives the same answer for an unknown user and a wrong password', async () => {
    const username = unique('bob');
    await users.register(username);
    const wrongPassword = await users.login(username, 'not-the-password');
    const unknownUser = await users.login('nobody_at_all', 'not-the-password');
    expect(wrongPassword.errors?.[0]).toMatchObject({ message: 'Wrong username or password', extensions: { code: 'UNAUTHENTICATED' } });
    expect(unknownUser.errors?.[0]?.message).toBe(wrongPassword.errors?.[0]?.message);
  });

  it('rejects bad input with BAD_USER_INPUT naming the field, and writes nothing', async () => {
    const taken = unique('carol');
    await users.register(taken);
    const before = await userCount();
    const dave = unique('dave');
    const cases: [string, string, string | undefined, string][] = [
      [taken.toUpperCase(), goodPassword, undefined, 'username'],
      ['a b', goodPassword, undefined, 'username'],
      ['ab', goodPassword, undefined, 'username'],
      ['x'.repeat(33), goodPassword, undefined, 'username'],
      [unique('dave'), 'short', undefined, 'password'],
      [unique('dave'), 'x'.repeat(129), undefined, 'password'],
      [unique('dave'), 'password123', undefined, 'password'],
      // the common-password check ignores case
      [unique('dave'), 'IloveYou1', undefined, 'password'],
      [dave, dave.toUpperCase(), undefined, 'password'],
      [unique('dave'), goodPassword, 'D'.repeat(65), 'displayName'],
      [unique('dave'), goodPassword, 'nul\u0000inside', 'displayName'],
    ];
    for (const [username, password, displayName, field] of cases) {
      const result = await users.registerRaw(username, password, displayName);
      expect(result.errors?.[0]?.extensions, `${username} / ${password}`).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(result.errors?.[0]?.message.startsWith(`${field}:`)).toBe(true);
    }
    expect(await userCount()).toBe(before);
  });

  it('says why a common password is refused', async () => {
    const result = await users.registerRaw(unique('erin'), 'qwerty123');
    expect(result.errors?.[0]?.message).toMatch(/^password: is one of the most commonly used passwords.*choose/);
  });

  it('trims the display name and keeps one of exactly 64 characters', async () => {
    const name = `  ${'N'.repeat(64)}  `;
    const session = await users.register(unique('nina'), goodPassword, name);
    const [row] = await users.sql<{ display_name: string }>('SELECT display_name FROM users.users WHERE id = $1', [session.user.id]);
    expect(row!.display_name).toBe('N'.repeat(64));
  });

  it('serves its public signing keys, without private parts', async () => {
    const response = await fetch(new URL('/.well-known/jwks.json', users.url));
    const jwks = (await response.json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys.length).toBeGreaterThan(0);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(jwks.keys.every((key) => !('d' in key))).toBe(true);
  });

  it('resolves User references in one batch', async () => {
    const first = (await users.register(unique('eve'))).user.id;
    const second = (await users.register(unique('fay'))).user.id;
    const result = await users.call<{ _entities: ({ id: string; username: string } | null)[] }>(
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id username } } }',
      { r: [{ __typename: 'User', id: first }, { __typename: 'User', id: 'not-a-uuid' }, { __typename: 'User', id: second }] },
    );
    expect(result.data!._entities.map((entity) => entity?.id ?? null)).toEqual([first, null, second]);
  });

  it('does not start without Redis, and says which variable to fix', async () => {
    const starting = startUsersSubgraph({ DATABASE_URL: users.databaseUrl, REDIS_URL: 'redis://127.0.0.1:1', DATA_DIR: users.dataDir, PORT: '0', LOG_LEVEL: 'error' });
    await expect(starting).rejects.toBeInstanceOf(ConfigError);
    await expect(starting).rejects.toMatchObject({ variable: 'REDIS_URL', message: expect.stringMatching(/^REDIS_URL does not answer .*start Redis there or fix the URL$/) });
  });
});
