// ip4-output: link-layer delivery of a routed packet. Into a network: the next hop's MAC from the
// neighbour table (or park the packet and ask by ARP); to the host's TUN port: the bare IP packet.

import { ETH_HLEN } from '../wire/ethernet.js';
import { ICMP_DEST_UNREACHABLE, ICMP_HOST_UNREACHABLE } from '../wire/icmpv4.js';
import { Drop } from './counters.js';
import type { Dataplane } from './dataplane.js';
import { icmpError } from './icmp-error.js';
import { finishChecksum } from './offload.js';
import { l2Output } from './l2-switch.js';
import { putMac } from '../wire/mac.js';
import { NeighbourState } from './neighbour-table.js';
import type { Port } from './port.js';
import { RouteTarget } from './route-table.js';

export function ip4Output(
  dp: Dataplane,
  ingress: Port,
  kind: number,
  target: number,
  nextHop: number,
  buf: Buffer,
  off: number,
  len: number,
): void {
  if (kind === RouteTarget.Host) {
    dp.send(target, buf, off + ETH_HLEN, len - ETH_HLEN);
    return;
  }
  const net = dp.networks[target]!;
  // the neighbour to resolve: the route's next hop, or the destination itself on the link
  const dst = nextHop !== 0 ? nextHop : buf.readUInt32BE(off + ETH_HLEN + 16);
  let n = net.neighbours.get(dst);
  if (n !== undefined && n.state === NeighbourState.Reachable) {
    putMac(buf, off, n.macHi, n.macLo);
    putMac(buf, off + 6, net.gatewayMacHi, net.gatewayMacLo);
    l2Output(dp, net, buf, off, len);
    return;
  }
  if (n !== undefined && n.state === NeighbourState.Failed) {
    dp.counters.drop(Drop.NeighbourUnreachable);
    icmpError(dp, ingress, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_HOST_UNREACHABLE, 0);
    return;
  }
  if (n === undefined) {
    n = net.neighbours.create(dst, dp.now);
    dp.sendArpRequest(net, dst);
    n.probes = 1;
    n.nextProbe = dp.now + dp.options.arpRetryMs;
  }
  // park a copy until ARP answers (bounded per neighbour and overall); a parked frame keeps no
  // offload metadata: its checksum is finished, and a TCP super segment is not parked (TCP resends)
  if (dp.gsoSize !== 0) {
    dp.counters.drop(Drop.ArpQueueFull);
    return;
  }
  if (dp.needsCsum !== 0) finishChecksum(dp, buf, off, len);
  if (n.parkedCount === n.parked.length) {
    dp.counters.drop(Drop.ArpQueueFull);
    return;
  }
  const slot = dp.parking.park(buf, off, len, ingress.id);
  if (slot < 0) {
    dp.counters.drop(Drop.ArpQueueFull);
    return;
  }
  n.parked[n.parkedCount++] = slot;
}
