// What the NAT RFCs ask of the masquerade beyond translating: hairpinning for every mapping
// (RFC 4787 REQ-9, RFC 5382 REQ-8), explicit mappings pinned by the control plane (PCP, NAT-PMP),
// port parity (RFC 4787 REQ-3), the per-container connection limit, flows that go with their
// container or their published port, and martian addresses that are never translated.
// Frames are literal, produced with scapy (legend in fixture.ts), compared byte for byte.

import { describe, expect, it } from 'vitest';
import { CtFlag, CtState } from '../../../src/dataplane/conntrack.js';
import { Drop, Gauge } from '../../../src/dataplane/counters.js';
import { PortKind } from '../../../src/dataplane/port.js';
import { TCP_SYN } from '../../../src/wire/tcp.js';
import { A, drain, drops, hex, makeNatWorld, SYN_C1, SYNACK_X10, variant } from './fixture.js';

// c1 sends 172.17.0.2:5353 -> 203.0.113.10:53: its mapping is 198.51.100.2:5353
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x2000)/UDP(sport=5353, dport=53)/Raw(b'pontoon-udp-query'))
const UDP_C1 = hex('0250000000010242ac11000208004500002d20000000401172a2ac110002cb00710a14e9003500191085706f6e746f6f6e2d7564702d7175657279');
// c2 sends to c1's mapping through the uplink address
// scapy: fromC2(IP(src=C2, dst=UP, ttl=64, id=0x4000)/UDP(sport=6000, dport=5353)/b'hairpin')
const HP_UDP_C2 = hex('0250000000010242ac1100030800450000234000000040116480ac110003c6336402177014e9000f4cef6861697270696e');
// expected at c1: from c2's own mapping 198.51.100.2:6000
// scapy: toC1(IP(src=UP, dst=C1, ttl=63, id=0x4000)/UDP(sport=6000, dport=5353)/b'hairpin')
const HP_UDP_AT_C1 = hex('0242ac110002025000000001080045000023400000003f116581c6336402ac110002177014e9000f4cf06861697270696e');
// scapy: fromC1(IP(src=C1, dst=UP, ttl=64, id=0x4001)/UDP(sport=5353, dport=6000)/b'hairpin-back')
const HP_UDP_C1_REPLY = hex('0250000000010242ac110002080045000028400100004011647bac110002c633640214e91770001486ec6861697270696e2d6261636b');
// scapy: toC2(IP(src=UP, dst=C2, ttl=63, id=0x4001)/UDP(sport=5353, dport=6000)/b'hairpin-back')
const HP_UDP_AT_C2 = hex('0242ac110003025000000001080045000028400100003f11657ac6336402ac11000314e91770001486eb6861697270696e2d6261636b');
// a far host opens a connection to a pinned mapping 198.51.100.2:4000 -> 172.17.0.2:4000
// scapy: fromUp(IP(src=X10, dst=UP, ttl=60, id=0x5000, flags='DF')/TCP(sport=50100, dport=4000, seq=100, flags='S', window=64240, options=OPTS))
const PIN_SYN_X10 = hex('0250000000ff02005e00000108004500003c500040003c06887bcb00710ac6336402c3b40fa00000006400000000a002faf013150000020405b40402080a000000010000000001030307');
// scapy: toC1(IP(src=X10, dst=C1, ttl=59, id=0x5000, flags='DF')/TCP(sport=50100, dport=4000, seq=100, flags='S', window=64240, options=OPTS))
const PIN_SYN_AT_C1 = hex('0242ac11000202500000000108004500003c500040003b06079ecb00710aac110002c3b40fa00000006400000000a002faf091370000020405b40402080a000000010000000001030307');
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0, flags='DF')/TCP(sport=4000, dport=50100, seq=900, ack=101, flags='SA', window=65160))
const PIN_SYNACK_C1 = hex('0250000000010242ac11000208004500002800004000400652b2ac110002cb00710a0fa0c3b400000384000000655012fe88f1ed0000');
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0, flags='DF')/TCP(sport=4000, dport=50100, seq=900, ack=101, flags='SA', window=65160))
const PIN_SYNACK_OUT = hex('02005e0000010250000000ff080045000028000040003f06d58fc6336402cb00710a0fa0c3b400000384000000655012fe8873cb0000');
// a forged packet from outside for a port published on the host's loopback
// scapy: fromUp(IP(src=X10, dst='127.0.0.1', ttl=60, id=0x5100, flags='DF')/TCP(sport=50200, dport=8080, seq=1, flags='S', window=64240))
const MARTIAN_SYN = hex('0250000000ff02005e000001080045000028510040003c0632c4cb00710a7f000001c4181f9000000001000000005002faf0163c0000');

