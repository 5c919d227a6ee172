// `npm run bench`: synthetic frames through the real pipeline (the code the daemon runs) over
// in-memory ports. No root, no devices. For each scenario: packets per second, ns per packet and
// bytes allocated per packet (heap growth over rounds in which no garbage collection ran);
// `--json` prints one JSON object instead of the table.

import { PerformanceObserver } from 'node:perf_hooks';
import { Dataplane } from '../src/dataplane/dataplane.js';
import { MemoryParent, MemoryPort, MemoryTunnel } from '../src/ports/memory-port.js';
import { parseIpv4 } from '../src/wire/ipv4-address.js';
import { parseIpv6 } from '../src/wire/ipv6-address.js';
import { parseMac } from '../src/wire/mac.js';
import { TCP_ACK, TCP_SYN } from '../src/wire/tcp.js';
import { VNET_GSO_TCPV4 } from '../src/wire/virtio-net.js';
import { VXLAN_HLEN, writeVxlanHeader } from '../src/wire/vxlan.js';
import { emitNeighbourAdvertisement } from '../src/wire/ndp.js';
import { DATA, icmpEchoFrame, tcp6Frame, tcpFrame, udp6Frame, udpFrame } from './frames.js';

const BATCH = 64;
const GW = '02:50:00:00:00:01';
const UP = '02:50:00:00:00:ff';
const ROUTER = '02:00:5e:00:00:01';
const C1 = { mac: '02:42:ac:11:00:02', ip: '172.17.0.2', port: 40000 };
const C2 = { mac: '02:42:ac:11:00:03', ip: '172.17.0.3', port: 5201 };
const X10 = { mac: ROUTER, ip: '203.0.113.10', port: 80 };
/** the same two containers' IPv6 sides on the dual-stack bridge, and the host's on the TUN link */
const C1_6 = { mac: C1.mac, ip: 'fd00:17::2', port: 40000 };
const C2_6 = { mac: C2.mac, ip: 'fd00:17::3', port: 5201 };
const HOST6 = { mac: '', ip: 'fd00:ffff::1', port: 9 };
/** a far host over IPv6, and the uplink's IPv6 address (NAT66 masquerades to it) */
const X10_6 = { mac: ROUTER, ip: '2001:db8:77::10', port: 80 };
const UP6 = '2001:db8:64::2';
const REMOTE = { mac: '02:42:0a:14:00:03', ip: '10.20.0.3', port: 5201 };
const VTEP = parseIpv4('10.199.0.2');
/** the same peer VTEP on an IPv6 underlay (the vxlan_decap6 world), as the socket reads its words: int32 */
const VTEP6 = parseIpv6('fd00:199::2');
const VTEP6_W = VTEP6.map((w) => w | 0) as unknown as readonly [number, number, number, number];
/** a container on the overlay whose TAP takes offloads, and its peer on another host */
const O2 = { mac: '02:42:0a:14:00:04', ip: '10.20.0.4', port: 5201 };
const REMOTE2 = { mac: '02:42:0a:14:00:05', ip: '10.20.0.5', port: 40000 };
/** a container on the macvlan network (VLAN 50), a host on its LAN and the LAN's router */
const M1 = { mac: '02:42:c0:a8:32:0a', ip: '192.168.50.10', port: 40000 };
const LAN_HOST = { mac: '02:00:5e:00:32:50', ip: '192.168.50.50', port: 5201 };
const LAN_ROUTER_MAC = '02:00:5e:00:32:01';
/** a TCP super segment from a TAP: 46 segments of the MSS of an overlay (MTU 1450, timestamps off) */
const TSO_MSS = 1410;
const TSO_PAYLOAD = 46 * TSO_MSS;
/** segments the sender's TSO burst of TSO_PAYLOAD bytes became, as they arrive from the underlay */
const GRO_BURST = 46;

/** the routed overlay: this host's VTEP MAC (its gateway's), its container r1, a container of the peer's subnet */
const ROUTED_GW_MAC = '02:01:c0:00:02:01';
const R1 = { mac: '02:42:0a:f4:01:02', ip: '10.244.1.2', port: 40000 };
const ROUTED_PEER = { mac: '02:01:c0:00:02:02', vtepMac: '02:01:c0:00:02:02', ip: '10.244.2.5', port: 5201 };

