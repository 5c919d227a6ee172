import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ipv6AddressSumWords } from '../../../src/wire/checksum.js';
import { WireError } from '../../../src/wire/error.js';
import { ETHERTYPE_IPV6, EthernetRepr } from '../../../src/wire/ethernet.js';
import {
  ICMPV6_CHECKSUM,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_ERRONEOUS_HEADER,
  ICMPV6_ERROR_MAX_QUOTE,
  ICMPV6_HOP_LIMIT_EXCEEDED,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAM_PROBLEM,
  ICMPV6_TIME_EXCEEDED,
  ICMPV6_UNRECOGNIZED_NEXT_HEADER,
  ICMPV6_UNRECOGNIZED_OPTION,
  type Icmpv6ErrorSpec,
  Icmpv6Packet,
  Icmpv6Repr,
  emitIcmpv6Error,
  icmpv6ErrorAllowed,
  isIcmpv6ErrorType,
} from '../../../src/wire/icmpv6.js';
import { IPV6_MIN_MTU, IPV6_NH_ICMPV6, Ipv6ExtensionWalk, Ipv6Packet, Ipv6Repr } from '../../../src/wire/ipv6.js';
import { hex } from './frames.js';
import {
  BIG_REQUEST6_FRAME,
  ECHO6_REPLY_FRAME,
  ECHO6_REQUEST_FRAME,
  EXT_CHAIN_FRAME,
  EXT_CHAIN_REPLY_FRAME,
  HBH_PARAM_PROBLEM_FRAME,
  MLD2_REPORT_FRAME,
  NDP_DAD_NS_FRAME,
  NDP_REDIRECT_FRAME,
  HBH_UNKNOWN_FRAME,
  MAC_HOST,
  MAC_ROUTER,
  PACKET_TOO_BIG_FRAME,
  PARAM_PROBLEM_NH_FRAME,
  RH0_FRAME,
  RH0_PARAM_PROBLEM_FRAME,
  TIME_EXCEEDED6_FRAME,
  TTL1_REQUEST6_FRAME,
  UNKNOWN_NH_FRAME,
  V6_HOST,
  V6_ROUTER,
  refChecksum6,
} from './frames6.js';

const ip = new Ipv6Packet();
const icmp = new Icmpv6Packet();
const walk = new Ipv6ExtensionWalk();

/** Wrap the IPv6 packet of a frame, walk it, and wrap its ICMPv6 message. */
function wrapIcmp(frame: Buffer): Icmpv6Packet {
  expect(ip.wrap(frame, 14, frame.length - 14)).toBe(WireError.Ok);
  expect(ip.walkExtensions(walk)).toBe(WireError.Ok);
  expect(walk.protocol).toBe(IPV6_NH_ICMPV6);
  expect(icmp.wrap(frame, walk.offset, walk.length)).toBe(WireError.Ok);
  return icmp;
}

/** Checksum cross-checked with the independent reference, both ways. */
function expectChecksumsOk(frame: Buffer, p: Icmpv6Packet): void {
  expect(p.verifyChecksum(ip.addressSum())).toBe(true);
  expect(refChecksum6(frame, 14, p.off, p.len, IPV6_NH_ICMPV6)).toBe(0);
  const c = Buffer.from(frame);
  const q = new Icmpv6Packet();
  q.wrap(c, p.off, p.len);
  q.checksum = 0;
  expect(q.verifyChecksum(ip.addressSum())).toBe(false);
  q.fillChecksum(ip.addressSum());
  expect(q.checksum).toBe(p.checksum);
}

/** Ethernet header of a frame from `src` to `dst` MAC. */
function ethHeader(dst: number, src: number): Buffer {
  const b = Buffer.alloc(14);
  EthernetRepr.emit({ dst, src, etherType: ETHERTYPE_IPV6 }, b, 0);
  return b;
}

