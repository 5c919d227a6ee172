/** IPv6 fixed header (RFC 8200 3) and the walk over its extension headers (RFC 8200 4). */
import { ipv6AddressSum, ipv6AddressSumWords, sum16 } from './checksum.js';
import { WireError, checkRoom } from './error.js';
import { IP_PROTO_TCP, IP_PROTO_UDP } from './ipv4.js';
import { type Ipv6Words, readIpv6 } from './ipv6-address.js';
import { readI32, writeU32 } from './bytes.js';

export const IPV6_VER_TC_FL = 0;
export const IPV6_PAYLOAD_LEN = 4;
export const IPV6_NEXT_HEADER = 6;
export const IPV6_HOP_LIMIT = 7;
export const IPV6_SRC = 8;
export const IPV6_DST = 24;
export const IPV6_HLEN = 40;

/** The minimum link MTU of IPv6 (RFC 8200 5): ICMPv6 errors fit in it (RFC 4443 2.4(c)). */
export const IPV6_MIN_MTU = 1280;

// Next-header numbers (IANA "Assigned Internet Protocol Numbers"; TCP and UDP shared with IPv4).
export const IPV6_NH_HOP_BY_HOP = 0;
export const IPV6_NH_TCP = IP_PROTO_TCP;
export const IPV6_NH_UDP = IP_PROTO_UDP;
export const IPV6_NH_ROUTING = 43;
export const IPV6_NH_FRAGMENT = 44;
export const IPV6_NH_ESP = 50;
export const IPV6_NH_AH = 51;
export const IPV6_NH_ICMPV6 = 58;
export const IPV6_NH_NONE = 59;
export const IPV6_NH_DEST_OPTIONS = 60;
/** ICMPv6 as an IP protocol number, the name IPv4's files use for theirs. */
export const IP_PROTO_ICMPV6 = IPV6_NH_ICMPV6;

/** How many extension headers the walk follows before it gives up (Malformed): a bound on the work per packet. */
export const IPV6_MAX_EXT_HEADERS = 8;

// Options of the hop-by-hop and destination options headers (RFC 8200 4.2).
export const IPV6_OPT_PAD1 = 0;
export const IPV6_OPT_PADN = 1;
/** Router alert (RFC 2711), carried by MLD reports. */
export const IPV6_OPT_ROUTER_ALERT = 5;
/** The two high bits of an option type: what a node that does not know the option does. */
export const IPV6_OPT_ACTION_SKIP = 0;
export const IPV6_OPT_ACTION_DISCARD = 1;
export const IPV6_OPT_ACTION_DISCARD_REPORT = 2;
export const IPV6_OPT_ACTION_DISCARD_REPORT_UNICAST = 3;

// The fragment header (RFC 8200 4.5): next header, reserved, offset (13 bits) | res | M, identification.
export const IPV6_FRAG_HLEN = 8;
export const IPV6_FRAG_OFFSET_FLAGS = 2;
export const IPV6_FRAG_IDENT = 4;

// The ICMPv6 parameter problem codes (RFC 4443 3.4): declared here, where the walk reports them,
// and named ICMPV6_* by icmpv6.ts (which imports this file, so this one cannot import it).
export const IPV6_PARAM_ERRONEOUS_HEADER = 0;
export const IPV6_PARAM_UNRECOGNIZED_NEXT_HEADER = 1;
export const IPV6_PARAM_UNRECOGNIZED_OPTION = 2;

const EMPTY = Buffer.alloc(0);

// Results of Ipv6ExtensionWalk's option scan (see scanOptions).
const OPTIONS_MALFORMED = -2;
const OPTIONS_FINE = -1;
const OPTION_ACTION_UNIT = 0x20000;
const OPTION_POINTER_MASK = 0x1ffff;

// ---- 32-bit words by bytes: Buffer.readUInt32BE/writeUInt32BE take or return doubles above 2^31,
// boxed (allocated) whenever V8 does not inline them; these helpers are small enough to be.

