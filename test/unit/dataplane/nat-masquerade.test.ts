// Masquerade (SNAT to the uplink address): TCP, UDP and ICMP echo flows from containers, port
// preservation and allocation, endpoint-independent mapping, filtering, and port exhaustion.
// Frames are literal, produced with scapy (legend in fixture.ts), compared byte for byte.

import { describe, expect, it } from 'vitest';
import { CtFlag, CtState, protoClass } from '../../../src/dataplane/conntrack.js';
import { Drop } from '../../../src/dataplane/counters.js';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../../../src/wire/tcp.js';
import {
  A,
  ACK_C1,
  ACK_C1_OUT,
  drain,
  hex,
  makeNatWorld,
  type NatWorld,
  SYN_C1,
  SYN_C1_OUT,
  SYNACK_AT_C1,
  SYNACK_X10,
  UPLINK_ARP_FOR_ROUTER,
  ROUTER_ARP_REPLY,
  variant,
} from './fixture.js';

// c2 opens from the same port 40000
// scapy: fromC2(IP(src=C2, dst=X10, ttl=64, id=0x1100, flags='DF')/TCP(sport=40000, dport=80, seq=2000, flags='S', window=64240, options=OPTS))
const SYN_C2_40000 = hex('0250000000010242ac11000308004500003c110040004006419dac110003cb00710a9c400050000007d000000000a002faf0c08e0000020405b40402080a000000010000000001030307');
// expected: 40000 is taken, so the first port of the range 61000-61999
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0x1100, flags='DF')/TCP(sport=61000, dport=80, seq=2000, flags='S', window=64240, options=OPTS))
const SYN_C2_OUT = hex('02005e0000010250000000ff08004500003c110040003f06c47bc6336402cb00710aee480050000007d000000000a002faf0f0640000020405b40402080a000000010000000001030307');
// scapy: fromUp(IP(src=X10, dst=UP, ttl=52, id=0, flags='DF')/TCP(sport=80, dport=61000, seq=6000, ack=2001, flags='SA', window=65160, options=OPTS_SA))
const SYNACK_X10_61000 = hex('0250000000ff02005e00000108004500003c000040003406e07bcb00710ac63364020050ee4800001770000007d1a012fe88d4fe0000020405b40402080a0000004d0000000101030307');
// scapy: toC2(IP(src=X10, dst=C2, ttl=51, id=0, flags='DF')/TCP(sport=80, dport=40000, seq=6000, ack=2001, flags='SA', window=65160, options=OPTS_SA))
const SYNACK_AT_C2 = hex('0242ac11000302500000000108004500003c0000400033065f9dcb00710aac11000300509c4000001770000007d1a012fe88a5280000020405b40402080a0000004d0000000101030307');
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x2000)/UDP(sport=5353, dport=53)/Raw(b'pontoon-udp-query'))
const UDP_C1 = hex('0250000000010242ac11000208004500002d20000000401172a2ac110002cb00710a14e9003500191085706f6e746f6f6e2d7564702d7175657279');
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0x2000)/UDP(sport=5353, dport=53)/Raw(b'pontoon-udp-query'))
const UDP_C1_OUT = hex('02005e0000010250000000ff08004500002d200000003f11f57fc6336402cb00710a14e9003500199262706f6e746f6f6e2d7564702d7175657279');
// scapy: fromUp(IP(src=X10, dst=UP, ttl=50, id=0x3000)/UDP(sport=53, dport=5353)/Raw(b'pontoon-udp-answer'))
const UDP_X10 = hex('0250000000ff02005e00000108004500002e300000003211f27ecb00710ac6336402003514e9001aa7f0706f6e746f6f6e2d7564702d616e73776572');
// scapy: toC1(IP(src=X10, dst=C1, ttl=49, id=0x3000)/UDP(sport=53, dport=5353)/Raw(b'pontoon-udp-answer'))
const UDP_X10_AT_C1 = hex('0242ac11000202500000000108004500002e30000000311171a1cb00710aac110002003514e9001a2613706f6e746f6f6e2d7564702d616e73776572');
// no checksum (0)
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x2001)/UDP(sport=5354, dport=69, chksum=0)/Raw(b'zero-checksum'))
const UDP0_C1 = hex('0250000000010242ac11000208004500002920010000401172a5ac110002cb00710a14ea0045001500007a65726f2d636865636b73756d');
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0x2001)/UDP(sport=5354, dport=69, chksum=0)/Raw(b'zero-checksum'))
const UDP0_C1_OUT = hex('02005e0000010250000000ff080045000029200100003f11f582c6336402cb00710a14ea0045001500007a65726f2d636865636b73756d');
// scapy: fromUp(IP(src=X10, dst=UP, ttl=50, id=0x3001)/UDP(sport=69, dport=5354, chksum=0)/Raw(b'zero-back'))
const UDP0_X10 = hex('0250000000ff02005e000001080045000025300100003211f286cb00710ac6336402004514ea001100007a65726f2d6261636b');
// scapy: toC1(IP(src=X10, dst=C1, ttl=49, id=0x3001)/UDP(sport=69, dport=5354, chksum=0)/Raw(b'zero-back'))
const UDP0_X10_AT_C1 = hex('0242ac11000202500000000108004500002530010000311171a9cb00710aac110002004514ea001100007a65726f2d6261636b');
// payload chosen so that the checksum of the translated datagram computes to 0, sent as 0xffff
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x2400)/UDP(sport=5355, dport=53)/Raw(xx(UP, X10, 5355, 53, b'probe-')))
const UDP_FF_C1 = hex('0250000000010242ac1100020800450000242400000040116eabac110002cb00710a14eb003500107e2270726f62652d3f6b');
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0x2400)/UDP(sport=5355, dport=53)/Raw(xx(UP, X10, 5355, 53, b'probe-')))
const UDP_FF_C1_OUT = hex('02005e0000010250000000ff080045000024240000003f11f188c6336402cb00710a14eb00350010ffff70726f62652d3f6b');
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x4000, flags='DF')/ICMP(type=8, id=0x0777, seq=1)/Raw(b'pontoon-ping'))
const PING_C1 = hex('0250000000010242ac11000208004500002840004000400112b7ac110002cb00710a0800553607770001706f6e746f6f6e2d70696e67');
// identifier 0x0777 kept
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0x4000, flags='DF')/ICMP(type=8, id=0x0777, seq=1)/Raw(b'pontoon-ping'))
const PING_C1_OUT = hex('02005e0000010250000000ff080045000028400040003f019594c6336402cb00710a0800553607770001706f6e746f6f6e2d70696e67');
// scapy: fromUp(IP(src=X10, dst=UP, ttl=55, id=0x5000)/ICMP(type=0, id=0x0777, seq=1)/Raw(b'pontoon-ping'))
const PONG_X10_C1 = hex('0250000000ff02005e000001080045000028500000003701cd94cb00710ac633640200005d3607770001706f6e746f6f6e2d70696e67');
// scapy: toC1(IP(src=X10, dst=C1, ttl=54, id=0x5000)/ICMP(type=0, id=0x0777, seq=1)/Raw(b'pontoon-ping'))
const PONG_AT_C1 = hex('0242ac1100020250000000010800450000285000000036014cb7cb00710aac11000200005d3607770001706f6e746f6f6e2d70696e67');
// c2 with the same identifier (and TTL 2, as traceroute -I)
// scapy: fromC2(IP(src=C2, dst=X10, ttl=2, id=0x4100, flags='DF')/ICMP(type=8, id=0x0777, seq=1)/Raw(b'pontoon-ping'))
const PING_C2 = hex('0250000000010242ac1100030800450000284100400002014fb6ac110003cb00710a0800553607770001706f6e746f6f6e2d70696e67');
// identifier translated to 1024, the first of the range
// scapy: toUp(IP(src=UP, dst=X10, ttl=1, id=0x4100, flags='DF')/ICMP(type=8, id=1024, seq=1)/Raw(b'pontoon-ping'))
const PING_C2_OUT = hex('02005e0000010250000000ff080045000028410040000101d294c6336402cb00710a080058ad04000001706f6e746f6f6e2d70696e67');
// scapy: fromUp(IP(src=X10, dst=UP, ttl=55, id=0x5100)/ICMP(type=0, id=1024, seq=1)/Raw(b'pontoon-ping'))
const PONG_X10_C2 = hex('0250000000ff02005e000001080045000028510000003701cc94cb00710ac6336402000060ad04000001706f6e746f6f6e2d70696e67');
// scapy: toC2(IP(src=X10, dst=C2, ttl=54, id=0x5100)/ICMP(type=0, id=0x0777, seq=1)/Raw(b'pontoon-ping'))
const PONG_AT_C2 = hex('0242ac1100030250000000010800450000285100000036014bb6cb00710aac11000300005d3607770001706f6e746f6f6e2d70696e67');
// 203.0.113.10 pings the gateway with the identifier of the ping flow of c1
// scapy: fromUp(IP(src=X10, dst=UP, ttl=60, id=0xb000)/ICMP(type=8, id=0x0777, seq=9)/Raw(b'who'))
const PING_X10_TO_UP = hex('0250000000ff02005e00000108004500001fb00000003c01689dcb00710ac633640208000a170777000977686f');
// expected: the gateway answers itself
// scapy: toUp(IP(src=UP, dst=X10, ttl=64, id=0xb000)/ICMP(type=0, id=0x0777, seq=9)/Raw(b'who'))
const PONG_UP_TO_X10 = hex('02005e0000010250000000ff08004500001fb00000004001649dc6336402cb00710a000012170777000977686f');
// c2 takes 198.51.100.2:5000/udp
// scapy: fromC2(IP(src=C2, dst=X10, ttl=64, id=0x2200)/UDP(sport=5000, dport=3478)/Raw(b'binding-request-c2'))
const UDP_C2_5000 = hex('0250000000010242ac11000308004500002e22000000401170a0ac110003cb00710a13880d96001a346562696e64696e672d726571756573742d6332');
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x2100)/UDP(sport=5000, dport=3478)/Raw(b'binding-request-1'))
const STUN1_C1 = hex('0250000000010242ac11000208004500002d21000000401171a2ac110002cb00710a13880d960019669a62696e64696e672d726571756573742d31');
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0x2100)/UDP(sport=61000, dport=3478)/Raw(b'binding-request-1'))
const STUN1_OUT = hex('02005e0000010250000000ff08004500002d210000003f11f47fc6336402cb00710aee480d9600190db762696e64696e672d726571756573742d31');
// scapy: fromC1(IP(src=C1, dst=X20, ttl=64, id=0x2101)/UDP(sport=5000, dport=3478)/Raw(b'binding-request-2'))
const STUN2_C1 = hex('0250000000010242ac11000208004500002d2101000040117197ac110002cb00711413880d960019659062696e64696e672d726571756573742d32');
// scapy: toUp(IP(src=UP, dst=X20, ttl=63, id=0x2101)/UDP(sport=61000, dport=3478)/Raw(b'binding-request-2'))
const STUN2_OUT = hex('02005e0000010250000000ff08004500002d210100003f11f474c6336402cb007114ee480d9600190cad62696e64696e672d726571756573742d32');
// 203.0.113.20 writes to the mapping c1 opened towards 203.0.113.10
// scapy: fromUp(IP(src=X20, dst=UP, ttl=50, id=0x6000)/UDP(sport=3478, dport=61000)/Raw(b'hello-from-20'))
const INB_X20 = hex('0250000000ff02005e000001080045000029600000003211c279cb007114c63364020d96ee480015268968656c6c6f2d66726f6d2d3230');
// scapy: toC1(IP(src=X20, dst=C1, ttl=49, id=0x6000)/UDP(sport=3478, dport=5000)/Raw(b'hello-from-20'))
const INB_X20_AT_C1 = hex('0242ac110002025000000001080045000029600000003111419ccb007114ac1100020d96138800157f6c68656c6c6f2d66726f6d2d3230');
// template for the exhaustion test (ports rewritten)
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x2300)/UDP(sport=2000, dport=53)/Raw(b'q'))
const UDP_EXH = hex('0250000000010242ac11000208004500001d2300000040116fb2ac110002cb00710a07d0003500099eb871');
// template for the exhaustion test, from c2
// scapy: fromC2(IP(src=C2, dst=X10, ttl=64, id=0x2300)/UDP(sport=2000, dport=53)/Raw(b'q'))
const UDP_EXH_C2 = hex('0250000000010242ac11000308004500001d2300000040116fb1ac110003cb00710a07d0003500099eb771');
// c2:2000 once c1 released 2000
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0x2300)/UDP(sport=2000, dport=53)/Raw(b'q'))
const UDP_EXH_C2_2000_OUT = hex('02005e0000010250000000ff08004500001d230000003f11f28fc6336402cb00710a07d000350009209671');

