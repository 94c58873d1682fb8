import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import pg from 'pg';
import { createTokenVerifier, type Role, type TokenVerifier } from './auth.ts';

// Helpers for subgraph integration tests (import '@platform/shared/testing'; never from
// production code): tokens signed by a key pair the test owns, GraphQL over real HTTP, and a
// way to count the SQL statements a request causes.

export interface TestTokens {
  /** accepts exactly the tokens `sign` makes, as a subgraph's verifier would accept the users subgraph's */
  verifier: TokenVerifier;
  sign(userId: string, options?: { role?: Role; expiresInSeconds?: number }): Promise<string>;
}

export async function createTestTokens(settings = { issuer: 'movie-platform', audience: 'movie-platform-api' }): Promise<TestTokens> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const kid = randomUUID();
  const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' }] });
  return {
    verifier: createTokenVerifier({ ...settings, keys: jwks }),
    sign: (userId, options = {}) =>
      new SignJWT({ role: options.role ?? 'USER' })
        .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(settings.issuer)
        .setAudience(settings.audience)
        .setIssuedAt()
        .setExpirationTime(`${options.expiresInSeconds ?? 300}s`)
        .sign(privateKey),
  };
}

export interface GraphQLTestResponse<T> {
  status: number;
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
}

export type GraphQLTestClient = <T = Record<string, unknown>>(
  query: string,
  variables?: Record<string, unknown>,
  options?: { token?: string },
) => Promise<GraphQLTestResponse<T>>;

export function graphqlClient(url: string): GraphQLTestClient {
  return async (query, variables = {}, options = {}) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as Omit<GraphQLTestResponse<never>, 'status'>;
    return { status: response.status, ...body };
  };
}

export interface QueryLog {
  /** SQL text of every statement sent through the pool since the last reset */
  readonly statements: readonly string[];
  reset(): void;
}

/** Records every statement sent through `pool.query` (drizzle sends its non-transactional queries there). */
export function logPoolQueries(pool: pg.Pool): QueryLog {
  const statements: string[] = [];
  // pg's Pool.query has many overloads; the wrapper forwards its arguments untouched, so its
  // own signature does not matter, and only the first argument (text or config) is inspected.
  const observed = pool as unknown as { query: (...args: unknown[]) => unknown };
  const original = observed.query.bind(pool);
  observed.query = (...args: unknown[]) => {
    const [first] = args;
    statements.push(typeof first === 'string' ? first : String((first as { text?: unknown } | undefined)?.text));
    return original(...args);
  };
  return {
    statements,
    reset: () => {
      statements.length = 0;
    },
  };
}

/** What `action` throws (undefined when it returns), for matching with `expect(...).toMatchObject`. */
export function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** A loopback port nothing listens on (bound, then released): for "the service is unreachable" tests. */
export async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Calls `probe` every 100 ms until it returns something other than null; throws after `timeoutMs`. */
export async function pollUntil<T>(probe: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export { seededRandom } from './seeded-random.ts';

/**
 * A pg pool for a test's own queries. Postgres may end an idle client's session (a scratch
 * database dropped with FORCE at teardown, a terminated backend); a pool without an 'error'
 * listener turns that into an uncaught exception that fails the whole run.
 */
export function testPool(connectionString: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString, max });
  pool.on('error', () => undefined);
  return pool;
}
