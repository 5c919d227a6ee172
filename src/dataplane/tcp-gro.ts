// tcp-gro: receive offload in userspace, at the output to a port that takes offloads. Consecutive
// in-order segments of one TCP flow (IPv4 or IPv6) bound for the same port are coalesced into one
// super segment (virtio-net header: TCPv4 or TCPv6 GSO) and written with one system call:
// when the sender's burst ends (a short segment, PSH or FIN), when any other frame for that port
// comes, or at the end of the batch. So a port never sees its frames in another order than they
// came, and nothing waits past the batch. The merge rules are Linux's (inet_gro_receive,
// ipv6_gro_receive, tcp_gro_receive): same addresses, ports, ACK, options and flags, same TOS, DF
// and TTL (IPv4) or traffic class, flow label and hop limit (IPv6, no extension headers),
// contiguous sequence numbers, no segment longer than the first, at most 64 KiB.
//
// Checksums: the payload is never read. Each segment's checksum field tells the sum of its payload
// (the field makes the whole segment sum to 0xffff), so the super segment's checksum is built from
// those and its own header, and the receiving kernel verifies it in one pass (no NEEDS_CSUM): a
// segment that was corrupted on the way makes the super segment fail there, as it would have alone.

import { finish, fold, internetChecksum, ipv4AddressSum, ipv6AddressSum, l4PseudoSum, sum16 } from '../wire/checksum.js';
import { readI32, writeU16 } from '../wire/bytes.js';
import { ETH_HLEN, etherTypeOf, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { TCP_CWR, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG } from '../wire/tcp.js';
import {
  VNET_GSO_ECN,
  VNET_GSO_SIZE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_GSO_TYPE,
  VNET_HDR_LEN,
  VNET_HDR_LENGTH,
  writeLe16,
} from '../wire/virtio-net.js';
import { DataplaneCounters, Drop, Gauge, MAX_PORTS } from './counters.js';
import { copyBytes, FrameMemory, HEADROOM } from './frame-pool.js';
import { type Port, PortKind } from './port.js';

/** Flows coalesced at once (Linux keeps 8 per NAPI context). */
const CONTEXTS = 8;
const MAX_IP_LEN = 65535;
/** A context holds one super segment: Ethernet + 64 KiB of IP, with headroom for the virtio-net header. */
const CONTEXT_SIZE = HEADROOM + ETH_HLEN + MAX_IP_LEN + 1;
/** Flags that end a burst: the segment carrying one is the last merged. */
const BURST_END = TCP_PSH | TCP_FIN;
/** Flags that are never merged. */
const NO_MERGE = TCP_SYN | TCP_RST | TCP_URG;
/** IP header lengths GRO takes: IPv4 without options, the fixed IPv6 header */
const IP4_HLEN = 20;
const IP6_HLEN = 40;

interface Ports {
  readonly ports: readonly (Port | undefined)[];
  readonly counters: DataplaneCounters;
}

export class TcpGro {
  /** bytes of frame memory the contexts take */
  static readonly BYTES = CONTEXTS * CONTEXT_SIZE;
  readonly slab: Buffer;
  private readonly start: number;
  /** port id each context holds a super segment for (-1: free) */
  private readonly owner = new Int32Array(CONTEXTS).fill(-1);
  /** IP length of the held super segment */
  private readonly ipLen = new Int32Array(CONTEXTS);
  /** its IP header length: IP4_HLEN or IP6_HLEN (the family) */
  private readonly l3 = new Int32Array(CONTEXTS);
  private readonly mss = new Int32Array(CONTEXTS);
  private readonly segs = new Int32Array(CONTEXTS);
  /** the sequence number the next segment must have, as int32 (compared as readI32 words: never a boxed number) */
  private readonly nextSeq = new Int32Array(CONTEXTS);
  /** folded ones'-complement sum of the payload held, at its place in the super segment */
  private readonly dataSum = new Int32Array(CONTEXTS);
  private readonly byPort = new Int16Array(MAX_PORTS).fill(-1);
  private held = 0;
  private victim = 0;

  constructor(memory = new FrameMemory(TcpGro.BYTES)) {
    this.slab = memory.slab;
    this.start = memory.region(TcpGro.BYTES);
  }

  /** Where context c's frame starts (its Ethernet header; the IP header 14 bytes later). */
  private base(c: number): number {
    return this.start + c * CONTEXT_SIZE + HEADROOM;
  }

  /**
   * Offers a frame without offload metadata bound for `port` (which takes offloads): true when it
   * was taken (held or merged), false when the caller sends it itself — after anything held for
   * that port, which is flushed first. For the host port `off` is the IP header.
   */
  offer(dp: Ports, port: Port, buf: Buffer, off: number, len: number): boolean {
    const host = port.kind === PortKind.Host;
    const ip = host ? off : off + ETH_HLEN;
    const ipLen = host ? len : len - ETH_HLEN;
    const held = this.byPort[port.id];
    const seg = segmentPayload(buf, ip, ipLen, host ? -1 : off);
    if (seg <= 0) {
      if (held >= 0) this.flush(dp, held);
      return false;
    }
    const l3 = ipHeaderLength(buf, ip);
    const tcp = ip + l3;
    const flags = buf[tcp + 13];
    if (held >= 0) {
      if (this.continues(held, buf, ip, l3, ipLen, seg, flags)) {
        this.append(held, buf, ip, l3, ipLen, seg, flags);
        if (seg < this.mss[held] || (flags & BURST_END) !== 0) this.flush(dp, held);
        return true;
      }
      this.flush(dp, held);
    }
    if ((flags & BURST_END) !== 0) return false; // a burst of one segment: nothing to wait for
    const c = this.take(dp);
    const b = this.base(c);
    copyBytes(buf, ip, ip + ipLen, this.slab, b + ETH_HLEN);
    if (!host) copyBytes(buf, off, off + ETH_HLEN, this.slab, b);
    this.owner[c] = port.id;
    this.byPort[port.id] = c;
    this.ipLen[c] = ipLen;
    this.l3[c] = l3;
    this.mss[c] = seg;
    this.segs[c] = 1;
    this.nextSeq[c] = (readI32(buf, tcp + 4) + seg) | 0;
    this.dataSum[c] = payloadSum(buf, ip, l3, ipLen);
    return true;
  }

  /** Writes what is held for `portId`, if anything. */
  flushPort(dp: Ports, portId: number): void {
    const c = this.byPort[portId];
    if (c >= 0) this.flush(dp, c);
  }

  /** End of a batch: every held super segment goes out. */
  flushAll(dp: Ports): void {
    if (this.held === 0) return;
    for (let c = 0; c < CONTEXTS; c++) if (this.owner[c] >= 0) this.flush(dp, c);
  }

  /** A port that goes away loses what was held for it. */
  forget(portId: number): void {
    const c = this.byPort[portId];
    if (c < 0) return;
    this.release(c);
  }

  private take(dp: Ports): number {
    for (let c = 0; c < CONTEXTS; c++) {
      if (this.owner[c] < 0) {
        this.held++;
        return c;
      }
    }
    // all busy: the next one in turn goes out now
    const c = this.victim;
    this.victim = (c + 1) % CONTEXTS;
    this.flush(dp, c);
    this.held++;
    return c;
  }

  private release(c: number): void {
    this.byPort[this.owner[c]] = -1;
    this.owner[c] = -1;
    this.held--;
  }

  /** Is the segment at buf[ip] (IP header length `l3`) the next of the flow held in context c? */
  private continues(c: number, buf: Buffer, ip: number, l3: number, ipLen: number, seg: number, flags: number): boolean {
    if (l3 !== this.l3[c]) return false; // the other family
    const s = this.slab;
    const h = this.base(c) + ETH_HLEN;
    const ht = h + l3;
    const tcp = ip + l3;
    const thl = (buf[tcp + 12] >> 4) << 2;
    if (thl !== (s[ht + 12] >> 4) << 2) return false;
    if (readI32(buf, tcp + 4) !== this.nextSeq[c] || seg > this.mss[c]) return false;
    if (this.ipLen[c] + seg > MAX_IP_LEN) return false;
    if ((flags & TCP_CWR) !== 0 || ((flags ^ s[ht + 13]) & ~(TCP_CWR | BURST_END)) !== 0) return false;
    if (l3 === IP4_HLEN) {
      // TOS, DF, TTL, then the addresses
      if (buf[ip + 1] !== s[h + 1] || (buf[ip + 6] & 0x40) !== (s[h + 6] & 0x40) || buf[ip + 8] !== s[h + 8]) return false;
      if (readI32(buf, ip + 12) !== readI32(s, h + 12) || readI32(buf, ip + 16) !== readI32(s, h + 16)) return false;
    } else {
      // version, traffic class and flow label (one word), hop limit, then the addresses
      if (readI32(buf, ip) !== readI32(s, h) || buf[ip + 7] !== s[h + 7]) return false;
      for (let k = 8; k < 40; k += 4) if (readI32(buf, ip + k) !== readI32(s, h + k)) return false;
    }
    // ports, then the acknowledgment
    if (readI32(buf, tcp) !== readI32(s, ht) || readI32(buf, tcp + 8) !== readI32(s, ht + 8)) return false;
    // options (timestamps) word for word
    for (let k = 20; k < thl; k += 4) if (readI32(buf, tcp + k) !== readI32(s, ht + k)) return false;
    return true;
  }

  private append(c: number, buf: Buffer, ip: number, l3: number, ipLen: number, seg: number, flags: number): void {
    const s = this.slab;
    const h = this.base(c) + ETH_HLEN;
    const ht = h + l3;
    copyBytes(buf, ip + ipLen - seg, ip + ipLen, s, h + this.ipLen[c]);
    // a payload that starts at an odd distance from the TCP header adds its sum byte-swapped
    let d = payloadSum(buf, ip, l3, ipLen);
    if (((this.ipLen[c] - l3) & 1) !== 0) d = ((d & 0xff) << 8) | (d >>> 8);
    this.dataSum[c] = fold(this.dataSum[c] + d);
    this.ipLen[c] += seg;
    this.segs[c]++;
    this.nextSeq[c] = (this.nextSeq[c] + seg) | 0;
    s[ht + 13] |= flags & BURST_END;
    // the newest window is the one that counts
    s[ht + 14] = buf[ip + l3 + 14];
    s[ht + 15] = buf[ip + l3 + 15];
  }

  private flush(dp: Ports, c: number): void {
    const portId = this.owner[c];
    const port = dp.ports[portId];
    this.release(c);
    if (port === undefined) return;
    const s = this.slab;
    const f = this.base(c);
    const h = f + ETH_HLEN;
    const ipLen = this.ipLen[c];
    const host = port.kind === PortKind.Host;
    const l2 = host ? 0 : ETH_HLEN;
    const start = host ? h : f;
    const v = start - VNET_HDR_LEN;
    s.fill(0, v, start);
    const segs = this.segs[c];
    if (segs > 1) {
      const l3 = this.l3[c];
      const ht = h + l3;
      const thl = (s[ht + 12] >> 4) << 2;
      const len = ipLen - l3;
      if (l3 === IP4_HLEN) {
        writeU16(s, h + 2, ipLen);
        s[h + 10] = 0;
        s[h + 11] = 0;
        writeU16(s, h + 10, internetChecksum(s, h, IP4_HLEN));
      } else {
        writeU16(s, h + 4, len); // the payload length
      }
      // the complete checksum: pseudo-header, the new header, the payloads' sums
      s[ht + 16] = 0;
      s[ht + 17] = 0;
      const sum = l4PseudoSum(addressSum(s, h, l3), 6, len) + sum16(s, ht, thl) + this.dataSum[c];
      writeU16(s, ht + 16, finish(sum));
      s[v] = 0;
      s[v + VNET_GSO_TYPE] = (l3 === IP4_HLEN ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6) | ((s[ht + 13] & TCP_CWR) !== 0 ? VNET_GSO_ECN : 0);
      writeLe16(s, v + VNET_HDR_LENGTH, l2 + l3 + thl);
      writeLe16(s, v + VNET_GSO_SIZE, this.mss[c]);
      dp.counters.gauges[Gauge.GroSegments] += segs;
      dp.counters.gauges[Gauge.GroSuperSegments]++;
    }
    const len = l2 + ipLen;
    if (port.io.send(s, v, len + VNET_HDR_LEN)) dp.counters.tx(portId, len);
    else dp.counters.drop(Drop.TxError);
  }
}

/**
 * TCP payload length of a frame GRO may take (plain IPv4 without options, not a fragment, or IPv6
 * with TCP right behind the fixed header; TCP with data, no SYN/RST/URG), or 0. `eth` is the
 * Ethernet header, -1 for none.
 */
function segmentPayload(buf: Buffer, ip: number, ipLen: number, eth: number): number {
  if (ipLen < IP4_HLEN + 21) return 0;
  const v6 = buf[ip] >>> 4 === 6;
  if (eth >= 0 && etherTypeOf(buf, eth) !== (v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4)) return 0;
  if (v6) {
    if (ipLen < IP6_HLEN + 21 || buf[ip + 6] !== 6 || ((buf[ip + 4] << 8) | buf[ip + 5]) !== ipLen - IP6_HLEN) return 0;
  } else {
    if (buf[ip] !== 0x45 || buf[ip + 9] !== 6) return 0;
    if (((buf[ip + 2] << 8) | buf[ip + 3]) !== ipLen || (buf[ip + 6] & 0x3f) !== 0 || buf[ip + 7] !== 0) return 0;
  }
  const l3 = v6 ? IP6_HLEN : IP4_HLEN;
  const tcp = ip + l3;
  const thl = (buf[tcp + 12] >> 4) << 2;
  const seg = ipLen - l3 - thl;
  if (thl < 20 || seg <= 0 || (buf[tcp + 13] & NO_MERGE) !== 0) return 0;
  return seg;
}

/** The IP header length of a packet segmentPayload took: the family. */
function ipHeaderLength(buf: Buffer, ip: number): number {
  return buf[ip] >>> 4 === 6 ? IP6_HLEN : IP4_HLEN;
}

/** Unfolded sum of the addresses in the IP header at buf[ip] (header length `l3`): the address part of the pseudo-header. */
function addressSum(buf: Buffer, ip: number, l3: number): number {
  return l3 === IP4_HLEN ? ipv4AddressSum(buf.readUInt32BE(ip + 12), buf.readUInt32BE(ip + 16)) : ipv6AddressSum(buf, ip + 8);
}

/**
 * The folded sum of a segment's payload, read off its header: the checksum field makes
 * pseudo-header + header + payload sum to 0xffff, so the payload sums to the complement of the rest.
 */
function payloadSum(buf: Buffer, ip: number, l3: number, ipLen: number): number {
  const tcp = ip + l3;
  const thl = (buf[tcp + 12] >> 4) << 2;
  const rest = l4PseudoSum(addressSum(buf, ip, l3), 6, ipLen - l3) + sum16(buf, tcp, thl);
  return ~fold(rest) & 0xffff;
}
