// IPv4 address management: CIDR parsing, Docker's default address pools, the per-network address
// allocator and the validation of `network create` requests. Addresses are uint32 numbers here;
// ip-num parses and prints them.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { IPv4, IPv4CidrRange } from 'ip-num';
import type { NetworkCreateRequest } from './api-types.js';
import { ApiFailure } from './gateway-api.js';

const execFileP = promisify(execFile);

// ip-num accepts leading zeros ("01.2.3.4"), which Docker (Go's net.ParseIP) rejects: check the form first.
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const DOTTED_QUAD = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** The address as a uint32, or null when `s` is not a dotted-quad IPv4 address. */
export function parseIPv4(s: string): number | null {
  if (!DOTTED_QUAD.test(s)) return null;
  return Number(IPv4.fromString(s).getValue());
}

/** Dotted-quad text of a uint32 address. */
export function formatIPv4(n: number): string {
  return IPv4.fromNumber(BigInt(n >>> 0)).toString();
}

/** Netmask of a prefix length as a uint32 (prefix 0 gives 0). */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Last address (the broadcast address) of a network. */
export function lastAddress(network: number, prefix: number): number {
  return (network | ~prefixMask(prefix)) >>> 0;
}

export interface Cidr {
  network: number; // uint32, host bits zero
  prefix: number;
}

/** Why `s` is not "a.b.c.d/len", or null when it is (host bits may still be set). */
function cidrSyntaxProblem(s: string): string | null {
  const slash = s.indexOf('/');
  if (slash < 0) return 'expected an IPv4 CIDR such as 172.18.0.0/16';
  const addr = s.slice(0, slash);
  const len = s.slice(slash + 1);
  if (parseIPv4(addr) === null) return `${JSON.stringify(addr)} is not an IPv4 address`;
  if (!/^(?:[0-9]|[12][0-9]|3[0-2])$/.test(len)) return 'the prefix length must be between 0 and 32';
  return null;
}

/**
 * Parses "a.b.c.d/len". Like Docker, an address with host bits set is an error, with the
 * network it should have been. `what` names the field in messages ("subnet", "ip-range").
 */
export function parseCidr(s: string, what = 'subnet'): Cidr {
  const problem = cidrSyntaxProblem(s);
  if (problem !== null) throw new ApiFailure(400, `invalid ${what} ${JSON.stringify(s)}: ${problem}`);
  const slash = s.indexOf('/');
  const addr = parseIPv4(s.slice(0, slash)) as number;
  const prefix = Number(s.slice(slash + 1));
  const network = (addr & prefixMask(prefix)) >>> 0;
  if (network !== addr) {
    throw new ApiFailure(400, `invalid ${what} ${s}: it should be ${formatCidr({ network, prefix })}`);
  }
  return { network, prefix };
}