/** `underlay6`: the VXLAN underlay is IPv6 and the remote endpoints are behind VTEP6 */
function world(underlay6 = false) {
  const dp = new Dataplane({ conntrackMax: 1 << 20 });
  dp.now = 1;
  dp.control.addNetwork({
    index: 0,
    name: 'bridge',
    subnet: parseIpv4('172.17.0.0'),
    prefixLen: 16,
    gatewayIp: parseIpv4('172.17.0.1'),
    gatewayMac: parseMac(GW),
    mtu: 1500,
    internal: false,
    ipv6: { subnet: parseIpv6('fd00:17::'), prefixLen: 64, gatewayIp: parseIpv6('fd00:17::1'), nat: true },
  });
  dp.control.addNetwork({
    index: 1,
    name: 'overlay',
    subnet: parseIpv4('10.20.0.0'),
    prefixLen: 24,
    gatewayIp: parseIpv4('10.20.0.1'),
    gatewayMac: parseMac('02:50:fe:00:10:2a'),
    mtu: 1450,
    internal: false,
    vni: 42,
  });
  const ports = { host: new MemoryPort(), c1: new MemoryPort(), c2: new MemoryPort(), up: new MemoryPort(), o1: new MemoryPort(), o2: new MemoryPort() };
  const tunnel = new MemoryTunnel();
  const ids = {
    host: dp.control.addHostPort(
      {
        name: 'host',
        hostIp: parseIpv4('10.254.0.1'),
        gatewayIp: parseIpv4('10.254.0.2'),
        prefixLen: 30,
        mtu: 1500,
        defaultRoute: false,
        ipv6: { hostIp: parseIpv6(HOST6.ip), gatewayIp: parseIpv6('fd00:ffff::2'), prefixLen: 64 },
      },
      ports.host,
    ).id,
    c1: dp.control.addEndpoint({ name: 'c1', network: 0, mac: parseMac(C1.mac), ip: parseIpv4(C1.ip), ip6: parseIpv6(C1_6.ip) }, ports.c1).id,
    c2: dp.control.addEndpoint({ name: 'c2', network: 0, mac: parseMac(C2.mac), ip: parseIpv4(C2.ip), ip6: parseIpv6(C2_6.ip) }, ports.c2).id,
    up: dp.control.addUplink(
      {
        index: 2,
        name: 'up',
        ip: parseIpv4('198.51.100.2'),
        prefixLen: 24,
        mac: parseMac(UP),
        gatewayIp: parseIpv4('198.51.100.1'),
        mtu: 1500,
        ipv6: { ip: parseIpv6(UP6), prefixLen: 64, gatewayIp: parseIpv6('2001:db8:64::1') },
      },
      ports.up,
    ).id,
    o1: dp.control.addEndpoint({ name: 'o1', network: 1, mac: parseMac('02:42:0a:14:00:02'), ip: parseIpv4('10.20.0.2') }, ports.o1).id,
    o2: dp.control.addEndpoint({ name: 'o2', network: 1, mac: parseMac(O2.mac), ip: parseIpv4(O2.ip), vnet: true }, ports.o2).id,
  };
  // a macvlan network on VLAN 50 of a parent: containers on the LAN
  dp.control.addNetwork({
    index: 3,
    name: 'lan',
    subnet: parseIpv4('192.168.50.0'),
    prefixLen: 24,
    gatewayIp: 0,
    gatewayMac: parseMac('02:50:00:00:00:40'),
    mtu: 1500,
    internal: false,
    macvlan: { mode: 'bridge', hostAccess: false },
  });
  const parent = new MemoryParent();
  parent.keep = false;
  dp.control.addParent(0, parent);
  dp.control.addParentPort({ parent: 0, vlan: 50, network: 3, name: 'eth0.50', mtu: 1500 });
  const m1 = new MemoryPort();
  m1.keep = false;
  const m1Id = dp.control.addEndpoint({ name: 'm1', network: 3, mac: parseMac(M1.mac), ip: parseIpv4(M1.ip) }, m1).id;
  dp.control.setTunnel('vxlan', tunnel, 1500, underlay6);
  const vtepIp = underlay6 ? VTEP6 : VTEP;
  dp.control.addRemoteEndpoint({ network: 1, ip: parseIpv4(REMOTE.ip), mac: parseMac(REMOTE.mac), vtepIp });
  dp.control.addRemoteEndpoint({ network: 1, ip: parseIpv4(REMOTE2.ip), mac: parseMac(REMOTE2.mac), vtepIp });
  // a routed overlay (VNI 1): this host's 10.244.1.0/24 with container r1, the peer VTEP leasing 10.244.2.0/24
  dp.control.addNetwork({
    index: 4,
    name: 'flat',
    subnet: parseIpv4('10.244.1.0'),
    prefixLen: 24,
    gatewayIp: parseIpv4('10.244.1.1'),
    gatewayMac: parseMac(ROUTED_GW_MAC),
    mtu: 1450,
    internal: false,
    vni: 1,
    routed: true,
  });
  dp.control.addRemoteSubnet({ network: 4, subnet: parseIpv4('10.244.2.0'), prefixLen: 24, vtepIp, vtepMac: parseMac(ROUTED_PEER.vtepMac) });
  const r1 = new MemoryPort();
  r1.keep = false;
  const r1Id = dp.control.addEndpoint({ name: 'r1', network: 4, mac: parseMac(R1.mac), ip: parseIpv4(R1.ip) }, r1).id;
  // the router's MAC, so nothing waits for ARP
  const arp = Buffer.from('0250000000ff02005e0000010806000108000604000202005e000001c63364010250000000ffc6336402', 'hex');
  dp.receive(ids.up, arp);
  return { dp, ports: { ...ports, m1, r1 }, tunnel, parent, ids: { ...ids, m1: m1Id, r1: r1Id } };
}

