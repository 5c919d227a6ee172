// IPv6 address management: the default pool of unique local /64s, the per-network allocator and
// the checks of an IPv6 subnet, gateway or ip-range of a request. Addresses are Ipv6Words (four
// uint32 words) here; src/wire/ipv6-address.ts parses and prints them. A /64 has 2^64 addresses:
// nothing here ever enumerates a subnet, only walks from its start.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  cidr6Contains,
  cidr6Host,
  cidr6Inside,
  cidr6Network,
  cidrs6Overlap,
  formatCidr6,
  ipv6Equal,
  ipv6ToString,
  parseCidr6,
  parseIpv6OrNull,
  type Ipv6Cidr,
  type Ipv6Words,
} from '../wire/ipv6-address.js';
import { ApiFailure } from './gateway-api.js';

/** The longest IPv6 subnet a network may have: /127 and /128 leave no room for a gateway and an endpoint. */
export const MAX_SUBNET6_PREFIX = 126;

/** True when the text is an IPv6 address or CIDR (has a colon): how Docker sorts --subnet, --gateway and --ip-range by family. */
export function isIpv6Text(s: string): boolean {
  return s.includes(':');
}

/** An IPv6 subnet (or ip-range) of a request; host bits set is an error naming the network, as for IPv4. */
export function parseSubnet6(s: string, what = 'subnet'): Ipv6Cidr {
  let c: Ipv6Cidr;
  try {
    c = parseCidr6(s);
  } catch (err) {
    throw new ApiFailure(400, `invalid ${what} ${JSON.stringify(s)}: ${(err as Error).message}`);
  }
  const network = cidr6Network(c);
  if (!ipv6Equal(network.addr, c.addr)) throw new ApiFailure(400, `invalid ${what} ${s}: it should be ${formatCidr6(network)}`);
  return c;
}

/** An IPv6 address of a request ("fd00::2"), written back in RFC 5952 form. */
export function parseAddress6(s: string, what: string): Ipv6Words {
  const a = parseIpv6OrNull(s);
  if (a === null) throw new ApiFailure(400, `invalid ${what} ${JSON.stringify(s)}: not an IPv6 address`);
  return a;
}

/** A pool that new IPv6 subnets are cut from: `base` in pieces of /`size`. */
export interface Pool6 {
  base: string;
  size: number;
}

/**
 * The default IPv6 pool when none is configured, as Docker 27 has it: a unique local /48
 * (RFC 4193, fd00::/8 and a 40-bit global id) cut into /64s. The global id is derived from the
 * host's /etc/machine-id (or its host name), so it is the same at every start.
 */
export function defaultPool6(machineId: string = readMachineId()): Pool6 {
  const h = createHash('sha256').update(`pontoon-ipv6-ula:${machineId}`).digest();
  const hex = (i: number) => h.readUInt16BE(i).toString(16);
  return { base: `fd${h[0]!.toString(16).padStart(2, '0')}:${hex(1)}:${hex(3)}::/48`, size: 64 };
}

/**
 * The host link's IPv6 address when `host.address6` is "auto": ffff::1/64 of the machine's unique
 * local /48 (the last /64 of the default pool, which chooseSubnet6 then finds taken).
 */
export function defaultHostLink6(machineId: string = readMachineId()): string {
  const base = parseCidr6(defaultPool6(machineId).base).addr;
  return `${ipv6ToString([base[0], ((base[1] & 0xffff0000) | 0xffff) >>> 0, 0, 1])}/64`;
}

function readMachineId(): string {
  try {
    const id = readFileSync('/etc/machine-id', 'utf8').trim();
    if (id !== '') return id;
  } catch {
    // no machine id: the host name stands in
  }
  return hostname();
}

/** At most this many candidate subnets are tried per pool: enough for every real host. */
const MAX_POOL_CANDIDATES = 65536;

/** The first /size piece of the pools that overlaps none of `taken`; 409 when there is none. */
export function chooseSubnet6(pools: readonly Pool6[], taken: readonly string[]): string {
  const takenCidrs = taken.map((t) => parseCidr6(t));
  for (const pool of pools) {
    const base = cidr6Network(parseCidr6(pool.base));
    const bits = pool.size - base.prefixLen;
    const count = bits >= 16 ? MAX_POOL_CANDIDATES : 2 ** bits;
    for (let i = 0; i < count; i++) {
      const c: Ipv6Cidr = { addr: shiftedPiece(base, pool.size, i), prefixLen: pool.size };
      if (!takenCidrs.some((t) => cidrs6Overlap(c, t))) return formatCidr6(c);
    }
  }
  throw new ApiFailure(409, 'no available IPv6 subnet in the default address pools');
}

