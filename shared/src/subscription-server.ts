import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  createSourceEventStream,
  execute,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type ValidationRule,
} from 'graphql';
import { handleProtocols, makeServer } from 'graphql-ws';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { viewerFromAuthorization, type TokenVerifier, type Viewer } from './auth.ts';
import { createErrorFormatter, ErrorCode } from './errors.ts';
import { requestScope, type Logger } from './logger.ts';

// GraphQL over WebSocket (the graphql-transport-ws protocol of graphql-ws) on a service's own
// HTTP server, at the same path as HTTP (/graphql). The gateway serves the supergraph's
// subscriptions with it; a subgraph serves its own Subscription fields with it (through
// startSubgraphServer's `subscriptions` option). What it adds to graphql-ws's makeServer, which
// has none of it (see /work/shared/NOTES.md):
//
// - Auth from the connection_init payload `{ authorization: "Bearer <token>" }`, checked by the
//   same verifier as HTTP. No token or a bad one: close 4403. The socket is closed with 4403 when
//   the token's `exp` passes; a client renews by reconnecting with a fresh token (graphql-ws's
//   client does that by itself when `connectionParams` is a function and retries are on).
// - Caps: connections per user (close 4429), operations per connection (an `error` message for
//   the excess subscribe), message size (ws `maxPayload`: close 1009), events buffered per
//   subscription (EventQueue: the oldest are dropped and counted), bytes waiting in the socket
//   (close 1013 beyond the limit).
// - Keep-alive: a ws ping every `keepAliveMs`; a socket that did not answer the previous one is
//   terminated.
// - Message hygiene: a message type only a server may send (next, error, connection_ack) closes
//   with 4400 like malformed JSON does, instead of graphql-ws's 4500 "internal error"; a handler
//   failure is logged and closes with 4500 without its message (no internals leak).
// - Validation of every operation (graphql-js rules plus the caller's, e.g. operation limits)
//   before anything runs, with errors in the protocol's `error` message; results and errors go
//   through the platform's error formatter (own codes pass, anything else is masked and logged).
//
// What an operation does is the caller's `run`: a subgraph executes its schema (see
// graphqlSubscriptionRunner below), the gateway plans and proxies to a subgraph.

/** Close codes a client can see (4400/4401/4406/4408/4409/4429 also come from graphql-ws itself). */
export const SocketCloseCode = {
  /** Server shutting down: reconnect (to another replica). */
  GoingAway: 1001,
  /** A message larger than the configured limit (closed by ws). */
  MessageTooBig: 1009,
  /** The token could not be verified right now (JWKS unreachable), or the client reads too slowly: reconnect later. */
  TryAgainLater: 1013,
  /** Malformed message, unknown type or a type only a server sends. */
  BadRequest: 4400,
  /** Subscribe before connection_ack. */
  Unauthorized: 4401,
  /** No, bad or expired token (also when it expires on an open socket, or a subgraph refuses it). */
  Forbidden: 4403,
  /** No connection_init within the timeout. */
  ConnectionInitialisationTimeout: 4408,
  /** An operation id that is already running on this connection. */
  SubscriberAlreadyExists: 4409,
  /** A second connection_init, or more connections for one user than allowed (the reason says which). */
  TooManyRequests: 4429,
  InternalServerError: 4500,
} as const;

export interface SubscriptionLimits {
  /** Operations one connection may run at once (subscriptions, plus queries still in flight). */
  maxOperationsPerConnection: number;
  /** Open, acknowledged connections of one user on this process. */
  maxConnectionsPerUser: number;
  /** Largest incoming message (ws maxPayload); larger ones close the socket with 1009. */
  maxMessageBytes: number;
  /** connection_init must arrive within this, else close 4408. */
  connectionInitTimeoutMs: number;
  /** A ws ping every this often; no pong by the next one terminates the socket. 0 disables. */
  keepAliveMs: number;
  /** Events one subscription may hold while its consumer is busy; beyond it the oldest is dropped. */
  eventBufferSize: number;
  /** Bytes accepted for sending but not yet written to the network; beyond it the socket is closed with 1013. */
  maxBufferedBytes: number;
}