/** The big-endian uint32 at buf[off]. */
export function readU32(buf: Buffer, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

export { readI32, writeU32 };

/** Writes an address's 16 bytes at buf[off] (ipv6-address.ts's writeIpv6 without its boxing). */
export function putIpv6(buf: Buffer, off: number, a: Ipv6Words): void {
  // | 0: an int32 argument is a small integer, a uint32 above 2^31 would be boxed if writeU32 is not inlined
  writeU32(buf, off, a[0] | 0);
  writeU32(buf, off + 4, a[1] | 0);
  writeU32(buf, off + 8, a[2] | 0);
  writeU32(buf, off + 12, a[3] | 0);
}

/** The 16 bytes at buf[off] are the address `a` (compared as int32 words in place). */
export function ipv6EqualsAt(buf: Buffer, off: number, a: Ipv6Words): boolean {
  return (
    readI32(buf, off) === (a[0] | 0) &&
    readI32(buf, off + 4) === (a[1] | 0) &&
    readI32(buf, off + 8) === (a[2] | 0) &&
    readI32(buf, off + 12) === (a[3] | 0)
  );
}

/**
 * Re-pointable view of an IPv6 packet; create once, `wrap` per packet. `len` is the length
 * handed to wrap (it may exceed 40 + payloadLength because of Ethernet padding).
 * Addresses are read and compared as four 32-bit words in place: nothing is allocated.
 */
export class Ipv6Packet {
  buf: Buffer = EMPTY;
  off = 0;
  len = 0;

  /**
   * Checks the 40-byte header is within len (else Truncated), version 6 (else Malformed), and
   * 40 + payloadLength <= len (else Truncated). A payload length of 0 with a hop-by-hop header is
   * a jumbogram (RFC 2675) or an impossible header: Malformed.
   */
  wrap(buf: Buffer, off: number, len: number): number {
    const e = this.wrapPartial(buf, off, len);
    if (e !== WireError.Ok) return e;
    if (IPV6_HLEN + ((buf[off + IPV6_PAYLOAD_LEN] << 8) | buf[off + IPV6_PAYLOAD_LEN + 1]) > len) return WireError.Truncated;
    return WireError.Ok;
  }

  /**
   * Like wrap but allows 40 + payloadLength > len: for the packet quoted inside an ICMPv6 error,
   * cut short by its sender. payloadLength then overstates what is present; the walk stops at
   * what is (len).
   */
  wrapPartial(buf: Buffer, off: number, len: number): number {
    this.buf = buf;
    this.off = off;
    this.len = len;
    if (off < 0 || len < 0 || off + len > buf.length) return WireError.Truncated;
    if (len < IPV6_HLEN) return WireError.Truncated;
    if (buf[off] >>> 4 !== 6) return WireError.Malformed;
    if (buf[off + IPV6_PAYLOAD_LEN] === 0 && buf[off + IPV6_PAYLOAD_LEN + 1] === 0 && buf[off + IPV6_NEXT_HEADER] === IPV6_NH_HOP_BY_HOP) {
      return WireError.Malformed;
    }
    return WireError.Ok;
  }

  get version(): number {
    return this.buf[this.off] >>> 4;
  }

  /** The 8-bit traffic class (DSCP << 2 | ECN). */
  get trafficClass(): number {
    const b = this.buf;
    const o = this.off;
    return ((b[o] & 0x0f) << 4) | (b[o + 1] >>> 4);
  }
  set trafficClass(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o] = 0x60 | ((v >>> 4) & 0x0f);
    b[o + 1] = ((v & 0x0f) << 4) | (b[o + 1] & 0x0f);
  }

  /** The 20-bit flow label. */
  get flowLabel(): number {
    const b = this.buf;
    const o = this.off;
    return ((b[o + 1] & 0x0f) << 16) | (b[o + 2] << 8) | b[o + 3];
  }
  set flowLabel(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + 1] = (b[o + 1] & 0xf0) | ((v >>> 16) & 0x0f);
    b[o + 2] = (v >>> 8) & 0xff;
    b[o + 3] = v & 0xff;
  }

  /** Bytes after the fixed header, extension headers included. */
  get payloadLength(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + IPV6_PAYLOAD_LEN] << 8) | b[o + IPV6_PAYLOAD_LEN + 1];
  }
  set payloadLength(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + IPV6_PAYLOAD_LEN] = (v >>> 8) & 0xff;
    b[o + IPV6_PAYLOAD_LEN + 1] = v & 0xff;
  }

  /** 40 + payloadLength: the packet's extent (without Ethernet padding). */
  get totalLength(): number {
    return IPV6_HLEN + this.payloadLength;
  }

  get nextHeader(): number {
    return this.buf[this.off + IPV6_NEXT_HEADER];
  }
  set nextHeader(v: number) {
    this.buf[this.off + IPV6_NEXT_HEADER] = v & 0xff;
  }

  get hopLimit(): number {
    return this.buf[this.off + IPV6_HOP_LIMIT];
  }
  set hopLimit(v: number) {
    this.buf[this.off + IPV6_HOP_LIMIT] = v & 0xff;
  }

  /** Hop limit - 1 (IPv6 has no header checksum). The caller checks hopLimit > 1 first (else time exceeded); 0 wraps to 255. */
  decrementHopLimit(): void {
    const i = this.off + IPV6_HOP_LIMIT;
    this.buf[i] = (this.buf[i] - 1) & 0xff;
  }

  /**
   * Word i (0..3, most significant first) of the source address, a uint32 as in Ipv6Words. Above
   * 2^31 that is a double to V8, boxed when the call is not inlined: hash with srcWordI32 and
   * compare with srcEquals on the fast path.
   */
  srcWord(i: number): number {
    return readU32(this.buf, this.off + IPV6_SRC + 4 * i);
  }
  /** srcWord as an int32 (the same 32 bits; never boxed). */
  srcWordI32(i: number): number {
    return readI32(this.buf, this.off + IPV6_SRC + 4 * i);
  }
  setSrcWord(i: number, v: number): void {
    writeU32(this.buf, this.off + IPV6_SRC + 4 * i, v);
  }

  /** Word i (0..3, most significant first) of the destination address (a uint32: see srcWord). */
  dstWord(i: number): number {
    return readU32(this.buf, this.off + IPV6_DST + 4 * i);
  }
  /** dstWord as an int32. */
  dstWordI32(i: number): number {
    return readI32(this.buf, this.off + IPV6_DST + 4 * i);
  }
  setDstWord(i: number, v: number): void {
    writeU32(this.buf, this.off + IPV6_DST + 4 * i, v);
  }

  /** The source equals `a` (compared word by word in place). */
  srcEquals(a: Ipv6Words): boolean {
    return ipv6EqualsAt(this.buf, this.off + IPV6_SRC, a);
  }

  dstEquals(a: Ipv6Words): boolean {
    return ipv6EqualsAt(this.buf, this.off + IPV6_DST, a);
  }

  /** Writes `a` as the source (the words of a table entry or spec: no allocation). */
  setSrc(a: Ipv6Words): void {
    putIpv6(this.buf, this.off + IPV6_SRC, a);
  }

  setDst(a: Ipv6Words): void {
    putIpv6(this.buf, this.off + IPV6_DST, a);
  }

  /** :: as the source: DAD probes and some RSs. */
  get srcIsUnspecified(): boolean {
    const b = this.buf;
    const o = this.off + IPV6_SRC;
    return (readI32(b, o) | readI32(b, o + 4) | readI32(b, o + 8) | readI32(b, o + 12)) === 0;
  }

  /** The source is in fe80::/10. */
  get srcIsLinkLocal(): boolean {
    const b = this.buf;
    const o = this.off + IPV6_SRC;
    return b[o] === 0xfe && (b[o + 1] & 0xc0) === 0x80;
  }

  /** The destination is in ff00::/8. */
  get dstIsMulticast(): boolean {
    return this.buf[this.off + IPV6_DST] === 0xff;
  }

  /** Absolute offset of the first byte after the fixed header. */
  get payloadOffset(): number {
    return this.off + IPV6_HLEN;
  }

  /**
   * The unfolded sum of src and dst: what TCP/UDP/ICMPv6 checksums add their pseudo-header rest to
   * (RFC 8200 8.1) — unless a routing header names another final destination: then the walk's
   * pseudoAddressSum().
   */
  addressSum(): number {
    return ipv6AddressSum(this.buf, this.off + IPV6_SRC);
  }

  /**
   * Walks the extension headers into `out` (reused by the caller: nothing allocated) and returns
   * out.error. See Ipv6ExtensionWalk for what it reports.
   */
  walkExtensions(out: Ipv6ExtensionWalk, maxHeaders: number = IPV6_MAX_EXT_HEADERS): number {
    return out.walk(this.buf, this.off, this.len, maxHeaders);
  }
}

