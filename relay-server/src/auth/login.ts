import { and, desc, eq } from 'drizzle-orm';
import { ApiError } from '../errors.ts';
import { audit } from '../db/audit.ts';
import { auditLog } from '../db/pg-schema.ts';
import { findUserByName, type UserRow } from '../db/users.ts';
import type { AuthDeps } from './deps.ts';
import { SemaphoreFullError } from './passwords.ts';
import { addressKey, createRateLimiter } from './rate-limit.ts';

/**
 * Password login and its limits. Every limit is decided and counted when an attempt is ADMITTED,
 * in the same synchronous step, before any hashing: simultaneous guesses cannot all slip past a
 * check that is only recorded once their hashes are done, and a refused attempt costs a map
 * lookup, not scrypt. An attempt that turns out to be the right password is taken back.
 *
 * - per client (username + address key, IPv6 by /64): 5 failures per 15 minutes. A stranger's
 *   guesses throttle the stranger, never the account's owner elsewhere.
 * - per address key, all usernames together: 10 failed attempts per 15 minutes (username spraying).
 * - per username, all addresses together: from 10 failures per 15 minutes on, the username is in
 *   backoff: addresses it has never signed in from get one hashed attempt per interval (1 s,
 *   doubling per further failure, at most 60 s), the others 429. Addresses where the account has
 *   signed in before (its `login.success` audit rows) are not held back, so a correct password
 *   from the owner's usual places always passes.
 * - all sign-ins together: LOGIN_HASHES_PER_SECOND hashes, so guesses cannot keep the cores busy;
 *   over it 429 with Retry-After, except again for an address the account is known at.
 *
 * An unknown username still pays for a dummy hash (timing does not tell which usernames exist).
 * Its failures are audited at most UNKNOWN_FAILURES_AUDITED_PER_MINUTE times a minute; the rest
 * are summed up in one `login.failure.suppressed` row, so a spray cannot grow the audit log
 * without bound.
 */

const LOGIN_WINDOW_MS = 15 * 60 * 1000;
const LOGIN_FAILURES_PER_CLIENT = 5;
export const LOGIN_ATTEMPTS_PER_ADDRESS = 10;
const USERNAME_BACKOFF_AFTER = 10;
const USERNAME_BACKOFF_MAX_MS = 60_000;
const UNKNOWN_FAILURES_AUDITED_PER_MINUTE = 10;
/** how many recent successful sign-ins are searched for an account's known addresses */
const KNOWN_ADDRESS_LOOKBACK = 200;
const KNOWN_ADDRESS_CACHE_MS = 60_000;
/** usernames whose backoff slot is remembered at most (bounds memory under a spray) */
const MAX_BACKOFF_USERNAMES = 50_000;

export interface PasswordCheck {
  /** the user, or throws 401 invalid_credentials / 429 rate_limited */
  check(username: string, password: string, address: string): Promise<UserRow>;
  /** re-check a signed-in user's current password (password change), counted as a login failure when wrong */
  checkCurrent(user: UserRow, password: string, address: string): Promise<void>;
}

const rateLimited = (wait: number, message = 'too many login attempts, try again later') =>
  new ApiError(429, 'rate_limited', message, wait);

/** What an admitted attempt counted, so a correct password can take it back. */
interface Admission {
  clientKey: string;
  address: string;
}

