/**
 * Neighbour discovery (RFC 4861): the five messages as a view over the ICMPv6 message, their
 * options, the validity checks of RFC 4861 6.1.1, 6.1.2, 7.1.1, 7.1.2 and 8.1, and the frames a
 * gateway sends (NA, NS for resolution, RA) written whole (Ethernet + IPv6 + ICMPv6) into a
 * caller's buffer. Nothing here allocates per packet: views and option walks are reused, emit
 * specs are the caller's objects.
 */
import { finish, fold, ipv6AddressSum, l4PseudoSum, sum16 } from './checksum.js';
import { WireError, checkRoom } from './error.js';
import { ETH_HLEN, ETHERTYPE_IPV6 } from './ethernet.js';
import {
  ICMPV6_CHECKSUM,
  ICMPV6_CODE,
  ICMPV6_NEIGHBOUR_ADVERTISEMENT,
  ICMPV6_NEIGHBOUR_SOLICITATION,
  ICMPV6_REDIRECT,
  ICMPV6_ROUTER_ADVERTISEMENT,
  ICMPV6_ROUTER_SOLICITATION,
  ICMPV6_TYPE,
} from './icmpv6.js';
import { type Ipv6Words } from './ipv6-address.js';
import {
  IPV6_DST,
  IPV6_HLEN,
  IPV6_NH_ICMPV6,
  IPV6_SRC,
  type Ipv6Packet,
  ipv6EqualsAt,
  putIpv6,
  readI32,
  readU32,
  writeFixedHeader,
  writeU32,
} from './ipv6.js';

// Message layouts (offsets in the ICMPv6 message).
/** RA: cur hop limit, flags (M, O), router lifetime (s), reachable time (ms), retrans timer (ms). */
export const NDP_RA_CUR_HOP_LIMIT = 4;
export const NDP_RA_FLAGS = 5;
export const NDP_RA_ROUTER_LIFETIME = 6;
export const NDP_RA_REACHABLE_TIME = 8;
export const NDP_RA_RETRANS_TIMER = 12;
/** NA: flags (R, S, O). */
export const NDP_NA_FLAGS = 4;
/** NS, NA, redirect: the target address. */
export const NDP_TARGET = 8;
/** Redirect: the destination address. */
export const NDP_REDIRECT_DEST = 24;

export const NDP_RA_FLAG_MANAGED = 0x80;
export const NDP_RA_FLAG_OTHER = 0x40;
export const NDP_NA_FLAG_ROUTER = 0x80;
export const NDP_NA_FLAG_SOLICITED = 0x40;
export const NDP_NA_FLAG_OVERRIDE = 0x20;

/** Where each message's options start: its fixed part's length (RFC 4861 4.1-4.5). */
export const NDP_RS_LEN = 8;
export const NDP_RA_LEN = 16;
export const NDP_NS_LEN = 24;
export const NDP_NA_LEN = 24;
export const NDP_REDIRECT_LEN = 40;

// Options (RFC 4861 4.6): type, length in units of 8 bytes, data.
export const NDP_OPT_SOURCE_LLADDR = 1;
export const NDP_OPT_TARGET_LLADDR = 2;
export const NDP_OPT_PREFIX_INFO = 3;
export const NDP_OPT_REDIRECTED_HEADER = 4;
export const NDP_OPT_MTU = 5;
/** The nonce of enhanced DAD (RFC 7527), sent by Linux in DAD probes. */
export const NDP_OPT_NONCE = 14;
/** A link-layer address option on Ethernet: 8 bytes. */
export const NDP_OPT_LLADDR_LEN = 8;
export const NDP_OPT_MTU_LEN = 8;
export const NDP_OPT_PREFIX_INFO_LEN = 32;
/** Prefix information: prefix length, flags (L, A), valid and preferred lifetimes, prefix. */
export const NDP_PREFIX_LENGTH = 2;
export const NDP_PREFIX_FLAGS = 3;
export const NDP_PREFIX_VALID_LIFETIME = 4;
export const NDP_PREFIX_PREFERRED_LIFETIME = 8;
export const NDP_PREFIX = 16;
export const NDP_PREFIX_FLAG_ON_LINK = 0x80;
export const NDP_PREFIX_FLAG_AUTONOMOUS = 0x40;

