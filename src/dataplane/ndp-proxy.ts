// ndp-proxy: NDP suppression on an overlay network, the IPv6 analogue of the ARP suppression of
// Network.remotes (arp-input). A local container's neighbour solicitation for the IPv6 address of
// an endpoint on another host, when the control plane told of it (Network.remotes6), is answered
// by the gateway in that endpoint's name: a solicited advertisement (override set, router clear)
// with the endpoint's MAC, from its MAC, to the solicitor; not flooded over the VTEPs. Anything
// else (duplicate address detection probes, unknown targets) is left to the switch (flooded).

import { ETH_SRC } from '../wire/ethernet.js';
import { ICMPV6_NEIGHBOUR_SOLICITATION } from '../wire/icmpv6.js';
import { IPV6_SRC, readI32, readU32 } from '../wire/ipv6.js';
import { readMac } from '../wire/mac.js';
import { emitNeighbourAdvertisement, NDP_TARGET, type NeighbourAdvertisementSpec } from '../wire/ndp.js';
import type { Datapath } from './context.js';
import { Drop } from './counters.js';
import type { Network } from './network.js';
import type { Port } from './port.js';

const TWO32 = 2 ** 32;

// the spec the emitter reads, reused for every answer (its word arrays filled in place)
const na: NeighbourAdvertisementSpec & { src: [number, number, number, number]; dst: [number, number, number, number]; target: [number, number, number, number] } = {
  srcMac: 0,
  dstMac: 0,
  src: [0, 0, 0, 0],
  dst: [0, 0, 0, 0],
  target: [0, 0, 0, 0],
  router: false,
  solicited: true,
  override: true,
  targetMac: 0,
};

/**
 * For a neighbour discovery message ip6-input checked (dp.frame.ip6/walk6 are the frame's): true
 * when it was a solicitation for a remote endpoint's address and was answered (not to be switched).
 */
export function ndpProxy(dp: Datapath, port: Port, net: Network, buf: Buffer, off: number, len: number): boolean {
  if (len <= 0 || net.remotes6.size === 0) return false;
  const ip = dp.frame.ip6;
  const walk = dp.frame.walk6;
  if (buf[walk.offset] !== ICMPV6_NEIGHBOUR_SOLICITATION || ip.srcIsUnspecified) return false; // DAD: the owner defends
  const t = walk.offset + NDP_TARGET;
  const r = net.remotes6.get(readI32(buf, t), readI32(buf, t + 4), readI32(buf, t + 8), readI32(buf, t + 12));
  if (r === undefined) return false;
  const mac = r.macHi * TWO32 + (r.macLo >>> 0);
  na.srcMac = mac;
  na.targetMac = mac;
  na.dstMac = readMac(buf, off + ETH_SRC);
  const s = ip.off + IPV6_SRC;
  for (let i = 0; i < 4; i++) {
    na.src[i] = readU32(buf, t + 4 * i);
    na.target[i] = na.src[i];
    na.dst[i] = readU32(buf, s + 4 * i);
  }
  const o = dp.pool.alloc();
  if (o < 0) {
    dp.counters.drop(Drop.NoBuffer);
    return true;
  }
  const n = emitNeighbourAdvertisement(dp.pool.slab, o, na);
  dp.frame.suspendOffload();
  dp.tx.send(port.id, dp.pool.slab, o, n);
  dp.frame.resumeOffload();
  return true;
}
