// Finds or starts the PostgreSQL, Redis and Neo4j servers the platform needs, for `npm start`, the
// test global setup and the benchmarks. For each service, in order: the URL from the environment
// (which must answer: a configured but dead server is a mistake to report, not to paper over),
// then a server on the standard local port, then a private server under <dataDir> on a free port,
// which stop() shuts down again.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, chown, mkdir, readFile, readdir } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import neo4j, { type Driver } from 'neo4j-driver';
import pg from 'pg';
import {
  findExecutable,
  findFreePort,
  readLiveNeo4jOwner,
  readStoredPassword,
  REPO_ROOT,
  startNeo4j,
  type Neo4jOwner,
  terminateChild,
} from './neo4j.ts';

export interface Neo4jEndpoint {
  uri: string;
  user: string;
  password: string;
}

export interface ServiceEndpoints {
  databaseUrl: string;
  redisUrl: string;
  neo4j: Neo4jEndpoint;
}

export interface RunningServices extends ServiceEndpoints {
  /** which ones this call started itself, e.g. ['neo4j'] */
  started: string[];
  /** stops only what this call started */
  stop(): Promise<void>;
}

export interface EnsureServicesOptions {
  /** default <repo>/.data */
  dataDir?: string;
  /** PostgreSQL database name, default 'movie_platform'; created when missing */
  database?: string;
  /** default all; endpoints of services not needed are empty strings */
  need?: { postgres?: boolean; redis?: boolean; neo4j?: boolean };
  /** default process.env */
  env?: NodeJS.ProcessEnv;
  log?: (message: string) => void;
  /** default true; false skips the servers on the standard local ports and starts private ones */
  reuseLocalServers?: boolean;
}

export type ServiceName = 'postgres' | 'redis' | 'neo4j';

/** A problem the user has to fix; `message` is one line meant to be printed without a stack. */
export class ServiceError extends Error {
  readonly service: ServiceName;
  /** The environment variable at fault, when there is one (e.g. 'REDIS_URL'). */
  readonly variable: string | undefined;

  constructor(service: ServiceName, message: string, variable?: string) {
    super(message);
    this.name = 'ServiceError';
    this.service = service;
    this.variable = variable;
  }
}

const DEFAULT_DATABASE = 'movie_platform';
const PROBE_TIMEOUT_MS = 3_000;
const LOCAL_HOST = '127.0.0.1';
const STANDARD_PORTS = { postgres: 5432, redis: 6379, neo4j: 7687 } as const;
const NEO4J_SCHEMES = ['bolt:', 'bolt+s:', 'bolt+ssc:', 'neo4j:', 'neo4j+s:', 'neo4j+ssc:'];
const NEO4J_OWNER_WAIT_MS = 120_000;
const execFileAsync = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// Pure helpers (unit-tested)

/** Hides the password, so URLs can appear in logs and error messages. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return raw.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
  }
}

function parseUrl(raw: string, variable: string, service: ServiceName, expected: string, protocols: string[]): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ServiceError(service, `${variable}="${redactUrl(raw)}" is not a URL: expected ${expected}`, variable);
  }
  if (!protocols.includes(url.protocol) || !url.hostname) {
    throw new ServiceError(service, `${variable}=${redactUrl(raw)} is not a ${service} URL: expected ${expected}`, variable);
  }
  return url;
}

export function parseDatabaseUrl(raw: string, variable = 'DATABASE_URL'): URL {
  const url = parseUrl(raw, variable, 'postgres', 'postgres://user[:password]@host[:port]/database', ['postgres:', 'postgresql:']);
  if (databaseNameOf(url) === '') {
    throw new ServiceError('postgres', `${variable}=${redactUrl(raw)} names no database: append /<database> to it`, variable);
  }
  return url;
}

export function parseRedisUrl(raw: string, variable = 'REDIS_URL'): URL {
  return parseUrl(raw, variable, 'redis', 'redis://[:password@]host[:port][/db]', ['redis:', 'rediss:']);
}

export function parseNeo4jUri(raw: string, variable = 'NEO4J_URI'): URL {
  return parseUrl(raw, variable, 'neo4j', 'bolt://host:port or neo4j://host:port', NEO4J_SCHEMES);
}

export function databaseNameOf(url: URL): string {
  return decodeURIComponent(url.pathname.replace(/^\//, ''));
}

export function withDatabase(databaseUrl: string, database: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

/** Restricted to names that need no quoting anywhere (psql, URLs, logs), and PostgreSQL's 63-byte limit. */
export function isValidDatabaseName(name: string): boolean {
  return /^[a-z_][a-z0-9_]{0,62}$/.test(name);
}

