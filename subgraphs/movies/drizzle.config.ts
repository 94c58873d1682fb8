import { defineConfig } from 'drizzle-kit';

// `npx drizzle-kit generate --config subgraphs/movies/drizzle.config.ts` writes a new migration after a
// change to tables.ts; migrations are applied by `npm run migrate` (and by `npm start`).
export default defineConfig({
  dialect: 'postgresql',
  schema: './subgraphs/movies/src/tables.ts',
  out: './subgraphs/movies/drizzle',
  schemaFilter: ['movies'],
});
