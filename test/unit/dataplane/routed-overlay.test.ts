// Routed overlay networks (issue 15, flannel's vxlan model): this host's subnet 10.244.1.0/24,
// another host's 10.244.2.0/24 routed over VXLAN to its VTEP and VTEP MAC. Frames from scapy.

import { describe, expect, it } from 'vitest';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import { MemoryPort, MemoryTunnel } from '../../../src/ports/memory-port.js';
import { parseIpv4 } from '../../../src/wire/ipv4-address.js';
import { parseMac } from '../../../src/wire/mac.js';
import { drops, fromUnderlay, hex } from './fixture.js';

const VTEP_B = parseIpv4('192.0.2.2');
const VTEP_C = parseIpv4('192.0.2.3');
const VXLAN_VNI1 = hex('0800000000000100');
const VXLAN_VNI2 = hex('0800000000000200');

// container c1 10.244.1.2 (02:42:0a:f4:01:02) pings 10.244.2.5 on host B (VTEP MAC 02:bb:00:00:02:00)
const PING_OUT = hex('02aa0000010002420af4010208004500002400014000400121ea0af401020af4020508006662000700016162636465666768');
const PING_OUT_INNER = hex('02bb0000020002aa00000100080045000024000140003f0122ea0af401020af4020508006662000700016162636465666768');
const REPLY_IN = hex('02aa0000010002bb0000020008004500002400020000400161e90af402050af4010200006e62000700016162636465666768');
const REPLY_AT_C1 = hex('02420af4010202aa00000100080045000024000200003f0162e90af402050af4010200006e62000700016162636465666768');
// the host (source 10.244.1.0, its address on the cluster's range) to 10.244.2.5 and back
const HOST_OUT = hex('4500002400030000400161ea0af401000af4020508006660000900016162636465666768');
const HOST_OUT_INNER = hex('02bb0000020002aa00000100080045000024000300003f0162ea0af401000af4020508006660000900016162636465666768');
const TO_HOST_IN = hex('02aa0000010002bb0000020008004500002400040000400161e90af402050af4010000006e60000900016162636465666768');
const TO_HOST_AT_TUN = hex('45000024000400003f0162e90af402050af4010000006e60000900016162636465666768');
// 10.244.2.5 pings this host's gateway 10.244.1.1
const PING_GW_IN = hex('02aa0000010002bb0000020008004500002400050000400161e70af402050af401010800665e000b00016162636465666768');
const PING_GW_REPLY = hex('02bb0000020002aa0000010008004500002400050000400161e70af401010af4020500006e5e000b00016162636465666768');
// TTL 1 from 10.244.2.5 to c1: time exceeded from 10.244.1.1, back over the overlay
const TTL1_IN = hex('02aa0000010002bb00000200080045000024000600000101a0e50af402050af401020800665d000c00016162636465666768');
const TIME_EXCEEDED = hex(
  '02bb0000020002aa0000010008004500004000000000400161d00af401010af402050b00f4ff0000000045000024000600000101a0e50af402050af401020800665d000c00016162636465666768',
);

