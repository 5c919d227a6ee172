import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WireError } from '../../../src/wire/error.js';
import { ETHERTYPE_IPV6, EthernetPacket } from '../../../src/wire/ethernet.js';
import {
  IPV6_HLEN,
  IPV6_NH_DEST_OPTIONS,
  IPV6_NH_ESP,
  IPV6_NH_FRAGMENT,
  IPV6_NH_HOP_BY_HOP,
  IPV6_NH_ICMPV6,
  IPV6_NH_NONE,
  IPV6_NH_ROUTING,
  IPV6_NH_UDP,
  Ipv6ExtensionHeaderRepr,
  Ipv6ExtensionWalk,
  Ipv6Packet,
  Ipv6Repr,
} from '../../../src/wire/ipv6.js';
import { hex } from './frames.js';
import {
  ECHO6_REQUEST_FRAME,
  EXT_CHAIN_FRAME,
  HBH_PARAM_PROBLEM_FRAME,
  HBH_UNKNOWN_FRAME,
  MLD2_REPORT_FRAME,
  NDP_DAD_NS_FRAME,
  NDP_RS_FRAME,
  RH0_FRAME,
  RH0_PARAM_PROBLEM_FRAME,
  UNKNOWN_NH_FRAME,
  V6_HOST,
  V6_ROUTER,
} from './frames6.js';

const eth = new EthernetPacket();
const ip = new Ipv6Packet();
const walk = new Ipv6ExtensionWalk();

function wrap6(frame: Buffer): Ipv6Packet {
  expect(eth.wrap(frame, 0, frame.length)).toBe(WireError.Ok);
  expect(eth.etherType).toBe(ETHERTYPE_IPV6);
  expect(ip.wrap(frame, 14, frame.length - 14)).toBe(WireError.Ok);
  return ip;
}

/** A packet: fixed header (src fd00:20::2, dst fd00:20::1 unless given) + the payload hex, next header `nh`. */
function packet(nh: number, payloadHex: string, dst = 'fd000020000000000000000000000001'): Buffer {
  const payload = hex(payloadHex);
  const b = Buffer.alloc(IPV6_HLEN + payload.length);
  Ipv6Repr.emit({ src: V6_HOST, dst: [0, 0, 0, 0], nextHeader: nh, hopLimit: 64, payloadLength: payload.length }, b, 0);
  hex(dst).copy(b, 24);
  payload.copy(b, IPV6_HLEN);
  return b;
}

function walkOf(b: Buffer, max?: number): Ipv6ExtensionWalk {
  expect(ip.wrap(b, 0, b.length)).toBe(WireError.Ok);
  ip.walkExtensions(walk, max);
  return walk;
}