type World = ReturnType<typeof world>;

/** A service's VIP on the bridge network (services.cidr's kind of address). */
const VIP = { mac: GW, ip: '10.96.0.10', port: 80 };

/** The service VIP:80 (TCP), or VIP:53 and :54 (UDP), with c2 as its one backend on port 5201. */
function serviceOf(w: World, proto: 6 | 17 = 6): void {
  const backends = [{ ip: parseIpv4(C2.ip), local: true }];
  const vip = parseIpv4(VIP.ip);
  if (proto === 6) {
    w.dp.control.setService({ slot: 0, network: 0, proto, vip, port: 80, targetPort: 5201, affinityMs: 0, backends });
    return;
  }
  w.dp.control.setService({ slot: 1, network: 0, proto, vip, port: 53, targetPort: 5201, affinityMs: 0, backends });
  w.dp.control.setService({ slot: 2, network: 0, proto, vip, port: 54, targetPort: 5201, affinityMs: 0, backends });
}

/** The TCP service and one handshake through it: c1 to the VIP, c2's answer switched back to c1 (translated in the switch). */
function serviceFlow(w: World): void {
  const { dp, ids } = w;
  serviceOf(w);
  dp.receive(ids.c1, tcpFrame(C1, VIP, GW, TCP_SYN, 1000, 0, 0));
  dp.receive(ids.c2, tcpFrame({ ...C2, port: 5201 }, { ...C1 }, C1.mac, TCP_SYN | TCP_ACK, 5000, 1001, 0));
  dp.receive(ids.c1, tcpFrame(C1, VIP, GW, TCP_ACK, 1001, 5001, 0));
}

interface Scenario {
  name: string;
  what: string;
  /** sets the world up (handshakes) and returns a function that feeds packet i */
  prepare(w: World): { port: number; frames: Buffer[]; tun?: boolean; tunnelIn?: boolean; tso?: number; parentVlan?: number };
  /** counter to check that frames came out where they should */
  sink(w: World): () => number;
  /** packets per round when not the default (scenarios that move 64 KiB per packet) */
  packets?: number;
  /** the world's underlay is IPv6 (datagrams come from VTEP6) */
  underlay6?: boolean;
}