/** The network address of piece `i` (i < 65536) of size /size in `base`: i placed just above the host bits. */
function shiftedPiece(base: Ipv6Cidr, size: number, i: number): Ipv6Words {
  const w: number[] = [...base.addr];
  // the piece number ends at bit `size` (counted from the top): spread it over the words it touches
  for (let bit = 0; bit < 16; bit++) {
    if (((i >>> bit) & 1) === 0) continue;
    const pos = size - 1 - bit; // 0 = most significant bit of the address
    if (pos < base.prefixLen) break;
    const word = pos >>> 5;
    w[word] = (w[word]! | (1 << (31 - (pos & 31)))) >>> 0;
  }
  return [w[0]!, w[1]!, w[2]!, w[3]!];
}

export interface ValidatedIpv6 {
  subnet: string;
  gateway: string;
  ipRange?: string;
}

/**
 * The IPv6 side of a `network create`: the subnet (given, or from the pools), its gateway (::1
 * unless given) and ip-range checked, and no overlap with another network's IPv6 subnet.
 */
export function validateIpv6(
  name: string,
  req: { subnet?: string; gateway?: string; ipRange?: string },
  existing: readonly { name: string; subnet6?: string }[],
  pools: readonly Pool6[],
  hostRoutes6: readonly string[] = [],
): ValidatedIpv6 {
  const taken = existing.flatMap((n) => (n.subnet6 !== undefined ? [n.subnet6] : []));
  let subnet: Ipv6Cidr;
  if (req.subnet === undefined) {
    subnet = parseCidr6(chooseSubnet6(pools, [...taken, ...hostRoutes6]));
  } else {
    subnet = parseSubnet6(req.subnet);
    if (subnet.prefixLen > MAX_SUBNET6_PREFIX) {
      throw new ApiFailure(400, `invalid subnet ${req.subnet}: the prefix length of an IPv6 subnet must be at most /${MAX_SUBNET6_PREFIX} (/64 recommended)`);
    }
  }
  const subnetText = formatCidr6(subnet);
  for (const other of existing) {
    if (other.subnet6 !== undefined && cidrs6Overlap(subnet, parseCidr6(other.subnet6))) {
      throw new ApiFailure(
        409,
        `subnet ${subnetText} of network ${JSON.stringify(name)} overlaps with ${other.subnet6} of network ${JSON.stringify(other.name)}`,
      );
    }
  }
  for (const route of hostRoutes6) {
    if (cidrs6Overlap(subnet, parseCidr6(route))) throw new ApiFailure(409, `subnet ${subnetText} of network ${JSON.stringify(name)} overlaps with host route ${route}`);
  }
  let gateway: string;
  if (req.gateway === undefined) {
    gateway = ipv6ToString(cidr6Host(subnet, 1));
  } else {
    const gw = parseAddress6(req.gateway, 'gateway');
    if (!cidr6Contains(subnet, gw)) throw new ApiFailure(400, `gateway ${req.gateway} is not in subnet ${subnetText}`);
    if (ipv6Equal(gw, subnet.addr)) throw new ApiFailure(400, `gateway ${req.gateway} is the network address of subnet ${subnetText}`);
    gateway = ipv6ToString(gw);
  }
  const out: ValidatedIpv6 = { subnet: subnetText, gateway };
  if (req.ipRange !== undefined) {
    const range = parseSubnet6(req.ipRange, 'ip-range');
    out.ipRange = formatCidr6(range);
    if (!cidr6Inside(range, subnet)) throw new ApiFailure(400, `ip-range ${out.ipRange} is not inside subnet ${subnetText}`);
  }
  return out;
}

/** Host numbers stay below this: an allocator walks at most 2^53 addresses, far more than it will ever hand out. */
const MAX_HOST_NUMBER = Number.MAX_SAFE_INTEGER;

/**
 * Hands out the IPv6 addresses of one network: the lowest free address of the ip-range (or of the
 * subnet) from its start upward, never the subnet-router anycast address (the subnet's first) nor
 * the gateway; freed addresses are handed out again first. Addresses are kept by their text, the
 * walk by a host number within the pool, so a /64 is never enumerated.
 */
