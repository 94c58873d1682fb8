import { buildSubgraphSchema } from '@apollo/subgraph';
import { graphql, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { applyAuthDirectives, authDirectiveDefinitions } from '../../src/auth-directives.ts';
import type { Viewer } from '../../src/auth.ts';

const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  ${authDirectiveDefinitions}
  type User @key(fields: "id") {
    id: ID!
    name: String!
    secrets: [String!]! @selfOrAdmin
  }
  type Stats @admin { total: Int! }
  type Query {
    user(id: ID!): User
    stats: Stats
    whoami: String @signedIn
  }
`);
const resolvers = {
  Query: {
    user: (_: unknown, { id }: { id: string }) => ({ id, name: `name-${id}`, secrets: [`secret-${id}`] }),
    stats: () => ({ total: 7 }),
    whoami: (_: unknown, __: unknown, context: { viewer: Viewer | null }) => context.viewer?.id,
  },
  User: { __resolveReference: ({ id }: { id: string }) => ({ id, name: `name-${id}`, secrets: [`secret-${id}`] }) },
};
const schema = applyAuthDirectives(buildSubgraphSchema([{ typeDefs, resolvers }]));
const viewer = (id: string, role: 'USER' | 'ADMIN' = 'USER'): Viewer => ({ id, role, expiresAt: 0 });
const run = (source: string, who: Viewer | null) => graphql({ schema, source, contextValue: { viewer: who } });
const codes = (result: Awaited<ReturnType<typeof run>>) => result.errors?.map((error) => error.extensions.code) ?? [];

describe('auth directives', () => {
  it('lets owners and admins read @selfOrAdmin fields', async () => {
    expect((await run('{ user(id: "a") { secrets } }', viewer('a'))).data).toEqual({ user: { secrets: ['secret-a'] } });
    expect((await run('{ user(id: "a") { secrets } }', viewer('z', 'ADMIN'))).errors).toBeUndefined();
  });

  it('refuses other users and anonymous callers, also through aliases and _entities', async () => {
    expect(codes(await run('{ user(id: "a") { name secrets } }', viewer('b')))).toEqual(['FORBIDDEN']);
    expect(codes(await run('{ mine: user(id: "b") { secrets } theirs: user(id: "a") { secrets } }', viewer('b')))).toEqual(['FORBIDDEN']);
    expect(codes(await run('{ user(id: "a") { secrets } }', null))).toEqual(['UNAUTHENTICATED']);
    const entities = await run('{ _entities(representations: [{ __typename: "User", id: "a" }]) { ... on User { secrets } } }', viewer('b'));
    expect(codes(entities)).toEqual(['FORBIDDEN']);
    expect(JSON.stringify(entities.data)).not.toContain('secret-a');
  });

  it('applies a type-level @admin to every field of the type', async () => {
    expect(codes(await run('{ stats { total } }', viewer('u')))).toEqual(['FORBIDDEN']);
    expect((await run('{ stats { total } }', viewer('u', 'ADMIN'))).data).toEqual({ stats: { total: 7 } });
  });

  it('requires a signed-in viewer for @signedIn', async () => {
    expect(codes(await run('{ whoami }', null))).toEqual(['UNAUTHENTICATED']);
    expect((await run('{ whoami }', viewer('u'))).data).toEqual({ whoami: 'u' });
  });
});
