// Drop reasons no other test provokes, each through the public surface: the exact counter it
// bumps (and no other) and what left, or did not leave, every port. Also the declaration itself:
// Drop, the label list and the README's list are the one DROP_REASONS.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Drop, DROP_REASON_NAMES, DROP_REASONS, Gauge } from '../../../src/dataplane/counters.js';
import type { Dataplane } from '../../../src/dataplane/dataplane.js';
import { MemoryPort } from '../../../src/ports/memory-port.js';
import { parseIpv4 } from '../../../src/wire/ipv4-address.js';
import { parseMac } from '../../../src/wire/mac.js';
import { drain, drops, hex, makeNatWorld, makeWorld, taken } from './fixture.js';

// Frames produced with scapy (/usr/bin/python3); fromC1, toC1, fromC2, toC2, fromUp as in fixture.ts,
// and err(src, dst, t, c, q) = IP(src=src, dst=dst, ttl=64, id=0)/ICMP(type=t, code=c)/Raw(q), the
// gateway's ICMP errors. C4 = '172.19.0.2' (02:42:ac:13:00:02) on the internal network 172.19.0.0/16
// whose gateway is 172.19.0.1 (02:50:00:00:00:03); C9 = '172.17.0.99' (02:42:ac:11:00:63).

/** `n` bytes 0, 1, 2, ... wrapping at 256. */
const pattern = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => i & 0xff));

// ---- the declaration ------------------------------------------------------------------------------

describe('drop reasons: one declaration', () => {
  it('Drop.X is the position of X in DROP_REASONS, a plain number, for every reason and no other', () => {
    expect(Object.keys(Drop)).toEqual(DROP_REASONS.map((r) => r.name));
    DROP_REASONS.forEach((r, i) => expect(Drop[r.name]).toBe(i));
    // the numbering the counters have always had (status, metrics and tests read slots by it)
    expect([Drop.Malformed, Drop.NoRoute, Drop.NotForUs, Drop.IcmpRateLimited, Drop.VxlanSplitHorizon, Drop.UnderlayOverflow]).toEqual([0, 5, 18, 20, 28, 29]);
    expect(Object.isFrozen(Drop)).toBe(true);
  });

  it('labels are the metric labels in slot order, unique snake_case; each help is one line', () => {
    expect(DROP_REASON_NAMES).toEqual(DROP_REASONS.map((r) => r.label));
    expect(new Set(DROP_REASON_NAMES).size).toBe(DROP_REASONS.length);
    for (const r of DROP_REASONS) {
      expect(r.label).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(r.help).toMatch(/^[A-Z][^\n]*\.$/);
    }
  });

  it("the README's pontoon_drops_total row lists exactly the declared labels, in order", () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith('| `pontoon_drops_total` |'));
    const listed = /`reason`: ([^|]+) \|/.exec(row ?? '')?.[1]?.split(', ');
    expect(listed).toEqual(DROP_REASON_NAMES);
  });
});

// ---- unsupported_ethertype ------------------------------------------------------------------------

// scapy: Ether(dst='33:33:ff:00:00:01', src=C1MAC)/IPv6(src='fe80::42:acff:fe11:2', dst='ff02::1:ff00:1', hlim=255)/ICMPv6ND_NS(tgt='fe80::1')/ICMPv6NDOptSrcLLAddr(lladdr=C1MAC)
const IPV6_NS_FROM_C1 = hex(
  '3333ff0000010242ac11000286dd6000000000203afffe800000000000000042acfffe110002ff0200000000000000000001ff000001870022f000000000fe80000000000000000000000000000101010242ac110002',
);
// scapy: IPv6(src='fd00::1', dst='fd00::2')/ICMPv6EchoRequest(id=1, seq=1)   (a bare packet on the host's TUN)
const IPV6_FROM_HOST = hex('6000000000083a40fd000000000000000000000000000001fd000000000000000000000000000002800085b600010001');
// scapy: Ether(dst='33:33:00:00:00:01', src='02:00:5e:00:00:01')/IPv6(src='fe80::1', dst='ff02::1', hlim=255)/ICMPv6ND_RA()
const IPV6_RA_ON_UPLINK = hex(
  '33330000000102005e00000186dd6000000000103afffe800000000000000000000000000001ff0200000000000000000000000000018600751f000807080000000000000000',
);

