// The overlay's peers and what is learned behind them: removing a peer forgets the MACs learned
// behind it and its remote endpoints; a local endpoint's MAC arriving from a VTEP is refused;
// split horizon (nothing from the overlay goes back into it); traffic for the gateway stays on its host.

import { describe, expect, it } from 'vitest';
import { Gauge } from '../../../src/dataplane/counters.js';
import { parseIpv4 } from '../../../src/wire/ipv4-address.js';
import { parseMac } from '../../../src/wire/mac.js';
import { drops, fromUnderlay, hex, makeOverlayHost, takeLocal, takeUnderlay, VXLAN_HEADER } from './fixture.js';

const VTEP_A = parseIpv4('192.0.2.1');
const VTEP_C = parseIpv4('192.0.2.3');

/**
 * This host: peers A and C, local endpoints b1 (10.20.0.3, 02:42:0a:14:00:03) and b2 (10.20.0.4,
 * 02:42:0a:14:00:04). Behind A lives X (10.20.0.2, 02:42:0a:14:00:02), behind C lives Y (10.20.0.5,
 * 02:42:0a:14:00:05); the gateway is 10.20.0.1 (02:50:00:00:10:01) on every host.
 */
function host() {
  return makeOverlayHost(
    [VTEP_A, VTEP_C],
    [
      { name: 'b1', mac: '02:42:0a:14:00:03', ip: '10.20.0.3' },
      { name: 'b2', mac: '02:42:0a:14:00:04', ip: '10.20.0.4' },
    ],
  );
}

const vxlan = (frame: Buffer): Buffer => Buffer.concat([VXLAN_HEADER, frame]);

// Frames produced with scapy (/usr/bin/python3).
// scapy: Ether(dst='ff:ff:ff:ff:ff:ff', src=X)/ARP(op=1, hwsrc=X, psrc='10.20.0.2', hwdst='00:00:00:00:00:00', pdst='10.20.0.3')
const ARP_X_FOR_B1 = hex('ffffffffffff02420a1400020806000108000604000102420a1400020a1400020000000000000a140003');
// scapy: Ether(dst=X, src=B1)/IP(src='10.20.0.3', dst='10.20.0.2', ttl=64, id=0x81, flags='DF')/ICMP(type=8, id=7, seq=1)/b'overlay!'
const PING_B1_TO_X = hex('02420a14000202420a140003080045000024008140004001262c0a1400030a14000208003d8c000700016f7665726c617921');
// scapy: Ether(dst=Y, src=B1)/IP(src='10.20.0.3', dst='10.20.0.5', ttl=64, id=0x85, flags='DF')/ICMP(type=8, id=7, seq=2)/b'overlay!'
const PING_B1_TO_Y = hex('02420a14000502420a14000308004500002400854000400126250a1400030a14000508003d8b000700026f7665726c617921');
// scapy: Ether(dst=Y, src=X)/IP(src='10.20.0.2', dst='10.20.0.5', ttl=64, id=0x82, flags='DF')/ICMP(type=8, id=8, seq=1)/b'overlay!'
const PING_X_TO_Y = hex('02420a14000502420a14000208004500002400824000400126290a1400020a14000508003d8b000800016f7665726c617921');
// scapy: Ether(dst=X, src=Y)/IP(src='10.20.0.5', dst='10.20.0.2', ttl=64, id=0x83, flags='DF')/ICMP(type=8, id=9, seq=1)/b'overlay!'
const PING_Y_TO_X = hex('02420a14000202420a14000508004500002400834000400126280a1400050a14000208003d8a000900016f7665726c617921');
// scapy: Ether(dst='ff:ff:ff:ff:ff:ff', src=B1)/ARP(op=1, hwsrc=B1, psrc='10.20.0.3', hwdst='00:00:00:00:00:00', pdst='10.20.0.4')
const ARP_WITH_B1_MAC = hex('ffffffffffff02420a1400030806000108000604000102420a1400030a1400030000000000000a140004');
// scapy: Ether(dst=B1, src=B2)/IP(src='10.20.0.4', dst='10.20.0.3', ttl=64, id=0x84, flags='DF')/ICMP(type=8, id=10, seq=1)/b'overlay!'
const PING_B2_TO_B1 = hex('02420a14000302420a14000408004500002400844000400126270a1400040a14000308003d89000a00016f7665726c617921');
// scapy: Ether(dst='02:50:00:00:10:01', src=X)/IP(src='10.20.0.2', dst='10.20.0.1', ttl=64, id=0x86, flags='DF')/ICMP(type=8, id=11, seq=1)/b'overlay!'
const PING_X_TO_GW = hex('02500000100102420a14000208004500002400864000400126290a1400020a14000108003d88000b00016f7665726c617921');
// scapy: Ether(dst='ff:ff:ff:ff:ff:ff', src=X)/ARP(op=1, hwsrc=X, psrc='10.20.0.2', hwdst='00:00:00:00:00:00', pdst='10.20.0.1')
const ARP_X_FOR_GW = hex('ffffffffffff02420a1400020806000108000604000102420a1400020a1400020000000000000a140001');
// scapy: Ether(dst='ff:ff:ff:ff:ff:ff', src=B1)/ARP(op=1, hwsrc=B1, psrc='10.20.0.3', hwdst='00:00:00:00:00:00', pdst='10.20.0.2')
const ARP_B1_FOR_X = hex('ffffffffffff02420a1400030806000108000604000102420a1400030a1400030000000000000a140002');
// scapy: Ether(dst=B1, src=X)/ARP(op=2, hwsrc=X, psrc='10.20.0.2', hwdst=B1, pdst='10.20.0.3')
const ARP_REPLY_FOR_X_TO_B1 = hex('02420a14000302420a1400020806000108000604000202420a1400020a14000202420a1400030a140003');

