import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type CryptoKey } from 'jose';
import { ConfigError, defaultDataDir, envReader, type Role } from '@platform/shared';

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

/** JWT_KEYS_FILE, defaulting to `$DATA_DIR/keys/signing-keys.json`. */
export function signingKeysFile(env: Record<string, string | undefined> = process.env): string {
  return envReader(env).string('JWT_KEYS_FILE', join(defaultDataDir(env), 'keys', 'signing-keys.json'));
}

/**
 * How many keys the file keeps: the current one and two previous ones. A token signed with a key
 * that falls off stops verifying, so rotate no more often than ACCESS_TOKEN_TTL_SECONDS.
 */
export const maxStoredKeys = 3;

function isStoredKey(value: unknown): value is StoredKey {
  if (typeof value !== 'object' || value === null) return false;
  const { kid, privateJwk } = value as Record<string, unknown>;
  return typeof kid === 'string' && typeof privateJwk === 'object' && privateJwk !== null && typeof (privateJwk as JWK).d === 'string';
}

export function readKeyFile(path: string): StoredKey[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError('JWT_KEYS_FILE', `(${path}) cannot be read as JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every(isStoredKey)) {
    throw new ConfigError('JWT_KEYS_FILE', `(${path}) is not a signing key set (a non-empty JSON array of { kid, privateJwk }); restore it or remove it to start with a fresh key`);
  }
  return parsed;
}

/** Writes beside the target and renames, so a reader never sees a half-written key set. */
function writeKeyFile(path: string, keys: StoredKey[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, path);
}

/** Reads the key file (newest key first), creating it with a fresh key on first start. */
export async function loadOrCreateKeyFile(path: string): Promise<StoredKey[]> {
  if (existsSync(path)) return readKeyFile(path);
  const keys = [await generateStoredKey()];
  writeKeyFile(path, keys);
  return keys;
}

/**
 * Puts a fresh key first and keeps the newest previous ones (at most maxStoredKeys in all). The
 * users subgraph signs with the first key from its next start; every key left in the file is
 * still published in the JWKS, so tokens signed before the rotation keep verifying.
 */
export async function rotateKeyFile(path: string): Promise<{ added: StoredKey; kept: StoredKey[]; dropped: StoredKey[] }> {
  const previous = existsSync(path) ? readKeyFile(path) : [];
  const added = await generateStoredKey();
  const all = [added, ...previous];
  const kept = all.slice(0, maxStoredKeys);
  writeKeyFile(path, kept);
  return { added, kept, dropped: all.slice(maxStoredKeys) };
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
