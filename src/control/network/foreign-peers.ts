// Foreign VTEPs of overlay networks (`pontoon peer add|rm|ls`): a Linux VXLAN device or another
// vendor's VTEP and the addresses behind it, registered in the cluster store as a member of the
// network. The store's events then make it a peer everywhere (its VTEP in the flood list; its
// addresses with a MAC remote endpoints, answered by ARP here), as for a host running pontoon.

import type { PeerAddRequest, PeerResource } from '../api-types.js';
import type { ForeignPeerDef } from '../cluster/cluster-store.js';
import { ApiFailure } from '../gateway-api.js';
import type { LiveNetwork } from '../live-network.js';
import { isUnicastMac, macToString, parseMac } from '../../wire/mac.js';
import { canonicalVtep, vtepFamily } from './addresses.js';
import type { OverlaySync } from './overlay-sync.js';

export class ForeignPeers {
  constructor(
    private readonly deps: {
      /** null: no cluster store (overlay networks need one) */
      overlay: OverlaySync | null;
      /** this host's VTEP (cluster.advertise) */
      advertise: string | null;
    },
  ) {}

  private sync(live: LiveNetwork): OverlaySync {
    if (live.record.driver !== 'overlay' || this.deps.overlay === null) {
      throw new ApiFailure(400, `network ${live.record.name} is not an overlay network: foreign VTEPs join overlay networks only`);
    }
    return this.deps.overlay;
  }

  async add(live: LiveNetwork, req: PeerAddRequest): Promise<PeerResource> {
    const overlay = this.sync(live);
    const name = live.record.name;
    const vtep = typeof req.vtep === 'string' ? canonicalVtep(req.vtep) : null;
    if (vtep === null) throw new ApiFailure(400, `invalid VTEP ${JSON.stringify(req.vtep)}: not an IPv4 address or a usable IPv6 one`);
    const own = this.deps.advertise;
    if (vtep === own) throw new ApiFailure(409, `VTEP ${vtep} is this host's own (cluster.advertise)`);
    if (own !== null && vtepFamily(vtep) !== vtepFamily(own)) {
      throw new ApiFailure(400, `VTEP ${vtep} is ${vtepFamily(vtep)} but this host's underlay (cluster.advertise ${own}) is ${vtepFamily(own)}: a cluster's underlay is one family`);
    }
    const addresses: ForeignPeerDef['addresses'] = [];
    const seen = new Set<string>();
    for (const a of req.addresses ?? []) {
      if (seen.has(a.ip)) throw new ApiFailure(400, `address ${a.ip} is given twice`);
      seen.add(a.ip);
      let mac: string | undefined;
      if (a.mac !== undefined) {
        let n: number;
        try {
          n = parseMac(a.mac);
        } catch {
          throw new ApiFailure(400, `invalid MAC address ${JSON.stringify(a.mac)} for ${a.ip}`);
        }
        if (n === 0 || !isUnicastMac(n)) throw new ApiFailure(400, `MAC address ${a.mac} for ${a.ip} is not a unicast address`);
        mac = macToString(n);
        for (const ep of live.endpoints.values()) {
          if (ep.record.mac === mac) throw new ApiFailure(409, `MAC address ${mac} is already used by ${ep.record.name} on network ${name}`);
        }
      }
      addresses.push(mac === undefined ? { ip: a.ip } : { ip: a.ip, mac });
    }
    // checked here (in the subnet, not the gateway, not in use on this host); the store claims them
    // cluster-wide, and every host's allocator learns the ones with a MAC from the endpoint events
    for (const a of addresses) live.allocator.release(live.allocator.allocate(a.ip));
    const def: ForeignPeerDef = { network: live.record.id, vtep, addresses, created: new Date().toISOString() };
    try {
      await overlay.cluster.addForeignPeer(def);
    } catch (e) {
      throw e instanceof ApiFailure ? new ApiFailure(e.status, e.message.replace(live.record.id, name)) : e;
    }
    return peerResource(live, def);
  }

  async remove(live: LiveNetwork, vtep: string): Promise<void> {
    const overlay = this.sync(live);
    vtep = canonicalVtep(vtep) ?? vtep; // 2001:DB8::2 is 2001:db8::2
    const def = (await overlay.cluster.foreignPeers(live.record.id)).find((d) => d.vtep === vtep);
    if (def === undefined) throw new ApiFailure(404, `VTEP ${vtep} is not a foreign peer of network ${live.record.name}`);
    await overlay.cluster.removeForeignPeer(live.record.id, vtep);
  }

  async list(live: LiveNetwork): Promise<PeerResource[]> {
    const overlay = this.sync(live);
    const defs = await overlay.cluster.foreignPeers(live.record.id);
    return defs.map((d) => peerResource(live, d)).sort((a, b) => (a.VTEP < b.VTEP ? -1 : a.VTEP > b.VTEP ? 1 : 0));
  }
}

function peerResource(live: LiveNetwork, d: ForeignPeerDef): PeerResource {
  return {
    Network: live.record.name,
    NetworkID: live.record.id,
    VTEP: d.vtep,
    Addresses: d.addresses.map((a) => ({ IP: a.ip, MacAddress: a.mac ?? '' })),
    Created: d.created,
  };
}
