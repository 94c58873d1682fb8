// `npm run neo4j:fetch`: assembles the Neo4j runtime ahead of time (CI caches, first-time setup),
// so the first `npm start` or test run does not pay for the Maven download.
import { ensureNeo4jRuntime } from './lib/neo4j.ts';

const startedAt = performance.now();
try {
  const runtime = await ensureNeo4jRuntime({ log: (message) => console.log(message) });
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(2);
  console.log(`Neo4j ${runtime.version} runtime ready in ${seconds} s`);
  console.log(`  jars:     ${runtime.libDir}`);
  console.log(`  launcher: ${runtime.classesDir}`);
  console.log(`  java:     ${runtime.javaPath}`);
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
}