/**
 * The result of walking an IPv6 packet's extension headers: one object, reused per packet.
 *
 * The walk goes from the fixed header through hop-by-hop (only as the first header: RFC 8200
 * 4.1), routing, fragment and destination options headers, at most `maxHeaders` of them, all
 * inside 40 + payloadLength (or the bytes present, if fewer: a quoted packet); it stops at
 * anything else (an upper layer, no next header 59, ESP or AH, an unknown number), and after a
 * fragment header whose offset is not 0 (what follows is the middle of a datagram, not a header).
 * It reads nothing outside the packet.
 *
 * Results: `error` (Truncated when a header runs past the packet, Malformed when an option runs
 * past its header or there are too many headers); `protocol`/`offset`/`length` of where the walk
 * stopped; `fragment` (offset of the fragment header); `routing` (offset of a routing header with
 * segments left > 0: a destination that does not know its type answers parameter problem code 0
 * at `routingPointer`, RFC 8200 4.4; a router forwarding the packet ignores it); and `discard` with
 * `problemCode`/`problemPointer` when the packet must be dropped: an unknown hop-by-hop option
 * whose action bits say discard (RFC 8200 4.2), reported (code 2) when they say so, or a hop-by-hop
 * header after the first (code 1). Destination options are for the final destination: their
 * verdict is kept apart (`destinationDiscard`, ...). Every offset is absolute (in `buf`); pointers are from the IPv6 header's start.
 */
