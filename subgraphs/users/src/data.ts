import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Database } from '@platform/shared';
import { refreshTokens, users } from './tables.ts';

export type UserRow = typeof users.$inferSelect;

export function createUsersData(db: Database) {
  return {
    async byIds(ids: readonly string[]): Promise<UserRow[]> {
      if (ids.length === 0) return [];
      return db.select().from(users).where(inArray(users.id, [...ids]));
    },

    async byUsername(username: string): Promise<UserRow | undefined> {
      const [row] = await db
        .select()
        .from(users)
        .where(sql`lower(${users.username}) = lower(${username})`);
      return row;
    },

    /** Returns undefined when the username is taken (case-insensitively). */
    async create(input: { username: string; passwordHash: string | null; displayName: string | null }): Promise<UserRow | undefined> {
      const [row] = await db
        .insert(users)
        .values(input)
        .onConflictDoNothing()
        .returning();
      return row;
    },

    async setRole(username: string, role: 'USER' | 'ADMIN'): Promise<UserRow | undefined> {
      const [row] = await db
        .update(users)
        .set({ role, updatedAt: new Date() })
        .where(sql`lower(${users.username}) = lower(${username})`)
        .returning();
      return row;
    },

    async storeRefreshToken(input: { tokenHash: string; familyId: string; userId: string; expiresAt: Date }): Promise<void> {
      await db.insert(refreshTokens).values(input);
    },

    async revokeFamily(familyId: string): Promise<void> {
      await db
        .update(refreshTokens)
        .set({ revokedAt: new Date() })
        .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)));
    },
  };
}

export type UsersData = ReturnType<typeof createUsersData>;