const h = (frames: Buffer[]): string[] => frames.map((f) => f.toString('hex'));

/** The conntrack entry of a tuple (either direction), or -1. */
function entry(w: NatWorld, proto: number, src: number, dst: number, sport: number, dport: number): number {
  const slot = w.dp.tables.conntrack.lookup(proto, src, dst, sport, dport, w.dp.now);
  return slot < 0 ? -1 : slot >> 1;
}

/** Source port of the TCP/UDP packet in an Ethernet frame. */
const sportOf = (f: Buffer): number => f.readUInt16BE(14 + (f[14] & 0x0f) * 4);

describe('masquerade: TCP', () => {
  it('rewrites the SYN to the uplink address (port kept), then translates the SYN-ACK back to c1', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, SYN_C1);
    expect(h(w.uplink.take())).toEqual(h([SYN_C1_OUT]));
    expect(drain(w)).toBe(0);
    const ct = w.dp.tables.conntrack;
    const e = entry(w, 6, A.c1, A.x10, 40000, 80);
    expect(e).toBeGreaterThanOrEqual(0);
    expect(ct.state[e]).toBe(CtState.SynSent);
    // the reply tuple is what the outside sees: 203.0.113.10:80 -> 198.51.100.2:40000
    expect(entry(w, 6, A.x10, A.uplink, 80, 40000)).toBe(e);
    expect(w.dp.tables.mappings.outPort[ct.mapping[e]]).toBe(40000);

    w.dp.receive(w.ids.uplink, SYNACK_X10);
    expect(h(w.c1.take())).toEqual(h([SYNACK_AT_C1]));
    expect(drain(w)).toBe(0);
    expect(ct.state[e]).toBe(CtState.SynRecv);
    expect(ct.flags[e] & CtFlag.SeenReply).toBe(CtFlag.SeenReply);
    expect(ct.flags[e] & CtFlag.Assured).toBe(0);

    w.dp.receive(w.ids.c1, ACK_C1);
    expect(h(w.uplink.take())).toEqual(h([ACK_C1_OUT]));
    expect(ct.state[e]).toBe(CtState.Established);
    expect(ct.flags[e] & CtFlag.Assured).toBe(CtFlag.Assured);
    expect(ct.flags[e] & CtFlag.Snat).toBe(CtFlag.Snat);
    expect([ct.packets[e * 2], ct.packets[e * 2 + 1]]).toEqual([2, 1]);
    expect(ct.size).toBe(1);
    expect(Array.from(w.dp.counters.drops).every((d) => d === 0)).toBe(true);
  });

  it('parks the first packet while it asks for the router by ARP, and sends it once answered', () => {
    const w = makeNatWorld({}, { learnRouter: false });
    w.dp.receive(w.ids.c1, SYN_C1);
    expect(h(w.uplink.take())).toEqual(h([UPLINK_ARP_FOR_ROUTER]));
    expect(drain(w)).toBe(0);
    w.dp.receive(w.ids.uplink, ROUTER_ARP_REPLY);
    expect(h(w.uplink.take())).toEqual(h([SYN_C1_OUT]));
    expect(drain(w)).toBe(0);
    // the flow works both ways from then on
    w.dp.receive(w.ids.uplink, SYNACK_X10);
    expect(h(w.c1.take())).toEqual(h([SYNACK_AT_C1]));
  });

  it('with tcpLoose off, drops a first packet that is not a SYN (no entry is created)', () => {
    const w = makeNatWorld({ tcpLoose: false });
    w.dp.receive(w.ids.c1, ACK_C1);
    expect(drain(w)).toBe(0);
    expect(w.dp.counters.drops[Drop.InvalidState]).toBe(1);
    expect(w.dp.tables.conntrack.size).toBe(0);
    expect(w.dp.tables.mappings.inUse[0]).toBe(0);
  });
});