export class Ipv6ExtensionWalk {
  buf: Buffer = EMPTY;
  /** Offset of the IPv6 header the walk started from. */
  ipOffset = 0;
  error: number = WireError.Ok;
  /** The next-header value where the walk stopped (the upper layer, 59, 50, 51, or unknown). */
  protocol = 0;
  /** Absolute offset of the header (or data) `protocol` describes. */
  offset = 0;
  /** Bytes from `offset` to the end of the packet (40 + payloadLength, or the end of what is present). */
  length = 0;
  /** Extension headers walked. */
  headers = 0;
  /** Absolute offset of the fragment header, or -1. */
  fragment = -1;
  /** Absolute offset of a routing header with segments left > 0, or -1. */
  routing = -1;
  /**
   * Absolute offset of the final destination address: the IPv6 destination, or, behind a routing
   * header with segments left > 0 of a type whose layout is known (0, 2: the last address; 4, a
   * segment routing header: the first segment), that address. Upper-layer checksums use it
   * (RFC 8200 8.1): see pseudoAddressSum.
   */
  finalDestination = 0;
  /** The packet must be dropped (an unknown hop-by-hop option's action, or a misplaced hop-by-hop header). */
  discard = false;
  /** The ICMPv6 parameter problem code to send with the drop, or -1 for a silent one. */
  problemCode = -1;
  /** The parameter problem pointer: offset of the offending byte from the IPv6 header's start. */
  problemPointer = 0;
  /**
   * The same for the destination options headers, which only the final destination acts on (the
   * gateway when a packet is addressed to it): drop, and the code and pointer to report or -1.
   * A malformed destination options header is a silent destination drop, not a walk error.
   */
  destinationDiscard = false;
  destinationProblemCode = -1;
  destinationProblemPointer = 0;

