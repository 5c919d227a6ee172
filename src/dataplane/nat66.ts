// nat66: connection tracking and address translation for IPv6, as nat44 does it for IPv4 (Docker's
// ip6tables behaviour): everything from the uplink to the gateway's IPv6 address, everything for a
// published IPv6 port (`-p [::]:8080:80`) or the gateway's services on a network's IPv6 gateway
// address, everything routed out of the uplink from a network whose prefix is masqueraded (a
// ULA one, or pontoon.ipv6.nat=true), and the replies of those flows. A network routed without
// NAT (pontoon.ipv6.nat=false) is not tracked: ip6-lookup routes it both ways.
//
// The flow logic (protocol state, limits) is nat-flow's, shared with nat44; what is IPv6's own is
// here: the tuple of four-word addresses, the hop limit, packet too big instead of fragmentation
// needed, and ICMPv6's checksum over the pseudo-header (a changed address changes it too).

import { ETH_HLEN } from '../wire/ethernet.js';
import { update16, update32 } from '../wire/checksum.js';
import {
  ICMPV6_ECHO_IDENT,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_HOP_LIMIT_EXCEEDED,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_TIME_EXCEEDED,
  isIcmpv6ErrorType,
} from '../wire/icmpv6.js';
import { IP_PROTO_TCP, IP_PROTO_UDP } from '../wire/ipv4.js';
import { IP_PROTO_ICMPV6, IPV6_DST, IPV6_HOP_LIMIT, IPV6_SRC, readI32, writeU32 } from '../wire/ipv6.js';
import { ipv6WordsHash } from '../wire/ipv6-address.js';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../wire/tcp.js';
import { WireError } from '../wire/error.js';
import { CtFlag, CtState, Dir, Family } from './conntrack.js';
import type { Datapath } from './context.js';
import { Drop } from './counters.js';
import { icmp6Error } from './icmp6-error.js';
import { admit, advance, createInbound, fromUplink, newFlowGauge, tcpFlagsOf, unlessReused } from './nat-flow.js';
import { nat66IcmpError } from './nat66-icmp-error.js';
import { natClass, PIN_OPEN } from './nat-ports.js';
import { NatVerdict } from './nat-verdict.js';
import type { Network } from './network.js';
import { type Port, PortKind } from './port.js';
import { RouteTarget } from './route-table.js';
import { sendTcpReset6 } from './tcp-reset.js';

/**
 * The frame's IPv6 view and extension walk are over the packet; len is exactly Ethernet header +
 * IPv6 total length; `inNet` null: from the host. Returns a NatVerdict.
 */
