/**
 * Minimal epoll wrapper for a data-plane loop: one preallocated event array,
 * no allocation in `wait`/`token`/`events`.
 *
 * `wait(timeoutMs > 0)` blocks the calling OS thread: on the main thread that
 * stalls the Node event loop, so blocking waits belong in a worker thread (use
 * an EventFd to wake it).
 */
import {
  EPOLLIN,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  Errno,
  SysError,
  close,
  epoll_create1,
  epoll_ctl,
  epoll_wait,
  errno,
} from './libc.js';

/** struct epoll_event is __attribute__((packed)) on x86_64 only: {u32 events @0; u64 data @4} = 12 bytes. */
export const EPOLL_EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
/** Offset of `data` inside struct epoll_event. */
export const EPOLL_DATA_OFFSET = process.arch === 'x64' ? 4 : 8;

/** Tokens are stored in the low 32 bits of epoll_data; limited to Smi range so reading one never allocates. */
export const MAX_TOKEN = 0x7fffffff;

export class Epoll {
  readonly fd: number;
  readonly maxEvents: number;
  private readonly evs: Buffer;
  private readonly ctl: Buffer;
  private closed = false;

  constructor(maxEvents = 64) {
    if (!Number.isInteger(maxEvents) || maxEvents < 1 || maxEvents > 65536) {
      throw new RangeError(`Epoll maxEvents must be an integer in 1..65536, got ${maxEvents}`);
    }
    const fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) throw new SysError('epoll_create1', errno());
    this.fd = fd;
    this.maxEvents = maxEvents;
    this.evs = Buffer.alloc(maxEvents * EPOLL_EVENT_SIZE);
    this.ctl = Buffer.alloc(EPOLL_EVENT_SIZE);
  }

  /** Watch `fd` (EPOLLIN by default, level-triggered); `token` (0..2^31-1) is returned by `token(i)`. */
  add(fd: number, token: number, events: number = EPOLLIN): void {
    this.control(EPOLL_CTL_ADD, fd, token, events, 'EPOLL_CTL_ADD');
  }

  /** Change the events/token of an already watched fd. */
  modify(fd: number, token: number, events: number = EPOLLIN): void {
    this.control(EPOLL_CTL_MOD, fd, token, events, 'EPOLL_CTL_MOD');
  }

  /**
   * Stop watching `fd`. Returns false (instead of throwing) when the fd was not
   * registered or is already closed (ENOENT/EBADF), so cleanup paths stay simple.
   */
  remove(fd: number): boolean {
    this.ensureOpen();
    if (epoll_ctl(this.fd, EPOLL_CTL_DEL, fd, this.ctl) < 0) {
      const e = errno();
      if (e === Errno.ENOENT || e === Errno.EBADF) return false;
      throw new SysError(`epoll_ctl(EPOLL_CTL_DEL, fd ${fd})`, e);
    }
    return true;
  }

  /**
   * Wait up to `timeoutMs` (0: poll, -1: forever). Returns the number of ready
   * events (read them with `token(i)` / `events(i)` for i < count); 0 on timeout
   * or EINTR. Allocation-free.
   */
  wait(timeoutMs: number): number {
    const n = epoll_wait(this.fd, this.evs, this.maxEvents, timeoutMs);
    if (n >= 0) return n;
    const e = errno();
    if (e === Errno.EINTR) return 0;
    throw new SysError('epoll_wait', e);
  }

  /** Token of ready event `i` (valid until the next `wait`). */
  token(i: number): number {
    return this.evs.readUInt32LE(i * EPOLL_EVENT_SIZE + EPOLL_DATA_OFFSET);
  }

  /** Event mask (EPOLLIN | EPOLLERR | EPOLLHUP ...) of ready event `i`. */
  events(i: number): number {
    return this.evs.readUInt32LE(i * EPOLL_EVENT_SIZE);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    close(this.fd);
  }

  private control(op: number, fd: number, token: number, events: number, opName: string): void {
    this.ensureOpen();
    if (!Number.isInteger(token) || token < 0 || token > MAX_TOKEN) {
      throw new RangeError(`epoll token must be an integer in 0..${MAX_TOKEN}, got ${token}`);
    }
    const ctl = this.ctl;
    ctl.fill(0);
    ctl.writeUInt32LE(events >>> 0, 0);
    ctl.writeUInt32LE(token, EPOLL_DATA_OFFSET);
    if (epoll_ctl(this.fd, op, fd, ctl) < 0) {
      throw new SysError(`epoll_ctl(${opName}, fd ${fd})`, errno());
    }
  }

  private ensureOpen(): void {
    if (this.closed) throw new Error('Epoll is closed');
  }
}
