/** ICMPv6 (RFC 4443): echo, the error messages a router sends, and the type numbers of NDP and MLD. */
import { finish, fold, ipv6AddressSum, ipv6AddressSumWords, l4PseudoSum, sum16, update16 } from './checksum.js';
import { WireError, checkRoom } from './error.js';
import { type Ipv6Words } from './ipv6-address.js';
import {
  IPV6_DST,
  IPV6_HLEN,
  IPV6_MIN_MTU,
  IPV6_NH_ICMPV6,
  IPV6_PARAM_ERRONEOUS_HEADER,
  IPV6_PARAM_UNRECOGNIZED_NEXT_HEADER,
  IPV6_PARAM_UNRECOGNIZED_OPTION,
  IPV6_SRC,
  type Ipv6ExtensionWalk,
  type Ipv6Packet,
  putIpv6,
  readI32,
  readU32,
  writeFixedHeader,
  writeU32,
} from './ipv6.js';

export const ICMPV6_TYPE = 0;
export const ICMPV6_CODE = 1;
export const ICMPV6_CHECKSUM = 2;
export const ICMPV6_ECHO_IDENT = 4;
export const ICMPV6_ECHO_SEQ = 6;
/** The 32-bit MTU of packet too big, the 32-bit pointer of parameter problem: bytes 4..7. */
export const ICMPV6_PARAM = 4;
export const ICMPV6_HLEN = 8;

// Error types (below 128) and their codes.
export const ICMPV6_DEST_UNREACHABLE = 1;
export const ICMPV6_NO_ROUTE = 0;
export const ICMPV6_ADMIN_PROHIBITED = 1;
export const ICMPV6_BEYOND_SCOPE = 2;
export const ICMPV6_ADDRESS_UNREACHABLE = 3;
export const ICMPV6_PORT_UNREACHABLE = 4;
export const ICMPV6_SOURCE_POLICY_FAILED = 5;
export const ICMPV6_REJECT_ROUTE = 6;

export const ICMPV6_PACKET_TOO_BIG = 2;

export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_HOP_LIMIT_EXCEEDED = 0;
export const ICMPV6_FRAG_REASSEMBLY_EXCEEDED = 1;

export const ICMPV6_PARAM_PROBLEM = 4;
export const ICMPV6_ERRONEOUS_HEADER = IPV6_PARAM_ERRONEOUS_HEADER;
export const ICMPV6_UNRECOGNIZED_NEXT_HEADER = IPV6_PARAM_UNRECOGNIZED_NEXT_HEADER;
export const ICMPV6_UNRECOGNIZED_OPTION = IPV6_PARAM_UNRECOGNIZED_OPTION;

// Informational types (128 and above).
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
/** MLD (RFC 2710, RFC 3810): query, v1 report, v1 done, v2 report. */
export const ICMPV6_MLD_QUERY = 130;
export const ICMPV6_MLD_REPORT = 131;
export const ICMPV6_MLD_DONE = 132;
export const ICMPV6_MLD2_REPORT = 143;
/** Neighbour discovery (RFC 4861); see ndp.ts. */
export const ICMPV6_ROUTER_SOLICITATION = 133;
export const ICMPV6_ROUTER_ADVERTISEMENT = 134;
export const ICMPV6_NEIGHBOUR_SOLICITATION = 135;
export const ICMPV6_NEIGHBOUR_ADVERTISEMENT = 136;
export const ICMPV6_REDIRECT = 137;

/** The most an error may quote: what fits in the minimum MTU after its IPv6 and ICMPv6 headers (RFC 4443 2.4(c)). */
export const ICMPV6_ERROR_MAX_QUOTE = IPV6_MIN_MTU - IPV6_HLEN - ICMPV6_HLEN;

/** Error messages have the high bit of the type clear (RFC 4443 2.1). */
export function isIcmpv6ErrorType(type: number): boolean {
  return type < 128;
}

/**
 * RFC 4443 2.4(e): whether an error of `type`/`code` may be sent about the packet `ip` (walked
 * into `walk`). Never about an ICMPv6 error or a redirect, never to a source that does not name
 * one node (unspecified, multicast), and about a packet to a multicast group only for packet too
 * big and the unrecognized-option parameter problem. The link-layer multicast case (e.4) and
 * rate limiting (f) are the caller's.
 */
