// macvlan networks in the data plane: containers on the LAN of a parent device, switched as the
// kernel's macvlan driver switches them (bridge, private, vepa, passthru), VLANs of one trunk kept
// apart, anti-spoofing as on a bridge, the gateway owning nothing on the LAN, and host access
// through the host port. Frames are literal, produced with scapy (/usr/bin/python3): the LAN
// 192.168.40.0/24 (its router .1 02:00:5e:00:40:01, a host .50 02:00:5e:00:40:50), containers m1
// .10 (02:42:c0:a8:28:0a) and m2 .11 (02:42:c0:a8:28:0b); VLAN 50 192.168.50.0/24 with m3 .10.
// The parent keeps each frame untagged with its VLAN beside it (parent-socket.test.ts puts the tag
// on the wire).

import { describe, expect, it } from 'vitest';
import type { MacvlanModeName } from '../../../src/dataplane/specs.js';
import { MemoryParent, MemoryPort } from '../../../src/ports/memory-port.js';
import { parseIpv4 } from '../../../src/wire/ipv4-address.js';
import { parseMac } from '../../../src/wire/mac.js';
import { drops, hex, makeWorld } from './fixture.js';

// scapy: Ether(src=LANHOST, dst=BC)/ARP(op=1, hwsrc=LANHOST, psrc='192.168.40.50', pdst='192.168.40.10')
const LAN_ARP_WHO_HAS_M1 = hex('ffffffffffff02005e0040500806000108000604000102005e004050c0a82832000000000000c0a8280a');
// scapy: Ether(src=M1, dst=LANHOST)/ARP(op=2, hwsrc=M1, psrc='192.168.40.10', hwdst=LANHOST, pdst='192.168.40.50')
const M1_ARP_REPLY = hex('02005e0040500242c0a8280a080600010800060400020242c0a8280ac0a8280a02005e004050c0a82832');
// scapy: Ether(src=M1, dst=BC)/ARP(op=1, hwsrc=M1, psrc='192.168.40.10', pdst='192.168.40.1')
const M1_ARP_WHO_HAS_ROUTER = hex('ffffffffffff0242c0a8280a080600010800060400010242c0a8280ac0a8280a000000000000c0a82801');
// scapy: Ether(src=M1, dst=R)/IP(src='192.168.40.10', dst='203.0.113.7', ttl=64, id=1)/ICMP(id=7, seq=1)/b'macvlan!'
const M1_ECHO_OUT = hex('02005e0040010242c0a8280a080045000024000100004001561ec0a8280acb00710708004c9d000700016d6163766c616e21');
// scapy: Ether(src=M1, dst=M2)/IP(src='192.168.40.10', dst='192.168.40.11', ttl=64, id=2)/ICMP(id=7, seq=2)/b'macvlan!'
const M1_ECHO_M2 = hex('0242c0a8280b0242c0a8280a080045000024000200004001a971c0a8280ac0a8280b08004c9c000700026d6163766c616e21');
// scapy: the same frame as the LAN's switch sends it back (hairpin)
const M1_ECHO_M2_REFLECTED = hex('0242c0a8280b0242c0a8280a080045000024000200004001a971c0a8280ac0a8280b08004c9c000700026d6163766c616e21');
// scapy: Ether(src=M1, dst=R)/IP(src='192.168.40.99', dst='203.0.113.7')/ICMP(id=7, seq=3)
const M1_SPOOFED = hex('02005e0040010242c0a8280a08004500001c00030000400155cbc0a82863cb0071070800f7f500070003');
// scapy: Ether(src=R, dst=LANHOST)/IP(src='192.168.40.1', dst='192.168.40.50')/ICMP(): another host's unicast
const LAN_TO_H_UNICAST = hex('02005e00405002005e00400108004500001c000400004001a959c0a82801c0a828320800f7f500090001');
// scapy: Ether(src=LANHOST, dst=M1)/IP(src='192.168.40.50', dst='192.168.40.10', ttl=64, id=5)/ICMP(id=9, seq=2)
const LAN_ECHO_M1 = hex('0242c0a8280a02005e00405008004500001c000500004001a94fc0a82832c0a8280a0800f7f400090002');
// scapy: Ether(src=LANHOST, dst=BC)/Dot1Q(vlan=50)/ARP(op=1, hwsrc=LANHOST, psrc='192.168.50.50', pdst='192.168.50.10')
const LAN50_ARP_WHO_HAS_M3 = hex('ffffffffffff02005e004050810000320806000108000604000102005e004050c0a83232000000000000c0a8320a');
// scapy: Ether(src=LANHOST, dst=BC)/Dot1Q(vlan=60)/ARP(op=1, hwsrc=LANHOST, psrc='192.168.60.50', pdst='192.168.60.10')
const LAN60_ARP = hex('ffffffffffff02005e0040508100003c0806000108000604000102005e004050c0a83c32000000000000c0a83c0a');
// scapy: LAN50_ARP_WHO_HAS_M3 without its tag, as m3 gets it
const LAN50_ARP_UNTAGGED = hex('ffffffffffff02005e0040500806000108000604000102005e004050c0a83232000000000000c0a8320a');
// scapy: Ether(src=M3, dst=LANHOST)/ARP(op=2, hwsrc=M3, psrc='192.168.50.10', hwdst=LANHOST, pdst='192.168.50.50')
const M3_ARP_REPLY = hex('02005e0040500242c0a8320a080600010800060400020242c0a8320ac0a8320a02005e004050c0a83232');
// scapy: Ether(src=M1, dst=R)/IP(src='192.168.40.10', dst='10.254.0.1', ttl=64, id=6)/ICMP(id=7, seq=4): to the host, through its LAN router's MAC
const M1_ECHO_HOST = hex('02005e0040010242c0a8280a08004500001c000600004001872ac0a8280a0afe00010800f7f400070004');
// scapy: IP(src='192.168.40.10', dst='10.254.0.1', ttl=63, id=6)/ICMP(id=7, seq=4): what the host's TUN gets
const M1_ECHO_HOST_AT_HOST = hex('4500001c000600003f01882ac0a8280a0afe00010800f7f400070004');
// scapy: IP(src='10.254.0.1', dst='192.168.40.10', ttl=64, id=7)/ICMP(type=0, id=7, seq=4): the host answers
const HOST_REPLY = hex('4500001c00070000400187290afe0001c0a8280a0000fff400070004');
// scapy: Ether(src=GW, dst=M1)/IP(src='10.254.0.1', dst='192.168.40.10', ttl=63, id=7)/ICMP(type=0, id=7, seq=4)
const HOST_REPLY_AT_M1 = hex('0242c0a8280a02500000004008004500001c000700003f0188290afe0001c0a8280a0000fff400070004');
// scapy: Ether(src=M2, dst=R)/IP(src='192.168.40.11', dst='203.0.113.7', ttl=64, id=8)/ICMP(id=8, seq=1)
const M2_ECHO_OUT = hex('02005e0040010242c0a8280b08004500001c000800004001561ec0a8280bcb0071070800f7f600080001');
// scapy: Ether(src='02:42:ac:11:00:02', dst='02:50:00:00:00:01')/IP(src='172.17.0.2', dst='192.168.40.10', ttl=64, id=9)/ICMP(id=10, seq=1): c1 on the bridge, through its gateway
const C1_ECHO_M1 = hex('0250000000010242ac11000208004500001c000900004001e612ac110002c0a8280a0800f7f4000a0001');

