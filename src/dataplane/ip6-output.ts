// ip6-output: link-layer delivery of a routed IPv6 packet. Into a network: the next hop's MAC from
// the neighbour table (or park the packet and ask by neighbour solicitation: neighbour-output.ts);
// to the host's TUN port: the bare IP packet.

import { ETH_HLEN } from '../wire/ethernet.js';
import { ICMPV6_ADDRESS_UNREACHABLE, ICMPV6_DEST_UNREACHABLE } from '../wire/icmpv6.js';
import { IPV6_DST, readI32 } from '../wire/ipv6.js';
import type { Datapath } from './context.js';
import { icmp6Error } from './icmp6-error.js';
import { neighbourOutput } from './neighbour-output.js';
import type { Port } from './port.js';
import { type RouteResult, RouteTarget } from './route-table.js';

export function ip6Output(dp: Datapath, ingress: Port, route: RouteResult, buf: Buffer, off: number, len: number): void {
  if (route.kind === RouteTarget.Host) {
    dp.tx.send(route.target, buf, off + ETH_HLEN, len - ETH_HLEN);
    return;
  }
  const net = dp.tables.networks[route.target]!;
  // the neighbour to resolve: the route's next hop, or the destination itself on the link
  const nh = route.nextHop6;
  let w0 = nh[0];
  let w1 = nh[1];
  let w2 = nh[2];
  let w3 = nh[3];
  if ((w0 | w1 | w2 | w3) === 0) {
    const d = off + ETH_HLEN + IPV6_DST;
    w0 = readI32(buf, d);
    w1 = readI32(buf, d + 4);
    w2 = readI32(buf, d + 8);
    w3 = readI32(buf, d + 12);
  }
  let n = net.neighbours.get6(w0, w1, w2, w3);
  const fresh = n === undefined;
  if (n === undefined) n = net.neighbours.create6(w0, w1, w2, w3, dp.now);
  if (!neighbourOutput(dp, ingress, net, n, fresh, buf, off, len)) {
    icmp6Error(dp, ingress, buf, off, len, ICMPV6_DEST_UNREACHABLE, ICMPV6_ADDRESS_UNREACHABLE, 0);
  }
}