export function nat66(dp: Datapath, ingress: Port, inNet: Network | null, buf: Buffer, off: number, len: number): number {
  const tables = dp.tables;
  const frame = dp.frame;
  const walk = frame.walk6;
  // no reassembly, no source routes: fragments and routed packets are not translated
  if (walk.fragment >= 0 || walk.routing >= 0) return NatVerdict.Untracked;
  const proto = walk.protocol;
  const l4 = walk.offset;
  const l4len = walk.length;
  let sport = 0;
  let dport = 0;
  let tcpFlags = 0;
  let echoRequest = false;
  if (proto === IP_PROTO_TCP) {
    if (frame.tcp.wrap(buf, l4, l4len) !== WireError.Ok) {
      dp.counters.drop(Drop.Malformed);
      return NatVerdict.Drop;
    }
    sport = frame.tcp.srcPort;
    dport = frame.tcp.dstPort;
    tcpFlags = frame.tcp.flags;
  } else if (proto === IP_PROTO_UDP) {
    if (frame.udp.wrap(buf, l4, l4len) !== WireError.Ok) {
      dp.counters.drop(Drop.Malformed);
      return NatVerdict.Drop;
    }
    sport = frame.udp.srcPort;
    dport = frame.udp.dstPort;
  } else if (proto === IP_PROTO_ICMPV6) {
    if (l4len < 8) {
      dp.counters.drop(Drop.Malformed);
      return NatVerdict.Drop;
    }
    const type = buf[l4];
    if (type === ICMPV6_ECHO_REQUEST || type === ICMPV6_ECHO_REPLY) {
      sport = (buf[l4 + ICMPV6_ECHO_IDENT] << 8) | buf[l4 + ICMPV6_ECHO_IDENT + 1];
      echoRequest = type === ICMPV6_ECHO_REQUEST;
    } else if (isIcmpv6ErrorType(type)) {
      return nat66IcmpError(dp, inNet, buf, off, len);
    } else {
      return NatVerdict.Untracked; // neighbour discovery, MLD: the link's, never translated
    }
  } else {
    return NatVerdict.Untracked;
  }

  const ipOff = off + ETH_HLEN;
  const t = frame.tuple.set6(proto, buf, ipOff + IPV6_SRC, ipOff + IPV6_DST, sport, dport);
  const ct = tables.conntrack;
  let slot = ct.find(t, dp.now);
  // echo flows are keyed by identifier alone: requests go the original way, replies come back
  if (slot >= 0 && proto === IP_PROTO_ICMPV6 && ((slot & 1) === Dir.Original) !== echoRequest) slot = -1;
  if (slot >= 0 && proto === IP_PROTO_TCP) slot = unlessReused(dp, slot, tcpFlags);
  if (slot >= 0) {
    if (buf[ipOff + IPV6_HOP_LIMIT] <= 1) return expire(dp, ingress, buf, off, len);
    const e = slot >> 1;
    const dir = slot & 1;
    if (exceedsEgressMtu(dp, ingress, e, dir, buf, off, len)) return NatVerdict.Drop;
    if (!advance(dp, e, dir, proto, tcpFlags, l4len)) return NatVerdict.Drop;
    ct.packets[slot]++;
    ct.bytes[slot] += len - ETH_HLEN;
    translate6(dp, e, dir, proto, buf, off);
    return NatVerdict.Translated;
  }

  // a new flow: to one of the gateway's own IPv6 addresses that publish?
  const d0 = t.dst;
  const d1 = t.dst1;
  const d2 = t.dst2;
  const d3 = t.dst3;
  const up6 = tables.uplink6;
  const toUplink6 = tables.hasUplink6 && d0 === (up6[0] | 0) && d1 === (up6[1] | 0) && d2 === (up6[2] | 0) && d3 === (up6[3] | 0);
  const hg = tables.hostGateway6;
  const toHost6 = tables.hasHostIp6 && d0 === (hg[0] | 0) && d1 === (hg[1] | 0) && d2 === (hg[2] | 0) && d3 === (hg[3] | 0);
  if (proto !== IP_PROTO_ICMPV6 && (toUplink6 || toHost6)) {
    const published = tables.published;
    const rule = published.lookup6(proto, d0, d1, d2, d3, dport);
    if (rule >= 0) {
      const tp = published.targetPortOf(rule);
      return publishedFlow(dp, ingress, inNet, published.targetWord(rule, 0), published.targetWord(rule, 1), published.targetWord(rule, 2), published.targetWord(rule, 3), tp, -1, buf, off, len);
    }
    // an outside mapping of the gateway: from inside always (hairpinning), from outside when
    // pinned open (PCP MAP) or under endpoint-independent filtering (UDP)
    if (toUplink6) {
      const maps = tables.mappings;
      const m = maps.byOutside(natClass(Family.Ipv6, proto), dport);
      if (m >= 0 && (!fromUplink(dp, inNet) || (maps.pinned[m] & PIN_OPEN) !== 0 || (proto === IP_PROTO_UDP && dp.options.udpEndpointIndependentFiltering))) {
        const w = m * 3;
        return publishedFlow(dp, ingress, inNet, maps.inIp[m], maps.inIp6[w], maps.inIp6[w + 1], maps.inIp6[w + 2], maps.inPort[m], m, buf, off, len);
      }
    }
  }
  // the gateway's own services (DNS): to a network's IPv6 gateway address, DNATed to the daemon's socket
  if (proto !== IP_PROTO_ICMPV6 && inNet !== null && !inNet.isUplink && inNet.ip6 !== null && inNet.ip6.isGateway(d0, d1, d2, d3)) {
    const services = tables.services;
    const svc = services.lookup6(proto, dport);
    if (svc >= 0) {
      const w = svc * 4;
      const ti = services.targetIp6;
      return publishedFlow(dp, ingress, inNet, ti[w] | 0, ti[w + 1] | 0, ti[w + 2] | 0, ti[w + 3] | 0, services.targetPort6[svc], -1, buf, off, len);
    }
  }
  if (fromUplink(dp, inNet)) {
    // routed at a prefix behind the gateway: ip6-lookup decides (a network routed without NAT, or no mapping)
    if (!toUplink6 || (proto === IP_PROTO_ICMPV6 && echoRequest)) return NatVerdict.Untracked;
    return unsolicited(dp, ingress, buf, off, tcpFlags);
  }
  // leaving through the uplink from a masqueraded prefix (or the host's)
  if (!tables.hasUplink6 || (inNet !== null && (inNet.internal || inNet.ip6 === null || !inNet.ip6.nat))) return NatVerdict.Untracked;
  const routes = tables.routes6;
  const route = routes.lookup6(d0, d1, d2, d3);
  if (route < 0 || routes.kindOf(route) !== RouteTarget.Network || routes.targetOf(route) !== tables.uplink!.index) return NatVerdict.Untracked;
  if (toUplink6) return NatVerdict.Untracked; // the gateway's own uplink address: local
  return masquerade(dp, ingress, buf, off, len);
}

