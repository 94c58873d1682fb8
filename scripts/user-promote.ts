// npm run user:promote -- <username> [--role ADMIN|USER]: the only way to create the first admin
// (there is no default admin account or password). Reads DATABASE_URL, or finds the local database
// the way `npm start` does.
import pg from 'pg';
import { defaultDataDir } from '@platform/shared';
import { ensureServices } from './lib/services.ts';
import { runCli } from './lib/cli.ts';

await runCli(async () => {
  const [username, ...rest] = process.argv.slice(2);
  const roleIndex = rest.indexOf('--role');
  const role = roleIndex >= 0 ? rest[roleIndex + 1] : 'ADMIN';
  if (!username || (role !== 'ADMIN' && role !== 'USER')) {
    throw new Error('usage: npm run user:promote -- <username> [--role ADMIN|USER]');
  }
  const services = await ensureServices({ dataDir: defaultDataDir(), need: { postgres: true } });
  const client = new pg.Client({ connectionString: services.databaseUrl });
  await client.connect();
  try {
    const result = await client.query("UPDATE users.users SET role = $2, updated_at = now() WHERE lower(username) = lower($1) RETURNING id", [username, role]);
    if (result.rowCount === 0) throw new Error(`no user named "${username}"; register it first (mutation register)`);
    console.log(`${username} is now ${role}; tokens issued from now on carry the new role`);
  } finally {
    await client.end();
    await services.stop();
  }
});
