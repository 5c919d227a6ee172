// l2-switch: forwards a frame inside one network by its destination MAC; broadcast, multicast and
// unknown unicast are flooded to every other port of that network (never across networks) and, on
// an overlay network, to every peer VTEP (head-end replication) unless it came from the overlay.

import { Drop } from './counters.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import type { Datapath } from './context.js';
import type { Network } from './network.js';
import { isGroupMac, macHi, macLo } from '../wire/mac.js';
import { targetVtep } from './mac-table.js';
import type { Port } from './port.js';
import { vxlanOutput } from './vxlan-output.js';

/**
 * The checks every Ethernet frame from a port of a network passes first: long enough for its
 * header, within the port's MTU (a super segment's segments too), on a network that is there.
 * Returns the network, or undefined with the drop counted.
 */
export function l2Ingress(dp: Datapath, port: Port, buf: Buffer, off: number, len: number): Network | undefined {
  const c = dp.counters;
  if (len < ETH_HLEN) {
    c.drop(Drop.Malformed);
    return undefined;
  }
  if (dp.frame.wireSize(buf, off, len) > port.mtu) {
    c.drop(Drop.Oversize);
    return undefined;
  }
  const net = dp.tables.networks[port.network];
  if (net === undefined) c.drop(Drop.UnknownPort);
  return net;
}

/** `ingress`: the port the frame came in on; null when the gateway itself sends it. */
export function l2Forward(dp: Datapath, net: Network, ingress: Port | null, buf: Buffer, off: number, len: number): void {
  if (!isGroupMac(buf, off)) {
    const out = net.fdb.lookup(macHi(buf, off), macLo(buf, off));
    const vtep = targetVtep(out);
    if (vtep >= 0) {
      if (ingress !== null && ingress === dp.tables.tunnelPort) dp.counters.drop(Drop.VxlanSplitHorizon);
      else vxlanOutput(dp, net, ingress, vtep, buf, off, len);
      return;
    }
    if (out >= 0) {
      if (ingress !== null && out === ingress.id) dp.counters.drop(Drop.L2Hairpin);
      else dp.tx.send(out, buf, off, len);
      return;
    }
  }
  l2Flood(dp, net, ingress, buf, off, len);
}

/** Sends to every port of the network except the ingress port (null: the gateway itself sent it). */
export function l2Flood(dp: Datapath, net: Network, ingress: Port | null, buf: Buffer, off: number, len: number): void {
  const ports = net.ports;
  const skip = ingress !== null ? ingress.id : -1;
  for (let i = 0, n = net.portCount; i < n; i++) {
    const p = ports[i];
    if (p !== skip) dp.tx.send(p, buf, off, len);
  }
  // a routed overlay's peers are routes, never flooded to
  if (net.peerCount > 0 && !net.routed && (ingress === null || ingress !== dp.tables.tunnelPort)) {
    const peers = net.peers;
    for (let i = 0, n = net.peerCount; i < n; i++) vxlanOutput(dp, net, ingress, peers[i], buf, off, len);
  }
}

/** Frames the gateway itself sends into a network (routed, ARP, ICMP): unicast by fdb, else flood. */
export function l2Output(dp: Datapath, net: Network, buf: Buffer, off: number, len: number): void {
  l2Forward(dp, net, null, buf, off, len);
}
