// nat44: connection tracking and address translation for the packets NAT concerns: everything
// from the uplink, everything for a published port, everything routed out of the uplink, and the
// replies of those flows. Finds or creates the conntrack entry, updates the protocol state and
// rewrites addresses and ports in place with incremental checksum updates.

import { ETH_HLEN } from '../wire/ethernet.js';
import { update16, update32 } from '../wire/checksum.js';
import {
  ICMP_ADMIN_PROHIBITED,
  ICMP_DEST_UNREACHABLE,
  ICMP_HOST_UNREACHABLE,
  ICMP_PORT_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_FRAG_NEEDED,
  ICMP_TIME_EXCEEDED,
  ICMP_TTL_EXCEEDED,
  isIcmpErrorType,
} from '../wire/icmpv4.js';
import { IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP } from '../wire/ipv4.js';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../wire/tcp.js';
import { WireError } from '../wire/error.js';
import { CtFlag, CtState, Dir, protoClass } from './conntrack.js';
import { admit, advance, createInbound, fromUplink, newFlowGauge, tcpFlagsOf, unlessReused } from './nat-flow.js';
import { Drop, SERVICE_FIELDS, SVC_BYTES, SVC_NEW_FLOWS, SVC_REFUSED_BASE } from './counters.js';
import { NatVerdict } from './nat-verdict.js';
import { PIN_OPEN } from './nat-ports.js';
import type { Datapath } from './context.js';
import type { CheckedIpv4 } from './frame.js';
import { icmpError } from './icmp-error.js';
import { natIcmpError } from './nat-icmp-error.js';
import { sendTcpReset } from './tcp-reset.js';
import type { Network } from './network.js';
import { type Port, PortKind } from './port.js';
import { RouteTarget } from './route-table.js';

/**
 * `ip` (the frame's view) is wrapped around the packet; len is exactly Ethernet header + IP total length.
 * Returns a NatVerdict; a packet that starts a flow leaves its tuple in `dp.frame.tuple`.
 */