describe('fixed header', () => {
  it('reads every field of the kernel echo request', () => {
    const p = wrap6(ECHO6_REQUEST_FRAME);
    expect(p.version).toBe(6);
    expect(p.trafficClass).toBe(0);
    expect(p.flowLabel).toBe(0x0d786);
    expect(p.payloadLength).toBe(24);
    expect(p.totalLength).toBe(64);
    expect(p.nextHeader).toBe(IPV6_NH_ICMPV6);
    expect(p.hopLimit).toBe(64);
    expect([0, 1, 2, 3].map((i) => p.srcWord(i))).toEqual([0xfd000020, 0, 0, 2]);
    expect([0, 1, 2, 3].map((i) => p.dstWord(i))).toEqual([0xfd000020, 0, 0, 1]);
    expect([0, 1, 2, 3].map((i) => p.srcWordI32(i))).toEqual([0xfd000020 | 0, 0, 0, 2]);
    expect(p.dstWordI32(0)).toBe(0xfd000020 | 0);
    expect(p.srcEquals(V6_HOST)).toBe(true);
    expect(p.srcEquals(V6_ROUTER)).toBe(false);
    expect(p.dstEquals(V6_ROUTER)).toBe(true);
    expect(p.srcIsUnspecified).toBe(false);
    expect(p.srcIsLinkLocal).toBe(false);
    expect(p.dstIsMulticast).toBe(false);
    expect(p.payloadOffset).toBe(54);
  });

  it('knows the kinds of addresses of the DAD probe and the router solicitation', () => {
    const p = wrap6(NDP_DAD_NS_FRAME);
    expect(p.srcIsUnspecified).toBe(true);
    expect(p.dstIsMulticast).toBe(true);
    expect(p.hopLimit).toBe(255);
    const rs = wrap6(NDP_RS_FRAME);
    expect(rs.srcIsLinkLocal).toBe(true);
    expect(rs.srcIsUnspecified).toBe(false);
  });

  it('parse gives the Repr, emit gives the literal header back', () => {
    const p = wrap6(ECHO6_REQUEST_FRAME);
    const repr = Ipv6Repr.parse(p);
    expect(repr).toEqual({ src: V6_HOST, dst: V6_ROUTER, nextHeader: 58, hopLimit: 64, payloadLength: 24, trafficClass: 0, flowLabel: 0x0d786 });
    const out = Buffer.alloc(40);
    expect(Ipv6Repr.emit(repr, out, 0)).toBe(40);
    expect(out.toString('hex')).toBe(ECHO6_REQUEST_FRAME.subarray(14, 54).toString('hex'));
  });

  it('setters change only their own bits', () => {
    const f = Buffer.from(ECHO6_REQUEST_FRAME);
    const p = wrap6(f);
    p.trafficClass = 0xb8;
    expect(p.trafficClass).toBe(0xb8);
    expect(p.flowLabel).toBe(0x0d786);
    expect(p.version).toBe(6);
    p.flowLabel = 0xfffff;
    expect(p.trafficClass).toBe(0xb8);
    expect(p.flowLabel).toBe(0xfffff);
    p.setSrcWord(3, 0xdeadbeef);
    expect(p.srcWord(3)).toBe(0xdeadbeef);
    p.setDst(V6_HOST);
    expect(p.dstEquals(V6_HOST)).toBe(true);
    p.hopLimit = 2;
    p.decrementHopLimit();
    expect(p.hopLimit).toBe(1);
    expect(f.subarray(54).toString('hex')).toBe(ECHO6_REQUEST_FRAME.subarray(54).toString('hex'));
  });

  it('wrap refuses what is not a whole IPv6 packet', () => {
    const f = ECHO6_REQUEST_FRAME;
    expect(ip.wrap(f, 14, 39)).toBe(WireError.Truncated);
    expect(ip.wrap(f, 14, 63)).toBe(WireError.Truncated); // payload length 24 > 23 present
    expect(ip.wrap(f, 14, 64)).toBe(WireError.Ok);
    expect(ip.wrap(Buffer.concat([f, Buffer.alloc(6)]), 14, 70)).toBe(WireError.Ok); // Ethernet padding
    expect(ip.wrap(f, 14, f.length - 13)).toBe(WireError.Truncated); // one byte past the buffer
    expect(ip.wrap(f, 60, 40)).toBe(WireError.Truncated); // past the buffer
    const v4 = Buffer.from(f);
    v4[14] = 0x45;
    expect(ip.wrap(v4, 14, 64)).toBe(WireError.Malformed);
    // a jumbogram: payload length 0, hop-by-hop with the jumbo payload option (RFC 2675)
    const jumbo = packet(IPV6_NH_HOP_BY_HOP, '3a 00 c2 04 00010000');
    jumbo.writeUInt16BE(0, 4);
    expect(ip.wrap(jumbo, 0, jumbo.length)).toBe(WireError.Malformed);
  });
});