const hexes = (frames: Buffer[]): string[] => frames.map((f) => f.toString('hex'));
const parentHexes = (frames: { vlan: number; bytes: Buffer }[]): [number, string][] => frames.map((f) => [f.vlan, f.bytes.toString('hex')]);

/** makeWorld (its bridges, containers and host port) plus the macvlan networks on one parent. */
function macvlanWorld({ mode = 'bridge' as MacvlanModeName, hostAccess = false } = {}) {
  const w = makeWorld();
  const { dp } = w;
  const lan = (index: number, name: string, subnet: string) =>
    dp.control.addNetwork({
      index,
      name,
      subnet: parseIpv4(subnet),
      prefixLen: 24,
      gatewayIp: 0,
      gatewayMac: parseMac('02:50:00:00:00:40'),
      mtu: 1500,
      internal: false,
      macvlan: { mode, hostAccess },
    });
  lan(2, 'lan', '192.168.40.0');
  lan(3, 'lan50', '192.168.50.0');
  const parent = new MemoryParent();
  dp.control.addParent(0, parent);
  const p40 = dp.control.addParentPort({ parent: 0, vlan: 0, network: 2, name: 'eth0', mtu: 1500 }).id;
  const p50 = dp.control.addParentPort({ parent: 0, vlan: 50, network: 3, name: 'eth0.50', mtu: 1500 }).id;
  const m1 = new MemoryPort();
  const m2 = new MemoryPort();
  const m3 = new MemoryPort();
  const ep = (name: string, network: number, mac: string, ip: string, io: MemoryPort) =>
    dp.control.addEndpoint({ name, network, mac: parseMac(mac), ip: parseIpv4(ip) }, io).id;
  const ids = {
    ...w.ids,
    p40,
    p50,
    m1: ep('m1', 2, '02:42:c0:a8:28:0a', '192.168.40.10', m1),
    m2: ep('m2', 2, '02:42:c0:a8:28:0b', '192.168.40.11', m2),
    m3: ep('m3', 3, '02:42:c0:a8:32:0a', '192.168.50.10', m3),
  };
  // the attachments' gratuitous ARPs went out of the parent (and to the siblings in bridge mode)
  const announced = parentHexes(parent.take());
  for (const p of [w.host, w.c1, w.c2, w.c3, m1, m2, m3]) p.take();
  /** the LAN's frame as the parent's socket hands it over: the tag the kernel took off beside it */
  const fromLan = (frame: Buffer, vlan = -1) => {
    const off = dp.pool.alloc();
    frame.copy(dp.pool.slab, off);
    dp.inputParent(0, dp.pool.slab, off, frame.length, vlan);
    dp.endBatch();
  };
  const all = [w.host, w.c1, w.c2, w.c3, m1, m2, m3];
  return { ...w, parent, m1, m2, m3, ids, fromLan, announced, all };
}

