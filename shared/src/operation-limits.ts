import {
  GraphQLError,
  Kind,
  type ASTVisitor,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
} from 'graphql';

// Cheap static limits checked before any planning or execution, so one crafted document cannot
// make the gateway fan out thousands of subgraph calls (deep nesting, or one field aliased
// hundreds of times: aliases also multiply per-field rate limits).

export interface OperationLimits {
  maxDepth: number;
  maxAliases: number;
}

export const defaultOperationLimits: OperationLimits = { maxDepth: 12, maxAliases: 40 };

interface Measure {
  depth: number;
  aliases: number;
}

function measure(
  selectionSet: SelectionSetNode,
  fragments: Map<string, FragmentDefinitionNode>,
  visiting: Set<string>,
): Measure {
  let depth = 0;
  let aliases = 0;
  for (const selection of selectionSet.selections) {
    let inner: Measure = { depth: 0, aliases: 0 };
    if (selection.kind === Kind.FIELD) {
      if (selection.alias) aliases += 1;
      if (selection.selectionSet) inner = measure(selection.selectionSet, fragments, visiting);
      depth = Math.max(depth, 1 + inner.depth);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      inner = measure(selection.selectionSet, fragments, visiting);
      depth = Math.max(depth, inner.depth);
    } else {
      const fragment = fragments.get(selection.name.value);
      // A cycle is reported by graphql-js's own NoFragmentCycles rule; do not loop on it here.
      if (!fragment || visiting.has(fragment.name.value)) continue;
      visiting.add(fragment.name.value);
      inner = measure(fragment.selectionSet, fragments, visiting);
      visiting.delete(fragment.name.value);
      depth = Math.max(depth, inner.depth);
    }
    aliases += inner.aliases;
  }
  return { depth, aliases };
}

export function operationLimitsRule(limits: OperationLimits = defaultOperationLimits) {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of context.getDocument().definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    }
    return {
      OperationDefinition(operation) {
        const { depth, aliases } = measure(operation.selectionSet, fragments, new Set());
        if (depth > limits.maxDepth) {
          context.reportError(
            new GraphQLError(`Operation is ${depth} levels deep; the limit is ${limits.maxDepth}. Split it into smaller queries.`, {
              nodes: [operation],
              extensions: { code: 'GRAPHQL_VALIDATION_FAILED', limit: 'depth' },
            }),
          );
        }
        if (aliases > limits.maxAliases) {
          context.reportError(
            new GraphQLError(`Operation uses ${aliases} aliases; the limit is ${limits.maxAliases}. Use variables or several requests.`, {
              nodes: [operation],
              extensions: { code: 'GRAPHQL_VALIDATION_FAILED', limit: 'aliases' },
            }),
          );
        }
      },
    };
  };
}
