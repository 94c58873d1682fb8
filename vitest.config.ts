import { defineConfig } from 'vitest/config';

// Three tiers, as vitest projects: `unit` does no I/O; `integration` talks to real PostgreSQL,
// Redis and Neo4j (started by the global setup when none is configured) with unique ids per test;
// `e2e` starts the whole supergraph on free ports. Run one tier with `vitest run --project <name>`.
export default defineConfig({
  test: {
    reporters: process.env.CI ? ['default'] : ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['**/test/unit/**/*.test.ts'],
          exclude: ['**/node_modules/**', '.tools/**'],
          environment: 'node',
        },
      },
      {
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
