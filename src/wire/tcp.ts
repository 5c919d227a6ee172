/** TCP header (RFC 9293) over IPv4 or IPv6: fields, checksum, and the options a gateway touches. */
import { fold, sum16, finish, ipv4AddressSum, l4PseudoSum, update16, update32 } from './checksum.js';
import { WireError, checkRoom } from './error.js';
import { IP_PROTO_TCP } from './ipv4.js';

export const TCP_SRC_PORT = 0;
export const TCP_DST_PORT = 2;
export const TCP_SEQ_NUM = 4;
export const TCP_ACK_NUM = 8;
export const TCP_DATA_OFF = 12;
export const TCP_FLAGS = 13;
export const TCP_WINDOW = 14;
export const TCP_CHECKSUM = 16;
export const TCP_URGENT = 18;
export const TCP_MIN_HLEN = 20;
export const TCP_MAX_HLEN = 60;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export const TCP_OPT_END = 0;
export const TCP_OPT_NOP = 1;
export const TCP_OPT_MSS = 2;
export const TCP_OPT_WSCALE = 3;
export const TCP_OPT_SACK_PERMITTED = 4;
export const TCP_OPT_SACK = 5;
export const TCP_OPT_TIMESTAMP = 8;

const EMPTY = Buffer.alloc(0);

/**
 * Re-pointable view of a TCP segment; create once, `wrap` per packet.
 * Pass len = the segment length (IPv4 payloadLength; IPv6: the extension walk's upper-layer length), not the rest of the frame.
 */
/** Header length of the (already validated) TCP header at buf[off], for frames no view is wrapped around. */
export function tcpHeaderLength(buf: Buffer, off: number): number {
  return (buf[off + TCP_DATA_OFF] >> 4) << 2;
}

export class TcpPacket {
  buf: Buffer = EMPTY;
  off = 0;
  len = 0;

  /** Truncated if under 20 bytes; Malformed if data offset < 5 or the header exceeds len. */
  wrap(buf: Buffer, off: number, len: number): number {
    this.buf = buf;
    this.off = off;
    this.len = len;
    if (off < 0 || len < 0 || off + len > buf.length) return WireError.Truncated;
    if (len < TCP_MIN_HLEN) return WireError.Truncated;
    const hlen = (buf[off + TCP_DATA_OFF] >>> 4) << 2;
    if (hlen < TCP_MIN_HLEN || hlen > len) return WireError.Malformed;
    return WireError.Ok;
  }