/** The hop limit would expire on a translated packet: answer from the untranslated one. */
function expire(dp: Datapath, ingress: Port, buf: Buffer, off: number, len: number): number {
  dp.counters.drop(Drop.TtlExpired);
  icmp6Error(dp, ingress, buf, off, len, ICMPV6_TIME_EXCEEDED, ICMPV6_HOP_LIMIT_EXCEEDED, 0);
  return NatVerdict.Drop;
}

/**
 * A packet that will not fit the egress MTU once translated gets its packet too big now (routers
 * never fragment IPv6), quoting it untranslated and addressed to its real sender, so that path-MTU
 * discovery converges from behind the gateway.
 */
function exceedsEgressMtu(dp: Datapath, ingress: Port, e: number, dir: number, buf: Buffer, off: number, len: number): boolean {
  const tables = dp.tables;
  const ct = tables.conntrack;
  const r = e * 2 + (dir ^ 1); // the other direction's source is where this packet goes
  const w = r * 3;
  const routes = tables.routes6;
  const route = routes.lookup6(ct.src[r], ct.src6[w], ct.src6[w + 1], ct.src6[w + 2]);
  if (route < 0) return false;
  const target = routes.targetOf(route);
  const mtu = routes.kindOf(route) === RouteTarget.Network ? tables.networks[target]!.mtu : tables.ports[target]!.mtu;
  if (dp.frame.wireSize(buf, off, len) <= mtu) return false;
  dp.counters.drop(Drop.PacketTooBig);
  icmp6Error(dp, ingress, buf, off, len, ICMPV6_PACKET_TOO_BIG, 0, mtu);
  return true;
}

/**
 * Rewrites the packet of direction `dir` of entry `e` so that its tuple is the inverse of the
 * other direction's, updating the TCP, UDP or ICMPv6 checksum incrementally (each covers the
 * addresses through the pseudo-header). The frame's walk locates the transport header.
 */
