import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { knownGenres } from '@platform/shared/genres';
import { claimsOf, startUsersHarness, type Session, type UsersHarness } from './harness.ts';

interface Profile {
  id: string;
  displayName: string | null;
  favoriteGenres: string[];
}

const updateProfile = `mutation($d: String, $g: [String!]) { updateProfile(displayName: $d, favoriteGenres: $g) { id displayName favoriteGenres } }`;
const setUserRole = 'mutation($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { id role } }';

describe('users subgraph: updateProfile', () => {
  let users: UsersHarness;

  beforeAll(async () => {
    users = await startUsersHarness();
  });
  afterAll(async () => {
    await users?.stop();
  });

  const update = (session: Session, variables: Record<string, unknown>) =>
    users.call<{ updateProfile: Profile }>(updateProfile, variables, { token: session.accessToken });
  const stored = async (id: string) =>
    (await users.sql<{ display_name: string | null; favorite_genres: string[]; updated_at: Date }>(
      'SELECT display_name, favorite_genres, updated_at FROM users.users WHERE id = $1',
      [id],
    ))[0]!;

  it('requires a signed-in user', async () => {
    const result = await users.call(updateProfile, { d: 'Someone' });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('trims the display name, de-duplicates genres into their canonical spelling, and leaves out arguments alone', async () => {
    const session = await users.register();
    const first = await update(session, { d: '  Movie Fan  ', g: ['Drama', 'sci-fi', 'Drama', 'FILM-NOIR', 'Sci-Fi'] });
    expect(first.errors).toBeUndefined();
    expect(first.data!.updateProfile).toEqual({ id: session.user.id, displayName: 'Movie Fan', favoriteGenres: ['Drama', 'Sci-Fi', 'Film-Noir'] });

    // Only genres given: the display name stays.
    const genresOnly = await update(session, { g: ['Comedy'] });
    expect(genresOnly.data!.updateProfile).toMatchObject({ displayName: 'Movie Fan', favoriteGenres: ['Comedy'] });

    // Only the display name given (blank clears it): the genres stay.
    const cleared = await update(session, { d: '   ' });
    expect(cleared.data!.updateProfile).toMatchObject({ displayName: null, favoriteGenres: ['Comedy'] });

    // An empty list clears the genres.
    const noGenres = await update(session, { g: [] });
    expect(noGenres.data!.updateProfile.favoriteGenres).toEqual([]);
    expect(await stored(session.user.id)).toMatchObject({ display_name: null, favorite_genres: [] });
  });

  it('accepts ten genres and a 64-character name', async () => {
    const session = await users.register();
    const ten = knownGenres.slice(0, 10);
    const result = await update(session, { d: 'x'.repeat(64), g: [...ten, ten[0]] });
    expect(result.data!.updateProfile.favoriteGenres).toEqual([...ten]);
  });

  it('rejects an oversized name, an unknown genre and too many genres with BAD_USER_INPUT, and writes nothing', async () => {
    const session = await users.register();
    await update(session, { d: 'Before', g: ['War'] });
    const before = await stored(session.user.id);

    const tooLong = await update(session, { d: 'x'.repeat(65), g: ['Drama'] });
    expect(tooLong.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'displayName' });

    const unknown = await update(session, { d: 'After', g: ['Drama', 'Telenovela'] });
    expect(unknown.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'favoriteGenres' });
    expect(unknown.errors?.[0]?.message).toMatch(/^favoriteGenres: "Telenovela" is not a known genre; choose from Action, /);

    const tooMany = await update(session, { g: knownGenres.slice(0, 11) });
    expect(tooMany.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'favoriteGenres' });
    expect(tooMany.errors?.[0]?.message).toMatch(/at most 10/);

    expect(await stored(session.user.id)).toEqual(before);
  });
});