describe('masquerade: TCP picked up mid-stream (tcpLoose, as nf_conntrack_tcp_loose)', () => {
  it('starts an established flow from a segment of a connection it does not know, keeping the inside port', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, ACK_C1);
    expect(h(w.uplink.take())).toEqual(h([ACK_C1_OUT]));
    const ct = w.dp.tables.conntrack;
    const e = entry(w, 6, A.c1, A.x10, 40000, 80);
    expect(ct.state[e]).toBe(CtState.Established);
    expect(ct.flags[e] & (CtFlag.Liberal | CtFlag.Assured)).toBe(CtFlag.Liberal);
    // the window scale is unknown: a segment far ahead of anything seen still passes, and the
    // first answer confirms the flow
    w.dp.receive(w.ids.uplink, variant(SYNACK_X10, { flags: TCP_ACK, seq: 5001 + 3_000_000 }));
    expect(w.c1.take()).toHaveLength(1);
    expect(ct.flags[e] & CtFlag.Assured).toBe(CtFlag.Assured);
    expect(drain(w)).toBe(0);
  });

  it('never picks up a RST or a SYN-ACK, and from outside a stray segment is refused', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, variant(ACK_C1, { flags: TCP_RST | TCP_ACK }));
    w.dp.receive(w.ids.c1, variant(ACK_C1, { flags: TCP_SYN | TCP_ACK }));
    expect(w.dp.counters.drops[Drop.InvalidState]).toBe(2);
    w.dp.receive(w.ids.uplink, variant(SYNACK_X10, { flags: TCP_ACK, seq: 5001 }));
    expect(w.dp.counters.drops[Drop.NoMapping]).toBe(1);
    expect(w.c1.take()).toEqual([]);
    expect(w.dp.tables.conntrack.size).toBe(0);
  });
});

