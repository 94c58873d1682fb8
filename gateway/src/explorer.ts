import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Express, NextFunction, Request, Response } from 'express';
import { repoRoot } from '@platform/shared';

// The GraphQL explorer a person gets by opening the gateway in a browser: GET / and GET /graphql
// asking for HTML (any other GET /graphql and every POST still reach Apollo unchanged). It is
// GraphiQL's prebuilt browser build plus React's, served from node_modules with the page and glue
// in gateway/explorer/: no build step, nothing generated, nothing fetched from a CDN.

const require = createRequire(import.meta.url);
const packageDir = (name: string): string => dirname(require.resolve(`${name}/package.json`));
const explorerDir = join(repoRoot, 'gateway', 'explorer');

/** Every file the page may load (an allow-list: no other path under node_modules is reachable). */
const assetFiles: Record<string, { path: string; type: string }> = {
  'graphiql.min.js': { path: join(packageDir('graphiql'), 'graphiql.min.js'), type: 'text/javascript; charset=utf-8' },
  'graphiql.min.js.map': { path: join(packageDir('graphiql'), 'graphiql.min.js.map'), type: 'application/json; charset=utf-8' },
  'graphiql.min.css': { path: join(packageDir('graphiql'), 'graphiql.min.css'), type: 'text/css; charset=utf-8' },
  'react.production.min.js': { path: join(packageDir('react'), 'umd', 'react.production.min.js'), type: 'text/javascript; charset=utf-8' },
  'react-dom.production.min.js': { path: join(packageDir('react-dom'), 'umd', 'react-dom.production.min.js'), type: 'text/javascript; charset=utf-8' },
  'graphql-ws.min.js': { path: join(packageDir('graphql-ws'), 'umd', 'graphql-ws.min.js'), type: 'text/javascript; charset=utf-8' },
  'explorer.js': { path: join(explorerDir, 'explorer.js'), type: 'text/javascript; charset=utf-8' },
  'explorer.css': { path: join(explorerDir, 'explorer.css'), type: 'text/css; charset=utf-8' },
};

// GraphiQL and React inject <style> elements; scripts come from this origin only, and 'self'
// covers the same-origin WebSocket (ws:/wss:) too.
const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

interface LoadedAsset {
  body: Buffer;
  gzipped: Buffer;
  etag: string;
  type: string;
}

/** Whether a GET /graphql is a person's browser navigating there rather than a GraphQL client. */
export function wantsExplorerPage(request: Request): boolean {
  // A GET that carries an operation is a GraphQL request, whatever it accepts.
  if (request.query.query !== undefined) return false;
  // accepts() picks the first offered type among the best-quality matches: a browser's
  // `text/html,...,*/*;q=0.8` gets HTML, while `*/*` or no Accept at all gets JSON (Apollo).
  return request.accepts(['application/json', 'application/graphql-response+json', 'text/html']) === 'text/html';
}

/** `../` steps from the requested page to the gateway's root, so the page's URLs stay relative. */
function relativeRootOf(path: string): string {
  const depth = path.slice(0, path.lastIndexOf('/') + 1).split('/').length - 2;
  return '../'.repeat(Math.max(0, depth));
}

/** Serves the explorer page at / and at /graphql for browsers, and its files at /explorer/<name>. */
export function mountExplorer(app: Express): void {
  // Loaded on first use (most gateway processes never serve a browser), gzipped once, kept.
  const loaded = new Map<string, Promise<LoadedAsset>>();
  const load = (name: string): Promise<LoadedAsset> => {
    let asset = loaded.get(name);
    if (!asset) {
      const file = assetFiles[name]!;
      asset = readFile(file.path).then(async (body) => ({
        body,
        gzipped: await promisify(gzip)(body),
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
        type: file.type,
      }));
      // A failed read (a missing package) is retried on the next request rather than cached.
      asset.catch(() => loaded.delete(name));
      loaded.set(name, asset);
    }
    return asset;
  };
  // Read at start, so a missing page fails the gateway's start rather than the first visit.
  const pageTemplate = readFileSync(join(explorerDir, 'index.html'), 'utf8');

  const send = (request: Request, response: Response, asset: LoadedAsset): void => {
    response.setHeader('Content-Type', asset.type);
    response.setHeader('ETag', asset.etag);
    // Revalidate every time: the files change with a dependency upgrade, and a 304 is cheap.
    response.setHeader('Cache-Control', 'no-cache');
    response.setHeader('Vary', 'Accept-Encoding');
    response.setHeader('X-Content-Type-Options', 'nosniff');
    if (request.headers['if-none-match'] === asset.etag) {
      response.status(304).end();
      return;
    }
    const compressed = request.acceptsEncodings('gzip', 'identity') === 'gzip';
    if (compressed) response.setHeader('Content-Encoding', 'gzip');
    response.end(request.method === 'HEAD' ? undefined : compressed ? asset.gzipped : asset.body);
  };

  const servePage = (request: Request, response: Response): void => {
    const html = pageTemplate.replaceAll('{{root}}', relativeRootOf(request.path));
    response.setHeader('Content-Security-Policy', contentSecurityPolicy);
    response.setHeader('Referrer-Policy', 'no-referrer');
    response.setHeader('X-Frame-Options', 'DENY');
    response.setHeader('Content-Type', 'text/html; charset=utf-8');
    response.setHeader('Cache-Control', 'no-cache');
    response.setHeader('X-Content-Type-Options', 'nosniff');
    response.end(request.method === 'HEAD' ? undefined : html);
  };

  app.get('/', servePage);
  app.get('/graphql', (request: Request, response: Response, next: NextFunction) => {
    if (!wantsExplorerPage(request)) {
      next();
      return;
    }
    servePage(request, response);
  });
  app.get('/explorer/:name', async (request: Request, response: Response, next: NextFunction) => {
    const name = String(request.params.name);
    if (!Object.hasOwn(assetFiles, name)) {
      response.status(404).type('text/plain').send('not found');
      return;
    }
    try {
      send(request, response, await load(name));
    } catch (error) {
      next(error);
    }
  });
}