export function createPasswordCheck(deps: AuthDeps): PasswordCheck {
  const now = deps.now;
  const perClient = createRateLimiter({ limit: LOGIN_FAILURES_PER_CLIENT, windowMs: LOGIN_WINDOW_MS, now });
  const perAddress = createRateLimiter({ limit: LOGIN_ATTEMPTS_PER_ADDRESS, windowMs: LOGIN_WINDOW_MS, now });
  // Remembers enough failures past the threshold to double the interval up to its maximum.
  const backoffSteps = Math.ceil(Math.log2(USERNAME_BACKOFF_MAX_MS / 1000)) + 1;
  const usernameFailures = createRateLimiter({ limit: USERNAME_BACKOFF_AFTER + backoffSteps, windowMs: LOGIN_WINDOW_MS, now });
  const hashes = createRateLimiter({ limit: deps.config.loginHashesPerSecond, windowMs: 1000, now });
  /** username -> when the next attempt from an unknown address may be hashed (backoff only) */
  const nextSlot = new Map<string, number>();
  const unknownAudit = { windowStart: Number.NEGATIVE_INFINITY, written: 0, suppressed: 0 };
  // Other nodes' attempts count here as if made here (cluster mode; services.ts SharedLoginLimits).
  deps.loginLimits?.onEvent((event) => {
    if (event.type === 'admitted') {
      perClient.record(event.clientKey);
      perAddress.record(event.addressKey);
      if (event.backoff) takeSlot(event.backoff.username, event.backoff.until);
    } else if (event.type === 'refunded') {
      perClient.refund(event.clientKey);
      perAddress.refund(event.addressKey);
    } else {
      usernameFailures.record(event.username);
    }
  });

  function takeSlot(name: string, until: number): void {
    // The later slot wins: another node's event may arrive after this node took a later one.
    const later = Math.max(until, nextSlot.get(name) ?? 0);
    nextSlot.delete(name); // re-inserted last: the map's first entries are the stalest
    nextSlot.set(name, later);
    if (nextSlot.size > MAX_BACKOFF_USERNAMES) nextSlot.delete(nextSlot.keys().next().value ?? '');
  }

  /**
   * Address keys each account has signed in from, read from its `login.success` audit rows at most
   * once a minute (a flood against one username must not cost an audit-log scan per request),
   * plus those of sign-ins since.
   */
  const knownKeys = new Map<string, { keys: Set<string>; readAt: number }>();

  /** Before `admit`, which must decide without waiting: refreshes the user's known addresses if stale. */
  async function loadKnownAddresses(user: UserRow | undefined): Promise<void> {
    if (!user) return;
    const cached = knownKeys.get(user.id);
    if (cached && now() - cached.readAt <= KNOWN_ADDRESS_CACHE_MS) return;
    const rows = await deps.db
      .select({ address: auditLog.address })
      .from(auditLog)
      .where(and(eq(auditLog.action, 'login.success'), eq(auditLog.actor, user.id)))
      .orderBy(desc(auditLog.id))
      .limit(KNOWN_ADDRESS_LOOKBACK);
    knownKeys.set(user.id, { keys: new Set(rows.flatMap((r) => (r.address === null ? [] : [addressKey(r.address)]))), readAt: now() });
  }

  function knownAddress(user: UserRow | undefined, key: string): boolean {
    return user !== undefined && (knownKeys.get(user.id)?.keys.has(key) ?? false);
  }

  function rememberAddress(user: UserRow, address: string): void {
    knownKeys.get(user.id)?.keys.add(addressKey(address));
  }

  /**
   * Decides and counts in one synchronous step (no await between the checks and the records).
   * `trusted`: the caller is already signed in (password change), so the username backoff and the
   * global cap, which exist to protect sign-in, do not apply.
   */
  function admit(name: string, user: UserRow | undefined, address: string, trusted: boolean): Admission {
    const key = addressKey(address);
    const clientKey = `${name}\n${key}`;
    const wait = perClient.blockedFor(clientKey) ?? perAddress.blockedFor(key);
    if (wait !== undefined) throw rateLimited(wait);

    let known: boolean | undefined = trusted ? true : undefined;
    const isKnown = () => (known ??= knownAddress(user, key));
    const at = now();
    const globalWait = hashes.blockedFor('all');
    if (globalWait !== undefined && !isKnown()) throw rateLimited(globalWait, 'server busy, try again');
    const failures = usernameFailures.count(name);
    let takesSlot = false;
    if (failures >= USERNAME_BACKOFF_AFTER && !isKnown()) {
      const slot = nextSlot.get(name) ?? 0;
      if (slot > at) throw rateLimited(Math.max(1, Math.ceil((slot - at) / 1000)));
      takesSlot = true;
    }
    let backoff: { username: string; until: number } | undefined;
    if (takesSlot) {
      const interval = Math.min(USERNAME_BACKOFF_MAX_MS, 1000 * 2 ** (failures - USERNAME_BACKOFF_AFTER));
      backoff = { username: name, until: at + interval };
      takeSlot(name, backoff.until);
    }
    perClient.record(clientKey);
    perAddress.record(key);
    hashes.record('all');
    deps.loginLimits?.publish({ type: 'admitted', clientKey, addressKey: key, ...(backoff ? { backoff } : {}) });
    return { clientKey, address: key };
  }

  function takeBack(admission: Admission): void {
    perClient.refund(admission.clientKey);
    perAddress.refund(admission.address);
    deps.loginLimits?.publish({ type: 'refunded', clientKey: admission.clientKey, addressKey: admission.address });
  }

  async function verify(password: string, stored: string | undefined, admission: Admission): Promise<boolean> {
    try {
      if (stored === undefined) {
        await deps.hasher.verifyDummy(password);
        return false;
      }
      return await deps.hasher.verify(password, stored);
    } catch (err) {
      if (err instanceof SemaphoreFullError) {
        takeBack(admission);
        throw rateLimited(1, 'server busy, try again');
      }
      throw err;
    }
  }

  async function auditUnknownFailure(name: string, address: string): Promise<void> {
    const at = now();
    if (at - unknownAudit.windowStart >= 60_000) {
      const suppressed = unknownAudit.suppressed;
      const since = unknownAudit.windowStart;
      Object.assign(unknownAudit, { windowStart: at, written: 0, suppressed: 0 });
      if (suppressed > 0) {
        await audit(deps.db, at, {
          actor: 'anonymous',
          action: 'login.failure.suppressed',
          detail: { count: suppressed, since },
        });
      }
    }
    if (unknownAudit.written >= UNKNOWN_FAILURES_AUDITED_PER_MINUTE) {
      unknownAudit.suppressed++;
      return;
    }
    unknownAudit.written++;
    await audit(deps.db, at, { actor: 'anonymous', action: 'login.failure', target: name, address });
  }

  async function fail(name: string, address: string, user: UserRow | undefined): Promise<never> {
    usernameFailures.record(name);
    deps.loginLimits?.publish({ type: 'failed', username: name });
    if (user) await audit(deps.db, now(), { actor: user.id, action: 'login.failure', target: name, address });
    else await auditUnknownFailure(name, address);
    throw new ApiError(401, 'invalid_credentials', 'wrong username or password');
  }

  return {
    async check(username, password, address) {
      const name = username.toLowerCase();
      const user = await findUserByName(deps.db, name);
      await loadKnownAddresses(user);
      const admission = admit(name, user, address, false);
      const ok = await verify(password, user?.passwordHash, admission);
      if (!ok || !user) return fail(name, address, user);
      takeBack(admission);
      rememberAddress(user, address);
      return user;
    },
    async checkCurrent(user, password, address) {
      const admission = admit(user.username, user, address, true);
      if (!(await verify(password, user.passwordHash, admission))) await fail(user.username, address, user);
      takeBack(admission);
    },
  };
}
