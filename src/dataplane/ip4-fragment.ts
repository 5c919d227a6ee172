// ip4-fragment: splits a packet whose DF bit is clear into fragments that fit the egress MTU, as a
// router must (RFC 791). Slow path: each fragment is a copy in the data plane's arena.

import { copyBytes } from './frame-pool.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { internetChecksum } from '../wire/checksum.js';
import { Drop, Gauge } from './counters.js';
import type { Datapath } from './context.js';
import { ip4Output } from './ip4-output.js';
import { finishChecksum } from './offload.js';
import type { Port } from './port.js';
import type { RouteResult } from './route-table.js';
import {
  IPV4_CHECKSUM,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_FLAGS_FRAG,
  IPV4_FRAG_OFFSET_MASK,
  IPV4_TOTAL_LEN,
  ipv4HeaderLength,
} from '../wire/ipv4.js';

/** Room in front of each fragment for the header its port pushes (virtio-net 10, VXLAN 8). */
const FRAGMENT_FRONT = 16;

/** `route` is the packet's route; every fragment leaves by it. */
export function ip4Fragment(dp: Datapath, ingress: Port, route: RouteResult, mtu: number, buf: Buffer, off: number, len: number): void {
  const ipOff = off + ETH_HLEN;
  const ihl = ipv4HeaderLength(buf, ipOff);
  const flags = buf.readUInt16BE(ipOff + IPV4_FLAGS_FRAG);
  const origMf = (flags & IPV4_FLAG_MF) !== 0;
  const origOffset = flags & IPV4_FRAG_OFFSET_MASK;
  const payloadLen = len - ETH_HLEN - ihl;
  const chunk = ((mtu - ihl) >> 3) << 3;
  if (chunk <= 0) {
    dp.counters.drop(Drop.FragmentationNeeded);
    return;
  }
  const out = dp.arena.slab;
  if (dp.frame.needsCsum !== 0) finishChecksum(dp.frame, buf, off, len); // fragments carry the finished checksum
  dp.frame.suspendOffload();
  for (let start = 0; start < payloadLen; start += chunk) {
    const size = Math.min(chunk, payloadLen - start);
    const o = dp.tx.alloc(FRAGMENT_FRONT, ETH_HLEN + ihl + size);
    if (o < 0) {
      dp.counters.drop(Drop.Oversize);
      break;
    }
    copyBytes(buf, off, ipOff + ihl, out, o); // Ethernet + IP header (options copied into every fragment)
    copyBytes(buf, ipOff + ihl + start, ipOff + ihl + start + size, out, o + ETH_HLEN + ihl);
    const last = start + size >= payloadLen;
    const fragOff = origOffset + (start >> 3);
    const fip = o + ETH_HLEN;
    out.writeUInt16BE(ihl + size, fip + IPV4_TOTAL_LEN);
    out.writeUInt16BE((flags & IPV4_FLAG_DF) | (last && !origMf ? 0 : IPV4_FLAG_MF) | fragOff, fip + IPV4_FLAGS_FRAG);
    out.writeUInt16BE(0, fip + IPV4_CHECKSUM);
    out.writeUInt16BE(internetChecksum(out, fip, ihl), fip + IPV4_CHECKSUM);
    dp.counters.gauges[Gauge.FragmentsCreated]++;
    ip4Output(dp, ingress, route, out, o, ETH_HLEN + ihl + size);
  }
  dp.frame.resumeOffload();
}