export const defaultSubscriptionLimits: SubscriptionLimits = {
  maxOperationsPerConnection: 20,
  maxConnectionsPerUser: 5,
  maxMessageBytes: 64 * 1024,
  connectionInitTimeoutMs: 3_000,
  keepAliveMs: 12_000,
  eventBufferSize: 100,
  maxBufferedBytes: 4 * 1024 * 1024,
};

// ---------------------------------------------------------------------------------------------
// Pure parts (unit-tested): the per-subscription buffer, stream mapping, the per-user registry.

/**
 * A bounded, single-consumer async queue between an event source (Redis pub/sub, an upstream
 * subscription) and the socket. The consumer pulls one event at a time and only as fast as the
 * socket drains (graphql-ws awaits each send), so a slow consumer makes events wait here; when
 * `capacity` are waiting, the oldest is dropped and counted (takeDropped). Live events describe
 * "what is current now", so the newest ones are the ones worth keeping.
 *
 * end() and fail() let buffered events drain first; return() (the consumer is gone) discards them
 * at once, resolves a pending next() and calls `onClose`, even while a next() is waiting. That
 * is why this is a plain iterator and not an async generator: a generator's return() waits until
 * its pending await settles, which for a quiet channel may be never.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  readonly capacity: number;
  #buffer: T[] = [];
  #waiters: { resolve(result: IteratorResult<T>): void; reject(error: unknown): void }[] = [];
  #ended = false;
  #failure: { error: unknown } | null = null;
  #closed = false;
  #dropped = 0;
  #onClose: (() => void) | undefined;
  #onDrop: ((droppedSinceLastTake: number) => void) | undefined;

  constructor(options: { capacity: number; onClose?: () => void; onDrop?: (droppedSinceLastTake: number) => void }) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new RangeError(`EventQueue capacity must be a positive integer, got ${options.capacity}`);
    this.capacity = options.capacity;
    this.#onClose = options.onClose;
    this.#onDrop = options.onDrop;
  }

  /** Events waiting for the consumer. */
  get size(): number {
    return this.#buffer.length;
  }

  /** Whether push() still accepts events. */
  get open(): boolean {
    return !this.#closed && !this.#ended && this.#failure === null;
  }

  /** Adds an event; false when the queue no longer accepts any (ended, failed or returned). */
  push(value: T): boolean {
    if (!this.open) return false;
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.resolve({ done: false, value });
      return true;
    }
    if (this.#buffer.length >= this.capacity) {
      this.#buffer.shift();
      this.#dropped += 1;
      this.#onDrop?.(this.#dropped);
    }
    this.#buffer.push(value);
    return true;
  }

  /** The producer is done: the consumer gets what is buffered, then the end. */
  end(): void {
    if (!this.open) return;
    this.#ended = true;
    for (const waiter of this.#waiters.splice(0)) waiter.resolve({ done: true, value: undefined });
  }

  /** The producer failed: the consumer gets what is buffered, then this error (once), then the end. */
  fail(error: unknown): void {
    if (!this.open) return;
    this.#failure = { error };
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#failure = null;
      this.#ended = true;
      waiter.reject(error);
    }
    for (const other of this.#waiters.splice(0)) other.resolve({ done: true, value: undefined });
  }

  /** Events dropped since the last call (and resets the count). */
  takeDropped(): number {
    const dropped = this.#dropped;
    this.#dropped = 0;
    return dropped;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#buffer.length > 0) return Promise.resolve({ done: false, value: this.#buffer.shift() as T });
    if (this.#failure) {
      const { error } = this.#failure;
      this.#failure = null;
      this.#ended = true;
      return Promise.reject(error);
    }
    if (this.#closed || this.#ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** The consumer is gone: discard everything, wake a waiting next(), tell the producer (once). */
  return(): Promise<IteratorResult<T>> {
    if (!this.#closed) {
      this.#closed = true;
      this.#buffer = [];
      this.#failure = null;
      for (const waiter of this.#waiters.splice(0)) waiter.resolve({ done: true, value: undefined });
      const onClose = this.#onClose;
      this.#onClose = undefined;
      onClose?.();
    }
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * Maps each event of `source` with `map`, one at a time and in order (the next event is not
 * pulled before the previous one is mapped and delivered). return() reaches the source at once,
 * also while a map is in flight (its result is then discarded); a failing map or source ends the
 * source too, so nothing upstream is left subscribed.
 */
export function mapEventStream<T, R>(source: AsyncIterator<T>, map: (event: T) => Promise<R>): AsyncIterableIterator<R> & { return(): Promise<IteratorResult<R>> } {
  let finished = false;
  const done: IteratorResult<R> = { done: true, value: undefined };
  const finish = async (): Promise<void> => {
    if (finished) return;
    finished = true;
    await source.return?.();
  };
  return {
    async next(): Promise<IteratorResult<R>> {
      if (finished) return done;
      let item: IteratorResult<T>;
      let value: R;
      try {
        item = await source.next();
        if (item.done || finished) {
          await finish();
          return done;
        }
        value = await map(item.value);
      } catch (error) {
        await finish();
        throw error;
      }
      return finished ? done : { done: false, value };
    },
    async return(): Promise<IteratorResult<R>> {
      await finish();
      return done;
    },
    async throw(error?: unknown): Promise<IteratorResult<R>> {
      await finish();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** Counts each user's open connections on this process, for `maxConnectionsPerUser`. */
export class ConnectionRegistry {
  readonly maxPerUser: number;
  #byUser = new Map<string, Set<string>>();

  constructor(maxPerUser: number) {
    this.maxPerUser = maxPerUser;
  }

  /** Registers the connection; false (and nothing registered) when the user is at the limit. */
  tryAdd(userId: string, connectionId: string): boolean {
    const connections = this.#byUser.get(userId) ?? new Set<string>();
    if (connections.has(connectionId)) return true;
    if (connections.size >= this.maxPerUser) return false;
    connections.add(connectionId);
    this.#byUser.set(userId, connections);
    return true;
  }

  remove(userId: string, connectionId: string): void {
    const connections = this.#byUser.get(userId);
    if (!connections) return;
    connections.delete(connectionId);
    if (connections.size === 0) this.#byUser.delete(userId);
  }

  count(userId: string): number {
    return this.#byUser.get(userId)?.size ?? 0;
  }
}

/** Several errors ending one operation (e.g. an upstream subgraph's `error` message). */
export class OperationFailed extends Error {
  readonly errors: readonly GraphQLError[];
  constructor(errors: readonly GraphQLError[]) {
    super(errors[0]?.message ?? 'Operation failed');
    this.name = 'OperationFailed';
    this.errors = errors;
  }
}

/** The types a client may send (graphql-transport-ws); anything else closes with 4400. */
const clientMessageTypes = new Set(['connection_init', 'ping', 'pong', 'subscribe', 'complete']);

/** False only for a well-formed message of a type a client must never send. */
export function isAllowedClientMessage(text: string): boolean {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return true; // graphql-ws closes malformed JSON with 4400 itself
  }
  if (typeof message !== 'object' || message === null || !('type' in message) || typeof message.type !== 'string') return true;
  return clientMessageTypes.has(message.type);
}

/** A close reason must fit in 123 bytes (ws throws otherwise). */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= 123) return text;
  let cut = text.slice(0, 120);
  while (Buffer.byteLength(`${cut}...`) > 123) cut = cut.slice(0, -1);
  return `${cut}...`;
}

// Same rule as the x-request-id header (http-server.ts): a caller-supplied id is used only if it
// looks like one, so nobody can inject arbitrary text into log lines.
const requestIdPattern = /^[A-Za-z0-9._:-]{8,64}$/;

/** The request id a subscribe message carries in `extensions.requestId` (the gateway sends its own), if well-formed. */
export function requestIdFromExtensions(extensions: Record<string, unknown> | null | undefined): string | undefined {
  const candidate = extensions?.requestId;
  return typeof candidate === 'string' && requestIdPattern.test(candidate) ? candidate : undefined;
}

// ---------------------------------------------------------------------------------------------
// The server

/** One WebSocket connection, as `run` sees it. */
export interface SubscriptionConnection {
  readonly id: string;
  /** Set once connection_init was accepted (every operation runs after that). */
  readonly viewer: Viewer;
  /** The header value the client sent in connection_init (forwarded upstream by the gateway). */
  readonly authorization: string;
  readonly clientAddress: string;
  readonly logger: Logger;
  /** Closes the socket (e.g. 4403 when an upstream refused the token). */
  close(code: number, reason: string): void;
}

/** A parsed, validated operation with coerced variables. */
export interface ValidatedOperation {
  /** The client's operation id (unique on its connection). */
  id: string;
  requestId: string;
  query: string;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  operationName: string | undefined;
  /** As sent (forwarded as is, e.g. upstream); already checked against the variable definitions. */
  variables: Record<string, unknown>;
}

export type ResultStream = AsyncIterator<ExecutionResult | FormattedExecutionResult> & { return(): Promise<IteratorResult<unknown>> };

/** What `run` made of an operation: errors (sent as an `error` message), one result, or a stream. */
export type OperationOutcome =
  | { errors: readonly GraphQLError[] }
  | { result: ExecutionResult | FormattedExecutionResult }
  | { stream: ResultStream };

export interface SubscriptionServerOptions {
  httpServer: Server;
  /** Same as HTTP: /graphql. */
  path?: string;
  /** Operations are validated against it. */
  schema: GraphQLSchema;
  /** Added to graphql-js's specified rules (the gateway: operation limits). */
  validationRules?: readonly ValidationRule[];
  verifier: TokenVerifier;
  logger: Logger;
  limits?: Partial<SubscriptionLimits>;
  /**
   * Take the client address from x-forwarded-for (a subgraph behind the gateway); else the socket
   * peer (the gateway, where the header would be the client's own claim).
   */
  trustForwardedFor?: boolean;
  run(operation: ValidatedOperation, connection: SubscriptionConnection): Promise<OperationOutcome>;
}

export interface SubscriptionServer {
  /** Connections currently open (any state). */
  connectionCount(): number;
  /** Closes every socket with 1001 (clients reconnect elsewhere) and stops accepting new ones. */
  close(): Promise<void>;
}

/** What graphql-ws hands back to execute/subscribe: the operation `run` already prepared. */
interface PreparedOperation {
  requestId: string;
  outcome: { result: ExecutionResult | FormattedExecutionResult } | { stream: ResultStream };
}

interface ConnectionState {
  id: string;
  socket: WebSocket;
  clientAddress: string;
  logger: Logger;
  viewer: Viewer | null;
  authorization: string | null;
  expiryTimer: NodeJS.Timeout | undefined;
  /** operation id → request id, for log lines and error formatting of that operation */
  requestIds: Map<string, string>;
  close(code: number, reason: string): void;
}

const longestTimerMs = 2 ** 31 - 1;

function clientAddressOf(request: IncomingMessage, trustForwardedFor: boolean): string {
  if (trustForwardedFor) {
    const forwarded = request.headers['x-forwarded-for'];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return request.socket.remoteAddress ?? 'unknown';
}

function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function withCode(error: GraphQLError, code: string): GraphQLError {
  if (error.extensions.code) return error;
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, originalError: error.originalError, extensions: { ...error.extensions, code } });
}

export function startSubscriptionServer(options: SubscriptionServerOptions): SubscriptionServer {
  const limits: SubscriptionLimits = { ...defaultSubscriptionLimits, ...options.limits };
  const path = options.path ?? '/graphql';
  const logger = options.logger.child({ component: 'websocket' });
  const formatError = createErrorFormatter(options.logger);
  const rules = [...specifiedRules, ...(options.validationRules ?? [])];
  const registry = new ConnectionRegistry(limits.maxConnectionsPerUser);
  const { schema } = options;

  const formatErrors = (errors: readonly (GraphQLError | GraphQLFormattedError)[], requestId: string | undefined): GraphQLFormattedError[] =>
    requestScope.run({ requestId: requestId ?? randomUUID() }, () =>
      errors.map((error) => (error instanceof GraphQLError ? formatError(error.toJSON(), error) : error)),
    );

  const unwrap = (errors: readonly GraphQLError[]): GraphQLError[] =>
    errors.flatMap((error) => {
      // graphql-ws wraps what a stream threw into new GraphQLError(message, { originalError }).
      const original = error.originalError;
      if (original instanceof OperationFailed) return [...original.errors];
      if (original instanceof GraphQLError) return [original];
      return [error];
    });

  const server = makeServer<Record<string, unknown>, ConnectionState>({
    connectionInitWaitTimeout: limits.connectionInitTimeoutMs,

    onConnect: async (context) => {
      const connection = context.extra;
      const authorization = context.connectionParams?.authorization;
      if (typeof authorization !== 'string' || authorization.trim() === '') {
        connection.close(SocketCloseCode.Forbidden, 'Forbidden: send {"authorization": "Bearer <accessToken>"} in connection_init');
        return false;
      }
      let viewer: Viewer | null;
      try {
        viewer = await viewerFromAuthorization(authorization, options.verifier);
      } catch (error) {
        if (error instanceof GraphQLError) {
          connection.logger.info('websocket refused: bad access token', { reason: error.message });
          connection.close(SocketCloseCode.Forbidden, `Forbidden: ${error.message}`);
        } else {
          connection.logger.warn('could not verify an access token', { error: error instanceof Error ? error.message : String(error) });
          connection.close(SocketCloseCode.TryAgainLater, 'Token verification is unavailable; retry in a few seconds');
        }
        return false;
      }
      if (!viewer || connection.socket.readyState !== connection.socket.OPEN) return false;
      if (!registry.tryAdd(viewer.id, connection.id)) {
        connection.logger.info('websocket refused: too many connections for one user', { userId: viewer.id, limit: limits.maxConnectionsPerUser });
        connection.close(SocketCloseCode.TooManyRequests, `Too many connections for this user (limit ${limits.maxConnectionsPerUser})`);
        return false;
      }
      connection.viewer = viewer;
      connection.authorization = authorization;
      // The token's lifetime is the connection's: past `exp` nothing may be delivered on it.
      const expiresInMs = Math.min(longestTimerMs, Math.max(0, viewer.expiresAt * 1000 - Date.now()));
      connection.expiryTimer = setTimeout(() => {
        connection.logger.info('websocket closed: access token expired', { userId: viewer.id });
        connection.close(SocketCloseCode.Forbidden, 'Access token expired; reconnect with a fresh token');
      }, expiresInMs);
      connection.expiryTimer.unref();
      connection.logger.debug('websocket connected', { userId: viewer.id });
      return true;
    },

    onSubscribe: async (context, id, payload) => {
      const connection = context.extra;
      const requestId = requestIdFromExtensions(payload.extensions) ?? randomUUID();
      connection.requestIds.set(id, requestId);
      // graphql-ws has already reserved this id in context.subscriptions.
      if (Object.keys(context.subscriptions).length > limits.maxOperationsPerConnection) {
        return [
          new GraphQLError(`Too many operations on this connection (limit ${limits.maxOperationsPerConnection}); complete one first or open another connection`, {
            extensions: { code: ErrorCode.RateLimited, limit: 'operationsPerConnection' },
          }),
        ];
      }
      const viewer = connection.viewer;
      const authorization = connection.authorization;
      if (!viewer || authorization === null) return [new GraphQLError('Not connected', { extensions: { code: ErrorCode.Unauthenticated } })];
      return requestScope.run({ requestId }, async () => {
        let document: DocumentNode;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [withCode(error instanceof GraphQLError ? error : new GraphQLError('Syntax error'), 'GRAPHQL_PARSE_FAILED')];
        }
        const validationErrors = validate(schema, document, rules);
        if (validationErrors.length > 0) return validationErrors.map((error) => withCode(error, 'GRAPHQL_VALIDATION_FAILED'));
        const operationName = payload.operationName ?? undefined;
        const operation = getOperationAST(document, operationName);
        if (!operation) {
          return [
            new GraphQLError(operationName ? `Unknown operation named "${operationName}"` : 'Send operationName: the document holds several operations', {
              extensions: { code: 'OPERATION_RESOLUTION_FAILURE' },
            }),
          ];
        }
        const variables = payload.variables ?? {};
        const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables);
        if (coerced.errors) return coerced.errors.map((error) => withCode(error, ErrorCode.BadUserInput));
        const operationLogger = connection.logger.child({ requestId, operationId: id });
        let outcome: OperationOutcome;
        try {
          outcome = await options.run(
            { id, requestId, query: payload.query, document, operation, operationName, variables },
            { id: connection.id, viewer, authorization, clientAddress: connection.clientAddress, logger: operationLogger, close: connection.close },
          );
        } catch (error) {
          // One failing operation must not take the connection's others down: masked and logged
          // by the error formatter, sent as this operation's `error` message.
          return [new GraphQLError('operation failed', { originalError: error instanceof Error ? error : new Error(String(error)) })];
        }
        if ('errors' in outcome) return outcome.errors;
        const prepared: PreparedOperation = { requestId, outcome };
        const args: ExecutionArgs = { schema, document, operationName, variableValues: variables, contextValue: prepared };
        return args;
      });
    },

    // graphql-ws calls these with the args onSubscribe returned: the work was done by `run`.
    execute: (args) => preparedResult(args),
    subscribe: (args) => preparedResult(args),

    onNext: (context, id, _payload, _args, result) => {
      const { errors, ...rest } = result as ExecutionResult | FormattedExecutionResult;
      if (!errors || errors.length === 0) return rest as FormattedExecutionResult;
      return { ...rest, errors: formatErrors(errors, context.extra.requestIds.get(id)) } as FormattedExecutionResult;
    },
    onError: (context, id, _payload, errors) => {
      const requestId = context.extra.requestIds.get(id);
      context.extra.requestIds.delete(id);
      return formatErrors(unwrap(errors), requestId);
    },
    onComplete: (context, id) => {
      context.extra.requestIds.delete(id);
    },
  });

  function preparedResult(args: ExecutionArgs) {
    const prepared = args.contextValue as PreparedOperation;
    return ('stream' in prepared.outcome ? prepared.outcome.stream : prepared.outcome.result) as ExecutionResult | AsyncIterableIterator<ExecutionResult>;
  }

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxMessageBytes,
    // graphql-transport-ws only; a client offering nothing else gets no protocol and graphql-ws closes 4406.
    handleProtocols: (protocols) => handleProtocols(protocols),
    perMessageDeflate: false,
  });

  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    const connectionId = randomUUID();
    const connectionLogger = logger.child({ connectionId });
    const connection: ConnectionState = {
      id: connectionId,
      socket,
      clientAddress: clientAddressOf(request, options.trustForwardedFor ?? false),
      logger: connectionLogger,
      viewer: null,
      authorization: null,
      expiryTimer: undefined,
      requestIds: new Map(),
      close(code, reason) {
        if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(code, closeReason(reason));
      },
    };

    // ws closes the socket itself on protocol errors (oversized message: 1009, bad frames: 1002);
    // without a listener the 'error' event would crash the process.
    socket.on('error', (error) => connectionLogger.info('websocket error', { error: error.message }));

    let alive = true;
    socket.on('pong', () => {
      alive = true;
    });
    const heartbeat =
      limits.keepAliveMs > 0
        ? setInterval(() => {
            if (!alive) {
              connectionLogger.info('websocket terminated: no pong within the keep-alive interval');
              socket.terminate();
              return;
            }
            alive = false;
            socket.ping();
          }, limits.keepAliveMs)
        : undefined;
    heartbeat?.unref();

    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            // Sends are awaited (one message in flight per operation), so this only grows when the
            // client stops reading; past the limit it is not coming back soon.
            if (socket.bufferedAmount > limits.maxBufferedBytes) {
              connectionLogger.warn('websocket closed: client reads too slowly', { bufferedBytes: socket.bufferedAmount });
              connection.close(SocketCloseCode.TryAgainLater, 'Too slow reading messages; reconnect');
              return resolve();
            }
            // A failed send means the socket is going away; its close event cleans up.
            socket.send(data, () => resolve());
          }),
        close: (code, reason) => connection.close(code ?? 1000, reason ?? ''),
        onMessage: (handle) => {
          socket.on('message', (data: RawData, isBinary: boolean) => {
            const text = textOf(data);
            if (isBinary || !isAllowedClientMessage(text)) {
              connection.close(SocketCloseCode.BadRequest, 'Invalid message received');
              return;
            }
            handle(text).catch((error: unknown) => {
              connectionLogger.error('websocket message handling failed', { error });
              connection.close(SocketCloseCode.InternalServerError, 'Internal server error');
            });
          });
        },
      },
      connection,
    );

    socket.once('close', (code: number, reason: Buffer) => {
      clearInterval(heartbeat);
      clearTimeout(connection.expiryTimer);
      if (connection.viewer) registry.remove(connection.viewer.id, connection.id);
      connectionLogger.debug('websocket closed', { code, reason: reason.toString() });
      // Ends every operation of the connection (their streams' return() releases upstreams).
      closed(code, reason.toString()).catch((error: unknown) => connectionLogger.error('websocket clean-up failed', { error }));
    });
  });

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (pathname !== path) {
      // Another upgrade handler may own other paths; alone, answer instead of leaving the socket hanging.
      if (options.httpServer.listenerCount('upgrade') === 1) socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    socket.on('error', () => undefined);
    wss.handleUpgrade(request, socket, head, (webSocket) => wss.emit('connection', webSocket, request));
  };
  options.httpServer.on('upgrade', onUpgrade);
  logger.info('websocket endpoint ready', { path, protocol: 'graphql-transport-ws', limits });

  return {
    connectionCount: () => wss.clients.size,
    async close() {
      options.httpServer.off('upgrade', onUpgrade);
      const sockets = [...wss.clients];
      await Promise.all(
        sockets.map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (socket.readyState === socket.CLOSED) return resolve();
              const force = setTimeout(() => socket.terminate(), 2_000);
              socket.once('close', () => {
                clearTimeout(force);
                resolve();
              });
              socket.close(SocketCloseCode.GoingAway, 'Server shutting down');
            }),
        ),
      );
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The subgraph runner: graphql-js over the subgraph's own schema.

