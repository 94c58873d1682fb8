import { readFileSync } from 'node:fs';
import { parse, type DocumentNode } from 'graphql';

/** Reads a subgraph's `schema.graphql` that sits beside the module asking for it. */
export function loadTypeDefs(moduleUrl: string, fileName = 'schema.graphql'): DocumentNode {
  return parse(readFileSync(new URL(fileName, moduleUrl), 'utf8'));
}
