import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { Client } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestEnvironment, type TestEnvironment } from '../../helpers/test-environment.ts';
import { collect, connect, nextClose, RawSocket, waitFor, wsUrlOf } from './helpers.ts';

// The WebSocket endpoint's protocol rules, on the gateway (and the subgraph's own endpoint where
// it matters): auth in connection_init, close codes, caps, malformed input. Nothing here may
// crash a process or leave the connection unusable where the protocol says it stays open.

const limits = { operationsPerConnection: 3, connectionsPerUser: 2, messageBytes: 16 * 1024, keepAliveMs: 2_000 };

describe('GraphQL over WebSocket: protocol rules and limits', () => {
  let env: TestEnvironment;
  let wsUrl: string;
  let user: { id: string; username: string; token: string };
  let signingKey: CryptoKey;
  let kid: string;
  const clients: Client[] = [];
  const sockets: RawSocket[] = [];

  const client = (token: string | null): Client => {
    const made = connect(wsUrl, token);
    clients.push(made);
    return made;
  };
  const raw = async (url = wsUrl, protocol?: string | null): Promise<RawSocket> => {
    const socket = await RawSocket.open(url, protocol);
    sockets.push(socket);
    return socket;
  };
  const tokenExpiringIn = (seconds: number) =>
    new SignJWT({ role: 'USER' })
      .setProtectedHeader({ alg: 'EdDSA', kid })
      .setSubject(user.id)
      .setIssuer('movie-platform')
      .setAudience('movie-platform-api')
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
      .sign(signingKey);

  beforeAll(async () => {
    // The stack's processes inherit this environment: small caps make them reachable in a test.
    vi.stubEnv('WS_MAX_OPERATIONS_PER_CONNECTION', String(limits.operationsPerConnection));
    vi.stubEnv('WS_MAX_CONNECTIONS_PER_USER', String(limits.connectionsPerUser));
    vi.stubEnv('WS_MAX_MESSAGE_BYTES', String(limits.messageBytes));
    vi.stubEnv('WS_KEEPALIVE_MS', String(limits.keepAliveMs));
    env = await startTestEnvironment();
    wsUrl = wsUrlOf(env.gatewayUrl);
    user = await env.signUp('socket');
    const [current] = JSON.parse(readFileSync(join(env.dataDir, 'keys', 'signing-keys.json'), 'utf8')) as { kid: string; privateJwk: JWK }[];
    kid = current!.kid;
    signingKey = (await importJWK(current!.privateJwk, 'EdDSA')) as CryptoKey;
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((made) => made.dispose()));
    for (const socket of sockets.splice(0)) socket.close();
  });

  afterAll(async () => {
    vi.unstubAllEnvs();
    await env?.stop();
  });

  describe('connection', () => {
    it('closes 4403 without a token, with a bad one and with an expired one', async () => {
      for (const token of [null, 'definitely.not.a-jwt', await tokenExpiringIn(-60)]) {
        const socket = await raw();
        socket.send(token === null ? { type: 'connection_init' } : { type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
        const closed = await socket.closed;
        expect(closed.code).toBe(4403);
        expect(socket.messages).toEqual([]);
      }
    });

    it('refuses a multiplexed connection_init (only subgraphs accept them, from the gateway) with 4403', async () => {
      for (const payload of [{ multiplexed: true }, { multiplexed: true, authorization: `Bearer ${user.token}` }]) {
        const socket = await raw();
        socket.send({ type: 'connection_init', payload });
        expect((await socket.closed).code).toBe(4403);
        expect(socket.messages).toEqual([]);
      }
    });

    it('closes 4408 when no connection_init arrives in time', async () => {
      const socket = await raw();
      expect((await socket.closed).code).toBe(4408);
    });

    it('closes 4429 on a second connection_init', async () => {
      const socket = await raw();
      await socket.init(user.token);
      socket.send({ type: 'connection_init', payload: { authorization: `Bearer ${user.token}` } });
      expect((await socket.closed).code).toBe(4429);
    });

    it('closes 4401 on a subscribe before the connection is acknowledged', async () => {
      const socket = await raw();
      socket.send({ type: 'subscribe', id: '1', payload: { query: 'subscription { notifications { id } }' } });
      expect((await socket.closed).code).toBe(4401);
    });

    it('speaks graphql-transport-ws only (4406 without it; the legacy protocol is not negotiated)', async () => {
      const socket = await raw(wsUrl, null);
      expect((await socket.closed).code).toBe(4406);
      // The server does not agree to subscriptions-transport-ws' "graphql-ws": the client gives up.
      await expect(RawSocket.open(wsUrl, 'graphql-ws')).rejects.toThrow(/subprotocol/);
    });

    it('terminates a socket that stops answering pings, and keeps one that answers', async () => {
      const silent = await RawSocket.open(wsUrl, 'graphql-transport-ws', { autoPong: false });
      sockets.push(silent);
      await silent.init(user.token);
      const answering = await raw();
      await answering.init(user.token);
      // Terminated by the server (no close frame): 1006 on this side, within two intervals.
      expect((await silent.closed).code).toBe(1006);
      await new Promise((resolve) => setTimeout(resolve, 2 * limits.keepAliveMs));
      expect(answering.socket.readyState).toBe(answering.socket.OPEN);
    });

    it('closes the socket with 4403 when the access token expires', async () => {
      const expiring = client(await tokenExpiringIn(3));
      const closed = nextClose(expiring);
      const updates = collect(expiring, { query: 'subscription { recommendationsUpdated { reason } }' });
      const { code } = await closed;
      expect(code).toBe(4403);
      expect(updates.events).toEqual([]);
    });

    it('admits at most the configured connections per user (4429), and again once one closes', async () => {
      const first = await raw();
      await first.init(user.token);
      const second = await raw();
      await second.init(user.token);
      const third = await raw();
      third.send({ type: 'connection_init', payload: { authorization: `Bearer ${user.token}` } });
      const refused = await third.closed;
      expect(refused).toEqual({ code: 4429, reason: `Too many connections for this user (limit ${limits.connectionsPerUser})` });

      first.close();
      await first.closed;
      // The server frees the slot when it sees the close, a moment after the client does.
      const admitted = async (): Promise<boolean> => {
        const socket = await raw();
        socket.send({ type: 'connection_init', payload: { authorization: `Bearer ${user.token}` } });
        return Promise.race([socket.nextMessage((message) => message.type === 'connection_ack').then(() => true), socket.closed.then(() => false)]);
      };
      await waitFor(admitted, (ok) => ok, 5_000, 'a connection to be admitted again');
      // Another user is not affected by this user's connections.
      const other = await env.signUp('other');
      const otherSocket = await raw();
      await otherSocket.init(other.token);
    });
  });

  describe('messages', () => {
    it('closes 4400 on malformed JSON, an unknown type and a type only a server sends', async () => {
      for (const message of ['{nope', { type: 'hello' }, { type: 'next', id: '1', payload: { data: {} } }, { type: 'connection_ack' }]) {
        const socket = await raw();
        await socket.init(user.token);
        socket.send(message);
        expect((await socket.closed).code).toBe(4400);
      }
    });

    it('closes 4409 on a duplicate operation id', async () => {
      const socket = await raw();
      await socket.init(user.token);
      socket.send({ type: 'subscribe', id: 'same', payload: { query: 'subscription { notifications { id } }' } });
      socket.send({ type: 'subscribe', id: 'same', payload: { query: 'subscription { notifications { id } }' } });
      expect((await socket.closed).code).toBe(4409);
    });

    it('closes 1009 on a message larger than the limit', async () => {
      const socket = await raw();
      await socket.init(user.token);
      socket.send({ type: 'subscribe', id: 'big', payload: { query: `subscription { notifications { id } } # ${'x'.repeat(limits.messageBytes)}` } });
      expect((await socket.closed).code).toBe(1009);
    });

    it('answers an invalid subscription with an error message and stays usable', async () => {
      const socket = await raw();
      await socket.init(user.token);
      socket.send({ type: 'subscribe', id: 'bad-field', payload: { query: 'subscription { me { id } }' } });
      socket.send({ type: 'subscribe', id: 'bad-syntax', payload: { query: 'subscription {' } });
      socket.send({ type: 'subscribe', id: 'bad-variable', payload: { query: 'subscription($n: Int!) { recommendationsUpdated(first: $n) { reason } }', variables: { n: 'ten' } } });
      const errorOf = async (id: string) => (await socket.nextMessage((message) => message.id === id)) as { type: string; payload: { message: string; extensions: { code: string } }[] };
      const badField = await errorOf('bad-field');
      expect(badField.type).toBe('error');
      expect(badField.payload[0]!.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect((await errorOf('bad-syntax')).payload[0]!.extensions.code).toBe('GRAPHQL_PARSE_FAILED');
      expect((await errorOf('bad-variable')).payload[0]!.extensions.code).toBe('BAD_USER_INPUT');

      // The same socket still serves operations: a query is executed like over HTTP.
      socket.send({ type: 'subscribe', id: 'query', payload: { query: '{ me { id username } }' } });
      const answer = await socket.nextMessage((message) => message.id === 'query' && message.type === 'next');
      expect(answer.payload).toEqual({ data: { me: { id: user.id, username: user.username } } });
      await socket.nextMessage((message) => message.id === 'query' && message.type === 'complete');
    });

    it('applies the operation limits HTTP applies (depth)', async () => {
      const socket = await raw();
      await socket.init(user.token);
      let inner = 'id';
      for (let level = 0; level < 6; level += 1) inner = `similarMovies(first: 1) { movie { ${inner} } }`;
      // 16 levels: the limit is 12.
      const deep = `subscription { recommendationsUpdated { recommendations { movie { ${inner} } } } }`;
      socket.send({ type: 'subscribe', id: 'deep', payload: { query: deep } });
      const error = (await socket.nextMessage((message) => message.id === 'deep')) as { type: string; payload: { extensions: { code: string; limit?: string } }[] };
      expect(error.type).toBe('error');
      expect(error.payload[0]!.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'depth' });
    });

    it('passes a subgraph’s refusal of the arguments on as an error message', async () => {
      const updates = collect(client(user.token), { query: 'subscription { recommendationsUpdated(first: 0) { reason } }' });
      await waitFor(() => updates.error, (error) => error !== undefined, 10_000, 'the error');
      expect(updates.error).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', serviceName: 'recommendations' }) })]);
    });

    it('refuses operations beyond the per-connection limit with an error, keeping the others', async () => {
      const gatewayClient = client(user.token);
      const running = Array.from({ length: limits.operationsPerConnection }, () => collect(gatewayClient, { query: 'subscription { notifications { id } }' }));
      const excess = collect(gatewayClient, { query: 'subscription { notifications { id } }' });
      await waitFor(() => excess.error, (error) => error !== undefined, 10_000, 'the refusal');
      expect(excess.error).toEqual([expect.objectContaining({ extensions: { code: 'RATE_LIMITED', limit: 'operationsPerConnection' } })]);
      expect(running.every((subscription) => subscription.error === undefined && !subscription.completed)).toBe(true);

      // Completing one makes room for another.
      running[0]!.stop();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const replacement = collect(gatewayClient, { query: '{ me { id } }' });
      await waitFor(() => replacement.completed, (completed) => completed, 10_000, 'the query to complete');
      expect(replacement.events).toEqual([{ data: { me: { id: user.id } } }]);
    });
  });

  it('refuses a subscription POSTed over HTTP with a clear 400', async () => {
    const response = await fetch(env.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
      body: JSON.stringify({ query: 'subscription { notifications { id } }' }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe('BAD_REQUEST');
    expect(body.errors[0]!.message).toContain('WebSocket');
  });

  describe('the subgraph’s own endpoint', () => {
    it('verifies the token itself (4403) and serves subscriptions only', async () => {
      const subgraphWs = wsUrlOf(env.subgraphUrl('recommendations'));
      const forged = await raw(subgraphWs);
      forged.send({ type: 'connection_init', payload: { authorization: 'Bearer forged.token.here' } });
      expect((await forged.closed).code).toBe(4403);

      const socket = await raw(subgraphWs);
      await socket.init(user.token);
      socket.send({ type: 'subscribe', id: 'q', payload: { query: '{ recommendations { score } }' } });
      const refused = (await socket.nextMessage((message) => message.id === 'q')) as { type: string; payload: { extensions: { code: string } }[] };
      expect(refused.type).toBe('error');
      expect(refused.payload[0]!.extensions.code).toBe('BAD_REQUEST');
    });
  });
});
