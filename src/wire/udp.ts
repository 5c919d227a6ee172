/** UDP (RFC 768) over IPv4, and over IPv6 (RFC 8200 8.1: the checksum is mandatory). */
import { fold, sum16, finish, ipv4AddressSum, l4PseudoSum, update16, update32 } from './checksum.js';
import { WireError, checkRoom } from './error.js';
import { IP_PROTO_UDP } from './ipv4.js';

export const UDP_SRC_PORT = 0;
export const UDP_DST_PORT = 2;
export const UDP_LENGTH = 4;
export const UDP_CHECKSUM = 6;
export const UDP_HLEN = 8;

const EMPTY = Buffer.alloc(0);

/**
 * Re-pointable view of a UDP datagram; create once, `wrap` per packet.
 * Pass len = the IPv4 payloadLength (IPv6: the extension walk's upper-layer length). The datagram extent is the `length` field.
 */
export class UdpPacket {
  buf: Buffer = EMPTY;
  off = 0;
  len = 0;

  /** Truncated if under 8 bytes; Malformed if the length field is < 8 or > len. */
  wrap(buf: Buffer, off: number, len: number): number {
    this.buf = buf;
    this.off = off;
    this.len = len;
    if (off < 0 || len < 0 || off + len > buf.length) return WireError.Truncated;
    if (len < UDP_HLEN) return WireError.Truncated;
    const l = (buf[off + UDP_LENGTH] << 8) | buf[off + UDP_LENGTH + 1];
    if (l < UDP_HLEN || l > len) return WireError.Malformed;
    return WireError.Ok;
  }

  get srcPort(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + UDP_SRC_PORT] << 8) | b[o + UDP_SRC_PORT + 1];
  }
  set srcPort(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + UDP_SRC_PORT] = (v >>> 8) & 0xff;
    b[o + UDP_SRC_PORT + 1] = v & 0xff;
  }

  get dstPort(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + UDP_DST_PORT] << 8) | b[o + UDP_DST_PORT + 1];
  }
  set dstPort(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + UDP_DST_PORT] = (v >>> 8) & 0xff;
    b[o + UDP_DST_PORT + 1] = v & 0xff;
  }

  get length(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + UDP_LENGTH] << 8) | b[o + UDP_LENGTH + 1];
  }
  set length(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + UDP_LENGTH] = (v >>> 8) & 0xff;
    b[o + UDP_LENGTH + 1] = v & 0xff;
  }

  get checksum(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + UDP_CHECKSUM] << 8) | b[o + UDP_CHECKSUM + 1];
  }
  set checksum(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + UDP_CHECKSUM] = (v >>> 8) & 0xff;
    b[o + UDP_CHECKSUM + 1] = v & 0xff;
  }

  get payloadOffset(): number {
    return this.off + UDP_HLEN;
  }

  /** length - 8. */
  get payloadLength(): number {
    return this.length - UDP_HLEN;
  }

  /** IPv4: a zero checksum means "not computed" (RFC 768) and verifies true. */
  verifyChecksum(srcIp: number, dstIp: number): boolean {
    const b = this.buf;
    const o = this.off;
    if ((b[o + UDP_CHECKSUM] | b[o + UDP_CHECKSUM + 1]) === 0) return true;
    return this.sumsToZero(ipv4AddressSum(srcIp, dstIp));
  }

  /** IPv6 (addrSum = Ipv6Packet.addressSum()): a zero checksum is invalid (RFC 8200 8.1). */
  verifyChecksumIpv6(addrSum: number): boolean {
    const b = this.buf;
    const o = this.off;
    if ((b[o + UDP_CHECKSUM] | b[o + UDP_CHECKSUM + 1]) === 0) return false;
    return this.sumsToZero(addrSum);
  }

  /** The datagram (length-field extent) plus the pseudo-header of `addrSum` sums to 0xffff. */
  private sumsToZero(addrSum: number): boolean {
    const l = this.length;
    return fold(sum16(this.buf, this.off, l, l4PseudoSum(addrSum, IP_PROTO_UDP, l))) === 0xffff;
  }

  /** Compute and store the checksum (IPv4); a computed 0 is sent as 0xffff since 0 means "none". */
  fillChecksum(srcIp: number, dstIp: number): void {
    this.fillChecksumWith(ipv4AddressSum(srcIp, dstIp));
  }

  /** fillChecksum for either family from the pseudo-header's address sum (ipv4AddressSum / Ipv6Packet.addressSum()). */
  fillChecksumWith(addrSum: number): void {
    const b = this.buf;
    const o = this.off;
    const l = this.length;
    b[o + UDP_CHECKSUM] = 0;
    b[o + UDP_CHECKSUM + 1] = 0;
    const c = finish(sum16(b, o, l, l4PseudoSum(addrSum, IP_PROTO_UDP, l))) || 0xffff;
    b[o + UDP_CHECKSUM] = c >>> 8;
    b[o + UDP_CHECKSUM + 1] = c & 0xff;
  }

  /**
   * RFC 1624 patch for a 16-bit word covered by the checksum (port) changing.
   * Leaves a zero ("none") checksum alone; a result of 0 is stored as 0xffff.
   */
  adjustChecksum16(oldWord: number, newWord: number): void {
    const c = this.checksum;
    if (c === 0) return;
    this.checksum = update16(c, oldWord, newWord) || 0xffff;
  }

  /** adjustChecksum16 for a 32-bit value: an IPv4 address in the pseudo-header (NAT). */
  adjustChecksum32(oldVal: number, newVal: number): void {
    const c = this.checksum;
    if (c === 0) return;
    this.checksum = update32(c, oldVal, newVal) || 0xffff;
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
}

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

