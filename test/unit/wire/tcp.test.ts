import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WireError } from '../../../src/wire/error.js';
import { IP_PROTO_TCP, Ipv4Packet } from '../../../src/wire/ipv4.js';
import {
  TCP_ACK,
  TCP_CHECKSUM,
  TCP_FIN,
  TCP_OPT_MSS,
  TCP_OPT_SACK,
  TCP_OPT_TIMESTAMP,
  TCP_OPT_WSCALE,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TcpPacket,
  TcpRepr,
} from '../../../src/wire/tcp.js';
import {
  IP_A,
  IP_B,
  TCP_DATA_FRAME,
  TCP_FIN_FRAME,
  TCP_SYN_ACK_FRAME,
  TCP_SYN_FRAME,
  hex,
  refL4Checksum,
  zeroed,
} from './frames.js';

const ip = new Ipv4Packet();
const tcp = new TcpPacket();

function wrapTcp(frame: Buffer): TcpPacket {
  expect(ip.wrap(frame, 14, frame.length - 14)).toBe(WireError.Ok);
  expect(tcp.wrap(frame, ip.payloadOffset, ip.payloadLength)).toBe(WireError.Ok);
  return tcp;
}

const captures = [
  ['syn', TCP_SYN_FRAME, IP_A, IP_B],
  ['syn-ack', TCP_SYN_ACK_FRAME, IP_B, IP_A],
  ['data', TCP_DATA_FRAME, IP_A, IP_B],
  ['fin', TCP_FIN_FRAME, IP_A, IP_B],
] as const;

