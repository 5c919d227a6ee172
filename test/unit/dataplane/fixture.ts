// A small world for data-plane tests: two networks, three container ports and the host port,
// all in-memory, with the addresses used by the literal frames in the tests.

import type { Network } from '../../../src/dataplane/network.js';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import type { DataplaneOptions } from '../../../src/dataplane/options.js';
import type { TableMemory } from '../../../src/dataplane/table-memory.js';
import { MemoryPort, MemoryTunnel } from '../../../src/ports/memory-port.js';
import { parseIpv4 } from '../../../src/wire/ipv4-address.js';
import { type Ipv6Words, parseIpv6 } from '../../../src/wire/ipv6-address.js';
import { macHiOf, macLoOf, parseMac } from '../../../src/wire/mac.js';

export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

export interface World {
  dp: Dataplane;
  host: MemoryPort;
  c1: MemoryPort;
  c2: MemoryPort;
  c3: MemoryPort;
  ids: { host: number; c1: number; c2: number; c3: number };
}

/**
 * The IPv6 sides of the world when it is made dual stack (`{ ipv6: true }`): the bridge fd00:11::/64
 * (c1 ::2, c2 ::3), the backend fd00:12::/64 (c3 ::2), the host link fd00:ffff::1/64 (gateway ::2).
 */
export const A6 = {
  bridge: parseIpv6('fd00:11::'),
  bridgeGw: parseIpv6('fd00:11::1'),
  c1: parseIpv6('fd00:11::2'),
  c2: parseIpv6('fd00:11::3'),
  backend: parseIpv6('fd00:12::'),
  backendGw: parseIpv6('fd00:12::1'),
  c3: parseIpv6('fd00:12::2'),
  host: parseIpv6('fd00:ffff::1'),
  hostGw: parseIpv6('fd00:ffff::2'),
  /** the uplink's IPv6 address (makeNatWorld with ipv6), its router's link-local one */
  uplink: parseIpv6('2001:db8:64::2'),
  router: parseIpv6('fe80::1'),
  far: parseIpv6('2001:db8:77::10'),
} as const;

export function makeWorld(options: Partial<DataplaneOptions> = {}, bridgeMtu = 1500, tableMemory?: TableMemory, { ipv6 = false } = {}): World {
  const dp = new Dataplane(options, undefined, tableMemory);
  dp.now = 1_000_000;
  dp.control.addNetwork({
    index: 0,
    name: 'bridge',
    subnet: parseIpv4('172.17.0.0'),
    prefixLen: 16,
    gatewayIp: parseIpv4('172.17.0.1'),
    gatewayMac: parseMac('02:50:00:00:00:01'),
    mtu: bridgeMtu,
    internal: false,
    ...(ipv6 ? { ipv6: { subnet: A6.bridge, prefixLen: 64, gatewayIp: A6.bridgeGw, nat: true } } : {}),
  });
  dp.control.addNetwork({
    index: 1,
    name: 'backend',
    subnet: parseIpv4('172.18.0.0'),
    prefixLen: 16,
    gatewayIp: parseIpv4('172.18.0.1'),
    gatewayMac: parseMac('02:50:00:00:00:02'),
    mtu: 1500,
    internal: false,
    ...(ipv6 ? { ipv6: { subnet: A6.backend, prefixLen: 64, gatewayIp: A6.backendGw, nat: true } } : {}),
  });
  const host = new MemoryPort();
  const c1 = new MemoryPort();
  const c2 = new MemoryPort();
  const c3 = new MemoryPort();
  const hostId = dp.control.addHostPort(
    {
      name: 'pontoon0',
      hostIp: parseIpv4('10.254.0.1'),
      gatewayIp: parseIpv4('10.254.0.2'),
      prefixLen: 30,
      mtu: 1500,
      defaultRoute: true,
      ...(ipv6 ? { ipv6: { hostIp: A6.host, gatewayIp: A6.hostGw, prefixLen: 64 } } : {}),
    },
    host,
  ).id;
  const ep = (name: string, network: number, mac: string, ip: string, io: MemoryPort, ip6: Ipv6Words): number =>
    dp.control.addEndpoint({ name, network, mac: parseMac(mac), ip: parseIpv4(ip), ...(ipv6 ? { ip6 } : {}) }, io).id;
  const ids = {
    host: hostId,
    c1: ep('c1', 0, '02:42:ac:11:00:02', '172.17.0.2', c1, A6.c1),
    c2: ep('c2', 0, '02:42:ac:11:00:03', '172.17.0.3', c2, A6.c2),
    c3: ep('c3', 1, '02:42:ac:12:00:02', '172.18.0.2', c3, A6.c3),
  };
  for (const p of [host, c1, c2, c3]) p.take(); // gratuitous ARPs of the attachments
  return { dp, host, c1, c2, c3, ids };
}

