import DataLoader from 'dataloader';
import { isUuid } from '@platform/shared/ids';
import type { UserRow, UsersData } from './data.ts';

/** Per-request loaders: every User reference in one request costs one query in total. */
export function createUsersLoaders(data: UsersData) {
  return {
    userById: new DataLoader<string, UserRow | null>(async (ids) => {
      const rows = await data.byIds(ids.filter(isUuid));
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}

export type UsersLoaders = ReturnType<typeof createUsersLoaders>;
