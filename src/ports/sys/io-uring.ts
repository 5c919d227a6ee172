/**
 * io_uring without liburing: the submission and completion rings are mmap'd into this thread
 * and read and written through typed-array views (koffi.view over the mapping); the only
 * native call on the hot path is io_uring_enter(2).
 *
 * Shape of use, for one thread (the ring is created SINGLE_ISSUER: only the thread that opened
 * it may submit or wait on it):
 *
 *   const ring = IoUring.open(256);
 *   const bufs = ring.registerBufferRing(0, slab, base, stride, len, count);
 *   ring.readMultishot(tapFd, 0, token);   // one SQE, then a CQE per frame until it ends
 *   ring.submitAndWait(1, 100);             // submit, wait for 1 completion or 100 ms
 *   for (let i = 0, n = ring.cqReady(); i < n; i++) {
 *     const res = ring.cqeRes(i), flags = ring.cqeFlags(i);
 *     if (flags & IORING_CQE_F_BUFFER) { const bid = flags >>> 16; ...; bufs.recycle(bid); }
 *     if (!(flags & IORING_CQE_F_MORE)) { ... the multishot read ended (res says why): re-arm }
 *   }
 *   ring.advance(n); bufs.commit();
 *
 * What a caller must know:
 *  - Any CQE of a multishot read without IORING_CQE_F_MORE ends it, and it may still carry a
 *    frame (res > 0 with F_BUFFER: the CQ ring was full). -ENOBUFS means the buffer ring was
 *    empty: the frames stay queued in the device, nothing is lost if it is re-armed soon.
 *  - Size the CQ ring (cqEntries) ≥ provided buffers + other requests in flight: an unreaped
 *    read CQE holds its buffer, so read CQEs never outnumber the buffers and the ring never fills.
 *  - A request holds its file: close(fd) does not end an armed read (the TAP stays alive, even
 *    with its namespace deleted). Cancel first (cancelFd, or cancel(userData) once the fd is
 *    closed), wait for the read's last CQE (-ECANCELED), then close and reuse its buffers.
 *  - A buffer given to write() belongs to the kernel until that write's CQE (TAP/TUN writes
 *    complete during the submitting io_uring_enter, failures may come later).
 *  - With the default 'defer' mode completions appear only inside submitAndWait; a loop that
 *    busy-polls checks taskWorkPending() (a plain load) and calls submitAndWait(0, -1) (~1 µs)
 *    when it is set.
 *
 * Memory ordering. The rings are shared with the kernel, which reads our SQ tail and CQ head
 * with acquire loads and publishes its CQ tail / SQ head with release stores. Here every ring
 * index is read with Atomics.load and written with Atomics.store on an Int32Array (Uint16Array
 * for the provided-buffer ring's tail) over the mapping. koffi.view returns a plain, non-shared
 * ArrayBuffer over external memory; Atomics.load/store accept any integer typed array (only
 * Atomics.wait needs a SharedArrayBuffer) and V8's builtins (builtins-sharedarraybuffer-gen.cc)
 * issue sequentially-consistent accesses on the backing store whatever the buffer — x86-64: mov /
 * xchg, arm64: ldar / stlr — at least the acquire/release the protocol needs. In Node 20 they
 * are builtin calls, not inlined (~10 ns each against ~2 ns for a plain element access), which
 * also keeps the JIT from caching a ring index in a register or hoisting it out of a polling
 * loop; so there are few of them: one load per cqReady(), one store per advance(), one store
 * and one load per submit, one per commit(). Entries (SQEs, CQEs, buffer descriptors) are plain
 * typed-array accesses ordered by those atomics. Int32Array rather than Uint32Array so values
 * stay Smis (a u32 ≥ 2^31 would be a heap number).
 *
 * No allocation per operation: SQEs and CQEs are read and written as 32-bit words (64-bit
 * fields as two halves, so no BigInt), ring indices are int32 with wrap-around arithmetic, and
 * user data is a 32-bit token (the upper half of the kernel's u64 is always 0; keep tokens in
 * 0..2^31-1, -1 is used by close()).
 */
