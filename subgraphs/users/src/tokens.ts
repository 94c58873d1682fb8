import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type CryptoKey } from 'jose';
import type { Role } from '@platform/shared';

// Access tokens are EdDSA (Ed25519) JWTs: small, fast to verify, and verifiable by every service
// from the public JWKS alone. The key set holds the current key plus previous ones, so rotating
// the signing key never logs anyone out: old tokens verify until they expire.

export const signingAlgorithm = 'EdDSA';

export interface StoredKey {
  kid: string;
  privateJwk: JWK;
  createdAt: string;
}

export interface SigningKeys {
  current: { kid: string; privateKey: CryptoKey };
  /** public JWKs of the current and previous keys, as served at /.well-known/jwks.json */
  jwks: { keys: JWK[] };
}

export async function generateStoredKey(): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair(signingAlgorithm, { crv: 'Ed25519', extractable: true });
  return { kid: randomUUID(), privateJwk: await exportJWK(privateKey), createdAt: new Date().toISOString() };
}

/** Reads the key file (newest key first), creating it with a fresh key on first start. */
export async function loadOrCreateKeyFile(path: string): Promise<StoredKey[]> {
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as StoredKey[];
  const keys = [await generateStoredKey()];
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(keys, null, 2), { mode: 0o600 });
  return keys;
}

export async function toSigningKeys(stored: StoredKey[]): Promise<SigningKeys> {
  const [newest] = stored;
  if (!newest) throw new Error('the signing key set is empty');
  const privateKey = (await importJWK(newest.privateJwk, signingAlgorithm)) as CryptoKey;
  const publicJwks = stored.map(({ kid, privateJwk }) => {
    const { d: _private, ...publicJwk } = privateJwk;
    return { ...publicJwk, kid, alg: signingAlgorithm, use: 'sig' };
  });
  return { current: { kid: newest.kid, privateKey }, jwks: { keys: publicJwks } };
}

export interface AccessTokenSettings {
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

export async function signAccessToken(keys: SigningKeys, settings: AccessTokenSettings, user: { id: string; role: Role }): Promise<string> {
  return new SignJWT({ role: user.role })
    .setProtectedHeader({ alg: signingAlgorithm, kid: keys.current.kid, typ: 'JWT' })
    .setSubject(user.id)
    .setIssuer(settings.issuer)
    .setAudience(settings.audience)
    .setIssuedAt()
    .setJti(randomUUID())
    .setExpirationTime(`${settings.ttlSeconds}s`)
    .sign(keys.current.privateKey);
}

export function newRefreshToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