function routedHost() {
  const dp = new Dataplane();
  dp.now = 1000;
  const tunnel = new MemoryTunnel();
  dp.control.setTunnel('vxlan', tunnel, 1500);
  const host = new MemoryPort();
  const hostId = dp.control.addHostPort(
    { name: 'pontoon0', hostIp: parseIpv4('10.254.0.1'), gatewayIp: parseIpv4('10.254.0.2'), prefixLen: 30, mtu: 1500, defaultRoute: false },
    host,
  ).id;
  dp.control.addNetwork({
    index: 0,
    name: 'flat',
    subnet: parseIpv4('10.244.1.0'),
    prefixLen: 24,
    gatewayIp: parseIpv4('10.244.1.1'),
    gatewayMac: parseMac('02:aa:00:00:01:00'),
    mtu: 1450,
    internal: false,
    vni: 1,
    routed: true,
  });
  dp.control.addNetwork({
    index: 1,
    name: 'bridge',
    subnet: parseIpv4('172.17.0.0'),
    prefixLen: 16,
    gatewayIp: parseIpv4('172.17.0.1'),
    gatewayMac: parseMac('02:50:00:00:00:01'),
    mtu: 1500,
    internal: false,
  });
  dp.control.addHostRoute(parseIpv4('10.244.1.0'), 32);
  dp.control.addRemoteSubnet({ network: 0, subnet: parseIpv4('10.244.2.0'), prefixLen: 24, vtepIp: VTEP_B, vtepMac: parseMac('02:bb:00:00:02:00') });
  const c1 = new MemoryPort();
  const c1Id = dp.control.addEndpoint({ name: 'c1', network: 0, mac: parseMac('02:42:0a:f4:01:02'), ip: parseIpv4('10.244.1.2') }, c1).id;
  const b1 = new MemoryPort();
  const b1Id = dp.control.addEndpoint({ name: 'b1', network: 1, mac: parseMac('02:42:ac:11:00:02'), ip: parseIpv4('172.17.0.2') }, b1).id;
  c1.take();
  b1.take();
  tunnel.sent.splice(0);
  const sent = () => tunnel.sent.splice(0).map((s) => ({ to: dp.tables.vteps.ipOf(s.vtep), bytes: s.bytes }));
  return { dp, tunnel, host, hostId, c1, c1Id, b1, b1Id, sent };
}