describe('masquerade: UDP and ICMP echo', () => {
  it('translates a UDP datagram with a checksum, and the answer', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, UDP_C1);
    expect(h(w.uplink.take())).toEqual(h([UDP_C1_OUT]));
    w.dp.receive(w.ids.uplink, UDP_X10);
    expect(h(w.c1.take())).toEqual(h([UDP_X10_AT_C1]));
    expect(drain(w)).toBe(0);
    const e = entry(w, 17, A.c1, A.x10, 5353, 53);
    expect(w.dp.tables.conntrack.flags[e] & (CtFlag.SeenReply | CtFlag.Assured)).toBe(CtFlag.SeenReply | CtFlag.Assured);
  });

  it('keeps a zero UDP checksum zero in both directions', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, UDP0_C1);
    expect(h(w.uplink.take())).toEqual(h([UDP0_C1_OUT]));
    w.dp.receive(w.ids.uplink, UDP0_X10);
    expect(h(w.c1.take())).toEqual(h([UDP0_X10_AT_C1]));
  });

  it('sends a translated UDP checksum that computes to 0 as 0xffff', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, UDP_FF_C1);
    const out = w.uplink.take();
    expect(h(out)).toEqual(h([UDP_FF_C1_OUT]));
    expect(out[0].readUInt16BE(40)).toBe(0xffff);
  });

  it('keeps a free echo identifier, translates a taken one, and translates the replies back', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, PING_C1);
    expect(h(w.uplink.take())).toEqual(h([PING_C1_OUT]));
    w.dp.receive(w.ids.c2, PING_C2); // the same identifier 0x0777
    expect(h(w.uplink.take())).toEqual(h([PING_C2_OUT]));
    w.dp.receive(w.ids.uplink, PONG_X10_C2);
    expect(h(w.c2.take())).toEqual(h([PONG_AT_C2]));
    w.dp.receive(w.ids.uplink, PONG_X10_C1);
    expect(h(w.c1.take())).toEqual(h([PONG_AT_C1]));
    expect(drain(w)).toBe(0);
    expect(w.dp.tables.mappings.inUse[protoClass(1)]).toBe(2);
  });
  it('does not take an echo request from outside for an answer of a ping flow with that identifier', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, PING_C1);
    drain(w);
    w.dp.receive(w.ids.uplink, PING_X10_TO_UP);
    expect(h(w.uplink.take())).toEqual(h([PONG_UP_TO_X10])); // the gateway answers its own ping
    expect(drain(w)).toBe(0); // c1 never sees a request from outside
    // and the flow still carries c1's answers
    w.dp.receive(w.ids.uplink, PONG_X10_C1);
    expect(h(w.c1.take())).toEqual(h([PONG_AT_C1]));
  });
});

