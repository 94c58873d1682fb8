import { operationFromDocument, Supergraph, type Schema } from '@apollo/federation-internals';
import { QueryPlanner, type FetchNode, type PlanNode, type QueryPlan } from '@apollo/query-planner';
import type { DocumentNode, GraphQLSchema } from 'graphql';
import { LruCache } from '@platform/shared';
import { planCacheKey } from './plan-cache.ts';

// Plans subscriptions over the same static supergraph the gateway serves. @apollo/gateway plans
// them too but refuses to execute them, and keeps its planner private, so this module builds its
// own QueryPlanner from the same SDL (a few tens of milliseconds at start, once).
//
// A subscription's plan root is a SubscriptionNode { primary, rest }: `primary` is the fetch the
// owning subgraph runs as a subscription (its events carry the fields that subgraph resolves plus
// the keys of entities other subgraphs complete), `rest` is an ordinary plan that completes one
// event's data with entity fetches to the other subgraphs.

/** The name of the stand-in service that "fetches" an event's data (see subscription-events.ts). */
export const subscriptionEventService = '__subscription_event__';

export interface SubscriptionPlan {
  /** The owning subgraph's subscription: sent upstream as is. */
  primary: FetchNode;
  /** Completes one event across the other subgraphs (absent when the owner resolves everything). */
  rest: PlanNode | undefined;
  /**
   * What executeQueryPlan runs per event: `primary` re-targeted at the stand-in service (which
   * answers with the event's data), then `rest`. Going through the whole executor (not only
   * `rest`) also shapes the event to exactly the client's selection (aliases, no planner keys).
   */
  perEvent: QueryPlan;
}

export interface SubscriptionPlanner {
  /** The API schema (graphql-js) clients' operations are validated against. */
  readonly apiSchema: GraphQLSchema;
  /** The API schema in federation-internals' form, which executeQueryPlan needs. */
  readonly apiSchemaInternal: Schema;
  /** The supergraph schema (graphql-js), which executeQueryPlan needs for entity rewrites. */
  readonly supergraphSchema: GraphQLSchema;
  /**
   * The plan of a validated subscription operation, cached by (query text, operation name).
   * Throws when the planner fails (a bug or an unsupported construct; the caller masks it).
   */
  plan(document: DocumentNode, query: string, operationName: string | undefined): SubscriptionPlan;
  /** Plans held in the cache (tests, diagnostics). */
  cachedPlans(): number;
}

/** Splits a planner result into the parts the subscription pipeline uses. */
export function toSubscriptionPlan(queryPlan: QueryPlan): SubscriptionPlan {
  const root = queryPlan.node;
  if (root?.kind !== 'Subscription') throw new Error(`expected a Subscription plan root, got ${root?.kind ?? 'none'}`);
  const eventFetch: FetchNode = { ...root.primary, serviceName: subscriptionEventService };
  return {
    primary: root.primary,
    rest: root.rest,
    perEvent: { kind: 'QueryPlan', node: root.rest ? { kind: 'Sequence', nodes: [eventFetch, root.rest] } : eventFetch },
  };
}

export function createSubscriptionPlanner(supergraphSdl: string, options: { cacheSize?: number } = {}): SubscriptionPlanner {
  const supergraph = Supergraph.build(supergraphSdl);
  const apiSchemaInternal = supergraph.apiSchema();
  const planner = new QueryPlanner(supergraph);
  const cache = new LruCache<SubscriptionPlan>(options.cacheSize ?? 500);
  return {
    apiSchema: apiSchemaInternal.toGraphQLJSSchema(),
    apiSchemaInternal,
    supergraphSchema: supergraph.schema.toGraphQLJSSchema(),
    plan(document, query, operationName) {
      const key = planCacheKey(query, operationName);
      const cached = cache.get(key);
      if (cached) return cached;
      // Planning is synchronous and can take ~100 ms for a large operation: the cache matters.
      const operation = operationFromDocument(apiSchemaInternal, document, operationName ? { operationName } : {});
      const plan = toSubscriptionPlan(planner.buildQueryPlan(operation));
      cache.set(key, plan);
      return plan;
    },
    cachedPlans: () => cache.size,
  };
}
