// The names the embedded DNS answers for, per network: each endpoint's container name and its
// aliases (local endpoints and, on overlays, those of other hosts), with the endpoint's addresses of
// both families on that network, and the reverse entries of those addresses (in-addr.arpa and
// ip6.arpa). A client sees the names of every network its container is attached to and no others,
// like Docker's per-container resolver. An endpoint's legacy links (`--link db:dbalias`) are
// answered to that endpoint's container only: the alias stands for the linked container's name on
// the link's network, looked up at query time (a link whose container left answers nothing, and
// works again when a container of that name comes back). Indexes are rebuilt lazily after a change.

import { cidrContains, parseCidr, parseIpv4OrNull, type Ipv4Cidr } from '../../wire/ipv4-address.js';
import { cidr6Contains, ipv6ToString, parseCidr6, parseIpv6OrNull, type Ipv6Cidr, type Ipv6Words } from '../../wire/ipv6-address.js';
import type { ContainerLink } from '../api-types.js';

/** Which addresses a lookup wants: A records (4) or AAAA records (6). */
export type IpFamily = 4 | 6;

export interface NameEntry {
  /** endpoint id */
  id: string;
  /** container name */
  name: string;
  /** the endpoint's IPv4 address; '' on an IPv6-only network (no A record, no in-addr.arpa name) */
  ip: string;
  /** the endpoint's IPv6 address on this network (a network with IPv6), in any RFC 4291 text form */
  ip6?: string;
  aliases: readonly string[];
  /** Docker's legacy links of this endpoint: names the embedded DNS gives its container alone */
  links?: readonly ContainerLink[];
  /**
   * the container's network namespace ("dev:ino") for endpoints of this host; ties the networks of
   * one container together. Absent for endpoints on other hosts.
   */
  sandbox?: string;
}

export interface NetworkNames {
  id: string;
  name: string;
  /** the IPv4 subnet; '' on an IPv6-only network */
  subnet: string;
  /** the IPv6 subnet of a network with IPv6 */
  subnet6?: string;
  internal: boolean;
}

/** The addresses of one name on one network, per family, in the order endpoints joined. */
interface NameAddresses {
  4: string[];
  6: string[];
}

interface NetworkState {
  info: NetworkNames;
  /** null: an IPv6-only network */
  subnet: Ipv4Cidr | null;
  subnet6: Ipv6Cidr | null;
  endpoints: Map<string, NameEntry>;
  /** lower-case name → addresses */
  byName: Map<string, NameAddresses> | null;
  /** lower-case container name (aliases left out) → addresses: what a link's name stands for */
  byContainer: Map<string, NameAddresses> | null;
  /** address (IPv6 in RFC 5952 text) → container name */
  byAddress: Map<string, string> | null;
}

/** An address of either family, parsed once: where it is looked for. */
type ParsedAddress = { family: 4; v4: number } | { family: 6; v6: Ipv6Words };

function parseAddress(ip: string): ParsedAddress | null {
  const v4 = parseIpv4OrNull(ip);
  if (v4 !== null) return { family: 4, v4 };
  const v6 = parseIpv6OrNull(ip);
  return v6 === null ? null : { family: 6, v6 };
}

/** The text an address is indexed under: IPv6 in RFC 5952 form (fd00:20:0::2 and fd00:20::2 are one address). */
function addressKey(a: ParsedAddress, ip: string): string {
  return a.family === 4 ? ip : ipv6ToString(a.v6);
}

function inSubnetOf(n: NetworkState, a: ParsedAddress): boolean {
  return a.family === 4 ? n.subnet !== null && cidrContains(n.subnet, a.v4) : n.subnet6 !== null && cidr6Contains(n.subnet6, a.v6);
}

/** A legacy link of the querying container, on one of its networks; names in lower case. */
export interface ScopeLink {
  /** the network of the linking endpoint, where the linked container's name is looked up */
  networkId: string;
  alias: string;
  name: string;
}

/** What a query from one client address may see. */
export interface ClientScope {
  /** the network the query came from (whose gateway it was sent to) */
  network: NetworkNames;
  /** that network first, then the other networks of the same container */
  networks: readonly NetworkNames[];
  /** the container's legacy links on those networks; absent when it has none */
  links?: readonly ScopeLink[];
}

/** Lower case, no trailing dot: how names are compared (DNS is case-insensitive). */
export function canonicalName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

const DNS_NAME_RE = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/i;

/** True when `name` can be looked up in DNS (labels of 1-63 letters, digits, '-' and '_'). */
export function isDnsName(name: string): boolean {
  return DNS_NAME_RE.test(name);
}

/** "4.3.2.1.in-addr.arpa" → "1.2.3.4", or null when it is not the reverse name of an IPv4 address. */
export function reverseNameToIPv4(name: string): string | null {
  const m = /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.in-addr\.arpa$/.exec(canonicalName(name));
  if (m === null) return null;
  const ip = `${m[4]}.${m[3]}.${m[2]}.${m[1]}`;
  return parseIpv4OrNull(ip) === null ? null : ip;
}

const IP6_ARPA_RE = /^((?:[0-9a-f]\.){32})ip6\.arpa$/;