/** Every NDP message must arrive with hop limit 255: proof it was not forwarded (RFC 4861 6.1, 7.1, 8.1). */
export const NDP_HOP_LIMIT = 255;

const EMPTY = Buffer.alloc(0);
const TWO32 = 0x1_0000_0000;

// MACs are 48-bit numbers (mac.ts), doubles to V8: passed to or returned from a call that is not
// inlined, a double is boxed (allocated). So the emitters split them into two int32 halves first,
// and the option walk builds them in place.

/** The MAC at buf[off] as mac.ts's number, computed where it is stored. */
function macAt(buf: Buffer, off: number): number {
  return ((buf[off] << 8) | buf[off + 1]) * TWO32 + (((buf[off + 2] << 24) | (buf[off + 3] << 16) | (buf[off + 4] << 8) | buf[off + 5]) >>> 0);
}

/** Writes a MAC given as its top 16 bits and its low 32 bits (as int32: `mac | 0`). */
function putMac(buf: Buffer, off: number, hi: number, lo: number): void {
  buf[off] = (hi >>> 8) & 0xff;
  buf[off + 1] = hi & 0xff;
  buf[off + 2] = lo >>> 24;
  buf[off + 3] = (lo >>> 16) & 0xff;
  buf[off + 4] = (lo >>> 8) & 0xff;
  buf[off + 5] = lo & 0xff;
}

/** The fixed part's length of an NDP message type, or 0 if the type is not one. */
export function ndpFixedLength(type: number): number {
  switch (type) {
    case ICMPV6_ROUTER_SOLICITATION:
      return NDP_RS_LEN;
    case ICMPV6_ROUTER_ADVERTISEMENT:
      return NDP_RA_LEN;
    case ICMPV6_NEIGHBOUR_SOLICITATION:
      return NDP_NS_LEN;
    case ICMPV6_NEIGHBOUR_ADVERTISEMENT:
      return NDP_NA_LEN;
    case ICMPV6_REDIRECT:
      return NDP_REDIRECT_LEN;
    default:
      return 0;
  }
}

/**
 * The options of an NDP message, walked once into this reused object. The first of each kind
 * counts; unknown options (the DAD nonce, ...) are skipped; a known option of the wrong size is
 * skipped too. A length-0 option, or one running past the message, makes it Malformed (RFC 4861 4.6).
 */
export class NdpOptions {
  buf: Buffer = EMPTY;
  error: number = WireError.Ok;
  /** Source link-layer address (a MAC number), or -1. */
  sourceMac = -1;
  /** Target link-layer address (a MAC number), or -1. */
  targetMac = -1;
  /** The MTU option's value, or -1. */
  mtu = -1;
  /** Absolute offset of the first prefix information option, or -1; `prefixCount` counts them all. */
  prefix = -1;
  prefixCount = 0;
  /** Options of a type this walk does not know. */
  unknown = 0;

  /** Walk buf[from, to); returns `error`. */
  walk(buf: Buffer, from: number, to: number): number {
    this.buf = buf;
    this.error = WireError.Ok;
    this.sourceMac = -1;
    this.targetMac = -1;
    this.mtu = -1;
    this.prefix = -1;
    this.prefixCount = 0;
    this.unknown = 0;
    let i = from;
    while (i < to) {
      if (i + 2 > to) return (this.error = WireError.Malformed);
      const type = buf[i];
      const len = buf[i + 1] << 3;
      if (len === 0 || i + len > to) return (this.error = WireError.Malformed);
      if (type === NDP_OPT_SOURCE_LLADDR) {
        if (len === NDP_OPT_LLADDR_LEN && this.sourceMac < 0) this.sourceMac = macAt(buf, i + 2);
      } else if (type === NDP_OPT_TARGET_LLADDR) {
        if (len === NDP_OPT_LLADDR_LEN && this.targetMac < 0) this.targetMac = macAt(buf, i + 2);
      } else if (type === NDP_OPT_MTU) {
        if (len === NDP_OPT_MTU_LEN && this.mtu < 0) this.mtu = readU32(buf, i + 4);
      } else if (type === NDP_OPT_PREFIX_INFO) {
        if (len === NDP_OPT_PREFIX_INFO_LEN) {
          if (this.prefix < 0) this.prefix = i;
          this.prefixCount++;
        }
      } else if (type !== NDP_OPT_REDIRECTED_HEADER) {
        this.unknown++;
      }
      i += len;
    }
    return WireError.Ok;
  }

