// npm run backup -- [--out <file>]: pg_dump (custom format) of the platform's schemas (users, movies,
// reviews, analytics: one per subgraph with migrations) from DATABASE_URL, or from the local
// database `npm start` uses. Default file: $DATA_DIR/backups/<database>-<UTC time>.dump.
import { parseArgs } from 'node:util';
import { defaultDataDir } from '@platform/shared';
import { backupDatabase, defaultBackupFile } from './lib/backup.ts';
import { runCli } from './lib/cli.ts';
import { ensureServices, redactUrl } from './lib/services.ts';

const usage = 'usage: npm run backup -- [--out <file>]';

await runCli(async () => {
  let out: string | undefined;
  try {
    ({ values: { out } } = parseArgs({ options: { out: { type: 'string' } }, allowPositionals: false }));
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; ${usage}`);
  }
  const services = await ensureServices({ dataDir: defaultDataDir(), need: { postgres: true }, log: (message) => process.stderr.write(`${message}\n`) });
  try {
    const summary = await backupDatabase({ databaseUrl: services.databaseUrl, file: out ?? defaultBackupFile(defaultDataDir(), services.databaseUrl) });
    console.log(
      `backed up schemas ${summary.schemas.join(', ')} of ${redactUrl(services.databaseUrl)} to ${summary.file} ` +
        `(${(summary.bytes / 1_048_576).toFixed(1)} MB in ${(summary.ms / 1000).toFixed(1)} s)`,
    );
  } finally {
    await services.stop();
  }
});