// ---- the NAT world: the same networks plus an uplink to the outside -----------------------------

/** Addresses of the NAT world, as the data plane's uint32 numbers. */
export const A = {
  c1: parseIpv4('172.17.0.2'),
  c2: parseIpv4('172.17.0.3'),
  c3: parseIpv4('172.18.0.2'),
  bridgeGw: parseIpv4('172.17.0.1'),
  host: parseIpv4('10.254.0.1'),
  hostGw: parseIpv4('10.254.0.2'),
  uplink: parseIpv4('198.51.100.2'),
  router: parseIpv4('198.51.100.1'),
  x10: parseIpv4('203.0.113.10'),
  x20: parseIpv4('203.0.113.20'),
} as const;

// Frames produced with scapy (/usr/bin/python3), as in pipeline.test.ts.
/** the router (198.51.100.1, 02:00:5e:00:00:01) tells the uplink its MAC.
 *  scapy: Ether(dst='02:50:00:00:00:ff', src='02:00:5e:00:00:01')/ARP(op=2, hwsrc='02:00:5e:00:00:01', psrc='198.51.100.1', hwdst='02:50:00:00:00:ff', pdst='198.51.100.2') */
export const ROUTER_ARP_REPLY = hex('0250000000ff02005e0000010806000108000604000202005e000001c63364010250000000ffc6336402');
/** the gratuitous ARP the uplink sends when it is attached.
 *  scapy: Ether(dst='ff:ff:ff:ff:ff:ff', src='02:50:00:00:00:ff')/ARP(op=1, hwsrc='02:50:00:00:00:ff', psrc='198.51.100.2', pdst='198.51.100.2') */
export const UPLINK_GARP = hex('ffffffffffff0250000000ff080600010800060400010250000000ffc6336402000000000000c6336402');
/** the uplink asks for the router.
 *  scapy: Ether(dst='ff:ff:ff:ff:ff:ff', src='02:50:00:00:00:ff')/ARP(op=1, hwsrc='02:50:00:00:00:ff', psrc='198.51.100.2', pdst='198.51.100.1') */
export const UPLINK_ARP_FOR_ROUTER = hex('ffffffffffff0250000000ff080600010800060400010250000000ffc6336402000000000000c6336401');

export interface NatWorld extends World {
  uplink: MemoryPort;
  ids: World['ids'] & { uplink: number };
  /** every port of the world, to check where frames went */
  all: MemoryPort[];
}

/**
 * makeWorld plus an uplink (network 2, 198.51.100.2/24, MAC 02:50:00:00:00:ff, default route via
 * the router 198.51.100.1; with ipv6 also 2001:db8:64::2/64 via fe80::1). Unless `learnRouter` is
 * false, the router's MAC (02:00:5e:00:00:01) is learned (from an ARP reply, and for IPv6 as an
 * answered solicitation would), so the first packet out is not parked.
 */
export function makeNatWorld(
  options: Partial<DataplaneOptions> = {},
  { learnRouter = true, tableMemory = undefined as TableMemory | undefined, ipv6 = false } = {},
): NatWorld {
  const w = makeWorld(options, 1500, tableMemory, { ipv6 });
  const uplink = new MemoryPort();
  const id = w.dp.control.addUplink(
    {
      index: 2,
      name: 'uplink',
      ip: A.uplink,
      prefixLen: 24,
      mac: parseMac('02:50:00:00:00:ff'),
      gatewayIp: A.router,
      mtu: 1500,
      ...(ipv6 ? { ipv6: { ip: A6.uplink, prefixLen: 64, gatewayIp: A6.router } } : {}),
    },
    uplink,
  ).id;
  if (uplink.take().length !== 1) throw new Error('expected the gratuitous ARP of the uplink');
  if (learnRouter) w.dp.receive(id, ROUTER_ARP_REPLY);
  if (learnRouter && ipv6) {
    const net = w.dp.tables.networks[2]!;
    const r = A6.router;
    const n = net.neighbours.get6(r[0] | 0, r[1] | 0, r[2] | 0, r[3] | 0) ?? net.neighbours.create6(r[0] | 0, r[1] | 0, r[2] | 0, r[3] | 0, w.dp.now);
    w.dp.resolver.resolved(net, n, macHiOf(parseMac('02:00:5e:00:00:01')), macLoOf(parseMac('02:00:5e:00:00:01')));
  }
  return { ...w, uplink, ids: { ...w.ids, uplink: id }, all: [w.host, w.c1, w.c2, w.c3, uplink] };
}

