// Published ports (DNAT, as `docker run -p`) from the outside, from the host and from another
// container (hairpin), and what happens to unsolicited inbound traffic.
// Frames are literal, produced with scapy (legend in fixture.ts), compared byte for byte.

import { describe, expect, it } from 'vitest';
import { CtFlag, CtState } from '../../../src/dataplane/conntrack.js';
import { Drop } from '../../../src/dataplane/counters.js';
import { A, drain, hex, makeNatWorld, type NatWorld } from './fixture.js';

// 203.0.113.10:50000 -> 198.51.100.2:8080 (published to 172.17.0.3:80)
// scapy: fromUp(IP(src=X10, dst=UP, ttl=60, id=0x8000, flags='DF')/TCP(sport=50000, dport=8080, seq=7000, flags='S', window=64240, options=OPTS))
const PUB_SYN_X10 = hex('0250000000ff02005e00000108004500003c800040003c06587bcb00710ac6336402c3501f9000001b5800000000a002faf0e8940000020405b40402080a000000010000000001030307');
// scapy: toC2(IP(src=X10, dst=C2, ttl=59, id=0x8000, flags='DF')/TCP(sport=50000, dport=80, seq=7000, flags='S', window=64240, options=OPTS))
const PUB_SYN_AT_C2 = hex('0242ac11000302500000000108004500003c800040003b06d79ccb00710aac110003c350005000001b5800000000a002faf085f60000020405b40402080a000000010000000001030307');
// scapy: fromC2(IP(src=C2, dst=X10, ttl=64, id=0, flags='DF')/TCP(sport=80, dport=50000, seq=9000, ack=7001, flags='SA', window=65160, options=OPTS_SA))
const PUB_SYNACK_C2 = hex('0250000000010242ac11000308004500003c000040004006529dac110003cb00710a0050c3500000232800001b59a012fe885ed80000020405b40402080a0000004d0000000101030307');
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0, flags='DF')/TCP(sport=8080, dport=50000, seq=9000, ack=7001, flags='SA', window=65160, options=OPTS_SA))
const PUB_SYNACK_OUT = hex('02005e0000010250000000ff08004500003c000040003f06d57bc6336402cb00710a1f90c3500000232800001b59a012fe88c1760000020405b40402080a0000004d0000000101030307');
// from the host TUN port (a bare IP packet) to 10.254.0.2:8080
// scapy: IP(src=HOST, dst=HGW, ttl=64, id=0x8100, flags='DF')/TCP(sport=50001, dport=8080, seq=7100, flags='S', window=64240, options=OPTS)
const PUB_SYN_HOST = hex('4500003c810040004006a3bd0afe00010afe0002c3511f9000001bbc00000000a002faf038720000020405b40402080a000000010000000001030307');
// scapy: toC2(IP(src=HOST, dst=C2, ttl=63, id=0x8100, flags='DF')/TCP(sport=50001, dport=80, seq=7100, flags='S', window=64240, options=OPTS))
const PUB_SYN_HOST_AT_C2 = hex('0242ac11000302500000000108004500003c810040003f0603a90afe0001ac110003c351005000001bbc00000000a002faf0b69d0000020405b40402080a000000010000000001030307');
// scapy: fromC2(IP(src=C2, dst=HOST, ttl=64, id=0, flags='DF')/TCP(sport=80, dport=50001, seq=9100, ack=7101, flags='SA', window=65160, options=OPTS_SA))
const PUB_SYNACK_C2_HOST = hex('0250000000010242ac11000308004500003c00004000400683a9ac1100030afe00010050c3510000238c00001bbda012fe888f1b0000020405b40402080a0000004d0000000101030307');
// scapy: IP(src=HGW, dst=HOST, ttl=63, id=0, flags='DF')/TCP(sport=8080, dport=50001, seq=9100, ack=7101, flags='SA', window=65160, options=OPTS_SA)
const PUB_SYNACK_AT_HOST = hex('4500003c000040003f0625be0afe00020afe00011f90c3510000238c00001bbda012fe8810f00000020405b40402080a0000004d0000000101030307');
// hairpin: c1 -> 198.51.100.2:8080
// scapy: fromC1(IP(src=C1, dst=UP, ttl=64, id=0x8200, flags='DF')/TCP(sport=40010, dport=8080, seq=7200, flags='S', window=64240, options=OPTS))
const HP_SYN_C1 = hex('0250000000010242ac11000208004500003c820040004006e272ac110002c63364029c4a1f9000001c2000000000a002faf09eca0000020405b40402080a000000010000000001030307');
// expected at c2: from c1's own outside address and port, 198.51.100.2:40010 (RFC 4787 REQ-9, RFC 5382 REQ-8)
// scapy: toC2(IP(src=UP, dst=C2, ttl=63, id=0x8200, flags='DF')/TCP(sport=40010, dport=80, seq=7200, flags='S', window=64240, options=OPTS))
const HP_SYN_AT_C2 = hex('0242ac11000302500000000108004500003c820040003f06e371c6336402ac1100039c4a005000001c2000000000a002faf0be090000020405b40402080a000000010000000001030307');
// scapy: fromC2(IP(src=C2, dst=UP, ttl=64, id=0, flags='DF')/TCP(sport=80, dport=40010, seq=9200, ack=7201, flags='SA', window=65160, options=OPTS_SA))
const HP_SYNACK_C2 = hex('0250000000010242ac11000308004500003c0000400040066472ac110003c633640200509c4a000023f000001c21a012fe8896230000020405b40402080a0000004d0000000101030307');
// scapy: toC1(IP(src=UP, dst=C1, ttl=63, id=0, flags='DF')/TCP(sport=8080, dport=40010, seq=9200, ack=7201, flags='SA', window=65160, options=OPTS_SA))
const HP_SYNACK_AT_C1 = hex('0242ac11000202500000000108004500003c000040003f066573c6336402ac1100021f909c4a000023f000001c21a012fe8876e40000020405b40402080a0000004d0000000101030307');
// to the published UDP port 198.51.100.2:5353 (-> 172.17.0.3:53)
// scapy: fromUp(IP(src=X10, dst=UP, ttl=60, id=0xa000)/UDP(sport=40000, dport=5353)/Raw(b'query'))
const PUBU_X10 = hex('0250000000ff02005e000001080045000021a00000003c11788bcb00710ac63364029c4014e9000d98817175657279');
// scapy: toC2(IP(src=X10, dst=C2, ttl=59, id=0xa000)/UDP(sport=40000, dport=53)/Raw(b'query'))
const PUBU_AT_C2 = hex('0242ac110003025000000001080045000021a00000003b11f7accb00710aac1100039c400035000d2b577175657279');
// c2 has no listener: port unreachable, quoting what it received
// scapy: fromC2(IP(src=C2, dst=X10, ttl=64, id=0xa100)/ICMP(type=3, code=3)/Raw(ipq(PUBU_AT_C2)))
const PUBU_UNREACH_C2 = hex('0250000000010242ac11000308004500003da10000004001f1a0ac110003cb00710a0303e53a0000000045000021a00000003b11f7accb00710aac1100039c400035000d2b577175657279');
// expected: from 198.51.100.2, quoting the datagram as 203.0.113.10 sent it (TTL 59)
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0xa100)/ICMP(type=3, code=3)/IP(src=X10, dst=UP, ttl=59, id=0xa000)/UDP(sport=40000, dport=5353)/Raw(b'query'))
const PUBU_UNREACH_OUT = hex('02005e0000010250000000ff08004500003da10000003f01747fc6336402cb00710a0303635c0000000045000021a00000003b11798bcb00710ac63364029c4014e9000d98817175657279');
// scapy: fromUp(IP(src=X10, dst=UP, ttl=60, id=0x9000, flags='DF')/TCP(sport=50002, dport=9999, seq=123456, flags='S', window=64240, options=OPTS))
const SYN_X10_9999 = hex('0250000000ff02005e00000108004500003c900040003c06487bcb00710ac6336402c352270f0001e24000000000a002faf01a2a0000020405b40402080a000000010000000001030307');
// expected: RST|ACK from 198.51.100.2:9999, ack = seq + 1
// scapy: toUp(IP(src=UP, dst=X10, ttl=64, id=0, flags=0)/TCP(sport=9999, dport=50002, seq=0, ack=123457, flags='RA', window=0))
const RST_TO_X10 = hex('02005e0000010250000000ff0800450000280000000040061490c6336402cb00710a270fc352000000000001e241501400007ceb0000');
// scapy: fromUp(IP(src=X10, dst=UP, ttl=60, id=0x9001)/UDP(sport=50003, dport=9999)/Raw(b'knock'))
const UDP_X10_9999 = hex('0250000000ff02005e000001080045000021900100003c11888acb00710ac6336402c353270f000d695e6b6e6f636b');
// routed straight at a container address
// scapy: fromUp(IP(src=X10, dst=C1, ttl=60, id=0x9002, flags='DF')/TCP(sport=50004, dport=80, seq=1, flags='S', window=64240))
const SYN_X10_TO_C1 = hex('0250000000ff02005e000001080045000028900240003c06c6afcb00710aac110002c354005000000001000000005002faf0092e0000');
// scapy: fromUp(IP(src=X10, dst=C1, ttl=60, id=0x9003)/UDP(sport=50005, dport=5353)/Raw(b'knock'))
const UDP_X10_TO_C1 = hex('0250000000ff02005e000001080045000021900300003c1106abcb00710aac110002c35514e9000df9a46b6e6f636b');
// scapy: fromUp(IP(src=X10, dst=C1, ttl=60, id=0x9004)/ICMP(type=8, id=1, seq=1)/Raw(b'knock'))
const PING_X10_TO_C1 = hex('0250000000ff02005e000001080045000021900400003c0106bacb00710aac1100020800b22b000100016b6e6f636b');
// an ACK to a published port that matches no flow
// scapy: fromUp(IP(src=X10, dst=UP, ttl=60, id=0x9005, flags='DF')/TCP(sport=50006, dport=8080, seq=4242, ack=777, flags='A', window=501))
const ACK_X10_8080 = hex('0250000000ff02005e000001080045000028900540003c06488acb00710ac6336402c3561f900000109200000309501001f5511d0000');
// expected: RST with seq = the ACK number
// scapy: toUp(IP(src=UP, dst=X10, ttl=64, id=0, flags=0)/TCP(sport=8080, dport=50006, seq=777, ack=0, flags='R', window=0))
const RST_TO_X10_8080 = hex('02005e0000010250000000ff0800450000280000000040061490c6336402cb00710a1f90c35600000309000000005004000063b00000');