  /** Prefix length of the option at `prefix`. */
  get prefixLength(): number {
    return this.buf[this.prefix + NDP_PREFIX_LENGTH];
  }
  /** L: the prefix is on link. */
  get prefixOnLink(): boolean {
    return (this.buf[this.prefix + NDP_PREFIX_FLAGS] & NDP_PREFIX_FLAG_ON_LINK) !== 0;
  }
  /** A: hosts may form addresses from it (SLAAC). */
  get prefixAutonomous(): boolean {
    return (this.buf[this.prefix + NDP_PREFIX_FLAGS] & NDP_PREFIX_FLAG_AUTONOMOUS) !== 0;
  }
  /** Seconds; 0xffffffff is infinity. */
  get prefixValidLifetime(): number {
    return readU32(this.buf, this.prefix + NDP_PREFIX_VALID_LIFETIME);
  }
  get prefixPreferredLifetime(): number {
    return readU32(this.buf, this.prefix + NDP_PREFIX_PREFERRED_LIFETIME);
  }
  /** Word i (0..3) of the prefix. */
  prefixWord(i: number): number {
    return readU32(this.buf, this.prefix + NDP_PREFIX + 4 * i);
  }
}

/**
 * Re-pointable view of an NDP message (the ICMPv6 message: type, code, checksum, body, options);
 * create once, `wrap` per packet. Its `options` walk is filled by the check functions.
 */
export class NdpMessage {
  buf: Buffer = EMPTY;
  off = 0;
  len = 0;
  readonly options = new NdpOptions();

  /** Truncated if shorter than its type's fixed part; Malformed if the type is not an NDP one. */
  wrap(buf: Buffer, off: number, len: number): number {
    this.buf = buf;
    this.off = off;
    this.len = len;
    if (off < 0 || len < 0 || off + len > buf.length) return WireError.Truncated;
    if (len < 8) return WireError.Truncated;
    const fixed = ndpFixedLength(buf[off + ICMPV6_TYPE]);
    if (fixed === 0) return WireError.Malformed;
    if (len < fixed) return WireError.Truncated;
    return WireError.Ok;
  }

  get type(): number {
    return this.buf[this.off + ICMPV6_TYPE];
  }
  get code(): number {
    return this.buf[this.off + ICMPV6_CODE];
  }
  get checksum(): number {
    return this.buf.readUInt16BE(this.off + ICMPV6_CHECKSUM);
  }

  /** Absolute offset of the options, and their length. */
  get optionsOffset(): number {
    return this.off + ndpFixedLength(this.buf[this.off + ICMPV6_TYPE]);
  }
  get optionsLength(): number {
    return this.len - ndpFixedLength(this.buf[this.off + ICMPV6_TYPE]);
  }

  /** Walk the options into `options`; returns its error. */
  walkOptions(): number {
    const o = this.optionsOffset;
    return this.options.walk(this.buf, o, this.off + this.len);
  }

  /** Message and pseudo-header (addrSum from Ipv6Packet.addressSum()) sum to 0xffff. */
  verifyChecksum(addrSum: number): boolean {
    return fold(sum16(this.buf, this.off, this.len, l4PseudoSum(addrSum, IPV6_NH_ICMPV6, this.len))) === 0xffff;
  }

