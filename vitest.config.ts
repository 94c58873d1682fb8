import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

// Three tiers, as vitest projects: `unit` does no I/O; `integration` talks to real PostgreSQL,
// Redis and Neo4j (started by the global setup when none is configured) with unique ids per test;
// `e2e` starts the whole supergraph on free ports. Run one tier with `vitest run --project <name>`.
export default defineConfig({
  // graphql ships CJS and ESM builds; Node (and so Apollo's packages) loads the CJS one while vite
  // would pick the ESM one for our sources: two GraphQLError classes break `instanceof`. Pin one.
  resolve: { alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }] },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['**/test/unit/**/*.test.ts'],
          exclude: ['**/node_modules/**', '.tools/**'],
          environment: 'node',
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['**/test/integration/**/*.test.ts'],
          exclude: ['**/node_modules/**', '.tools/**'],
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 240_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
