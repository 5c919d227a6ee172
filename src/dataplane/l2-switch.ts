// l2-switch: forwards a frame inside one network by its destination MAC; broadcast, multicast and
// unknown unicast are flooded to every other port of that network (never across networks) and, on
// an overlay network, to every peer VTEP (head-end replication) unless it came from the overlay.

import { Drop } from './counters.js';
import type { Dataplane } from './dataplane.js';
import type { Network } from './network.js';
import { isGroupMac, macHi, macLo } from '../wire/mac.js';
import { TUNNEL_BASE } from './port.js';
import { vxlanOutput } from './vxlan-output.js';

export function l2Forward(dp: Dataplane, net: Network, ingress: number, buf: Buffer, off: number, len: number): void {
  if (!isGroupMac(buf, off)) {
    const out = net.fdb.lookup(macHi(buf, off), macLo(buf, off));
    if (out >= TUNNEL_BASE) {
      if (ingress === dp.tunnelPort) dp.counters.drop(Drop.VxlanSplitHorizon);
      else vxlanOutput(dp, net, ingress, out - TUNNEL_BASE, buf, off, len);
      return;
    }
    if (out >= 0) {
      if (out === ingress) dp.counters.drop(Drop.L2Hairpin);
      else dp.send(out, buf, off, len);
      return;
    }
  }
  l2Flood(dp, net, ingress, buf, off, len);
}

/** Sends to every port of the network except the ingress port (-1: the gateway itself sent it). */
export function l2Flood(dp: Dataplane, net: Network, ingress: number, buf: Buffer, off: number, len: number): void {
  const ports = net.ports;
  for (let i = 0, n = net.portCount; i < n; i++) {
    const p = ports[i];
    if (p !== ingress) dp.send(p, buf, off, len);
  }
  if (net.peerCount > 0 && ingress !== dp.tunnelPort) {
    const peers = net.peers;
    for (let i = 0, n = net.peerCount; i < n; i++) vxlanOutput(dp, net, ingress, peers[i], buf, off, len);
  }
}

/** Frames the gateway itself sends into a network (routed, ARP, ICMP): unicast by fdb, else flood. */
export function l2Output(dp: Dataplane, net: Network, buf: Buffer, off: number, len: number): void {
  l2Forward(dp, net, -1, buf, off, len);
}