export function icmpv6ErrorAllowed(ip: Ipv6Packet, walk: Ipv6ExtensionWalk, type: number, code: number): boolean {
  const b = ip.buf;
  const s = ip.off + IPV6_SRC;
  if (b[s] === 0xff || ip.srcIsUnspecified) return false;
  if (walk.error === WireError.Ok && walk.protocol === IPV6_NH_ICMPV6 && walk.length > 0 && (walk.fragment < 0 || walk.fragmentOffset === 0)) {
    const t = b[walk.offset];
    if (t < 128 || t === ICMPV6_REDIRECT) return false;
  }
  if (ip.dstIsMulticast) return type === ICMPV6_PACKET_TOO_BIG || (type === ICMPV6_PARAM_PROBLEM && code === ICMPV6_UNRECOGNIZED_OPTION);
  return true;
}

const EMPTY = Buffer.alloc(0);

/**
 * Re-pointable view of an ICMPv6 message; create once, `wrap` per packet. Pass len = the message
 * length (the upper-layer length of the IPv6 walk). Checksums take the pseudo-header's address
 * sum (Ipv6Packet.addressSum()).
 */
export class Icmpv6Packet {
  buf: Buffer = EMPTY;
  off = 0;
  len = 0;

  /** Truncated if shorter than the 8-byte header (every RFC 4443 and RFC 4861 message has it). */
  wrap(buf: Buffer, off: number, len: number): number {
    this.buf = buf;
    this.off = off;
    this.len = len;
    if (off < 0 || len < 0 || off + len > buf.length) return WireError.Truncated;
    if (len < ICMPV6_HLEN) return WireError.Truncated;
    return WireError.Ok;
  }

  get type(): number {
    return this.buf[this.off + ICMPV6_TYPE];
  }
  set type(v: number) {
    this.buf[this.off + ICMPV6_TYPE] = v & 0xff;
  }

  get code(): number {
    return this.buf[this.off + ICMPV6_CODE];
  }
  set code(v: number) {
    this.buf[this.off + ICMPV6_CODE] = v & 0xff;
  }

  get checksum(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + ICMPV6_CHECKSUM] << 8) | b[o + ICMPV6_CHECKSUM + 1];
  }
  set checksum(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + ICMPV6_CHECKSUM] = (v >>> 8) & 0xff;
    b[o + ICMPV6_CHECKSUM + 1] = v & 0xff;
  }

  get echoIdent(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + ICMPV6_ECHO_IDENT] << 8) | b[o + ICMPV6_ECHO_IDENT + 1];
  }
  set echoIdent(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + ICMPV6_ECHO_IDENT] = (v >>> 8) & 0xff;
    b[o + ICMPV6_ECHO_IDENT + 1] = v & 0xff;
  }

  get echoSeq(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + ICMPV6_ECHO_SEQ] << 8) | b[o + ICMPV6_ECHO_SEQ + 1];
  }
  set echoSeq(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + ICMPV6_ECHO_SEQ] = (v >>> 8) & 0xff;
    b[o + ICMPV6_ECHO_SEQ + 1] = v & 0xff;
  }

  /** Packet too big: the MTU of the next hop. */
  get mtu(): number {
    return readU32(this.buf, this.off + ICMPV6_PARAM);
  }
  set mtu(v: number) {
    writeU32(this.buf, this.off + ICMPV6_PARAM, v);
  }

  /** Parameter problem: offset of the offending byte in the quoted packet. */
  get pointer(): number {
    return readU32(this.buf, this.off + ICMPV6_PARAM);
  }
  set pointer(v: number) {
    writeU32(this.buf, this.off + ICMPV6_PARAM, v);
  }

  isError(): boolean {
    return this.buf[this.off + ICMPV6_TYPE] < 128;
  }

  /** Absolute offset of the quoted packet of an error, or of the echo data. */
  get payloadOffset(): number {
    return this.off + ICMPV6_HLEN;
  }

  get payloadLength(): number {
    return this.len - ICMPV6_HLEN;
  }

  /** True if the message and its pseudo-header (addrSum from Ipv6Packet.addressSum()) sum to 0xffff. */
  verifyChecksum(addrSum: number, len: number = this.len): boolean {
    return fold(sum16(this.buf, this.off, len, l4PseudoSum(addrSum, IPV6_NH_ICMPV6, len))) === 0xffff;
  }

  /** Recompute the checksum over `len` bytes (default: the wrapped length) with the pseudo-header. */
  fillChecksum(addrSum: number, len: number = this.len): void {
    const b = this.buf;
    const o = this.off;
    b[o + ICMPV6_CHECKSUM] = 0;
    b[o + ICMPV6_CHECKSUM + 1] = 0;
    const c = finish(sum16(b, o, len, l4PseudoSum(addrSum, IPV6_NH_ICMPV6, len)));
    b[o + ICMPV6_CHECKSUM] = c >>> 8;
    b[o + ICMPV6_CHECKSUM + 1] = c & 0xff;
  }

  /** Rewrite the echo identifier (NAT66 of echo) patching the checksum incrementally. */
  setEchoIdentIncremental(id: number): void {
    const old = this.echoIdent;
    this.echoIdent = id;
    this.checksum = update16(this.checksum, old, id & 0xffff);
  }

  /** Patch the checksum for a 16-bit word it covers changing (pseudo-header address words included). */
  adjustChecksum16(oldWord: number, newWord: number): void {
    this.checksum = update16(this.checksum, oldWord, newWord);
  }
}

