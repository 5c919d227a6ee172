// routed-output: packets leaving over a routed overlay network (routed-overlay.ts tells the
// model): to the VTEP of the host whose subnet the destination is in, the inner frame from this
// host's VTEP MAC (the network's gateway MAC) to that host's VTEP MAC.

import { ETH_DST, ETH_SRC, ETH_TYPE, ETHERTYPE_IPV4 } from '../wire/ethernet.js';
import { putMac } from '../wire/mac.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import type { Network } from './network.js';
import type { Port } from './port.js';
import { RouteTarget } from './route-table.js';
import type { Tables } from './tables.js';

/** Sends the routed packet at buf[off] (Ethernet + IPv4, len bytes) to remote subnet `slot`: its host's VTEP, to its VTEP MAC. */
export function overlayOutput(dp: Datapath, ingress: Port | null, slot: number, buf: Buffer, off: number, len: number): void {
  const rs = dp.tables.remoteSubnets;
  const net = dp.tables.networks[rs.network[slot]!];
  if (net === undefined) {
    dp.counters.drop(Drop.UnknownPort);
    return;
  }
  putMac(buf, off + ETH_DST, rs.macHi[slot]!, rs.macLo[slot]!);
  putMac(buf, off + ETH_SRC, net.gatewayMacHi, net.gatewayMacLo);
  buf[off + ETH_TYPE] = ETHERTYPE_IPV4 >>> 8;
  buf[off + ETH_TYPE + 1] = ETHERTYPE_IPV4 & 0xff;
  dp.tx.sendToVtep(net, rs.vtep[slot]!, buf, off, len, ingress);
}

/**
 * The gateway's answer (an echo reply, an ICMP error) to a packet that came over a routed
 * overlay: routed back to the host whose subnet its destination is in. `dst` is that address.
 */
export function overlayReply(dp: Datapath, dst: number, buf: Buffer, off: number, len: number): void {
  const slot = remoteSubnetOf(dp.tables, dst);
  if (slot < 0) {
    dp.counters.drop(Drop.NoRoute);
    return;
  }
  overlayOutput(dp, null, slot, buf, off, len);
}

/** The remote subnet slot (Tables.remoteSubnets) whose route `addr` takes, or -1 when its route is not another host's subnet. */
export function remoteSubnetOf(t: Tables, addr: number): number {
  const r = t.routes.lookup(addr | 0);
  return r >= 0 && t.routes.kindOf(r) === RouteTarget.Overlay ? t.routes.targetOf(r) : -1;
}

/** The routed network a packet from the overlay with source `src` came from (for the gateway's answers), or undefined. */
export function overlayNetworkOf(dp: Datapath, src: number): Network | undefined {
  const slot = remoteSubnetOf(dp.tables, src);
  return slot >= 0 ? dp.tables.networks[dp.tables.remoteSubnets.network[slot]!] : undefined;
}