export function translate6(dp: Datapath, e: number, dir: number, proto: number, buf: Buffer, off: number): void {
  const frame = dp.frame;
  const ct = dp.tables.conntrack;
  const r = e * 2 + (dir ^ 1);
  const w = r * 3;
  const s = off + ETH_HLEN + IPV6_SRC;
  const l4 = frame.walk6.offset;
  const ck = proto === IP_PROTO_TCP ? l4 + 16 : proto === IP_PROTO_UDP ? l4 + 6 : l4 + 2;
  let sum = (buf[ck] << 8) | buf[ck + 1];
  // the addresses: the source becomes the other direction's destination, and the reverse
  const partial = frame.needsCsum !== 0 && ck === off + frame.csumStart + frame.csumOffset;
  let c = partial ? ~sum & 0xffff : sum; // offload: the field holds the pseudo-header sum, not complemented
  for (let i = 0; i < 8; i++) {
    const o = s + i * 4;
    const old = readI32(buf, o);
    const nw = i === 0 ? ct.dst[r] : i < 4 ? ct.dst6[w + i - 1] : i === 4 ? ct.src[r] : ct.src6[w + i - 5];
    if (old !== nw) {
      c = update32(c, old, nw);
      writeU32(buf, o, nw);
    }
  }
  if (proto === IP_PROTO_ICMPV6) {
    const newId = ct.sport[r];
    const oldId = (buf[l4 + ICMPV6_ECHO_IDENT] << 8) | buf[l4 + ICMPV6_ECHO_IDENT + 1];
    if (oldId !== newId) {
      c = update16(c, oldId, newId);
      buf[l4 + ICMPV6_ECHO_IDENT] = newId >>> 8;
      buf[l4 + ICMPV6_ECHO_IDENT + 1] = newId & 0xff;
    }
  } else {
    const newSport = ct.dport[r];
    const newDport = ct.sport[r];
    const oldSport = (buf[l4] << 8) | buf[l4 + 1];
    const oldDport = (buf[l4 + 2] << 8) | buf[l4 + 3];
    // with offload the pseudo-header sum does not cover the ports: whoever finishes it sums the new ones
    if (!partial && oldSport !== newSport) c = update16(c, oldSport, newSport);
    if (!partial && oldDport !== newDport) c = update16(c, oldDport, newDport);
    buf[l4] = newSport >>> 8;
    buf[l4 + 1] = newSport & 0xff;
    buf[l4 + 2] = newDport >>> 8;
    buf[l4 + 3] = newDport & 0xff;
  }
  sum = partial ? ~c & 0xffff : c;
  if (!partial && proto === IP_PROTO_UDP && sum === 0) sum = 0xffff; // 0 would mean "no checksum", forbidden over IPv6
  buf[ck] = sum >>> 8;
  buf[ck + 1] = sum & 0xff;
}