/** Drains every port of the world; returns how many frames they held in total. */
export function drain(w: NatWorld): number {
  let n = 0;
  for (const p of w.all) n += p.take().length;
  return n;
}

// An RFC 1071 checksum of its own, so frames derived from the literal ones do not depend on the
// code under test.
function cksum(b: Buffer, off: number, len: number, initial = 0): number {
  let s = initial;
  for (let i = 0; i + 1 < len; i += 2) s += (b[off + i] << 8) | b[off + i + 1];
  if (len & 1) s += b[off + len - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

/**
 * A copy of an Ethernet+IPv4 (or, with `l2 = false`, bare IPv4) frame carrying TCP or UDP with
 * some fields changed and every checksum recomputed (a zero UDP checksum stays zero).
 */
export function variant(
  frame: Buffer,
  change: { sport?: number; dport?: number; src?: number; dst?: number; ident?: number; ttl?: number; seq?: number; ack?: number; flags?: number },
  l2 = true,
): Buffer {
  const b = Buffer.from(frame);
  const ip = l2 ? 14 : 0;
  const ihl = (b[ip] & 0x0f) * 4;
  const l4 = ip + ihl;
  const proto = b[ip + 9];
  const total = b.readUInt16BE(ip + 2);
  if (change.src !== undefined) b.writeUInt32BE(change.src >>> 0, ip + 12);
  if (change.dst !== undefined) b.writeUInt32BE(change.dst >>> 0, ip + 16);
  if (change.ident !== undefined) b.writeUInt16BE(change.ident, ip + 4);
  if (change.ttl !== undefined) b[ip + 8] = change.ttl;
  if (change.sport !== undefined) b.writeUInt16BE(change.sport, l4);
  if (change.dport !== undefined) b.writeUInt16BE(change.dport, l4 + 2);
  if (proto === 6) {
    if (change.seq !== undefined) b.writeUInt32BE(change.seq >>> 0, l4 + 4);
    if (change.ack !== undefined) b.writeUInt32BE(change.ack >>> 0, l4 + 8);
    if (change.flags !== undefined) b[l4 + 13] = change.flags;
  }
  b.writeUInt16BE(0, ip + 10);
  b.writeUInt16BE(cksum(b, ip, ihl), ip + 10);
  const l4len = total - ihl;
  const pseudo =
    b.readUInt16BE(ip + 12) + b.readUInt16BE(ip + 14) + b.readUInt16BE(ip + 16) + b.readUInt16BE(ip + 18) + proto + l4len;
  if (proto === 6) {
    b.writeUInt16BE(0, l4 + 16);
    b.writeUInt16BE(cksum(b, l4, l4len, pseudo), l4 + 16);
  } else if (proto === 17 && b.readUInt16BE(l4 + 6) !== 0) {
    b.writeUInt16BE(0, l4 + 6);
    const c = cksum(b, l4, l4len, pseudo);
    b.writeUInt16BE(c === 0 ? 0xffff : c, l4 + 6);
  }
  return b;
}

// ---- one masqueraded TCP flow, 172.17.0.2:40000 -> 203.0.113.10:80, shared by the NAT tests ----
// Frames of the NAT tests were produced with scapy (/usr/bin/python3); in their scapy expressions:
//   fromC1(p) = Ether(dst='02:50:00:00:00:01', src='02:42:ac:11:00:02')/p    (c1 to its gateway)
//   toC1(p)   = Ether(dst='02:42:ac:11:00:02', src='02:50:00:00:00:01')/p    (the gateway to c1)
//   fromC2, toC2 likewise with c2's MAC 02:42:ac:11:00:03
//   fromUp(p) = Ether(dst='02:50:00:00:00:ff', src='02:00:5e:00:00:01')/p    (the router to the uplink)
//   toUp(p)   = Ether(dst='02:00:5e:00:00:01', src='02:50:00:00:00:ff')/p    (the uplink to the router)
//   C1, C2 = '172.17.0.2', '172.17.0.3'; GW1IP = '172.17.0.1'; UP = '198.51.100.2'; RT = '198.51.100.1'
//   X10, X20 = '203.0.113.10', '203.0.113.20'; HOST, HGW = '10.254.0.1', '10.254.0.2'
//   OPTS = [('MSS', 1460), ('SAckOK', b''), ('Timestamp', (1, 0)), ('NOP', None), ('WScale', 7)]
//   OPTS_SA = the same with Timestamp (77, 1)
//   ipq(f) = raw(f)[14:], the IP packet of a frame as a router quotes it; DATA = bytes((i * 7 + 3) & 255 for i in range(1400))
//   xx(src, dst, sport, dport, prefix) = prefix + 2 bytes that make that UDP checksum compute to 0 (sent as 0xffff)
// c1 opens 172.17.0.2:40000 -> 203.0.113.10:80
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x1000, flags='DF')/TCP(sport=40000, dport=80, seq=1000, flags='S', window=64240, options=OPTS))
export const SYN_C1 = hex('0250000000010242ac11000208004500003c100040004006429eac110002cb00710a9c400050000003e800000000a002faf0c4770000020405b40402080a000000010000000001030307');
// expected on the uplink: source 198.51.100.2:40000 (port kept), TTL 63, to the router
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0x1000, flags='DF')/TCP(sport=40000, dport=80, seq=1000, flags='S', window=64240, options=OPTS))
export const SYN_C1_OUT = hex('02005e0000010250000000ff08004500003c100040003f06c57bc6336402cb00710a9c400050000003e800000000a002faf046550000020405b40402080a000000010000000001030307');
// 203.0.113.10:80 answers 198.51.100.2:40000
// scapy: fromUp(IP(src=X10, dst=UP, ttl=52, id=0, flags='DF')/TCP(sport=80, dport=40000, seq=5000, ack=1001, flags='SA', window=65160, options=OPTS_SA))
export const SYNACK_X10 = hex('0250000000ff02005e00000108004500003c000040003406e07bcb00710ac633640200509c4000001388000003e9a012fe882ed70000020405b40402080a0000004d0000000101030307');
// expected at c1
// scapy: toC1(IP(src=X10, dst=C1, ttl=51, id=0, flags='DF')/TCP(sport=80, dport=40000, seq=5000, ack=1001, flags='SA', window=65160, options=OPTS_SA))
export const SYNACK_AT_C1 = hex('0242ac11000202500000000108004500003c0000400033065f9ecb00710aac11000200509c4000001388000003e9a012fe88acf90000020405b40402080a0000004d0000000101030307');
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x1001, flags='DF')/TCP(sport=40000, dport=80, seq=1001, ack=5001, flags='A', window=502))
export const ACK_C1 = hex('0250000000010242ac11000208004500002810014000400642b1ac110002cb00710a9c400050000003e900001389501001f611be0000');
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0x1001, flags='DF')/TCP(sport=40000, dport=80, seq=1001, ack=5001, flags='A', window=502))
export const ACK_C1_OUT = hex('02005e0000010250000000ff080045000028100140003f06c58ec6336402cb00710a9c400050000003e900001389501001f6939b0000');

