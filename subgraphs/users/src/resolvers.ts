import { randomUUID } from 'node:crypto';
import {
  badInput,
  DateTimeScalar,
  platformError,
  ErrorCode,
  type RequestContext,
} from '@platform/shared';
import type { UserRow, UsersData } from './data.ts';
import type { UsersLoaders } from './loaders.ts';
import { hashPassword, spendVerificationTime, verifyPassword } from './passwords.ts';
import { newRefreshToken, signAccessToken, type AccessTokenSettings, type SigningKeys } from './tokens.ts';

export interface UsersContext extends RequestContext {
  data: UsersData;
  loaders: UsersLoaders;
  tokens: { keys: SigningKeys; settings: AccessTokenSettings; refreshTtlSeconds: number };
}

const usernamePattern = /^[A-Za-z0-9_.-]{3,32}$/;

function validateUsername(username: string): string {
  if (!usernamePattern.test(username)) {
    throw badInput('username', 'must be 3-32 characters of letters, digits, "_", "." or "-"');
  }
  return username;
}

function validatePassword(password: string): string {
  if (password.length < 8) throw badInput('password', 'must be at least 8 characters');
  if (password.length > 128) throw badInput('password', 'must be at most 128 characters');
  return password;
}

function validateDisplayName(displayName: string | null | undefined): string | null {
  if (displayName === null || displayName === undefined) return null;
  const trimmed = displayName.trim();
  if (trimmed.length === 0) return null;
  if (trimmed.length > 64) throw badInput('displayName', 'must be at most 64 characters');
  return trimmed;
}

async function issueTokens(context: UsersContext, user: UserRow) {
  const { keys, settings, refreshTtlSeconds } = context.tokens;
  const accessToken = await signAccessToken(keys, settings, { id: user.id, role: user.role });
  const refresh = newRefreshToken();
  await context.data.storeRefreshToken({
    tokenHash: refresh.hash,
    familyId: randomUUID(),
    userId: user.id,
    expiresAt: new Date(Date.now() + refreshTtlSeconds * 1000),
  });
  return { accessToken, refreshToken: refresh.token, expiresIn: settings.ttlSeconds, user };
}

const wrongCredentials = () => platformError(ErrorCode.Unauthenticated, 'Wrong username or password');

export const resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    me: (_: unknown, __: unknown, context: UsersContext) =>
      context.viewer ? context.loaders.userById.load(context.viewer.id) : null,
    user: (_: unknown, args: { id: string }, context: UsersContext) => context.loaders.userById.load(args.id),
  },
  Mutation: {
    register: async (
      _: unknown,
      args: { username: string; password: string; displayName?: string | null },
      context: UsersContext,
    ) => {
      const username = validateUsername(args.username);
      const password = validatePassword(args.password);
      const displayName = validateDisplayName(args.displayName);
      const user = await context.data.create({ username, passwordHash: await hashPassword(password), displayName });
      if (!user) throw badInput('username', `"${username}" is taken; choose another`);
      context.logger.info('user registered', { userId: user.id });
      return issueTokens(context, user);
    },
    login: async (_: unknown, args: { username: string; password: string }, context: UsersContext) => {
      const user = usernamePattern.test(args.username) ? await context.data.byUsername(args.username) : undefined;
      if (!user?.passwordHash) {
        await spendVerificationTime(args.password);
        throw wrongCredentials();
      }
      if (!(await verifyPassword(user.passwordHash, args.password))) throw wrongCredentials();
      return issueTokens(context, user);
    },
  },
  User: {
    __resolveReference: (reference: { id: string }, context: UsersContext) => context.loaders.userById.load(reference.id),
  },
};
