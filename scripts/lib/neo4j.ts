// Neo4j 5.26 without Docker or a Neo4j distribution: Maven assembles the embedded community
// runtime from Maven Central once, `javac` compiles our small launcher (neo4j/src), and
// startNeo4j runs it as a child process that speaks a one-line READY protocol on stdout and
// stops by itself when our stdin pipe closes, so a crashed Node parent never leaves it running.

import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, chmod, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const POM_PATH = path.join(REPO_ROOT, 'neo4j', 'pom.xml');
const LAUNCHER_SOURCE = path.join(REPO_ROOT, 'neo4j', 'src', 'Neo4jLauncher.java');
const LAUNCHER_CLASS = 'Neo4jLauncher';
const READY_PREFIX = 'NEO4J_READY ';
const INSTALL_JAVA_HINT = 'install openjdk-17-jdk-headless and maven (apt-get install openjdk-17-jdk-headless maven)';
const MIN_PASSWORD_LENGTH = 8; // Neo4j's default dbms.security.auth_minimum_password_length
const DIAGNOSTIC_LINES = 20;

/** Failures of the Neo4j runtime or launcher; the message is meant to be shown as is. */
export class Neo4jLauncherError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Neo4jLauncherError';
  }
}

// ---------------------------------------------------------------------------------------------
// Pure helpers (unit-tested)

/** Reads `<neo4j.version>` from the pom, the one place the version is written down. */
export function readNeo4jVersion(pomXml: string): string {
  const match = /<neo4j\.version>\s*([^<\s]+)\s*<\/neo4j\.version>/.exec(pomXml);
  if (!match?.[1]) {
    throw new Neo4jLauncherError('neo4j/pom.xml has no <neo4j.version> property');
  }
  return match[1];
}

/** Module openings Neo4j 5 needs on Java 17 (it uses internals for off-heap memory and Netty). */
export const NEO4J_JVM_FLAGS: readonly string[] = [
  ...['java.nio', 'java.io', 'sun.nio.ch', 'java.lang', 'java.util', 'java.util.concurrent'].map(
    (pkg) => `--add-opens=java.base/${pkg}=ALL-UNNAMED`,
  ),
  '-Dio.netty.tryReflectionSetAccessible=true',
  '--enable-native-access=ALL-UNNAMED',
  // A JVM out of heap is in an unknown state; better dead (and visible) than half-working.
  '-XX:+ExitOnOutOfMemoryError',
];

export interface LauncherCommand {
  classpath: string;
  home: string;
  port: number;
  heapMb: number;
  pageCacheMb: number;
  passwordFile: string;
}

export function buildNeo4jJavaArgs(command: LauncherCommand): string[] {
  for (const [name, value] of Object.entries({ port: command.port, heapMb: command.heapMb, pageCacheMb: command.pageCacheMb })) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new Neo4jLauncherError(`neo4j launcher: ${name} must be a positive integer, got ${value}`);
    }
  }
  return [
    `-Xms${command.heapMb}m`,
    `-Xmx${command.heapMb}m`,
    ...NEO4J_JVM_FLAGS,
    '-cp',
    command.classpath,
    LAUNCHER_CLASS,
    '--home',
    command.home,
    '--port',
    String(command.port),
    '--pagecache-mb',
    String(command.pageCacheMb),
    '--password-file',
    command.passwordFile,
  ];
}

/** Returns the URI of a READY line, or null for any other output line. */
export function parseReadyLine(line: string): string | null {
  if (!line.startsWith(READY_PREFIX)) return null;
  const uri = line.slice(READY_PREFIX.length).trim();
  return /^bolt:\/\/[^\s]+:\d+$/.test(uri) ? uri : null;
}

export function tailLines(text: string, count: number): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-count);
}

export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

// ---------------------------------------------------------------------------------------------
// Small process and network helpers, shared with services.ts

/**
 * Finds an executable on PATH without spawning anything (a spawn would cost a JVM start for java).
 * `env` may be a configuration-only environment (tests pass `{}`), so PATH falls back to our own.
 */
export async function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env, extraDirs: string[] = []): Promise<string | null> {
  const searchPath = env.PATH ?? process.env.PATH ?? '';
  const dirs = [...extraDirs, ...searchPath.split(path.delimiter)].filter(Boolean);
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // Not in this directory; keep looking.
    }
  }
  return null;
}

