// npm run keys:rotate: puts a fresh access-token signing key first in JWT_KEYS_FILE (default
// $DATA_DIR/keys/signing-keys.json) and keeps the newest previous ones, at most 3 keys in all.
// The users subgraph signs with the new key from its next start; the previous keys stay in its
// JWKS, so tokens signed before the rotation verify until they expire. The other services fetch
// the new JWKS when they first meet a token signed with the new key.
import { maxStoredKeys, rotateKeyFile, signingKeysFile } from '../subgraphs/users/src/tokens.ts';
import { runCli } from './lib/cli.ts';

await runCli(async () => {
  const file = signingKeysFile();
  const { added, kept, dropped } = await rotateKeyFile(file);
  console.log(`added signing key ${added.kid} to ${file}`);
  console.log(`the key set holds ${kept.length} key(s), newest first (at most ${maxStoredKeys}): ${kept.map((key) => key.kid).join(', ')}`);
  for (const key of dropped) {
    console.log(`dropped key ${key.kid} (created ${key.createdAt}): tokens it signed no longer verify`);
  }
  console.log('restart the users subgraph to sign with the new key');
});
