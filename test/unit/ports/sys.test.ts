import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { heapGrowth } from './heap.js';
import { afterAll, describe, expect, it } from 'vitest';
import { Epoll, EPOLL_DATA_OFFSET, EPOLL_EVENT_SIZE } from '../../../src/ports/sys/epoll.js';
import { EventFd } from '../../../src/ports/sys/eventfd.js';
import { readFrame, readFrameAt, writeFrame, writeFrameAt } from '../../../src/ports/sys/frame-io.js';
import {
  EPOLLIN,
  Errno,
  O_CLOEXEC,
  O_RDONLY,
  SysError,
  bufferAddress,
  close,
  describeErrno,
  errno,
  errnoName,
  open,
  strerror,
} from '../../../src/ports/sys/libc.js';
import { IFREQ_SIZE, openTunTap } from '../../../src/ports/sys/tuntap.js';

const tmp = mkdtempSync(join(tmpdir(), 'pt-sys-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('libc bindings', () => {
  it('reports errno and readable messages', () => {
    expect(open('/nonexistent/pontoon', O_RDONLY | O_CLOEXEC, 0)).toBe(-1);
    expect(errno()).toBe(Errno.ENOENT);
    expect(close(-1)).toBe(-1);
    expect(errno()).toBe(Errno.EBADF);
    expect(errnoName(Errno.EBUSY)).toBe('EBUSY');
    expect(errnoName(Errno.EAGAIN)).toBe('EAGAIN');
    expect(errnoName(99999)).toBe('E99999');
    expect(strerror(Errno.EBUSY)).toBe('Device or resource busy');
    expect(describeErrno(Errno.EPERM)).toBe('Operation not permitted (EPERM)');
    const err = new SysError('cannot open TAP device eth0', Errno.EBUSY);
    expect(err.message).toBe('cannot open TAP device eth0: Device or resource busy (EBUSY)');
    expect(err.code).toBe('EBUSY');
    expect(err.errno).toBe(16);
    expect(err).toBeInstanceOf(Error);
    expect(new SysError('x', Errno.EIO, { hint: 'check cable' }).message).toBe('x: Input/output error (EIO); check cable');
  });

  it('passes Buffer views by pointer (byteOffset included)', () => {
    const base = Buffer.alloc(4096);
    const view = base.subarray(100);
    expect(bufferAddress(view) - bufferAddress(base)).toBe(100);
  });

  it('rejects invalid interface names before touching the kernel', () => {
    expect(() => openTunTap({ mode: 'tap', name: 'x'.repeat(16) })).toThrow(/longer than 15 bytes/);
    expect(() => openTunTap({ mode: 'tap', name: 'a b' })).toThrow(/invalid interface name/);
    expect(() => openTunTap({ mode: 'bogus' as 'tap', name: 'x' })).toThrow(/invalid TUN\/TAP mode/);
    expect(IFREQ_SIZE).toBe(40);
  });
});

describe('EventFd + Epoll', () => {
  it('epoll_event layout matches the arch ABI', () => {
    if (process.arch === 'x64') {
      expect(EPOLL_EVENT_SIZE).toBe(12);
      expect(EPOLL_DATA_OFFSET).toBe(4);
    } else {
      expect(EPOLL_EVENT_SIZE).toBe(16);
      expect(EPOLL_DATA_OFFSET).toBe(8);
    }
  });

  it('signals, reports tokens, drains, removes', () => {
    const ep = new Epoll(4);
    const a = new EventFd();
    const b = new EventFd();
    try {
      ep.add(a.fd, 1);
      ep.add(b.fd, 0x7fffffff);
      expect(ep.wait(0)).toBe(0);
      expect(a.drain()).toBe(false);

      b.signal();
      expect(ep.wait(0)).toBe(1);
      expect(ep.token(0)).toBe(0x7fffffff);
      expect(ep.events(0) & EPOLLIN).toBe(EPOLLIN);

      a.signal();
      a.signal();
      expect(ep.wait(0)).toBe(2);
      const tokens = [ep.token(0), ep.token(1)].sort((x, y) => x - y);
      expect(tokens).toEqual([1, 0x7fffffff]);

      expect(a.drain()).toBe(true);
      expect(b.drain()).toBe(true);
      expect(ep.wait(0)).toBe(0);

      expect(ep.remove(a.fd)).toBe(true);
      expect(ep.remove(a.fd)).toBe(false); // not registered any more
      a.signal();
      expect(ep.wait(0)).toBe(0);

      expect(() => ep.add(b.fd, 2)).toThrow(/EEXIST/);
      expect(() => ep.add(b.fd + 1000, 3)).toThrow(/EBADF/);
      expect(() => ep.add(a.fd, -1)).toThrow(RangeError);
      expect(() => ep.add(a.fd, 2 ** 31)).toThrow(RangeError);
    } finally {
      a.close();
      b.close();
      ep.close();
    }
    expect(() => ep.add(0, 1)).toThrow(/closed/);
  });

  it('a non-owning EventFd.wrap handle signals the same counter and does not close it', () => {
    const ev = new EventFd();
    try {
      const w = EventFd.wrap(ev.fd);
      w.signal();
      w.close();
      expect(ev.drain()).toBe(true);
    } finally {
      ev.close();
    }
  });

  it('wait(0) does not allocate per call', () => {
    const ep = new Epoll(8);
    const ev = new EventFd();
    try {
      ep.add(ev.fd, 5);
      ev.signal(); // level-triggered: stays ready, so wait+token run the full path
      let sum = 0;
      const growth = heapGrowth(() => {
        const n = ep.wait(0);
        for (let i = 0; i < n; i++) sum += ep.token(i);
      }, 100_000);
      expect(sum).toBe(5 * 200_000);
      if (growth === null) return; // gc unavailable: code-review guarantee only
      // 100k calls allocating even a 16-byte HeapNumber each would grow ~1.6 MB
      expect(growth).toBeLessThan(256 * 1024);
    } finally {
      ev.close();
      ep.close();
    }
  });
});