export interface Icmpv6EchoRepr {
  kind: 'echoRequest' | 'echoReply';
  ident: number;
  seq: number;
  data: Buffer;
}

/** An error (type < 128) quoting the offending packet; `param` is the MTU, the pointer, or 0. */
export interface Icmpv6ErrorRepr {
  kind: 'error';
  type: number;
  code: number;
  param: number;
  quoted: Buffer;
}

/** Anything else (NDP, MLD, ...), kept raw so parse/emit round-trips. */
export interface Icmpv6OtherRepr {
  kind: 'other';
  type: number;
  code: number;
  /** Bytes 4..7 as uint32. */
  rest: number;
  data: Buffer;
}

export type Icmpv6Repr = Icmpv6EchoRepr | Icmpv6ErrorRepr | Icmpv6OtherRepr;

export const Icmpv6Repr = {
  bufferLen(repr: Icmpv6Repr): number {
    return ICMPV6_HLEN + (repr.kind === 'error' ? repr.quoted.length : repr.data.length);
  },

  /** Decode a wrapped message; the body is copied (the receive buffer gets reused). The checksum is not checked. */
  parse(p: Icmpv6Packet): Icmpv6Repr {
    const type = p.type;
    const code = p.code;
    const rest = readU32(p.buf, p.off + 4);
    const body = Buffer.from(p.buf.subarray(p.off + ICMPV6_HLEN, p.off + p.len));
    if ((type === ICMPV6_ECHO_REQUEST || type === ICMPV6_ECHO_REPLY) && code === 0) {
      return { kind: type === ICMPV6_ECHO_REQUEST ? 'echoRequest' : 'echoReply', ident: p.echoIdent, seq: p.echoSeq, data: body };
    }
    if (isIcmpv6ErrorType(type)) return { kind: 'error', type, code, param: rest, quoted: body };
    return { kind: 'other', type, code, rest, data: body };
  },

  /** Write the message with its checksum for src/dst; returns bytes written. */
  emit(repr: Icmpv6Repr, buf: Buffer, off: number, src: Ipv6Words, dst: Ipv6Words): number {
    const total = Icmpv6Repr.bufferLen(repr);
    checkRoom(buf, off, total);
    let type: number;
    let code: number;
    let rest: number;
    let body: Buffer;
    switch (repr.kind) {
      case 'echoRequest':
      case 'echoReply':
        type = repr.kind === 'echoRequest' ? ICMPV6_ECHO_REQUEST : ICMPV6_ECHO_REPLY;
        code = 0;
        rest = (((repr.ident & 0xffff) << 16) | (repr.seq & 0xffff)) >>> 0;
        body = repr.data;
        break;
      case 'error':
        type = repr.type;
        code = repr.code;
        rest = repr.param;
        body = repr.quoted;
        break;
      default:
        type = repr.type;
        code = repr.code;
        rest = repr.rest;
        body = repr.data;
    }
    buf[off + ICMPV6_TYPE] = type & 0xff;
    buf[off + ICMPV6_CODE] = code & 0xff;
    writeU32(buf, off + 4, rest);
    body.copy(buf, off + ICMPV6_HLEN);
    buf[off + ICMPV6_CHECKSUM] = 0;
    buf[off + ICMPV6_CHECKSUM + 1] = 0;
    const c = finish(sum16(buf, off, total, l4PseudoSum(ipv6AddressSumWords(src, dst), IPV6_NH_ICMPV6, total)));
    buf[off + ICMPV6_CHECKSUM] = c >>> 8;
    buf[off + ICMPV6_CHECKSUM + 1] = c & 0xff;
    return total;
  },
};

