// uplink-input: frames from the gateway's own interface to the outside. Only frames for the
// gateway's MAC (and broadcasts and groups, for ARP and NDP) are taken; IPv4 goes to ip4-input and
// IPv6 to ip6UplinkInput, which send it through NAT (nat44, nat66): nothing reaches a container
// unless a flow or a published port accounts for it (or, for IPv6, its prefix is routed without NAT).

import { ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, etherTypeOf } from '../wire/ethernet.js';
import { WireError } from '../wire/error.js';
import { arpInput } from './arp-input.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import { ip4Input, ip4Wrap } from './ip4-input.js';
import { ip6UplinkInput } from './ip6-input.js';
import { isGroupMac, macHi, macLo } from '../wire/mac.js';
import type { Port } from './port.js';

export function uplinkInput(dp: Datapath, port: Port, buf: Buffer, off: number, len: number): void {
  const c = dp.counters;
  if (len < ETH_HLEN) {
    c.drop(Drop.Malformed);
    return;
  }
  const net = dp.tables.networks[port.network];
  if (net === undefined) {
    c.drop(Drop.UnknownPort);
    return;
  }
  const toUs = macHi(buf, off) === net.gatewayMacHi && macLo(buf, off) === net.gatewayMacLo;
  if (!toUs && !isGroupMac(buf, off)) {
    c.drop(Drop.NotForUs); // someone else's unicast (a bridged NIC sees it)
    return;
  }
  const etherType = etherTypeOf(buf, off);
  if (etherType === ETHERTYPE_ARP) {
    if (dp.frame.arp.wrap(buf, off + ETH_HLEN, len - ETH_HLEN) !== WireError.Ok) {
      c.drop(Drop.Malformed);
      return;
    }
    arpInput(dp, port, net, buf, off, len);
    return;
  }
  if (etherType === ETHERTYPE_IPV6) {
    ip6UplinkInput(dp, port, net, toUs, buf, off, len);
    return;
  }
  if (etherType !== ETHERTYPE_IPV4) {
    c.drop(Drop.UnsupportedEthertype);
    return;
  }
  if (!toUs) {
    c.drop(Drop.NotForUs);
    return;
  }
  const ip = ip4Wrap(dp, buf, off + ETH_HLEN, len - ETH_HLEN);
  if (ip === null) return;
  ip4Input(dp, port, net, ip, buf, off, len);
}
