import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WireError } from '../../../src/wire/error.js';
import { ETHERTYPE_IPV4, EthernetRepr } from '../../../src/wire/ethernet.js';
import {
  ICMP_CHECKSUM,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_FRAG_NEEDED,
  ICMP_HLEN,
  ICMP_PORT_UNREACHABLE,
  ICMP_TIME_EXCEEDED,
  ICMP_TTL_EXCEEDED,
  Icmpv4Packet,
  Icmpv4Repr,
  emitIcmpError,
  isIcmpErrorType,
} from '../../../src/wire/icmpv4.js';
import { IP_PROTO_ICMP, IP_PROTO_UDP, Ipv4Packet, Ipv4Repr } from '../../../src/wire/ipv4.js';
import { UDP_DST_PORT, UDP_SRC_PORT } from '../../../src/wire/udp.js';
import {
  ICMP_BIG_REQUEST_FRAME,
  ICMP_ECHO_REPLY_FRAME,
  ICMP_ECHO_REPLY_RR_FRAME,
  ICMP_ECHO_REQUEST_FRAME,
  ICMP_FRAG_NEEDED_FRAME,
  ICMP_PORT_UNREACH_FRAME,
  ICMP_TIME_EXCEEDED_FRAME,
  ICMP_TTL1_REQUEST_FRAME,
  IP_A,
  IP_B,
  IP_FAR,
  MAC_A,
  MAC_B,
  hex,
  refChecksum,
  zeroed,
} from './frames.js';

const ip = new Ipv4Packet();
const icmp = new Icmpv4Packet();

/** Wrap the IPv4 packet of a frame, then its ICMP message with len = IP payload length. */
function wrapIcmp(frame: Buffer): Icmpv4Packet {
  expect(ip.wrap(frame, 14, frame.length - 14)).toBe(WireError.Ok);
  expect(icmp.wrap(frame, ip.payloadOffset, ip.payloadLength)).toBe(WireError.Ok);
  return icmp;
}

function icmpBytes(frame: Buffer): Buffer {
  ip.wrap(frame, 14, frame.length - 14);
  return frame.subarray(ip.payloadOffset, ip.payloadOffset + ip.payloadLength);
}

const PING_DATA = hex(`11c8036b00000000 26cc0e0000000000 101112131415161718191a1b1c1d1e1f
  202122232425262728292a2b2c2d2e2f3031323334353637`);