const h = (frames: Buffer[]): string[] => frames.map((f) => f.toString('hex'));

/** A frame of c1's sent by c2 instead: its source MAC and address. */
function fromC2(frame: Buffer, change: Parameters<typeof variant>[1] = {}): Buffer {
  const b = variant(frame, { src: A.c2, ...change });
  Buffer.from('0242ac110003', 'hex').copy(b, 6);
  return b;
}

describe('hairpinning for every mapping (RFC 4787 REQ-9, RFC 5382 REQ-8)', () => {
  it("reaches another container's live UDP mapping through the uplink address, seen from the sender's own mapping", () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, UDP_C1);
    expect(w.uplink.take()).toHaveLength(1);
    w.dp.receive(w.ids.c2, HP_UDP_C2);
    expect(h(w.c1.take())).toEqual(h([HP_UDP_AT_C1]));
    w.dp.receive(w.ids.c1, HP_UDP_C1_REPLY);
    expect(h(w.c2.take())).toEqual(h([HP_UDP_AT_C2]));
    expect(drain(w)).toBe(0);
    expect(drops(w.dp)).toEqual({});
    expect(w.dp.counters.gauges[Gauge.HairpinFlows]).toBe(1);
    // the hairpinned flow holds c2's endpoint-independent mapping, the one its flows out use
    const maps = w.dp.tables.mappings;
    const m = maps.find(1, A.c2, 6000);
    expect(maps.outPort[m]).toBe(6000);
    expect(maps.refs[m]).toBe(1);
  });

  it('reaches its own mapping from the same socket (what stun tests as "will hairpin")', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, UDP_C1);
    w.uplink.take();
    w.dp.receive(w.ids.c1, variant(HP_UDP_C1_REPLY, { dport: 5353 }));
    const got = w.c1.take();
    expect(got).toHaveLength(1);
    const f = got[0]!;
    expect(f.subarray(0, 6).toString('hex')).toBe('0242ac110002');
    expect([f.readUInt32BE(26), f.readUInt32BE(30), f.readUInt16BE(34), f.readUInt16BE(36)]).toEqual([A.uplink, A.c1, 5353, 5353]);
    expect(drain(w)).toBe(0);
  });

  it('leaves a packet for an uplink port that no mapping holds to the gateway itself (port unreachable)', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c2, HP_UDP_C2);
    const back = w.c2.take();
    expect(back.map((f) => [f[23], f[34], f[35]])).toEqual([[1, 3, 3]]); // ICMP destination unreachable, port
    expect(drain(w)).toBe(0);
    expect(w.dp.tables.conntrack.size).toBe(0);
  });
});

