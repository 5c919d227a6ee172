// The gateway's neighbour resolution on its networks, for both families: ARP requests (IPv4) and
// neighbour solicitations (IPv6, RFC 4861 7.2) for addresses it must deliver to, the frames parked
// meanwhile (released in order once the MAC is known, or answered with ICMP host unreachable /
// ICMPv6 address unreachable when it never is), retries, unicast probes and expiry on the timer
// (one state machine: neighbour-table.ts), and gratuitous ARP.

import { ARP_LEN, ARP_OP_REQUEST, ArpRepr } from '../wire/arp.js';
import { ETH_HLEN, ETH_SRC, ETH_TYPE, ETHERTYPE_ARP } from '../wire/ethernet.js';
import { ICMP_DEST_UNREACHABLE, ICMP_HOST_UNREACHABLE } from '../wire/icmpv4.js';
import { ICMPV6_ADDRESS_UNREACHABLE, ICMPV6_DEST_UNREACHABLE } from '../wire/icmpv6.js';
import { MAC_BROADCAST, MAC_ZERO, macOf, putMac, writeMac } from '../wire/mac.js';
import { emitNeighbourSolicitation, type NeighbourSolicitationSpec } from '../wire/ndp.js';
import type { Datapath, NeighbourResolver } from './context.js';
import { Drop, Gauge } from './counters.js';
import { icmpError } from './icmp-error.js';
import { icmp6Error } from './icmp6-error.js';
import { l2Flood, l2Output } from './l2-switch.js';
import type { Network } from './network.js';
import { type Neighbour, NeighbourState } from './neighbour-table.js';
import type { Port } from './port.js';

/** Bytes of an Ethernet + ARP frame. */
export const ARP_FRAME_LEN = ETH_HLEN + ARP_LEN;

/** Writes an Ethernet + ARP frame for `repr` to `ethDst` at b[o]. */
export function emitArpFrame(b: Buffer, o: number, repr: ArpRepr, ethDst: number): void {
  writeMac(b, o, ethDst);
  writeMac(b, o + ETH_SRC, repr.senderMac);
  b[o + ETH_TYPE] = ETHERTYPE_ARP >>> 8;
  b[o + ETH_TYPE + 1] = ETHERTYPE_ARP & 0xff;
  ArpRepr.emit(repr, b, o + ETH_HLEN);
}

/** What the timer found, for the gauges. */
export interface NeighbourCounts {
  /** entries of both families, and the IPv6 ones among them */
  neighbours: number;
  neighbours6: number;
  parked: number;
}

export class NeighbourDiscovery implements NeighbourResolver {
  // reused for every frame the resolver writes
  private readonly repr: ArpRepr = { operation: 0, senderMac: 0, senderIp: 0, targetMac: 0, targetIp: 0 };
  private readonly ns: NeighbourSolicitationSpec & { src: [number, number, number, number]; target: [number, number, number, number] } = {
    srcMac: 0,
    src: [0, 0, 0, 0],
    target: [0, 0, 0, 0],
    dstMac: -1,
  };

  constructor(private readonly dp: Datapath) {}

  request(net: Network, n: Neighbour): void {
    if (n.v6) this.solicit(net, n, -1);
    else this.ask(net, n.ip, MAC_BROADCAST);
  }

  /** Asks `target` directly at the MAC the cache holds for it (RFC 4861 7.3.3 PROBE; Linux's unicast ARP probes). */
  probe(net: Network, n: Neighbour): void {
    if (n.v6) this.solicit(net, n, macOf(n.macHi, n.macLo));
    else this.ask(net, n.ip, macOf(n.macHi, n.macLo));
  }

  /**
   * A neighbour solicitation for an IPv6 neighbour from the gateway's address in the network (the
   * neighbour answers it there): to the solicited-node group, or unicast at `dstMac` (a probe).
   */
  private solicit(net: Network, n: Neighbour, dstMac: number): void {
    const dp = this.dp;
    const v6 = net.ip6;
    if (v6 === null) return;
    const o = dp.pool.alloc();
    if (o < 0) {
      dp.counters.drop(Drop.NoBuffer);
      return;
    }
    const ns = this.ns;
    ns.srcMac = net.gatewayMac;
    ns.dstMac = dstMac;
    ns.src[0] = v6.g0;
    ns.src[1] = v6.g1;
    ns.src[2] = v6.g2;
    ns.src[3] = v6.g3;
    ns.target[0] = n.ip;
    ns.target[1] = n.ip1;
    ns.target[2] = n.ip2;
    ns.target[3] = n.ip3;
    const len = emitNeighbourSolicitation(dp.pool.slab, o, ns);
    dp.counters.gauges[Gauge.NdpSolicitationsSent]++;
    dp.frame.suspendOffload();
    if (dstMac < 0) l2Flood(dp, net, null, dp.pool.slab, o, len);
    else l2Output(dp, net, dp.pool.slab, o, len);
    dp.frame.resumeOffload();
  }

  private ask(net: Network, target: number, ethDst: number): void {
    const dp = this.dp;
    const o = dp.pool.alloc();
    if (o < 0) {
      dp.counters.drop(Drop.NoBuffer);
      return;
    }
    this.write(o, net.gatewayMac, net.gatewayIp, target, ethDst);
    dp.counters.gauges[Gauge.ArpRequestsSent]++;
    dp.frame.suspendOffload();
    if (ethDst === MAC_BROADCAST) l2Flood(dp, net, null, dp.pool.slab, o, ARP_FRAME_LEN);
    else l2Output(dp, net, dp.pool.slab, o, ARP_FRAME_LEN);
    dp.frame.resumeOffload();
  }

