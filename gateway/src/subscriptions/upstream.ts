import type { GraphQLFormattedError } from 'graphql';
import type { FormattedExecutionResult, SubscribePayload } from 'graphql-ws';
import { WebSocket, type RawData } from 'ws';
import type { Logger } from '@platform/shared';

// The gateway's side of its subgraphs' graphql-ws endpoints: a small pool of shared
// ("multiplexed") sockets per subgraph that carries every user's subscriptions to it.
//
// Why shared sockets: with one socket per (subgraph, access token), N client connections cost 2N
// sockets (and their buffers, timers and keep-alives) on the gateway, and N on the subgraph. The
// token used to travel in connection_init; on a shared socket it travels with each operation
// instead: connection_init `{ multiplexed: true }`, every subscribe `extensions: { authorization,
// requestId }`. The subgraph verifies each operation's token itself, as for HTTP, and runs the
// operation as that user (shared/src/subscription-server.ts, `allowMultiplexedConnections`), so
// nothing is trusted because it came from the gateway.
//
// Placement: the first open (or opening) socket with room takes a new subscription; another
// socket is opened only when all are full (`operationsPerSocket`), up to `socketsPerSubgraph`.
// Filling one socket first keeps the count at one for most loads (memory, keep-alives), while the
// per-socket cap bounds what one socket failure ends; with every socket full a subscription fails
// with SERVICE_UNAVAILABLE instead of opening more (a bounded pool; both settings are WS_UPSTREAM_*).
// A socket without subscriptions is closed after `idleTimeoutMs`, so a burst of reconnecting
// clients finds it still open instead of paying a handshake each.
//
// No retries: a socket that closes or cannot be reached ends exactly the subscriptions it carried
// (SERVICE_UNAVAILABLE for the clients), and each client decides whether to subscribe again.
// The protocol is spoken here rather than through graphql-ws's client because what the pool
// needs is a different contract: which socket an operation is on, how full each socket is, and
// one socket's failure ending its operations only, without the client's lazy reconnects.

/** How an upstream subscription ended other than by completing. */
export type UpstreamFailure =
  /** The subgraph answered the subscribe with an `error` message (validation, arguments, ...). */
  | { kind: 'rejected'; errors: readonly GraphQLFormattedError[] }
  /**
   * Ended by the subgraph: code 4403 means it refused or expired this subscription's token (an
   * UNAUTHENTICATED `error` for the operation on a shared socket), so the client's connection,
   * which uses the same token, ends too; any other code is the socket closing.
   */
  | { kind: 'closed'; code: number; reason: string }
  /** It could not be reached, the shared socket was refused, or the pool is full. */
  | { kind: 'unreachable'; message: string };

export interface UpstreamSink {
  next(result: FormattedExecutionResult): void;
  error(failure: UpstreamFailure): void;
  complete(): void;
}

export interface UpstreamTarget {
  serviceName: string;
  /** The subgraph's HTTP URL (…/graphql); the socket goes to the same URL with ws: / wss:. */
  url: string;
}

export interface UpstreamPool {
  /**
   * Starts one upstream subscription as the user of `authorization` (sent with the operation);
   * the returned function ends it (idempotent).
   */
  subscribe(target: UpstreamTarget, authorization: string, request: SubscribePayload, sink: UpstreamSink): () => void;
  /** Upstream sockets currently held, opening or open (tests, diagnostics). */
  openConnections(): number;
  close(): Promise<void>;
}

export interface UpstreamSettings {
  /** Sockets per subgraph at most (WS_UPSTREAM_SOCKETS_PER_SUBGRAPH). */
  socketsPerSubgraph: number;
  /**
   * Subscriptions one socket carries at most (WS_UPSTREAM_OPERATIONS_PER_SOCKET); keep it at or
   * below the subgraph's maxOperationsPerConnection, or the excess is refused by the subgraph.
   */
  operationsPerSocket: number;
  /** A socket without subscriptions is closed after this long; 0 closes it with its last one (WS_UPSTREAM_IDLE_CLOSE_MS). */
  idleTimeoutMs: number;
}

export const defaultUpstreamSettings: UpstreamSettings = {
  socketsPerSubgraph: 4,
  operationsPerSocket: 5_000,
  idleTimeoutMs: 30_000,
};

