// nat44: connection tracking and address translation for the packets NAT concerns: everything
// from the uplink, everything for a published port, everything routed out of the uplink, and the
// replies of those flows. Finds or creates the conntrack entry, updates the protocol state and
// rewrites addresses and ports in place with incremental checksum updates.

import { ETH_HLEN } from '../wire/ethernet.js';
import { update16, update32 } from '../wire/checksum.js';
import {
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_FRAG_NEEDED,
  ICMP_TIME_EXCEEDED,
  ICMP_TTL_EXCEEDED,
  isIcmpErrorType,
} from '../wire/icmpv4.js';
import { IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP } from '../wire/ipv4.js';
import { TCP_ACK, TCP_OPT_WSCALE, TCP_RST, TCP_SYN } from '../wire/tcp.js';
import { WireError } from '../wire/error.js';
import { CtFlag, CtState, Dir, protoClass } from './conntrack.js';
import { TCP_INVALID, tcpTimeout, tcpTrack } from './conntrack-tcp.js';
import { Drop } from './counters.js';
import type { Dataplane } from './dataplane.js';
import { icmpError } from './icmp-error.js';
import { natIcmpError } from './nat-icmp-error.js';
import { sendTcpReset } from './tcp-reset.js';
import type { Network } from './network.js';
import type { Port } from './port.js';
import { RouteTarget } from './route-table.js';

export const NatVerdict = {
  Untracked: 0, // NAT does not concern the packet: route it as it is
  Translated: 1, // part of a tracked flow, rewritten: route it (isolation rules do not apply)
  Drop: 2, // dropped and counted (maybe answered)
} as const;

