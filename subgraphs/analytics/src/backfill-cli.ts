// Recomputes the analytics read model from the source schemas:
//   node subgraphs/analytics/src/backfill-cli.ts          (DATABASE_URL from the environment)
//   npm run backfill --workspace @platform/analytics
import { fileURLToPath } from 'node:url';
import { ConfigError, envReader, migrateSchema } from '@platform/shared';
import { backfillAnalytics } from './backfill.ts';

const undefinedTable = '42P01';

async function main(): Promise<void> {
  const databaseUrl = envReader().url('DATABASE_URL', ['postgres:', 'postgresql:']);
  // Only our own schema: the source schemas belong to their subgraphs' migrations.
  await migrateSchema(databaseUrl, 'analytics', fileURLToPath(new URL('../drizzle', import.meta.url)));
  const started = performance.now();
  const { totals, changed } = await backfillAnalytics(databaseUrl);
  const took = Math.round(performance.now() - started);
  const counts = `users ${totals.users}, movies ${totals.movies}, ratings ${totals.ratings}, reviews ${totals.reviews}, likes ${totals.likes}, dislikes ${totals.dislikes}`;
  process.stdout.write(`analytics backfill ${changed ? 'updated' : 'found nothing to change in'} platform_totals in ${took} ms: ${counts}\n`);
}

function explain(error: unknown): string {
  if (error instanceof Error && 'code' in error && error.code === undefinedTable) {
    return `${error.message}: the source schemas are missing; run \`npm run migrate\` first`;
  }
  return error instanceof Error ? error.message : String(error);
}

main().catch((error: unknown) => {
  process.stderr.write(`error: ${explain(error)}\n`);
  if (process.env.DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exitCode = error instanceof ConfigError ? 2 : 1;
});