describe('unsupported_ethertype', () => {
  it('an IPv6 frame from a container is dropped, not flooded (it would escape anti-spoofing)', () => {
    const w = makeWorld();
    w.dp.receive(w.ids.c1, IPV6_NS_FROM_C1);
    expect(drops(w.dp)).toEqual({ unsupported_ethertype: 1 });
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [], c3: [] });
  });

  it("an IPv6 packet from the host's TUN port is dropped", () => {
    const w = makeWorld();
    w.dp.receive(w.ids.host, IPV6_FROM_HOST);
    expect(drops(w.dp)).toEqual({ unsupported_ethertype: 1 });
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [], c3: [] });
  });

  it('an IPv6 multicast on the uplink is dropped', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.uplink, IPV6_RA_ON_UPLINK);
    expect(drops(w.dp)).toEqual({ unsupported_ethertype: 1 });
    expect(drain(w)).toBe(0);
  });
});

// ---- no_route ---------------------------------------------------------------------------------------

// scapy: h = IP(src=HOST, dst='192.0.2.7', ttl=64, id=0x31)/UDP(sport=5000, dport=6000)/b'x'; h
const HOST_UDP_TO_192_0_2_7 = hex('4500001d003100004011ad990afe0001c00002071388177000098fdd78');
// scapy: err(HGW, HOST, 3, 0, raw(h))
const NET_UNREACH_TO_HOST = hex(
  '4500003900000000400164c60afe00020afe00010300ca20000000004500001d003100004011ad990afe0001c00002071388177000098fdd78',
);
// scapy: u = IP(src=C1, dst=HOST, ttl=64, id=7)/UDP(sport=1234, dport=5678)/b'hello'; fromC1(u)
const UDP_C1_TO_HOST = hex('0250000000010242ac110002080045000021000700004011c3b3ac1100020afe000104d2162e000de9ef68656c6c6f');
// scapy: toC1(err(GW1IP, C1, 3, 0, raw(u)))
const NET_UNREACH_TO_C1 = hex(
  '0242ac11000202500000000108004500003d000000004001229bac110001ac1100020300b4300000000045000021000700004011c3b3ac1100020afe000104d2162e000de9ef68656c6c6f',
);

describe('no_route', () => {
  it('a packet from the host whose route leads back to the host gets ICMP net unreachable', () => {
    const w = makeWorld(); // the default route is the host port itself
    w.dp.receive(w.ids.host, HOST_UDP_TO_192_0_2_7);
    expect(drops(w.dp)).toEqual({ no_route: 1 });
    expect(taken(w)).toEqual({ host: [NET_UNREACH_TO_HOST], c1: [], c2: [], c3: [] });
  });

  it('with no route at all (the host port and its routes gone) a container gets ICMP net unreachable', () => {
    const w = makeWorld();
    w.dp.control.removePort(w.ids.host);
    w.dp.receive(w.ids.c1, UDP_C1_TO_HOST);
    expect(drops(w.dp)).toEqual({ no_route: 1 });
    expect(taken(w)).toEqual({ host: [], c1: [NET_UNREACH_TO_C1], c2: [], c3: [] });
  });
});

// ---- internal_network -------------------------------------------------------------------------------

/** Adds the --internal network 172.19.0.0/16 in slot 3 and the container c4 (172.19.0.2) on it. */
function addInternal(dp: Dataplane): { c4: MemoryPort; id: number } {
  dp.control.addNetwork({
    index: 3,
    name: 'internal',
    subnet: parseIpv4('172.19.0.0'),
    prefixLen: 16,
    gatewayIp: parseIpv4('172.19.0.1'),
    gatewayMac: parseMac('02:50:00:00:00:03'),
    mtu: 1500,
    internal: true,
  });
  const c4 = new MemoryPort();
  const id = dp.control.addEndpoint({ name: 'c4', network: 3, mac: parseMac('02:42:ac:13:00:02'), ip: parseIpv4('172.19.0.2') }, c4).id;
  return { c4, id };
}

