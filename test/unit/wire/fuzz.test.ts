/**
 * Robustness properties: any bytes handed to any `wrap` never throw, and after
 * an Ok wrap no accessor throws or reads outside [off, off+len). The latter is
 * checked by wrapping the same bytes inside two buffers whose surroundings
 * differ in every byte (0x00 vs 0xff): any out-of-range read would show up as
 * a difference.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArpPacket, ArpRepr } from '../../../src/wire/arp.js';
import { WireError } from '../../../src/wire/error.js';
import { EthernetPacket, EthernetRepr } from '../../../src/wire/ethernet.js';
import { Icmpv4Packet, Icmpv4Repr } from '../../../src/wire/icmpv4.js';
import { Ipv4Packet, Ipv4Repr } from '../../../src/wire/ipv4.js';
import { TCP_OPT_MSS, TCP_OPT_SACK, TCP_OPT_TIMESTAMP, TcpPacket, TcpRepr } from '../../../src/wire/tcp.js';
import { UdpPacket, UdpRepr } from '../../../src/wire/udp.js';
import { Icmpv6Packet, Icmpv6Repr } from '../../../src/wire/icmpv6.js';
import { Ipv6ExtensionHeaderRepr, Ipv6ExtensionWalk, Ipv6Packet, Ipv6Repr } from '../../../src/wire/ipv6.js';
import { NdpMessage } from '../../../src/wire/ndp.js';
import { EXT_CHAIN_FRAME, HBH_UNKNOWN_FRAME, MLD2_REPORT_FRAME, NDP_DAD_NS_FRAME, NDP_NA_FRAME, NDP_RA_FRAME, NDP_REDIRECT_FRAME, NDP_RS_FRAME, PARAM_PROBLEM_NH_FRAME, RH0_FRAME, TIME_EXCEEDED6_FRAME } from './frames6.js';
import {
  ARP_REQUEST,
  DNS_QUERY_FRAME,
  ICMP_ECHO_REPLY_RR_FRAME,
  ICMP_PORT_UNREACH_FRAME,
  TCP_SYN_FRAME,
} from './frames.js';

const IP1 = 0xac110002;
const IP2 = 0xac110001;

interface View {
  off: number;
  wrap(buf: Buffer, off: number, len: number): number;
}

/** Everything readable from a wrapped view, offsets made relative so two placements compare equal. */
type Snapshot = (v: never) => unknown;

const eth = new EthernetPacket();
const arp = new ArpPacket();
const ip = new Ipv4Packet();
const icmp = new Icmpv4Packet();
const udp = new UdpPacket();
const tcp = new TcpPacket();
const ip6 = new Ipv6Packet();
const walk6 = new Ipv6ExtensionWalk();
const icmp6 = new Icmpv6Packet();
const ndp = new NdpMessage();
/** Some pseudo-header address sum: the checksum result only has to be the same in both placements. */
const ADDR_SUM6 = 0x2f00e;

function hexOf(b: Buffer): string {
  return b.toString('hex');
}

