// IPv4 address management: Docker's default address pools, the per-network address allocator
// and the validation of `network create` requests. Addresses are uint32 numbers here;
// src/wire/ipv4-address.ts parses and prints them, and this file turns a parse failure of a
// request into its HTTP 400.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  cidrContains,
  cidrInside,
  cidrLastAddress,
  cidrNetwork,
  cidrsOverlap,
  formatCidr,
  ipv4ToString,
  parseCidr,
  parseCidrOrNull,
  parseIpv4OrNull,
  type Ipv4Cidr,
} from '../wire/ipv4-address.js';
import type { NetworkCreateRequest } from './api-types.js';
import { ApiFailure } from './gateway-api.js';
import { defaultPool6, isIpv6Text, validateIpv6, type Pool6, type ValidatedIpv6 } from './ipam6.js';
import { cidr6Contains, cidr6Network, formatCidr6, ipv6ToString, isLinkLocalIpv6, isMulticastIpv6, isUniqueLocalIpv6, parseCidr6, parseCidr6OrNull, parseIpv6OrNull } from '../wire/ipv6-address.js';

const execFileP = promisify(execFile);

/**
 * The subnet (or ip-range) of a request, "a.b.c.d/len". Like Docker, an address with host bits
 * set is an error, with the network it should have been. `what` names the field in messages
 * ("subnet", "ip-range"); every failure is a 400.
 */
