/**
 * Real-kernel tests of the sys layer: TAP inside a fresh netns (ARP request in,
 * ARP reply out, persistence + re-attach), TUN in the host netns, EventFd waking
 * a blocked Epoll, withNetns error paths. Needs root (CAP_NET_ADMIN + setns).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Epoll } from '../../src/ports/sys/epoll.js';
import { EventFd } from '../../src/ports/sys/eventfd.js';
import { readFrame, writeFrame } from '../../src/ports/sys/frame-io.js';
import { currentNetnsIdentity, netnsIdentity, sameNetns, withNetns } from '../../src/ports/sys/netns.js';
import {
  IFF_NO_PI,
  IFF_PERSIST,
  IFF_TAP,
  IFF_TUN,
  IFF_VNET_HDR,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  closeFd,
  getTunInfo,
  getVnetHdrSize,
  openTunTap,
  setOffload,
  setPersist,
  setVnetHdrSize,
} from '../../src/ports/sys/tuntap.js';
import { needs, root, tools } from './requirements.js';

const RUN = randomBytes(3).toString('hex');
const NS = `pt-sys-${RUN}`;
const NS_PATH = `/var/run/netns/${NS}`;
const TUN_NAME = `ptt${RUN}`;
const VNET_NAME = `ptv${RUN}`;

const CONTAINER_MAC = '02:42:ac:11:00:02';
const GATEWAY_MAC = '02:00:5e:00:99:01';

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
}
function trySh(cmd: string, args: string[]): boolean {
  try {
    sh(cmd, args);
    return true;
  } catch {
    return false;
  }
}
function linkExists(name: string, ns?: string): boolean {
  return trySh('ip', [...(ns ? ['-n', ns] : []), 'link', 'show', 'dev', name]);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(cond: () => boolean, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(stepMs);
  }
}

const macBytes = (mac: string) => Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
const ipBytes = (ip: string) => Buffer.from(ip.split('.').map((d) => Number(d)));

/** Bounded poll loop: read frames from `fd` until `match` accepts one or `timeoutMs` elapses. */
async function readUntil(fd: number, match: (frame: Buffer) => boolean, timeoutMs: number): Promise<Buffer | null> {
  const ep = new Epoll(4);
  const buf = Buffer.alloc(65536);
  try {
    ep.add(fd, 1);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      // short waits, yielding to the event loop in between (child processes, timers)
      if (ep.wait(20) > 0) {
        for (;;) {
          const n = readFrame(fd, buf, buf.length);
          if (n < 0) throw new Error(`readFrame failed: errno ${-n}`);
          if (n === 0) break;
          const frame = Buffer.from(buf.subarray(0, n));
          if (match(frame)) return frame;
        }
      }
      await sleep(1);
    }
    return null;
  } finally {
    ep.close();
  }
}

function isArpRequestFor(frame: Buffer, targetIp: string): boolean {
  return (
    frame.length >= 42 &&
    frame.readUInt16BE(12) === 0x0806 &&
    frame.readUInt16BE(20) === 1 &&
    frame.subarray(38, 42).equals(ipBytes(targetIp))
  );
}

function expectArpRequest(frame: Buffer, senderIp: string, targetIp: string): void {
  expect(frame.subarray(0, 6).equals(Buffer.alloc(6, 0xff))).toBe(true); // broadcast dst
  expect(frame.subarray(6, 12).equals(macBytes(CONTAINER_MAC))).toBe(true); // src MAC
  expect(frame.readUInt16BE(12)).toBe(0x0806); // ethertype ARP
  expect(frame.readUInt16BE(14)).toBe(1); // htype Ethernet
  expect(frame.readUInt16BE(16)).toBe(0x0800); // ptype IPv4
  expect(frame[18]).toBe(6);
  expect(frame[19]).toBe(4);
  expect(frame.readUInt16BE(20)).toBe(1); // request
  expect(frame.subarray(22, 28).equals(macBytes(CONTAINER_MAC))).toBe(true); // sender MAC
  expect(frame.subarray(28, 32).equals(ipBytes(senderIp))).toBe(true); // sender IP
  expect(frame.subarray(38, 42).equals(ipBytes(targetIp))).toBe(true); // target IP
}