describe('removing a peer VTEP', () => {
  it('forgets the MACs learned behind it: a frame to one is flooded to the other peer and the local ports, not sent to the removed VTEP', () => {
    const h = host();
    fromUnderlay(h.dp, vxlan(ARP_X_FOR_B1), VTEP_A); // X is learned behind A
    expect(takeLocal(h)).toEqual({ b1: [ARP_X_FOR_B1], b2: [ARP_X_FOR_B1] });
    h.dp.receive(h.ids.b1, PING_B1_TO_X);
    expect(takeUnderlay(h)).toEqual([{ to: VTEP_A, bytes: vxlan(PING_B1_TO_X) }]);
    expect(takeLocal(h)).toEqual({ b1: [], b2: [] });
    h.dp.control.removePeer(0, VTEP_A);
    h.dp.receive(h.ids.b1, PING_B1_TO_X);
    expect(takeUnderlay(h)).toEqual([{ to: VTEP_C, bytes: vxlan(PING_B1_TO_X) }]);
    expect(takeLocal(h)).toEqual({ b1: [], b2: [PING_B1_TO_X] });
    expect(drops(h.dp)).toEqual({});
  });

  it('keeps the MACs learned behind the other peers', () => {
    const h = host();
    fromUnderlay(h.dp, vxlan(PING_Y_TO_X), VTEP_C); // Y is learned behind C (X is unknown: flooded locally)
    fromUnderlay(h.dp, vxlan(ARP_X_FOR_B1), VTEP_A);
    expect(takeLocal(h)).toEqual({ b1: [PING_Y_TO_X, ARP_X_FOR_B1], b2: [PING_Y_TO_X, ARP_X_FOR_B1] });
    h.dp.control.removePeer(0, VTEP_A);
    h.dp.receive(h.ids.b1, PING_B1_TO_Y);
    expect(takeUnderlay(h)).toEqual([{ to: VTEP_C, bytes: vxlan(PING_B1_TO_Y) }]);
    expect(takeLocal(h)).toEqual({ b1: [], b2: [] });
    expect(drops(h.dp)).toEqual({});
  });

  it('stops accepting from it: its datagrams are counted vxlan_unknown_vtep, and the peers gauge drops by one', () => {
    const h = host();
    expect(h.dp.counters.gauges[Gauge.VxlanPeers]).toBe(2);
    h.dp.control.removePeer(0, VTEP_A);
    expect(h.dp.counters.gauges[Gauge.VxlanPeers]).toBe(1);
    fromUnderlay(h.dp, vxlan(ARP_X_FOR_B1), VTEP_A);
    expect(drops(h.dp)).toEqual({ vxlan_unknown_vtep: 1 });
    expect(takeLocal(h)).toEqual({ b1: [], b2: [] });
    expect(takeUnderlay(h)).toEqual([]);
  });

  it('forgets the remote endpoints behind it: ARP for one is flooded instead of answered for it', () => {
    const h = host();
    h.dp.control.addRemoteEndpoint({ network: 0, ip: parseIpv4('10.20.0.2'), mac: parseMac('02:42:0a:14:00:02'), vtepIp: VTEP_A });
    takeLocal(h);
    takeUnderlay(h);
    h.dp.receive(h.ids.b1, ARP_B1_FOR_X);
    expect(takeLocal(h)).toEqual({ b1: [ARP_REPLY_FOR_X_TO_B1], b2: [] }); // ARP suppression
    expect(takeUnderlay(h)).toEqual([]);
    expect(h.dp.counters.gauges[Gauge.RemoteEndpoints]).toBe(1);
    h.dp.control.removePeer(0, VTEP_A);
    expect(h.dp.counters.gauges[Gauge.RemoteEndpoints]).toBe(0);
    h.dp.receive(h.ids.b1, ARP_B1_FOR_X);
    expect(takeLocal(h)).toEqual({ b1: [], b2: [ARP_B1_FOR_X] });
    expect(takeUnderlay(h)).toEqual([{ to: VTEP_C, bytes: vxlan(ARP_B1_FOR_X) }]);
    expect(drops(h.dp)).toEqual({});
  });
});