export function scratchDatabaseName(prefix: string, suffix: string): string {
  const cleanPrefix = prefix.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^[^a-z_]+/, '') || 'scratch';
  const cleanSuffix = suffix.toLowerCase().replace(/[^a-z0-9]/g, '');
  return `${cleanPrefix.slice(0, 62 - cleanSuffix.length)}_${cleanSuffix}`;
}

export type FailureKind = 'unreachable' | 'auth' | 'missing-database' | 'failed';

export interface ProbeFailure {
  kind: FailureKind;
  /** short, lower-case, e.g. 'connection refused' */
  reason: string;
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'timed out',
};

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Node reports a failed dual-stack connect as an AggregateError whose parts carry the codes.
  return error instanceof AggregateError ? errorCode(error.errors[0]) : undefined;
}

function errorMessage(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return errorMessage(error.errors[0]);
  return error instanceof Error ? error.message : String(error);
}

function networkFailure(error: unknown): ProbeFailure | null {
  const code = errorCode(error);
  const message = errorMessage(error);
  const reason =
    (code && NETWORK_REASONS[code]) ??
    Object.entries(NETWORK_REASONS).find(([name]) => message.includes(name))?.[1] ??
    (/time(d)? ?out/i.test(message) ? 'timed out' : undefined);
  return reason ? { kind: 'unreachable', reason } : null;
}

const POSTGRES_AUTH_CODES = new Set(['28P01', '28000']);
const POSTGRES_MISSING_DATABASE = '3D000';

export function classifyPostgresFailure(error: unknown): ProbeFailure {
  const code = errorCode(error);
  if (code && POSTGRES_AUTH_CODES.has(code)) return { kind: 'auth', reason: errorMessage(error) };
  if (code === POSTGRES_MISSING_DATABASE) return { kind: 'missing-database', reason: errorMessage(error) };
  return networkFailure(error) ?? { kind: 'failed', reason: errorMessage(error) };
}

export function classifyRedisFailure(error: unknown): ProbeFailure {
  const message = errorMessage(error);
  if (/^NOAUTH\b/.test(message)) return { kind: 'auth', reason: 'the server requires a password' };
  if (/^WRONGPASS\b|invalid password|invalid username/i.test(message)) return { kind: 'auth', reason: 'wrong user or password' };
  return networkFailure(error) ?? { kind: 'failed', reason: message };
}

export function classifyNeo4jFailure(error: unknown): ProbeFailure {
  const code = errorCode(error) ?? '';
  if (code.startsWith('Neo.ClientError.Security.')) return { kind: 'auth', reason: 'authentication failed' };
  if (code === 'ServiceUnavailable' || code === 'SessionExpired') {
    return networkFailure(error) ?? { kind: 'unreachable', reason: 'no Neo4j server answers' };
  }
  return networkFailure(error) ?? { kind: 'failed', reason: errorMessage(error) };
}

export interface EnvFailureMessage {
  variable: string;
  /** what the variable currently says, already redacted */
  value: string;
  product: string;
  failure: ProbeFailure;
  /** e.g. 'fix NEO4J_PASSWORD' */
  authFix: string;
}

/** The single line a user sees when a configured server is unusable. */
export function describeEnvFailure(details: EnvFailureMessage): string {
  const subject = `${details.variable}=${details.value}`;
  const unset = `unset ${details.variable} to let the project start its own`;
  switch (details.failure.kind) {
    case 'unreachable':
      return `${subject} does not answer (${details.failure.reason}): start ${details.product} there or ${unset}`;
    case 'auth':
      return `${subject} rejects the credentials (${details.failure.reason}): ${details.authFix}, or ${unset}`;
    case 'missing-database':
      return `${subject} names a database that does not exist and could not be created (${details.failure.reason}): create it or ${unset}`;
    case 'failed':
      return `${subject} is not usable (${details.failure.reason}): fix it or ${unset}`;
  }
}

/** `-c` options for our private PostgreSQL: loopback TCP only, its socket kept inside its own folder. */
export function postgresServerOptions(port: number, socketDir: string): string {
  const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;
  return ['-c listen_addresses=127.0.0.1', `-p ${port}`, `-c unix_socket_directories=${quote(socketDir)}`].join(' ');
}