  // ---- NS, NA, redirect
  /** Word i (0..3) of the target address. */
  targetWord(i: number): number {
    return readU32(this.buf, this.off + NDP_TARGET + 4 * i);
  }
  targetEquals(a: Ipv6Words): boolean {
    return ipv6EqualsAt(this.buf, this.off + NDP_TARGET, a);
  }
  get targetIsMulticast(): boolean {
    return this.buf[this.off + NDP_TARGET] === 0xff;
  }

  // ---- NA
  get router(): boolean {
    return (this.buf[this.off + NDP_NA_FLAGS] & NDP_NA_FLAG_ROUTER) !== 0;
  }
  get solicited(): boolean {
    return (this.buf[this.off + NDP_NA_FLAGS] & NDP_NA_FLAG_SOLICITED) !== 0;
  }
  get override(): boolean {
    return (this.buf[this.off + NDP_NA_FLAGS] & NDP_NA_FLAG_OVERRIDE) !== 0;
  }

  // ---- RA
  get curHopLimit(): number {
    return this.buf[this.off + NDP_RA_CUR_HOP_LIMIT];
  }
  get managed(): boolean {
    return (this.buf[this.off + NDP_RA_FLAGS] & NDP_RA_FLAG_MANAGED) !== 0;
  }
  get otherConfig(): boolean {
    return (this.buf[this.off + NDP_RA_FLAGS] & NDP_RA_FLAG_OTHER) !== 0;
  }
  /** Seconds; 0: not a default router. */
  get routerLifetime(): number {
    return this.buf.readUInt16BE(this.off + NDP_RA_ROUTER_LIFETIME);
  }
  /** Milliseconds; 0: unspecified. */
  get reachableTime(): number {
    return readU32(this.buf, this.off + NDP_RA_REACHABLE_TIME);
  }
  get retransTimer(): number {
    return readU32(this.buf, this.off + NDP_RA_RETRANS_TIMER);
  }

  // ---- redirect
  /** Word i (0..3) of a redirect's destination address. */
  destinationWord(i: number): number {
    return readU32(this.buf, this.off + NDP_REDIRECT_DEST + 4 * i);
  }
}

/** Why an NDP message is invalid (RFC 4861 6.1.1, 6.1.2, 7.1.1, 7.1.2, 8.1): a drop reason. */
export const NdpInvalid = {
  Ok: 0,
  /** Shorter than its fixed part (or not an NDP type). */
  Length: 1,
  HopLimit: 2,
  Code: 3,
  Checksum: 4,
  /** An option of length 0 or running past the message. */
  Option: 5,
  TargetMulticast: 6,
  /** Unspecified source and the destination is not a solicited-node group (NS) */
  UnspecifiedSource: 7,
  /** Unspecified source with a source link-layer address option (RS, NS). */
  SourceLladdrFromUnspecified: 8,
  /** NA with S set to a multicast destination. */
  SolicitedToMulticast: 9,
  /** RA or redirect not from a link-local source. */
  SourceNotLinkLocal: 10,
  /** Redirect to a multicast destination, or whose target is neither link-local nor the destination. */
  RedirectAddress: 11,
} as const;
export type NdpInvalid = (typeof NdpInvalid)[keyof typeof NdpInvalid];

const NDP_INVALID_NAMES = [
  'ok',
  'length',
  'hop_limit',
  'code',
  'checksum',
  'option',
  'target_multicast',
  'unspecified_source',
  'source_lladdr_from_unspecified',
  'solicited_to_multicast',
  'source_not_link_local',
  'redirect_address',
] as const;

/** Name of an NdpInvalid code (snake case, for a metric label or a log). */
export function ndpInvalidName(code: number): string {
  return NDP_INVALID_NAMES[code] ?? `unknown_${code}`;
}

/** The checks every NDP message shares: wrap, hop limit 255, code 0, checksum, options. */
function checkCommon(ip: Ipv6Packet, msg: NdpMessage, off: number, len: number, type: number): number {
  if (msg.wrap(ip.buf, off, len) !== WireError.Ok || msg.type !== type) return NdpInvalid.Length;
  if (ip.hopLimit !== NDP_HOP_LIMIT) return NdpInvalid.HopLimit;
  if (msg.code !== 0) return NdpInvalid.Code;
  if (!msg.verifyChecksum(ip.addressSum())) return NdpInvalid.Checksum;
  if (msg.walkOptions() !== WireError.Ok) return NdpInvalid.Option;
  return NdpInvalid.Ok;
}