/** The overlay network the VXLAN tests use: 10.20.0.0/24 in slot 0, MTU 1450, with `vni`. */
export function addOverlayNetwork(dp: Dataplane, vni: number, gatewayMac: string): void {
  dp.control.addNetwork({
    index: 0,
    name: 'ov',
    subnet: parseIpv4('10.20.0.0'),
    prefixLen: 24,
    gatewayIp: parseIpv4('10.20.0.1'),
    gatewayMac: parseMac(gatewayMac),
    mtu: 1450,
    internal: false,
    vni,
  });
}

// ---- reading what happened: drops by reason and frames by port ----------------------------------

/** The drop counters that are not zero, by reason label: what a test expects, and nothing else. */
export function drops(dp: Dataplane): Record<string, number> {
  return Object.fromEntries(Object.entries(dp.counters.dropsByReason()).filter(([, n]) => n !== 0));
}

/** Takes what every port of the world sent since the last take, by port name (the uplink too in a NAT world). */
export function taken(w: World | NatWorld): Record<string, Buffer[]> {
  const out: Record<string, Buffer[]> = { host: w.host.take(), c1: w.c1.take(), c2: w.c2.take(), c3: w.c3.take() };
  if ('uplink' in w) out.uplink = w.uplink.take();
  return out;
}

// ---- one host of an overlay network, its underlay in memory --------------------------------------

/** The VNI of the overlay tests' network (4138) and the VXLAN header that carries it (flags I). */
export const OVERLAY_VNI = 0x00102a;
export const VXLAN_HEADER = hex('0800000000102a00');

export interface OverlayHost<N extends string = string> {
  dp: Dataplane;
  tunnel: MemoryTunnel;
  /** the local endpoints by name */
  ports: Record<N, MemoryPort>;
  ids: Record<N, number>;
}

/**
 * A host of the overlay network 10.20.0.0/24 (VNI 4138, gateway 02:50:00:00:10:01) whose peers are
 * `peers` (VTEP addresses), with local endpoints; the gratuitous ARPs of the attachments are taken.
 */