import { readFileSync } from 'node:fs';
import { endianness, release } from 'node:os';
import koffi from 'koffi';
import {
  BUF_H_BID,
  BUF_REG_BGID,
  BUF_REG_RING_ADDR,
  BUF_REG_RING_ENTRIES,
  BUF_REG_SIZE,
  BUF_RING_H_TAIL,
  BUF_RING_MAX_ENTRIES,
  BUF_SIZE,
  BUF_STATUS_GROUP,
  BUF_STATUS_HEAD,
  BUF_STATUS_SIZE,
  BUF_W_ADDR,
  BUF_W_LEN,
  CQ_OFF_CQES,
  CQ_OFF_OVERFLOW,
  CQE_SIZE,
  CQE_W_FLAGS,
  CQE_W_RES,
  CQE_W_USER_DATA,
  CQE_WORDS,
  GETEVENTS_ARG_SIZE,
  GETEVENTS_W_TS,
  IO_URING_OP_SUPPORTED,
  IORING_ASYNC_CANCEL_ALL,
  IORING_ASYNC_CANCEL_ANY,
  IORING_ASYNC_CANCEL_FD,
  IORING_CQE_BUFFER_SHIFT,
  IORING_ENTER_EXT_ARG,
  IORING_ENTER_GETEVENTS,
  IORING_FEAT_EXT_ARG,
  IORING_FEAT_NODROP,
  IORING_FEAT_SINGLE_MMAP,
  IORING_OFF_SQ_RING,
  IORING_OFF_SQES,
  IORING_OP_ASYNC_CANCEL,
  IORING_OP_NOP,
  IORING_OP_POLL_ADD,
  IORING_OP_READ,
  IORING_OP_READ_MULTISHOT,
  IORING_OP_WRITE,
  IORING_POLL_ADD_MULTI,
  IORING_REGISTER_PBUF_RING,
  IORING_REGISTER_PBUF_STATUS,
  IORING_REGISTER_PROBE,
  IORING_SETUP_CLAMP,
  IORING_SETUP_COOP_TASKRUN,
  IORING_SETUP_CQSIZE,
  IORING_SETUP_DEFER_TASKRUN,
  IORING_SETUP_NO_SQARRAY,
  IORING_SETUP_SINGLE_ISSUER,
  IORING_SETUP_SUBMIT_ALL,
  IORING_SETUP_TASKRUN_FLAG,
  IORING_SQ_CQ_OVERFLOW,
  IORING_SQ_TASKRUN,
  IORING_UNREGISTER_PBUF_RING,
  IOSQE_BUFFER_SELECT,
  MAP_ANONYMOUS,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  PARAMS_CQ_ENTRIES,
  PARAMS_CQ_OFF,
  PARAMS_FEATURES,
  PARAMS_FLAGS,
  PARAMS_SIZE,
  PARAMS_SQ_ENTRIES,
  PARAMS_SQ_OFF,
  PROBE_HDR_SIZE,
  PROBE_OP_FLAGS,
  PROBE_OP_SIZE,
  PROBE_OPS_LEN,
  PROT_READ,
  PROT_WRITE,
  RING_OFF_ENTRIES,
  RING_OFF_HEAD,
  RING_OFF_MASK,
  RING_OFF_TAIL,
  SQ_OFF_ARRAY,
  SQ_OFF_FLAGS,
  SQE_SIZE,
  SQE_W_ADDR,
  SQE_W_BUF_GROUP,
  SQE_W_FD,
  SQE_W_FILE_INDEX,
  SQE_W_LEN,
  SQE_W_OFF,
  SQE_W_OP_FLAGS,
  SQE_W_OPCODE_FLAGS_IOPRIO,
  SQE_W_USER_DATA,
  SQE_WORDS,
  SYS_io_uring_enter,
  SYS_io_uring_register,
  SYS_io_uring_setup,
  TIMESPEC_SIZE,
  TIMESPEC_W_NSEC,
  TIMESPEC_W_SEC,
} from './io-uring-abi.js';
import { Errno, SysError, bufferAddress, describeErrno, mmap } from './libc.js';

export {
  IORING_CQE_F_BUFFER,
  IORING_CQE_F_MORE,
  IORING_CQE_BUFFER_SHIFT,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLOUT,
} from './io-uring-abi.js';

if (endianness() !== 'LE') {
  // SQEs and CQEs are written as 32-bit words with the low half of each u64 first
  throw new Error('pontoon io_uring layer: big-endian targets are not supported');
}

// ---------------------------------------------------------------------------
// libc. syscall(2) is variadic; it is declared here with fixed 64-bit integer / pointer
// arguments, which is ABI-compatible on the supported 64-bit Linux targets (glibc's syscall
// only moves registers) and avoids koffi's per-call variadic marshalling.

const lib = koffi.load('libc.so.6');

const sysSetup = lib.func('long syscall(long nr, long entries, void *params)') as (nr: number, entries: number, params: Uint8Array) => number;
/** io_uring_enter(fd, to_submit, min_complete, flags, argp, argsz); argp is a Buffer (passed as its data pointer, no copy). */
const sysEnter = lib.func('long syscall(long nr, long fd, long toSubmit, long minComplete, long flags, void *arg, long argsz)') as (
  nr: number,
  fd: number,
  toSubmit: number,
  minComplete: number,
  flags: number,
  arg: Uint8Array,
  argsz: number,
) => number;
const sysRegister = lib.func('long syscall(long nr, long fd, long opcode, void *arg, long nrArgs)') as (
  nr: number,
  fd: number,
  opcode: number,
  arg: Uint8Array | null,
  nrArgs: number,
) => number;
const munmap = lib.func('int munmap(void *addr, size_t len)') as (addr: unknown, len: number) => number;
const closeFd = lib.func('int close(int fd)') as (fd: number) => number;

const MAP_FAILED = 0xffffffffffffffffn;
/** errno of a wait that timed out (not in libc.ts's table) */
const ETIME = 62;
/** user data of the cancel-everything SQE close() submits; callers keep their tokens ≥ 0 */
const CLOSE_TOKEN = -1;
const TWO_32 = 4294967296;
const PAGE = 4096;

/** One mmap'd region and an ArrayBuffer over it. */
interface Mapping {
  ptr: unknown;
  addr: number;
  len: number;
  buffer: ArrayBuffer;
}

function mapOrThrow(what: string, len: number, flags: number, fd: number, off: number): Mapping {
  const ptr = mmap(null, len, PROT_READ | PROT_WRITE, flags, fd, off);
  const a = ptr === null ? MAP_FAILED : koffi.address(ptr);
  if (a === MAP_FAILED || a === 0n) throw new SysError(`io_uring: cannot mmap ${what} (${len} bytes)`, koffi.errno());
  return { ptr, addr: Number(a), len, buffer: koffi.view(ptr, len) };
}

function unmap(m: Mapping | null): void {
  if (m !== null) munmap(m.ptr, m.len);
}

const roundPage = (n: number): number => Math.ceil(n / PAGE) * PAGE;

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

// ---------------------------------------------------------------------------
// Why io_uring may be unavailable, in words an operator can act on.