/**
 * "1.0.0.0.…0.2.0.0.0.0.d.f.ip6.arpa" (RFC 3596 2.5: 32 nibbles, least significant first) →
 * "fd00:20::1" (RFC 5952), or null when it is not the reverse name of a whole IPv6 address.
 */
export function reverseNameToIPv6(name: string): string | null {
  const m = IP6_ARPA_RE.exec(canonicalName(name));
  if (m === null) return null;
  const nibbles = m[1]!.replace(/\./g, '');
  const w = [0, 0, 0, 0];
  for (let i = 0; i < 32; i++) {
    // nibble i of the name is nibble 31 - i of the address
    const k = 31 - i;
    w[k >>> 3] = (w[k >>> 3]! | (parseInt(nibbles[i]!, 16) << (4 * (7 - (k & 7))))) >>> 0;
  }
  return ipv6ToString([w[0]!, w[1]!, w[2]!, w[3]!]);
}

/** The address a reverse name (in-addr.arpa or ip6.arpa) stands for, or null. */
export function reverseNameToAddress(name: string): string | null {
  return reverseNameToIPv4(name) ?? reverseNameToIPv6(name);
}

/** Round-robin turns of one name: queries answered so far, per family. */
type NameAddressTurns = Record<IpFamily, number>;

/** RFC 5952 text of an IPv6 address, or null when it is not one. */
function canonicalIpv6(ip6: string): string | null {
  const w = parseIpv6OrNull(ip6);
  return w === null ? null : ipv6ToString(w);
}

/** `found` with the addresses of `ips` it lacks (a copy when it was null); `found` itself when `ips` is undefined. */
function merged(found: string[] | null, ips: readonly string[] | undefined): string[] | null {
  if (ips === undefined) return found;
  if (found === null) return [...ips];
  for (const ip of ips) if (!found.includes(ip)) found.push(ip);
  return found;
}

/** The links of endpoint `e` of network `n`, for a scope, in lower case. */
function addScopeLinks(out: ScopeLink[], n: NetworkState, e: NameEntry): void {
  for (const l of e.links ?? []) out.push({ networkId: n.info.id, alias: canonicalName(l.alias), name: canonicalName(l.name) });
}

export class NameTable {
  private readonly networks = new Map<string, NetworkState>();
  /** per network: the services' names (lower case: NAME, tasks.NAME, NAME.NETWORK.svc) → IPv4 addresses */
  private readonly serviceNames = new Map<string, ReadonlyMap<string, readonly string[]>>();
  /** told after every change of a network's endpoints (services follow their backends through it) */
  onEndpointsChanged: ((networkId: string) => void) | null = null;
  /** round robin: queries answered so far per network and name */
  private readonly turns = new Map<string, NameAddressTurns>();

  setNetwork(info: NetworkNames): void {
    const known = this.networks.get(info.id);
    this.networks.set(info.id, {
      info: { ...info },
      subnet: info.subnet !== '' ? parseCidr(info.subnet) : null,
      subnet6: info.subnet6 !== undefined ? parseCidr6(info.subnet6) : null,
      endpoints: known?.endpoints ?? new Map(),
      byName: null,
      byContainer: null,
      byAddress: null,
    });
  }

  /** The names of the services of a network and their IPv4 addresses (the VIP, or the backends for tasks.NAME); they come before the endpoints' names. */
  setServiceNames(networkId: string, names: ReadonlyMap<string, readonly string[]>): void {
    if (names.size === 0) this.serviceNames.delete(networkId);
    else this.serviceNames.set(networkId, names);
  }

  deleteNetwork(id: string): void {
    this.networks.delete(id);
    this.serviceNames.delete(id);
    for (const k of this.turns.keys()) if (k.startsWith(`${id}/`)) this.turns.delete(k);
  }

  /** Adds or replaces an endpoint of a network (ignored for an unknown network). */
  setEndpoint(networkId: string, entry: NameEntry): void {
    const n = this.networks.get(networkId);
    if (n === undefined) return;
    n.endpoints.set(entry.id, { ...entry, aliases: [...entry.aliases], ...(entry.links !== undefined ? { links: entry.links.map((l) => ({ ...l })) } : {}) });
    n.byName = null;
    n.byContainer = null;
    n.byAddress = null;
    this.onEndpointsChanged?.(networkId);
  }

  deleteEndpoint(networkId: string, endpointId: string): void {
    const n = this.networks.get(networkId);
    if (n === undefined || !n.endpoints.delete(endpointId)) return;
    n.byName = null;
    n.byContainer = null;
    n.byAddress = null;
    this.onEndpointsChanged?.(networkId);
  }

  /** Endpoints of a network (for tests and inspection). */
  endpointsOf(networkId: string): NameEntry[] {
    return [...(this.networks.get(networkId)?.endpoints.values() ?? [])];
  }