export function nat44(dp: Datapath, ingress: Port, inNet: Network | null, ip: CheckedIpv4, buf: Buffer, off: number, len: number): number {
  const tables = dp.tables;
  const frame = dp.frame;
  const proto = ip.protocol;
  if (ip.isFragment) return NatVerdict.Untracked; // no reassembly: fragments are not translated
  const l4 = ip.payloadOffset;
  const l4len = ip.payloadLength;
  let sport = 0;
  let dport = 0;
  let tcpFlags = 0;
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
  } else if (proto === IP_PROTO_ICMP) {
    if (frame.icmp.wrap(buf, l4, l4len) !== WireError.Ok) {
      dp.counters.drop(Drop.Malformed);
      return NatVerdict.Drop;
    }
    const type = frame.icmp.type;
    if (type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY) {
      sport = frame.icmp.echoIdent;
    } else if (isIcmpErrorType(type)) {
      return natIcmpError(dp, inNet, buf, off, len);
    } else {
      return fromUplink(dp, inNet) ? unsolicited(dp, ingress, buf, off, len, 0) : NatVerdict.Untracked;
    }
  } else {
    return fromUplink(dp, inNet) ? unsolicited(dp, ingress, buf, off, len, 0) : NatVerdict.Untracked;
  }

  const ct = tables.conntrack;
  const now = dp.now;
  // addresses as int32 from here on: a uint32 above 2^31 passed to a call V8 does not inline is
  // boxed into a heap number, an allocation per packet
  const src = ip.srcI32;
  const dst = ip.dstI32;
  let slot = ct.lookup(proto, src, dst, sport, dport, now);
  // echo flows are keyed by identifier alone: requests go the original way, replies come back
  // (else an echo request from outside would reach a container, or be taken from the gateway)
  if (slot >= 0 && proto === IP_PROTO_ICMP && ((slot & 1) === Dir.Original) !== (frame.icmp.type === ICMP_ECHO_REQUEST)) slot = -1;
  if (slot >= 0 && proto === IP_PROTO_TCP) slot = unlessReused(dp, slot, tcpFlags);
  if (slot >= 0) {
    if (ip.ttl <= 1) return expire(dp, ingress, buf, off, len);
    const e = slot >> 1;
    const dir = slot & 1;
    if (exceedsEgressMtu(dp, ingress, e, dir, buf, off, len)) return NatVerdict.Drop;
    if (!advance(dp, e, dir, proto, tcpFlags, l4len)) return NatVerdict.Drop;
    ct.packets[slot]++;
    ct.bytes[slot] += len - ETH_HLEN;
    // a service flow's bytes are its backend's too (the backend column read only for those)
    if ((ct.flags[e] & CtFlag.Service) !== 0) {
      const b = ct.backend[e];
      if (b >= 0) dp.counters.services[b * SERVICE_FIELDS + SVC_BYTES] += len - ETH_HLEN;
    }
    translate(dp, e, dir, proto, buf, off);
    return NatVerdict.Translated;
  }

  // a new flow to a service's VIP (or to an address of the services range no service has)
  const vips = tables.vips;
  if ((vips.count > 0 || vips.hasRange) && vips.covers(dst)) {
    if (fromUplink(dp, inNet)) return unsolicited(dp, ingress, buf, off, len, tcpFlags); // VIPs are reached through --publish only
    frame.tuple.set4(proto, src, dst, sport, dport);
    const s = proto === IP_PROTO_ICMP ? -1 : vips.lookup(proto, dst, dport);
    return s >= 0 ? serviceFlow(dp, ingress, inNet, s, false, buf, off, len) : serviceRefused(dp, ingress, -1, buf, off, len);
  }

  // a new flow: a published port?
  const uplink = tables.uplink;
  const hasUplink = uplink !== null;
  const uplinkIp = hasUplink ? uplink.gatewayIp | 0 : 0;
  const toUplinkIp = hasUplink && dst === uplinkIp;
  if (proto !== IP_PROTO_ICMP && (toUplinkIp || dst === (tables.hostGatewayIp | 0))) {
    const rule = tables.published.lookup(proto, dst, dport);
    if (rule >= 0) {
      const tIp = tables.published.targetIpOf(rule) | 0;
      const tPort = tables.published.targetPortOf(rule);
      frame.tuple.set4(proto, src, dst, sport, dport); // the stages that make a flow read it from the frame context
      const s = vips.count > 0 ? vips.lookup(proto, tIp, tPort) : -1; // a service's published port (NodePort-like)
      if (s >= 0) return serviceFlow(dp, ingress, inNet, s, true, buf, off, len);
      return publishedFlow(dp, ingress, inNet, tIp, tPort, -1, buf, off, len);
    }
    // an outside mapping of the gateway: from inside always (hairpinning, RFC 4787 REQ-9), from
    // outside when pinned open (PCP MAP, NAT-PMP) or under endpoint-independent filtering (UDP)
    if (toUplinkIp) {
      const maps = tables.mappings;
      const m = maps.byOutside(protoClass(proto), dport);
      if (m >= 0 && (!fromUplink(dp, inNet) || (maps.pinned[m] & PIN_OPEN) !== 0 || (proto === IP_PROTO_UDP && dp.options.udpEndpointIndependentFiltering))) {
        frame.tuple.set4(proto, src, dst, sport, dport);
        return publishedFlow(dp, ingress, inNet, maps.inIp[m], maps.inPort[m], m, buf, off, len);
      }
    }
  }
  // the gateway's own services (DNS, PCP): to a network's gateway address, DNATed to the daemon's socket
  if (proto !== IP_PROTO_ICMP && inNet !== null && !inNet.isUplink && dst === (inNet.gatewayIp | 0)) {
    const services = tables.services;
    const svc = services.lookup(proto, dport);
    if (svc >= 0) {
      frame.tuple.set4(proto, src, dst, sport, dport);
      return publishedFlow(dp, ingress, inNet, services.targetIp[svc] | 0, services.targetPort[svc], -1, buf, off, len);
    }
  }
  if (fromUplink(dp, inNet)) {
    if (toUplinkIp && proto === IP_PROTO_ICMP && frame.icmp.type === ICMP_ECHO_REQUEST) return NatVerdict.Untracked;
    return unsolicited(dp, ingress, buf, off, len, tcpFlags);
  }
  // leaving through the uplink: masquerade
  if (uplink === null || inNet === uplink || (inNet !== null && inNet.internal)) return NatVerdict.Untracked;
  const route = tables.routes.lookup(dst);
  if (route < 0 || tables.routes.kindOf(route) !== RouteTarget.Network || tables.routes.targetOf(route) !== uplink.index) {
    return NatVerdict.Untracked;
  }
  if (toUplinkIp) return NatVerdict.Untracked; // the gateway's own uplink address: local
  frame.tuple.set4(proto, src, dst, sport, dport);
  return masquerade(dp, ingress, uplinkIp, buf, off, len);
}