  /** Walk the IPv6 packet at buf[ipOff, +len) (validated by Ipv6Packet.wrap or wrapPartial). Returns `error`. */
  walk(buf: Buffer, ipOff: number, len: number, maxHeaders: number = IPV6_MAX_EXT_HEADERS): number {
    this.buf = buf;
    this.ipOffset = ipOff;
    this.error = WireError.Ok;
    this.headers = 0;
    this.fragment = -1;
    this.routing = -1;
    this.discard = false;
    this.problemCode = -1;
    this.problemPointer = 0;
    this.destinationDiscard = false;
    this.destinationProblemCode = -1;
    this.destinationProblemPointer = 0;
    this.protocol = 0;
    this.offset = ipOff;
    this.length = 0;
    this.finalDestination = ipOff + IPV6_DST;
    if (ipOff < 0 || len < IPV6_HLEN || ipOff + len > buf.length) return (this.error = WireError.Truncated);
    const total = IPV6_HLEN + ((buf[ipOff + IPV6_PAYLOAD_LEN] << 8) | buf[ipOff + IPV6_PAYLOAD_LEN + 1]);
    const end = ipOff + (total < len ? total : len);
    let nh = buf[ipOff + IPV6_NEXT_HEADER];
    let nhField = ipOff + IPV6_NEXT_HEADER; // where `nh` was read: the pointer of a misplaced hop-by-hop
    let cur = ipOff + IPV6_HLEN;
    for (;;) {
      this.protocol = nh;
      this.offset = cur;
      this.length = end - cur;
      if (nh !== IPV6_NH_HOP_BY_HOP && nh !== IPV6_NH_ROUTING && nh !== IPV6_NH_FRAGMENT && nh !== IPV6_NH_DEST_OPTIONS) {
        return WireError.Ok;
      }
      if (nh === IPV6_NH_HOP_BY_HOP && cur !== ipOff + IPV6_HLEN) {
        this.setProblem(IPV6_PARAM_UNRECOGNIZED_NEXT_HEADER, nhField - ipOff);
        return WireError.Ok;
      }
      if (this.headers >= maxHeaders) return (this.error = WireError.Malformed);
      let hlen: number;
      if (nh === IPV6_NH_FRAGMENT) {
        hlen = IPV6_FRAG_HLEN;
        if (cur + hlen > end) return (this.error = WireError.Truncated);
      } else {
        if (cur + 2 > end) return (this.error = WireError.Truncated);
        hlen = (buf[cur + 1] + 1) << 3;
        if (cur + hlen > end) return (this.error = WireError.Truncated);
      }
      this.headers++;
      if (nh === IPV6_NH_HOP_BY_HOP) {
        const r = this.scanOptions(buf, cur, cur + hlen);
        if (r === OPTIONS_MALFORMED) return (this.error = WireError.Malformed);
        if (r >= 0 && !this.discard) {
          this.discard = true;
          if (this.reports(r)) {
            this.problemCode = IPV6_PARAM_UNRECOGNIZED_OPTION;
            this.problemPointer = r & OPTION_POINTER_MASK;
          }
        }
      } else if (nh === IPV6_NH_DEST_OPTIONS) {
        // Only the destination acts on these (a router forwards them unread): a bad option is a
        // silent drop there, as Linux does, not a malformed packet.
        const r = this.scanOptions(buf, cur, cur + hlen);
        if (r !== OPTIONS_FINE && !this.destinationDiscard) {
          this.destinationDiscard = true;
          if (r >= 0 && this.reports(r)) {
            this.destinationProblemCode = IPV6_PARAM_UNRECOGNIZED_OPTION;
            this.destinationProblemPointer = r & OPTION_POINTER_MASK;
          }
        }
      } else if (nh === IPV6_NH_ROUTING) {
        // Segments left (byte 3) > 0: the destination must understand the routing type.
        if (buf[cur + 3] !== 0 && this.routing < 0) {
          this.routing = cur;
          const type = buf[cur + 2];
          const addrs = buf[cur + 1] >>> 1; // 16-byte addresses after the 8-byte start (types 0, 2, 4)
          if (addrs > 0 && (type === 0 || type === 2)) this.finalDestination = cur + 8 + 16 * (addrs - 1);
          else if (addrs > 0 && type === 4) this.finalDestination = cur + 8;
        }
      } else if (nh === IPV6_NH_FRAGMENT) {
        this.fragment = cur;
        if (((buf[cur + IPV6_FRAG_OFFSET_FLAGS] << 8) | buf[cur + IPV6_FRAG_OFFSET_FLAGS + 1]) >>> 3 !== 0) {
          this.protocol = buf[cur];
          this.offset = cur + hlen;
          this.length = end - this.offset;
          return WireError.Ok;
        }
      }
      nhField = cur;
      nh = buf[cur];
      cur += hlen;
    }
  }