export function redisServerArgs(port: number, dir: string): string[] {
  // A cache for development and tests: no snapshots, no append-only file.
  return ['--port', String(port), '--bind', LOCAL_HOST, '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'];
}

// ---------------------------------------------------------------------------------------------
// "Does it answer?" probes: short timeouts, always release what they opened

type ProbeResult = { ok: true } | ({ ok: false } & ProbeFailure);

async function probePostgres(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  // A server dying mid-probe emits 'error' on the client; unhandled it would crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return { ok: true };
  } catch (error) {
    return { ok: false, ...classifyPostgresFailure(error) };
  } finally {
    await client.end().catch(() => {});
  }
}

async function probeRedis(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let lastError: unknown;
  client.on('error', (error: unknown) => {
    lastError = error;
  });
  try {
    await client.connect();
    await client.ping();
    return { ok: true };
  } catch (error) {
    // ioredis often rejects with a generic "Connection is closed"; the 'error' event has the cause.
    return { ok: false, ...classifyRedisFailure(lastError ?? error) };
  } finally {
    client.disconnect();
  }
}

async function probeNeo4j(endpoint: Neo4jEndpoint, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  let driver: Driver | undefined;
  try {
    driver = neo4j.driver(endpoint.uri, neo4j.auth.basic(endpoint.user, endpoint.password), {
      connectionTimeout: timeoutMs,
      connectionAcquisitionTimeout: timeoutMs,
      maxConnectionPoolSize: 1,
    });
    // Unlike verifyConnectivity's name suggests, both log in; getServerInfo also proves it is Neo4j.
    await driver.getServerInfo();
    return { ok: true };
  } catch (error) {
    return { ok: false, ...classifyNeo4jFailure(error) };
  } finally {
    await driver?.close().catch(() => {});
  }
}

/** A plain TCP connect: cheap enough to ask "is anything listening?" before trying credentials. */
function isPortOpen(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: LOCAL_HOST, port, timeout: timeoutMs });
    const finish = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.once('connect', () => finish(true));
    socket.once('timeout', () => finish(false));
    socket.once('error', () => finish(false));
  });
}

async function waitUntilAnswers(probe: () => Promise<ProbeResult>, options: { timeoutMs: number; gaveUp: () => boolean }): Promise<ProbeResult> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const result = await probe();
    if (result.ok || options.gaveUp() || Date.now() > deadline) return result;
    await delay(100);
  }
}

// ---------------------------------------------------------------------------------------------
// ensureServices

interface Context {
  dataDir: string;
  database: string;
  env: NodeJS.ProcessEnv;
  log: (message: string) => void;
  reuseLocalServers: boolean;
}

/** What one service resolved to; `stop` is present only when we started the server. */
interface Provided<T> {
  endpoint: T;
  stop?: () => Promise<void>;
}

export async function ensureServices(options: EnsureServicesOptions = {}): Promise<RunningServices> {
  const context: Context = {
    dataDir: path.resolve(options.dataDir ?? path.join(REPO_ROOT, '.data')),
    database: options.database ?? DEFAULT_DATABASE,
    env: options.env ?? process.env,
    log: options.log ?? (() => {}),
    reuseLocalServers: options.reuseLocalServers ?? true,
  };
  if (!isValidDatabaseName(context.database)) {
    throw new ServiceError('postgres', `database name "${context.database}" is not valid: use lower-case letters, digits and _`);
  }
  const need = { postgres: true, redis: true, neo4j: true, ...options.need };
  const none = <T>(endpoint: T): Promise<Provided<T>> => Promise.resolve({ endpoint });

  // In parallel: Neo4j's JVM start dominates, the others should not wait behind it.
  const results = await Promise.allSettled([
    need.postgres ? providePostgres(context) : none(''),
    need.redis ? provideRedis(context) : none(''),
    need.neo4j ? provideNeo4j(context) : none<Neo4jEndpoint>({ uri: '', user: '', password: '' }),
  ] as const);
  const startedByUs: Array<{ name: ServiceName; stop: () => Promise<void> }> = [];
  const names: ServiceName[] = ['postgres', 'redis', 'neo4j'];
  results.forEach((result, index) => {
    if (result.status === 'fulfilled' && result.value.stop) startedByUs.push({ name: names[index]!, stop: result.value.stop });
  });
  const stopAll = async () => {
    await Promise.all(startedByUs.map((service) => service.stop()));
  };

  const failure = results.find((result) => result.status === 'rejected');
  if (failure) {
    // Do not leave half a stack running behind an error.
    await stopAll().catch(() => {});
    throw failure.reason;
  }
  const [postgres, redis, graph] = [fulfilledValue(results[0]), fulfilledValue(results[1]), fulfilledValue(results[2])];

  let stopping: Promise<void> | undefined;
  return {
    databaseUrl: postgres.endpoint,
    redisUrl: redis.endpoint,
    neo4j: graph.endpoint,
    started: startedByUs.map((service) => service.name),
    stop() {
      stopping ??= stopAll();
      return stopping;
    },
  };
}

