import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The checkout's root folder (this file lives in <root>/shared/src). */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Default home of local state (generated keys, locally started databases): an ignored folder. */
export function defaultDataDir(env: Record<string, string | undefined> = process.env): string {
  return env.DATA_DIR ?? join(repoRoot, '.data');
}
