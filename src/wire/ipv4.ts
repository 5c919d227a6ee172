/** IPv4 header (RFC 791). */
import { fold, sum16, internetChecksum, update16, update32 } from './checksum.js';
import { WireError, checkRoom } from './error.js';

export const IPV4_VER_IHL = 0;
export const IPV4_DSCP_ECN = 1;
export const IPV4_TOTAL_LEN = 2;
export const IPV4_IDENT = 4;
export const IPV4_FLAGS_FRAG = 6;
export const IPV4_TTL = 8;
export const IPV4_PROTO = 9;
export const IPV4_CHECKSUM = 10;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;
export const IPV4_MIN_HLEN = 20;

/** Bits of the 16-bit flags/fragment-offset word. */
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAG_OFFSET_MASK = 0x1fff;

export const IP_PROTO_ICMP = 1;
export const IP_PROTO_TCP = 6;
export const IP_PROTO_UDP = 17;

/** The transports that have ports (published ports, NAT port mappings). */
export type PortProtocol = typeof IP_PROTO_TCP | typeof IP_PROTO_UDP;

/** The IP protocol number of a transport named in the API or the state file ("tcp" → 6). */
export function ipProtocolNumber(proto: 'tcp' | 'udp'): PortProtocol {
  return proto === 'udp' ? IP_PROTO_UDP : IP_PROTO_TCP;
}

/** The name conntrack listings give a tracked protocol (6 → "tcp"; anything else tracked is ICMP). */
export function trackedProtocolName(proto: number): 'tcp' | 'udp' | 'icmp' {
  return proto === IP_PROTO_TCP ? 'tcp' : proto === IP_PROTO_UDP ? 'udp' : 'icmp';
}

const EMPTY = Buffer.alloc(0);

/**
 * Re-pointable view of an IPv4 packet; create once, `wrap` per packet.
 * `len` is the length handed to wrap (it may exceed totalLength because of
 * Ethernet padding); use totalLength / payloadLength for the real extent.
 */
/** Header length of the (already validated) IPv4 header at buf[off], for frames no view is wrapped around. */
export function ipv4HeaderLength(buf: Buffer, off: number): number {
  return (buf[off + IPV4_VER_IHL] & 0x0f) << 2;
}

/** The DF bit of the (already validated) IPv4 header at buf[off]. */
export function ipv4DontFragment(buf: Buffer, off: number): boolean {
  return (buf[off + IPV4_FLAGS_FRAG] & (IPV4_FLAG_DF >>> 8)) !== 0;
}

/** Source and destination of the (already validated) IPv4 header at buf[off], as uint32. */
export function ipv4Src(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off + IPV4_SRC);
}
export function ipv4Dst(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off + IPV4_DST);
}

export class Ipv4Packet {
  buf: Buffer = EMPTY;
  off = 0;
  len = 0;

  /**
   * Checks version 4, IHL >= 5, header within len (else Truncated),
   * hlen <= totalLength (else Malformed) and totalLength <= len (else Truncated).
   */
  wrap(buf: Buffer, off: number, len: number): number {
    const e = this.wrapHeader(buf, off, len);
    if (e !== WireError.Ok) return e;
    if (((buf[off + IPV4_TOTAL_LEN] << 8) | buf[off + IPV4_TOTAL_LEN + 1]) > len) return WireError.Truncated;
    return WireError.Ok;
  }

  /**
   * Like wrap but allows totalLength > len: for the header quoted inside an
   * ICMP error, whose payload the sender cut short. payloadLength then
   * overstates what is present; only `len - headerLength` bytes follow.
   */
  wrapPartial(buf: Buffer, off: number, len: number): number {
    return this.wrapHeader(buf, off, len);
  }

  private wrapHeader(buf: Buffer, off: number, len: number): number {
    this.buf = buf;
    this.off = off;
    this.len = len;
    if (off < 0 || len < 0 || off + len > buf.length) return WireError.Truncated;
    if (len < IPV4_MIN_HLEN) return WireError.Truncated;
    const vihl = buf[off];
    if (vihl >>> 4 !== 4) return WireError.Malformed;
    const hlen = (vihl & 0x0f) << 2;
    if (hlen < IPV4_MIN_HLEN) return WireError.Malformed;
    if (hlen > len) return WireError.Truncated;
    if (((buf[off + IPV4_TOTAL_LEN] << 8) | buf[off + IPV4_TOTAL_LEN + 1]) < hlen) return WireError.Malformed;
    return WireError.Ok;
  }

  get version(): number {
    return this.buf[this.off] >>> 4;
  }

  /** Header length in bytes (IHL * 4). */
  get headerLength(): number {
    return (this.buf[this.off] & 0x0f) << 2;
  }

  get dscpEcn(): number {
    return this.buf[this.off + IPV4_DSCP_ECN];
  }
  set dscpEcn(v: number) {
    this.buf[this.off + IPV4_DSCP_ECN] = v & 0xff;
  }

