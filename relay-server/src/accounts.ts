import type { Hono } from 'hono';
import type { RelayConfig } from './config.ts';
import { transaction, type Db, type RegistryDb } from './db/client.ts';
import { DEFAULT_CAMERA_SETTINGS, type RecordMode } from '@picam/protocol';
import { findCamera, insertCamera, markCameraSeen, parseSettings, updateCamera } from './db/cameras.ts';
import { audit } from './db/audit.ts';
import { pruneExpired, type Pruned } from './db/housekeeping.ts';
import { issueEnrollment, type Enrollment } from './auth/device-credentials.ts';
import { randomId } from './auth/ids.ts';
import type { Logger } from './logger.ts';
import type { AccessControl, CameraRegistry, LiveCameras, RecordingControl, SharedLoginLimits } from './services.ts';
import { createAccessControl } from './auth/access-control.ts';
import { bootstrapAdmin } from './auth/bootstrap.ts';
import type { AuthDeps } from './auth/deps.ts';
import { openKeyStore, type KeyInfo } from './auth/jwt-keys.ts';
import { openSharedKeyStore } from './auth/shared-keys.ts';
import { createPasswordCheck } from './auth/login.ts';
import { createPasswordHasher, PRODUCTION_SCRYPT_LOG2N } from './auth/passwords.ts';
import { apiRoutes } from './routes/api.ts';

/**
 * The accounts side of the relay in one call: users, sessions, cameras' registry and enrollment,
 * share links, and the /api routes over them. The streaming side is built after this (it needs
 * `access` and `registry`), hence `live` is a getter read at request time, never at construction.
 */

const NO_RECORDER: RecordingControl = { setMode: () => undefined, cameraDeleted: () => undefined };

/** how often old sessions, enrollment tokens and audit rows are deleted */
const HOUSEKEEPING_INTERVAL_MS = 60 * 60 * 1000;

export interface AccountsDeps {
  /** the registry */
  db: RegistryDb;
  /** this node's recording index (the recordings routes read it) */
  index: Db;
  config: RelayConfig;
  log: Logger;
  live: () => LiveCameras;
  /** the recorder; default: none (nothing records) */
  recorder?: () => RecordingControl;
  /** cluster mode: the login limits' counts, shared with the other nodes */
  loginLimits?: SharedLoginLimits;
  now?: () => number;
  /**
   * TEST ONLY: log2 of scrypt's N, to keep test suites fast. Production never passes it and
   * always hashes at N=2^17 (the CLI and server.ts do not expose it).
   */
  scryptCost?: number;
}

export interface Accounts {
  access: AccessControl;
  registry: CameraRegistry;
  /** mounted at /api by app.ts */
  api: Hono;
  bootstrapAdmin(): Promise<{ username: string; generatedPassword: string | null }>;
  /**
   * A new camera and its enrollment token without an HTTP request: for the operator's own tools
   * (`npm start` provisions its simulated camera this way). Audited as `system`.
   */
  provisionCamera(name: string, relayOrigin: string, options?: { record?: RecordMode }): Promise<{ cameraId: string; enrollment: Enrollment }>;
  /** new signing key; existing sessions and links stay valid (old keys keep verifying) */
  rotateSigningKey(): Promise<KeyInfo>;
  /**
   * Deletes expired sessions and enrollment tokens and audit rows past AUDIT_RETAIN_DAYS. Runs at
   * start and every HOUSEKEEPING_INTERVAL_MS; callable directly (tests, tools).
   */
  housekeeping(): Promise<Pruned>;
  close(): void;
}

export async function createAccounts(deps: AccountsDeps): Promise<Accounts> {
  const now = deps.now ?? Date.now;
  const scryptCost = deps.scryptCost ?? PRODUCTION_SCRYPT_LOG2N;
  if (scryptCost !== PRODUCTION_SCRYPT_LOG2N) deps.log.warn({ scryptCost }, 'scrypt cost lowered: test use only');
  const auth: AuthDeps = {
    db: deps.db,
    index: deps.index,
    config: deps.config,
    log: deps.log,
    live: deps.live,
    recorder: deps.recorder ?? (() => NO_RECORDER),
    now,
    keys: deps.config.databaseUrl === undefined ? await openKeyStore(deps.config.dataDir, now) : await openSharedKeyStore(deps.db, now),
    hasher: createPasswordHasher({ log2N: scryptCost }),
    ...(deps.loginLimits ? { loginLimits: deps.loginLimits } : {}),
  };

  const registry: CameraRegistry = {
    async get(cameraId) {
      const row = await findCamera(auth.db, cameraId);
      return row && { id: row.id, name: row.name, settings: parseSettings(row.settings) };
    },
    markSeen: (cameraId, at) => markCameraSeen(auth.db, cameraId, at),
  };

  const housekeeping = async (): Promise<Pruned> => {
    const pruned = await pruneExpired(auth.db, now(), deps.config.auditRetainDays * 24 * 3600 * 1000);
    if (pruned.sessions + pruned.enrollments + pruned.audit > 0) deps.log.info({ pruned }, 'housekeeping: old rows deleted');
    return pruned;
  };
  const runHousekeeping = async () => {
    try {
      await housekeeping();
    } catch (err) {
      // A busy or full disk (or Postgres away) must not take the relay down; the next run tries again.
      deps.log.error({ err }, 'housekeeping failed');
    }
  };
  await runHousekeeping();

  const housekeepingTimer = setInterval(() => void runHousekeeping(), HOUSEKEEPING_INTERVAL_MS);
  housekeepingTimer.unref();

  return {
    access: createAccessControl(auth),
    registry,
    api: apiRoutes(auth, createPasswordCheck(auth)),
    bootstrapAdmin: () => bootstrapAdmin(auth),
    async provisionCamera(name, relayOrigin, options = {}) {
      const cameraId = randomId(10);
      const enrollment = await transaction(auth.db, async (tx) => {
        await insertCamera(tx, { id: cameraId, name, settings: DEFAULT_CAMERA_SETTINGS, createdAt: now() });
        if (options.record) await updateCamera(tx, cameraId, { record: options.record });
        await audit(tx, now(), { actor: 'system', action: 'camera.create', target: cameraId });
        await audit(tx, now(), { actor: 'system', action: 'enrollment.issue', target: cameraId });
        return issueEnrollment(auth, cameraId, 'system', relayOrigin, tx);
      });
      auth.recorder().setMode(cameraId, options.record ?? deps.config.recording.defaultMode);
      return { cameraId, enrollment };
    },
    rotateSigningKey: () => auth.keys.rotate(),
    housekeeping,
    close() {
      // Limiters are plain maps and keys are in memory; the database belongs to the caller.
      clearInterval(housekeepingTimer);
    },
  };
}
