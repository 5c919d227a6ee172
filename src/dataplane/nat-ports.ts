// Masquerade port mappings: inside address:port -> one outside port on the uplink address, shared by
// every connection from that inside endpoint whatever the destination (endpoint-independent
// mapping, RFC 4787 REQ-1), and freed when its last connection goes. Typed arrays, no strings.

const EMPTY = -1;
const CLASSES = 3; // tcp, udp, icmp (echo identifiers): ProtoClass
const UDP = 1; // ProtoClass.Udp

/** A pinned mapping lives without connections (PCP MAP and PEER, NAT-PMP). */
export const PIN_HELD = 1;
/** ...and any outside host may open a connection to it (PCP MAP, NAT-PMP; not PEER). */
export const PIN_OPEN = 2;

export class NatMappings {
  readonly capacity: number;
  readonly cls: Uint8Array;
  readonly inIp: Int32Array;
  readonly inPort: Uint16Array;
  readonly outPort: Uint16Array;
  readonly refs: Int32Array;
  /** Pin bits (PIN_HELD, PIN_OPEN): pinned by the control plane (PCP, NAT-PMP), the mapping lives without flows */
  readonly pinned: Uint8Array;
  /** owner[cls * 65536 + port]: mapping holding the outside port, or -1 */
  private readonly owner: Int32Array;
  /** ports published (DNAT) on the uplink address: never handed out for masquerade */
  private readonly reserved: Uint8Array;
  private readonly index: Int32Array;
  private readonly mask: number;
  private readonly free: Int32Array;
  private freeCount: number;
  private readonly cursor = new Int32Array(CLASSES);
  /** outside ports in use per class, for metrics */
  readonly inUse = new Int32Array(CLASSES);

  constructor(
    capacity: number,
    readonly portMin: number,
    readonly portMax: number,
  ) {
    this.capacity = capacity;
    this.cls = new Uint8Array(capacity);
    this.inIp = new Int32Array(capacity);
    this.inPort = new Uint16Array(capacity);
    this.outPort = new Uint16Array(capacity);
    this.refs = new Int32Array(capacity);
    this.pinned = new Uint8Array(capacity);
    this.owner = new Int32Array(CLASSES * 65536).fill(EMPTY);
    this.reserved = new Uint8Array(CLASSES * 65536);
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

  private static hash(cls: number, ip: number, port: number): number {
    const h = Math.imul(ip ^ Math.imul(port + 1, 0x9e3779b1) ^ (cls << 28), 0x85ebca6b);
    return (h ^ (h >>> 16)) >>> 0;
  }

  find(cls: number, ip: number, port: number): number {
    ip |= 0;
    let i = NatMappings.hash(cls, ip, port) & this.mask;
    for (;;) {
      const m = this.index[i];
      if (m === EMPTY) return -1;
      if (this.inIp[m] === ip && this.inPort[m] === port && this.cls[m] === cls) return m;
      i = (i + 1) & this.mask;
    }
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
    const found = this.find(cls, ip, port);
    if (found >= 0) return found;
    if (this.freeCount === 0) return -1;
    let out = -1;
    if (want !== 0 && this.isFree(cls, want)) out = want;
    else if (this.isFree(cls, port)) out = port;
    else {
      out = cls === UDP ? this.search(cls, port & 1, 1) : -1; // parity matters to RTP/RTCP pairs
      if (out < 0) out = this.search(cls, 0, 0);
      if (out < 0) return -1;
      this.cursor[cls] = out + 1;
    }
    const m = this.free[--this.freeCount];
    this.cls[m] = cls;
    this.inIp[m] = ip | 0;
    this.inPort[m] = port;
    this.outPort[m] = out;
    this.refs[m] = 0;
    this.pinned[m] = 0;
    this.owner[cls * 65536 + out] = m;
    let i = NatMappings.hash(cls, ip | 0, port) & this.mask;
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
    const found = this.find(cls, ip, port);
    if (found >= 0) {
      if (exact && want !== 0 && this.outPort[found] !== want) {
        throw new Error(`the inside endpoint is already mapped to outside port ${this.outPort[found]}`);
      }
    } else if (exact && want !== 0 && !this.isFree(cls, want)) {
      throw new Error(`outside port ${want} is in use`);
    }
    const m = found >= 0 ? found : this.acquire(cls, ip, port, want);
    if (m < 0) throw new Error('no outside port is free');
    if (this.pinned[m] === 0) this.refs[m]++;
    this.pinned[m] = open ? PIN_HELD | PIN_OPEN : PIN_HELD;
    return m;
  }

  /** Unpins every mapping of an inside address (its container went away). */
  unpinAll(ip: number): void {
    ip |= 0;
    for (let m = 0; m < this.capacity; m++) {
      if (this.pinned[m] !== 0 && this.inIp[m] === ip) {
        this.pinned[m] = 0;
        this.unref(m);
      }
    }
  }

  /** Unpins the mapping of an inside endpoint; it goes with its last connection (at once if none). */
  unpin(cls: number, ip: number, port: number): void {
    const m = this.find(cls, ip, port);
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
    let i = NatMappings.hash(this.cls[m], this.inIp[m], this.inPort[m]) & mask;
    while (this.index[i] !== m) i = (i + 1) & mask;
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const s = this.index[j];
      if (s === EMPTY) break;
      const home = NatMappings.hash(this.cls[s], this.inIp[s], this.inPort[s]) & mask;
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        this.index[hole] = s;
        hole = j;
      }
    }
    this.index[hole] = EMPTY;
    this.free[this.freeCount++] = m;
  }
}