/** Asks the kernel for a free loopback port. Another process may take it before we bind it; callers retry. */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export function waitForExit(child: ChildProcess): Promise<void> {
  if (hasExited(child) || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Asks a child to stop (closing its stdin and/or a signal), and kills it when it has not exited
 * after `killAfterMs`. Resolves once it has exited.
 */
export async function terminateChild(child: ChildProcess, options: { signal?: NodeJS.Signals; killAfterMs: number }): Promise<void> {
  // No pid: the spawn itself failed, there is no process and there will be no 'exit' event.
  if (hasExited(child) || child.pid === undefined) return;
  const exited = waitForExit(child);
  child.stdin?.end();
  if (options.signal) child.kill(options.signal);
  const killTimer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
  await exited;
  clearTimeout(killTimer);
}

/** Keeps the last lines of a stream: enough for an error message, bounded in memory. */
class LineTail {
  readonly #limit: number;
  readonly #lines: string[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.#limit) this.#lines.shift();
  }

  get lines(): readonly string[] {
    return this.#lines;
  }
}

// ---------------------------------------------------------------------------------------------
// Runtime: jars from Maven Central + the compiled launcher

export interface Neo4jRuntime {
  version: string;
  /** `.cache/neo4j-<version>` */
  dir: string;
  libDir: string;
  classesDir: string;
  /** For `java -cp`: the launcher classes and every runtime jar. */
  classpath: string;
  javaPath: string;
}

export interface EnsureNeo4jRuntimeOptions {
  /** Parent folder of `neo4j-<version>`; default $NEO4J_RUNTIME_CACHE or <repo>/.cache */
  cacheRoot?: string;
  env?: NodeJS.ProcessEnv;
  log?: (message: string) => void;
}

interface RuntimeMarker {
  version: string;
  pomSha256: string;
  jarCount: number;
}

const MARKER_FILE = '.complete.json';

export async function ensureNeo4jRuntime(options: EnsureNeo4jRuntimeOptions = {}): Promise<Neo4jRuntime> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => {});
  const pomXml = await readFile(POM_PATH, 'utf8');
  const version = readNeo4jVersion(pomXml);
  const cacheRoot = options.cacheRoot ?? env.NEO4J_RUNTIME_CACHE ?? path.join(REPO_ROOT, '.cache');
  const dir = path.resolve(cacheRoot, `neo4j-${version}`);
  const libDir = path.join(dir, 'lib');
  const classesDir = path.join(dir, 'classes');

  const java = await requireJavaTool('java', env);
  const pomSha256 = createHash('sha256').update(pomXml).digest('hex');
  if (!(await isRuntimeComplete(dir, version, pomSha256))) {
    const mvn = await findExecutable('mvn', env);
    if (!mvn) throw new Neo4jLauncherError(`Maven (mvn) is not installed, needed once to fetch Neo4j ${version}: ${INSTALL_JAVA_HINT}`);
    log(`neo4j: fetching Neo4j ${version} jars from Maven Central into ${libDir} (once)`);
    await fetchJars({ mvn, dir, libDir, version, pomSha256 });
  }
  if (await isLauncherStale(classesDir)) {
    const javac = await requireJavaTool('javac', env);
    log('neo4j: compiling the launcher');
    await compileLauncher({ javac, dir, libDir, classesDir });
  }
  return {
    version,
    dir,
    libDir,
    classesDir,
    classpath: [classesDir, path.join(libDir, '*')].join(path.delimiter),
    javaPath: java,
  };
}

/** Prefers $JAVA_HOME/bin, like the java tool chain does, then PATH. */
async function requireJavaTool(name: 'java' | 'javac', env: NodeJS.ProcessEnv): Promise<string> {
  const javaHome = env.JAVA_HOME ?? process.env.JAVA_HOME;
  const javaHomeBin = javaHome ? [path.join(javaHome, 'bin')] : [];
  const found = await findExecutable(name, env, javaHomeBin);
  if (!found) throw new Neo4jLauncherError(`${name} is not installed, needed to run Neo4j: ${INSTALL_JAVA_HINT}`);
  return found;
}

