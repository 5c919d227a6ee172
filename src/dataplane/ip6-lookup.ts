// ip6-lookup: where a routed IPv6 packet goes (from a container's network, or from the host's TUN
// port), with the isolation rules Docker applies, as ip4-input does for IPv4: another network is
// refused (administratively prohibited), an --internal network never leaves the gateway, a packet
// never goes back out of the port it came in on; the gateway's address on another link is the
// gateway's own (ip6-local). A packet nat66 translated is past those rules; untranslated, only a
// prefix routed without NAT (pontoon.ipv6.nat=false) crosses the uplink, either way. The rest goes
// on to ip6-forward.

import { ETH_HLEN } from '../wire/ethernet.js';
import { ICMPV6_ADMIN_PROHIBITED, ICMPV6_DEST_UNREACHABLE, ICMPV6_NO_ROUTE } from '../wire/icmpv6.js';
import { IPV6_DST, readI32 } from '../wire/ipv6.js';
import type { Datapath } from './context.js';
import { Drop } from './counters.js';
import { icmp6Error } from './icmp6-error.js';
import { ip6Forward } from './ip6-forward.js';
import { ip6Local } from './ip6-local.js';
import type { Network } from './network.js';
import type { Port } from './port.js';
import { RouteTarget } from './route-table.js';

/**
 * The frame's IPv6 view and walk are over the packet; len is exactly Ethernet header + IPv6 total
 * length; `inNet` null: from the host. `natted`: nat66 translated it (its flow was admitted, the
 * isolation rules do not apply again).
 */
export function ip6Lookup(dp: Datapath, port: Port, inNet: Network | null, buf: Buffer, off: number, len: number, natted: boolean): void {
  const c = dp.counters;
  const route = dp.frame.route;
  const d = off + ETH_HLEN + IPV6_DST;
  if (!dp.tables.routes6.resolve6At(buf, d, route)) {
    c.drop(Drop.NoRoute);
    icmp6Error(dp, port, buf, off, len, ICMPV6_DEST_UNREACHABLE, ICMPV6_NO_ROUTE, 0);
    return;
  }
  const fromUplink = inNet !== null && inNet.isUplink;
  const target = route.target;
  if (route.kind === RouteTarget.Network) {
    const outNet = dp.tables.networks[target]!;
    if (!natted) {
      if (fromUplink) {
        // from outside, untranslated: only to a prefix routed without NAT (pontoon.ipv6.nat=false)
        if (outNet.isUplink || outNet.internal || outNet.ip6 === null || outNet.ip6.nat) {
          c.drop(Drop.NoMapping);
          return;
        }
      } else {
        if (inNet !== null && outNet !== inNet && !outNet.isUplink) {
          c.drop(Drop.NetworkIsolation); // Docker isolates networks from each other
          icmp6Error(dp, port, buf, off, len, ICMPV6_DEST_UNREACHABLE, ICMPV6_ADMIN_PROHIBITED, 0);
          return;
        }
        if (outNet.internal || (outNet.isUplink && inNet !== null && inNet.internal)) {
          c.drop(Drop.InternalNetwork); // --internal networks never leave the gateway
          icmp6Error(dp, port, buf, off, len, ICMPV6_DEST_UNREACHABLE, ICMPV6_ADMIN_PROHIBITED, 0);
          return;
        }
      }
      const v6 = outNet.ip6;
      if (v6 !== null && v6.isGateway(readI32(buf, d), readI32(buf, d + 4), readI32(buf, d + 8), readI32(buf, d + 12))) {
        ip6Local(dp, port, buf, off, len); // the gateway's address on another link
        return;
      }
      if (outNet.isUplink && (inNet === null || inNet.ip6 === null || inNet.ip6.nat)) {
        // untranslatable (a fragment, a source route, no IPv6 on the uplink): a masqueraded prefix never leaves as it is
        c.drop(Drop.NoMapping);
        return;
      }
    }
    ip6Forward(dp, port, outNet.mtu, buf, off, len);
    return;
  }
  // towards the host's TUN port
  if (!natted) {
    if (fromUplink) {
      c.drop(Drop.NoMapping);
      return;
    }
    if (inNet !== null && inNet.internal) {
      c.drop(Drop.InternalNetwork);
      icmp6Error(dp, port, buf, off, len, ICMPV6_DEST_UNREACHABLE, ICMPV6_ADMIN_PROHIBITED, 0);
      return;
    }
  }
  if (target === port.id) {
    c.drop(Drop.NoRoute); // would go straight back out of the port it came in on
    icmp6Error(dp, port, buf, off, len, ICMPV6_DEST_UNREACHABLE, ICMPV6_NO_ROUTE, 0);
    return;
  }
  ip6Forward(dp, port, dp.tables.ports[target]!.mtu, buf, off, len);
}
