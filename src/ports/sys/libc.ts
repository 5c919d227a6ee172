/**
 * Synchronous glibc bindings (koffi, no compiler, no native addon of our own).
 *
 * Hot-path rules (read/write/epoll_wait):
 *  - every function here is a plain synchronous call: never use koffi's `.async`;
 *  - pointer parameters are declared `void *`: a Node Buffer / Uint8Array is
 *    passed as its data pointer (byteOffset included) with no copy and no
 *    allocation. koffi also accepts a JS Number (or BigInt) as a raw address for
 *    a `void *` parameter (see `frame-io.ts#writeFrameAt`);
 *  - read `errno()` right after the failing call, before any other libc call.
 *
 * Linux only, glibc (`libc.so.6`). The layouts and constants below are for the
 * "generic" Linux ABIs (x86_64, arm64, riscv64, loongarch64); epoll's packed
 * event layout is handled per-arch in `epoll.ts`.
 */
import koffi from 'koffi';

if (process.platform !== 'linux') {
  throw new Error(`pontoon sys layer requires Linux (platform is ${process.platform})`);
}
const SUPPORTED_ARCHS = new Set(['x64', 'arm64', 'riscv64', 'loong64']);
if (!SUPPORTED_ARCHS.has(process.arch)) {
  // ioctl request encodings and O_* values differ on e.g. mips, ppc, sparc.
  throw new Error(`pontoon sys layer: unsupported architecture ${process.arch}`);
}

const lib = koffi.load('libc.so.6');

// ---------------------------------------------------------------------------
// Function declarations. Several C prototypes are variadic (open, ioctl, fcntl):
// they are declared here with fixed trailing arguments, which is ABI-compatible
// on the supported 64-bit Linux targets for integer/pointer arguments and avoids
// koffi's per-call variadic type marshalling.

/** `int open(const char *path, int flags, mode_t mode)` — returns fd or -1. */
export const open = lib.func('open', 'int', ['str', 'int', 'uint32_t']) as (
  path: string,
  flags: number,
  mode: number,
) => number;

/** `int close(int fd)` */
export const close = lib.func('close', 'int', ['int']) as (fd: number) => number;

/** `ssize_t read(int fd, void *buf, size_t count)`; `buf` is a Buffer/Uint8Array (no copy). */
export const read = lib.func('read', 'intptr_t', ['int', 'void *', 'size_t']) as (
  fd: number,
  buf: Uint8Array,
  count: number,
) => number;

/** `ssize_t write(int fd, const void *buf, size_t count)`; `buf` is a Buffer/Uint8Array (no copy). */
export const write = lib.func('write', 'intptr_t', ['int', 'void *', 'size_t']) as (
  fd: number,
  buf: Uint8Array,
  count: number,
) => number;

/**
 * Same koffi functions as `read`/`write`, typed to take a raw address (a JS
 * Number, e.g. `bufferAddress(buf) + offset`). koffi converts a Number given for
 * a `void *` parameter with napi_get_value_int64. The caller is responsible for
 * bounds and for keeping the owning Buffer alive across the call.
 */
export const readAddr = read as unknown as (fd: number, addr: number, count: number) => number;
export const writeAddr = write as unknown as (fd: number, addr: number, count: number) => number;

/** `int ioctl(int fd, unsigned long req, void *arg)` — pointer variant (struct ifreq, int *...). */
export const ioctlPtr = lib.func('ioctl', 'int', ['int', 'unsigned long', 'void *']) as (
  fd: number,
  request: number,
  arg: Uint8Array,
) => number;

/** `int ioctl(int fd, unsigned long req, unsigned long arg)` — integer-argument variant. */
export const ioctlInt = lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']) as (
  fd: number,
  request: number,
  arg: number,
) => number;

/** `int fcntl(int fd, int cmd, int arg)` */
export const fcntl = lib.func('fcntl', 'int', ['int', 'int', 'int']) as (
  fd: number,
  cmd: number,
  arg: number,
) => number;

/** `int epoll_create1(int flags)` */
export const epoll_create1 = lib.func('epoll_create1', 'int', ['int']) as (flags: number) => number;

/** `int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)`; event is a Buffer. */
export const epoll_ctl = lib.func('epoll_ctl', 'int', ['int', 'int', 'int', 'void *']) as (
  epfd: number,
  op: number,
  fd: number,
  event: Uint8Array,
) => number;

/** `int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)`; events is a Buffer. */
export const epoll_wait = lib.func('epoll_wait', 'int', ['int', 'void *', 'int', 'int']) as (
  epfd: number,
  events: Uint8Array,
  maxEvents: number,
  timeoutMs: number,
) => number;

/** `int eventfd(unsigned int initval, int flags)` */
export const eventfd = lib.func('eventfd', 'int', ['unsigned int', 'int']) as (
  initval: number,
  flags: number,
) => number;

/** `int setns(int fd, int nstype)` — affects the calling thread only. */
export const setns = lib.func('setns', 'int', ['int', 'int']) as (fd: number, nstype: number) => number;

/** `int socket(int domain, int type, int protocol)` */
export const socket = lib.func('socket', 'int', ['int', 'int', 'int']) as (domain: number, type: number, protocol: number) => number;

