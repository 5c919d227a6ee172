// The literal frames of the unit tests (captures and scapy frames, see their files) as seeds of
// the fuzz targets, addressed to the fuzz world (world.ts) where they were addressed elsewhere.

import { VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, writeLe16 } from '../../src/wire/virtio-net.js';
import { ACK_C1, hex, ROUTER_ARP_REPLY, SYN_C1, SYNACK_X10, variant, VXLAN_HEADER } from '../unit/dataplane/fixture.js';
import * as W from '../unit/wire/frames.js';
import { dnsInput } from './dns-input.js';
import { encodeRecord } from './pipeline-harness.js';
import { F } from './world.js';

export interface Seed {
  target: string;
  bytes: Buffer;
}

const GW_MAC = hex('025000000001');
const CV_MAC = hex('0242ac110004');

/** frames.ts was captured against a gateway with MAC 02:42:ac:11:00:01: address them to the world's. */
function toGateway(frame: Buffer): Buffer {
  const b = Buffer.from(frame);
  GW_MAC.copy(b, 0);
  if (b.readUInt16BE(12) === 0x0806) GW_MAC.copy(b, 32); // target hardware address of a reply
  return b;
}

/** A frame of c1's re-addressed as cv's (MAC and IP), behind a virtio-net header. */
function asCv(frame: Buffer, vnet: Buffer = Buffer.alloc(10)): Buffer {
  const b = variant(frame, { src: F.cv });
  CV_MAC.copy(b, 6);
  return Buffer.concat([vnet, b]);
}

/** A TCP segment of `payload` bytes from cv on the masqueraded flow, as a super segment with a partial checksum. */
function cvSuperSegment(payload: number, gsoSize: number): Buffer {
  const base = Buffer.alloc(54 + payload);
  SYN_C1.copy(base, 0, 0, 34);
  base.writeUInt16BE(40 + payload, 16);
  base.writeUInt16BE(40001, 34);
  base.writeUInt16BE(80, 36);
  base.writeUInt32BE(1001, 38);
  base[46] = 5 << 4;
  base[47] = 0x18;
  base.writeUInt16BE(64240, 48);
  for (let i = 0; i < payload; i++) base[54 + i] = (i * 7 + 3) & 0xff;
  const vnet = Buffer.alloc(10);
  vnet[0] = VNET_F_NEEDS_CSUM;
  vnet[1] = gsoSize > 0 ? VNET_GSO_TCPV4 : 0;
  writeLe16(vnet, 2, 54);
  writeLe16(vnet, 4, gsoSize);
  writeLe16(vnet, 6, 34);
  writeLe16(vnet, 8, 16);
  return asCv(base, vnet);
}

// overlay.test.ts: ARP request and echo request from 10.20.0.2 for/to 10.20.0.3
const OV_ARP_REQ = hex('ffffffffffff02420a1400020806000108000604000102420a1400020a140002000000000000' + '0a140003');
const OV_PING = hex('02420a14000302420a14000208004500003c00004000400126950a1400020a14000308004d5a000100016162636465666768696a6b6c6d6e6f7071727374757677616263646566676869');
/** The echo request the other way, 10.20.0.3 -> 10.20.0.2 (swapping both address pairs keeps every checksum). */
function swapped(frame: Buffer): Buffer {
  const b = Buffer.from(frame);
  frame.copy(b, 0, 6, 12);
  frame.copy(b, 6, 0, 6);
  frame.copy(b, 26, 30, 34);
  frame.copy(b, 30, 26, 30);
  return b;
}