describe('mappings pinned by the control plane (PCP, NAT-PMP)', () => {
  it('lets any outside host open a connection to a pinned mapping; unpinned, new ones are refused', () => {
    const w = makeNatWorld();
    const port = w.dp.control.pinMapping({ proto: 6, insideIp: A.c1, insidePort: 4000, outsidePort: 0, exact: false, open: true });
    expect(port).toBe(4000);
    w.dp.receive(w.ids.uplink, PIN_SYN_X10);
    expect(h(w.c1.take())).toEqual(h([PIN_SYN_AT_C1]));
    w.dp.receive(w.ids.c1, PIN_SYNACK_C1);
    expect(h(w.uplink.take())).toEqual(h([PIN_SYNACK_OUT]));
    // a flow out from the same inside port uses the same mapping
    w.dp.receive(w.ids.c1, variant(SYN_C1, { sport: 4000, dst: A.x20 }));
    const out = w.uplink.take();
    expect(out).toHaveLength(1);
    expect(out[0]!.readUInt16BE(34)).toBe(4000);
    w.dp.control.unpinMapping(6, A.c1, 4000);
    w.dp.receive(w.ids.uplink, variant(PIN_SYN_X10, { src: A.x20, sport: 50101 }));
    expect(w.c1.take()).toEqual([]);
    expect(w.dp.counters.drops[Drop.NoMapping]).toBe(1);
    expect(w.uplink.take()).toHaveLength(1); // the RST
  });

  it('keeps a mapping pinned closed (PCP PEER) alive without flows, reachable only through its own flows', () => {
    const w = makeNatWorld();
    expect(w.dp.control.pinMapping({ proto: 6, insideIp: A.c1, insidePort: 4000, outsidePort: 0, exact: false, open: false })).toBe(4000);
    w.dp.receive(w.ids.uplink, PIN_SYN_X10);
    expect(w.c1.take()).toEqual([]);
    expect(w.dp.counters.drops[Drop.NoMapping]).toBe(1);
    // opened by pinning again (a MAP beside the PEER)
    w.dp.control.pinMapping({ proto: 6, insideIp: A.c1, insidePort: 4000, outsidePort: 4000, exact: true, open: true });
    w.dp.receive(w.ids.uplink, variant(PIN_SYN_X10, { sport: 50109 }));
    expect(w.c1.take()).toHaveLength(1);
    expect(w.dp.tables.mappings.refs[w.dp.tables.mappings.find(0, A.c1, 4000)]).toBe(2); // the pin and the flow
  });

  it('is idempotent, keeps a port other mappings or published ports hold, and fails cleanly with exact', () => {
    const w = makeNatWorld();
    w.dp.control.addPublish({ proto: 6, hostIp: 0, hostPort: 8080, targetIp: A.c2, targetPort: 80 });
    const ctl = w.dp.control;
    expect(ctl.pinMapping({ proto: 6, insideIp: A.c1, insidePort: 4000, outsidePort: 4000, exact: true, open: true })).toBe(4000);
    expect(ctl.pinMapping({ proto: 6, insideIp: A.c1, insidePort: 4000, outsidePort: 4000, exact: true, open: true })).toBe(4000);
    expect(w.dp.tables.mappings.refs[w.dp.tables.mappings.find(0, A.c1, 4000)]).toBe(1);
    expect(() => ctl.pinMapping({ proto: 6, insideIp: A.c2, insidePort: 4000, outsidePort: 4000, exact: true, open: true })).toThrow('outside port 4000 is in use');
    expect(() => ctl.pinMapping({ proto: 6, insideIp: A.c2, insidePort: 9000, outsidePort: 8080, exact: true, open: true })).toThrow('outside port 8080 is published');
    expect(w.dp.tables.mappings.find(0, A.c2, 4000)).toBe(-1); // nothing made by the refusals
    const other = ctl.pinMapping({ proto: 6, insideIp: A.c2, insidePort: 4000, outsidePort: 4000, exact: false, open: true });
    expect(other).not.toBe(4000);
    expect(other).toBeGreaterThanOrEqual(1024);
    ctl.unpinMapping(6, A.c2, 4000);
    expect(w.dp.tables.mappings.find(0, A.c2, 4000)).toBe(-1); // no flow held it: gone at once
  });
});

describe('TCP simultaneous open (RFC 5382 REQ-3)', () => {
  it("takes a bare SYN from the far end of an outbound SYN's flow, as hole punching needs", () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, SYN_C1);
    expect(w.uplink.take()).toHaveLength(1);
    w.dp.receive(w.ids.uplink, variant(SYNACK_X10, { flags: TCP_SYN, ack: 0 }));
    const got = w.c1.take();
    expect(got).toHaveLength(1);
    expect([got[0]!.readUInt16BE(34), got[0]!.readUInt16BE(36), got[0]![47]]).toEqual([80, 40000, TCP_SYN]);
    const e = w.dp.tables.conntrack.lookup(6, A.c1, A.x10, 40000, 80, w.dp.now) >> 1;
    expect(w.dp.tables.conntrack.state[e]).toBe(CtState.SynRecv);
  });
});

