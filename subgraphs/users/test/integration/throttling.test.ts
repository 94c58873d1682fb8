import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goodPassword, startUsersHarness, unique, type UsersHarness } from './harness.ts';

// Small limits, so a test needs few attempts; every test uses its own usernames and addresses.
const usernameLimit = 3;
const addressLimit = 5;
const windowSeconds = 600;

/** An address from TEST-NET-3 (203.0.113.0/24) plus a random part, so tests never share one. */
const freshAddress = (): string => `203.0.${randomInt(0, 256)}.${randomInt(1, 255)}`;
const freshIpv6 = (): string => `2001:db8::${randomInt(1, 0xffff).toString(16)}:${randomInt(1, 0xffff).toString(16)}`;

describe('users subgraph: login throttling', () => {
  let users: UsersHarness;

  beforeAll(async () => {
    users = await startUsersHarness({
      LOGIN_MAX_FAILURES_PER_USERNAME: String(usernameLimit),
      LOGIN_MAX_FAILURES_PER_ADDRESS: String(addressLimit),
      LOGIN_FAILURE_WINDOW_SECONDS: String(windowSeconds),
    });
  });
  afterAll(async () => {
    await users?.stop();
  });

  const expectWrongPassword = (result: Awaited<ReturnType<UsersHarness['login']>>) =>
    expect(result.errors?.[0]).toMatchObject({ message: 'Wrong username or password', extensions: { code: 'UNAUTHENTICATED' } });
  const expectThrottled = (result: Awaited<ReturnType<UsersHarness['login']>>, what: RegExp) => {
    const error = result.errors?.[0];
    expect(error?.extensions?.code).toBe('RATE_LIMITED');
    const retryAfter = error?.extensions?.retryAfterSeconds as number;
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
    expect(error?.message).toMatch(what);
    expect(error?.message).toContain(`retry in ${retryAfter} s`);
  };

  it('throttles a username after too many failures, from any address, even with the right password', async () => {
    const { user } = await users.register();
    for (let attempt = 0; attempt < usernameLimit; attempt += 1) {
      expectWrongPassword(await users.login(user.username, 'wrong-password', { forwardedFor: freshAddress() }));
    }
    // The right password now: refused before it is verified.
    expectThrottled(await users.login(user.username, goodPassword, { forwardedFor: freshAddress() }), /failed sign-ins for this username/);
    // The counter ignores case, as usernames do.
    expectThrottled(await users.login(user.username.toUpperCase(), goodPassword, { forwardedFor: freshAddress() }), /username/);
    // Other accounts are not affected.
    const other = await users.register();
    expect((await users.login(other.user.username, goodPassword, { forwardedFor: freshAddress() })).errors).toBeUndefined();
  });

  it('resets the username counter on a successful login', async () => {
    const { user } = await users.register();
    const address = freshAddress();
    for (let attempt = 0; attempt < usernameLimit - 1; attempt += 1) expectWrongPassword(await users.login(user.username, 'wrong-password', { forwardedFor: address }));
    expect((await users.login(user.username, goodPassword, { forwardedFor: address })).errors).toBeUndefined();
    for (let attempt = 0; attempt < usernameLimit - 1; attempt += 1) expectWrongPassword(await users.login(user.username, 'wrong-password', { forwardedFor: freshAddress() }));
    // usernameLimit - 1 failures since the success: one more try is still allowed.
    expect((await users.login(user.username, goodPassword, { forwardedFor: freshAddress() })).errors).toBeUndefined();
  });

  it('throttles an address after too many failures across usernames, unknown ones included', async () => {
    const address = freshAddress();
    for (let attempt = 0; attempt < addressLimit; attempt += 1) {
      expectWrongPassword(await users.login(unique('nobody'), 'wrong-password', { forwardedFor: address }));
    }
    const { user } = await users.register();
    expectThrottled(await users.login(user.username, goodPassword, { forwardedFor: address }), /failed sign-ins from your address/);
    // Malformed usernames count against the address as well.
    expectThrottled(await users.login('not a username', 'wrong-password', { forwardedFor: address }), /address/);
    // The same user from elsewhere is fine: the username itself has no failures.
    expect((await users.login(user.username, goodPassword, { forwardedFor: freshAddress() })).errors).toBeUndefined();
  });

  it('uses the first x-forwarded-for entry as the address, and counts IPv4-mapped IPv6 as IPv4', async () => {
    const address = freshAddress();
    const forms = [address, `${address}, 10.0.0.1`, `::ffff:${address}`, ` ${address} ,192.168.1.1`, address];
    for (const forwardedFor of forms) {
      expectWrongPassword(await users.login(unique('nobody'), 'wrong-password', { forwardedFor }));
    }
    expectThrottled(await users.login(unique('nobody'), 'wrong-password', { forwardedFor: `${address}, 10.9.9.9` }), /address/);
    // An IPv6 client has its own counter.
    expectWrongPassword(await users.login(unique('nobody'), 'wrong-password', { forwardedFor: freshIpv6() }));
  });

  it('falls back to the socket address without x-forwarded-for', async () => {
    // Only this test calls without the header, so the socket's counter (127.0.0.1) is its own.
    for (let attempt = 0; attempt < addressLimit; attempt += 1) expectWrongPassword(await users.login(unique('nobody'), 'wrong-password'));
    expectThrottled(await users.login(unique('nobody'), 'wrong-password'), /address/);
    expectWrongPassword(await users.login(unique('nobody'), 'wrong-password', { forwardedFor: freshAddress() }));
  });

  it('does not count successful logins against the address', async () => {
    const address = freshAddress();
    const { user } = await users.register();
    for (let attempt = 0; attempt < addressLimit + 2; attempt += 1) {
      expect((await users.login(user.username, goodPassword, { forwardedFor: address })).errors).toBeUndefined();
    }
  });

  it('lets at most the limit of simultaneous guesses through to password verification', async () => {
    const { user } = await users.register();
    const results = await Promise.all(
      Array.from({ length: usernameLimit + 4 }, () => users.login(user.username, 'wrong-password', { forwardedFor: freshAddress() })),
    );
    const codes = results.map((result) => result.errors?.[0]?.extensions?.code);
    expect(codes.filter((code) => code === 'UNAUTHENTICATED')).toHaveLength(usernameLimit);
    expect(codes.filter((code) => code === 'RATE_LIMITED')).toHaveLength(4);
  });
});
