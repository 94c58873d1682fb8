import { sql } from 'drizzle-orm';
import { check, index, pgSchema, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { outboxTable } from '@platform/shared/outbox';

export const usersSchema = pgSchema('users');

export const users = usersSchema.table(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    username: text('username').notNull(),
    displayName: text('display_name'),
    role: text('role', { enum: ['USER', 'ADMIN'] }).notNull().default('USER'),
    favoriteGenres: text('favorite_genres').array().notNull().default(sql`'{}'::text[]`),
    // Null for accounts that only ever sign in through an external identity provider.
    passwordHash: text('password_hash'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    // Usernames are unique regardless of case, so "Alice" cannot impersonate "alice".
    uniqueIndex('users_username_lower_key').on(sql`lower(${table.username})`),
    check('users_role_check', sql`${table.role} in ('USER', 'ADMIN')`),
  ],
);

// Opaque refresh tokens, stored only as SHA-256 hashes. Tokens of one sign-in form a family:
// each use rotates the token, and reusing an already-rotated one revokes the whole family.
export const refreshTokens = usersSchema.table(
  'refresh_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    familyId: uuid('family_id').notNull(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    rotatedAt: timestamp('rotated_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // Logout and reuse detection revoke a whole family at once; without this they scan the table.
  (table) => [index('refresh_tokens_family_id_idx').on(table.familyId)],
);

// Accounts at external OpenID Connect providers, linked by (issuer, subject): the only pair an
// issuer guarantees to be stable and unique. Email is kept for display only and never used to
// link, since another issuer (or an unverified address) could claim the same email.
export const identities = usersSchema.table(
  'identities',
  {
    issuer: text('issuer').notNull(),
    subject: text('subject').notNull(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    email: text('email'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastSignInAt: timestamp('last_sign_in_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.issuer, table.subject] }), index('identities_user_id_idx').on(table.userId)],
);

// user.registered and user.profile-updated, committed in the same transaction as the write that
// causes them; the relay in this process copies them to the `events:users` stream (see
// shared/src/outbox.ts).
export const outbox = outboxTable(usersSchema);
