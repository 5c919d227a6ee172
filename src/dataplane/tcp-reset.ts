// A TCP RST in answer to a segment that reached no connection (RFC 793 "reset generation"),
// sent back out of the port it came in on.

import { copyBytes } from './frame-pool.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { finish, pseudoHeaderSum, sum16 } from '../wire/checksum.js';
import { IP_PROTO_TCP, Ipv4Repr } from '../wire/ipv4.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../wire/tcp.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import { putMac } from '../wire/mac.js';
import { PortKind, type Port } from './port.js';

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
  copyBytes(buf, off + 6, off + 12, out, o);
  if (net !== undefined) putMac(out, o + 6, net.gatewayMacHi, net.gatewayMacLo);
  else out.fill(0, o + 6, o + 12);
  out[o + 12] = 0x08;
  out[o + 13] = 0x00;
  Ipv4Repr.emit({ src: ip.dst, dst: ip.src, protocol: IP_PROTO_TCP, ttl: 64, payloadLength: 20 }, out, o + ETH_HLEN);
  const t = o + ETH_HLEN + 20;
  out.writeUInt16BE(tcp.dstPort, t);
  out.writeUInt16BE(tcp.srcPort, t + 2);
  if ((flags & TCP_ACK) !== 0) {
    out.writeUInt32BE(tcp.ack >>> 0, t + 4);
    out.writeUInt32BE(0, t + 8);
    out[t + 13] = TCP_RST;
  } else {
    out.writeUInt32BE(0, t + 4);
    out.writeUInt32BE((tcp.seq + segLen) >>> 0, t + 8);
    out[t + 13] = TCP_RST | TCP_ACK;
  }
  out[t + 12] = 5 << 4;
  out.writeUInt32BE(0, t + 14); // window 0, checksum 0
  out.writeUInt16BE(0, t + 18);
  const sum = sum16(out, t, 20, pseudoHeaderSum(ip.dst, ip.src, IP_PROTO_TCP, 20));
  out.writeUInt16BE(finish(sum), t + 16);
  dp.frame.suspendOffload();
  if (ingress.kind === PortKind.Host) dp.tx.send(ingress.id, out, o + ETH_HLEN, 40);
  else dp.tx.send(ingress.id, out, o, ETH_HLEN + 40);
  dp.frame.resumeOffload();
}