// property.test.ts's seeds (c1) and host seed
const PROPERTY_C1 = [
  hex('0250000000010242ac110002080045000030123440004001d073ac110002ac1100010800ff7800770001706f6e746f6f6e2d70696e672d7061796c6f6164'),
  hex('0250000000010242ac110002080045000021000700004011c3b3ac1100020afe000104d2162e000de9ef68656c6c6f'),
  hex('0250000000010242ac11000208004500002100070000011102b4ac1100020afe000104d2162e000de9ef68656c6c6f'),
  hex('ffffffffffff0242ac110002080600010800060400010242ac110002ac110002000000000000ac110001'),
  hex('0242ac1100030242ac110002080045000030123440004001d071ac110002ac1100030800ff7800770001706f6e746f6f6e2d70696e672d7061796c6f6164'),
];
const PROPERTY_HOST = hex('4500002400094000400183be0afe0001ac11000208006663000500026162636465666768');

const V4 = (a: string): string => `00000000 00000000 0000ffff ${a}`;
const NONCE = '0102030405060708090a0b0c';
const PCP_REQUESTS = [
  '0000',
  '00 02 0000 0fa0 0fa1 0000003c',
  '00 01 0000 0035 0035 00000e10',
  `02 01 0000 00001c20 ${V4('ac110002')} ${NONCE} 06000000 0fa0 0fa0 ${'00'.repeat(16)}`,
  `02 01 0000 00001c20 ${V4('ac110002')} ${NONCE} 06000000 0fa0 0fa0 ${'00'.repeat(16)} 01 00 0010 ${V4('0a000003')} 02 00 0000 03 00 0014 00 78 0050 ${V4('c6336400')}`,
  `02 02 0000 00000e10 ${V4('ac110002')} ${NONCE} 11000000 1388 0000 ${'00'.repeat(16)} 0035 0000 ${V4('cb007105')}`,
  `02 00 0000 00000000 ${V4('ac110002')}`,
];

// IPv6 through the routing stages of the dual-stack fuzz world (c1 fd00:11::2, the host fd00:ffff::1),
// made with scapy; the names say what each is:
// Ether(dst='02:50:00:00:00:01', src='02:42:ac:11:00:02')/IPv6(src='fd00:11::2', dst=...)/...
const V6 = {
  C1_TO_HOST_UDP: hex('0250000000010242ac11000286dd6000000000121140fd000011000000000000000000000002fd00ffff0000000000000000000000019c400009001236b4706f6e746f6f6e2d7636'),
  C1_TO_HOST_HOP1: hex('0250000000010242ac11000286dd60000000000b3a01fd000011000000000000000000000002fd00ffff0000000000000000000000018000ad2c00070001686f70'),
  C1_TO_C3: hex('0250000000010242ac11000286dd6000000000083a40fd000011000000000000000000000002fd0000120000000000000000000000028000858b00070002'),
  C1_TO_OUTSIDE: hex('0250000000010242ac11000286dd6000000000083a40fd00001100000000000000000000000220010db8000000000000000000000001800054e500070003'),
  C1_ROUTING_HDR: hex('0250000000010242ac11000286dd6000000000202b40fd000011000000000000000000000002fd00ffff0000000000000000000000011102000100000000fd00001100000000000000000000000300010002000805b3'),
  C1_FRAGMENT: hex('0250000000010242ac11000286dd6000000000502c40fd000011000000000000000000000002fd00ffff0000000000000000000000011100000100000063000100020048f63678787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878'),
  C1_HBH_DISCARD: hex('0250000000010242ac11000286dd6000000000100040fd000011000000000000000000000002fd00ffff000000000000000000000001110082040000000000010002000805c6'),
  C1_TO_GW_DSTOPT: hex('0250000000010242ac11000286dd6000000000103c40fd000011000000000000000000000002fd0000110000000000000000000000013a00c204000000008000859600000000'),
  HOST_TO_C1: hex('6000000000113a40fd00ffff000000000000000000000001fd00001100000000000000000000000280009ed90008000166726f6d2d686f7374'),
  HOST_TO_UNKNOWN: hex('60000000000e1140fd00ffff000000000000000000000001fd00001100000000000000000000009900050006000ecfc26e6f626f6479'),
  HOST_TO_HOSTGW: hex('6000000000083a40fd00ffff000000000000000000000001fd00ffff000000000000000000000002800085ae00090001'),
  /** 1440 bytes of 'z' follow: 48 bytes over the overlay's MTU of 1450 */
  HOST_TO_OV_BIG_HEAD: hex('6000000005a81140fd00ffff000000000000000000000001fd0000140000000000000000000000020005000605a88202'),
};

