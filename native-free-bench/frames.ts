// Frames for the native-free benchmark, built with the wire layer's emitters (checksums included).

import { ETH_HLEN, EthernetRepr, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../src/wire/ethernet.js';
import { IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP, Ipv4Repr } from '../src/wire/ipv4.js';
import { internetChecksum } from '../src/wire/checksum.js';
import { parseIpv4 } from '../src/wire/ipv4-address.js';
import { IPV6_HLEN, Ipv6Repr } from '../src/wire/ipv6.js';
import { parseIpv6 } from '../src/wire/ipv6-address.js';
import { parseMac } from '../src/wire/mac.js';
import { TCP_ACK, TCP_PSH, TcpRepr } from '../src/wire/tcp.js';
import { UdpRepr } from '../src/wire/udp.js';

export interface Addr {
  mac: string;
  ip: string;
  port: number;
}

function frame(src: Addr, dst: Addr, dstMac: string, proto: number, l4: (b: Buffer, off: number, s: number, d: number) => number, l4len: number): Buffer {
  const b = Buffer.alloc(ETH_HLEN + 20 + l4len);
  EthernetRepr.emit({ dst: parseMac(dstMac), src: parseMac(src.mac), etherType: ETHERTYPE_IPV4 }, b, 0);
  const s = parseIpv4(src.ip);
  const d = parseIpv4(dst.ip);
  l4(b, ETH_HLEN + 20, s, d);
  Ipv4Repr.emit({ src: s, dst: d, protocol: proto, ttl: 64, payloadLength: l4len, dontFragment: true, ident: 1 }, b, ETH_HLEN);
  return b;
}

export function udpFrame(src: Addr, dst: Addr, dstMac: string, payload: number): Buffer {
  const data = Buffer.alloc(payload, 0x61);
  return frame(src, dst, dstMac, IP_PROTO_UDP, (b, o, s, d) => UdpRepr.emit({ srcPort: src.port, dstPort: dst.port, payload: data }, b, o, s, d), 8 + payload);
}

export function tcpFrame(src: Addr, dst: Addr, dstMac: string, flags: number, seq: number, ack: number, payload: number): Buffer {
  const data = Buffer.alloc(payload, 0x62);
  return frame(
    src,
    dst,
    dstMac,
    IP_PROTO_TCP,
    (b, o, s, d) => TcpRepr.emit({ srcPort: src.port, dstPort: dst.port, seq, ack, flags, window: 65535, payload: data }, b, o, s, d),
    20 + payload,
  );
}

/** An ICMP echo request (type 8) or reply (0) with identifier `id`, sequence 1 and 56 bytes of data. */
export function icmpEchoFrame(src: Addr, dst: Addr, dstMac: string, type: 0 | 8, id: number): Buffer {
  const b = Buffer.alloc(ETH_HLEN + 20 + 64);
  EthernetRepr.emit({ dst: parseMac(dstMac), src: parseMac(src.mac), etherType: ETHERTYPE_IPV4 }, b, 0);
  Ipv4Repr.emit({ src: parseIpv4(src.ip), dst: parseIpv4(dst.ip), protocol: IP_PROTO_ICMP, ttl: 64, payloadLength: 64, dontFragment: true, ident: 1 }, b, ETH_HLEN);
  const o = ETH_HLEN + 20;
  b[o] = type;
  b.writeUInt16BE(id, o + 4);
  b.writeUInt16BE(1, o + 6);
  b.fill(0x78, o + 8);
  b.writeUInt16BE(internetChecksum(b, o, 64), o + 2);
  return b;
}

/** The same over IPv6 (addresses such as "fd00:17::2"), hop limit 64. */
export function udp6Frame(src: Addr, dst: Addr, dstMac: string, payload: number): Buffer {
  const l4len = 8 + payload;
  const b = Buffer.alloc(ETH_HLEN + IPV6_HLEN + l4len);
  EthernetRepr.emit({ dst: parseMac(dstMac), src: parseMac(src.mac), etherType: ETHERTYPE_IPV6 }, b, 0);
  const ip = { src: parseIpv6(src.ip), dst: parseIpv6(dst.ip), nextHeader: IP_PROTO_UDP, hopLimit: 64, payloadLength: l4len };
  Ipv6Repr.emit(ip, b, ETH_HLEN);
  UdpRepr.emitWith({ srcPort: src.port, dstPort: dst.port, payload: Buffer.alloc(payload, 0x61) }, b, ETH_HLEN + IPV6_HLEN, Ipv6Repr.addressSum(ip));
  return b;
}

export const DATA = TCP_ACK | TCP_PSH;

/** A TCP segment over IPv6 (addresses such as "fd00:17::2"), hop limit 64. */
export function tcp6Frame(src: Addr, dst: Addr, dstMac: string, flags: number, seq: number, ack: number, payload: number): Buffer {
  const l4len = 20 + payload;
  const b = Buffer.alloc(ETH_HLEN + IPV6_HLEN + l4len);
  EthernetRepr.emit({ dst: parseMac(dstMac), src: parseMac(src.mac), etherType: ETHERTYPE_IPV6 }, b, 0);
  const ip = { src: parseIpv6(src.ip), dst: parseIpv6(dst.ip), nextHeader: IP_PROTO_TCP, hopLimit: 64, payloadLength: l4len };
  Ipv6Repr.emit(ip, b, ETH_HLEN);
  TcpRepr.emitWith({ srcPort: src.port, dstPort: dst.port, seq, ack, flags, window: 65535, payload: Buffer.alloc(payload, 0x62) }, b, ETH_HLEN + IPV6_HLEN, Ipv6Repr.addressSum(ip));
  return b;
}
