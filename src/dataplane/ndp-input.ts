// ndp-input: the gateway's side of neighbour discovery on a network (RFC 4861), for a message
// ip6-input checked and found a container may send. A solicitation for one of the gateway's
// addresses (fe80::1, as Docker's bridge has, and the network's gateway address) is answered with
// an advertisement (router flag set); a duplicate address detection probe for one of them is
// defended with an advertisement to all nodes; a router solicitation is answered with a router
// advertisement carrying the prefix (on-link, autonomous: SLAAC on a /64) and the link MTU, to the
// soliciting port only. Neighbours are learnt as ARP learns them (arp-input): an advertisement
// answering the gateway's solicitation resolves the entry (releasing what is parked on it), a
// solicitation from a container refreshes the entry of its source. Everything else (resolution
// between containers) is the switch's.

import { ETH_SRC } from '../wire/ethernet.js';
import { ICMPV6_NEIGHBOUR_ADVERTISEMENT, ICMPV6_NEIGHBOUR_SOLICITATION, ICMPV6_ROUTER_SOLICITATION } from '../wire/icmpv6.js';
import { IPV6_ALL_NODES, multicastMacIpv6, type Ipv6Words } from '../wire/ipv6-address.js';
import { IPV6_SRC, readI32, readU32 } from '../wire/ipv6.js';
import { macHi, macHiOf, macLo, macLoOf, readMac } from '../wire/mac.js';
import {
  emitNeighbourAdvertisement,
  emitRouterAdvertisement,
  NDP_TARGET,
  type NeighbourAdvertisementSpec,
  type RouterAdvertisementSpec,
} from '../wire/ndp.js';
import type { Datapath } from './context.js';
import { Drop } from './counters.js';
import type { Network, NetworkIpv6 } from './network.js';
import type { Port } from './port.js';

/** Router lifetime (s), prefix valid and preferred lifetimes (s) of the gateway's RAs: radvd's defaults. */
const RA_ROUTER_LIFETIME_S = 1800;
const RA_VALID_LIFETIME_S = 86_400;
const RA_PREFERRED_LIFETIME_S = 14_400;

const ALL_NODES_MAC = multicastMacIpv6(IPV6_ALL_NODES);

/** True when the 16 bytes at buf[o] are the gateway's link-local address (fe80::1 on a bridge) or its address in the network. */
export function gatewayAddressAt(v6: NetworkIpv6, buf: Buffer, o: number): boolean {
  // int32 words: small integers, never boxed
  const w0 = readI32(buf, o);
  const w1 = readI32(buf, o + 4);
  const w2 = readI32(buf, o + 8);
  const w3 = readI32(buf, o + 12);
  return v6.isLinkLocal(w0, w1, w2, w3) || v6.isGateway(w0, w1, w2, w3);
}

/**
 * The neighbour entry of the address at buf[o] sent by `port` is confirmed at the port's MAC; with
 * `create`, one is made if there is none (the container talks to the gateway: it will be answered).
 */
function learn(dp: Datapath, port: Port, net: Network, buf: Buffer, o: number, create: boolean): void {
  learnAt(dp, net, buf, o, port.mac, create);
}

// the specs the emitters read, reused for every answer (their word arrays are filled in place)
const words = (): [number, number, number, number] => [0, 0, 0, 0];
const na: NeighbourAdvertisementSpec & { src: [number, number, number, number]; dst: [number, number, number, number]; target: [number, number, number, number] } = {
  srcMac: 0,
  dstMac: 0,
  src: words(),
  dst: words(),
  target: words(),
  router: true,
  solicited: true,
  override: true,
  targetMac: 0,
};
const ra: RouterAdvertisementSpec & { src: [number, number, number, number]; dst: [number, number, number, number]; prefix: [number, number, number, number] } = {
  srcMac: 0,
  dstMac: 0,
  src: words(),
  dst: words(),
  curHopLimit: 64,
  managed: false,
  otherConfig: false,
  routerLifetime: RA_ROUTER_LIFETIME_S,
  reachableTime: 0,
  retransTimer: 0,
  mtu: 0,
  prefix: words(),
  prefixLength: 64,
  validLifetime: RA_VALID_LIFETIME_S,
  preferredLifetime: RA_PREFERRED_LIFETIME_S,
};

function readWords(buf: Buffer, o: number, out: [number, number, number, number]): void {
  out[0] = readU32(buf, o);
  out[1] = readU32(buf, o + 4);
  out[2] = readU32(buf, o + 8);
  out[3] = readU32(buf, o + 12);
}

function copyWords(a: Ipv6Words, out: [number, number, number, number]): void {
  out[0] = a[0];
  out[1] = a[1];
  out[2] = a[2];
  out[3] = a[3];
}

