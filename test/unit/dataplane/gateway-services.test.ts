// The gateway's own services on gateway addresses (DNS 53, NAT-PMP/PCP 5351): DNATed to the
// daemon's socket on the host link and answered from gateway:port; and the datagrams the gateway
// sends into a network itself (the announcements). Frames made with scapy (/usr/bin/python3):
//   REQ   = Ether(dst='02:50:00:00:00:01', src='02:42:ac:11:00:02')/IP(src='172.17.0.2', dst='172.17.0.1', ttl=64, id=1)/UDP(sport=40000, dport=5351)/bytes.fromhex('0000')
//   AT_HOST = IP(src='172.17.0.2', dst='10.254.0.1', ttl=63, id=1)/UDP(sport=40000, dport=40123)/bytes.fromhex('0000')
//   FROM_HOST = IP(src='10.254.0.1', dst='172.17.0.2', ttl=64, id=7)/UDP(sport=40123, dport=40000)/PL
//   AT_C1 = Ether(dst='02:42:ac:11:00:02', src='02:50:00:00:00:01')/IP(src='172.17.0.1', dst='172.17.0.2', ttl=63, id=7)/UDP(sport=5351, dport=40000)/PL
//   MCAST = Ether(dst='01:00:5e:00:00:01', src='02:50:00:00:00:01')/IP(src='172.17.0.1', dst='224.0.0.1', ttl=1, id=0, flags=0)/UDP(sport=5351, dport=5350)/PL
//   UCAST = Ether(dst='02:42:ac:11:00:03', src='02:50:00:00:00:01')/IP(src='172.17.0.1', dst='172.17.0.3', ttl=64, id=0, flags=0)/UDP(sport=5351, dport=40001)/ANNOUNCE
//   PL = bytes.fromhex('0080000000000000c6336402'); ANNOUNCE = bytes.fromhex('028000000000000000000007' + '00' * 12)

import { describe, expect, it } from 'vitest';
import { GATEWAY_SERVICES } from '../../../src/dataplane/gateway-services.js';
import { parseIpv4 } from '../../../src/wire/ipv4-address.js';
import { hex, makeNatWorld, makeWorld, variant } from './fixture.js';

const REQ = hex('0250000000010242ac11000208004500001e00010000401122a9ac110002ac1100019c4014e7000af68c0000');
const AT_HOST = hex('4500001e000100003f11c4bcac1100020afe00019c409cbb000a0fcc0000');
const FROM_HOST = hex('45000028000700004011c3ac0afe0001ac1100029cbb9c400014e5010080000000000000c6336402');
const AT_C1 = hex('0242ac110002025000000001080045000028000700003f112399ac110001ac11000214e79c400014cbc20080000000000000c6336402');
const MCAST = hex('01005e0000010250000000010800450000280000000001112db2ac110001e000000114e714e600141f2f0080000000000000c6336402');
const UCAST = hex('0242ac1100030250000000010800450000340000000040112293ac110001ac11000314e79c410020f3d7028000000000000000000007000000000000000000000000');
const HOST = parseIpv4('10.254.0.1');

describe('gateway services', () => {
  it('are declared once: DNS on 53 (UDP and TCP), NAT-PMP/PCP on 5351 (UDP)', () => {
    expect(GATEWAY_SERVICES).toEqual([
      { name: 'dns', port: 53, tcp: true, udp: true },
      { name: 'pcp', port: 5351, tcp: false, udp: true },
    ]);
  });

  it('gateway:5351 reaches the daemon socket from the container, the answer comes from gateway:5351', () => {
    const w = makeNatWorld();
    w.dp.control.setGatewayService('pcp', HOST, 40123);
    w.dp.receive(w.ids.c1, REQ);
    expect(w.host.take()).toEqual([AT_HOST]);
    w.dp.receive(w.ids.host, FROM_HOST);
    expect(w.c1.take()).toEqual([AT_C1]);
  });

  it('port 0 turns a service off; DNS keeps its own target', () => {
    const w = makeNatWorld();
    w.dp.control.setGatewayService('dns', HOST, 53);
    w.dp.receive(w.ids.c1, REQ);
    expect(w.host.take()).toEqual([]); // 5351 is off: not sent to the host
    w.dp.receive(w.ids.c1, variant(REQ, { dport: 53 }));
    expect(w.host.take()).toEqual([variant(AT_HOST, { dport: 53 }, false)]);
    w.dp.control.setGatewayService('pcp', HOST, 40123);
    w.dp.control.setGatewayService('pcp', HOST, 0);
    w.dp.receive(w.ids.c1, variant(REQ, { sport: 40002 }));
    expect(w.host.take()).toEqual([]);
  });
});

describe('sendDatagram', () => {
  it('multicasts to 224.0.0.1 on one network only, TTL 1', () => {
    const w = makeWorld();
    w.dp.control.sendDatagram({ network: 0, srcPort: 5351, dstIp: parseIpv4('224.0.0.1'), dstPort: 5350, payload: hex('0080000000000000c6336402') });
    expect(w.c1.take()).toEqual([MCAST]);
    expect(w.c2.take()).toEqual([MCAST]);
    expect(w.c3.take()).toEqual([]);
    expect(w.host.take()).toEqual([]);
  });

  it('unicasts to an endpoint it knows, refuses one it does not and a missing network', () => {
    const w = makeWorld();
    w.dp.control.sendDatagram({ network: 0, srcPort: 5351, dstIp: parseIpv4('172.17.0.3'), dstPort: 40001, payload: hex(`028000000000000000000007${'00'.repeat(12)}`) });
    expect(w.c2.take()).toEqual([UCAST]);
    expect(w.c1.take()).toEqual([]);
    expect(() => w.dp.control.sendDatagram({ network: 0, srcPort: 5351, dstIp: parseIpv4('172.17.0.99'), dstPort: 5350, payload: hex('00') })).toThrow(/no MAC address known/);
    expect(() => w.dp.control.sendDatagram({ network: 7, srcPort: 5351, dstIp: parseIpv4('224.0.0.1'), dstPort: 5350, payload: hex('00') })).toThrow(/no network in slot 7/);
    expect(() => w.dp.control.sendDatagram({ network: 0, srcPort: 5351, dstIp: parseIpv4('224.0.0.1'), dstPort: 5350, payload: Buffer.alloc(1500) })).toThrow(/does not fit/);
  });
});
