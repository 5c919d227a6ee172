/** ICMPv4 (RFC 792): echo and the error messages a gateway generates or relays. */
import { fold, sum16, internetChecksum, update16 } from './checksum.js';
import { WireError, checkRoom } from './error.js';

export const ICMP_TYPE = 0;
export const ICMP_CODE = 1;
export const ICMP_CHECKSUM = 2;
export const ICMP_ECHO_IDENT = 4;
export const ICMP_ECHO_SEQ = 6;
/** Next-hop MTU of DEST_UNREACHABLE/FRAG_NEEDED (RFC 1191), bytes 6..7. */
export const ICMP_NEXT_HOP_MTU = 6;
export const ICMP_HLEN = 8;

// Types.
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAM_PROBLEM = 12;
export const ICMP_TIMESTAMP_REQUEST = 13;
export const ICMP_TIMESTAMP_REPLY = 14;
export const ICMP_ADDRESS_MASK_REQUEST = 17;
export const ICMP_ADDRESS_MASK_REPLY = 18;

// DEST_UNREACHABLE codes.
export const ICMP_NET_UNREACHABLE = 0;
export const ICMP_HOST_UNREACHABLE = 1;
export const ICMP_PROTOCOL_UNREACHABLE = 2;
export const ICMP_PORT_UNREACHABLE = 3;
export const ICMP_FRAG_NEEDED = 4;
export const ICMP_ADMIN_PROHIBITED = 13;

// TIME_EXCEEDED codes.
/** TIME_EXCEEDED code 0: TTL exceeded in transit. */
export const ICMP_TTL_EXCEEDED = 0;
export const ICMP_FRAG_REASSEMBLY_EXCEEDED = 1;

const EMPTY = Buffer.alloc(0);

/** True for the error types that quote an offending datagram (3, 4, 5, 11, 12). */
export function isIcmpErrorType(type: number): boolean {
  return (
    type === ICMP_DEST_UNREACHABLE ||
    type === ICMP_TIME_EXCEEDED ||
    type === ICMP_SOURCE_QUENCH ||
    type === ICMP_REDIRECT ||
    type === ICMP_PARAM_PROBLEM
  );
}

/** Queries and their replies: an ICMP error may be sent about them (RFC 1122 3.2.2), never about an error. */
export function isIcmpQueryType(type: number): boolean {
  return (
    type === ICMP_ECHO_REPLY ||
    type === ICMP_ECHO_REQUEST ||
    type === ICMP_TIMESTAMP_REQUEST ||
    type === ICMP_TIMESTAMP_REPLY ||
    type === ICMP_ADDRESS_MASK_REQUEST ||
    type === ICMP_ADDRESS_MASK_REPLY
  );
}

/**
 * Re-pointable view of an ICMPv4 message; create once, `wrap` per packet.
 * Pass len = the ICMP message length (the IPv4 payloadLength), not the frame rest.
 */
export class Icmpv4Packet {
  buf: Buffer = EMPTY;
  off = 0;
  len = 0;

  /** Truncated if shorter than the 8-byte header. The quoted datagram of errors is not validated here. */
  wrap(buf: Buffer, off: number, len: number): number {
    this.buf = buf;
    this.off = off;
    this.len = len;
    if (off < 0 || len < 0 || off + len > buf.length) return WireError.Truncated;
    if (len < ICMP_HLEN) return WireError.Truncated;
    return WireError.Ok;
  }

  get type(): number {
    return this.buf[this.off + ICMP_TYPE];
  }
  set type(v: number) {
    this.buf[this.off + ICMP_TYPE] = v & 0xff;
  }

  get code(): number {
    return this.buf[this.off + ICMP_CODE];
  }
  set code(v: number) {
    this.buf[this.off + ICMP_CODE] = v & 0xff;
  }