/** ff02::1:ffXX:XXXX at buf[o]. */
function isSolicitedNodeAt(b: Buffer, o: number): boolean {
  return readI32(b, o) === (0xff020000 | 0) && readI32(b, o + 4) === 0 && readI32(b, o + 8) === 1 && b[o + 12] === 0xff;
}

/**
 * RFC 4861 6.1.1: a router solicitation in ip's payload at buf[off, +len) (the IPv6 walk's
 * upper-layer offset and length). Wraps `msg` and walks its options; returns an NdpInvalid code.
 */
export function checkRouterSolicitation(ip: Ipv6Packet, msg: NdpMessage, off: number, len: number): number {
  const e = checkCommon(ip, msg, off, len, ICMPV6_ROUTER_SOLICITATION);
  if (e !== NdpInvalid.Ok) return e;
  if (ip.srcIsUnspecified && msg.options.sourceMac >= 0) return NdpInvalid.SourceLladdrFromUnspecified;
  return NdpInvalid.Ok;
}

/** RFC 4861 6.1.2: a router advertisement (a gateway drops every one a container sends, but counts why). */
export function checkRouterAdvertisement(ip: Ipv6Packet, msg: NdpMessage, off: number, len: number): number {
  const e = checkCommon(ip, msg, off, len, ICMPV6_ROUTER_ADVERTISEMENT);
  if (e !== NdpInvalid.Ok) return e;
  if (!ip.srcIsLinkLocal) return NdpInvalid.SourceNotLinkLocal;
  return NdpInvalid.Ok;
}

/**
 * RFC 4861 7.1.1: a neighbour solicitation. The target is not multicast; an unspecified source
 * (duplicate address detection) only to a solicited-node group and without a source link-layer
 * address option.
 */
export function checkNeighbourSolicitation(ip: Ipv6Packet, msg: NdpMessage, off: number, len: number): number {
  const e = checkCommon(ip, msg, off, len, ICMPV6_NEIGHBOUR_SOLICITATION);
  if (e !== NdpInvalid.Ok) return e;
  if (msg.targetIsMulticast) return NdpInvalid.TargetMulticast;
  if (ip.srcIsUnspecified) {
    if (!isSolicitedNodeAt(ip.buf, ip.off + IPV6_DST)) return NdpInvalid.UnspecifiedSource;
    if (msg.options.sourceMac >= 0) return NdpInvalid.SourceLladdrFromUnspecified;
  }
  return NdpInvalid.Ok;
}

/** RFC 4861 7.1.2: a neighbour advertisement. The target is not multicast; S is clear when sent to a multicast group. */
export function checkNeighbourAdvertisement(ip: Ipv6Packet, msg: NdpMessage, off: number, len: number): number {
  const e = checkCommon(ip, msg, off, len, ICMPV6_NEIGHBOUR_ADVERTISEMENT);
  if (e !== NdpInvalid.Ok) return e;
  if (msg.targetIsMulticast) return NdpInvalid.TargetMulticast;
  if (ip.dstIsMulticast && msg.solicited) return NdpInvalid.SolicitedToMulticast;
  return NdpInvalid.Ok;
}

/** RFC 4861 8.1: a redirect (parsed only so it can be dropped and counted: a gateway never obeys a container's). */
export function checkRedirect(ip: Ipv6Packet, msg: NdpMessage, off: number, len: number): number {
  const e = checkCommon(ip, msg, off, len, ICMPV6_REDIRECT);
  if (e !== NdpInvalid.Ok) return e;
  if (!ip.srcIsLinkLocal) return NdpInvalid.SourceNotLinkLocal;
  const b = msg.buf;
  const t = msg.off + NDP_TARGET;
  const d = msg.off + NDP_REDIRECT_DEST;
  if (b[d] === 0xff) return NdpInvalid.RedirectAddress;
  const targetLinkLocal = b[t] === 0xfe && (b[t + 1] & 0xc0) === 0x80;
  if (!targetLinkLocal && b.compare(b, d, d + 16, t, t + 16) !== 0) return NdpInvalid.RedirectAddress;
  return NdpInvalid.Ok;
}

