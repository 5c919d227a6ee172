// The forwarding database of one L2 segment: MAC address -> port, with aging.
// Open addressing with linear probing over typed arrays, keyed by the 48-bit MAC split into two
// integers, so a lookup allocates nothing and never builds a string.

import { macOf } from '../wire/mac.js';

const EMPTY = -1;

// A forwarding target is a local port id, or a VTEP (another host of an overlay) encoded above
// every port id, so one Int32 slot holds either.
const VTEP_TARGET_BASE = 1 << 20;

/** The forwarding target "behind VTEP `vtep`". */
export function vtepTarget(vtep: number): number {
  return VTEP_TARGET_BASE + vtep;
}

/** The VTEP a forwarding target points at, or -1 for a local port. */
export function targetVtep(target: number): number {
  return target >= VTEP_TARGET_BASE ? target - VTEP_TARGET_BASE : -1;
}

export class MacTable {
  private readonly mask: number;
  private readonly hi: Int32Array; // top 16 bits of the MAC, or EMPTY
  private readonly lo: Int32Array; // low 32 bits of the MAC
  private readonly port: Int32Array;
  private readonly seen: Float64Array; // ms timestamp of last sighting
  private readonly fixed: Uint8Array; // 1: set by the control plane, never learned over nor aged
  private count = 0;
  private sweepCursor = 0;

  constructor(readonly capacity = 8192) {
    if ((capacity & (capacity - 1)) !== 0) throw new Error('MacTable capacity must be a power of two');
    this.mask = capacity - 1;
    this.hi = new Int32Array(capacity).fill(EMPTY);
    this.lo = new Int32Array(capacity);
    this.port = new Int32Array(capacity);
    this.seen = new Float64Array(capacity);
    this.fixed = new Uint8Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  private static hash(hi: number, lo: number): number {
    // multiplicative mix of both halves; MACs of one vendor share their top bytes
    return (Math.imul(lo ^ (hi << 16), 0x9e3779b1) ^ (lo >>> 15)) >>> 0;
  }

  /** Port the MAC was last seen on, or -1. */
  lookup(hi: number, lo: number): number {
    let i = MacTable.hash(hi, lo) & this.mask;
    for (;;) {
      const h = this.hi[i];
      if (h === EMPTY) return -1;
      if (h === hi && this.lo[i] === lo) return this.port[i];
      i = (i + 1) & this.mask;
    }
  }

  /** Records that the MAC was seen on a port. Returns false when the table is full (the entry is not learned). */
  learn(hi: number, lo: number, port: number, now: number): boolean {
    let i = MacTable.hash(hi, lo) & this.mask;
    for (;;) {
      const h = this.hi[i];
      if (h === EMPTY) break;
      if (h === hi && this.lo[i] === lo) {
        if (this.fixed[i] === 0) {
          this.port[i] = port;
          this.seen[i] = now;
        }
        return true;
      }
      i = (i + 1) & this.mask;
    }
    // keep a quarter free so probe chains stay short
    if (this.count >= this.capacity - (this.capacity >> 2)) return false;
    this.hi[i] = hi;
    this.lo[i] = lo;
    this.port[i] = port;
    this.seen[i] = now;
    this.fixed[i] = 0;
    this.count++;
    return true;
  }

  /** An entry from the control plane (a remote endpoint): learning does not move it, aging keeps it. */
  setStatic(hi: number, lo: number, port: number, now: number): boolean {
    this.remove(hi, lo);
    if (!this.learn(hi, lo, port, now)) return false;
    let i = MacTable.hash(hi, lo) & this.mask;
    while (!(this.hi[i] === hi && this.lo[i] === lo)) i = (i + 1) & this.mask;
    this.fixed[i] = 1;
    return true;
  }

  remove(hi: number, lo: number): void {
    let i = MacTable.hash(hi, lo) & this.mask;
    for (;;) {
      const h = this.hi[i];
      if (h === EMPTY) return;
      if (h === hi && this.lo[i] === lo) break;
      i = (i + 1) & this.mask;
    }
    this.deleteAt(i);
  }

  /** Backward-shift deletion: keeps probe chains intact without tombstones. */
  private deleteAt(i: number): void {
    const mask = this.mask;
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (this.hi[j] === EMPTY) break;
      const home = MacTable.hash(this.hi[j], this.lo[j]) & mask;
      // move j into the hole if its home is not in the cyclic range (hole, j]
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        this.hi[hole] = this.hi[j];
        this.lo[hole] = this.lo[j];
        this.port[hole] = this.port[j];
        this.seen[hole] = this.seen[j];
        this.fixed[hole] = this.fixed[j];
        hole = j;
      }
    }
    this.hi[hole] = EMPTY;
    this.count--;
  }

  /** Forgets every MAC learned on a port (the port went away). */
  flushPort(port: number): void {
    for (let i = 0; i < this.capacity; ) {
      if (this.hi[i] !== EMPTY && this.port[i] === port) this.deleteAt(i);
      else i++;
    }
  }

  /**
   * Ages out entries older than maxAgeMs, looking at no more than `budget` slots per call, so the
   * cost per timer tick is bounded whatever the table size.
   */
  sweep(now: number, maxAgeMs: number, budget: number): number {
    let removed = 0;
    for (let n = 0; n < budget && n < this.capacity; n++) {
      const i = this.sweepCursor;
      if (this.hi[i] !== EMPTY && this.fixed[i] === 0 && now - this.seen[i] > maxAgeMs) {
        this.deleteAt(i); // a shifted entry may land in i: look at i again
        removed++;
        continue;
      }
      this.sweepCursor = (i + 1) & this.mask;
    }
    return removed;
  }

  /** Slow path: every entry, for status output. */
  entries(now: number): { mac: number; port: number; ageMs: number }[] {
    const out: { mac: number; port: number; ageMs: number }[] = [];
    for (let i = 0; i < this.capacity; i++) {
      if (this.hi[i] === EMPTY) continue;
      out.push({ mac: macOf(this.hi[i], this.lo[i]), port: this.port[i], ageMs: now - this.seen[i] });
    }
    return out;
  }
}
