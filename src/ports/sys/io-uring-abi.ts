/**
 * io_uring's user-space ABI (include/uapi/linux/io_uring.h, Linux 6.18): syscall numbers,
 * struct layouts as byte offsets, and the constants `io-uring.ts` uses. The installed
 * /usr/include header may be older than the running kernel (Debian's is 6.1, without
 * IORING_OP_READ_MULTISHOT): the values here are taken from the kernel's own header.
 *
 * Layouts are the same on every 64-bit little-endian Linux target pontoon supports (x86_64,
 * arm64, riscv64, loongarch64): the structs are made of fixed-size fields, no longs or pointers.
 */

// ---- syscalls: io_uring was added after the syscall tables were unified (Linux 5.1), so the
// numbers are the same in the generic table (arm64, riscv64, loongarch64) and on x86_64.
export const SYS_io_uring_setup = 425;
export const SYS_io_uring_enter = 426;
export const SYS_io_uring_register = 427;

// ---- struct io_uring_params (120 bytes)
export const PARAMS_SIZE = 120;
export const PARAMS_SQ_ENTRIES = 0;
export const PARAMS_CQ_ENTRIES = 4;
export const PARAMS_FLAGS = 8;
export const PARAMS_FEATURES = 20;
/** struct io_sqring_offsets: head, tail, ring_mask, ring_entries, flags, dropped, array, resv1, user_addr */
export const PARAMS_SQ_OFF = 40;
/** struct io_cqring_offsets: head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1, user_addr */
export const PARAMS_CQ_OFF = 80;
// field offsets inside io_sqring_offsets / io_cqring_offsets
export const RING_OFF_HEAD = 0;
export const RING_OFF_TAIL = 4;
export const RING_OFF_MASK = 8;
export const RING_OFF_ENTRIES = 12;
export const SQ_OFF_FLAGS = 16;
export const SQ_OFF_DROPPED = 20;
export const SQ_OFF_ARRAY = 24;
export const CQ_OFF_OVERFLOW = 16;
export const CQ_OFF_CQES = 20;
export const CQ_OFF_FLAGS = 24;

// ---- mmap offsets
export const IORING_OFF_SQ_RING = 0;
export const IORING_OFF_CQ_RING = 0x8000000;
export const IORING_OFF_SQES = 0x10000000;

// ---- struct io_uring_sqe (64 bytes), as 32-bit words (little-endian)
export const SQE_SIZE = 64;
export const SQE_WORDS = 16;
/** word 0: opcode (byte 0) | flags (byte 1) << 8 | ioprio (u16) << 16 */
export const SQE_W_OPCODE_FLAGS_IOPRIO = 0;
export const SQE_W_FD = 1;
/** words 2-3: off / addr2 (u64) */
export const SQE_W_OFF = 2;
/** words 4-5: addr (u64) */
export const SQE_W_ADDR = 4;
export const SQE_W_LEN = 6;
/** rw_flags, poll32_events, cancel_flags, timeout_flags ... */
export const SQE_W_OP_FLAGS = 7;
/** words 8-9: user_data (u64) */
export const SQE_W_USER_DATA = 8;
/** word 10: buf_index / buf_group (u16) | personality (u16) << 16 */
export const SQE_W_BUF_GROUP = 10;
/** splice_fd_in / file_index */
export const SQE_W_FILE_INDEX = 11;
// words 12-15: addr3 and padding (zero for every op used here)

// ---- struct io_uring_cqe (16 bytes without IORING_SETUP_CQE32), as 32-bit words
export const CQE_SIZE = 16;
export const CQE_WORDS = 4;
/** words 0-1: user_data (u64) */
export const CQE_W_USER_DATA = 0;
export const CQE_W_RES = 2;
export const CQE_W_FLAGS = 3;

// ---- opcodes (enum io_uring_op)
export const IORING_OP_NOP = 0;
export const IORING_OP_POLL_ADD = 6;
export const IORING_OP_POLL_REMOVE = 7;
export const IORING_OP_TIMEOUT = 11;
export const IORING_OP_ASYNC_CANCEL = 14;
export const IORING_OP_READ = 22;
export const IORING_OP_WRITE = 23;
/** Linux 6.7 */
export const IORING_OP_READ_MULTISHOT = 49;

// ---- sqe->flags
export const IOSQE_FIXED_FILE = 1 << 0;
export const IOSQE_IO_DRAIN = 1 << 1;
export const IOSQE_IO_LINK = 1 << 2;
export const IOSQE_ASYNC = 1 << 4;
export const IOSQE_BUFFER_SELECT = 1 << 5;
export const IOSQE_CQE_SKIP_SUCCESS = 1 << 6;

