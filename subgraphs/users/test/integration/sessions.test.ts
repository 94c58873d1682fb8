import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { hashRefreshToken } from '../../src/tokens.ts';
import { claimsOf, startUsersHarness, type UsersHarness } from './harness.ts';

// Refresh-token rotation, reuse detection and logout against a real database.
describe('users subgraph: refresh tokens and logout', () => {
  let users: UsersHarness;

  beforeAll(async () => {
    users = await startUsersHarness();
  });
  afterAll(async () => {
    await users?.stop();
  });

  const tokenRow = async (token: string) =>
    (
      await users.sql<{ family_id: string; rotated_at: Date | null; revoked_at: Date | null }>(
        'SELECT family_id, rotated_at, revoked_at FROM users.refresh_tokens WHERE token_hash = $1',
        [hashRefreshToken(token)],
      )
    )[0];
  const me = (accessToken: string) => users.call<{ me: { id: string } | null }>('{ me { id } }', {}, { token: accessToken });
  const logout = (refreshToken: string) => users.call<{ logout: boolean }>('mutation($r: String!) { logout(refreshToken: $r) }', { r: refreshToken });

  it('rotates: the old token is marked rotated and a new one of the same family comes with a new access token', async () => {
    const session = await users.register();
    const refreshed = await users.refresh(session.refreshToken);
    expect(refreshed.errors).toBeUndefined();
    const next = refreshed.data!.refreshToken;
    expect(next.refreshToken).not.toBe(session.refreshToken);
    expect(next.accessToken).not.toBe(session.accessToken);
    expect(next.user.id).toBe(session.user.id);
    expect((await me(next.accessToken)).data!.me!.id).toBe(session.user.id);

    const [old, current] = [await tokenRow(session.refreshToken), await tokenRow(next.refreshToken)];
    expect(old!.rotated_at).not.toBeNull();
    expect(current).toMatchObject({ family_id: old!.family_id, rotated_at: null, revoked_at: null });
    // Only hashes are stored.
    expect(await users.sql('SELECT 1 FROM users.refresh_tokens WHERE token_hash = $1', [next.refreshToken])).toHaveLength(0);
  });

  it('revokes the whole family when a rotated token is presented again, and only that family', async () => {
    const first = await users.register();
    const otherSignIn = (await users.login(first.user.username)).data!.login;
    const second = (await users.refresh(first.refreshToken)).data!.refreshToken;
    const third = (await users.refresh(second.refreshToken)).data!.refreshToken;

    const reuse = await users.refresh(first.refreshToken);
    expect(reuse.data).toBeNull();
    expect(reuse.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'REFRESH_TOKEN_REUSED' });
    expect(reuse.errors?.[0]?.message).toMatch(/sign in again/);

    // The newest token of the family stops working too...
    const newest = await users.refresh(third.refreshToken);
    expect(newest.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'REFRESH_TOKEN_REVOKED' });
    expect(newest.errors?.[0]?.message).toMatch(/sign in again/);
    const family = await users.sql<{ revoked_at: Date | null }>('SELECT revoked_at FROM users.refresh_tokens WHERE family_id = $1', [
      (await tokenRow(first.refreshToken))!.family_id,
    ]);
    expect(family).toHaveLength(3);
    expect(family.every((row) => row.revoked_at !== null)).toBe(true);

    // ...while another sign-in of the same user is untouched.
    expect((await users.refresh(otherSignIn.refreshToken)).errors).toBeUndefined();
  });

  it('lets only one of two simultaneous exchanges of one token succeed', async () => {
    for (let round = 0; round < 5; round += 1) {
      const session = await users.register();
      const results = await Promise.all([users.refresh(session.refreshToken), users.refresh(session.refreshToken)]);
      const succeeded = results.filter((result) => result.data?.refreshToken);
      expect(succeeded).toHaveLength(1);
      expect(results.find((result) => result.errors)!.errors![0]!.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    }
  });

  it('locks the presented token: an exchange waiting on a concurrent one sees it rotated and counts as reuse', async () => {
    const session = await users.register();
    // Stands in for a concurrent exchange that has locked and rotated the row but not committed:
    // without SELECT ... FOR UPDATE the waiting exchange would read the old, unrotated row.
    const concurrent = new pg.Client({ connectionString: users.databaseUrl });
    await concurrent.connect();
    try {
      await concurrent.query('BEGIN');
      await concurrent.query('UPDATE users.refresh_tokens SET rotated_at = now() WHERE token_hash = $1', [hashRefreshToken(session.refreshToken)]);
      const waiting = users.refresh(session.refreshToken);
      // The exchange is blocked on the row lock until the concurrent transaction commits.
      await waitForLockWaiter(users);
      await concurrent.query('COMMIT');
      const result = await waiting;
      expect(result.data).toBeNull();
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'REFRESH_TOKEN_REUSED' });
    } finally {
      await concurrent.end();
    }
  });

  it('refuses an expired or unknown refresh token with UNAUTHENTICATED', async () => {
    const session = await users.register();
    await users.sql("UPDATE users.refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1", [hashRefreshToken(session.refreshToken)]);
    const expired = await users.refresh(session.refreshToken);
    expect(expired.errors?.[0]).toMatchObject({ message: 'Refresh token expired; sign in again', extensions: { code: 'UNAUTHENTICATED' } });

    const unknown = await users.refresh('not-a-token-we-issued');
    expect(unknown.errors?.[0]).toMatchObject({ message: 'Refresh token is not valid; sign in again', extensions: { code: 'UNAUTHENTICATED' } });
  });

  it('carries the current role into the access token of a refresh', async () => {
    const session = await users.register();
    await users.sql("UPDATE users.users SET role = 'ADMIN' WHERE id = $1", [session.user.id]);
    const refreshed = (await users.refresh(session.refreshToken)).data!.refreshToken;
    expect(refreshed.user.role).toBe('ADMIN');
    expect(claimsOf(refreshed.accessToken).role).toBe('ADMIN');
  });

  it('logout revokes the family of the token and answers true, also for an unknown token', async () => {
    const session = await users.register();
    const next = (await users.refresh(session.refreshToken)).data!.refreshToken;
    expect((await logout(next.refreshToken)).data).toEqual({ logout: true });
    const after = await users.refresh(next.refreshToken);
    expect(after.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'REFRESH_TOKEN_REVOKED' });
    expect((await tokenRow(session.refreshToken))!.revoked_at).not.toBeNull();

    expect((await logout('not-a-token-we-issued')).data).toEqual({ logout: true });
    // Logging out twice is harmless.
    expect((await logout(next.refreshToken)).data).toEqual({ logout: true });
  });
});

/** Waits until some session of this database waits for a row lock (the blocked exchange). */
async function waitForLockWaiter(users: UsersHarness): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const waiting = await users.sql(
      "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%for update%'",
    );
    if (waiting.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the refresh never waited for the row lock: is the token row selected FOR UPDATE?');
}
