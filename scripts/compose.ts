// npm run compose: writes schema/supergraph.graphql from supergraph.yaml (the gateway only ever
// loads this committed file; it never composes at runtime).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { composeSupergraph, supergraphFile } from './lib/compose.ts';
import { runCli } from './lib/cli.ts';

await runCli(async () => {
  const { supergraphSdl, hints } = composeSupergraph();
  mkdirSync(dirname(supergraphFile), { recursive: true });
  writeFileSync(supergraphFile, supergraphSdl);
  for (const hint of hints) console.warn(`hint ${hint.code}: ${hint.message}`);
  console.log(`wrote ${supergraphFile} (${hints.length} hint(s))`);
});