/** Returns true when the message was the gateway's and must not be switched further. */
export function ndpInput(dp: Datapath, port: Port, net: Network, v6: NetworkIpv6, buf: Buffer, off: number, len: number): boolean {
  const ip = dp.frame.ip6;
  const walk = dp.frame.walk6;
  const type = buf[walk.offset];
  const toGateway = macHi(buf, off) === net.gatewayMacHi && macLo(buf, off) === net.gatewayMacLo;
  if (type === ICMPV6_NEIGHBOUR_ADVERTISEMENT) {
    // ip6-input checked the target is the sender's own address
    learn(dp, port, net, buf, walk.offset + NDP_TARGET, false);
    return toGateway;
  }
  if (type === ICMPV6_NEIGHBOUR_SOLICITATION) {
    const target = walk.offset + NDP_TARGET;
    const dad = ip.srcIsUnspecified;
    if (!gatewayAddressAt(v6, buf, target)) {
      if (!dad) learn(dp, port, net, buf, ip.off + IPV6_SRC, false);
      return toGateway;
    }
    if (!dad) learn(dp, port, net, buf, ip.off + IPV6_SRC, true);
    na.srcMac = net.gatewayMac;
    readWords(buf, target, na.src);
    readWords(buf, target, na.target);
    if (dad) {
      // someone probes for the gateway's address: it is taken (RFC 4862 5.4.3, answered to all nodes)
      na.dstMac = ALL_NODES_MAC;
      copyWords(IPV6_ALL_NODES, na.dst);
    } else {
      na.dstMac = readMac(buf, off + ETH_SRC);
      readWords(buf, ip.off + IPV6_SRC, na.dst);
    }
    na.solicited = !dad;
    na.targetMac = net.gatewayMac;
    const o = dp.pool.alloc();
    if (o >= 0) sendFromPool(dp, port, o, emitNeighbourAdvertisement(dp.pool.slab, o, na));
    else dp.counters.drop(Drop.NoBuffer);
    return true;
  }
  if (type === ICMPV6_ROUTER_SOLICITATION) {
    ra.srcMac = net.gatewayMac;
    ra.src[0] = v6.ll0;
    ra.src[1] = v6.ll1;
    ra.src[2] = v6.ll2;
    ra.src[3] = v6.ll3;
    if (ip.srcIsUnspecified) {
      ra.dstMac = ALL_NODES_MAC;
      copyWords(IPV6_ALL_NODES, ra.dst);
    } else {
      ra.dstMac = readMac(buf, off + ETH_SRC);
      readWords(buf, ip.off + IPV6_SRC, ra.dst);
    }
    ra.mtu = net.mtu;
    ra.prefix[0] = v6.s0;
    ra.prefix[1] = v6.s1;
    ra.prefix[2] = v6.s2;
    ra.prefix[3] = v6.s3;
    ra.prefixLength = v6.prefixLen;
    const o = dp.pool.alloc();
    if (o >= 0) sendFromPool(dp, port, o, emitRouterAdvertisement(dp.pool.slab, o, ra));
    else dp.counters.drop(Drop.NoBuffer);
    return true;
  }
  return toGateway;
}

/** Sends the frame the gateway wrote into a pool slot out of `port`, without the request's offloads. */
function sendFromPool(dp: Datapath, port: Port, o: number, len: number): void {
  dp.frame.suspendOffload();
  dp.tx.send(port.id, dp.pool.slab, o, len);
  dp.frame.resumeOffload();
}

/**
 * Neighbour discovery on the uplink, where the gateway is a node of someone else's link: a
 * solicitation for its uplink address or its link-local one (from its MAC) is answered, the
 * neighbours it resolves (the upstream router, hosts of the uplink's prefix) are learnt from
 * advertisements and solicitations at the MAC they name. Router advertisements and redirects are
 * not taken (the uplink's gateway6 is configured): counted as not for us.
 */
export function ndpUplinkInput(dp: Datapath, port: Port, net: Network, v6: NetworkIpv6, buf: Buffer, off: number, len: number): void {
  const ip = dp.frame.ip6;
  const walk = dp.frame.walk6;
  const type = buf[walk.offset];
  const opts = dp.frame.ndp.options;
  if (type === ICMPV6_NEIGHBOUR_ADVERTISEMENT) {
    const mac = opts.targetMac >= 0 ? opts.targetMac : readMac(buf, off + ETH_SRC);
    learnAt(dp, net, buf, walk.offset + NDP_TARGET, mac, false);
    return;
  }
  if (type !== ICMPV6_NEIGHBOUR_SOLICITATION) {
    dp.counters.drop(Drop.NotForUs);
    return;
  }
  const target = walk.offset + NDP_TARGET;
  const dad = ip.srcIsUnspecified;
  const ours = gatewayAddressAt(v6, buf, target);
  // the solicitation's source is a neighbour at its source link-layer address (RFC 4861 7.2.3)
  if (!dad && opts.sourceMac >= 0) learnAt(dp, net, buf, ip.off + IPV6_SRC, opts.sourceMac, ours);
  if (!ours) return;
  na.srcMac = net.gatewayMac;
  readWords(buf, target, na.src);
  readWords(buf, target, na.target);
  if (dad || opts.sourceMac < 0) {
    // a probe for our address (it is taken), or a solicitation we cannot answer by unicast MAC
    na.dstMac = ALL_NODES_MAC;
    copyWords(IPV6_ALL_NODES, na.dst);
  } else {
    na.dstMac = opts.sourceMac;
    readWords(buf, ip.off + IPV6_SRC, na.dst);
  }
  na.solicited = !dad && opts.sourceMac >= 0;
  na.targetMac = net.gatewayMac;
  const o = dp.pool.alloc();
  if (o >= 0) sendFromPool(dp, port, o, emitNeighbourAdvertisement(dp.pool.slab, o, na));
  else dp.counters.drop(Drop.NoBuffer);
}

/** The neighbour entry of the address at buf[o] is confirmed at `mac`; made first with `create`. */
function learnAt(dp: Datapath, net: Network, buf: Buffer, o: number, mac: number, create: boolean): void {
  const w0 = readI32(buf, o);
  const w1 = readI32(buf, o + 4);
  const w2 = readI32(buf, o + 8);
  const w3 = readI32(buf, o + 12);
  let n = net.neighbours.get6(w0, w1, w2, w3);
  if (n === undefined) {
    if (!create) return;
    n = net.neighbours.create6(w0, w1, w2, w3, dp.now);
  }
  dp.resolver.resolved(net, n, macHiOf(mac), macLoOf(mac));
}