/** A VXLAN datagram (header and inner frame) as a peer VTEP sends it. */
function vxlanDatagram(inner: Buffer, vni: number): Buffer {
  const d = Buffer.alloc(VXLAN_HLEN + inner.length);
  writeVxlanHeader(d, 0, vni);
  inner.copy(d, VXLAN_HLEN);
  return d;
}

/** scenarios whose frames each start a flow: the table is emptied before every round */
const NEW_FLOWS = new Set(['nat_new_flows', 'service_new_flows']);

const SCENARIOS: Scenario[] = [
  {
    name: 'l2_switching',
    what: 'container to container on one network (fdb lookup, unchanged frame)',
    prepare: (w) => ({ port: w.ids.c1, frames: [udpFrame(C1, C2, C2.mac, 64)] }),
    sink: (w) => () => w.ports.c2.count,
  },
  {
    name: 'l3_routing',
    what: 'container to the host (TTL, checksum update, route lookup)',
    prepare: (w) => ({ port: w.ids.c1, frames: [udpFrame(C1, { mac: '', ip: '10.254.0.1', port: 9 }, GW, 64)] }),
    sink: (w) => () => w.ports.host.count,
  },
  {
    name: 'l2_switching_v6',
    what: 'the same over IPv6 (anti-spoofing of the IPv6 source, fdb lookup)',
    prepare: (w) => ({ port: w.ids.c1, frames: [udp6Frame(C1_6, C2_6, C2.mac, 64)] }),
    sink: (w) => () => w.ports.c2.count,
  },
  {
    name: 'l3_routing_v6',
    what: 'container to the host over IPv6 (hop limit, route lookup in the IPv6 table, no checksum to update)',
    prepare: (w) => ({ port: w.ids.c1, frames: [udp6Frame(C1_6, HOST6, GW, 64)] }),
    sink: (w) => () => w.ports.host.count,
  },
  {
    name: 'nat_established',
    what: 'masquerade of an established TCP flow (conntrack lookup, TCP tracking, NAT rewrite)',
    prepare: (w) => {
      const { dp, ids } = w;
      dp.receive(ids.c1, tcpFrame(C1, X10, GW, TCP_SYN, 1000, 0, 0));
      const synAck = tcpFrame({ ...X10, mac: ROUTER }, { mac: UP, ip: '198.51.100.2', port: C1.port }, UP, TCP_SYN | TCP_ACK, 5000, 1001, 0);
      dp.receive(ids.up, synAck);
      dp.receive(ids.c1, tcpFrame(C1, X10, GW, TCP_ACK, 1001, 5001, 0));
      return { port: ids.c1, frames: [tcpFrame(C1, X10, GW, DATA, 1001, 5001, 64)] };
    },
    sink: (w) => () => w.ports.up.count,
  },
  {
    name: 'nat66_established',
    what: 'the same over IPv6: NAT66 of an established TCP flow (four-word tuple lookup, address words and ports rewritten, TCP checksum updated)',
    prepare: (w) => {
      const { dp, ids } = w;
      dp.receive(ids.c1, tcp6Frame(C1_6, X10_6, GW, TCP_SYN, 1000, 0, 0));
      // the router's IPv6 address answers the gateway's solicitation, so nothing waits for NDP
      const na = Buffer.alloc(128);
      const len = emitNeighbourAdvertisement(na, 0, {
        srcMac: parseMac(ROUTER),
        dstMac: parseMac(UP),
        src: parseIpv6('2001:db8:64::1'),
        dst: parseIpv6(UP6),
        target: parseIpv6('2001:db8:64::1'),
        router: true,
        solicited: true,
        override: true,
        targetMac: parseMac(ROUTER),
      });
      dp.receive(ids.up, na.subarray(0, len));
      const synAck = tcp6Frame({ ...X10_6, mac: ROUTER }, { mac: UP, ip: UP6, port: C1_6.port }, UP, TCP_SYN | TCP_ACK, 5000, 1001, 0);
      dp.receive(ids.up, synAck);
      dp.receive(ids.c1, tcp6Frame(C1_6, X10_6, GW, TCP_ACK, 1001, 5001, 0));
      return { port: ids.c1, frames: [tcp6Frame(C1_6, X10_6, GW, DATA, 1001, 5001, 64)] };
    },
    sink: (w) => () => w.ports.up.count,
  },
  {
    name: 'nat_icmp_echo',
    what: 'ping through the masquerade: echo requests of one flow out (conntrack lookup by identifier, identifier and address rewrite)',
    prepare: (w) => ({ port: w.ids.c1, frames: [icmpEchoFrame(C1, X10, GW, 8, 77)] }),
    sink: (w) => () => w.ports.up.count,
  },
  {
    name: 'nat_new_flows',
    what: 'a new masqueraded UDP flow per packet (conntrack insert, port mapping)',
    prepare: (w) => {
      const frames: Buffer[] = [];
      // 100,000 distinct flows (source port x destination), created anew each round
      for (let i = 0; i < 100_000; i++) {
        frames.push(udpFrame({ ...C1, port: 10000 + (i % 50_000) }, { ...X10, ip: `203.0.113.${10 + Math.floor(i / 50_000)}`, port: 53 }, GW, 32));
      }
      return { port: w.ids.c1, frames };
    },
    sink: (w) => () => w.ports.up.count,
  },
  {
    name: 'service_vip',
    what: 'a service: an established TCP flow from c1 to a VIP, DNATed to its backend c2 (conntrack lookup, TCP tracking, rewrite, per-backend bytes)',
    prepare: (w) => {
      serviceFlow(w);
      return { port: w.ids.c1, frames: [tcpFrame(C1, VIP, GW, DATA, 1001, 5001, 64)] };
    },
    sink: (w) => () => w.ports.c2.count,
  },
  {
    name: 'service_reply',
    what: "a service's reply switched from the backend to a client on its segment, translated back to the VIP on the way (backend set check, conntrack lookup, TCP tracking, rewrite)",
    prepare: (w) => {
      serviceFlow(w);
      return { port: w.ids.c2, frames: [tcpFrame({ ...C2, port: 5201 }, { ...C1 }, C1.mac, DATA, 5001, 1001, 64)] };
    },
    sink: (w) => () => w.ports.c1.count,
  },
  {
    name: 'service_new_flows',
    what: 'a new UDP flow to a service VIP per packet (service lookup, uniform backend choice, conntrack insert)',
    prepare: (w) => {
      serviceOf(w, 17);
      const frames: Buffer[] = [];
      for (let i = 0; i < 100_000; i++) frames.push(udpFrame({ ...C1, port: 10000 + (i % 50_000) }, { ...VIP, port: 53 + Math.floor(i / 50_000) }, GW, 32));
      return { port: w.ids.c1, frames };
    },
    sink: (w) => () => w.ports.c2.count,
  },
  {
    name: 'vxlan_encap',
    what: 'overlay: container to a remote endpoint (VXLAN header in headroom, to its VTEP)',
    prepare: (w) => ({ port: w.ids.o1, frames: [udpFrame({ mac: '02:42:0a:14:00:02', ip: '10.20.0.2', port: 1 }, REMOTE, REMOTE.mac, 64)] }),
    sink: (w) => () => w.tunnel.count,
  },
  {
    name: 'vxlan_decap',
    what: 'overlay: datagram from a peer VTEP to a local container (VNI, VTEP check, learning)',
    prepare: (w) => {
      const inner = udpFrame(REMOTE, { mac: '02:42:0a:14:00:02', ip: '10.20.0.2', port: 1 }, '02:42:0a:14:00:02', 64);
      return { port: -1, frames: [vxlanDatagram(inner, 42)], tunnelIn: true };
    },
    sink: (w) => () => w.ports.o1.count,
  },
  {
    name: 'vxlan_decap6',
    what: 'overlay over an IPv6 underlay: datagram from a peer VTEP found by its source words (as the udp6 socket does), to a local container',
    prepare: (w) => {
      const inner = udpFrame(REMOTE, { mac: '02:42:0a:14:00:02', ip: '10.20.0.2', port: 1 }, '02:42:0a:14:00:02', 64);
      return { port: -1, frames: [vxlanDatagram(inner, 42)], tunnelIn: true };
    },
    sink: (w) => () => w.ports.o1.count,
    underlay6: true,
  },
  {
    name: 'routed_encap',
    what: "routed overlay: a container to another host's subnet (route lookup, TTL, inner frame to the peer's VTEP MAC, VXLAN header in headroom)",
    prepare: (w) => ({ port: w.ids.r1, frames: [udpFrame(R1, ROUTED_PEER, ROUTED_GW_MAC, 64)] }),
    sink: (w) => () => w.tunnel.count,
  },
  {
    name: 'routed_decap',
    what: "routed overlay: a datagram from the peer's subnet to a local container (VTEP MAC, leased source, route, TTL, neighbour)",
    prepare: () => ({ port: -1, frames: [vxlanDatagram(udpFrame(ROUTED_PEER, R1, ROUTED_GW_MAC, 64), 1)], tunnelIn: true }),
    sink: (w) => () => w.ports.r1.count,
  },
  {
    name: 'macvlan_from_lan',
    what: 'macvlan: a frame from the LAN on VLAN 50 of the parent (the tag beside it, as the socket reports it) to its container (VLAN demux, MAC lookup, IPv4 check)',
    prepare: () => ({ port: -1, frames: [udpFrame(LAN_HOST, M1, M1.mac, 64)], parentVlan: 50 }),
    sink: (w) => () => w.ports.m1.count,
  },
  {
    name: 'macvlan_to_lan',
    what: "macvlan: a container's frame to its LAN router, out of the parent on VLAN 50 (anti-spoofing, to the parent's queue)",
    prepare: (w) => ({ port: w.ids.m1, frames: [udpFrame(M1, LAN_HOST, LAN_ROUTER_MAC, 64)] }),
    sink: (w) => () => w.parent.count,
  },
  {
    name: 'vxlan_encap_tso',
    what: `overlay: a ${TSO_PAYLOAD >> 10} KiB TCP super segment cut into ${TSO_PAYLOAD / TSO_MSS} segments with checksums, to the underlay's queue`,
    prepare: (w) => ({ port: w.ids.o2, frames: [tcpFrame(O2, REMOTE2, REMOTE2.mac, DATA, 1, 1, TSO_PAYLOAD)], tso: TSO_MSS }),
    sink: (w) => () => w.tunnel.count / (TSO_PAYLOAD / TSO_MSS),
    packets: 20_000,
  },
  {
    name: 'vxlan_decap_gro',
    what: `overlay: MSS-sized TCP segments from a peer VTEP, checksums checked and coalesced ${GRO_BURST} to one super segment for a TAP with offloads`,
    prepare: () => {
      const frames: Buffer[] = [];
      // 20 bursts of GRO_BURST consecutive segments, the last of each with PSH (as TSO leaves them)
      for (let i = 0; i < 20 * GRO_BURST; i++) {
        const last = i % GRO_BURST === GRO_BURST - 1;
        const inner = tcpFrame(REMOTE2, O2, O2.mac, last ? DATA : TCP_ACK, 1 + i * TSO_MSS, 1, TSO_MSS);
        frames.push(vxlanDatagram(inner, 42));
      }
      return { port: -1, frames, tunnelIn: true };
    },
    sink: (w) => () => w.ports.o2.count * GRO_BURST,
  },
];

