// `npm run build && node dist/native-free-bench/uring-tap.js [--frames N] [--rounds R] [--no-live] [--json]`
// (root). Frame I/O on a real TAP inside a network namespace: one write(2) / read(2) per frame
// through koffi (what the data-plane worker does today) against io_uring (src/ports/sys/io-uring.ts):
// writes in batches of 64 with one io_uring_enter, reads as multishot completions into a
// provided-buffer ring. Prints ns per frame (median of the rounds).
//
//  - writes: 64-byte UDP/IPv4 frames to a MAC that is not the TAP's; the namespace's kernel
//    receives and drops each one (PACKET_OTHERHOST), so the cost is tun's write path.
//  - reads, drain: the TAP's queue is filled from a packet socket in the namespace, then emptied
//    as fast as possible (the reader runs alone: wall time per frame).
//  - reads, live (when hping3 is installed): `hping3 --flood` in the namespace sends while the
//    reader runs on the other core; CPU time of this process per frame received, frames per
//    second, frames the TAP dropped (its queue was full) and multishot re-arms. On a 2-core VM
//    this competes with the generator and anything else running: read it as a trend.
//
// uring-tap-ref.c is the same measurement in C (liburing), to tell koffi's cost from the kernel's.
// Measured on the 2-core Linux 6.18 VM, Node 20 (3 runs, ns per frame), TS | C:
//   write(2) per frame            1114-1201 |  997-1049
//   io_uring, 64 per enter          715-790  |  742-856
//   read(2) per frame (drain)       924-949  |  721-844
//   multishot read (drain, defer)   772-793  |  614-804

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Epoll } from '../src/ports/sys/epoll.js';
import { readFrame, writeFrame } from '../src/ports/sys/frame-io.js';
import { IORING_CQE_F_BUFFER, IORING_CQE_F_MORE, IoUring, type TaskRunMode } from '../src/ports/sys/io-uring.js';
import { setsockopt } from '../src/ports/sys/libc.js';
import { withNetns } from '../src/ports/sys/netns.js';
import { openPacketSocket } from '../src/ports/sys/packet-socket.js';
import { closeFd, openTunTap } from '../src/ports/sys/tuntap.js';
import { udpFrame } from './frames.js';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const FRAMES = opt('--frames', 200_000);
const ROUNDS = opt('--rounds', 5);
const LIVE = !argv.includes('--no-live');
const JSON_OUT = argv.includes('--json');
const BATCH = 64;
const QUEUE = 4000; // frames queued per drain round (TAP txqueuelen 4096)
const BUFS = 4096; // provided buffers (2 KiB each)

if (process.getuid?.() !== 0) {
  console.error('uring-tap: needs root (network namespace, TAP)');
  process.exit(2);
}
const probe = IoUring.probe();
if (!probe.ok) {
  console.error(`uring-tap: io_uring unavailable: ${probe.reason}`);
  process.exit(2);
}

const NS = `pt-ubench-${randomBytes(3).toString('hex')}`;
const NS_PATH = `/var/run/netns/${NS}`;
const sh = (...a: string[]): string => execFileSync(a[0]!, a.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const children: ChildProcess[] = [];
const fds: number[] = [];

function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const fd of fds.splice(0)) closeFd(fd);
  try {
    sh('ip', 'netns', 'del', NS);
  } catch {
    /* already gone */
  }
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: Record<string, number | string> = {};
function report(key: string, label: string, value: number, unit = 'ns/frame', extra = ''): void {
  results[key] = Math.round(value);
  if (!JSON_OUT) console.log(`${label.padEnd(58)} ${value.toFixed(0).padStart(7)} ${unit}${extra ? `  ${extra}` : ''}`);
}

sh('ip', 'netns', 'add', NS);
sh('ip', 'netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
const tap = withNetns(NS_PATH, () => openTunTap({ mode: 'tap', name: 'eth0' })).fd;
fds.push(tap);
sh('ip', '-n', NS, 'link', 'set', 'eth0', 'up', 'txqueuelen', '4096');

// ---- writes ------------------------------------------------------------------------------------

// 64 distinct 64-byte frames (UDP, 22 bytes of payload) to a MAC the TAP does not have
const wslab = Buffer.alloc(BATCH * 64);
for (let i = 0; i < BATCH; i++) {
  udpFrame({ mac: '02:42:ac:11:00:02', ip: '172.17.0.2', port: 40000 + i }, { mac: '02:42:ac:11:00:99', ip: '172.17.0.99', port: 9 }, '02:42:ac:11:00:99', 22).copy(wslab, i * 64);
}
const wviews = Array.from({ length: BATCH }, (_, i) => wslab.subarray(i * 64, i * 64 + 64));

function writesSyscall(n: number): number {
  let errors = 0;
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) if (writeFrame(tap, wviews[i & (BATCH - 1)]!, 64) !== 64) errors++;
  const ns = Number(process.hrtime.bigint() - t) / n;
  if (errors) throw new Error(`write(2): ${errors} errors`);
  return ns;
}

