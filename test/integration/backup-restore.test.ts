import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { repoRoot } from '@platform/shared';
import { backupDatabase, BackupError, platformSchemas, restoreDatabase } from '../../scripts/lib/backup.ts';
import { loadDataset } from '../../scripts/lib/load-dataset.ts';
import { migrateAll } from '../../scripts/lib/migrations.ts';
import { startNeo4j, type RunningNeo4j } from '../../scripts/lib/neo4j.ts';
import { createScratchDatabase, scratchDatabaseName, withDatabase } from '../../scripts/lib/services.ts';
import { generateSyntheticDataset } from '../../scripts/lib/synthetic.ts';

// npm run backup / npm run restore against real PostgreSQL: a database filled by the dataset
// loader is backed up, restored into a database that does not exist yet, and every table of the
// platform's schemas must come back with the same rows (count and checksum), sequences and indexes.

const execFileAsync = promisify(execFile);
const serverUrl = (): string => inject('services').databaseUrl;

let source: { url: string; drop(): Promise<void> };
let workDir: string;
let neo4jHome: string;
let neo4jServer: RunningNeo4j | undefined;
const createdDatabases: string[] = [];

/** A database name nobody uses yet (restore creates it); dropped after the file. */
function freshDatabaseUrl(): string {
  const name = scratchDatabaseName('restore_it', `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`);
  createdDatabases.push(name);
  return withDatabase(serverUrl(), name);
}

async function query<T extends pg.QueryResultRow>(databaseUrl: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Every table of the platform's schemas with its row count and a checksum of all its rows, in a
 * fixed order; sequences with their positions; index definitions. Equal fingerprints mean the
 * data, the identity counters and the search indexes all came back.
 */
async function fingerprint(databaseUrl: string): Promise<Record<string, string>> {
  const schemas = platformSchemas();
  const tables = await query<{ schemaname: string; tablename: string }>(
    databaseUrl,
    'SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY($1) ORDER BY schemaname, tablename',
    [schemas],
  );
  const result: Record<string, string> = {};
  for (const { schemaname, tablename } of tables) {
    const name = `${pg.escapeIdentifier(schemaname)}.${pg.escapeIdentifier(tablename)}`;
    const [row] = await query<{ rows: number; checksum: string }>(
      databaseUrl,
      `SELECT count(*)::int AS rows, coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), 'empty') AS checksum FROM ${name} t`,
    );
    result[`table ${schemaname}.${tablename}`] = `${row!.rows} rows, ${row!.checksum}`;
  }
  for (const sequence of await query<{ name: string; last_value: string | null }>(
    databaseUrl,
    "SELECT schemaname || '.' || sequencename AS name, last_value::text FROM pg_sequences WHERE schemaname = ANY($1)",
    [schemas],
  )) {
    result[`sequence ${sequence.name}`] = sequence.last_value ?? 'unused';
  }
  for (const index of await query<{ indexname: string; indexdef: string; schemaname: string }>(
    databaseUrl,
    'SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname = ANY($1)',
    [schemas],
  )) {
    result[`index ${index.schemaname}.${index.indexname}`] = index.indexdef;
  }
  return result;
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'backup-it-'));
  source = await createScratchDatabase(serverUrl(), 'backup_source_it');
  await migrateAll(source.url);
  // A Neo4j of its own: loadDataset writes the like-graph too, and this dataset's movie ids would
  // collide with other tests' in a shared one.
  neo4jHome = mkdtempSync(join(tmpdir(), 'backup-it-neo4j-'));
  neo4jServer = await startNeo4j({ home: neo4jHome, port: 0, heapMb: 256, pageCacheMb: 64 });
  const dataset = generateSyntheticDataset({ seed: 11, users: 30, movies: 80, ratingsPerUser: 10, people: 60, now: new Date('2026-01-01T00:00:00Z') });
  await loadDataset(dataset, { databaseUrl: source.url, neo4j: { uri: neo4jServer.uri, user: neo4jServer.user, password: neo4jServer.password } });
  // An outbox row too: jsonb, and a table the loader leaves empty.
  await query(
    source.url,
    `INSERT INTO movies.outbox (event_id, envelope) VALUES (gen_random_uuid(), '{"type": "movie.created", "payload": {"title": "Ünïcode ✓"}}')`,
  );
});

