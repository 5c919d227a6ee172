// routed-overlay: the data path of routed overlay networks (issue 15), flannel's vxlan backend's
// model. Every host has its own subnet of the cluster's range; another host's subnet is a route
// (RouteTarget.Overlay) whose packets leave as VXLAN to that host's VTEP, the inner frame from
// this host's VTEP MAC (the network's gateway MAC) to that host's VTEP MAC, as Linux sends them
// through flannel.1 with its onlink route, neighbour and fdb entries. Nothing is flooded and no
// ARP crosses hosts. What arrives is routed, not switched: addressed to this host's VTEP MAC,
// from a source the sending VTEP leases, to an address of this host's subnet (routed-output.ts
// sends the other way).

import { ETH_DST, ETH_HLEN, ETHERTYPE_IPV4, etherTypeOf } from '../wire/ethernet.js';
import { macHi, macLo } from '../wire/mac.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import { ip4Input, ip4Wrap } from './ip4-input.js';
import type { Network } from './network.js';
import type { Port } from './port.js';
import { remoteSubnetOf } from './routed-output.js';

/** The inner frame at buf[f] (flen bytes) came from VTEP `vtep`, a peer of the routed network `net`. */
export function routedVxlanInput(dp: Datapath, net: Network, tunnel: Port, buf: Buffer, f: number, flen: number, vtep: number): void {
  const c = dp.counters;
  if (macHi(buf, f + ETH_DST) !== net.gatewayMacHi || macLo(buf, f + ETH_DST) !== net.gatewayMacLo) {
    c.drop(Drop.NotForUs); // routed to this host's VTEP, never switched: no flooding, no ARP across hosts
    return;
  }
  if (etherTypeOf(buf, f) !== ETHERTYPE_IPV4) {
    c.drop(Drop.UnsupportedEthertype);
    return;
  }
  const ip = ip4Wrap(dp, buf, f + ETH_HLEN, flen - ETH_HLEN);
  if (ip === null) return;
  // the source is one of the subnets that host leases (nobody speaks for another host's
  // addresses), the destination one of this host's subnet (hosts never route for each other)
  const t = dp.tables;
  const slot = remoteSubnetOf(t, ip.srcI32);
  if (slot < 0 || t.remoteSubnets.vtep[slot] !== vtep || t.remoteSubnets.network[slot] !== net.index || !net.contains(ip.dstI32)) {
    c.drop(Drop.OverlayTransit);
    return;
  }
  ip4Input(dp, tunnel, net, ip, buf, f, flen);
}
