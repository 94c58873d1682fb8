import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformError, ErrorCode, type RunningServer, type TokenVerifier } from '@platform/shared';
import { startGateway } from '../../src/index.ts';

// A subgraph that accepts connections but never answers: the gateway must give up after its
// timeout with SERVICE_UNAVAILABLE naming the subgraph, without leaking the subgraph's URL.
describe('gateway with a hung subgraph', () => {
  let hung: Server;
  let gateway: RunningServer;
  const verifier: TokenVerifier = {
    verify: async (token) => {
      if (token === 'good') return { id: 'u1', role: 'USER', expiresAt: Date.now() / 1000 + 60 };
      throw platformError(ErrorCode.Unauthenticated, 'Access token is invalid; sign in again');
    },
  };

  beforeAll(async () => {
    hung = createServer(() => {
      // never responds
    });
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const hungUrl = `http://127.0.0.1:${(hung.address() as AddressInfo).port}/graphql`;
    const env: Record<string, string> = { PORT: '0', SUBGRAPH_TIMEOUT_MS: '300', LOG_LEVEL: 'error' };
    for (const name of ['USERS', 'MOVIES', 'REVIEWS', 'RECOMMENDATIONS', 'ANALYTICS']) env[`SUBGRAPH_URL_${name}`] = hungUrl;
    gateway = await startGateway(env, { verifier });
  });

  afterAll(async () => {
    await gateway?.stop();
    hung?.closeAllConnections();
    await new Promise((resolve) => hung?.close(resolve));
  });

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(gateway.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('answers SERVICE_UNAVAILABLE within the timeout instead of hanging', async () => {
    const started = Date.now();
    const response = await post({ query: '{ genres }' });
    const body = (await response.json()) as { errors: { message: string; extensions: Record<string, unknown> }[] };
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(body.errors[0]?.extensions.code).toBe('SERVICE_UNAVAILABLE');
    expect(body.errors[0]?.message).toContain('movies');
    expect(JSON.stringify(body)).not.toContain('127.0.0.1');
  });

  it('rejects a bad token with 401 UNAUTHENTICATED before calling any subgraph', async () => {
    const response = await post({ query: '{ genres }' }, { authorization: 'Bearer nonsense' });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(body.errors[0]?.extensions.code).toBe('UNAUTHENTICATED');
  });

  it('reports liveness on /health and unreadiness on /ready', async () => {
    const health = await fetch(new URL('/health', gateway.url));
    expect(health.status).toBe(200);
    const ready = await fetch(new URL('/ready', gateway.url));
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { subgraphs: Record<string, boolean> };
    expect(body.subgraphs).toMatchObject({ movies: false, users: false });
  });

  it('echoes a well-formed request id and replaces a malformed one', async () => {
    const kept = await post({ query: '{ __typename }' }, { 'x-request-id': 'client-req-12345' });
    expect(kept.headers.get('x-request-id')).toBe('client-req-12345');
    const replaced = await post({ query: '{ __typename }' }, { 'x-request-id': 'bad id with spaces' });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
