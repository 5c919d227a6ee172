// Frames that arrive with offloads (virtio-net header): a partial L4 checksum (only the pseudo-header
// sum is filled in) or one TCP "super segment" of up to 64 KiB standing for many. A port that
// takes offloads gets them as they are; for any other (the VXLAN underlay, an AF_PACKET uplink, the
// in-memory port) the checksum is finished and super segments are cut into MSS-sized segments here.

import { copyBytes } from './frame-pool.js';
import { finish, pseudoHeaderSum, sum16, internetChecksum } from '../wire/checksum.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { IP_PROTO_UDP } from '../wire/ipv4.js';
import { TCP_CWR, TCP_FIN, TCP_PSH } from '../wire/tcp.js';
import { VNET_GSO_TCPV4 } from '../wire/virtio-net.js';
import { VXLAN_HLEN } from '../wire/vxlan.js';
import { Drop } from './counters.js';
import type { Dataplane } from './dataplane.js';
import { PortKind } from './port.js';

/** Fills in the partial checksum of the current frame (at buf[off], an Ethernet frame) in place. */
export function finishChecksum(dp: Dataplane, buf: Buffer, off: number, len: number): void {
  const start = off + dp.csumStart;
  const field = start + dp.csumOffset;
  if (field + 2 > off + len || start >= off + len) return;
  // the field holds the pseudo-header sum: summing from csum_start over it gives the checksum
  let c = finish(sum16(buf, start, off + len - start));
  if (c === 0 && buf[off + ETH_HLEN + 9] === IP_PROTO_UDP) c = 0xffff;
  buf[field] = c >>> 8;
  buf[field + 1] = c & 0xff;
  dp.needsCsum = 0;
}

/**
 * Cuts the current TCP/IPv4 super segment into segments of gsoSize bytes of payload, each with
 * complete checksums, and sends each to port `sinkPort`, or to VTEP `sinkVtep` of overlay network
 * `sinkNet`, with no offload metadata, in order. The segments are built in the data plane's arena
 * (flushed when full: a batch of super segments never runs out of buffers). The original frame is
 * left intact; one that cannot be cut is dropped and counted.
 */
export function segmentTcp4(dp: Dataplane, buf: Buffer, off: number, len: number, sinkPort: number, sinkNet: number, sinkVtep: number): void {
  const ipOff = off + ETH_HLEN;
  if (dp.gsoType !== VNET_GSO_TCPV4 || len < ETH_HLEN + 40) {
    dp.counters.drop(Drop.Malformed);
    return;
  }
  const ihl = (buf[ipOff] & 0x0f) * 4;
  const tcpOff = ipOff + ihl;
  const thl = (buf[tcpOff + 12] >> 4) * 4;
  const hdrEnd = tcpOff + thl;
  const payload = off + len - hdrEnd;
  const mss = dp.gsoSize;
  if (thl < 20 || payload <= 0 || mss <= 0) {
    dp.counters.drop(Drop.Malformed);
    return;
  }
  const src = buf.readUInt32BE(ipOff + 12);
  const dst = buf.readUInt32BE(ipOff + 16);
  const seq0 = buf.readUInt32BE(tcpOff + 4);
  const id0 = buf.readUInt16BE(ipOff + 4);
  const flags = buf[tcpOff + 13];
  const hdrLen = hdrEnd - off;
  const out = dp.arena.slab;
  const sink = sinkVtep < 0 ? dp.ports[sinkPort] : undefined;
  const l2 = sink !== undefined && sink.kind === PortKind.Host ? ETH_HLEN : 0; // the host port takes IP packets
  // segments for the underlay lie back to back with room for their VXLAN header in between, so
  // the socket can send them as one train (UDP GSO)
  const front = sinkVtep >= 0 ? VXLAN_HLEN : 0;
  dp.suspendOffload();
  for (let pos = 0, i = 0; pos < payload; pos += mss, i++) {
    const size = Math.min(mss, payload - pos);
    const o = dp.txAlloc(front, hdrLen + size);
    if (o < 0) {
      dp.counters.drop(Drop.Oversize);
      break;
    }
    copyBytes(buf, off, hdrEnd, out, o);
    copyBytes(buf, hdrEnd + pos, hdrEnd + pos + size, out, o + hdrLen);
    const sip = o + ETH_HLEN;
    const st = sip + ihl;
    out.writeUInt16BE(ihl + thl + size, sip + 2);
    out.writeUInt16BE((id0 + i) & 0xffff, sip + 4);
    out[sip + 10] = 0;
    out[sip + 11] = 0;
    out.writeUInt16BE(internetChecksum(out, sip, ihl), sip + 10);
    out.writeUInt32BE((seq0 + pos) >>> 0, st + 4);
    let f = flags;
    if (pos + size < payload) f &= ~(TCP_FIN | TCP_PSH);
    if (i > 0) f &= ~TCP_CWR;
    out[st + 13] = f;
    out[st + 16] = 0;
    out[st + 17] = 0;
    const segLen = thl + size;
    out.writeUInt16BE(finish(sum16(out, st, segLen, pseudoHeaderSum(src, dst, 6, segLen))), st + 16);
    if (sinkVtep >= 0) dp.sendToVtep(sinkNet, sinkVtep, out, o, hdrLen + size);
    else dp.send(sinkPort, out, o + l2, hdrLen + size - l2);
  }
  dp.resumeOffload();
}
