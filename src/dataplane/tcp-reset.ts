// A TCP RST in answer to a segment that reached no connection (RFC 793 "reset generation"),
// sent back out of the port it came in on.

import { ETH_HLEN } from '../wire/ethernet.js';
import { IP_PROTO_TCP, IPV4_MIN_HLEN, Ipv4Repr } from '../wire/ipv4.js';
import { TCP_ACK, TCP_FIN, TCP_MIN_HLEN, TCP_RST, TCP_SYN, TcpRepr } from '../wire/tcp.js';
import { writeReplyEthernet } from './reply-ethernet.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import { PortKind, type Port } from './port.js';

/** IP length of the reset: IPv4 and TCP headers, no options, no payload. */
const RST_LEN = IPV4_MIN_HLEN + TCP_MIN_HLEN;
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
  const tcp = dp.frame.tcp;
  const out = dp.pool.slab;
  const flags = tcp.flags;
  const segLen = tcp.payloadLength + ((flags & TCP_SYN) !== 0 ? 1 : 0) + ((flags & TCP_FIN) !== 0 ? 1 : 0);
  const net = ingress.kind === PortKind.Host ? undefined : dp.tables.networks[ingress.network];
  writeReplyEthernet(out, o, buf, off, net);
  const v4 = IPV4_REPR;
  v4.src = ip.dst;
  v4.dst = ip.src;
  Ipv4Repr.emit(v4, out, o + ETH_HLEN);
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
  TcpRepr.emit(r, out, o + ETH_HLEN + IPV4_MIN_HLEN, ip.dst, ip.src);
  dp.frame.suspendOffload();
  if (ingress.kind === PortKind.Host) dp.tx.send(ingress.id, out, o + ETH_HLEN, RST_LEN);
  else dp.tx.send(ingress.id, out, o, ETH_HLEN + RST_LEN);
  dp.frame.resumeOffload();
}
