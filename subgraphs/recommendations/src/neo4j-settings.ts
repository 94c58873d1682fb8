import type { EnvReader, Neo4jSettings } from '@platform/shared';

// Read by the subgraph and by `npm run graph:rebuild` alike, so both accept the same addresses.
// Kept apart from index.ts so the rebuild command does not load the GraphQL server.

export const neo4jProtocols = ['bolt:', 'neo4j:', 'bolt+s:', 'neo4j+s:', 'bolt+ssc:', 'neo4j+ssc:'];

/** NEO4J_URI (required), NEO4J_USER (default neo4j), NEO4J_PASSWORD (required). */
export function readNeo4jSettings(read: EnvReader): Neo4jSettings {
  return {
    uri: read.url('NEO4J_URI', neo4jProtocols),
    user: read.string('NEO4J_USER', 'neo4j'),
    password: read.string('NEO4J_PASSWORD'),
  };
}
