/**
 * IPv6 offloads end to end (issue 13): two namespaces on one dual-stack network, their TAPs with
 * checksum offload and TSO6 on (the kernel hands pontoon TCP/IPv6 super segments), carry a TCP
 * flow over IPv6 (iperf3 -6) in both directions and a short UDP flow (iperf3 -6 -u); the data
 * arrives and the data plane counts no malformed or oversize drop.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Daemon, cleanupAll, createNetns, hostAddr, nsExec, pickHostLink, pickSubnets, randomHex, startDaemon, waitFor } from './harness.js';
import { needs, root, tools } from './requirements.js';

const RUN = randomHex(3);
const C1 = `pte6o-${RUN}-c1`;
const C2 = `pte6o-${RUN}-c2`;
const group = () => (0x8000 | parseInt(randomHex(2), 16)).toString(16);
const PREFIX = `fd${randomHex(1)}:${group()}:${group()}:11`;
const V6 = `${PREFIX}::/64`;

interface IperfTcp {
  error?: string;
  end: { sum_received?: { bytes: number }; sum_sent?: { bytes: number; retransmits?: number } };
}
interface IperfUdp {
  error?: string;
  end: { sum?: { bytes: number; packets: number; lost_packets: number } };
}

needs(root, tools('ip', 'iperf3', 'ss', 'timeout', 'ethtool')).describe('IPv6 offloads (e2e)', () => {
  let d: Daemon;

  beforeAll(async () => {
    const [S0] = (await pickSubnets(['10.215'], 1)) as [string];
    const link = await pickHostLink();
    d = await startDaemon({
      hostAddress: link.hostCidr,
      defaultNetwork: { name: 'bridge', subnet: S0, gateway: hostAddr(S0, 1) },
      set: { 'defaultNetwork.ipv6': true, 'defaultNetwork.fixedCidrV6': V6 },
    });
    for (const n of [C1, C2]) {
      await createNetns(n);
      await d.cliOk(['network', 'connect', 'bridge', n]);
    }
  });

  afterAll(async () => {
    const problems = await cleanupAll();
    if (problems.length > 0) console.warn(`cleanup problems:\n${problems.join('\n')}`);
  });

  const bad = async () => {
    const drops = await d.drops();
    return (drops.malformed ?? 0) + (drops.oversize ?? 0);
  };

  it('the TAPs in the namespaces offer TSO for IPv6 and partial checksums', async () => {
    for (const n of [C1, C2]) {
      const k = await nsExec(n, ['ethtool', '-k', 'eth0'], { timeoutMs: 5000 });
      expect(k.code, k.stderr).toBe(0);
      expect(k.stdout).toMatch(/^tcp-segmentation-offload: on$/m);
      expect(k.stdout).toMatch(/^\s+tx-tcp6-segmentation: on$/m);
      expect(k.stdout).toMatch(/^tx-checksumming: on$/m);
    }
  });

  it('TCP over IPv6 between the namespaces, both directions (iperf3 -6 -t 3): the data arrives, no malformed or oversize drop', async () => {
    for (const reverse of [false, true]) {
      const server = nsExec(C2, ['timeout', '20', 'iperf3', '-s', '-1', '-B', `${PREFIX}::3`], { timeoutMs: 25_000 });
      await waitFor(async () => (await nsExec(C2, ['ss', '-ltn'])).stdout.includes(':5201'), 5000, 100);
      const before = await bad();
      const r = await nsExec(C1, ['iperf3', '-6', '-c', `${PREFIX}::3`, '-t', '3', '--connect-timeout', '3000', '-J', ...(reverse ? ['-R'] : [])], {
        timeoutMs: 20_000,
      });
      await server;
      const j = JSON.parse(r.stdout) as IperfTcp;
      const what = `${reverse ? 'c2 to c1' : 'c1 to c2'}: ${JSON.stringify(await d.drops())}\n${d.logTail(10)}`;
      expect(j.error, what).toBeUndefined();
      expect(j.end.sum_received!.bytes, what).toBeGreaterThan(1_000_000);
      expect((await bad()) - before, what).toBe(0);
    }
  });

  it('UDP over IPv6 between the namespaces (iperf3 -6 -u, 2 s at 20 Mbit/s): the datagrams arrive, no malformed or oversize drop', async () => {
    const server = nsExec(C2, ['timeout', '20', 'iperf3', '-s', '-1', '-B', `${PREFIX}::3`], { timeoutMs: 25_000 });
    await waitFor(async () => (await nsExec(C2, ['ss', '-ltn'])).stdout.includes(':5201'), 5000, 100);
    const before = await bad();
    const r = await nsExec(C1, ['iperf3', '-6', '-u', '-c', `${PREFIX}::3`, '-b', '20M', '-l', '1200', '-t', '2', '--connect-timeout', '3000', '-J'], {
      timeoutMs: 20_000,
    });
    await server;
    const j = JSON.parse(r.stdout) as IperfUdp;
    const what = `${JSON.stringify(await d.drops())}\n${d.logTail(10)}`;
    expect(j.error, what).toBeUndefined();
    const sum = j.end.sum!;
    expect(sum.packets, what).toBeGreaterThan(1000);
    // the shared machine may lose some under load; most arrive
    expect(sum.lost_packets, what).toBeLessThan(sum.packets / 2);
    expect((await bad()) - before, what).toBe(0);
  });
});