const subjects: Array<[string, View, (v: never) => unknown]> = [
  [
    'ethernet',
    eth,
    ((p: EthernetPacket) => ({
      dst: p.dst,
      src: p.src,
      type: p.etherType,
      po: p.payloadOffset - p.off,
      pl: p.payloadLength,
      repr: EthernetRepr.parse(p),
    })) as Snapshot,
  ],
  [
    'arp',
    arp,
    ((p: ArpPacket) => ({ repr: ArpRepr.parse(p) })) as Snapshot,
  ],
  [
    'ipv4',
    ip,
    ((p: Ipv4Packet) => ({
      v: p.version,
      hl: p.headerLength,
      tl: p.totalLength,
      frag: [p.dontFragment, p.moreFragments, p.fragmentOffset, p.isFragment],
      cs: [p.headerChecksum, p.verifyChecksum()],
      po: p.payloadOffset - p.off,
      pl: p.payloadLength,
      repr: Ipv4Repr.parse(p),
    })) as Snapshot,
  ],
  [
    'icmpv4',
    icmp,
    ((p: Icmpv4Packet) => {
      const r = Icmpv4Repr.parse(p);
      return {
        t: [p.type, p.code, p.checksum, p.echoIdent, p.echoSeq, p.nextHopMtu, p.restOfHeader, p.isError()],
        io: p.innerOffset - p.off,
        ok: p.verifyChecksum(),
        repr: { ...r, body: hexOf(r.kind === 'error' ? r.quoted : r.data) },
      };
    }) as Snapshot,
  ],
  [
    'udp',
    udp,
    ((p: UdpPacket) => {
      const r = UdpRepr.parse(p);
      return {
        f: [p.srcPort, p.dstPort, p.length, p.checksum, p.payloadLength],
        ok: p.verifyChecksum(IP1, IP2),
        repr: { ...r, payload: hexOf(r.payload) },
      };
    }) as Snapshot,
  ],
  [
    'tcp',
    tcp,
    ((p: TcpPacket) => {
      const r = TcpRepr.parse(p);
      const rel = (x: number): number => (x < 0 ? x : x - p.off);
      return {
        f: [p.srcPort, p.dstPort, p.seq, p.ack, p.headerLength, p.flags, p.window, p.checksum, p.urgent],
        pl: p.payloadLength,
        opts: [rel(p.findOption(TCP_OPT_MSS)), rel(p.findOption(TCP_OPT_SACK)), rel(p.findOption(TCP_OPT_TIMESTAMP)), p.mss],
        ok: p.verifyChecksum(IP1, IP2),
        repr: { ...r, payload: hexOf(r.payload) },
      };
    }) as Snapshot,
  ],
  [
    'ipv6',
    ip6,
    ((p: Ipv6Packet) => {
      const w = walk6;
      p.walkExtensions(w);
      const rel = (x: number): number => (x < 0 ? x : x - p.off);
      const chain = Ipv6ExtensionHeaderRepr.parseChain(p);
      return {
        f: [p.version, p.trafficClass, p.flowLabel, p.payloadLength, p.nextHeader, p.hopLimit, p.srcWord(0), p.dstWord(3), p.srcIsUnspecified, p.srcIsLinkLocal, p.dstIsMulticast, p.addressSum()],
        w: [w.error, w.protocol, rel(w.offset), w.length, w.headers, rel(w.fragment), rel(w.routing), w.discard, w.problemCode, w.problemPointer, rel(w.finalDestination), w.pseudoAddressSum()],
        dest: [w.destinationDiscard, w.destinationProblemCode, w.destinationProblemPointer],
        frag: w.fragment >= 0 ? [w.fragmentOffset, w.moreFragments, w.fragmentIdent] : null,
        rt: w.routing >= 0 ? [w.routingPointer, w.routingType, w.routingSegmentsLeft] : null,
        chain: chain === null ? null : JSON.stringify(chain.map((h) => ({ ...h, ...('options' in h ? { options: hexOf(h.options) } : {}), ...('data' in h ? { data: hexOf(h.data) } : {}) }))),
        repr: Ipv6Repr.parse(p),
      };
    }) as Snapshot,
  ],
  [
    'icmpv6',
    icmp6,
    ((p: Icmpv6Packet) => {
      const r = Icmpv6Repr.parse(p);
      return {
        t: [p.type, p.code, p.checksum, p.echoIdent, p.echoSeq, p.mtu, p.pointer, p.isError()],
        ok: p.verifyChecksum(ADDR_SUM6),
        repr: { ...r, body: hexOf(r.kind === 'error' ? r.quoted : r.data) },
      };
    }) as Snapshot,
  ],
  [
    'ndp',
    ndp,
    ((p: NdpMessage) => {
      const e = p.walkOptions();
      const o = p.options;
      return {
        f: [p.type, p.code, p.checksum, p.optionsOffset - p.off, p.optionsLength, p.verifyChecksum(ADDR_SUM6)],
        // the accessors of the message's own type (wrap checked its fixed part is there)
        target: p.type >= 135 ? [p.targetWord(0), p.targetWord(3), p.targetIsMulticast, p.router, p.solicited, p.override] : null,
        ra: p.type === 134 ? [p.curHopLimit, p.managed, p.otherConfig, p.routerLifetime, p.reachableTime, p.retransTimer] : null,
        redirect: p.type === 137 ? [p.destinationWord(0), p.destinationWord(3)] : null,
        opts: [e, o.sourceMac, o.targetMac, o.mtu, o.prefix < 0 ? -1 : o.prefix - p.off, o.prefixCount, o.unknown],
        prefix: e === WireError.Ok && o.prefix >= 0 ? [o.prefixLength, o.prefixOnLink, o.prefixAutonomous, o.prefixValidLifetime, o.prefixPreferredLifetime, o.prefixWord(0)] : null,
      };
    }) as Snapshot,
  ],
];