describe('frame-io', () => {
  it('readFrame returns 0 on EAGAIN and reads into a view', () => {
    const ev = new EventFd();
    try {
      const base = Buffer.alloc(64);
      const view = base.subarray(16, 24);
      expect(readFrame(ev.fd, view, 8)).toBe(0);
      ev.signal();
      ev.signal();
      ev.signal();
      expect(readFrame(ev.fd, view, 8)).toBe(8);
      expect(base.readBigUInt64LE(16)).toBe(3n);
      expect(readFrame(ev.fd, view, 4)).toBe(-Errno.EINVAL); // eventfd wants >= 8 bytes
      expect(readFrame(-1, view, 8)).toBe(-Errno.EBADF);
      expect(() => readFrame(ev.fd, view, 9)).toThrow(RangeError);
    } finally {
      ev.close();
    }
  });

  it('writeFrame / writeFrameAt / readFrameAt', () => {
    const ev = new EventFd();
    try {
      const base = Buffer.alloc(128);
      base.writeBigUInt64LE(7n, 40);
      expect(writeFrameAt(ev.fd, base, 40, 8)).toBe(8);
      expect(readFrameAt(ev.fd, base, 96, 8)).toBe(8);
      expect(base.readBigUInt64LE(96)).toBe(7n);
      expect(readFrameAt(ev.fd, base, 96, 8)).toBe(0); // EAGAIN

      const one = Buffer.alloc(8);
      one.writeBigUInt64LE(2n);
      expect(writeFrame(ev.fd, one, 8)).toBe(8);
      expect(writeFrame(ev.fd, one, 3)).toBe(-Errno.EINVAL);
      expect(writeFrame(-1, one, 8)).toBe(-Errno.EBADF);
      // bounds are enforced before any raw pointer reaches libc
      expect(() => writeFrameAt(ev.fd, base, 124, 8)).toThrow(RangeError);
      expect(() => writeFrameAt(ev.fd, base, -1, 8)).toThrow(RangeError);
      expect(() => readFrameAt(ev.fd, base, 0.5, 8)).toThrow(RangeError);
      expect(() => writeFrame(ev.fd, one, 9)).toThrow(RangeError);
    } finally {
      ev.close();
    }
  });

  it('writeFrameAt writes exactly the requested slice (regular file)', () => {
    const path = join(tmp, 'slice.bin');
    writeFileSync(path, '');
    const fd = openSync(path, 'w');
    try {
      const base = Buffer.from('0123456789abcdef');
      const other = Buffer.from('XYZ');
      expect(writeFrameAt(fd, base, 3, 4)).toBe(4);
      expect(writeFrameAt(fd, other, 1, 2)).toBe(2); // switches base (address cache)
      expect(writeFrameAt(fd, base, 10, 6)).toBe(6);
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(path, 'latin1')).toBe('3456YZabcdef');
  });

  it('readFrame on EAGAIN does not allocate per call', () => {
    const ev = new EventFd();
    try {
      const buf = Buffer.alloc(2048);
      let total = 0;
      const growth = heapGrowth(() => {
        total += readFrame(ev.fd, buf, 2048);
      }, 100_000);
      expect(total).toBe(0);
      if (growth === null) return;
      expect(growth).toBeLessThan(256 * 1024);
    } finally {
      ev.close();
    }
  });
});
