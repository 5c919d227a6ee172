// ethernet-input: first stage for every frame from a container port. Validates the Ethernet
// header, enforces anti-spoofing, learns the source MAC, and hands the frame to ARP, IPv4
// routing (frames addressed to the gateway), IPv6 (ip6-input) or the L2 switch.

import { ETH_HLEN, ETH_SRC, etherTypeOf, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { WireError } from '../wire/error.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import { arpInput } from './arp-input.js';
import { ip4Input, ip4Wrap } from './ip4-input.js';
import { ip6Input } from './ip6-input.js';
import { l2Forward, l2Ingress } from './l2-switch.js';
import { macvlanFromEndpoint } from './macvlan-switch.js';
import { serviceReply } from './service-reply.js';
import { macHi, macLo, macOf } from '../wire/mac.js';
import type { Port } from './port.js';

export function ethernetInput(dp: Datapath, port: Port, buf: Buffer, off: number, len: number): void {
  const c = dp.counters;
  const net = l2Ingress(dp, port, buf, off, len);
  if (net === undefined) return;
  // anti-spoofing: a container may only use its own MAC
  const srcHi = macHi(buf, off + ETH_SRC);
  const srcLo = macLo(buf, off + ETH_SRC);
  if (srcHi !== port.macHi || srcLo !== port.macLo) {
    c.drop(Drop.SpoofedMac);
    return;
  }
  const etherType = etherTypeOf(buf, off);
  if (etherType === ETHERTYPE_IPV4) {
    // an IPv6-only network: its ports have no IPv4 address to send from (as ip6-input for IPv6 without an IPv6 side)
    if (!net.ipv4) {
      c.drop(Drop.UnsupportedEthertype);
      return;
    }
    const ip = ip4Wrap(dp, buf, off + ETH_HLEN, len - ETH_HLEN);
    if (ip === null) return;
    if (ip.src !== port.ip) {
      c.drop(Drop.SpoofedIp);
      return;
    }
    if (net.macvlan !== 0) {
      // to the host's own address on the host link (hostAccess), whatever the next hop the
      // container chose (its LAN's router): routed to the host; the rest stays on the LAN
      if (net.hostAccess && dp.tables.hasHostIp && ip.dstI32 === (dp.tables.hostIp | 0)) ip4Input(dp, port, net, ip, buf, off, len);
      else macvlanFromEndpoint(dp, net, port, buf, off, len);
      return;
    }
    net.fdb.learn(srcHi, srcLo, port.id, dp.now);
    const dstHi = macHi(buf, off);
    const dstLo = macLo(buf, off);
    if (dstHi === net.gatewayMacHi && dstLo === net.gatewayMacLo) {
      ip4Input(dp, port, net, ip, buf, off, len);
    } else if (net.services === 0 || serviceReply(dp, ip, buf, off)) {
      l2Forward(dp, net, port, buf, off, len);
    }
    return;
  }
  if (etherType === ETHERTYPE_ARP) {
    if (!net.ipv4) {
      c.drop(Drop.UnsupportedEthertype);
      return;
    }
    const arp = dp.frame.arp;
    if (arp.wrap(buf, off + ETH_HLEN, len - ETH_HLEN) !== WireError.Ok) {
      c.drop(Drop.Malformed);
      return;
    }
    // ARP only for its own addresses (0.0.0.0 is an address probe, RFC 5227)
    const sender = arp.senderIp;
    if (arp.senderMac !== macOf(port.macHi, port.macLo) || (sender !== port.ip && sender !== 0)) {
      c.drop(Drop.SpoofedArp);
      return;
    }
    if (net.macvlan !== 0) {
      macvlanFromEndpoint(dp, net, port, buf, off, len); // the LAN answers, not the gateway
      return;
    }
    net.fdb.learn(srcHi, srcLo, port.id, dp.now);
    if (arpInput(dp, port, net, buf, off, len)) return; // consumed by the gateway
    l2Forward(dp, net, port, buf, off, len);
    return;
  }
  if (etherType === ETHERTYPE_IPV6) {
    ip6Input(dp, port, net, buf, off, len);
    return;
  }
  // other protocols (LLDP, ...) would escape anti-spoofing
  c.drop(Drop.UnsupportedEthertype);
}