/** `int bind(int fd, const struct sockaddr *addr, socklen_t len)` */
export const bind = lib.func('bind', 'int', ['int', 'void *', 'uint32_t']) as (fd: number, addr: Uint8Array, len: number) => number;

/** `int setsockopt(int fd, int level, int name, const void *value, socklen_t len)` */
export const setsockopt = lib.func('setsockopt', 'int', ['int', 'int', 'int', 'void *', 'uint32_t']) as (
  fd: number,
  level: number,
  name: number,
  value: Uint8Array,
  len: number,
) => number;

/** `int sendmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags)`; msgs as a raw address: messages sent, or -1 */
export const sendmmsgAddr = lib.func('sendmmsg', 'int', ['int', 'void *', 'unsigned int', 'int']) as unknown as (
  fd: number,
  msgs: number,
  vlen: number,
  flags: number,
) => number;

/** `int recvmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags, struct timespec *timeout)`; msgs as a raw address, timeout NULL */
export const recvmmsgAddr = lib.func('recvmmsg', 'int', ['int', 'void *', 'unsigned int', 'int', 'void *']) as unknown as (
  fd: number,
  msgs: number,
  vlen: number,
  flags: number,
  timeout: null,
) => number;

/** `int getsockopt(int fd, int level, int name, void *value, socklen_t *len)` */
export const getsockopt = lib.func('getsockopt', 'int', ['int', 'int', 'int', 'void *', 'void *']) as (
  fd: number,
  level: number,
  name: number,
  value: Uint8Array,
  len: Uint8Array,
) => number;

/** `int poll(struct pollfd *fds, nfds_t n, int timeoutMs)` */
export const poll = lib.func('poll', 'int', ['void *', 'unsigned long', 'int']) as (fds: Uint8Array, n: number, timeoutMs: number) => number;

/** `unsigned int if_nametoindex(const char *name)`: 0 when there is no such interface. */
/** mmap(2): the mapping's address as koffi's pointer (koffi.address() it; MAP_FAILED is all ones). */
export const mmap = lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)') as (
  addr: null,
  len: number,
  prot: number,
  flags: number,
  fd: number,
  off: number,
) => unknown;

export const if_nametoindex = lib.func('if_nametoindex', 'unsigned int', ['str']) as (name: string) => number;

const strerror_ = lib.func('strerror', 'const char *', ['int']) as (errnum: number) => string | null;

/** Current thread's errno (as left by the last libc call made through koffi). */
export function errno(): number {
  return koffi.errno();
}

/** The address of a Buffer/Uint8Array's first byte (byteOffset included), as a Number. */
export function bufferAddress(buf: Uint8Array): number {
  // User-space addresses are < 2^47 on the supported targets: exact as a double.
  return Number(koffi.address(buf));
}

// ---------------------------------------------------------------------------
// Constants (Linux, generic ABI)

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;

export const EFD_SEMAPHORE = 1;
export const EFD_NONBLOCK = O_NONBLOCK;
export const EFD_CLOEXEC = O_CLOEXEC;

export const EPOLL_CLOEXEC = O_CLOEXEC;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLLIN = 0x001;
export const EPOLLPRI = 0x002;
export const EPOLLOUT = 0x004;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
export const EPOLLRDHUP = 0x2000;

export const CLONE_NEWNET = 0x40000000;

/** errno values (Linux, generic ABI). */
export const Errno = Object.freeze({
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  EWOULDBLOCK: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EINVAL: 22,
  EMFILE: 24,
  ENOTTY: 25,
  ENOSPC: 28,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  ENETDOWN: 100,
  ENOBUFS: 105,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ECANCELED: 125,
});

const errnoNames: Map<number, string> = (() => {
  const m = new Map<number, string>();
  for (const [name, value] of Object.entries(koffi.os.errno)) {
    // prefer the canonical name when several share a value (EAGAIN/EWOULDBLOCK, ...)
    if (!m.has(value)) m.set(value, name);
  }
  for (const [name, value] of Object.entries(Errno)) {
    if (name !== 'EWOULDBLOCK') m.set(value, name);
  }
  return m;
})();

/** Symbolic name of an errno value, e.g. 16 -> "EBUSY" (or "E16" when unknown). */
export function errnoName(err: number): string {
  return errnoNames.get(err) ?? `E${err}`;
}

/** Human-readable message for an errno value (control-plane use), e.g. "Device or resource busy". */
export function strerror(err: number): string {
  return strerror_(err) ?? `Unknown error ${err}`;
}

/** "Device or resource busy (EBUSY)" */
export function describeErrno(err: number): string {
  return `${strerror(err)} (${errnoName(err)})`;
}

/** An Error carrying the errno value and its symbolic code (like Node's system errors). */
export class SysError extends Error {
  readonly errno: number;
  readonly code: string;
  /** Message is `${message}: ${strerror} (${code})`, then `; ${hint}` when given. */
  constructor(message: string, err: number, options?: { cause?: unknown; hint?: string }) {
    super(
      `${message}: ${describeErrno(err)}${options?.hint ? `; ${options.hint}` : ''}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'SysError';
    this.errno = err;
    this.code = errnoName(err);
  }
}