  /**
   * The options of the options header at buf[from, to): OPTIONS_MALFORMED if one runs past `to`,
   * OPTIONS_FINE if every one is known or says skip, else the first unknown one that says discard
   * as action * 0x20000 + its pointer (from the IPv6 header's start; a small integer).
   */
  private scanOptions(buf: Buffer, from: number, to: number): number {
    let i = from + 2;
    while (i < to) {
      const type = buf[i];
      if (type === IPV6_OPT_PAD1) {
        i++;
        continue;
      }
      if (i + 2 > to) return OPTIONS_MALFORMED;
      const next = i + 2 + buf[i + 1];
      if (next > to) return OPTIONS_MALFORMED;
      const action = type >>> 6;
      if (action !== IPV6_OPT_ACTION_SKIP && type !== IPV6_OPT_PADN && type !== IPV6_OPT_ROUTER_ALERT) {
        return action * OPTION_ACTION_UNIT + (i - this.ipOffset);
      }
      i = next;
    }
    return OPTIONS_FINE;
  }

  /** Whether the action of a scanOptions result sends a parameter problem (RFC 8200 4.2: 11 only to a unicast destination). */
  private reports(r: number): boolean {
    const action = Math.floor(r / OPTION_ACTION_UNIT);
    if (action === IPV6_OPT_ACTION_DISCARD_REPORT) return true;
    return action === IPV6_OPT_ACTION_DISCARD_REPORT_UNICAST && this.buf[this.ipOffset + IPV6_DST] !== 0xff;
  }

  private setProblem(code: number, pointer: number): void {
    if (this.discard) return;
    this.discard = true;
    this.problemCode = code;
    this.problemPointer = pointer;
  }

  /** The address sum of the upper layer's pseudo-header: the source and the final destination (RFC 8200 8.1). */
  pseudoAddressSum(): number {
    return sum16(this.buf, this.ipOffset + IPV6_SRC, 16, 0) + sum16(this.buf, this.finalDestination, 16, 0);
  }

  /** The parameter problem (code 0) pointer for `routing`: its routing type byte. */
  get routingPointer(): number {
    return this.routing - this.ipOffset + 2;
  }

  /** The routing type of the header at `routing`. */
  get routingType(): number {
    return this.buf[this.routing + 2];
  }

  /** Segments left of the header at `routing`. */
  get routingSegmentsLeft(): number {
    return this.buf[this.routing + 3];
  }

