import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyEvent } from '@platform/shared';
import { goodPassword, startUsersHarness, unique, type Session, type UsersHarness } from './harness.ts';

// The users subgraph's events go through its transactional outbox: a sign-up and its
// user.registered commit together (a refused sign-up leaves neither), and a change of favourite
// genres commits with its user.profile-updated. Each harness publishes to a stream of its own, so
// every event on it was caused by this file.

const updateProfile = 'mutation($d: String, $g: [String!]) { updateProfile(displayName: $d, favoriteGenres: $g) { id favoriteGenres } }';

describe('users subgraph: events through the outbox', () => {
  let users: UsersHarness;

  beforeAll(async () => {
    users = await startUsersHarness();
  });
  afterAll(async () => {
    await users?.stop();
  });

  const eventsAbout = async (userId: string): Promise<AnyEvent[]> =>
    (await users.events()).filter((event) => 'userId' in event.payload && event.payload.userId === userId);
  const outboxRows = async (): Promise<number> => Number((await users.sql<{ n: string }>('SELECT count(*) AS n FROM users.outbox'))[0]?.n);
  const update = (session: Session, variables: Record<string, unknown>) =>
    users.call<{ updateProfile: { id: string; favoriteGenres: string[] } }>(updateProfile, variables, { token: session.accessToken });

  it('a sign-up publishes user.registered exactly once, with the stored id, username and creation time', async () => {
    const username = unique('Events');
    const session = await users.register(username);
    const [row] = await users.sql<{ created_at: Date }>('SELECT created_at FROM users.users WHERE id = $1', [session.user.id]);

    const events = await eventsAbout(session.user.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'user.registered',
      version: 1,
      producer: 'users',
      payload: { userId: session.user.id, username, at: row!.created_at.toISOString() },
    });
    expect(events[0]!.id).toMatch(/^[0-9a-f-]{36}$/);
    // The outbox row is marked published, so a relay restart does not publish it again.
    const [outbox] = await users.sql<{ published: boolean }>("SELECT published_at IS NOT NULL AS published FROM users.outbox WHERE envelope->>'id' = $1", [events[0]!.id]);
    expect(outbox).toEqual({ published: true });
  });

  it('a refused sign-up (the username taken in another case, or bad input) writes no event', async () => {
    const taken = (await users.register()).user.username;
    const before = await outboxRows();
    const streamBefore = (await users.events()).length;

    const duplicate = await users.registerRaw(taken.toUpperCase(), goodPassword);
    expect(duplicate.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'username' });
    const badPassword = await users.registerRaw(unique('weak'), 'password');
    expect(badPassword.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'password' });

    expect(await outboxRows()).toBe(before);
    expect(await users.events()).toHaveLength(streamBefore);
  });

  it('simultaneous sign-ups of one name create one account and one event', async () => {
    const username = unique('race');
    const results = await Promise.all(Array.from({ length: 4 }, () => users.registerRaw(username, goodPassword)));
    const winners = results.filter((result) => result.data?.register);
    expect(winners).toHaveLength(1);
    const events = (await users.events()).filter((event) => event.type === 'user.registered' && event.payload.username === username);
    expect(events).toHaveLength(1);
    expect(events[0]!.payload).toMatchObject({ userId: winners[0]!.data!.register.user.id });
  });

  it('a change of favourite genres publishes user.profile-updated with the stored genres; no change, no event', async () => {
    const session = await users.register();
    const userId = session.user.id;

    expect((await update(session, { g: ['drama', 'SCI-FI', 'Drama'] })).errors).toBeUndefined();
    // the same genres again, a display name alone, an omitted list: nothing changed for consumers
    expect((await update(session, { g: ['Drama', 'Sci-Fi'] })).errors).toBeUndefined();
    expect((await update(session, { d: 'New Name' })).errors).toBeUndefined();
    expect((await update(session, { d: 'New Name', g: null })).errors).toBeUndefined();
    // a refused update writes nothing
    const refused = await update(session, { g: ['Drama', 'Not-A-Genre'] });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'favoriteGenres' });
    // clearing them is a change
    expect((await update(session, { g: [] })).errors).toBeUndefined();

    const events = await eventsAbout(userId);
    expect(events.map((event) => [event.type, event.type === 'user.profile-updated' ? event.payload.favoriteGenres : null])).toEqual([
      ['user.registered', null],
      ['user.profile-updated', ['Drama', 'Sci-Fi']],
      ['user.profile-updated', []],
    ]);
    const [row] = await users.sql<{ updated_at: Date }>('SELECT updated_at FROM users.users WHERE id = $1', [userId]);
    expect(events[2]!.payload.at).toBe(row!.updated_at.toISOString());
    expect(events.every((event) => event.producer === 'users' && event.version === 1)).toBe(true);
  });
});
