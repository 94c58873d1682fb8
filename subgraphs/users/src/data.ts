import { randomBytes } from 'node:crypto';
import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import { appendEvents, createEvent, type Database } from '@platform/shared';
import { usernameMaxLength } from './input.ts';
import { identities, outbox, refreshTokens, users } from './tables.ts';

export type UserRow = typeof users.$inferSelect;
export type Role = UserRow['role'];

type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];
/** The database or a transaction on it. */
type Queryable = Database | Transaction;

/** What became of a refresh token presented for rotation. */
export type RotationOutcome =
  | { outcome: 'rotated'; user: UserRow }
  | { outcome: 'unknown' }
  | { outcome: 'expired' }
  | { outcome: 'revoked' }
  /** it had been rotated before: presented twice, so its whole family was revoked just now */
  | { outcome: 'reused' };

export type RoleChangeOutcome =
  | { outcome: 'changed'; user: UserRow }
  | { outcome: 'not-found' }
  /** the caller's token says ADMIN, but the database no longer does */
  | { outcome: 'caller-not-admin' }
  | { outcome: 'last-admin' };

/**
 * user.registered for a row just inserted, appended inside the inserting transaction, so the
 * account and its event commit (or roll back) together. `at` is the row's created_at: the time
 * the analytics backfill uses for a registration, so the event and a rebuild agree.
 */
function appendRegistered(tx: Queryable, user: UserRow): Promise<void> {
  return appendEvents(tx, outbox, 'users', [
    createEvent('users', 'user.registered', { userId: user.id, username: user.username, at: user.createdAt.toISOString() }),
  ]);
}

const sameGenres = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((genre, index) => genre === b[index]);