describe('routed overlay network', () => {
  it("routes a container's packet to another host's subnet: VXLAN to its VTEP, inner frame to its VTEP MAC, TTL decremented, addresses unchanged", () => {
    const h = routedHost();
    h.dp.receive(h.c1Id, PING_OUT);
    expect(h.sent()).toEqual([{ to: VTEP_B, bytes: Buffer.concat([VXLAN_VNI1, PING_OUT_INNER]) }]);
    expect(drops(h.dp)).toEqual({});
  });

  it('delivers what that host routes here to the local container, routed (TTL decremented, from the gateway MAC)', () => {
    const h = routedHost();
    fromUnderlay(h.dp, Buffer.concat([VXLAN_VNI1, REPLY_IN]), VTEP_B);
    expect(h.c1.take()).toEqual([REPLY_AT_C1]);
    expect(h.sent()).toEqual([]);
  });

  it('carries the host to every subnet and back without NAT (its address on the range is the host route)', () => {
    const h = routedHost();
    h.dp.receive(h.hostId, HOST_OUT);
    expect(h.sent()).toEqual([{ to: VTEP_B, bytes: Buffer.concat([VXLAN_VNI1, HOST_OUT_INNER]) }]);
    fromUnderlay(h.dp, Buffer.concat([VXLAN_VNI1, TO_HOST_IN]), VTEP_B);
    expect(h.host.take()).toEqual([TO_HOST_AT_TUN]);
  });

  it("answers ARP for the host's address on the range (the subnet's own) and routes to it through the TUN port", () => {
    const h = routedHost();
    h.dp.receive(h.c1Id, hex('ffffffffffff02420af401020806000108000604000102420af401020af401020000000000000af40100'));
    // padded to the minimum frame as the gateway's replies are
    expect(h.c1.take().map((f) => f.subarray(0, 42))).toEqual([hex('02420af4010202aa000001000806000108000604000202aa000001000af4010002420af401020af40102')]);
    h.dp.receive(h.c1Id, hex('02aa0000010002420af4010208004500002400090000400162e70af401020af4010000006e60000900016162636465666768'));
    expect(h.host.take()).toEqual([hex('45000024000900003f0163e70af401020af4010000006e60000900016162636465666768')]);
    expect(h.sent()).toEqual([]);
  });

  it("answers another host's ping of the gateway, and sends its ICMP errors back over the overlay", () => {
    const h = routedHost();
    fromUnderlay(h.dp, Buffer.concat([VXLAN_VNI1, PING_GW_IN]), VTEP_B);
    expect(h.sent()).toEqual([{ to: VTEP_B, bytes: Buffer.concat([VXLAN_VNI1, PING_GW_REPLY]) }]);
    fromUnderlay(h.dp, Buffer.concat([VXLAN_VNI1, TTL1_IN]), VTEP_B);
    expect(h.sent()).toEqual([{ to: VTEP_B, bytes: Buffer.concat([VXLAN_VNI1, TIME_EXCEEDED]) }]);
    expect(h.c1.take()).toEqual([]);
    expect(drops(h.dp)).toEqual({ ttl_expired: 1 });
  });

  it('never floods: a broadcast stays on this host, nothing is switched across hosts', () => {
    const h = routedHost();
    const arp = hex('ffffffffffff02420af4010208060001080006040001' + '02420af401020af40102' + '000000000000' + '0af40107');
    h.dp.receive(h.c1Id, arp);
    expect(h.sent()).toEqual([]);
  });

  it('drops what a host may not send: another MAC, a source it does not lease, a destination outside this host, ARP, an unknown VTEP', () => {
    const h = routedHost();
    h.dp.control.addRemoteSubnet({ network: 0, subnet: parseIpv4('10.244.3.0'), prefixLen: 24, vtepIp: VTEP_C, vtepMac: parseMac('02:cc:00:00:03:00') });
    const otherMac = Buffer.from(REPLY_IN);
    otherMac[5] = 0x01; // 02:aa:00:00:01:01: not this host's VTEP MAC
    fromUnderlay(h.dp, Buffer.concat([VXLAN_VNI1, otherMac]), VTEP_B);
    // 10.244.2.5 -> c1 but from C's VTEP: C does not lease 10.244.2.0/24
    fromUnderlay(h.dp, Buffer.concat([VXLAN_VNI1, REPLY_IN]), VTEP_C);
    // to 10.244.3.7 (C's) from B: hosts never route for each other
    const transit = hex('02aa0000010002bb000002000800450000240002000040015fe40af402050af4030700006e62000700016162636465666768');
    fromUnderlay(h.dp, Buffer.concat([VXLAN_VNI1, transit]), VTEP_B);
    const arp = hex('02aa0000010002bb0000020008060001080006040001' + '02bb000002000af40200' + '000000000000' + '0af40101');
    fromUnderlay(h.dp, Buffer.concat([VXLAN_VNI1, arp]), VTEP_B);
    fromUnderlay(h.dp, Buffer.concat([VXLAN_VNI1, REPLY_IN]), parseIpv4('192.0.2.99'));
    fromUnderlay(h.dp, Buffer.concat([VXLAN_VNI2, REPLY_IN]), VTEP_B);
    expect(h.c1.take()).toEqual([]);
    expect(h.sent()).toEqual([]);
    expect(drops(h.dp)).toEqual({ not_for_us: 1, overlay_transit: 2, unsupported_ethertype: 1, vxlan_unknown_vtep: 1, vxlan_unknown_vni: 1 });
  });

  it("keeps other networks out: a bridge network's container does not reach the overlay's subnets", () => {
    const h = routedHost();
    const fromBridge = hex('0250000000010242ac11000208004500002400014000400181ccac1100020af4020508006662000700016162636465666768');
    h.dp.receive(h.b1Id, fromBridge);
    expect(h.sent()).toEqual([]);
    expect(drops(h.dp)).toMatchObject({ network_isolation: 1 });
  });

  it("forgets a subnet whose lease is gone: no route, and its VTEP is no peer once it leases nothing", () => {
    const h = routedHost();
    h.dp.control.removeRemoteSubnet(0, parseIpv4('10.244.2.0'), 24);
    h.dp.receive(h.c1Id, PING_OUT);
    expect(h.sent()).toEqual([]);
    fromUnderlay(h.dp, Buffer.concat([VXLAN_VNI1, REPLY_IN]), VTEP_B);
    expect(h.c1.take().length).toBe(1); // the ICMP net unreachable for the ping only
    expect(drops(h.dp)).toEqual({ no_route: 1, vxlan_unknown_vtep: 1 });
    expect(() => h.dp.control.addRemoteSubnet({ network: 0, subnet: parseIpv4('10.244.1.0'), prefixLen: 24, vtepIp: VTEP_B, vtepMac: 1 })).toThrow(/overlaps this host's subnet/);
  });
});
