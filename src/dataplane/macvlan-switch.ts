// macvlan-switch: the L2 of a macvlan network, as the kernel's macvlan driver switches between a
// parent device and the devices on it: containers sit on the parent's LAN with MACs of their own,
// the LAN's router is their gateway (the gateway here owns no address on the network), and the
// mode says whether they reach each other inside (bridge), only through the LAN's switch (vepa),
// never (private), or whether one container owns the parent (passthru). Anti-spoofing has been
// applied to a container's frame before it gets here (ethernet-input, ip6-input).

import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import { ETH_HLEN, ETH_SRC, etherTypeOf, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { WireError } from '../wire/error.js';
import { ip4Wrap } from './ip4-input.js';
import { isGroupMac, macHi, macLo } from '../wire/mac.js';
import { l2Ingress } from './l2-switch.js';
import { MacvlanMode, type Network } from './network.js';
import type { Port } from './port.js';

/** A container's frame on a macvlan network: to a sibling (bridge mode) or out of the parent. */
export function macvlanFromEndpoint(dp: Datapath, net: Network, port: Port, buf: Buffer, off: number, len: number): void {
  const mode = net.macvlan;
  const parent = net.parentPort;
  if (mode === MacvlanMode.Bridge) {
    if (isGroupMac(buf, off)) {
      siblings(dp, net, port.id, -1, buf, off, len);
    } else {
      const out = net.fdb.lookup(macHi(buf, off), macLo(buf, off));
      if (out >= 0 && out !== parent) {
        if (out === port.id) dp.counters.drop(Drop.L2Hairpin);
        else dp.tx.send(out, buf, off, len);
        return;
      }
    }
  } else if (mode === MacvlanMode.Passthru && firstEndpoint(net) !== port.id) {
    dp.counters.drop(Drop.MacvlanMode); // the parent is one container's
    return;
  }
  if (parent < 0) {
    // an internal network (no parent) or a parent that is gone: nothing beyond the containers
    if (!isGroupMac(buf, off)) dp.counters.drop(Drop.NotForUs);
    return;
  }
  dp.tx.send(parent, buf, off, len);
}

/** A frame from the LAN (the parent's port of the network): to the container it is for, or every one. */
export function macvlanFromParent(dp: Datapath, port: Port, buf: Buffer, off: number, len: number): void {
  const c = dp.counters;
  const net = l2Ingress(dp, port, buf, off, len);
  if (net === undefined) return;
  if ((buf[off + ETH_SRC] & 1) !== 0) {
    c.drop(Drop.Malformed); // a group MAC is never a source
    return;
  }
  // what reaches a container is well formed, as from a bridge's own stages: IPv4 (header and
  // checksum), IPv6 (fixed header) and ARP; other protocols are dropped as from a container
  const etherType = etherTypeOf(buf, off);
  if (etherType === ETHERTYPE_IPV4 || etherType === ETHERTYPE_ARP) {
    if (!net.ipv4) {
      c.drop(Drop.UnsupportedEthertype); // an IPv6-only network
      return;
    }
    if (etherType === ETHERTYPE_IPV4 ? ip4Wrap(dp, buf, off + ETH_HLEN, len - ETH_HLEN) === null : !arpWellFormed(dp, buf, off, len)) return;
  } else if (etherType === ETHERTYPE_IPV6) {
    if (net.ip6 === null) {
      c.drop(Drop.UnsupportedEthertype);
      return;
    }
    if (dp.frame.ip6.wrap(buf, off + ETH_HLEN, len - ETH_HLEN) !== WireError.Ok) {
      c.drop(Drop.Malformed);
      return;
    }
  } else {
    c.drop(Drop.UnsupportedEthertype);
    return;
  }
  const mode = net.macvlan;
  if (mode === MacvlanMode.Passthru) {
    // everything on the parent is the one container's, whatever its destination
    const only = firstEndpoint(net);
    if (only >= 0) dp.tx.send(only, buf, off, len);
    else c.drop(Drop.NotForUs);
    return;
  }
  // a container of this network as the source: sent out by it and turned back by the LAN's switch
  // (a hairpin, what vepa relies on), or another host using its MAC
  const from = net.fdb.lookup(macHi(buf, off + ETH_SRC), macLo(buf, off + ETH_SRC));
  const sibling = from >= 0 && from !== port.id ? from : -1;
  if (sibling >= 0 && mode === MacvlanMode.Private) {
    c.drop(Drop.MacvlanMode);
    return;
  }
  if (isGroupMac(buf, off)) {
    siblings(dp, net, port.id, sibling, buf, off, len);
    return;
  }
  const out = net.fdb.lookup(macHi(buf, off), macLo(buf, off));
  if (out < 0 || out === port.id) {
    c.drop(Drop.NotForUs); // another host's unicast: the parent is promiscuous
    return;
  }
  if (out === sibling) {
    c.drop(Drop.L2Hairpin);
    return;
  }
  dp.tx.send(out, buf, off, len);
}

/** Sends to every container port of the network but `skip` and `skip2` (never to the parent's port). */
function siblings(dp: Datapath, net: Network, skip: number, skip2: number, buf: Buffer, off: number, len: number): void {
  const ports = net.ports;
  const parent = net.parentPort;
  for (let i = 0, n = net.portCount; i < n; i++) {
    const p = ports[i];
    if (p !== skip && p !== skip2 && p !== parent) dp.tx.send(p, buf, off, len);
  }
}

/** A passthru network's container: the first port that is not the parent's. */
function firstEndpoint(net: Network): number {
  const ports = net.ports;
  for (let i = 0, n = net.portCount; i < n; i++) if (ports[i] !== net.parentPort) return ports[i];
  return -1;
}

function arpWellFormed(dp: Datapath, buf: Buffer, off: number, len: number): boolean {
  if (dp.frame.arp.wrap(buf, off + ETH_HLEN, len - ETH_HLEN) === WireError.Ok) return true;
  dp.counters.drop(Drop.Malformed);
  return false;
}