/** `dp.ip` is wrapped around the packet; len is exactly Ethernet header + IP total length. */
export function nat44(dp: Dataplane, ingress: Port, inNet: Network | null, buf: Buffer, off: number, len: number): number {
  const ip = dp.ip;
  const proto = ip.protocol;
  if (ip.isFragment) return NatVerdict.Untracked; // no reassembly: fragments are not translated
  const l4 = ip.payloadOffset;
  const l4len = ip.payloadLength;
  let sport = 0;
  let dport = 0;
  let tcpFlags = 0;
  if (proto === IP_PROTO_TCP) {
    if (dp.tcp.wrap(buf, l4, l4len) !== WireError.Ok) {
      dp.counters.drop(Drop.Malformed);
      return NatVerdict.Drop;
    }
    sport = dp.tcp.srcPort;
    dport = dp.tcp.dstPort;
    tcpFlags = dp.tcp.flags;
  } else if (proto === IP_PROTO_UDP) {
    if (dp.udp.wrap(buf, l4, l4len) !== WireError.Ok) {
      dp.counters.drop(Drop.Malformed);
      return NatVerdict.Drop;
    }
    sport = dp.udp.srcPort;
    dport = dp.udp.dstPort;
  } else if (proto === IP_PROTO_ICMP) {
    if (dp.icmp.wrap(buf, l4, l4len) !== WireError.Ok) {
      dp.counters.drop(Drop.Malformed);
      return NatVerdict.Drop;
    }
    const type = dp.icmp.type;
    if (type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY) {
      sport = dp.icmp.echoIdent;
    } else if (isIcmpErrorType(type)) {
      return natIcmpError(dp, inNet, buf, off, len);
    } else {
      return fromUplink(dp, inNet) ? unsolicited(dp, ingress, buf, off, len, 0) : NatVerdict.Untracked;
    }
  } else {
    return fromUplink(dp, inNet) ? unsolicited(dp, ingress, buf, off, len, 0) : NatVerdict.Untracked;
  }

  const ct = dp.conntrack;
  const now = dp.now;
  // addresses as int32 from here on: a uint32 above 2^31 passed to a call V8 does not inline is
  // boxed into a heap number, an allocation per packet
  const src = ip.src | 0;
  const dst = ip.dst | 0;
  let slot = ct.lookup(proto, src, dst, sport, dport, now);
  // echo flows are keyed by identifier alone: requests go the original way, replies come back
  // (else an echo request from outside would reach a container, or be taken from the gateway)
  if (slot >= 0 && proto === IP_PROTO_ICMP && ((slot & 1) === Dir.Original) !== (dp.icmp.type === ICMP_ECHO_REQUEST)) slot = -1;
  if (slot >= 0) {
    if (ip.ttl <= 1) return expire(dp, ingress, buf, off, len);
    const e = slot >> 1;
    const dir = slot & 1;
    if (exceedsEgressMtu(dp, ingress, e, dir, buf, off, len)) return NatVerdict.Drop;
    if (!advance(dp, e, dir, proto, tcpFlags, l4len)) return NatVerdict.Drop;
    ct.packets[slot]++;
    ct.bytes[slot] += len - ETH_HLEN;
    translate(dp, e, dir, proto, buf, off);
    return NatVerdict.Translated;
  }

  // a new flow: a published port?
  const uplink = dp.uplink;
  const hasUplink = uplink !== null;
  const uplinkIp = hasUplink ? uplink.gatewayIp | 0 : 0;
  if (proto !== IP_PROTO_ICMP && ((hasUplink && dst === uplinkIp) || dst === (dp.hostGatewayIp | 0))) {
    const rule = dp.published.lookup(proto, dst, dport);
    if (rule >= 0) {
      const tIp = dp.published.targetIpOf(rule) | 0;
      const tPort = dp.published.targetPortOf(rule);
      return publishedFlow(dp, ingress, inNet, tIp, tPort, proto, tcpFlags, src, dst, sport, dport, buf, off, len);
    }
  }
  // the embedded DNS: queries to a network's gateway address go to the daemon's resolver socket
  if (dport === 53 && proto !== IP_PROTO_ICMP && dp.dnsPort !== 0 && inNet !== null && !inNet.isUplink && dst === (inNet.gatewayIp | 0)) {
    return publishedFlow(dp, ingress, inNet, dp.dnsIp | 0, dp.dnsPort, proto, tcpFlags, src, dst, sport, dport, buf, off, len);
  }
  if (fromUplink(dp, inNet)) {
    if (hasUplink && dst === uplinkIp && proto === IP_PROTO_ICMP && dp.icmp.type === ICMP_ECHO_REQUEST) return NatVerdict.Untracked;
    if (hasUplink && dst === uplinkIp && proto === IP_PROTO_UDP && dp.options.udpEndpointIndependentFiltering) {
      const m = dp.mappings.byOutside(1, dport);
      if (m >= 0) return inboundToMapping(dp, ingress, m, src, dst, sport, dport, buf, off, len);
    }
    return unsolicited(dp, ingress, buf, off, len, tcpFlags);
  }
  // leaving through the uplink: masquerade
  if (uplink === null || inNet === uplink || (inNet !== null && inNet.internal)) return NatVerdict.Untracked;
  const route = dp.routes.lookup(dst);
  if (route < 0 || dp.routes.kindOf(route) !== RouteTarget.Network || dp.routes.targetOf(route) !== uplink.index) {
    return NatVerdict.Untracked;
  }
  if (dst === uplinkIp) return NatVerdict.Untracked; // the gateway's own uplink address: local
  return masquerade(dp, ingress, proto, tcpFlags, src, dst, sport, dport, uplinkIp, buf, off, len);
}

function fromUplink(dp: Dataplane, inNet: Network | null): boolean {
  return inNet !== null && inNet === dp.uplink;
}

/** TTL would expire on a translated packet: answer from the untranslated one, as the router it is. */
function expire(dp: Dataplane, ingress: Port, buf: Buffer, off: number, len: number): number {
  dp.counters.drop(Drop.TtlExpired);
  icmpError(dp, ingress, buf, off, len, ICMP_TIME_EXCEEDED, ICMP_TTL_EXCEEDED, 0);
  return NatVerdict.Drop;
}

/**
 * A DF packet that will not fit the egress MTU once translated gets its fragmentation-needed now,
 * quoting it untranslated and addressed to its real sender (after translation the error would
 * carry the other side's addresses and path-MTU discovery would never converge).
 */
