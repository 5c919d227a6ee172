// What Docker's network and IPAM drivers remember between calls: the address pools handed out and
// the endpoints Docker created, joined or not. Docker never replays a call after a restart (of
// either daemon), so this is saved in the state file with the networks, in the same atomic write.

import type { LiveNetwork } from '../live-network.js';
import type { LiveNetworks } from '../network/live-networks.js';
import type { DockerEndpointRecord, DockerPoolRecord, DockerState as DockerStateRecord } from '../state-store.js';

export class DockerState {
  readonly pools = new Map<string, DockerPoolRecord>();
  readonly endpoints = new Map<string, DockerEndpointRecord>();

  constructor(private readonly liveNetworks: LiveNetworks) {}

  /**
   * Takes what the state file held (after the networks and their joined endpoints are back) and
   * from now on saves this state with them. The addresses of pools and of endpoints not joined
   * are marked used again in their networks.
   */
  restore(): void {
    const saved = this.liveNetworks.savedDockerState();
    for (const p of saved?.pools ?? []) this.pools.set(p.id, { ...p, addresses: [...p.addresses] });
    for (const e of saved?.endpoints ?? []) {
      if (this.liveNetworks.get(e.networkId) === undefined) continue; // its network did not come back
      this.endpoints.set(e.id, { ...e });
    }
    for (const p of this.pools.values()) {
      const live = this.networkOfPool(p);
      const allocator = isIpv6Pool(p) ? live?.allocator6 : live?.allocator;
      for (const ip of p.addresses) allocator?.markUsed(ip);
    }
    for (const e of this.endpoints.values()) {
      const live = this.liveNetworks.get(e.networkId)!;
      if (e.ownsAddress) live.allocator.markUsed(e.ip);
      if (e.ownsAddress6 === true && e.ip6 !== undefined) live.allocator6?.markUsed(e.ip6);
    }
    this.liveNetworks.keepDockerState(() => this.record());
  }

  record(): DockerStateRecord {
    return { pools: [...this.pools.values()], endpoints: [...this.endpoints.values()] };
  }

  save(): void {
    this.liveNetworks.save();
  }

  networks(): IterableIterator<LiveNetwork> {
    return this.liveNetworks.values();
  }

  /** The network Docker knows by `dockerId`. */
  network(dockerId: string): LiveNetwork | undefined {
    for (const n of this.liveNetworks.values()) if (n.record.dockerNetworkId === dockerId) return n;
    return undefined;
  }

  /** The Docker network made from a pool of pontoon's IPAM driver (same subnet, of either family). */
  networkOfPool(pool: DockerPoolRecord): LiveNetwork | undefined {
    for (const n of this.liveNetworks.values()) {
      if (n.record.dockerNetworkId === undefined) continue;
      if (isIpv6Pool(pool) ? n.record.ipv6?.subnet === pool.subnet : n.record.subnet === pool.subnet) return n;
    }
    return undefined;
  }

  /** The IPv4 pool of pontoon's IPAM driver a network was made from, if it was. */
  poolOfNetwork(live: LiveNetwork): DockerPoolRecord | undefined {
    for (const p of this.pools.values()) if (p.subnet === live.record.subnet) return p;
    return undefined;
  }

  /** The IPv6 pool of pontoon's IPAM driver a network was made from, if it was. */
  pool6OfNetwork(live: LiveNetwork): DockerPoolRecord | undefined {
    const subnet6 = live.record.ipv6?.subnet;
    if (subnet6 === undefined) return undefined;
    for (const p of this.pools.values()) if (p.subnet === subnet6) return p;
    return undefined;
  }
}

/** A pool of IPv6 addresses (RequestPool with V6). */
export function isIpv6Pool(pool: DockerPoolRecord): boolean {
  return pool.subnet.includes(':');
}