/** TTL would expire on a translated packet: answer from the untranslated one, as the router it is. */
function expire(dp: Datapath, ingress: Port, buf: Buffer, off: number, len: number): number {
  dp.counters.drop(Drop.TtlExpired);
  icmpError(dp, ingress, buf, off, len, ICMP_TIME_EXCEEDED, ICMP_TTL_EXCEEDED, 0);
  return NatVerdict.Drop;
}

/**
 * A DF packet that will not fit the egress MTU once translated gets its fragmentation-needed now,
 * quoting it untranslated and addressed to its real sender (after translation the error would
 * carry the other side's addresses and path-MTU discovery would never converge).
 */
function exceedsEgressMtu(dp: Datapath, ingress: Port, e: number, dir: number, buf: Buffer, off: number, len: number): boolean {
  const tables = dp.tables;
  const frame = dp.frame;
  const ip = frame.ip;
  if (!ip.dontFragment) return false;
  const route = tables.routes.lookup(tables.conntrack.src[e * 2 + (dir ^ 1)]);
  if (route < 0) return false;
  const mtu = tables.routeMtu(route);
  if (frame.wireSize(buf, off, len) <= mtu) return false;
  dp.counters.drop(Drop.FragmentationNeeded);
  icmpError(dp, ingress, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_FRAG_NEEDED, mtu);
  return true;
}

/**
 * Rewrites the packet of direction `dir` of entry `e` so that its tuple is the inverse of the
 * other direction's (Linux's rule), updating the IPv4, TCP/UDP and ICMP checksums incrementally.
 */
