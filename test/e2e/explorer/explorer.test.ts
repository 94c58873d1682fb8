import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page, type WebSocket } from 'playwright-core';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { liveChannelFor, repoRoot } from '@platform/shared';
import { startTestEnvironment, testPassword, type TestEnvironment } from '../../helpers/test-environment.ts';

// The explorer (gateway/src/explorer.ts). Over plain HTTP: a browser gets the page, GraphQL
// clients get Apollo exactly as before. Then as a person uses it: Debian's Chromium opens the
// gateway's /graphql, signs in with a mutation typed into GraphiQL, pastes the token into the
// headers editor, runs a query, starts the recommendationsUpdated subscription and sees a like's
// update arrive in the result pane. Screenshots land in test-artifacts/ (git-ignored). Without
// /usr/bin/chromium the browser part is skipped, saying why.

const chromiumPath = '/usr/bin/chromium';
// Without the network flags Chromium tries to reach Google's services, which this machine refuses.
const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const artifactsDir = join(repoRoot, 'test-artifacts');
const missingBrowser = existsSync(chromiumPath) ? null : `${chromiumPath} is missing: install Debian's chromium (apt-get install chromium; .ci/run does)`;
if (missingBrowser) process.stderr.write(`explorer e2e test: the browser steps are skipped: ${missingBrowser}\n`);

interface ProtocolMessage {
  type: string;
  id?: string;
  payload?: { authorization?: string; data?: { recommendationsUpdated?: { reason: string } } };
}

/** graphql-ws traffic of one browser WebSocket, as the page sent and received it. */
interface ObservedSocket {
  socket: WebSocket;
  sent: ProtocolMessage[];
  received: ProtocolMessage[];
}

/**
 * The little of the page these in-browser functions use (the project compiles without the DOM
 * library). GraphiQL's editors are CodeMirror 5 instances, reachable from their element.
 */
interface InPage {
  document: { querySelector(selector: string): { textContent: string | null; CodeMirror?: { getValue(): string } } | null };
}

const parseFrame = (payload: string | Buffer): ProtocolMessage => JSON.parse(payload.toString()) as ProtocolMessage;