  /**
   * The networks a client may see names of, from the source address of its query; null when the
   * address is in no network (subnets never overlap).
   */
  clientScope(clientIp: string): ClientScope | null {
    const ip = parseAddress(clientIp);
    if (ip === null) return null;
    let own: NetworkState | null = null;
    for (const n of this.networks.values()) {
      if (inSubnetOf(n, ip)) {
        own = n;
        break;
      }
    }
    if (own === null) return null;
    const key = addressKey(ip, clientIp);
    let sandbox: string | undefined;
    const links: ScopeLink[] = [];
    for (const e of own.endpoints.values()) {
      if (ip.family === 4 ? e.ip === clientIp : e.ip6 !== undefined && canonicalIpv6(e.ip6) === key) {
        sandbox = e.sandbox;
        addScopeLinks(links, own, e);
        break;
      }
    }
    const networks: NetworkNames[] = [own.info];
    if (sandbox !== undefined) {
      for (const n of this.networks.values()) {
        if (n === own) continue;
        for (const e of n.endpoints.values()) {
          if (e.sandbox === sandbox) {
            networks.push(n.info);
            addScopeLinks(links, n, e);
            break;
          }
        }
      }
    }
    return { network: own.info, networks, ...(links.length > 0 ? { links } : {}) };
  }

  /**
   * Addresses of `name` of one family in the scope (IPv4 for A, IPv6 for AAAA), every one of them,
   * rotated by one position per query when there are several (round robin, per family); [] when the
   * name is known but has no address of that family; null when no endpoint in scope has that name
   * or alias.
   */
  lookupName(scope: ClientScope, name: string, family: IpFamily = 4): string[] | null {
    const key = canonicalName(name);
    let found: string[] | null = null;
    // a service's name comes first (Swarm's endpoint_mode vip: the name is the VIP), IPv4 only
    for (const info of scope.networks) {
      const ips = this.serviceNames.get(info.id)?.get(key);
      if (ips !== undefined) found = merged(found, family === 4 ? ips : []);
    }
    // the container's own links come next, as Docker's resolver tries a container's link aliases
    // before the network's names; a broken link (its container is not on the network) falls through
    if (found === null) for (const l of scope.links ?? []) if (l.alias === key) found = merged(found, this.index(l.networkId)?.byContainer!.get(l.name)?.[family]);
    if (found === null) for (const info of scope.networks) found = merged(found, this.index(info.id)?.byName!.get(key)?.[family]);
    if (found === null || found.length < 2) return found;
    const turnKey = `${scope.network.id}/${key}`;
    const turns = this.turns.get(turnKey) ?? { 4: 0, 6: 0 };
    const turn = turns[family];
    turns[family] = turn + 1;
    this.turns.set(turnKey, turns);
    const k = turn % found.length;
    return [...found.slice(k), ...found.slice(0, k)];
  }

  /** True when `ip` (either family) is inside the subnet of a network in scope: its reverse name is ours to answer. */
  inScopeSubnet(scope: ClientScope, ip: string): boolean {
    const a = parseAddress(ip);
    if (a === null) return false;
    for (const info of scope.networks) {
      const s = this.networks.get(info.id);
      if (s !== undefined && inSubnetOf(s, a)) return true;
    }
    return false;
  }

  /** The container name of the endpoint with address `ip` (either family) in scope, or null. */
  lookupAddress(scope: ClientScope, ip: string): string | null {
    const a = parseAddress(ip);
    if (a === null) return null;
    const key = addressKey(a, ip);
    for (const info of scope.networks) {
      const name = this.index(info.id)?.byAddress!.get(key);
      if (name !== undefined) return name;
    }
    return null;
  }

  private index(networkId: string): NetworkState | undefined {
    const n = this.networks.get(networkId);
    if (n === undefined || n.byName !== null) return n;
    const byName = new Map<string, NameAddresses>();
    const byContainer = new Map<string, NameAddresses>();
    const byAddress = new Map<string, string>();
    const add = (name: string, ip: string | null, ip6: string | null, to = byName): void => {
      const key = canonicalName(name);
      if (key === '') return;
      let ips = to.get(key);
      if (ips === undefined) {
        ips = { 4: [], 6: [] };
        to.set(key, ips);
      }
      if (ip !== null && !ips[4].includes(ip)) ips[4].push(ip);
      if (ip6 !== null && !ips[6].includes(ip6)) ips[6].push(ip6);
    };
    for (const e of n.endpoints.values()) {
      // an address that does not parse (a record written by hand) has no AAAA and no ip6.arpa name
      const ip6 = e.ip6 !== undefined ? canonicalIpv6(e.ip6) : null;
      const ip = e.ip !== '' ? e.ip : null; // an endpoint of an IPv6-only network: AAAA only
      add(e.name, ip, ip6);
      add(e.name, ip, ip6, byContainer);
      for (const a of e.aliases) add(a, ip, ip6);
      if (ip !== null) byAddress.set(ip, e.name);
      if (ip6 !== null) byAddress.set(ip6, e.name);
    }
    n.byName = byName;
    n.byContainer = byContainer;
    n.byAddress = byAddress;
    // forget the round-robin turns of names that are gone
    for (const k of this.turns.keys()) {
      if (k.startsWith(`${networkId}/`) && !byName.has(k.slice(networkId.length + 1))) this.turns.delete(k);
    }
    return n;
  }
}
