import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { finish, pseudoHeaderSum, sum16 } from '../../../src/wire/checksum.js';
import { WireError } from '../../../src/wire/error.js';
import { IP_PROTO_UDP, Ipv4Packet } from '../../../src/wire/ipv4.js';
import { UDP_CHECKSUM, UDP_HLEN, UdpPacket, UdpRepr } from '../../../src/wire/udp.js';
import {
  DNS_QUERY_FRAME,
  DNS_QUERY_PORT54_FRAME,
  DNS_RESPONSE_FRAME,
  IP_A,
  IP_B,
  hex,
  refL4Checksum,
  zeroed,
} from './frames.js';

const ip = new Ipv4Packet();
const udp = new UdpPacket();

function wrapUdp(frame: Buffer): UdpPacket {
  expect(ip.wrap(frame, 14, frame.length - 14)).toBe(WireError.Ok);
  expect(udp.wrap(frame, ip.payloadOffset, ip.payloadLength)).toBe(WireError.Ok);
  return udp;
}

const DNS_QUERY = hex('d240 0120 0001 0000 0000 0000 07 6578616d706c65 03 636f6d 00 0001 0001');
const DNS_ANSWER = hex(`d240 8180 0001 0001 0000 0000 07 6578616d706c65 03 636f6d 00 0001 0001
  c00c 0001 0001 0000012c 0004 5db8d70e`);

describe('UdpPacket on real DNS datagrams', () => {
  it('reads every field of the query', () => {
    const p = wrapUdp(DNS_QUERY_FRAME);
    expect(p.srcPort).toBe(0x870d);
    expect(p.dstPort).toBe(53);
    expect(p.length).toBe(37);
    expect(p.checksum).toBe(0x7e6d);
    expect(p.payloadOffset).toBe(42);
    expect(p.payloadLength).toBe(29);
    expect(p.verifyChecksum(IP_A, IP_B)).toBe(true);
    expect(p.verifyChecksum(IP_A, IP_A)).toBe(false);
    const seg = DNS_QUERY_FRAME.subarray(34);
    expect(refL4Checksum(IP_A, IP_B, IP_PROTO_UDP, zeroed(seg, UDP_CHECKSUM))).toBe(0x7e6d);
    expect(refL4Checksum(IP_A, IP_B, IP_PROTO_UDP, seg)).toBe(0);
  });

  it('parse/emit round trip for query, answer and the port-54 query', () => {
    const cases = [
      [DNS_QUERY_FRAME, IP_A, IP_B, { srcPort: 0x870d, dstPort: 53, payload: DNS_QUERY }],
      [DNS_RESPONSE_FRAME, IP_B, IP_A, { srcPort: 53, dstPort: 0x870d, payload: DNS_ANSWER }],
      [DNS_QUERY_PORT54_FRAME, IP_A, IP_B, null],
    ] as const;
    for (const [frame, src, dst, expected] of cases) {
      const p = wrapUdp(frame);
      expect(p.verifyChecksum(src, dst)).toBe(true);
      expect(refL4Checksum(src, dst, IP_PROTO_UDP, frame.subarray(34))).toBe(0);
      const repr = UdpRepr.parse(p);
      if (expected !== null) expect(repr).toEqual(expected);
      const out = Buffer.alloc(UdpRepr.bufferLen(repr), 0xee);
      expect(UdpRepr.emit(repr, out, 0, src, dst)).toBe(frame.length - 34);
      expect(out.toString('hex')).toBe(frame.subarray(34).toString('hex'));
    }
  });

  it('a zero checksum means none; fillChecksum restores the capture', () => {
    const b = Buffer.from(DNS_QUERY_FRAME);
    const p = wrapUdp(b);
    p.checksum = 0;
    expect(p.verifyChecksum(IP_A, IP_B)).toBe(true);
    expect(p.verifyChecksum(1, 2)).toBe(true);
    p.fillChecksum(IP_A, IP_B);
    expect(b.equals(DNS_QUERY_FRAME)).toBe(true);
  });

  it('a computed 0 is stored as 0xffff', () => {
    // Choose the last payload word so the ones-complement sum is 0xffff.
    const b = Buffer.alloc(12);
    b.writeUInt16BE(1234, 0);
    b.writeUInt16BE(5678, 2);
    b.writeUInt16BE(12, 4);
    const s = finish(sum16(b, 0, 12, pseudoHeaderSum(IP_A, IP_B, IP_PROTO_UDP, 12)));
    b.writeUInt16BE(s, 8); // adding the complement makes the sum 0xffff
    expect(refL4Checksum(IP_A, IP_B, IP_PROTO_UDP, b)).toBe(0);
    expect(udp.wrap(b, 0, 12)).toBe(WireError.Ok);
    udp.fillChecksum(IP_A, IP_B);
    expect(udp.checksum).toBe(0xffff);
    expect(udp.verifyChecksum(IP_A, IP_B)).toBe(true);
    const out = Buffer.alloc(12);
    UdpRepr.emit(UdpRepr.parse(udp), out, 0, IP_A, IP_B);
    expect(out.equals(b)).toBe(true);
  });

  it('ignores bytes after the length field (e.g. padding)', () => {
    const b = Buffer.concat([DNS_QUERY_FRAME.subarray(34), hex('000000')]);
    expect(udp.wrap(b, 0, b.length)).toBe(WireError.Ok);
    expect(udp.payloadLength).toBe(29);
    expect(udp.verifyChecksum(IP_A, IP_B)).toBe(true);
    expect(UdpRepr.parse(udp).payload.equals(DNS_QUERY)).toBe(true);
  });
});

