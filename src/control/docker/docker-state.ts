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
      for (const ip of p.addresses) live?.allocator.markUsed(ip);
    }
    for (const e of this.endpoints.values()) if (e.ownsAddress) this.liveNetworks.get(e.networkId)!.allocator.markUsed(e.ip);
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

  /** The Docker network made from a pool of pontoon's IPAM driver (same subnet). */
  networkOfPool(pool: DockerPoolRecord): LiveNetwork | undefined {
    for (const n of this.liveNetworks.values()) if (n.record.dockerNetworkId !== undefined && n.record.subnet === pool.subnet) return n;
    return undefined;
  }

  /** The pool of pontoon's IPAM driver a network was made from, if it was. */
  poolOfNetwork(live: LiveNetwork): DockerPoolRecord | undefined {
    for (const p of this.pools.values()) if (p.subnet === live.record.subnet) return p;
    return undefined;
  }
}