function writesUring(ring: IoUring, n: number, batch: number): number {
  let errors = 0;
  const t = process.hrtime.bigint();
  for (let done = 0; done < n; done += batch) {
    for (let i = 0; i < batch; i++) ring.write(tap, wslab, i * 64, 64, i);
    ring.submit();
    // TAP writes complete inside the io_uring_enter: the CQEs are there
    let got = ring.cqReady();
    if (got < batch) {
      ring.submitAndWait(batch - got, 1000);
      got = ring.cqReady();
    }
    for (let i = 0; i < got; i++) if (ring.cqeRes(i) !== 64) errors++;
    ring.advance(got);
  }
  const ns = Number(process.hrtime.bigint() - t) / n;
  if (errors) throw new Error(`io_uring write: ${errors} errors`);
  return ns;
}

{
  writesSyscall(FRAMES / 4); // warm-up (JIT, tun paths)
  report('write_syscall', 'write: koffi write(2) per frame', median(Array.from({ length: ROUNDS }, () => writesSyscall(FRAMES))));
  for (const batch of [BATCH, 16]) {
    const ring = IoUring.open(BATCH, { cqEntries: 4 * BATCH });
    writesUring(ring, FRAMES / 4, batch);
    report(`write_uring_${batch}`, `write: io_uring, ${batch} per io_uring_enter`, median(Array.from({ length: ROUNDS }, () => writesUring(ring, FRAMES, batch))));
    ring.close();
  }
}

// ---- reads, drain ------------------------------------------------------------------------------

const peer = withNetns(NS_PATH, () => openPacketSocket('eth0')).fd;
fds.push(peer);
{
  const big = Buffer.alloc(4);
  big.writeInt32LE(64 << 20);
  setsockopt(peer, 1 /* SOL_SOCKET */, 32 /* SO_SNDBUFFORCE */, big, 4); // queued frames stay charged to it
}
const gslab = Buffer.alloc(64);
wslab.copy(gslab, 0, 0, 64);

/** Queue up to `count` frames in the TAP (sent by the namespace's kernel); returns how many were sent. */
function fill(count: number): number {
  let sent = 0;
  for (; sent < count; sent++) if (writeFrame(peer, gslab, 64) !== 64) break;
  return sent;
}

const rbuf = Buffer.alloc(2048);
const epoll = new Epoll(4);
epoll.add(tap, 1);

/** The worker's loop today: epoll_wait, then read(2) up to a batch per wake-up, until EAGAIN. */
function drainSyscall(expect: number): { ns: number; frames: number } {
  let frames = 0;
  const t = process.hrtime.bigint();
  let last = t;
  for (;;) {
    if (epoll.wait(frames < expect ? 20 : 0) === 0) break;
    let k = 0;
    for (; k < BATCH; k++) {
      const n = readFrame(tap, rbuf, 2048);
      if (n <= 0) break;
      frames++;
    }
    last = process.hrtime.bigint();
    if (k < BATCH && frames >= expect) break;
  }
  return { ns: Number(last - t) / frames, frames };
}

/** Multishot read: arm once (re-arm when it ends), reap CQEs, give the buffers back once per batch. */
function drainUring(ring: IoUring, bufs: ReturnType<IoUring['registerBufferRing']>, expect: number): { ns: number; frames: number; rearms: number } {
  let frames = 0;
  let rearms = 0;
  const t = process.hrtime.bigint();
  let last = t;
  ring.readMultishot(tap, 0, 1);
  for (;;) {
    ring.submitAndWait(1, frames < expect ? 20 : 0);
    const n = ring.cqReady();
    if (n === 0) break;
    for (let i = 0; i < n; i++) {
      const flags = ring.cqeFlags(i);
      if (flags & IORING_CQE_F_BUFFER) {
        frames++;
        bufs.recycle(flags >>> 16);
      }
      if (!(flags & IORING_CQE_F_MORE)) {
        rearms++;
        ring.readMultishot(tap, 0, 1);
      }
    }
    ring.advance(n);
    bufs.commit();
    last = process.hrtime.bigint();
  }
  // leave it disarmed for the next round
  ring.cancel(1, 2);
  ring.submitAndWait(1, 100);
  for (let n = ring.cqReady(); n > 0; n = ring.cqReady()) {
    for (let i = 0; i < n; i++) if (ring.cqeFlags(i) & IORING_CQE_F_BUFFER) bufs.recycle(ring.cqeFlags(i) >>> 16);
    ring.advance(n);
    bufs.commit();
    ring.submitAndWait(0, -1);
  }
  return { ns: Number(last - t) / frames, frames, rearms };
}