async function isRuntimeComplete(dir: string, version: string, pomSha256: string): Promise<boolean> {
  try {
    const marker = JSON.parse(await readFile(path.join(dir, MARKER_FILE), 'utf8')) as Partial<RuntimeMarker>;
    return marker.version === version && marker.pomSha256 === pomSha256;
  } catch {
    return false;
  }
}

/**
 * Copies into a private folder first and renames it into place, so an interrupted download or a
 * concurrent fetch never leaves a half-filled lib folder that looks complete.
 */
async function fetchJars(target: { mvn: string; dir: string; libDir: string; version: string; pomSha256: string }): Promise<void> {
  await mkdir(target.dir, { recursive: true });
  const stagingDir = path.join(target.dir, `lib.staging-${process.pid}`);
  await rm(stagingDir, { recursive: true, force: true });
  try {
    await runTool(target.mvn, ['-q', '-B', '-f', POM_PATH, 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${stagingDir}`], {
      what: `Maven could not fetch Neo4j ${target.version} (is Maven Central reachable?)`,
    });
    const jarCount = (await readdir(stagingDir)).filter((name) => name.endsWith('.jar')).length;
    if (jarCount === 0) throw new Neo4jLauncherError(`Maven copied no jars for Neo4j ${target.version}`);
    await rm(target.libDir, { recursive: true, force: true });
    await rename(stagingDir, target.libDir);
    const marker: RuntimeMarker = { version: target.version, pomSha256: target.pomSha256, jarCount };
    await writeFile(path.join(target.dir, MARKER_FILE), `${JSON.stringify(marker, null, 2)}\n`);
  } finally {
    await rm(stagingDir, { recursive: true, force: true });
  }
}

async function isLauncherStale(classesDir: string): Promise<boolean> {
  try {
    const [source, compiled] = await Promise.all([stat(LAUNCHER_SOURCE), stat(path.join(classesDir, `${LAUNCHER_CLASS}.class`))]);
    return compiled.mtimeMs < source.mtimeMs;
  } catch {
    return true;
  }
}

async function compileLauncher(target: { javac: string; dir: string; libDir: string; classesDir: string }): Promise<void> {
  const stagingDir = path.join(target.dir, `classes.staging-${process.pid}`);
  await rm(stagingDir, { recursive: true, force: true });
  try {
    await runTool(target.javac, ['-nowarn', '-d', stagingDir, '-cp', path.join(target.libDir, '*'), LAUNCHER_SOURCE], {
      what: 'javac could not compile neo4j/src/Neo4jLauncher.java',
    });
    await rm(target.classesDir, { recursive: true, force: true });
    await rename(stagingDir, target.classesDir);
  } finally {
    await rm(stagingDir, { recursive: true, force: true });
  }
}

/** Runs a build tool to completion; on failure the error carries the tool's last output lines. */
function runTool(command: string, args: string[], options: { what: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
    child.once('error', (error) => reject(new Neo4jLauncherError(`${options.what}: ${error.message}`)));
    child.once('close', (code) => {
      if (code === 0) return resolve();
      const tail = tailLines(Buffer.concat(output).toString('utf8'), DIAGNOSTIC_LINES).join('\n');
      reject(new Neo4jLauncherError(`${options.what} (exit code ${code})${tail ? `:\n${tail}` : ''}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Launching

export interface StartNeo4jOptions {
  /** Store folder: data/, logs/, password and the owner file live here. */
  home: string;
  /** 0 (default) picks a free port. */
  port?: number;
  heapMb?: number;
  pageCacheMb?: number;
  /** Generated (or reused from <home>/password) when absent; always stored in <home>/password, mode 600. */
  password?: string;
  readyTimeoutMs?: number;
  /** How long stop() waits for a clean shutdown before SIGKILL. */
  stopTimeoutMs?: number;
  log?: (message: string) => void;
  /** Where NEO4J_RUNTIME_CACHE and JAVA_HOME are read from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Skip ensureNeo4jRuntime when the caller already has one. */
  runtime?: Neo4jRuntime;
}

export interface RunningNeo4j {
  uri: string;
  user: 'neo4j';
  password: string;
  pid: number;
  stop(): Promise<void>;
}

/** Written to <home>/neo4j.owner.json while a launcher runs, so a second start fails clearly. */
export interface Neo4jOwner {
  pid: number;
  uri: string;
  /** false while starting: until the password is set, logins fail and count towards Neo4j's lockout */
  ready: boolean;
}

const OWNER_FILE = 'neo4j.owner.json';
export const PASSWORD_FILE = 'password';

export async function startNeo4j(options: StartNeo4jOptions): Promise<RunningNeo4j> {
  const home = path.resolve(options.home);
  await mkdir(home, { recursive: true });
  const owner = await readLiveNeo4jOwner(home);
  if (owner) {
    throw new Neo4jLauncherError(
      `Neo4j store ${home} is already in use by process ${owner.pid} (${owner.uri}): stop that process or use another home folder`,
    );
  }
  const runtime = options.runtime ?? (await ensureNeo4jRuntime({ env: options.env, log: options.log }));
  const password = await storePassword(home, options.password);
  const launch = (port: number) =>
    launchOnce({
      runtime,
      home,
      port,
      password,
      heapMb: options.heapMb ?? 512,
      pageCacheMb: options.pageCacheMb ?? 256,
      readyTimeoutMs: options.readyTimeoutMs ?? 120_000,
      stopTimeoutMs: options.stopTimeoutMs ?? 30_000,
      log: options.log ?? (() => {}),
    });

  if (options.port) return launch(options.port);
  // A port found free can be taken by someone else before the JVM binds it: try a fresh one once.
  try {
    return await launch(await findFreePort());
  } catch (error) {
    if (!(error instanceof PortInUseError)) throw error;
    return launch(await findFreePort());
  }
}

/** The live launcher that owns this store, if any; stale owner files (dead or reused pids) are ignored. */
export async function readLiveNeo4jOwner(home: string): Promise<Neo4jOwner | null> {
  let owner: Neo4jOwner;
  try {
    owner = JSON.parse(await readFile(path.join(home, OWNER_FILE), 'utf8')) as Neo4jOwner;
  } catch {
    return null;
  }
  return (await isLauncherProcess(owner.pid, home)) ? owner : null;
}

/** Checks the command line too, because after a reboot or in a container the pid may belong to anyone. */
async function isLauncherProcess(pid: number, home: string): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    const commandLine = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return commandLine.includes(LAUNCHER_CLASS) && commandLine.includes(home);
  } catch {
    return false;
  }
}

export async function readStoredPassword(home: string): Promise<string | null> {
  try {
    const password = (await readFile(path.join(home, PASSWORD_FILE), 'utf8')).trim();
    return password || null;
  } catch {
    return null;
  }
}

async function storePassword(home: string, requested: string | undefined): Promise<string> {
  const password = requested ?? (await readStoredPassword(home)) ?? generatePassword();
  if (password.length < MIN_PASSWORD_LENGTH || /\s/.test(password)) {
    throw new Neo4jLauncherError(`Neo4j passwords need at least ${MIN_PASSWORD_LENGTH} characters and no whitespace`);
  }
  const file = path.join(home, PASSWORD_FILE);
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  // `mode` only applies when the file is created; an older file may have looser permissions.
  await chmod(file, 0o600);
  return password;
}

class PortInUseError extends Neo4jLauncherError {}

interface LaunchSpec {
  runtime: Neo4jRuntime;
  home: string;
  port: number;
  password: string;
  heapMb: number;
  pageCacheMb: number;
  readyTimeoutMs: number;
  stopTimeoutMs: number;
  log: (message: string) => void;
}

async function launchOnce(spec: LaunchSpec): Promise<RunningNeo4j> {
  const args = buildNeo4jJavaArgs({
    classpath: spec.runtime.classpath,
    home: spec.home,
    port: spec.port,
    heapMb: spec.heapMb,
    pageCacheMb: spec.pageCacheMb,
    passwordFile: path.join(spec.home, PASSWORD_FILE),
  });
  const startedAt = Date.now();
  // stdin stays an open pipe for the launcher's whole life: its EOF is the "parent is gone" signal.
  const child = spawn(spec.runtime.javaPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  // Closing stdin of a JVM that already exited raises EPIPE; the exit itself is handled elsewhere.
  child.stdin.on('error', () => {});
  child.on('error', (error) => spec.log(`neo4j: ${error.message}`));
  const streamsClosed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stderrTail = new LineTail(DIAGNOSTIC_LINES);
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderrTail.push(line);
    spec.log(`neo4j: ${line}`);
  });
  const pid = child.pid ?? 0;
  // Claimed at spawn, not at READY: a second start during our (long) start-up must fail clearly too.
  const ownerFile = path.join(spec.home, OWNER_FILE);
  const intendedUri = `bolt://127.0.0.1:${spec.port}`;
  if (pid) await writeOwnerFile(ownerFile, { pid, uri: intendedUri, ready: false });
  const exited = waitForExit(child).then(() => removeOwnerFile(ownerFile, pid));

  let uri: string;
  try {
    uri = await waitForReady(child, spec.readyTimeoutMs, spec.log);
  } catch (error) {
    await terminateChild(child, { signal: 'SIGTERM', killAfterMs: 5_000 });
    // The last stderr lines, the ones that explain the failure, may still be in flight.
    await Promise.race([streamsClosed, delay(2_000)]);
    await removeOwnerFile(ownerFile, pid);
    throw await describeStartFailure(spec, error, stderrTail.lines);
  }
  await writeOwnerFile(ownerFile, { pid, uri, ready: true });
  spec.log(`neo4j: ready at ${uri} in ${((Date.now() - startedAt) / 1000).toFixed(1)} s (pid ${pid})`);

  let stopping: Promise<void> | undefined;
  return {
    uri,
    user: 'neo4j',
    password: spec.password,
    pid,
    stop() {
      stopping ??= terminateChild(child, { signal: 'SIGTERM', killAfterMs: spec.stopTimeoutMs }).then(() => exited);
      return stopping;
    },
  };
}

function waitForReady(child: ChildProcessWithoutNullStreams, timeoutMs: number, log: (message: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready after ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    const settle = () => clearTimeout(timer);
    // Lines after READY are still read (and logged): an undrained pipe would eventually block the JVM.
    createInterface({ input: child.stdout }).on('line', (line) => {
      const uri = parseReadyLine(line);
      if (uri) {
        settle();
        resolve(uri);
      } else {
        log(`neo4j: ${line}`);
      }
    });
    child.once('error', (error) => {
      settle();
      reject(error);
    });
    child.once('exit', (code, signal) => {
      settle();
      reject(new Error(signal ? `launcher killed by ${signal}` : `launcher exited with code ${code}`));
    });
  });
}

