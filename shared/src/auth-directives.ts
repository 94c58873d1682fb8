import { defaultFieldResolver, GraphQLObjectType, type GraphQLFieldResolver, type GraphQLSchema, type ConstDirectiveNode } from 'graphql';
import { requireAdmin, requireSelfOrAdmin, requireViewer, type ViewerContext } from './auth.ts';

// Authorization is declared once, in each subgraph's schema, next to the field it protects:
//
//   directive @signedIn on FIELD_DEFINITION | OBJECT
//   directive @admin on FIELD_DEFINITION | OBJECT
//   directive @selfOrAdmin(owner: String = "id") on FIELD_DEFINITION
//
//   type User @key(fields: "id") { reactions: ReactionConnection! @selfOrAdmin }
//   type Analytics @admin { totals: Totals! }
//
// and enforced here by wrapping the field's resolver, so it holds on every path that reaches the
// field: a root query, an alias, a nested path, or an `_entities` call sent straight to the
// subgraph. These directives are not composed into the supergraph: they are the subgraph's own.
// `@selfOrAdmin` compares the viewer with the parent object's `owner` property (the entity id).

export const authDirectiveDefinitions = `
directive @signedIn on FIELD_DEFINITION | OBJECT
directive @admin on FIELD_DEFINITION | OBJECT
directive @selfOrAdmin(owner: String = "id") on FIELD_DEFINITION
`;

type Guard = (parent: unknown, context: ViewerContext) => void;

function ownerArgument(directive: ConstDirectiveNode): string {
  const argument = directive.arguments?.find((candidate) => candidate.name.value === 'owner');
  return argument?.value.kind === 'StringValue' ? argument.value.value : 'id';
}

function guardOf(directives: readonly ConstDirectiveNode[], where: string): Guard | null {
  const guards: Guard[] = [];
  for (const directive of directives) {
    const name = directive.name.value;
    if (name === 'signedIn') guards.push((_parent, context) => requireViewer(context));
    else if (name === 'admin') guards.push((_parent, context) => requireAdmin(context));
    else if (name === 'selfOrAdmin') {
      const owner = ownerArgument(directive);
      guards.push((parent, context) => {
        const ownerId = (parent as Record<string, unknown> | null)?.[owner];
        if (typeof ownerId !== 'string') throw new Error(`@selfOrAdmin on ${where}: the parent has no string "${owner}"`);
        requireSelfOrAdmin(context, ownerId, `this user's ${where.split('.')[1] ?? 'data'}`);
      });
    }
  }
  if (guards.length === 0) return null;
  return (parent, context) => {
    for (const guard of guards) guard(parent, context);
  };
}

/** Wraps every field carrying an auth directive (or inside a type that carries one). */
export function applyAuthDirectives(schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!(type instanceof GraphQLObjectType) || type.name.startsWith('__')) continue;
    const typeDirectives = [type.astNode, ...(type.extensionASTNodes ?? [])].flatMap((node) => node?.directives ?? []);
    for (const field of Object.values(type.getFields())) {
      const where = `${type.name}.${field.name}`;
      const guard = guardOf([...typeDirectives, ...(field.astNode?.directives ?? [])], where);
      if (!guard) continue;
      const resolve: GraphQLFieldResolver<unknown, ViewerContext> = field.resolve ?? defaultFieldResolver;
      field.resolve = (parent, args, context: ViewerContext, info) => {
        guard(parent, context);
        return resolve(parent, args, context, info);
      };
    }
  }
  return schema;
}
