/**
 * The data plane's device I/O backend as a user sees it: io_uring where the kernel allows it, with
 * `pontoon status` and /metrics saying so; under a seccomp profile that refuses io_uring (as a
 * container runtime's default one does) the daemon falls back to read/write, says why, and
 * forwards all the same; asked for io_uring explicitly and refused, it stops with one line.
 * The rest of the end-to-end suites run on both backends (PONTOON_TEST_IO). Needs root.
 */
import { afterAll, expect, it } from 'vitest';
import { SYS_io_uring_setup } from '../../src/ports/sys/io-uring-abi.js';
import { IoUring } from '../../src/ports/sys/io-uring.js';
import { Errno } from '../../src/ports/sys/libc.js';
import { type Daemon, cleanupAll, createNetns, parseMetrics, pickSubnets, ping, randomHex, seccompDenying, startDaemon } from './harness.js';
import { kernelCapability, needs, root, tools } from './requirements.js';

const uring = IoUring.probe();
const uringRefused = kernelCapability(uring.ok ? null : `io_uring refused (${uring.reason})`);

/** A daemon with a network and two containers on it; returns their names and the status text. */
async function twoContainers(opts: Parameters<typeof startDaemon>[0]): Promise<{ d: Daemon; a: string; b: string; bIp: string; status: string }> {
  const d = await startDaemon(opts);
  const subnet = (await pickSubnets(['10.217', '10.218'], 1))[0]!;
  await d.cliOk(['network', 'create', '--subnet', subnet, 'io']);
  const hex = randomHex(2);
  const a = await createNetns(`pti-${hex}-a`);
  const b = await createNetns(`pti-${hex}-b`);
  await d.cliOk(['network', 'connect', 'io', a]);
  const bIp = subnet.replace(/\.0\/\d+$/, '.3');
  await d.cliOk(['network', 'connect', '--ip', bIp, 'io', b]);
  const status = (await d.cliOk(['status'])).stdout;
  return { d, a, b, bIp, status };
}

needs(root, tools('ip', 'ping', 'python3')).describe('device I/O backends', () => {
  afterAll(async () => {
    expect(await cleanupAll()).toEqual([]);
  }, 30_000);

  needs(uringRefused).it('by default the data plane uses io_uring, and status and /metrics say so', async () => {
    const { d, a, bIp, status } = await twoContainers({ extra: { dataplane: { io: 'auto' } } });
    try {
      expect(status).toMatch(/^I\/O: io_uring, busy poll 50 us$/m);
      const m = parseMetrics(await d.metrics());
      expect(m.get('pontoon_dataplane_io_backend{backend="io_uring"}')).toBe(1);
      expect(m.get('pontoon_dataplane_io_backend{backend="read_write"}')).toBe(0);
      const r = await ping(a, bIp, { count: 20, intervalS: 0.01 });
      expect(r.received, r.stdout).toBe(20);
    } finally {
      await d.stop();
    }
  });

  it('refused by seccomp, the daemon falls back to read/write, says why, and forwards', async () => {
    const { d, a, bIp, status } = await twoContainers({
      wrapper: seccompDenying(SYS_io_uring_setup, Errno.EPERM),
      extra: { dataplane: { io: 'auto' } },
    });
    try {
      expect(status).toMatch(/^I\/O: read\/write \(io_uring_setup: Operation not permitted \(EPERM\): refused by a seccomp filter.*\), busy poll 50 us$/m);
      expect(d.logTail(50)).toMatch(/io_uring unavailable: frames move with read\(2\)\/write\(2\)/);
      const m = parseMetrics(await d.metrics());
      expect(m.get('pontoon_dataplane_io_backend{backend="read_write"}')).toBe(1);
      const r = await ping(a, bIp, { count: 20, intervalS: 0.01 });
      expect(r.received, r.stdout).toBe(20);
    } finally {
      await d.stop();
    }
  });

  it('dataplane.io: io_uring, refused: the daemon stops with one line naming the reason', async () => {
    await expect(
      startDaemon({ wrapper: seccompDenying(SYS_io_uring_setup, Errno.ENOSYS), extra: { dataplane: { io: 'io_uring' } }, readyTimeoutMs: 15_000 }),
    ).rejects.toThrow(/dataplane\.io is io_uring, but io_uring_setup: Function not implemented \(ENOSYS\)/);
  });

  it('dataplane.io: read-write is obeyed, with no reason to give', async () => {
    const { d, status } = await twoContainers({ extra: { dataplane: { io: 'read-write' } } });
    try {
      expect(status).toMatch(/^I\/O: read\/write, busy poll 50 us$/m);
    } finally {
      await d.stop();
    }
  });
});
