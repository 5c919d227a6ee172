import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WireError } from '../../../src/wire/error.js';
import {
  IPV4_CHECKSUM,
  IPV4_MIN_HLEN,
  IP_PROTO_ICMP,
  IP_PROTO_TCP,
  IP_PROTO_UDP,
  Ipv4Packet,
  Ipv4Repr,
} from '../../../src/wire/ipv4.js';
import {
  DNS_QUERY_FRAME,
  DNS_RESPONSE_FRAME,
  ICMP_ECHO_REPLY_FRAME,
  ICMP_ECHO_REPLY_RR_FRAME,
  ICMP_ECHO_REQUEST_FRAME,
  ICMP_FRAG_NEEDED_FRAME,
  ICMP_PORT_UNREACH_FRAME,
  ICMP_TIME_EXCEEDED_FRAME,
  IP_A,
  IP_B,
  IP_FAR,
  TCP_DATA_FRAME,
  TCP_SYN_ACK_FRAME,
  TCP_SYN_FRAME,
  hex,
  refChecksum,
  zeroed,
} from './frames.js';

const ip = new Ipv4Packet();

function wrapFrame(frame: Buffer): Ipv4Packet {
  expect(ip.wrap(frame, 14, frame.length - 14)).toBe(WireError.Ok);
  return ip;
}

describe('Ipv4Packet on real captures', () => {
  it('reads every field of the echo request header', () => {
    const f = ICMP_ECHO_REQUEST_FRAME;
    const p = wrapFrame(f);
    expect(p.version).toBe(4);
    expect(p.headerLength).toBe(20);
    expect(p.dscpEcn).toBe(0);
    expect(p.totalLength).toBe(84);
    expect(p.ident).toBe(0x56d6);
    expect(p.dontFragment).toBe(true);
    expect(p.moreFragments).toBe(false);
    expect(p.fragmentOffset).toBe(0);
    expect(p.isFragment).toBe(false);
    expect(p.ttl).toBe(64);
    expect(p.protocol).toBe(IP_PROTO_ICMP);
    expect(p.headerChecksum).toBe(0x8bad);
    expect(p.src).toBe(IP_A);
    expect(p.dst).toBe(IP_B);
    expect(p.payloadOffset).toBe(34);
    expect(p.payloadLength).toBe(64);
    expect(p.verifyChecksum()).toBe(true);
    // Independent check of the literal's checksum.
    expect(refChecksum(zeroed(f.subarray(14, 34), IPV4_CHECKSUM))).toBe(0x8bad);
    expect(refChecksum(f.subarray(14, 34))).toBe(0);
  });

  it('reads TOS, no-DF and protocol of other captures', () => {
    let p = wrapFrame(ICMP_PORT_UNREACH_FRAME);
    expect(p.dscpEcn).toBe(0xc0);
    expect(p.dontFragment).toBe(false);
    expect(p.ident).toBe(0x3b04);
    expect(p.totalLength).toBe(85);
    expect(p.src).toBe(IP_B);
    p = wrapFrame(DNS_QUERY_FRAME);
    expect(p.protocol).toBe(IP_PROTO_UDP);
    expect(p.payloadLength).toBe(37);
    p = wrapFrame(TCP_SYN_FRAME);
    expect(p.protocol).toBe(IP_PROTO_TCP);
    expect(p.payloadLength).toBe(40);
  });

  const twentyByteHeaders: Array<[string, Buffer]> = [
    ['echo request', ICMP_ECHO_REQUEST_FRAME],
    ['echo reply', ICMP_ECHO_REPLY_FRAME],
    ['dns query', DNS_QUERY_FRAME],
    ['dns response', DNS_RESPONSE_FRAME],
    ['port unreachable', ICMP_PORT_UNREACH_FRAME],
    ['time exceeded', ICMP_TIME_EXCEEDED_FRAME],
    ['frag needed', ICMP_FRAG_NEEDED_FRAME],
    ['tcp syn', TCP_SYN_FRAME],
    ['tcp syn-ack', TCP_SYN_ACK_FRAME],
    ['tcp data', TCP_DATA_FRAME],
  ];

  it.each(twentyByteHeaders)('%s: checksum is correct by the reference too', (_n, f) => {
    const p = wrapFrame(f);
    expect(p.verifyChecksum()).toBe(true);
    expect(refChecksum(zeroed(f.subarray(14, 34), IPV4_CHECKSUM))).toBe(p.headerChecksum);
  });

  it.each(twentyByteHeaders)('%s: emit(parse(literal)) gives the literal header', (_n, f) => {
    const repr = Ipv4Repr.parse(wrapFrame(f));
    const out = Buffer.alloc(IPV4_MIN_HLEN, 0xee);
    expect(Ipv4Repr.emit(repr, out, 0)).toBe(20);
    expect(out.toString('hex')).toBe(f.subarray(14, 34).toString('hex'));
  });

  it('parses the echo request into the expected Repr', () => {
    expect(Ipv4Repr.parse(wrapFrame(ICMP_ECHO_REQUEST_FRAME))).toEqual({
      src: IP_A,
      dst: IP_B,
      protocol: IP_PROTO_ICMP,
      ttl: 64,
      payloadLength: 64,
      ident: 0x56d6,
      dontFragment: true,
      dscpEcn: 0,
    });
  });

  it('emit with defaults: ident 0, no DF, DSCP 0', () => {
    const out = Buffer.alloc(20);
    Ipv4Repr.emit({ src: IP_B, dst: IP_A, protocol: IP_PROTO_ICMP, ttl: 64, payloadLength: 64 }, out, 0);
    const expected = hex('45 00 0054 0000 0000 40 01 0000 ac110001 ac110002');
    expected.writeUInt16BE(refChecksum(expected), IPV4_CHECKSUM);
    expect(out.toString('hex')).toBe(expected.toString('hex'));
    expect(() => Ipv4Repr.emit({ src: 0, dst: 0, protocol: 0, ttl: 0, payloadLength: 65516 }, Buffer.alloc(20), 0)).toThrow(RangeError);
    expect(() => Ipv4Repr.emit({ src: 0, dst: 0, protocol: 0, ttl: 0, payloadLength: 0 }, Buffer.alloc(19), 0)).toThrow(RangeError);
  });

  it('handles the Record Route header (IHL 15)', () => {
    const f = ICMP_ECHO_REPLY_RR_FRAME;
    const p = wrapFrame(f);
    expect(p.headerLength).toBe(60);
    expect(p.totalLength).toBe(76);
    expect(p.payloadOffset).toBe(14 + 60);
    expect(p.payloadLength).toBe(16);
    expect(p.headerChecksum).toBe(0x4b2d);
    expect(p.verifyChecksum()).toBe(true);
    expect(refChecksum(f.subarray(14, 74))).toBe(0);
    expect(f[p.payloadOffset]).toBe(0); // ICMP echo reply type
    const b = Buffer.from(f);
    ip.wrap(b, 14, b.length - 14);
    ip.headerChecksum = 0x1234;
    expect(ip.verifyChecksum()).toBe(false);
    ip.fillChecksum();
    expect(b.equals(f)).toBe(true);
  });

  it('accepts Ethernet padding after totalLength', () => {
    const padded = Buffer.concat([DNS_QUERY_FRAME, Buffer.alloc(10)]);
    const p = wrapFrame(padded);
    expect(p.len).toBe(padded.length - 14);
    expect(p.totalLength).toBe(57);
    expect(p.payloadLength).toBe(37);
  });
});

