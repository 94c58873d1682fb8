// Cost of signing in and of checking a token: prints figures, asserts nothing (tests never time).
//
//   npm run bench:auth -- [--seconds 5] [--verifications 20000]
//
// 1. login over HTTP against the users subgraph (in this process, port 0, a scratch database,
//    real Redis for the throttle) at concurrency 1, 4 and 16: throughput, p50 and p99. Each login
//    is one argon2id verification (m = 19 MiB, t = 2, p = 1) plus a refresh-token insert.
// 2. one access-token verification with the shared createTokenVerifier over a local JWKS, the
//    check every service makes on every request: the signature check, and a token seen before
//    (answered by the verifier's cache of verified tokens).
import { randomUUID } from 'node:crypto';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLocalJWKSet } from 'jose';
import argon2 from 'argon2';
import { createTokenVerifier } from '@platform/shared';
import { migrateAll } from '../scripts/lib/migrations.ts';
import { createScratchDatabase, ensureServices } from '../scripts/lib/services.ts';
import { startUsersSubgraph } from '../subgraphs/users/src/index.ts';
import { hashPassword } from '../subgraphs/users/src/passwords.ts';
import { generateStoredKey, signAccessToken, toSigningKeys } from '../subgraphs/users/src/tokens.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    verifications: { type: 'string', default: '20000' },
  },
});
const secondsPerLevel = Number(values.seconds);
const verifications = Number(values.verifications);
const concurrencyLevels = [1, 4, 16];
const password = 'bench-password-not-common';

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const ms = (value: number): string => `${value.toFixed(1)} ms`;
const rows: [string, string][] = [];
const record = (what: string, value: string): void => {
  rows.push([what, value]);
  process.stderr.write(`  ${what}: ${value}\n`);
};

process.stderr.write(
  `machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} CPU(s), UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}, Node ${process.version}\n`,
);

const services = await ensureServices({ need: { postgres: true, redis: true, neo4j: false }, log: () => {} });
const database = await createScratchDatabase(services.databaseUrl, 'bench_auth');
const dataDir = mkdtempSync(join(tmpdir(), 'bench-auth-'));
try {
  await migrateAll(database.url);

  // 0. argon2id alone, for reference: what one login must spend at the least.
  {
    const hash = await hashPassword(password);
    for (let run = 0; run < 3; run += 1) await argon2.verify(hash, password);
    const runs = 30;
    const started = performance.now();
    for (let run = 0; run < runs; run += 1) await argon2.verify(hash, password);
    record('one argon2id verification (m=19 MiB, t=2, p=1), sequential', ms((performance.now() - started) / runs));
  }

  // 1. login over HTTP
  const server = await startUsersSubgraph(
    // Its own event-stream prefix: the sign-ups' user.registered events must not reach the
    // consumers of a stack running on the same Redis (the few entries stay under bench-auth-*).
    { DATABASE_URL: database.url, REDIS_URL: services.redisUrl, DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'error', EVENT_STREAM_PREFIX: `bench-auth-${randomUUID()}` },
    { loginThrottleKeyPrefix: `bench-auth:${randomUUID()}:` },
  );
  try {
    const call = async (query: string, variables: Record<string, unknown>): Promise<{ errors?: unknown[] }> => {
      const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
      return (await response.json()) as { errors?: unknown[] };
    };
    const usernames = Array.from({ length: Math.max(...concurrencyLevels) }, (_, index) => `bench_${index}_${randomUUID().slice(0, 8)}`);
    for (const username of usernames) {
      const result = await call('mutation($u: String!, $p: String!) { register(username: $u, password: $p) { accessToken } }', { u: username, p: password });
      if (result.errors) throw new Error(`register failed: ${JSON.stringify(result.errors)}`);
    }
    const login = async (username: string): Promise<number> => {
      const started = performance.now();
      const result = await call('mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }', { u: username, p: password });
      if (result.errors) throw new Error(`login failed: ${JSON.stringify(result.errors)}`);
      return performance.now() - started;
    };
    for (const username of usernames.slice(0, 8)) await login(username); // warm-up: JIT, pool, sockets

    for (const concurrency of concurrencyLevels) {
      const latencies: number[] = [];
      const deadline = performance.now() + secondsPerLevel * 1000;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async (_, worker) => {
          while (performance.now() < deadline) latencies.push(await login(usernames[worker]!));
        }),
      );
      const elapsedSeconds = (performance.now() - started) / 1000;
      latencies.sort((a, b) => a - b);
      record(
        `login over HTTP, concurrency ${String(concurrency).padStart(2)}`,
        `${(latencies.length / elapsedSeconds).toFixed(1)} logins/s, p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))} (${latencies.length} logins)`,
      );
    }
  } finally {
    await server.stop();
  }

  // 2. access-token verification
  {
    const settings = { issuer: 'movie-platform', audience: 'movie-platform-api', ttlSeconds: 900 };
    // Three keys, as after two rotations: the verifier picks the right one by kid.
    const keys = await toSigningKeys([await generateStoredKey(), await generateStoredKey(), await generateStoredKey()]);
    const token = await signAccessToken(keys, settings, { id: randomUUID(), role: 'USER' });
    // The signature check itself (no cache), then the same token again as services see it: a
    // client sends one token with every request until it expires (the verified-token cache).
    for (const [label, cache] of [
      ['signature checked', false],
      ['token seen before (verified-token cache)', undefined],
    ] as const) {
      const verifier = createTokenVerifier({ issuer: settings.issuer, audience: settings.audience, keys: createLocalJWKSet(keys.jwks), ...(cache === false ? { cache } : {}) });
      for (let run = 0; run < 1_000; run += 1) await verifier.verify(token);
      const started = performance.now();
      for (let run = 0; run < verifications; run += 1) await verifier.verify(token);
      const microseconds = ((performance.now() - started) * 1000) / verifications;
      record(
        `access-token verification, ${label} (EdDSA, local JWKS of 3 keys, ${verifications} runs)`,
        `${microseconds.toFixed(1)} µs each (${Math.round(1e6 / microseconds)} per second on one core)`,
      );
    }
  }
} finally {
  await database.drop();
  rmSync(dataDir, { recursive: true, force: true });
  await services.stop();
}

console.log('\nauth benchmark');
for (const [what, value] of rows) console.log(`  ${what.padEnd(78)} ${value}`);