function exceedsEgressMtu(dp: Dataplane, ingress: Port, e: number, dir: number, buf: Buffer, off: number, len: number): boolean {
  const ip = dp.ip;
  if (!ip.dontFragment) return false;
  const route = dp.routes.lookup(dp.conntrack.src[e * 2 + (dir ^ 1)]);
  if (route < 0) return false;
  const target = dp.routes.targetOf(route);
  const mtu = dp.routes.kindOf(route) === RouteTarget.Network ? dp.networks[target]!.mtu : dp.ports[target]!.mtu;
  if (dp.wireSize(buf, off, len) <= mtu) return false;
  dp.counters.drop(Drop.FragmentationNeeded);
  icmpError(dp, ingress, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_FRAG_NEEDED, mtu);
  return true;
}

/** Protocol state and timeout for one packet of a known flow; false when it must be dropped. */
function advance(dp: Dataplane, e: number, dir: number, proto: number, tcpFlags: number, l4len: number): boolean {
  const ct = dp.conntrack;
  const o = dp.options;
  if (dir === Dir.Reply && (ct.flags[e] & CtFlag.SeenReply) === 0) ct.flags[e] |= CtFlag.SeenReply;
  if (proto === IP_PROTO_TCP) {
    const t = dp.tcp;
    const next = tcpTrack(ct, e, dir, tcpFlags, t.seq, t.ack, t.window, l4len - t.headerLength, (tcpFlags & TCP_SYN) !== 0 ? windowScale(dp) : -1);
    if (next === TCP_INVALID) {
      dp.counters.drop(Drop.InvalidState);
      return false;
    }
    if (next !== ct.state[e]) ct.setState(e, next);
    ct.expires[e] = dp.now + tcpTimeout(o.tcpTimeouts, next);
    return true;
  }
  if (proto === IP_PROTO_UDP) {
    const replied = (ct.flags[e] & CtFlag.SeenReply) !== 0;
    if (replied) ct.flags[e] |= CtFlag.Assured;
    ct.expires[e] = dp.now + (replied ? o.udpStreamTimeoutMs : o.udpTimeoutMs);
    return true;
  }
  ct.expires[e] = dp.now + o.icmpTimeoutMs;
  return true;
}

function windowScale(dp: Dataplane): number {
  const at = dp.tcp.findOption(TCP_OPT_WSCALE);
  return at < 0 ? -1 : dp.tcp.buf[at + 2];
}

/**
 * Rewrites the packet of direction `dir` of entry `e` so that its tuple is the inverse of the
 * other direction's (Linux's rule), updating the IPv4, TCP/UDP and ICMP checksums incrementally.
 */
export function translate(dp: Dataplane, e: number, dir: number, proto: number, buf: Buffer, off: number): void {
  const ct = dp.conntrack;
  const r = e * 2 + (dir ^ 1);
  const ip = dp.ip;
  const newSrc = ct.dst[r]; // int32, as the table keeps them
  const newDst = ct.src[r];
  const oldSrc = ip.src | 0;
  const oldDst = ip.dst | 0;
  const l4 = ip.payloadOffset;
  if (proto === IP_PROTO_ICMP) {
    const icmp = dp.icmp;
    const newId = ct.sport[r];
    if (icmp.echoIdent !== newId) icmp.setEchoIdentIncremental(newId);
  } else {
    const ck = proto === IP_PROTO_TCP ? l4 + 16 : l4 + 6;
    let sum = (buf[ck] << 8) | buf[ck + 1];
    const udpNoSum = proto === IP_PROTO_UDP && sum === 0; // a zero UDP checksum stays zero
    const newSport = ct.dport[r];
    const newDport = ct.sport[r];
    const oldSport = (buf[l4] << 8) | buf[l4 + 1];
    const oldDport = (buf[l4 + 2] << 8) | buf[l4 + 3];
    if (dp.needsCsum !== 0 && ck === off + dp.csumStart + dp.csumOffset) {
      // checksum offload: the field holds the pseudo-header sum (not complemented), which covers
      // the addresses but not the ports; whoever finishes it sums the new ports
      let c = ~sum & 0xffff;
      if (oldSrc !== newSrc) c = update32(c, oldSrc, newSrc);
      if (oldDst !== newDst) c = update32(c, oldDst, newDst);
      sum = ~c & 0xffff;
      buf[ck] = sum >>> 8;
      buf[ck + 1] = sum & 0xff;
    } else if (!udpNoSum) {
      if (oldSrc !== newSrc) sum = update32(sum, oldSrc, newSrc);
      if (oldDst !== newDst) sum = update32(sum, oldDst, newDst);
      if (oldSport !== newSport) sum = update16(sum, oldSport, newSport);
      if (oldDport !== newDport) sum = update16(sum, oldDport, newDport);
      if (proto === IP_PROTO_UDP && sum === 0) sum = 0xffff;
      buf[ck] = sum >>> 8;
      buf[ck + 1] = sum & 0xff;
    }
    buf[l4] = newSport >>> 8;
    buf[l4 + 1] = newSport & 0xff;
    buf[l4 + 2] = newDport >>> 8;
    buf[l4 + 3] = newDport & 0xff;
  }
  if (oldSrc !== newSrc) ip.setSrcIncremental(newSrc);
  if (oldDst !== newDst) ip.setDstIncremental(newDst);
}

