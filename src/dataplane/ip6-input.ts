// ip6-input: IPv6 frames from a container port. Anti-spoofing of the source address and of
// neighbour discovery, the gateway's own side of the link (ndp-input: its addresses fe80::1 and
// the network's gateway address answered, router solicitations answered with the prefix,
// neighbours learnt), packets to the gateway's addresses (ip6-local), packets through it
// (ip6-lookup: routed), and the L2 switch for the rest (container to container, multicast
// flooded in the network). Also the host's TUN port's IPv6 (ip6HostInput).

import { ETH_HLEN } from '../wire/ethernet.js';
import { WireError } from '../wire/error.js';
import {
  ICMPV6_BEYOND_SCOPE,
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_MLD2_REPORT,
  ICMPV6_MLD_DONE,
  ICMPV6_MLD_REPORT,
  ICMPV6_NEIGHBOUR_ADVERTISEMENT,
  ICMPV6_REDIRECT,
  ICMPV6_ROUTER_ADVERTISEMENT,
  ICMPV6_ROUTER_SOLICITATION,
} from '../wire/icmpv6.js';
import { ICMPV6_PARAM_PROBLEM } from '../wire/icmpv6.js';
import { IPV6_DST, IPV6_NH_ICMPV6, IPV6_SRC, readI32 } from '../wire/ipv6.js';
import { macHi, macLo } from '../wire/mac.js';
import { checkNdp, NdpInvalid } from '../wire/ndp.js';
import type { Datapath } from './context.js';
import { Drop } from './counters.js';
import { icmp6Error } from './icmp6-error.js';
import { ip6Local } from './ip6-local.js';
import { ip6Lookup } from './ip6-lookup.js';
import { l2Forward } from './l2-switch.js';
import { macvlanFromEndpoint } from './macvlan-switch.js';
import { gatewayAddressAt, ndpInput, ndpUplinkInput } from './ndp-input.js';
import { ndpProxy } from './ndp-proxy.js'; // wt-v6ovl
import { nat66 } from './nat66.js';
import { NatVerdict } from './nat-verdict.js';
import type { Network, NetworkIpv6 } from './network.js';
import type { Port } from './port.js';

/** fe80::/10 or a multicast group, in an address's first word: never routed (RFC 4291 2.5.6, 2.7). */
function linkScopeWord(w0: number): boolean {
  return (w0 & 0xffc00000) === (0xfe800000 | 0) || w0 >>> 24 === 0xff;
}

/** fe80::/64 */
const LINK_LOCAL_W0 = 0xfe800000 | 0;

/**
 * True when the 16 bytes at buf[o] are one of the port's own addresses: its IPv6 address, its
 * link-local address from its MAC, or (on a /64) the SLAAC address the RA's prefix gives it.
 */
export function isOwnAddressAt(port: Port, v6: NetworkIpv6, buf: Buffer, o: number): boolean {
  // int32 words throughout: small integers, never boxed
  const w0 = readI32(buf, o);
  const w1 = readI32(buf, o + 4);
  const w2 = readI32(buf, o + 8);
  const w3 = readI32(buf, o + 12);
  if (port.hasIp6 && w0 === (port.ip6w0 | 0) && w1 === (port.ip6w1 | 0) && w2 === (port.ip6w2 | 0) && w3 === (port.ip6w3 | 0)) return true;
  if (w2 !== (port.eui64w2 | 0) || w3 !== (port.eui64w3 | 0)) return false;
  if (w0 === LINK_LOCAL_W0 && w1 === 0) return true;
  return v6.prefixLen === 64 && w0 === (v6.s0 | 0) && w1 === (v6.s1 | 0);
}

/** True when the 16 bytes at buf[o] are address `a` (words). */
function isAddressAt(a: Uint32Array, buf: Buffer, o: number): boolean {
  return readI32(buf, o) === (a[0] | 0) && readI32(buf, o + 4) === (a[1] | 0) && readI32(buf, o + 8) === (a[2] | 0) && readI32(buf, o + 12) === (a[3] | 0);
}

/**
 * A hop-by-hop option whose action says so (RFC 8200 4.2: every node on the path acts on it):
 * dropped, with a parameter problem when the option asks for one. The walk is the frame's.
 */
function discardedByHopByHop(dp: Datapath, port: Port, buf: Buffer, off: number, len: number): boolean {
  const walk = dp.frame.walk6;
  if (!walk.discard) return false;
  dp.counters.drop(Drop.Ipv6ExtensionRefused);
  if (walk.problemCode >= 0) icmp6Error(dp, port, buf, off, len, ICMPV6_PARAM_PROBLEM, walk.problemCode, walk.problemPointer);
  return true;
}

