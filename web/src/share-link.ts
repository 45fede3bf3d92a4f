/**
 * What a share link (`/s/:shareId#<token>`) says before the relay is asked: its token, from the
 * URL fragment (never sent to a server), and the camera that token is for. The boot script
 * (boot.ts) opens that camera's live socket with it while the app bundle downloads; the share page
 * reads the token the same way, so its player claims that socket (early-socket.ts).
 */

/** The token in a share link's fragment ('' when there is none, or it is not even decodable). */
export function shareTokenOf(hash: string): string {
  try {
    return decodeURIComponent(hash.replace(/^#/, '')).trim();
  } catch {
    return '';
  }
}

/**
 * The camera a share token is for: its JWT's `sub`. Read, not verified: the relay verifies the
 * token on the socket and on GET /api/share, so a forged one only gets a refused socket. Null for
 * anything that is not a JWT with a string `sub`.
 */
export function cameraOfShareToken(token: string): string | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const claims: unknown = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')));
    const sub = (claims as { sub?: unknown } | null)?.sub;
    return typeof sub === 'string' && sub !== '' ? sub : null;
  } catch {
    return null;
  }
}
