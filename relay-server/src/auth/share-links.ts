import { ApiError } from '../errors.ts';
import { findCamera, type CameraRow } from '../db/cameras.ts';
import { findShare, insertShare, shareState, type ShareRow } from '../db/shares.ts';
import type { AuthDeps } from './deps.ts';
import { randomId } from './ids.ts';
import { looksLikeJwt, signShareToken, TokenError, verifyShareToken } from './jwt.ts';

/**
 * Share links: a row (listing, revocation, viewer cap) plus a JWT scoped to one camera. The URL
 * carries the token in its fragment, which browsers never send to a server or proxy log.
 */

export interface NewShare {
  expiresAt: number;
  label: string;
  maxViewers: number | null;
  /** a clip link: this recorded range (epoch ms) instead of live */
  clip: { start: number; end: number } | null;
}

export interface IssuedShare {
  share: ShareRow;
  token: string;
  url: string;
}

export async function createShare(
  deps: AuthDeps,
  cameraId: string,
  input: NewShare,
  createdBy: string,
  relayOrigin: string,
): Promise<IssuedShare> {
  const now = deps.now();
  const share: ShareRow = {
    id: randomId(12),
    cameraId,
    label: input.label,
    createdBy,
    createdAt: now,
    expiresAt: input.expiresAt,
    revokedAt: null,
    maxViewers: input.maxViewers,
    clipStart: input.clip?.start ?? null,
    clipEnd: input.clip?.end ?? null,
  };
  const token = await signShareToken(deps.keys, { sub: cameraId, jti: share.id, issuedAt: now, expiresAt: share.expiresAt });
  await insertShare(deps.db, share);
  return { share, token, url: `${relayOrigin}/s/${share.id}#${token}` };
}

const invalid = () => new ApiError(401, 'token_invalid', 'invalid share link');
const linkExpired = () => new ApiError(410, 'link_expired', 'this share link has expired');
const linkRevoked = () => new ApiError(410, 'link_revoked', 'this share link has been revoked');

/** A share token -> its live row and camera; 401 token_invalid, 410 link_expired / link_revoked. */
export async function authenticateShare(deps: AuthDeps, token: string): Promise<{ share: ShareRow; camera: CameraRow }> {
  if (!looksLikeJwt(token)) throw invalid();
  const now = deps.now();
  let claims;
  try {
    claims = await verifyShareToken(deps.keys, token, now);
  } catch (err) {
    if (!(err instanceof TokenError)) throw err; // the registry out of reach: 503, no verdict
    if (err.reason === 'expired') throw linkExpired();
    throw invalid();
  }
  const share = await findShare(deps.db, claims.jti);
  if (!share || share.cameraId !== claims.sub) throw invalid();
  const state = shareState(share, now);
  if (state === 'revoked') throw linkRevoked();
  if (state === 'expired') throw linkExpired();
  const camera = await findCamera(deps.db, share.cameraId);
  if (!camera) throw invalid();
  return { share, camera };
}

/** Cheap re-check for the live side (at expiry and on revocation events). */
export async function isShareActive(deps: AuthDeps, shareId: string, cameraId: string): Promise<boolean> {
  const share = await findShare(deps.db, shareId);
  return share !== undefined && share.cameraId === cameraId && shareState(share, deps.now()) === 'active';
}
