// Preallocated frame memory. Every frame the data plane handles lives in one slab — the pool's
// slots, the arena of cut segments, the receive-offload contexts and the parking slots are regions
// of the same Buffer — at HEADROOM bytes past its slot start, so headers can later be pushed in
// front of it (VXLAN, the virtio-net header) without copying the payload, and a frame is copied
// from one region to another with copyWithin (Buffer.copy allocates a view per call).

/** Bytes kept free in front of every frame for encapsulation headers. */
export const HEADROOM = 128;
/** One slot holds the largest frame a TAP can hand us (a 64 KiB TSO segment) plus headroom. */
export const SLOT_SIZE = 65536 + 256;

/** One Buffer carved into regions (64-byte aligned) for the data plane's frame memory. */
export class FrameMemory {
  readonly slab: Buffer;
  private used = 0;

  constructor(readonly size: number) {
    this.slab = Buffer.alloc(size);
  }

  /** Start of a fresh region of `bytes`; throws when the slab is too small (a sizing bug). */
  region(bytes: number): number {
    const start = this.used;
    if (start + bytes > this.size) throw new RangeError(`frame memory: ${bytes} bytes do not fit (${this.size - start} left)`);
    this.used = (start + bytes + 63) & ~63;
    return start;
  }

  /** Bytes `regions` will take, with their alignment. */
  static sizeOf(...regions: number[]): number {
    let n = 0;
    for (const r of regions) n += (r + 63) & ~63;
    return n;
  }
}

/** Below this many bytes a copy is a loop in JavaScript: cheaper than a call into a C++ builtin (headers). */
const SHORT_COPY = 96;

/**
 * Copies src[srcStart, srcEnd) to dst[dstStart]: a byte loop when short (headers), copyWithin when
 * both are the same Buffer (the frame slab: no allocation), Buffer.copy otherwise (frames from
 * outside: tests, the slow path). Overlapping ranges of one Buffer are copied as memmove does.
 */
export function copyBytes(src: Buffer, srcStart: number, srcEnd: number, dst: Buffer, dstStart: number): void {
  const n = srcEnd - srcStart;
  if (n <= SHORT_COPY && (src !== dst || dstStart <= srcStart || dstStart >= srcEnd)) {
    for (let k = 0; k < n; k++) dst[dstStart + k] = src[srcStart + k];
  } else if (src === dst) dst.copyWithin(dstStart, srcStart, srcEnd);
  else src.copy(dst, dstStart, srcStart, srcEnd);
}

/**
 * A bump allocator over a region of slots: frames allocated while a batch is processed are all
 * released at once by reset() after the batch is flushed, so nothing is freed per packet.
 */
export class FramePool {
  readonly slab: Buffer;
  /** where the region starts in the slab */
  readonly base: number;
  private next = 0;

  constructor(
    readonly slots: number,
    readonly slotSize = SLOT_SIZE,
    memory = new FrameMemory(slots * slotSize),
  ) {
    this.slab = memory.slab;
    this.base = memory.region(slots * slotSize);
  }

  /** Offset in the slab of a fresh frame start (slot start + HEADROOM), or -1 when the pool is exhausted. */
  alloc(): number {
    if (this.next === this.slots) return -1;
    return this.base + this.next++ * this.slotSize + HEADROOM;
  }

  /** Slot number of a frame start returned by alloc(). */
  slotOf(off: number): number {
    return ((off - this.base - HEADROOM) / this.slotSize) | 0;
  }

  /** Where slot i starts in the slab. */
  slotStart(i: number): number {
    return this.base + i * this.slotSize;
  }

  /** Room available for a frame that starts at an offset returned by alloc(). */
  get frameCapacity(): number {
    return this.slotSize - HEADROOM;
  }

  get inUse(): number {
    return this.next;
  }

  reset(): void {
    this.next = 0;
  }
}

/**
 * Slots that outlive a batch: frames parked while their next hop is being resolved by ARP.
 * A free list over an Int32Array; copies happen only on this slow path.
 */
export class ParkingPool {
  readonly slab: Buffer;
  readonly base: number;
  readonly lengths: Int32Array;
  readonly ingress: Int32Array; // port the parked frame came from, for ICMP errors
  private readonly free: Int32Array;
  private freeCount: number;

  constructor(
    readonly slots: number,
    readonly slotSize: number,
    memory = new FrameMemory(slots * slotSize),
  ) {
    this.slab = memory.slab;
    this.base = memory.region(slots * slotSize);
    this.lengths = new Int32Array(slots);
    this.ingress = new Int32Array(slots);
    this.free = new Int32Array(slots);
    for (let i = 0; i < slots; i++) this.free[i] = slots - 1 - i;
    this.freeCount = slots;
  }

  /** Copies a frame in; returns its slot or -1 when full or the frame does not fit. */
  park(src: Buffer, off: number, len: number, ingress: number): number {
    if (this.freeCount === 0 || len > this.slotSize - HEADROOM) return -1;
    const slot = this.free[--this.freeCount];
    copyBytes(src, off, off + len, this.slab, this.offset(slot));
    this.lengths[slot] = len;
    this.ingress[slot] = ingress;
    return slot;
  }

  /** Where the parked frame starts; headroom is kept in front of it as in the frame pool. */
  offset(slot: number): number {
    return this.base + slot * this.slotSize + HEADROOM;
  }

  release(slot: number): void {
    this.free[this.freeCount++] = slot;
  }

  get inUse(): number {
    return this.slots - this.freeCount;
  }
}

/**
 * Memory for the frames the data plane builds out of another while cutting it (the segments of a
 * TCP super segment, IPv4 fragments): a bump region that the queued output may point into until
 * it is flushed. When a frame does not fit, the owner flushes the queued output and resets the
 * region, so cutting never runs out of buffers however large the batch.
 */
export class TxArena {
  readonly slab: Buffer;
  readonly base: number;
  private used = 0;

  constructor(
    readonly size: number,
    memory = new FrameMemory(size),
  ) {
    this.slab = memory.slab;
    this.base = memory.region(size);
  }

  /**
   * Offset of `len` bytes with `front` bytes reserved in front of them (for headers pushed later),
   * or -1 when they do not fit before the next reset. Consecutive calls with the same `front` and
   * no reset in between return adjacent regions: [front][len][front][len]...
   */
  alloc(front: number, len: number): number {
    const start = this.used + front;
    if (start + len > this.size) return -1;
    this.used = start + len;
    return this.base + start;
  }

  reset(): void {
    this.used = 0;
  }
}
