// Services (service-table.ts, nat44's serviceFlow, service-reply.ts): a VIP's new flows DNATed to
// a backend, the backend's reply switched to a client on its segment and translated on the way,
// refusal without backends, hairpin, a published port to a service, isolation, ARP for a VIP in
// the subnet, and a backend's flows leaving with it. Frames are literal, produced with scapy
// (legend in fixture.ts; c2ToC1(p) = Ether(dst=c1's MAC, src=c2's MAC)/p, fromC3/toC3 with c3's
// MAC and the backend network's gateway 02:50:00:00:00:02; VIP = '10.96.0.10').

import { describe, expect, it } from 'vitest';
import { CtFlag, CtState } from '../../../src/dataplane/conntrack.js';
import { Drop, SERVICE_FIELDS, SVC_ACTIVE, SVC_BYTES, SVC_NEW_FLOWS, SVC_REFUSED_BASE } from '../../../src/dataplane/counters.js';
import { MAX_BACKENDS, type ServiceSpec, ServiceTable } from '../../../src/dataplane/service-table.js';
import { parseIpv4 } from '../../../src/wire/ipv4-address.js';
import { A, drain, hex, makeNatWorld, type NatWorld } from './fixture.js';

// scapy: fromC1(IP(src=C1, dst=VIP, ttl=64, id=0x3000, flags='DF')/TCP(sport=41000, dport=80, seq=5000, flags='S', window=64240))
const SVC_SYN_C1 = hex('0250000000010242ac1100020800450000283000400040065453ac1100020a60000aa028005000001388000000005002faf04a740000');
// scapy: toC2(IP(src=C1, dst=C2, ttl=63, id=0x3000, flags='DF')/TCP(sport=41000, dport=8080, seq=5000, flags='S', window=64240))
const SVC_SYN_AT_C2 = hex('0242ac110003025000000001080045000028300040003f06b3a8ac110002ac110003a0281f9000001388000000005002faf089890000');
// scapy: c2ToC1(IP(src=C2, dst=C1, ttl=64, id=0, flags='DF')/TCP(sport=8080, dport=41000, seq=8000, ack=5001, flags='SA', window=65160))
const SVC_SYNACK_C2 = hex('0242ac1100020242ac110003080045000028000040004006e2a8ac110003ac1100021f90a02800001f40000013895012fe8866a00000');
// scapy: c2ToC1(IP(src=VIP, dst=C1, ttl=64, id=0, flags='DF')/TCP(sport=80, dport=41000, seq=8000, ack=5001, flags='SA', window=65160))
const SVC_SYNACK_AT_C1 = hex('0242ac1100020242ac11000308004500002800004000400684530a60000aac1100020050a02800001f40000013895012fe88278b0000');
// scapy: fromC1(IP(src=C1, dst=VIP, ttl=64, id=0x3001, flags='DF')/TCP(sport=41000, dport=80, seq=5001, ack=8001, flags='A', window=502))
const SVC_ACK_C1 = hex('0250000000010242ac1100020800450000283001400040065452ac1100020a60000aa02800500000138900001f41501001f6241f0000');
// scapy: toC2(IP(src=C1, dst=C2, ttl=63, id=0x3001, flags='DF')/TCP(sport=41000, dport=8080, seq=5001, ack=8001, flags='A', window=502))
const SVC_ACK_AT_C2 = hex('0242ac110003025000000001080045000028300140003f06b3a7ac110002ac110003a0281f900000138900001f41501001f663340000');
// scapy: toC1(IP(src=VIP, dst=C1, ttl=64, id=0, flags=0)/TCP(sport=80, dport=41000, seq=0, ack=5001, flags='RA', window=0))
const SVC_RST_TO_C1 = hex('0242ac110002025000000001080045000028000000004006c4530a60000aac1100020050a02800000000000013895014000045520000');
// scapy: fromC1(IP(src=C1, dst=VIP, ttl=64, id=0x3100)/UDP(sport=41001, dport=53)/Raw(b'query'))
const SVC_UDP_C1 = hex('0250000000010242ac110002080045000021310000004011934fac1100020a60000aa0290035000d59107175657279');
// scapy: toC1(IP(src=GW1, dst=C1, ttl=64, id=0)/ICMP(type=3, code=3)/IP(src=C1, dst=VIP, ttl=64, id=0x3100)/UDP(sport=41001, dport=53)/Raw(b'query'))
const SVC_UDP_UNREACH_C1 = hex('0242ac11000202500000000108004500003d000000004001229bac110001ac1100020303b3980000000045000021310000004011934fac1100020a60000aa0290035000d59107175657279');
// scapy: fromC2(IP(src=C2, dst=VIP, ttl=64, id=0x3200, flags='DF')/TCP(sport=42000, dport=80, seq=6000, flags='S', window=64240))
const HP_SYN_C2 = hex('0250000000010242ac1100030800450000283200400040065252ac1100030a60000aa410005000001770000000005002faf042a30000');
// scapy: toC2(IP(src=GW1, dst=C2, ttl=63, id=0x3200, flags='DF')/TCP(sport=42000, dport=8080, seq=6000, flags='S', window=64240))
const HP_SYN_AT_C2 = hex('0242ac110003025000000001080045000028320040003f06b1a9ac110001ac110003a4101f9000001770000000005002faf081ba0000');
// scapy: fromC2(IP(src=C2, dst=GW1, ttl=64, id=0, flags='DF')/TCP(sport=8080, dport=42000, seq=9000, ack=6001, flags='SA', window=65160))
const HP_SYNACK_C2 = hex('0250000000010242ac110003080045000028000040004006e2a9ac110003ac1100011f90a41000002328000017715012fe885ae90000');
// scapy: toC2(IP(src=VIP, dst=C2, ttl=63, id=0, flags='DF')/TCP(sport=80, dport=42000, seq=9000, ack=6001, flags='SA', window=65160))
const HP_SYNACK_AT_C2 = hex('0242ac110003025000000001080045000028000040003f0685520a60000aac1100030050a41000002328000017715012fe881bd20000');
// scapy: fromUp(IP(src=X10, dst=UP, ttl=60, id=0x3300, flags='DF')/TCP(sport=50000, dport=8080, seq=7000, flags='S', window=64240))
const PUB_SYN_X10 = hex('0250000000ff02005e000001080045000028330040003c06a58fcb00710ac6336402c3501f9000001b58000000005002faf050780000');
// scapy: toC2(IP(src=X10, dst=C2, ttl=59, id=0x3300, flags='DF')/TCP(sport=50000, dport=8080, seq=7000, flags='S', window=64240))
const PUB_SYN_AT_C2 = hex('0242ac110003025000000001080045000028330040003b0624b1cb00710aac110003c3501f9000001b58000000005002faf0ce990000');
// scapy: fromC2(IP(src=C2, dst=X10, ttl=64, id=0, flags='DF')/TCP(sport=8080, dport=50000, seq=9100, ack=7001, flags='SA', window=65160))
const PUB_SYNACK_C2 = hex('0250000000010242ac11000308004500002800004000400652b1ac110003cb00710a1f90c3500000238c00001b595012fe88a7640000');
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0, flags='DF')/TCP(sport=8080, dport=50000, seq=9100, ack=7001, flags='SA', window=65160))
const PUB_SYNACK_OUT = hex('02005e0000010250000000ff080045000028000040003f06d58fc6336402cb00710a1f90c3500000238c00001b595012fe8829430000');
// scapy: fromC3(IP(src=C3, dst=VIP, ttl=64, id=0x3400, flags='DF')/TCP(sport=43000, dport=80, seq=1, flags='S', window=64240))
const SVC_SYN_C3 = hex('0250000000020242ac1200020800450000283400400040065052ac1200020a60000aa7f8005000000001000000005002faf0562a0000');
// scapy: Ether(dst='ff:ff:ff:ff:ff:ff', src='02:42:ac:11:00:02')/ARP(op=1, hwsrc='02:42:ac:11:00:02', psrc=C1, pdst='172.17.0.200')
const ARP_VIP_C1 = hex('ffffffffffff0242ac110002080600010800060400010242ac110002ac110002000000000000ac1100c8');
// scapy: Ether(dst='02:42:ac:11:00:02', src='02:50:00:00:00:01')/ARP(op=2, hwsrc='02:50:00:00:00:01', psrc='172.17.0.200', hwdst='02:42:ac:11:00:02', pdst=C1)
const ARP_VIP_REPLY = hex('0242ac11000202500000000108060001080006040002025000000001ac1100c80242ac110002ac110002');