export function translate(dp: Datapath, e: number, dir: number, proto: number, buf: Buffer, off: number): void {
  const frame = dp.frame;
  const ct = dp.tables.conntrack;
  const r = e * 2 + (dir ^ 1);
  const ip = frame.ip;
  const newSrc = ct.dst[r]; // int32, as the table keeps them
  const newDst = ct.src[r];
  const oldSrc = ip.srcI32;
  const oldDst = ip.dstI32;
  const l4 = ip.payloadOffset;
  if (proto === IP_PROTO_ICMP) {
    const icmp = frame.icmp;
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
    if (frame.needsCsum !== 0 && ck === off + frame.csumStart + frame.csumOffset) {
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

/** A new flow out of the uplink: the source becomes the uplink's address and a free port. */
function masquerade(dp: Datapath, ingress: Port, uplinkIp: number, buf: Buffer, off: number, len: number): number {
  const tables = dp.tables;
  const frame = dp.frame;
  const t = frame.tuple;
  const proto = t.proto;
  const tcpFlags = tcpFlagsOf(dp);
  if (frame.ip.ttl <= 1) return expire(dp, ingress, buf, off, len);
  // a connection starts with a SYN; with tcpLoose (nf_conntrack_tcp_loose) any segment but a RST
  // may pick up a connection whose entry was lost, in the established state
  let pickup = false;
  if (proto === IP_PROTO_TCP && (tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_SYN) {
    if (!dp.options.tcpLoose || (tcpFlags & (TCP_SYN | TCP_RST)) !== 0 || (tcpFlags & TCP_ACK) === 0) {
      dp.counters.drop(Drop.InvalidState);
      return NatVerdict.Drop;
    }
    pickup = true;
  }
  if (proto === IP_PROTO_ICMP && frame.icmp.type !== ICMP_ECHO_REQUEST) {
    dp.counters.drop(Drop.InvalidState);
    return NatVerdict.Drop;
  }
  const ct = tables.conntrack;
  const owner = ingress.kind === PortKind.Endpoint ? ingress.id : -1;
  // checked before acquire: the mapping table (sized like the conntrack table) is full when this
  // one is, and acquire would report the table's limit as port exhaustion
  if (!admit(dp, owner)) return NatVerdict.Drop;
  const maps = tables.mappings;
  const m = maps.acquire(protoClass(proto), t.src, t.sport);
  if (m < 0) {
    dp.counters.drop(Drop.NatPortsExhausted);
    return NatVerdict.Drop;
  }
  const out = maps.outPort[m];
  // echo flows are keyed by identifier alone: the reply carries the mapped identifier both ways
  const reply = frame.reply;
  if (proto === IP_PROTO_ICMP) {
    t.dport = 0;
    reply.set4(proto, t.dst, uplinkIp, out, 0);
  } else {
    reply.set4(proto, t.dst, uplinkIp, t.dport, out);
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
 * A new flow to a published port, the embedded DNS or an outside mapping `m` (-1: none): the
 * destination becomes tIp:tPort. From a container through the uplink address it is hairpinned.
 */
function publishedFlow(dp: Datapath, ingress: Port, inNet: Network | null, tIp: number, tPort: number, m: number, buf: Buffer, off: number, len: number): number {
  const tables = dp.tables;
  const frame = dp.frame;
  const t = frame.tuple;
  const proto = t.proto;
  const tcpFlags = tcpFlagsOf(dp);
  if (frame.ip.ttl <= 1) return expire(dp, ingress, buf, off, len);
  if (proto === IP_PROTO_TCP && (tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_SYN) {
    return unsolicited(dp, ingress, buf, off, len, tcpFlags);
  }
  const ct = tables.conntrack;
  const maps = tables.mappings;
  const now = dp.now;
  // the reply comes from the target to the sender, unless hairpinned
  const reply = frame.reply.set4(proto, tIp, t.src, tPort, t.sport);
  let flags: number = CtFlag.Dnat | CtFlag.Inbound;
  let held = m; // the mapping the entry keeps alive
  if (inNet !== null && inNet !== tables.uplink) {
    const routes = tables.routes;
    const route = routes.lookup(tIp);
    const tNet = route >= 0 && routes.kindOf(route) === RouteTarget.Network ? tables.networks[routes.targetOf(route)] : undefined;
    if (tNet !== undefined) {
      // hairpin: the target must send its reply back through the gateway, so the source changes
      flags |= CtFlag.Snat;
      const uplink = tables.uplink;
      if (uplink !== null && t.dst === (uplink.gatewayIp | 0)) {
        // RFC 4787 REQ-9, RFC 5382 REQ-8: the target sees the sender's own outside address and port
        held = maps.acquire(protoClass(proto), t.src, t.sport);
        if (held < 0) {
          dp.counters.drop(Drop.NatPortsExhausted);
          return NatVerdict.Drop;
        }
        reply.dst = uplink.gatewayIp | 0;
        reply.dport = maps.outPort[held];
      } else {
        // through the host link's address: the target network's gateway, on a port no flow uses
        held = -1;
        reply.dst = tNet.gatewayIp | 0;
        for (let n = 0; n < 64 && ct.takenTuple(reply, now); n++) reply.dport = reply.dport >= 65535 ? 1024 : reply.dport + 1;
      }
    }
  }
  const owner = proto === IP_PROTO_ICMP ? -1 : endpointOf(dp, tIp);
  const e = createInbound(dp, reply, flags, held, owner);
  if (e < 0) return NatVerdict.Drop;
  return startFlow(dp, ingress, e, buf, off, len);
}

/**
 * A new flow to service `s` (its VIP, or its published port when `published`): DNATed to one
 * ready backend. Clients on the service's network may reach any backend, on any host (the reply
 * comes back to them over the network's L2, service-reply.ts translates it on the way); clients
 * whose replies come back through this gateway's routing (the host, the uplink through the
 * published port) are given this host's backends only, since a backend on another host would
 * answer through that host's gateway. A backend calling its own service is hairpinned: the source
 * becomes the network's gateway, so the reply comes back through here.
 */
function serviceFlow(dp: Datapath, ingress: Port, inNet: Network | null, s: number, published: boolean, buf: Buffer, off: number, len: number): number {
  const tables = dp.tables;
  const frame = dp.frame;
  const vips = tables.vips;
  const t = frame.tuple;
  const proto = t.proto;
  const tcpFlags = tcpFlagsOf(dp);
  const net = tables.networks[vips.network[s]];
  if (net === undefined) return serviceRefused(dp, ingress, s, buf, off, len);
  if (!published && inNet !== null && inNet !== net) {
    dp.counters.drop(Drop.NetworkIsolation); // a service is its network's, as its containers are
    icmpError(dp, ingress, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_ADMIN_PROHIBITED, 0);
    return NatVerdict.Drop;
  }
  if (frame.ip.ttl <= 1) return expire(dp, ingress, buf, off, len);
  if (proto === IP_PROTO_TCP && (tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_SYN) {
    // a segment of no tracked connection (its backend left and took its flows): reset, so the client knows at once
    dp.counters.drop(Drop.InvalidState);
    if ((tcpFlags & TCP_RST) === 0) sendTcpReset(dp, ingress, buf, off);
    return NatVerdict.Drop;
  }
  const fromOutside = inNet === null || inNet === tables.uplink;
  const b = vips.choose(s, t.src, dp.now, published || fromOutside);
  if (b < 0) return serviceRefused(dp, ingress, s, buf, off, len);
  const bIp = vips.backendIp[b];
  const reply = frame.reply.set4(proto, bIp, t.src, vips.targetPort[s], t.sport);
  let flags: number = CtFlag.Dnat | CtFlag.Service | (published ? CtFlag.Inbound : 0);
  if (bIp === t.src || (published && inNet !== null && !fromOutside)) {
    // hairpin (a backend reaching its own service; a container reaching the published port): SNAT to the gateway
    flags |= CtFlag.Snat;
    reply.dst = net.gatewayIp | 0;
    const ct = tables.conntrack;
    for (let n = 0; n < 64 && ct.takenTuple(reply, dp.now); n++) reply.dport = reply.dport >= 65535 ? 1024 : reply.dport + 1;
  }
  const e = createInbound(dp, reply, flags, -1, endpointOf(dp, bIp));
  if (e < 0) return NatVerdict.Drop;
  tables.conntrack.serve(e, b);
  const c = dp.counters.services;
  c[b * SERVICE_FIELDS + SVC_NEW_FLOWS]++;
  c[b * SERVICE_FIELDS + SVC_BYTES] += len - ETH_HLEN;
  return startFlow(dp, ingress, e, buf, off, len);
}

/**
 * No backend for a new flow to service `s` (-1: an address of the services range, or a port of a
 * VIP, that no service has): refused at once, as kube-proxy rejects a service without endpoints:
 * TCP gets a RST, anything else ICMP port unreachable.
 */
function serviceRefused(dp: Datapath, ingress: Port, s: number, buf: Buffer, off: number, len: number): number {
  dp.counters.drop(Drop.ServiceNoBackend);
  if (s >= 0) dp.counters.services[SVC_REFUSED_BASE + s]++;
  const frame = dp.frame;
  if (frame.ip.protocol === IP_PROTO_TCP) {
    if ((frame.tcp.flags & TCP_RST) === 0) sendTcpReset(dp, ingress, buf, off);
  } else if (frame.ip.protocol === IP_PROTO_ICMP) {
    icmpError(dp, ingress, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_HOST_UNREACHABLE, 0);
  } else {
    icmpError(dp, ingress, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_PORT_UNREACHABLE, 0);
  }
  return NatVerdict.Drop;
}

/** The local endpoint (port id) that has address `ip`, or -1. */
function endpointOf(dp: Datapath, ip: number): number {
  const id = dp.tables.endpointsByIp.get(ip | 0);
  return id === undefined ? -1 : id;
}

/** The first packet of a flow just created: count it, start its protocol state, translate it. */
function startFlow(dp: Datapath, ingress: Port, e: number, buf: Buffer, off: number, len: number): number {
  const frame = dp.frame;
  const ct = dp.tables.conntrack;
  const proto = frame.tuple.proto;
  dp.counters.gauges[newFlowGauge(proto)]++;
  if (!advance(dp, e, Dir.Original, proto, tcpFlagsOf(dp), frame.ip.payloadLength)) {
    ct.remove(e);
    return NatVerdict.Drop;
  }
  ct.packets[e * 2]++;
  ct.bytes[e * 2] += len - ETH_HLEN;
  if (exceedsEgressMtu(dp, ingress, e, Dir.Original, buf, off, len)) return NatVerdict.Drop;
  translate(dp, e, Dir.Original, proto, buf, off);
  return NatVerdict.Translated;
}

/**
 * Inbound traffic that no published port and no flow accounts for never reaches a container.
 * Only a segment for one of the gateway's own addresses is answered: a RST for one routed at a
 * container's address would carry that private address out of the uplink.
 */
function unsolicited(dp: Datapath, ingress: Port, buf: Buffer, off: number, len: number, tcpFlags: number): number {
  const tables = dp.tables;
  const frame = dp.frame;
  dp.counters.drop(Drop.NoMapping);
  const dst = frame.ip.dst;
  const own = (tables.uplink !== null && dst === tables.uplink.gatewayIp) || dst === tables.hostGatewayIp;
  if (own && frame.ip.protocol === IP_PROTO_TCP && (tcpFlags & TCP_RST) === 0 && dp.options.rejectUnsolicitedTcp) {
    sendTcpReset(dp, ingress, buf, off);
  }
  return NatVerdict.Drop;
}
