// Masquerade port mappings: inside address:port -> one outside port on the uplink address, shared by
// every connection from that inside endpoint whatever the destination (endpoint-independent
// mapping, RFC 4787 REQ-1), and freed when its last connection goes. Typed arrays, no strings.
//
// Either family: an IPv6 inside endpoint gets a port of the uplink's IPv6 address. The two
// families have separate port spaces, as Linux's iptables and ip6tables masquerade do (nf_nat
// checks a port against the tuples of its own family only): a class is a protocol class of one
// family (natClass), IPv4's 0..2, IPv6's 3..5. An inside address is four words as in conntrack
// (inIp: the IPv4 address or word 0; inIp6: words 1..3, 0 for IPv4).

import type { Ipv6Words } from '../wire/ipv6-address.js';
import { Family, ProtoClass, protoClass } from './conntrack.js';
import { HeapMemory, type TableMemory } from './table-memory.js';

const EMPTY = -1;
/** protocol classes per family: tcp, udp, icmp (echo identifiers), as ProtoClass */
const PER_FAMILY = 3;
/** IPv4's classes, then IPv6's */
export const NAT_CLASSES = 2 * PER_FAMILY;

/** The class (port space) of a mapping for a protocol of a family. */
export function natClass(family: number, proto: number): number {
  return family === Family.Ipv6 ? PER_FAMILY + protoClass(proto) : protoClass(proto);
}

/** The family of a class's port space. */
export function natClassFamily(cls: number): number {
  return cls >= PER_FAMILY ? Family.Ipv6 : Family.Ipv4;
}

function isUdpClass(cls: number): boolean {
  return cls === ProtoClass.Udp || cls === PER_FAMILY + ProtoClass.Udp; // parity matters to RTP/RTCP pairs
}

/** A pinned mapping lives without connections (PCP MAP and PEER, NAT-PMP). */
export const PIN_HELD = 1;
/** ...and any outside host may open a connection to it (PCP MAP, NAT-PMP; not PEER). */
export const PIN_OPEN = 2;

export class NatMappings {
  readonly capacity: number;
  readonly cls: Uint8Array;
  /** the IPv4 inside address, or word 0 of the IPv6 one */
  readonly inIp: Int32Array;
  /** words 1..3 of an IPv6 inside address at m * 3 + (word - 1); 0 for IPv4 */
  readonly inIp6: Int32Array;
  readonly inPort: Uint16Array;
  readonly outPort: Uint16Array;
  readonly refs: Int32Array;
  /** Pin bits (PIN_HELD, PIN_OPEN): pinned by the control plane (PCP, NAT-PMP), the mapping lives without flows */
  readonly pinned: Uint8Array;
  /** 1: a pin adopted from a previous process that the control plane has not pinned again yet */
  private readonly unconfirmedPin: Uint8Array;
  /** owner[cls * 65536 + port]: mapping holding the outside port, or -1 */
  private readonly owner: Int32Array;
  /** ports published (DNAT) on the uplink address: never handed out for masquerade */
  private readonly reserved: Uint8Array;
  private readonly index: Int32Array;
  private readonly mask: number;
  private readonly free: Int32Array;
  private freeCount: number;
  private readonly cursor = new Int32Array(NAT_CLASSES);
  /** outside ports in use per class, for metrics */
  readonly inUse = new Int32Array(NAT_CLASSES);

  constructor(
    capacity: number,
    readonly portMin: number,
    readonly portMax: number,
    mem: TableMemory = new HeapMemory(),
  ) {
    this.capacity = capacity;
    this.cls = mem.u8(capacity);
    this.inIp = mem.i32(capacity);
    this.inPort = mem.u16(capacity);
    this.outPort = mem.u16(capacity);
    this.refs = new Int32Array(capacity);
    this.pinned = mem.u8(capacity);
    this.inIp6 = mem.i32(capacity * 3);
    this.unconfirmedPin = new Uint8Array(capacity);
    this.owner = new Int32Array(NAT_CLASSES * 65536).fill(EMPTY);
    this.reserved = new Uint8Array(NAT_CLASSES * 65536);
    let size = 1;
    while (size < capacity * 2) size <<= 1;
    this.index = new Int32Array(size).fill(EMPTY);
    this.mask = size - 1;
    this.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.freeCount = capacity;
    this.cursor.fill(portMin);
  }

