import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WireError } from '../../../src/wire/error.js';
import { ICMPV6_NEIGHBOUR_ADVERTISEMENT, ICMPV6_NEIGHBOUR_SOLICITATION, ICMPV6_REDIRECT, ICMPV6_ROUTER_ADVERTISEMENT, ICMPV6_ROUTER_SOLICITATION, Icmpv6Packet } from '../../../src/wire/icmpv6.js';
import { IPV6_ALL_NODES, multicastMacIpv6, type Ipv6Words } from '../../../src/wire/ipv6-address.js';
import { Ipv6ExtensionWalk, Ipv6Packet } from '../../../src/wire/ipv6.js';
import {
  NdpInvalid,
  NdpMessage,
  type NeighbourAdvertisementSpec,
  type RouterAdvertisementSpec,
  checkNdp,
  checkNeighbourAdvertisement,
  checkNeighbourSolicitation,
  checkRedirect,
  checkRouterAdvertisement,
  checkRouterSolicitation,
  emitNeighbourAdvertisement,
  emitNeighbourSolicitation,
  emitRouterAdvertisement,
  ndpInvalidName,
} from '../../../src/wire/ndp.js';
import {
  MAC_HOST,
  MAC_ROUTER,
  MAC_ROUTER_OTHER,
  NDP_DAD_NS_FRAME,
  NDP_NA_FRAME,
  NDP_NS_FRAME,
  NDP_RA_FRAME,
  NDP_REDIRECT_FRAME,
  NDP_RS_FRAME,
  V6_FAR,
  V6_HOST,
  V6_ROUTER,
  V6_ROUTER_LL,
  refChecksum6,
} from './frames6.js';

const ip = new Ipv6Packet();
const walk = new Ipv6ExtensionWalk();
const msg = new NdpMessage();
const icmp = new Icmpv6Packet();

type Check = (ip: Ipv6Packet, msg: NdpMessage, off: number, len: number) => number;

/** Wrap and walk the frame's IPv6 packet, then run `check` on its ICMPv6 message. */
function check(frame: Buffer, fn: Check = checkNdp): number {
  expect(ip.wrap(frame, 14, frame.length - 14)).toBe(WireError.Ok);
  expect(ip.walkExtensions(walk)).toBe(WireError.Ok);
  return fn(ip, msg, walk.offset, walk.length);
}

/** A copy of `frame` changed by `edit` (offsets in the ICMPv6 message at 54) with the ICMPv6 checksum refilled. */
function edited(frame: Buffer, edit: (b: Buffer) => void, refill = true): Buffer {
  const b = Buffer.from(frame);
  edit(b);
  if (refill) {
    const p = new Ipv6Packet();
    p.wrap(b, 14, b.length - 14);
    icmp.wrap(b, 54, p.payloadLength);
    icmp.fillChecksum(p.addressSum());
  }
  return b;
}

function words(p: (i: number) => number): number[] {
  return [p(0), p(1), p(2), p(3)];
}

