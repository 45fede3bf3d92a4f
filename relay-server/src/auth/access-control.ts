import { decodeProtectedHeader } from 'jose';
import { TOKEN_SUBPROTOCOL_PREFIX } from '@picam/protocol';
import { parse as parseCookies } from 'hono/utils/cookie';
import { ApiError, cameraNotFound, forbidden, unauthenticated } from '../errors.ts';
import { findCamera } from '../db/cameras.ts';
import { findSession, isSessionLive } from '../db/sessions.ts';
import { findUserById } from '../db/users.ts';
import type { AccessControl, ViewerGrant, ViewerUpgradeRequest } from '../services.ts';
import type { AuthDeps } from './deps.ts';
import { authenticateAgent } from './device-credentials.ts';
import { isOwnOrigin, type HeaderGetter } from './origin.ts';
import { SESSION_TOKEN, SHARE_TOKEN } from './jwt.ts';
import { SESSION_COOKIE, authenticateSession, canView } from './sessions.ts';
import { authenticateShare, isShareActive } from './share-links.ts';

/**
 * Who may open a camera's live WebSocket, decided once in the HTTP upgrade handler.
 * An explicit token (subprotocol `picam.token.<jwt>`, else `?token=`) wins over the cookie. The
 * cookie is accepted only with an Origin that is ours: browsers attach cookies to cross-site
 * WebSocket upgrades, and no CORS protects them (cross-site WebSocket hijacking).
 */

type Source = { token: string; via: 'explicit' } | { token: string; via: 'cookie' } | undefined;

function headerGetter(headers: ViewerUpgradeRequest['headers']): HeaderGetter {
  return (name) => {
    const value = headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : value;
  };
}

function findToken(request: ViewerUpgradeRequest, header: HeaderGetter): Source {
  const protocols = header('sec-websocket-protocol')?.split(',').map((p) => p.trim()) ?? [];
  const fromProtocol = protocols.find((p) => p.startsWith(TOKEN_SUBPROTOCOL_PREFIX));
  if (fromProtocol) return { token: fromProtocol.slice(TOKEN_SUBPROTOCOL_PREFIX.length), via: 'explicit' };
  const fromQuery = request.url.searchParams.get('token');
  if (fromQuery) return { token: fromQuery, via: 'explicit' };
  const cookie = header('cookie');
  const fromCookie = cookie ? parseCookies(cookie, SESSION_COOKIE)[SESSION_COOKIE] : undefined;
  if (fromCookie) return { token: fromCookie, via: 'cookie' };
  return undefined;
}

function tokenKid(token: string | undefined): string | undefined {
  try {
    return token === undefined ? undefined : decodeProtectedHeader(token).kid;
  } catch {
    return undefined;
  }
}

/** The header's `typ` only routes the token to a verifier; that verifier then requires it (signed). */
function tokenType(token: string): string | undefined {
  try {
    return decodeProtectedHeader(token).typ;
  } catch {
    return undefined;
  }
}

export function createAccessControl(deps: AuthDeps): AccessControl {
  /**
   * The signing key of the token each live grant was admitted with: a viewer's token is verified
   * once, at the upgrade, so the periodic re-check asks whether that key still exists
   * (`picam-relay keys remove` cuts the viewers it let in).
   */
  const signedBy = new WeakMap<ViewerGrant, string | undefined>();

  async function authorizeViewer(request: ViewerUpgradeRequest): Promise<ViewerGrant> {
    const grant = await admitViewer(request);
    signedBy.set(grant, tokenKid(findToken(request, headerGetter(request.headers))?.token));
    return grant;
  }

  async function admitViewer(request: ViewerUpgradeRequest): Promise<ViewerGrant> {
    const header = headerGetter(request.headers);
    const source = findToken(request, header);
    if (!source) throw unauthenticated('session or share token required');
    if (source.via === 'cookie' && !isOwnOrigin(header('origin'), deps.config, header, request.viaTrustedProxy ?? false)) {
      throw new ApiError(403, 'forbidden', 'cross-site WebSocket upgrade refused');
    }
    const typ = source.via === 'cookie' ? SESSION_TOKEN.typ : tokenType(source.token);

    if (typ === SHARE_TOKEN.typ) {
      const { share } = await authenticateShare(deps, source.token);
      if (!(await findCamera(deps.db, request.cameraId))) throw cameraNotFound();
      if (share.cameraId !== request.cameraId) throw forbidden('this link is for another camera');
      // A clip link plays its recorded range (clip.mp4 with a clip token), never the live picture.
      if (share.clipStart !== null) throw forbidden('this link is for a recorded clip, not the live picture');
      if (share.maxViewers !== null && deps.live().viewersOfGrant(share.id) >= share.maxViewers) {
        throw new ApiError(429, 'too_many_viewers', 'this link has reached its viewer limit');
      }
      return { kind: 'share', id: share.id, userId: null, cameraId: request.cameraId, expiresAt: share.expiresAt };
    }
    if (typ !== SESSION_TOKEN.typ) throw new ApiError(401, 'token_invalid', 'invalid token');

    const { user, session } = await authenticateSession(deps, source.token);
    if (!(await findCamera(deps.db, request.cameraId))) throw cameraNotFound();
    if (!(await canView(deps, user, request.cameraId))) throw forbidden('this camera is not shared with you');
    return { kind: 'session', id: session.id, userId: user.id, cameraId: request.cameraId, expiresAt: session.expiresAt };
  }

  async function isGrantValid(grant: ViewerGrant): Promise<boolean> {
    const now = deps.now();
    if (grant.expiresAt <= now || !(await findCamera(deps.db, grant.cameraId))) return false;
    if (signedBy.has(grant) && !(await deps.keys.isCurrent(signedBy.get(grant)))) return false;
    if (grant.kind === 'share') return isShareActive(deps, grant.id, grant.cameraId);
    const session = await findSession(deps.db, grant.id);
    if (!isSessionLive(session, now) || session.userId !== grant.userId) return false;
    const user = await findUserById(deps.db, session.userId);
    return user !== undefined && (await canView(deps, user, grant.cameraId));
  }

  return {
    authenticateAgent: (authorization) => authenticateAgent(deps, authorization),
    authorizeViewer,
    isGrantValid,
  };
}