describe('TcpPacket on real captures', () => {
  it('reads every field of the SYN', () => {
    const p = wrapTcp(TCP_SYN_FRAME);
    expect(p.srcPort).toBe(59132);
    expect(p.dstPort).toBe(80);
    expect(p.seq).toBe(0xa6b4dc0c);
    expect(p.ack).toBe(0);
    expect(p.headerLength).toBe(40);
    expect(p.flags).toBe(TCP_SYN);
    expect(p.window).toBe(64240);
    expect(p.checksum).toBe(0xd1b5);
    expect(p.urgent).toBe(0);
    expect(p.optionsOffset).toBe(54);
    expect(p.optionsLength).toBe(20);
    expect(p.payloadOffset).toBe(74);
    expect(p.payloadLength).toBe(0);
    expect(p.mss).toBe(1460);
    expect(p.findOption(TCP_OPT_MSS)).toBe(54);
    expect(p.findOption(TCP_OPT_TIMESTAMP)).toBe(60);
    expect(p.findOption(TCP_OPT_WSCALE)).toBe(71);
    expect(p.findOption(TCP_OPT_SACK)).toBe(-1);
    expect(p.verifyChecksum(IP_A, IP_B)).toBe(true);
    expect(p.verifyChecksum(IP_A, IP_B, 40)).toBe(true);
    expect(p.verifyChecksum(IP_B, IP_B)).toBe(false);
    const seg = TCP_SYN_FRAME.subarray(34);
    expect(refL4Checksum(IP_A, IP_B, IP_PROTO_TCP, zeroed(seg, TCP_CHECKSUM))).toBe(0xd1b5);
  });

  it('parses the SYN into the expected Repr', () => {
    expect(TcpRepr.parse(wrapTcp(TCP_SYN_FRAME))).toEqual({
      srcPort: 59132,
      dstPort: 80,
      seq: 0xa6b4dc0c,
      ack: 0,
      flags: TCP_SYN,
      window: 64240,
      urgent: 0,
      mss: 1460,
      sackPermitted: true,
      timestamp: { tsVal: 0xa9c90f59, tsEcr: 0 },
      windowScale: 10,
      payload: Buffer.alloc(0),
    });
  });

  it('parses the data segment (NOP NOP TS, 18-byte payload)', () => {
    const p = wrapTcp(TCP_DATA_FRAME);
    expect(p.flags).toBe(TCP_PSH | TCP_ACK);
    expect(p.headerLength).toBe(32);
    expect(p.payloadLength).toBe(18);
    expect(p.mss).toBe(-1);
    expect(TcpRepr.parse(p)).toEqual({
      srcPort: 59132,
      dstPort: 80,
      seq: 0xa6b4dc0d,
      ack: 0xb892396e,
      flags: TCP_PSH | TCP_ACK,
      window: 63,
      urgent: 0,
      sackPermitted: false,
      timestamp: { tsVal: 0xa9c90f59, tsEcr: 0x4616a0cc },
      payload: Buffer.from('GET / HTTP/1.0\r\n\r\n'),
    });
    expect(wrapTcp(TCP_FIN_FRAME).flags).toBe(TCP_FIN | TCP_ACK);
  });

  it.each(captures)('%s: checksum verified by both implementations, emit(parse) is byte-exact', (_n, frame, src, dst) => {
    const p = wrapTcp(frame);
    expect(p.verifyChecksum(src, dst)).toBe(true);
    expect(refL4Checksum(src, dst, IP_PROTO_TCP, frame.subarray(34))).toBe(0);
    const repr = TcpRepr.parse(p);
    const out = Buffer.alloc(TcpRepr.bufferLen(repr), 0xee);
    expect(TcpRepr.emit(repr, out, 0, src, dst)).toBe(frame.length - 34);
    expect(out.toString('hex')).toBe(frame.subarray(34).toString('hex'));
  });

  it('fillChecksum restores a corrupted checksum', () => {
    const b = Buffer.from(TCP_DATA_FRAME);
    const p = wrapTcp(b);
    p.checksum = 0;
    expect(p.verifyChecksum(IP_A, IP_B)).toBe(false);
    p.fillChecksum(IP_A, IP_B);
    expect(b.equals(TCP_DATA_FRAME)).toBe(true);
  });

  it('emits a bare RST and options in the other Linux layouts', () => {
    const rst: TcpRepr = { srcPort: 80, dstPort: 59132, seq: 0, ack: 0xa6b4dc0d, flags: TCP_RST | TCP_ACK, window: 0, payload: Buffer.alloc(0) };
    const out = Buffer.alloc(20);
    expect(TcpRepr.emit(rst, out, 0, IP_B, IP_A)).toBe(20);
    expect(out.subarray(0, 16).toString('hex')).toBe(hex('0050 e6fc 00000000 a6b4dc0d 50 14 0000').toString('hex'));
    expect(refL4Checksum(IP_B, IP_A, IP_PROTO_TCP, out)).toBe(0);
    tcp.wrap(out, 0, 20);
    expect(TcpRepr.parse(tcp)).toEqual({ ...rst, urgent: 0, sackPermitted: false });

    const syn: TcpRepr = { srcPort: 1, dstPort: 2, seq: 3, ack: 0, flags: TCP_SYN, window: 1024, mss: 1400, sackPermitted: true, windowScale: 7, payload: Buffer.alloc(0) };
    const o2 = Buffer.alloc(TcpRepr.bufferLen(syn));
    expect(TcpRepr.emit(syn, o2, 0, IP_A, IP_B)).toBe(32);
    expect(o2.subarray(20).toString('hex')).toBe('020405780101040201030307');
    tcp.wrap(o2, 0, o2.length);
    expect(TcpRepr.parse(tcp)).toEqual({ ...syn, urgent: 0 });
    expect(tcp.verifyChecksum(IP_A, IP_B)).toBe(true);
  });
});

describe('TcpPacket.wrap errors and hostile options', () => {
  const seg = TCP_SYN_FRAME.subarray(34);
  it('Truncated / Malformed', () => {
    expect(tcp.wrap(seg, 0, 19)).toBe(WireError.Truncated);
    expect(tcp.wrap(seg, 0, 39)).toBe(WireError.Malformed); // data offset 10 words > 39 bytes
    expect(tcp.wrap(seg, 0, 40)).toBe(WireError.Ok);
    const b = Buffer.from(seg);
    b[12] = 0x40; // data offset 4
    expect(tcp.wrap(b, 0, 40)).toBe(WireError.Malformed);
    b[12] = 0xf0; // 60 bytes
    expect(tcp.wrap(b, 0, 40)).toBe(WireError.Malformed);
  });

  it('stops at malformed option lengths without reading past the header', () => {
    const b = Buffer.from(seg);
    b[21] = 0; // MSS option length 0
    expect(tcp.wrap(b, 0, 40)).toBe(WireError.Ok);
    expect(tcp.mss).toBe(-1);
    expect(tcp.findOption(TCP_OPT_TIMESTAMP)).toBe(-1);
    expect(TcpRepr.parse(tcp)).toMatchObject({ sackPermitted: false, payload: Buffer.alloc(0) });
    const c = Buffer.from(seg);
    c[37] = 4; // window scale claims 4 bytes: one past the header
    tcp.wrap(c, 0, 40);
    expect(tcp.findOption(TCP_OPT_WSCALE)).toBe(-1);
    expect(TcpRepr.parse(tcp).windowScale).toBeUndefined();
    expect(TcpRepr.parse(tcp).mss).toBe(1460);
    const d = Buffer.from(seg);
    d.fill(1, 36, 39); // NOPs, then a lone window-scale kind byte with no room for its length
    d[39] = TCP_OPT_WSCALE;
    tcp.wrap(d, 0, 40);
    expect(tcp.findOption(TCP_OPT_WSCALE)).toBe(-1);
    expect(TcpRepr.parse(tcp).timestamp).toEqual({ tsVal: 0xa9c90f59, tsEcr: 0 });
    const e = Buffer.from(seg);
    e[36] = 0; // END: nothing after it is looked at
    tcp.wrap(e, 0, 40);
    expect(tcp.findOption(TCP_OPT_WSCALE)).toBe(-1);
  });
});