// scapy: u = IP(src=C4, dst=HOST, ttl=64, id=0x41)/UDP(sport=1234, dport=5678)/b'hello'; Ether(dst=GW3, src=C4MAC)/u
const UDP_C4_TO_HOST = hex('0250000000030242ac130002080045000021004100004011c377ac1300020afe000104d2162e000de9ed68656c6c6f');
// scapy: Ether(dst=C4MAC, src=GW3)/err('172.19.0.1', C4, 3, 13, raw(u))
const ADMIN_PROHIBITED_TO_C4 = hex(
  '0242ac13000202500000000308004500003d0000000040012297ac130001ac130002030db4250000000045000021004100004011c377ac1300020afe000104d2162e000de9ed68656c6c6f',
);
// scapy: e = IP(src=HOST, dst=C4, ttl=64, id=0x42, flags='DF')/ICMP(type=8, id=5, seq=2)/b'abcdefgh'; e
const HOST_ECHO_TO_C4 = hex('4500002400424000400183830afe0001ac13000208006663000500026162636465666768');
// scapy: err(HGW, HOST, 3, 13, raw(e))
const ADMIN_PROHIBITED_TO_HOST = hex(
  '4500004000000000400164bf0afe00020afe0001030dfcf2000000004500002400424000400183830afe0001ac13000208006663000500026162636465666768',
);
// scapy: x = IP(src=C4, dst=X10, ttl=64, id=0x43)/UDP(sport=40000, dport=53)/b'q'; Ether(dst=GW3, src=C4MAC)/x
const UDP_C4_TO_X10 = hex('0250000000030242ac13000208004500001d004300004011926dac130002cb00710a9c40003500090a4671');
// scapy: Ether(dst=C4MAC, src=GW3)/err('172.19.0.1', C4, 3, 13, raw(x))
const ADMIN_PROHIBITED_TO_C4_X10 = hex(
  '0242ac130002025000000003080045000039000000004001229bac130001ac130002030de52d000000004500001d004300004011926dac130002cb00710a9c40003500090a4671',
);

describe('internal_network', () => {
  it('a container on an --internal network reaching for the host gets ICMP administratively prohibited', () => {
    const w = makeWorld();
    const { c4, id } = addInternal(w.dp);
    w.dp.receive(id, UDP_C4_TO_HOST);
    expect(drops(w.dp)).toEqual({ internal_network: 1 });
    expect(c4.take()).toEqual([ADMIN_PROHIBITED_TO_C4]);
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [], c3: [] });
  });

  it('the host reaching into an --internal network gets ICMP administratively prohibited', () => {
    const w = makeWorld();
    const { c4 } = addInternal(w.dp);
    w.dp.receive(w.ids.host, HOST_ECHO_TO_C4);
    expect(drops(w.dp)).toEqual({ internal_network: 1 });
    expect(c4.take()).toEqual([]);
    expect(taken(w)).toEqual({ host: [ADMIN_PROHIBITED_TO_HOST], c1: [], c2: [], c3: [] });
  });

  it('an --internal network is not masqueraded out of the uplink', () => {
    const w = makeNatWorld();
    const { c4, id } = addInternal(w.dp);
    w.dp.receive(id, UDP_C4_TO_X10);
    expect(drops(w.dp)).toEqual({ internal_network: 1 });
    expect(c4.take()).toEqual([ADMIN_PROHIBITED_TO_C4_X10]);
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [], c3: [], uplink: [] });
  });
});

// ---- arp_queue_full ---------------------------------------------------------------------------------

