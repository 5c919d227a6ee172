/**
 * `pontoon peer add|rm|ls`: a Linux kernel VXLAN device (vx0 in namespace K, with a container KC
 * behind it on a bridge) registered as a foreign VTEP of an overlay network that two pontoon hosts
 * share through etcd. Before `peer add` its datagrams are dropped (unknown VTEP); after it KC and
 * the containers behind pontoon ping each other on both hosts; after `peer rm` they stop. With
 * `--ip ADDR=MAC` pontoon answers ARP for the address itself. See overlay-world.ts for the topology.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { cidrsOverlap, cleanupAll, createNetns, hostAddr, nsExec, nsNeigh, parseMetrics, pickSubnets, ping, randomHex, waitFor } from './harness.js';
import { cleanupNatWorlds } from './nat-world.js';
import {
  ETCD_BIN,
  type KernelPeer,
  type OverlayContainer,
  type OverlayHost,
  type OverlayWorld,
  buildOverlayWorld,
  cleanupOverlayWorlds,
  inspectOverlay,
} from './overlay-world.js';
import { etcdServer, needs, root, tools } from './requirements.js';

interface PeerJson {
  Network: string;
  NetworkID: string;
  VTEP: string;
  Addresses: { IP: string; MacAddress: string }[];
  Created: string;
}

const suite = needs(root, tools('ip', 'ping', 'ethtool', 'timeout'), etcdServer(ETCD_BIN));

suite.describe('pontoon peer: a Linux VXLAN device as a foreign VTEP', () => {
  let w: OverlayWorld;
  let A: OverlayHost;
  let B: OverlayHost;
  let K: KernelPeer;
  let ca: OverlayContainer;
  let cb: OverlayContainer;
  const NET = `ov-${randomHex(3)}`;
  const VNI = 5000 + (parseInt(randomHex(2), 16) % 50_000);
  let subnet = '';
  let kcIp = '';

  const logs = () => `--- host A:\n${A?.daemon.logTail(25)}\n--- host B:\n${B?.daemon.logTail(25)}`;

  const unknownVtepDrops = async (h: OverlayHost): Promise<number> =>
    parseMetrics(await h.daemon.metrics()).get('pontoon_drops_total{reason="vxlan_unknown_vtep"}') ?? 0;

  /** whether both hosts list K among the network's peers */
  const peeredOnBoth = async (): Promise<boolean> => {
    for (const h of [A, B]) if (!((await inspectOverlay(h.daemon, NET)).Peers ?? []).some((p) => p.IP === K.ip)) return false;
    return true;
  };
  const goneFromBoth = async (): Promise<boolean> => {
    for (const h of [A, B]) if (((await inspectOverlay(h.daemon, NET)).Peers ?? []).some((p) => p.IP === K.ip)) return false;
    return true;
  };

  beforeAll(async () => {
    w = await buildOverlayWorld({ store: 'etcd', leaseTtlSeconds: 3 });
    A = await w.addHost('a');
    B = await w.addHost('b');
    subnet = (await pickSubnets(['10.212', '172.28'], 1))[0]!;
    if (cidrsOverlap(subnet, w.subnet)) throw new Error(`overlay subnet ${subnet} overlaps the underlay ${w.subnet}`);
    // containers get .128-.191; .200 is the address behind the foreign VTEP
    await A.daemon.cliOk(['network', 'create', '-d', 'overlay', '--subnet', subnet, '--ip-range', `${hostAddr(subnet, 128)}/26`, '--vni', String(VNI), NET]);
    expect(await waitFor(async () => (await B.daemon.cli(['network', 'inspect', NET])).code === 0, 10_000, 200)).toBe(true);
    ca = await w.connect(A, 'ca', NET);
    cb = await w.connect(B, 'cb', NET);
    kcIp = hostAddr(subnet, 200);
    K = await w.addKernelPeer(VNI, `${kcIp}/24`, [A.ip, B.ip]);
  }, 120_000);

  afterAll(async () => {
    await cleanupOverlayWorlds();
    await cleanupNatWorlds();
    await cleanupAll();
  });

  suite.it('before peer add, the kernel VTEP is unknown: its datagrams are dropped and counted', async () => {
    const before = await unknownVtepDrops(A);
    const out = await ping(K.container.ns, ca.ip, { count: 2, intervalS: 0.2, waitS: 1 });
    expect(out.lossPercent).toBe(100);
    expect(await unknownVtepDrops(A)).toBeGreaterThan(before);
    expect((await A.daemon.cliOk(['peer', 'ls', NET])).stdout).toBe('NETWORK   VTEP      ADDRESSES\n');
  });

  suite.it('peer add makes it a peer on every host: its container and pontoon\'s ping each other, its MAC is learned', async () => {
    expect((await A.daemon.cliOk(['peer', 'add', NET, K.ip, '--ip', kcIp])).stdout).toBe(`${K.ip}\n`);
    expect(await waitFor(peeredOnBoth, 10_000, 200), logs()).toBe(true);

    const table = (await B.daemon.cliOk(['peer', 'ls', NET])).stdout.split('\n');
    expect(table[0]).toMatch(/^NETWORK\s+VTEP\s+ADDRESSES$/);
    expect(table[1]!.split(/\s+/)).toEqual([NET, K.ip, kcIp]);
    const json = (await A.daemon.cliOk(['peer', 'ls', '--format', 'json'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as PeerJson);
    expect(json).toEqual([{ Network: NET, NetworkID: expect.stringMatching(/^[0-9a-f]{64}$/), VTEP: K.ip, Addresses: [{ IP: kcIp, MacAddress: '' }], Created: expect.any(String) }]);

    for (const c of [ca, cb]) {
      const out = await ping(K.container.ns, c.ip, { count: 3, intervalS: 0.2, waitS: 2 });
      expect(out.lossPercent, `KC → ${c.ip}: ${out.stdout}\n${logs()}`).toBe(0);
      const back = await ping(c.ns, kcIp, { count: 3, intervalS: 0.2, waitS: 2 });
      expect(back.lossPercent, `${c.ip} → KC: ${back.stdout}`).toBe(0);
      expect((await nsNeigh(c.ns, kcIp))[0]?.lladdr).toBe(K.container.mac);
    }
    expect((await A.daemon.status()).fdb.filter((f) => f.network === NET).map((f) => f.mac)).toContain(K.container.mac);

    // the address is claimed on the network: no container gets it
    const taken = await B.daemon.cli(['network', 'connect', '--ip', kcIp, NET, await createNetns(`${w.prefix}-cx`)]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(new RegExp(`^Error: address ${kcIp.replace(/\./g, '\\.')} is already in use`));
  });

  suite.it('peer add refuses a VTEP twice, the host\'s own VTEP and an address outside the subnet, with one line', async () => {
    const twice = await B.daemon.cli(['peer', 'add', NET, K.ip]);
    expect(twice.stderr).toBe(`Error: VTEP ${K.ip} is already a member of network ${NET}\n`);
    const own = await A.daemon.cli(['peer', 'add', NET, A.ip]);
    expect(own.stderr).toBe(`Error: VTEP ${A.ip} is this host's own (cluster.advertise)\n`);
    const other = await A.daemon.cli(['peer', 'add', NET, B.ip]);
    expect(other.stderr).toBe(`Error: VTEP ${B.ip} is already a member of network ${NET}\n`);
    const outside = await A.daemon.cli(['peer', 'add', NET, '192.0.2.77', '--ip', '192.0.2.78']);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toMatch(/^Error: address 192\.0\.2\.78 is not in subnet /);
    expect((await A.daemon.cliOk(['peer', 'ls', NET])).stdout.split('\n').filter((l) => l !== '')).toHaveLength(2);
  });

  suite.it('peer rm stops it on every host: no ping either way, datagrams dropped again', async () => {
    expect((await B.daemon.cliOk(['peer', 'rm', NET, K.ip])).stdout).toBe(`${K.ip}\n`);
    expect(await waitFor(goneFromBoth, 10_000, 200), logs()).toBe(true);
    const before = await unknownVtepDrops(A);
    expect((await ping(K.container.ns, ca.ip, { count: 2, intervalS: 0.2, waitS: 1 })).lossPercent).toBe(100);
    expect((await ping(cb.ns, kcIp, { count: 2, intervalS: 0.2, waitS: 1 })).lossPercent).toBe(100);
    expect(await unknownVtepDrops(A)).toBeGreaterThan(before);
    expect((await A.daemon.cliOk(['peer', 'ls', NET])).stdout).toBe('NETWORK   VTEP      ADDRESSES\n');
    const again = await A.daemon.cli(['peer', 'rm', NET, K.ip]);
    expect(again.stderr).toBe(`Error: VTEP ${K.ip} is not a foreign peer of network ${NET}\n`);
  });

  suite.it('with --ip ADDR=MAC pontoon answers ARP for the address itself (a remote endpoint), unicast to the VTEP', async () => {
    // a MAC that is not KC's: only pontoon can have answered with it
    const registered = '02:00:5e:10:20:30';
    await A.daemon.cliOk(['peer', 'add', NET, K.ip, '--ip', `${kcIp}=${registered}`]);
    expect(await waitFor(peeredOnBoth, 10_000, 200), logs()).toBe(true);
    expect(
      await waitFor(async () => Object.values((await inspectOverlay(B.daemon, NET)).RemoteContainers ?? {}).some((r) => r.IPv4Address.startsWith(`${kcIp}/`) && r.MacAddress === registered), 10_000, 200),
    ).toBe(true);
    await nsExec(cb.ns, ['ip', 'neigh', 'flush', 'all']);
    await ping(cb.ns, kcIp, { count: 1, waitS: 1 });
    expect((await nsNeigh(cb.ns, kcIp))[0]?.lladdr).toBe(registered);
    expect((await A.daemon.cliOk(['peer', 'ls', NET])).stdout.split('\n')[1]!.split(/\s+/)).toEqual([NET, K.ip, `${kcIp}=${registered}`]);

    // with its real MAC, the container behind the kernel VTEP is reached without a flooded ARP request
    await A.daemon.cliOk(['peer', 'rm', NET, K.ip]);
    expect(await waitFor(goneFromBoth, 10_000, 200)).toBe(true);
    await A.daemon.cliOk(['peer', 'add', NET, K.ip, '--ip', `${kcIp}=${K.container.mac}`]);
    expect(await waitFor(peeredOnBoth, 10_000, 200)).toBe(true);
    await nsExec(ca.ns, ['ip', 'neigh', 'flush', 'all']);
    const out = await ping(ca.ns, kcIp, { count: 3, intervalS: 0.2, waitS: 2 });
    expect(out.lossPercent, `${ca.ip} → KC: ${out.stdout}\n${logs()}`).toBe(0);
    await A.daemon.cliOk(['peer', 'rm', NET, K.ip]);
    expect(await waitFor(goneFromBoth, 10_000, 200)).toBe(true);
  });
});