// ---- io_uring_setup flags
export const IORING_SETUP_IOPOLL = 1 << 0;
export const IORING_SETUP_SQPOLL = 1 << 1;
export const IORING_SETUP_CQSIZE = 1 << 3;
export const IORING_SETUP_CLAMP = 1 << 4;
export const IORING_SETUP_R_DISABLED = 1 << 6;
/** keep submitting the rest of a batch after an SQE fails at submission (5.18) */
export const IORING_SETUP_SUBMIT_ALL = 1 << 7;
/** no IPI to interrupt the task for completions: they run at its next kernel entry (5.19) */
export const IORING_SETUP_COOP_TASKRUN = 1 << 8;
/** with COOP_TASKRUN or DEFER_TASKRUN: set IORING_SQ_TASKRUN in the SQ flags when work is pending (5.19) */
export const IORING_SETUP_TASKRUN_FLAG = 1 << 9;
/** only the creating thread submits (6.0) */
export const IORING_SETUP_SINGLE_ISSUER = 1 << 12;
/** completions are run only inside io_uring_enter(GETEVENTS) by the issuer (6.1) */
export const IORING_SETUP_DEFER_TASKRUN = 1 << 13;
/** SQEs indexed by the tail directly, no index array (6.6) */
export const IORING_SETUP_NO_SQARRAY = 1 << 16;

// ---- io_uring_params.features
export const IORING_FEAT_SINGLE_MMAP = 1 << 0;
export const IORING_FEAT_NODROP = 1 << 1;
export const IORING_FEAT_SUBMIT_STABLE = 1 << 2;
export const IORING_FEAT_FAST_POLL = 1 << 5;
export const IORING_FEAT_EXT_ARG = 1 << 8;

// ---- sq_ring->flags
export const IORING_SQ_NEED_WAKEUP = 1 << 0;
export const IORING_SQ_CQ_OVERFLOW = 1 << 1;
export const IORING_SQ_TASKRUN = 1 << 2;

// ---- io_uring_enter flags
export const IORING_ENTER_GETEVENTS = 1 << 0;
export const IORING_ENTER_EXT_ARG = 1 << 3;

// ---- cqe->flags
export const IORING_CQE_F_BUFFER = 1 << 0;
export const IORING_CQE_F_MORE = 1 << 1;
export const IORING_CQE_F_SOCK_NONEMPTY = 1 << 2;
export const IORING_CQE_F_NOTIF = 1 << 3;
/** the buffer id is in the upper 16 bits of cqe->flags */
export const IORING_CQE_BUFFER_SHIFT = 16;

// ---- POLL_ADD flags (in sqe->len) and poll events (sqe->poll32_events)
export const IORING_POLL_ADD_MULTI = 1 << 0;
export const POLLIN = 0x001;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;

// ---- ASYNC_CANCEL flags (sqe->cancel_flags)
export const IORING_ASYNC_CANCEL_ALL = 1 << 0;
export const IORING_ASYNC_CANCEL_FD = 1 << 1;
export const IORING_ASYNC_CANCEL_ANY = 1 << 2;

// ---- io_uring_register opcodes
export const IORING_REGISTER_PROBE = 8;
export const IORING_REGISTER_PBUF_RING = 22;
export const IORING_UNREGISTER_PBUF_RING = 23;
/** Linux 6.8 */
export const IORING_REGISTER_PBUF_STATUS = 26;

// ---- struct io_uring_probe (16-byte header) + struct io_uring_probe_op[] (8 bytes each)
export const PROBE_HDR_SIZE = 16;
export const PROBE_OP_SIZE = 8;
export const PROBE_LAST_OP = 0;
export const PROBE_OPS_LEN = 1;
/** offset of io_uring_probe_op.flags inside one op */
export const PROBE_OP_FLAGS = 2;
export const IO_URING_OP_SUPPORTED = 1 << 0;

// ---- struct io_uring_buf (16 bytes): addr u64, len u32, bid u16, resv u16; the ring's tail
// (u16) overlays bufs[0].resv, at byte 14
export const BUF_SIZE = 16;
export const BUF_W_ADDR = 0;
export const BUF_W_LEN = 2;
/** bid as a u16 index inside one entry (byte 12) */
export const BUF_H_BID = 6;
/** the ring tail as a u16 index from the ring start (byte 14) */
export const BUF_RING_H_TAIL = 7;
/** the kernel's limit on provided-buffer ring entries (power of two) */
export const BUF_RING_MAX_ENTRIES = 32768;

// ---- struct io_uring_buf_reg (40 bytes): ring_addr u64, ring_entries u32, bgid u16, flags u16, resv[3] u64
export const BUF_REG_SIZE = 40;
export const BUF_REG_RING_ADDR = 0;
export const BUF_REG_RING_ENTRIES = 8;
export const BUF_REG_BGID = 12;

// ---- struct io_uring_buf_status (40 bytes): buf_group u32, head u32, resv[8]
export const BUF_STATUS_SIZE = 40;
export const BUF_STATUS_GROUP = 0;
export const BUF_STATUS_HEAD = 4;

// ---- struct io_uring_getevents_arg (24 bytes): sigmask u64, sigmask_sz u32, min_wait_usec u32, ts u64
export const GETEVENTS_ARG_SIZE = 24;
export const GETEVENTS_W_TS = 4;

// ---- struct __kernel_timespec (16 bytes): tv_sec i64, tv_nsec i64, as 32-bit words
export const TIMESPEC_SIZE = 16;
export const TIMESPEC_W_SEC = 0;
export const TIMESPEC_W_NSEC = 2;

// ---- mmap(2)
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
/** pre-fault the pages, so the first use does not take page faults */
export const MAP_POPULATE = 0x8000;