describe('UdpPacket.wrap errors', () => {
  const seg = DNS_QUERY_FRAME.subarray(34);
  it('Truncated under 8 bytes', () => {
    expect(udp.wrap(seg, 0, 7)).toBe(WireError.Truncated);
    expect(udp.wrap(seg, 0, 0)).toBe(WireError.Truncated);
  });
  it('Malformed length field', () => {
    expect(udp.wrap(seg, 0, 36)).toBe(WireError.Malformed); // length 37 > available 36
    const b = Buffer.from(seg);
    b.writeUInt16BE(7, 4);
    expect(udp.wrap(b, 0, b.length)).toBe(WireError.Malformed);
    b.writeUInt16BE(8, 4);
    expect(udp.wrap(b, 0, b.length)).toBe(WireError.Ok);
    expect(udp.payloadLength).toBe(0);
  });
});

describe('UDP NAT rewrites', () => {
  it('incremental address and port rewrites equal full recomputation (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        (newSrc, newDst, newSport, newDport, payload) => {
          const b = Buffer.alloc(UDP_HLEN + payload.length);
          UdpRepr.emit({ srcPort: 0x870d, dstPort: 53, payload: Buffer.from(payload) }, b, 0, IP_A, IP_B);
          expect(udp.wrap(b, 0, b.length)).toBe(WireError.Ok);
          udp.adjustChecksum32(IP_A, newSrc);
          udp.adjustChecksum32(IP_B, newDst);
          udp.setSrcPortIncremental(newSport);
          udp.setDstPortIncremental(newDport);
          expect(udp.srcPort).toBe(newSport);
          expect(udp.dstPort).toBe(newDport);
          expect(udp.verifyChecksum(newSrc, newDst)).toBe(true);
          const ref = refL4Checksum(newSrc, newDst, IP_PROTO_UDP, zeroed(b, UDP_CHECKSUM));
          expect(udp.checksum).toBe(ref === 0 ? 0xffff : ref);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('leaves a "none" checksum alone', () => {
    const b = Buffer.from(DNS_QUERY_FRAME.subarray(34));
    udp.wrap(b, 0, b.length);
    udp.checksum = 0;
    udp.adjustChecksum32(IP_A, 0x01020304);
    udp.setSrcPortIncremental(1);
    expect(udp.checksum).toBe(0);
  });
});