describe('echo', () => {
  it('reads every field of the kernel echo request and reply; checksums verify', () => {
    for (const [frame, type, check] of [
      [ECHO6_REQUEST_FRAME, ICMPV6_ECHO_REQUEST, 0x0e54],
      [ECHO6_REPLY_FRAME, ICMPV6_ECHO_REPLY, 0x0d54],
    ] as const) {
      const p = wrapIcmp(frame);
      expect(p.type).toBe(type);
      expect(p.code).toBe(0);
      expect(p.checksum).toBe(check);
      expect(p.echoIdent).toBe(0x0ae6);
      expect(p.echoSeq).toBe(1);
      expect(p.isError()).toBe(false);
      expect(p.payloadOffset).toBe(62);
      expect(p.payloadLength).toBe(16);
      expectChecksumsOk(frame, p);
    }
  });

  it('parse gives the Repr, emit gives the literal frame back (with the IPv6 and Ethernet Reprs)', () => {
    for (const [frame, dstMac, srcMac] of [
      [ECHO6_REQUEST_FRAME, MAC_ROUTER, MAC_HOST],
      [ECHO6_REPLY_FRAME, MAC_HOST, MAC_ROUTER],
      [EXT_CHAIN_REPLY_FRAME, MAC_HOST, MAC_ROUTER],
    ] as const) {
      const p = wrapIcmp(frame);
      const repr = Icmpv6Repr.parse(p);
      const ipRepr = Ipv6Repr.parse(ip);
      expect(repr.kind).toBe(p.type === ICMPV6_ECHO_REQUEST ? 'echoRequest' : 'echoReply');
      const out = Buffer.alloc(frame.length);
      ethHeader(dstMac, srcMac).copy(out, 0);
      Ipv6Repr.emit(ipRepr, out, 14);
      expect(Icmpv6Repr.emit(repr, out, 54, ipRepr.src, ipRepr.dst)).toBe(frame.length - 54);
      expect(out.toString('hex')).toBe(frame.toString('hex'));
    }
    const repr = Icmpv6Repr.parse(wrapIcmp(ECHO6_REQUEST_FRAME));
    expect(repr).toEqual({ kind: 'echoRequest', ident: 0x0ae6, seq: 1, data: hex('6e04116b00000000 e5bd070000000000') });
  });

  it('the echo request behind hop-by-hop, destination options and a fragment header verifies', () => {
    const p = wrapIcmp(EXT_CHAIN_FRAME);
    expect(p.echoIdent).toBe(0x4242);
    expect(p.echoSeq).toBe(1);
    expect(p.len).toBe(16);
    expectChecksumsOk(EXT_CHAIN_FRAME, p);
  });

  it('an incremental identifier rewrite equals a full recomputation', () => {
    const f = Buffer.from(ECHO6_REQUEST_FRAME);
    const p = wrapIcmp(f);
    p.setEchoIdentIncremental(0xbeef);
    expect(p.verifyChecksum(ip.addressSum())).toBe(true);
  });

  it('emit then parse round-trips random echoes, errors and others', () => {
    const word = fc.nat({ max: 0xffffffff });
    const addr = fc.tuple(word, word, word, word);
    const data = fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a));
    const repr = fc.oneof(
      fc.record({ kind: fc.constantFrom('echoRequest' as const, 'echoReply' as const), ident: fc.nat({ max: 0xffff }), seq: fc.nat({ max: 0xffff }), data }),
      fc.record({ kind: fc.constant('error' as const), type: fc.nat({ max: 127 }), code: fc.nat({ max: 255 }), param: word, quoted: data }),
      fc.record({ kind: fc.constant('other' as const), type: fc.integer({ min: 130, max: 255 }), code: fc.nat({ max: 255 }), rest: word, data }),
    );
    fc.assert(
      fc.property(repr, addr, addr, (r, src, dst) => {
        const b = Buffer.alloc(Icmpv6Repr.bufferLen(r) + 3);
        const n = Icmpv6Repr.emit(r, b, 3, src, dst);
        expect(icmp.wrap(b, 3, n)).toBe(WireError.Ok);
        expect(icmp.verifyChecksum(ipv6AddressSumWords(src, dst))).toBe(true);
        expect(Icmpv6Repr.parse(icmp)).toEqual(r);
      }),
    );
  });
});