  get checksum(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + ICMP_CHECKSUM] << 8) | b[o + ICMP_CHECKSUM + 1];
  }
  set checksum(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + ICMP_CHECKSUM] = (v >>> 8) & 0xff;
    b[o + ICMP_CHECKSUM + 1] = v & 0xff;
  }

  get echoIdent(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + ICMP_ECHO_IDENT] << 8) | b[o + ICMP_ECHO_IDENT + 1];
  }
  set echoIdent(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + ICMP_ECHO_IDENT] = (v >>> 8) & 0xff;
    b[o + ICMP_ECHO_IDENT + 1] = v & 0xff;
  }

  get echoSeq(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + ICMP_ECHO_SEQ] << 8) | b[o + ICMP_ECHO_SEQ + 1];
  }
  set echoSeq(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + ICMP_ECHO_SEQ] = (v >>> 8) & 0xff;
    b[o + ICMP_ECHO_SEQ + 1] = v & 0xff;
  }

  get nextHopMtu(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + ICMP_NEXT_HOP_MTU] << 8) | b[o + ICMP_NEXT_HOP_MTU + 1];
  }
  set nextHopMtu(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + ICMP_NEXT_HOP_MTU] = (v >>> 8) & 0xff;
    b[o + ICMP_NEXT_HOP_MTU + 1] = v & 0xff;
  }

  /** Bytes 4..7 as a uint32 (unused / MTU / pointer / gateway, depending on the type). */
  get restOfHeader(): number {
    const b = this.buf;
    const o = this.off + 4;
    return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  }

  isError(): boolean {
    return isIcmpErrorType(this.buf[this.off + ICMP_TYPE]);
  }

  /** Absolute offset of the quoted IPv4 header of an error message. */
  get innerOffset(): number {
    return this.off + ICMP_HLEN;
  }

  /** Absolute offset of the data after the 8-byte header (echo payload). */
  get payloadOffset(): number {
    return this.off + ICMP_HLEN;
  }

  get payloadLength(): number {
    return this.len - ICMP_HLEN;
  }

  /** True if the `len`-byte message (default: the wrapped length) sums to 0xffff. */
  verifyChecksum(len: number = this.len): boolean {
    return fold(sum16(this.buf, this.off, len, 0)) === 0xffff;
  }

  /** Recompute the checksum over `len` bytes (default: the wrapped length). */
  fillChecksum(len: number = this.len): void {
    const b = this.buf;
    const o = this.off;
    b[o + ICMP_CHECKSUM] = 0;
    b[o + ICMP_CHECKSUM + 1] = 0;
    const c = internetChecksum(b, o, len);
    b[o + ICMP_CHECKSUM] = c >>> 8;
    b[o + ICMP_CHECKSUM + 1] = c & 0xff;
  }

  /** Rewrite the echo identifier (ICMP NAT) patching the checksum incrementally; ICMP has no pseudo-header. */
  setEchoIdentIncremental(id: number): void {
    const old = this.echoIdent;
    this.echoIdent = id;
    this.checksum = update16(this.checksum, old, id & 0xffff);
  }

  /** Patch the checksum for a 16-bit word of the message changing (e.g. after editing the quoted datagram). */
  adjustChecksum16(oldWord: number, newWord: number): void {
    this.checksum = update16(this.checksum, oldWord, newWord);
  }
}

/** Echo request or reply. */
export interface Icmpv4EchoRepr {
  kind: 'echoRequest' | 'echoReply';
  ident: number;
  seq: number;
  data: Buffer;
}

/** One of the error types (isIcmpErrorType) quoting the offending datagram. */
export interface Icmpv4ErrorRepr {
  kind: 'error';
  type: number;
  code: number;
  /** Bytes 4..7 as uint32: 0, or the next-hop MTU (low 16 bits) for FRAG_NEEDED. */
  rest: number;
  quoted: Buffer;
}

/** Anything else, kept raw so parse/emit round-trips. */
export interface Icmpv4OtherRepr {
  kind: 'other';
  type: number;
  code: number;
  rest: number;
  data: Buffer;
}

export type Icmpv4Repr = Icmpv4EchoRepr | Icmpv4ErrorRepr | Icmpv4OtherRepr;

