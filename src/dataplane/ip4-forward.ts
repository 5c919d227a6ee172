// ip4-forward: the router's per-hop work on a packet that leaves through another interface:
// TTL expiry, the egress MTU (ICMP fragmentation needed, or fragmenting when DF is clear), TTL
// decrement with an incremental checksum update, then link-layer output.

import {
  ICMP_DEST_UNREACHABLE,
  ICMP_FRAG_NEEDED,
  ICMP_TIME_EXCEEDED,
  ICMP_TTL_EXCEEDED,
} from '../wire/icmpv4.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import type { CheckedIpv4 } from './frame.js';
import { icmpError } from './icmp-error.js';
import { ip4Fragment } from './ip4-fragment.js';
import { ip4Output } from './ip4-output.js';
import type { Port } from './port.js';

/**
 * `ip` is wrapped around the packet and `dp.frame.route` holds its route; len is exactly
 * Ethernet header + IP total length; `mtu` is the egress MTU.
 */
export function ip4Forward(dp: Datapath, ingress: Port, ip: CheckedIpv4, mtu: number, buf: Buffer, off: number, len: number): void {
  const route = dp.frame.route;
  if (ip.ttl <= 1) {
    dp.counters.drop(Drop.TtlExpired);
    icmpError(dp, ingress, buf, off, len, ICMP_TIME_EXCEEDED, ICMP_TTL_EXCEEDED, 0);
    return;
  }
  // a TCP super segment stands for segments of gsoSize bytes of payload: those must fit
  if (dp.frame.wireSize(buf, off, len) > mtu) {
    if (ip.dontFragment) {
      dp.counters.drop(Drop.FragmentationNeeded);
      icmpError(dp, ingress, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_FRAG_NEEDED, mtu);
      return;
    }
    ip.decrementTtl();
    ip4Fragment(dp, ingress, route, mtu, buf, off, len);
    return;
  }
  ip.decrementTtl();
  ip4Output(dp, ingress, route, buf, off, len);
}