const VIP = parseIpv4('10.96.0.10');
const h = (frames: Buffer[]): string[] => frames.map((f) => f.toString('hex'));

function service(w: NatWorld, backends: number[], extra: Partial<ServiceSpec> = {}): ServiceSpec {
  const spec: ServiceSpec = { slot: 3, network: 0, proto: 6, vip: VIP, port: 80, targetPort: 8080, affinityMs: 0, backends: backends.map((ip) => ({ ip, local: true })), ...extra };
  w.dp.control.setService(spec);
  return spec;
}

function entry(w: NatWorld, proto: number, src: number, dst: number, sport: number, dport: number): number {
  const slot = w.dp.tables.conntrack.lookup(proto, src, dst, sport, dport, w.dp.now);
  return slot < 0 ? -1 : slot >> 1;
}

describe('services: a VIP DNATed to its backends', () => {
  it('sends a SYN to the VIP to the backend, and translates the reply switched from the backend to the client back to the VIP', () => {
    const w = makeNatWorld();
    service(w, [A.c2]);
    w.dp.receive(w.ids.c1, SVC_SYN_C1);
    expect(h(w.c2.take())).toEqual(h([SVC_SYN_AT_C2]));
    expect(drain(w)).toBe(0);
    const e = entry(w, 6, A.c1, VIP, 41000, 80);
    expect(e).toBeGreaterThanOrEqual(0);
    expect(entry(w, 6, A.c2, A.c1, 8080, 41000)).toBe(e);
    const ct = w.dp.tables.conntrack;
    expect(ct.flags[e] & (CtFlag.Dnat | CtFlag.Service | CtFlag.Snat | CtFlag.Inbound)).toBe(CtFlag.Dnat | CtFlag.Service);
    // c2 answers c1 directly (same segment): switched, translated on the way (br_netfilter's job)
    w.dp.receive(w.ids.c2, SVC_SYNACK_C2);
    expect(h(w.c1.take())).toEqual(h([SVC_SYNACK_AT_C1]));
    expect(drain(w)).toBe(0);
    expect(ct.state[e]).toBe(CtState.SynRecv);
    w.dp.receive(w.ids.c1, SVC_ACK_C1);
    expect(h(w.c2.take())).toEqual(h([SVC_ACK_AT_C2]));
    expect(ct.state[e]).toBe(CtState.Established);
    const b = 3 * MAX_BACKENDS; // the service's first backend slot
    const c = w.dp.counters.services;
    expect(ct.backend[e]).toBe(b);
    expect(c[b * SERVICE_FIELDS + SVC_NEW_FLOWS]).toBe(1);
    expect(c[b * SERVICE_FIELDS + SVC_ACTIVE]).toBe(1);
    expect(c[b * SERVICE_FIELDS + SVC_BYTES]).toBe(3 * 40);
  });

  it('refuses a new flow at once when the service has no backend: TCP RST from the VIP, ICMP port unreachable for UDP', () => {
    const w = makeNatWorld();
    service(w, []);
    service(w, [], { slot: 4, proto: 17, port: 53, targetPort: 53 });
    w.dp.receive(w.ids.c1, SVC_SYN_C1);
    expect(h(w.c1.take())).toEqual(h([SVC_RST_TO_C1]));
    w.dp.receive(w.ids.c1, SVC_UDP_C1);
    expect(h(w.c1.take())).toEqual(h([SVC_UDP_UNREACH_C1]));
    expect(drain(w)).toBe(0);
    expect(w.dp.counters.drops[Drop.ServiceNoBackend]).toBe(2);
    expect(w.dp.counters.services[SVC_REFUSED_BASE + 3]).toBe(1);
    expect(w.dp.counters.services[SVC_REFUSED_BASE + 4]).toBe(1);
    expect(w.dp.tables.conntrack.size).toBe(0);
  });

  it('refuses a port of the VIP that no service has, and an address of the services range that no service has', () => {
    const w = makeNatWorld();
    w.dp.control.setServiceRange(parseIpv4('10.96.0.0'), 16);
    w.dp.receive(w.ids.c1, SVC_SYN_C1); // 10.96.0.10 is in the range, no service
    expect(h(w.c1.take())).toEqual(h([SVC_RST_TO_C1]));
    expect(w.uplink.take()).toEqual([]); // never masqueraded out
    service(w, [A.c2], { port: 81 });
    w.dp.receive(w.ids.c1, SVC_SYN_C1); // the VIP, but port 80 is no service
    expect(h(w.c1.take())).toEqual(h([SVC_RST_TO_C1]));
    expect(drain(w)).toBe(0);
  });

  it('hairpins a backend calling its own service: the source becomes the gateway, the reply comes back from the VIP', () => {
    const w = makeNatWorld();
    service(w, [A.c2]);
    w.dp.receive(w.ids.c2, HP_SYN_C2);
    expect(h(w.c2.take())).toEqual(h([HP_SYN_AT_C2]));
    w.dp.receive(w.ids.c2, HP_SYNACK_C2);
    expect(h(w.c2.take())).toEqual(h([HP_SYNACK_AT_C2]));
    expect(drain(w)).toBe(0);
    const e = entry(w, 6, A.c2, VIP, 42000, 80);
    expect(w.dp.tables.conntrack.flags[e] & (CtFlag.Dnat | CtFlag.Snat | CtFlag.Service)).toBe(CtFlag.Dnat | CtFlag.Snat | CtFlag.Service);
  });

  it("forwards the uplink's published port to a backend of the service (NodePort), keeping the client's address", () => {
    const w = makeNatWorld();
    service(w, [A.c2]);
    w.dp.control.addPublish({ proto: 6, hostIp: 0, hostPort: 8080, targetIp: VIP, targetPort: 80 });
    w.dp.receive(w.ids.uplink, PUB_SYN_X10);
    expect(h(w.c2.take())).toEqual(h([PUB_SYN_AT_C2]));
    w.dp.receive(w.ids.c2, PUB_SYNACK_C2);
    expect(h(w.uplink.take())).toEqual(h([PUB_SYNACK_OUT]));
    expect(drain(w)).toBe(0);
  });

  it('gives published traffic only backends of this host, and refuses it when none is', () => {
    const w = makeNatWorld();
    w.dp.control.setService({ slot: 3, network: 0, proto: 6, vip: VIP, port: 80, targetPort: 8080, affinityMs: 0, backends: [{ ip: parseIpv4('172.17.0.99'), local: false }] });
    w.dp.control.addPublish({ proto: 6, hostIp: 0, hostPort: 8080, targetIp: VIP, targetPort: 80 });
    w.dp.receive(w.ids.uplink, PUB_SYN_X10);
    expect(w.uplink.take()).toHaveLength(1); // the RST
    expect(w.dp.counters.drops[Drop.ServiceNoBackend]).toBe(1);
    expect(drain(w)).toBe(0);
  });

  it("keeps other networks' containers out of a service (isolation), and VIPs out of reach from the uplink", () => {
    const w = makeNatWorld();
    service(w, [A.c2]);
    w.dp.receive(w.ids.c3, SVC_SYN_C3);
    expect(w.c2.take()).toEqual([]);
    expect(w.c3.take()).toHaveLength(1); // administratively prohibited
    expect(w.dp.counters.drops[Drop.NetworkIsolation]).toBe(1);
    expect(drain(w)).toBe(0);
  });

  it('removes the flows of a backend that leaves, at once, and sends new flows elsewhere', () => {
    const w = makeNatWorld();
    service(w, [A.c2]);
    w.dp.receive(w.ids.c1, SVC_SYN_C1);
    w.c2.take();
    expect(w.dp.tables.conntrack.size).toBe(1);
    service(w, []);
    expect(w.dp.tables.conntrack.size).toBe(0);
    expect(w.dp.counters.services[3 * MAX_BACKENDS * SERVICE_FIELDS + SVC_ACTIVE]).toBe(0);
    // the client's next segment belongs to no flow: reset at once
    w.dp.receive(w.ids.c1, SVC_ACK_C1);
    expect(w.c1.take()).toHaveLength(1);
    expect(w.c2.take()).toEqual([]);
    service(w, [A.c2]);
    w.dp.control.removeService(3);
    expect(w.dp.tables.vips.count).toBe(0);
    expect(w.dp.tables.networks[0]!.services).toBe(0);
  });

  it('answers ARP for a VIP inside the network\'s subnet with the gateway\'s MAC', () => {
    const w = makeNatWorld();
    service(w, [A.c2], { vip: parseIpv4('172.17.0.200') });
    w.dp.receive(w.ids.c1, ARP_VIP_C1);
    expect(h(w.c1.take()).map((f) => f.slice(0, ARP_VIP_REPLY.length * 2))).toEqual(h([ARP_VIP_REPLY]));
    expect(drain(w)).toBe(0);
  });
});

