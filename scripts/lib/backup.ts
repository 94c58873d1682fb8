// Backup and restore of the platform's PostgreSQL data (`npm run backup`, `npm run restore`):
// pg_dump's custom format of the subgraphs' schemas, and pg_restore into a database that is new
// (created when missing) or explicitly cleaned. Neo4j and Redis hold nothing that cannot be rebuilt
// from PostgreSQL (the like-graph is reloaded from the ratings; streams are transient), so they are
// not part of it.

import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, mkdtemp, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { findExecutable } from './neo4j.ts';
import { readSupergraphConfig } from './platform.ts';
import { databaseNameOf, isValidDatabaseName, redactUrl, withDatabase } from './services.ts';

/** A problem the user has to fix; `message` is one line meant to be printed without a stack. */
export class BackupError extends Error {
  override name = 'BackupError';
}

/** Where to look for pg_dump / pg_restore besides PATH (tests point this at an empty folder). */
export interface ToolSearch {
  /** default: /usr/lib/postgresql/<major>/bin, newest first, then PATH */
  binDirs?: string[];
}

/** The PostgreSQL schemas the platform owns: one per subgraph that has migrations. */
export function platformSchemas(): string[] {
  return readSupergraphConfig()
    .subgraphs.filter((subgraph) => subgraph.migrationsFolder !== null)
    .map((subgraph) => subgraph.name);
}

/** `<dataDir>/backups/<database>-<UTC time>.dump`, e.g. movie_platform-20261121T201500Z.dump */
export function defaultBackupFile(dataDir: string, databaseUrl: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return path.join(dataDir, 'backups', `${databaseNameOf(new URL(databaseUrl))}-${stamp}.dump`);
}

/**
 * Debian keeps versioned binaries in /usr/lib/postgresql/<major>/bin; the newest comes first
 * because pg_dump reads servers up to its own version only.
 */
async function postgresBinDirs(): Promise<string[]> {
  const root = '/usr/lib/postgresql';
  const versions = await readdir(root).catch(() => [] as string[]);
  return versions
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => path.join(root, version, 'bin'));
}

export async function findPostgresTool(name: 'pg_dump' | 'pg_restore', search: ToolSearch = {}): Promise<string> {
  const found = search.binDirs
    ? await findExecutable(name, { PATH: '' }, search.binDirs)
    : await findExecutable(name, process.env, await postgresBinDirs());
  if (found === null) {
    throw new BackupError(
      `${name} not found: install the PostgreSQL client tools of your server's major version or newer ` +
        `(Debian/Ubuntu: apt-get install postgresql-client; macOS: brew install libpq) or put ${name} on PATH`,
    );
  }
  return found;
}

/**
 * The URL without its password, which travels in PGPASSWORD instead: a command line is readable
 * by every user of the machine (ps), the environment of a process only by its owner.
 */
function connectionFor(databaseUrl: string): { dbname: string; env: NodeJS.ProcessEnv } {
  const url = new URL(databaseUrl);
  const password = decodeURIComponent(url.password);
  url.password = '';
  return { dbname: url.toString(), env: { ...process.env, ...(password ? { PGPASSWORD: password } : {}) } };
}

interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runTool(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }));
  });
}

/** The tool's own explanation, on one line (its last error line, without the "pg_dump: error:" prefix). */
function toolProblem(tool: string, run: ToolRun): string {
  const lines = run.stderr.split('\n').map((line) => line.trim()).filter(Boolean);
  const errorLine = [...lines].reverse().find((line) => /error|fatal/i.test(line)) ?? lines.at(-1) ?? `exit code ${run.code}`;
  if (/server version mismatch/i.test(run.stderr)) {
    return `${tool} is older than the server (${errorLine.replace(/^.*?:\s*/, '')}): install the client tools of the server's version (apt-get install postgresql-client-<major>)`;
  }
  return errorLine.replace(new RegExp(`^${tool}:\\s*(error:\\s*)?`), '');
}

