// ICMPv6 errors about a translated IPv6 flow (destination unreachable, packet too big, time
// exceeded, parameter problem), as nat-icmp-error does for IPv4: the quoted packet is the
// translated one, so the error is matched to its flow through the quoted header and rewritten
// back — outer addresses, the quoted addresses and ports, the quoted transport checksum and the
// ICMPv6 checksum (over the new pseudo-header) — so that traceroute -6 and path-MTU discovery
// work from behind the gateway.

import { ETH_HLEN } from '../wire/ethernet.js';
import { finish, ipv6AddressSum, l4PseudoSum, sum16, update16, update32 } from '../wire/checksum.js';
import { ICMPV6_ECHO_IDENT, ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST } from '../wire/icmpv6.js';
import { IP_PROTO_TCP, IP_PROTO_UDP } from '../wire/ipv4.js';
import { IP_PROTO_ICMPV6, IPV6_DST, IPV6_HLEN, IPV6_NEXT_HEADER, IPV6_SRC, readI32, writeU32 } from '../wire/ipv6.js';
import { Drop } from './counters.js';
import type { Datapath } from './context.js';
import { fromUplink } from './nat-flow.js';
import { NatVerdict } from './nat-verdict.js';
import type { Network } from './network.js';

/** The ICMPv6 error header before the quoted packet: type, code, checksum, the 32-bit parameter. */
const ICMPV6_ERROR_HLEN = 8;

function rd16(b: Buffer, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function wr16(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v & 0xff;
}

/** The frame's IPv6 view and walk are over the error (walk.offset: its ICMPv6 header). */
export function nat66IcmpError(dp: Datapath, inNet: Network | null, buf: Buffer, off: number, len: number): number {
  const frame = dp.frame;
  const walk = frame.walk6;
  const outside = fromUplink(dp, inNet);
  const icmp = walk.offset;
  const end = off + len;
  const inner = icmp + ICMPV6_ERROR_HLEN;
  // the quoted header with at least 8 bytes of its payload; quoted extension headers are not walked
  if (inner + IPV6_HLEN + 8 > end || buf[inner] >> 4 !== 6) return outside ? dropped(dp) : NatVerdict.Untracked;
  const proto = buf[inner + IPV6_NEXT_HEADER];
  const l4 = inner + IPV6_HLEN;
  let iSport = 0;
  let iDport = 0;
  if (proto === IP_PROTO_TCP || proto === IP_PROTO_UDP) {
    iSport = rd16(buf, l4);
    iDport = rd16(buf, l4 + 2);
  } else if (proto === IP_PROTO_ICMPV6 && (buf[l4] === ICMPV6_ECHO_REQUEST || buf[l4] === ICMPV6_ECHO_REPLY)) {
    iSport = rd16(buf, l4 + ICMPV6_ECHO_IDENT);
  } else {
    return outside ? dropped(dp) : NatVerdict.Untracked;
  }
  const ct = dp.tables.conntrack;
  // the quoted packet went the other way: look its inverse up (echo flows: the identifier alone)
  const t = frame.tuple;
  if (proto === IP_PROTO_ICMPV6) t.set6(proto, buf, inner + IPV6_DST, inner + IPV6_SRC, iSport, 0);
  else t.set6(proto, buf, inner + IPV6_DST, inner + IPV6_SRC, iDport, iSport);
  const slot = ct.find(t, dp.now);
  if (slot < 0) return outside ? dropped(dp) : NatVerdict.Untracked;
  const r = (slot >> 1) * 2 + ((slot & 1) ^ 1);
  const w = r * 3;
  // the quoted packet becomes what its sender originally sent: the other direction's tuple
  const ckOff = proto === IP_PROTO_TCP ? l4 + 16 : proto === IP_PROTO_UDP ? l4 + 6 : l4 + 2;
  const hasCk = ckOff + 2 <= end;
  let ck = hasCk ? rd16(buf, ckOff) : 0;
  const o = off + ETH_HLEN;
  const outerSrcWasPeer = readI32(buf, o + IPV6_SRC) === readI32(buf, inner + IPV6_DST) && sameAddress(buf, o + IPV6_SRC, inner + IPV6_DST);
  for (let i = 0; i < 8; i++) {
    const at = inner + IPV6_SRC + i * 4;
    const old = readI32(buf, at);
    const nw = i === 0 ? ct.src[r] : i < 4 ? ct.src6[w + i - 1] : i === 4 ? ct.dst[r] : ct.dst6[w + i - 5];
    if (old !== nw) {
      ck = update32(ck, old, nw);
      writeU32(buf, at, nw);
    }
  }
  if (proto === IP_PROTO_ICMPV6) {
    const newId = ct.sport[r];
    if (iSport !== newId) {
      ck = update16(ck, iSport, newId);
      wr16(buf, l4 + ICMPV6_ECHO_IDENT, newId);
    }
  } else {
    const qSport = ct.sport[r];
    const qDport = ct.dport[r];
    ck = update16(update16(ck, iSport, qSport), iDport, qDport);
    wr16(buf, l4, qSport);
    wr16(buf, l4 + 2, qDport);
  }
  if (hasCk) wr16(buf, ckOff, proto === IP_PROTO_UDP && ck === 0 ? 0xffff : ck);

  // the outer header: to the flow's sender; from the flow's other end if that end sent the error
  for (let i = 0; i < 4; i++) {
    writeU32(buf, o + IPV6_DST + i * 4, i === 0 ? ct.src[r] : ct.src6[w + i - 1]);
    if (outerSrcWasPeer) writeU32(buf, o + IPV6_SRC + i * 4, i === 0 ? ct.dst[r] : ct.dst6[w + i - 1]);
  }
  const icmpLen = end - icmp;
  buf[icmp + 2] = 0;
  buf[icmp + 3] = 0;
  wr16(buf, icmp + 2, finish(sum16(buf, icmp, icmpLen, l4PseudoSum(ipv6AddressSum(buf, o + IPV6_SRC), IP_PROTO_ICMPV6, icmpLen))));
  return NatVerdict.Translated;
}

function sameAddress(buf: Buffer, a: number, b: number): boolean {
  return readI32(buf, a + 4) === readI32(buf, b + 4) && readI32(buf, a + 8) === readI32(buf, b + 8) && readI32(buf, a + 12) === readI32(buf, b + 12);
}

function dropped(dp: Datapath): number {
  dp.counters.drop(Drop.NoMapping);
  return NatVerdict.Drop;
}