function masquerade(
  dp: Dataplane,
  ingress: Port,
  proto: number,
  tcpFlags: number,
  src: number,
  dst: number,
  sport: number,
  dport: number,
  uplinkIp: number,
  buf: Buffer,
  off: number,
  len: number,
): number {
  if (dp.ip.ttl <= 1) return expire(dp, ingress, buf, off, len);
  if (proto === IP_PROTO_TCP && (tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_SYN) {
    dp.counters.drop(Drop.InvalidState); // a connection starts with a SYN
    return NatVerdict.Drop;
  }
  if (proto === IP_PROTO_ICMP && dp.icmp.type !== ICMP_ECHO_REQUEST) {
    dp.counters.drop(Drop.InvalidState);
    return NatVerdict.Drop;
  }
  const ct = dp.conntrack;
  if (ct.size >= ct.capacity) {
    // checked first: the mapping table (sized like the conntrack table) is then full too, and
    // acquire would report the table's limit as port exhaustion
    dp.counters.drop(Drop.ConntrackFull);
    return NatVerdict.Drop;
  }
  const cls = protoClass(proto);
  const m = dp.mappings.acquire(cls, src, sport);
  if (m < 0) {
    dp.counters.drop(Drop.NatPortsExhausted);
    return NatVerdict.Drop;
  }
  const out = dp.mappings.outPort[m];
  const e =
    proto === IP_PROTO_ICMP
      ? ct.create(proto, src, dst, sport, 0, dst, uplinkIp, out, 0, CtState.None, CtFlag.Snat, 0)
      : ct.create(proto, src, dst, sport, dport, dst, uplinkIp, dport, out, proto === IP_PROTO_TCP ? CtState.SynSent : CtState.None, CtFlag.Snat, 0);
  if (e < 0) {
    dp.mappings.releaseIfUnused(m);
    dp.counters.drop(Drop.ConntrackFull);
    return NatVerdict.Drop;
  }
  dp.mappings.ref(m);
  ct.mapping[e] = m;
  return startFlow(dp, ingress, e, proto, tcpFlags, buf, off, len);
}

function publishedFlow(
  dp: Dataplane,
  ingress: Port,
  inNet: Network | null,
  tIp: number,
  tPort: number,
  proto: number,
  tcpFlags: number,
  src: number,
  dst: number,
  sport: number,
  dport: number,
  buf: Buffer,
  off: number,
  len: number,
): number {
  if (dp.ip.ttl <= 1) return expire(dp, ingress, buf, off, len);
  if (proto === IP_PROTO_TCP && (tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_SYN) {
    return unsolicited(dp, ingress, buf, off, len, tcpFlags);
  }
  const ct = dp.conntrack;
  const now = dp.now;
  let rDst = src;
  let rDport = sport;
  let flags: number = CtFlag.Dnat | CtFlag.Inbound;
  // hairpin: a container reaching a published port through the gateway must see the reply come
  // back through the gateway too, so its source becomes the target network's gateway address
  if (inNet !== null && inNet !== dp.uplink) {
    const route = dp.routes.lookup(tIp);
    const tNet = route >= 0 && dp.routes.kindOf(route) === RouteTarget.Network ? dp.networks[dp.routes.targetOf(route)] : undefined;
    if (tNet !== undefined) {
      rDst = tNet.gatewayIp | 0;
      flags |= CtFlag.Snat;
      let p = sport;
      for (let n = 0; n < 64 && ct.taken(proto, tIp, rDst, tPort, p, now); n++) p = p >= 65535 ? 1024 : p + 1;
      rDport = p;
    }
  }
  if (ct.taken(proto, tIp, rDst, tPort, rDport, now)) {
    dp.counters.drop(Drop.InvalidState);
    return NatVerdict.Drop;
  }
  const e = ct.create(proto, src, dst, sport, dport, tIp, rDst, tPort, rDport, proto === IP_PROTO_TCP ? CtState.SynSent : CtState.None, flags, 0);
  if (e < 0) {
    dp.counters.drop(Drop.ConntrackFull);
    return NatVerdict.Drop;
  }
  return startFlow(dp, ingress, e, proto, tcpFlags, buf, off, len);
}

/** The first packet of a flow just created: count it, start its protocol state, translate it. */
function startFlow(dp: Dataplane, ingress: Port, e: number, proto: number, tcpFlags: number, buf: Buffer, off: number, len: number): number {
  const ct = dp.conntrack;
  dp.counters.gauges[dp.newFlowGauge(proto)]++;
  if (!advance(dp, e, Dir.Original, proto, tcpFlags, dp.ip.payloadLength)) {
    ct.remove(e);
    return NatVerdict.Drop;
  }
  ct.packets[e * 2]++;
  ct.bytes[e * 2] += len - ETH_HLEN;
  if (exceedsEgressMtu(dp, ingress, e, Dir.Original, buf, off, len)) return NatVerdict.Drop;
  translate(dp, e, Dir.Original, proto, buf, off);
  return NatVerdict.Translated;
}

/** Endpoint-independent filtering: any outside host may reach a live UDP mapping. */
function inboundToMapping(
  dp: Dataplane,
  ingress: Port,
  m: number,
  src: number,
  dst: number,
  sport: number,
  dport: number,
  buf: Buffer,
  off: number,
  len: number,
): number {
  if (dp.ip.ttl <= 1) return expire(dp, ingress, buf, off, len);
  const maps = dp.mappings;
  const inIp = maps.inIp[m];
  const inPort = maps.inPort[m];
  const ct = dp.conntrack;
  if (ct.taken(IP_PROTO_UDP, inIp, src, inPort, sport, dp.now)) {
    dp.counters.drop(Drop.InvalidState);
    return NatVerdict.Drop;
  }
  const e = ct.create(IP_PROTO_UDP, inIp, src, inPort, sport, src, dst, sport, dport, CtState.None, CtFlag.Snat | CtFlag.Inbound, 0);
  if (e < 0) {
    dp.counters.drop(Drop.ConntrackFull);
    return NatVerdict.Drop;
  }
  maps.ref(m);
  ct.mapping[e] = m;
  dp.counters.gauges[dp.newFlowGauge(IP_PROTO_UDP)]++;
  advance(dp, e, Dir.Reply, IP_PROTO_UDP, 0, 0);
  translate(dp, e, Dir.Reply, IP_PROTO_UDP, buf, off);
  return NatVerdict.Translated;
}

/**
 * Inbound traffic that no published port and no flow accounts for never reaches a container.
 * Only a segment for one of the gateway's own addresses is answered: a RST for one routed at a
 * container's address would carry that private address out of the uplink.
 */
function unsolicited(dp: Dataplane, ingress: Port, buf: Buffer, off: number, len: number, tcpFlags: number): number {
  dp.counters.drop(Drop.NoMapping);
  const dst = dp.ip.dst;
  const own = (dp.uplink !== null && dst === dp.uplink.gatewayIp) || dst === dp.hostGatewayIp;
  if (own && dp.ip.protocol === IP_PROTO_TCP && (tcpFlags & TCP_RST) === 0 && dp.options.rejectUnsolicitedTcp) {
    sendTcpReset(dp, ingress, buf, off);
  }
  return NatVerdict.Drop;
}