// scapy: IP(src=HOST, dst='172.17.0.99', ttl=64, id=0x50 + i, flags='DF')/ICMP(type=8, id=0x99, seq=i)/b'abcdefgh', i = 1, 2, 3
const HOST_ECHO_TO_99 = [
  hex('4500002400514000400183150afe0001ac110063080065d0009900016162636465666768'),
  hex('4500002400524000400183140afe0001ac110063080065cf009900026162636465666768'),
  hex('4500002400534000400183130afe0001ac110063080065ce009900036162636465666768'),
];
// scapy: Ether(dst=C9MAC, src=GW1)/IP(src=HOST, dst='172.17.0.99', ttl=63, id=0x50 + i, flags='DF')/ICMP(type=8, id=0x99, seq=i)/b'abcdefgh', i = 1, 2
const ECHO_AT_C9 = [
  hex('0242ac110063025000000001080045000024005140003f0184150afe0001ac110063080065d0009900016162636465666768'),
  hex('0242ac110063025000000001080045000024005240003f0184140afe0001ac110063080065cf009900026162636465666768'),
];
// scapy: IP(src=HOST, dst='172.17.0.' + str(n), ttl=64, id=0x50 + n, flags='DF')/ICMP(type=8, id=0x99, seq=1)/b'abcdefgh', n = 97, 98
const HOST_ECHO_TO_97 = hex('4500002400b14000400182b70afe0001ac110061080065d0009900016162636465666768');
const HOST_ECHO_TO_98 = hex('4500002400b24000400182b50afe0001ac110062080065d0009900016162636465666768');
// scapy: Ether(dst='ff:ff:ff:ff:ff:ff', src=GW1)/ARP(op=1, hwsrc=GW1, psrc=GW1IP, hwdst='00:00:00:00:00:00', pdst='172.17.0.' + str(n))
const ARP_REQ_GW_FOR_97 = hex('ffffffffffff02500000000108060001080006040001025000000001ac110001000000000000ac110061');
const ARP_REQ_GW_FOR_98 = hex('ffffffffffff02500000000108060001080006040001025000000001ac110001000000000000ac110062');
const ARP_REQ_GW_FOR_99 = hex('ffffffffffff02500000000108060001080006040001025000000001ac110001000000000000ac110063');
// scapy: Ether(dst='ff:ff:ff:ff:ff:ff', src=C9MAC)/ARP(op=1, hwsrc=C9MAC, psrc=C9, hwdst='00:00:00:00:00:00', pdst=C9)
const C9_GARP = hex('ffffffffffff0242ac110063080600010800060400010242ac110063ac110063000000000000ac110063');

/** Attaches c9 (172.17.0.99) to the bridge: its neighbour entry resolves, releasing what was parked on it. */
function attachC9(dp: Dataplane): MemoryPort {
  const c9 = new MemoryPort();
  dp.control.addEndpoint({ name: 'c9', network: 0, mac: parseMac('02:42:ac:11:00:63'), ip: parseIpv4('172.17.0.99') }, c9);
  return c9;
}

describe('arp_queue_full', () => {
  it("a neighbour's queue holds arpQueueLength packets; the next is dropped, the parked ones leave in order once it resolves", () => {
    const w = makeWorld({ arpQueueLength: 2 });
    for (const p of HOST_ECHO_TO_99) w.dp.receive(w.ids.host, p);
    expect(drops(w.dp)).toEqual({ arp_queue_full: 1 });
    expect(taken(w)).toEqual({ host: [], c1: [ARP_REQ_GW_FOR_99], c2: [ARP_REQ_GW_FOR_99], c3: [] }); // asked once
    const c9 = attachC9(w.dp);
    expect(c9.take()).toEqual(ECHO_AT_C9);
    expect(taken(w)).toEqual({ host: [], c1: [C9_GARP], c2: [C9_GARP], c3: [] });
  });

  it('the parking slots are shared by all neighbours: with 2 of them, a third unresolved neighbour gets its ARP but its packet is dropped', () => {
    const w = makeWorld({ parkingSlots: 2 });
    w.dp.receive(w.ids.host, HOST_ECHO_TO_97);
    w.dp.receive(w.ids.host, HOST_ECHO_TO_98);
    w.dp.receive(w.ids.host, HOST_ECHO_TO_99[0]!);
    expect(drops(w.dp)).toEqual({ arp_queue_full: 1 });
    const asked = [ARP_REQ_GW_FOR_97, ARP_REQ_GW_FOR_98, ARP_REQ_GW_FOR_99];
    expect(taken(w)).toEqual({ host: [], c1: asked, c2: asked, c3: [] });
    const c9 = attachC9(w.dp);
    expect(c9.take()).toEqual([]); // nothing was parked on 172.17.0.99
  });
});

