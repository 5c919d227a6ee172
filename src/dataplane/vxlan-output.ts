// vxlan-output: encapsulation towards one VTEP. The 8-byte VXLAN header is written in the
// headroom in front of the inner frame and the whole is sent from the same buffer: the payload is
// never copied. A frame that would not fit the underlay MTU is refused with ICMP fragmentation
// needed (for IPv4 with DF) rather than lost silently.

import { ETH_HLEN, ETHERTYPE_IPV4 } from '../wire/ethernet.js';
import { ICMP_DEST_UNREACHABLE, ICMP_FRAG_NEEDED } from '../wire/icmpv4.js';
import { VXLAN_HLEN, VXLAN_OVERHEAD, writeVxlanHeader } from '../wire/vxlan.js';
import { Drop } from './counters.js';
import type { Dataplane } from './dataplane.js';
import { icmpError } from './icmp-error.js';
import { finishChecksum, segmentTcp4 } from './offload.js';
import type { Network } from './network.js';

export function vxlanOutput(dp: Dataplane, net: Network, ingress: number, vtep: number, buf: Buffer, off: number, len: number): void {
  const c = dp.counters;
  // the underlay socket takes neither partial checksums nor super segments
  if (dp.gsoSize !== 0) {
    segmentTcp4(dp, buf, off, len, -1, net.index, vtep);
    return;
  }
  if (dp.needsCsum !== 0) finishChecksum(dp, buf, off, len);
  if (len - ETH_HLEN + VXLAN_OVERHEAD > dp.underlayMtu) {
    c.drop(Drop.VxlanTooBig);
    const port = dp.ports[ingress];
    if (port !== undefined && ((buf[off + 12] << 8) | buf[off + 13]) === ETHERTYPE_IPV4 && (buf[off + ETH_HLEN + 6] & 0x40) !== 0) {
      icmpError(dp, port, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_FRAG_NEEDED, dp.underlayMtu - VXLAN_OVERHEAD);
    }
    return;
  }
  const h = off - VXLAN_HLEN;
  writeVxlanHeader(buf, h, net.vni);
  const tunnel = dp.tunnel;
  if (tunnel === null || !tunnel.sendTo(buf, h, len + VXLAN_HLEN, vtep)) {
    c.drop(Drop.TxError);
    return;
  }
  c.tx(dp.tunnelPort, len + VXLAN_HLEN);
  const v = c.vxlan;
  const i = net.index * 4;
  v[i + 2]++;
  v[i + 3] += len;
}
