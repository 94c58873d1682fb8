import neo4j, { type Driver } from 'neo4j-driver';

export interface Neo4jSettings {
  uri: string;
  user: string;
  password: string;
}

export function connectNeo4j(settings: Neo4jSettings): Driver {
  return neo4j.driver(settings.uri, neo4j.auth.basic(settings.user, settings.password), {
    maxConnectionPoolSize: 50,
    connectionAcquisitionTimeout: 10_000,
    // Plain JS numbers for integers: our ids and counts stay far below 2^53.
    disableLosslessIntegers: true,
  });
}

export type { Driver };