describe('ServiceTable: the backend choice', () => {
  const spec = (n: number, affinityMs = 0): ServiceSpec => ({
    slot: 0,
    network: 0,
    proto: 6,
    vip: VIP,
    port: 80,
    targetPort: 80,
    affinityMs,
    backends: Array.from({ length: n }, (_, i) => ({ ip: parseIpv4(`172.17.1.${i + 1}`), local: i === 0 })),
  });

  it('spreads new flows uniformly over the ready backends', () => {
    const t = new ServiceTable();
    t.set(spec(3));
    const hits = [0, 0, 0];
    for (let i = 0; i < 30000; i++) hits[t.choose(0, parseIpv4('172.17.0.2') + (i % 200), 0, false)]!++;
    for (const n of hits) expect(n).toBeGreaterThan(9000);
    expect(t.choose(0, 1, 0, true)).toBe(0); // only the local one
  });

  it('keeps a client on its backend under affinity until the timeout, and moves it when the backend leaves', () => {
    const t = new ServiceTable();
    t.set(spec(3, 10_000));
    const first = t.choose(0, 7, 0, false);
    for (let i = 0; i < 50; i++) expect(t.choose(0, 7, 1000 + i, false)).toBe(first);
    const others = new Set<number>();
    for (let c = 100; c < 200; c++) others.add(t.choose(0, c, 0, false));
    expect(others.size).toBe(3);
    const left = spec(3, 10_000);
    left.backends.splice(first, 1);
    expect(t.set(left)).toEqual([first]);
    for (let i = 0; i < 20; i++) expect(t.choose(0, 7, 2000, false)).not.toBe(first);
  });

  it('refuses a bad spec and changes nothing', () => {
    const t = new ServiceTable();
    t.set(spec(1));
    expect(() => t.set({ ...spec(1), slot: 1 })).toThrow(/already a service/);
    expect(() => t.set({ ...spec(MAX_BACKENDS + 1), slot: 2 })).toThrow(/at most/);
    expect(() => t.set({ ...spec(1), slot: 999 })).toThrow(/outside/);
    expect(t.count).toBe(1);
    expect(t.lookup(6, VIP, 80)).toBe(0);
  });
});
