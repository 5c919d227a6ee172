// ip4-input: IPv4 packets addressed to the gateway (its MAC, or anything from the host's TUN port).
// Runs connection tracking / NAT first, then decides whether the packet is for the gateway itself
// (ip4-local) or is routed, enforcing the isolation rules Docker applies to untranslated traffic
// before handing it to ip4-forward.

import { ICMP_ADMIN_PROHIBITED, ICMP_DEST_UNREACHABLE, ICMP_NET_UNREACHABLE } from '../wire/icmpv4.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { WireError } from '../wire/error.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import type { CheckedIpv4 } from './frame.js';
import { icmpError } from './icmp-error.js';
import { ip4Forward } from './ip4-forward.js';
import { ip4Local } from './ip4-local.js';
import { nat44 } from './nat44.js';
import { NatVerdict } from './nat-verdict.js';
import type { Network } from './network.js';
import { PortKind, type Port } from './port.js';
import { RouteTarget } from './route-table.js';
import { isLimitedBroadcastIpv4, isLoopbackIpv4, isMulticastIpv4, isThisNetworkIpv4 } from '../wire/ipv4-address.js';

/**
 * Points `dp.frame.ip` at the IPv4 header at buf[ipOff] and checks it; a malformed header or a bad header
 * checksum is dropped and counted. Every port's input stage starts IPv4 with it.
 */
export function ip4Wrap(dp: Datapath, buf: Buffer, ipOff: number, len: number): CheckedIpv4 | null {
  const ip = dp.frame.ip;
  if (ip.wrap(buf, ipOff, len) !== WireError.Ok) {
    dp.counters.drop(Drop.Malformed);
    return null;
  }
  if (!ip.verifyChecksum()) {
    dp.counters.drop(Drop.BadChecksum);
    return null;
  }
  return ip as CheckedIpv4;
}

/** `ip` is the frame's view, wrapped around the packet at buf[off + 14] by ip4Wrap. */
export function ip4Input(dp: Datapath, port: Port, inNet: Network | null, ip: CheckedIpv4, buf: Buffer, off: number, len: number): void {
  // drop Ethernet padding: from here on the frame is exactly header + IP total length
  len = ETH_HLEN + ip.totalLength;
  // loopback and "this network" addresses are never routed nor translated: a packet that claims
  // one (to reach a port published on 127.0.0.1, say) is a forgery
  // the addresses as int32 (never a boxed number): compared below with the tables' uint32 fields `| 0`
  if (isLoopbackIpv4(ip.srcI32) || isLoopbackIpv4(ip.dstI32) || isThisNetworkIpv4(ip.dstI32)) {
    dp.counters.drop(Drop.Martian);
    return;
  }
  const verdict = nat44(dp, port, inNet, ip, buf, off, len);
  if (verdict === NatVerdict.Drop) return;
  const natted = verdict === NatVerdict.Translated;
  const dst = ip.dstI32;
  if (!natted) {
    const ingressGateway = inNet !== null ? inNet.gatewayIp : dp.tables.hostGatewayIp;
    if (dst === (ingressGateway | 0)) {
      ip4Local(dp, port, ip, buf, off, len);
      return;
    }
    if (isLimitedBroadcastIpv4(dst) || isMulticastIpv4(dst) || (inNet !== null && dst === (inNet.broadcast | 0))) {
      dp.counters.drop(Drop.NotForUs); // broadcast and multicast are never routed
      return;
    }
  }
  const route = dp.frame.route;
  if (!dp.tables.routes.resolve(dst, route)) {
    dp.counters.drop(Drop.NoRoute);
    icmpError(dp, port, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_NET_UNREACHABLE, 0);
    return;
  }
  const target = route.target;
  if (route.kind === RouteTarget.Network) {
    const outNet = dp.tables.networks[target]!;
    if (!natted) {
      if (inNet !== null && inNet.isUplink) {
        dp.counters.drop(Drop.NoMapping); // routed straight at a container from outside
        return;
      }
      if (inNet !== null && outNet !== inNet && !outNet.isUplink) {
        dp.counters.drop(Drop.NetworkIsolation); // Docker isolates networks from each other
        icmpError(dp, port, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_ADMIN_PROHIBITED, 0);
        return;
      }
      if (outNet.internal || (outNet.isUplink && inNet !== null && inNet.internal)) {
        dp.counters.drop(Drop.InternalNetwork); // --internal networks never leave the gateway
        icmpError(dp, port, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_ADMIN_PROHIBITED, 0);
        return;
      }
      if (dst === (outNet.gatewayIp | 0)) {
        ip4Local(dp, port, ip, buf, off, len); // another address of the gateway (host link, uplink)
        return;
      }
      if (dst === (outNet.broadcast | 0) || dst === (outNet.subnet | 0)) {
        dp.counters.drop(Drop.NotForUs);
        return;
      }
      if (outNet.isUplink) {
        dp.counters.drop(Drop.NoMapping); // untranslatable (a fragment): private addresses never leave
        return;
      }
    }
    ip4Forward(dp, port, ip, outNet.mtu, buf, off, len);
    return;
  }
  if (route.kind === RouteTarget.Overlay) {
    // another host's subnet of a routed overlay network: only from that network (its containers,
    // the host) or the host; never from outside untranslated, never back into the overlay
    const outNet = dp.tables.networks[dp.tables.remoteSubnets.network[target]!]!;
    if (!natted && inNet !== null && inNet !== outNet) {
      if (inNet.isUplink) dp.counters.drop(Drop.NoMapping);
      else {
        dp.counters.drop(Drop.NetworkIsolation);
        icmpError(dp, port, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_ADMIN_PROHIBITED, 0);
      }
      return;
    }
    if (port.kind === PortKind.Tunnel) {
      dp.counters.drop(Drop.OverlayTransit);
      return;
    }
    ip4Forward(dp, port, ip, outNet.mtu, buf, off, len);
    return;
  }
  // towards the host's TUN port
  if (!natted) {
    if (inNet !== null && inNet.isUplink) {
      dp.counters.drop(Drop.NoMapping);
      return;
    }
    if (inNet !== null && inNet.internal) {
      dp.counters.drop(Drop.InternalNetwork);
      icmpError(dp, port, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_ADMIN_PROHIBITED, 0);
      return;
    }
  }
  if (target === port.id) {
    dp.counters.drop(Drop.NoRoute); // would go straight back out of the port it came in on
    icmpError(dp, port, buf, off, len, ICMP_DEST_UNREACHABLE, ICMP_NET_UNREACHABLE, 0);
    return;
  }
  ip4Forward(dp, port, ip, dp.tables.ports[target]!.mtu, buf, off, len);
}
