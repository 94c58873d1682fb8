// npm run restore -- <file> [--into <databaseUrl>] [--clean]: pg_restore of a backup made by
// `npm run backup`. The target (default: DATABASE_URL, or the local database `npm start` uses) is
// created when it does not exist; a database that is not empty is refused unless --clean, which
// drops and recreates what the backup contains. All or nothing: one transaction.
import { parseArgs } from 'node:util';
import { defaultDataDir } from '@platform/shared';
import { checkBackupFile, restoreDatabase } from './lib/backup.ts';
import { runCli } from './lib/cli.ts';
import { ensureServices, parseDatabaseUrl, redactUrl } from './lib/services.ts';

const usage = 'usage: npm run restore -- <file> [--into <databaseUrl>] [--clean]';

await runCli(async () => {
  let parsed;
  try {
    parsed = parseArgs({ options: { into: { type: 'string' }, clean: { type: 'boolean', default: false } }, allowPositionals: true });
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; ${usage}`);
  }
  const [file, ...extra] = parsed.positionals;
  if (!file || extra.length > 0) throw new Error(usage);
  const { into, clean } = parsed.values;
  if (into !== undefined) parseDatabaseUrl(into, '--into');

  // Before anything is started: a wrong path is the most common mistake.
  await checkBackupFile(file);

  const restoreInto = async (target: string): Promise<void> => {
    const summary = await restoreDatabase({ file, into: target, clean });
    console.log(`restored ${file} into ${redactUrl(target)}${summary.created ? ' (created)' : ''} in ${(summary.ms / 1000).toFixed(1)} s`);
  };
  if (into !== undefined) return restoreInto(into);
  const services = await ensureServices({ dataDir: defaultDataDir(), need: { postgres: true }, log: (message) => process.stderr.write(`${message}\n`) });
  try {
    await restoreInto(services.databaseUrl);
  } finally {
    await services.stop();
  }
});