  get rangeSize(): number {
    return this.portMax - this.portMin + 1;
  }

  private static hash(cls: number, w0: number, w1: number, w2: number, w3: number, port: number): number {
    let h = Math.imul(w0 ^ Math.imul(port + 1, 0x9e3779b1) ^ (cls << 28), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ w1, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ w2, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ w3, 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  private hashOf(m: number): number {
    const w = m * 3;
    return NatMappings.hash(this.cls[m], this.inIp[m], this.inIp6[w], this.inIp6[w + 1], this.inIp6[w + 2], this.inPort[m]);
  }

  /** The mapping of an IPv4 inside endpoint, or -1. */
  find(cls: number, ip: number, port: number): number {
    return this.find6(cls, ip, 0, 0, 0, port);
  }

  /** The mapping of an inside endpoint of either family (words of the address; IPv4: ip, 0, 0, 0), or -1. */
  find6(cls: number, w0: number, w1: number, w2: number, w3: number, port: number): number {
    w0 |= 0;
    w1 |= 0;
    w2 |= 0;
    w3 |= 0;
    let i = NatMappings.hash(cls, w0, w1, w2, w3, port) & this.mask;
    for (;;) {
      const m = this.index[i];
      if (m === EMPTY) return -1;
      if (this.inIp[m] === w0 && this.inPort[m] === port && this.cls[m] === cls && this.sameRest(m, w1, w2, w3)) return m;
      i = (i + 1) & this.mask;
    }
  }

  private sameRest(m: number, w1: number, w2: number, w3: number): boolean {
    const w = m * 3;
    return this.inIp6[w] === w1 && this.inIp6[w + 1] === w2 && this.inIp6[w + 2] === w3;
  }

  /** The mapping that owns an outside port, or -1. */
  byOutside(cls: number, port: number): number {
    return this.owner[cls * 65536 + port];
  }

  reserve(cls: number, port: number, on: boolean): void {
    this.reserved[cls * 65536 + port] = on ? 1 : 0;
  }

  isFree(cls: number, port: number): boolean {
    const k = cls * 65536 + port;
    return this.owner[k] === EMPTY && this.reserved[k] === 0 && port !== 0;
  }

  /**
   * The mapping for an inside endpoint, created if needed: the outside port is `want` when given
   * and free, else the inside port when free (port preservation, RFC 4787 REQ-3), else the next
   * free port of the range, for UDP with the inside port's parity (REQ-3's parity), else any
   * free port; -1 when every port of the range is taken.
   */
  acquire(cls: number, ip: number, port: number, want = 0): number {
    return this.acquire6(cls, ip, 0, 0, 0, port, want);
  }

  /** acquire() for an inside endpoint of either family (the address's words). */
  acquire6(cls: number, w0: number, w1: number, w2: number, w3: number, port: number, want = 0): number {
    const found = this.find6(cls, w0, w1, w2, w3, port);
    if (found >= 0) return found;
    if (this.freeCount === 0) return -1;
    let out = -1;
    if (want !== 0 && this.isFree(cls, want)) out = want;
    else if (this.isFree(cls, port)) out = port;
    else {
      out = isUdpClass(cls) ? this.search(cls, port & 1, 1) : -1;
      if (out < 0) out = this.search(cls, 0, 0);
      if (out < 0) return -1;
      this.cursor[cls] = out + 1;
    }
    const m = this.free[--this.freeCount];
    this.cls[m] = cls;
    this.inIp[m] = w0 | 0;
    const w = m * 3;
    this.inIp6[w] = w1 | 0;
    this.inIp6[w + 1] = w2 | 0;
    this.inIp6[w + 2] = w3 | 0;
    this.inPort[m] = port;
    this.outPort[m] = out;
    this.refs[m] = 0;
    this.pinned[m] = 0;
    this.owner[cls * 65536 + out] = m;
    let i = this.hashOf(m) & this.mask;
    while (this.index[i] !== EMPTY) i = (i + 1) & this.mask;
    this.index[i] = m;
    this.inUse[cls]++;
    return m;
  }

  /** The first free port of the range from the class's cursor whose low bit is `parity` (under `parityMask`), or -1. */
  private search(cls: number, parity: number, parityMask: number): number {
    const span = this.rangeSize;
    let p = this.cursor[cls];
    for (let n = 0; n < span; n++) {
      if (p > this.portMax || p < this.portMin) p = this.portMin;
      if ((p & parityMask) === parity && this.isFree(cls, p)) return p;
      p++;
    }
    return -1;
  }

  /**
   * Pins the mapping of an inside endpoint (made if needed, on `want` when free): it then lives
   * without connections until unpinned, open to any outside host with `open`. Pinning again
   * changes only `open`. With `exact`, a mapping that cannot be on `want` is an error. Returns
   * the mapping; throws, changing nothing, when it cannot be made.
   */
  pin(cls: number, ip: number, port: number, want: number, exact: boolean, open: boolean): number {
    return this.pin6(cls, [ip, 0, 0, 0], port, want, exact, open);
  }

  /** pin() for an inside endpoint of either family (IPv4: [ip, 0, 0, 0] with an IPv4 class). */
  pin6(cls: number, ip: Ipv6Words, port: number, want: number, exact: boolean, open: boolean): number {
    const found = this.find6(cls, ip[0], ip[1], ip[2], ip[3], port);
    if (found >= 0) {
      if (exact && want !== 0 && this.outPort[found] !== want) {
        throw new Error(`the inside endpoint is already mapped to outside port ${this.outPort[found]}`);
      }
    } else if (exact && want !== 0 && !this.isFree(cls, want)) {
      throw new Error(`outside port ${want} is in use`);
    }
    const m = found >= 0 ? found : this.acquire6(cls, ip[0], ip[1], ip[2], ip[3], port, want);
    if (m < 0) throw new Error('no outside port is free');
    if (this.pinned[m] === 0) this.refs[m]++;
    this.pinned[m] = open ? PIN_HELD | PIN_OPEN : PIN_HELD;
    this.unconfirmedPin[m] = 0;
    return m;
  }

  /** Unpins every mapping of an IPv4 inside address (its container went away). */
  unpinAll(ip: number): void {
    this.unpinAllOf(Family.Ipv4, [ip, 0, 0, 0]);
  }

  /** Unpins every mapping of an inside address of a family (IPv4: [ip, 0, 0, 0]). */
  unpinAllOf(family: number, ip: Ipv6Words): void {
    const w0 = ip[0] | 0;
    const w1 = ip[1] | 0;
    const w2 = ip[2] | 0;
    const w3 = ip[3] | 0;
    for (let m = 0; m < this.capacity; m++) {
      if (this.pinned[m] !== 0 && this.inIp[m] === w0 && natClassFamily(this.cls[m]) === family && this.sameRest(m, w1, w2, w3)) {
        this.pinned[m] = 0;
        this.unref(m);
      }
    }
  }

  /** Unpins the mapping of an inside endpoint; it goes with its last connection (at once if none). */
  unpin(cls: number, ip: number, port: number): void {
    this.unpin6(cls, [ip, 0, 0, 0], port);
  }

  /** unpin() for an inside endpoint of either family. */
  unpin6(cls: number, ip: Ipv6Words, port: number): void {
    const m = this.find6(cls, ip[0], ip[1], ip[2], ip[3], port);
    if (m < 0 || this.pinned[m] === 0) return;
    this.pinned[m] = 0;
    this.unref(m);
  }

  ref(m: number): void {
    this.refs[m]++;
  }

  /** Frees a mapping that acquire() made but no connection took (the conntrack table was full). */
  releaseIfUnused(m: number): void {
    if (this.refs[m] !== 0) return;
    this.refs[m] = 1;
    this.unref(m);
  }

  /** Drops one reference; the mapping and its port are freed with the last one. */
  unref(m: number): void {
    if (--this.refs[m] > 0) return;
    this.owner[this.cls[m] * 65536 + this.outPort[m]] = EMPTY;
    this.inUse[this.cls[m]]--;
    const mask = this.mask;
    let i = this.hashOf(m) & mask;
    while (this.index[i] !== m) i = (i + 1) & mask;
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const s = this.index[j];
      if (s === EMPTY) break;
      const home = this.hashOf(s) & mask;
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        this.index[hole] = s;
        hole = j;
      }
    }
    this.index[hole] = EMPTY;
    this.free[this.freeCount++] = m;
  }

