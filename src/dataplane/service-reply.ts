// service-reply: what br_netfilter does for kube-proxy, in the switch. A service flow's client and
// backend may share an L2 segment (a bridge network, an overlay across hosts): the backend then
// answers the client directly and the reply is switched, never routed through nat44, so it would
// reach the client from the backend's address instead of the VIP. On a network with services, an
// IPv4 frame switched from a backend's address (a set lookup first) is looked up in conntrack;
// the reply of a service flow is tracked and translated back (source = VIP:port) on its way.

import { WireError } from '../wire/error.js';
import { IP_PROTO_TCP, IP_PROTO_UDP } from '../wire/ipv4.js';
import { CtFlag, Dir } from './conntrack.js';
import type { Datapath } from './context.js';
import { SERVICE_FIELDS, SVC_BYTES } from './counters.js';
import type { CheckedIpv4 } from './frame.js';
import { advance } from './nat-flow.js';
import { translate } from './nat44.js';

/**
 * `ip` is the frame's view around the IPv4 packet of the Ethernet frame at buf[off]. Translates
 * the frame in place when it is the reply of a service flow; false when it must be dropped (out
 * of the flow's TCP window), counted.
 */
export function serviceReply(dp: Datapath, ip: CheckedIpv4, buf: Buffer, off: number): boolean {
  const proto = ip.protocol;
  if ((proto !== IP_PROTO_TCP && proto !== IP_PROTO_UDP) || ip.isFragment) return true;
  const src = ip.srcI32;
  const tables = dp.tables;
  if (!tables.vips.isBackend(src)) return true;
  const frame = dp.frame;
  const l4 = ip.payloadOffset;
  const l4len = ip.payloadLength;
  let sport: number;
  let dport: number;
  let tcpFlags = 0;
  if (proto === IP_PROTO_TCP) {
    if (frame.tcp.wrap(buf, l4, l4len) !== WireError.Ok) return true; // not ours to judge: switched as it is
    sport = frame.tcp.srcPort;
    dport = frame.tcp.dstPort;
    tcpFlags = frame.tcp.flags;
  } else {
    if (frame.udp.wrap(buf, l4, l4len) !== WireError.Ok) return true;
    sport = frame.udp.srcPort;
    dport = frame.udp.dstPort;
  }
  const ct = tables.conntrack;
  const slot = ct.lookup(proto, src, ip.dstI32, sport, dport, dp.now);
  if (slot < 0 || (slot & 1) !== Dir.Reply) return true;
  const e = slot >> 1;
  if ((ct.flags[e] & CtFlag.Service) === 0) return true;
  if (!advance(dp, e, Dir.Reply, proto, tcpFlags, l4len)) return false;
  const bytes = ip.totalLength;
  ct.packets[slot]++;
  ct.bytes[slot] += bytes;
  const b = ct.backend[e];
  if (b >= 0) dp.counters.services[b * SERVICE_FIELDS + SVC_BYTES] += bytes;
  translate(dp, e, Dir.Reply, proto, buf, off);
  return true;
}