export interface GraphqlRunnerOptions<TContext> {
  schema: GraphQLSchema;
  /**
   * A fresh context per subscription set-up and per event, so per-request state such as
   * DataLoader caches never serves one event's data to the next.
   */
  createContext(connection: SubscriptionConnection, requestId: string): TContext | Promise<TContext>;
}

/**
 * Runs subscriptions like graphql-js `subscribe` (the field's `subscribe` resolver gives the
 * source stream; each event executes the operation with the event as root value), except that
 * each event gets a new context, and set-up errors are `error` messages, not a `next`.
 * Queries and mutations belong on HTTP POST (the gateway executes those itself).
 */
export function graphqlSubscriptionRunner<TContext>(options: GraphqlRunnerOptions<TContext>): SubscriptionServerOptions['run'] {
  const { schema } = options;
  return async (operation, connection) => {
    if (operation.operation.operation !== 'subscription') {
      return {
        errors: [
          new GraphQLError('This WebSocket endpoint serves subscriptions only; send queries and mutations over HTTP POST', {
            extensions: { code: 'BAD_REQUEST' },
          }),
        ],
      };
    }
    const base = { schema, document: operation.document, operationName: operation.operationName, variableValues: operation.variables };
    const source = await createSourceEventStream({ ...base, contextValue: await options.createContext(connection, operation.requestId) });
    if (!(Symbol.asyncIterator in source)) {
      return { errors: source.errors ?? [new GraphQLError('Subscription failed', { extensions: { code: ErrorCode.Internal } })] };
    }
    const iterator = source[Symbol.asyncIterator]();
    const stream = mapEventStream(iterator, async (event) =>
      requestScope.run({ requestId: operation.requestId }, async () =>
        execute({ ...base, rootValue: event, contextValue: await options.createContext(connection, operation.requestId) }),
      ),
    );
    return { stream };
  };
}