export function parseSubnet(s: string, what = 'subnet'): Ipv4Cidr {
  let c: Ipv4Cidr;
  try {
    c = parseCidr(s);
  } catch (err) {
    throw new ApiFailure(400, `invalid ${what} ${JSON.stringify(s)}: ${(err as Error).message}`);
  }
  const network = cidrNetwork(c);
  if (network.addr !== c.addr) throw new ApiFailure(400, `invalid ${what} ${s}: it should be ${formatCidr(network)}`);
  return c;
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
  const takenCidrs = taken.map((t) => parseCidr(t));
  for (const pool of DEFAULT_POOLS) {
    const c = parseCidr(pool);
    if (!takenCidrs.some((t) => cidrsOverlap(c, t))) return pool;
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

/**
 * The same for IPv6 (`ip -j -6 route`): link-local and multicast routes left out too, and the
 * host link's own subnet (`hostLink6`, on `hostDevice`) put in, so no network takes it.
 */
export async function hostRouteCidrs6(ownDevicePrefix: string, hostDevice: string, hostLink6: string | null): Promise<string[]> {
  let stdout = '';
  try {
    ({ stdout } = await execFileP('ip', ['-j', '-6', 'route', 'show', 'table', 'all'], { timeout: 10_000 }));
  } catch (err) {
    // a kernel without IPv6 has no IPv6 routes to overlap
    if (!/not supported|Address family not supported/i.test(String((err as { stderr?: unknown }).stderr ?? ''))) throw err;
  }
  return routeCidrs6FromJson(stdout, ownDevicePrefix, hostDevice, hostLink6);
}

/** The filtering half of hostRouteCidrs6, on the output of `ip -j -6 route show table all`. */
export function routeCidrs6FromJson(json: string, ownDevicePrefix: string, hostDevice: string, hostLink6: string | null): string[] {
  const routes = (json.trim() === '' ? [] : JSON.parse(json)) as IpRouteJson[];
  const out = new Set<string>();
  if (hostLink6 !== null) out.add(formatCidr6(cidr6Network(parseCidr6(hostLink6))));
  for (const r of routes) {
    if (r.dst === undefined || r.dst === 'default') continue;
    if (r.type !== undefined && IGNORED_ROUTE_TYPES.has(r.type)) continue;
    if (r.dev !== undefined && (r.dev === hostDevice || (ownDevicePrefix !== '' && r.dev.startsWith(ownDevicePrefix)))) continue;
    const c = parseCidr6OrNull(r.dst.includes('/') ? r.dst : `${r.dst}/128`);
    if (c === null || isLinkLocalIpv6(c.addr) || isMulticastIpv6(c.addr)) continue;
    out.add(formatCidr6(c));
  }
  return [...out];
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
    if (parseCidrOrNull(dst) === null) continue;
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
  private readonly subnet: Ipv4Cidr;
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
    this.subnet = parseSubnet(subnet);
    this.subnetText = formatCidr(this.subnet);
    const gw = parseIpv4OrNull(gateway);
    if (gw === null) throw new ApiFailure(400, `invalid gateway ${JSON.stringify(gateway)}: not an IPv4 address`);
    this.gateway = gw;
    this.broadcast = cidrLastAddress(this.subnet);
    const pool = ipRange === undefined ? this.subnet : parseSubnet(ipRange, 'ip-range');
    this.first = Math.max(pool.addr, this.subnet.addr + 1);
    this.last = Math.min(cidrLastAddress(pool), this.broadcast - 1);
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
      return ipv4ToString(n);
    }
    while (this.cursor <= this.last && (this.used.has(this.cursor) || this.cursor === this.gateway)) this.cursor++;
    if (this.cursor > this.last) {
      throw new ApiFailure(409, `no available addresses${this.onNetwork} (subnet ${this.subnetText})`);
    }
    const n = this.cursor++;
    this.used.add(n);
    return ipv4ToString(n);
  }

  private checkRequested(ip: string): number {
    const n = parseIpv4OrNull(ip);
    if (n === null) throw new ApiFailure(400, `invalid address ${JSON.stringify(ip)}: not an IPv4 address`);
    if (!cidrContains(this.subnet, n)) {
      throw new ApiFailure(400, `address ${ip} is not in subnet ${this.subnetText}${this.ofNetwork}`);
    }
    if (n === this.subnet.addr) {
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
    const n = parseIpv4OrNull(ip);
    if (n === null || !this.used.delete(n)) return;
    if (n < this.cursor && n >= this.first) this.cursor = n;
  }

  /** Records an address already in use (restored state) without any check. */
  markUsed(ip: string): void {
    const n = parseIpv4OrNull(ip);
    if (n !== null) this.used.add(n);
  }

  /** True when the address is allocated (the gateway is not counted). */
  has(ip: string): boolean {
    const n = parseIpv4OrNull(ip);
    return n !== null && this.used.has(n);
  }
}

/** What hands out a network's IPv4 addresses: an AddressAllocator, or NoIpv4Addresses on an IPv6-only network. */
export type Ipv4Allocator = Pick<AddressAllocator, 'allocate' | 'release' | 'markUsed' | 'has'>;

/**
 * The IPv4 side of an IPv6-only network: no address to hand out (every allocation is refused with
 * a 400 naming the network), none in use, nothing to release.
 */
export class NoIpv4Addresses implements Ipv4Allocator {
  constructor(private readonly networkName: string) {}

  allocate(requested?: string): string {
    const what = requested === undefined ? 'no IPv4 address can be allocated' : `IPv4 address ${requested} cannot be given`;
    throw new ApiFailure(400, `network ${this.networkName} has no IPv4 (it is IPv6-only): ${what}`);
  }

  release(): void {}

  markUsed(): void {}

  has(): boolean {
    return false;
  }
}

export const NETWORK_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const SUPPORTED_DRIVERS: readonly string[] = ['bridge', 'overlay', 'macvlan'];
export const DEFAULT_MTU = 1500;
export const MAX_SUBNET_PREFIX = 30;

/** The IPv6 side of a validated network: its subnet, gateway, ip-range and whether it is masqueraded. */
export interface ValidatedNetwork6 extends ValidatedIpv6 {
  nat: boolean;
}

export interface ValidatedNetwork {
  subnet: string;
  gateway: string;
  ipRange?: string;
  mtu: number;
  internal: boolean;
  /** --ipv6: the network's IPv6 side */
  ipv6?: ValidatedNetwork6;
  /** false: an IPv6-only network (only IPv6 subnets were given); subnet and gateway are then unused */
  ipv4: boolean;
  /** --aux-address: name → address (of the subnet of its family), never given out */
  auxAddresses?: Record<string, string>;
}

/** The subnets, gateways and ip-ranges of one family, as a request gave them. */
interface FamilyRequest {
  subnet?: string;
  gateway?: string;
  ipRange?: string;
}

/**
 * Sorts the request's subnets, gateways and ip-ranges by family (an address with a colon is
 * IPv6), as `docker network create` matches several --subnet/--gateway/--ip-range; the old
 * single-subnet fields count as one more of each. One subnet per family.
 */
export function requestFamilies(req: NetworkCreateRequest): { v4: FamilyRequest; v6: FamilyRequest; anySubnet: boolean } {
  const all = (one: string | undefined, many: string[] | undefined): string[] => [...(one !== undefined ? [one] : []), ...(many ?? [])];
  const subnets = all(req.subnet, req.subnets);
  const gateways = all(req.gateway, req.gateways);
  const ranges = all(req.ipRange, req.ipRanges);
  const fam = (v6: boolean): FamilyRequest => {
    const label = v6 ? 'IPv6' : 'IPv4';
    const of = (list: string[]) => list.filter((x) => isIpv6Text(x) === v6);
    const [subnet, second] = of(subnets);
    if (second !== undefined) throw new ApiFailure(400, `only one ${label} subnet per network is supported (got ${subnet} and ${second})`);
    const [gateway, gw2] = of(gateways);
    const [ipRange, range2] = of(ranges);
    if (subnet === undefined && subnets.length > 0) {
      if (gateway !== undefined) throw new ApiFailure(400, `no matching subnet for gateway ${gateway}`);
      if (ipRange !== undefined) throw new ApiFailure(400, `no matching subnet for range ${ipRange}`);
    }
    if (gw2 !== undefined) throw new ApiFailure(400, `cannot configure multiple gateways (${gateway}, ${gw2}) for the same subnet (${subnet ?? label})`);
    if (range2 !== undefined) throw new ApiFailure(400, `cannot configure multiple ranges (${ipRange}, ${range2}) on the same subnet (${subnet ?? label})`);
    const out: FamilyRequest = {};
    if (subnet !== undefined) out.subnet = subnet;
    if (gateway !== undefined) out.gateway = gateway;
    if (ipRange !== undefined) out.ipRange = ipRange;
    return out;
  };
  return { v4: fam(false), v6: fam(true), anySubnet: subnets.length > 0 };
}

/**
 * Checks a `network create` request against the existing networks and the host's routes and
 * fills in what Docker would: a subnet from the default pools, the first usable address as gateway;
 * with --ipv6 the same for the IPv6 side (from `pools6`, a ULA /64 by default).
 */
export function validateNetworkRequest(
  req: NetworkCreateRequest,
  existing: { name: string; subnet: string; subnet6?: string }[],
  hostRoutes: string[],
  pools6: readonly Pool6[] = [defaultPool6()],
  hostRoutes6: readonly string[] = [],
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
  const fams = requestFamilies(req);
  if (!fams.anySubnet && (fams.v4.gateway !== undefined || fams.v4.ipRange !== undefined || fams.v6.gateway !== undefined || fams.v6.ipRange !== undefined)) {
    throw new ApiFailure(400, 'every ip-range or gateway must have a corresponding subnet');
  }
  const enableIpv6 = req.ipv6 === true;
  if (!enableIpv6 && fams.v6.subnet !== undefined) {
    throw new ApiFailure(400, `IPv6 subnet ${fams.v6.subnet} needs --ipv6 (IPv6 is not enabled on network ${JSON.stringify(name)})`);
  }
  // only IPv6 subnets given (Podman's IPv6-only networks); Docker would add an IPv4 one from its pools
  const ipv4 = !(enableIpv6 && fams.anySubnet && fams.v4.subnet === undefined);
  const out: ValidatedNetwork = ipv4
    ? { ...validateIpv4(name, fams.v4, existing, hostRoutes), mtu, internal: req.internal ?? false, ipv4 }
    : { subnet: '', gateway: '', mtu, internal: req.internal ?? false, ipv4 };
  if (enableIpv6) {
    const v6 = validateIpv6(name, fams.v6, existing, pools6, hostRoutes6);
    // Docker masquerades ULA subnets (ip6tables); a global prefix is routed unless told otherwise
    const nat = req.ipv6Nat ?? isUniqueLocalIpv6(parseCidr6(v6.subnet).addr);
    out.ipv6 = { ...v6, nat };
  } else if (req.ipv6Nat !== undefined) {
    throw new ApiFailure(400, 'option pontoon.ipv6.nat needs --ipv6');
  }
  if (driver !== 'macvlan') {
    const given = [req.parent !== undefined ? 'parent' : '', req.macvlanMode !== undefined ? 'macvlan_mode' : '', req.hostAccess !== undefined ? 'pontoon.host_access' : ''].filter((x) => x !== '');
    if (given.length > 0) throw new ApiFailure(400, `option ${given[0]} is for macvlan networks (--driver macvlan), not ${driver}`);
  }
  if (req.auxAddresses !== undefined) out.auxAddresses = validateAuxAddresses(name, req.auxAddresses, out);
  return out;
}

/** Each --aux-address NAME=IP: an address of the subnet of its family, not the gateway, given once. */
function validateAuxAddresses(name: string, aux: Record<string, string>, v: ValidatedNetwork): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Map<string, string>();
  for (const [key, text] of Object.entries(aux)) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(key)) throw new ApiFailure(400, `invalid aux-address name ${JSON.stringify(key)}`);
    let ip: string;
    if (isIpv6Text(text)) {
      const a = parseIpv6OrNull(text);
      if (a === null) throw new ApiFailure(400, `invalid aux-address ${key}=${text}: not an IP address`);
      if (v.ipv6 === undefined || !cidr6Contains(parseCidr6(v.ipv6.subnet), a)) throw new ApiFailure(400, `no matching subnet for aux-address ${text}`);
      ip = ipv6ToString(a);
      if (ip === v.ipv6.gateway) throw new ApiFailure(400, `aux-address ${key}=${text} is the gateway of network ${name}`);
    } else {
      const a = parseIpv4OrNull(text);
      if (a === null) throw new ApiFailure(400, `invalid aux-address ${key}=${text}: not an IP address`);
      if (!v.ipv4 || !cidrContains(parseCidr(v.subnet), a)) throw new ApiFailure(400, `no matching subnet for aux-address ${text}`);
      ip = ipv4ToString(a);
      if (ip === v.gateway) throw new ApiFailure(400, `aux-address ${key}=${text} is the gateway of network ${name}`);
    }
    const twice = seen.get(ip);
    if (twice !== undefined) throw new ApiFailure(400, `aux-addresses ${twice} and ${key} are the same address ${ip}`);
    seen.set(ip, key);
    out[key] = ip;
  }
  return out;
}

