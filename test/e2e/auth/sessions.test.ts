import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashRefreshToken } from '../../../subgraphs/users/src/tokens.ts';
import { startTestEnvironment, testPassword, type GraphQLResponse, type TestEnvironment } from '../../helpers/test-environment.ts';

// A session's whole life through the gateway: sign-up, sign-in, refresh-token rotation, reuse
// detection revoking the family, logout; then profile and role changes. No failed password
// logins here: the stack counts them in the shared Redis per address (127.0.0.1), across runs.

interface Session {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: { id: string; username: string; role: string };
}

const sessionFields = 'accessToken refreshToken expiresIn user { id username role }';

describe('auth through the gateway', () => {
  let env: TestEnvironment;

  beforeAll(async () => {
    env = await startTestEnvironment();
  });
  afterAll(async () => {
    await env?.stop();
  });

  const login = async (username: string): Promise<Session> => {
    const result = await env.graphql<{ login: Session }>(`mutation($u: String!, $p: String!) { login(username: $u, password: $p) { ${sessionFields} } }`, {
      u: username,
      p: testPassword,
    });
    expect(result.errors).toBeUndefined();
    return result.data!.login;
  };
  const refresh = (refreshToken: string) =>
    env.graphql<{ refreshToken: Session }>(`mutation($r: String!) { refreshToken(refreshToken: $r) { ${sessionFields} } }`, { r: refreshToken });
  const me = (token: string) => env.graphql<{ me: { id: string; username: string } | null }>('{ me { id username } }', {}, token);
  const expectSignInAgain = (result: GraphQLResponse, reason: string) => {
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason });
    expect(result.errors?.[0]?.message).toMatch(/sign in again/);
  };

  it('register → login → me → refresh → reuse of the old refresh token revokes the family → logout', async () => {
    const { username, id } = await env.signUp('session');

    const signedIn = await login(username);
    expect(signedIn.user).toMatchObject({ id, username, role: 'USER' });
    expect((await me(signedIn.accessToken)).data!.me).toEqual({ id, username });

    const rotated = await refresh(signedIn.refreshToken);
    expect(rotated.errors).toBeUndefined();
    const second = rotated.data!.refreshToken;
    expect(second.refreshToken).not.toBe(signedIn.refreshToken);
    expect((await me(second.accessToken)).data!.me!.id).toBe(id);

    // The first refresh token again: a sign of theft, so the whole family goes...
    expectSignInAgain(await refresh(signedIn.refreshToken), 'REFRESH_TOKEN_REUSED');
    // ...including the newest refresh token.
    expectSignInAgain(await refresh(second.refreshToken), 'REFRESH_TOKEN_REVOKED');
    const family = await env.sql<{ revoked: boolean }>(
      `SELECT revoked_at IS NOT NULL AS revoked FROM users.refresh_tokens
        WHERE family_id = (SELECT family_id FROM users.refresh_tokens WHERE token_hash = $1)`,
      [hashRefreshToken(signedIn.refreshToken)],
    );
    expect(family.map((row) => row.revoked)).toEqual([true, true]);

    // A new sign-in is a new family; logout ends it.
    const again = await login(username);
    const logout = await env.graphql<{ logout: boolean }>('mutation($r: String!) { logout(refreshToken: $r) }', { r: again.refreshToken });
    expect(logout.data).toEqual({ logout: true });
    expectSignInAgain(await refresh(again.refreshToken), 'REFRESH_TOKEN_REVOKED');
    // An unknown token gets the same answer, revealing nothing.
    expect((await env.graphql('mutation { logout(refreshToken: "never-issued") }')).data).toEqual({ logout: true });
  });

  it('updates the profile of the signed-in user, rejecting unknown genres', async () => {
    const user = await env.signUp('profile');
    const update = 'mutation($d: String, $g: [String!]) { updateProfile(displayName: $d, favoriteGenres: $g) { displayName favoriteGenres } }';
    const ok = await env.graphql<{ updateProfile: { displayName: string; favoriteGenres: string[] } }>(update, { d: ' Cinephile ', g: ['Horror', 'horror', 'IMAX'] }, user.token);
    expect(ok.data!.updateProfile).toEqual({ displayName: 'Cinephile', favoriteGenres: ['Horror', 'IMAX'] });

    const bad = await env.graphql(update, { g: ['Horror', 'Vaporwave'] }, user.token);
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'favoriteGenres' });
    expect(bad.errors?.[0]?.message).toContain('"Vaporwave"');

    const anonymous = await env.graphql(update, { d: 'x' });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('lets only admins change roles; the new role arrives with the next token', async () => {
    const plain = await env.signUp('plain');
    const setRole = 'mutation($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { id role } }';
    const forbidden = await env.graphql(setRole, { id: plain.id, role: 'ADMIN' }, plain.token);
    expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const boss = await env.signUp('boss');
    const adminToken = await env.promote(boss.username);
    const promoted = await env.graphql<{ setUserRole: { role: string } }>(setRole, { id: plain.id, role: 'ADMIN' }, adminToken);
    expect(promoted.data!.setUserRole.role).toBe('ADMIN');
    expect((await login(plain.username)).user.role).toBe('ADMIN');
  });
});