export function webSocketUrlOf(httpUrl: string): string {
  const url = new URL(httpUrl);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  return url.toString();
}

const forbiddenCloseCode = 4403;

/**
 * An operation's `error` message on a shared socket. Only errors that are all UNAUTHENTICATED
 * mean "this token" (the gateway verified it a moment ago, so the subgraph saw it expire or did
 * not accept its key): reported like the 4403 close a per-token socket used to get, so the client's
 * connection, which holds the same token, is closed for a reconnect with a fresh one.
 */
export function operationFailureOf(errors: readonly GraphQLFormattedError[]): UpstreamFailure {
  if (errors.length > 0 && errors.every((error) => error.extensions?.code === 'UNAUTHENTICATED')) {
    return { kind: 'closed', code: forbiddenCloseCode, reason: errors[0]!.message };
  }
  return { kind: 'rejected', errors };
}

/**
 * How the end of a shared socket reaches the subscriptions it carried. A 4403 there is no user's
 * token (none travels in its connection_init): the subgraph refused the multiplexed connection
 * itself (e.g. it does not allow them), which must not close every client as if their tokens
 * were bad.
 */
export function socketFailureOf(code: number, reason: string, acknowledged: boolean, connectError: string | undefined): UpstreamFailure {
  if (!acknowledged) return { kind: 'unreachable', message: connectError ?? `closed with ${code} before connection_ack${reason ? `: ${reason}` : ''}` };
  if (code === forbiddenCloseCode) return { kind: 'unreachable', message: `the subgraph refused the shared socket (${code} ${reason})` };
  return { kind: 'closed', code, reason };
}

/**
 * A ws WebSocket that pings the subgraph every `keepAliveMs` and terminates the socket when the
 * previous ping got no pong: a hung subgraph (or a dead network path) then ends the subscriptions
 * it carried instead of leaving them silent forever.
 */
function heartbeatWebSocket(keepAliveMs: number, handshakeTimeoutMs: number) {
  return class HeartbeatWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, { handshakeTimeout: handshakeTimeoutMs, perMessageDeflate: false });
      let alive = true;
      let timer: NodeJS.Timeout | undefined;
      this.on('open', () => {
        timer = setInterval(() => {
          if (!alive) {
            this.terminate();
            return;
          }
          alive = false;
          this.ping();
        }, keepAliveMs);
        timer.unref();
      });
      this.on('pong', () => {
        alive = true;
      });
      this.on('close', () => clearInterval(timer));
    }
  };
}

type SocketClass = ReturnType<typeof heartbeatWebSocket>;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

interface SocketOptions {
  target: UpstreamTarget;
  socketClass: SocketClass;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  log: Logger;
  /** Called once, when the socket is no longer usable (the pool forgets it). */
  onEnd(socket: SharedSocket): void;
}