/** A new flow out of the uplink: the source becomes the uplink's IPv6 address and a free port. */
function masquerade(dp: Datapath, ingress: Port, buf: Buffer, off: number, len: number): number {
  const tables = dp.tables;
  const frame = dp.frame;
  const t = frame.tuple;
  const proto = t.proto;
  const tcpFlags = tcpFlagsOf(dp);
  if (buf[off + ETH_HLEN + IPV6_HOP_LIMIT] <= 1) return expire(dp, ingress, buf, off, len);
  // a connection starts with a SYN; with tcpLoose any segment but a RST may pick up a lost one
  let pickup = false;
  if (proto === IP_PROTO_TCP && (tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_SYN) {
    if (!dp.options.tcpLoose || (tcpFlags & (TCP_SYN | TCP_RST)) !== 0 || (tcpFlags & TCP_ACK) === 0) {
      dp.counters.drop(Drop.InvalidState);
      return NatVerdict.Drop;
    }
    pickup = true;
  }
  if (proto === IP_PROTO_ICMPV6 && buf[frame.walk6.offset] !== ICMPV6_ECHO_REQUEST) {
    dp.counters.drop(Drop.InvalidState);
    return NatVerdict.Drop;
  }
  const ct = tables.conntrack;
  const owner = ingress.kind === PortKind.Endpoint ? ingress.id : -1;
  if (!admit(dp, owner)) return NatVerdict.Drop;
  const maps = tables.mappings;
  const m = maps.acquire6(natClass(Family.Ipv6, proto), t.src, t.src1, t.src2, t.src3, t.sport);
  if (m < 0) {
    dp.counters.drop(Drop.NatPortsExhausted);
    return NatVerdict.Drop;
  }
  const out = maps.outPort[m];
  const up6 = tables.uplink6;
  const reply = frame.reply.reverseOf(t);
  reply.setDst6(up6[0], up6[1], up6[2], up6[3]);
  if (proto === IP_PROTO_ICMPV6) {
    // echo flows are keyed by identifier alone: the reply carries the mapped identifier both ways
    t.dport = 0;
    reply.sport = out;
    reply.dport = 0;
  } else {
    reply.dport = out;
  }
  const state = proto !== IP_PROTO_TCP ? CtState.None : pickup ? CtState.Established : CtState.SynSent;
  const e = ct.create(t, reply, state, pickup ? CtFlag.Snat | CtFlag.Liberal : CtFlag.Snat);
  if (e < 0) {
    maps.releaseIfUnused(m);
    dp.counters.drop(Drop.ConntrackFull);
    return NatVerdict.Drop;
  }
  maps.ref(m);
  ct.mapping[e] = m;
  if (owner >= 0) ct.own(e, owner);
  return startFlow(dp, ingress, e, buf, off, len);
}

/**
 * A new flow to a published IPv6 port, a gateway service or an outside mapping `m` (-1: none): the
 * destination becomes the address of int32 words a0..a3, port tPort. From a container through the
 * uplink's address it is hairpinned.
 */
function publishedFlow(
  dp: Datapath,
  ingress: Port,
  inNet: Network | null,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  tPort: number,
  m: number,
  buf: Buffer,
  off: number,
  len: number,
): number {
  const tables = dp.tables;
  const frame = dp.frame;
  const t = frame.tuple;
  const proto = t.proto;
  const tcpFlags = tcpFlagsOf(dp);
  if (buf[off + ETH_HLEN + IPV6_HOP_LIMIT] <= 1) return expire(dp, ingress, buf, off, len);
  if (proto === IP_PROTO_TCP && (tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_SYN) return unsolicited(dp, ingress, buf, off, tcpFlags);
  const ct = tables.conntrack;
  const maps = tables.mappings;
  const now = dp.now;
  // the reply comes from the target to the sender, unless hairpinned
  const reply = frame.reply.reverseOf(t);
  reply.setSrc6(a0, a1, a2, a3);
  reply.sport = tPort;
  let flags: number = CtFlag.Dnat | CtFlag.Inbound;
  let held = m; // the mapping the entry keeps alive
  if (inNet !== null && inNet !== tables.uplink) {
    const routes = tables.routes6;
    const route = routes.lookup6(a0, a1, a2, a3);
    const tNet = route >= 0 && routes.kindOf(route) === RouteTarget.Network ? tables.networks[routes.targetOf(route)] : undefined;
    if (tNet !== undefined && tNet.ip6 !== null) {
      // hairpin: the target must send its reply back through the gateway, so the source changes
      flags |= CtFlag.Snat;
      const up6 = tables.uplink6;
      if (tables.hasUplink6 && t.dst === (up6[0] | 0) && t.dst1 === (up6[1] | 0) && t.dst2 === (up6[2] | 0) && t.dst3 === (up6[3] | 0)) {
        // RFC 4787 REQ-9, RFC 5382 REQ-8: the target sees the sender's own outside address and port
        held = maps.acquire6(natClass(Family.Ipv6, proto), t.src, t.src1, t.src2, t.src3, t.sport);
        if (held < 0) {
          dp.counters.drop(Drop.NatPortsExhausted);
          return NatVerdict.Drop;
        }
        reply.setDst6(up6[0], up6[1], up6[2], up6[3]);
        reply.dport = maps.outPort[held];
      } else {
        // through the host link's address: the target network's gateway, on a port no flow uses
        held = -1;
        const g = tNet.ip6;
        reply.setDst6(g.g0, g.g1, g.g2, g.g3);
        for (let n = 0; n < 64 && ct.takenTuple(reply, now); n++) reply.dport = reply.dport >= 65535 ? 1024 : reply.dport + 1;
      }
    }
  }
  const owner = endpointOf6(dp, a0, a1, a2, a3);
  const e = createInbound(dp, reply, flags, held, owner);
  if (e < 0) return NatVerdict.Drop;
  return startFlow(dp, ingress, e, buf, off, len);
}

/** The local endpoint (port id) whose IPv6 address is w0..w3, or -1. */
function endpointOf6(dp: Datapath, w0: number, w1: number, w2: number, w3: number): number {
  const id = dp.tables.endpointsByIp6.get(ipv6WordsHash(w0, w1, w2, w3));
  if (id === undefined) return -1;
  const p = dp.tables.ports[id];
  // a hash names a candidate: the port's own words decide
  return p !== undefined && p.hasIp6 && (p.ip6w0 | 0) === (w0 | 0) && (p.ip6w1 | 0) === (w1 | 0) && (p.ip6w2 | 0) === (w2 | 0) && (p.ip6w3 | 0) === (w3 | 0) ? id : -1;
}

/** The first packet of a flow just created: count it, start its protocol state, translate it. */
function startFlow(dp: Datapath, ingress: Port, e: number, buf: Buffer, off: number, len: number): number {
  const frame = dp.frame;
  const ct = dp.tables.conntrack;
  const proto = frame.tuple.proto;
  dp.counters.gauges[newFlowGauge(proto)]++;
  if (!advance(dp, e, Dir.Original, proto, tcpFlagsOf(dp), frame.walk6.length)) {
    ct.remove(e);
    return NatVerdict.Drop;
  }
  ct.packets[e * 2]++;
  ct.bytes[e * 2] += len - ETH_HLEN;
  if (exceedsEgressMtu(dp, ingress, e, Dir.Original, buf, off, len)) return NatVerdict.Drop;
  translate6(dp, e, Dir.Original, proto, buf, off);
  return NatVerdict.Translated;
}

/**
 * Inbound traffic to the gateway's uplink address that no published port and no flow accounts
 * for never reaches a container: dropped and counted. A TCP segment for one of the gateway's own
 * addresses (the uplink's, the host link's) is answered with a RST as nat44 does (nat.unsolicitedTcp).
 */
function unsolicited(dp: Datapath, ingress: Port, buf: Buffer, off: number, tcpFlags: number): number {
  dp.counters.drop(Drop.NoMapping);
  const t = dp.frame.tuple;
  if (t.proto !== IP_PROTO_TCP || (tcpFlags & TCP_RST) !== 0 || !dp.options.rejectUnsolicitedTcp) return NatVerdict.Drop;
  const tables = dp.tables;
  const up6 = tables.uplink6;
  const hg = tables.hostGateway6;
  const toUplink6 = tables.hasUplink6 && t.dst === (up6[0] | 0) && t.dst1 === (up6[1] | 0) && t.dst2 === (up6[2] | 0) && t.dst3 === (up6[3] | 0);
  const toHost6 = tables.hasHostIp6 && t.dst === (hg[0] | 0) && t.dst1 === (hg[1] | 0) && t.dst2 === (hg[2] | 0) && t.dst3 === (hg[3] | 0);
  if (toUplink6 || toHost6) sendTcpReset6(dp, ingress, buf, off);
  return NatVerdict.Drop;
}