  /**
   * Gratuitous ARP for `ip` at `mac` into the network (stale caches of the address learn its MAC),
   * flooded to every port but `from`, or sent out of `from` alone when `toFromOnly` (the uplink).
   */
  announce(net: Network, mac: number, ip: number, from: Port, toFromOnly: boolean): void {
    const dp = this.dp;
    const o = dp.pool.alloc();
    if (o < 0) return;
    this.write(o, mac, ip, ip, MAC_BROADCAST);
    if (toFromOnly) dp.tx.send(from.id, dp.pool.slab, o, ARP_FRAME_LEN);
    else l2Flood(dp, net, from, dp.pool.slab, o, ARP_FRAME_LEN);
  }

  private write(o: number, senderMac: number, senderIp: number, targetIp: number, ethDst: number): void {
    const r = this.repr;
    r.operation = ARP_OP_REQUEST;
    r.senderMac = senderMac;
    r.senderIp = senderIp >>> 0;
    r.targetMac = MAC_ZERO;
    r.targetIp = targetIp >>> 0;
    emitArpFrame(this.dp.pool.slab, o, r, ethDst);
  }

  resolved(net: Network, n: Neighbour, hi: number, lo: number): void {
    const dp = this.dp;
    n.macHi = hi;
    n.macLo = lo;
    n.state = NeighbourState.Reachable;
    n.updated = dp.now;
    n.probes = 0;
    if (n.parkedCount === 0) return;
    const park = dp.parking;
    dp.frame.suspendOffload(); // parked frames had their offloads resolved
    for (let i = 0; i < n.parkedCount; i++) {
      const slot = n.parked[i];
      const off = park.offset(slot);
      putMac(park.slab, off, hi, lo);
      putMac(park.slab, off + ETH_SRC, net.gatewayMacHi, net.gatewayMacLo);
      l2Output(dp, net, park.slab, off, park.lengths[slot]);
    }
    dp.frame.resumeOffload();
    // datagrams queued for the underlay point into the parking slots: out before they are reused
    if (dp.tables.tunnel !== null) dp.tables.tunnel.flush();
    for (let i = 0; i < n.parkedCount; i++) park.release(n.parked[i]);
    n.parkedCount = 0;
  }

  private failed(net: Network, n: Neighbour): void {
    const dp = this.dp;
    n.state = NeighbourState.Failed;
    n.updated = dp.now;
    const park = dp.parking;
    for (let i = 0; i < n.parkedCount; i++) {
      const slot = n.parked[i];
      const ingress = dp.tables.ports[park.ingress[slot]];
      dp.counters.drop(Drop.NeighbourUnreachable);
      if (ingress !== undefined && n.v6) {
        icmp6Error(dp, ingress, park.slab, park.offset(slot), park.lengths[slot], ICMPV6_DEST_UNREACHABLE, ICMPV6_ADDRESS_UNREACHABLE, 0);
      } else if (ingress !== undefined) {
        icmpError(dp, ingress, park.slab, park.offset(slot), park.lengths[slot], ICMP_DEST_UNREACHABLE, ICMP_HOST_UNREACHABLE, 0);
      }
      park.release(slot);
    }
    n.parkedCount = 0;
  }

  /** Frees what a network's neighbours hold (the network goes away). */
  releaseAll(net: Network): void {
    const park = this.dp.parking;
    for (const n of net.neighbours.values()) {
      for (let i = 0; i < n.parkedCount; i++) park.release(n.parked[i]);
      n.parkedCount = 0;
    }
  }

  /**
   * Timer: broadcast retries of incomplete entries and failure after the last one; reachable
   * entries go stale; delayed ones start unicast probes; probes unanswered after the retries, and
   * stale or failed entries left alone long enough, are deleted.
   */
  tick(net: Network, now: number, counts: NeighbourCounts): void {
    const o = this.dp.options;
    for (const n of net.neighbours.values()) {
      switch (n.state) {
        case NeighbourState.Incomplete:
          if (now >= n.nextProbe) {
            if (n.probes >= o.arpRetries) this.failed(net, n);
            else {
              this.request(net, n);
              n.probes++;
              n.nextProbe = now + o.arpRetryMs;
            }
          }
          break;
        case NeighbourState.Reachable:
          if (!n.fixed && now - n.updated > o.neighbourReachableMs) n.state = NeighbourState.Stale;
          break;
        case NeighbourState.Stale:
          if (now - n.updated > o.neighbourReachableMs + o.neighbourStaleMs) net.neighbours.remove(n);
          break;
        case NeighbourState.Delay:
          if (now >= n.nextProbe) {
            n.state = NeighbourState.Probe;
            n.probes = 0;
            n.nextProbe = now;
          }
          break;
        case NeighbourState.Failed:
          if (now - n.updated > o.neighbourFailedMs) net.neighbours.remove(n);
          break;
      }
      if (n.state === NeighbourState.Probe && now >= n.nextProbe) {
        if (n.probes >= o.arpRetries) net.neighbours.remove(n);
        else {
          this.probe(net, n);
          n.probes++;
          n.nextProbe = now + o.arpRetryMs;
        }
      }
      counts.parked += n.parkedCount;
    }
    counts.neighbours += net.neighbours.size;
    counts.neighbours6 += net.neighbours.size6;
  }
}