describe("a local endpoint's MAC from a remote VTEP", () => {
  it('is dropped as spoofed_mac and does not move the MAC behind that VTEP', () => {
    const h = host();
    fromUnderlay(h.dp, vxlan(ARP_WITH_B1_MAC), VTEP_A);
    expect(drops(h.dp)).toEqual({ spoofed_mac: 1 });
    expect(takeLocal(h)).toEqual({ b1: [], b2: [] });
    expect(takeUnderlay(h)).toEqual([]);
    // b1's MAC still leads to b1's port
    h.dp.receive(h.ids.b2, PING_B2_TO_B1);
    expect(takeLocal(h)).toEqual({ b1: [PING_B2_TO_B1], b2: [] });
    expect(takeUnderlay(h)).toEqual([]);
  });
});

describe('vxlan_split_horizon', () => {
  it('a frame from one VTEP to a remote endpoint behind another is not relayed into the overlay', () => {
    const h = host();
    h.dp.control.addRemoteEndpoint({ network: 0, ip: parseIpv4('10.20.0.5'), mac: parseMac('02:42:0a:14:00:05'), vtepIp: VTEP_C });
    takeLocal(h);
    takeUnderlay(h);
    fromUnderlay(h.dp, vxlan(PING_X_TO_Y), VTEP_A);
    expect(drops(h.dp)).toEqual({ vxlan_split_horizon: 1 });
    expect(takeLocal(h)).toEqual({ b1: [], b2: [] });
    expect(takeUnderlay(h)).toEqual([]);
  });

  it('a frame from one VTEP to a MAC learned behind another is not relayed either', () => {
    const h = host();
    fromUnderlay(h.dp, vxlan(ARP_X_FOR_B1), VTEP_A); // X is learned behind A
    takeLocal(h);
    fromUnderlay(h.dp, vxlan(PING_Y_TO_X), VTEP_C);
    expect(drops(h.dp)).toEqual({ vxlan_split_horizon: 1 });
    expect(takeLocal(h)).toEqual({ b1: [], b2: [] });
    expect(takeUnderlay(h)).toEqual([]);
  });
});

describe('not_for_us over VXLAN', () => {
  it("another host's traffic for the gateway stays there: an IP packet to the gateway's MAC, an ARP request for its address", () => {
    const h = host();
    fromUnderlay(h.dp, vxlan(PING_X_TO_GW), VTEP_A);
    fromUnderlay(h.dp, vxlan(ARP_X_FOR_GW), VTEP_A);
    expect(drops(h.dp)).toEqual({ not_for_us: 2 });
    expect(takeLocal(h)).toEqual({ b1: [], b2: [] }); // no ARP flood, no echo reply
    expect(takeUnderlay(h)).toEqual([]);
  });
});
