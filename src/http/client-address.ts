/**
 * Who is on the other end, for throttling and the audit log. The runtime says how to find the peer
 * (`GetConnInfo`: the TCP socket on Node, `CF-Connecting-IP` on Workers, which Cloudflare sets and
 * clients cannot); a header such as `X-Forwarded-For` is believed only when `CLIENT_ADDRESS_HEADER`
 * names it, because any client can send one.
 */
import type { Context } from 'hono';
import type { GetConnInfo } from 'hono/conninfo';

/** No address known (a request made in-process, a test without a socket): one shared bucket. */
export const UNKNOWN = 'unknown';

/**
 * The client's address for one request.
 *
 * @example
 * clientAddress(c, nodeConnInfo, undefined);          // '203.0.113.7' (the socket's peer)
 * clientAddress(c, nodeConnInfo, 'x-forwarded-for');  // the last entry, added by your proxy
 */
export function clientAddress(c: Context, connInfo: GetConnInfo, header: string | undefined): string {
  if (header) {
    const value = c.req.header(header);
    // X-Forwarded-For: each proxy appends the address it saw; the last one is our own proxy's.
    const last = value?.split(',').at(-1)?.trim();
    return last || UNKNOWN;
  }
  try {
    return connInfo(c).remote.address || UNKNOWN;
  } catch {
    return UNKNOWN;
  }
}

/** The eight 16-bit groups of an IPv6 address, or null when it is not one. */
function ipv6Groups(address: string): number[] | null {
  const halves = address.split('::');
  if (halves.length > 2) return null;
  const part = (s: string | undefined) => (s ? s.split(':') : []);
  const head = part(halves[0]);
  const tail = part(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  return groups.map((g) => Number.parseInt(g, 16));
}

const hex = (groups: number[]) => groups.map((g) => g.toString(16)).join(':');

/**
 * The unit throttling counts: an IPv4 address as is, an IPv6 address by its /64 (one subscriber
 * usually has a whole /64, so counting single addresses would let them rotate freely). An
 * IPv4-mapped IPv6 address (`::ffff:203.0.113.7`, Node's dual-stack sockets) is its IPv4 address.
 *
 * @example addressBucket('2001:db8:1:2:aaaa::1') // '2001:db8:1:2::/64'
 */
export function addressBucket(address: string): string {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
  if (mapped?.[1]) return mapped[1];
  const groups = bare.includes(':') ? ipv6Groups(bare) : null;
  return groups ? `${hex(groups.slice(0, 4))}::/64` : bare;
}

/**
 * The network an address belongs to, as the audit log shows it (IPv4 /24, IPv6 /48): enough to see
 * where attempts come from and to block them, without keeping the exact address.
 *
 * @example networkOf('203.0.113.7') // '203.0.113.0/24'
 */
export function networkOf(bucket: string): string {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}$/.exec(bucket);
  if (v4) return `${v4[1]}.${v4[2]}.${v4[3]}.0/24`;
  const groups = ipv6Groups(bucket.replace(/\/64$/, '').replace(/::$/, '::0'));
  if (groups) return `${hex(groups.slice(0, 3))}::/48`;
  return UNKNOWN;
}
