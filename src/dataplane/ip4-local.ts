// ip4-local: packets for the gateway's own addresses. Echo requests are answered in place (the
// request buffer becomes the reply); UDP gets port unreachable, as from a host with no listener.

import { ETH_DST, ETH_HLEN, ETH_SRC, ETH_TYPE } from '../wire/ethernet.js';
import { putMac } from '../wire/mac.js';
import { ICMP_DEST_UNREACHABLE, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_PORT_UNREACHABLE } from '../wire/icmpv4.js';
import { IP_PROTO_ICMP, IP_PROTO_UDP } from '../wire/ipv4.js';
import { WireError } from '../wire/error.js';
import { update16 } from '../wire/checksum.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import type { CheckedIpv4 } from './frame.js';
import { icmpError } from './icmp-error.js';
import { PortKind, type Port } from './port.js';
import { overlayReply } from './routed-output.js';

/** `ip` is wrapped around the packet; len is exactly Ethernet header + IP total length. */
export function ip4Local(dp: Datapath, port: Port, ip: CheckedIpv4, buf: Buffer, off: number, len: number): void {
  if (ip.isFragment) {
    dp.counters.drop(Drop.UnsupportedProtocol); // the gateway does not reassemble
    return;
  }
  const proto = ip.protocol;
  if (proto === IP_PROTO_ICMP) {
    const icmp = dp.frame.icmp;
    const icmpLen = ip.payloadLength;
    if (icmp.wrap(buf, ip.payloadOffset, icmpLen) !== WireError.Ok) {
      dp.counters.drop(Drop.Malformed);
      return;
    }
    if (icmp.type !== ICMP_ECHO_REQUEST) {
      dp.counters.drop(Drop.NotForUs);
      return;
    }
    if (!icmp.verifyChecksum(icmpLen)) {
      dp.counters.drop(Drop.BadChecksum);
      return;
    }
    // echo reply in place: swap addresses, type 8 -> 0, fresh TTL
    buf.copyWithin(off + ETH_DST, off + ETH_SRC, off + ETH_TYPE);
    const net = port.kind !== PortKind.Host && port.kind !== PortKind.Tunnel ? dp.tables.networks[port.network] : undefined;
    if (net !== undefined) putMac(buf, off + ETH_SRC, net.gatewayMacHi, net.gatewayMacLo);
    const src = ip.src;
    ip.src = ip.dst;
    ip.dst = src;
    ip.ttl = 64;
    ip.fillChecksum();
    icmp.type = ICMP_ECHO_REPLY;
    icmp.checksum = update16(icmp.checksum, ICMP_ECHO_REQUEST << 8, 0);
    if (port.kind === PortKind.Host) dp.tx.send(port.id, buf, off + ETH_HLEN, len - ETH_HLEN);
    else if (port.kind === PortKind.Tunnel) overlayReply(dp, src, buf, off, len); // from a routed overlay's other host
    else dp.tx.send(port.id, buf, off, len);
    return;
  }
  if (proto === IP_PROTO_UDP) {
    dp.counters.drop(Drop.NotForUs);
    icmpError(dp, port, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_PORT_UNREACHABLE, 0);
    return;
  }
  dp.counters.drop(Drop.UnsupportedProtocol);
}
