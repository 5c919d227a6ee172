// The names the embedded DNS answers for, per network: each endpoint's container name and its
// aliases (local endpoints and, on overlays, those of other hosts), and the reverse entries of their
// addresses. A client sees the names of every network its container is attached to and no others,
// like Docker's per-container resolver. Indexes are rebuilt lazily after a change.

import { cidrContains, parseCidr, parseIpv4OrNull, type Ipv4Cidr } from '../../wire/ipv4-address.js';

export interface NameEntry {
  /** endpoint id */
  id: string;
  /** container name */
  name: string;
  ip: string;
  aliases: readonly string[];
  /**
   * the container's network namespace ("dev:ino") for endpoints of this host; ties the networks of
   * one container together. Absent for endpoints on other hosts.
   */
  sandbox?: string;
}

export interface NetworkNames {
  id: string;
  name: string;
  subnet: string;
  internal: boolean;
}

interface NetworkState {
  info: NetworkNames;
  subnet: Ipv4Cidr;
  endpoints: Map<string, NameEntry>;
  /** lower-case name → addresses, in the order endpoints joined */
  byName: Map<string, string[]> | null;
  /** address → container name */
  byAddress: Map<string, string> | null;
}

/** What a query from one client address may see. */
export interface ClientScope {
  /** the network the query came from (whose gateway it was sent to) */
  network: NetworkNames;
  /** that network first, then the other networks of the same container */
  networks: readonly NetworkNames[];
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

export class NameTable {
  private readonly networks = new Map<string, NetworkState>();
  /** round robin: queries answered so far per network and name */
  private readonly turns = new Map<string, number>();

  setNetwork(info: NetworkNames): void {
    const known = this.networks.get(info.id);
    this.networks.set(info.id, {
      info: { ...info },
      subnet: parseCidr(info.subnet),
      endpoints: known?.endpoints ?? new Map(),
      byName: null,
      byAddress: null,
    });
  }

  deleteNetwork(id: string): void {
    this.networks.delete(id);
    for (const k of this.turns.keys()) if (k.startsWith(`${id}/`)) this.turns.delete(k);
  }

  /** Adds or replaces an endpoint of a network (ignored for an unknown network). */
  setEndpoint(networkId: string, entry: NameEntry): void {
    const n = this.networks.get(networkId);
    if (n === undefined) return;
    n.endpoints.set(entry.id, { ...entry, aliases: [...entry.aliases] });
    n.byName = null;
    n.byAddress = null;
  }

  deleteEndpoint(networkId: string, endpointId: string): void {
    const n = this.networks.get(networkId);
    if (n === undefined || !n.endpoints.delete(endpointId)) return;
    n.byName = null;
    n.byAddress = null;
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
    const ip = parseIpv4OrNull(clientIp);
    if (ip === null) return null;
    let own: NetworkState | null = null;
    for (const n of this.networks.values()) {
      if (cidrContains(n.subnet, ip)) {
        own = n;
        break;
      }
    }
    if (own === null) return null;
    let sandbox: string | undefined;
    for (const e of own.endpoints.values()) {
      if (e.ip === clientIp) {
        sandbox = e.sandbox;
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
            break;
          }
        }
      }
    }
    return { network: own.info, networks };
  }

  /**
   * Addresses of `name` in the scope, every one of them, rotated by one position per query when
   * there are several (round robin); null when no endpoint in scope has that name or alias.
   */
  lookupName(scope: ClientScope, name: string): string[] | null {
    const key = canonicalName(name);
    let found: string[] | null = null;
    for (const info of scope.networks) {
      const ips = this.index(info.id)?.byName!.get(key);
      if (ips === undefined) continue;
      if (found === null) found = [...ips];
      else for (const ip of ips) if (!found.includes(ip)) found.push(ip);
    }
    if (found === null || found.length < 2) return found;
    const turnKey = `${scope.network.id}/${key}`;
    const turn = this.turns.get(turnKey) ?? 0;
    this.turns.set(turnKey, turn + 1);
    const k = turn % found.length;
    return [...found.slice(k), ...found.slice(0, k)];
  }

  /** True when `ip` is inside the subnet of a network in scope: its reverse name is ours to answer. */
  inScopeSubnet(scope: ClientScope, ip: string): boolean {
    const n = parseIpv4OrNull(ip);
    if (n === null) return false;
    for (const info of scope.networks) {
      const s = this.networks.get(info.id);
      if (s !== undefined && cidrContains(s.subnet, n)) return true;
    }
    return false;
  }

  /** The container name of the endpoint with address `ip` in scope, or null. */
  lookupAddress(scope: ClientScope, ip: string): string | null {
    for (const info of scope.networks) {
      const name = this.index(info.id)?.byAddress!.get(ip);
      if (name !== undefined) return name;
    }
    return null;
  }

  private index(networkId: string): NetworkState | undefined {
    const n = this.networks.get(networkId);
    if (n === undefined || n.byName !== null) return n;
    const byName = new Map<string, string[]>();
    const byAddress = new Map<string, string>();
    const add = (name: string, ip: string): void => {
      const key = canonicalName(name);
      if (key === '') return;
      const ips = byName.get(key);
      if (ips === undefined) byName.set(key, [ip]);
      else if (!ips.includes(ip)) ips.push(ip);
    };
    for (const e of n.endpoints.values()) {
      add(e.name, e.ip);
      for (const a of e.aliases) add(a, e.ip);
      byAddress.set(e.ip, e.name);
    }
    n.byName = byName;
    n.byAddress = byAddress;
    // forget the round-robin turns of names that are gone
    for (const k of this.turns.keys()) {
      if (k.startsWith(`${networkId}/`) && !byName.has(k.slice(networkId.length + 1))) this.turns.delete(k);
    }
    return n;
  }
}
