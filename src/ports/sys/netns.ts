/**
 * Network-namespace switching for the *calling thread* (setns(2) with CLONE_NEWNET).
 *
 * Only the current OS thread moves; other Node threads (libuv pool, workers) are
 * unaffected. `fn` must be synchronous: anything it schedules (promises, timers,
 * fs callbacks) runs after the thread is back in its original namespace.
 */
import { statSync } from 'node:fs';
import { CLONE_NEWNET, Errno, O_CLOEXEC, O_RDONLY, SysError, close, describeErrno, errno, open, setns } from './libc.js';

export const THREAD_NETNS_PATH = '/proc/thread-self/ns/net';

/**
 * Run `fn` with the calling thread inside the network namespace at `nsPath`
 * (e.g. /var/run/netns/NAME or /proc/PID/ns/net), then ALWAYS switch back.
 * Throws a clear Error if `nsPath` is missing or not a network namespace.
 * If switching back fails (should never happen) an Error saying so is thrown,
 * with fn's own error (if any) as `cause`.
 */
export function withNetns<T>(nsPath: string, fn: () => T): T {
  const origFd = open(THREAD_NETNS_PATH, O_RDONLY | O_CLOEXEC, 0);
  if (origFd < 0) {
    throw new SysError(`cannot open current network namespace ${THREAD_NETNS_PATH}`, errno());
  }
  let targetFd = -1;
  try {
    targetFd = open(nsPath, O_RDONLY | O_CLOEXEC, 0);
    if (targetFd < 0) {
      const e = errno();
      throw new SysError(`cannot enter network namespace ${nsPath}`, e, {
        hint: e === Errno.ENOENT ? 'the namespace does not exist' : undefined,
      });
    }
    if (setns(targetFd, CLONE_NEWNET) < 0) {
      const e = errno();
      throw new SysError(`cannot enter network namespace ${nsPath}`, e, {
        hint: e === Errno.EINVAL ? 'the path is not a network namespace' : undefined,
      });
    }

    let result: T | undefined;
    let failed = false;
    let failure: unknown;
    try {
      result = fn();
    } catch (err) {
      failed = true;
      failure = err;
    }
    if (setns(origFd, CLONE_NEWNET) < 0) {
      const e = errno();
      throw new Error(
        `FATAL: cannot return to the original network namespace after entering ${nsPath}: ${describeErrno(e)}`,
        failed ? { cause: failure } : undefined,
      );
    }
    if (failed) throw failure;
    return result as T;
  } finally {
    if (targetFd >= 0) close(targetFd);
    close(origFd);
  }
}

export interface NetnsIdentity {
  dev: number;
  ino: number;
}

/** Device and inode of a namespace file: two paths name the same netns iff both are equal. */
export function netnsIdentity(nsPath: string): NetnsIdentity {
  try {
    const st = statSync(nsPath);
    return { dev: st.dev, ino: st.ino };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new Error(`cannot stat network namespace ${nsPath}: ${code}`, { cause: err });
  }
}

/** Identity of the calling thread's current network namespace. */
export function currentNetnsIdentity(): NetnsIdentity {
  return netnsIdentity(THREAD_NETNS_PATH);
}

/** True when both identities name the same namespace. */
export function sameNetns(a: NetnsIdentity, b: NetnsIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}