describe('extension header walk', () => {
  it('no extension headers: the upper layer right after the fixed header', () => {
    const p = wrap6(ECHO6_REQUEST_FRAME);
    expect(p.walkExtensions(walk)).toBe(WireError.Ok);
    expect(walk).toMatchObject({ error: 0, protocol: 58, offset: 54, length: 24, headers: 0, fragment: -1, routing: -1, discard: false, problemCode: -1, finalDestination: 38 });
    expect(walk.pseudoAddressSum()).toBe(p.addressSum());
  });

  it('hop-by-hop + destination options + atomic fragment (scapy, answered by the kernel)', () => {
    const p = wrap6(EXT_CHAIN_FRAME);
    expect(p.walkExtensions(walk)).toBe(WireError.Ok);
    expect(walk).toMatchObject({ protocol: IPV6_NH_ICMPV6, offset: 78, length: 16, headers: 3, fragment: 70, routing: -1, discard: false });
    expect(walk.fragmentOffset).toBe(0);
    expect(walk.moreFragments).toBe(false);
    expect(walk.fragmentIdent).toBe(0x12345678);
    expect(walk.isAtomicFragment).toBe(true);
    const chain = Ipv6ExtensionHeaderRepr.parseChain(p)!;
    expect(chain).toEqual([
      { header: 0, nextHeader: 60, options: hex('0104 00000000') },
      { header: 60, nextHeader: 44, options: hex('0104 00000000') },
      { header: 44, nextHeader: 58, fragmentOffset: 0, more: false, ident: 0x12345678 },
    ]);
    const out = Buffer.alloc(24);
    let o = 0;
    for (const h of chain) o += Ipv6ExtensionHeaderRepr.emit(h, out, o);
    expect(out.toString('hex')).toBe(EXT_CHAIN_FRAME.subarray(54, 78).toString('hex'));
  });

  it('routing header type 0 with segments left 1: the pointer the kernel reported (42)', () => {
    const p = wrap6(RH0_FRAME);
    p.walkExtensions(walk);
    expect(walk).toMatchObject({ protocol: 58, offset: 78, length: 16, headers: 1, routing: 54, discard: false });
    expect(walk.routingType).toBe(0);
    expect(walk.routingSegmentsLeft).toBe(1);
    expect(walk.routingPointer).toBe(RH0_PARAM_PROBLEM_FRAME.readUInt32BE(58));
    expect(walk.routingPointer).toBe(42);
    // the upper layer's checksum is over the final destination, RH0's last address (RFC 8200 8.1)
    expect(walk.finalDestination).toBe(62);
    expect(walk.pseudoAddressSum()).not.toBe(p.addressSum());
    expect(RH0_FRAME.subarray(62, 78).toString('hex')).toBe('fd000099000000000000000000000002');
    const chain = Ipv6ExtensionHeaderRepr.parseChain(p)!;
    expect(chain).toEqual([{ header: 43, nextHeader: 58, routingType: 0, segmentsLeft: 1, data: hex('00000000 fd000099000000000000000000000002') }]);
    const out = Buffer.alloc(24);
    Ipv6ExtensionHeaderRepr.emit(chain[0]!, out, 0);
    expect(out.toString('hex')).toBe(RH0_FRAME.subarray(54, 78).toString('hex'));
  });

  it('segments left 0: the routing header is ignored', () => {
    const w = walkOf(packet(IPV6_NH_ROUTING, '3a 02 00 00 00000000 fd000099000000000000000000000002 80000000'));
    expect(w).toMatchObject({ routing: -1, protocol: 58, headers: 1, discard: false });
  });

  it('an unknown hop-by-hop option with action 10: discard and report code 2 at the kernel pointer (42)', () => {
    const p = wrap6(HBH_UNKNOWN_FRAME);
    p.walkExtensions(walk);
    expect(walk).toMatchObject({ protocol: 58, offset: 62, discard: true, problemCode: 2, problemPointer: 42 });
    expect(walk.problemPointer).toBe(HBH_PARAM_PROBLEM_FRAME.readUInt32BE(58));
  });

  it('the router alert of an MLD report is known', () => {
    const p = wrap6(MLD2_REPORT_FRAME);
    p.walkExtensions(walk);
    expect(walk).toMatchObject({ protocol: 58, offset: 62, length: 48, headers: 1, discard: false });
  });

  it('the action bits of unknown options (RFC 8200 4.2)', () => {
    // 00: skipped
    expect(walkOf(packet(0, '3a 00 1e 04 00000000'))).toMatchObject({ discard: false, problemCode: -1 });
    // 01: silent discard
    expect(walkOf(packet(0, '3a 00 5e 04 00000000'))).toMatchObject({ discard: true, problemCode: -1 });
    // 11: report unless the destination is multicast
    expect(walkOf(packet(0, '3a 00 01 00 de 02 0000'))).toMatchObject({ discard: true, problemCode: 2, problemPointer: 44 });
    expect(walkOf(packet(0, '3a 00 de 04 00000000', 'ff020000000000000000000000000001'))).toMatchObject({ discard: true, problemCode: -1 });
    // Pad1s before
    expect(walkOf(packet(0, '3a 00 00 00 00 9e 01 00'))).toMatchObject({ discard: true, problemCode: 2, problemPointer: 45 });
  });

  it('destination options: the verdict kept apart for the final destination', () => {
    // PadN only: nothing to do
    expect(walkOf(packet(IPV6_NH_DEST_OPTIONS, '3a 00 0104 00000000 80000000 00000000'))).toMatchObject({ destinationDiscard: false, discard: false, protocol: 58 });
    // unknown option 0x9e (action 10): the destination reports code 2 at it; a router is not concerned
    expect(walkOf(packet(IPV6_NH_DEST_OPTIONS, '3a 00 9e 04 00000000'))).toMatchObject({
      discard: false,
      problemCode: -1,
      destinationDiscard: true,
      destinationProblemCode: 2,
      destinationProblemPointer: 42,
      protocol: 58,
    });
    // home address (0xc9, action 11) to a multicast group: a silent drop
    expect(walkOf(packet(IPV6_NH_DEST_OPTIONS, '3a 02 c9 10 20010db8000000000000000000000001 0102 0000', 'ff020000000000000000000000000001'))).toMatchObject({
      destinationDiscard: true,
      destinationProblemCode: -1,
    });
    // an option running past its header: a silent destination drop, the walk goes on
    expect(walkOf(packet(IPV6_NH_DEST_OPTIONS, '3a 00 0108 00000000'))).toMatchObject({ error: 0, destinationDiscard: true, destinationProblemCode: -1, protocol: 58 });
    // the first verdict counts
    expect(walkOf(packet(IPV6_NH_DEST_OPTIONS, '3c 00 5e 04 00000000 3a 00 9e 04 00000000'))).toMatchObject({ destinationDiscard: true, destinationProblemCode: -1, headers: 2 });
  });

  it('a hop-by-hop header after the first: code 1 pointing at the next header field naming it', () => {
    const w = walkOf(packet(IPV6_NH_DEST_OPTIONS, '00 00 0104 00000000 3a 00 0104 00000000'));
    expect(w).toMatchObject({ discard: true, problemCode: 1, problemPointer: 40 });
  });

  it('stops at no next header, ESP, unknown numbers, and after a non-first fragment', () => {
    expect(walkOf(packet(IPV6_NH_DEST_OPTIONS, '3b 00 0104 00000000'))).toMatchObject({ protocol: IPV6_NH_NONE, offset: 48, length: 0 });
    expect(walkOf(packet(IPV6_NH_ESP, '00000001 00000001'))).toMatchObject({ protocol: IPV6_NH_ESP, offset: 40, headers: 0 });
    const f = walkOf(packet(IPV6_NH_FRAGMENT, '11 00 0059 cafef00d 3c 00 0000 0000 0000'));
    expect(f).toMatchObject({ protocol: IPV6_NH_UDP, offset: 48, length: 8, fragment: 40, headers: 1 });
    expect(f.fragmentOffset).toBe(11);
    expect(f.moreFragments).toBe(true);
    expect(f.fragmentIdent).toBe(0xcafef00d);
    expect(f.isAtomicFragment).toBe(false);
    expect(walkOf(UNKNOWN_NH_FRAME.subarray(14))).toMatchObject({ protocol: 253, offset: 40, length: 8 });
  });

  it('a truncated chain, an option past its header, too many headers', () => {
    expect(walkOf(packet(0, '3a 01 0104 00000000')).error).toBe(WireError.Truncated); // says 16 bytes, has 8
    expect(walkOf(packet(IPV6_NH_FRAGMENT, '3a 00 0000')).error).toBe(WireError.Truncated);
    expect(walkOf(packet(0, '3a 00 0105 00000000')).error).toBe(WireError.Malformed);
    const nine = Array.from({ length: 9 }, (_, i) => `${i === 8 ? '3b' : '3c'} 00 0104 00000000`).join(' ');
    expect(walkOf(packet(IPV6_NH_DEST_OPTIONS, nine)).error).toBe(WireError.Malformed);
    expect(walkOf(packet(IPV6_NH_DEST_OPTIONS, nine), 9).error).toBe(WireError.Ok);
    expect(Ipv6ExtensionHeaderRepr.parseChain(ip)).toBeNull();
  });

  it('never throws, never reads outside the packet, stays inside it (random chains)', () => {
    const nhs = fc.constantFrom(0, 43, 44, 60, 58, 59, 17, 6, 50, 51, 200);
    fc.assert(
      fc.property(nhs, fc.uint8Array({ maxLength: 120 }), fc.array(nhs, { maxLength: 10 }), (first, body, seeds) => {
        const payload = Buffer.from(body);
        // plant plausible next-header bytes every 8 bytes so chains get long
        seeds.forEach((nh, i) => {
          if (i * 8 < payload.length) payload[i * 8] = nh;
        });
        const results: string[] = [];
        for (const fill of [0x00, 0xff]) {
          const b = Buffer.alloc(IPV6_HLEN + payload.length + 64, fill);
          Ipv6Repr.emit({ src: V6_HOST, dst: V6_ROUTER, nextHeader: first, hopLimit: 64, payloadLength: payload.length }, b, 16);
          payload.copy(b, 16 + IPV6_HLEN);
          const e = ip.wrap(b, 16, IPV6_HLEN + payload.length);
          if (e !== WireError.Ok) {
            results.push(`wrap ${e}`);
            continue;
          }
          const w = ip.walkExtensions(walk) === WireError.Ok ? walk : walk;
          if (w.error === WireError.Ok) {
            expect(w.offset).toBeGreaterThanOrEqual(16 + IPV6_HLEN);
            expect(w.offset + w.length).toBe(16 + IPV6_HLEN + payload.length);
            expect(w.length).toBeGreaterThanOrEqual(0);
          }
          expect(w.headers).toBeLessThanOrEqual(8);
          expect(w.finalDestination + 16).toBeLessThanOrEqual(16 + IPV6_HLEN + payload.length);
          const frag = w.fragment >= 0 ? [w.fragmentOffset, w.moreFragments, w.fragmentIdent] : [];
          const rt = w.routing >= 0 ? [w.routingPointer, w.routingType, w.routingSegmentsLeft] : [];
          const dest = [w.destinationDiscard, w.destinationProblemCode, w.destinationProblemPointer];
          results.push(JSON.stringify([w.error, w.protocol, w.offset, w.length, w.headers, w.fragment, w.routing, w.discard, w.problemCode, w.problemPointer, frag, rt, w.finalDestination, w.pseudoAddressSum(), dest]));
          Ipv6ExtensionHeaderRepr.parseChain(ip);
        }
        expect(results[0]).toBe(results[1]);
      }),
      { numRuns: 2000 },
    );
  });

  it('emit then parse round-trips random fixed headers', () => {
    const word = fc.nat({ max: 0xffffffff });
    const addr = fc.tuple(word, word, word, word);
    fc.assert(
      fc.property(addr, addr, fc.nat({ max: 255 }), fc.nat({ max: 255 }), fc.nat({ max: 1000 }), fc.nat({ max: 255 }), fc.nat({ max: 0xfffff }), (src, dst, nh, hl, pl, tc, fl) => {
        const repr = { src, dst, nextHeader: nh === 0 ? 58 : nh, hopLimit: hl, payloadLength: pl, trafficClass: tc, flowLabel: fl };
        const b = Buffer.alloc(IPV6_HLEN + pl);
        Ipv6Repr.emit(repr, b, 0);
        expect(ip.wrap(b, 0, b.length)).toBe(WireError.Ok);
        expect(Ipv6Repr.parse(ip)).toEqual(repr);
      }),
    );
  });

  it('extension header chains emit then parse round-trip (random)', () => {
    const padded = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((a) => Buffer.from(a));
    const header = fc.oneof(
      // options of Pad1s, so the walk passes them
      fc.record({ header: fc.constantFrom(0 as const, 60 as const), options: fc.nat({ max: 4 }).map((k) => Buffer.alloc(6 + 8 * k)) }),
      fc.record({ header: fc.constant(43 as const), routingType: fc.nat({ max: 255 }), segmentsLeft: fc.nat({ max: 255 }), data: fc.nat({ max: 4 }).chain((k) => padded(4 + 8 * k)) }),
      fc.record({ header: fc.constant(44 as const), fragmentOffset: fc.constant(0), more: fc.boolean(), ident: fc.nat({ max: 0xffffffff }) }),
    );
    fc.assert(
      fc.property(fc.array(header, { minLength: 1, maxLength: 6 }), (hs) => {
        // hop-by-hop only first; each names the next, the last names ICMPv6
        const chain = hs
          .filter((h, i) => h.header !== 0 || i === 0)
          .map((h, i, all) => ({ ...h, nextHeader: i + 1 < all.length ? all[i + 1]!.header : IPV6_NH_ICMPV6 })) as Ipv6ExtensionHeaderRepr[];
        const len = chain.reduce((n, h) => n + Ipv6ExtensionHeaderRepr.bufferLen(h), 0);
        const b = Buffer.alloc(IPV6_HLEN + len + 8);
        Ipv6Repr.emit({ src: V6_HOST, dst: V6_ROUTER, nextHeader: chain[0]!.header, hopLimit: 64, payloadLength: len + 8 }, b, 0);
        let o = IPV6_HLEN;
        for (const h of chain) o += Ipv6ExtensionHeaderRepr.emit(h, b, o);
        expect(ip.wrap(b, 0, b.length)).toBe(WireError.Ok);
        expect(Ipv6ExtensionHeaderRepr.parseChain(ip)).toEqual(chain);
        expect(ip.walkExtensions(walk)).toBe(WireError.Ok);
        expect(walk).toMatchObject({ protocol: IPV6_NH_ICMPV6, offset: IPV6_HLEN + len, length: 8, headers: chain.length });
      }),
    );
  });
});
