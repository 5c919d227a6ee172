/**
 * Non-blocking eventfd (EFD_NONBLOCK | EFD_CLOEXEC), used to wake a thread
 * blocked in epoll_wait. The fd number is process-wide: another thread can wrap
 * it with `EventFd.wrap(fd)` (non-owning) or simply write 8 bytes to it.
 */
import { EFD_CLOEXEC, EFD_NONBLOCK, Errno, SysError, close, errno, eventfd, read, write } from './libc.js';

export class EventFd {
  readonly fd: number;
  private readonly owned: boolean;
  private readonly one: Buffer;
  private readonly sink: Buffer;
  private closed = false;

  constructor();
  /** @internal use EventFd.wrap */
  constructor(existingFd: number, owned: boolean);
  constructor(existingFd?: number, owned = true) {
    if (existingFd === undefined) {
      const fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (fd < 0) throw new SysError('eventfd', errno());
      this.fd = fd;
      this.owned = true;
    } else {
      this.fd = existingFd;
      this.owned = owned;
    }
    this.one = Buffer.alloc(8);
    this.one.writeBigUInt64LE(1n);
    this.sink = Buffer.alloc(8);
  }

  /** A non-owning handle on an eventfd created elsewhere (e.g. passed to a worker); close() won't close it. */
  static wrap(fd: number): EventFd {
    return new EventFd(fd, false);
  }

  /** Add 1 to the counter (wakes epoll waiters). Allocation-free. */
  signal(): void {
    if (write(this.fd, this.one, 8) < 0) {
      const e = errno();
      // EAGAIN: counter saturated (2^64-2): it is readable anyway, so the wake-up is not lost.
      if (e !== Errno.EAGAIN) throw new SysError(`eventfd write (fd ${this.fd})`, e);
    }
  }

  /** Reset the counter. Returns true if it was signalled. Allocation-free. */
  drain(): boolean {
    const n = read(this.fd, this.sink, 8);
    if (n >= 0) return n === 8;
    const e = errno();
    if (e === Errno.EAGAIN) return false;
    throw new SysError(`eventfd read (fd ${this.fd})`, e);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) close(this.fd);
  }
}
