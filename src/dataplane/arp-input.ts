// arp-input: the gateway's side of ARP on a network. Answers requests for the gateway address
// (and a routed overlay's host address),
// learns neighbours from requests and replies, and releases frames parked on a neighbour once its
// MAC is known. ARP between containers is left to the switch.

import { ARP_OP_REPLY, ARP_OP_REQUEST, ARP_SHA, ARP_SPA, ARP_THA, type ArpPacket } from '../wire/arp.js';
import { ETH_DST, ETH_HLEN, ETH_SRC } from '../wire/ethernet.js';
import type { Datapath } from './context.js';
import { macHi, macLo, putMac } from '../wire/mac.js';
import type { Network } from './network.js';
import type { Port } from './port.js';

/** Returns true when the frame was for the gateway and must not be switched further. */
export function arpInput(dp: Datapath, port: Port, net: Network, buf: Buffer, off: number, len: number): boolean {
  const arp = dp.frame.arp;
  const op = arp.operation;
  const sender = arp.senderIp;
  const target = arp.targetIp;
  // the gateway's too: a routed overlay's subnet address, the host's (its source on the cluster's
  // range, routed to the host's TUN port), and a service's VIP inside the network's subnet
  // (--vip: the gateway has it, on every host of an overlay)
  const forGateway = target === net.gatewayIp || (net.routed && target === net.subnet) || (net.services !== 0 && dp.tables.vips.isVip(target));

  if (sender !== 0 && net.contains(sender)) {
    const sha = off + ETH_HLEN + ARP_SHA;
    const n = net.neighbours.get(sender);
    if (n !== undefined) {
      dp.resolver.resolved(net, n, macHi(buf, sha), macLo(buf, sha));
    } else if (forGateway) {
      const created = net.neighbours.create(sender, dp.now);
      dp.resolver.resolved(net, created, macHi(buf, sha), macLo(buf, sha));
    }
  }

  if (!forGateway) {
    // ARP suppression on overlays: answer for endpoints on other hosts, as Docker's overlay does,
    // instead of flooding the question to every VTEP
    if (net.vni !== 0 && op === ARP_OP_REQUEST) {
      const remote = net.remotes.get(target | 0);
      if (remote !== undefined) {
        answer(arp, buf, off, remote.macHi, remote.macLo, target);
        dp.tx.send(port.id, buf, off, Math.min(len, ETH_HLEN + 28 + 18));
        return true;
      }
    }
    return false;
  }
  if (op === ARP_OP_REQUEST) {
    // answer in place (also address probes from 0.0.0.0, as Linux does: the address is taken): the request is not flooded further, so its buffer is ours to rewrite
    answer(arp, buf, off, net.gatewayMacHi, net.gatewayMacLo, target);
    dp.tx.send(port.id, buf, off, Math.min(len, ETH_HLEN + 28 + 18));
    return true;
  }
  return op === ARP_OP_REPLY;
}

/**
 * Turns the ARP request at buf[off] (the `arp` view wrapped around its body) into the reply "`ip`
 * is at hi:lo", in place: back to the requester, whose address becomes the target.
 */
function answer(arp: ArpPacket, buf: Buffer, off: number, hi: number, lo: number, ip: number): void {
  const a = off + ETH_HLEN;
  buf.copyWithin(off + ETH_DST, off + ETH_SRC, off + ETH_SRC + 6); // Ethernet destination: the requester
  putMac(buf, off + ETH_SRC, hi, lo);
  arp.operation = ARP_OP_REPLY;
  buf.copyWithin(a + ARP_THA, a + ARP_SHA, a + ARP_THA); // target hardware and protocol address: the requester's
  putMac(buf, a + ARP_SHA, hi, lo);
  buf.writeUInt32BE(ip >>> 0, a + ARP_SPA);
}