async function withClient<T>(databaseUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'backup', connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    throw new BackupError(`cannot connect to ${redactUrl(databaseUrl)}: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Backup

export interface BackupOptions extends ToolSearch {
  databaseUrl: string;
  file: string;
  /** default: platformSchemas() */
  schemas?: string[];
}

export interface BackupSummary {
  file: string;
  bytes: number;
  schemas: string[];
  extensions: string[];
  ms: number;
}

export async function backupDatabase(options: BackupOptions): Promise<BackupSummary> {
  const started = performance.now();
  const pgDump = await findPostgresTool('pg_dump', options);
  const schemas = options.schemas ?? platformSchemas();
  const { extensions } = await withClient(options.databaseUrl, async (client) => {
    const present = await client.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE nspname = ANY($1)', [schemas]);
    const missing = schemas.filter((schema) => !present.rows.some((row) => row.nspname === schema));
    if (missing.length > 0) {
      throw new BackupError(`${redactUrl(options.databaseUrl)} has no schema ${missing.join(', ')}: is it the platform's database? (npm run migrate creates them)`);
    }
    // With --schema, pg_dump leaves out the extensions the schemas' indexes need (pg_trgm's
    // operator classes), and a restore into a new database would fail without them.
    const installed = await client.query<{ extname: string }>("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY extname");
    return { extensions: installed.rows.map((row) => row.extname) };
  });

  const file = path.resolve(options.file);
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await access(path.dirname(file), fsConstants.W_OK);
  } catch (error) {
    throw new BackupError(`cannot write into ${path.dirname(file)}: ${(error as NodeJS.ErrnoException).code ?? String(error)}; choose another --out`);
  }
  // Written beside the target and renamed at the end: a dump that fails half-way never leaves a
  // file that looks like a complete backup.
  const partial = `${file}.partial`;
  const { dbname, env } = connectionFor(options.databaseUrl);
  const run = await runTool(
    pgDump,
    [
      '--format=custom',
      `--file=${partial}`,
      '--no-password',
      ...schemas.map((schema) => `--schema=${schema}`),
      ...extensions.map((extension) => `--extension=${extension}`),
      `--dbname=${dbname}`,
    ],
    env,
  );
  if (run.code !== 0) {
    await rm(partial, { force: true });
    throw new BackupError(`pg_dump failed: ${toolProblem('pg_dump', run)}`);
  }
  await rename(partial, file);
  return { file, bytes: (await stat(file)).size, schemas, extensions, ms: Math.round(performance.now() - started) };
}

// ---------------------------------------------------------------------------------------------
// Restore

export interface RestoreOptions extends ToolSearch {
  file: string;
  /** the database to restore into; created when it does not exist */
  into: string;
  /** replace what the backup contains in a database that is not empty */
  clean?: boolean;
}

export interface RestoreSummary {
  database: string;
  created: boolean;
  ms: number;
}

/** The custom format starts with these bytes; anything else was not made by pg_dump --format=custom. */
const customFormatMagic = 'PGDMP';

function unreadable(file: string, error: unknown): BackupError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a folder' : (code ?? String(error));
  return new BackupError(`cannot read backup file ${file}: ${reason}`);
}

/** Throws a one-line BackupError when the file cannot be read or is not a custom-format dump. */
export async function checkBackupFile(file: string): Promise<void> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw unreadable(file, error);
  }
  try {
    let start: string;
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(customFormatMagic.length), 0, customFormatMagic.length, 0);
      start = buffer.subarray(0, bytesRead).toString('latin1');
    } catch (error) {
      throw unreadable(file, error);
    }
    if (start !== customFormatMagic) throw new BackupError(`${file} is not a pg_dump custom-format backup (make one with npm run backup)`);
  } finally {
    await handle.close();
  }
}

/** Creates the database when it does not exist yet; true when it did. */
async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const name = databaseNameOf(new URL(databaseUrl));
  if (name === '') throw new BackupError(`${redactUrl(databaseUrl)} names no database: append /<database> to it`);
  // The server's maintenance database: CREATE DATABASE cannot run inside the one being created.
  return withClient(withDatabase(databaseUrl, 'postgres'), async (client) => {
    const { rows } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rows.length > 0) return false;
    if (!isValidDatabaseName(name)) {
      throw new BackupError(`database "${name}" does not exist; create it first, or choose a name of lower-case letters, digits and "_"`);
    }
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    return true;
  });
}

/** What the database holds outside the system schemas (an empty public schema does not count). */
async function describeContents(databaseUrl: string): Promise<string | null> {
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ schema: string; relations: number }>(
      `SELECT n.nspname AS schema, count(c.oid)::int AS relations
         FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
        GROUP BY n.nspname
       HAVING n.nspname <> 'public' OR count(c.oid) > 0
        ORDER BY n.nspname`,
    );
    if (rows.length === 0) return null;
    return rows.map((row) => `${row.schema} (${row.relations} relations)`).join(', ');
  });
}

