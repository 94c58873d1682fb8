import { describe, expect, it } from 'vitest';
import { closeReason, ConfigError, ConnectionRegistry, defaultSubscriptionLimits, isAllowedClientMessage, requestIdFromExtensions } from '@platform/shared';
import { readGatewayConfig } from '../../src/config.ts';
import { errorsForFailure, variablesFor } from '../../src/subscriptions/federated-subscription.ts';
import { upstreamFailureOf, webSocketUrlOf } from '../../src/subscriptions/upstream.ts';

// Caps and protocol rules of the WebSocket endpoint that need no socket to check.

describe('connections per user', () => {
  it('admits up to the limit per user, independently of other users', () => {
    const registry = new ConnectionRegistry(2);
    expect(registry.tryAdd('alice', 'c1')).toBe(true);
    expect(registry.tryAdd('alice', 'c2')).toBe(true);
    expect(registry.tryAdd('alice', 'c3')).toBe(false);
    expect(registry.tryAdd('bob', 'c4')).toBe(true);
    expect(registry.count('alice')).toBe(2);
    // Adding a registered connection again is not a new one.
    expect(registry.tryAdd('alice', 'c1')).toBe(true);
  });

  it('frees a slot when a connection closes', () => {
    const registry = new ConnectionRegistry(1);
    expect(registry.tryAdd('alice', 'c1')).toBe(true);
    registry.remove('alice', 'c1');
    registry.remove('alice', 'unknown');
    expect(registry.count('alice')).toBe(0);
    expect(registry.tryAdd('alice', 'c2')).toBe(true);
  });
});

describe('gateway WebSocket configuration (WS_*)', () => {
  it('defaults to the shared defaults', () => {
    expect(readGatewayConfig({}).subscriptions).toEqual(defaultSubscriptionLimits);
  });

  it('reads every limit', () => {
    const limits = readGatewayConfig({
      WS_MAX_OPERATIONS_PER_CONNECTION: '3',
      WS_MAX_CONNECTIONS_PER_USER: '2',
      WS_MAX_MESSAGE_BYTES: '16384',
      WS_CONNECTION_INIT_TIMEOUT_MS: '1000',
      WS_KEEPALIVE_MS: '5000',
      WS_EVENT_BUFFER_SIZE: '10',
      WS_MAX_BUFFERED_BYTES: '1048576',
    }).subscriptions;
    expect(limits).toEqual({
      maxOperationsPerConnection: 3,
      maxConnectionsPerUser: 2,
      maxMessageBytes: 16_384,
      connectionInitTimeoutMs: 1_000,
      keepAliveMs: 5_000,
      eventBufferSize: 10,
      maxBufferedBytes: 1_048_576,
    });
  });

  it('names the variable of a wrong value', () => {
    expect(() => readGatewayConfig({ WS_MAX_MESSAGE_BYTES: '10' })).toThrow(ConfigError);
    expect(() => readGatewayConfig({ WS_MAX_MESSAGE_BYTES: '10' })).toThrow(/WS_MAX_MESSAGE_BYTES must be >= 1024/);
    expect(() => readGatewayConfig({ WS_EVENT_BUFFER_SIZE: 'lots' })).toThrow(/WS_EVENT_BUFFER_SIZE must be a whole number/);
  });
});

describe('client messages', () => {
  it('lets through what a client may send (and malformed text, which graphql-ws closes with 4400)', () => {
    for (const type of ['connection_init', 'ping', 'pong', 'subscribe', 'complete']) expect(isAllowedClientMessage(JSON.stringify({ type }))).toBe(true);
    expect(isAllowedClientMessage('{not json')).toBe(true);
    expect(isAllowedClientMessage('[]')).toBe(true);
  });

  it('refuses types only a server sends and unknown ones', () => {
    for (const type of ['next', 'error', 'connection_ack', 'start', 'hello']) expect(isAllowedClientMessage(JSON.stringify({ type, id: '1', payload: {} }))).toBe(false);
  });

  it('keeps close reasons within the 123 bytes a close frame allows', () => {
    expect(closeReason('short')).toBe('short');
    const long = closeReason('é'.repeat(200));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(123);
    expect(long.endsWith('...')).toBe(true);
  });

  it('accepts a forwarded request id only when it looks like one', () => {
    expect(requestIdFromExtensions({ requestId: 'abcd-1234-efgh' })).toBe('abcd-1234-efgh');
    expect(requestIdFromExtensions({ requestId: 'short' })).toBeUndefined();
    expect(requestIdFromExtensions({ requestId: 'has spaces and\nnewlines' })).toBeUndefined();
    expect(requestIdFromExtensions(undefined)).toBeUndefined();
  });
});

describe('upstream subscriptions', () => {
  it('talks WebSocket to the subgraph URL', () => {
    expect(webSocketUrlOf('http://127.0.0.1:4004/graphql')).toBe('ws://127.0.0.1:4004/graphql');
    expect(webSocketUrlOf('https://recs.internal/graphql')).toBe('wss://recs.internal/graphql');
  });

  it('classifies what the graphql-ws client reports', () => {
    expect(upstreamFailureOf([{ message: 'no' }])).toEqual({ kind: 'rejected', errors: [{ message: 'no' }] });
    expect(upstreamFailureOf({ code: 4403, reason: 'Forbidden', wasClean: true })).toEqual({ kind: 'closed', code: 4403, reason: 'Forbidden' });
    expect(upstreamFailureOf(new Error('connect ECONNREFUSED 10.0.0.7:4004'))).toEqual({ kind: 'unreachable', message: 'connect ECONNREFUSED 10.0.0.7:4004' });
  });

  it('ends a client subscription as SERVICE_UNAVAILABLE without internal addresses', () => {
    const [error] = errorsForFailure({ kind: 'unreachable', message: 'connect ECONNREFUSED 10.0.0.7:4004' }, 'recommendations');
    expect(error!.extensions.code).toBe('SERVICE_UNAVAILABLE');
    expect(error!.message).toContain('recommendations');
    expect(error!.message).not.toContain('10.0.0.7');
    expect(errorsForFailure({ kind: 'closed', code: 1006, reason: 'ws://10.0.0.7' }, 'recommendations')[0]!.message).not.toContain('10.0.0.7');
  });

  it('passes a subgraph’s own errors on with their code, path and the subgraph’s name', () => {
    const [error] = errorsForFailure({ kind: 'rejected', errors: [{ message: 'first: must be 1..100', path: ['recommendationsUpdated'], locations: [{ line: 1, column: 40 }], extensions: { code: 'BAD_USER_INPUT' } }] }, 'recommendations');
    expect(error!.toJSON()).toEqual({ message: 'first: must be 1..100', path: ['recommendationsUpdated'], extensions: { code: 'BAD_USER_INPUT', serviceName: 'recommendations' } });
  });

  it('forwards only the variables the primary fetch uses', () => {
    expect(variablesFor(['n'], { n: 5, other: 'x' })).toEqual({ n: 5 });
    expect(variablesFor(['n', 'missing'], { n: null })).toEqual({ n: null });
    expect(variablesFor(undefined, { n: 5 })).toEqual({});
  });
});
