// ip6-local: IPv6 packets for the gateway's own addresses (fe80::1 and the network's gateway
// address on a network, the gateway's address on the host's TUN link). What the walk of the
// extension headers found is acted on here, at the destination (RFC 8200 4): a destination
// option that says so drops the packet (with a parameter problem if it asks for one), and a
// routing header with segments left is refused (the gateway is no segment router: parameter
// problem pointing at its type). Echo requests are answered in place; UDP gets port unreachable,
// as from a host with no listener; a fragment is dropped (the gateway does not reassemble).

import { ETH_DST, ETH_HLEN, ETH_SRC, ETH_TYPE } from '../wire/ethernet.js';
import { WireError } from '../wire/error.js';
import {
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_ERRONEOUS_HEADER,
  ICMPV6_PARAM_PROBLEM,
  ICMPV6_PORT_UNREACHABLE,
} from '../wire/icmpv6.js';
import { IPV6_DST, IPV6_HLEN, IPV6_HOP_LIMIT, IPV6_NEXT_HEADER, IPV6_NH_ICMPV6, IPV6_NH_UDP, IPV6_PAYLOAD_LEN, IPV6_SRC, readI32, writeU32 } from '../wire/ipv6.js';
import { putMac } from '../wire/mac.js';
import type { Datapath } from './context.js';
import { Drop } from './counters.js';
import { icmp6Error } from './icmp6-error.js';
import { PortKind, type Port } from './port.js';

/** The frame's IPv6 view and walk are over the packet; len is exactly Ethernet header + IPv6 total length. */
export function ip6Local(dp: Datapath, port: Port, buf: Buffer, off: number, len: number): void {
  const c = dp.counters;
  const ip = dp.frame.ip6;
  const walk = dp.frame.walk6;
  if (walk.destinationDiscard) {
    c.drop(Drop.Ipv6ExtensionRefused);
    if (walk.destinationProblemCode >= 0) icmp6Error(dp, port, buf, off, len, ICMPV6_PARAM_PROBLEM, walk.destinationProblemCode, walk.destinationProblemPointer);
    return;
  }
  if (walk.routing >= 0) {
    c.drop(Drop.Ipv6ExtensionRefused);
    icmp6Error(dp, port, buf, off, len, ICMPV6_PARAM_PROBLEM, ICMPV6_ERRONEOUS_HEADER, walk.routingPointer);
    return;
  }
  if (walk.fragment >= 0) {
    c.drop(Drop.UnsupportedProtocol);
    return;
  }
  if (walk.protocol === IPV6_NH_ICMPV6) {
    const icmp = dp.frame.icmp6;
    if (icmp.wrap(buf, walk.offset, walk.length) !== WireError.Ok) {
      c.drop(Drop.Malformed);
      return;
    }
    if (icmp.type !== ICMPV6_ECHO_REQUEST) {
      c.drop(Drop.NotForUs);
      return;
    }
    if (!icmp.verifyChecksum(ip.addressSum())) {
      c.drop(Drop.BadChecksum);
      return;
    }
    // the reply in place: addresses swapped (the pseudo-header sum is unchanged), a fresh hop limit
    const ipOff = off + ETH_HLEN;
    if (walk.offset !== ipOff + IPV6_HLEN) {
      // the request's extension headers were for the gateway: the reply is the message alone
      const icmpLen = walk.length;
      buf.copyWithin(ipOff + IPV6_HLEN, walk.offset, walk.offset + icmpLen);
      buf[ipOff + IPV6_NEXT_HEADER] = IPV6_NH_ICMPV6;
      buf[ipOff + IPV6_PAYLOAD_LEN] = icmpLen >>> 8;
      buf[ipOff + IPV6_PAYLOAD_LEN + 1] = icmpLen & 0xff;
      len = ETH_HLEN + IPV6_HLEN + icmpLen;
      icmp.wrap(buf, ipOff + IPV6_HLEN, icmpLen);
    }
    for (let i = 0; i < 16; i += 4) {
      const s = readI32(buf, ipOff + IPV6_SRC + i);
      writeU32(buf, ipOff + IPV6_SRC + i, readI32(buf, ipOff + IPV6_DST + i));
      writeU32(buf, ipOff + IPV6_DST + i, s);
    }
    buf[ipOff + IPV6_HOP_LIMIT] = 64;
    icmp.type = ICMPV6_ECHO_REPLY;
    icmp.fillChecksum(ip.addressSum());
    if (port.kind === PortKind.Host) {
      dp.tx.send(port.id, buf, ipOff, len - ETH_HLEN);
      return;
    }
    const net = dp.tables.networks[port.network]!;
    buf.copyWithin(off + ETH_DST, off + ETH_SRC, off + ETH_TYPE);
    putMac(buf, off + ETH_SRC, net.gatewayMacHi, net.gatewayMacLo);
    dp.tx.send(port.id, buf, off, len);
    return;
  }
  if (walk.protocol === IPV6_NH_UDP) {
    c.drop(Drop.NotForUs);
    icmp6Error(dp, port, buf, off, len, ICMPV6_DEST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE, 0);
    return;
  }
  c.drop(Drop.UnsupportedProtocol);
}
