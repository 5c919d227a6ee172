// icmp-error: the gateway's ICMP error messages (time exceeded, unreachable, fragmentation
// needed, administratively prohibited), sent back out of the port the offending packet came in
// on, following RFC 1122/1812: never about an ICMP error, a broadcast, or a non-first fragment.

import { copyBytes } from './frame-pool.js';
import { ETH_HLEN, ETHERTYPE_IPV4 } from '../wire/ethernet.js';
import { emitIcmpError } from '../wire/icmpv4.js';
import { IP_PROTO_ICMP, Ipv4Repr } from '../wire/ipv4.js';
import { Drop } from './counters.js';
import type { Dataplane } from './dataplane.js';
import { putMac } from '../wire/mac.js';
import { PortKind, type Port } from './port.js';

/** RFC 1812 4.3.2.3: quote as much of the packet as fits in 576 bytes. */
const MAX_ERROR_IP_LEN = 576;

/** ICMP types that are queries or replies (an error may be sent about them); all others are errors. */
function isIcmpQuery(type: number): boolean {
  return type === 0 || type === 8 || type === 13 || type === 14 || type === 17 || type === 18;
}

/** `off` is the Ethernet start of the offending frame, its IPv4 header at off + 14. */
export function icmpError(
  dp: Dataplane,
  ingress: Port,
  buf: Buffer,
  off: number,
  len: number,
  type: number,
  code: number,
  mtu: number,
): void {
  const ipOff = off + ETH_HLEN;
  const ihl = (buf[ipOff] & 0x0f) * 4;
  const src = buf.readUInt32BE(ipOff + 12);
  const dst = buf.readUInt32BE(ipOff + 16);
  if ((buf.readUInt16BE(ipOff + 6) & 0x1fff) !== 0) return; // not the first fragment
  if (buf[ipOff + 9] === IP_PROTO_ICMP && len >= ETH_HLEN + ihl + 1 && !isIcmpQuery(buf[ipOff + ihl])) return;
  if (src === 0 || src >>> 28 >= 14 || dst >>> 28 >= 14) return; // multicast, broadcast, unspecified
  if (!dp.takeIcmpToken()) {
    dp.counters.drop(Drop.IcmpRateLimited);
    return;
  }
  const o = dp.pool.alloc();
  if (o < 0) {
    dp.counters.drop(Drop.NoBuffer);
    return;
  }
  const out = dp.pool.slab;
  const ipLen = Math.min(len - ETH_HLEN, buf.readUInt16BE(ipOff + 2));
  const quoted = Math.min(ipLen, MAX_ERROR_IP_LEN - 20 - 8);
  const net = ingress.kind !== PortKind.Host ? dp.networks[ingress.network] : undefined;
  const from = net !== undefined ? net.gatewayIp : dp.hostGatewayIp;
  // Ethernet: back to whoever sent the offending frame
  copyBytes(buf, off + 6, off + 12, out, o);
  if (net !== undefined) putMac(out, o + 6, net.gatewayMacHi, net.gatewayMacLo);
  else out.fill(0, o + 6, o + 12);
  out[o + 12] = ETHERTYPE_IPV4 >>> 8;
  out[o + 13] = ETHERTYPE_IPV4 & 0xff;
  const icmpLen = emitIcmpError(out, o + ETH_HLEN + 20, type, code, mtu, buf, ipOff, quoted);
  Ipv4Repr.emit({ src: from, dst: src, protocol: IP_PROTO_ICMP, ttl: 64, payloadLength: icmpLen }, out, o + ETH_HLEN);
  dp.gaugeIcmpSent();
  const total = ETH_HLEN + 20 + icmpLen;
  dp.suspendOffload();
  if (ingress.kind === PortKind.Host) dp.send(ingress.id, out, o + ETH_HLEN, total - ETH_HLEN);
  else dp.send(ingress.id, out, o, total);
  dp.resumeOffload();
}