{
  const runs: number[] = [];
  fill(QUEUE);
  drainSyscall(QUEUE);
  for (let r = 0; r < ROUNDS * 4; r++) {
    const sent = fill(QUEUE);
    const { ns, frames } = drainSyscall(sent);
    if (frames !== sent) throw new Error(`read(2) drain: ${frames} of ${sent} frames`);
    runs.push(ns);
  }
  report('read_drain_syscall', 'read, drain: epoll_wait + koffi read(2) per frame', median(runs));
}
const rslab = Buffer.alloc(BUFS * 2048);
for (const mode of ['defer', 'cooperative', 'interrupt'] as TaskRunMode[]) {
  const ring = IoUring.open(64, { taskRun: mode, cqEntries: 2 * BUFS });
  const bufs = ring.registerBufferRing(0, rslab, 0, 2048, 2048, BUFS);
  const runs: number[] = [];
  let rearms = 0;
  fill(QUEUE);
  drainUring(ring, bufs, QUEUE);
  for (let r = 0; r < ROUNDS * 4; r++) {
    const sent = fill(QUEUE);
    const d = drainUring(ring, bufs, sent);
    if (d.frames !== sent) throw new Error(`multishot drain (${mode}): ${d.frames} of ${sent} frames`);
    runs.push(d.ns);
    rearms += d.rearms;
  }
  report(`read_drain_uring_${mode}`, `read, drain: multishot read, ${mode}`, median(runs), 'ns/frame', rearms ? `(${rearms} re-arms)` : '');
  ring.close();
}

// ---- reads, live -------------------------------------------------------------------------------

function tapDropped(): number {
  const j = JSON.parse(sh('ip', '-n', NS, '-s', '-j', 'link', 'show', 'dev', 'eth0')) as { stats64: { tx: { dropped: number } } }[];
  return j[0]!.stats64.tx.dropped;
}

interface Live {
  frames: number;
  cpuNs: number;
  rearms: number;
  dropped: number;
}

function live(name: string, key: string, body: (deadline: number) => { frames: number; rearms: number; ends?: string }): void {
  const d0 = tapDropped();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const { frames, rearms, ends } = body(t0 + 1000);
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const out: Live = { frames, cpuNs: ((c.user + c.system) * 1000) / frames, rearms, dropped: tapDropped() - d0 };
  results[`${key}_fps`] = Math.round((frames * 1000) / wall);
  results[`${key}_dropped`] = out.dropped;
  report(key, `read, live: ${name}`, out.cpuNs, 'CPU ns/frame', `${Math.round((frames * 1000) / wall)} frames/s, TAP dropped ${out.dropped}, re-arms ${rearms}${ends ? ` (${ends})` : ''}`);
}

if (LIVE && existsSync('/usr/sbin/hping3')) {
  sh('ip', '-n', NS, 'addr', 'add', '10.97.0.2/24', 'dev', 'eth0');
  sh('ip', '-n', NS, 'neigh', 'add', '10.97.0.1', 'lladdr', '02:00:00:00:00:01', 'dev', 'eth0');
  const gen = spawn('ip', ['netns', 'exec', NS, 'hping3', '--flood', '-2', '-q', '-d', '22', '-p', '9', '10.97.0.1'], { stdio: 'ignore' });
  children.push(gen);
  await new Promise((r) => setTimeout(r, 300));

  live('epoll_wait + read(2) per frame', 'read_live_syscall', (deadline) => {
    let frames = 0;
    while (performance.now() < deadline) {
      if (epoll.wait(10) === 0) continue;
      for (let k = 0; k < BATCH; k++) {
        if (readFrame(tap, rbuf, 2048) <= 0) break;
        frames++;
      }
    }
    while (readFrame(tap, rbuf, 2048) > 0);
    return { frames, rearms: 0 };
  });

  for (const [mode, spin] of [
    ['defer', false],
    ['interrupt', false],
    ['interrupt', true],
  ] as [TaskRunMode, boolean][]) {
    const ring = IoUring.open(64, { taskRun: mode, cqEntries: 2 * BUFS });
    const bufs = ring.registerBufferRing(0, rslab, 0, 2048, 2048, BUFS);
    live(`multishot, ${mode}, ${spin ? 'spinning on the CQ ring, no syscall (a whole core)' : 'submitAndWait'}`, `read_live_uring_${mode}${spin ? '_spin' : ''}`, (deadline) => {
      let frames = 0;
      let rearms = 0;
      const ends = new Map<number, number>();
      ring.readMultishot(tap, 0, 1);
      ring.submit();
      while (performance.now() < deadline) {
        if (!spin || ring.sqPending() > 0) ring.submitAndWait(1, 10);
        const n = ring.cqReady();
        for (let i = 0; i < n; i++) {
          const flags = ring.cqeFlags(i);
          if (flags & IORING_CQE_F_BUFFER) {
            frames++;
            bufs.recycle(flags >>> 16);
          }
          if (!(flags & IORING_CQE_F_MORE)) {
            rearms++;
            const res = ring.cqeRes(i);
            ends.set(res, (ends.get(res) ?? 0) + 1);
            ring.readMultishot(tap, 0, 1);
          }
        }
        if (n) {
          ring.advance(n);
          bufs.commit();
        }
      }
      return { frames, rearms, ends: [...ends].map(([res, k]) => `${k}× res ${res}`).join(', ') };
    });
    ring.close();
    while (readFrame(tap, rbuf, 2048) > 0);
  }
  gen.kill('SIGKILL');
} else if (LIVE && !JSON_OUT) {
  console.log('read, live: skipped (hping3 not installed)');
}

epoll.close();
if (JSON_OUT) console.log(JSON.stringify({ frames: FRAMES, rounds: ROUNDS, ...results }));