const h = (frames: Buffer[]): string[] => frames.map((f) => f.toString('hex'));

function entry(w: NatWorld, proto: number, src: number, dst: number, sport: number, dport: number): number {
  const slot = w.dp.tables.conntrack.lookup(proto, src, dst, sport, dport, w.dp.now);
  return slot < 0 ? -1 : slot >> 1;
}

function published(options: Parameters<typeof makeNatWorld>[0] = {}): NatWorld {
  const w = makeNatWorld(options);
  w.dp.control.addPublish({ proto: 6, hostIp: 0, hostPort: 8080, targetIp: A.c2, targetPort: 80 });
  return w;
}

describe('published ports (DNAT)', () => {
  it('forwards a SYN to 198.51.100.2:8080 to c2:80 and sends the SYN-ACK back from 198.51.100.2:8080', () => {
    const w = published();
    w.dp.receive(w.ids.uplink, PUB_SYN_X10);
    expect(h(w.c2.take())).toEqual(h([PUB_SYN_AT_C2]));
    expect(drain(w)).toBe(0);
    const e = entry(w, 6, A.x10, A.uplink, 50000, 8080);
    expect(e).toBeGreaterThanOrEqual(0);
    expect(entry(w, 6, A.c2, A.x10, 80, 50000)).toBe(e);
    expect(w.dp.tables.conntrack.flags[e] & (CtFlag.Dnat | CtFlag.Inbound | CtFlag.Snat)).toBe(CtFlag.Dnat | CtFlag.Inbound);
    w.dp.receive(w.ids.c2, PUB_SYNACK_C2);
    expect(h(w.uplink.take())).toEqual(h([PUB_SYNACK_OUT]));
    expect(drain(w)).toBe(0);
    expect(w.dp.tables.conntrack.state[e]).toBe(CtState.SynRecv);
  });

  it('forwards the same published port reached from the host at 10.254.0.2:8080', () => {
    const w = published();
    w.dp.receive(w.ids.host, PUB_SYN_HOST);
    expect(h(w.c2.take())).toEqual(h([PUB_SYN_HOST_AT_C2]));
    expect(drain(w)).toBe(0);
    w.dp.receive(w.ids.c2, PUB_SYNACK_C2_HOST);
    expect(h(w.host.take())).toEqual(h([PUB_SYNACK_AT_HOST]));
    expect(drain(w)).toBe(0);
  });

  it("hairpins a container reaching the published port: c2 sees c1's outside address and port, c1 sees 198.51.100.2:8080", () => {
    const w = published();
    w.dp.receive(w.ids.c1, HP_SYN_C1);
    expect(h(w.c2.take())).toEqual(h([HP_SYN_AT_C2]));
    expect(drain(w)).toBe(0);
    w.dp.receive(w.ids.c2, HP_SYNACK_C2);
    expect(h(w.c1.take())).toEqual(h([HP_SYNACK_AT_C1]));
    expect(drain(w)).toBe(0);
    const e = entry(w, 6, A.c1, A.uplink, 40010, 8080);
    expect(w.dp.tables.conntrack.flags[e] & (CtFlag.Dnat | CtFlag.Snat)).toBe(CtFlag.Dnat | CtFlag.Snat);
    // the flow holds c1's endpoint-independent mapping: its later flows out use the same port
    const m = w.dp.tables.mappings.find(0, A.c1, 40010);
    expect(w.dp.tables.mappings.outPort[m]).toBe(40010);
    expect(w.dp.tables.conntrack.mapping[e]).toBe(m);
  });

  it('translates a port unreachable from the target back to the outside sender', () => {
    const w = makeNatWorld();
    w.dp.control.addPublish({ proto: 17, hostIp: 0, hostPort: 5353, targetIp: A.c2, targetPort: 53 });
    w.dp.receive(w.ids.uplink, PUBU_X10);
    expect(h(w.c2.take())).toEqual(h([PUBU_AT_C2]));
    w.dp.receive(w.ids.c2, PUBU_UNREACH_C2);
    expect(h(w.uplink.take())).toEqual(h([PUBU_UNREACH_OUT]));
    expect(drain(w)).toBe(0);
  });

  it('stops forwarding new flows once the port is unpublished', () => {
    const w = published();
    w.dp.control.removePublish(6, 8080);
    w.dp.receive(w.ids.uplink, PUB_SYN_X10);
    expect(w.c2.take()).toEqual([]);
    expect(w.dp.counters.drops[Drop.NoMapping]).toBe(1);
  });
});

