import DataLoader from 'dataloader';
import type { UserRow, UsersData } from './data.ts';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUserId = (id: string): boolean => uuidPattern.test(id);

/** Per-request loaders: every User reference in one request costs one query in total. */
export function createUsersLoaders(data: UsersData) {
  return {
    userById: new DataLoader<string, UserRow | null>(async (ids) => {
      const rows = await data.byIds(ids.filter(isUserId));
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}

export type UsersLoaders = ReturnType<typeof createUsersLoaders>;