  /**
   * Adoption of a previous process's mappings (live-state.ts): every mapping starts unclaimed (and
   * every port unreserved, until the adopted published ports reserve theirs),
   * each connection entry that holds one claims it (checked against the entry and against the
   * claims so far), and finishAdoption frees the ones no entry claimed. Refs, owners and the index
   * are rebuilt from the claims alone.
   */
  beginAdoption(): void {
    this.unconfirmedPin.fill(0);
    this.reserved.fill(0);
    this.owner.fill(EMPTY);
    this.index.fill(EMPTY);
    this.refs.fill(0);
    this.inUse.fill(0);
    this.freeCount = 0;
  }

  /** One more reference to mapping m from an entry of class cls, inside ip:port, outside port out; false when m cannot be that. */
  claim(m: number, cls: number, ip: number, port: number, out: number): boolean {
    return this.claim6(m, cls, ip, 0, 0, 0, port, out);
  }

  /** claim() for an inside endpoint of either family (the address's words). */
  claim6(m: number, cls: number, w0: number, w1: number, w2: number, w3: number, port: number, out: number): boolean {
    if (m < 0 || m >= this.capacity) return false;
    w0 |= 0;
    w1 |= 0;
    w2 |= 0;
    w3 |= 0;
    const same = this.cls[m] === cls && this.inIp[m] === w0 && this.sameRest(m, w1, w2, w3) && this.inPort[m] === port && this.outPort[m] === out;
    if (this.refs[m] > 0) {
      if (!same) return false;
      this.refs[m]++;
      return true;
    }
    if (!same || cls >= NAT_CLASSES || (natClassFamily(cls) === Family.Ipv4 && (w1 | w2 | w3) !== 0)) return false;
    if (out === 0 || this.owner[cls * 65536 + out] !== EMPTY || this.reserved[cls * 65536 + out] !== 0 || this.find6(cls, w0, w1, w2, w3, port) >= 0) return false;
    this.refs[m] = 1;
    this.owner[cls * 65536 + out] = m;
    let i = this.hashOf(m) & this.mask;
    while (this.index[i] !== EMPTY) i = (i + 1) & this.mask;
    this.index[i] = m;
    this.inUse[cls]++;
    return true;
  }