  get srcPort(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + TCP_SRC_PORT] << 8) | b[o + TCP_SRC_PORT + 1];
  }
  set srcPort(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + TCP_SRC_PORT] = (v >>> 8) & 0xff;
    b[o + TCP_SRC_PORT + 1] = v & 0xff;
  }

  get dstPort(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + TCP_DST_PORT] << 8) | b[o + TCP_DST_PORT + 1];
  }
  set dstPort(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + TCP_DST_PORT] = (v >>> 8) & 0xff;
    b[o + TCP_DST_PORT + 1] = v & 0xff;
  }

  get seq(): number {
    const b = this.buf;
    const o = this.off + TCP_SEQ_NUM;
    return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  }
  set seq(v: number) {
    const b = this.buf;
    const o = this.off + TCP_SEQ_NUM;
    b[o] = v >>> 24;
    b[o + 1] = (v >>> 16) & 0xff;
    b[o + 2] = (v >>> 8) & 0xff;
    b[o + 3] = v & 0xff;
  }

  get ack(): number {
    const b = this.buf;
    const o = this.off + TCP_ACK_NUM;
    return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  }
  set ack(v: number) {
    const b = this.buf;
    const o = this.off + TCP_ACK_NUM;
    b[o] = v >>> 24;
    b[o + 1] = (v >>> 16) & 0xff;
    b[o + 2] = (v >>> 8) & 0xff;
    b[o + 3] = v & 0xff;
  }

  /** Header length in bytes (data offset * 4), options included. */
  get headerLength(): number {
    return (this.buf[this.off + TCP_DATA_OFF] >>> 4) << 2;
  }
  set headerLength(bytes: number) {
    const i = this.off + TCP_DATA_OFF;
    this.buf[i] = (((bytes >>> 2) & 0x0f) << 4) | (this.buf[i] & 0x0f);
  }

  /** The 8 flag bits of byte 13 (TCP_FIN..TCP_CWR); the NS bit in byte 12 is not included. */
  get flags(): number {
    return this.buf[this.off + TCP_FLAGS];
  }
  set flags(v: number) {
    this.buf[this.off + TCP_FLAGS] = v & 0xff;
  }

  get window(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + TCP_WINDOW] << 8) | b[o + TCP_WINDOW + 1];
  }
  set window(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + TCP_WINDOW] = (v >>> 8) & 0xff;
    b[o + TCP_WINDOW + 1] = v & 0xff;
  }

  get checksum(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + TCP_CHECKSUM] << 8) | b[o + TCP_CHECKSUM + 1];
  }
  set checksum(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + TCP_CHECKSUM] = (v >>> 8) & 0xff;
    b[o + TCP_CHECKSUM + 1] = v & 0xff;
  }

  get urgent(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + TCP_URGENT] << 8) | b[o + TCP_URGENT + 1];
  }
  set urgent(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + TCP_URGENT] = (v >>> 8) & 0xff;
    b[o + TCP_URGENT + 1] = v & 0xff;
  }

  /** Absolute offset of the options (may be empty). */
  get optionsOffset(): number {
    return this.off + TCP_MIN_HLEN;
  }

  get optionsLength(): number {
    return this.headerLength - TCP_MIN_HLEN;
  }

  /** Absolute offset of the payload in `buf`. */
  get payloadOffset(): number {
    return this.off + this.headerLength;
  }

  /** len - headerLength. */
  get payloadLength(): number {
    return this.len - this.headerLength;
  }

  /** True if the segment plus the IPv4 pseudo-header sums to 0xffff. segLen defaults to the wrapped length. */
  verifyChecksum(srcIp: number, dstIp: number, segLen: number = this.len): boolean {
    return this.verifyChecksumWith(ipv4AddressSum(srcIp, dstIp), segLen);
  }

  /** verifyChecksum for either family, from the pseudo-header's address sum (Ipv6Packet.addressSum() for IPv6). */
  verifyChecksumWith(addrSum: number, segLen: number = this.len): boolean {
    return fold(sum16(this.buf, this.off, segLen, l4PseudoSum(addrSum, IP_PROTO_TCP, segLen))) === 0xffff;
  }

  /** Recompute the checksum from scratch (IPv4). segLen defaults to the wrapped length. */
  fillChecksum(srcIp: number, dstIp: number, segLen: number = this.len): void {
    this.fillChecksumWith(ipv4AddressSum(srcIp, dstIp), segLen);
  }

  /** fillChecksum for either family, from the pseudo-header's address sum. */
  fillChecksumWith(addrSum: number, segLen: number = this.len): void {
    const b = this.buf;
    const o = this.off;
    b[o + TCP_CHECKSUM] = 0;
    b[o + TCP_CHECKSUM + 1] = 0;
    const c = finish(sum16(b, o, segLen, l4PseudoSum(addrSum, IP_PROTO_TCP, segLen)));
    b[o + TCP_CHECKSUM] = c >>> 8;
    b[o + TCP_CHECKSUM + 1] = c & 0xff;
  }

  /** RFC 1624 patch for a 16-bit word covered by the checksum (a port) changing. */
  adjustChecksum16(oldWord: number, newWord: number): void {
    this.checksum = update16(this.checksum, oldWord, newWord);
  }

  /** RFC 1624 patch for a 32-bit value changing: an IPv4 address in the pseudo-header (NAT). */
  adjustChecksum32(oldVal: number, newVal: number): void {
    this.checksum = update32(this.checksum, oldVal, newVal);
  }

  setSrcPortIncremental(port: number): void {
    const old = this.srcPort;
    this.srcPort = port;
    this.adjustChecksum16(old, port & 0xffff);
  }

  setDstPortIncremental(port: number): void {
    const old = this.dstPort;
    this.dstPort = port;
    this.adjustChecksum16(old, port & 0xffff);
  }

  /**
   * Absolute offset of the first option of `kind` (its kind byte), or -1.
   * Stops at END or at a malformed length, as Linux does; never reads past the header.
   */
  findOption(kind: number): number {
    const b = this.buf;
    const end = this.off + this.headerLength;
    let i = this.off + TCP_MIN_HLEN;
    while (i < end) {
      const k = b[i];
      if (k === TCP_OPT_END) return -1;
      if (k === TCP_OPT_NOP) {
        i++;
        continue;
      }
      if (i + 1 >= end) return -1;
      const olen = b[i + 1];
      if (olen < 2 || i + olen > end) return -1;
      if (k === kind) return i;
      i += olen;
    }
    return -1;
  }

  /** The MSS option value, or -1 if absent or malformed. */
  get mss(): number {
    const i = this.findOption(TCP_OPT_MSS);
    if (i < 0 || this.buf[i + 1] !== 4) return -1;
    return (this.buf[i + 2] << 8) | this.buf[i + 3];
  }

  /**
   * Lower the MSS option to maxMss if it is larger (MSS clamping for tunnel MTUs),
   * patching the checksum incrementally. Returns true if the segment changed.
   */
  clampMss(maxMss: number): boolean {
    const i = this.findOption(TCP_OPT_MSS);
    if (i < 0 || this.buf[i + 1] !== 4) return false;
    const b = this.buf;
    const v = i + 2;
    const old = (b[v] << 8) | b[v + 1];
    if (old <= maxMss) return false;
    b[v] = (maxMss >>> 8) & 0xff;
    b[v + 1] = maxMss & 0xff;
    // A value at an odd offset straddles two checksum words; ones-complement sums commute
    // with byte swapping (RFC 1071 2(B)), so patch with the byte-swapped values instead.
    if (((v - this.off) & 1) === 0) this.adjustChecksum16(old, maxMss & 0xffff);
    else this.adjustChecksum16(swap16(old), swap16(maxMss & 0xffff));
    return true;
  }
}