/** One shared upstream socket: graphql-transport-ws as a client, operations dispatched by id. */
class SharedSocket {
  readonly #options: SocketOptions;
  readonly #ws: WebSocket;
  readonly #operations = new Map<string, UpstreamSink>();
  /** subscribe messages waiting for connection_ack, by operation id */
  #pending = new Map<string, string>();
  #acknowledged = false;
  #ended = false;
  #nextId = 0;
  #connectError: string | undefined;
  #ackTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(options: SocketOptions) {
    this.#options = options;
    this.#ws = new options.socketClass(webSocketUrlOf(options.target.url), 'graphql-transport-ws');
    this.#ws.on('open', () => {
      this.#send({ type: 'connection_init', payload: { multiplexed: true } });
      this.#ackTimer = setTimeout(() => {
        this.#connectError = `no connection_ack within ${options.handshakeTimeoutMs} ms`;
        this.#ws.terminate();
      }, options.handshakeTimeoutMs);
      this.#ackTimer.unref();
    });
    this.#ws.on('message', (data: RawData, isBinary: boolean) => this.#receive(isBinary ? null : textOf(data)));
    // Followed by 'close'; without a listener an error would crash the process.
    this.#ws.on('error', (error: Error) => {
      this.#connectError ??= error.message;
    });
    this.#ws.on('close', (code: number, reason: Buffer) => {
      const failure = socketFailureOf(code, reason.toString(), this.#acknowledged, this.#connectError);
      if (this.#operations.size > 0) options.log.warn('upstream socket lost', { subgraph: options.target.serviceName, subscriptions: this.#operations.size, failure });
      else if (code !== 1000 && code !== 1001) options.log.info('upstream socket closed', { subgraph: options.target.serviceName, failure });
      this.#end(failure);
    });
  }

  /** Subscriptions it carries. */
  get size(): number {
    return this.#operations.size;
  }

  subscribe(request: SubscribePayload, authorization: string, sink: UpstreamSink): () => void {
    this.#nextId += 1;
    const id = String(this.#nextId);
    this.#operations.set(id, sink);
    clearTimeout(this.#idleTimer);
    const message = JSON.stringify({ id, type: 'subscribe', payload: { ...request, extensions: { ...request.extensions, authorization } } });
    if (this.#acknowledged) this.#sendText(message);
    else this.#pending.set(id, message);
    return () => {
      // Already ended (completed, failed, or the socket went away): nothing to tell the subgraph.
      if (this.#operations.get(id) !== sink) return;
      this.#operations.delete(id);
      // Never sent: the subgraph does not know it.
      if (!this.#pending.delete(id)) this.#send({ id, type: 'complete' });
      this.#idleCheck();
    };
  }

  /** Closes the socket; what it still carries ends with `failure`. */
  shutdown(failure: UpstreamFailure): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      if (this.#ws.readyState === WebSocket.CLOSED) return resolve();
      this.#ws.once('close', () => resolve());
    });
    this.#end(failure);
    const force = setTimeout(() => this.#ws.terminate(), 2_000);
    force.unref();
    return closed.finally(() => clearTimeout(force));
  }

  #receive(text: string | null): void {
    let message: unknown;
    try {
      message = text === null ? null : JSON.parse(text);
    } catch {
      message = null;
    }
    if (!isRecord(message) || typeof message.type !== 'string') return this.#protocolError('a malformed message');
    const id = typeof message.id === 'string' ? message.id : undefined;
    switch (message.type) {
      case 'connection_ack':
        if (this.#acknowledged) return;
        this.#acknowledged = true;
        clearTimeout(this.#ackTimer);
        for (const pending of this.#pending.values()) this.#sendText(pending);
        this.#pending.clear();
        return;
      case 'ping':
        this.#send({ type: 'pong' });
        return;
      case 'pong':
        return;
      case 'next': {
        const sink = id === undefined ? undefined : this.#operations.get(id);
        if (!isRecord(message.payload)) return this.#protocolError('a next message without a result');
        // An operation completed here may still have a message in flight: dropped.
        if (sink) this.#deliver(() => sink.next(message.payload as FormattedExecutionResult));
        return;
      }
      case 'error': {
        const payload = message.payload;
        if (!Array.isArray(payload) || !payload.every((error) => isRecord(error) && typeof error.message === 'string')) return this.#protocolError('an error message without errors');
        const sink = this.#take(id);
        if (sink) this.#deliver(() => sink.error(operationFailureOf(payload as GraphQLFormattedError[])));
        return;
      }
      case 'complete': {
        const sink = this.#take(id);
        if (sink) this.#deliver(() => sink.complete());
        return;
      }
      default:
        return this.#protocolError(`a message of type ${JSON.stringify(message.type).slice(0, 40)}`);
    }
  }

  /** Removes an operation the subgraph ended. */
  #take(id: string | undefined): UpstreamSink | undefined {
    if (id === undefined) return undefined;
    const sink = this.#operations.get(id);
    if (!sink) return undefined;
    this.#operations.delete(id);
    this.#idleCheck();
    return sink;
  }

  /** One subscription's handler failing must not reach the socket's other subscriptions. */
  #deliver(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.#options.log.error('upstream event handler failed', { subgraph: this.#options.target.serviceName, error });
    }
  }

  #protocolError(what: string): void {
    this.#options.log.warn('upstream socket closed: protocol violation', { subgraph: this.#options.target.serviceName, received: what });
    this.#end({ kind: 'closed', code: 4400, reason: `received ${what}` });
  }

  #idleCheck(): void {
    if (this.#operations.size > 0 || this.#ended) return;
    clearTimeout(this.#idleTimer);
    if (this.#options.idleTimeoutMs === 0) {
      this.#end({ kind: 'closed', code: 1000, reason: 'idle' });
      return;
    }
    this.#idleTimer = setTimeout(() => {
      if (this.#operations.size === 0) this.#end({ kind: 'closed', code: 1000, reason: 'idle' });
    }, this.#options.idleTimeoutMs);
    this.#idleTimer.unref();
  }

  /** No longer usable: the pool forgets it, its subscriptions end with `failure`, the socket closes. */
  #end(failure: UpstreamFailure): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#ackTimer);
    clearTimeout(this.#idleTimer);
    this.#options.onEnd(this);
    const sinks = [...this.#operations.values()];
    this.#operations.clear();
    this.#pending.clear();
    for (const sink of sinks) this.#deliver(() => sink.error(failure));
    const protocolViolation = failure.kind === 'closed' && failure.code === 4400;
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(protocolViolation ? 4400 : 1000, protocolViolation ? 'Invalid message received' : 'Normal Closure');
    else if (this.#ws.readyState === WebSocket.CONNECTING) this.#ws.terminate();
  }

  #send(message: Record<string, unknown>): void {
    this.#sendText(JSON.stringify(message));
  }

  #sendText(text: string): void {
    // A socket that is going away fails its subscriptions through its close event.
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(text);
  }
}

export function createUpstreamPool(options: { logger: Logger; keepAliveMs: number; handshakeTimeoutMs?: number } & Partial<UpstreamSettings>): UpstreamPool {
  const settings: UpstreamSettings = {
    socketsPerSubgraph: options.socketsPerSubgraph ?? defaultUpstreamSettings.socketsPerSubgraph,
    operationsPerSocket: options.operationsPerSocket ?? defaultUpstreamSettings.operationsPerSocket,
    idleTimeoutMs: options.idleTimeoutMs ?? defaultUpstreamSettings.idleTimeoutMs,
  };
  const log = options.logger.child({ component: 'upstream-subscriptions' });
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 5_000;
  const socketClass = heartbeatWebSocket(Math.max(1_000, options.keepAliveMs), handshakeTimeoutMs);
  /** By subgraph (name and URL), in opening order: the first with room is filled first. */
  const pools = new Map<string, SharedSocket[]>();
  let closed = false;
  let lastFullWarning = 0;

  const fail = (sink: UpstreamSink, failure: UpstreamFailure): (() => void) => {
    // Asynchronously, as any other failure: the caller has not got its unsubscribe function yet.
    queueMicrotask(() => sink.error(failure));
    return () => undefined;
  };

  return {
    subscribe(target, authorization, request, sink) {
      if (closed) return fail(sink, { kind: 'unreachable', message: 'the gateway is shutting down' });
      const key = `${target.serviceName}\u0000${target.url}`;
      const sockets = pools.get(key) ?? [];
      let socket = sockets.find((candidate) => candidate.size < settings.operationsPerSocket);
      if (!socket) {
        if (sockets.length >= settings.socketsPerSubgraph) {
          if (Date.now() - lastFullWarning > 10_000) {
            lastFullWarning = Date.now();
            log.warn('upstream sockets full: subscription refused (raise WS_UPSTREAM_SOCKETS_PER_SUBGRAPH or WS_UPSTREAM_OPERATIONS_PER_SOCKET)', { subgraph: target.serviceName, ...settings });
          }
          return fail(sink, { kind: 'unreachable', message: 'every upstream socket is full' });
        }
        const created = new SharedSocket({
          target,
          socketClass,
          handshakeTimeoutMs,
          idleTimeoutMs: settings.idleTimeoutMs,
          log,
          onEnd: (ended) => {
            const list = pools.get(key);
            const at = list?.indexOf(ended) ?? -1;
            if (!list || at < 0) return;
            list.splice(at, 1);
            if (list.length === 0) pools.delete(key);
          },
        });
        sockets.push(created);
        pools.set(key, sockets);
        socket = created;
      }
      return socket.subscribe(request, authorization, sink);
    },
    openConnections: () => {
      let count = 0;
      for (const sockets of pools.values()) count += sockets.length;
      return count;
    },
    async close() {
      closed = true;
      const sockets = [...pools.values()].flat();
      pools.clear();
      await Promise.all(sockets.map((socket) => socket.shutdown({ kind: 'closed', code: 1001, reason: 'gateway shutting down' })));
    },
  };
}
