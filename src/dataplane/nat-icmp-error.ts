// ICMP errors about a translated flow (time exceeded, unreachable, fragmentation needed): the
// quoted packet is the translated one, so the error is matched to its flow through the quoted
// header and rewritten back — outer addresses, the quoted header, and every checksum — so that
// traceroute and path-MTU discovery work from behind the gateway.

import { ETH_HLEN } from '../wire/ethernet.js';
import { internetChecksum, update16, update32 } from '../wire/checksum.js';
import { ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY } from '../wire/icmpv4.js';
import { IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP } from '../wire/ipv4.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import { NatVerdict } from './nat-verdict.js';
import type { Network } from './network.js';

function rd16(b: Buffer, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function wr16(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v & 0xff;
}

/** `dp.frame.ip` and `dp.frame.icmp` are wrapped around the error. */
export function natIcmpError(dp: Datapath, inNet: Network | null, buf: Buffer, off: number, len: number): number {
  const tables = dp.tables;
  const frame = dp.frame;
  const ip = frame.ip;
  const icmp = frame.icmp;
  const inner = icmp.innerOffset;
  const end = off + len;
  const fromUplink = inNet !== null && inNet === tables.uplink;
  // the quoted header must be there with at least 8 bytes of its payload (RFC 792)
  if (inner + 20 > end) return fromUplink ? dropped(dp) : NatVerdict.Untracked;
  const ihl = (buf[inner] & 0x0f) * 4;
  if (buf[inner] >> 4 !== 4 || ihl < 20 || inner + ihl + 8 > end) return fromUplink ? dropped(dp) : NatVerdict.Untracked;
  const proto = buf[inner + 9];
  const iSrc = buf.readUInt32BE(inner + 12);
  const iDst = buf.readUInt32BE(inner + 16);
  const l4 = inner + ihl;
  let iSport = 0;
  let iDport = 0;
  let key = 0;
  if (proto === IP_PROTO_TCP || proto === IP_PROTO_UDP) {
    iSport = rd16(buf, l4);
    iDport = rd16(buf, l4 + 2);
  } else if (proto === IP_PROTO_ICMP && (buf[l4] === ICMP_ECHO_REQUEST || buf[l4] === ICMP_ECHO_REPLY)) {
    key = rd16(buf, l4 + 4);
  } else {
    return fromUplink ? dropped(dp) : NatVerdict.Untracked;
  }
  const ct = tables.conntrack;
  // the quoted packet went the other way: look its inverse up
  const slot =
    proto === IP_PROTO_ICMP ? ct.lookup(proto, iDst, iSrc, key, 0, dp.now) : ct.lookup(proto, iDst, iSrc, iDport, iSport, dp.now);
  if (slot < 0) return fromUplink ? dropped(dp) : NatVerdict.Untracked;
  const e = slot >> 1;
  const r = e * 2 + ((slot & 1) ^ 1);
  // the quoted packet becomes what its sender originally sent: the other direction's tuple
  const qSrc = ct.src[r] >>> 0;
  const qDst = ct.dst[r] >>> 0;
  const newSrc = qDst; // the error's own source, if the flow's far end sent it
  const newDst = qSrc; // the error goes back to the original sender
  buf.writeUInt32BE(qSrc, inner + 12);
  buf.writeUInt32BE(qDst, inner + 16);
  if (proto === IP_PROTO_ICMP) {
    const newId = ct.sport[r];
    if (l4 + 8 <= end) {
      const old = rd16(buf, l4 + 4);
      wr16(buf, l4 + 4, newId);
      wr16(buf, l4 + 2, update16(rd16(buf, l4 + 2), old, newId));
    }
  } else {
    // restore the ports the original sender used: those of the other direction's tuple
    const qSport = ct.sport[r];
    const qDport = ct.dport[r];
    const ckOff = proto === IP_PROTO_UDP ? l4 + 6 : l4 + 16;
    if (ckOff + 2 <= end && !(proto === IP_PROTO_UDP && rd16(buf, ckOff) === 0)) {
      let sum = rd16(buf, ckOff);
      sum = update32(sum, iSrc, qSrc);
      sum = update32(sum, iDst, qDst);
      sum = update16(sum, iSport, qSport);
      sum = update16(sum, iDport, qDport);
      if (proto === IP_PROTO_UDP && sum === 0) sum = 0xffff; // 0 would mean "no checksum"
      wr16(buf, ckOff, sum);
    }
    wr16(buf, l4, qSport);
    wr16(buf, l4 + 2, qDport);
  }
  buf[inner + 10] = 0;
  buf[inner + 11] = 0;
  wr16(buf, inner + 10, internetChecksum(buf, inner, ihl));

  // outer header: to the flow's endpoint; from the flow's other endpoint if it sent the error
  const oSrc = ip.src;
  const oDst = ip.dst;
  if (oSrc === iDst) ip.setSrcIncremental(newSrc);
  if (oDst !== newDst) ip.setDstIncremental(newDst);
  const icmpOff = ip.payloadOffset;
  const icmpLen = off + ETH_HLEN + ip.totalLength - icmpOff;
  buf[icmpOff + 2] = 0;
  buf[icmpOff + 3] = 0;
  wr16(buf, icmpOff + 2, internetChecksum(buf, icmpOff, icmpLen));
  return NatVerdict.Translated;
}

function dropped(dp: Datapath): number {
  dp.counters.drop(Drop.NoMapping);
  return NatVerdict.Drop;
}