// ---- l2_hairpin -------------------------------------------------------------------------------------

// scapy: Ether(dst=C1MAC, src=C1MAC)/IP(src=C1, dst=C2, ttl=64, id=0x61)/ICMP(type=8, id=1, seq=1)/b'hairpin'
const C1_TO_ITS_OWN_MAC = hex('0242ac1100020242ac1100020800450000230061000040012252ac110002ac110003080047c0000100016861697270696e');

describe('l2_hairpin', () => {
  it('a frame for the MAC of the port it came in on is not sent back out of it', () => {
    const w = makeWorld();
    w.dp.receive(w.ids.c1, C1_TO_ITS_OWN_MAC);
    expect(drops(w.dp)).toEqual({ l2_hairpin: 1 });
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [], c3: [] });
  });
});

// ---- no_buffer --------------------------------------------------------------------------------------

// scapy: u = IP(src=C1, dst=HOST, ttl=1, id=7)/UDP(sport=1234, dport=5678)/b'hello'; fromC1(u)
const UDP_C1_TO_HOST_TTL1 = hex('0250000000010242ac11000208004500002100070000011102b4ac1100020afe000104d2162e000de9ef68656c6c6f');
// scapy: fromC1(IP(src=C1, dst=GW1IP, ttl=64, id=0x1234, flags='DF')/ICMP(type=8, id=0x77, seq=1)/b'pontoon-ping-payload')
const ECHO_REQ_C1_TO_GW = hex(
  '0250000000010242ac110002080045000030123440004001d073ac110002ac1100010800ff7800770001706f6e746f6f6e2d70696e672d7061796c6f6164',
);
// scapy: toC1(IP(src=GW1IP, dst=C1, ttl=64, id=0x1234, flags='DF')/ICMP(type=0, id=0x77, seq=1)/b'pontoon-ping-payload')
const ECHO_REPLY_GW_TO_C1 = hex(
  '0242ac110002025000000001080045000030123440004001d073ac110001ac1100020000077900770001706f6e746f6f6e2d70696e672d7061796c6f6164',
);

describe('no_buffer', () => {
  it('with one pool slot (the received frame holds it) no ICMP error can be built; an echo reply, made in place, still can', () => {
    const w = makeWorld({ poolSlots: 1 });
    w.dp.receive(w.ids.c1, UDP_C1_TO_HOST_TTL1);
    expect(drops(w.dp)).toEqual({ ttl_expired: 1, no_buffer: 1 });
    expect(w.dp.counters.gauges[Gauge.IcmpSent]).toBe(0);
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [], c3: [] });
    w.dp.receive(w.ids.c1, ECHO_REQ_C1_TO_GW);
    expect(drops(w.dp)).toEqual({ ttl_expired: 1, no_buffer: 1 });
    expect(taken(w)).toEqual({ host: [], c1: [ECHO_REPLY_GW_TO_C1], c2: [], c3: [] });
  });

  it('an ARP request that finds no buffer is counted; the packet stays parked, and the retry on the next tick asks', () => {
    const w = makeWorld({ poolSlots: 1 });
    w.dp.receive(w.ids.host, HOST_ECHO_TO_99[0]!);
    expect(drops(w.dp)).toEqual({ no_buffer: 1 });
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [], c3: [] });
    w.dp.tick(w.dp.now + w.dp.options.arpRetryMs);
    expect(taken(w)).toEqual({ host: [], c1: [ARP_REQ_GW_FOR_99], c2: [ARP_REQ_GW_FOR_99], c3: [] });
    const c9 = attachC9(w.dp);
    expect(c9.take()).toEqual([ECHO_AT_C9[0]]);
    expect(drops(w.dp)).toEqual({ no_buffer: 1 });
  });
});

// ---- oversize ---------------------------------------------------------------------------------------