/** The IPv4 side of a request: a subnet from the default pools unless given, its gateway and ip-range. */
function validateIpv4(
  name: string,
  req: FamilyRequest,
  existing: { name: string; subnet: string }[],
  hostRoutes: string[],
): { subnet: string; gateway: string; ipRange?: string } {
  let subnet: Ipv4Cidr;
  if (req.subnet === undefined) {
    subnet = parseCidr(chooseSubnet([...existing.flatMap((n) => (n.subnet !== '' ? [n.subnet] : [])), ...hostRoutes]));
  } else {
    subnet = parseSubnet(req.subnet);
    if (subnet.prefixLen > MAX_SUBNET_PREFIX) {
      throw new ApiFailure(400, `invalid subnet ${req.subnet}: the prefix length must be at most /${MAX_SUBNET_PREFIX}`);
    }
  }
  const subnetText = formatCidr(subnet);
  for (const other of existing) {
    if (other.subnet !== '' && cidrsOverlap(subnet, parseCidr(other.subnet))) {
      throw new ApiFailure(
        409,
        `subnet ${subnetText} of network ${JSON.stringify(name)} overlaps with ${other.subnet} of network ${JSON.stringify(other.name)}`,
      );
    }
  }
  for (const route of hostRoutes) {
    if (cidrsOverlap(subnet, parseCidr(route))) {
      throw new ApiFailure(409, `subnet ${subnetText} of network ${JSON.stringify(name)} overlaps with host route ${route}`);
    }
  }

  const broadcast = cidrLastAddress(subnet);
  let gateway: string;
  if (req.gateway === undefined) {
    gateway = ipv4ToString(subnet.addr + 1);
  } else {
    const gw = parseIpv4OrNull(req.gateway);
    if (gw === null) throw new ApiFailure(400, `invalid gateway ${JSON.stringify(req.gateway)}: not an IPv4 address`);
    if (!cidrContains(subnet, gw)) {
      throw new ApiFailure(400, `gateway ${req.gateway} is not in subnet ${subnetText}`);
    }
    if (gw === subnet.addr || gw === broadcast) {
      throw new ApiFailure(
        400,
        `gateway ${req.gateway} is the ${gw === broadcast ? 'broadcast' : 'network'} address of subnet ${subnetText}`,
      );
    }
    gateway = req.gateway;
  }

  const out: { subnet: string; gateway: string; ipRange?: string } = { subnet: subnetText, gateway };
  if (req.ipRange !== undefined) {
    const range = parseSubnet(req.ipRange, 'ip-range');
    out.ipRange = formatCidr(range);
    if (!cidrInside(range, subnet)) throw new ApiFailure(400, `ip-range ${out.ipRange} is not inside subnet ${subnetText}`);
  }
  return out;
}
