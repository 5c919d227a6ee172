// icmp-error: the gateway's ICMP error messages (time exceeded, unreachable, fragmentation
// needed, administratively prohibited), sent back out of the port the offending packet came in
// on, following RFC 1122/1812: never about an ICMP error, a broadcast, or a non-first fragment.

import { ETH_HLEN, ETHERTYPE_IPV4, etherTypeOf } from '../wire/ethernet.js';
import { writeReplyEthernet } from './reply-ethernet.js';
import { emitIcmpError, ICMP_HLEN, isIcmpQueryType } from '../wire/icmpv4.js';
import {
  IP_PROTO_ICMP,
  IPV4_FLAGS_FRAG,
  IPV4_FRAG_OFFSET_MASK,
  IPV4_MIN_HLEN,
  IPV4_PROTO,
  IPV4_TOTAL_LEN,
  ipv4Dst,
  ipv4HeaderLength,
  Ipv4Repr,
  ipv4Src,
} from '../wire/ipv4.js';
import { isMulticastOrReserved } from '../wire/ipv4-address.js';
import { Drop, Gauge } from './counters.js';
import type { Datapath } from './context.js';
import { PortKind, type Port } from './port.js';
import { overlayNetworkOf, overlayReply } from './routed-output.js';

/** RFC 1812 4.3.2.3: quote as much of the packet as fits in 576 bytes. */
const MAX_ERROR_IP_LEN = 576;

/** `off` is the Ethernet start of the offending frame, its IPv4 header at off + 14. */
export function icmpError(
  dp: Datapath,
  ingress: Port,
  buf: Buffer,
  off: number,
  len: number,
  type: number,
  code: number,
  mtu: number,
): void {
  // the offending frame may be a parked one, not the one the views are wrapped around
  const ipOff = off + ETH_HLEN;
  const ihl = ipv4HeaderLength(buf, ipOff);
  const src = ipv4Src(buf, ipOff);
  const dst = ipv4Dst(buf, ipOff);
  if ((buf.readUInt16BE(ipOff + IPV4_FLAGS_FRAG) & IPV4_FRAG_OFFSET_MASK) !== 0) return; // not the first fragment
  if (buf[ipOff + IPV4_PROTO] === IP_PROTO_ICMP && len >= ETH_HLEN + ihl + 1 && !isIcmpQueryType(buf[ipOff + ihl])) return;
  // unspecified, multicast or class E (which holds the limited broadcast)
  if (src === 0 || isMulticastOrReserved(src) || isMulticastOrReserved(dst)) return;
  // from a routed overlay's other host: from the gateway of the network its source's subnet is of
  const net =
    ingress.kind === PortKind.Tunnel ? overlayNetworkOf(dp, src) : ingress.kind !== PortKind.Host ? dp.tables.networks[ingress.network] : undefined;
  if (ingress.kind === PortKind.Tunnel && net === undefined) return;
  const from = net !== undefined ? net.gatewayIp : dp.tables.hostGatewayIp;
  // no address of the gateway's on that network (a macvlan network's is the LAN's router): no error to send from
  if (from === 0) return;
  const o = errorSlot(dp);
  if (o < 0) return;
  const out = dp.pool.slab;
  const ipLen = Math.min(len - ETH_HLEN, buf.readUInt16BE(ipOff + IPV4_TOTAL_LEN));
  const quoted = Math.min(ipLen, MAX_ERROR_IP_LEN - IPV4_MIN_HLEN - ICMP_HLEN);
  // Ethernet: back to whoever sent the offending frame
  writeReplyEthernet(out, o, buf, off, net);
  const icmpLen = emitIcmpError(out, o + ETH_HLEN + IPV4_MIN_HLEN, type, code, mtu, buf, ipOff, quoted);
  Ipv4Repr.emit({ src: from, dst: src, protocol: IP_PROTO_ICMP, ttl: 64, payloadLength: icmpLen }, out, o + ETH_HLEN);
  dp.counters.gauges[Gauge.IcmpSent]++;
  sendError(dp, ingress, o, ETH_HLEN + IPV4_MIN_HLEN + icmpLen);
}

/**
 * A pool slot for an error the gateway may send now (the ICMP and ICMPv6 errors share one token
 * bucket, RFC 4443 2.4(f)), or -1, counted (rate limited, or no buffer).
 */
export function errorSlot(dp: Datapath): number {
  if (!dp.icmpLimit.take(dp.now)) {
    dp.counters.drop(Drop.IcmpRateLimited);
    return -1;
  }
  const o = dp.pool.alloc();
  if (o < 0) dp.counters.drop(Drop.NoBuffer);
  return o;
}

/** Sends the error frame written at pool slot `o` back out of `ingress` (the bare IP packet to the host's TUN port), without the offending frame's offloads. */
export function sendError(dp: Datapath, ingress: Port, o: number, total: number): void {
  const out = dp.pool.slab;
  dp.frame.suspendOffload();
  if (ingress.kind === PortKind.Host) dp.tx.send(ingress.id, out, o + ETH_HLEN, total - ETH_HLEN);
  else if (ingress.kind === PortKind.Tunnel) {
    // only IPv4 is routed over an overlay; the underlay takes nothing else from the gateway
    if (etherTypeOf(out, o) === ETHERTYPE_IPV4) overlayReply(dp, ipv4Dst(out, o + ETH_HLEN), out, o, total);
    else dp.counters.drop(Drop.TxError);
  }
  else dp.tx.send(ingress.id, out, o, total);
  dp.frame.resumeOffload();
}