export function makeOverlayHost<N extends string>(peers: number[], endpoints: { name: N; mac: string; ip: string }[]): OverlayHost<N> {
  const dp = new Dataplane();
  dp.now = 1000;
  const tunnel = new MemoryTunnel();
  dp.control.setTunnel('vxlan', tunnel, 1500);
  addOverlayNetwork(dp, OVERLAY_VNI, '02:50:00:00:10:01');
  for (const p of peers) dp.control.addPeer(0, p);
  const attached = endpoints.map((e) => {
    const port = new MemoryPort();
    const id = dp.control.addEndpoint({ name: e.name, network: 0, mac: parseMac(e.mac), ip: parseIpv4(e.ip) }, port).id;
    return { name: e.name, port, id };
  });
  for (const a of attached) a.port.take();
  tunnel.sent.splice(0);
  const ports = Object.fromEntries(attached.map((a) => [a.name, a.port])) as Record<N, MemoryPort>;
  const ids = Object.fromEntries(attached.map((a) => [a.name, a.id])) as Record<N, number>;
  return { dp, tunnel, ports, ids };
}

/** Takes what the host sent into the underlay since the last take: the destination VTEP's address and the datagram. */
export function takeUnderlay(h: OverlayHost<string>): { to: number; bytes: Buffer }[] {
  return h.tunnel.sent.splice(0).map((s) => ({ to: h.dp.tables.vteps.ipOf(s.vtep), bytes: s.bytes }));
}

/** Takes what every local endpoint of the host received since the last take, by name. */
export function takeLocal<N extends string>(h: OverlayHost<N>): Record<N, Buffer[]> {
  return Object.fromEntries(Object.entries<MemoryPort>(h.ports).map(([name, p]) => [name, p.take()])) as Record<N, Buffer[]>;
}

/** Delivers a datagram (VXLAN header + inner frame) from the VTEP `src` as the worker would: one batch. */
export function fromUnderlay(dp: Dataplane, datagram: Buffer, src: number): void {
  const off = dp.pool.alloc() - 8;
  datagram.copy(dp.pool.slab, off);
  dp.inputTunnel(dp.pool.slab, off, datagram.length, dp.tables.vteps.indexOf(src)); // the socket looks its source up
  dp.endBatch();
}

// ---- accounting: every frame received is sent on, dropped by a reason, or taken in ----------------

/** Frames sent so far by every port of a world, from the counters. */
function txTotal(dp: Dataplane): number {
  let n = 0;
  for (let id = 0; id < dp.tables.ports.length; id++) if (dp.tables.ports[id] !== undefined) n += dp.counters.portStats(id).txPackets;
  return n;
}

function dropTotal(dp: Dataplane): number {
  let n = 0;
  for (const v of dp.counters.drops) n += v;
  return n;
}

/**
 * Receives `frame` on `port` and returns what became of it: `rx` (the ingress counter's step, 1),
 * `sent` (frames any port sent), `dropped` (drops counted, by any reason). A frame that is neither
 * sent on nor dropped must have been taken in by the gateway (ARP, a frame parked for ARP).
 */
export function receiveAccounted(dp: Dataplane, port: number, frame: Buffer): { rx: number; sent: number; dropped: number } {
  const rx0 = dp.counters.portStats(port).rxPackets;
  const tx0 = txTotal(dp);
  const d0 = dropTotal(dp);
  dp.receive(port, frame);
  return { rx: dp.counters.portStats(port).rxPackets - rx0, sent: txTotal(dp) - tx0, dropped: dropTotal(dp) - d0 };
}

/** IPv6 words of an address, for specs in tests. */
export const words6 = (s: string) => parseIpv6(s) as [number, number, number, number];

/**
 * The dual-stack network the IPv6 tests share, in slot 0: 172.20.0.0/16 (gateway .1) and
 * fd00:20::/64 (gateway fd00:20::1, masqueraded), gateway MAC 02:50:00:00:00:01; `ipv6: false`
 * leaves the IPv6 side out (the same network, IPv4 only).
 */
export function addDualStackNetwork(dp: Dataplane, { mtu = 1500, ipv6 = true } = {}): Network {
  return dp.control.addNetwork({
    index: 0,
    name: 'ds',
    subnet: 0xac140000,
    prefixLen: 16,
    gatewayIp: 0xac140001,
    gatewayMac: parseMac('02:50:00:00:00:01'),
    mtu,
    internal: false,
    ...(ipv6 ? { ipv6: { subnet: words6('fd00:20::'), prefixLen: 64, gatewayIp: words6('fd00:20::1'), nat: true } } : {}),
  });
}
