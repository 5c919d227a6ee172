// The cluster store without a store: overlay networks are created on each host by hand (same name,
// subnet and VNI), every network floods to the peers listed in the config, and addresses are
// allocated locally — give each host its own --ip-range so they never collide. Foreign peers
// (pontoon peer add) are kept in a file of the state directory and flood like the listed peers.

import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ApiFailure } from '../gateway-api.js';
import { writeFileAtomic } from '../state-store.js';
import { type ClusterEvent, type ClusterStore, type ForeignPeerDef, foreignEndpointDef, type OverlayEndpointDef, type OverlayNetworkDef } from './cluster-store.js';

const ROUTED_NEEDS_ETCD = 'routed overlay networks need the etcd cluster store (cluster.store etcd): each host leases its subnet there';

export class StaticStore implements ClusterStore {
  readonly kind = 'static';
  private onEvent: (e: ClusterEvent) => void = () => undefined;
  private readonly networks = new Map<string, OverlayNetworkDef>();

  /** by network id, then VTEP */
  private readonly foreign = new Map<string, Map<string, ForeignPeerDef>>();
  /** networks this host takes part in: a foreign peer added to one is announced at once */
  private readonly joined = new Set<string>();

  /** `foreignFile`: where the foreign peers are kept (null: in memory only) */
  constructor(
    private readonly peers: string[],
    private readonly foreignFile: string | null = null,
  ) {
    if (foreignFile !== null && existsSync(foreignFile)) {
      let defs: ForeignPeerDef[];
      try {
        defs = JSON.parse(readFileSync(foreignFile, 'utf8')) as ForeignPeerDef[];
        if (!Array.isArray(defs)) throw new Error('not a JSON array');
      } catch (e) {
        throw new Error(`${foreignFile}: cannot read the foreign peers: ${(e as Error).message}`);
      }
      for (const def of defs) this.peersOf(def.network).set(def.vtep, def);
    }
  }

  private peersOf(networkId: string): Map<string, ForeignPeerDef> {
    let m = this.foreign.get(networkId);
    if (m === undefined) this.foreign.set(networkId, (m = new Map()));
    return m;
  }

  private saveForeign(): void {
    if (this.foreignFile === null) return;
    const all = [...this.foreign.values()].flatMap((m) => [...m.values()]);
    writeFileAtomic(dirname(this.foreignFile), this.foreignFile, JSON.stringify(all, null, 2) + '\n');
  }

  private announceForeign(def: ForeignPeerDef, up: boolean): void {
    const endpoints = def.addresses.filter((a) => a.mac !== undefined).map((a) => foreignEndpointDef(def, { ip: a.ip, mac: a.mac! }));
    if (up) {
      this.onEvent({ kind: 'vtep-up', networkId: def.network, vtep: def.vtep });
      for (const ep of endpoints) this.onEvent({ kind: 'endpoint-up', endpoint: ep });
    } else {
      for (const ep of endpoints) this.onEvent({ kind: 'endpoint-down', networkId: def.network, endpointId: ep.id });
      this.onEvent({ kind: 'vtep-down', networkId: def.network, vtep: def.vtep });
    }
  }

  async addForeignPeer(def: ForeignPeerDef): Promise<void> {
    if (this.peers.includes(def.vtep)) throw new ApiFailure(409, `VTEP ${def.vtep} is already a peer of every network (cluster.peers)`);
    const known = this.peersOf(def.network);
    if (known.has(def.vtep)) throw new ApiFailure(409, `VTEP ${def.vtep} is already a member of network ${def.network}`);
    known.set(def.vtep, def);
    try {
      this.saveForeign();
    } catch (e) {
      known.delete(def.vtep);
      throw e;
    }
    if (this.joined.has(def.network)) this.announceForeign(def, true);
  }

  async removeForeignPeer(networkId: string, vtep: string): Promise<void> {
    const known = this.peersOf(networkId);
    const def = known.get(vtep);
    if (def === undefined) throw new ApiFailure(404, `VTEP ${vtep} is not a peer of network ${networkId}`);
    known.delete(vtep);
    try {
      this.saveForeign();
    } catch (e) {
      known.set(vtep, def);
      throw e;
    }
    if (this.joined.has(networkId)) this.announceForeign(def, false);
  }

  async foreignPeers(networkId: string): Promise<ForeignPeerDef[]> {
    return [...this.peersOf(networkId).values()];
  }

  async start(onEvent: (e: ClusterEvent) => void): Promise<void> {
    this.onEvent = onEvent;
  }

  async createNetwork(def: OverlayNetworkDef): Promise<void> {
    if (def.routed !== undefined) throw new ApiFailure(400, ROUTED_NEEDS_ETCD);
    for (const n of this.networks.values()) {
      if (n.name === def.name) throw new ApiFailure(409, `network with name ${def.name} already exists`);
      if (n.vni === def.vni) throw new ApiFailure(409, `VNI ${def.vni} is already used by network ${n.name}`);
    }
    this.networks.set(def.id, def);
  }

  async leaseSubnet(): Promise<string> {
    throw new ApiFailure(400, ROUTED_NEEDS_ETCD);
  }

  async releaseSubnet(): Promise<void> {
    // no routed overlay is ever made here
  }

  followSubnets(): void {
    // no routed overlay is ever made here
  }

  unfollowSubnets(): void {
    // no routed overlay is ever made here
  }

  async removeNetwork(networkId: string): Promise<void> {
    this.networks.delete(networkId);
    if (this.foreign.delete(networkId)) this.saveForeign();
  }

  async claimAddress(networkId: string, _owner: string, candidates: Iterable<string>, requested?: string): Promise<string> {
    const foreign = new Set([...this.peersOf(networkId).values()].flatMap((d) => d.addresses.map((a) => a.ip)));
    if (requested !== undefined) {
      if (foreign.has(requested)) throw new ApiFailure(409, `address ${requested} is already in use (behind a foreign VTEP)`);
      return requested;
    }
    for (const c of candidates) if (!foreign.has(c)) return c;
    throw new ApiFailure(409, 'no available addresses');
  }

  async releaseAddress(): Promise<void> {}

  /** Every static peer is a VTEP of every overlay network. */
  async joinNetwork(networkId: string): Promise<void> {
    this.joined.add(networkId);
    for (const vtep of this.peers) this.onEvent({ kind: 'vtep-up', networkId, vtep });
    for (const def of this.peersOf(networkId).values()) this.announceForeign(def, true);
  }

  async leaveNetwork(networkId: string): Promise<void> {
    this.joined.delete(networkId);
    for (const def of this.peersOf(networkId).values()) this.announceForeign(def, false);
    for (const vtep of this.peers) this.onEvent({ kind: 'vtep-down', networkId, vtep });
  }

  async registerEndpoint(_ep: OverlayEndpointDef): Promise<void> {}

  async unregisterEndpoint(): Promise<void> {}

  healthy(): boolean {
    return true;
  }

  async close(): Promise<void> {}
}