describe('MSS clamping and NAT rewrites', () => {
  it('clampMss on the real SYN equals recomputation', () => {
    const b = Buffer.from(TCP_SYN_FRAME);
    const p = wrapTcp(b);
    expect(p.clampMss(1500)).toBe(false);
    expect(b.equals(TCP_SYN_FRAME)).toBe(true);
    expect(p.clampMss(1360)).toBe(true);
    expect(p.mss).toBe(1360);
    expect(p.checksum).toBe(refL4Checksum(IP_A, IP_B, IP_PROTO_TCP, zeroed(b.subarray(34), TCP_CHECKSUM)));
  });

  it('clampMss at an odd offset (NOP before MSS) equals recomputation', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), (mss, max) => {
        // Options: NOP, MSS(4), NOP, NOP, NOP -> the MSS value sits at segment offset 23.
        const b = hex(`e6fc 0050 a6b4dc0c 00000000 70 02 faf0 0000 0000 01 0204 ${mss.toString(16).padStart(4, '0')} 010101`);
        expect(tcp.wrap(b, 0, b.length)).toBe(WireError.Ok);
        tcp.fillChecksum(IP_A, IP_B);
        expect(tcp.findOption(TCP_OPT_MSS)).toBe(21);
        expect(tcp.clampMss(max)).toBe(mss > max);
        expect(tcp.mss).toBe(Math.min(mss, max));
        expect(tcp.checksum).toBe(refL4Checksum(IP_A, IP_B, IP_PROTO_TCP, zeroed(b, TCP_CHECKSUM)));
      }),
      { numRuns: 1000 },
    );
  });

  it('incremental address and port rewrites equal full recomputation (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.constantFrom(TCP_SYN_FRAME, TCP_DATA_FRAME, TCP_FIN_FRAME),
        (newSrc, newDst, newSport, newDport, frame) => {
          const b = Buffer.from(frame);
          const p = wrapTcp(b);
          p.adjustChecksum32(IP_A, newSrc);
          p.adjustChecksum32(IP_B, newDst);
          p.setSrcPortIncremental(newSport);
          p.setDstPortIncremental(newDport);
          expect([p.srcPort, p.dstPort]).toEqual([newSport, newDport]);
          expect(p.verifyChecksum(newSrc, newDst)).toBe(true);
          expect(p.checksum).toBe(refL4Checksum(newSrc, newDst, IP_PROTO_TCP, zeroed(b.subarray(34), TCP_CHECKSUM)));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('setters write in place and leave the checksum alone', () => {
    const b = Buffer.from(TCP_SYN_FRAME.subarray(34));
    tcp.wrap(b, 0, b.length);
    tcp.seq = 0xffffffff;
    tcp.ack = 0x80000000;
    tcp.flags = TCP_SYN | TCP_ACK;
    tcp.window = 0xffff;
    tcp.urgent = 0x1234;
    tcp.headerLength = 24;
    expect(tcp.seq).toBe(0xffffffff);
    expect(tcp.ack).toBe(0x80000000);
    expect(tcp.flags).toBe(0x12);
    expect(tcp.window).toBe(0xffff);
    expect(tcp.urgent).toBe(0x1234);
    expect(tcp.headerLength).toBe(24);
    expect(tcp.checksum).toBe(0xd1b5);
    expect(b.subarray(4, 20).toString('hex')).toBe(hex('ffffffff 80000000 60 12 ffff d1b5 1234').toString('hex'));
  });
});