export class Ipv6AddressAllocator {
  private readonly subnet: Ipv6Cidr;
  private readonly subnetText: string;
  private readonly gateway: Ipv6Words;
  private readonly gatewayText: string;
  private readonly pool: Ipv6Cidr;
  private readonly lastHost: number; // highest host number of the pool (capped at 2^53 - 1)
  private readonly used = new Set<string>();
  /** host numbers below it are all in use (or never candidates) */
  private cursor = 0;
  /** freed host numbers below the cursor, handed out first (lowest first) */
  private readonly freed = new Set<number>();

  constructor(
    subnet: string,
    gateway: string,
    ipRange?: string,
    private readonly networkName = '',
  ) {
    this.subnet = parseSubnet6(subnet);
    this.subnetText = formatCidr6(this.subnet);
    this.gateway = parseAddress6(gateway, 'gateway');
    this.gatewayText = ipv6ToString(this.gateway);
    this.pool = ipRange === undefined ? this.subnet : parseSubnet6(ipRange, 'ip-range');
    const hostBits = 128 - this.pool.prefixLen;
    this.lastHost = hostBits >= 53 ? MAX_HOST_NUMBER : 2 ** hostBits - 1;
  }

  private get onNetwork(): string {
    return this.networkName === '' ? '' : ` on network ${JSON.stringify(this.networkName)}`;
  }

  private get ofNetwork(): string {
    return this.networkName === '' ? '' : ` of network ${JSON.stringify(this.networkName)}`;
  }

  private candidate(n: number): string | null {
    const a = cidr6Host(this.pool, n);
    if (ipv6Equal(a, this.subnet.addr) || ipv6Equal(a, this.gateway)) return null;
    const text = ipv6ToString(a);
    return this.used.has(text) ? null : text;
  }

  /** Allocates `requested` (any address of the subnet) or the lowest free one; returns it in RFC 5952 form. */
  allocate(requested?: string): string {
    if (requested !== undefined) {
      const text = this.checkRequested(requested);
      this.used.add(text);
      return text;
    }
    for (const n of [...this.freed].sort((a, b) => a - b)) {
      this.freed.delete(n);
      const text = this.candidate(n);
      if (text !== null) {
        this.used.add(text);
        return text;
      }
    }
    while (this.cursor <= this.lastHost) {
      const text = this.candidate(this.cursor++);
      if (text !== null) {
        this.used.add(text);
        return text;
      }
    }
    throw new ApiFailure(409, `no available IPv6 addresses${this.onNetwork} (${this.pool === this.subnet ? 'subnet' : 'ip-range'} ${formatCidr6(this.pool)})`);
  }

  private checkRequested(ip: string): string {
    const a = parseAddress6(ip, 'IPv6 address');
    if (!cidr6Contains(this.subnet, a)) throw new ApiFailure(400, `address ${ip} is not in subnet ${this.subnetText}${this.ofNetwork}`);
    if (ipv6Equal(a, this.subnet.addr)) {
      throw new ApiFailure(400, `address ${ip} is the subnet-router anycast address of subnet ${this.subnetText}${this.ofNetwork}`);
    }
    const text = ipv6ToString(a);
    if (text === this.gatewayText) throw new ApiFailure(409, `address ${ip} is already in use${this.onNetwork} (it is the gateway)`);
    if (this.used.has(text)) throw new ApiFailure(409, `address ${ip} is already in use${this.onNetwork}`);
    return text;
  }

  /** The host number of an address within the pool, or null when it is outside (or beyond the walk). */
  private hostNumber(a: Ipv6Words): number | null {
    if (!cidr6Contains(this.pool, a)) return null;
    const p = this.pool.addr;
    if (a[0] !== p[0] || a[1] !== p[1]) return null; // beyond 2^64: outside any walk
    const n = (a[2] - p[2]) * 0x1_0000_0000 + (a[3] - p[3]);
    return n >= 0 && n <= this.lastHost ? n : null;
  }

  /** Returns an address to the pool; unknown addresses are ignored. */
  release(ip: string): void {
    const a = parseIpv6OrNull(ip);
    if (a === null) return;
    const text = ipv6ToString(a);
    if (!this.used.delete(text)) return;
    const n = this.hostNumber(a);
    if (n !== null && n < this.cursor) this.freed.add(n);
  }

  /** Records an address already in use (restored state) without any check. */
  markUsed(ip: string): void {
    const a = parseIpv6OrNull(ip);
    if (a !== null) this.used.add(ipv6ToString(a));
  }

  /** True when the address is allocated (the gateway is not counted). */
  has(ip: string): boolean {
    const a = parseIpv6OrNull(ip);
    return a !== null && this.used.has(ipv6ToString(a));
  }
}