/**
 * macvlan frames (scapy, as test/unit/dataplane/macvlan.test.ts): the LAN 192.168.40.0/24 with
 * its router .1 (02:00:5e:00:40:01) and a host .50 (02:00:5e:00:40:50), mv .10; VLAN 50 with mv50.
 */
const MV = {
  LAN_ARP_WHO_HAS_MV: hex('ffffffffffff02005e0040500806000108000604000102005e004050c0a82832000000000000c0a8280a'),
  LAN50_ARP_TAGGED: hex('ffffffffffff02005e004050810000320806000108000604000102005e004050c0a83232000000000000c0a8320a'),
  LAN50_ARP: hex('ffffffffffff02005e0040500806000108000604000102005e004050c0a83232000000000000c0a8320a'),
  LAN_ECHO_MV: hex('0242c0a8280a02005e00405008004500001c000500004001a94fc0a82832c0a8280a0800f7f400090002'),
  MV_ECHO_OUT: hex('02005e0040010242c0a8280a080045000024000100004001561ec0a8280acb00710708004c9d000700016d6163766c616e21'),
  MV_ECHO_HOST: hex('02005e0040010242c0a8280a08004500001c000600004001872ac0a8280a0afe00010800f7f400070004'),
  HOST_REPLY_TO_MV: hex('4500001c00070000400187290afe0001c0a8280a0000fff400070004'),
  MV50_ARP_REPLY: hex('02005e0040500242c0a8320a080600010800060400020242c0a8320ac0a8320a02005e004050c0a83232'),
};

