// A UDP datagram the gateway itself sends into a network from gatewayIp:srcPort: NAT-PMP's and
// PCP's announcements to 224.0.0.1:5350 at start (RFC 6886 §3.2.1, RFC 6887 §14.1.3) and their
// unicast copies to known clients. A control operation, never on the fast path: the frame is
// built in a pool slot with full checksums and sent as multicast, broadcast or unicast.

import { ETH_HLEN, ETHERTYPE_IPV4, EthernetRepr } from '../wire/ethernet.js';
import { IP_PROTO_UDP, IPV4_MIN_HLEN, Ipv4Repr } from '../wire/ipv4.js';
import { MAC_BROADCAST, macOf } from '../wire/mac.js';
import { UDP_HLEN, UdpRepr } from '../wire/udp.js';
import type { Datapath } from './context.js';
import { l2Output } from './l2-switch.js';
import { hasMac } from './neighbour-table.js';
import type { Network } from './network.js';

export interface GatewayDatagramSpec {
  /** network slot */
  network: number;
  srcPort: number;
  dstIp: number;
  dstPort: number;
  payload: Uint8Array;
}

/** 01:00:5e + the low 23 bits of the group (RFC 1112 §6.4). */
function multicastMac(group: number): number {
  return 0x01005e000000 + ((group >>> 0) & 0x7fffff);
}

/** The destination MAC of dstIp on the network, or -1 when none is known (no ARP from here). */
export function datagramMac(dp: Datapath, net: Network, dstIp: number): number {
  const ip = dstIp >>> 0;
  if (ip >>> 28 === 0xe) return multicastMac(ip);
  const broadcast = (net.subnet | (~(0xffffffff << (32 - net.prefixLen)) >>> 0)) >>> 0;
  if (ip === 0xffffffff || (net.prefixLen < 31 && ip === broadcast)) return MAC_BROADCAST;
  const n = net.neighbours.get(ip);
  if (n !== undefined && hasMac(n.state)) {
    n.use(dp.now);
    return macOf(n.macHi, n.macLo);
  }
  const ports = dp.tables.ports;
  for (let i = 0; i < net.portCount; i++) {
    const p = ports[net.ports[i]!];
    if (p !== undefined && p.ip === ip) return macOf(p.macHi, p.macLo);
  }
  return -1;
}

/** Builds and sends the datagram; throws (sending nothing) when it cannot. */
export function sendGatewayDatagram(dp: Datapath, spec: GatewayDatagramSpec): void {
  const net = dp.tables.networks[spec.network];
  if (net === undefined) throw new Error(`no network in slot ${spec.network}`);
  const payload = Buffer.from(spec.payload.buffer, spec.payload.byteOffset, spec.payload.byteLength);
  const len = ETH_HLEN + IPV4_MIN_HLEN + UDP_HLEN + payload.length;
  if (len > net.mtu + ETH_HLEN) throw new Error(`a datagram of ${payload.length} bytes does not fit the MTU of ${net.name}`);
  const mac = datagramMac(dp, net, spec.dstIp);
  if (mac < 0) throw new Error(`no MAC address known for the destination on ${net.name}`);
  const o = dp.pool.alloc();
  if (o < 0) throw new Error('no frame buffer free');
  const slab = dp.pool.slab;
  const multicast = spec.dstIp >>> 28 === 0xe;
  EthernetRepr.emit({ dst: mac, src: macOf(net.gatewayMacHi, net.gatewayMacLo), etherType: ETHERTYPE_IPV4 }, slab, o);
  // link-local multicast stays on the link (TTL 1)
  Ipv4Repr.emit({ src: net.gatewayIp, dst: spec.dstIp >>> 0, protocol: IP_PROTO_UDP, ttl: multicast ? 1 : 64, payloadLength: UDP_HLEN + payload.length }, slab, o + ETH_HLEN);
  UdpRepr.emit({ srcPort: spec.srcPort, dstPort: spec.dstPort, payload }, slab, o + ETH_HLEN + IPV4_MIN_HLEN, net.gatewayIp, spec.dstIp >>> 0);
  dp.frame.suspendOffload();
  l2Output(dp, net, slab, o, len);
  dp.frame.resumeOffload();
}
