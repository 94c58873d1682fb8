// A client of the platform's live recommendations: signs in over HTTP, then subscribes to
// `recommendationsUpdated` over WebSocket (graphql-ws) and prints every update until Ctrl-C.
//
// Usage (Node >= 22.18 runs TypeScript directly):
//   PLATFORM_PASSWORD='correct horse battery' node examples/live-recommendations.ts --username alice
//   npm run example:live-recommendations -- --username alice --password '...' --url http://127.0.0.1:4000/graphql
//
// Settings (a flag wins over the environment):
//   --url       GATEWAY_URL        the gateway's GraphQL URL (default http://127.0.0.1:4000/graphql);
//                                  the WebSocket uses the same URL with ws:/wss:
//   --username  PLATFORM_USERNAME
//   --password  PLATFORM_PASSWORD  (prefer the variable: a flag is visible in the process list)
//   --first     how many recommendations each update carries (default 5)
//
// The access token goes in the connection_init payload ({ authorization: 'Bearer <token>' }).
// The gateway closes a socket whose token expired (4403); graphql-ws then reconnects, and the
// connection parameters refresh the token first, so the subscription outlives the token.
import { parseArgs } from 'node:util';
import { createClient, type Client } from 'graphql-ws';
import { WebSocket } from 'ws';

interface RecommendationsUpdate {
  reason: string;
  at: string;
  recommendations: { score: number; movie: { id: string; title: string } }[];
}

interface GraphQLErrorShape {
  message: string;
  extensions?: { code?: string; retryAfterSeconds?: number };
}

interface Session {
  accessToken: string;
  refreshToken: string;
  /** epoch ms */
  expiresAt: number;
}

/** A failure the user can act on: printed as one line, exit code 1. */
class ClientError extends Error {}

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    first: { type: 'string', default: '5' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write('usage: node examples/live-recommendations.ts --username <name> [--password <password>] [--url <gateway /graphql URL>] [--first <n>]\n');
  process.exit(0);
}

const httpUrl = values.url ?? process.env.GATEWAY_URL ?? 'http://127.0.0.1:4000/graphql';
const username = values.username ?? process.env.PLATFORM_USERNAME;
const password = values.password ?? process.env.PLATFORM_PASSWORD;
const first = Number(values.first);

const authPayloadSelection = 'accessToken refreshToken expiresIn';

/** One GraphQL request over HTTP; errors become a ClientError naming their code. */
async function post<T>(query: string, variables: Record<string, unknown>, what: string): Promise<T> {
  let response: Response;
  try {
    response = await fetch(httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    throw new ClientError(`cannot reach the gateway at ${httpUrl}: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}`);
  }
  const body = (await response.json().catch(() => null)) as { data?: T | null; errors?: GraphQLErrorShape[] } | null;
  if (!body) throw new ClientError(`${what}: the gateway answered HTTP ${response.status} without a GraphQL response`);
  const [error] = body.errors ?? [];
  if (error) {
    const code = error.extensions?.code ?? 'ERROR';
    const retry = error.extensions?.retryAfterSeconds === undefined ? '' : `; retry in ${error.extensions.retryAfterSeconds} s`;
    throw new ClientError(`${what} failed: ${error.message} (${code}${retry})`);
  }
  if (!body.data) throw new ClientError(`${what}: the gateway answered HTTP ${response.status} without data`);
  return body.data;
}

function toSession(payload: { accessToken: string; refreshToken: string; expiresIn: number }): Session {
  return { accessToken: payload.accessToken, refreshToken: payload.refreshToken, expiresAt: Date.now() + payload.expiresIn * 1000 };
}

async function signIn(name: string, secret: string): Promise<Session> {
  const data = await post<{ login: { accessToken: string; refreshToken: string; expiresIn: number } }>(
    `mutation SignIn($username: String!, $password: String!) { login(username: $username, password: $password) { ${authPayloadSelection} } }`,
    { username: name, password: secret },
    'sign-in',
  );
  return toSession(data.login);
}

async function refresh(session: Session): Promise<Session> {
  const data = await post<{ refreshToken: { accessToken: string; refreshToken: string; expiresIn: number } }>(
    `mutation Refresh($refreshToken: String!) { refreshToken(refreshToken: $refreshToken) { ${authPayloadSelection} } }`,
    { refreshToken: session.refreshToken },
    'token refresh',
  );
  return toSession(data.refreshToken);
}

function printUpdate(update: RecommendationsUpdate): void {
  const lines = [`[${new Date(update.at).toLocaleTimeString()}] ${update.reason}`];
  update.recommendations.forEach((item, index) => lines.push(`  ${String(index + 1).padStart(2)}. ${item.movie.title} (score ${item.score.toFixed(3)})`));
  if (update.recommendations.length === 0) lines.push('  (no recommendations yet)');
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Close codes and server errors, in words. */
function describeFailure(error: unknown): string {
  if (Array.isArray(error)) return (error as GraphQLErrorShape[]).map((item) => `${item.message} (${item.extensions?.code ?? 'ERROR'})`).join('; ');
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'number') {
    const reason = 'reason' in error && typeof error.reason === 'string' && error.reason ? `: ${error.reason}` : '';
    return `the WebSocket closed with ${error.code}${reason}`;
  }
  return error instanceof Error ? error.message : String(error);
}

async function main(): Promise<void> {
  if (!username || !password) throw new ClientError('set --username and --password (or PLATFORM_USERNAME and PLATFORM_PASSWORD)');
  if (!Number.isInteger(first) || first < 1 || first > 100) throw new ClientError(`--first must be an integer from 1 to 100, got ${values.first}`);

  let session = await signIn(username, password);
  process.stderr.write(`signed in as ${username}\n`);

  const wsUrl = new URL(httpUrl);
  wsUrl.protocol = wsUrl.protocol === 'https:' ? 'wss:' : 'ws:';
  const client: Client = createClient({
    url: wsUrl.toString(),
    webSocketImpl: WebSocket,
    // Called for every (re)connection: a token about to expire is exchanged first.
    connectionParams: async () => {
      if (session.expiresAt - Date.now() < 30_000) session = await refresh(session);
      return { authorization: `Bearer ${session.accessToken}` };
    },
    // Enough to ride out a gateway restart; each reconnection re-subscribes.
    retryAttempts: 10,
    on: {
      connected: () => process.stderr.write(`connected to ${wsUrl}; waiting for updates (Ctrl-C to stop)\n`),
      closed: (event) => {
        // The gateway closes with 4403 when the token expires: make the next connectionParams refresh it.
        if (typeof event === 'object' && event !== null && 'code' in event && event.code === 4403) session = { ...session, expiresAt: 0 };
      },
    },
  });

  const updates = client.iterate<{ recommendationsUpdated: RecommendationsUpdate }>({
    query: `subscription LiveRecommendations($first: Int) {
      recommendationsUpdated(first: $first) { reason at recommendations { score movie { id title } } }
    }`,
    variables: { first },
  });

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write('\nstopping\n');
    // Ends the for-await below: sends `complete`, then the socket closes.
    void updates.return?.();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  try {
    for await (const result of updates) {
      if (result.errors?.length) throw new ClientError(`the subscription failed: ${describeFailure(result.errors)}`);
      if (result.data) printUpdate(result.data.recommendationsUpdated);
    }
  } catch (error) {
    if (error instanceof ClientError) throw error;
    throw new ClientError(`the subscription ended: ${describeFailure(error)}`);
  } finally {
    await client.dispose();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`live-recommendations: ${error instanceof ClientError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
