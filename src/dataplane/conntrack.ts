// Connection tracking, as Linux's nf_conntrack does it: one entry per connection holding the
// original and the reply tuple, each findable in O(1) from its own direction. Entries live in
// typed arrays (struct of arrays); the index is open addressing keyed by the 5-tuple, so a lookup
// allocates nothing and builds no string. NAT is expressed the way Linux does it: a translated
// packet is rewritten so that its tuple becomes the inverse of the other direction's tuple.
//
// Either address family, as nf_conntrack_tuple's union of v4/v6 addresses: an address is four
// 32-bit words, most significant first (Ipv6Words); an IPv4 address is word 0 with the others 0.
// Word 0 lives in `src`/`dst` (so IPv4 code reads one column, as before), words 1..3 in
// `src6`/`dst6`; the family is part of the key, so an IPv4 tuple never finds an IPv6 one whose
// words coincide.

import { IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP } from '../wire/ipv4.js';
import { IP_PROTO_ICMPV6 } from '../wire/ipv6.js';
import type { Ipv6Words } from '../wire/ipv6-address.js';
import { HeapMemory, type TableMemory } from './table-memory.js';

/** An address family, by its IP version number (the header's first nibble). */
export const Family = { Ipv4: 4, Ipv6: 6 } as const;
export type IpFamily = (typeof Family)[keyof typeof Family];

export const Dir = { Original: 0, Reply: 1 } as const;

/** Entry flags. */
export const CtFlag = {
  SeenReply: 1,
  Assured: 2, // replied and confirmed: survives the table filling up with half-open flows
  Snat: 4,
  Dnat: 8,
  Inbound: 16, // created by a packet from outside (published port or endpoint-independent filtering)
  // 32 << dir: that direction's SYN offered window scaling; 128: which side closed first (conntrack-tcp)
  WscaleOrig: 32,
  WscaleReply: 64,
  // 128: which side closed first (conntrack-tcp)
  /** picked up mid-stream (nf_conntrack_tcp_loose): the window scale is unknown, windows are not checked */
  Liberal: 256,
  /** a flow to a service VIP: its reply is translated back wherever it is seen (routed, or switched from a backend) */
  Service: 512,
} as const;

/** Protocol-specific state (TCP states as nf_conntrack names them; UDP/ICMP use None). */
export const CtState = {
  None: 0,
  SynSent: 1,
  SynRecv: 2,
  Established: 3,
  FinWait: 4,
  CloseWait: 5,
  LastAck: 6,
  TimeWait: 7,
  Close: 8,
} as const;

export const CT_STATE_NAMES = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE'];

const EMPTY = -1;