export function ip6Input(dp: Datapath, port: Port, net: Network, buf: Buffer, off: number, len: number): void {
  const c = dp.counters;
  const v6 = net.ip6;
  if (v6 === null) {
    c.drop(Drop.UnsupportedEthertype);
    return;
  }
  const ip = dp.frame.ip6;
  const ipOff = off + ETH_HLEN;
  if (ip.wrap(buf, ipOff, len - ETH_HLEN) !== WireError.Ok) {
    c.drop(Drop.Malformed);
    return;
  }
  // anti-spoofing: the port's own addresses, or :: for duplicate address detection (checked below)
  const unspecified = ip.srcIsUnspecified;
  if (!unspecified && !isOwnAddressAt(port, v6, buf, ipOff + IPV6_SRC)) {
    c.drop(Drop.SpoofedIp);
    return;
  }
  const walk = dp.frame.walk6;
  if (ip.walkExtensions(walk) !== WireError.Ok) {
    c.drop(Drop.Malformed);
    return;
  }
  const icmpType = walk.protocol === IPV6_NH_ICMPV6 && walk.length >= 4 ? buf[walk.offset] : -1;
  if (icmpType >= ICMPV6_ROUTER_SOLICITATION && icmpType <= ICMPV6_REDIRECT) {
    const ndp = dp.frame.ndp;
    const bad = checkNdp(ip, ndp, walk.offset, walk.length);
    if (bad !== NdpInvalid.Ok) {
      c.drop(bad === NdpInvalid.Checksum ? Drop.BadChecksum : Drop.Malformed);
      return;
    }
    // a container is a host: it never advertises a router or redirects, advertises only its own
    // addresses, and names only its own MAC in a link-layer option
    const o = ndp.options;
    if (
      icmpType === ICMPV6_ROUTER_ADVERTISEMENT ||
      icmpType === ICMPV6_REDIRECT ||
      (o.sourceMac >= 0 && o.sourceMac !== port.mac) ||
      (o.targetMac >= 0 && o.targetMac !== port.mac) ||
      (icmpType === ICMPV6_NEIGHBOUR_ADVERTISEMENT && !isOwnAddressAt(port, v6, buf, walk.offset + 8))
    ) {
      c.drop(Drop.SpoofedNdp);
      return;
    }
    if (net.macvlan !== 0) {
      macvlanFromEndpoint(dp, net, port, buf, off, len); // the LAN's neighbours and routers answer
      return;
    }
    net.fdb.learn(port.macHi, port.macLo, port.id, dp.now);
    if (ndpInput(dp, port, net, v6, buf, off, len)) return; // the gateway's: answered, not switched
    if (net.vni !== 0 && ndpProxy(dp, port, net, buf, off, len)) return; // wt-v6ovl: NDP suppression for remote overlay endpoints (ndp-proxy.ts)
    l2Forward(dp, net, port, buf, off, len);
    return;
  }
  if (unspecified && icmpType !== ICMPV6_MLD_REPORT && icmpType !== ICMPV6_MLD_DONE && icmpType !== ICMPV6_MLD2_REPORT) {
    // only duplicate address detection, and the multicast listener reports sent with it
    // (RFC 3810 5.2.13), may come from ::
    c.drop(Drop.SpoofedIp);
    return;
  }
  if (net.macvlan !== 0) {
    // to the host's own IPv6 address on the host link (hostAccess): routed to the host, whatever
    // the next hop; the rest stays on the LAN
    const t = dp.tables;
    if (net.hostAccess && t.hasHostIp6 && isAddressAt(t.hostIp6, buf, ipOff + IPV6_DST)) {
      len = ETH_HLEN + ip.totalLength;
      if (!discardedByHopByHop(dp, port, buf, off, len)) routed(dp, port, net, false, buf, off, len);
    } else {
      macvlanFromEndpoint(dp, net, port, buf, off, len);
    }
    return;
  }
  net.fdb.learn(port.macHi, port.macLo, port.id, dp.now);
  if (macHi(buf, off) !== net.gatewayMacHi || macLo(buf, off) !== net.gatewayMacLo) {
    l2Forward(dp, net, port, buf, off, len);
    return;
  }
  // to the gateway: from here on the frame is exactly header + IPv6 total length (no padding)
  len = ETH_HLEN + ip.totalLength;
  if (discardedByHopByHop(dp, port, buf, off, len)) return;
  const d = ipOff + IPV6_DST;
  const toGateway = gatewayAddressAt(v6, buf, d);
  const linkDst = linkScopeWord(readI32(buf, d));
  const linkSrc = linkScopeWord(readI32(buf, ipOff + IPV6_SRC));
  if (toGateway && (linkDst || linkSrc)) {
    ip6Local(dp, port, buf, off, len); // on the link: never translated
    return;
  }
  if (linkDst) {
    c.drop(Drop.NotForUs); // link-local and multicast destinations stay on their link
    return;
  }
  if (linkSrc) {
    // a link-local source never leaves its link (RFC 4291 2.5.6): beyond the scope of the source address
    c.drop(Drop.NotForUs);
    icmp6Error(dp, port, buf, off, len, ICMPV6_DEST_UNREACHABLE, ICMPV6_BEYOND_SCOPE, 0);
    return;
  }
  routed(dp, port, net, toGateway, buf, off, len);
}

