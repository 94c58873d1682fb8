// npm start: brings up the whole platform on this machine. Uses PostgreSQL, Redis and Neo4j at
// the configured URLs (or already running on their standard ports), else starts local ones under
// .data/; migrates; seeds demo data into an empty database; starts the five subgraphs and the
// gateway; prints the endpoint. Ctrl-C stops everything it started.
import { defaultDataDir } from '@platform/shared';
import { ensureServices, type RunningServices } from './lib/services.ts';
import { migrateAll } from './lib/migrations.ts';
import { seedIfEmpty } from './lib/load-dataset.ts';
import { startSupergraphStack, type SupergraphStack } from './lib/supergraph-stack.ts';

const say = (message: string): void => {
  process.stderr.write(`[start] ${message}\n`);
};
const verbose = process.env.LOG_LEVEL === 'debug' || process.argv.includes('--logs');
// --free-ports: every process on a free port (benchmarks, a second stack beside a running one)
const freePorts = process.argv.includes('--free-ports');
const startedAt = performance.now();

let services: RunningServices | undefined;
let stack: SupergraphStack | undefined;
let stopping = false;

async function shutdown(exitCode: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say('stopping...');
    await stack?.stop().catch((error: unknown) => say(`while stopping the services: ${String(error)}`));
    await services?.stop().catch((error: unknown) => say(`while stopping the databases: ${String(error)}`));
    say('stopped');
  }
  process.exit(exitCode);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  process.env.APOLLO_TELEMETRY_DISABLED ??= '1';
  const dataDir = defaultDataDir();
  services = await ensureServices({ dataDir, log: say });
  await migrateAll(services.databaseUrl, (message) => verbose && say(message));
  await seedIfEmpty({ databaseUrl: services.databaseUrl, neo4j: services.neo4j }, say);
  stack = await startSupergraphStack({
    services,
    dataDir,
    freePorts,
    gatewayPort: Number(process.env.PORT ?? 4000),
    onLog: (name, line) => {
      if (verbose || /"level":"(warn|error)"/.test(line) || !line.startsWith('{')) process.stdout.write(`${name.padEnd(15)} ${line}\n`);
    },
    onUnexpectedExit: (name, code, tail) => {
      if (stopping) return;
      say(`${name} exited unexpectedly (code ${code}); its last lines:\n${tail.join('\n')}`);
      void shutdown(1);
    },
  });
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  say(`ready in ${seconds} s`);
  process.stdout.write(`\n  GraphQL endpoint: ${stack.gatewayUrl}\n  Health: ${new URL('/ready', stack.gatewayUrl)}\n  Press Ctrl-C to stop.\n\n`);
} catch (error) {
  say(`failed: ${error instanceof Error ? error.message : String(error)}`);
  await shutdown(1);
}