  get totalLength(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + IPV4_TOTAL_LEN] << 8) | b[o + IPV4_TOTAL_LEN + 1];
  }
  set totalLength(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + IPV4_TOTAL_LEN] = (v >>> 8) & 0xff;
    b[o + IPV4_TOTAL_LEN + 1] = v & 0xff;
  }

  get ident(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + IPV4_IDENT] << 8) | b[o + IPV4_IDENT + 1];
  }
  set ident(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + IPV4_IDENT] = (v >>> 8) & 0xff;
    b[o + IPV4_IDENT + 1] = v & 0xff;
  }

  get dontFragment(): boolean {
    return (this.buf[this.off + IPV4_FLAGS_FRAG] & 0x40) !== 0;
  }
  set dontFragment(v: boolean) {
    const i = this.off + IPV4_FLAGS_FRAG;
    this.buf[i] = v ? this.buf[i] | 0x40 : this.buf[i] & ~0x40;
  }

  get moreFragments(): boolean {
    return (this.buf[this.off + IPV4_FLAGS_FRAG] & 0x20) !== 0;
  }
  set moreFragments(v: boolean) {
    const i = this.off + IPV4_FLAGS_FRAG;
    this.buf[i] = v ? this.buf[i] | 0x20 : this.buf[i] & ~0x20;
  }

  /** Fragment offset in 8-byte units. */
  get fragmentOffset(): number {
    const b = this.buf;
    const o = this.off;
    return ((b[o + IPV4_FLAGS_FRAG] & 0x1f) << 8) | b[o + IPV4_FLAGS_FRAG + 1];
  }
  set fragmentOffset(units: number) {
    const b = this.buf;
    const o = this.off;
    b[o + IPV4_FLAGS_FRAG] = (b[o + IPV4_FLAGS_FRAG] & 0xe0) | ((units >>> 8) & 0x1f);
    b[o + IPV4_FLAGS_FRAG + 1] = units & 0xff;
  }

  /** MF set or non-zero offset: any piece of a fragmented datagram. */
  get isFragment(): boolean {
    const b = this.buf;
    const o = this.off;
    return ((b[o + IPV4_FLAGS_FRAG] & 0x3f) | b[o + IPV4_FLAGS_FRAG + 1]) !== 0;
  }

  get ttl(): number {
    return this.buf[this.off + IPV4_TTL];
  }
  set ttl(v: number) {
    this.buf[this.off + IPV4_TTL] = v & 0xff;
  }

  get protocol(): number {
    return this.buf[this.off + IPV4_PROTO];
  }
  set protocol(v: number) {
    this.buf[this.off + IPV4_PROTO] = v & 0xff;
  }

  get headerChecksum(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + IPV4_CHECKSUM] << 8) | b[o + IPV4_CHECKSUM + 1];
  }
  set headerChecksum(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + IPV4_CHECKSUM] = (v >>> 8) & 0xff;
    b[o + IPV4_CHECKSUM + 1] = v & 0xff;
  }

  get src(): number {
    const b = this.buf;
    const o = this.off + IPV4_SRC;
    return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  }
  set src(ip: number) {
    const b = this.buf;
    const o = this.off + IPV4_SRC;
    b[o] = ip >>> 24;
    b[o + 1] = (ip >>> 16) & 0xff;
    b[o + 2] = (ip >>> 8) & 0xff;
    b[o + 3] = ip & 0xff;
  }

  get dst(): number {
    const b = this.buf;
    const o = this.off + IPV4_DST;
    return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  }

  /**
   * src and dst as int32 (the same bits): what the fast path compares and stores. A uint32 above
   * 2^31 returned by a getter V8 does not inline is a heap number, an allocation per packet; an
   * int32 never is.
   */
  get srcI32(): number {
    const b = this.buf;
    const o = this.off + IPV4_SRC;
    return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
  }

  get dstI32(): number {
    const b = this.buf;
    const o = this.off + IPV4_DST;
    return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
  }
  set dst(ip: number) {
    const b = this.buf;
    const o = this.off + IPV4_DST;
    b[o] = ip >>> 24;
    b[o + 1] = (ip >>> 16) & 0xff;
    b[o + 2] = (ip >>> 8) & 0xff;
    b[o + 3] = ip & 0xff;
  }

  /** Absolute offset of the payload (after options) in `buf`. */
  get payloadOffset(): number {
    return this.off + ((this.buf[this.off] & 0x0f) << 2);
  }

  /** totalLength - headerLength: the L4 segment length. */
  get payloadLength(): number {
    return this.totalLength - this.headerLength;
  }

  /** True if the header (options included) sums to 0xffff. */
  verifyChecksum(): boolean {
    return fold(sum16(this.buf, this.off, this.headerLength, 0)) === 0xffff;
  }

  /** Recompute the header checksum from scratch. */
  fillChecksum(): void {
    const b = this.buf;
    const o = this.off;
    b[o + IPV4_CHECKSUM] = 0;
    b[o + IPV4_CHECKSUM + 1] = 0;
    const c = internetChecksum(b, o, this.headerLength);
    b[o + IPV4_CHECKSUM] = c >>> 8;
    b[o + IPV4_CHECKSUM + 1] = c & 0xff;
  }

  /**
   * TTL - 1 with an RFC 1624 update of the checksum (the TTL/protocol word).
   * The caller checks ttl > 1 first (and sends TIME_EXCEEDED otherwise); 0 wraps to 255.
   */
  decrementTtl(): void {
    const b = this.buf;
    const o = this.off;
    const oldWord = (b[o + IPV4_TTL] << 8) | b[o + IPV4_PROTO];
    const ttl = (b[o + IPV4_TTL] - 1) & 0xff;
    b[o + IPV4_TTL] = ttl;
    const c = update16((b[o + IPV4_CHECKSUM] << 8) | b[o + IPV4_CHECKSUM + 1], oldWord, (ttl << 8) | b[o + IPV4_PROTO]);
    b[o + IPV4_CHECKSUM] = c >>> 8;
    b[o + IPV4_CHECKSUM + 1] = c & 0xff;
  }

  /** Rewrite src and patch the header checksum incrementally (TCP/UDP checksums are the caller's job). */
  setSrcIncremental(ip: number): void {
    // int32 arguments: a uint32 above 2^31 would be boxed (allocated) if update32 is not inlined
    const old = this.srcI32;
    this.src = ip;
    this.headerChecksum = update32(this.headerChecksum, old, ip | 0);
  }

  /** Rewrite dst and patch the header checksum incrementally (TCP/UDP checksums are the caller's job). */
  setDstIncremental(ip: number): void {
    const old = this.dstI32;
    this.dst = ip;
    this.headerChecksum = update32(this.headerChecksum, old, ip | 0);
  }
}