describe('unsolicited inbound traffic', () => {
  it('answers a SYN to a port nobody published with RST|ACK from that port, counted as no_mapping', () => {
    const w = published();
    w.dp.receive(w.ids.uplink, SYN_X10_9999);
    expect(h(w.uplink.take())).toEqual(h([RST_TO_X10]));
    expect(drain(w)).toBe(0);
    expect(w.dp.counters.drops[Drop.NoMapping]).toBe(1);
    expect(w.dp.tables.conntrack.size).toBe(0);
  });

  it('answers an ACK to a published port that matches no flow with a RST (seq = its ACK number)', () => {
    const w = published();
    w.dp.receive(w.ids.uplink, ACK_X10_8080);
    expect(h(w.uplink.take())).toEqual(h([RST_TO_X10_8080]));
    expect(drain(w)).toBe(0);
    expect(w.dp.tables.conntrack.size).toBe(0);
  });

  it('sends nothing with rejectUnsolicitedTcp: false', () => {
    const w = published({ rejectUnsolicitedTcp: false });
    w.dp.receive(w.ids.uplink, SYN_X10_9999);
    w.dp.receive(w.ids.uplink, ACK_X10_8080);
    expect(drain(w)).toBe(0);
    expect(w.dp.counters.drops[Drop.NoMapping]).toBe(2);
  });

  it('drops a UDP datagram to a port with no mapping, silently', () => {
    const w = published();
    w.dp.receive(w.ids.uplink, UDP_X10_9999);
    expect(drain(w)).toBe(0);
    expect(w.dp.counters.drops[Drop.NoMapping]).toBe(1);
  });

  it('never lets a packet routed straight at a container address through, nor answers it', () => {
    const w = published();
    for (const f of [SYN_X10_TO_C1, UDP_X10_TO_C1, PING_X10_TO_C1]) w.dp.receive(w.ids.uplink, f);
    // nothing reaches a container, and no private address leaves the uplink (not even in a RST)
    expect(drain(w)).toBe(0);
    expect(w.dp.counters.drops[Drop.NoMapping]).toBe(3);
    expect(w.dp.tables.conntrack.size).toBe(0);
  });
});