describe('messages the kernel sent', () => {
  it('NS for address resolution: target, SLLA, valid; emitNeighbourSolicitation writes it byte for byte', () => {
    expect(check(NDP_NS_FRAME, checkNeighbourSolicitation)).toBe(NdpInvalid.Ok);
    expect(msg.type).toBe(ICMPV6_NEIGHBOUR_SOLICITATION);
    expect(words((i) => msg.targetWord(i))).toEqual([...V6_ROUTER]);
    expect(msg.targetEquals(V6_ROUTER)).toBe(true);
    expect(msg.targetIsMulticast).toBe(false);
    expect(msg.options).toMatchObject({ sourceMac: MAC_HOST, targetMac: -1, mtu: -1, prefix: -1, unknown: 0 });
    expect(refChecksum6(NDP_NS_FRAME, 14, 54, 32, 58)).toBe(0);
    const out = Buffer.alloc(200, 0xaa);
    expect(emitNeighbourSolicitation(out, 10, { srcMac: MAC_HOST, src: V6_HOST, target: V6_ROUTER })).toBe(86);
    expect(out.subarray(10, 96).toString('hex')).toBe(NDP_NS_FRAME.toString('hex'));
    expect(out[9]).toBe(0xaa);
    expect(out[96]).toBe(0xaa);
  });

  it('NA (router, solicited, override, TLLA); emitNeighbourAdvertisement writes it byte for byte', () => {
    expect(check(NDP_NA_FRAME, checkNeighbourAdvertisement)).toBe(NdpInvalid.Ok);
    expect(msg.type).toBe(ICMPV6_NEIGHBOUR_ADVERTISEMENT);
    expect([msg.router, msg.solicited, msg.override]).toEqual([true, true, true]);
    expect(msg.targetEquals(V6_ROUTER)).toBe(true);
    expect(msg.options).toMatchObject({ sourceMac: -1, targetMac: MAC_ROUTER });
    const spec: NeighbourAdvertisementSpec = {
      srcMac: MAC_ROUTER,
      dstMac: MAC_HOST,
      src: V6_ROUTER,
      dst: V6_HOST,
      target: V6_ROUTER,
      router: true,
      solicited: true,
      override: true,
      targetMac: MAC_ROUTER,
    };
    const out = Buffer.alloc(86);
    expect(emitNeighbourAdvertisement(out, 0, spec)).toBe(86);
    expect(out.toString('hex')).toBe(NDP_NA_FRAME.toString('hex'));
    // without the option, unsolicited to all nodes: still valid
    const un = Buffer.alloc(78);
    expect(emitNeighbourAdvertisement(un, 0, { ...spec, dstMac: multicastMacIpv6(IPV6_ALL_NODES), dst: IPV6_ALL_NODES, solicited: false, targetMac: -1 })).toBe(78);
    expect(check(un, checkNeighbourAdvertisement)).toBe(NdpInvalid.Ok);
    expect([msg.router, msg.solicited, msg.override, msg.options.targetMac]).toEqual([true, false, true, -1]);
  });

  it('the DAD probe: unspecified source to the solicited-node group, the nonce option skipped', () => {
    expect(check(NDP_DAD_NS_FRAME)).toBe(NdpInvalid.Ok);
    expect(ip.srcIsUnspecified).toBe(true);
    expect(msg.targetEquals(V6_HOST)).toBe(true);
    expect(msg.options).toMatchObject({ sourceMac: -1, unknown: 1 });
  });

  it('RS from an interface coming up', () => {
    expect(check(NDP_RS_FRAME, checkRouterSolicitation)).toBe(NdpInvalid.Ok);
    expect(msg.type).toBe(ICMPV6_ROUTER_SOLICITATION);
    expect(msg.optionsOffset).toBe(62);
    expect(msg.optionsLength).toBe(8);
    expect(msg.options.sourceMac).toBe(MAC_HOST);
  });
});

describe('router advertisement and redirect (scapy)', () => {
  const raSpec: RouterAdvertisementSpec = {
    srcMac: MAC_ROUTER,
    dstMac: multicastMacIpv6(IPV6_ALL_NODES),
    src: V6_ROUTER_LL,
    dst: IPV6_ALL_NODES,
    curHopLimit: 64,
    managed: false,
    otherConfig: false,
    routerLifetime: 1800,
    reachableTime: 0,
    retransTimer: 0,
    mtu: 1500,
    prefix: [0xfd000020, 0, 0, 0],
    prefixLength: 64,
    validLifetime: 86400,
    preferredLifetime: 14400,
  };

  it('reads every field of the RA, and emitRouterAdvertisement writes it byte for byte', () => {
    expect(check(NDP_RA_FRAME, checkRouterAdvertisement)).toBe(NdpInvalid.Ok);
    expect(msg.type).toBe(ICMPV6_ROUTER_ADVERTISEMENT);
    expect([msg.curHopLimit, msg.managed, msg.otherConfig, msg.routerLifetime, msg.reachableTime, msg.retransTimer]).toEqual([64, false, false, 1800, 0, 0]);
    const o = msg.options;
    expect(o).toMatchObject({ sourceMac: MAC_ROUTER, mtu: 1500, prefix: 86, prefixCount: 1, unknown: 0 });
    expect([o.prefixLength, o.prefixOnLink, o.prefixAutonomous, o.prefixValidLifetime, o.prefixPreferredLifetime]).toEqual([64, true, true, 86400, 14400]);
    expect(words((i) => o.prefixWord(i))).toEqual([0xfd000020, 0, 0, 0]);
    const out = Buffer.alloc(118);
    expect(emitRouterAdvertisement(out, 0, raSpec)).toBe(118);
    expect(out.toString('hex')).toBe(NDP_RA_FRAME.toString('hex'));
  });

  it('an RA without the MTU option, solicited to a host, managed and other set', () => {
    const out = Buffer.alloc(200);
    const n = emitRouterAdvertisement(out, 0, { ...raSpec, mtu: 0, dst: V6_HOST, dstMac: MAC_HOST, managed: true, otherConfig: true, routerLifetime: 0 });
    expect(n).toBe(110);
    expect(check(out.subarray(0, n), checkRouterAdvertisement)).toBe(NdpInvalid.Ok);
    expect([msg.managed, msg.otherConfig, msg.routerLifetime, msg.options.mtu, msg.options.prefixCount]).toEqual([true, true, 0, -1, 1]);
  });

  it('an RA from a global source is invalid (RFC 4861 6.1.2)', () => {
    const out = Buffer.alloc(118);
    emitRouterAdvertisement(out, 0, { ...raSpec, src: V6_ROUTER });
    expect(check(out)).toBe(NdpInvalid.SourceNotLinkLocal);
  });

  it('the redirect parses (to be dropped): target, destination, TLLA', () => {
    expect(check(NDP_REDIRECT_FRAME, checkRedirect)).toBe(NdpInvalid.Ok);
    expect(msg.type).toBe(ICMPV6_REDIRECT);
    expect(words((i) => msg.targetWord(i))).toEqual([0xfe800000, 0, 0x0042acff, 0xfe110003]);
    expect(words((i) => msg.destinationWord(i))).toEqual([...V6_FAR]);
    expect(msg.options.targetMac).toBe(MAC_ROUTER_OTHER);
    // a global target other than the destination
    expect(check(edited(NDP_REDIRECT_FRAME, (b) => b.writeUInt32BE(0xfd000020, 54 + 8)))).toBe(NdpInvalid.RedirectAddress);
    // a multicast destination
    expect(check(edited(NDP_REDIRECT_FRAME, (b) => (b[54 + 24] = 0xff)))).toBe(NdpInvalid.RedirectAddress);
  });
});