export const Icmpv4Repr = {
  bufferLen(repr: Icmpv4Repr): number {
    return ICMP_HLEN + (repr.kind === 'error' ? repr.quoted.length : repr.data.length);
  },

  /** Decode a wrapped message; data/quoted bytes are copied (the receive buffer gets reused). */
  parse(p: Icmpv4Packet): Icmpv4Repr {
    const type = p.type;
    const code = p.code;
    const body = Buffer.from(p.buf.subarray(p.off + ICMP_HLEN, p.off + p.len));
    if ((type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY) && code === 0) {
      return {
        kind: type === ICMP_ECHO_REQUEST ? 'echoRequest' : 'echoReply',
        ident: p.echoIdent,
        seq: p.echoSeq,
        data: body,
      };
    }
    if (isIcmpErrorType(type)) return { kind: 'error', type, code, rest: p.restOfHeader, quoted: body };
    return { kind: 'other', type, code, rest: p.restOfHeader, data: body };
  },

  /** Write header + body with a correct checksum; returns bytes written. */
  emit(repr: Icmpv4Repr, buf: Buffer, off: number): number {
    const total = Icmpv4Repr.bufferLen(repr);
    checkRoom(buf, off, total);
    let type: number;
    let code: number;
    let rest: number;
    let body: Buffer;
    switch (repr.kind) {
      case 'echoRequest':
      case 'echoReply':
        type = repr.kind === 'echoRequest' ? ICMP_ECHO_REQUEST : ICMP_ECHO_REPLY;
        code = 0;
        rest = (((repr.ident & 0xffff) << 16) | (repr.seq & 0xffff)) >>> 0;
        body = repr.data;
        break;
      case 'error':
        type = repr.type;
        code = repr.code;
        rest = repr.rest;
        body = repr.quoted;
        break;
      default:
        type = repr.type;
        code = repr.code;
        rest = repr.rest;
        body = repr.data;
    }
    buf[off + ICMP_TYPE] = type & 0xff;
    buf[off + ICMP_CODE] = code & 0xff;
    buf.writeUInt32BE(rest >>> 0, off + 4);
    body.copy(buf, off + ICMP_HLEN);
    buf[off + ICMP_CHECKSUM] = 0;
    buf[off + ICMP_CHECKSUM + 1] = 0;
    const c = internetChecksum(buf, off, total);
    buf[off + ICMP_CHECKSUM] = c >>> 8;
    buf[off + ICMP_CHECKSUM + 1] = c & 0xff;
    return total;
  },
};

/**
 * Build an ICMP error at out[outOff]: 8-byte header (bytes 4..5 zero, 6..7 =
 * mtuOrZero) followed by quoted[quotedOff, +quotedLen), with a correct checksum.
 * Returns bytes written (8 + quotedLen). RFC 1812 4.3.2.3: quote the offending
 * IP header plus as much payload as fits in 576 bytes; choosing quotedLen is the caller's job.
 * `quoted` may be `out` itself (Buffer.copy handles overlap).
 */
export function emitIcmpError(
  out: Buffer,
  outOff: number,
  type: number,
  code: number,
  mtuOrZero: number,
  quoted: Buffer,
  quotedOff: number,
  quotedLen: number,
): number {
  const total = ICMP_HLEN + quotedLen;
  checkRoom(out, outOff, total);
  if (quotedOff < 0 || quotedLen < 0 || quotedOff + quotedLen > quoted.length) {
    throw new RangeError(`quoted range [${quotedOff}, +${quotedLen}) outside buffer of ${quoted.length}`);
  }
  // Copy first: the quoted range may overlap the header bytes about to be written.
  quoted.copy(out, outOff + ICMP_HLEN, quotedOff, quotedOff + quotedLen);
  out[outOff + ICMP_TYPE] = type & 0xff;
  out[outOff + ICMP_CODE] = code & 0xff;
  out[outOff + ICMP_CHECKSUM] = 0;
  out[outOff + ICMP_CHECKSUM + 1] = 0;
  out[outOff + 4] = 0;
  out[outOff + 5] = 0;
  out[outOff + ICMP_NEXT_HOP_MTU] = (mtuOrZero >>> 8) & 0xff;
  out[outOff + ICMP_NEXT_HOP_MTU + 1] = mtuOrZero & 0xff;
  const c = internetChecksum(out, outOff, total);
  out[outOff + ICMP_CHECKSUM] = c >>> 8;
  out[outOff + ICMP_CHECKSUM + 1] = c & 0xff;
  return total;
}
