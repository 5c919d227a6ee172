// arp-input: the gateway's side of ARP on a network. Answers requests for the gateway address,
// learns neighbours from requests and replies, and releases frames parked on a neighbour once its
// MAC is known. ARP between containers is left to the switch.

import { ARP_OP_REPLY, ARP_OP_REQUEST } from '../wire/arp.js';
import { ETH_HLEN } from '../wire/ethernet.js';
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
  const forGateway = target === net.gatewayIp;

  if (sender !== 0 && net.contains(sender)) {
    const a = ETH_HLEN + 8; // sender hardware address inside the ARP body
    const n = net.neighbours.get(sender);
    if (n !== undefined) {
      dp.resolver.resolved(net, n, macHi(buf, off + a), macLo(buf, off + a));
    } else if (forGateway) {
      const created = net.neighbours.create(sender, dp.now);
      dp.resolver.resolved(net, created, macHi(buf, off + a), macLo(buf, off + a));
    }
  }

  if (!forGateway) {
    // ARP suppression on overlays: answer for endpoints on other hosts, as Docker's overlay does,
    // instead of flooding the question to every VTEP
    if (net.vni !== 0 && op === ARP_OP_REQUEST) {
      const remote = net.remotes.get(target | 0);
      if (remote !== undefined) {
        const a = off + ETH_HLEN;
        buf.copyWithin(off, off + 6, off + 12);
        putMac(buf, off + 6, remote.macHi, remote.macLo);
        buf[a + 6] = 0;
        buf[a + 7] = ARP_OP_REPLY;
        buf.copyWithin(a + 18, a + 8, a + 18);
        putMac(buf, a + 8, remote.macHi, remote.macLo);
        buf.writeUInt32BE(target >>> 0, a + 14);
        dp.tx.send(port.id, buf, off, Math.min(len, ETH_HLEN + 28 + 18));
        return true;
      }
    }
    return false;
  }
  if (op === ARP_OP_REQUEST) {
    // answer in place (also address probes from 0.0.0.0, as Linux does: the address is taken): the request is not flooded further, so its buffer is ours to rewrite
    const a = off + ETH_HLEN;
    buf.copyWithin(off, off + 6, off + 12); // eth dst <- requester
    putMac(buf, off + 6, net.gatewayMacHi, net.gatewayMacLo);
    buf[a + 7] = ARP_OP_REPLY;
    buf[a + 6] = 0;
    buf.copyWithin(a + 18, a + 8, a + 18); // target hw+ip <- sender hw+ip
    putMac(buf, a + 8, net.gatewayMacHi, net.gatewayMacLo);
    buf.writeUInt32BE(net.gatewayIp, a + 14);
    dp.tx.send(port.id, buf, off, Math.min(len, ETH_HLEN + 28 + 18));
    return true;
  }
  return op === ARP_OP_REPLY;
}