afterAll(async () => {
  await neo4jServer?.stop();
  if (neo4jHome) rmSync(neo4jHome, { recursive: true, force: true });
  for (const name of createdDatabases) await query(serverUrl(), `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  await source?.drop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('backup and restore', () => {
  let backupFile: string;
  let restoredUrl: string;

  it('restores a backup into a new database with every table, sequence and index as it was', async () => {
    backupFile = join(workDir, 'platform.dump');
    const backup = await backupDatabase({ databaseUrl: source.url, file: backupFile });
    expect(backup).toMatchObject({ file: backupFile, schemas: ['users', 'movies', 'reviews', 'analytics'], extensions: expect.arrayContaining(['pg_trgm']) });
    expect(backup.bytes).toBeGreaterThan(0);

    restoredUrl = freshDatabaseUrl();
    const restore = await restoreDatabase({ file: backupFile, into: restoredUrl });
    expect(restore.created).toBe(true);

    const before = await fingerprint(source.url);
    const after = await fingerprint(restoredUrl);
    expect(Object.keys(before).filter((key) => key.startsWith('table ')).length).toBeGreaterThan(20);
    expect(before['table movies.movies']).toMatch(/^80 rows/);
    expect(before['table movies.outbox']).toMatch(/^1 rows/);
    expect(after).toEqual(before);
  });

  it('leaves a restored database that migrations consider up to date, with the trigram extension the search needs', async () => {
    await migrateAll(restoredUrl);
    const [title] = await query<{ title: string }>(restoredUrl, 'SELECT title FROM movies.movies ORDER BY id LIMIT 1');
    const typo = `${title!.title.slice(0, -1)}x`;
    const [match] = await query<{ found: boolean }>(restoredUrl, 'SELECT EXISTS (SELECT 1 FROM movies.movies WHERE lower(title) % lower($1)) AS found', [typo]);
    expect(match!.found).toBe(true);
    expect(await fingerprint(restoredUrl)).toEqual(await fingerprint(source.url));
  });

  it('refuses a database that is not empty unless --clean, which replaces what the backup contains', async () => {
    await query(restoredUrl, "UPDATE movies.movies SET title = 'Changed after the backup' WHERE id = (SELECT min(id) FROM movies.movies)");
    const refusal = await restoreDatabase({ file: backupFile, into: restoredUrl }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(BackupError);
    expect((refusal as Error).message).toMatch(/is not empty \(.*movies.*\): restore into a new database .* or pass --clean/);

    const cleaned = await restoreDatabase({ file: backupFile, into: restoredUrl, clean: true });
    expect(cleaned.created).toBe(false);
    expect(await fingerprint(restoredUrl)).toEqual(await fingerprint(source.url));
  });

  it('leaves the database as it was when a --clean restore fails half-way', async () => {
    // The table of contents sits at the start of the file; without its tail the data cannot be read.
    const truncated = join(workDir, 'truncated.dump');
    const whole = readFileSync(backupFile);
    writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length * 0.8)));
    const before = await fingerprint(restoredUrl);

    const failure = await restoreDatabase({ file: truncated, into: restoredUrl, clean: true }).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(BackupError);
    expect((failure as Error).message).toMatch(/^pg_restore failed: .*; nothing was restored, the database is as it was$/);
    expect(await fingerprint(restoredUrl)).toEqual(before);
    const [leftovers] = await query<{ n: number }>(restoredUrl, "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname LIKE '%before_restore%'");
    expect(leftovers!.n).toBe(0);
  });

  it('restores into an existing empty database too', async () => {
    const emptyUrl = freshDatabaseUrl();
    await query(serverUrl(), `CREATE DATABASE ${pg.escapeIdentifier(new URL(emptyUrl).pathname.slice(1))}`);
    expect((await restoreDatabase({ file: backupFile, into: emptyUrl })).created).toBe(false);
    expect(await fingerprint(emptyUrl)).toEqual(await fingerprint(source.url));
  });
});

describe('clear one-line errors', () => {
  it('names what to install when pg_dump or pg_restore is missing', async () => {
    const emptyDir = mkdtempSync(join(workDir, 'no-tools-'));
    await expect(backupDatabase({ databaseUrl: source.url, file: join(workDir, 'x.dump'), binDirs: [emptyDir] })).rejects.toThrow(
      /^pg_dump not found: install the PostgreSQL client tools .*apt-get install postgresql-client/,
    );
    await expect(restoreDatabase({ file: join(workDir, 'platform.dump'), into: freshDatabaseUrl(), binDirs: [emptyDir] })).rejects.toThrow(/^pg_restore not found: install/);
  });

  it('says why a backup file cannot be used', async () => {
    await expect(restoreDatabase({ file: join(workDir, 'missing.dump'), into: freshDatabaseUrl() })).rejects.toThrow(/^cannot read backup file .*missing\.dump: no such file$/);
    const notADump = join(workDir, 'notes.txt');
    writeFileSync(notADump, 'not a dump');
    await expect(restoreDatabase({ file: notADump, into: freshDatabaseUrl() })).rejects.toThrow(/is not a pg_dump custom-format backup \(make one with npm run backup\)$/);
    await expect(restoreDatabase({ file: workDir, into: freshDatabaseUrl() })).rejects.toThrow(/^cannot read backup file .*: it is a folder$/);
  });

  it('refuses to back up a database without the platform schemas', async () => {
    const empty = await createScratchDatabase(serverUrl(), 'backup_empty_it');
    try {
      await expect(backupDatabase({ databaseUrl: empty.url, file: join(workDir, 'empty.dump') })).rejects.toThrow(/has no schema users, movies, reviews, analytics/);
    } finally {
      await empty.drop();
    }
  });
});

describe('npm run backup / restore', () => {
  const run = (script: string, args: string[], env: NodeJS.ProcessEnv) =>
    execFileAsync(process.execPath, [join(repoRoot, 'scripts', script), ...args], { cwd: repoRoot, env: { ...process.env, ...env } }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
    );

  it('backs up DATABASE_URL to --out and restores it with --into', async () => {
    const file = join(workDir, 'cli.dump');
    const backup = await run('backup.ts', ['--out', file], { DATABASE_URL: source.url });
    expect(backup.stdout).toMatch(/^backed up schemas users, movies, reviews, analytics of .* to .*cli\.dump \(/);
    expect(backup.code).toBe(0);
    const target = freshDatabaseUrl();
    const restore = await run('restore.ts', [file, '--into', target], {});
    expect(restore.stdout).toMatch(/^restored .*cli\.dump into .* \(created\) in /);
    expect(restore.code).toBe(0);
    expect(await fingerprint(target)).toEqual(await fingerprint(source.url));
  });

  it('prints one line and exits 1 for an unreadable file', async () => {
    const result = await run('restore.ts', [join(workDir, 'nope.dump'), '--into', freshDatabaseUrl()], {});
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([`error: cannot read backup file ${join(workDir, 'nope.dump')}: no such file`]);
  });
});
