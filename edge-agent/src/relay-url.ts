import { AgentError } from './errors.ts';

/**
 * The relay is configured by its public http(s) URL, the one the admin page shows in the enroll
 * command. A relay behind a reverse proxy may live under a path prefix (https://host/picam), so
 * endpoints are resolved relative to it rather than from the host root.
 */
export function normalizeRelayUrl(input: string): string {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw new AgentError('ERR_RELAY_URL', `invalid relay URL "${input}": expected something like https://relay.example.com`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AgentError('ERR_RELAY_URL', `invalid relay URL "${input}": use http:// or https://, not ${url.protocol}//`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new AgentError('ERR_RELAY_URL', `invalid relay URL "${input}": credentials do not belong in the URL`);
  }
  url.search = '';
  url.hash = '';
  return url.toString().replace(/\/+$/, '');
}

/** `<relay>/<path>` keeping any path prefix; path without a leading slash, e.g. "api/enroll". */
export function relayEndpoint(relay: string, path: string): URL {
  return new URL(path, `${normalizeRelayUrl(relay)}/`);
}

/** The agent's WebSocket endpoint: http -> ws, https -> wss. */
export function agentSocketUrl(relay: string): string {
  const url = relayEndpoint(relay, 'api/agent');
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}
