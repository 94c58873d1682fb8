import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { LruCache, repoRoot } from '@platform/shared';
import { planCacheKey } from '../../src/subscriptions/plan-cache.ts';
import { createSubscriptionPlanner, subscriptionEventService } from '../../src/subscriptions/planner.ts';

// Subscription planning over the committed supergraph: the plan's shape, and its cache keying.

const supergraphSdl = readFileSync(join(repoRoot, 'schema', 'supergraph.graphql'), 'utf8');

describe('plan cache key', () => {
  it('is the same for the same text and operation name', () => {
    expect(planCacheKey('subscription { a }', 'A')).toBe(planCacheKey('subscription { a }', 'A'));
  });

  it('differs by operation name, by text, and between no name and an empty one', () => {
    const keys = new Set([
      planCacheKey('subscription A { a } subscription B { b }', 'A'),
      planCacheKey('subscription A { a } subscription B { b }', 'B'),
      planCacheKey('subscription A { a } subscription B { b }', undefined),
      planCacheKey('subscription A { a } subscription B { b }', ''),
      planCacheKey('subscription A { a }  subscription B { b }', 'A'),
    ]);
    expect(keys.size).toBe(5);
    expect(planCacheKey('q', null)).toBe(planCacheKey('q', undefined));
  });

  it('cannot be forged by moving text between the query and the name', () => {
    expect(planCacheKey('ab', 'c')).not.toBe(planCacheKey('a', 'bc'));
  });
});

describe('LruCache', () => {
  it('evicts the least recently used entry', () => {
    const cache = new LruCache<number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1); // a is now the most recent
    cache.set('c', 3);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
    expect(cache.size).toBe(2);
  });
});

describe('subscription planner', () => {
  const planner = createSubscriptionPlanner(supergraphSdl, { cacheSize: 10 });
  const query = `subscription Updates($n: Int) {
    recommendationsUpdated(first: $n) { reason recommendations { score movie { title averageRating } } }
  }`;

  it('plans the owning subgraph as primary and the other subgraphs as rest', () => {
    const plan = planner.plan(parse(query), query, 'Updates');
    expect(plan.primary.serviceName).toBe('recommendations');
    expect(plan.primary.operationKind).toBe('subscription');
    expect(plan.primary.variableUsages).toEqual(['n']);
    // The primary asks for the keys other subgraphs need, not their fields.
    expect(plan.primary.operation).toContain('movie{__typename id}');
    expect(plan.primary.operation).not.toContain('title');
    const restServices = JSON.stringify(plan.rest).match(/"serviceName":"(\w+)"/g);
    expect(restServices?.sort()).toEqual(['"serviceName":"movies"', '"serviceName":"reviews"']);
    // Per event: the event's data stands in for the primary fetch, then the rest runs.
    expect(plan.perEvent.node).toMatchObject({ kind: 'Sequence', nodes: [{ kind: 'Fetch', serviceName: subscriptionEventService }, plan.rest] });
  });

  it('needs no rest when the owner resolves every field', () => {
    const own = 'subscription { notifications { id kind message } }';
    const plan = planner.plan(parse(own), own, undefined);
    expect(plan.rest).toBeUndefined();
    expect(plan.perEvent.node).toMatchObject({ kind: 'Fetch', serviceName: subscriptionEventService });
  });

  it('caches by text and operation name', () => {
    const before = planner.cachedPlans();
    const first = planner.plan(parse(query), query, 'Updates');
    expect(planner.plan(parse(query), query, 'Updates')).toBe(first);
    expect(planner.cachedPlans()).toBe(before);
    const twoOperations = `${query} subscription Notes { notifications { id } }`;
    const notes = planner.plan(parse(twoOperations), twoOperations, 'Notes');
    expect(notes.primary.operation).toContain('notifications');
    expect(planner.plan(parse(twoOperations), twoOperations, 'Updates').primary.operation).toContain('recommendationsUpdated');
  });
});