let gcCount = 0;
new PerformanceObserver((list) => {
  gcCount += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });

/**
 * Runs `n` frames as the worker does: copy into a pool slot (the read), input, end of batch every
 * 64. With `tso`, each frame comes as a TCP super segment of that MSS with a partial checksum.
 */
function run(dp: Dataplane, port: number, frames: Buffer[], tunnelIn: boolean, n: number, start: number, tso = 0, parentVlan = -2): void {
  const pool = dp.pool;
  const vteps = dp.tables.vteps;
  const six = dp.tables.underlayIpv6;
  const slab = pool.slab;
  const count = frames.length;
  for (let i = 0; i < n; ) {
    for (let k = 0; k < BATCH && i < n; k++, i++) {
      const f = frames[(start + i) % count];
      const off = pool.alloc();
      if (tunnelIn) {
        f.copy(slab, off - VXLAN_HLEN);
        // the source's VTEP index, looked up per datagram as the underlay socket does (rxVtep)
        const vtep = six ? vteps.indexOf6(VTEP6_W[0], VTEP6_W[1], VTEP6_W[2], VTEP6_W[3]) : vteps.indexOf4(VTEP);
        dp.inputTunnel(slab, off - VXLAN_HLEN, f.length, vtep);
      } else if (parentVlan >= -1) {
        f.copy(slab, off);
        dp.inputParent(0, slab, off, f.length, parentVlan);
      } else if (tso > 0) {
        f.copy(slab, off);
        dp.frame.gsoType = VNET_GSO_TCPV4;
        dp.frame.gsoSize = tso;
        dp.frame.needsCsum = 1;
        dp.frame.csumStart = 34;
        dp.frame.csumOffset = 16;
        dp.input(port, slab, off, f.length);
        dp.frame.clearOffload();
      } else {
        f.copy(slab, off);
        dp.input(port, slab, off, f.length);
      }
    }
    dp.endBatch();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

interface Result {
  pps: number;
  nsPerPacket: number;
  bytesAllocatedPerPacket: number | null;
}

function measure(sc: Scenario, packets: number, rounds: number): Result {
  const w = world(sc.underlay6 === true);
  const { port, frames, tunnelIn = false, tso = 0, parentVlan = -2 } = sc.prepare(w);
  const perRound = sc.packets ?? packets;
  for (const p of Object.values(w.ports)) {
    p.keep = false;
    p.take();
  }
  w.tunnel.keep = false;
  const out = sc.sink(w);
  const before = out();
  const check = Math.min(1000, perRound);
  run(w.dp, port, frames, tunnelIn, check, 0, tso, parentVlan);
  if (out() - before < check) throw new Error(`${sc.name}: ${out() - before} of ${check} frames came out where expected`);
  const warm = Math.min(200_000, perRound);
  run(w.dp, port, frames, tunnelIn, warm, check, tso, parentVlan);
  const times: number[] = [];
  const allocs: number[] = [];
  let start = check + warm;
  for (let r = 0; r < rounds; r++) {
    if (NEW_FLOWS.has(sc.name)) {
      w.dp.tables.conntrack.flush(); // every round creates its flows anew (outside the timing)
      start = 0;
    }
    const gc0 = gcCount;
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = process.hrtime.bigint();
    const n = NEW_FLOWS.has(sc.name) ? Math.min(perRound, frames.length) : perRound;
    run(w.dp, port, frames, tunnelIn, n, start, tso, parentVlan);
    const t1 = process.hrtime.bigint();
    const heap1 = process.memoryUsage().heapUsed;
    start += n;
    times.push(Number(t1 - t0) / n);
    if (gcCount === gc0) allocs.push(Math.max(0, heap1 - heap0) / n);
  }
  const ns = median(times);
  return {
    pps: Math.round(1e9 / ns),
    nsPerPacket: Math.round(ns * 10) / 10,
    bytesAllocatedPerPacket: allocs.length > 0 ? Math.round(median(allocs) * 100) / 100 : null,
  };
}

const json = process.argv.includes('--json');
const packets = Number(process.env.BENCH_PACKETS ?? 1_000_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const results: Record<string, Result> = {};
// BENCH_ONLY=name,name runs only those scenarios (profiling one path)
const only = process.env.BENCH_ONLY?.split(',');
const chosen = SCENARIOS.filter((sc) => only === undefined || only.includes(sc.name));
for (const sc of chosen) results[sc.name] = measure(sc, packets, rounds);
if (json) {
  console.log(JSON.stringify({ node: process.version, packetsPerRound: packets, rounds, results }));
} else {
  console.log(`pontoon native-free benchmark: ${packets} packets x ${rounds} rounds per scenario (median), node ${process.version}`);
  console.log('SCENARIO           PACKETS/S   NS/PACKET  BYTES ALLOC/PACKET  WHAT');
  for (const sc of chosen) {
    const r = results[sc.name];
    console.log(
      `${sc.name.padEnd(18)} ${String(r.pps).padStart(9)}  ${String(r.nsPerPacket).padStart(9)}  ${String(r.bytesAllocatedPerPacket ?? 'n/a').padStart(18)}  ${sc.what}`,
    );
  }
}
