import type { RelayConfig } from '../config.ts';

/**
 * Where a request came from and where the relay is reached. Used for the cookie Origin checks
 * (CSRF on writes, cross-site WebSocket hijacking on upgrades), the cookie's Secure flag, and the
 * URLs the relay hands out (enroll command, share links) when PUBLIC_URL is not set.
 * X-Forwarded-Proto/-Host are read only when `forwarded` says the request came through a trusted
 * proxy (client-address.ts viaTrustedProxy); the client address itself is client-address.ts' job.
 */

export type HeaderGetter = (name: string) => string | undefined;

function firstValue(value: string | undefined): string | undefined {
  const first = value?.split(',')[0]?.trim();
  return first ? first : undefined;
}

export function isSecureRequest(url: string, header: HeaderGetter, forwarded: boolean): boolean {
  if (url.startsWith('https:')) return true;
  return forwarded && firstValue(header('x-forwarded-proto'))?.toLowerCase() === 'https';
}

/** The relay's own origin as this request sees it: PUBLIC_URL's, else scheme + Host. */
export function publicOrigin(config: RelayConfig, url: string, header: HeaderGetter, forwarded: boolean): string {
  if (config.publicUrl) return new URL(config.publicUrl).origin;
  const proto = isSecureRequest(url, header, forwarded) ? 'https' : 'http';
  const host = (forwarded ? firstValue(header('x-forwarded-host')) : undefined) ?? header('host');
  return host ? `${proto}://${host}` : new URL(url).origin;
}

/**
 * An Origin is ours when it is PUBLIC_URL's origin or the Host this request was sent to (over
 * http or https: a TLS-terminating proxy may not say which). A cross-site page cannot forge
 * either: the browser sets Origin, and a rebound DNS name never carries our cookie.
 */
export function isOwnOrigin(
  origin: string | undefined,
  config: RelayConfig,
  header: HeaderGetter,
  forwarded: boolean,
): boolean {
  if (!origin || origin === 'null') return false;
  const normalized = originOf(origin);
  if (normalized === undefined) return false;
  if (config.publicUrl && normalized === originOf(config.publicUrl)) return true;
  const hosts = [header('host'), forwarded ? firstValue(header('x-forwarded-host')) : undefined];
  return hosts.some(
    (host) =>
      host !== undefined && (normalized === originOf(`http://${host}`) || normalized === originOf(`https://${host}`)),
  );
}

// URL normalises case and default ports (https://x:443 -> https://x), so comparisons are exact.
function originOf(url: string): string | undefined {
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}