/** Parses "a.b.c.d/len" keeping the host bits (an interface address); null when malformed. */
export function parseInterfaceCidr(s: string): { address: number; prefix: number } | null {
  if (cidrSyntaxProblem(s) !== null) return null;
  const slash = s.indexOf('/');
  return { address: parseIPv4(s.slice(0, slash)) as number, prefix: Number(s.slice(slash + 1)) };
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.network)}/${c.prefix}`;
}

function toRange(c: Cidr): IPv4CidrRange {
  return IPv4CidrRange.fromCidr(formatCidr(c));
}

/** True when two CIDRs share at least one address. Host bits, if any, are ignored. */
export function cidrsOverlap(a: string, b: string): boolean {
  return toRange(normalizeCidr(a)).isOverlapping(toRange(normalizeCidr(b)));
}

/** True when CIDR `inner` lies entirely inside CIDR `outer`. */
export function cidrInside(inner: string, outer: string): boolean {
  return toRange(normalizeCidr(inner)).inside(toRange(normalizeCidr(outer)));
}

/** True when the address lies in the CIDR. */
export function cidrContains(cidr: string, ip: string): boolean {
  const c = normalizeCidr(cidr);
  const n = parseIPv4(ip);
  return n !== null && ((n & prefixMask(c.prefix)) >>> 0) === c.network;
}

function normalizeCidr(s: string): Cidr {
  const parsed = parseInterfaceCidr(s);
  if (parsed === null) throw new ApiFailure(400, `invalid subnet ${JSON.stringify(s)}: ${cidrSyntaxProblem(s)}`);
  return { network: (parsed.address & prefixMask(parsed.prefix)) >>> 0, prefix: parsed.prefix };
}

/** Docker's default local address pools: 172.17-31.0.0/16, then 192.168.0.0/16 cut into /20s. */
export const DEFAULT_POOLS: readonly string[] = (() => {
  const pools: string[] = [];
  for (let b = 17; b <= 31; b++) pools.push(`172.${b}.0.0/16`);
  for (let c = 0; c < 256; c += 16) pools.push(`192.168.${c}.0/20`);
  return pools;
})();

/** The first default pool that overlaps none of `taken` (existing networks and host routes). */
export function chooseSubnet(taken: string[]): string {
  for (const pool of DEFAULT_POOLS) {
    if (!taken.some((t) => cidrsOverlap(pool, t))) return pool;
  }
  throw new ApiFailure(409, 'no available subnet in the default address pools');
}

interface IpRouteJson {
  type?: string;
  dst?: string;
  dev?: string;
}

const IGNORED_ROUTE_TYPES = new Set(['local', 'broadcast', 'anycast', 'multicast']);

/**
 * Destinations of the host's IPv4 routes (all tables) that a new network must not overlap:
 * default routes, local/broadcast entries and the daemon's own routes (devices starting with
 * `ownDevicePrefix`, and `hostDevice`) are left out.
 */
export async function hostRouteCidrs(ownDevicePrefix: string, hostDevice: string): Promise<string[]> {
  const { stdout } = await execFileP('ip', ['-j', '-4', 'route', 'show', 'table', 'all'], { timeout: 10_000 });
  return routeCidrsFromJson(stdout, ownDevicePrefix, hostDevice);
}

/** The filtering half of hostRouteCidrs, on the output of `ip -j -4 route show table all`. */
export function routeCidrsFromJson(json: string, ownDevicePrefix: string, hostDevice: string): string[] {
  const routes = (json.trim() === '' ? [] : JSON.parse(json)) as IpRouteJson[];
  const out = new Set<string>();
  for (const r of routes) {
    if (r.dst === undefined || r.dst === 'default') continue;
    if (r.type !== undefined && IGNORED_ROUTE_TYPES.has(r.type)) continue;
    if (r.dev !== undefined && (r.dev === hostDevice || (ownDevicePrefix !== '' && r.dev.startsWith(ownDevicePrefix)))) continue;
    const dst = r.dst.includes('/') ? r.dst : `${r.dst}/32`;
    if (parseInterfaceCidr(dst) === null) continue;
    out.add(dst);
  }
  return [...out];
}

/**
 * Hands out the addresses of one network: the lowest free address of the ip-range (or of the
 * subnet), never the network address, the broadcast address or the gateway. Addresses below the
 * cursor are all in use, so sequential allocation is O(1) amortised.
 */
export class AddressAllocator {
  private readonly subnet: Cidr;
  private readonly subnetText: string;
  private readonly gateway: number;
  private readonly broadcast: number;
  private readonly first: number; // lowest candidate of the pool
  private readonly last: number; // highest candidate of the pool
  private readonly used = new Set<number>();
  private cursor: number;

  constructor(
    subnet: string,
    gateway: string,
    ipRange?: string,
    private readonly networkName = '',
  ) {
    this.subnet = parseCidr(subnet);
    this.subnetText = formatCidr(this.subnet);
    const gw = parseIPv4(gateway);
    if (gw === null) throw new ApiFailure(400, `invalid gateway ${JSON.stringify(gateway)}: not an IPv4 address`);
    this.gateway = gw;
    this.broadcast = lastAddress(this.subnet.network, this.subnet.prefix);
    const pool = ipRange === undefined ? this.subnet : parseCidr(ipRange, 'ip-range');
    this.first = Math.max(pool.network, this.subnet.network + 1);
    this.last = Math.min(lastAddress(pool.network, pool.prefix), this.broadcast - 1);
    this.cursor = this.first;
  }

  private get onNetwork(): string {
    return this.networkName === '' ? '' : ` on network ${JSON.stringify(this.networkName)}`;
  }

  private get ofNetwork(): string {
    return this.networkName === '' ? '' : ` of network ${JSON.stringify(this.networkName)}`;
  }

  /** Allocates `requested` (any address of the subnet) or the lowest free one; returns it dotted. */
  allocate(requested?: string): string {
    if (requested !== undefined) {
      const n = this.checkRequested(requested);
      this.used.add(n);
      return formatIPv4(n);
    }
    while (this.cursor <= this.last && (this.used.has(this.cursor) || this.cursor === this.gateway)) this.cursor++;
    if (this.cursor > this.last) {
      throw new ApiFailure(409, `no available addresses${this.onNetwork} (subnet ${this.subnetText})`);
    }
    const n = this.cursor++;
    this.used.add(n);
    return formatIPv4(n);
  }

  private checkRequested(ip: string): number {
    const n = parseIPv4(ip);
    if (n === null) throw new ApiFailure(400, `invalid address ${JSON.stringify(ip)}: not an IPv4 address`);
    if (((n & prefixMask(this.subnet.prefix)) >>> 0) !== this.subnet.network) {
      throw new ApiFailure(400, `address ${ip} is not in subnet ${this.subnetText}${this.ofNetwork}`);
    }
    if (n === this.subnet.network) {
      throw new ApiFailure(400, `address ${ip} is the network address of subnet ${this.subnetText}${this.ofNetwork}`);
    }
    if (n === this.broadcast) {
      throw new ApiFailure(400, `address ${ip} is the broadcast address of subnet ${this.subnetText}${this.ofNetwork}`);
    }
    if (n === this.gateway) throw new ApiFailure(409, `address ${ip} is already in use${this.onNetwork} (it is the gateway)`);
    if (this.used.has(n)) throw new ApiFailure(409, `address ${ip} is already in use${this.onNetwork}`);
    return n;
  }

  /** Returns an address to the pool; unknown addresses are ignored. */
  release(ip: string): void {
    const n = parseIPv4(ip);
    if (n === null || !this.used.delete(n)) return;
    if (n < this.cursor && n >= this.first) this.cursor = n;
  }

  /** Records an address already in use (restored state) without any check. */
  markUsed(ip: string): void {
    const n = parseIPv4(ip);
    if (n !== null) this.used.add(n);
  }

  /** True when the address is allocated (the gateway is not counted). */
  has(ip: string): boolean {
    const n = parseIPv4(ip);
    return n !== null && this.used.has(n);
  }
}

export const NETWORK_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const SUPPORTED_DRIVERS: readonly string[] = ['bridge', 'overlay'];
export const DEFAULT_MTU = 1500;
export const MAX_SUBNET_PREFIX = 30;

export interface ValidatedNetwork {
  subnet: string;
  gateway: string;
  ipRange?: string;
  mtu: number;
  internal: boolean;
}

/**
 * Checks a `network create` request against the existing networks and the host's routes and
 * fills in what Docker would: a subnet from the default pools, the first usable address as gateway.
 */
export function validateNetworkRequest(
  req: NetworkCreateRequest,
  existing: { name: string; subnet: string }[],
  hostRoutes: string[],
): ValidatedNetwork {
  const name = req.name;
  if (typeof name !== 'string' || !NETWORK_NAME_RE.test(name)) {
    throw new ApiFailure(
      400,
      `invalid network name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
    );
  }
  if (existing.some((n) => n.name === name)) throw new ApiFailure(409, `network with name ${name} already exists`);
  const driver = req.driver ?? 'bridge';
  if (!SUPPORTED_DRIVERS.includes(driver)) {
    throw new ApiFailure(400, `driver ${JSON.stringify(driver)} is not supported (supported: ${SUPPORTED_DRIVERS.join(', ')})`);
  }
  const mtu = req.mtu ?? DEFAULT_MTU;
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new ApiFailure(400, `invalid mtu ${mtu}: it must be between 68 and 65535`);
  }
  if (req.subnet === undefined && (req.gateway !== undefined || req.ipRange !== undefined)) {
    throw new ApiFailure(400, 'every ip-range or gateway must have a corresponding subnet');
  }

  let subnet: Cidr;
  if (req.subnet === undefined) {
    subnet = parseCidr(chooseSubnet([...existing.map((n) => n.subnet), ...hostRoutes]));
  } else {
    subnet = parseCidr(req.subnet);
    if (subnet.prefix > MAX_SUBNET_PREFIX) {
      throw new ApiFailure(400, `invalid subnet ${req.subnet}: the prefix length must be at most /${MAX_SUBNET_PREFIX}`);
    }
  }
  const subnetText = formatCidr(subnet);
  for (const other of existing) {
    if (cidrsOverlap(subnetText, other.subnet)) {
      throw new ApiFailure(
        409,
        `subnet ${subnetText} of network ${JSON.stringify(name)} overlaps with ${other.subnet} of network ${JSON.stringify(other.name)}`,
      );
    }
  }
  for (const route of hostRoutes) {
    if (cidrsOverlap(subnetText, route)) {
      throw new ApiFailure(409, `subnet ${subnetText} of network ${JSON.stringify(name)} overlaps with host route ${route}`);
    }
  }

  const broadcast = lastAddress(subnet.network, subnet.prefix);
  let gateway: string;
  if (req.gateway === undefined) {
    gateway = formatIPv4(subnet.network + 1);
  } else {
    const gw = parseIPv4(req.gateway);
    if (gw === null) throw new ApiFailure(400, `invalid gateway ${JSON.stringify(req.gateway)}: not an IPv4 address`);
    if (((gw & prefixMask(subnet.prefix)) >>> 0) !== subnet.network) {
      throw new ApiFailure(400, `gateway ${req.gateway} is not in subnet ${subnetText}`);
    }
    if (gw === subnet.network || gw === broadcast) {
      throw new ApiFailure(
        400,
        `gateway ${req.gateway} is the ${gw === broadcast ? 'broadcast' : 'network'} address of subnet ${subnetText}`,
      );
    }
    gateway = req.gateway;
  }

  let ipRange: string | undefined;
  if (req.ipRange !== undefined) {
    const range = parseCidr(req.ipRange, 'ip-range');
    ipRange = formatCidr(range);
    if (!cidrInside(ipRange, subnetText)) throw new ApiFailure(400, `ip-range ${ipRange} is not inside subnet ${subnetText}`);
  }

  const out: ValidatedNetwork = { subnet: subnetText, gateway, mtu, internal: req.internal ?? false };
  if (ipRange !== undefined) out.ipRange = ipRange;
  return out;
}
