import { describe, expect, it } from 'vitest';
import { ConfigError } from '@platform/shared';
import { thrownBy } from '@platform/shared/testing';
import { isCommonPassword, validateDisplayName, validateFavoriteGenres, validatePassword } from '../../src/input.ts';
import { readOidcConfig, usernameBase } from '../../src/oidc.ts';
import { throttleAddress } from '../../src/throttle.ts';

const badInputOn = (field: string) => ({ extensions: { code: 'BAD_USER_INPUT', field } });

describe('input rules', () => {
  it('knows common passwords whatever their case, and nothing else', () => {
    expect(isCommonPassword('password')).toBe(true);
    expect(isCommonPassword('QWERTY123')).toBe(true);
    expect(isCommonPassword('iLoveYou')).toBe(true);
    expect(isCommonPassword('# Passwords too common to accept, one per line, lower-case (checked case-insensitively).')).toBe(false);
    expect(isCommonPassword('correct horse battery')).toBe(false);
  });

  it('refuses a password equal to the username, ignoring case', () => {
    expect(thrownBy(() => validatePassword('Alice.Smith', 'alice.smith'))).toMatchObject(badInputOn('password'));
    expect(validatePassword('alice.smith!', 'alice.smith')).toBe('alice.smith!');
  });

  it('trims display names and treats blank as none', () => {
    expect(validateDisplayName('  Ann  ')).toBe('Ann');
    expect(validateDisplayName(' \t ')).toBeNull();
    expect(validateDisplayName(null)).toBeNull();
    expect(thrownBy(() => validateDisplayName('x'.repeat(65)))).toMatchObject(badInputOn('displayName'));
  });

  it('canonicalises and de-duplicates genres, naming an unknown one (shortened when long)', () => {
    expect(validateFavoriteGenres([' drama ', 'SCI-FI', 'Drama'])).toEqual(['Drama', 'Sci-Fi']);
    expect(validateFavoriteGenres([])).toEqual([]);
    const unknown = thrownBy(() => validateFavoriteGenres(['Drama', 'Polka']));
    expect(unknown).toMatchObject({ ...badInputOn('favoriteGenres'), message: expect.stringContaining('"Polka" is not a known genre') });
    const long = thrownBy(() => validateFavoriteGenres(['y'.repeat(10_000)])) as Error;
    expect(long.message.length).toBeLessThan(400);
  });
});

describe('OIDC helpers', () => {
  it('derives a valid username base', () => {
    expect(usernameBase('jane.doe')).toBe('jane.doe');
    expect(usernameBase('Zoë Ångström')).toBe('Zoe_Angstrom');
    expect(usernameBase('李')).toBe('user');
    expect(usernameBase('ab')).toBe('user_ab');
    expect(usernameBase('x'.repeat(100))).toHaveLength(26);
    for (const hint of ['', '!!!', '__a__', 'a'.repeat(40), 'név@example']) expect(usernameBase(hint)).toMatch(/^[A-Za-z0-9_.-]{3,26}$/);
  });

  it('reads OIDC settings all or nothing', () => {
    expect(readOidcConfig({})).toBeNull();
    const all = { OIDC_ISSUER: 'https://id.example', OIDC_AUDIENCE: 'app', OIDC_JWKS_URL: 'https://id.example/jwks' };
    expect(readOidcConfig(all)).toEqual({ issuer: 'https://id.example', audience: 'app', jwksUrl: 'https://id.example/jwks' });
    const partial = thrownBy(() => readOidcConfig({ OIDC_ISSUER: 'https://id.example', OIDC_JWKS_URL: 'https://id.example/jwks' }));
    expect(partial).toBeInstanceOf(ConfigError);
    expect(partial).toMatchObject({ variable: 'OIDC_AUDIENCE' });
    expect(thrownBy(() => readOidcConfig({ ...all, OIDC_JWKS_URL: 'ftp://id.example' }))).toMatchObject({ variable: 'OIDC_JWKS_URL' });
  });
});

describe('throttle addresses', () => {
  it('folds IPv4-mapped IPv6 into IPv4 and hashes what is not an address', () => {
    expect(throttleAddress('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(throttleAddress('2001:DB8::1')).toBe('2001:db8::1');
    const forged = throttleAddress(`not-an-ip-${'z'.repeat(5000)}`);
    expect(forged).toMatch(/^other-[0-9a-f]{32}$/);
  });
});
