import { ApiError, unauthenticated } from '../errors.ts';
import { audit } from '../db/audit.ts';
import { findCamera, findCameraByCredentialHash, setCredential, type CameraRow } from '../db/cameras.ts';
import { transaction } from '../db/client.ts';
import { consumeEnrollmentToken, replaceEnrollmentToken } from '../db/enrollment.ts';
import type { Queryable } from '../db/queryable.ts';
import type { AuthDeps } from './deps.ts';
import { randomId, randomSecret, sameDigest, sha256Hex } from './ids.ts';

/**
 * Camera enrollment and device credentials. An enrollment token (one use, short-lived) is traded
 * once for a long-lived device credential; both are 32 random bytes of which only the SHA-256 is
 * stored. A credential belongs to exactly one camera: issuing a new one replaces (revokes) the old.
 */

const DEVICE_CREDENTIAL_PREFIX = 'pcd_';

export interface Enrollment {
  token: string;
  expiresAt: number;
  command: string;
}

/**
 * Stores a fresh token for the camera (older unused ones stop working) and returns it once. `db`:
 * the caller's transaction when the camera is created in it.
 */
export async function issueEnrollment(deps: AuthDeps, cameraId: string, createdBy: string, relayOrigin: string, db: Queryable = deps.db): Promise<Enrollment> {
  const now = deps.now();
  const token = randomSecret();
  const expiresAt = now + deps.config.enrollmentTtlSeconds * 1000;
  await replaceEnrollmentToken(db, {
    id: randomId(16),
    cameraId,
    tokenHash: sha256Hex(token),
    createdAt: now,
    expiresAt,
    usedAt: null,
    createdBy,
  });
  // The command carries no token: run as shown, the agent asks for it on standard input, so it
  // never lands in shell history or the process list (`--token-file` is the scripted form).
  return { token, expiresAt, command: `picam-agent enroll --relay ${relayOrigin} --token -` };
}

export interface EnrollmentResult {
  camera: CameraRow;
  credential: string;
  /** a credential was in place before (it is now revoked) */
  replaced: boolean;
}

/**
 * Trades a token for a credential. The conditional UPDATE that marks the token used and the
 * credential write share one transaction: either both happen or neither.
 */
export async function consumeEnrollment(deps: AuthDeps, token: string, address: string): Promise<EnrollmentResult> {
  const now = deps.now();
  const credential = randomSecret(DEVICE_CREDENTIAL_PREFIX);
  const result = await transaction(deps.db, async (tx) => {
    const consumed = await consumeEnrollmentToken(tx, sha256Hex(token), now);
    if (!consumed.ok) return consumed;
    const replaced = await setCredential(tx, consumed.cameraId, sha256Hex(credential), now);
    await audit(tx, now, {
      actor: `device:${consumed.cameraId}`,
      action: 'enrollment.consume',
      target: consumed.cameraId,
      address,
    });
    return { ok: true as const, camera: await findCamera(tx, consumed.cameraId), replaced };
  });
  if (!result.ok) {
    if (result.reason === 'expired') throw new ApiError(410, 'token_expired', 'enrollment token expired');
    throw new ApiError(401, 'token_invalid', 'unknown or already used enrollment token');
  }
  if (!result.camera) throw new ApiError(401, 'token_invalid', 'unknown or already used enrollment token');
  return { camera: result.camera, credential, replaced: result.replaced };
}

/** `Authorization: Bearer pcd_...` -> its camera, or 401. */
export async function authenticateAgent(deps: AuthDeps, authorization: string | undefined): Promise<{ cameraId: string }> {
  const match = /^Bearer ([\w-]{1,200})$/.exec(authorization?.trim() ?? '');
  const credential = match?.[1];
  if (!credential?.startsWith(DEVICE_CREDENTIAL_PREFIX)) throw unauthenticated('device credential required');
  const hash = sha256Hex(credential);
  const camera = await findCameraByCredentialHash(deps.db, hash);
  // The lookup is by hash (an attacker controls only the preimage); the constant-time compare
  // guards against a future lookup that is not an exact indexed match.
  if (!camera?.credentialHash || !sameDigest(camera.credentialHash, hash)) {
    throw unauthenticated('unknown or revoked device credential');
  }
  return { cameraId: camera.id };
}