describe('masquerade: port preservation, allocation and mapping', () => {
  it('gives a second inside endpoint with the same port another port of the range', () => {
    const w = makeNatWorld({ natPortMin: 61000, natPortMax: 61999 });
    w.dp.receive(w.ids.c1, SYN_C1);
    expect(h(w.uplink.take())).toEqual(h([SYN_C1_OUT])); // 40000 kept
    w.dp.receive(w.ids.c2, SYN_C2_40000);
    const out = w.uplink.take();
    expect(h(out)).toEqual(h([SYN_C2_OUT])); // 40000 taken: 61000
    expect(sportOf(out[0])).toBeGreaterThanOrEqual(61000);
    expect(sportOf(out[0])).toBeLessThanOrEqual(61999);
    // each answer reaches its own container
    w.dp.receive(w.ids.uplink, SYNACK_X10_61000);
    expect(h(w.c2.take())).toEqual(h([SYNACK_AT_C2]));
    w.dp.receive(w.ids.uplink, SYNACK_X10);
    expect(h(w.c1.take())).toEqual(h([SYNACK_AT_C1]));
    expect(drain(w)).toBe(0);
    expect(w.dp.tables.mappings.inUse[0]).toBe(2);
  });

  it('never hands out a published port for masquerade', () => {
    const w = makeNatWorld({ natPortMin: 61000, natPortMax: 61999 });
    w.dp.control.addPublish({ proto: 6, hostIp: 0, hostPort: 40000, targetIp: A.c2, targetPort: 80 });
    w.dp.receive(w.ids.c1, SYN_C1);
    const out = w.uplink.take();
    expect(out).toHaveLength(1);
    expect(sportOf(out[0])).toBe(61000);
  });

  it('maps one inside UDP endpoint to the same outside port whatever the destination (endpoint-independent mapping)', () => {
    const w = makeNatWorld({ natPortMin: 61000, natPortMax: 61999 });
    w.dp.receive(w.ids.c2, UDP_C2_5000); // c2 holds 198.51.100.2:5000, so c1's 5000 is allocated
    expect(h(w.uplink.take().map((f) => f.subarray(34, 36)))).toEqual(['1388']); // 5000 kept for c2
    w.dp.receive(w.ids.c1, STUN1_C1);
    expect(h(w.uplink.take())).toEqual(h([STUN1_OUT]));
    w.dp.receive(w.ids.c1, STUN2_C1);
    expect(h(w.uplink.take())).toEqual(h([STUN2_OUT])); // the same outside port 61000
    expect(w.dp.tables.mappings.inUse[1]).toBe(2);
    expect(w.dp.tables.conntrack.size).toBe(3);
  });

  it('filters inbound UDP by address and port by default (RFC 4787 address-and-port-dependent filtering)', () => {
    const w = makeNatWorld({ natPortMin: 61000, natPortMax: 61999 });
    w.dp.receive(w.ids.c2, UDP_C2_5000);
    w.dp.receive(w.ids.c1, STUN1_C1); // c1 talks to 203.0.113.10 only
    drain(w);
    w.dp.receive(w.ids.uplink, INB_X20); // 203.0.113.20 writes to the mapping
    expect(drain(w)).toBe(0);
    expect(w.dp.counters.drops[Drop.NoMapping]).toBe(1);
    expect(w.dp.tables.conntrack.size).toBe(2);
    // once c1 has written to 203.0.113.20:3478, its datagrams are answers and get through
    w.dp.receive(w.ids.c1, STUN2_C1);
    expect(h(w.uplink.take())).toEqual(h([STUN2_OUT]));
    w.dp.receive(w.ids.uplink, INB_X20);
    expect(h(w.c1.take())).toEqual(h([INB_X20_AT_C1]));
  });

  it('delivers inbound UDP to a live mapping from any host with udpEndpointIndependentFiltering', () => {
    const w = makeNatWorld({ natPortMin: 61000, natPortMax: 61999, udpEndpointIndependentFiltering: true });
    w.dp.receive(w.ids.c2, UDP_C2_5000);
    w.dp.receive(w.ids.c1, STUN1_C1);
    drain(w);
    w.dp.receive(w.ids.uplink, INB_X20);
    expect(h(w.c1.take())).toEqual(h([INB_X20_AT_C1]));
    expect(drain(w)).toBe(0);
    expect(w.dp.counters.drops[Drop.NoMapping]).toBe(0);
    // c1's answer to 203.0.113.20 uses the flow just created, from the same outside port
    w.dp.receive(w.ids.c1, STUN2_C1);
    expect(h(w.uplink.take())).toEqual(h([STUN2_OUT]));
    // a port no mapping holds is still filtered
    w.dp.receive(w.ids.uplink, variant(INB_X20, { dport: 61001 }));
    expect(drain(w)).toBe(0);
    expect(w.dp.counters.drops[Drop.NoMapping]).toBe(1);
  });
});

