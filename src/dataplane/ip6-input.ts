// ip6-input: IPv6 frames from a container port, on its network's link (issue 13). Anti-spoofing of
// the source address and of neighbour discovery, the gateway's own side of the link (ndp-input:
// its addresses fe80::1 and the network's gateway address answered, router solicitations
// answered with the prefix; ping to them answered here), and the L2 switch for the rest
// (container to container, multicast flooded in the network). Routing IPv6 to other networks and
// outside is not done yet: counted as ipv6_not_routed.

import { ETH_HLEN, ETH_SRC } from '../wire/ethernet.js';
import { WireError } from '../wire/error.js';
import {
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_MLD2_REPORT,
  ICMPV6_MLD_DONE,
  ICMPV6_MLD_REPORT,
  ICMPV6_NEIGHBOUR_ADVERTISEMENT,
  ICMPV6_REDIRECT,
  ICMPV6_ROUTER_ADVERTISEMENT,
  ICMPV6_ROUTER_SOLICITATION,
} from '../wire/icmpv6.js';
import { IPV6_DST, IPV6_HOP_LIMIT, IPV6_NH_ICMPV6, IPV6_SRC, readU32, writeU32 } from '../wire/ipv6.js';
import { macHi, macLo, putMac } from '../wire/mac.js';
import { checkNdp, NdpInvalid } from '../wire/ndp.js';
import type { Datapath } from './context.js';
import { Drop } from './counters.js';
import { l2Forward } from './l2-switch.js';
import { gatewayAddressAt, ndpInput } from './ndp-input.js';
import type { Network, NetworkIpv6 } from './network.js';
import type { Port } from './port.js';

/** fe80::/64 */
const LINK_LOCAL_W0 = 0xfe800000;

/**
 * True when the 16 bytes at buf[o] are one of the port's own addresses: its IPv6 address, its
 * link-local address from its MAC, or (on a /64) the SLAAC address the RA's prefix gives it.
 */
export function isOwnAddressAt(port: Port, v6: NetworkIpv6, buf: Buffer, o: number): boolean {
  const w0 = readU32(buf, o);
  const w1 = readU32(buf, o + 4);
  const w2 = readU32(buf, o + 8);
  const w3 = readU32(buf, o + 12);
  if (port.hasIp6 && w0 === port.ip6w0 && w1 === port.ip6w1 && w2 === port.ip6w2 && w3 === port.ip6w3) return true;
  if (w2 !== port.eui64w2 || w3 !== port.eui64w3) return false;
  if (w0 === LINK_LOCAL_W0 && w1 === 0) return true;
  return v6.prefixLen === 64 && w0 === v6.s0 && w1 === v6.s1;
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
    net.fdb.learn(port.macHi, port.macLo, port.id, dp.now);
    if (ndpInput(dp, port, net, v6, buf, off, len)) return; // the gateway's: answered, not switched
    l2Forward(dp, net, port, buf, off, len);
    return;
  }
  if (unspecified && icmpType !== ICMPV6_MLD_REPORT && icmpType !== ICMPV6_MLD_DONE && icmpType !== ICMPV6_MLD2_REPORT) {
    // only duplicate address detection, and the multicast listener reports sent with it
    // (RFC 3810 5.2.13), may come from ::
    c.drop(Drop.SpoofedIp);
    return;
  }
  net.fdb.learn(port.macHi, port.macLo, port.id, dp.now);
  if (macHi(buf, off) === net.gatewayMacHi && macLo(buf, off) === net.gatewayMacLo) {
    if (!gatewayAddressAt(v6, buf, ipOff + IPV6_DST)) {
      c.drop(Drop.Ipv6NotRouted);
      return;
    }
    if (icmpType === ICMPV6_ECHO_REQUEST) {
      echoReply(dp, port, net, buf, off, len, walk.offset, walk.length);
      return;
    }
    c.drop(Drop.NotForUs);
    return;
  }
  l2Forward(dp, net, port, buf, off, len);
}

/** Ping of one of the gateway's addresses: the request turned into the reply in place, back to the port. */
function echoReply(dp: Datapath, port: Port, net: Network, buf: Buffer, off: number, len: number, icmpOff: number, icmpLen: number): void {
  const ip = dp.frame.ip6;
  const icmp = dp.frame.icmp6;
  if (icmp.wrap(buf, icmpOff, icmpLen) !== WireError.Ok) {
    dp.counters.drop(Drop.Malformed);
    return;
  }
  if (!icmp.verifyChecksum(ip.addressSum())) {
    dp.counters.drop(Drop.BadChecksum);
    return;
  }
  const ipOff = off + ETH_HLEN;
  // swap the addresses (the sum is unchanged), reply with a fresh hop limit
  for (let i = 0; i < 16; i += 4) {
    const s = readU32(buf, ipOff + IPV6_SRC + i);
    writeU32(buf, ipOff + IPV6_SRC + i, readU32(buf, ipOff + IPV6_DST + i));
    writeU32(buf, ipOff + IPV6_DST + i, s);
  }
  buf[ipOff + IPV6_HOP_LIMIT] = 64;
  icmp.type = ICMPV6_ECHO_REPLY;
  icmp.fillChecksum(ip.addressSum());
  buf.copyWithin(off, off + ETH_SRC, off + ETH_SRC + 6);
  putMac(buf, off + ETH_SRC, net.gatewayMacHi, net.gatewayMacLo);
  // what trailed the request's packet in its frame (padding, junk) does not go back
  dp.tx.send(port.id, buf, off, Math.min(len, ETH_HLEN + ip.totalLength));
}
