// The gateway the pipeline fuzz target drives: the unit tests' NAT world made dual stack (two
// networks with IPv6 too, three containers, the host port with its IPv6 link, an uplink with masquerade) plus a container port that takes offloads
// (virtio-net headers), published ports, the embedded DNS and NAT-PMP/PCP targets and an overlay network with a
// local endpoint, a peer VTEP and a remote endpoint behind another VTEP, and services (VIPs DNATed to
// backends, one published on the uplink).

import type { Dataplane } from '../../src/dataplane/dataplane.js';
import { MemoryParent, MemoryPort, MemoryTunnel } from '../../src/ports/memory-port.js';
import { parseIpv4 } from '../../src/wire/ipv4-address.js';
import { ipv6ToString, parseIpv6 } from '../../src/wire/ipv6-address.js';
import { macHiOf, macLoOf, parseMac } from '../../src/wire/mac.js';
import { A, A6, makeNatWorld, OVERLAY_VNI, ROUTER_ARP_REPLY } from '../unit/dataplane/fixture.js';

/** the router's MAC on the uplink (ROUTER_ARP_REPLY's sender) */
const ROUTER_MAC = parseMac('02:00:5e:00:00:01');

/** Addresses of the fuzz world beyond the NAT world's (fixture.ts `A`). */
export const F = {
  cv: parseIpv4('172.17.0.4'),
  ov: parseIpv4('10.20.0.2'),
  ovRemote: parseIpv4('10.20.0.3'),
  ovGw: parseIpv4('10.20.0.1'),
  vtepPeer: parseIpv4('192.0.2.2'),
  vtepRemote: parseIpv4('192.0.2.3'),
  vtepStranger: parseIpv4('192.0.2.99'),
  /** where DNS queries to a gateway address go (a socket of the daemon behind the host port) */
  dnsPort: 5353,
  /** where NAT-PMP/PCP requests to a gateway address go */
  pcpPort: 40123,
  /** containers on the macvlan networks 'lan' and 'lan50' */
  mv: parseIpv4('192.168.40.10'),
  mv50: parseIpv4('192.168.50.10'),
  /** the routed overlay 'flat': this host's 10.244.1.0/24 (its container rt .2), the peer VTEP's 10.244.2.0/24 */
  rt: parseIpv4('10.244.1.2'),
  rtGw: parseIpv4('10.244.1.1'),
  /** service VIPs: of the services range on the bridge, of the overlay's own subnet */
  vip: parseIpv4('10.96.0.10'),
  vipOverlay: parseIpv4('10.20.0.200'),
} as const;

/** The ingress a fuzz record names, in selector order ('lan': the macvlan parent, VLANs 0 and 50). */
export const INGRESS = ['c1', 'c2', 'c3', 'cv', 'ov', 'host', 'uplink', 'underlay', 'mv', 'lan', 'mv50', 'rt'] as const;
export type Ingress = (typeof INGRESS)[number];

export interface FuzzWorld {
  dp: Dataplane;
  /** every frame port by name (the underlay is `tunnel`, the macvlan parent `parent`) */
  ports: Record<Exclude<Ingress, 'underlay' | 'lan'>, MemoryPort>;
  ids: Record<Ingress, number>;
  tunnel: MemoryTunnel;
  /** the macvlan parent (index 0): what its ports send, untagged, with their VLAN */
  parent: MemoryParent;
  /** its ports: the macvlan network 'lan' (untagged, bridge mode, host access) and 'lan50' (VLAN 50, vepa) */
  parentPorts: number[];
  /** the gateway's own addresses on its networks and host link (its ICMP messages come from them) */
  gatewayIps: Set<number>;
  /** the same for IPv6 (as ipv6ToString prints them), fe80::1 included */
  gatewayIps6: Set<string>;
  /** the uplink address: the gateway's own, and the source of every masqueraded packet */
  uplinkIp: number;
  /** the uplink's IPv6 address (as ipv6ToString prints it): the source of every packet NAT66 masquerades */
  uplinkIp6: string;
  /** the gateway's MACs (of the bridge, backend, uplink and overlay networks) */
  gatewayMacs: Set<number>;
}

/** Small tables, so one world per fuzz input is cheap; the stages are the daemon's. */
export const FUZZ_OPTIONS = {
  poolSlots: 8,
  parkingSlots: 16,
  arpQueueLength: 4,
  fdbCapacity: 64,
  conntrackMax: 64,
  txArenaBytes: 256 << 10,
  icmpBurst: 8,
  arpRetryMs: 100,
} as const;