describe('masquerade: port exhaustion', () => {
  const udp = (from: 'c1' | 'c2', sport: number): Buffer => variant(from === 'c1' ? UDP_EXH : UDP_EXH_C2, { sport });

  it('drops a flow when every port of the range is taken, and reuses a port once its flow expires', () => {
    const w = makeNatWorld({ natPortMin: 2000, natPortMax: 2003 });
    const t0 = w.dp.now;
    const send = (from: 'c1' | 'c2', sport: number, at: number): Buffer[] => {
      w.dp.receive(w.ids[from], udp(from, sport), at);
      return w.uplink.take();
    };
    // four inside endpoints hold 2000..2003 (each keeps its own port)
    expect(send('c1', 2000, t0).map(sportOf)).toEqual([2000]);
    expect(send('c1', 2001, t0).map(sportOf)).toEqual([2001]);
    expect(send('c2', 2002, t0).map(sportOf)).toEqual([2002]);
    expect(send('c2', 2003, t0).map(sportOf)).toEqual([2003]);
    expect(w.dp.tables.mappings.inUse[1]).toBe(4);
    // c2:2000: its port is taken and the range is full
    expect(send('c2', 2000, t0 + 1000)).toEqual([]);
    expect(w.dp.counters.drops[Drop.NatPortsExhausted]).toBe(1);
    expect(w.dp.tables.conntrack.size).toBe(4);
    // a flow whose own port is free keeps it, range or not
    expect(send('c2', 3000, t0 + 1000).map(sportOf)).toEqual([3000]);
    // the driver ticks every 100 ms; each tick sweeps a slice of the table (a full pass takes ~5 s)
    let t = t0 + 1000;
    const tickUntil = (end: number): void => {
      for (; t + 100 <= end; ) w.dp.tick((t += 100));
    };
    tickUntil(t0 + 20_000);
    // all but c1:2000 stay alive; the unreplied UDP timeout is 30 s
    for (const [from, p] of [['c1', 2001], ['c2', 2002], ['c2', 2003]] as const) send(from, p, t);
    tickUntil(t0 + 29_900);
    expect(send('c2', 2000, t0 + 29_999)).toEqual([]); // c1:2000 has 1 ms to live
    expect(w.dp.counters.drops[Drop.NatPortsExhausted]).toBe(2);
    tickUntil(t0 + 35_100);
    expect(w.dp.tables.mappings.inUse[1]).toBe(3); // c1:2000 and c2:3000 expired, their ports are free
    expect(w.dp.tables.conntrack.size).toBe(3);
    const out = send('c2', 2000, t);
    expect(h(out)).toEqual(h([UDP_EXH_C2_2000_OUT])); // 2000 again, now c2's
    expect(w.dp.counters.drops[Drop.NatPortsExhausted]).toBe(2);
  });
});