function swap16(v: number): number {
  return ((v & 0xff) << 8) | (v >>> 8);
}

export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent?: number;
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  timestamp?: { tsVal: number; tsEcr: number };
  payload: Buffer;
}

function optionsLen(r: TcpRepr): number {
  let n = 0;
  if (r.mss !== undefined) n += 4;
  if (r.timestamp !== undefined) n += 12;
  else if (r.sackPermitted === true) n += 4;
  if (r.windowScale !== undefined) n += 4;
  return n;
}

export const TcpRepr = {
  bufferLen(repr: TcpRepr): number {
    return TCP_MIN_HLEN + optionsLen(repr) + repr.payload.length;
  },

  /**
   * Header fields, the MSS / window-scale / SACK-permitted / timestamp options
   * (others, e.g. SACK blocks, are skipped), and a copy of the payload. The checksum is not checked.
   */
  parse(p: TcpPacket): TcpRepr {
    const repr: TcpRepr = {
      srcPort: p.srcPort,
      dstPort: p.dstPort,
      seq: p.seq,
      ack: p.ack,
      flags: p.flags,
      window: p.window,
      urgent: p.urgent,
      sackPermitted: false,
      payload: Buffer.from(p.buf.subarray(p.payloadOffset, p.off + p.len)),
    };
    const b = p.buf;
    const end = p.off + p.headerLength;
    let i = p.off + TCP_MIN_HLEN;
    while (i < end) {
      const k = b[i];
      if (k === TCP_OPT_END) break;
      if (k === TCP_OPT_NOP) {
        i++;
        continue;
      }
      if (i + 1 >= end) break;
      const olen = b[i + 1];
      // Malformed length: stop like Linux's tcp_parse_options instead of guessing.
      if (olen < 2 || i + olen > end) break;
      if (k === TCP_OPT_MSS && olen === 4) repr.mss = (b[i + 2] << 8) | b[i + 3];
      else if (k === TCP_OPT_WSCALE && olen === 3) repr.windowScale = b[i + 2];
      else if (k === TCP_OPT_SACK_PERMITTED && olen === 2) repr.sackPermitted = true;
      else if (k === TCP_OPT_TIMESTAMP && olen === 10) {
        repr.timestamp = { tsVal: b.readUInt32BE(i + 2), tsEcr: b.readUInt32BE(i + 6) };
      }
      i += olen;
    }
    return repr;
  },

  /**
   * Write header, options and payload with the checksum for srcIp/dstIp; returns bytes written.
   * Options go in Linux's order (MSS, SACK-permitted + timestamps, NOP + window scale) so a
   * parsed Linux SYN re-emits byte for byte.
   */
  emit(repr: TcpRepr, buf: Buffer, off: number, srcIp: number, dstIp: number): number {
    return TcpRepr.emitWith(repr, buf, off, ipv4AddressSum(srcIp, dstIp));
  },

  /** emit for either family, from the pseudo-header's address sum (ipv6AddressSumWords for IPv6). */
  emitWith(repr: TcpRepr, buf: Buffer, off: number, addrSum: number): number {
    const hlen = TCP_MIN_HLEN + optionsLen(repr);
    const total = hlen + repr.payload.length;
    checkRoom(buf, off, total);
    buf.writeUInt16BE(repr.srcPort & 0xffff, off + TCP_SRC_PORT);
    buf.writeUInt16BE(repr.dstPort & 0xffff, off + TCP_DST_PORT);
    buf.writeUInt32BE(repr.seq >>> 0, off + TCP_SEQ_NUM);
    buf.writeUInt32BE(repr.ack >>> 0, off + TCP_ACK_NUM);
    buf[off + TCP_DATA_OFF] = (hlen >>> 2) << 4;
    buf[off + TCP_FLAGS] = repr.flags & 0xff;
    buf.writeUInt16BE(repr.window & 0xffff, off + TCP_WINDOW);
    buf.writeUInt16BE(0, off + TCP_CHECKSUM);
    buf.writeUInt16BE((repr.urgent ?? 0) & 0xffff, off + TCP_URGENT);
    let i = off + TCP_MIN_HLEN;
    if (repr.mss !== undefined) {
      buf[i] = TCP_OPT_MSS;
      buf[i + 1] = 4;
      buf.writeUInt16BE(repr.mss & 0xffff, i + 2);
      i += 4;
    }
    if (repr.timestamp !== undefined) {
      if (repr.sackPermitted === true) {
        buf[i] = TCP_OPT_SACK_PERMITTED;
        buf[i + 1] = 2;
      } else {
        buf[i] = TCP_OPT_NOP;
        buf[i + 1] = TCP_OPT_NOP;
      }
      buf[i + 2] = TCP_OPT_TIMESTAMP;
      buf[i + 3] = 10;
      buf.writeUInt32BE(repr.timestamp.tsVal >>> 0, i + 4);
      buf.writeUInt32BE(repr.timestamp.tsEcr >>> 0, i + 8);
      i += 12;
    } else if (repr.sackPermitted === true) {
      buf[i] = TCP_OPT_NOP;
      buf[i + 1] = TCP_OPT_NOP;
      buf[i + 2] = TCP_OPT_SACK_PERMITTED;
      buf[i + 3] = 2;
      i += 4;
    }
    if (repr.windowScale !== undefined) {
      buf[i] = TCP_OPT_NOP;
      buf[i + 1] = TCP_OPT_WSCALE;
      buf[i + 2] = 3;
      buf[i + 3] = repr.windowScale & 0xff;
      i += 4;
    }
    repr.payload.copy(buf, i);
    const c = finish(sum16(buf, off, total, l4PseudoSum(addrSum, IP_PROTO_TCP, total)));
    buf[off + TCP_CHECKSUM] = c >>> 8;
    buf[off + TCP_CHECKSUM + 1] = c & 0xff;
    return total;
  },
};
