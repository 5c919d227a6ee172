// vxlan-output: encapsulation towards one VTEP. The 8-byte VXLAN header is written in the
// headroom in front of the inner frame and the whole is sent from the same buffer: the payload is
// never copied. A frame that would not fit the underlay MTU (less the outer headers of its family:
// 50 bytes over IPv4, 70 over IPv6) is refused with ICMP fragmentation needed (IPv4 with DF) or
// ICMPv6 packet too big (IPv6: never fragmented on the way) rather than lost silently.

import { ETH_HLEN, etherTypeOf, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { ICMPV6_PACKET_TOO_BIG } from '../wire/icmpv6.js';
import { ipv4DontFragment } from '../wire/ipv4.js';
import { ICMP_DEST_UNREACHABLE, ICMP_FRAG_NEEDED } from '../wire/icmpv4.js';
import { VXLAN_HLEN, writeVxlanHeader } from '../wire/vxlan.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import { icmpError } from './icmp-error.js';
import { icmp6Error } from './icmp6-error.js';
import { finishChecksum, segmentTcp } from './offload.js';
import type { Network } from './network.js';
import type { Port } from './port.js';

/** `ingress`: where the frame came from (null: the gateway's own), told of a frame too big for the underlay. */
export function vxlanOutput(dp: Datapath, net: Network, ingress: Port | null, vtep: number, buf: Buffer, off: number, len: number): void {
  const c = dp.counters;
  // the underlay socket takes neither partial checksums nor super segments
  if (dp.frame.gsoSize !== 0) {
    segmentTcp(dp, buf, off, len, -1, net, vtep);
    return;
  }
  if (dp.frame.needsCsum !== 0) finishChecksum(dp.frame, buf, off, len);
  // the outer header is the underlay's family's: 50 bytes over IPv4, 70 over IPv6
  const room = dp.tables.underlayMtu - dp.tables.underlayOverhead;
  if (len - ETH_HLEN > room) {
    c.drop(Drop.VxlanTooBig);
    if (ingress === null) return;
    const et = etherTypeOf(buf, off);
    if (et === ETHERTYPE_IPV4 && ipv4DontFragment(buf, off + ETH_HLEN)) {
      icmpError(dp, ingress, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_FRAG_NEEDED, room);
    } else if (et === ETHERTYPE_IPV6) {
      icmp6Error(dp, ingress, buf, off, len, ICMPV6_PACKET_TOO_BIG, 0, room);
    }
    return;
  }
  const h = off - VXLAN_HLEN;
  writeVxlanHeader(buf, h, net.vni);
  const tunnel = dp.tables.tunnel;
  const port = dp.tables.tunnelPort;
  if (tunnel === null || port === null || !tunnel.sendTo(buf, h, len + VXLAN_HLEN, vtep)) {
    c.drop(Drop.TxError);
    return;
  }
  c.tx(port.id, len + VXLAN_HLEN);
  const v = c.vxlan;
  const i = net.index * 4;
  v[i + 2]++;
  v[i + 3] += len;
}