describe('echo', () => {
  it('reads every field of the real echo request', () => {
    const p = wrapIcmp(ICMP_ECHO_REQUEST_FRAME);
    expect(p.type).toBe(ICMP_ECHO_REQUEST);
    expect(p.code).toBe(0);
    expect(p.checksum).toBe(0xd51c);
    expect(p.echoIdent).toBe(0x1a10);
    expect(p.echoSeq).toBe(1);
    expect(p.isError()).toBe(false);
    expect(p.payloadOffset).toBe(42);
    expect(p.payloadLength).toBe(56);
    expect(p.verifyChecksum()).toBe(true);
    expect(p.verifyChecksum(64)).toBe(true);
    const bytes = icmpBytes(ICMP_ECHO_REQUEST_FRAME);
    expect(refChecksum(zeroed(bytes, ICMP_CHECKSUM))).toBe(0xd51c);
    expect(refChecksum(bytes)).toBe(0);
  });

  it('parse gives the expected Repr, emit gives the literal back', () => {
    for (const [frame, kind, check] of [
      [ICMP_ECHO_REQUEST_FRAME, 'echoRequest', 0xd51c],
      [ICMP_ECHO_REPLY_FRAME, 'echoReply', 0xdd1c],
    ] as const) {
      const repr = Icmpv4Repr.parse(wrapIcmp(frame));
      expect(repr).toEqual({ kind, ident: 0x1a10, seq: 1, data: PING_DATA });
      const bytes = icmpBytes(frame);
      expect(bytes.readUInt16BE(2)).toBe(check);
      const out = Buffer.alloc(Icmpv4Repr.bufferLen(repr), 0xee);
      expect(Icmpv4Repr.emit(repr, out, 0)).toBe(64);
      expect(out.toString('hex')).toBe(bytes.toString('hex'));
    }
  });

  it('the whole echo reply frame can be generated from the request', () => {
    const req = wrapIcmp(ICMP_ECHO_REQUEST_FRAME);
    const r = Icmpv4Repr.parse(req);
    if (r.kind !== 'echoRequest') throw new Error('expected an echo request');
    const out = Buffer.alloc(ICMP_ECHO_REPLY_FRAME.length);
    let o = EthernetRepr.emit({ dst: MAC_A, src: MAC_B, etherType: ETHERTYPE_IPV4 }, out, 0);
    const reply: Icmpv4Repr = { kind: 'echoReply', ident: r.ident, seq: r.seq, data: r.data };
    o += Ipv4Repr.emit(
      { src: IP_B, dst: IP_A, protocol: IP_PROTO_ICMP, ttl: 64, payloadLength: Icmpv4Repr.bufferLen(reply), ident: 0x3b00 },
      out,
      o,
    );
    o += Icmpv4Repr.emit(reply, out, o);
    expect(o).toBe(out.length);
    expect(out.toString('hex')).toBe(ICMP_ECHO_REPLY_FRAME.toString('hex'));
  });

  it('turning a request into a reply in place: type change patched incrementally', () => {
    const b = Buffer.from(ICMP_ECHO_REQUEST_FRAME);
    ip.wrap(b, 14, b.length - 14);
    icmp.wrap(b, ip.payloadOffset, ip.payloadLength);
    const oldWord = (icmp.type << 8) | icmp.code;
    icmp.type = ICMP_ECHO_REPLY;
    icmp.adjustChecksum16(oldWord, (ICMP_ECHO_REPLY << 8) | 0);
    expect(icmp.checksum).toBe(0xdd1c);
    expect(icmp.verifyChecksum()).toBe(true);
    icmp.fillChecksum();
    expect(icmp.checksum).toBe(0xdd1c);
  });

  it('setEchoIdentIncremental equals recomputation (ICMP NAT)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), (id) => {
        const b = Buffer.from(ICMP_ECHO_REQUEST_FRAME);
        ip.wrap(b, 14, b.length - 14);
        icmp.wrap(b, ip.payloadOffset, ip.payloadLength);
        icmp.setEchoIdentIncremental(id);
        expect(icmp.echoIdent).toBe(id);
        const bytes = b.subarray(34);
        expect(icmp.checksum).toBe(refChecksum(zeroed(bytes, ICMP_CHECKSUM)));
      }),
      { numRuns: 1000 },
    );
  });

  it('echo reply after a 40-byte IP options header', () => {
    const p = wrapIcmp(ICMP_ECHO_REPLY_RR_FRAME);
    expect(p.off).toBe(74);
    expect(p.type).toBe(ICMP_ECHO_REPLY);
    expect(p.checksum).toBe(0xd5c4);
    expect(p.echoIdent).toBe(0x1e2a);
    expect(p.verifyChecksum()).toBe(true);
    expect(Icmpv4Repr.parse(p)).toEqual({ kind: 'echoReply', ident: 0x1e2a, seq: 1, data: hex('0001020304050607') });
  });

  it('odd-length echo data checksums like the reference', () => {
    const repr: Icmpv4Repr = { kind: 'echoRequest', ident: 7, seq: 9, data: hex('616263') };
    const out = Buffer.alloc(11);
    expect(Icmpv4Repr.emit(repr, out, 0)).toBe(11);
    expect(refChecksum(out)).toBe(0);
    icmp.wrap(out, 0, 11);
    expect(icmp.verifyChecksum()).toBe(true);
  });
});

