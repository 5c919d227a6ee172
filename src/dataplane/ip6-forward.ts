// ip6-forward: the router's per-hop work on an IPv6 packet that leaves through another interface:
// hop limit expiry, the egress MTU (a router never fragments IPv6: ICMPv6 packet too big, RFC
// 8200 5), the hop limit decrement (IPv6 has no header checksum), then link-layer output.

import { ICMPV6_HOP_LIMIT_EXCEEDED, ICMPV6_PACKET_TOO_BIG, ICMPV6_TIME_EXCEEDED } from '../wire/icmpv6.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { IPV6_HOP_LIMIT } from '../wire/ipv6.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import { icmp6Error } from './icmp6-error.js';
import { ip6Output } from './ip6-output.js';
import type { Port } from './port.js';

/**
 * The frame's IPv6 view is wrapped around the packet at buf[off + 14] and `dp.frame.route` holds
 * its route; len is exactly Ethernet header + IPv6 total length; `mtu` is the egress MTU.
 */
export function ip6Forward(dp: Datapath, ingress: Port, mtu: number, buf: Buffer, off: number, len: number): void {
  const hl = off + ETH_HLEN + IPV6_HOP_LIMIT;
  if (buf[hl] <= 1) {
    dp.counters.drop(Drop.TtlExpired);
    icmp6Error(dp, ingress, buf, off, len, ICMPV6_TIME_EXCEEDED, ICMPV6_HOP_LIMIT_EXCEEDED, 0);
    return;
  }
  // a TCP super segment stands for segments of gsoSize bytes of payload: those must fit
  if (dp.frame.wireSize(buf, off, len) > mtu) {
    dp.counters.drop(Drop.PacketTooBig);
    icmp6Error(dp, ingress, buf, off, len, ICMPV6_PACKET_TOO_BIG, 0, mtu);
    return;
  }
  buf[hl]--;
  ip6Output(dp, ingress, dp.frame.route, buf, off, len);
}