async function describeStartFailure(spec: LaunchSpec, error: unknown, stderrLines: readonly string[]): Promise<Neo4jLauncherError> {
  const reason = error instanceof Error ? error.message : String(error);
  const debugLog = path.join(spec.home, 'logs', 'debug.log');
  const debugTail = tailLines(await readFile(debugLog, 'utf8').catch(() => ''), DIAGNOSTIC_LINES);
  const sections = [`Neo4j did not start on 127.0.0.1:${spec.port} (${reason})`];
  if (stderrLines.length > 0) sections.push(`--- launcher stderr ---\n${stderrLines.join('\n')}`);
  if (debugTail.length > 0) sections.push(`--- last lines of ${debugLog} ---\n${debugTail.join('\n')}`);
  const message = sections.join('\n');
  const portTaken = stderrLines.some((line) => /address already in use|BindException/i.test(line));
  return portTaken ? new PortInUseError(message) : new Neo4jLauncherError(message);
}

async function writeOwnerFile(ownerFile: string, owner: Neo4jOwner): Promise<void> {
  // Written aside and renamed, so a reader never sees half a file.
  const staging = `${ownerFile}.${owner.pid}`;
  await writeFile(staging, `${JSON.stringify(owner)}\n`);
  await rename(staging, ownerFile);
}

async function removeOwnerFile(ownerFile: string, pid: number): Promise<void> {
  try {
    const owner = JSON.parse(await readFile(ownerFile, 'utf8')) as Neo4jOwner;
    // A newer launcher may already have taken over the store; its file is not ours to delete.
    if (owner.pid === pid) await rm(ownerFile, { force: true });
  } catch {
    // Already gone or unreadable: nothing to clean up.
  }
}
