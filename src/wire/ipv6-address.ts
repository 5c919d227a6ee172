/**
 * IPv6 addresses as four unsigned 32-bit words, most significant first (2001:db8::1 =
 * [0x20010db8, 0, 0, 1]): what the data plane's tables key on (four small numbers, no bigint, no
 * string), and what the control plane hands it in specs (a plain array crosses the worker
 * boundary). CIDRs as an address and a prefix length. The one parser, printer and mask of IPv6
 * addresses in the code base, as ipv4-address.ts is of IPv4's (slow path: config, API requests,
 * tests; readIpv6/writeIpv6 allocate nothing but the words array of a read, and are for the slow
 * path too: the fast path reads the words in place with Buffer.readUInt32BE).
 *
 * Parse failures throw a plain Error whose message is the reason, written to follow a caller's
 * `invalid subnet "…": `; the *OrNull variants return null instead.
 */

import { IPv6CidrRange } from 'ip-num';
import { parseIpv4OrNull } from './ipv4-address.js';

/** An IPv6 address: four uint32 words, most significant first. */
export type Ipv6Words = readonly [number, number, number, number];

export const IPV6_UNSPECIFIED: Ipv6Words = [0, 0, 0, 0];
/** Docker's (and every router's) link-local gateway address: fe80::1. */
export const IPV6_GATEWAY_LINK_LOCAL: Ipv6Words = [0xfe800000, 0, 0, 1];
/** ff02::1, all nodes on the link. */
export const IPV6_ALL_NODES: Ipv6Words = [0xff020000, 0, 0, 1];
/** ff02::2, all routers on the link. */
export const IPV6_ALL_ROUTERS: Ipv6Words = [0xff020000, 0, 0, 2];

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const PREFIX_LEN_RE = /^(?:[0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$/;

/** Eight 16-bit groups to words. */
function fromGroups(g: number[]): Ipv6Words {
  return [((g[0]! << 16) | g[1]!) >>> 0, ((g[2]! << 16) | g[3]!) >>> 0, ((g[4]! << 16) | g[5]!) >>> 0, ((g[6]! << 16) | g[7]!) >>> 0];
}

/** The groups of one side of "::" (possibly empty), the last may be a dotted quad; null when malformed. */
function groupsOf(side: string, lastMayBeIpv4: boolean): number[] | null {
  if (side === '') return [];
  const parts = side.split(':');
  const out: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (i === parts.length - 1 && lastMayBeIpv4 && p.includes('.')) {
      const v4 = parseIpv4OrNull(p);
      if (v4 === null) return null;
      out.push(v4 >>> 16, v4 & 0xffff);
    } else if (HEX_GROUP.test(p)) {
      out.push(parseInt(p, 16));
    } else {
      return null;
    }
  }
  return out;
}

/** "2001:db8::1" (RFC 4291 2.2 text forms, with an embedded dotted quad) to words, or null. Zone ids ("%eth0") are refused. */
export function parseIpv6OrNull(s: string): Ipv6Words | null {
  if (s.length < 2 || s.length > 45) return null;
  const dc = s.indexOf('::');
  if (dc >= 0) {
    if (s.indexOf('::', dc + 1) >= 0) return null;
    const head = groupsOf(s.slice(0, dc), false);
    const tail = groupsOf(s.slice(dc + 2), true);
    if (head === null || tail === null || head.length + tail.length > 7) return null;
    return fromGroups([...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]);
  }
  const g = groupsOf(s, true);
  return g === null || g.length !== 8 ? null : fromGroups(g);
}

/** "2001:db8::1" to words; throws Error on anything else. */
export function parseIpv6(s: string): Ipv6Words {
  const a = parseIpv6OrNull(s);
  if (a === null) throw new Error(`${JSON.stringify(s)} is not an IPv6 address`);
  return a;
}

/** Words to RFC 5952 text: lower case, no leading zeros, the longest run of two or more zero groups as "::" (the first of equal runs). */
export function ipv6ToString(a: Ipv6Words): string {
  const g: number[] = [];
  for (const w of a) g.push((w >>> 16) & 0xffff, w & 0xffff);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => g.slice(from, to).map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** The words of the 16 bytes at buf[off]. Slow path (allocates the array). */
export function readIpv6(buf: Buffer, off: number): Ipv6Words {
  return [buf.readUInt32BE(off), buf.readUInt32BE(off + 4), buf.readUInt32BE(off + 8), buf.readUInt32BE(off + 12)];
}

/** Writes an address's 16 bytes at buf[off]. */
export function writeIpv6(buf: Buffer, off: number, a: Ipv6Words): void {
  buf.writeUInt32BE(a[0] >>> 0, off);
  buf.writeUInt32BE(a[1] >>> 0, off + 4);
  buf.writeUInt32BE(a[2] >>> 0, off + 8);
  buf.writeUInt32BE(a[3] >>> 0, off + 12);
}

export function ipv6Equal(a: Ipv6Words, b: Ipv6Words): boolean {
  return a[0] >>> 0 === b[0] >>> 0 && a[1] >>> 0 === b[1] >>> 0 && a[2] >>> 0 === b[2] >>> 0 && a[3] >>> 0 === b[3] >>> 0;
}

/** The mask of word `i` (0..3) for a prefix length 0..128. */
export function prefixMaskWord6(prefixLen: number, i: number): number {
  const bits = Math.max(0, Math.min(32, prefixLen - 32 * i));
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** True if `a` lies in network/prefixLen (host bits of `network` are ignored). */
export function inSubnet6(a: Ipv6Words, network: Ipv6Words, prefixLen: number): boolean {
  for (let i = 0; i < 4; i++) if (((a[i]! ^ network[i]!) & prefixMaskWord6(prefixLen, i)) !== 0) return false;
  return true;
}

/** "addr/len": the address as written (host bits kept) and the prefix length. */
export interface Ipv6Cidr {
  addr: Ipv6Words;
  prefixLen: number;
}

function cidr6Problem(s: string): string | null {
  const slash = s.indexOf('/');
  if (slash < 0) return 'expected an IPv6 CIDR such as fd00:20::/64';
  const addr = s.slice(0, slash);
  if (parseIpv6OrNull(addr) === null) return `${JSON.stringify(addr)} is not an IPv6 address`;
  if (!PREFIX_LEN_RE.test(s.slice(slash + 1))) return 'the prefix length must be between 0 and 128';
  return null;
}

/** Parse "fd00::/64" (host bits may be set: "fd00::1/64" is an interface address), or null. */
export function parseCidr6OrNull(s: string): Ipv6Cidr | null {
  if (cidr6Problem(s) !== null) return null;
  const slash = s.indexOf('/');
  return { addr: parseIpv6OrNull(s.slice(0, slash))!, prefixLen: Number(s.slice(slash + 1)) };
}

/** Parse "fd00::/64" (host bits may be set); throws Error with the reason on anything else. */
export function parseCidr6(s: string): Ipv6Cidr {
  const problem = cidr6Problem(s);
  if (problem !== null) throw new Error(problem);
  return parseCidr6OrNull(s)!;
}

export function formatCidr6(c: Ipv6Cidr): string {
  return `${ipv6ToString(c.addr)}/${c.prefixLen}`;
}

/** The network of a CIDR: its host bits cleared. */
export function cidr6Network(c: Ipv6Cidr): Ipv6Cidr {
  const a = c.addr;
  const m = (i: number) => (a[i]! & prefixMaskWord6(c.prefixLen, i)) >>> 0;
  return { addr: [m(0), m(1), m(2), m(3)], prefixLen: c.prefixLen };
}

export function cidr6Contains(c: Ipv6Cidr, a: Ipv6Words): boolean {
  return inSubnet6(a, c.addr, c.prefixLen);
}

/** The address `n` (a safe integer ≥ 0) after the network's first: cidr6Host(fd00::/64, 1) = fd00::1. Throws when it is outside the network. */
export function cidr6Host(c: Ipv6Cidr, n: number): Ipv6Words {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`invalid host number ${n}`);
  const net = cidr6Network(c).addr;
  const hi = Math.floor(n / 0x1_0000_0000);
  const lo = n >>> 0;
  // host numbers are below 2^53: they touch the last two words only
  const w3 = net[3] + lo;
  const w2 = net[2] + hi + (w3 > 0xffffffff ? 1 : 0);
  const out: Ipv6Words = [net[0], net[1], w2 >>> 0, w3 >>> 0];
  if (w2 > 0xffffffff || !cidr6Contains(c, out)) throw new RangeError(`host ${n} is outside ${formatCidr6(c)}`);
  return out;
}

// Range relations are ip-num's (slow path: IPAM and config checks), as for IPv4.
function toRange6(c: Ipv6Cidr): IPv6CidrRange {
  return IPv6CidrRange.fromCidr(formatCidr6(cidr6Network(c)));
}

export function cidrs6Overlap(a: Ipv6Cidr, b: Ipv6Cidr): boolean {
  return toRange6(a).isOverlapping(toRange6(b));
}

export function cidr6Inside(inner: Ipv6Cidr, outer: Ipv6Cidr): boolean {
  return toRange6(inner).inside(toRange6(outer));
}

// ---- kinds of addresses (RFC 4291 2.4) ----------------------------------------------------------

export function isUnspecifiedIpv6(a: Ipv6Words): boolean {
  return (a[0] | a[1] | a[2] | a[3]) === 0;
}

export function isLoopbackIpv6(a: Ipv6Words): boolean {
  return (a[0] | a[1] | a[2]) === 0 && a[3] >>> 0 === 1;
}

/** ff00::/8. */
export function isMulticastIpv6(a: Ipv6Words): boolean {
  return a[0] >>> 24 === 0xff;
}

/** fe80::/10. */
export function isLinkLocalIpv6(a: Ipv6Words): boolean {
  return a[0] >>> 22 === 0x3fa;
}

/** fc00::/7, unique local addresses (RFC 4193): private, masqueraded like RFC 1918 IPv4. */
export function isUniqueLocalIpv6(a: Ipv6Words): boolean {
  return a[0] >>> 25 === 0x7e;
}

/** ::ffff:0:0/96, IPv4-mapped. */
export function isIpv4MappedIpv6(a: Ipv6Words): boolean {
  return (a[0] | a[1]) === 0 && a[2] >>> 0 === 0xffff;
}

// ---- addresses derived from others --------------------------------------------------------------

const TWO32 = 0x1_0000_0000;

/** The modified EUI-64 interface identifier of a MAC (RFC 4291 appendix A) as words 2 and 3. */
export function eui64Words(mac: number): [number, number] {
  const hi = Math.floor(mac / TWO32) & 0xffff; // first two octets
  const lo = mac >>> 0; // last four
  const o0 = (hi >>> 8) ^ 0x02; // the universal/local bit inverted
  const o1 = hi & 0xff;
  const o2 = lo >>> 24;
  const w2 = ((o0 << 24) | (o1 << 16) | (o2 << 8) | 0xff) >>> 0;
  const w3 = ((0xfe << 24) | (lo & 0xffffff)) >>> 0;
  return [w2, w3];
}

/** fe80::/64 with the MAC's EUI-64 identifier: the link-local address Linux gives an interface. */
export function linkLocalFromMac(mac: number): Ipv6Words {
  const [w2, w3] = eui64Words(mac);
  return [0xfe800000, 0, w2, w3];
}

/** The solicited-node multicast address of `a` (RFC 4291 2.7.1): ff02::1:ffXX:XXXX. */
export function solicitedNodeMulticast(a: Ipv6Words): Ipv6Words {
  return [0xff020000, 0, 1, (0xff000000 | (a[3] & 0xffffff)) >>> 0];
}

/** The Ethernet destination of an IPv6 multicast address (RFC 2464 7): 33:33 and its last 32 bits. */
export function multicastMacIpv6(a: Ipv6Words): number {
  return 0x3333 * TWO32 + (a[3] >>> 0);
}

/**
 * The four words of an address mixed into a small non-negative integer: a Map key that stays a Smi
 * on every V8 build (30 bits), for the tables keyed by an IPv6 address (neighbours, remote endpoints).
 */
export function ipv6WordsHash(w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w0 ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ w1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ w2, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15) ^ w3, 0x165667b1);
  return (h ^ (h >>> 16)) & 0x3fffffff;
}
