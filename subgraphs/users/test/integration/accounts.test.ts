import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import type { RunningServer } from '@platform/shared';
import { createScratchDatabase } from '../../../../scripts/lib/services.ts';
import { migrateAll } from '../../../../scripts/lib/migrations.ts';
import { startUsersSubgraph } from '../../src/index.ts';

interface Result<T> {
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

describe('users subgraph: accounts and tokens', () => {
  let server: RunningServer;
  let database: Awaited<ReturnType<typeof createScratchDatabase>>;
  let dataDir: string;
  let pool: pg.Pool;

  beforeAll(async () => {
    database = await createScratchDatabase(inject('services').databaseUrl, 'users_it');
    await migrateAll(database.url);
    dataDir = mkdtempSync(join(tmpdir(), 'users-it-'));
    server = await startUsersSubgraph({ DATABASE_URL: database.url, DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'error' });
    pool = new pg.Pool({ connectionString: database.url, max: 1 });
  });

  afterAll(async () => {
    await server?.stop();
    await pool?.end();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const call = async <T>(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<Result<T>> => {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as Result<T>;
  };
  const register = (username: string, password = 'a-good-password', displayName?: string) =>
    call<{ register: { accessToken: string; refreshToken: string; expiresIn: number; user: { id: string; username: string; role: string } } }>(
      'mutation($u: String!, $p: String!, $d: String) { register(username: $u, password: $p, displayName: $d) { accessToken refreshToken expiresIn user { id username role } } }',
      { u: username, p: password, d: displayName },
    );
  const unique = (prefix: string) => `${prefix}_${Math.random().toString(36).slice(2, 9)}`;
  const userCount = async () => Number((await pool.query('SELECT count(*) FROM users.users')).rows[0].count);

  it('registers, signs in and answers me with the token', async () => {
    const username = unique('alice');
    const registered = await register(username, 'a-good-password', 'Alice');
    expect(registered.errors).toBeUndefined();
    expect(registered.data!.register.user).toMatchObject({ username, role: 'USER' });
    expect(registered.data!.register.expiresIn).toBe(900);

    const login = await call<{ login: { accessToken: string } }>(
      'mutation($u: String!) { login(username: $u, password: "a-good-password") { accessToken } }',
      { u: username.toUpperCase() },
    );
    const me = await call<{ me: { username: string; displayName: string } }>('{ me { username displayName } }', {}, login.data!.login.accessToken);
    expect(me.data!.me).toEqual({ username, displayName: 'Alice' });
  });

  it('answers me with null for an anonymous caller', async () => {
    expect((await call<{ me: null }>('{ me { id } }')).data).toEqual({ me: null });
  });

  it('gives the same answer for an unknown user and a wrong password', async () => {
    const username = unique('bob');
    await register(username);
    const wrongPassword = await call('mutation($u: String!) { login(username: $u, password: "not-the-password") { accessToken } }', { u: username });
    const unknownUser = await call('mutation { login(username: "nobody_at_all", password: "not-the-password") { accessToken } }');
    expect(wrongPassword.errors?.[0]).toMatchObject({ message: 'Wrong username or password', extensions: { code: 'UNAUTHENTICATED' } });
    expect(unknownUser.errors?.[0]?.message).toBe(wrongPassword.errors?.[0]?.message);
  });

  it('rejects bad input with BAD_USER_INPUT naming the field, and writes nothing', async () => {
    const taken = unique('carol');
    await register(taken);
    const before = await userCount();
    const cases: [string, string, string | undefined, string][] = [
      [taken.toUpperCase(), 'a-good-password', undefined, 'username'],
      ['a b', 'a-good-password', undefined, 'username'],
      [unique('dave'), 'short', undefined, 'password'],
      [unique('dave'), 'x'.repeat(129), undefined, 'password'],
      [unique('dave'), 'a-good-password', 'D'.repeat(65), 'displayName'],
    ];
    for (const [username, password, displayName, field] of cases) {
      const result = await register(username, password, displayName);
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(result.errors?.[0]?.message.startsWith(`${field}:`)).toBe(true);
    }
    expect(await userCount()).toBe(before);
  });

  it('serves its public signing keys, without private parts', async () => {
    const response = await fetch(new URL('/.well-known/jwks.json', server.url));
    const jwks = (await response.json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys.length).toBeGreaterThan(0);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(jwks.keys.every((key) => !('d' in key))).toBe(true);
  });

  it('resolves User references in one batch', async () => {
    const first = (await register(unique('eve'))).data!.register.user.id;
    const second = (await register(unique('fay'))).data!.register.user.id;
    const result = await call<{ _entities: ({ id: string; username: string } | null)[] }>(
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id username } } }',
      { r: [{ __typename: 'User', id: first }, { __typename: 'User', id: 'not-a-uuid' }, { __typename: 'User', id: second }] },
    );
    expect(result.data!._entities.map((entity) => entity?.id ?? null)).toEqual([first, null, second]);
  });
});
