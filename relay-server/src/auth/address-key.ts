import { isIPv4, isIPv6 } from 'node:net';

/**
 * The key a client address is counted under by the login limits. An IPv4 address is itself; an
 * IPv6 address is its /64, because one subscriber (one home, one VM) is routed a whole /64 and can
 * pick a fresh address from it for every request. IPv4-mapped IPv6 (`::ffff:192.0.2.1`, what a
 * dual-stack listener reports) is the IPv4 address. Anything else (a unix socket, 'unknown') is
 * kept as it is, lower-cased.
 */
export function addressKey(address: string): string {
  const a = address.trim().toLowerCase().replace(/%.*$/, ''); // drop an IPv6 zone id (fe80::1%eth0)
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped?.[1] !== undefined && isIPv4(mapped[1])) return mapped[1];
  if (isIPv4(a)) return a;
  if (!isIPv6(a)) return a;
  const groups = expandIPv6(a);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, without leading zeros. */
function expandIPv6(a: string): string[] {
  let text = a;
  // An embedded IPv4 tail (::1.2.3.4) becomes two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((g) => parseInt(g, 16).toString(16));
}