/** Connection tracking and NAT (nat66), then the gateway itself (ip6-local) or the route (ip6-lookup). */
function routed(dp: Datapath, port: Port, inNet: Network | null, toGateway: boolean, buf: Buffer, off: number, len: number): void {
  const verdict = nat66(dp, port, inNet, buf, off, len);
  if (verdict === NatVerdict.Drop) return;
  const natted = verdict === NatVerdict.Translated;
  if (toGateway && !natted) {
    ip6Local(dp, port, buf, off, len);
    return;
  }
  ip6Lookup(dp, port, inNet, buf, off, len, natted);
}

/**
 * IPv6 from the host's TUN port, given an Ethernet header in front (as dataplane.ts does for
 * IPv4): to the gateway's address on the link (ip6-local), or routed into the networks (ip6-lookup).
 */
export function ip6HostInput(dp: Datapath, port: Port, buf: Buffer, off: number, len: number): void {
  const c = dp.counters;
  const t = dp.tables;
  if (!t.hasHostIp6) {
    c.drop(Drop.UnsupportedEthertype);
    return;
  }
  const ip = dp.frame.ip6;
  const ipOff = off + ETH_HLEN;
  const walk = dp.frame.walk6;
  if (ip.wrap(buf, ipOff, len - ETH_HLEN) !== WireError.Ok || ip.walkExtensions(walk) !== WireError.Ok) {
    c.drop(Drop.Malformed);
    return;
  }
  len = ETH_HLEN + ip.totalLength;
  if (discardedByHopByHop(dp, port, buf, off, len)) return;
  const d = ipOff + IPV6_DST;
  // the host's router solicitations, MLD reports and link-local traffic stay on the TUN link
  if (linkScopeWord(readI32(buf, d)) || linkScopeWord(readI32(buf, ipOff + IPV6_SRC))) {
    c.drop(Drop.NotForUs);
    return;
  }
  const g = t.hostGateway6;
  const toGateway = readI32(buf, d) === (g[0] | 0) && readI32(buf, d + 4) === (g[1] | 0) && readI32(buf, d + 8) === (g[2] | 0) && readI32(buf, d + 12) === (g[3] | 0);
  routed(dp, port, null, toGateway, buf, off, len);
}

/**
 * IPv6 from the uplink (the frame is for the gateway's MAC or a group): its neighbour discovery
 * (ndp-uplink), packets to its uplink address (nat66: a flow's replies, published ports, else
 * ip6-local for ping), and packets routed at a prefix behind it (only one routed without NAT passes).
 */
export function ip6UplinkInput(dp: Datapath, port: Port, net: Network, toUs: boolean, buf: Buffer, off: number, len: number): void {
  const c = dp.counters;
  const v6 = net.ip6;
  if (v6 === null) {
    c.drop(Drop.UnsupportedEthertype);
    return;
  }
  const ip = dp.frame.ip6;
  const ipOff = off + ETH_HLEN;
  const walk = dp.frame.walk6;
  if (ip.wrap(buf, ipOff, len - ETH_HLEN) !== WireError.Ok || ip.walkExtensions(walk) !== WireError.Ok) {
    c.drop(Drop.Malformed);
    return;
  }
  len = ETH_HLEN + ip.totalLength;
  const icmpType = walk.protocol === IPV6_NH_ICMPV6 && walk.length >= 4 ? buf[walk.offset] : -1;
  if (icmpType >= ICMPV6_ROUTER_SOLICITATION && icmpType <= ICMPV6_REDIRECT) {
    const bad = checkNdp(ip, dp.frame.ndp, walk.offset, walk.length);
    if (bad !== NdpInvalid.Ok) {
      c.drop(bad === NdpInvalid.Checksum ? Drop.BadChecksum : Drop.Malformed);
      return;
    }
    ndpUplinkInput(dp, port, net, v6, buf, off, len);
    return;
  }
  if (!toUs) {
    c.drop(Drop.NotForUs); // multicast from outside (MLD, mDNS): not the gateway's
    return;
  }
  if (discardedByHopByHop(dp, port, buf, off, len)) return;
  const d = ipOff + IPV6_DST;
  const toGateway = gatewayAddressAt(v6, buf, d);
  if (linkScopeWord(readI32(buf, d)) || linkScopeWord(readI32(buf, ipOff + IPV6_SRC))) {
    if (toGateway) ip6Local(dp, port, buf, off, len);
    else c.drop(Drop.NotForUs);
    return;
  }
  routed(dp, port, net, toGateway, buf, off, len);
}
