// neighbour-output: the link-layer half of ip4-output and ip6-output, shared by both families. A
// routed frame goes to its neighbour's MAC when the neighbour table has one; while the neighbour
// is being resolved (ARP or NDP, neighbour-discovery.ts) a copy is parked until it answers.

import { ETH_SRC } from '../wire/ethernet.js';
import { putMac } from '../wire/mac.js';
import type { Datapath } from './context.js';
import { Drop } from './counters.js';
import { l2Output } from './l2-switch.js';
import { hasMac, type Neighbour, NeighbourState } from './neighbour-table.js';
import type { Network } from './network.js';
import { finishChecksum } from './offload.js';
import type { Port } from './port.js';

/**
 * Sends the frame at buf[off] to neighbour `n` of `net` (a new entry is asked for first), or
 * parks it. Returns false, having sent nothing, when the neighbour failed to answer: the caller
 * answers with its family's unreachable error.
 */
export function neighbourOutput(dp: Datapath, ingress: Port, net: Network, n: Neighbour, fresh: boolean, buf: Buffer, off: number, len: number): boolean {
  if (hasMac(n.state)) {
    n.use(dp.now);
    putMac(buf, off, n.macHi, n.macLo);
    putMac(buf, off + ETH_SRC, net.gatewayMacHi, net.gatewayMacLo);
    l2Output(dp, net, buf, off, len);
    return true;
  }
  if (n.state === NeighbourState.Failed) {
    dp.counters.drop(Drop.NeighbourUnreachable);
    return false;
  }
  if (fresh) {
    dp.resolver.request(net, n);
    n.probes = 1;
    n.nextProbe = dp.now + dp.options.arpRetryMs;
  }
  // park a copy until the neighbour answers (bounded per neighbour and overall); a parked frame
  // keeps no offload metadata: its checksum is finished, and a TCP super segment is not parked (TCP resends)
  if (dp.frame.gsoSize !== 0) {
    dp.counters.drop(Drop.ArpQueueFull);
    return true;
  }
  if (dp.frame.needsCsum !== 0) finishChecksum(dp.frame, buf, off, len);
  if (n.parkedCount === n.parked.length) {
    dp.counters.drop(Drop.ArpQueueFull);
    return true;
  }
  const slot = dp.parking.park(buf, off, len, ingress.id);
  if (slot < 0) {
    dp.counters.drop(Drop.ArpQueueFull);
    return true;
  }
  n.parked[n.parkedCount++] = slot;
  return true;
}