export function makeFuzzWorld(): FuzzWorld {
  const w = makeNatWorld(FUZZ_OPTIONS, { ipv6: true });
  const dp = w.dp;
  const cv = new MemoryPort();
  const cvId = dp.control.addEndpoint({ name: 'cv', network: 0, mac: parseMac('02:42:ac:11:00:04'), ip: F.cv, ip6: parseIpv6('fd00:11::4'), vnet: true }, cv).id;
  dp.control.addPublish({ proto: 6, hostIp: 0, hostPort: 8080, targetIp: A.c2, targetPort: 80 });
  dp.control.addPublish({ proto: 17, hostIp: 0, hostPort: 5353, targetIp: A.c2, targetPort: 53 });
  dp.control.setGatewayService('dns', A.host, F.dnsPort);
  dp.control.setGatewayService('pcp', A.host, F.pcpPort);

  const tunnel = new MemoryTunnel();
  const tunnelId = dp.control.setTunnel('vxlan', tunnel, 1500).id;
  dp.control.addNetwork({
    index: 3,
    name: 'ov',
    subnet: parseIpv4('10.20.0.0'),
    prefixLen: 24,
    gatewayIp: F.ovGw,
    gatewayMac: parseMac('02:50:00:00:10:01'),
    mtu: 1450,
    internal: false,
    vni: OVERLAY_VNI,
    // dual stack: IPv6 from the overlay's endpoint goes through the gateway's NDP and ping
    ipv6: { subnet: parseIpv6('fd00:14::'), prefixLen: 64, gatewayIp: parseIpv6('fd00:14::1'), nat: true },
  });
  dp.control.addPeer(3, F.vtepPeer);
  const ov = new MemoryPort();
  const ovId = dp.control.addEndpoint({ name: 'ov', network: 3, mac: parseMac('02:42:0a:14:00:02'), ip: F.ov, ip6: parseIpv6('fd00:14::2') }, ov).id;
  dp.control.addRemoteEndpoint({ network: 3, ip: F.ovRemote, mac: parseMac('02:42:0a:14:00:03'), vtepIp: F.vtepRemote });
  // services: TCP and UDP on the bridge (c1 and c2 backends, so c1 and c2 may hairpin; affinity on UDP),
  // one on the overlay (the local and the remote endpoint), the uplink's 8081 published to the TCP one
  dp.control.setServiceRange(parseIpv4('10.96.0.0'), 16);
  const local = (ip: number) => ({ ip, local: true });
  dp.control.setService({ slot: 0, network: 0, proto: 6, vip: F.vip, port: 80, targetPort: 80, affinityMs: 0, backends: [local(A.c1), local(A.c2)] });
  dp.control.setService({ slot: 1, network: 0, proto: 17, vip: F.vip, port: 53, targetPort: 53, affinityMs: 10_000, backends: [local(A.c2)] });
  dp.control.setService({ slot: 2, network: 3, proto: 6, vip: F.vipOverlay, port: 80, targetPort: 80, affinityMs: 0, backends: [local(F.ov), { ip: F.ovRemote, local: false }] });
  dp.control.addPublish({ proto: 6, hostIp: 0, hostPort: 8081, targetIp: F.vip, targetPort: 80 });
  // the LAN of a parent: 'lan' untagged (bridge mode, host access, dual stack), 'lan50' its VLAN 50 (vepa)
  const lan = (index: number, name: string, subnet: string, mode: 'bridge' | 'vepa', ipv6: boolean) =>
    dp.control.addNetwork({
      index,
      name,
      subnet: parseIpv4(subnet),
      prefixLen: 24,
      gatewayIp: 0,
      gatewayMac: parseMac('02:50:00:00:00:40'),
      mtu: 1500,
      internal: false,
      macvlan: { mode, hostAccess: mode === 'bridge' },
      ...(ipv6 ? { ipv6: { subnet: parseIpv6('fd00:40::'), prefixLen: 64, gatewayIp: [0, 0, 0, 0], nat: false } } : {}),
    });
  lan(4, 'lan', '192.168.40.0', 'bridge', true);
  lan(5, 'lan50', '192.168.50.0', 'vepa', false);
  const parent = new MemoryParent();
  dp.control.addParent(0, parent);
  const p40 = dp.control.addParentPort({ parent: 0, vlan: 0, network: 4, name: 'eth9', mtu: 1500 }).id;
  const p50 = dp.control.addParentPort({ parent: 0, vlan: 50, network: 5, name: 'eth9.50', mtu: 1500 }).id;
  const mv = new MemoryPort();
  const mvId = dp.control.addEndpoint({ name: 'mv', network: 4, mac: parseMac('02:42:c0:a8:28:0a'), ip: F.mv, ip6: parseIpv6('fd00:40::a') }, mv).id;
  const mv50 = new MemoryPort();
  const mv50Id = dp.control.addEndpoint({ name: 'mv50', network: 5, mac: parseMac('02:42:c0:a8:32:0a'), ip: F.mv50 }, mv50).id;
  // a routed overlay (VNI 1): this host's subnet, the peer VTEP leasing 10.244.2.0/24, the host's address on the range
  dp.control.addNetwork({
    index: 6,
    name: 'flat',
    subnet: parseIpv4('10.244.1.0'),
    prefixLen: 24,
    gatewayIp: F.rtGw,
    gatewayMac: parseMac('02:aa:00:00:01:00'),
    mtu: 1450,
    internal: false,
    vni: 1,
    routed: true,
  });
  dp.control.addHostRoute(parseIpv4('10.244.1.0'), 32);
  dp.control.addRemoteSubnet({ network: 6, subnet: parseIpv4('10.244.2.0'), prefixLen: 24, vtepIp: F.vtepPeer, vtepMac: parseMac('02:bb:00:00:02:00') });
  const rt = new MemoryPort();
  const rtId = dp.control.addEndpoint({ name: 'rt', network: 6, mac: parseMac('02:42:0a:f4:01:02'), ip: F.rt }, rt).id;
  rt.take();
  cv.take();
  ov.take();
  mv.take();
  mv50.take();
  parent.take();
  tunnel.sent.splice(0);
  for (const p of w.all) p.take();

  return {
    dp,
    ports: { c1: w.c1, c2: w.c2, c3: w.c3, cv, ov, host: w.host, uplink: w.uplink, mv, mv50, rt },
    ids: { ...w.ids, cv: cvId, ov: ovId, underlay: tunnelId, mv: mvId, lan: p40, mv50: mv50Id, rt: rtId },
    tunnel,
    parent,
    parentPorts: [p40, p50],
    gatewayIps: new Set([A.bridgeGw, parseIpv4('172.18.0.1'), A.hostGw, F.ovGw, F.rtGw, F.vip, F.vipOverlay]),
    // fe80::1 on the networks; the uplink's link-local is the EUI-64 one of its MAC 02:50:00:00:00:ff
    gatewayIps6: new Set(
      [A6.bridgeGw, A6.backendGw, A6.hostGw, parseIpv6('fd00:14::1'), parseIpv6('fe80::1'), parseIpv6('fe80::50:ff:fe00:ff')].map((a) => ipv6ToString(a)),
    ),
    uplinkIp: A.uplink,
    uplinkIp6: ipv6ToString(A6.uplink),
    gatewayMacs: new Set(['02:50:00:00:00:01', '02:50:00:00:00:02', '02:50:00:00:00:ff', '02:50:00:00:10:01', '02:50:00:00:00:40', '02:aa:00:00:01:00'].map(parseMac)),
  };
}