function arpReply(senderMac: string, senderIp: string, targetMac: string, targetIp: string): Buffer {
  const f = Buffer.alloc(42);
  macBytes(targetMac).copy(f, 0);
  macBytes(senderMac).copy(f, 6);
  f.writeUInt16BE(0x0806, 12);
  f.writeUInt16BE(1, 14);
  f.writeUInt16BE(0x0800, 16);
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(2, 20); // reply
  macBytes(senderMac).copy(f, 22);
  ipBytes(senderIp).copy(f, 28);
  macBytes(targetMac).copy(f, 32);
  ipBytes(targetIp).copy(f, 38);
  return f;
}

const children = new Set<ChildProcess>();
function background(cmd: string, args: string[]): ChildProcess {
  const child = spawn(cmd, args, { stdio: 'ignore' });
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.on('error', () => children.delete(child));
  return child;
}

const openFds = new Set<number>();
function track(fd: number): number {
  openFds.add(fd);
  return fd;
}
function untrackClose(fd: number): void {
  openFds.delete(fd);
  closeFd(fd);
}

needs(root, tools('ip', 'ping')).describe('sys layer on a real kernel (root)', () => {
  beforeAll(() => {
    expect(existsSync('/dev/net/tun')).toBe(true);
    sh('ip', ['netns', 'add', NS]);
  });

  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
    for (const fd of openFds) {
      try {
        setPersist(fd, false);
      } catch {
        /* not a tun fd or already gone */
      }
      try {
        closeFd(fd);
      } catch {
        /* already closed */
      }
    }
    openFds.clear();
    trySh('ip', ['-n', NS, 'link', 'del', 'eth0']);
    trySh('ip', ['netns', 'del', NS]);
    for (const dev of [TUN_NAME, VNET_NAME]) if (linkExists(dev)) trySh('ip', ['link', 'del', dev]);
  });

  it('withNetns runs inside the target netns and always returns', () => {
    const host = currentNetnsIdentity();
    const target = netnsIdentity(NS_PATH);
    expect(sameNetns(host, target)).toBe(false);

    const inside = withNetns(NS_PATH, () => currentNetnsIdentity());
    expect(sameNetns(inside, target)).toBe(true);
    expect(sameNetns(currentNetnsIdentity(), host)).toBe(true);

    expect(() =>
      withNetns(NS_PATH, () => {
        throw new Error('boom inside');
      }),
    ).toThrow('boom inside');
    expect(sameNetns(currentNetnsIdentity(), host)).toBe(true);

    // nested: the inner call restores the outer namespace, not the host one
    const nested = withNetns(NS_PATH, () => {
      const inner = withNetns(NS_PATH, () => currentNetnsIdentity());
      let failedInner = false;
      try {
        withNetns(`/var/run/netns/pt-missing-${RUN}`, () => 0);
      } catch {
        failedInner = true;
      }
      return { inner, afterInner: currentNetnsIdentity(), failedInner };
    });
    expect(sameNetns(nested.inner, target)).toBe(true);
    expect(sameNetns(nested.afterInner, target)).toBe(true);
    expect(nested.failedInner).toBe(true);
    expect(sameNetns(currentNetnsIdentity(), host)).toBe(true);
  });

  it('withNetns on a missing path / a non-netns path throws clearly and stays in the original netns', () => {
    const before = currentNetnsIdentity();
    let ran = false;
    const missing = `/var/run/netns/pt-missing-${RUN}`;
    expect(() =>
      withNetns(missing, () => {
        ran = true;
      }),
    ).toThrow(`cannot enter network namespace ${missing}: No such file or directory (ENOENT); the namespace does not exist`);
    expect(() => withNetns('/proc/self/ns/uts', () => (ran = true))).toThrow(
      /cannot enter network namespace \/proc\/self\/ns\/uts: Invalid argument \(EINVAL\); the path is not a network namespace/,
    );
    expect(() => withNetns('/etc/hostname', () => (ran = true))).toThrow(/not a network namespace/);
    expect(ran).toBe(false);
    expect(sameNetns(currentNetnsIdentity(), before)).toBe(true);
    expect(() => netnsIdentity(missing)).toThrow(/cannot stat network namespace .*ENOENT/);
  });

  it('persistent TAP eth0 inside a netns: ARP request in, ARP reply out, re-attach, removal', async () => {
    // --- create, attached from the host thread via setns
    let tap = withNetns(NS_PATH, () => openTunTap({ mode: 'tap', name: 'eth0', persist: true }));
    track(tap.fd);
    expect(tap.name).toBe('eth0');
    expect(linkExists('eth0', NS)).toBe(true);
    const info = getTunInfo(tap.fd);
    expect(info.name).toBe('eth0');
    expect(info.flags & (IFF_TAP | IFF_NO_PI | IFF_PERSIST)).toBe(IFF_TAP | IFF_NO_PI | IFF_PERSIST);
    expect(info.flags & IFF_TUN).toBe(0);

    // a second open of the single-queue device while attached is refused
    expect(() => withNetns(NS_PATH, () => openTunTap({ mode: 'tap', name: 'eth0' }))).toThrow(
      /^cannot open TAP device eth0: Device or resource busy \(EBUSY\)/,
    );
    // wrong type for an existing name
    expect(() => withNetns(NS_PATH, () => openTunTap({ mode: 'tun', name: 'eth0' }))).toThrow(
      /^cannot open TUN device eth0: Invalid argument \(EINVAL\)/,
    );

    sh('ip', ['-n', NS, 'link', 'set', 'eth0', 'address', CONTAINER_MAC, 'up']);
    sh('ip', ['-n', NS, 'addr', 'add', '10.99.0.2/24', 'dev', 'eth0']);

    // --- ARP request from the container's kernel
    const ping1 = background('ip', ['netns', 'exec', NS, 'ping', '-c', '1', '-W', '1', '10.99.0.1']);
    const req = await readUntil(tap.fd, (f) => isArpRequestFor(f, '10.99.0.1'), 4000);
    expect(req, 'no ARP request for 10.99.0.1 seen on the TAP fd').not.toBeNull();
    expectArpRequest(req!, '10.99.0.2', '10.99.0.1');

    // --- ARP reply written by us: the container's kernel learns the gateway MAC
    const reply = arpReply(GATEWAY_MAC, '10.99.0.1', CONTAINER_MAC, '10.99.0.2');
    expect(writeFrame(tap.fd, reply, reply.length)).toBe(reply.length);
    const neighLearned = () => {
      const out = sh('ip', ['-n', NS, 'neigh', 'show', '10.99.0.1']);
      return out.includes(`lladdr ${GATEWAY_MAC}`);
    };
    expect(await until(neighLearned, 3000), 'kernel did not learn the gateway MAC').toBe(true);
    ping1.kill('SIGKILL');

    // --- daemon "restart": close, device persists, re-attach by name inside the netns
    untrackClose(tap.fd);
    expect(linkExists('eth0', NS)).toBe(true);
    tap = withNetns(NS_PATH, () => openTunTap({ mode: 'tap', name: 'eth0' }));
    track(tap.fd);
    expect(tap.name).toBe('eth0');
    expect(getTunInfo(tap.fd).flags & IFF_PERSIST).toBe(IFF_PERSIST);

    const ping2 = background('ip', ['netns', 'exec', NS, 'ping', '-c', '1', '-W', '1', '10.99.0.3']);
    const req2 = await readUntil(tap.fd, (f) => isArpRequestFor(f, '10.99.0.3'), 4000);
    expect(req2, 'no ARP request for 10.99.0.3 after re-attach').not.toBeNull();
    expectArpRequest(req2!, '10.99.0.2', '10.99.0.3');
    ping2.kill('SIGKILL');

    // --- drop persistence: the device disappears with its last fd
    setPersist(tap.fd, false);
    expect(getTunInfo(tap.fd).flags & IFF_PERSIST).toBe(0);
    untrackClose(tap.fd);
    expect(await until(() => !linkExists('eth0', NS), 2000), 'eth0 still present after close').toBe(true);
  });

  it('TUN in the host netns: raw IPv4 echo request, no Ethernet header, no PI', async () => {
    const tun = openTunTap({ mode: 'tun', name: TUN_NAME });
    track(tun.fd);
    expect(tun.name).toBe(TUN_NAME);
    expect(getTunInfo(tun.fd).flags & (IFF_TUN | IFF_NO_PI)).toBe(IFF_TUN | IFF_NO_PI);
    sh('ip', ['addr', 'add', '10.98.0.1/30', 'dev', TUN_NAME]);
    sh('ip', ['link', 'set', TUN_NAME, 'up']);

    const ping = background('ping', ['-c', '1', '-W', '1', '10.98.0.2']);
    const pkt = await readUntil(
      tun.fd,
      (p) => p.length >= 28 && p[0] >> 4 === 4 && p[9] === 1 && p.subarray(16, 20).equals(ipBytes('10.98.0.2')),
      4000,
    );
    ping.kill('SIGKILL');
    expect(pkt, 'no ICMP echo request read from the TUN fd').not.toBeNull();
    const p = pkt!;
    expect(p[0]).toBe(0x45); // IPv4, IHL 5: the packet starts at byte 0
    expect(p.readUInt16BE(2)).toBe(p.length); // total length == bytes read
    expect(p.subarray(12, 16).equals(ipBytes('10.98.0.1'))).toBe(true);
    expect(p[20]).toBe(8); // ICMP echo request
    expect(p[21]).toBe(0);

    untrackClose(tun.fd);
    expect(await until(() => !linkExists(TUN_NAME), 2000)).toBe(true);
  });

  it('IFF_VNET_HDR + offload ioctls', () => {
    const dev = openTunTap({ mode: 'tap', name: VNET_NAME, vnetHdr: true });
    track(dev.fd);
    try {
      expect(getTunInfo(dev.fd).flags & IFF_VNET_HDR).toBe(IFF_VNET_HDR);
      setVnetHdrSize(dev.fd, 12);
      expect(getVnetHdrSize(dev.fd)).toBe(12);
      expect(() => setVnetHdrSize(dev.fd, 4)).toThrow(/TUNSETVNETHDRSZ 4 .*EINVAL/);
      setOffload(dev.fd, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
      setOffload(dev.fd, 0);
      expect(() => setOffload(dev.fd, 0x80000000)).toThrow(/TUNSETOFFLOAD .*EINVAL/);
    } finally {
      untrackClose(dev.fd);
    }
    expect(linkExists(VNET_NAME)).toBe(false);
  });

  it('an EventFd wakes an Epoll blocked in epoll_wait(5000) from another thread', async () => {
    const ep = new Epoll(4);
    const ev = new EventFd();
    // The worker shares the process fd table: it just write(2)s 8 bytes to the eventfd.
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const fs = require('node:fs');
       parentPort.once('message', () => {
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.delayMs);
         const one = Buffer.alloc(8);
         one.writeBigUInt64LE(1n);
         fs.writeSync(workerData.fd, one);
         parentPort.postMessage('signalled');
       });
       parentPort.postMessage('ready');`,
      { eval: true, workerData: { fd: ev.fd, delayMs: 150 } },
    );
    try {
      ep.add(ev.fd, 42);
      await new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
      });
      // Delivered to the worker's own loop: it does not need this (soon blocked) thread.
      worker.postMessage('go');
      const t0 = performance.now();
      const n = ep.wait(5000);
      const dt = performance.now() - t0;
      expect(n).toBe(1);
      expect(ep.token(0)).toBe(42);
      expect(dt).toBeGreaterThanOrEqual(100); // really blocked until the signal
      expect(dt).toBeLessThan(2500); // and woke well before the 5 s timeout
      expect(ev.drain()).toBe(true);
      expect(ep.wait(0)).toBe(0);

      // signal-before-wait: level-triggered readiness is not lost
      ev.signal();
      const t1 = performance.now();
      expect(ep.wait(5000)).toBe(1);
      expect(performance.now() - t1).toBeLessThan(1000);
      expect(ev.drain()).toBe(true);
    } finally {
      await worker.terminate();
      ev.close();
      ep.close();
    }
  });
});