describe('errors from the kernel router', () => {
  it('reads time exceeded, packet too big and the parameter problems', () => {
    const te = wrapIcmp(TIME_EXCEEDED6_FRAME);
    expect([te.type, te.code, te.isError(), te.payloadLength]).toEqual([ICMPV6_TIME_EXCEEDED, ICMPV6_HOP_LIMIT_EXCEEDED, true, 64]);
    expectChecksumsOk(TIME_EXCEEDED6_FRAME, te);
    const ptb = wrapIcmp(PACKET_TOO_BIG_FRAME);
    expect([ptb.type, ptb.code, ptb.mtu, ptb.payloadLength]).toEqual([ICMPV6_PACKET_TOO_BIG, 0, 1280, ICMPV6_ERROR_MAX_QUOTE]);
    expect(ip.totalLength).toBe(IPV6_MIN_MTU);
    expectChecksumsOk(PACKET_TOO_BIG_FRAME, ptb);
    for (const [frame, code, pointer] of [
      [PARAM_PROBLEM_NH_FRAME, ICMPV6_UNRECOGNIZED_NEXT_HEADER, 6],
      [RH0_PARAM_PROBLEM_FRAME, ICMPV6_ERRONEOUS_HEADER, 42],
      [HBH_PARAM_PROBLEM_FRAME, ICMPV6_UNRECOGNIZED_OPTION, 42],
    ] as const) {
      const pp = wrapIcmp(frame);
      expect([pp.type, pp.code, pp.pointer]).toEqual([ICMPV6_PARAM_PROBLEM, code, pointer]);
      expectChecksumsOk(frame, pp);
      // the quoted packet is a whole IPv6 packet again
      const inner = new Ipv6Packet();
      expect(inner.wrap(frame, pp.payloadOffset, pp.payloadLength)).toBe(WireError.Ok);
      expect(inner.srcEquals(V6_HOST)).toBe(true);
    }
    expect(isIcmpv6ErrorType(1)).toBe(true);
    expect(isIcmpv6ErrorType(127)).toBe(true);
    expect(isIcmpv6ErrorType(128)).toBe(false);
  });

  it('emitIcmpv6Error writes the kernel errors byte for byte (flow label aside)', () => {
    const cases: Array<[Buffer, Buffer, number, number, number, number]> = [
      // offending frame, expected error frame, type, code, param, the kernel's flow label
      [TTL1_REQUEST6_FRAME, TIME_EXCEEDED6_FRAME, ICMPV6_TIME_EXCEEDED, ICMPV6_HOP_LIMIT_EXCEEDED, 0, 0x7a441],
      [BIG_REQUEST6_FRAME, PACKET_TOO_BIG_FRAME, ICMPV6_PACKET_TOO_BIG, 0, 1280, 0x9de49],
      [UNKNOWN_NH_FRAME, PARAM_PROBLEM_NH_FRAME, ICMPV6_PARAM_PROBLEM, ICMPV6_UNRECOGNIZED_NEXT_HEADER, 6, 0xfd555],
      [RH0_FRAME, RH0_PARAM_PROBLEM_FRAME, ICMPV6_PARAM_PROBLEM, -1, -1, 0xe6073],
      [HBH_UNKNOWN_FRAME, HBH_PARAM_PROBLEM_FRAME, ICMPV6_PARAM_PROBLEM, -1, -1, 0xe870e],
    ];
    const spec: Icmpv6ErrorSpec = { type: 0, code: 0, param: 0, src: V6_ROUTER };
    for (const [bad, want, type, code, param, flow] of cases) {
      expect(ip.wrap(bad, 14, bad.length - 14)).toBe(WireError.Ok);
      spec.type = type;
      spec.code = code;
      spec.param = param;
      if (code < 0) {
        // what the walk says to report
        ip.walkExtensions(walk);
        if (walk.routing >= 0) {
          spec.code = ICMPV6_ERRONEOUS_HEADER;
          spec.param = walk.routingPointer;
        } else {
          expect(walk.discard).toBe(true);
          spec.code = walk.problemCode;
          spec.param = walk.problemPointer;
        }
      }
      // into a frame pool slot at an offset, after the caller's Ethernet header
      const out = Buffer.alloc(1600, 0xee);
      ethHeader(MAC_HOST, MAC_ROUTER).copy(out, 100);
      const n = emitIcmpv6Error(out, 114, spec, bad, 14, ip.totalLength);
      expect(n).toBe(want.length - 14);
      const e = new Ipv6Packet();
      expect(e.wrap(out, 114, n)).toBe(WireError.Ok);
      e.flowLabel = flow; // Linux's auto flow label: not covered by any checksum
      expect(out.subarray(100, 114 + n).toString('hex')).toBe(want.toString('hex'));
      expect(out[99]).toBe(0xee);
      expect(out[114 + n]).toBe(0xee);
    }
  });

  it('quotes from the same buffer it writes into, overlapping', () => {
    const f = Buffer.alloc(1600);
    BIG_REQUEST6_FRAME.copy(f, 14); // its IPv6 packet at 28, the error written at 14 over it
    const n = emitIcmpv6Error(f, 14, { type: ICMPV6_PACKET_TOO_BIG, code: 0, param: 1280, src: V6_ROUTER }, f, 28, BIG_REQUEST6_FRAME.length - 14);
    expect(n).toBe(1280);
    const e = new Ipv6Packet();
    e.wrap(f, 14, n);
    e.flowLabel = 0x9de49;
    expect(f.subarray(14, 14 + n).toString('hex')).toBe(PACKET_TOO_BIG_FRAME.subarray(14).toString('hex'));
  });

  it('quotes between two views of one slab, overlapping either way', () => {
    for (const outAt of [100, 20]) { // the quote lands after its source (copied from the end), then before it
      const slab = Buffer.alloc(4000);
      const quoted = slab.subarray(80, 1700); // the request's IPv6 packet at slab[94]
      BIG_REQUEST6_FRAME.copy(quoted, 0);
      const out = slab.subarray(outAt);
      const n = emitIcmpv6Error(out, 0, { type: ICMPV6_PACKET_TOO_BIG, code: 0, param: 1280, src: V6_ROUTER }, quoted, 14, BIG_REQUEST6_FRAME.length - 14);
      const e = new Ipv6Packet();
      e.wrap(out, 0, n);
      e.flowLabel = 0x9de49;
      expect(out.subarray(0, n).toString('hex')).toBe(PACKET_TOO_BIG_FRAME.subarray(14).toString('hex'));
    }
  });

  it('refuses a buffer too small and a quote that is no IPv6 packet', () => {
    const spec: Icmpv6ErrorSpec = { type: ICMPV6_TIME_EXCEEDED, code: 0, param: 0, src: V6_ROUTER, hopLimit: 255 };
    expect(() => emitIcmpv6Error(Buffer.alloc(100), 0, spec, TTL1_REQUEST6_FRAME, 14, 64)).toThrow(RangeError);
    expect(() => emitIcmpv6Error(Buffer.alloc(200), 0, spec, TTL1_REQUEST6_FRAME, 14, 39)).toThrow(RangeError);
    const out = Buffer.alloc(200);
    emitIcmpv6Error(out, 0, spec, TTL1_REQUEST6_FRAME, 14, 64);
    expect(out[7]).toBe(255);
  });

  it('the checksum field of a filled error verifies after a one-word NAT patch', () => {
    const out = Buffer.alloc(200);
    const n = emitIcmpv6Error(out, 0, { type: 3, code: 0, param: 0, src: V6_ROUTER }, TTL1_REQUEST6_FRAME, 14, 64);
    const e = new Ipv6Packet();
    e.wrap(out, 0, n);
    const m = new Icmpv6Packet();
    m.wrap(out, 40, n - 40);
    const old = out.readUInt16BE(40 + 8 + 8 + 14); // a word of the quoted source
    out.writeUInt16BE(0x1234, 40 + 8 + 8 + 14);
    m.adjustChecksum16(old, 0x1234);
    expect(m.verifyChecksum(e.addressSum())).toBe(true);
    expect(out.readUInt16BE(40 + ICMPV6_CHECKSUM)).toBe(m.checksum);
  });
});