describe('errors', () => {
  it('port unreachable: fields, inner headers, round trip', () => {
    const p = wrapIcmp(ICMP_PORT_UNREACH_FRAME);
    expect(p.type).toBe(ICMP_DEST_UNREACHABLE);
    expect(p.code).toBe(ICMP_PORT_UNREACHABLE);
    expect(p.checksum).toBe(0xc97d);
    expect(p.nextHopMtu).toBe(0);
    expect(p.isError()).toBe(true);
    expect(p.verifyChecksum()).toBe(true);
    expect(refChecksum(icmpBytes(ICMP_PORT_UNREACH_FRAME))).toBe(0);
    expect(p.innerOffset).toBe(42);
    const inner = new Ipv4Packet();
    expect(inner.wrap(p.buf, p.innerOffset, p.len - ICMP_HLEN)).toBe(WireError.Ok);
    expect(inner.src).toBe(IP_A);
    expect(inner.dst).toBe(IP_B);
    expect(inner.protocol).toBe(IP_PROTO_UDP);
    const l4 = inner.payloadOffset;
    expect(p.buf.readUInt16BE(l4 + UDP_SRC_PORT)).toBe(0xc50d);
    expect(p.buf.readUInt16BE(l4 + UDP_DST_PORT)).toBe(54);

    const repr = Icmpv4Repr.parse(p);
    expect(repr).toEqual({
      kind: 'error',
      type: 3,
      code: 3,
      rest: 0,
      quoted: ICMP_PORT_UNREACH_FRAME.subarray(42),
    });
    const out = Buffer.alloc(Icmpv4Repr.bufferLen(repr));
    Icmpv4Repr.emit(repr, out, 0);
    expect(out.toString('hex')).toBe(icmpBytes(ICMP_PORT_UNREACH_FRAME).toString('hex'));
  });

  it('time exceeded: emitIcmpError from the offending request reproduces the capture', () => {
    const p = wrapIcmp(ICMP_TIME_EXCEEDED_FRAME);
    expect(p.type).toBe(ICMP_TIME_EXCEEDED);
    expect(p.code).toBe(ICMP_TTL_EXCEEDED);
    expect(p.checksum).toBe(0xf4ff);
    expect(p.verifyChecksum()).toBe(true);
    expect(refChecksum(icmpBytes(ICMP_TIME_EXCEEDED_FRAME))).toBe(0);

    // What the data plane does: quote the received IP packet (84 bytes) behind a new header.
    const req = ICMP_TTL1_REQUEST_FRAME;
    const out = Buffer.alloc(ICMP_TIME_EXCEEDED_FRAME.length);
    let o = EthernetRepr.emit({ dst: MAC_A, src: MAC_B, etherType: ETHERTYPE_IPV4 }, out, 0);
    const ipOff = o;
    o += 20;
    const n = emitIcmpError(out, o, ICMP_TIME_EXCEEDED, ICMP_TTL_EXCEEDED, 0, req, 14, req.length - 14);
    expect(n).toBe(8 + 84);
    Ipv4Repr.emit({ src: IP_B, dst: IP_A, protocol: IP_PROTO_ICMP, ttl: 64, payloadLength: n, ident: 0x23db, dscpEcn: 0xc0 }, out, ipOff);
    expect(out.toString('hex')).toBe(ICMP_TIME_EXCEEDED_FRAME.toString('hex'));
  });

  it('frag needed: next-hop MTU, partial inner datagram, emitIcmpError reproduces the capture', () => {
    const p = wrapIcmp(ICMP_FRAG_NEEDED_FRAME);
    expect(p.type).toBe(ICMP_DEST_UNREACHABLE);
    expect(p.code).toBe(ICMP_FRAG_NEEDED);
    expect(p.checksum).toBe(0x73e1);
    expect(p.nextHopMtu).toBe(1000);
    expect(p.restOfHeader).toBe(1000);
    expect(p.len).toBe(556);
    expect(p.verifyChecksum()).toBe(true);
    expect(refChecksum(icmpBytes(ICMP_FRAG_NEEDED_FRAME))).toBe(0);
    const inner = new Ipv4Packet();
    expect(inner.wrapPartial(p.buf, p.innerOffset, p.len - ICMP_HLEN)).toBe(WireError.Ok);
    expect(inner.totalLength).toBe(1228);
    expect(inner.dst).toBe(IP_FAR);

    const repr = Icmpv4Repr.parse(p);
    expect(repr.kind).toBe('error');
    expect(repr.kind === 'error' && repr.rest).toBe(1000);

    // RFC 1812: quote as much as fits in a 576-byte reply: 576 - 20 - 8 = 548 bytes.
    const req = ICMP_BIG_REQUEST_FRAME;
    const out = Buffer.alloc(ICMP_FRAG_NEEDED_FRAME.length);
    EthernetRepr.emit({ dst: MAC_A, src: MAC_B, etherType: ETHERTYPE_IPV4 }, out, 0);
    const n = emitIcmpError(out, 34, ICMP_DEST_UNREACHABLE, ICMP_FRAG_NEEDED, 1000, req, 14, 548);
    Ipv4Repr.emit({ src: IP_B, dst: IP_A, protocol: IP_PROTO_ICMP, ttl: 64, payloadLength: n, ident: 0x23dc, dscpEcn: 0xc0 }, out, 14);
    expect(out.toString('hex')).toBe(ICMP_FRAG_NEEDED_FRAME.toString('hex'));

    icmp.wrap(out, 34, n);
    icmp.nextHopMtu = 1280;
    expect(icmp.nextHopMtu).toBe(1280);
    expect(icmp.verifyChecksum()).toBe(false); // setters leave checksums alone
  });

  it('emitIcmpError may quote from the output buffer itself (overlap)', () => {
    const b = Buffer.concat([Buffer.alloc(8), ICMP_TTL1_REQUEST_FRAME.subarray(14)]);
    const n = emitIcmpError(b, 0, ICMP_TIME_EXCEEDED, ICMP_TTL_EXCEEDED, 0, b, 8, 84);
    expect(b.subarray(0, n).toString('hex')).toBe(icmpBytes(ICMP_TIME_EXCEEDED_FRAME).toString('hex'));
    // Shifted overlap: quoted range starts inside the header being written.
    const c = Buffer.concat([Buffer.alloc(12), ICMP_TTL1_REQUEST_FRAME.subarray(14)]);
    emitIcmpError(c, 4, ICMP_TIME_EXCEEDED, ICMP_TTL_EXCEEDED, 0, c, 12, 84);
    expect(c.subarray(4, 4 + n).toString('hex')).toBe(icmpBytes(ICMP_TIME_EXCEEDED_FRAME).toString('hex'));
    const d = Buffer.concat([ICMP_TTL1_REQUEST_FRAME.subarray(14), Buffer.alloc(8)]);
    emitIcmpError(d, 0, ICMP_TIME_EXCEEDED, ICMP_TTL_EXCEEDED, 0, d, 0, 84);
    expect(d.toString('hex')).toBe(icmpBytes(ICMP_TIME_EXCEEDED_FRAME).toString('hex'));
  });

  it('emitIcmpError checks its ranges', () => {
    const q = Buffer.alloc(20);
    expect(() => emitIcmpError(Buffer.alloc(27), 0, 3, 1, 0, q, 0, 20)).toThrow(RangeError);
    expect(() => emitIcmpError(Buffer.alloc(40), 0, 3, 1, 0, q, 4, 20)).toThrow(RangeError);
  });

  it('isIcmpErrorType', () => {
    const errors = [3, 4, 5, 11, 12];
    for (let t = 0; t < 256; t++) expect(isIcmpErrorType(t)).toBe(errors.includes(t));
  });
});