describe('port parity (RFC 4787 REQ-3)', () => {
  it('gives a UDP mapping whose inside port is taken an outside port of the same parity', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, variant(UDP_C1, { sport: 5000 }));
    w.dp.receive(w.ids.c2, fromC2(UDP_C1, { sport: 5000 }));
    w.dp.receive(w.ids.c2, fromC2(UDP_C1, { sport: 5001 }));
    const ports = w.uplink.take().map((f) => f.readUInt16BE(34));
    expect(ports[0]).toBe(5000);
    expect(ports[1]! % 2).toBe(0);
    expect(ports[1]).not.toBe(5000);
    expect(ports[2]).toBe(5001);
  });
});

describe('bounded per container, clean on change', () => {
  it('refuses a container its connection beyond conntrackMaxPerEndpoint, counting inbound ones too', () => {
    const w = makeNatWorld({ conntrackMaxPerEndpoint: 2 });
    w.dp.control.addPublish({ proto: 6, hostIp: 0, hostPort: 8080, targetIp: A.c2, targetPort: 80 });
    for (let i = 0; i < 3; i++) w.dp.receive(w.ids.c1, variant(SYN_C1, { sport: 41000 + i }));
    expect(w.uplink.take()).toHaveLength(2);
    expect(w.dp.counters.drops[Drop.EndpointConnLimit]).toBe(1);
    // c2 has its own allowance: two inbound through the published port, then refused
    for (let i = 0; i < 3; i++) w.dp.receive(w.ids.uplink, variant(PIN_SYN_X10, { dport: 8080, sport: 51000 + i }));
    expect(w.c2.take()).toHaveLength(2);
    expect(w.dp.counters.drops[Drop.EndpointConnLimit]).toBe(2);
    expect(w.dp.tables.conntrack.owned[w.ids.c1]).toBe(2);
    expect(w.dp.tables.conntrack.owned[w.ids.c2]).toBe(2);
  });

  it("removes a container's connections and pinned mappings the moment it disconnects", () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, SYN_C1);
    w.dp.receive(w.ids.c1, UDP_C1);
    w.dp.control.pinMapping({ proto: 17, insideIp: A.c1, insidePort: 7000, outsidePort: 0, exact: false, open: true });
    w.dp.receive(w.ids.c2, fromC2(UDP_C1, { sport: 5000 }));
    expect(w.dp.tables.conntrack.size).toBe(3);
    w.dp.control.removePort(w.ids.c1);
    expect(w.dp.tables.conntrack.size).toBe(1); // c2's flow stays
    expect(w.dp.tables.mappings.find(1, A.c1, 7000)).toBe(-1);
    expect(w.dp.tables.mappings.find(1, A.c1, 5353)).toBe(-1);
    expect(w.dp.tables.mappings.inUse[0] + w.dp.tables.mappings.inUse[1]).toBe(1);
  });

  it("removes a published port's connections when it is unpublished", () => {
    const w = makeNatWorld();
    w.dp.control.addPublish({ proto: 6, hostIp: 0, hostPort: 8080, targetIp: A.c2, targetPort: 80 });
    w.dp.receive(w.ids.uplink, variant(PIN_SYN_X10, { dport: 8080 }));
    w.dp.receive(w.ids.c1, SYN_C1);
    expect(w.c2.take()).toHaveLength(1);
    expect(w.dp.tables.conntrack.size).toBe(2);
    w.dp.control.removePublish(6, 8080);
    expect(w.dp.tables.conntrack.size).toBe(1);
    const e = w.dp.tables.conntrack.lookup(6, A.c1, A.x10, 40000, 80, w.dp.now) >> 1;
    expect(w.dp.tables.conntrack.flags[e] & CtFlag.Dnat).toBe(0);
  });

  it('never routes nor translates a loopback destination, from outside or inside', () => {
    const w = makeNatWorld();
    w.dp.control.addPublish({ proto: 6, hostIp: 0, hostPort: 8080, targetIp: A.c2, targetPort: 80 });
    w.dp.receive(w.ids.uplink, MARTIAN_SYN);
    w.dp.receive(w.ids.c1, variant(SYN_C1, { dst: 0x7f000001 }));
    expect(drain(w)).toBe(0);
    expect(drops(w.dp)).toEqual({ martian: 2 });
    expect(w.dp.tables.ports[w.ids.c1]!.kind).toBe(PortKind.Endpoint);
  });
});