  /**
   * Claims the pinned mappings found (before the entries claim theirs): each holds its pin's
   * reference, unconfirmed until the control plane pins it again (sweepUnconfirmedPins). A pin that
   * cannot be what it says is dropped.
   */
  claimPins(): void {
    for (let m = 0; m < this.capacity; m++) {
      if (this.pinned[m] === 0) continue;
      const w = m * 3;
      const i6 = this.inIp6;
      if ((this.pinned[m] & ~(PIN_HELD | PIN_OPEN)) !== 0 || !this.claim6(m, this.cls[m], this.inIp[m], i6[w], i6[w + 1], i6[w + 2], this.inPort[m], this.outPort[m])) {
        this.pinned[m] = 0;
        continue;
      }
      this.unconfirmedPin[m] = 1;
    }
  }

  /** Unpins the adopted pins the control plane did not pin again; the number removed. */
  sweepUnconfirmedPins(): number {
    let n = 0;
    for (let m = 0; m < this.capacity; m++) {
      if (this.unconfirmedPin[m] === 0) continue;
      this.unconfirmedPin[m] = 0;
      if (this.pinned[m] === 0) continue;
      this.pinned[m] = 0;
      this.unref(m);
      n++;
    }
    return n;
  }

  /** Frees every mapping no entry (or pin) claimed; the number kept. */
  finishAdoption(): number {
    let kept = 0;
    for (let m = this.capacity - 1; m >= 0; m--) {
      if (this.refs[m] > 0) {
        kept++;
        continue;
      }
      this.pinned[m] = 0;
      this.cls[m] = 0;
      this.inIp[m] = 0;
      this.inIp6.fill(0, m * 3, m * 3 + 3);
      this.inPort[m] = 0;
      this.outPort[m] = 0;
      this.free[this.freeCount++] = m;
    }
    return kept;
  }
}
