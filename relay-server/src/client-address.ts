import type { IncomingMessage } from 'node:http';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { Context } from 'hono';

/**
 * Who is on the other end of a request: the one place the relay decides which address a request
 * came from (rate limits, socket caps, audit) and whether its X-Forwarded-* headers are believed.
 *
 * Forwarded headers are believed only when the TCP peer is a trusted proxy: loopback with
 * `TRUST_PROXY=1`, or the addresses and CIDR ranges listed in `TRUST_PROXY=127.0.0.1,10.0.0.0/8`.
 * Any other peer is the client itself, whatever headers it sends.
 */

/** The parsed TRUST_PROXY setting: which TCP peers may speak for the client. */
export class TrustedProxies {
  /** TRUST_PROXY unset / `0` / `false`: no forwarded header is ever believed */
  static readonly none = new TrustedProxies([]);

  private readonly list = new BlockList();
  /** the ranges as configured, for logs and error messages */
  readonly ranges: readonly string[];

  private constructor(ranges: readonly string[]) {
    this.ranges = ranges;
    for (const range of ranges) addRange(this.list, range);
  }

  /**
   * `''`, `0`, `false` -> none; `1`, `true` -> loopback (127.0.0.0/8, ::1);
   * otherwise a comma-separated list of addresses and CIDR ranges (IPv4 or IPv6; `loopback` is
   * accepted as a name for both loopback ranges). Throws with the offending entry on a bad one.
   */
  static parse(value: string | undefined): TrustedProxies {
    const v = (value ?? '').trim().toLowerCase();
    if (v === '' || v === '0' || v === 'false') return TrustedProxies.none;
    if (v === '1' || v === 'true') return new TrustedProxies(LOOPBACK);
    const ranges = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
    return new TrustedProxies(ranges.flatMap((r) => (r === 'loopback' ? LOOPBACK : [r])));
  }

  get enabled(): boolean {
    return this.ranges.length > 0;
  }

  /** true when `address` (a socket peer or a forwarded hop) is one of the trusted proxies */
  trusts(address: string | undefined): boolean {
    if (!this.enabled || address === undefined) return false;
    const ip = normalizeAddress(address);
    if (isIPv4(ip)) return this.list.check(ip, 'ipv4');
    if (isIPv6(ip)) return this.list.check(ip, 'ipv6');
    return false;
  }
}

const LOOPBACK = ['127.0.0.0/8', '::1/128'];

function addRange(list: BlockList, range: string): void {
  const [address = '', prefix, extra] = range.split('/');
  const ip = normalizeAddress(address);
  const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : undefined;
  const bits = prefix === undefined ? undefined : Number(prefix);
  const max = family === 'ipv4' ? 32 : 128;
  const badPrefix = bits !== undefined && !(prefix !== '' && Number.isInteger(bits) && bits >= 0 && bits <= max);
  if (family === undefined || extra !== undefined || badPrefix) {
    throw new Error(`not an IP address or CIDR range: ${JSON.stringify(range)}`);
  }
  if (bits === undefined) list.addAddress(ip, family);
  else list.addSubnet(ip, bits, family);
}

/**
 * One spelling per address: IPv4-mapped IPv6 (`::ffff:192.0.2.1`, what a dual-stack listener
 * reports for IPv4 peers) becomes plain IPv4, and IPv6 is lower-cased.
 */
export function normalizeAddress(address: string): string {
  const a = address.trim().toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) return mapped[1]!;
  return a;
}

/** Either a Hono request context (served by @hono/node-server) or a raw Node request (upgrades). */
export type RequestSource = Context | IncomingMessage;

function isIncoming(source: RequestSource): source is IncomingMessage {
  return 'headers' in source && 'socket' in source;
}

function header(source: RequestSource, name: string): string | undefined {
  if (isIncoming(source)) {
    const value = source.headers[name];
    return Array.isArray(value) ? value.join(',') : value;
  }
  return source.req.header(name);
}

/** The TCP peer's address, normalized; undefined when the socket is already gone. */
function peerAddress(source: RequestSource): string | undefined {
  const remote = isIncoming(source)
    ? source.socket.remoteAddress
    : (source.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress;
  return remote === undefined ? undefined : normalizeAddress(remote);
}

/** true when this request's X-Forwarded-* headers are believed (its peer is a trusted proxy) */
export function viaTrustedProxy(source: RequestSource, trust: TrustedProxies): boolean {
  return trust.trusts(peerAddress(source));
}

/**
 * The client's address for rate limits, socket caps and audit. The socket peer, unless that peer
 * is a trusted proxy: then X-Forwarded-For is read from the right (each proxy appends the address
 * it saw) past every hop that is itself a trusted proxy; the first other entry is the client.
 * Entries to its left were written by the client and are never read. A malformed entry ends the
 * walk at the last hop that was believed.
 */
export function clientAddress(source: RequestSource, trust: TrustedProxies): string {
  const peer = peerAddress(source);
  if (peer === undefined) return 'unknown';
  if (!trust.trusts(peer)) return peer;
  const hops = (header(source, 'x-forwarded-for') ?? '').split(',');
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(hops[i] ?? '');
    if (hop === '') continue;
    if (!isIPv4(hop) && !isIPv6(hop)) break;
    client = hop;
    if (!trust.trusts(hop)) break;
  }
  return client;
}