function readSysctl(name: string): string | null {
  try {
    return readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * Why io_uring_setup failed with `err`: the kernel, sysctl or seccomp switch that refuses it.
 * `sysctl` reads a kernel.* value (the real one by default; tests pass their own).
 */
export function setupRefusalHint(err: number, sysctl: (name: string) => string | null = readSysctl): string {
  if (err === Errno.ENOSYS) return 'the kernel has no io_uring (CONFIG_IO_URING off) or a seccomp filter hides it';
  if (err === Errno.EPERM || err === Errno.EACCES) {
    const disabled = sysctl('kernel.io_uring_disabled');
    if (disabled === '2') return 'disabled for all processes by sysctl kernel.io_uring_disabled=2';
    if (disabled === '1') {
      const group = sysctl('kernel.io_uring_group') ?? '-1';
      return `sysctl kernel.io_uring_disabled=1 allows only CAP_SYS_ADMIN or members of kernel.io_uring_group (${group})`;
    }
    return "refused by a seccomp filter (e.g. a container runtime's default profile) or a security module";
  }
  if (err === Errno.EINVAL) return `setup flags not supported by kernel ${release()} (pontoon's io_uring path needs Linux >= 6.7)`;
  if (err === Errno.ENOMEM) return 'cannot allocate the rings (RLIMIT_MEMLOCK or memory cgroup limit)';
  return '';
}

/** "io_uring_setup: Operation not permitted (EPERM): disabled for all processes by sysctl ..." */
export function setupRefusal(err: number, sysctl?: (name: string) => string | null): string {
  const hint = setupRefusalHint(err, sysctl);
  return `io_uring_setup: ${describeErrno(err)}${hint ? `: ${hint}` : ''}`;
}

// ---------------------------------------------------------------------------

/** How completions that the kernel finishes asynchronously (poll-driven reads) reach the CQ ring. */
export type TaskRunMode =
  /**
   * DEFER_TASKRUN | TASKRUN_FLAG (Linux 6.1): completions are produced only when this thread
   * calls io_uring_enter with GETEVENTS (submitAndWait), in one batch. Pending work is
   * flagged in the SQ ring (taskWorkPending()), readable without a syscall. The default.
   */
  | 'defer'
  /**
   * COOP_TASKRUN | TASKRUN_FLAG: completions are produced at this thread's next kernel entry of
   * any kind (a syscall, the timer tick), without an IPI; taskWorkPending() says when one is due.
   */
  | 'cooperative'
  /**
   * Neither: the kernel interrupts this thread (task-work signal / IPI) to produce completions,
   * so they appear in the CQ ring while it spins in user space, at the cost of interruptions.
   */
  | 'interrupt';

export interface IoUringOptions {
  /** CQ ring size (rounded up to a power of two); default 4 × SQ entries. Size it ≥ provided buffers + in-flight SQEs. */
  cqEntries?: number;
  taskRun?: TaskRunMode;
}

export type ProbeResult = { ok: true } | { ok: false; reason: string };

let probed: ProbeResult | null = null;

const TASKRUN_FLAGS: Record<TaskRunMode, number> = {
  defer: IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
  cooperative: IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
  interrupt: 0,
};

const addrCache = new WeakMap<Uint8Array, number>();

/**
 * Provided buffers of one buffer group: buffer `bid` is `slab[base + bid*stride, +len)`. The
 * kernel picks a free one for each frame a multishot read delivers and reports its id in the
 * CQE; give it back with recycle(bid) once the frame is handled, then commit() once per batch.
 */
export class BufferRing {
  /** entries in the kernel ring (power of two ≥ count) */
  readonly entries: number;
  private readonly mask: number;
  private words: Int32Array;
  private halves: Uint16Array;
  private readonly addrLo: Int32Array;
  private readonly addrHi: Int32Array;
  private tail = 0;
  private pending = 0;

  /** @internal use IoUring.registerBufferRing */
  constructor(
    readonly group: number,
    readonly slab: Buffer,
    readonly base: number,
    readonly stride: number,
    readonly len: number,
    readonly count: number,
    /** @internal */ readonly mapping: Mapping,
  ) {
    this.entries = nextPow2(count);
    this.mask = this.entries - 1;
    this.words = new Int32Array(mapping.buffer);
    this.halves = new Uint16Array(mapping.buffer);
    this.addrLo = new Int32Array(count);
    this.addrHi = new Int32Array(count);
    const slabAddr = bufferAddress(slab);
    for (let bid = 0; bid < count; bid++) {
      const a = slabAddr + base + bid * stride;
      this.addrLo[bid] = a | 0;
      this.addrHi[bid] = (a / TWO_32) | 0;
    }
  }

  /** Where buffer `bid` starts in the slab. */
  offsetOf(bid: number): number {
    return this.base + bid * this.stride;
  }

  /** Queue buffer `bid` for the kernel again (visible to it after commit()). Never recycle a bid twice. */
  recycle(bid: number): void {
    if (bid >>> 0 >= this.count || this.pending > this.mask) throw new RangeError(`buffer ring ${this.group}: cannot recycle buffer ${bid}`);
    const e = (this.tail + this.pending) & this.mask;
    const w = e * 4;
    this.words[w + BUF_W_ADDR] = this.addrLo[bid];
    this.words[w + BUF_W_ADDR + 1] = this.addrHi[bid];
    this.words[w + BUF_W_LEN] = this.len;
    this.halves[e * 8 + BUF_H_BID] = bid; // bufs[0]'s next half is the ring tail: write bid alone
    this.pending++;
  }

  /** Publish every recycle() since the last commit with one release store of the ring tail. */
  commit(): void {
    if (this.pending === 0) return;
    this.tail = (this.tail + this.pending) & 0xffff;
    this.pending = 0;
    Atomics.store(this.halves, BUF_RING_H_TAIL, this.tail);
  }

  /** @internal the ring is unmapped: later recycles write nowhere instead of into freed memory */
  detach(): void {
    this.words = new Int32Array(0);
    this.halves = new Uint16Array(8);
  }

  /** The published tail (u16, wraps), for diagnostics. */
  get publishedTail(): number {
    return this.tail;
  }
}

/** An io_uring instance owned by the calling thread. */
export class IoUring {
  readonly fd: number;
  readonly sqEntries: number;
  readonly cqEntries: number;
  /** IORING_SETUP_* flags the ring was created with */
  readonly setupFlags: number;
  /** IORING_FEAT_* the kernel reported */
  readonly features: number;
  readonly taskRun: TaskRunMode;

  private ringMap: Mapping | null;
  private sqeMap: Mapping | null;
  /** SQ and CQ ring headers (indices, flags) as int32 words */
  private ring: Int32Array;
  private sqes: Int32Array;
  private cqes: Int32Array;
  private readonly sqMask: number;
  private readonly cqMask: number;
  private readonly sqHeadW: number;
  private readonly sqTailW: number;
  private readonly sqFlagsW: number;
  private readonly cqHeadW: number;
  private readonly cqTailW: number;
  private readonly cqOverflowW: number;
  /** SQ slots usable (sqEntries; 0 once closed, so every prep call returns false) */
  private sqCapacity: number;
  private sqTail = 0;
  private sqHeadSeen = 0;
  private cqHead = 0;

  /** io_uring_getevents_arg without / with a timeout, and the timespec the second points to */
  private readonly argNoWait: Buffer;
  private readonly argTimeout: Buffer;
  private readonly argWords: Int32Array;
  private readonly tsWords: Int32Array;
  private readonly scratch: Buffer;

  private lastBuf: Uint8Array | null = null;
  private lastAddr = 0;
  private readonly bufferRings: (BufferRing | undefined)[] = [];
  private closed = false;

  private constructor(fd: number, params: Buffer, taskRun: TaskRunMode) {
    this.fd = fd;
    this.taskRun = taskRun;
    const p = new DataView(params.buffer, params.byteOffset, PARAMS_SIZE);
    const u32 = (off: number): number => p.getUint32(off, true);
    this.sqEntries = u32(PARAMS_SQ_ENTRIES);
    this.sqCapacity = this.sqEntries;
    this.cqEntries = u32(PARAMS_CQ_ENTRIES);
    this.setupFlags = u32(PARAMS_FLAGS);
    this.features = u32(PARAMS_FEATURES);
    const sq = PARAMS_SQ_OFF;
    const cq = PARAMS_CQ_OFF;
    const noSqArray = (this.setupFlags & IORING_SETUP_NO_SQARRAY) !== 0;
    const cqesOff = u32(cq + CQ_OFF_CQES);
    const sqRingLen = noSqArray ? 0 : u32(sq + SQ_OFF_ARRAY) + this.sqEntries * 4;
    const cqRingLen = cqesOff + this.cqEntries * CQE_SIZE;

    // one mapping holds both rings (IORING_FEAT_SINGLE_MMAP, Linux 5.4; checked by open())
    this.ringMap = mapOrThrow('SQ/CQ rings', Math.max(sqRingLen, cqRingLen, u32(sq + SQ_OFF_FLAGS) + 4), MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    try {
      this.sqeMap = mapOrThrow('SQEs', this.sqEntries * SQE_SIZE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    } catch (err) {
      unmap(this.ringMap);
      throw err;
    }
    this.ring = new Int32Array(this.ringMap.buffer);
    this.sqes = new Int32Array(this.sqeMap.buffer);
    this.cqes = new Int32Array(this.ringMap.buffer, cqesOff, this.cqEntries * CQE_WORDS);
    // the params hold offsets into the ring; the mask and entry values live in the ring itself
    this.sqMask = this.ring[u32(sq + RING_OFF_MASK) / 4];
    this.cqMask = this.ring[u32(cq + RING_OFF_MASK) / 4];
    this.sqHeadW = u32(sq + RING_OFF_HEAD) / 4;
    this.sqTailW = u32(sq + RING_OFF_TAIL) / 4;
    this.sqFlagsW = u32(sq + SQ_OFF_FLAGS) / 4;
    this.cqHeadW = u32(cq + RING_OFF_HEAD) / 4;
    this.cqTailW = u32(cq + RING_OFF_TAIL) / 4;
    this.cqOverflowW = u32(cq + CQ_OFF_OVERFLOW) / 4;
    if (this.ring[u32(sq + RING_OFF_ENTRIES) / 4] !== this.sqEntries || this.sqMask !== this.sqEntries - 1 || this.cqMask !== this.cqEntries - 1) {
      unmap(this.sqeMap);
      unmap(this.ringMap);
      throw new Error('io_uring: ring header does not match the setup parameters');
    }
    if (!noSqArray) {
      // identity index array, written once: SQE i is always slot i
      const array = new Int32Array(this.ringMap.buffer, u32(sq + SQ_OFF_ARRAY), this.sqEntries);
      for (let i = 0; i < this.sqEntries; i++) array[i] = i;
    }
    this.sqTail = Atomics.load(this.ring, this.sqTailW);
    this.sqHeadSeen = Atomics.load(this.ring, this.sqHeadW);
    this.cqHead = Atomics.load(this.ring, this.cqHeadW);

    // > 64 bytes, so V8 keeps it off the JS heap: its address never changes
    this.scratch = Buffer.alloc(256);
    this.argNoWait = this.scratch.subarray(0, GETEVENTS_ARG_SIZE);
    this.argTimeout = this.scratch.subarray(32, 32 + GETEVENTS_ARG_SIZE);
    const ts = this.scratch.subarray(64, 64 + TIMESPEC_SIZE);
    this.argWords = new Int32Array(this.scratch.buffer, this.scratch.byteOffset + 32, GETEVENTS_ARG_SIZE / 4);
    this.tsWords = new Int32Array(this.scratch.buffer, this.scratch.byteOffset + 64, TIMESPEC_SIZE / 4);
    const tsAddr = bufferAddress(ts);
    this.argWords[GETEVENTS_W_TS] = tsAddr | 0;
    this.argWords[GETEVENTS_W_TS + 1] = (tsAddr / TWO_32) | 0;
  }

  /**
   * Create a ring with `entries` SQEs (rounded up to a power of two, clamped to the kernel's
   * maximum). Throws a SysError naming the reason when the kernel refuses (see setupRefusal).
   * Setup: SINGLE_ISSUER | SUBMIT_ALL | NO_SQARRAY | CQSIZE | CLAMP plus the task-run mode.
   */
  static open(entries: number, opts: IoUringOptions = {}): IoUring {
    if (!(entries >= 1 && entries <= 32768) || !Number.isInteger(entries)) throw new RangeError(`io_uring: entries ${entries} outside 1..32768`);
    const taskRun = opts.taskRun ?? 'defer';
    if (!(taskRun in TASKRUN_FLAGS)) throw new RangeError(`io_uring: unknown task-run mode ${String(taskRun)}`);
    const cqEntries = opts.cqEntries ?? entries * 4;
    if (!(cqEntries >= entries) || !Number.isInteger(cqEntries)) throw new RangeError(`io_uring: cqEntries ${cqEntries} below the ${entries} SQ entries`);
    const base = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | TASKRUN_FLAGS[taskRun];
    const params = Buffer.alloc(PARAMS_SIZE);
    let fd = -1;
    let err = 0;
    // NO_SQARRAY is 6.6; everything else is older than multishot read (6.7)
    for (const flags of [base | IORING_SETUP_NO_SQARRAY, base]) {
      params.fill(0);
      params.writeUInt32LE(flags >>> 0, PARAMS_FLAGS);
      params.writeUInt32LE(cqEntries, PARAMS_CQ_ENTRIES);
      fd = sysSetup(SYS_io_uring_setup, entries, params);
      if (fd >= 0) break;
      err = koffi.errno();
      if (err !== Errno.EINVAL) break;
    }
    if (fd < 0) throw new SysError(`cannot create io_uring (${entries} entries)`, err, { hint: setupRefusalHint(err) || undefined });
    try {
      const features = params.readUInt32LE(PARAMS_FEATURES);
      for (const [bit, name] of [
        [IORING_FEAT_SINGLE_MMAP, 'IORING_FEAT_SINGLE_MMAP (Linux 5.4)'],
        [IORING_FEAT_EXT_ARG, 'IORING_FEAT_EXT_ARG (Linux 5.11), needed for timed waits'],
      ] as const) {
        if (!(features & bit)) throw new Error(`io_uring on kernel ${release()} lacks ${name}`);
      }
      return new IoUring(fd, params, taskRun);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
  }

  /**
   * Can this process use what pontoon needs (a ring with these setup flags, multishot read,
   * a provided-buffer ring)? Never throws; the reason names the kernel, sysctl or seccomp
   * refusal. Cached after the first call.
   */
  static probe(): ProbeResult {
    if (probed !== null) return probed;
    probed = probeOnce();
    return probed;
  }

  // ---- provided buffers ------------------------------------------------------------------

  /**
   * Register buffer group `group` (0..65535) with `count` buffers of `len` bytes, buffer i at
   * slab[base + i*stride). All of them are handed to the kernel at once. The slab must stay
   * untouched by other code while the kernel owns a buffer; this object keeps it alive.
   */
  registerBufferRing(group: number, slab: Buffer, base: number, stride: number, len: number, count: number): BufferRing {
    this.checkOpen();
    if (!Number.isInteger(group) || group < 0 || group > 0xffff) throw new RangeError(`buffer group ${group} outside 0..65535`);
    if (this.bufferRings[group] !== undefined) throw new Error(`buffer group ${group} is already registered`);
    if (!Number.isInteger(count) || count < 1 || count > BUF_RING_MAX_ENTRIES) throw new RangeError(`buffer count ${count} outside 1..${BUF_RING_MAX_ENTRIES}`);
    if (!Number.isInteger(len) || len < 1 || !Number.isInteger(stride) || stride < len || !Number.isInteger(base) || base < 0) {
      throw new RangeError(`bad buffer layout base ${base} stride ${stride} len ${len}`);
    }
    if (base + (count - 1) * stride + len > slab.length) {
      throw new RangeError(`buffers [${base}, ${base + (count - 1) * stride + len}) outside slab of ${slab.length}`);
    }
    const entries = nextPow2(count);
    const mapping = mapOrThrow(`buffer ring ${group}`, roundPage(entries * BUF_SIZE), MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    const reg = Buffer.alloc(BUF_REG_SIZE);
    reg.writeUInt32LE(mapping.addr % TWO_32, BUF_REG_RING_ADDR);
    reg.writeUInt32LE(Math.floor(mapping.addr / TWO_32), BUF_REG_RING_ADDR + 4);
    reg.writeUInt32LE(entries, BUF_REG_RING_ENTRIES);
    reg.writeUInt16LE(group, BUF_REG_BGID);
    if (sysRegister(SYS_io_uring_register, this.fd, IORING_REGISTER_PBUF_RING, reg, 1) < 0) {
      const e = koffi.errno();
      unmap(mapping);
      throw new SysError(`cannot register provided-buffer ring ${group} (${entries} entries)`, e, {
        hint: e === Errno.EEXIST ? 'the group is in use' : e === Errno.EINVAL ? 'needs Linux >= 5.19' : undefined,
      });
    }
    const ring = new BufferRing(group, slab, base, stride, len, count, mapping);
    for (let bid = 0; bid < count; bid++) ring.recycle(bid);
    ring.commit();
    this.bufferRings[group] = ring;
    return ring;
  }

  /** The registered BufferRing of `group`, if any. */
  bufferRing(group: number): BufferRing | undefined {
    return this.bufferRings[group];
  }

  /** Shorthand for bufferRing(group).recycle(bid). */
  recycleBuffer(group: number, bid: number): void {
    this.bufferRings[group]!.recycle(bid);
  }

  /** Shorthand for bufferRing(group).commit(). */
  commitBuffers(group: number): void {
    this.bufferRings[group]!.commit();
  }

  /**
   * The kernel's head of a buffer ring (IORING_REGISTER_PBUF_STATUS, Linux 6.8; a syscall):
   * `(ring.publishedTail - head) & 0xffff` buffers are still available to the kernel.
   */
  bufferRingHead(group: number): number {
    this.checkOpen();
    const st = Buffer.alloc(BUF_STATUS_SIZE);
    st.writeUInt32LE(group, BUF_STATUS_GROUP);
    if (sysRegister(SYS_io_uring_register, this.fd, IORING_REGISTER_PBUF_STATUS, st, 1) < 0) {
      throw new SysError(`IORING_REGISTER_PBUF_STATUS for buffer group ${group}`, koffi.errno());
    }
    return st.readUInt32LE(BUF_STATUS_HEAD) & 0xffff;
  }

  // ---- submissions (each queues one SQE; false when the SQ ring is full) -----------------

  /**
   * Multishot read (IORING_OP_READ_MULTISHOT, Linux 6.7) from a pollable fd (TAP, TUN, eventfd,
   * pipe) into buffers of `group`: one CQE per read with IORING_CQE_F_BUFFER (bid in the upper
   * 16 bits of flags) and IORING_CQE_F_MORE while it stays armed. A CQE without F_MORE ends it:
   * res -ENOBUFS (buffer ring empty), -ECANCELED (cancel), -EBADFD (device gone), 0 (EOF);
   * re-arm with another readMultishot after making buffers available.
   */
  readMultishot(fd: number, group: number, userData: number): boolean {
    const w = this.nextSqe();
    if (w < 0) return false;
    this.fill(w, IORING_OP_READ_MULTISHOT | (IOSQE_BUFFER_SELECT << 8), fd, 0, 0, 0, 0, 0, userData, group);
    return true;
  }

  /**
   * write(2) of buf[off, off+len) as one SQE. The kernel reads the bytes at any time until the
   * CQE for `userData` arrives: do not reuse them before. (TAP/TUN writes complete during the
   * submitting io_uring_enter; other files may complete later.)
   */
  write(fd: number, buf: Uint8Array, off: number, len: number, userData: number): boolean {
    if (!(off >= 0 && len >= 0 && off + len <= buf.length)) throw new RangeError(`io_uring write: [${off}, ${off}+${len}) outside buffer of ${buf.length}`);
    const w = this.nextSqe();
    if (w < 0) return false;
    const a = this.addressOf(buf) + off;
    this.fill(w, IORING_OP_WRITE, fd, -1, -1, a | 0, (a / TWO_32) | 0, len, userData, 0);
    return true;
  }

  /** One read(2) into buf[off, off+len) (e.g. an eventfd's 8-byte counter, so a wake-up needs no extra syscall). */
  read(fd: number, buf: Uint8Array, off: number, len: number, userData: number): boolean {
    if (!(off >= 0 && len >= 0 && off + len <= buf.length)) throw new RangeError(`io_uring read: [${off}, ${off}+${len}) outside buffer of ${buf.length}`);
    const w = this.nextSqe();
    if (w < 0) return false;
    const a = this.addressOf(buf) + off;
    this.fill(w, IORING_OP_READ, fd, -1, -1, a | 0, (a / TWO_32) | 0, len, userData, 0);
    return true;
  }

  /** Poll `fd` for `events` (POLLIN...); res is the ready mask. Multishot: a CQE per wake-up, with F_MORE while armed. */
  pollAdd(fd: number, events: number, userData: number, multishot: boolean): boolean {
    const w = this.nextSqe();
    if (w < 0) return false;
    this.fill(w, IORING_OP_POLL_ADD, fd, 0, 0, 0, 0, multishot ? IORING_POLL_ADD_MULTI : 0, userData, 0);
    this.sqes[w + SQE_W_OP_FLAGS] = events;
    return true;
  }

  /**
   * Cancel the request(s) submitted with user data `target` (all of them with `all`). The
   * cancelled request completes with -ECANCELED; this SQE's own CQE (`userData`) has res 0 /
   * the count with `all`, or -ENOENT / -EALREADY.
   */
  cancel(target: number, userData: number, all = false): boolean {
    const w = this.nextSqe();
    if (w < 0) return false;
    this.fill(w, IORING_OP_ASYNC_CANCEL, -1, 0, 0, target, 0, 0, userData, 0);
    this.sqes[w + SQE_W_OP_FLAGS] = all ? IORING_ASYNC_CANCEL_ALL : 0;
    return true;
  }

  /** Cancel every request on `fd` (a port being removed); res is how many, or -ENOENT. */
  cancelFd(fd: number, userData: number): boolean {
    const w = this.nextSqe();
    if (w < 0) return false;
    this.fill(w, IORING_OP_ASYNC_CANCEL, fd, 0, 0, 0, 0, 0, userData, 0);
    this.sqes[w + SQE_W_OP_FLAGS] = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
    return true;
  }

  /** A request that completes at once with res 0 (tests, wake-ups). */
  nop(userData: number): boolean {
    const w = this.nextSqe();
    if (w < 0) return false;
    this.fill(w, IORING_OP_NOP, -1, 0, 0, 0, 0, 0, userData, 0);
    return true;
  }

  /** SQEs queued and not yet consumed by the kernel. */
  sqPending(): number {
    return this.closed ? 0 : (this.sqTail - Atomics.load(this.ring, this.sqHeadW)) | 0;
  }

  /** Free SQ slots. */
  sqSpace(): number {
    return this.sqCapacity - this.sqPending();
  }

  // ---- io_uring_enter --------------------------------------------------------------------

  /**
   * Hand the queued SQEs to the kernel (one io_uring_enter; none when nothing is queued).
   * Returns how many it consumed, or -errno (-EBUSY: the CQ ring overflowed, reap first;
   * -EBADF... on a closed ring). Never throws.
   */
  submit(): number {
    if (this.closed) return -Errno.EBADF;
    const n = this.publish();
    if (n === 0) return 0;
    const r = sysEnter(SYS_io_uring_enter, this.fd, n, 0, IORING_ENTER_EXT_ARG, this.argNoWait, GETEVENTS_ARG_SIZE);
    if (r >= 0) return r;
    const e = koffi.errno();
    return e === Errno.EINTR ? 0 : -e;
  }

  /**
   * Submit what is queued, then wait until `minComplete` CQEs are in the ring or `timeoutMs`
   * passed (fractions allowed; < 0: no timeout). With minComplete 0 it only submits and, in the
   * 'defer' mode, runs the pending completion work (a non-blocking poll). Counts CQEs already
   * in the ring: advance() past them first. Returns SQEs consumed (timeouts and signals are not
   * errors: look at cqReady()), or -errno. Never throws.
   */
  submitAndWait(minComplete: number, timeoutMs: number): number {
    if (this.closed) return -Errno.EBADF;
    const n = this.publish();
    let arg = this.argNoWait;
    if (timeoutMs >= 0) {
      const sec = Math.floor(timeoutMs / 1000);
      this.tsWords[TIMESPEC_W_SEC] = sec;
      this.tsWords[TIMESPEC_W_NSEC] = Math.round((timeoutMs - sec * 1000) * 1e6);
      arg = this.argTimeout;
    }
    const r = sysEnter(SYS_io_uring_enter, this.fd, n, minComplete, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, arg, GETEVENTS_ARG_SIZE);
    if (r >= 0) return r;
    const e = koffi.errno();
    return e === ETIME || e === Errno.EINTR ? 0 : -e;
  }

  /**
   * Completion work is waiting for an io_uring_enter (IORING_SQ_TASKRUN; 'defer' and
   * 'cooperative' modes). A plain load: a busy-polling loop checks this between CQ scans and
   * calls submitAndWait(0, -1) only when it is set.
   */
  taskWorkPending(): boolean {
    return (Atomics.load(this.ring, this.sqFlagsW) & IORING_SQ_TASKRUN) !== 0;
  }

  /** The CQ ring overflowed (completions wait in the kernel; the next submitAndWait moves them in). */
  cqOverflowed(): boolean {
    return (Atomics.load(this.ring, this.sqFlagsW) & IORING_SQ_CQ_OVERFLOW) !== 0;
  }

  /** CQEs dropped for good (only without IORING_FEAT_NODROP, i.e. never on supported kernels). */
  cqDropped(): number {
    return Atomics.load(this.ring, this.cqOverflowW);
  }

  // ---- completions, straight from the mapped CQ ring -------------------------------------

  /** CQEs ready to read, from the current head. */
  cqReady(): number {
    return (Atomics.load(this.ring, this.cqTailW) - this.cqHead) | 0;
  }

  /** res of the i-th ready CQE (0 ≤ i < cqReady()): bytes, a poll mask, or -errno. */
  cqeRes(i: number): number {
    return this.cqes[((this.cqHead + i) & this.cqMask) * CQE_WORDS + CQE_W_RES];
  }

  /** user data (the 32-bit token given at submission) of the i-th ready CQE. */
  cqeUserData(i: number): number {
    return this.cqes[((this.cqHead + i) & this.cqMask) * CQE_WORDS + CQE_W_USER_DATA];
  }

  /** flags of the i-th ready CQE, as an int32 (test bits with &: IORING_CQE_F_MORE, IORING_CQE_F_BUFFER). */
  cqeFlags(i: number): number {
    return this.cqes[((this.cqHead + i) & this.cqMask) * CQE_WORDS + CQE_W_FLAGS];
  }

  /** The provided buffer id of the i-th ready CQE (meaningful when its flags have IORING_CQE_F_BUFFER). */
  cqeBufferId(i: number): number {
    return this.cqes[((this.cqHead + i) & this.cqMask) * CQE_WORDS + CQE_W_FLAGS] >>> IORING_CQE_BUFFER_SHIFT;
  }

  /** Consume n CQEs (one release store of the CQ head). */
  advance(n: number): void {
    this.cqHead = (this.cqHead + n) | 0;
    Atomics.store(this.ring, this.cqHeadW, this.cqHead);
  }

  // ---- teardown --------------------------------------------------------------------------

  /**
   * Cancel everything in flight (and give the kernel up to 100 ms to finish it, so no buffer
   * is written after this returns), close the ring and unmap it. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    try {
      this.advance(this.cqReady());
      const w = this.nextSqe();
      if (w >= 0) {
        this.fill(w, IORING_OP_ASYNC_CANCEL, -1, 0, 0, 0, 0, 0, CLOSE_TOKEN, 0);
        this.sqes[w + SQE_W_OP_FLAGS] = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL;
        const deadline = performance.now() + 100;
        this.submitAndWait(1, 100);
        // wait for the cancel's own CQE: every cancelled request completed before it
        for (let seen = false; !seen && performance.now() < deadline; ) {
          const n = this.cqReady();
          for (let i = 0; i < n; i++) if (this.cqeUserData(i) === CLOSE_TOKEN) seen = true;
          this.advance(n);
          if (!seen) this.submitAndWait(1, Math.max(0, deadline - performance.now()));
        }
      }
    } finally {
      this.closed = true;
      this.sqCapacity = 0;
      closeFd(this.fd);
      for (const br of this.bufferRings) {
        if (br === undefined) continue;
        br.detach();
        unmap(br.mapping);
      }
      this.bufferRings.length = 0;
      unmap(this.sqeMap);
      unmap(this.ringMap);
      this.ringMap = this.sqeMap = null;
      // the old views point at unmapped memory: replace them so a late call reads nothing
      this.ring = new Int32Array(64);
      this.sqes = new Int32Array(0);
      this.cqes = new Int32Array(0);
      this.lastBuf = null;
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // ---- internals -------------------------------------------------------------------------

  private checkOpen(): void {
    if (this.closed) throw new Error('io_uring: the ring is closed');
  }

  /** Word index of a free SQE (claimed), or -1 when the SQ ring is full. */
  private nextSqe(): number {
    if (((this.sqTail - this.sqHeadSeen) | 0) >= this.sqCapacity) {
      this.sqHeadSeen = Atomics.load(this.ring, this.sqHeadW);
      if (((this.sqTail - this.sqHeadSeen) | 0) >= this.sqCapacity) return -1;
    }
    const w = (this.sqTail & this.sqMask) * SQE_WORDS;
    this.sqTail = (this.sqTail + 1) | 0;
    return w;
  }

  /** Every word of the SQE is written: a reused slot must not keep fields of its previous op. */
  private fill(
    w: number,
    opcodeAndFlags: number,
    fd: number,
    offLo: number,
    offHi: number,
    addrLo: number,
    addrHi: number,
    len: number,
    userData: number,
    bufGroup: number,
  ): void {
    const s = this.sqes;
    s[w + SQE_W_OPCODE_FLAGS_IOPRIO] = opcodeAndFlags;
    s[w + SQE_W_FD] = fd;
    s[w + SQE_W_OFF] = offLo;
    s[w + SQE_W_OFF + 1] = offHi;
    s[w + SQE_W_ADDR] = addrLo;
    s[w + SQE_W_ADDR + 1] = addrHi;
    s[w + SQE_W_LEN] = len;
    s[w + SQE_W_OP_FLAGS] = 0;
    s[w + SQE_W_USER_DATA] = userData;
    s[w + SQE_W_USER_DATA + 1] = 0;
    s[w + SQE_W_BUF_GROUP] = bufGroup;
    s[w + SQE_W_FILE_INDEX] = 0;
    s[w + 12] = 0;
    s[w + 13] = 0;
    s[w + 14] = 0;
    s[w + 15] = 0;
  }

  /** Release-store the SQ tail; returns how many SQEs the kernel has yet to consume. */
  private publish(): number {
    Atomics.store(this.ring, this.sqTailW, this.sqTail);
    return (this.sqTail - Atomics.load(this.ring, this.sqHeadW)) | 0;
  }

  private addressOf(buf: Uint8Array): number {
    if (buf === this.lastBuf) return this.lastAddr;
    let a = addrCache.get(buf);
    if (a === undefined) {
      a = bufferAddress(buf);
      addrCache.set(buf, a);
    }
    this.lastBuf = buf;
    this.lastAddr = a;
    return a;
  }
}

function probeOnce(): ProbeResult {
  let ring: IoUring;
  try {
    ring = IoUring.open(4, { cqEntries: 8 });
  } catch (err) {
    const e = err as SysError;
    return { ok: false, reason: typeof e.errno === 'number' ? setupRefusal(e.errno) : String(e.message) };
  }
  try {
    if (!(ring.features & IORING_FEAT_NODROP)) return { ok: false, reason: `io_uring on kernel ${release()} lacks IORING_FEAT_NODROP` };
    const nOps = 256;
    const probe = Buffer.alloc(PROBE_HDR_SIZE + nOps * PROBE_OP_SIZE);
    if (sysRegister(SYS_io_uring_register, ring.fd, IORING_REGISTER_PROBE, probe, nOps) < 0) {
      return { ok: false, reason: `IORING_REGISTER_PROBE: ${describeErrno(koffi.errno())}` };
    }
    const opsLen = probe[PROBE_OPS_LEN]!;
    const supported = (op: number): boolean =>
      op < opsLen && (probe.readUInt16LE(PROBE_HDR_SIZE + op * PROBE_OP_SIZE + PROBE_OP_FLAGS) & IO_URING_OP_SUPPORTED) !== 0;
    for (const [op, name] of [
      [IORING_OP_READ_MULTISHOT, 'IORING_OP_READ_MULTISHOT (Linux 6.7)'],
      [IORING_OP_WRITE, 'IORING_OP_WRITE'],
      [IORING_OP_POLL_ADD, 'IORING_OP_POLL_ADD'],
      [IORING_OP_ASYNC_CANCEL, 'IORING_OP_ASYNC_CANCEL'],
    ] as const) {
      if (!supported(op)) return { ok: false, reason: `kernel ${release()} does not support ${name}` };
    }
    try {
      const slab = Buffer.alloc(64);
      ring.registerBufferRing(0, slab, 0, 64, 64, 1);
      const reg = Buffer.alloc(BUF_REG_SIZE);
      if (sysRegister(SYS_io_uring_register, ring.fd, IORING_UNREGISTER_PBUF_RING, reg, 1) < 0) {
        return { ok: false, reason: `IORING_UNREGISTER_PBUF_RING: ${describeErrno(koffi.errno())}` };
      }
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
    return { ok: true };
  } finally {
    ring.close();
  }
}