/** The int32 (big-endian) at buf[off]: an address word read in place, never boxed. */
function rd32(buf: Buffer, off: number): number {
  return (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
}

/**
 * One direction of a connection, as netfilter's nf_conntrack_tuple: preallocated and reused (the
 * frame context holds two), so building one costs nothing per packet. Address words are int32:
 * `src`/`dst` are the IPv4 address or word 0 of the IPv6 one, `src1..3`/`dst1..3` its other words
 * (0 for IPv4).
 */
export class CtTuple {
  family: IpFamily = Family.Ipv4;
  proto = 0;
  src = 0;
  src1 = 0;
  src2 = 0;
  src3 = 0;
  dst = 0;
  dst1 = 0;
  dst2 = 0;
  dst3 = 0;
  sport = 0;
  dport = 0;

  /** An IPv4 tuple. */
  set4(proto: number, src: number, dst: number, sport: number, dport: number): CtTuple {
    this.family = Family.Ipv4;
    this.proto = proto;
    this.src = src | 0;
    this.src1 = this.src2 = this.src3 = 0;
    this.dst = dst | 0;
    this.dst1 = this.dst2 = this.dst3 = 0;
    this.sport = sport;
    this.dport = dport;
    return this;
  }

  /** set4 (the name IPv4 call sites and tests have used). */
  set(proto: number, src: number, dst: number, sport: number, dport: number): CtTuple {
    return this.set4(proto, src, dst, sport, dport);
  }

  /** An IPv6 tuple whose addresses are the 16 bytes at buf[srcOff] and buf[dstOff] (read in place, from a packet). */
  set6(proto: number, buf: Buffer, srcOff: number, dstOff: number, sport: number, dport: number): CtTuple {
    this.family = Family.Ipv6;
    this.proto = proto;
    this.src = rd32(buf, srcOff);
    this.src1 = rd32(buf, srcOff + 4);
    this.src2 = rd32(buf, srcOff + 8);
    this.src3 = rd32(buf, srcOff + 12);
    this.dst = rd32(buf, dstOff);
    this.dst1 = rd32(buf, dstOff + 4);
    this.dst2 = rd32(buf, dstOff + 8);
    this.dst3 = rd32(buf, dstOff + 12);
    this.sport = sport;
    this.dport = dport;
    return this;
  }

  /** An IPv6 tuple from address words (control path, tests; no allocation either). */
  set6Words(proto: number, src: Ipv6Words, dst: Ipv6Words, sport: number, dport: number): CtTuple {
    this.family = Family.Ipv6;
    this.proto = proto;
    this.src = src[0] | 0;
    this.src1 = src[1] | 0;
    this.src2 = src[2] | 0;
    this.src3 = src[3] | 0;
    this.dst = dst[0] | 0;
    this.dst1 = dst[1] | 0;
    this.dst2 = dst[2] | 0;
    this.dst3 = dst[3] | 0;
    this.sport = sport;
    this.dport = dport;
    return this;
  }

  /** The inverse of `t`, of its family: addresses and ports swapped (a reply tuple, before NAT changes it). */
  reverseOf(t: CtTuple): CtTuple {
    this.family = t.family;
    this.proto = t.proto;
    this.src = t.dst;
    this.src1 = t.dst1;
    this.src2 = t.dst2;
    this.src3 = t.dst3;
    this.dst = t.src;
    this.dst1 = t.src1;
    this.dst2 = t.src2;
    this.dst3 = t.src3;
    this.sport = t.dport;
    this.dport = t.sport;
    return this;
  }

  /** The source address becomes the IPv6 address of int32 words w0..w3. */
  setSrc6(w0: number, w1: number, w2: number, w3: number): void {
    this.src = w0 | 0;
    this.src1 = w1 | 0;
    this.src2 = w2 | 0;
    this.src3 = w3 | 0;
  }

  /** The destination address becomes the IPv6 address of int32 words w0..w3. */
  setDst6(w0: number, w1: number, w2: number, w3: number): void {
    this.dst = w0 | 0;
    this.dst1 = w1 | 0;
    this.dst2 = w2 | 0;
    this.dst3 = w3 | 0;
  }

  /** The source address's words (slow path: allocates). */
  srcWords(): Ipv6Words {
    return [this.src >>> 0, this.src1 >>> 0, this.src2 >>> 0, this.src3 >>> 0];
  }

  dstWords(): Ipv6Words {
    return [this.dst >>> 0, this.dst1 >>> 0, this.dst2 >>> 0, this.dst3 >>> 0];
  }
}

export class ConntrackTable {
  readonly capacity: number;
  // per entry
  /** Family.Ipv4 or Family.Ipv6 (0: free); both tuples of an entry are of its family */
  readonly family: Uint8Array;
  readonly proto: Uint8Array;
  readonly state: Uint8Array;
  readonly flags: Uint16Array;
  readonly expires: Float64Array; // ms
  readonly mapping: Int32Array; // NAT port mapping held by the entry, or -1
  /** the local endpoint (port id) the connection counts against, or -1 (see own) */
  readonly owner: Int16Array;
  /** a service flow's backend slot (service-table.ts), or -1; not in the file (see adopt) */
  readonly backend: Int32Array;
  /** active flows per backend slot (the counters' `services` array, stride `backendStride`), or null */
  backendActive: Float64Array | null = null;
  backendStride = 1;
  // per entry and direction: slot = entry * 2 + dir
  /** the IPv4 address, or word 0 of the IPv6 one */
  readonly src: Int32Array;
  readonly dst: Int32Array;
  /** words 1..3 of an IPv6 address at slot * 3 + (word - 1); 0 for IPv4 */
  readonly src6: Int32Array;
  readonly dst6: Int32Array;
  readonly sport: Uint16Array;
  readonly dport: Uint16Array;
  // TCP window tracking, per direction
  readonly tdEnd: Uint32Array; // highest sequence number sent + length
  readonly tdMaxWin: Uint32Array; // largest window advertised (scaled)
  readonly tdScale: Uint8Array; // window scale announced in the SYN
  readonly tdAck: Uint32Array; // last acknowledgement sent
  readonly packets: Float64Array;
  readonly bytes: Float64Array;

  private readonly index: Int32Array; // slot number (entry * 2 + dir) or EMPTY
  private readonly mask: number;
  private readonly free: Int32Array;
  private freeCount: number;
  private sweepCursor = 0;
  /** live entries per protocol and state, for metrics: [proto 0 tcp,1 udp,2 icmp][state] */
  readonly live: Int32Array;
  /** live entries per owner (port id) */
  readonly owned: Int32Array;
  private evictCursor = 0;
  /** reused tuples: the hash of a stored IPv6 slot (a removal may run inside a lookup), adoption's checks */
  private readonly hashScratch = new CtTuple();
  private readonly checkScratch = new CtTuple();

  constructor(capacity: number, mem: TableMemory = new HeapMemory(), maxOwners = 4096) {
    this.capacity = capacity;
    this.proto = mem.u8(capacity);
    this.state = mem.u8(capacity);
    this.flags = mem.u16(capacity);
    this.expires = mem.f64(capacity);
    this.mapping = mem.i32(capacity).fill(-1);
    // not in the file: port ids are this process's (the owners are found again as endpoints come back)
    this.owner = new Int16Array(capacity).fill(-1);
    this.backend = new Int32Array(capacity).fill(-1);
    this.src = mem.i32(capacity * 2);
    this.dst = mem.i32(capacity * 2);
    this.sport = mem.u16(capacity * 2);
    this.dport = mem.u16(capacity * 2);
    this.tdEnd = mem.u32(capacity * 2);
    this.tdMaxWin = mem.u32(capacity * 2);
    this.tdScale = mem.u8(capacity * 2);
    this.tdAck = mem.u32(capacity * 2);
    this.packets = mem.f64(capacity * 2);
    this.bytes = mem.f64(capacity * 2);
    // the columns IPv6 added, after IPv4's (so a column's place in the file did not move)
    this.family = mem.u8(capacity);
    this.src6 = mem.i32(capacity * 6);
    this.dst6 = mem.i32(capacity * 6);
    let size = 1;
    while (size < capacity * 4) size <<= 1; // two keys per entry, load factor <= 0.5
    this.index = new Int32Array(size).fill(EMPTY);
    this.mask = size - 1;
    this.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.freeCount = capacity;
    this.live = new Int32Array(3 * 16);
    this.owned = new Int32Array(maxOwners);
  }

  get size(): number {
    return this.capacity - this.freeCount;
  }

  private static hash(proto: number, src: number, dst: number, sport: number, dport: number): number {
    let h = Math.imul(src ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ dst, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ ((sport << 16) | dport), 0x27d4eb2f);
    h ^= proto;
    return (h ^ (h >>> 15)) | 0; // int32: a uint32 above 2^31 returned by a call not inlined is boxed; callers only mask it
  }

  /** The hash of an IPv6 tuple: every word, so flows of one prefix spread (the family is mixed in too). */
  private static hash6(t: CtTuple): number {
    let h = Math.imul(t.src ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ t.src1, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ t.src2, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ t.src3, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ t.dst, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ t.dst1, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ t.dst2, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ t.dst3, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ ((t.sport << 16) | t.dport), 0x27d4eb2f);
    h ^= t.proto | (Family.Ipv6 << 8);
    return (h ^ (h >>> 15)) | 0; // int32: a uint32 above 2^31 returned by a call not inlined is boxed; callers only mask it
  }

  /** Finds the slot (entry * 2 + dir) whose IPv4 tuple is exactly this, or -1. Expired entries are not found. */
  lookup(proto: number, src: number, dst: number, sport: number, dport: number, now: number): number {
    src |= 0;
    dst |= 0;
    let i = ConntrackTable.hash(proto, src, dst, sport, dport) & this.mask;
    for (;;) {
      const slot = this.index[i];
      if (slot === EMPTY) return -1;
      if (this.src[slot] === src && this.dst[slot] === dst && this.sport[slot] === sport && this.dport[slot] === dport) {
        const e = slot >> 1;
        if (this.proto[e] === proto && this.family[e] === Family.Ipv4) {
          if (this.expires[e] <= now) {
            this.remove(e);
            return -1;
          }
          return slot;
        }
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Finds the slot whose tuple (of either family) is exactly `t`, or -1. Expired entries are not found. */
  find(t: CtTuple, now: number): number {
    return t.family === Family.Ipv6 ? this.lookup6(t, now) : this.lookup(t.proto, t.src, t.dst, t.sport, t.dport, now);
  }

  private lookup6(t: CtTuple, now: number): number {
    const mask = this.mask;
    let i = ConntrackTable.hash6(t) & mask;
    for (;;) {
      const slot = this.index[i];
      if (slot === EMPTY) return -1;
      if (this.src[slot] === t.src && this.dst[slot] === t.dst && this.sport[slot] === t.sport && this.dport[slot] === t.dport) {
        const e = slot >> 1;
        const w = slot * 3;
        const s6 = this.src6;
        const d6 = this.dst6;
        if (
          this.family[e] === Family.Ipv6 &&
          this.proto[e] === t.proto &&
          s6[w] === t.src1 &&
          s6[w + 1] === t.src2 &&
          s6[w + 2] === t.src3 &&
          d6[w] === t.dst1 &&
          d6[w + 1] === t.dst2 &&
          d6[w + 2] === t.dst3
        ) {
          if (this.expires[e] <= now) {
            this.remove(e);
            return -1;
          }
          return slot;
        }
      }
      i = (i + 1) & mask;
    }
  }

  /** True when some live entry already uses this tuple in either direction. */
  takenTuple(t: CtTuple, now: number): boolean {
    return this.find(t, now) >= 0;
  }

  /** The tuple of a slot (entry * 2 + dir) into `out`. */
  tupleOf(slot: number, out: CtTuple): CtTuple {
    const e = slot >> 1;
    out.family = this.family[e] === Family.Ipv6 ? Family.Ipv6 : Family.Ipv4;
    out.proto = this.proto[e];
    out.src = this.src[slot];
    out.dst = this.dst[slot];
    const w = slot * 3;
    out.src1 = this.src6[w];
    out.src2 = this.src6[w + 1];
    out.src3 = this.src6[w + 2];
    out.dst1 = this.dst6[w];
    out.dst2 = this.dst6[w + 1];
    out.dst3 = this.dst6[w + 2];
    out.sport = this.sport[slot];
    out.dport = this.dport[slot];
    return out;
  }

  /** Whether a slot's source (or destination, `dst`) address is the IPv6 address `a` (control path). */
  isAddress6(slot: number, dst: boolean, a: Ipv6Words): boolean {
    if (this.family[slot >> 1] !== Family.Ipv6) return false;
    const w0 = dst ? this.dst : this.src;
    const w = dst ? this.dst6 : this.src6;
    const i = slot * 3;
    return w0[slot] === (a[0] | 0) && w[i] === (a[1] | 0) && w[i + 1] === (a[2] | 0) && w[i + 2] === (a[3] | 0);
  }

  /** Whether a slot's source (or destination) address is the IPv4 address `ip`. */
  isAddress4(slot: number, dst: boolean, ip: number): boolean {
    return this.family[slot >> 1] === Family.Ipv4 && (dst ? this.dst : this.src)[slot] === (ip | 0);
  }

  /**
   * Creates an entry from its two tuples (of one protocol and family, the original's); returns the
   * entry number, or -1 when the table is full. The caller has checked that neither tuple exists.
   * The entry expires at once unless its protocol tracker sets a timeout.
   */
  create(orig: CtTuple, reply: CtTuple, state: number, flags: number): number {
    if (this.freeCount === 0) return -1;
    const e = this.free[--this.freeCount];
    const proto = orig.proto;
    this.family[e] = orig.family;
    this.proto[e] = proto;
    this.state[e] = state;
    this.flags[e] = flags;
    this.expires[e] = 0;
    this.mapping[e] = -1;
    this.owner[e] = -1;
    this.backend[e] = -1;
    const o = e * 2;
    const r = o + 1;
    this.src[o] = orig.src;
    this.dst[o] = orig.dst;
    this.sport[o] = orig.sport;
    this.dport[o] = orig.dport;
    this.src[r] = reply.src;
    this.dst[r] = reply.dst;
    this.sport[r] = reply.sport;
    this.dport[r] = reply.dport;
    const s6 = this.src6;
    const d6 = this.dst6;
    const wo = o * 3;
    s6[wo] = orig.src1;
    s6[wo + 1] = orig.src2;
    s6[wo + 2] = orig.src3;
    d6[wo] = orig.dst1;
    d6[wo + 1] = orig.dst2;
    d6[wo + 2] = orig.dst3;
    s6[wo + 3] = reply.src1;
    s6[wo + 4] = reply.src2;
    s6[wo + 5] = reply.src3;
    d6[wo + 3] = reply.dst1;
    d6[wo + 4] = reply.dst2;
    d6[wo + 5] = reply.dst3;
    this.tdEnd[o] = this.tdEnd[r] = 0;
    this.tdMaxWin[o] = this.tdMaxWin[r] = 0;
    this.tdScale[o] = this.tdScale[r] = 0;
    this.tdAck[o] = this.tdAck[r] = 0;
    this.packets[o] = this.packets[r] = 0;
    this.bytes[o] = this.bytes[r] = 0;
    this.insert(o);
    this.insert(r);
    this.live[protoClass(proto) * 16 + state]++;
    return e;
  }

  /** Entry `e` is a flow of backend slot `b`: counted among its active flows until it goes. */
  serve(e: number, b: number): void {
    this.backend[e] = b;
    if (this.backendActive !== null) this.backendActive[b * this.backendStride]++;
  }

  /** Counts entry `e` against endpoint `port` (conntrack.maxPerEndpoint). */
  own(e: number, port: number): void {
    this.owner[e] = port;
    this.owned[port]++;
  }

  setState(e: number, state: number): void {
    const c = protoClass(this.proto[e]) * 16;
    this.live[c + this.state[e]]--;
    this.live[c + state]++;
    this.state[e] = state;
  }

  /** The index hash of a slot's tuple, as lookup() and find() compute it. */
  private slotHash(slot: number): number {
    const e = slot >> 1;
    if (this.family[e] !== Family.Ipv6) return ConntrackTable.hash(this.proto[e], this.src[slot], this.dst[slot], this.sport[slot], this.dport[slot]);
    return ConntrackTable.hash6(this.tupleOf(slot, this.hashScratch));
  }

  private insert(slot: number): void {
    let i = this.slotHash(slot) & this.mask;
    while (this.index[i] !== EMPTY) i = (i + 1) & this.mask;
    this.index[i] = slot;
  }

  private unindex(slot: number): void {
    const mask = this.mask;
    let i = this.slotHash(slot) & mask;
    while (this.index[i] !== slot) {
      if (this.index[i] === EMPTY) return;
      i = (i + 1) & mask;
    }
    // backward-shift deletion keeps probe chains intact without tombstones
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const s = this.index[j];
      if (s === EMPTY) break;
      const home = this.slotHash(s) & mask;
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        this.index[hole] = s;
        hole = j;
      }
    }
    this.index[hole] = EMPTY;
  }

  /** Removes an entry; its NAT mapping (if any) is the caller's to release via `onRemove`. */
  remove(e: number): void {
    this.unindex(e * 2);
    this.unindex(e * 2 + 1);
    this.live[protoClass(this.proto[e]) * 16 + this.state[e]]--;
    this.expires[e] = 0;
    this.proto[e] = 0;
    this.family[e] = 0;
    const m = this.mapping[e];
    this.mapping[e] = -1;
    const owner = this.owner[e];
    if (owner >= 0) {
      this.owned[owner]--;
      this.owner[e] = -1;
    }
    const b = this.backend[e];
    if (b >= 0) {
      this.backend[e] = -1;
      if (this.backendActive !== null) this.backendActive[b * this.backendStride]--;
    }
    this.free[this.freeCount++] = e;
    if (m >= 0 && this.onRemove !== null) this.onRemove(m);
  }

  /** Called with the NAT mapping of every removed entry. */
  onRemove: ((mapping: number) => void) | null = null;

  isLive(e: number): boolean {
    return this.proto[e] !== 0;
  }

  /** Reclaims expired entries, looking at no more than `budget` entries per call. */
  sweep(now: number, budget: number): number {
    let removed = 0;
    for (let n = 0; n < budget; n++) {
      const e = this.sweepCursor;
      this.sweepCursor = e + 1 === this.capacity ? 0 : e + 1;
      if (this.proto[e] !== 0 && this.expires[e] <= now) {
        this.remove(e);
        removed++;
      }
    }
    return removed;
  }

  /**
   * Makes room in a full table, as Linux's early_drop does but more narrowly: evicts one entry
   * that never saw a reply (an unanswered SYN or datagram), looking at no more than `budget`
   * entries from where the last search stopped. False when every entry looked at has been
   * answered: those are kept and the new flow is refused, so a SYN flood against a published
   * port, which its container answers, is dropped at the gateway instead of crowding out the
   * established flows.
   */
  evictUnreplied(budget: number): boolean {
    for (let n = 0; n < budget; n++) {
      const e = this.evictCursor;
      this.evictCursor = e + 1 === this.capacity ? 0 : e + 1;
      if (this.proto[e] !== 0 && (this.flags[e] & CtFlag.SeenReply) === 0) {
        this.remove(e);
        return true;
      }
    }
    return false;
  }

  /** Removes every entry `match` picks; returns how many. */
  removeWhere(match: (e: number) => boolean): number {
    let n = 0;
    for (let e = 0; e < this.capacity; e++) {
      if (this.proto[e] !== 0 && match(e)) {
        this.remove(e);
        n++;
      }
    }
    return n;
  }

  /**
   * Takes the entries found in the columns (a previous process's, from a file) as this table's:
   * expiries moved by `shiftMs` onto this process's clock, then the index, free list and counts
   * rebuilt. Expired entries go; an entry is kept only if its protocol and state are in range, both
   * its tuples are new to the index, and `keep` accepts it (its NAT mapping); others are cleared.
   * Nothing derived is trusted, so a torn write costs at most the entry it tore.
   */
  adopt(shiftMs: number, now: number, keep: (e: number) => boolean): { adopted: number; expired: number; dropped: number } {
    this.index.fill(EMPTY);
    this.live.fill(0);
    this.owner.fill(-1);
    this.owned.fill(0);
    this.backend.fill(-1); // service flows are linked to their backends again by the next setService
    this.freeCount = 0;
    let adopted = 0;
    let expired = 0;
    let dropped = 0;
    for (let e = 0; e < this.capacity; e++) {
      const proto = this.proto[e];
      if (proto === 0) continue; // free: create() writes every column it reads
      this.expires[e] += shiftMs;
      if (this.expires[e] <= now) {
        this.clear(e);
        expired++;
      } else if (this.validEntry(e) && keep(e)) {
        this.insert(e * 2);
        this.insert(e * 2 + 1);
        this.live[protoClass(proto) * 16 + this.state[e]]++;
        adopted++;
      } else {
        this.clear(e);
        dropped++;
      }
    }
    // the free list hands out low entry numbers first, as a fresh table does
    for (let e = this.capacity - 1; e >= 0; e--) if (this.proto[e] === 0) this.free[this.freeCount++] = e;
    return { adopted, expired, dropped };
  }

  private validEntry(e: number): boolean {
    const family = this.family[e];
    const proto = this.proto[e];
    const state = this.state[e];
    const icmp = family === Family.Ipv4 ? IP_PROTO_ICMP : IP_PROTO_ICMPV6;
    if (family !== Family.Ipv4 && family !== Family.Ipv6) return false;
    if (proto !== IP_PROTO_TCP && proto !== IP_PROTO_UDP && proto !== icmp) return false;
    if (proto === IP_PROTO_TCP ? state > CtState.Close : state !== CtState.None) return false;
    if (!Number.isFinite(this.expires[e])) return false;
    const m = this.mapping[e];
    if (m < -1 || m >= this.capacity) return false;
    const o = e * 2;
    const r = o + 1;
    const s6 = this.src6;
    const d6 = this.dst6;
    const w = o * 3;
    if (family === Family.Ipv4) {
      for (let i = 0; i < 6; i++) if (s6[w + i] !== 0 || d6[w + i] !== 0) return false; // an IPv4 address has no other words
    }
    const same = (i: number) => s6[w + i] === s6[w + 3 + i] && d6[w + i] === d6[w + 3 + i];
    if (this.src[o] === this.src[r] && this.dst[o] === this.dst[r] && this.sport[o] === this.sport[r] && this.dport[o] === this.dport[r] && same(0) && same(1) && same(2)) return false;
    const never = -Infinity; // find() then expires nothing
    if (this.find(this.tupleOf(o, this.checkScratch), never) >= 0) return false;
    return this.find(this.tupleOf(r, this.checkScratch), never) < 0;
  }

  private clear(e: number): void {
    this.family[e] = 0;
    this.proto[e] = 0;
    this.state[e] = 0;
    this.expires[e] = 0;
    this.mapping[e] = -1;
  }

  flush(): void {
    for (let e = 0; e < this.capacity; e++) if (this.proto[e] !== 0) this.remove(e);
  }
}

/** Protocol classes: the index of per-protocol tables (NAT ports, live-state counts). */
export const ProtoClass = { Tcp: 0, Udp: 1, Icmp: 2 } as const;

export function protoClass(proto: number): number {
  return proto === IP_PROTO_TCP ? ProtoClass.Tcp : proto === IP_PROTO_UDP ? ProtoClass.Udp : ProtoClass.Icmp;
}