describe('validity checks (RFC 4861 6.1.1, 6.1.2, 7.1.1, 7.1.2, 8.1)', () => {
  it('reasons shared by all messages', () => {
    for (const f of [NDP_NS_FRAME, NDP_NA_FRAME, NDP_RS_FRAME, NDP_RA_FRAME, NDP_REDIRECT_FRAME, NDP_DAD_NS_FRAME]) {
      expect(check(f)).toBe(NdpInvalid.Ok);
      expect(check(edited(f, (b) => (b[14 + 7] = 254), false))).toBe(NdpInvalid.HopLimit);
      expect(check(edited(f, (b) => (b[54 + 1] = 1)))).toBe(NdpInvalid.Code);
      expect(check(edited(f, (b) => (b[54 + 2] ^= 1), false))).toBe(NdpInvalid.Checksum);
      const lastLen = f === NDP_RA_FRAME ? 32 : 8; // the prefix information option, or a link-layer address / nonce
      // the last option's length 0
      expect(check(edited(f, (b) => (b[b.length - lastLen + 1] = 0)))).toBe(NdpInvalid.Option);
      // the last option longer than the message
      expect(check(edited(f, (b) => (b[b.length - lastLen + 1] += 1)))).toBe(NdpInvalid.Option);
    }
  });

  it('too short for the message type', () => {
    const short = edited(NDP_NS_FRAME, (b) => b.writeUInt16BE(16, 14 + 4), false).subarray(0, 14 + 40 + 16);
    expect(check(short)).toBe(NdpInvalid.Length);
    expect(check(NDP_NS_FRAME, checkNeighbourAdvertisement)).toBe(NdpInvalid.Length); // not its type
    expect(msg.wrap(NDP_NS_FRAME, 54, 8)).toBe(WireError.Truncated);
    expect(msg.wrap(Buffer.from('8000000000000000', 'hex'), 0, 8)).toBe(WireError.Malformed);
  });

  it('NS: multicast target, DAD rules', () => {
    expect(check(edited(NDP_NS_FRAME, (b) => (b[54 + 8] = 0xff)))).toBe(NdpInvalid.TargetMulticast);
    // DAD probe with an SLLA option (the nonce option turned into one)
    expect(check(edited(NDP_DAD_NS_FRAME, (b) => (b[54 + 24] = 1)))).toBe(NdpInvalid.SourceLladdrFromUnspecified);
    // DAD probe to all nodes instead of a solicited-node group
    const allNodes = edited(NDP_DAD_NS_FRAME, (b) => {
      b.writeUInt32BE(0xff020000, 14 + 24);
      b.writeUInt32BE(0, 14 + 24 + 8);
      b.writeUInt32BE(1, 14 + 24 + 12);
    });
    expect(check(allNodes)).toBe(NdpInvalid.UnspecifiedSource);
  });

  it('NA: multicast target, solicited to a multicast group', () => {
    expect(check(edited(NDP_NA_FRAME, (b) => (b[54 + 8] = 0xff)))).toBe(NdpInvalid.TargetMulticast);
    expect(check(edited(NDP_NA_FRAME, (b) => (b[14 + 24] = 0xff)))).toBe(NdpInvalid.SolicitedToMulticast);
  });

  it('RS: an SLLA from the unspecified source', () => {
    expect(check(edited(NDP_RS_FRAME, (b) => b.fill(0, 14 + 8, 14 + 24)))).toBe(NdpInvalid.SourceLladdrFromUnspecified);
    expect(check(edited(NDP_RS_FRAME, (b) => (b[54 + 8] = 0x0e)))).toBe(NdpInvalid.Ok); // an unknown option is fine
  });

  it('every reason has a name', () => {
    for (const v of Object.values(NdpInvalid)) expect(ndpInvalidName(v)).toMatch(/^[a-z_]+$/);
    expect(ndpInvalidName(NdpInvalid.HopLimit)).toBe('hop_limit');
  });
});