export const UdpRepr = {
  bufferLen(repr: UdpRepr): number {
    return UDP_HLEN + repr.payload.length;
  },

  /** Ports and a copy of the payload (length-field extent). The checksum is not checked. */
  parse(p: UdpPacket): UdpRepr {
    const start = p.off + UDP_HLEN;
    return { srcPort: p.srcPort, dstPort: p.dstPort, payload: Buffer.from(p.buf.subarray(start, start + p.payloadLength)) };
  },

  /** Write header + payload with the checksum for srcIp/dstIp (IPv4); returns bytes written. */
  emit(repr: UdpRepr, buf: Buffer, off: number, srcIp: number, dstIp: number): number {
    return UdpRepr.emitWith(repr, buf, off, ipv4AddressSum(srcIp, dstIp));
  },

  /** emit for either family, from the pseudo-header's address sum (ipv6AddressSumWords for IPv6). */
  emitWith(repr: UdpRepr, buf: Buffer, off: number, addrSum: number): number {
    const total = UDP_HLEN + repr.payload.length;
    if (total > 0xffff) throw new RangeError(`UDP datagram of ${total} bytes too long`);
    checkRoom(buf, off, total);
    buf[off + UDP_SRC_PORT] = (repr.srcPort >>> 8) & 0xff;
    buf[off + UDP_SRC_PORT + 1] = repr.srcPort & 0xff;
    buf[off + UDP_DST_PORT] = (repr.dstPort >>> 8) & 0xff;
    buf[off + UDP_DST_PORT + 1] = repr.dstPort & 0xff;
    buf[off + UDP_LENGTH] = total >>> 8;
    buf[off + UDP_LENGTH + 1] = total & 0xff;
    buf[off + UDP_CHECKSUM] = 0;
    buf[off + UDP_CHECKSUM + 1] = 0;
    repr.payload.copy(buf, off + UDP_HLEN);
    const c = finish(sum16(buf, off, total, l4PseudoSum(addrSum, IP_PROTO_UDP, total))) || 0xffff;
    buf[off + UDP_CHECKSUM] = c >>> 8;
    buf[off + UDP_CHECKSUM + 1] = c & 0xff;
    return total;
  },
};
