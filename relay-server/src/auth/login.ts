import { ApiError } from '../errors.ts';
import { audit } from '../db/audit.ts';
import { findUserByName, type UserRow } from '../db/users.ts';
import type { AuthDeps } from './deps.ts';
import { createRateLimiter, type RateLimiter } from './rate-limit.ts';
import { SemaphoreFullError } from './semaphore.ts';

/**
 * Password login. Limits are checked BEFORE any hashing (a flood costs map lookups, not scrypt):
 * every attempt counts against the address, failures count against the username (so one account
 * cannot be brute-forced from many addresses). An unknown username still pays for a dummy hash,
 * so timing does not reveal which usernames exist.
 */

export const LOGIN_WINDOW_MS = 15 * 60 * 1000;
export const LOGIN_ATTEMPTS_PER_ADDRESS = 10;
export const LOGIN_FAILURES_PER_USERNAME = 5;

export interface PasswordCheck {
  /** the user, or throws 401 invalid_credentials / 429 rate_limited */
  check(username: string, password: string, address: string): Promise<UserRow>;
  /** re-check a signed-in user's current password (password change), counted as a login failure when wrong */
  checkCurrent(user: UserRow, password: string, address: string): Promise<void>;
}

export function createPasswordCheck(deps: AuthDeps): PasswordCheck {
  const perAddress: RateLimiter = createRateLimiter({
    limit: LOGIN_ATTEMPTS_PER_ADDRESS,
    windowMs: LOGIN_WINDOW_MS,
    now: deps.now,
  });
  const perUsername: RateLimiter = createRateLimiter({
    limit: LOGIN_FAILURES_PER_USERNAME,
    windowMs: LOGIN_WINDOW_MS,
    now: deps.now,
  });

  function gate(username: string, address: string): void {
    const wait = perAddress.blockedFor(address) ?? perUsername.blockedFor(username);
    if (wait !== undefined) {
      throw new ApiError(429, 'rate_limited', 'too many login attempts, try again later', wait);
    }
    perAddress.record(address);
  }

  async function verify(password: string, stored: string | undefined): Promise<boolean> {
    try {
      if (stored === undefined) {
        await deps.hasher.verifyDummy(password);
        return false;
      }
      return await deps.hasher.verify(password, stored);
    } catch (err) {
      if (err instanceof SemaphoreFullError) throw new ApiError(429, 'rate_limited', 'server busy, try again', 1);
      throw err;
    }
  }

  function fail(username: string, address: string, actor: string): never {
    perUsername.record(username);
    audit(deps.db, deps.now(), { actor, action: 'login.failure', target: username, address });
    throw new ApiError(401, 'invalid_credentials', 'wrong username or password');
  }

  return {
    async check(username, password, address) {
      const name = username.toLowerCase();
      gate(name, address);
      const user = findUserByName(deps.db, name);
      const ok = await verify(password, user?.passwordHash);
      if (!ok || !user) fail(name, address, user?.id ?? 'anonymous');
      perUsername.reset(name);
      return user;
    },
    async checkCurrent(user, password, address) {
      gate(user.username, address);
      if (!(await verify(password, user.passwordHash))) fail(user.username, address, user.id);
    },
  };
}