describe('the packet quoted in an error', () => {
  it('wrapPartial takes the cut-short request inside packet too big; the walk stops at what is there', () => {
    const ptb = wrapIcmp(PACKET_TOO_BIG_FRAME);
    const inner = new Ipv6Packet();
    expect(inner.wrap(PACKET_TOO_BIG_FRAME, ptb.payloadOffset, ptb.payloadLength)).toBe(WireError.Truncated);
    expect(inner.wrapPartial(PACKET_TOO_BIG_FRAME, ptb.payloadOffset, ptb.payloadLength)).toBe(WireError.Ok);
    expect(inner.payloadLength).toBe(1408);
    const w = new Ipv6ExtensionWalk();
    expect(inner.walkExtensions(w)).toBe(WireError.Ok);
    expect(w).toMatchObject({ protocol: IPV6_NH_ICMPV6, offset: ptb.payloadOffset + 40, length: ICMPV6_ERROR_MAX_QUOTE - 40 });
    const echo = new Icmpv6Packet();
    expect(echo.wrap(PACKET_TOO_BIG_FRAME, w.offset, w.length)).toBe(WireError.Ok);
    expect([echo.type, echo.echoIdent, echo.echoSeq]).toEqual([ICMPV6_ECHO_REQUEST, 0x0ae8, 1]);
    expect(inner.wrapPartial(PACKET_TOO_BIG_FRAME, ptb.payloadOffset, 39)).toBe(WireError.Truncated);
  });
});