/** The check of the message's own type (by its first byte), or Length for a type that is not NDP. */
export function checkNdp(ip: Ipv6Packet, msg: NdpMessage, off: number, len: number): number {
  if (len < 1 || off < 0 || off + len > ip.buf.length) return NdpInvalid.Length;
  switch (ip.buf[off]) {
    case ICMPV6_ROUTER_SOLICITATION:
      return checkRouterSolicitation(ip, msg, off, len);
    case ICMPV6_ROUTER_ADVERTISEMENT:
      return checkRouterAdvertisement(ip, msg, off, len);
    case ICMPV6_NEIGHBOUR_SOLICITATION:
      return checkNeighbourSolicitation(ip, msg, off, len);
    case ICMPV6_NEIGHBOUR_ADVERTISEMENT:
      return checkNeighbourAdvertisement(ip, msg, off, len);
    case ICMPV6_REDIRECT:
      return checkRedirect(ip, msg, off, len);
    default:
      return NdpInvalid.Length;
  }
}

// ---- frames a gateway sends --------------------------------------------------------------------

/** A neighbour advertisement: the gateway's answer to an NS for one of its addresses (or unsolicited to ff02::1). */
export interface NeighbourAdvertisementSpec {
  srcMac: number;
  dstMac: number;
  src: Ipv6Words;
  dst: Ipv6Words;
  target: Ipv6Words;
  router: boolean;
  solicited: boolean;
  override: boolean;
  /** The target link-layer address option's MAC, or -1 for none. */
  targetMac: number;
}

/** A neighbour solicitation for address resolution: to the target's solicited-node group, with the source link-layer address. */
export interface NeighbourSolicitationSpec {
  srcMac: number;
  src: Ipv6Words;
  target: Ipv6Words;
  /** a unicast probe of the target at this MAC (RFC 4861 7.3.3); absent or -1: to the solicited-node group */
  dstMac?: number;
}

/** The gateway's router advertisement: SLLA, MTU and one prefix information option (L and A set). */
export interface RouterAdvertisementSpec {
  srcMac: number;
  dstMac: number;
  /** The gateway's link-local address (RAs must come from one). */
  src: Ipv6Words;
  /** ff02::1, or the soliciting host. */
  dst: Ipv6Words;
  /** 64, as Linux hosts default to. */
  curHopLimit: number;
  managed: boolean;
  otherConfig: boolean;
  /** Seconds (0..9000); 0: not a default router. */
  routerLifetime: number;
  /** Milliseconds; 0: unspecified. */
  reachableTime: number;
  retransTimer: number;
  /** The link MTU; 0 leaves the MTU option out. */
  mtu: number;
  prefix: Ipv6Words;
  prefixLength: number;
  /** Seconds; 0xffffffff is infinity. */
  validLifetime: number;
  preferredLifetime: number;
}

/**
 * Ethernet + IPv6 header for an NDP message of icmpLen bytes (MACs as hi16/lo32 halves, see putMac);
 * returns the ICMPv6 offset. The IPv6 destination is the caller's to write.
 */
function writeNdpHeaders(
  buf: Buffer,
  off: number,
  dstHi: number,
  dstLo: number,
  srcHi: number,
  srcLo: number,
  src: Ipv6Words,
  icmpLen: number,
): number {
  putMac(buf, off, dstHi, dstLo);
  putMac(buf, off + 6, srcHi, srcLo);
  buf[off + 12] = ETHERTYPE_IPV6 >>> 8;
  buf[off + 13] = ETHERTYPE_IPV6 & 0xff;
  const ip = off + ETH_HLEN;
  writeFixedHeader(buf, ip, icmpLen, IPV6_NH_ICMPV6, NDP_HOP_LIMIT, 0, 0);
  putIpv6(buf, ip + IPV6_SRC, src);
  return ip + IPV6_HLEN;
}

