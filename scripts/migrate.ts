// npm run migrate: applies all subgraphs' migrations to DATABASE_URL.
import { envReader } from '@platform/shared';
import { migrateAll } from './lib/migrations.ts';
import { runCli } from './lib/cli.ts';

await runCli(async () => {
  const databaseUrl = envReader().url('DATABASE_URL', ['postgres:', 'postgresql:']);
  await migrateAll(databaseUrl, (message) => console.log(message));
});