describe('Ipv4Packet.wrap errors', () => {
  const f = ICMP_ECHO_REQUEST_FRAME;
  const corrupt = (at: number, v: number): Buffer => {
    const b = Buffer.from(f);
    b[14 + at] = v;
    return b;
  };

  it('Truncated', () => {
    expect(ip.wrap(f, 14, 19)).toBe(WireError.Truncated); // not even a minimal header
    expect(ip.wrap(f, 14, 83)).toBe(WireError.Truncated); // one byte short of totalLength
    expect(ip.wrap(f, 14, 84)).toBe(WireError.Ok);
    expect(ip.wrap(ICMP_ECHO_REPLY_RR_FRAME, 14, 40)).toBe(WireError.Truncated); // options cut off
    expect(ip.wrap(f, 14, 200)).toBe(WireError.Truncated); // len beyond the Buffer
  });

  it('Malformed', () => {
    expect(ip.wrap(corrupt(0, 0x65), 14, 84)).toBe(WireError.Malformed); // version 6
    expect(ip.wrap(corrupt(0, 0x44), 14, 84)).toBe(WireError.Malformed); // IHL 4
    expect(ip.wrap(corrupt(3, 0x10), 14, 84)).toBe(WireError.Malformed); // totalLength 16 < 20
  });

  it('wrapPartial accepts the cut-short datagram quoted in an ICMP error', () => {
    const g = ICMP_FRAG_NEEDED_FRAME;
    const inner = 14 + 20 + 8;
    expect(ip.wrap(g, inner, g.length - inner)).toBe(WireError.Truncated);
    expect(ip.wrapPartial(g, inner, g.length - inner)).toBe(WireError.Ok);
    expect(ip.totalLength).toBe(1228);
    expect(ip.src).toBe(IP_A);
    expect(ip.dst).toBe(IP_FAR);
    expect(ip.protocol).toBe(IP_PROTO_ICMP);
    expect(ip.verifyChecksum()).toBe(true);
    expect(ip.wrapPartial(g, inner, 19)).toBe(WireError.Truncated);
  });
});

