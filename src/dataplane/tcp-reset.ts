// A TCP RST in answer to a segment that reached no connection (RFC 793 "reset generation"),
// sent back out of the port it came in on: over IPv4 (sendTcpReset) or IPv6 (sendTcpReset6,
// without the offending packet's extension headers).

import { ipv6AddressSum } from '../wire/checksum.js';
import { ETH_HLEN, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { IP_PROTO_TCP, IPV4_MIN_HLEN, Ipv4Repr } from '../wire/ipv4.js';
import { IPV6_DST, IPV6_HLEN, IPV6_SRC, writeFixedHeader } from '../wire/ipv6.js';
import { TCP_ACK, TCP_FIN, TCP_MIN_HLEN, TCP_RST, TCP_SYN, TcpRepr } from '../wire/tcp.js';
import { writeReplyEthernet } from './reply-ethernet.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import { copyBytes } from './frame-pool.js';
import { PortKind, type Port } from './port.js';

// reused for every reset (slow path, but no reason to allocate)
const IPV4_REPR: Ipv4Repr = { src: 0, dst: 0, protocol: IP_PROTO_TCP, ttl: 64, payloadLength: TCP_MIN_HLEN };
const TCP_REPR: TcpRepr = { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, payload: Buffer.alloc(0) };

/** `dp.frame.ip` and `dp.frame.tcp` are wrapped around the offending segment. */
export function sendTcpReset(dp: Datapath, ingress: Port, buf: Buffer, off: number): void {
  const o = dp.pool.alloc();
  if (o < 0) {
    dp.counters.drop(Drop.NoBuffer);
    return;
  }
  const ip = dp.frame.ip;
  const out = dp.pool.slab;
  writeReplyEthernet(out, o, buf, off, replyNetwork(dp, ingress));
  const v4 = IPV4_REPR;
  v4.src = ip.dst;
  v4.dst = ip.src;
  Ipv4Repr.emit(v4, out, o + ETH_HLEN);
  TcpRepr.emit(resetOf(dp), out, o + ETH_HLEN + IPV4_MIN_HLEN, ip.dst, ip.src);
  send(dp, ingress, o, IPV4_MIN_HLEN + TCP_MIN_HLEN);
}

/** `dp.frame.tcp` is wrapped around the offending segment, its IPv6 header at buf[off + 14]. */
export function sendTcpReset6(dp: Datapath, ingress: Port, buf: Buffer, off: number): void {
  const o = dp.pool.alloc();
  if (o < 0) {
    dp.counters.drop(Drop.NoBuffer);
    return;
  }
  const out = dp.pool.slab;
  const ipIn = off + ETH_HLEN;
  const ipOut = o + ETH_HLEN;
  writeReplyEthernet(out, o, buf, off, replyNetwork(dp, ingress), ETHERTYPE_IPV6);
  writeFixedHeader(out, ipOut, TCP_MIN_HLEN, IP_PROTO_TCP, 64, 0, 0);
  copyBytes(buf, ipIn + IPV6_DST, ipIn + IPV6_DST + 16, out, ipOut + IPV6_SRC);
  copyBytes(buf, ipIn + IPV6_SRC, ipIn + IPV6_SRC + 16, out, ipOut + IPV6_DST);
  TcpRepr.emitWith(resetOf(dp), out, ipOut + IPV6_HLEN, ipv6AddressSum(out, ipOut + IPV6_SRC));
  send(dp, ingress, o, IPV6_HLEN + TCP_MIN_HLEN);
}

function replyNetwork(dp: Datapath, ingress: Port) {
  return ingress.kind === PortKind.Host ? undefined : dp.tables.networks[ingress.network];
}

/** The reset's TCP header for the offending segment: RFC 793's two cases (an ACK in it or not). */
function resetOf(dp: Datapath): TcpRepr {
  const tcp = dp.frame.tcp;
  const flags = tcp.flags;
  const segLen = tcp.payloadLength + ((flags & TCP_SYN) !== 0 ? 1 : 0) + ((flags & TCP_FIN) !== 0 ? 1 : 0);
  const r = TCP_REPR;
  r.srcPort = tcp.dstPort;
  r.dstPort = tcp.srcPort;
  if ((flags & TCP_ACK) !== 0) {
    r.seq = tcp.ack >>> 0;
    r.ack = 0;
    r.flags = TCP_RST;
  } else {
    r.seq = 0;
    r.ack = (tcp.seq + segLen) >>> 0;
    r.flags = TCP_RST | TCP_ACK;
  }
  return r;
}

/** `ipLen`: IP header and TCP header; the host port takes IP packets, the others Ethernet frames. */
function send(dp: Datapath, ingress: Port, o: number, ipLen: number): void {
  const out = dp.pool.slab;
  dp.frame.suspendOffload();
  if (ingress.kind === PortKind.Host) dp.tx.send(ingress.id, out, o + ETH_HLEN, ipLen);
  else dp.tx.send(ingress.id, out, o, ETH_HLEN + ipLen);
  dp.frame.resumeOffload();
}
