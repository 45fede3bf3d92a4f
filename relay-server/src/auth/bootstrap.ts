import { audit } from '../db/audit.ts';
import { transaction } from '../db/client.ts';
import { countAdmins, findUserByName, insertUserIfAbsent, updateUser } from '../db/users.ts';
import type { AuthDeps } from './deps.ts';
import { randomId } from './ids.ts';
import { generatePassword } from './passwords.ts';

/**
 * First start: make sure someone can log in. Creates `admin` with PICAM_ADMIN_PASSWORD, or a
 * generated password the caller prints ONCE (it is stored only as a hash). An existing admin is
 * never changed behind the operator's back: a differing PICAM_ADMIN_PASSWORD is reported, not applied.
 */
const ADMIN_USERNAME = 'admin';

export async function bootstrapAdmin(deps: AuthDeps): Promise<{ username: string; generatedPassword: string | null }> {
  const { db, config, log } = deps;
  const existing = await findUserByName(db, ADMIN_USERNAME);
  if ((await countAdmins(db)) > 0) {
    if (existing?.role === 'admin' && config.adminPassword !== undefined) {
      if (!(await deps.hasher.verify(config.adminPassword, existing.passwordHash))) {
        log.warn(
          'PICAM_ADMIN_PASSWORD differs from the stored admin password and was NOT applied; ' +
            'use `picam-relay users passwd admin` to change it',
        );
      }
    }
    return { username: existing?.role === 'admin' ? existing.username : ADMIN_USERNAME, generatedPassword: null };
  }

  const generatedPassword = config.adminPassword === undefined ? generatePassword() : null;
  const passwordHash = await deps.hasher.hash(config.adminPassword ?? generatedPassword ?? '');
  const now = deps.now();
  // Nodes of a cluster starting together all get here: the unique username lets one insert win.
  const created = await transaction(db, async (tx) => {
    if (existing) {
      // A viewer called "admin" while no admin exists at all: promote it rather than lock everyone out.
      await updateUser(tx, existing.id, { role: 'admin', passwordHash, passwordChangedAt: now });
    } else {
      const row = { id: randomId(12), username: ADMIN_USERNAME, passwordHash, role: 'admin' as const, createdAt: now, passwordChangedAt: now };
      if (!(await insertUserIfAbsent(tx, row))) return false;
    }
    await audit(tx, now, { actor: 'system', action: existing ? 'password.change' : 'user.add', target: ADMIN_USERNAME, detail: { bootstrap: true } });
    return true;
  });
  if (!created) {
    log.info({ username: ADMIN_USERNAME }, 'admin account created by another node');
    return { username: ADMIN_USERNAME, generatedPassword: null };
  }
  log.info({ username: ADMIN_USERNAME, generated: generatedPassword !== null }, 'admin account created');
  return { username: ADMIN_USERNAME, generatedPassword };
}