describe('when an error may be sent (RFC 4443 2.4(e))', () => {
  const allowed = (frame: Buffer, type: number, code: number): boolean => {
    expect(ip.wrap(frame, 14, frame.length - 14)).toBe(WireError.Ok);
    ip.walkExtensions(walk);
    return icmpv6ErrorAllowed(ip, walk, type, code);
  };

  it('about echo requests and unknown protocols: yes', () => {
    expect(allowed(TTL1_REQUEST6_FRAME, ICMPV6_TIME_EXCEEDED, 0)).toBe(true);
    expect(allowed(BIG_REQUEST6_FRAME, ICMPV6_PACKET_TOO_BIG, 0)).toBe(true);
    expect(allowed(UNKNOWN_NH_FRAME, ICMPV6_PARAM_PROBLEM, ICMPV6_UNRECOGNIZED_NEXT_HEADER)).toBe(true);
  });

  it('about an error or a redirect: no', () => {
    expect(allowed(TIME_EXCEEDED6_FRAME, ICMPV6_TIME_EXCEEDED, 0)).toBe(false);
    expect(allowed(PACKET_TOO_BIG_FRAME, ICMPV6_PACKET_TOO_BIG, 0)).toBe(false);
    expect(allowed(NDP_REDIRECT_FRAME, ICMPV6_PARAM_PROBLEM, 0)).toBe(false);
  });

  it('from the unspecified source: no; to a multicast group: only packet too big and the unrecognized option', () => {
    expect(allowed(NDP_DAD_NS_FRAME, ICMPV6_PACKET_TOO_BIG, 0)).toBe(false);
    expect(allowed(MLD2_REPORT_FRAME, ICMPV6_TIME_EXCEEDED, 0)).toBe(false);
    expect(allowed(MLD2_REPORT_FRAME, ICMPV6_PACKET_TOO_BIG, 0)).toBe(true);
    expect(allowed(MLD2_REPORT_FRAME, ICMPV6_PARAM_PROBLEM, ICMPV6_UNRECOGNIZED_OPTION)).toBe(true);
    expect(allowed(MLD2_REPORT_FRAME, ICMPV6_PARAM_PROBLEM, ICMPV6_ERRONEOUS_HEADER)).toBe(false);
  });
});