function writeLladdrOption(buf: Buffer, at: number, type: number, hi: number, lo: number): void {
  buf[at] = type;
  buf[at + 1] = 1;
  putMac(buf, at + 2, hi, lo);
}

/** Fill the ICMPv6 checksum of the message at buf[m, +len) whose IPv6 header is at buf[ip]. */
function fillNdpChecksum(buf: Buffer, ip: number, m: number, len: number): void {
  buf[m + ICMPV6_CHECKSUM] = 0;
  buf[m + ICMPV6_CHECKSUM + 1] = 0;
  const c = finish(sum16(buf, m, len, l4PseudoSum(ipv6AddressSum(buf, ip + IPV6_SRC), IPV6_NH_ICMPV6, len)));
  buf[m + ICMPV6_CHECKSUM] = c >>> 8;
  buf[m + ICMPV6_CHECKSUM + 1] = c & 0xff;
}

/** Writes a whole NA frame at buf[off]; returns its length (86 with the TLLA option, 78 without). */
export function emitNeighbourAdvertisement(buf: Buffer, off: number, spec: NeighbourAdvertisementSpec): number {
  const icmpLen = NDP_NA_LEN + (spec.targetMac >= 0 ? NDP_OPT_LLADDR_LEN : 0);
  const total = ETH_HLEN + IPV6_HLEN + icmpLen;
  checkRoom(buf, off, total);
  const dstMac = spec.dstMac;
  const srcMac = spec.srcMac;
  const m = writeNdpHeaders(buf, off, (dstMac / TWO32) | 0, dstMac | 0, (srcMac / TWO32) | 0, srcMac | 0, spec.src, icmpLen);
  const ip = off + ETH_HLEN;
  putIpv6(buf, ip + IPV6_DST, spec.dst);
  buf[m] = ICMPV6_NEIGHBOUR_ADVERTISEMENT;
  buf[m + 1] = 0;
  buf[m + NDP_NA_FLAGS] =
    (spec.router ? NDP_NA_FLAG_ROUTER : 0) | (spec.solicited ? NDP_NA_FLAG_SOLICITED : 0) | (spec.override ? NDP_NA_FLAG_OVERRIDE : 0);
  buf[m + 5] = 0;
  buf[m + 6] = 0;
  buf[m + 7] = 0;
  putIpv6(buf, m + NDP_TARGET, spec.target);
  const tMac = spec.targetMac;
  if (tMac >= 0) writeLladdrOption(buf, m + NDP_NA_LEN, NDP_OPT_TARGET_LLADDR, (tMac / TWO32) | 0, tMac | 0);
  fillNdpChecksum(buf, ip, m, icmpLen);
  return total;
}

/** Writes a whole NS frame (resolution of spec.target, or a unicast probe of it) at buf[off]; returns its length (86). */
export function emitNeighbourSolicitation(buf: Buffer, off: number, spec: NeighbourSolicitationSpec): number {
  const icmpLen = NDP_NS_LEN + NDP_OPT_LLADDR_LEN;
  const total = ETH_HLEN + IPV6_HLEN + icmpLen;
  checkRoom(buf, off, total);
  const low24 = spec.target[3] & 0xffffff;
  const srcMac = spec.srcMac;
  const sHi = (srcMac / TWO32) | 0;
  const sLo = srcMac | 0;
  const unicast = spec.dstMac !== undefined && spec.dstMac >= 0;
  const dstMac = unicast ? spec.dstMac! : 0;
  // 33:33:ff + the low 24 bits, the MAC of ff02::1:ffXX:XXXX (RFC 2464 7)
  const dHi = unicast ? (dstMac / TWO32) | 0 : 0x3333;
  const dLo = unicast ? dstMac | 0 : 0xff000000 | low24;
  const m = writeNdpHeaders(buf, off, dHi, dLo, sHi, sLo, spec.src, icmpLen);
  const ip = off + ETH_HLEN;
  const d = ip + IPV6_DST;
  if (unicast) putIpv6(buf, d, spec.target);
  else {
    writeU32(buf, d, 0xff020000);
    writeU32(buf, d + 4, 0);
    writeU32(buf, d + 8, 1);
    writeU32(buf, d + 12, 0xff000000 | low24);
  }
  buf[m] = ICMPV6_NEIGHBOUR_SOLICITATION;
  buf[m + 1] = 0;
  writeU32(buf, m + 4, 0);
  putIpv6(buf, m + NDP_TARGET, spec.target);
  writeLladdrOption(buf, m + NDP_NS_LEN, NDP_OPT_SOURCE_LLADDR, sHi, sLo);
  fillNdpChecksum(buf, ip, m, icmpLen);
  return total;
}