  /** The fragment offset (in 8-byte units) of the header at `fragment`. */
  get fragmentOffset(): number {
    const b = this.buf;
    const o = this.fragment + IPV6_FRAG_OFFSET_FLAGS;
    return ((b[o] << 8) | b[o + 1]) >>> 3;
  }

  /** The M flag (more fragments) of the header at `fragment`. */
  get moreFragments(): boolean {
    return (this.buf[this.fragment + IPV6_FRAG_OFFSET_FLAGS + 1] & 1) !== 0;
  }

  /** The identification of the header at `fragment`. */
  get fragmentIdent(): number {
    return readU32(this.buf, this.fragment + IPV6_FRAG_IDENT);
  }

  /** An atomic fragment (offset 0, M clear: RFC 6946) is processed as a whole packet. */
  get isAtomicFragment(): boolean {
    return this.fragment >= 0 && this.fragmentOffset === 0 && !this.moreFragments;
  }
}

export interface Ipv6Repr {
  src: Ipv6Words;
  dst: Ipv6Words;
  nextHeader: number;
  hopLimit: number;
  /** Bytes after the fixed header (extension headers included). */
  payloadLength: number;
  trafficClass?: number;
  flowLabel?: number;
}

export const Ipv6Repr = {
  bufferLen(_repr: Ipv6Repr): number {
    return IPV6_HLEN;
  },

  /** Fixed-header fields of a wrapped packet (extension headers are the walk's). */
  parse(p: Ipv6Packet): Ipv6Repr {
    return {
      src: readIpv6(p.buf, p.off + IPV6_SRC),
      dst: readIpv6(p.buf, p.off + IPV6_DST),
      nextHeader: p.nextHeader,
      hopLimit: p.hopLimit,
      payloadLength: p.payloadLength,
      trafficClass: p.trafficClass,
      flowLabel: p.flowLabel,
    };
  },

  /** Write the 40-byte fixed header; returns 40. */
  emit(repr: Ipv6Repr, buf: Buffer, off: number): number {
    checkRoom(buf, off, IPV6_HLEN);
    if (repr.payloadLength < 0 || repr.payloadLength > 0xffff) throw new RangeError(`IPv6 payload length ${repr.payloadLength} out of range`);
    writeFixedHeader(buf, off, repr.payloadLength, repr.nextHeader, repr.hopLimit, repr.trafficClass ?? 0, repr.flowLabel ?? 0);
    putIpv6(buf, off + IPV6_SRC, repr.src);
    putIpv6(buf, off + IPV6_DST, repr.dst);
    return IPV6_HLEN;
  },

  /** The pseudo-header address sum of a Repr (for the checksums of what follows it). */
  addressSum(repr: Ipv6Repr): number {
    return ipv6AddressSumWords(repr.src, repr.dst);
  },
};

/** Writes the first 8 bytes of a fixed header (everything but the addresses) at buf[off]; no bounds check. */
export function writeFixedHeader(
  buf: Buffer,
  off: number,
  payloadLength: number,
  nextHeader: number,
  hopLimit: number,
  trafficClass: number,
  flowLabel: number,
): void {
  buf[off] = 0x60 | ((trafficClass >>> 4) & 0x0f);
  buf[off + 1] = ((trafficClass & 0x0f) << 4) | ((flowLabel >>> 16) & 0x0f);
  buf[off + 2] = (flowLabel >>> 8) & 0xff;
  buf[off + 3] = flowLabel & 0xff;
  buf[off + IPV6_PAYLOAD_LEN] = (payloadLength >>> 8) & 0xff;
  buf[off + IPV6_PAYLOAD_LEN + 1] = payloadLength & 0xff;
  buf[off + IPV6_NEXT_HEADER] = nextHeader & 0xff;
  buf[off + IPV6_HOP_LIMIT] = hopLimit & 0xff;
}