function fulfilledValue<T>(result: PromiseSettledResult<T>): T {
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

// ------------------------------------------------------------------ PostgreSQL

async function providePostgres(context: Context): Promise<Provided<string>> {
  const configured = context.env.DATABASE_URL;
  if (configured) {
    parseDatabaseUrl(configured);
    await requireConfiguredPostgres(configured);
    context.log(`postgres: using DATABASE_URL ${redactUrl(configured)}`);
    return { endpoint: configured };
  }

  if (!context.reuseLocalServers) return startPrivatePostgres(context);
  const standardServer = `postgres://postgres@${LOCAL_HOST}:${STANDARD_PORTS.postgres}/postgres`;
  const standard = await probePostgres(standardServer);
  if (standard.ok) {
    const url = withDatabase(standardServer, context.database);
    await ensureDatabase(url, undefined);
    context.log(`postgres: using the local server at ${LOCAL_HOST}:${STANDARD_PORTS.postgres}`);
    return { endpoint: url };
  }
  if (standard.kind !== 'unreachable') {
    context.log(`postgres: the server at ${LOCAL_HOST}:${STANDARD_PORTS.postgres} refuses user postgres (${standard.reason}); starting a private one`);
  }
  return startPrivatePostgres(context);
}

async function requireConfiguredPostgres(url: string): Promise<void> {
  const probe = await probePostgres(url);
  if (probe.ok) return;
  if (probe.kind === 'missing-database') return ensureDatabase(url, 'DATABASE_URL');
  throw new ServiceError(
    'postgres',
    describeEnvFailure({
      variable: 'DATABASE_URL',
      value: redactUrl(url),
      product: 'PostgreSQL',
      failure: probe,
      authFix: 'fix the user or password in DATABASE_URL',
    }),
    'DATABASE_URL',
  );
}

/** Creates the URL's database when missing, connecting to the server's always-present `postgres` database. */
async function ensureDatabase(url: string, variable: string | undefined): Promise<void> {
  const database = databaseNameOf(new URL(url));
  const client = new pg.Client({ connectionString: withDatabase(url, 'postgres'), connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  client.on('error', () => {});
  try {
    await client.connect();
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (existing.rowCount === 0) await createDatabase(client, database);
  } catch (error) {
    const subject = variable ? `${variable}=${redactUrl(url)}` : redactUrl(url);
    throw new ServiceError('postgres', `could not create database "${database}" for ${subject} (${errorMessage(error)}): create it by hand`, variable);
  } finally {
    await client.end().catch(() => {});
  }
}

const DUPLICATE_DATABASE = '42P04';
const UNIQUE_VIOLATION = '23505';

async function createDatabase(client: pg.Client, database: string): Promise<void> {
  try {
    await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } catch (error) {
    // Two processes creating it at once: the loser sees one of these, and the database exists.
    const code = errorCode(error);
    if (code !== DUPLICATE_DATABASE && code !== UNIQUE_VIOLATION) throw error;
  }
}

interface PostgresTools {
  initdb: string;
  pgCtl: string;
  /** Prefix that runs a command as the `postgres` OS user when we are root (initdb and pg_ctl refuse root). */
  runAs: string[];
  owner: { uid: number; gid: number } | null;
}

async function findPostgresTools(env: NodeJS.ProcessEnv): Promise<PostgresTools> {
  const versionDirs = await listPostgresBinDirs();
  const initdb = await findExecutable('initdb', env, versionDirs);
  const pgCtl = await findExecutable('pg_ctl', env, versionDirs);
  if (!initdb || !pgCtl) {
    throw new ServiceError('postgres', 'PostgreSQL is not installed (initdb/pg_ctl not found): apt-get install postgresql, or set DATABASE_URL', 'DATABASE_URL');
  }
  if (process.getuid?.() !== 0) return { initdb, pgCtl, runAs: [], owner: null };

  const runuser = await findExecutable('runuser', env, ['/usr/sbin', '/sbin']);
  const owner = await lookUpUser('postgres');
  if (!runuser || !owner) {
    throw new ServiceError('postgres', 'running as root, a private PostgreSQL needs the "postgres" OS user and runuser (apt-get install postgresql util-linux), or set DATABASE_URL', 'DATABASE_URL');
  }
  return { initdb, pgCtl, runAs: [runuser, '-u', 'postgres', '--'], owner };
}

/** Debian keeps initdb and pg_ctl off PATH, in /usr/lib/postgresql/<major>/bin; newest first. */
async function listPostgresBinDirs(): Promise<string[]> {
  const root = '/usr/lib/postgresql';
  const versions = await readdir(root).catch(() => [] as string[]);
  return versions
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => path.join(root, version, 'bin'));
}

async function lookUpUser(name: string): Promise<{ uid: number; gid: number } | null> {
  try {
    const [uid, gid] = await Promise.all([execFileAsync('id', ['-u', name]), execFileAsync('id', ['-g', name])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return null;
  }
}

async function runPostgresTool(tools: PostgresTools, command: string, args: string[], what: string): Promise<void> {
  const [file, ...prefix] = [...tools.runAs, command];
  try {
    await execFileAsync(file!, [...prefix, ...args], { timeout: 120_000 });
  } catch (error) {
    const output = error as { stderr?: string; stdout?: string };
    const detail = (output.stderr || output.stdout || errorMessage(error)).trim().split('\n').slice(-3).join(' / ');
    throw new ServiceError('postgres', `${what} failed: ${detail}`);
  }
}

async function startPrivatePostgres(context: Context): Promise<Provided<string>> {
  const tools = await findPostgresTools(context.env);
  const dataDir = path.join(context.dataDir, 'postgres');
  await initPostgresCluster(tools, dataDir, context.log);

  const alreadyRunning = await findRunningPrivatePostgres(dataDir);
  if (alreadyRunning) {
    const url = withDatabase(alreadyRunning, context.database);
    await ensureDatabase(url, undefined);
    context.log(`postgres: reusing the private server already running in ${dataDir}`);
    return { endpoint: url };
  }

  const port = await findFreePort();
  context.log(`postgres: starting a private server in ${dataDir} on ${LOCAL_HOST}:${port}`);
  await runPostgresTool(
    tools,
    tools.pgCtl,
    ['-D', dataDir, '-l', path.join(dataDir, 'server.log'), '-w', '-t', '60', '-o', postgresServerOptions(port, dataDir), 'start'],
    `starting PostgreSQL (see ${path.join(dataDir, 'server.log')})`,
  );
  const stop = () => runPostgresTool(tools, tools.pgCtl, ['-D', dataDir, '-m', 'fast', '-w', 'stop'], 'stopping PostgreSQL');
  const serverUrl = `postgres://postgres@${LOCAL_HOST}:${port}/postgres`;
  try {
    const probe = await waitUntilAnswers(() => probePostgres(serverUrl), { timeoutMs: 30_000, gaveUp: () => false });
    if (!probe.ok) throw new ServiceError('postgres', `the private PostgreSQL on port ${port} does not answer (${probe.reason})`);
    const url = withDatabase(serverUrl, context.database);
    await ensureDatabase(url, undefined);
    return { endpoint: url, stop };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}

async function initPostgresCluster(tools: PostgresTools, dataDir: string, log: (message: string) => void): Promise<void> {
  if (await exists(path.join(dataDir, 'PG_VERSION'))) return;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // initdb runs as `postgres` and cannot create or write a folder root owns.
  if (tools.owner) await chown(dataDir, tools.owner.uid, tools.owner.gid);
  log(`postgres: initdb ${dataDir}`);
  await runPostgresTool(tools, tools.initdb, ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale'], 'initdb');
}

/** A private server left running by an earlier run (pg_ctl detaches it): its port is line 4 of postmaster.pid. */
async function findRunningPrivatePostgres(dataDir: string): Promise<string | null> {
  const pidFile = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => null);
  const port = Number(pidFile?.split('\n')[3]);
  if (!Number.isInteger(port) || port <= 0) return null;
  const url = `postgres://postgres@${LOCAL_HOST}:${port}/postgres`;
  return (await probePostgres(url, 1_000)).ok ? url : null;
}

// ------------------------------------------------------------------ Redis

async function provideRedis(context: Context): Promise<Provided<string>> {
  const configured = context.env.REDIS_URL;
  if (configured) {
    parseRedisUrl(configured);
    const url = configured;
    const probe = await probeRedis(url);
    if (!probe.ok) {
      throw new ServiceError(
        'redis',
        describeEnvFailure({ variable: 'REDIS_URL', value: redactUrl(url), product: 'Redis', failure: probe, authFix: 'fix the password in REDIS_URL' }),
        'REDIS_URL',
      );
    }
    context.log(`redis: using REDIS_URL ${redactUrl(url)}`);
    return { endpoint: url };
  }

  if (!context.reuseLocalServers) return startPrivateRedis(context);
  const standardUrl = `redis://${LOCAL_HOST}:${STANDARD_PORTS.redis}`;
  const standard = await probeRedis(standardUrl);
  if (standard.ok) {
    context.log(`redis: using the local server at ${LOCAL_HOST}:${STANDARD_PORTS.redis}`);
    return { endpoint: standardUrl };
  }
  if (standard.kind !== 'unreachable') {
    context.log(`redis: the server at ${LOCAL_HOST}:${STANDARD_PORTS.redis} is not usable (${standard.reason}); starting a private one`);
  }
  return startPrivateRedis(context);
}

async function startPrivateRedis(context: Context): Promise<Provided<string>> {
  const redisServer = await findExecutable('redis-server', context.env, ['/usr/sbin']);
  if (!redisServer) {
    throw new ServiceError('redis', 'Redis is not installed (redis-server not found): apt-get install redis-server, or set REDIS_URL', 'REDIS_URL');
  }
  const dir = path.join(context.dataDir, 'redis');
  await mkdir(dir, { recursive: true });
  const port = await findFreePort();
  context.log(`redis: starting a private server on ${LOCAL_HOST}:${port}`);
  const child = spawn(redisServer, redisServerArgs(port, dir), { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = collectOutput(child);
  const spawnFailure = new Promise<Error>((resolve) => child.once('error', resolve));
  const stop = () => terminateChild(child, { signal: 'SIGTERM', killAfterMs: 5_000 });

  const url = `redis://${LOCAL_HOST}:${port}`;
  const probe = await Promise.race([
    waitUntilAnswers(() => probeRedis(url, 1_000), { timeoutMs: 10_000, gaveUp: () => child.exitCode !== null }),
    spawnFailure.then((error): ProbeResult => ({ ok: false, kind: 'failed', reason: error.message })),
  ]);
  if (!probe.ok) {
    await stop();
    throw new ServiceError('redis', `the private redis-server on port ${port} did not start (${probe.reason}): ${output().join(' / ')}`);
  }
  return { endpoint: url, stop };
}

/** Drains a child's output (an undrained pipe blocks the child) and keeps the tail for error messages. */
function collectOutput(child: ChildProcess, keep = 10): () => string[] {
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      if (lines.length > keep) lines.shift();
    });
  }
  return () => [...lines];
}

// ------------------------------------------------------------------ Neo4j

async function provideNeo4j(context: Context): Promise<Provided<Neo4jEndpoint>> {
  if (context.env.NEO4J_URI) return { endpoint: await requireConfiguredNeo4j(context) };

  const home = path.join(context.dataDir, 'neo4j');
  const reusable = await findReusableNeo4j(context, home);
  if (reusable) return { endpoint: reusable };

  context.log(`neo4j: starting a private server in ${home} (first start of a new store takes a few seconds more)`);
  try {
    const server = await startNeo4j({ home, port: 0, env: context.env, log: context.log });
    return { endpoint: { uri: server.uri, user: server.user, password: server.password }, stop: () => server.stop() };
  } catch (error) {
    // Start failures carry log excerpts over several lines; the first one says what happened.
    const message = errorMessage(error);
    const [summary] = message.split('\n');
    if (message.includes('\n')) context.log(message);
    throw new ServiceError('neo4j', `${summary}${message.includes('\n') ? ' (details above)' : ''}`);
  }
}

async function requireConfiguredNeo4j(context: Context): Promise<Neo4jEndpoint> {
  const uri = context.env.NEO4J_URI ?? '';
  parseNeo4jUri(uri);
  const user = context.env.NEO4J_USER || 'neo4j';
  const password = context.env.NEO4J_PASSWORD;
  if (!password) {
    throw new ServiceError('neo4j', `NEO4J_URI is set but NEO4J_PASSWORD is not: set it to the password of ${user}, or unset NEO4J_URI to let the project start its own`, 'NEO4J_PASSWORD');
  }
  const endpoint = { uri, user, password };
  const probe = await probeNeo4j(endpoint);
  if (!probe.ok) {
    const variable = probe.kind === 'auth' ? 'NEO4J_PASSWORD' : 'NEO4J_URI';
    throw new ServiceError(
      'neo4j',
      describeEnvFailure({
        variable: 'NEO4J_URI',
        value: uri,
        product: 'Neo4j',
        failure: probe,
        authFix: `check NEO4J_USER (${user}) and NEO4J_PASSWORD`,
      }),
      variable,
    );
  }
  context.log(`neo4j: using NEO4J_URI ${uri} as ${user}`);
  return endpoint;
}

/**
 * The live launcher of this store once it is ready: another process (npm start and a test run
 * launched together) may still be starting it. Waiting on its owner file rather than probing,
 * because logins before its password is set count towards Neo4j's 5-second lockout.
 */
async function waitForReadyOwner(home: string, log: (message: string) => void): Promise<Neo4jOwner | null> {
  const deadline = Date.now() + NEO4J_OWNER_WAIT_MS;
  let owner = await readLiveNeo4jOwner(home);
  if (owner && !owner.ready) log(`neo4j: process ${owner.pid} is starting Neo4j on ${home}; waiting for it`);
  while (owner && !owner.ready && Date.now() < deadline) {
    await delay(200);
    owner = await readLiveNeo4jOwner(home);
  }
  return owner?.ready ? owner : null;
}

/** Our own launcher still running on this store, or a server on 7687 whose credentials we know. */
async function findReusableNeo4j(context: Context, home: string): Promise<Neo4jEndpoint | null> {
  const owner = await waitForReadyOwner(home, context.log);
  const storedPassword = await readStoredPassword(home);
  if (owner && storedPassword) {
    const endpoint = { uri: owner.uri, user: 'neo4j', password: storedPassword };
    if ((await probeNeo4j(endpoint)).ok) {
      context.log(`neo4j: reusing the server already running on ${home} (pid ${owner.pid}) at ${owner.uri}`);
      return endpoint;
    }
  }

  if (!context.reuseLocalServers || !(await isPortOpen(STANDARD_PORTS.neo4j))) return null;
  const uri = `bolt://${LOCAL_HOST}:${STANDARD_PORTS.neo4j}`;
  const candidates: Neo4jEndpoint[] = [];
  if (context.env.NEO4J_PASSWORD) candidates.push({ uri, user: context.env.NEO4J_USER || 'neo4j', password: context.env.NEO4J_PASSWORD });
  if (storedPassword) candidates.push({ uri, user: 'neo4j', password: storedPassword });
  for (const candidate of candidates) {
    if ((await probeNeo4j(candidate)).ok) {
      context.log(`neo4j: using the local server at ${uri} as ${candidate.user}`);
      return candidate;
    }
  }
  context.log(`neo4j: something listens on ${uri} but its credentials are unknown (set NEO4J_URI/NEO4J_PASSWORD to use it); starting a private server`);
  return null;
}

// ---------------------------------------------------------------------------------------------
// Scratch databases for tests

/** Creates a uniquely named database on the server of `databaseUrl`; drop() removes it even with open connections. */
export async function createScratchDatabase(databaseUrl: string, prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = scratchDatabaseName(prefix, `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`);
  await withAdminClient(databaseUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
  let dropping: Promise<void> | undefined;
  return {
    url: withDatabase(databaseUrl, name),
    drop() {
      // FORCE (PostgreSQL 13+) ends connections a test forgot to close instead of failing.
      dropping ??= withAdminClient(databaseUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => {});
      return dropping;
    },
  };
}

async function withAdminClient<T>(databaseUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  client.on('error', () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