describe('other types and wrap errors', () => {
  it('an echo with a non-zero code and a timestamp request round-trip as "other"', () => {
    for (const msg of [hex('08 01 0000 1234 5678 aabb'), hex('0d 00 0000 0001 0002 00000001 00000002 00000003')]) {
      msg.writeUInt16BE(refChecksum(msg), 2);
      expect(icmp.wrap(msg, 0, msg.length)).toBe(WireError.Ok);
      const repr = Icmpv4Repr.parse(icmp);
      expect(repr.kind).toBe('other');
      const out = Buffer.alloc(msg.length);
      Icmpv4Repr.emit(repr, out, 0);
      expect(out.equals(msg)).toBe(true);
    }
  });

  it('Truncated below 8 bytes', () => {
    const bytes = icmpBytes(ICMP_ECHO_REQUEST_FRAME);
    expect(icmp.wrap(bytes, 0, 7)).toBe(WireError.Truncated);
    expect(icmp.wrap(bytes, 0, 8)).toBe(WireError.Ok);
    expect(icmp.wrap(bytes, 60, 8)).toBe(WireError.Truncated);
    expect(icmp.wrap(bytes, 0, 64)).toBe(WireError.Ok);
    expect(icmp.verifyChecksum()).toBe(true);
    expect(icmp.wrap(bytes, 0, 63)).toBe(WireError.Ok);
    expect(icmp.verifyChecksum()).toBe(false); // cut data no longer sums
  });
});
