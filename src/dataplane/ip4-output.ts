// ip4-output: link-layer delivery of a routed packet. Into a network: the next hop's MAC from the
// neighbour table (or park the packet and ask by ARP); to the host's TUN port: the bare IP packet.

import { ETH_HLEN, ETH_SRC } from '../wire/ethernet.js';
import { ICMP_DEST_UNREACHABLE, ICMP_HOST_UNREACHABLE } from '../wire/icmpv4.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import { icmpError } from './icmp-error.js';
import { finishChecksum } from './offload.js';
import { l2Output } from './l2-switch.js';
import { putMac } from '../wire/mac.js';
import { hasMac, NeighbourState } from './neighbour-table.js';
import type { Port } from './port.js';
import { type RouteResult, RouteTarget } from './route-table.js';
import { ipv4Dst } from '../wire/ipv4.js';

export function ip4Output(dp: Datapath, ingress: Port, route: RouteResult, buf: Buffer, off: number, len: number): void {
  if (route.kind === RouteTarget.Host) {
    dp.tx.send(route.target, buf, off + ETH_HLEN, len - ETH_HLEN);
    return;
  }
  const net = dp.tables.networks[route.target]!;
  // the neighbour to resolve: the route's next hop, or the destination itself on the link (the
  // packet may be a fragment, not the one the views are wrapped around)
  const dst = route.nextHop !== 0 ? route.nextHop : ipv4Dst(buf, off + ETH_HLEN);
  let n = net.neighbours.get(dst);
  if (n !== undefined && hasMac(n.state)) {
    n.use(dp.now);
    putMac(buf, off, n.macHi, n.macLo);
    putMac(buf, off + ETH_SRC, net.gatewayMacHi, net.gatewayMacLo);
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
    dp.resolver.request(net, dst);
    n.probes = 1;
    n.nextProbe = dp.now + dp.options.arpRetryMs;
  }
  // park a copy until ARP answers (bounded per neighbour and overall); a parked frame keeps no
  // offload metadata: its checksum is finished, and a TCP super segment is not parked (TCP resends)
  if (dp.frame.gsoSize !== 0) {
    dp.counters.drop(Drop.ArpQueueFull);
    return;
  }
  if (dp.frame.needsCsum !== 0) finishChecksum(dp.frame, buf, off, len);
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
