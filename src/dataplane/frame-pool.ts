// Preallocated frame memory. Every frame the data plane handles lives in a slot of one slab, at
// HEADROOM bytes past the slot start, so headers can later be pushed in front of it (VXLAN, the
// virtio-net header) without copying the payload.

/** Bytes kept free in front of every frame for encapsulation headers. */
export const HEADROOM = 128;
/** One slot holds the largest frame a TAP can hand us (a 64 KiB TSO segment) plus headroom. */
export const SLOT_SIZE = 65536 + 256;

/**
 * A bump allocator over a slab of slots: frames allocated while a batch is processed are all
 * released at once by reset() after the batch is flushed, so nothing is freed per packet.
 */
export class FramePool {
  readonly slab: Buffer;
  readonly slots: number;
  private next = 0;

  constructor(slots: number, slotSize = SLOT_SIZE) {
    this.slots = slots;
    this.slab = Buffer.alloc(slots * slotSize);
    this.slotSize = slotSize;
  }

  readonly slotSize: number;

  /** Offset in the slab of a fresh frame start (slot start + HEADROOM), or -1 when the pool is exhausted. */
  alloc(): number {
    if (this.next === this.slots) return -1;
    return this.next++ * this.slotSize + HEADROOM;
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
  readonly lengths: Int32Array;
  readonly ingress: Int32Array; // port the parked frame came from, for ICMP errors
  private readonly free: Int32Array;
  private freeCount: number;

  constructor(
    readonly slots: number,
    readonly slotSize: number,
  ) {
    this.slab = Buffer.alloc(slots * slotSize);
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
    src.copy(this.slab, slot * this.slotSize + HEADROOM, off, off + len);
    this.lengths[slot] = len;
    this.ingress[slot] = ingress;
    return slot;
  }

  /** Where the parked frame starts; headroom is kept in front of it as in the frame pool. */
  offset(slot: number): number {
    return slot * this.slotSize + HEADROOM;
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
  private used = 0;

  constructor(readonly size: number) {
    this.slab = Buffer.alloc(size);
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
    return start;
  }

  get inUse(): number {
    return this.used;
  }

  reset(): void {
    this.used = 0;
  }
}