function revokeFamilyIn(db: Queryable, familyId: string, at: Date) {
  return db
    .update(refreshTokens)
    .set({ revokedAt: at })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)));
}

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

    /**
     * Creates an account with its user.registered event in one transaction. Returns undefined
     * (and writes nothing, no event) when the username is taken (case-insensitively).
     */
    async create(input: { username: string; passwordHash: string | null; displayName: string | null }): Promise<UserRow | undefined> {
      return db.transaction(async (tx) => {
        const [row] = await tx.insert(users).values(input).onConflictDoNothing().returning();
        if (row) await appendRegistered(tx, row);
        return row;
      });
    },

    /**
     * Changes only what is given; undefined when the account no longer exists. When the stored
     * favourite genres change, user.profile-updated is appended in the same transaction (the
     * genres are what consumers keep; a display-name change alone tells them nothing). The row is
     * locked while its old genres are read, so two concurrent updates each compare against the
     * value the other committed and their events arrive in commit order.
     */
    async updateProfile(userId: string, changes: { displayName?: string | null; favoriteGenres?: string[] }): Promise<UserRow | undefined> {
      return db.transaction(async (tx) => {
        const [before] = await tx.select({ favoriteGenres: users.favoriteGenres }).from(users).where(eq(users.id, userId)).for('update');
        if (!before) return undefined;
        const [row] = await tx
          .update(users)
          .set({ ...changes, updatedAt: new Date() })
          .where(eq(users.id, userId))
          .returning();
        if (row && !sameGenres(before.favoriteGenres, row.favoriteGenres)) {
          await appendEvents(tx, outbox, 'users', [
            createEvent('users', 'user.profile-updated', { userId: row.id, favoriteGenres: row.favoriteGenres, at: row.updatedAt.toISOString() }),
          ]);
        }
        return row;
      });
    },

    /**
     * Sets a user's role unless that would leave the platform without an admin. The admin rows
     * are locked first, so two admins demoting each other at the same moment are serialised and
     * the second one sees that only one admin is left.
     */
    async changeRole(callerId: string, targetId: string, role: Role): Promise<RoleChangeOutcome> {
      return db.transaction(async (tx) => {
        const admins = await tx.select({ id: users.id }).from(users).where(eq(users.role, 'ADMIN')).for('update');
        if (!admins.some((admin) => admin.id === callerId)) return { outcome: 'caller-not-admin' };
        if (role !== 'ADMIN' && admins.length === 1 && admins[0]?.id === targetId) return { outcome: 'last-admin' };
        const [user] = await tx.update(users).set({ role, updatedAt: new Date() }).where(eq(users.id, targetId)).returning();
        return user ? { outcome: 'changed', user } : { outcome: 'not-found' };
      });
    },

    async storeRefreshToken(input: { tokenHash: string; familyId: string; userId: string; expiresAt: Date }): Promise<void> {
      await db.insert(refreshTokens).values(input);
    },

    /**
     * Exchanges one refresh token for its successor in the same family, in one transaction. The
     * presented token's row is locked (SELECT ... FOR UPDATE): a concurrent exchange of the same
     * token waits, then finds it rotated and is treated as reuse, so at most one can succeed.
     */
    async rotateRefreshToken(presentedHash: string, successor: { tokenHash: string; expiresAt: Date }): Promise<RotationOutcome> {
      return db.transaction(async (tx): Promise<RotationOutcome> => {
        const now = new Date();
        const [token] = await tx.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, presentedHash)).for('update');
        if (!token) return { outcome: 'unknown' };
        if (token.revokedAt) return { outcome: 'revoked' };
        if (token.rotatedAt) {
          // Someone presented a token that was already exchanged: the token leaked, and either
          // the thief or the user holds the current one. Revoke them all; both must sign in again.
          await revokeFamilyIn(tx, token.familyId, now);
          return { outcome: 'reused' };
        }
        if (token.expiresAt <= now) return { outcome: 'expired' };
        const [user] = await tx.select().from(users).where(eq(users.id, token.userId));
        if (!user) return { outcome: 'unknown' };
        await tx.update(refreshTokens).set({ rotatedAt: now }).where(eq(refreshTokens.tokenHash, presentedHash));
        await tx.insert(refreshTokens).values({ ...successor, familyId: token.familyId, userId: token.userId });
        return { outcome: 'rotated', user };
      });
    },

    /** Revokes every token of the presented token's family; nothing happens for an unknown token. */
    async revokeFamilyOf(tokenHash: string): Promise<void> {
      const family = db.select({ familyId: refreshTokens.familyId }).from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash));
      await db
        .update(refreshTokens)
        .set({ revokedAt: new Date() })
        .where(and(inArray(refreshTokens.familyId, family), isNull(refreshTokens.revokedAt)));
    },

    /**
     * The account linked to an external identity, linking a new account on first sign-in. A
     * transaction-scoped advisory lock on (issuer, subject) makes two simultaneous first sign-ins
     * of one person create one account, not two.
     */
    async signInWithIdentity(identity: {
      issuer: string;
      subject: string;
      email: string | null;
      usernameHint: string;
      displayName: string | null;
    }): Promise<{ user: UserRow; created: boolean }> {
      return db.transaction(async (tx) => {
        await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`oidc\n${identity.issuer}\n${identity.subject}`}, 0))`);
        const [linked] = await tx
          .select({ user: users })
          .from(identities)
          .innerJoin(users, eq(users.id, identities.userId))
          .where(and(eq(identities.issuer, identity.issuer), eq(identities.subject, identity.subject)));
        if (linked) {
          await tx
            .update(identities)
            .set({ lastSignInAt: new Date(), email: identity.email })
            .where(and(eq(identities.issuer, identity.issuer), eq(identities.subject, identity.subject)));
          return { user: linked.user, created: false };
        }
        let user: UserRow | undefined;
        for (const username of usernameCandidates(identity.usernameHint)) {
          // ON CONFLICT DO NOTHING leaves the transaction usable after a taken name.
          [user] = await tx.insert(users).values({ username, passwordHash: null, displayName: identity.displayName }).onConflictDoNothing().returning();
          if (user) break;
        }
        if (!user) throw new Error(`no free username derived from "${identity.usernameHint}"`);
        await appendRegistered(tx, user);
        await tx.insert(identities).values({ issuer: identity.issuer, subject: identity.subject, userId: user.id, email: identity.email });
        return { user, created: true };
      });
    },
  };
}

/**
 * The hint itself, then the hint with a short random suffix a few times, then with a long one
 * (practically always free): one insert per candidate, rarely more than one.
 */
function* usernameCandidates(base: string): Generator<string> {
  yield base;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    yield `${base.slice(0, usernameMaxLength - 5)}_${String(1000 + (randomBytes(2).readUInt16BE() % 9000))}`;
  }
  yield `${base.slice(0, usernameMaxLength - 9)}_${randomBytes(4).toString('hex')}`;
}

export type UsersData = ReturnType<typeof createUsersData>;
