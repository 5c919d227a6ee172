/**
 * IPv4 addresses as unsigned 32-bit numbers in network-order value
 * (192.0.2.1 = 0xC0000201), so routing and NAT tables key on plain numbers; CIDRs as an address
 * and a prefix length. The one parser, printer and mask of the code base (slow path: config,
 * API requests, tests).
 *
 * Parse failures throw a plain Error whose message is the reason ("the prefix length must be
 * between 0 and 32"), written to follow a caller's `invalid subnet "…": `; the *OrNull variants
 * return null instead.
 */

import { IPv4CidrRange } from 'ip-num';

// Decimal octets without leading zeros: "010" is octal to inet_aton (and Docker rejects it), so
// refuse the ambiguity.
const OCTET = '(0|[1-9][0-9]{0,2})';
const IPV4_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const PREFIX_LEN_RE = /^(?:[0-9]|[12][0-9]|3[0-2])$/;

/** Dotted-quad "192.0.2.1" to a uint32, or null on anything else. */
export function parseIpv4OrNull(s: string): number | null {
  const m = IPV4_RE.exec(s);
  if (m === null) return null;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return null;
    n = n * 256 + o;
  }
  return n;
}

/** Dotted-quad "192.0.2.1" to a uint32; throws Error on anything else. */
export function parseIpv4(s: string): number {
  const n = parseIpv4OrNull(s);
  if (n === null) throw new Error(`${JSON.stringify(s)} is not an IPv4 address`);
  return n;
}

/** uint32 to dotted-quad. Slow path. */
export function ipv4ToString(n: number): string {
  const v = n >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/** Netmask for a prefix length 0..32 as uint32 (prefixMask(24) = 0xffffff00). */
export function prefixMask(len: number): number {
  if (!(len >= 0 && len <= 32) || (len | 0) !== len) throw new RangeError(`invalid prefix length: ${len}`);
  // Shifts are mod 32 in JS, so /0 needs its own case.
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** True if `ip` lies in network/prefixLen (host bits of `network` are ignored). */
export function inSubnet(ip: number, network: number, prefixLen: number): boolean {
  return ((ip ^ network) & prefixMask(prefixLen)) === 0;
}

/** "a.b.c.d/len": the address as written (host bits kept) and the prefix length. */
export interface Ipv4Cidr {
  addr: number;
  prefixLen: number;
}

/** Why `s` is not "a.b.c.d/len", or null when it is. */
function cidrProblem(s: string): string | null {
  const slash = s.indexOf('/');
  if (slash < 0) return 'expected an IPv4 CIDR such as 172.18.0.0/16';
  const addr = s.slice(0, slash);
  if (parseIpv4OrNull(addr) === null) return `${JSON.stringify(addr)} is not an IPv4 address`;
  if (!PREFIX_LEN_RE.test(s.slice(slash + 1))) return 'the prefix length must be between 0 and 32';
  return null;
}

/** Parse "10.0.0.0/8" (host bits may be set: "10.0.0.1/8" is an interface address), or null. */
export function parseCidrOrNull(s: string): Ipv4Cidr | null {
  if (cidrProblem(s) !== null) return null;
  const slash = s.indexOf('/');
  return { addr: parseIpv4OrNull(s.slice(0, slash))!, prefixLen: Number(s.slice(slash + 1)) };
}

/** Parse "10.0.0.0/8" (host bits may be set); throws Error with the reason on anything else. */
export function parseCidr(s: string): Ipv4Cidr {
  const problem = cidrProblem(s);
  if (problem !== null) throw new Error(problem);
  return parseCidrOrNull(s)!;
}

/** "a.b.c.d/len", the address as it is in `c` (cidrNetwork first for the network). */
export function formatCidr(c: Ipv4Cidr): string {
  return `${ipv4ToString(c.addr)}/${c.prefixLen}`;
}

/** The network of a CIDR: its host bits cleared ("10.0.0.1/8" → "10.0.0.0/8"). */
export function cidrNetwork(c: Ipv4Cidr): Ipv4Cidr {
  return { addr: (c.addr & prefixMask(c.prefixLen)) >>> 0, prefixLen: c.prefixLen };
}

/** The last address of a CIDR's network (the broadcast address of a subnet). */
export function cidrLastAddress(c: Ipv4Cidr): number {
  return (c.addr | ~prefixMask(c.prefixLen)) >>> 0;
}

/** True when `ip` lies in the CIDR's network. */
export function cidrContains(c: Ipv4Cidr, ip: number): boolean {
  return inSubnet(ip, c.addr, c.prefixLen);
}

// Range relations are ip-num's (slow path: IPAM and config checks); the same library will carry
// the IPv6 side.
function toRange(c: Ipv4Cidr): IPv4CidrRange {
  return IPv4CidrRange.fromCidr(formatCidr(cidrNetwork(c)));
}

/** True when the networks of two CIDRs share an address (one of them contains the other). */
export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return toRange(a).isOverlapping(toRange(b));
}

/** True when the network of `inner` lies entirely inside the network of `outer`. */
export function cidrInside(inner: Ipv4Cidr, outer: Ipv4Cidr): boolean {
  return toRange(inner).inside(toRange(outer));
}

/** 127.0.0.0/8 (loopback): never on a wire (RFC 1122 3.2.1.3). */
export function isLoopbackIpv4(ip: number): boolean {
  return ip >>> 24 === 127;
}

/** 0.0.0.0/8 ("this network"): never a destination (RFC 1122 3.2.1.3). */
export function isThisNetworkIpv4(ip: number): boolean {
  return ip >>> 24 === 0;
}

/** 224.0.0.0/4. */
export function isMulticastIpv4(ip: number): boolean {
  return ip >>> 28 === 0xe;
}

/** 255.255.255.255 (limited broadcast). */
export function isLimitedBroadcastIpv4(ip: number): boolean {
  return ip >>> 0 === 0xffffffff;
}

/** 224.0.0.0/3: multicast and the reserved class E (which holds 255.255.255.255). */
export function isMulticastOrReserved(ip: number): boolean {
  return ip >>> 29 === 7;
}