// scapy: Ether(dst=C2MAC, src=C1MAC)/IP(src=C1, dst=C2, ttl=64, id=0x71)/UDP(sport=7000, dport=7001, chksum=0)/(b'\xab' * n): the
// 42 bytes of headers, then n bytes 0xab (n = 1472: a 1514-byte frame, the MTU's largest; 1473: one byte more)
const C1_TO_C2_1514 = Buffer.concat([hex('0242ac1100030242ac1100020800450005dc0071000040111c79ac110002ac1100031b581b5905c80000'), Buffer.alloc(1472, 0xab)]);
const C1_TO_C2_1515 = Buffer.concat([hex('0242ac1100030242ac1100020800450005dd0071000040111c78ac110002ac1100031b581b5905c90000'), Buffer.alloc(1473, 0xab)]);
// scapy: IP(src=HOST, dst=C1, ttl=64, id=9, flags=0)/ICMP(type=8, id=5, seq=2)/bytes(i & 0xff for i in range(1372)): 28 bytes of headers, then the pattern
const HOST_ECHO_1400_TO_C1 = Buffer.concat([hex('45000578000900004001be6a0afe0001ac1100020800186e00050002'), pattern(1372)]);

describe('oversize', () => {
  it("a frame one byte over the port's MTU is received, counted and dropped; one of exactly the MTU is switched", () => {
    const w = makeWorld();
    const before = w.dp.counters.portStats(w.ids.c1).rxPackets;
    w.dp.receive(w.ids.c1, C1_TO_C2_1514);
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [C1_TO_C2_1514], c3: [] });
    w.dp.receive(w.ids.c1, C1_TO_C2_1515);
    expect(drops(w.dp)).toEqual({ oversize: 1 });
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [], c3: [] });
    expect(w.dp.counters.portStats(w.ids.c1).rxPackets).toBe(before + 2);
  });

  it('a frame larger than a frame buffer is dropped before it is received', () => {
    const w = makeWorld();
    const before = w.dp.counters.portStats(w.ids.c1).rxPackets;
    w.dp.receive(w.ids.c1, Buffer.concat([C1_TO_C2_1514, Buffer.alloc(70_000 - C1_TO_C2_1514.length)]));
    expect(drops(w.dp)).toEqual({ oversize: 1 });
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [], c3: [] });
    expect(w.dp.counters.portStats(w.ids.c1).rxPackets).toBe(before);
  });

  it('a fragment larger than the whole segment arena cannot be cut: the packet is dropped, no fragment leaves', () => {
    const w = makeWorld({ txArenaBytes: 1000 }, 1280); // a 1256-byte fragment does not fit in 1000 bytes
    w.dp.receive(w.ids.host, HOST_ECHO_1400_TO_C1);
    expect(drops(w.dp)).toEqual({ oversize: 1 });
    expect(w.dp.counters.gauges[Gauge.FragmentsCreated]).toBe(0);
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [], c3: [] });
  });
});

// ---- not_for_us -------------------------------------------------------------------------------------

