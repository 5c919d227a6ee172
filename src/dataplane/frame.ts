// The frame being processed: what belongs to it and to nothing else travels here, in one object
// reused for every frame (nothing is allocated per packet): the re-pointed views over its headers,
// its offload metadata (from its virtio-net header), the tuple the NAT
// stage builds for it and the route chosen for it.

import { ArpPacket } from '../wire/arp.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { Icmpv4Packet } from '../wire/icmpv4.js';
import { Icmpv6Packet } from '../wire/icmpv6.js';
import { IPV6_HLEN, Ipv6ExtensionWalk, Ipv6Packet } from '../wire/ipv6.js';
import { NdpMessage } from '../wire/ndp.js';
import { ipv4HeaderLength, Ipv4Packet } from '../wire/ipv4.js';
import { tcpHeaderLength, TcpPacket } from '../wire/tcp.js';
import { UdpPacket } from '../wire/udp.js';
import {
  readLe16,
  VNET_CSUM_OFFSET,
  VNET_CSUM_START,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_SIZE,
  VNET_GSO_TYPE,
} from '../wire/virtio-net.js';
import { CtTuple } from './conntrack.js';
import { RouteResult } from './route-table.js';

declare const checked: unique symbol;

/**
 * The frame's IPv4 view once ip4Wrap has pointed it at the packet and checked its header: the
 * IPv4 stages take this type, so "the view is wrapped around the packet" is a precondition the
 * compiler sees (the same object, nothing allocated).
 */
export type CheckedIpv4 = Ipv4Packet & { readonly [checked]: true };

export class Frame {
  // one view per role, re-pointed at each frame's headers
  readonly arp = new ArpPacket();
  readonly ip = new Ipv4Packet();
  readonly icmp = new Icmpv4Packet();
  readonly tcp = new TcpPacket();
  readonly udp = new UdpPacket();
  readonly ip6 = new Ipv6Packet();
  readonly walk6 = new Ipv6ExtensionWalk();
  readonly icmp6 = new Icmpv6Packet();
  readonly ndp = new NdpMessage();

  // offload metadata (all 0 for a frame without a virtio-net header)
  gsoType = 0;
  /** payload bytes per segment of a TCP super segment; 0: an ordinary frame */
  gsoSize = 0;
  /** where the partial checksum's coverage starts, from the Ethernet header */
  csumStart = 0;
  csumOffset = 0;
  /** non-zero: the L4 checksum field holds only the pseudo-header sum */
  needsCsum = 0;

  /** the packet's own tuple and the reply tuple NAT builds for a new flow */
  readonly tuple = new CtTuple();
  readonly reply = new CtTuple();
  /** the route chosen for the packet */
  readonly route = new RouteResult();

  private readonly saved = new Int32Array(5);
  private suspended = 0;

  /** Sets the offload metadata from the virtio-net header at buf[h]; `l2` is 14 for a TUN port's IP packets. */
  setOffloadFromVnet(buf: Buffer, h: number, l2: number): void {
    const flags = buf[h];
    this.needsCsum = flags & VNET_F_NEEDS_CSUM;
    this.csumStart = this.needsCsum !== 0 ? readLe16(buf, h + VNET_CSUM_START) + l2 : 0;
    this.csumOffset = this.needsCsum !== 0 ? readLe16(buf, h + VNET_CSUM_OFFSET) : 0;
    const gso = buf[h + VNET_GSO_TYPE] & ~VNET_GSO_ECN;
    this.gsoType = gso;
    this.gsoSize = gso !== 0 ? readLe16(buf, h + VNET_GSO_SIZE) : 0;
  }

  clearOffload(): void {
    this.gsoType = this.gsoSize = this.csumStart = this.csumOffset = this.needsCsum = 0;
  }

  /** Frames the gateway makes while handling another (ICMP errors, ARP, segments) carry no offloads. */
  suspendOffload(): void {
    if (this.suspended++ > 0) return;
    const s = this.saved;
    s[0] = this.gsoType;
    s[1] = this.gsoSize;
    s[2] = this.csumStart;
    s[3] = this.csumOffset;
    s[4] = this.needsCsum;
    this.clearOffload();
  }

  resumeOffload(): void {
    if (--this.suspended > 0) return;
    const s = this.saved;
    this.gsoType = s[0];
    this.gsoSize = s[1];
    this.csumStart = s[2];
    this.csumOffset = s[3];
    this.needsCsum = s[4];
  }

  /**
   * Bytes from the Ethernet header at buf[off] to the end of the TCP header of the current super
   * segment: the TCP header is where csum_start points (either family: an IPv6 header with
   * extension headers as much as IPv4 with options), or, without a partial checksum, right behind
   * the IPv4 header or the fixed IPv6 header.
   */
  gsoHeaderLength(buf: Buffer, off: number): number {
    const ip = off + ETH_HLEN;
    const tcp = this.csumStart !== 0 ? off + this.csumStart : buf[ip] >>> 4 === 6 ? ip + IPV6_HLEN : ip + ipv4HeaderLength(buf, ip);
    return tcp - off + tcpHeaderLength(buf, tcp);
  }

  /** IP length of the largest packet the frame at buf[off] puts on the wire (a segment of a super segment). */
  wireSize(buf: Buffer, off: number, len: number): number {
    if (this.gsoSize === 0) return len - ETH_HLEN;
    return this.gsoHeaderLength(buf, off) - ETH_HLEN + this.gsoSize;
  }
}