export interface Ipv4Repr {
  src: number;
  dst: number;
  protocol: number;
  ttl: number;
  /** Bytes after the header; emit writes totalLength = 20 + payloadLength. */
  payloadLength: number;
  ident?: number;
  dontFragment?: boolean;
  dscpEcn?: number;
}

export const Ipv4Repr = {
  bufferLen(_repr: Ipv4Repr): number {
    return IPV4_MIN_HLEN;
  },

  /** Header fields of a wrapped packet. Options are dropped; checksum and fragmentation are not checked. */
  parse(p: Ipv4Packet): Ipv4Repr {
    return {
      src: p.src,
      dst: p.dst,
      protocol: p.protocol,
      ttl: p.ttl,
      payloadLength: p.payloadLength,
      ident: p.ident,
      dontFragment: p.dontFragment,
      dscpEcn: p.dscpEcn,
    };
  },

  /** Write a 20-byte header (no options, not a fragment) with a correct checksum; returns 20. */
  emit(repr: Ipv4Repr, buf: Buffer, off: number): number {
    checkRoom(buf, off, IPV4_MIN_HLEN);
    const total = IPV4_MIN_HLEN + repr.payloadLength;
    if (repr.payloadLength < 0 || total > 0xffff) throw new RangeError(`IPv4 payload length ${repr.payloadLength} out of range`);
    const ident = repr.ident ?? 0;
    buf[off + IPV4_VER_IHL] = 0x45;
    buf[off + IPV4_DSCP_ECN] = (repr.dscpEcn ?? 0) & 0xff;
    buf[off + IPV4_TOTAL_LEN] = total >>> 8;
    buf[off + IPV4_TOTAL_LEN + 1] = total & 0xff;
    buf[off + IPV4_IDENT] = (ident >>> 8) & 0xff;
    buf[off + IPV4_IDENT + 1] = ident & 0xff;
    buf[off + IPV4_FLAGS_FRAG] = repr.dontFragment === true ? 0x40 : 0;
    buf[off + IPV4_FLAGS_FRAG + 1] = 0;
    buf[off + IPV4_TTL] = repr.ttl & 0xff;
    buf[off + IPV4_PROTO] = repr.protocol & 0xff;
    buf.writeUInt32BE(repr.src >>> 0, off + IPV4_SRC);
    buf.writeUInt32BE(repr.dst >>> 0, off + IPV4_DST);
    buf[off + IPV4_CHECKSUM] = 0;
    buf[off + IPV4_CHECKSUM + 1] = 0;
    const c = internetChecksum(buf, off, IPV4_MIN_HLEN);
    buf[off + IPV4_CHECKSUM] = c >>> 8;
    buf[off + IPV4_CHECKSUM + 1] = c & 0xff;
    return IPV4_MIN_HLEN;
  },
};
