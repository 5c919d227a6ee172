/**
 * IPv4 addresses as unsigned 32-bit numbers in network-order value
 * (192.0.2.1 = 0xC0000201), so routing and NAT tables key on plain numbers.
 */

// Decimal octets without leading zeros: "010" is octal to inet_aton, so reject the ambiguity.
const OCTET = '(0|[1-9][0-9]{0,2})';
const IPV4_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** Parse dotted-quad "192.0.2.1" to a uint32; throws Error on anything else. */
export function parseIpv4(s: string): number {
  const m = IPV4_RE.exec(s);
  if (m === null) throw new Error(`invalid IPv4 address: ${JSON.stringify(s)}`);
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) throw new Error(`invalid IPv4 address: ${JSON.stringify(s)}`);
    n = n * 256 + o;
  }
  return n >>> 0;
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

/** Parse "10.0.0.0/8" (a bare address means /32); throws Error on bad input. */
export function parseCidr(s: string): { addr: number; prefixLen: number } {
  const slash = s.indexOf('/');
  if (slash < 0) return { addr: parseIpv4(s), prefixLen: 32 };
  const lenStr = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]?)$/.test(lenStr) || Number(lenStr) > 32) {
    throw new Error(`invalid CIDR prefix length: ${JSON.stringify(s)}`);
  }
  return { addr: parseIpv4(s.slice(0, slash)), prefixLen: Number(lenStr) };
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
