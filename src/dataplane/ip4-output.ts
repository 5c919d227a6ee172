// ip4-output: link-layer delivery of a routed packet. Into a network: the next hop's MAC from the
// neighbour table (or park the packet and ask by ARP: neighbour-output.ts); to the host's TUN
// port: the bare IP packet.

import { ETH_HLEN } from '../wire/ethernet.js';
import { ICMP_DEST_UNREACHABLE, ICMP_HOST_UNREACHABLE } from '../wire/icmpv4.js';
import type { Datapath } from './context.js';
import { icmpError } from './icmp-error.js';
import { neighbourOutput } from './neighbour-output.js';
import { overlayOutput } from './routed-output.js';
import type { Port } from './port.js';
import { type RouteResult, RouteTarget } from './route-table.js';
import { ipv4Dst } from '../wire/ipv4.js';

export function ip4Output(dp: Datapath, ingress: Port, route: RouteResult, buf: Buffer, off: number, len: number): void {
  if (route.kind === RouteTarget.Host) {
    dp.tx.send(route.target, buf, off + ETH_HLEN, len - ETH_HLEN);
    return;
  }
  if (route.kind === RouteTarget.Overlay) {
    overlayOutput(dp, ingress, route.target, buf, off, len);
    return;
  }
  const net = dp.tables.networks[route.target]!;
  // the neighbour to resolve: the route's next hop, or the destination itself on the link (the
  // packet may be a fragment, not the one the views are wrapped around)
  const dst = route.nextHop !== 0 ? route.nextHop : ipv4Dst(buf, off + ETH_HLEN);
  let n = net.neighbours.get(dst);
  const fresh = n === undefined;
  if (n === undefined) n = net.neighbours.create(dst, dp.now);
  if (!neighbourOutput(dp, ingress, net, n, fresh, buf, off, len)) {
    icmpError(dp, ingress, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_HOST_UNREACHABLE, 0);
  }
}