/** Resolves once some process is subscribed to a Redis pub/sub channel. */
async function waitForListener(channel: string, timeoutMs = 30_000): Promise<void> {
  const redis = new Redis(inject('services').redisUrl);
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [, listeners] = (await redis.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
      if (Number(listeners) > 0) return;
      if (Date.now() > deadline) throw new Error(`nobody subscribed to ${channel} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    redis.disconnect();
  }
}

/** Polls until `check` returns a value (not undefined) or the time is up. */
async function eventually<T>(what: string, check: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('GraphQL explorer (GraphiQL) served by the gateway', () => {
  let env: TestEnvironment;

  beforeAll(async () => {
    env = await startTestEnvironment();
  });

  afterAll(async () => {
    await env?.stop();
  });

  it('answers a browser with the page, and GraphQL clients as before', async () => {
    const origin = new URL(env.gatewayUrl).origin;
    const browserAccept = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
    for (const url of [`${origin}/`, env.gatewayUrl]) {
      const page = await fetch(url, { headers: { accept: browserAccept } });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(await page.text()).toContain('<div id="graphiql">');
    }
    // Not a browser (Accept: */*, JSON or none), or a GET carrying an operation: Apollo answers,
    // with its CSRF prevention still refusing a GET without a preflight header.
    for (const headers of [{ accept: '*/*' }, { accept: 'application/json' }, {}]) {
      const answer = await fetch(`${env.gatewayUrl}?query=${encodeURIComponent('{ __typename }')}`, { headers });
      expect(answer.status).toBe(400);
      expect(await answer.json()).toMatchObject({ errors: [{ extensions: { code: 'BAD_REQUEST' } }] });
    }
    const withOperation = await fetch(`${env.gatewayUrl}?query=${encodeURIComponent('{ __typename }')}`, { headers: { accept: browserAccept, 'apollo-require-preflight': '1' } });
    expect(await withOperation.json()).toEqual({ data: { __typename: 'Query' } });
    expect(await env.graphql('{ __typename }')).toEqual({ data: { __typename: 'Query' } });
  });

  it('serves its allow-listed files and nothing else from node_modules', async () => {
    const origin = new URL(env.gatewayUrl).origin;
    const script = await fetch(`${origin}/explorer/graphiql.min.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    const etag = script.headers.get('etag')!;
    expect((await fetch(`${origin}/explorer/graphiql.min.js`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    for (const path of ['/explorer/package.json', '/explorer/..%2Fpackage.json', '/explorer/index.html']) {
      expect((await fetch(`${origin}${path}`)).status).toBe(404);
    }
  });

  describe.skipIf(missingBrowser !== null)('in Chromium', () => {
    let browser: Browser;
    let page: Page;
    let alice: { id: string; username: string; token: string };
    const sockets: ObservedSocket[] = [];
    /** every URL the page requested: all of them must be the gateway's own */
    const requested: string[] = [];
    let introspectionAnswer: Promise<{ status: number; body: string }>;

    // Typing goes through the keyboard into GraphiQL's editors; reading goes through CodeMirror,
    // which renders only the visible lines of a long result.
    async function replaceEditorText(editor: string, text: string): Promise<void> {
      await page.click(`${editor} .CodeMirror`);
      await page.keyboard.press('Control+A');
      await page.keyboard.insertText(text);
    }
    /**
     * GraphiQL parses the query editor's text a moment after it changes (debounced); running before
     * that would use the previous document's operations. The tab's title is the parsed operation's
     * name, so once it shows `operationName` the new text is what the execute button runs.
     */
    async function setQuery(text: string): Promise<void> {
      const operationName = /^(?:query|mutation|subscription)\s+(\w+)/.exec(text)?.[1];
      if (!operationName) throw new Error(`name the operation, so the test can tell when GraphiQL has parsed it: ${text}`);
      await replaceEditorText('.graphiql-query-editor', text);
      await page.waitForFunction((name) => (globalThis as unknown as InPage).document.querySelector('.graphiql-tab-button')?.textContent === name, operationName, { timeout: 5_000 });
    }
    const setHeaders = (headers: Record<string, string>): Promise<void> =>
      replaceEditorText('section.graphiql-editor-tool[aria-label="Headers"] .graphiql-editor:not(.hidden)', JSON.stringify(headers, null, 2));
    const resultText = (): Promise<string> =>
      page.evaluate(() => (globalThis as unknown as InPage).document.querySelector('.result-window .CodeMirror')!.CodeMirror!.getValue());
    async function runAndWaitForResult(matching: RegExp): Promise<string> {
      await page.click('.graphiql-execute-button');
      await page.waitForFunction(
        (pattern) => new RegExp(pattern).test((globalThis as unknown as InPage).document.querySelector('.result-window .CodeMirror')!.CodeMirror!.getValue()),
        matching.source,
        { timeout: 20_000 },
      );
      return resultText();
    }

    beforeAll(async () => {
      mkdirSync(artifactsDir, { recursive: true });
      // Failure screenshots of an earlier run would pass for this run's.
      for (const file of readdirSync(artifactsDir)) if (file.startsWith('explorer-failed-')) rmSync(join(artifactsDir, file));
      alice = await env.signUp('alice');
      browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
      page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      page.on('request', (request) => requested.push(request.url()));
      page.on('websocket', (socket) => {
        const observed: ObservedSocket = { socket, sent: [], received: [] };
        socket.on('framesent', (frame) => observed.sent.push(parseFrame(frame.payload)));
        socket.on('framereceived', (frame) => observed.received.push(parseFrame(frame.payload)));
        sockets.push(observed);
      });
      introspectionAnswer = page
        .waitForResponse((response) => response.request().postData()?.includes('IntrospectionQuery') === true, { timeout: 60_000 })
        .then(async (response) => ({ status: response.status(), body: await response.text() }));
      // A browser navigating to the GraphQL URL itself (Accept: text/html) gets the explorer.
      await page.goto(env.gatewayUrl);
      await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror');
    });

    // What the page showed when a step failed, beside the other artifacts.
    afterEach(async (context) => {
      if (context.task.result?.state === 'fail' && page) {
        await page.screenshot({ path: join(artifactsDir, `explorer-failed-${context.task.name.slice(0, 40).replace(/[^a-z0-9]+/gi, '-')}.png`) });
      }
    });

    afterAll(async () => {
      await browser?.close();
    });

    it('loads the schema, signs in with a mutation and runs a query with the token from the headers editor', async () => {
      // GraphiQL's schema fetch passes the gateway's operation limits (the explorer shortens it).
      const introspection = await introspectionAnswer;
      expect(introspection.status).toBe(200);
      expect(JSON.parse(introspection.body)).toMatchObject({ data: { __schema: { queryType: { name: 'Query' } } } });

      await setQuery(`mutation SignInAlice { login(username: "${alice.username}", password: "${testPassword}") { accessToken user { username } } }`);
      const signedIn = JSON.parse(await runAndWaitForResult(/accessToken|errors/)) as { data?: { login: { accessToken: string; user: { username: string } } } };
      expect(signedIn.data?.login.user.username).toBe(alice.username);
      const token = signedIn.data!.login.accessToken;

      await setHeaders({ Authorization: `Bearer ${token}` });
      await setQuery('query Me { me { username } }');
      expect(JSON.parse(await runAndWaitForResult(/"me"|errors/))).toEqual({ data: { me: { username: alice.username } } });
      await page.screenshot({ path: join(artifactsDir, 'explorer-query.png') });

      // Everything came from the gateway: no CDN, no other host.
      const origin = new URL(env.gatewayUrl).origin;
      expect(requested.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('data:'))).toEqual([]);
    });

    it('runs recommendationsUpdated over a WebSocket authenticated from the headers editor and shows a like\'s update', async () => {
      const movieId = String(randomInt(1e12, 9e12));
      const title = `Explorer Liked ${randomInt(1e9)}`;
      await env.sql('INSERT INTO movies.movies (id, title, year, genres) OVERRIDING SYSTEM VALUE VALUES ($1, $2, 2001, $3)', [movieId, title, ['Drama']]);
      // Written straight into the catalogue, so no movie.created tells the reviews subgraph: make it known there as the loader does.
      await env.sql('INSERT INTO reviews.known_movies (movie_id) VALUES ($1)', [movieId]);

      await setHeaders({ Authorization: `Bearer ${alice.token}` });
      await setQuery('subscription LiveRecommendations {\n  recommendationsUpdated(first: 5) {\n    reason\n    at\n    recommendations { score movie { id title } }\n  }\n}');
      const socketsBefore = sockets.length;
      await page.click('.graphiql-execute-button');

      // Same URL as HTTP, the header's value in connection_init, accepted by the gateway.
      const opened = await eventually('the explorer to open a WebSocket', () => sockets[socketsBefore]);
      expect(opened.socket.url()).toBe(env.gatewayUrl.replace(/^http/, 'ws'));
      const init = await eventually('connection_init', () => opened.sent.find((message) => message.type === 'connection_init'));
      expect(init.payload).toEqual({ authorization: `Bearer ${alice.token}` });
      await eventually('connection_ack', () => opened.received.find((message) => message.type === 'connection_ack'));
      await eventually('the subscribe message', () => opened.sent.find((message) => message.type === 'subscribe'));
      // Live messages are Redis pub/sub (at most once): like only once the recommendations
      // subgraph listens on Alice's channel, or the update could be published to nobody.
      await waitForListener(liveChannelFor(alice.id, env.eventStreamPrefix));
      const updatesBeforeLike = opened.received.filter((message) => message.type === 'next').length;

      const liked = await env.graphql(`mutation($m: ID!) { reactToMovie(movieId: $m, reaction: LIKE) { id } }`, { m: movieId }, alice.token);
      expect(liked.errors).toBeUndefined();

      // The like travels reviews -> event stream -> recommendations (recompute) -> pub/sub -> gateway.
      const update = await eventually('an update after the like', () => opened.received.filter((message) => message.type === 'next')[updatesBeforeLike], 90_000);
      const reason = update.payload?.data?.recommendationsUpdated?.reason;
      expect(reason).toEqual(expect.any(String));
      // ... and the page shows it: the result pane holds that update's reason.
      await page.waitForFunction(
        (expected) =>
          (globalThis as unknown as InPage).document.querySelector('.result-window .CodeMirror')!.CodeMirror!.getValue().includes(expected),
        JSON.stringify(reason),
        { timeout: 10_000 },
      );
      expect(JSON.parse(await resultText())).toMatchObject({ data: { recommendationsUpdated: { reason, recommendations: expect.any(Array) } } });
      await page.screenshot({ path: join(artifactsDir, 'explorer.png') });
    }, 150_000);

    it('opens a new WebSocket with the new token when the Authorization header changes', async () => {
      const bob = await env.signUp('bob');
      // Stops the running subscription (the execute button is a stop button while it runs).
      await page.click('.graphiql-execute-button');
      await setHeaders({ Authorization: `Bearer ${bob.token}` });
      const socketsBefore = sockets.length;
      await page.click('.graphiql-execute-button');

      const reopened = await eventually('a new WebSocket', () => sockets[socketsBefore]);
      const init = await eventually('connection_init', () => reopened.sent.find((message) => message.type === 'connection_init'));
      expect(init.payload).toEqual({ authorization: `Bearer ${bob.token}` });
      await eventually('connection_ack', () => reopened.received.find((message) => message.type === 'connection_ack'));
      // No socket still open with Alice's token.
      await eventually('the earlier sockets to close', () => (sockets.slice(0, socketsBefore).every((observed) => observed.socket.isClosed()) ? true : undefined));
      await page.click('.graphiql-execute-button');
    });
  });
});