describe('users subgraph: setUserRole', () => {
  let users: UsersHarness;
  let admin: Session;

  beforeAll(async () => {
    // A database of its own: the last-admin rule counts every admin in it.
    users = await startUsersHarness();
    const registered = await users.register();
    await users.sql("UPDATE users.users SET role = 'ADMIN' WHERE id = $1", [registered.user.id]);
    admin = (await users.login(registered.user.username)).data!.login;
  });
  afterAll(async () => {
    await users?.stop();
  });

  const roleOf = async (id: string) => (await users.sql<{ role: string }>('SELECT role FROM users.users WHERE id = $1', [id]))[0]!.role;

  it('is FORBIDDEN for a non-admin and changes nothing', async () => {
    const plain = await users.register();
    const result = await users.call(setUserRole, { id: plain.user.id, role: 'ADMIN' }, { token: plain.accessToken });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN' });
    expect(await roleOf(plain.user.id)).toBe('USER');

    const anonymous = await users.call(setUserRole, { id: plain.user.id, role: 'ADMIN' });
    expect(anonymous.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('changes the role; tokens issued afterwards carry it, earlier ones keep theirs until they expire', async () => {
    const target = await users.register();
    const result = await users.call<{ setUserRole: { id: string; role: string } }>(setUserRole, { id: target.user.id, role: 'ADMIN' }, { token: admin.accessToken });
    expect(result.data!.setUserRole).toEqual({ id: target.user.id, role: 'ADMIN' });
    expect(claimsOf(target.accessToken).role).toBe('USER');

    const refreshed = (await users.refresh(target.refreshToken)).data!.refreshToken;
    expect(claimsOf(refreshed.accessToken).role).toBe('ADMIN');
    const signedIn = (await users.login(target.user.username)).data!.login;
    expect(claimsOf(signedIn.accessToken).role).toBe('ADMIN');

    // And back.
    await users.call(setUserRole, { id: target.user.id, role: 'USER' }, { token: admin.accessToken });
    expect(claimsOf((await users.login(target.user.username)).data!.login.accessToken).role).toBe('USER');
  });

  it('answers NOT_FOUND for an unknown user', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const result = await users.call(setUserRole, { id, role: 'ADMIN' }, { token: admin.accessToken });
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
    }
  });

  it('keeps the last admin from demoting themself, and allows it once there is another admin', async () => {
    // Whoever else this file made admin is demoted again: `admin` must be the only one.
    expect(await users.sql("SELECT id FROM users.users WHERE role = 'ADMIN'")).toEqual([{ id: admin.user.id }]);

    const refused = await users.call(setUserRole, { id: admin.user.id, role: 'USER' }, { token: admin.accessToken });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', reason: 'LAST_ADMIN' });
    expect(refused.errors?.[0]?.message).toMatch(/last admin.*Make another user ADMIN first/);
    expect(await roleOf(admin.user.id)).toBe('ADMIN');

    const successor = await users.register();
    await users.call(setUserRole, { id: successor.user.id, role: 'ADMIN' }, { token: admin.accessToken });
    const stepDown = await users.call<{ setUserRole: { role: string } }>(setUserRole, { id: admin.user.id, role: 'USER' }, { token: admin.accessToken });
    expect(stepDown.data!.setUserRole.role).toBe('USER');

    // The former admin's access token still says ADMIN until it expires, but the database no
    // longer does: role changes by them are refused.
    const stale = await users.call(setUserRole, { id: successor.user.id, role: 'USER' }, { token: admin.accessToken });
    expect(stale.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN' });
    expect(await roleOf(successor.user.id)).toBe('ADMIN');

    // The successor, now the last admin, is protected in turn.
    const successorToken = (await users.login(successor.user.username)).data!.login.accessToken;
    const last = await users.call(setUserRole, { id: successor.user.id, role: 'USER' }, { token: successorToken });
    expect(last.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT' });
  });

  it('leaves one admin when the last two demote each other at the same moment', async () => {
    const [first, second] = [await users.register(), await users.register()];
    await users.sql("UPDATE users.users SET role = 'USER' WHERE role = 'ADMIN'");
    await users.sql("UPDATE users.users SET role = 'ADMIN' WHERE id = ANY($1)", [[first.user.id, second.user.id]]);
    const tokens = [
      (await users.login(first.user.username)).data!.login.accessToken,
      (await users.login(second.user.username)).data!.login.accessToken,
    ];
    const results = await Promise.all([
      users.call(setUserRole, { id: second.user.id, role: 'USER' }, { token: tokens[0] }),
      users.call(setUserRole, { id: first.user.id, role: 'USER' }, { token: tokens[1] }),
    ]);
    expect(results.filter((result) => result.errors)).toHaveLength(1);
    expect(await users.sql("SELECT id FROM users.users WHERE role = 'ADMIN'")).toHaveLength(1);
  });
});