// scapy: u = IP(src=C2, dst=GW1IP, ttl=64, id=0x22)/UDP(sport=40000, dport=54)/b'ping?'; fromC2(u)
const UDP_C2_TO_GW_54 = hex('0250000000010242ac1100030800450000210022000040112284ac110003ac1100019c400036000ded6570696e673f');
// scapy: toC2(err(GW1IP, C2, 3, 3, raw(u)))
const PORT_UNREACH_TO_C2 = hex(
  '0242ac11000302500000000108004500003d000000004001229aac110001ac1100030303554200000000450000210022000040112284ac110003ac1100019c400036000ded6570696e673f',
);
// scapy: fromC1(IP(src=C1, dst=GW1IP, ttl=64, id=0xa1)/ICMP(type=0, id=3, seq=1)/b'pong')
const ECHO_REPLY_C1_TO_GW = hex('0250000000010242ac11000208004500002000a1000040012217ac110002ac1100010000212500030001706f6e67');
// scapy: fromC1(IP(src=C1, dst='255.255.255.255', ttl=64, id=0xa2)/UDP(sport=68, dport=67)/b'dhcp')
const UDP_C1_TO_LIMITED_BROADCAST = hex('0250000000010242ac11000208004500002000a200004011ce18ac110002ffffffff00440043000c8b6364686370');
// scapy: fromC1(IP(src=C1, dst='172.17.255.255', ttl=64, id=0xa3)/UDP(sport=137, dport=137)/b'nbns')
const UDP_C1_TO_SUBNET_BROADCAST = hex('0250000000010242ac11000208004500002000a3000040112206ac110002ac11ffff00890089000cc9c96e626e73');
// scapy: fromC1(IP(src=C1, dst='224.0.0.251', ttl=255, id=0xa4)/UDP(sport=5353, dport=5353)/b'mdns')
const UDP_C1_TO_MDNS = hex('0250000000010242ac11000208004500002000a40000ff112e1aac110002e00000fb14e914e9000c6d1d6d646e73');
// scapy: IP(src=HOST, dst='172.17.255.255', ttl=64, id=0xa5)/UDP(sport=5000, dport=6000)/b'b'
const HOST_UDP_TO_BRIDGE_BROADCAST = hex('4500001d00a500004011c31b0afe0001ac11ffff138817700009bbd362');
// scapy: IP(src=HOST, dst='172.17.0.0', ttl=64, id=0xa6)/UDP(sport=5000, dport=6000)/b's'
const HOST_UDP_TO_BRIDGE_SUBNET = hex('4500001d00a600004011c31a0afe0001ac110000138817700009aad373');
// scapy: Ether(dst='02:00:5e:00:00:99', src='02:00:5e:00:00:01')/IP(src=X10, dst='198.51.100.7', ttl=52, id=0x91)/UDP(sport=53, dport=40000)/b'other'
const UPLINK_UNICAST_FOR_ANOTHER_MAC = hex('02005e00009902005e0000010800450000210091000034111ff6cb00710ac633640700359c40000db33e6f74686572');
// scapy: Ether(dst='ff:ff:ff:ff:ff:ff', src='02:00:5e:00:00:01')/IP(src=RT, dst='198.51.100.255', ttl=64, id=0x92)/UDP(sport=67, dport=68)/b'bcast'
const UPLINK_BROADCAST_IP = hex('ffffffffffff02005e00000108004500002100920000401124d3c6336401c63364ff00430044000d720e6263617374');

describe('not_for_us', () => {
  it('UDP to the gateway is answered port unreachable', () => {
    const w = makeWorld();
    w.dp.receive(w.ids.c2, UDP_C2_TO_GW_54);
    expect(drops(w.dp)).toEqual({ not_for_us: 1 });
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [PORT_UNREACH_TO_C2], c3: [] });
  });

  it('ICMP to the gateway other than an echo request is dropped unanswered', () => {
    const w = makeWorld();
    w.dp.receive(w.ids.c1, ECHO_REPLY_C1_TO_GW);
    expect(drops(w.dp)).toEqual({ not_for_us: 1 });
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [], c3: [] });
  });

  it("broadcast and multicast sent to the gateway's MAC are never routed", () => {
    const w = makeWorld();
    for (const f of [UDP_C1_TO_LIMITED_BROADCAST, UDP_C1_TO_SUBNET_BROADCAST, UDP_C1_TO_MDNS]) w.dp.receive(w.ids.c1, f);
    expect(drops(w.dp)).toEqual({ not_for_us: 3 });
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [], c3: [] });
  });

  it("the host's packets for a network's broadcast or subnet address are not routed into it", () => {
    const w = makeWorld();
    w.dp.receive(w.ids.host, HOST_UDP_TO_BRIDGE_BROADCAST);
    w.dp.receive(w.ids.host, HOST_UDP_TO_BRIDGE_SUBNET);
    expect(drops(w.dp)).toEqual({ not_for_us: 2 });
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [], c3: [] });
  });

  it("the uplink takes only its own unicast: another MAC's unicast and an IPv4 broadcast are dropped", () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.uplink, UPLINK_UNICAST_FOR_ANOTHER_MAC);
    w.dp.receive(w.ids.uplink, UPLINK_BROADCAST_IP);
    expect(drops(w.dp)).toEqual({ not_for_us: 2 });
    expect(drain(w)).toBe(0);
  });
});
