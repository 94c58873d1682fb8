import { describe, expect, it } from 'vitest';
import { composeSupergraph, readCommittedSupergraph } from '../../scripts/lib/compose.ts';
import { readSupergraphConfig } from '../../scripts/lib/platform.ts';

describe('supergraph composition', () => {
  const outcome = composeSupergraph();

  it('composes without hints (each hint is a smell such as an inconsistent shared type)', () => {
    expect(outcome.hints).toEqual([]);
  });

  it('matches the committed schema/supergraph.graphql (run `npm run compose` when this fails)', () => {
    expect(readCommittedSupergraph()).toBe(outcome.supergraphSdl);
  });

  it('lists the five subgraphs on distinct ports', () => {
    const { subgraphs } = readSupergraphConfig();
    expect(subgraphs.map((s) => s.name).sort()).toEqual(['analytics', 'movies', 'recommendations', 'reviews', 'users']);
    expect(new Set(subgraphs.map((s) => s.port)).size).toBe(subgraphs.length);
  });
});
