import { describe, expect, it } from 'vitest';
import { parse } from 'graphql';
import { closeReason, ConfigError, ConnectionRegistry, defaultSubscriptionLimits, DocumentCache, isAllowedClientMessage, requestIdFromExtensions } from '@platform/shared';
import { readGatewayConfig } from '../../src/config.ts';
import { errorsForFailure, variablesFor } from '../../src/subscriptions/federated-subscription.ts';
import { defaultUpstreamSettings, webSocketUrlOf } from '../../src/subscriptions/upstream.ts';

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

describe('validated documents shared between operations', () => {
  it('serves one parsed document per text and forgets the least recently used', () => {
    const cache = new DocumentCache({ maxEntries: 2, maxTextLength: 1_000 });
    const [a, b, c] = ['subscription { a }', 'subscription { b }', 'subscription { c }'];
    const documentA = parse(a!);
    cache.set(a!, documentA);
    cache.set(b!, parse(b!));
    expect(cache.get(a!)).toBe(documentA);
    cache.set(c!, parse(c!));
    // b was the least recently used.
    expect(cache.get(b!)).toBeUndefined();
    expect(cache.get(a!)).toBe(documentA);
    expect(cache.size).toBe(2);
  });

  it('bounds the total text it holds, and does not keep a text above that alone', () => {
    const cache = new DocumentCache({ maxEntries: 100, maxTextLength: 60 });
    const texts = Array.from({ length: 4 }, (_, index) => `subscription { field${index} }`.padEnd(25, ' '));
    for (const text of texts) cache.set(text, parse(text));
    // 25 characters each: two fit in 60.
    expect(cache.size).toBe(2);
    expect(cache.get(texts[3]!)).toBeDefined();
    const huge = `subscription { a } ${' '.repeat(100)}`;
    cache.set(huge, parse(huge));
    expect(cache.get(huge)).toBeUndefined();
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

  it('reads the upstream pool settings (WS_UPSTREAM_*), with defaults', () => {
    expect(readGatewayConfig({}).upstreamSubscriptions).toEqual(defaultUpstreamSettings);
    expect(
      readGatewayConfig({ WS_UPSTREAM_SOCKETS_PER_SUBGRAPH: '2', WS_UPSTREAM_OPERATIONS_PER_SOCKET: '500', WS_UPSTREAM_IDLE_CLOSE_MS: '0' }).upstreamSubscriptions,
    ).toEqual({ socketsPerSubgraph: 2, operationsPerSocket: 500, idleTimeoutMs: 0 });
    expect(() => readGatewayConfig({ WS_UPSTREAM_SOCKETS_PER_SUBGRAPH: '0' })).toThrow(/WS_UPSTREAM_SOCKETS_PER_SUBGRAPH must be >= 1/);
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
