// vxlan-input: decapsulation. A datagram from the underlay is accepted only from a VTEP that is a
// peer of the VNI it carries; the inner source MAC is learned as "behind that VTEP", and the frame
// is switched to local ports only (split horizon: never back into the overlay).

import { ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { ARP_OP_REQUEST } from '../wire/arp.js';
import { WireError } from '../wire/error.js';
import {
  ICMPV6_NEIGHBOUR_ADVERTISEMENT,
  ICMPV6_NEIGHBOUR_SOLICITATION,
  ICMPV6_REDIRECT,
  ICMPV6_ROUTER_ADVERTISEMENT,
  ICMPV6_ROUTER_SOLICITATION,
} from '../wire/icmpv6.js';
import { IPV6_NH_ICMPV6 } from '../wire/ipv6.js';
import { checkNdp, NDP_TARGET, NdpInvalid } from '../wire/ndp.js';
import { readVni, VXLAN_HLEN } from '../wire/vxlan.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import { ip4Wrap } from './ip4-input.js';
import { gatewayAddressAt } from './ndp-input.js';
import type { Network } from './network.js';
import { l2Forward } from './l2-switch.js';
import { isGroupMac, macHi, macLo } from '../wire/mac.js';
import { targetVtep, vtepTarget } from './mac-table.js';
import type { Port } from './port.js';
import { routedVxlanInput } from './routed-overlay.js';
import { serviceReply } from './service-reply.js';

/**
 * `off` is the VXLAN header; `vtep` the index of the outer source address in the VTEP table (-1:
 * an address no VTEP has; the underlay socket looks it up in its family); `tunnel` the underlay's port.
 */
export function vxlanInput(dp: Datapath, tunnel: Port, buf: Buffer, off: number, len: number, vtep: number): void {
  const c = dp.counters;
  if (len < VXLAN_HLEN + ETH_HLEN) {
    c.drop(Drop.Malformed);
    return;
  }
  const vni = readVni(buf, off);
  if (vni < 0) {
    c.drop(Drop.Malformed);
    return;
  }
  const net = dp.tables.vnis.get(vni);
  if (net === undefined) {
    c.drop(Drop.VxlanUnknownVni);
    return;
  }
  if (vtep < 0 || !net.hasPeer(vtep)) {
    c.drop(Drop.VxlanUnknownVtep);
    return;
  }
  const f = off + VXLAN_HLEN;
  const flen = len - VXLAN_HLEN;
  if (flen - ETH_HLEN > net.mtu) {
    c.drop(Drop.Oversize); // larger than the overlay network's MTU, as a local port's frame would be
    return;
  }
  const v = c.vxlan;
  const i = net.index * 4;
  v[i]++;
  v[i + 1] += flen;
  if (net.routed) {
    routedVxlanInput(dp, net, tunnel, buf, f, flen, vtep);
    return;
  }
  if (isGroupMac(buf, f + 6)) {
    c.drop(Drop.Malformed); // a group address is never a source
    return;
  }
  const srcHi = macHi(buf, f + 6);
  const srcLo = macLo(buf, f + 6);
  const known = net.fdb.lookup(srcHi, srcLo);
  if (known >= 0 && targetVtep(known) < 0) {
    c.drop(Drop.SpoofedMac); // a MAC of a local endpoint coming from elsewhere
    return;
  }
  net.fdb.learn(srcHi, srcLo, vtepTarget(vtep), dp.now);
  if (macHi(buf, f) === net.gatewayMacHi && macLo(buf, f) === net.gatewayMacLo) {
    c.drop(Drop.NotForUs); // every host has the gateway: remote traffic for it stays remote
    return;
  }
  const etherType = (buf[f + 12] << 8) | buf[f + 13];
  if (etherType === ETHERTYPE_ARP) {
    const arp = dp.frame.arp;
    if (arp.wrap(buf, f + ETH_HLEN, flen - ETH_HLEN) !== WireError.Ok) {
      c.drop(Drop.Malformed);
      return;
    }
    const target = arp.targetIp;
    if (arp.operation === ARP_OP_REQUEST && (target === net.gatewayIp || (net.services !== 0 && dp.tables.vips.isVip(target)))) {
      c.drop(Drop.NotForUs);
      return;
    }
  } else if (etherType === ETHERTYPE_IPV4) {
    // checked as a local endpoint's IPv4 is before it is switched (a counted drop if malformed)
    const ip = ip4Wrap(dp, buf, f + ETH_HLEN, flen - ETH_HLEN);
    if (ip === null) return;
    // a service's reply from a backend on another host to a client of this one: translated here
    if (net.services !== 0 && !serviceReply(dp, ip, buf, f)) return;
  } else if (etherType === ETHERTYPE_IPV6) {
    if (!ip6Decap(dp, net, buf, f, flen)) return;
  } else {
    c.drop(Drop.UnsupportedEthertype);
    return;
  }
  l2Forward(dp, net, tunnel, buf, f, flen);
}

/**
 * Inner IPv6 from a peer VTEP, checked before it is switched to local ports (false: dropped and
 * counted): well-formed as a local port's would be (header, extension walk, NDP messages); the
 * gateway's neighbour discovery stays remote (every host has the gateway: solicitations for its
 * addresses and router solicitations are answered there); no router advertisement or redirect,
 * no advertisement of the gateway's addresses (spoofed_ndp). Sources are not checked against a
 * port: the remote host's gateway did that for its containers.
 */
function ip6Decap(dp: Datapath, net: Network, buf: Buffer, f: number, flen: number): boolean {
  const c = dp.counters;
  const v6 = net.ip6;
  if (v6 === null) {
    c.drop(Drop.UnsupportedEthertype); // a network without IPv6, as on a local port
    return false;
  }
  const ip = dp.frame.ip6;
  if (ip.wrap(buf, f + ETH_HLEN, flen - ETH_HLEN) !== WireError.Ok) {
    c.drop(Drop.Malformed);
    return false;
  }
  const walk = dp.frame.walk6;
  if (ip.walkExtensions(walk) !== WireError.Ok) {
    c.drop(Drop.Malformed);
    return false;
  }
  const icmpType = walk.protocol === IPV6_NH_ICMPV6 && walk.length >= 4 ? buf[walk.offset] : -1;
  if (icmpType < ICMPV6_ROUTER_SOLICITATION || icmpType > ICMPV6_REDIRECT) return true;
  const bad = checkNdp(ip, dp.frame.ndp, walk.offset, walk.length);
  if (bad !== NdpInvalid.Ok) {
    c.drop(bad === NdpInvalid.Checksum ? Drop.BadChecksum : Drop.Malformed);
    return false;
  }
  if (icmpType === ICMPV6_ROUTER_ADVERTISEMENT || icmpType === ICMPV6_REDIRECT) {
    c.drop(Drop.SpoofedNdp); // only the gateway is a router, and every host has its own
    return false;
  }
  const forGateway = icmpType !== ICMPV6_ROUTER_SOLICITATION && gatewayAddressAt(v6, buf, walk.offset + NDP_TARGET);
  if (icmpType === ICMPV6_NEIGHBOUR_ADVERTISEMENT && forGateway) {
    c.drop(Drop.SpoofedNdp); // a remote advertising the gateway's address
    return false;
  }
  if (icmpType === ICMPV6_ROUTER_SOLICITATION || (icmpType === ICMPV6_NEIGHBOUR_SOLICITATION && forGateway)) {
    c.drop(Drop.NotForUs); // the remote host's gateway answers it
    return false;
  }
  return true;
}