describe('Ipv4Packet setters and incremental updates', () => {
  it('fragment fields', () => {
    const b = Buffer.from(DNS_QUERY_FRAME);
    ip.wrap(b, 14, b.length - 14);
    expect(ip.isFragment).toBe(false);
    ip.moreFragments = true;
    expect(ip.isFragment).toBe(true);
    expect(b.readUInt16BE(20)).toBe(0x2000);
    ip.moreFragments = false;
    ip.fragmentOffset = 0x1fff;
    expect(ip.fragmentOffset).toBe(0x1fff);
    expect(ip.isFragment).toBe(true);
    ip.dontFragment = true;
    expect(b.readUInt16BE(20)).toBe(0x5fff);
    ip.fragmentOffset = 0;
    expect(ip.isFragment).toBe(false);
    expect(ip.dontFragment).toBe(true);
    ip.dontFragment = false;
    expect(b.readUInt16BE(20)).toBe(0);
    // Setters never touch the checksum.
    expect(ip.headerChecksum).toBe(0xa0d1);
  });

  it('decrementTtl on the real echo request', () => {
    const b = Buffer.from(ICMP_ECHO_REQUEST_FRAME);
    ip.wrap(b, 14, b.length - 14);
    ip.decrementTtl();
    expect(ip.ttl).toBe(63);
    expect(ip.headerChecksum).toBe(0x8cad); // +0x0100 as RFC 1141 predicts
    expect(ip.verifyChecksum()).toBe(true);
    expect(refChecksum(b.subarray(14, 34))).toBe(0);
  });

  it('setSrcIncremental / setDstIncremental on the real echo request (SNAT/DNAT)', () => {
    const b = Buffer.from(ICMP_ECHO_REQUEST_FRAME);
    ip.wrap(b, 14, b.length - 14);
    ip.setSrcIncremental(0xc0000201);
    ip.setDstIncremental(0x08080808);
    expect(ip.src).toBe(0xc0000201);
    expect(ip.dst).toBe(0x08080808);
    const inc = ip.headerChecksum;
    ip.fillChecksum();
    expect(inc).toBe(ip.headerChecksum);
    expect(refChecksum(zeroed(b.subarray(14, 34), IPV4_CHECKSUM))).toBe(inc);
  });

  const header = fc.record({
    dscpEcn: fc.integer({ min: 0, max: 255 }),
    payloadLength: fc.integer({ min: 0, max: 1480 }),
    ident: fc.integer({ min: 0, max: 0xffff }),
    dontFragment: fc.boolean(),
    ttl: fc.integer({ min: 1, max: 255 }),
    protocol: fc.integer({ min: 0, max: 255 }),
    src: fc.integer({ min: 0, max: 0xffffffff }),
    dst: fc.integer({ min: 0, max: 0xffffffff }),
  });

  it('decrementTtl and address rewrites equal full recomputation (property)', () => {
    fc.assert(
      fc.property(
        header,
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (repr, newSrc, newDst) => {
          const b = Buffer.alloc(20 + repr.payloadLength);
          Ipv4Repr.emit(repr, b, 0);
          expect(ip.wrap(b, 0, b.length)).toBe(WireError.Ok);
          expect(ip.verifyChecksum()).toBe(true);
          const recomputed = (): number => refChecksum(zeroed(b.subarray(0, 20), IPV4_CHECKSUM));
          ip.decrementTtl();
          expect(ip.ttl).toBe(repr.ttl - 1);
          expect(ip.headerChecksum).toBe(recomputed());
          ip.setSrcIncremental(newSrc);
          expect(ip.headerChecksum).toBe(recomputed());
          ip.setDstIncremental(newDst);
          expect(ip.headerChecksum).toBe(recomputed());
          expect(ip.verifyChecksum()).toBe(true);
          expect(Ipv4Repr.parse(ip)).toEqual({ ...repr, ttl: repr.ttl - 1, src: newSrc, dst: newDst });
        },
      ),
      { numRuns: 1000 },
    );
  });
});