/** Real headers of each protocol, as mutation seeds so wraps often reach Ok. */
const seeds: Record<string, Buffer[]> = {
  ethernet: [ARP_REQUEST, DNS_QUERY_FRAME, TCP_SYN_FRAME],
  arp: [ARP_REQUEST.subarray(14)],
  ipv4: [DNS_QUERY_FRAME, ICMP_ECHO_REPLY_RR_FRAME, ICMP_PORT_UNREACH_FRAME, TCP_SYN_FRAME].map((f) => f.subarray(14)),
  icmpv4: [ICMP_PORT_UNREACH_FRAME.subarray(34), ICMP_ECHO_REPLY_RR_FRAME.subarray(74)],
  udp: [DNS_QUERY_FRAME.subarray(34)],
  tcp: [TCP_SYN_FRAME.subarray(34)],
  ipv6: [EXT_CHAIN_FRAME, RH0_FRAME, HBH_UNKNOWN_FRAME, MLD2_REPORT_FRAME, NDP_NA_FRAME].map((f) => f.subarray(14)),
  icmpv6: [TIME_EXCEEDED6_FRAME, PARAM_PROBLEM_NH_FRAME, NDP_RA_FRAME].map((f) => f.subarray(54)),
  ndp: [NDP_RA_FRAME, NDP_NA_FRAME, NDP_DAD_NS_FRAME, NDP_RS_FRAME, NDP_REDIRECT_FRAME].map((f) => f.subarray(54)),
};

/** Random bytes, or a real header with a few bytes overwritten and the tail cut at random. */
function bytesArb(name: string): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.uint8Array({ minLength: 0, maxLength: 120 }).map((a) => Buffer.from(a)),
    fc
      .tuple(
        fc.constantFrom(...seeds[name]),
        fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        fc.nat(120),
      )
      .map(([seed, edits, cut]) => {
        const b = Buffer.from(seed);
        for (const [at, v] of edits) b[at % b.length] = v;
        return b.subarray(0, Math.min(b.length, cut));
      }),
  );
}

function placed(data: Buffer, pre: number, post: number, fill: number): Buffer {
  const b = Buffer.alloc(pre + data.length + post, fill);
  data.copy(b, pre);
  return b;
}

describe('wrap never throws and accessors stay inside [off, off+len)', () => {
  for (const [name, view, snap] of subjects) {
    it(name, () => {
      let oks = 0;
      fc.assert(
        fc.property(bytesArb(name), fc.nat(9), fc.nat(9), (data, pre, post) => {
          const a = placed(data, pre, post, 0x00);
          const b = placed(data, pre, post, 0xff);
          const ra = view.wrap(a, pre, data.length);
          const sa = ra === WireError.Ok ? snap(view as never) : null;
          const rb = view.wrap(b, pre, data.length);
          const sb = rb === WireError.Ok ? snap(view as never) : null;
          expect(rb).toBe(ra);
          expect([WireError.Ok, WireError.Truncated, WireError.Malformed]).toContain(ra);
          expect(sb).toEqual(sa);
          if (ra === WireError.Ok) oks++;
        }),
        { numRuns: 3000 },
      );
      // The generator must actually exercise the accessors, not just the rejections.
      expect(oks).toBeGreaterThan(300);
    });
  }

  it('out-of-range off/len never throw and are Truncated', () => {
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 200 }), fc.integer({ min: -5, max: 200 }), (off, len) => {
        const buf = Buffer.from(TCP_SYN_FRAME);
        for (const [, view] of subjects) {
          const r = view.wrap(buf, off, len);
          if (off < 0 || len < 0 || off + len > buf.length) expect(r).toBe(WireError.Truncated);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('ipv4 wrapPartial never throws either', () => {
    fc.assert(
      fc.property(bytesArb('ipv4'), (data) => {
        const r = ip.wrapPartial(data, 0, data.length);
        if (r === WireError.Ok) {
          expect(ip.headerLength).toBeLessThanOrEqual(data.length);
          expect(typeof ip.verifyChecksum()).toBe('boolean');
        }
      }),
      { numRuns: 1000 },
    );
  });
});