/** The schemas a backup creates, from its table of contents ("6; 2615 16386 SCHEMA - movies owner"). */
function schemasIn(tableOfContents: string): string[] {
  return [...tableOfContents.matchAll(/^\d+;\s+\d+\s+\d+\s+SCHEMA\s+-\s+(\S+)\s/gm)].map((match) => match[1]!);
}

/**
 * --clean: the backup's schemas that exist in the target are renamed aside before the restore and
 * dropped only once it committed, or renamed back if it failed, so the database is never left
 * without them. (pg_restore's own --clean cannot drop hash-partitioned tables: it tries to drop
 * the partitions' inherited primary keys first, and PostgreSQL refuses.)
 */
async function moveAside(databaseUrl: string, schemas: string[]): Promise<{ commit(): Promise<void>; rollback(): Promise<void> }> {
  const suffix = `__before_restore_${Date.now().toString(36)}`;
  const moved = await withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE nspname = ANY($1)', [schemas]);
    const existing = rows.map((row) => row.nspname);
    await client.query('BEGIN');
    for (const schema of existing) await client.query(`ALTER SCHEMA ${pg.escapeIdentifier(schema)} RENAME TO ${pg.escapeIdentifier(`${schema}${suffix}`)}`);
    await client.query('COMMIT');
    return existing;
  });
  const inTransaction = (statement: (schema: string) => string) =>
    withClient(databaseUrl, async (client) => {
      await client.query('BEGIN');
      for (const schema of moved) await client.query(statement(schema));
      await client.query('COMMIT');
    });
  return {
    commit: () => inTransaction((schema) => `DROP SCHEMA ${pg.escapeIdentifier(`${schema}${suffix}`)} CASCADE`),
    rollback: () => inTransaction((schema) => `ALTER SCHEMA ${pg.escapeIdentifier(`${schema}${suffix}`)} RENAME TO ${pg.escapeIdentifier(schema)}`),
  };
}

export async function restoreDatabase(options: RestoreOptions): Promise<RestoreSummary> {
  const started = performance.now();
  await checkBackupFile(options.file);
  const pgRestore = await findPostgresTool('pg_restore', options);
  const created = await ensureDatabase(options.into);
  if (!created && !options.clean) {
    const contents = await describeContents(options.into);
    if (contents !== null) {
      throw new BackupError(
        `${redactUrl(options.into)} is not empty (${contents}): restore into a new database (--into <url of a database that does not exist>) or pass --clean to replace what the backup contains`,
      );
    }
  }

  const { dbname, env } = connectionFor(options.into);
  // The table of contents minus COMMENT ON EXTENSION entries: only an extension's owner (a
  // superuser) may comment on it, and the platform's database user usually is not.
  const listed = await runTool(pgRestore, ['--list', options.file], env);
  if (listed.code !== 0) throw new BackupError(`pg_restore cannot read ${options.file}: ${toolProblem('pg_restore', listed)}`);
  const workDir = await mkdtemp(path.join(tmpdir(), 'restore-'));
  let replaced: Awaited<ReturnType<typeof moveAside>> | null = null;
  try {
    if (options.clean) replaced = await moveAside(options.into, schemasIn(listed.stdout));
    const listFile = path.join(workDir, 'toc.list');
    await writeFile(listFile, listed.stdout.split('\n').filter((line) => !/ COMMENT - EXTENSION /.test(line)).join('\n'));
    const run = await runTool(
      pgRestore,
      [
        `--dbname=${dbname}`,
        '--no-password',
        // Objects belong to whoever restores: the roles of the backed-up server may not exist here.
        '--no-owner',
        '--no-privileges',
        // All or nothing: a failed restore leaves the database as it was.
        '--single-transaction',
        '--exit-on-error',
        `--use-list=${listFile}`,
        options.file,
      ],
      env,
    );
    if (run.code !== 0) throw new BackupError(`pg_restore failed: ${toolProblem('pg_restore', run)}; nothing was restored, the database is as it was`);
  } catch (error) {
    await replaced?.rollback();
    throw error;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  await replaced?.commit();
  // A restore brings rows but no planner statistics; until autovacuum gets round to it, searches
  // would be planned blind.
  await withClient(options.into, (client) => client.query('ANALYZE'));
  return { database: databaseNameOf(new URL(options.into)), created, ms: Math.round(performance.now() - started) };
}