/**
 * Copies src[so, +n) to dst[do, +n), overlapping or not, allocating nothing (Node 20's
 * Buffer.copy of a sub-range allocates a Uint8Array view per call).
 */
function moveBytes(src: Buffer, so: number, dst: Buffer, dstOff: number, n: number): void {
  if (src === dst) {
    dst.copyWithin(dstOff, so, so + n);
  } else if (src.buffer === dst.buffer && dst.byteOffset + dstOff > src.byteOffset + so) {
    // two views of one slab, the destination after the source: copy from the end
    for (let i = n - 1; i >= 0; i--) dst[dstOff + i] = src[so + i];
  } else {
    for (let i = 0; i < n; i++) dst[dstOff + i] = src[so + i];
  }
}

/** What an ICMPv6 error says and who sends it: a spec the caller keeps and refills (no allocation per error). */
export interface Icmpv6ErrorSpec {
  type: number;
  code: number;
  /** The MTU (packet too big), the pointer (parameter problem), or 0. */
  param: number;
  /** The sender: the gateway's address on the offending packet's link. */
  src: Ipv6Words;
  /** The error's hop limit (64 if unset, as Linux). */
  hopLimit?: number;
}

/**
 * Writes an IPv6 packet carrying an ICMPv6 error at out[outOff]: the fixed header (from spec.src
 * to the offending packet's source, traffic class and flow label 0), the 8-byte ICMPv6 header and
 * as much of the offending IPv6 packet quoted[quotedOff, +quotedLen) as fits in 1280 bytes
 * (RFC 4443 2.4(c)), with the checksum filled. Returns the IPv6 packet's length. `quoted` may be
 * `out` itself, overlapping (the source address is read, then the quote moved, before anything
 * is written). The caller has checked that an error may be sent (not about an error, not to a
 * multicast or unspecified source: RFC 4443 2.4(e)) and rate-limited it.
 */
export function emitIcmpv6Error(
  out: Buffer,
  outOff: number,
  spec: Icmpv6ErrorSpec,
  quoted: Buffer,
  quotedOff: number,
  quotedLen: number,
): number {
  if (quotedOff < 0 || quotedLen < IPV6_HLEN || quotedOff + quotedLen > quoted.length) {
    throw new RangeError(`quoted range [${quotedOff}, +${quotedLen}) is not an IPv6 packet inside a buffer of ${quoted.length}`);
  }
  const q = quotedLen < ICMPV6_ERROR_MAX_QUOTE ? quotedLen : ICMPV6_ERROR_MAX_QUOTE;
  const icmpLen = ICMPV6_HLEN + q;
  checkRoom(out, outOff, IPV6_HLEN + icmpLen);
  // The destination is the offending packet's source: read before the quote may overwrite it.
  const qs = quotedOff + IPV6_SRC;
  const d0 = readI32(quoted, qs);
  const d1 = readI32(quoted, qs + 4);
  const d2 = readI32(quoted, qs + 8);
  const d3 = readI32(quoted, qs + 12);
  const m = outOff + IPV6_HLEN;
  moveBytes(quoted, quotedOff, out, m + ICMPV6_HLEN, q);
  writeFixedHeader(out, outOff, icmpLen, IPV6_NH_ICMPV6, spec.hopLimit ?? 64, 0, 0);
  putIpv6(out, outOff + IPV6_SRC, spec.src);
  writeU32(out, outOff + IPV6_DST, d0);
  writeU32(out, outOff + IPV6_DST + 4, d1);
  writeU32(out, outOff + IPV6_DST + 8, d2);
  writeU32(out, outOff + IPV6_DST + 12, d3);
  out[m + ICMPV6_TYPE] = spec.type & 0xff;
  out[m + ICMPV6_CODE] = spec.code & 0xff;
  out[m + ICMPV6_CHECKSUM] = 0;
  out[m + ICMPV6_CHECKSUM + 1] = 0;
  writeU32(out, m + ICMPV6_PARAM, spec.param);
  const c = finish(sum16(out, m, icmpLen, l4PseudoSum(ipv6AddressSum(out, outOff + IPV6_SRC), IPV6_NH_ICMPV6, icmpLen)));
  out[m + ICMPV6_CHECKSUM] = c >>> 8;
  out[m + ICMPV6_CHECKSUM + 1] = c & 0xff;
  return IPV6_HLEN + icmpLen;
}