describe('properties', () => {
  const word = fc.nat({ max: 0xffffffff });
  const unicast: fc.Arbitrary<Ipv6Words> = fc.tuple(fc.integer({ min: 0x20000000, max: 0xfeffffff }), word, word, word);
  const mac = fc.integer({ min: 0, max: 0xffffffffffff });

  it('emitted NS/NA/RA frames pass their check and read back', () => {
    fc.assert(
      fc.property(mac, unicast, unicast, fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), (m, a, t, r, s, o, opt) => {
        const b = Buffer.alloc(200);
        const ns = emitNeighbourSolicitation(b, 5, { srcMac: m, src: a, target: t });
        expect(check(b.subarray(5, 5 + ns), checkNeighbourSolicitation)).toBe(NdpInvalid.Ok);
        expect(msg.targetEquals(t)).toBe(true);
        expect(msg.options.sourceMac).toBe(m);
        const na = emitNeighbourAdvertisement(b, 5, { srcMac: m, dstMac: 0x0242ac110002, src: t, dst: a, target: t, router: r, solicited: s, override: o, targetMac: opt ? m : -1 });
        expect(check(b.subarray(5, 5 + na), checkNeighbourAdvertisement)).toBe(NdpInvalid.Ok);
        expect([msg.router, msg.solicited, msg.override, msg.options.targetMac]).toEqual([r, s, o, opt ? m : -1]);
      }),
    );
    fc.assert(
      fc.property(mac, fc.tuple(word, word), fc.nat({ max: 255 }), fc.nat({ max: 9000 }), word, word, fc.integer({ min: 0, max: 65535 }), fc.nat({ max: 128 }), (m, ll, chl, life, valid, pref, mtu, plen) => {
        const b = Buffer.alloc(200);
        const src: Ipv6Words = [0xfe800000, 0, ll[0], ll[1]];
        const n = emitRouterAdvertisement(b, 0, {
          srcMac: m, dstMac: 0x333300000001, src, dst: IPV6_ALL_NODES, curHopLimit: chl, managed: false, otherConfig: true,
          routerLifetime: life, reachableTime: valid, retransTimer: pref, mtu, prefix: [0xfd000020, 0, 0, 0], prefixLength: plen, validLifetime: valid, preferredLifetime: pref,
        });
        expect(check(b.subarray(0, n), checkRouterAdvertisement)).toBe(NdpInvalid.Ok);
        expect([msg.curHopLimit, msg.routerLifetime, msg.reachableTime, msg.retransTimer, msg.otherConfig]).toEqual([chl, life, valid, pref, true]);
        const op = msg.options;
        expect([op.sourceMac, op.mtu, op.prefixLength, op.prefixValidLifetime, op.prefixPreferredLifetime, op.prefixOnLink, op.prefixAutonomous]).toEqual([m, mtu > 0 ? mtu : -1, plen, valid, pref, true, true]);
      }),
    );
  });

  it('the checks never throw and never read outside the message (random bodies)', () => {
    const type = fc.constantFrom(133, 134, 135, 136, 137, 128, 0);
    fc.assert(
      fc.property(type, fc.uint8Array({ maxLength: 100 }), fc.boolean(), (t, body, fix) => {
        const out: string[] = [];
        for (const fill of [0x00, 0xff]) {
          const b = Buffer.alloc(14 + 40 + body.length + 32, fill);
          const ipv6 = Buffer.from(NDP_NS_FRAME.subarray(0, 54));
          ipv6.writeUInt16BE(body.length, 18);
          ipv6.copy(b, 0);
          Buffer.from(body).copy(b, 54);
          if (body.length > 0) b[54] = t;
          if (fix && body.length >= 8) {
            icmp.wrap(b, 54, body.length);
            ip.wrap(b, 14, 40 + body.length);
            icmp.fillChecksum(ip.addressSum());
          }
          expect(ip.wrap(b, 14, 40 + body.length)).toBe(WireError.Ok);
          const r = checkNdp(ip, msg, 54, body.length);
          const o = msg.options;
          out.push(JSON.stringify([r, r === NdpInvalid.Ok ? [o.sourceMac, o.targetMac, o.mtu, o.prefix, o.prefixCount, o.unknown] : []]));
        }
        expect(out[0]).toBe(out[1]);
      }),
      { numRuns: 2000 },
    );
  });
});