export function literalSeeds(): Seed[] {
  const p = (bytes: Buffer): Seed => ({ target: 'pipeline', bytes });
  const c1Frames = [
    W.ARP_REQUEST,
    W.ICMP_ECHO_REQUEST_FRAME,
    W.DNS_QUERY_FRAME,
    W.DNS_QUERY_PORT54_FRAME,
    W.ICMP_TTL1_REQUEST_FRAME,
    W.ICMP_BIG_REQUEST_FRAME,
    W.TCP_SYN_FRAME,
    W.TCP_DATA_FRAME,
    W.TCP_FIN_FRAME,
  ].map(toGateway);
  const seeds: Seed[] = [
    ...c1Frames.map((f) => p(encodeRecord('c1', f))),
    ...PROPERTY_C1.map((f) => p(encodeRecord('c1', f))),
    p(encodeRecord('host', PROPERTY_HOST)),
    // a NAT-PMP mapping request from c1 to its gateway's port 5351 (sent on to the daemon's socket)
    p(encodeRecord('c1', variant(W.DNS_QUERY_FRAME, { dport: 5351 }))),
    p(encodeRecord('uplink', ROUTER_ARP_REPLY)),
    p(encodeRecord('uplink', SYNACK_X10)),
    // the masqueraded handshake, both directions, in one input
    p(Buffer.concat([encodeRecord('c1', SYN_C1), encodeRecord('uplink', SYNACK_X10), encodeRecord('c1', ACK_C1)])),
    p(encodeRecord('cv', asCv(SYN_C1))),
    p(Buffer.concat([encodeRecord('cv', asCv(variant(SYN_C1, { sport: 40001 }))), encodeRecord('cv', cvSuperSegment(3000, 1448))])),
    p(encodeRecord('ov', OV_ARP_REQ)),
    p(encodeRecord('ov', OV_PING)),
    p(encodeRecord('underlay', Buffer.concat([VXLAN_HEADER, swapped(OV_PING)]), { vtep: 1 })),
    p(encodeRecord('underlay', Buffer.concat([VXLAN_HEADER, swapped(OV_ARP_REQ)]), { vtep: 0 })),
    // a parked frame that times out: a ping to an unknown neighbour of the bridge, then time
    p(Buffer.concat([encodeRecord('c1', variant(W.ICMP_ECHO_REQUEST_FRAME, { dst: 0xac110063 })), encodeRecord('c1', W.ARP_REQUEST, { timeStep: 2 })])),
    // IPv6 routed: c1 to the host (UDP; hop limit 1; a routing header with segments left; a
    // fragment; a hop-by-hop option to discard), to the backend (isolation), to no route, a
    // destination option to the gateway; the host to c1, to an unknown neighbour (parked), to its
    // gateway, and too big for the overlay's MTU
    ...[V6.C1_TO_HOST_UDP, V6.C1_TO_HOST_HOP1, V6.C1_ROUTING_HDR, V6.C1_FRAGMENT, V6.C1_HBH_DISCARD, V6.C1_TO_C3, V6.C1_TO_OUTSIDE, V6.C1_TO_GW_DSTOPT].map((f) =>
      p(encodeRecord('c1', f)),
    ),
    ...[V6.HOST_TO_C1, V6.HOST_TO_UNKNOWN, V6.HOST_TO_HOSTGW, Buffer.concat([V6.HOST_TO_OV_BIG_HEAD, Buffer.alloc(1440, 0x7a)])].map((f) => p(encodeRecord('host', f))),
    p(Buffer.concat([encodeRecord('host', V6.HOST_TO_UNKNOWN), encodeRecord('c1', V6.C1_TO_HOST_UDP, { timeStep: 2 })])),
    // macvlan: the LAN's ARP for mv (untagged), VLAN 50's for mv50 (the tag in the frame, and
    // beside it as the socket reports it), a VLAN no network has, a LAN host's ping to mv; mv's
    // ping out to the LAN's router and to the host (host access), mv50's ARP reply (tagged out)
    p(encodeRecord('lan', MV.LAN_ARP_WHO_HAS_MV)),
    p(encodeRecord('lan', MV.LAN50_ARP_TAGGED)),
    p(encodeRecord('lan', MV.LAN50_ARP, { vtep: 2 })),
    p(encodeRecord('lan', MV.LAN50_ARP, { vtep: 3 })),
    p(encodeRecord('lan', MV.LAN_ECHO_MV)),
    p(encodeRecord('mv', MV.MV_ECHO_OUT)),
    p(Buffer.concat([encodeRecord('mv', MV.MV_ECHO_HOST), encodeRecord('host', MV.HOST_REPLY_TO_MV)])),
    p(encodeRecord('mv50', MV.MV50_ARP_REPLY)),
    // the routed overlay (as test/unit/dataplane/routed-overlay.test.ts): rt pings the peer's
    // subnet and ARPs for the host's address; the peer's reply to rt, its ping of the gateway
    p(encodeRecord('rt', hex('02aa0000010002420af4010208004500002400014000400121ea0af401020af4020508006662000700016162636465666768'))),
    p(encodeRecord('rt', hex('ffffffffffff02420af401020806000108000604000102420af401020af401020000000000000af40100'))),
    p(encodeRecord('underlay', Buffer.concat([hex('0800000000000100'), hex('02aa0000010002bb0000020008004500002400020000400161e90af402050af4010200006e62000700016162636465666768')]), { vtep: 0 })),
    p(encodeRecord('underlay', Buffer.concat([hex('0800000000000100'), hex('02aa0000010002bb0000020008004500002400050000400161e70af402050af401010800665e000b00016162636465666768')]), { vtep: 0 })),
    // NAT-PMP (RFC 6886) and PCP (RFC 6887) requests, as in test/unit/pcp/codec.test.ts
    ...PCP_REQUESTS.map((r) => ({ target: 'pcp', bytes: hex(r) })),
    // DNS: the query's message, as the resolver gets it
    { target: 'dns', bytes: dnsInput(W.DNS_QUERY_FRAME.subarray(42), W.DNS_RESPONSE_FRAME.subarray(42)) },
  ];
  return seeds;
}
