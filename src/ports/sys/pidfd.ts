/**
 * pidfd_open(2) and pidfd_getfd(2): a duplicate of another process's file descriptor (the same
 * open file, as after dup(2)), given ptrace access to it (root). Both calls came after the syscall
 * tables were unified (Linux 5.3 and 5.6), so their numbers are the same on every architecture.
 */
import koffi from 'koffi';
import { SysError } from './libc.js';

const lib = koffi.load('libc.so.6');
const syscall3 = lib.func('long syscall(long nr, long a, long b, long c)') as (nr: number, a: number, b: number, c: number) => number;
const closeFd = lib.func('int close(int fd)') as (fd: number) => number;

const SYS_PIDFD_OPEN = 434;
const SYS_PIDFD_GETFD = 438;

/** A pidfd of a running process. */
export function pidfdOpen(pid: number): number {
  const fd = syscall3(SYS_PIDFD_OPEN, pid, 0, 0);
  if (fd < 0) throw new SysError(`pidfd_open(${pid})`, koffi.errno());
  return fd;
}

/** A duplicate (close-on-exec) of descriptor `targetFd` of process `pid`. */
export function takeFd(pid: number, targetFd: number): number {
  const pidfd = pidfdOpen(pid);
  try {
    const fd = syscall3(SYS_PIDFD_GETFD, pidfd, targetFd, 0);
    if (fd < 0) throw new SysError(`pidfd_getfd(pid ${pid}, fd ${targetFd})`, koffi.errno());
    return fd;
  } finally {
    closeFd(pidfd);
  }
}
