// icmp6-error: the gateway's ICMPv6 error messages (RFC 4443): time exceeded, destination
// unreachable (no route, administratively prohibited, address unreachable), packet too big (a
// router never fragments IPv6) and parameter problem, sent back out of the port the offending
// packet came in on, from the gateway's address on that link. Never about an ICMPv6 error or a
// redirect, never to a multicast or unspecified source, about a multicast destination only for
// packet too big (RFC 4443 2.4(e)); rate limited with the ICMP errors (one bucket: 2.4(f)).

import { ETH_HLEN, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { WireError } from '../wire/error.js';
import { emitIcmpv6Error, icmpv6ErrorAllowed, type Icmpv6ErrorSpec } from '../wire/icmpv6.js';
import { IPV6_SRC, Ipv6ExtensionWalk, Ipv6Packet, readI32 } from '../wire/ipv6.js';
import { Gauge } from './counters.js';
import type { Datapath } from './context.js';
import { errorSlot, sendError } from './icmp-error.js';
import { PortKind, type Port } from './port.js';
import { writeReplyEthernet } from './reply-ethernet.js';

// views of their own: the offending frame may be a parked one, not the one the frame's views are wrapped around
const offending = new Ipv6Packet();
const offendingWalk = new Ipv6ExtensionWalk();
const spec: Icmpv6ErrorSpec & { src: [number, number, number, number] } = { type: 0, code: 0, param: 0, src: [0, 0, 0, 0] };

/** fe80::/10, in the first word */
function isLinkLocalWord(w0: number): boolean {
  return (w0 & 0xffc00000) === (0xfe800000 | 0);
}

/** `off` is the Ethernet start of the offending frame, its IPv6 header at off + 14; `param` the MTU or pointer. */
export function icmp6Error(dp: Datapath, ingress: Port, buf: Buffer, off: number, len: number, type: number, code: number, param: number): void {
  const ipOff = off + ETH_HLEN;
  if (offending.wrap(buf, ipOff, len - ETH_HLEN) !== WireError.Ok) return;
  offendingWalk.walk(buf, ipOff, len - ETH_HLEN);
  if (!icmpv6ErrorAllowed(offending, offendingWalk, type, code)) return;
  // from the gateway's address on the link the packet came from: fe80::1 to a link-local source
  const s = spec.src;
  const t = dp.tables;
  const net = ingress.kind !== PortKind.Host ? t.networks[ingress.network] : undefined;
  if (net !== undefined) {
    const v6 = net.ip6;
    // no IPv6 side, or no address of the gateway's on it (a macvlan network's router is the LAN's)
    if (v6 === null || net.macvlan !== 0) return;
    if (isLinkLocalWord(readI32(buf, ipOff + IPV6_SRC))) {
      s[0] = v6.ll0;
      s[1] = v6.ll1;
      s[2] = v6.ll2;
      s[3] = v6.ll3;
    } else {
      s[0] = v6.g0;
      s[1] = v6.g1;
      s[2] = v6.g2;
      s[3] = v6.g3;
    }
  } else {
    if (!t.hasHostIp6) return;
    const g = t.hostGateway6;
    s[0] = g[0];
    s[1] = g[1];
    s[2] = g[2];
    s[3] = g[3];
  }
  const o = errorSlot(dp);
  if (o < 0) return;
  spec.type = type;
  spec.code = code;
  spec.param = param;
  const out = dp.pool.slab;
  writeReplyEthernet(out, o, buf, off, net, ETHERTYPE_IPV6);
  const ipLen = Math.min(len - ETH_HLEN, offending.totalLength);
  const total = ETH_HLEN + emitIcmpv6Error(out, o + ETH_HLEN, spec, buf, ipOff, ipLen);
  dp.counters.gauges[Gauge.Icmp6Sent]++;
  sendError(dp, ingress, o, total);
}
