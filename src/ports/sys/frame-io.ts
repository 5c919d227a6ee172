/**
 * Per-frame read/write on non-blocking fds (TUN/TAP, eventfd, sockets).
 *
 * Allocation-free and synchronous: the Buffer is handed to libc as a raw pointer
 * by koffi (no copy). Errors are returned as negative errno values, never thrown
 * (except RangeError for a length that does not fit the buffer — a caller bug).
 *
 * Buffer views: `readFrame`/`writeFrame` start at `buf`'s first byte. For a frame
 * at a fixed offset in a larger ring/arena, keep one `base.subarray(off)` view per
 * offset, created once at start-up (subarray allocates a JS object). For variable
 * offsets use `readFrameAt`/`writeFrameAt` (see the allocation note there).
 */
import { Errno, bufferAddress, errno, read, readAddr, write, writeAddr } from './libc.js';

/** EINTR should not happen on non-blocking fds; retry a few times, never spin forever. */
const MAX_EINTR_RETRIES = 8;

/**
 * read(2) one frame into `buf[0 .. maxLen)`.
 * Returns bytes read (> 0); 0 when nothing is pending (EAGAIN) or on EOF; -errno on
 * other errors. EINTR is retried (bounded). A TAP/TUN frame longer than `maxLen`
 * is truncated by the kernel (the rest is dropped).
 */
export function readFrame(fd: number, buf: Uint8Array, maxLen: number): number {
  if (maxLen > buf.length || maxLen < 0) throw new RangeError(`readFrame: maxLen ${maxLen} outside buffer of ${buf.length}`);
  for (let tries = 0; ; tries++) {
    const n = read(fd, buf, maxLen);
    if (n >= 0) return n;
    const e = errno();
    if (e === Errno.EAGAIN) return 0;
    if (e !== Errno.EINTR || tries >= MAX_EINTR_RETRIES) return -e;
  }
}

/**
 * write(2) `buf[0 .. len)` as one frame. Returns bytes written, or -errno
 * (-EAGAIN when the device queue is full: the caller drops or retries later).
 * EINTR is retried (bounded); nothing else is retried.
 */
export function writeFrame(fd: number, buf: Uint8Array, len: number): number {
  if (len > buf.length || len < 0) throw new RangeError(`writeFrame: len ${len} outside buffer of ${buf.length}`);
  for (let tries = 0; ; tries++) {
    const n = write(fd, buf, len);
    if (n >= 0) return n;
    const e = errno();
    if (e !== Errno.EINTR || tries >= MAX_EINTR_RETRIES) return -e;
  }
}

// --- pointer + offset -------------------------------------------------------
//
// koffi accepts a JS Number as a `void *` argument (it is converted with
// napi_get_value_int64), so `write(fd, address(base) + offset, len)` works with
// no Buffer view. The base address is looked up once per Buffer (koffi.address
// returns a BigInt: that allocation happens only on the first use of a base) and
// cached. The remaining per-call cost: when `address + offset` is above the Smi
// range (2^31) — always the case for mmap-backed ArrayBuffers, i.e. anything above
// glibc's mmap threshold (128 KiB by default) — V8 boxes it into a 16-byte
// HeapNumber to pass it to the native call: one short-lived young-generation
// allocation per call (measured: ~16.6 bytes/call). Small Buffers served from the
// brk heap may sit below 2^31 and then pass as Smis with no allocation, but do
// not rely on it. Per-offset views (readFrame/writeFrame) remain the strictly
// allocation-free path; cost per call is the same (~160-195 ns) either way.
//
// Safety: the Buffer's backing store never moves once its address has been taken
// (V8 externalizes on-heap typed arrays when their data pointer is requested), and
// `base` is referenced by the caller during the call, so it cannot be collected.

let lastBase: Uint8Array | null = null;
let lastAddr = 0;
const addrCache = new WeakMap<Uint8Array, number>();

/** The native address of a Buffer's first byte, cached per Buffer (see the allocation note above). */
export function baseAddress(base: Uint8Array): number {
  if (base === lastBase) return lastAddr;
  let addr = addrCache.get(base);
  if (addr === undefined) {
    addr = bufferAddress(base);
    addrCache.set(base, addr);
  }
  lastBase = base;
  lastAddr = addr;
  return addr;
}

function checkRange(fn: string, base: Uint8Array, offset: number, len: number): void {
  // Raw addresses bypass every koffi check: bounds MUST be verified here.
  if (!(offset >= 0 && len >= 0 && offset + len <= base.length) || offset !== Math.floor(offset) || len !== Math.floor(len)) {
    throw new RangeError(`${fn}: [${offset}, ${offset}+${len}) outside buffer of ${base.length}`);
  }
}

/** Like writeFrame, for the frame at `base[offset .. offset+len)`. See the allocation note above. */
export function writeFrameAt(fd: number, base: Uint8Array, offset: number, len: number): number {
  checkRange('writeFrameAt', base, offset, len);
  const addr = baseAddress(base) + offset;
  for (let tries = 0; ; tries++) {
    const n = writeAddr(fd, addr, len);
    if (n >= 0) return n;
    const e = errno();
    if (e !== Errno.EINTR || tries >= MAX_EINTR_RETRIES) return -e;
  }
}

/** Like readFrame, into `base[offset .. offset+maxLen)`. See the allocation note above. */
export function readFrameAt(fd: number, base: Uint8Array, offset: number, maxLen: number): number {
  checkRange('readFrameAt', base, offset, maxLen);
  const addr = baseAddress(base) + offset;
  for (let tries = 0; ; tries++) {
    const n = readAddr(fd, addr, maxLen);
    if (n >= 0) return n;
    const e = errno();
    if (e === Errno.EAGAIN) return 0;
    if (e !== Errno.EINTR || tries >= MAX_EINTR_RETRIES) return -e;
  }
}
