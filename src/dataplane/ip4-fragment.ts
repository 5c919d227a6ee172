// ip4-fragment: splits a packet whose DF bit is clear into fragments that fit the egress MTU, as a
// router must (RFC 791). Slow path: each fragment is a copy in the data plane's arena.

import { copyBytes } from './frame-pool.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { internetChecksum } from '../wire/checksum.js';
import { Drop, Gauge } from './counters.js';
import type { Dataplane } from './dataplane.js';
import { ip4Output } from './ip4-output.js';
import { finishChecksum } from './offload.js';
import type { Port } from './port.js';

/** Room in front of each fragment for the header its port pushes (virtio-net 10, VXLAN 8). */
const FRAGMENT_FRONT = 16;

export function ip4Fragment(
  dp: Dataplane,
  ingress: Port,
  kind: number,
  target: number,
  nextHop: number,
  mtu: number,
  buf: Buffer,
  off: number,
  len: number,
): void {
  const ipOff = off + ETH_HLEN;
  const ihl = (buf[ipOff] & 0x0f) * 4;
  const flags = buf.readUInt16BE(ipOff + 6);
  const origMf = (flags & 0x2000) !== 0;
  const origOffset = flags & 0x1fff;
  const payloadLen = len - ETH_HLEN - ihl;
  const chunk = ((mtu - ihl) >> 3) << 3;
  if (chunk <= 0) {
    dp.counters.drop(Drop.FragmentationNeeded);
    return;
  }
  const out = dp.arena.slab;
  if (dp.needsCsum !== 0) finishChecksum(dp, buf, off, len); // fragments carry the finished checksum
  dp.suspendOffload();
  for (let start = 0; start < payloadLen; start += chunk) {
    const size = Math.min(chunk, payloadLen - start);
    const o = dp.txAlloc(FRAGMENT_FRONT, ETH_HLEN + ihl + size);
    if (o < 0) {
      dp.counters.drop(Drop.Oversize);
      break;
    }
    copyBytes(buf, off, ipOff + ihl, out, o); // Ethernet + IP header (options copied into every fragment)
    copyBytes(buf, ipOff + ihl + start, ipOff + ihl + start + size, out, o + ETH_HLEN + ihl);
    const last = start + size >= payloadLen;
    const fragOff = origOffset + (start >> 3);
    out.writeUInt16BE(ihl + size, o + ETH_HLEN + 2);
    out.writeUInt16BE((flags & 0x4000) | (last && !origMf ? 0 : 0x2000) | fragOff, o + ETH_HLEN + 6);
    out.writeUInt16BE(0, o + ETH_HLEN + 10);
    out.writeUInt16BE(internetChecksum(out, o + ETH_HLEN, ihl), o + ETH_HLEN + 10);
    dp.counters.gauges[Gauge.FragmentsCreated]++;
    ip4Output(dp, ingress, kind, target, nextHop, out, o, ETH_HLEN + ihl + size);
  }
  dp.resumeOffload();
}
