/**
 * IPv6 inside a VXLAN overlay end to end: two "hosts" (namespaces with their own daemon) on an
 * underlay bridge, etcd as the cluster store (overlay-world.ts), a dual-stack overlay network
 * created on host A and adopted by B, a container on each; ping -6 between them by IPv6 address,
 * and the neighbour entry the container on A gets for the one on B (its MAC; that the gateway,
 * not B, answered is checked by the unit test of ndp-proxy); iperf3 -6 TCP, 2 s. Needs root, etcd, ip, ping, iperf3.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cidrsOverlap, cleanupAll, nsExec, nsExecOk, pickSubnets, randomHex, waitFor } from './harness.js';
import { cleanupNatWorlds, parseIperf, startBackground } from './nat-world.js';
import { ETCD_BIN, type OverlayContainer, type OverlayHost, type OverlayWorld, buildOverlayWorld, cleanupOverlayWorlds, inspectOverlay } from './overlay-world.js';
import { etcdServer, needs, root, tools } from './requirements.js';

needs([root, ...tools('ip', 'ping', 'iperf3', 'ss', 'timeout')], etcdServer(ETCD_BIN), tools('setpriv')).describe('IPv6 inside overlay networks', () => {
  let w: OverlayWorld;
  let A: OverlayHost;
  let B: OverlayHost;
  const NET = `ov6-${randomHex(3)}`;
  const SUBNET6 = 'fd00:3694:1748::/64';
  let subnet = '';
  const logs = () => `--- host A:\n${A?.daemon.logTail(25)}\n--- host B:\n${B?.daemon.logTail(25)}`;

  beforeAll(async () => {
    w = await buildOverlayWorld({ store: 'etcd', leaseTtlSeconds: 3 });
    A = await w.addHost('a');
    B = await w.addHost('b');
    subnet = (await pickSubnets(['10.212', '172.28'], 1))[0]!;
    if (cidrsOverlap(subnet, w.subnet)) throw new Error(`overlay subnet ${subnet} overlaps the underlay ${w.subnet}`);
  }, 90_000);

  afterAll(async () => {
    await cleanupOverlayWorlds();
    const problems = [...(await cleanupNatWorlds()), ...(await cleanupAll())];
    expect(problems).toEqual([]);
  }, 60_000);

  const global6 = async (c: OverlayContainer): Promise<string> => {
    const out = (await nsExecOk(c.ns, ['ip', '-j', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'])).stdout;
    const info = (JSON.parse(out) as { addr_info: { local: string }[] }[])[0]?.addr_info ?? [];
    return info.find((a) => a.local.startsWith(SUBNET6.split('::')[0]!))?.local ?? '';
  };

  it("containers on two hosts get distinct IPv6 addresses of the network and ping -6 each other both ways; the container learns the remote one's MAC; iperf3 -6 crosses", async () => {
    await A.daemon.cliOk(['network', 'create', '--driver', 'overlay', '--ipv6', '--subnet', subnet, '--subnet', SUBNET6, NET]);
    const appeared = await waitFor(async () => (await B.daemon.cli(['network', 'ls', '--format', 'json'])).stdout.includes(`"${NET}"`), 10_000, 200);
    expect(appeared, logs()).toBe(true);
    expect((await inspectOverlay(B.daemon, NET)).IPAM.Config[1]).toMatchObject({ Subnet: SUBNET6 });

    const ca = await w.connect(A, 'ca6', NET);
    const cb = await w.connect(B, 'cb6', NET);
    const a6 = await global6(ca);
    const b6 = await global6(cb);
    expect(a6).not.toBe('');
    expect(b6).not.toBe('');
    expect(a6).not.toBe(b6);
    const known = await waitFor(async () => Object.values((await inspectOverlay(A.daemon, NET)).RemoteContainers ?? {}).some((e) => e.MacAddress === cb.mac), 10_000, 200);
    expect(known, logs()).toBe(true);

    const ping = await nsExecOk(ca.ns, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', b6]);
    expect(ping.stdout).toContain('3 packets transmitted, 3 received');
    const back = await nsExecOk(cb.ns, ['ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', a6]);
    expect(back.stdout).toContain('2 packets transmitted, 2 received');
    const neigh = (await nsExecOk(ca.ns, ['ip', '-6', 'neigh', 'show', b6, 'dev', 'eth0'])).stdout;
    expect(neigh).toContain(`lladdr ${cb.mac}`);

    // iperf3 -6 TCP, 2 s, bounded
    const server = startBackground(cb.ns, ['iperf3', '-6', '-s', '-1', '-B', b6, '-p', '5201'], 30);
    try {
      const listening = await waitFor(async () => /:5201\b/.test((await nsExec(cb.ns, ['ss', '-Hltn'])).stdout), 10_000, 100);
      expect(listening, server.stderr()).toBe(true);
      const r = await nsExec(ca.ns, ['timeout', '-s', 'KILL', '20', 'iperf3', '-6', '-c', b6, '-p', '5201', '-t', '2', '-J', '--connect-timeout', '3000'], { timeoutMs: 25_000 });
      const res = parseIperf(r.stdout);
      expect(res.error, r.stdout.slice(0, 2000)).toBeUndefined();
      const received = res.end?.sum_received?.bytes ?? 0;
      expect(received, `iperf3 -6 moved ${received} bytes\n${logs()}`).toBeGreaterThan(1_000_000);
      console.log(`iperf3 -6 across the overlay: ${((received * 8) / 2 / 1e6).toFixed(0)} Mbit/s`);
    } finally {
      await server.stop();
    }
  }, 90_000);
});