/** One extension header, for the slow path (tests, tools): options headers keep their options raw. */
export type Ipv6ExtensionHeaderRepr =
  | { header: typeof IPV6_NH_HOP_BY_HOP | typeof IPV6_NH_DEST_OPTIONS; nextHeader: number; options: Buffer }
  | { header: typeof IPV6_NH_ROUTING; nextHeader: number; routingType: number; segmentsLeft: number; data: Buffer }
  | { header: typeof IPV6_NH_FRAGMENT; nextHeader: number; fragmentOffset: number; more: boolean; ident: number };

export const Ipv6ExtensionHeaderRepr = {
  bufferLen(h: Ipv6ExtensionHeaderRepr): number {
    if (h.header === IPV6_NH_FRAGMENT) return IPV6_FRAG_HLEN;
    return h.header === IPV6_NH_ROUTING ? 4 + h.data.length : 2 + h.options.length;
  },

  /** The extension headers of a wrapped packet, in order (copies); null if the chain is truncated or malformed. */
  parseChain(p: Ipv6Packet): Ipv6ExtensionHeaderRepr[] | null {
    const out: Ipv6ExtensionHeaderRepr[] = [];
    const b = p.buf;
    const end = p.off + p.totalLength;
    let nh = p.nextHeader;
    let cur = p.payloadOffset;
    while (nh === IPV6_NH_HOP_BY_HOP || nh === IPV6_NH_ROUTING || nh === IPV6_NH_FRAGMENT || nh === IPV6_NH_DEST_OPTIONS) {
      if (out.length >= IPV6_MAX_EXT_HEADERS || cur + 8 > end) return null;
      const hlen = nh === IPV6_NH_FRAGMENT ? IPV6_FRAG_HLEN : (b[cur + 1] + 1) << 3;
      if (cur + hlen > end) return null;
      const next = b[cur];
      if (nh === IPV6_NH_FRAGMENT) {
        const w = b.readUInt16BE(cur + IPV6_FRAG_OFFSET_FLAGS);
        out.push({ header: nh, nextHeader: next, fragmentOffset: w >>> 3, more: (w & 1) !== 0, ident: readU32(b, cur + IPV6_FRAG_IDENT) });
        if (w >>> 3 !== 0) break;
      } else if (nh === IPV6_NH_ROUTING) {
        const data = Buffer.from(b.subarray(cur + 4, cur + hlen));
        out.push({ header: nh, nextHeader: next, routingType: b[cur + 2], segmentsLeft: b[cur + 3], data });
      } else {
        out.push({ header: nh, nextHeader: next, options: Buffer.from(b.subarray(cur + 2, cur + hlen)) });
      }
      nh = next;
      cur += hlen;
    }
    return out;
  },

  /** Write one header at buf[off]; returns its length. Options and routing data must make the length a multiple of 8. */
  emit(h: Ipv6ExtensionHeaderRepr, buf: Buffer, off: number): number {
    const len = Ipv6ExtensionHeaderRepr.bufferLen(h);
    if ((len & 7) !== 0) throw new RangeError(`extension header of ${len} bytes is not a multiple of 8`);
    checkRoom(buf, off, len);
    buf[off] = h.nextHeader & 0xff;
    if (h.header === IPV6_NH_FRAGMENT) {
      buf[off + 1] = 0;
      buf.writeUInt16BE(((h.fragmentOffset & 0x1fff) << 3) | (h.more ? 1 : 0), off + IPV6_FRAG_OFFSET_FLAGS);
      writeU32(buf, off + IPV6_FRAG_IDENT, h.ident);
    } else if (h.header === IPV6_NH_ROUTING) {
      buf[off + 1] = (len >>> 3) - 1;
      buf[off + 2] = h.routingType & 0xff;
      buf[off + 3] = h.segmentsLeft & 0xff;
      h.data.copy(buf, off + 4);
    } else {
      buf[off + 1] = (len >>> 3) - 1;
      h.options.copy(buf, off + 2);
    }
    return len;
  },
};
