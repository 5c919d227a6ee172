// Connection tracking, as Linux's nf_conntrack does it: one entry per connection holding the
// original and the reply tuple, each findable in O(1) from its own direction. Entries live in
// typed arrays (struct of arrays); the index is open addressing keyed by the 5-tuple, so a lookup
// allocates nothing and builds no string. NAT is expressed the way Linux does it: a translated
// packet is rewritten so that its tuple becomes the inverse of the other direction's tuple.

import { IP_PROTO_TCP, IP_PROTO_UDP } from '../wire/ipv4.js';

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

/**
 * One direction of a connection, as netfilter's nf_conntrack_tuple: preallocated and reused (the
 * frame context holds two), so building one costs nothing per packet. Addresses are int32.
 */
export class CtTuple {
  proto = 0;
  src = 0;
  dst = 0;
  sport = 0;
  dport = 0;

  set(proto: number, src: number, dst: number, sport: number, dport: number): CtTuple {
    this.proto = proto;
    this.src = src | 0;
    this.dst = dst | 0;
    this.sport = sport;
    this.dport = dport;
    return this;
  }
}

export class ConntrackTable {
  readonly capacity: number;
  // per entry
  readonly proto: Uint8Array;
  readonly state: Uint8Array;
  readonly flags: Uint16Array;
  readonly expires: Float64Array; // ms
  readonly mapping: Int32Array; // NAT port mapping held by the entry, or -1
  /** the local endpoint (port id) the connection counts against, or -1 (see own) */
  readonly owner: Int16Array;
  // per entry and direction: slot = entry * 2 + dir
  readonly src: Int32Array;
  readonly dst: Int32Array;
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

  constructor(capacity: number, maxOwners = 4096) {
    this.capacity = capacity;
    this.proto = new Uint8Array(capacity);
    this.state = new Uint8Array(capacity);
    this.flags = new Uint16Array(capacity);
    this.expires = new Float64Array(capacity);
    this.mapping = new Int32Array(capacity).fill(-1);
    this.owner = new Int16Array(capacity).fill(-1);
    this.src = new Int32Array(capacity * 2);
    this.dst = new Int32Array(capacity * 2);
    this.sport = new Uint16Array(capacity * 2);
    this.dport = new Uint16Array(capacity * 2);
    this.tdEnd = new Uint32Array(capacity * 2);
    this.tdMaxWin = new Uint32Array(capacity * 2);
    this.tdScale = new Uint8Array(capacity * 2);
    this.tdAck = new Uint32Array(capacity * 2);
    this.packets = new Float64Array(capacity * 2);
    this.bytes = new Float64Array(capacity * 2);
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
    return (h ^ (h >>> 15)) >>> 0;
  }

  /** Finds the slot (entry * 2 + dir) whose tuple is exactly this, or -1. Expired entries are not found. */
  lookup(proto: number, src: number, dst: number, sport: number, dport: number, now: number): number {
    src |= 0;
    dst |= 0;
    let i = ConntrackTable.hash(proto, src, dst, sport, dport) & this.mask;
    for (;;) {
      const slot = this.index[i];
      if (slot === EMPTY) return -1;
      if (this.src[slot] === src && this.dst[slot] === dst && this.sport[slot] === sport && this.dport[slot] === dport) {
        const e = slot >> 1;
        if (this.proto[e] === proto) {
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

  /** True when some live entry already uses this tuple in either direction. */
  takenTuple(t: CtTuple, now: number): boolean {
    return this.lookup(t.proto, t.src, t.dst, t.sport, t.dport, now) >= 0;
  }

  /**
   * Creates an entry from its two tuples (of one protocol, the original's); returns the entry
   * number, or -1 when the table is full. The caller has checked that neither tuple exists. The
   * entry expires at once unless its protocol tracker sets a timeout.
   */
  create(orig: CtTuple, reply: CtTuple, state: number, flags: number): number {
    if (this.freeCount === 0) return -1;
    const e = this.free[--this.freeCount];
    const proto = orig.proto;
    this.proto[e] = proto;
    this.state[e] = state;
    this.flags[e] = flags;
    this.expires[e] = 0;
    this.mapping[e] = -1;
    this.owner[e] = -1;
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

  private insert(slot: number): void {
    let i = ConntrackTable.hash(this.proto[slot >> 1], this.src[slot], this.dst[slot], this.sport[slot], this.dport[slot]) & this.mask;
    while (this.index[i] !== EMPTY) i = (i + 1) & this.mask;
    this.index[i] = slot;
  }

  private unindex(slot: number): void {
    const mask = this.mask;
    let i = ConntrackTable.hash(this.proto[slot >> 1], this.src[slot], this.dst[slot], this.sport[slot], this.dport[slot]) & mask;
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
      const home = ConntrackTable.hash(this.proto[s >> 1], this.src[s], this.dst[s], this.sport[s], this.dport[s]) & mask;
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
    const m = this.mapping[e];
    this.mapping[e] = -1;
    const owner = this.owner[e];
    if (owner >= 0) {
      this.owned[owner]--;
      this.owner[e] = -1;
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

  flush(): void {
    for (let e = 0; e < this.capacity; e++) if (this.proto[e] !== 0) this.remove(e);
  }
}

/** Protocol classes: the index of per-protocol tables (NAT ports, live-state counts). */
export const ProtoClass = { Tcp: 0, Udp: 1, Icmp: 2 } as const;

export function protoClass(proto: number): number {
  return proto === IP_PROTO_TCP ? ProtoClass.Tcp : proto === IP_PROTO_UDP ? ProtoClass.Udp : ProtoClass.Icmp;
}
