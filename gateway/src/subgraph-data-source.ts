import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { GraphQLError } from 'graphql';
import { requestIdHeader, serviceUnavailable } from '@platform/shared';
import type { GatewayContext } from './context.ts';

/**
 * Calls one subgraph over HTTP: forwards the caller's Authorization header (every subgraph
 * verifies it again) and the request id, and bounds each call by a timeout so a hung subgraph
 * cannot hang the gateway. A failed call becomes SERVICE_UNAVAILABLE naming the subgraph instead
 * of a network error that would leak internal URLs.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  readonly serviceName: string;
  readonly timeoutMs: number;

  constructor(options: { name: string; url: string; timeoutMs: number }) {
    super({ url: options.url });
    this.serviceName = options.name;
    this.timeoutMs = options.timeoutMs;
    // Node's fetch keeps connections alive by default; the signal bounds the whole exchange.
    this.fetcher = (url, init) => fetch(url, { ...init, signal: AbortSignal.timeout(this.timeoutMs) } as RequestInit) as never;
  }

  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const headers = request.http?.headers;
    if (!headers) return;
    if (context.authorization) headers.set('authorization', context.authorization);
    if (context.requestId) headers.set(requestIdHeader, context.requestId);
    // Set, not appended: a client-supplied x-forwarded-for never reaches the subgraphs.
    if (context.clientAddress) headers.set('x-forwarded-for', context.clientAddress);
  }

  /** A non-2xx answer: keep the subgraph's own error (it is already masked there), drop its URL. */
  override async errorFromResponse(response: Parameters<RemoteGraphQLDataSource['errorFromResponse']>[0]): Promise<GraphQLError> {
    const body: unknown = await response.json().catch(() => null);
    const first = (body as { errors?: { message?: unknown; extensions?: { code?: unknown } }[] } | null)?.errors?.[0];
    if (typeof first?.message === 'string' && typeof first.extensions?.code === 'string') {
      return new GraphQLError(first.message, { extensions: { code: first.extensions.code, serviceName: this.serviceName } });
    }
    return serviceUnavailable(`The ${this.serviceName} service (HTTP ${response.status})`);
  }

  override didEncounterError(error: Error): never {
    if (error instanceof GraphQLError) throw error;
    const timedOut = error.name === 'TimeoutError' || error.name === 'AbortError';
    throw serviceUnavailable(
      timedOut ? `The ${this.serviceName} service (no answer within ${this.timeoutMs} ms)` : `The ${this.serviceName} service`,
    );
  }
}