/** Writes a whole RA frame at buf[off] (options: SLLA, MTU unless 0, prefix information); returns its length (118 with the MTU). */
export function emitRouterAdvertisement(buf: Buffer, off: number, spec: RouterAdvertisementSpec): number {
  const icmpLen = NDP_RA_LEN + NDP_OPT_LLADDR_LEN + (spec.mtu > 0 ? NDP_OPT_MTU_LEN : 0) + NDP_OPT_PREFIX_INFO_LEN;
  const total = ETH_HLEN + IPV6_HLEN + icmpLen;
  checkRoom(buf, off, total);
  const dstMac = spec.dstMac;
  const srcMac = spec.srcMac;
  const sHi = (srcMac / TWO32) | 0;
  const sLo = srcMac | 0;
  const m = writeNdpHeaders(buf, off, (dstMac / TWO32) | 0, dstMac | 0, sHi, sLo, spec.src, icmpLen);
  const ip = off + ETH_HLEN;
  putIpv6(buf, ip + IPV6_DST, spec.dst);
  buf[m] = ICMPV6_ROUTER_ADVERTISEMENT;
  buf[m + 1] = 0;
  buf[m + NDP_RA_CUR_HOP_LIMIT] = spec.curHopLimit & 0xff;
  buf[m + NDP_RA_FLAGS] = (spec.managed ? NDP_RA_FLAG_MANAGED : 0) | (spec.otherConfig ? NDP_RA_FLAG_OTHER : 0);
  buf.writeUInt16BE(spec.routerLifetime & 0xffff, m + NDP_RA_ROUTER_LIFETIME);
  writeU32(buf, m + NDP_RA_REACHABLE_TIME, spec.reachableTime);
  writeU32(buf, m + NDP_RA_RETRANS_TIMER, spec.retransTimer);
  let o = m + NDP_RA_LEN;
  writeLladdrOption(buf, o, NDP_OPT_SOURCE_LLADDR, sHi, sLo);
  o += NDP_OPT_LLADDR_LEN;
  if (spec.mtu > 0) {
    buf[o] = NDP_OPT_MTU;
    buf[o + 1] = 1;
    buf[o + 2] = 0;
    buf[o + 3] = 0;
    writeU32(buf, o + 4, spec.mtu);
    o += NDP_OPT_MTU_LEN;
  }
  buf[o] = NDP_OPT_PREFIX_INFO;
  buf[o + 1] = NDP_OPT_PREFIX_INFO_LEN >>> 3;
  buf[o + NDP_PREFIX_LENGTH] = spec.prefixLength & 0xff;
  buf[o + NDP_PREFIX_FLAGS] = NDP_PREFIX_FLAG_ON_LINK | NDP_PREFIX_FLAG_AUTONOMOUS;
  writeU32(buf, o + NDP_PREFIX_VALID_LIFETIME, spec.validLifetime);
  writeU32(buf, o + NDP_PREFIX_PREFERRED_LIFETIME, spec.preferredLifetime);
  writeU32(buf, o + 12, 0);
  putIpv6(buf, o + NDP_PREFIX, spec.prefix);
  fillNdpChecksum(buf, ip, m, icmpLen);
  return total;
}
