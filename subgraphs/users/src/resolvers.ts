import { randomUUID } from 'node:crypto';
import {
  badInput,
  DateTimeScalar,
  forbidden,
  notFound,
  platformError,
  requireViewer,
  ErrorCode,
  type RequestContext,
} from '@platform/shared';
import { isUuid } from '@platform/shared/ids';
import type { Role, UserRow, UsersData } from './data.ts';
import { usernamePattern, validateDisplayName, validateFavoriteGenres, validatePassword, validateUsername } from './input.ts';
import type { UsersLoaders } from './loaders.ts';
import { oidcNotConfigured, type OidcVerifier } from './oidc.ts';
import { hashPassword, spendVerificationTime, verifyPassword } from './passwords.ts';
import { throttleAddress, type LoginThrottle } from './throttle.ts';
import { hashRefreshToken, newRefreshToken, signAccessToken, type AccessTokenSettings, type SigningKeys } from './tokens.ts';

export interface UsersContext extends RequestContext {
  data: UsersData;
  loaders: UsersLoaders;
  tokens: { keys: SigningKeys; settings: AccessTokenSettings; refreshTtlSeconds: number };
  throttle: LoginThrottle;
  /** null when OIDC login is not configured */
  oidc: OidcVerifier | null;
}

const refreshExpiry = (context: UsersContext) => new Date(Date.now() + context.tokens.refreshTtlSeconds * 1000);

/** Always signs with the role in the database now, so role changes reach every token issued afterwards. */
async function authPayload(context: UsersContext, user: UserRow, refreshToken: string) {
  const { keys, settings } = context.tokens;
  const accessToken = await signAccessToken(keys, settings, { id: user.id, role: user.role });
  return { accessToken, refreshToken, expiresIn: settings.ttlSeconds, user };
}

/** A new sign-in: a new refresh-token family. */
async function issueTokens(context: UsersContext, user: UserRow) {
  const refresh = newRefreshToken();
  await context.data.storeRefreshToken({ tokenHash: refresh.hash, familyId: randomUUID(), userId: user.id, expiresAt: refreshExpiry(context) });
  return authPayload(context, user, refresh.token);
}

const wrongCredentials = () => platformError(ErrorCode.Unauthenticated, 'Wrong username or password');

const refreshRejections = {
  unknown: 'Refresh token is not valid; sign in again',
  expired: 'Refresh token expired; sign in again',
  revoked: 'Refresh token was revoked (signed out); sign in again',
  reused:
    'Refresh token was already used once, so every session of that sign-in has been revoked to protect the account; sign in again',
} as const;

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
      const password = validatePassword(args.password, username);
      const displayName = validateDisplayName(args.displayName);
      const user = await context.data.create({ username, passwordHash: await hashPassword(password), displayName });
      if (!user) throw badInput('username', `"${username}" is taken; choose another`);
      context.logger.info('user registered', { userId: user.id });
      return issueTokens(context, user);
    },

    login: async (_: unknown, args: { username: string; password: string }, context: UsersContext) => {
      const wellFormed = usernamePattern.test(args.username);
      const attempt = { username: wellFormed ? args.username.toLowerCase() : null, address: throttleAddress(context.clientAddress) };
      // Before any password work: a throttled guess costs no argon2 time and learns nothing.
      await context.throttle.begin(attempt);
      const user = wellFormed ? await context.data.byUsername(args.username) : undefined;
      if (!user?.passwordHash) {
        await spendVerificationTime(args.password);
        throw wrongCredentials();
      }
      if (!(await verifyPassword(user.passwordHash, args.password))) throw wrongCredentials();
      await context.throttle.succeeded(attempt);
      return issueTokens(context, user);
    },

    loginWithOidc: async (_: unknown, args: { idToken: string }, context: UsersContext) => {
      if (!context.oidc) throw oidcNotConfigured();
      const identity = await context.oidc.verify(args.idToken);
      const { user, created } = await context.data.signInWithIdentity(identity);
      if (created) context.logger.info('user registered through OIDC', { userId: user.id, issuer: identity.issuer });
      return issueTokens(context, user);
    },

    refreshToken: async (_: unknown, args: { refreshToken: string }, context: UsersContext) => {
      const successor = newRefreshToken();
      const result = await context.data.rotateRefreshToken(hashRefreshToken(args.refreshToken), {
        tokenHash: successor.hash,
        expiresAt: refreshExpiry(context),
      });
      if (result.outcome !== 'rotated') {
        if (result.outcome === 'reused') context.logger.warn('refresh token reused; its family was revoked');
        throw platformError(ErrorCode.Unauthenticated, refreshRejections[result.outcome], { reason: `REFRESH_TOKEN_${result.outcome.toUpperCase()}` });
      }
      return authPayload(context, result.user, successor.token);
    },

    // True whatever the token was, so the answer reveals nothing about it.
    logout: async (_: unknown, args: { refreshToken: string }, context: UsersContext) => {
      await context.data.revokeFamilyOf(hashRefreshToken(args.refreshToken));
      return true;
    },

    // @signedIn. An argument left out keeps its field as it is; displayName null (or blank)
    // clears the display name, favoriteGenres [] clears the genres.
    updateProfile: async (
      _: unknown,
      args: { displayName?: string | null; favoriteGenres?: string[] | null },
      context: UsersContext,
    ) => {
      const viewer = requireViewer(context);
      const changes: { displayName?: string | null; favoriteGenres?: string[] } = {};
      if ('displayName' in args) changes.displayName = validateDisplayName(args.displayName);
      if (args.favoriteGenres !== undefined && args.favoriteGenres !== null) changes.favoriteGenres = validateFavoriteGenres(args.favoriteGenres);
      if (Object.keys(changes).length === 0) {
        const current = await context.loaders.userById.load(viewer.id);
        if (!current) throw notFound('User', viewer.id);
        return current;
      }
      const user = await context.data.updateProfile(viewer.id, changes);
      if (!user) throw notFound('User', viewer.id);
      return user;
    },

    // @admin. Takes effect in tokens issued afterwards (login, refreshToken); tokens already
    // issued keep their role until they expire (ACCESS_TOKEN_TTL_SECONDS).
    setUserRole: async (_: unknown, args: { userId: string; role: Role }, context: UsersContext) => {
      const viewer = requireViewer(context);
      if (!isUuid(args.userId)) throw notFound('User', args.userId);
      const result = await context.data.changeRole(viewer.id, args.userId, args.role);
      switch (result.outcome) {
        case 'changed':
          context.logger.info('user role changed', { userId: args.userId, role: args.role, by: viewer.id });
          return result.user;
        case 'not-found':
          throw notFound('User', args.userId);
        case 'caller-not-admin':
          throw forbidden('Your admin role has been removed; sign in again');
        case 'last-admin':
          throw platformError(
            ErrorCode.Conflict,
            'This is the last admin: the platform would be left without one. Make another user ADMIN first, then change this role',
            { reason: 'LAST_ADMIN' },
          );
      }
    },
  },
  User: {
    __resolveReference: (reference: { id: string }, context: UsersContext) => context.loaders.userById.load(reference.id),
  },
};
