// The cluster store without a store: overlay networks are created on each host by hand (same name,
// subnet and VNI), every network floods to the peers listed in the config, and addresses are
// allocated locally — give each host its own --ip-range so they never collide.

import { ApiFailure } from '../gateway-api.js';
import type { ClusterEvent, ClusterStore, OverlayEndpointDef, OverlayNetworkDef } from './cluster-store.js';

export class StaticStore implements ClusterStore {
  readonly kind = 'static';
  private onEvent: (e: ClusterEvent) => void = () => undefined;
  private readonly networks = new Map<string, OverlayNetworkDef>();

  constructor(private readonly peers: string[]) {}

  async start(onEvent: (e: ClusterEvent) => void): Promise<void> {
    this.onEvent = onEvent;
  }

  async createNetwork(def: OverlayNetworkDef): Promise<void> {
    for (const n of this.networks.values()) {
      if (n.name === def.name) throw new ApiFailure(409, `network with name ${def.name} already exists`);
      if (n.vni === def.vni) throw new ApiFailure(409, `VNI ${def.vni} is already used by network ${n.name}`);
    }
    this.networks.set(def.id, def);
  }

  async removeNetwork(networkId: string): Promise<void> {
    this.networks.delete(networkId);
  }

  async claimAddress(_networkId: string, _owner: string, candidates: Iterable<string>, requested?: string): Promise<string> {
    if (requested !== undefined) return requested;
    for (const c of candidates) return c;
    throw new ApiFailure(409, 'no available addresses');
  }

  async releaseAddress(): Promise<void> {}

  /** Every static peer is a VTEP of every overlay network. */
  async joinNetwork(networkId: string): Promise<void> {
    for (const vtep of this.peers) this.onEvent({ kind: 'vtep-up', networkId, vtep });
  }

  async leaveNetwork(networkId: string): Promise<void> {
    for (const vtep of this.peers) this.onEvent({ kind: 'vtep-down', networkId, vtep });
  }

  async registerEndpoint(_ep: OverlayEndpointDef): Promise<void> {}

  async unregisterEndpoint(): Promise<void> {}

  healthy(): boolean {
    return true;
  }

  async close(): Promise<void> {}
}
