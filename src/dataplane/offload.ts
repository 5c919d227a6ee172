// Frames that arrive with offloads (virtio-net header): a partial L4 checksum (only the pseudo-header
// sum is filled in) or one TCP "super segment" of up to 64 KiB standing for many. A port that
// takes offloads gets them as they are; for any other (the VXLAN underlay, an AF_PACKET uplink, the
// in-memory port) the checksum is finished and super segments are cut into MSS-sized segments here.

import { copyBytes } from './frame-pool.js';
import { finish, internetChecksum, ipv4AddressSum, ipv6AddressSum, l4PseudoSum, sum16 } from '../wire/checksum.js';
import { writeU16, writeU32 } from '../wire/bytes.js';
import { ETH_HLEN, etherTypeOf, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { IPV6_HLEN, IPV6_NEXT_HEADER, IPV6_PAYLOAD_LEN, IPV6_SRC } from '../wire/ipv6.js';
import { IP_PROTO_TCP, IP_PROTO_UDP, IPV4_CHECKSUM, IPV4_IDENT, IPV4_PROTO, IPV4_TOTAL_LEN, ipv4Dst, ipv4HeaderLength, ipv4Src } from '../wire/ipv4.js';
import { TCP_CHECKSUM, TCP_CWR, TCP_FIN, TCP_FLAGS, TCP_MIN_HLEN, TCP_PSH, TCP_SEQ_NUM, tcpHeaderLength } from '../wire/tcp.js';
import { UDP_CHECKSUM } from '../wire/udp.js';
import { VNET_GSO_TCPV4, VNET_GSO_TCPV6 } from '../wire/virtio-net.js';
import { VXLAN_HLEN } from '../wire/vxlan.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import type { Frame } from './frame.js';
import type { Network } from './network.js';
import { PortKind } from './port.js';

/**
 * Whether the current frame's offload metadata (from its virtio-net header) describes it: a
 * partial checksum must be the TCP or UDP checksum of its IPv4 (or IPv6) packet, a super segment
 * TCP/IPv4 (or TCP/IPv6) with a segment size. Checked before any stage trusts it: finishChecksum writes where csum_start
 * points, which could otherwise rewrite the headers anti-spoofing has already checked.
 */
export function offloadFits(f: Frame, buf: Buffer, off: number, len: number): boolean {
  if (f.needsCsum === 0 && f.gsoType === 0) return true;
  if (len >= ETH_HLEN + IPV6_HLEN && etherTypeOf(buf, off) === ETHERTYPE_IPV6) return offloadFits6(f, buf, off, len);
  if (len < ETH_HLEN + 20 || etherTypeOf(buf, off) !== ETHERTYPE_IPV4) return false;
  const ip = off + ETH_HLEN;
  const proto = buf[ip + IPV4_PROTO];
  if (f.gsoType !== 0 && (f.gsoType !== VNET_GSO_TCPV4 || f.gsoSize === 0 || proto !== IP_PROTO_TCP)) return false;
  if (f.needsCsum !== 0) {
    const field = proto === IP_PROTO_TCP ? TCP_CHECKSUM : proto === IP_PROTO_UDP ? UDP_CHECKSUM : -1;
    if (field < 0 || f.csumStart !== ETH_HLEN + ipv4HeaderLength(buf, ip) || f.csumOffset !== field || f.csumStart + field + 2 > len) return false;
  }
  return true;
}

/**
 * IPv6: a partial TCP or UDP checksum, or a TCP/IPv6 super segment (TSO6) with a segment size,
 * right behind the fixed header (what Linux sends through a TAP with TUN_F_CSUM | TUN_F_TSO6;
 * extension headers in between are refused: the segmenter would have to walk them).
 */
function offloadFits6(f: Frame, buf: Buffer, off: number, len: number): boolean {
  const proto = buf[off + ETH_HLEN + IPV6_NEXT_HEADER];
  if (f.gsoType !== 0 && (f.gsoType !== VNET_GSO_TCPV6 || f.gsoSize === 0 || proto !== IP_PROTO_TCP || len < ETH_HLEN + IPV6_HLEN + TCP_MIN_HLEN)) {
    return false;
  }
  if (f.needsCsum === 0) return true;
  const field = proto === IP_PROTO_TCP ? TCP_CHECKSUM : proto === IP_PROTO_UDP ? UDP_CHECKSUM : -1;
  return field >= 0 && f.csumStart === ETH_HLEN + IPV6_HLEN && f.csumOffset === field && f.csumStart + field + 2 <= len;
}

/** Fills in the partial checksum of the current frame (at buf[off], an Ethernet frame) in place. */
export function finishChecksum(f: Frame, buf: Buffer, off: number, len: number): void {
  const start = off + f.csumStart;
  const field = start + f.csumOffset;
  if (field + 2 > off + len || start >= off + len) return;
  // the field holds the pseudo-header sum: summing from csum_start over it gives the checksum
  let c = finish(sum16(buf, start, off + len - start));
  const proto = etherTypeOf(buf, off) === ETHERTYPE_IPV6 ? buf[off + ETH_HLEN + IPV6_NEXT_HEADER] : buf[off + ETH_HLEN + IPV4_PROTO];
  if (c === 0 && proto === IP_PROTO_UDP) c = 0xffff;
  buf[field] = c >>> 8;
  buf[field + 1] = c & 0xff;
  f.needsCsum = 0;
}

/**
 * Cuts the current TCP super segment (IPv4 or IPv6, by its GSO type) into segments of gsoSize
 * bytes of payload, each with complete checksums, and sends each to port `sinkPort`, or
 * (`sinkVtep` >= 0) to VTEP `sinkVtep` of overlay network `sinkNet`, with no offload metadata, in
 * order. The segments are built in the data plane's arena (flushed when full: a batch of super
 * segments never runs out of buffers). The original frame is left intact; one that cannot be cut
 * is dropped and counted.
 */
export function segmentTcp(dp: Datapath, buf: Buffer, off: number, len: number, sinkPort: number, sinkNet: Network | null, sinkVtep: number): void {
  if (dp.frame.gsoType === VNET_GSO_TCPV6) segmentTcp6(dp, buf, off, len, sinkPort, sinkNet, sinkVtep);
  else segmentTcp4(dp, buf, off, len, sinkPort, sinkNet, sinkVtep);
}

/** segmentTcp for a TCP/IPv4 super segment: each segment gets its total length, the next IP ID and its header checksum. */
export function segmentTcp4(dp: Datapath, buf: Buffer, off: number, len: number, sinkPort: number, sinkNet: Network | null, sinkVtep: number): void {
  const ip = off + ETH_HLEN;
  if (dp.frame.gsoType !== VNET_GSO_TCPV4 || len < ETH_HLEN + 40) {
    dp.counters.drop(Drop.Malformed);
    return;
  }
  const addrSum = ipv4AddressSum(ipv4Src(buf, ip), ipv4Dst(buf, ip));
  cutTcp(dp, buf, off, len, ipv4HeaderLength(buf, ip), addrSum, false, sinkPort, sinkNet, sinkVtep);
}

/** segmentTcp for a TCP/IPv6 super segment (TCP right behind the fixed header): each segment gets its payload length. */
export function segmentTcp6(dp: Datapath, buf: Buffer, off: number, len: number, sinkPort: number, sinkNet: Network | null, sinkVtep: number): void {
  const ip = off + ETH_HLEN;
  if (dp.frame.gsoType !== VNET_GSO_TCPV6 || len < ETH_HLEN + IPV6_HLEN + TCP_MIN_HLEN || buf[ip + IPV6_NEXT_HEADER] !== IP_PROTO_TCP) {
    dp.counters.drop(Drop.Malformed);
    return;
  }
  cutTcp(dp, buf, off, len, IPV6_HLEN, ipv6AddressSum(buf, ip + IPV6_SRC), true, sinkPort, sinkNet, sinkVtep);
}

/**
 * The family-agnostic part of segmentTcp: the TCP header at `ihl` bytes behind the IP header is
 * copied in front of each piece of payload, with its sequence number, flags (FIN and PSH on the
 * last segment only, CWR on the first only) and complete checksum from the pseudo-header's
 * `addrSum`; only the IP header's length fields differ per family.
 */
function cutTcp(
  dp: Datapath,
  buf: Buffer,
  off: number,
  len: number,
  ihl: number,
  addrSum: number,
  v6: boolean,
  sinkPort: number,
  sinkNet: Network | null,
  sinkVtep: number,
): void {
  const ipOff = off + ETH_HLEN;
  const tcpOff = ipOff + ihl;
  const thl = tcpHeaderLength(buf, tcpOff);
  const hdrEnd = tcpOff + thl;
  const payload = off + len - hdrEnd;
  const mss = dp.frame.gsoSize;
  if (thl < TCP_MIN_HLEN || payload <= 0 || mss <= 0) {
    dp.counters.drop(Drop.Malformed);
    return;
  }
  const seq0 = buf.readUInt32BE(tcpOff + TCP_SEQ_NUM);
  const id0 = v6 ? 0 : buf.readUInt16BE(ipOff + IPV4_IDENT);
  const flags = buf[tcpOff + TCP_FLAGS];
  const hdrLen = hdrEnd - off;
  const out = dp.arena.slab;
  const sink = sinkNet === null ? dp.tables.ports[sinkPort] : undefined;
  const l2 = sink !== undefined && sink.kind === PortKind.Host ? ETH_HLEN : 0; // the host port takes IP packets
  // segments for the underlay lie back to back with room for their VXLAN header in between, so
  // the socket can send them as one train (UDP GSO)
  const front = sinkNet !== null ? VXLAN_HLEN : 0;
  dp.frame.suspendOffload();
  for (let pos = 0, i = 0; pos < payload; pos += mss, i++) {
    const size = Math.min(mss, payload - pos);
    const o = dp.tx.alloc(front, hdrLen + size);
    if (o < 0) {
      dp.counters.drop(Drop.Oversize);
      break;
    }
    copyBytes(buf, off, hdrEnd, out, o);
    copyBytes(buf, hdrEnd + pos, hdrEnd + pos + size, out, o + hdrLen);
    const sip = o + ETH_HLEN;
    const st = sip + ihl;
    const segLen = thl + size;
    if (v6) {
      writeU16(out, sip + IPV6_PAYLOAD_LEN, segLen);
    } else {
      writeU16(out, sip + IPV4_TOTAL_LEN, ihl + segLen);
      writeU16(out, sip + IPV4_IDENT, (id0 + i) & 0xffff);
      out[sip + IPV4_CHECKSUM] = 0;
      out[sip + IPV4_CHECKSUM + 1] = 0;
      writeU16(out, sip + IPV4_CHECKSUM, internetChecksum(out, sip, ihl));
    }
    writeU32(out, st + TCP_SEQ_NUM, seq0 + pos);
    let f = flags;
    if (pos + size < payload) f &= ~(TCP_FIN | TCP_PSH);
    if (i > 0) f &= ~TCP_CWR;
    out[st + TCP_FLAGS] = f;
    out[st + TCP_CHECKSUM] = 0;
    out[st + TCP_CHECKSUM + 1] = 0;
    writeU16(out, st + TCP_CHECKSUM, finish(sum16(out, st, segLen, l4PseudoSum(addrSum, IP_PROTO_TCP, segLen))));
    if (sinkNet !== null) dp.tx.sendToVtep(sinkNet, sinkVtep, out, o, hdrLen + size);
    else dp.tx.send(sinkPort, out, o + l2, hdrLen + size - l2);
  }
  dp.frame.resumeOffload();
}