describe('macvlan networks', () => {
  it("announce each container's address to the LAN (gratuitous ARP from its own MAC), untagged or on its VLAN", () => {
    const w = macvlanWorld();
    // (hex characters: the source MAC at byte 6, the EtherType at 12, ARP's sender MAC and address at 22 and 28, its target address at 38)
    const fields = (f: string) => [f.slice(12, 24), f.slice(24, 28), f.slice(44, 56), f.slice(56, 64), f.slice(76, 84)];
    expect(w.announced.map(([vlan, f]) => [vlan, ...fields(f)])).toEqual([
      [0, '0242c0a8280a', '0806', '0242c0a8280a', 'c0a8280a', 'c0a8280a'],
      [0, '0242c0a8280b', '0806', '0242c0a8280b', 'c0a8280b', 'c0a8280b'],
      [50, '0242c0a8320a', '0806', '0242c0a8320a', 'c0a8320a', 'c0a8320a'],
    ]);
  });

  it('a LAN broadcast reaches every container of the network and no other; the answer leaves by the parent as it was sent', () => {
    const w = macvlanWorld();
    w.fromLan(LAN_ARP_WHO_HAS_M1);
    expect([hexes(w.m1.take()), hexes(w.m2.take()), w.m3.take(), w.c1.take(), w.parent.take()]).toEqual([
      [LAN_ARP_WHO_HAS_M1.toString('hex')],
      [LAN_ARP_WHO_HAS_M1.toString('hex')],
      [],
      [],
      [],
    ]);
    w.dp.receive(w.ids.m1, M1_ARP_REPLY);
    expect(parentHexes(w.parent.take())).toEqual([[0, M1_ARP_REPLY.toString('hex')]]);
  });

  it("the gateway answers nothing on the LAN: a container's ARP for its router goes to the LAN (and its bridge-mode siblings), its packets to the router's MAC unchanged", () => {
    const w = macvlanWorld();
    w.dp.receive(w.ids.m1, M1_ARP_WHO_HAS_ROUTER);
    expect([hexes(w.m1.take()), hexes(w.m2.take()), parentHexes(w.parent.take())]).toEqual([
      [],
      [M1_ARP_WHO_HAS_ROUTER.toString('hex')],
      [[0, M1_ARP_WHO_HAS_ROUTER.toString('hex')]],
    ]);
    w.dp.receive(w.ids.m1, M1_ECHO_OUT);
    expect(parentHexes(w.parent.take())).toEqual([[0, M1_ECHO_OUT.toString('hex')]]);
    for (const p of w.all) expect(p.take()).toEqual([]);
  });

  it('unicast from the LAN reaches the container whose MAC it is for (before it ever sent); another host\'s unicast is ignored, counted', () => {
    const w = macvlanWorld();
    w.fromLan(LAN_ECHO_M1);
    expect(hexes(w.m1.take())).toEqual([LAN_ECHO_M1.toString('hex')]);
    w.fromLan(LAN_TO_H_UNICAST);
    expect(drops(w.dp).not_for_us).toBe(1);
    for (const p of w.all) expect(p.take()).toEqual([]);
  });

  it('bridge mode: containers of the network reach each other inside, nothing goes out', () => {
    const w = macvlanWorld();
    w.dp.receive(w.ids.m1, M1_ECHO_M2);
    expect([hexes(w.m2.take()), w.parent.take()]).toEqual([[M1_ECHO_M2.toString('hex')], []]);
  });

  it('private mode: containers never reach each other, not even when the LAN switch sends the frame back', () => {
    const w = macvlanWorld({ mode: 'private' });
    w.dp.receive(w.ids.m1, M1_ECHO_M2);
    expect([w.m2.take(), parentHexes(w.parent.take())]).toEqual([[], [[0, M1_ECHO_M2.toString('hex')]]]);
    w.fromLan(M1_ECHO_M2_REFLECTED);
    expect(w.m2.take()).toEqual([]);
    expect(drops(w.dp).macvlan_mode).toBe(1);
    // a broadcast from a sibling either
    w.dp.receive(w.ids.m1, M1_ARP_WHO_HAS_ROUTER);
    expect([w.m2.take(), w.parent.take().length]).toEqual([[], 1]);
  });

  it('vepa mode: everything goes out to the LAN switch; what it turns back reaches the sibling', () => {
    const w = macvlanWorld({ mode: 'vepa' });
    w.dp.receive(w.ids.m1, M1_ECHO_M2);
    expect([w.m2.take(), parentHexes(w.parent.take())]).toEqual([[], [[0, M1_ECHO_M2.toString('hex')]]]);
    w.fromLan(M1_ECHO_M2_REFLECTED);
    expect([hexes(w.m2.take()), w.m1.take()]).toEqual([[M1_ECHO_M2.toString('hex')], []]);
  });

  it('passthru mode: the one container gets everything on the parent, whatever its destination MAC', () => {
    const w = macvlanWorld({ mode: 'passthru' });
    w.fromLan(LAN_TO_H_UNICAST);
    // the world has two containers on the network: the first is the parent's owner, the second's frames are refused
    expect(hexes(w.m1.take())).toEqual([LAN_TO_H_UNICAST.toString('hex')]);
    w.dp.receive(w.ids.m2, M2_ECHO_OUT);
    expect(w.parent.take()).toEqual([]);
    expect(drops(w.dp).macvlan_mode).toBe(1);
    w.dp.receive(w.ids.m1, M1_ECHO_OUT);
    expect(parentHexes(w.parent.take())).toEqual([[0, M1_ECHO_OUT.toString('hex')]]);
  });

  it('VLANs of one trunk stay apart: a tagged broadcast reaches its VLAN\'s containers untagged; a VLAN no network has is counted; the answer leaves tagged', () => {
    const w = macvlanWorld();
    w.fromLan(LAN50_ARP_WHO_HAS_M3); // the tag left in the frame (a device without VLAN offload)
    expect([hexes(w.m3.take()), w.m1.take(), w.m2.take()]).toEqual([[LAN50_ARP_UNTAGGED.toString('hex')], [], []]);
    w.fromLan(LAN50_ARP_UNTAGGED, 50); // the tag taken off by the kernel, in the auxiliary data
    expect(hexes(w.m3.take())).toEqual([LAN50_ARP_UNTAGGED.toString('hex')]);
    w.fromLan(LAN60_ARP);
    w.fromLan(LAN50_ARP_UNTAGGED, 60);
    // the reserved VLAN 4095, in the frame and beside it (found by the fuzzer: it indexed past the table)
    const v4095 = Buffer.from(LAN60_ARP);
    v4095.writeUInt16BE(0x0fff, 14);
    w.fromLan(v4095);
    w.fromLan(LAN50_ARP_UNTAGGED, 4095);
    expect(drops(w.dp).vlan_unknown).toBe(4);
    for (const p of w.all) expect(p.take()).toEqual([]);
    w.dp.receive(w.ids.m3, M3_ARP_REPLY);
    expect(parentHexes(w.parent.take())).toEqual([[50, M3_ARP_REPLY.toString('hex')]]);
  });

  it('two networks on one VLAN of the parent (disjoint subnets): unicast reaches the network with that MAC, a broadcast both', () => {
    const w = macvlanWorld();
    w.dp.control.addNetwork({
      index: 4,
      name: 'lan-b',
      subnet: parseIpv4('192.168.41.0'),
      prefixLen: 24,
      gatewayIp: 0,
      gatewayMac: parseMac('02:50:00:00:00:41'),
      mtu: 1500,
      internal: false,
      macvlan: { mode: 'bridge', hostAccess: false },
    });
    const pb = w.dp.control.addParentPort({ parent: 0, vlan: 0, network: 4, name: 'eth0', mtu: 1500 }).id;
    const mb = new MemoryPort();
    w.dp.control.addEndpoint({ name: 'mb', network: 4, mac: parseMac('02:42:c0:a8:29:0a'), ip: parseIpv4('192.168.41.10') }, mb);
    w.parent.take();
    mb.take();
    w.fromLan(LAN_ECHO_M1);
    expect([hexes(w.m1.take()), mb.take()]).toEqual([[LAN_ECHO_M1.toString('hex')], []]);
    w.fromLan(LAN_ARP_WHO_HAS_M1);
    expect([w.m1.take().length, w.m2.take().length, mb.take().length]).toEqual([1, 1, 1]);
    expect(w.dp.counters.portStats(pb).rxPackets).toBe(1);
    // removing one leaves the other on the VLAN
    w.dp.control.removeNetwork(4);
    w.fromLan(LAN_ECHO_M1);
    expect(hexes(w.m1.take())).toEqual([LAN_ECHO_M1.toString('hex')]);
  });

  it('anti-spoofing applies: a source address that is not the container\'s is dropped and counted', () => {
    const w = macvlanWorld();
    w.dp.receive(w.ids.m1, M1_SPOOFED);
    expect(drops(w.dp).spoofed_ip).toBe(1);
    expect(w.parent.take()).toEqual([]);
  });

  it("host access: a container's packet to the host's address reaches the host port whatever next hop it chose, and the host's answer reaches the container", () => {
    const w = macvlanWorld({ hostAccess: true });
    w.dp.receive(w.ids.m1, M1_ECHO_HOST);
    expect([hexes(w.host.take()), w.parent.take()]).toEqual([[M1_ECHO_HOST_AT_HOST.toString('hex')], []]);
    w.dp.receive(w.ids.host, HOST_REPLY);
    expect(hexes(w.m1.take())).toEqual([HOST_REPLY_AT_M1.toString('hex')]);
    expect(w.parent.take()).toEqual([]);
  });

  it('without host access the host reaches no container, and a container\'s packet to the host goes to the LAN like any other', () => {
    const w = macvlanWorld();
    w.dp.receive(w.ids.m1, M1_ECHO_HOST);
    expect([w.host.take(), parentHexes(w.parent.take())]).toEqual([[], [[0, M1_ECHO_HOST.toString('hex')]]]);
    w.dp.receive(w.ids.host, HOST_REPLY);
    expect(w.m1.take()).toEqual([]);
  });

  it('a bridge network\'s container reaches no macvlan container through the gateway (isolation), even with host access', () => {
    const w = macvlanWorld({ hostAccess: true });
    w.dp.receive(w.ids.c1, C1_ECHO_M1);
    expect(drops(w.dp).network_isolation).toBe(1);
    expect(w.m1.take()).toEqual([]);
    expect(w.parent.take()).toEqual([]);
  });
});