/**
 * Brings a used fuzz world back to what makeFuzzWorld left (near enough: counters keep counting,
 * the clock moves on): every flow forgotten, an hour passed (learned MACs, neighbours, parked
 * frames and ICMP tokens age out), then the containers' MACs and neighbours and the router's MAC
 * are known again, as after their attachment.
 */
export function settleFuzzWorld(w: FuzzWorld): void {
  const dp = w.dp;
  dp.control.conntrackFlush();
  // Dataplane.tick's work less its conntrack sweep (a fixed 1024-entry walk: the flush did it)
  const now = (dp.now += 3_600_000);
  const counts = { neighbours: 0, neighbours6: 0, parked: 0 };
  for (const net of dp.tables.networks) {
    if (net === undefined) continue;
    net.fdb.sweep(now, dp.options.macAgingMs, 1024);
    dp.resolver.tick(net, now, counts);
  }
  dp.endBatch();
  for (const name of ['c1', 'c2', 'c3', 'cv', 'ov', 'mv', 'mv50', 'rt'] as const) {
    const port = dp.tables.ports[w.ids[name]]!;
    const net = dp.tables.networks[port.network]!;
    net.fdb.learn(port.macHi, port.macLo, port.id, dp.now);
    const n = net.neighbours.get(port.ip) ?? net.neighbours.create(port.ip, dp.now);
    dp.resolver.resolved(net, n, port.macHi, port.macLo);
    if (port.hasIp6) {
      const a = [port.ip6w0, port.ip6w1, port.ip6w2, port.ip6w3] as const;
      dp.resolver.resolved(net, net.neighbours.get6(...a) ?? net.neighbours.create6(...a, dp.now), port.macHi, port.macLo);
    }
  }
  dp.receive(w.ids.uplink, ROUTER_ARP_REPLY);
  // and the router's IPv6 link-local address, as makeNatWorld learnt it
  const up = dp.tables.networks[dp.tables.ports[w.ids.uplink]!.network]!;
  const r = A6.router;
  const rn = up.neighbours.get6(r[0] | 0, r[1] | 0, r[2] | 0, r[3] | 0) ?? up.neighbours.create6(r[0] | 0, r[1] | 0, r[2] | 0, r[3] | 0, dp.now);
  dp.resolver.resolved(up, rn, macHiOf(ROUTER_MAC), macLoOf(ROUTER_MAC));
  w.tunnel.sent.splice(0);
  w.parent.take();
  for (const p of Object.values(w.ports)) p.take();
}
