/**
 * Routed overlay networks end to end (issue 15, flannel's model): three "hosts" (namespaces, each
 * with its own pontoon daemon) on an underlay bridge, etcd as the store. Each host leases a
 * subnet of the cluster's range and routes to the others' over VXLAN; a Linux host set up by hand
 * exactly as flannel's vxlan backend sets one up (flannel.1, a /32 on it, onlink routes via the
 * peers' VTEP addresses, permanent neighbours and fdb entries) exchanges traffic with them. Checked
 * as a user sees it: the CLI, etcd's keys, ping, iperf3, tshark inside the containers.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cleanupAll, createNetns, nsExec, nsExecOk, parseMetrics, ping, randomHex, runOk, startCapture, tsharkFields, waitFor } from './harness.js';
import { cleanupNatWorlds, parseIperf, startBackground } from './nat-world.js';
import {
  ETCD_BIN,
  type OverlayContainer,
  type OverlayHost,
  type OverlayWorld,
  buildOverlayWorld,
  captureFile,
  cleanupOverlayWorlds,
  flannelLease,
  flannelRoute,
  readCapture,
} from './overlay-world.js';
import { etcdServer, needs, root, tools } from './requirements.js';

const LEASE_TTL = 4;
/** host A's uplink to an "outside" namespace (TEST-NET-2) */
const UPLINK_IP = '198.51.100.2';
const OUTSIDE_IP = '198.51.100.1';
/** flannel's vxlan backend's port (the kernel's default for VXLAN, not IANA's 4789): every host of this world uses it */
const FLANNEL_PORT = 8472;

interface HostSubnet {
  Subnet: string;
  Host: string;
  VtepMAC: string;
  Local: boolean;
}

async function hostSubnets(h: OverlayHost, net: string): Promise<HostSubnet[]> {
  const r = (await h.daemon.inspect(net)) as unknown as { HostSubnets?: HostSubnet[] };
  return r.HostSubnets ?? [];
}

/** "10.213.2.0/24" → "10.213.2.0" (the host's address on the range), "10.213.2.1" (the gateway) */
const at = (subnet: string, n: number) => {
  const [a, b, c] = subnet.split('/')[0]!.split('.');
  return `${a}.${b}.${c}.${n}`;
};

needs([root, ...tools('ip', 'ping', 'tshark', 'iperf3', 'ethtool', 'ss', 'timeout', 'bridge')], etcdServer(ETCD_BIN), tools('setpriv')).describe('routed overlay networks (a subnet per host, flannel-compatible)', () => {
  let w: OverlayWorld;
  let A: OverlayHost;
  let B: OverlayHost;
  let C: OverlayHost;
  let ca: OverlayContainer;
  let cb: OverlayContainer;
  let cc: OverlayContainer;
  const NET = `flat-${randomHex(3)}`;
  const CLUSTER = `10.${210 + (parseInt(randomHex(1), 16) % 30)}.0.0/16`;
  let FLANNEL = '';
  const hex = randomHex(3);
  const outside = `pte-${hex}-rout`;
  const uplinkDevice = `pt${hex}ru`;
  const logs = () => [A, B, C].filter((h) => h !== undefined).map((h) => `--- ${h.name}\n${h.daemon.logTail(15)}`).join('\n');

  beforeAll(async () => {
    w = await buildOverlayWorld({ store: 'etcd', leaseTtlSeconds: LEASE_TTL, vxlanPort: FLANNEL_PORT });
    FLANNEL = `${w.etcdPrefix}-flannel`;
    // host A has an uplink to the "outside" namespace (its TAP made there by the daemon)
    await createNetns(outside);
    A = await w.addHost('a', { set: { uplink: { kind: 'tap', device: uplinkDevice, address: `${UPLINK_IP}/24`, gateway: OUTSIDE_IP, netns: outside } } });
    await runOk(['ip', '-n', outside, 'addr', 'add', `${OUTSIDE_IP}/24`, 'dev', uplinkDevice]);
    await runOk(['ip', '-n', outside, 'link', 'set', uplinkDevice, 'up']);
    B = await w.addHost('b');
    C = await w.addHost('c');
  }, 120_000);

  afterAll(async () => {
    await cleanupOverlayWorlds();
    await cleanupNatWorlds();
    expect(await cleanupAll()).toEqual([]);
  }, 60_000);

  it('refuses what a routed overlay cannot have, with one line each and nothing created', async () => {
    const create = (extra: string[]) => A.daemon.cli(['network', 'create', '-d', 'overlay', '--mode', 'routed', ...extra, `bad-${randomHex(2)}`]);
    const cases: [string[], RegExp][] = [
      [[], /needs its cluster range \(--subnet/],
      [['--subnet', CLUSTER, '--ipv6'], /routed overlay networks are IPv4 only/],
      [['--subnet', CLUSTER, '--gateway', at(CLUSTER, 1)], /--gateway, --ip-range and --aux-address do not apply/],
      [['--subnet', CLUSTER, '--host-subnet-size', '16'], /invalid --host-subnet-size 16/],
      [['--subnet', CLUSTER, '-o', 'pontoon.flannel_prefix=no-slash'], /invalid pontoon.flannel_prefix/],
    ];
    for (const [extra, message] of cases) {
      const r = await create(extra);
      expect(r.code, r.stdout).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    const bridge = await A.daemon.cli(['network', 'create', '--mode', 'routed', `bad-${randomHex(2)}`]);
    expect(bridge.stderr).toMatch(/are for overlay networks/);
    expect((await A.daemon.cliOk(['network', 'ls', '-q'])).stdout.trim()).toBe('');
  });

  it('each host leases its own subnet of the range (flannel schema in etcd), containers get addresses from it, inspect shows every host', async () => {
    await A.daemon.cliOk(['network', 'create', '-d', 'overlay', '--mode', 'routed', '--subnet', CLUSTER, '-o', `pontoon.flannel_prefix=${FLANNEL}`, NET]);
    for (const h of [B, C]) {
      const joined = await waitFor(async () => (await h.daemon.cli(['network', 'inspect', NET])).code === 0, 15_000, 200);
      expect(joined, logs()).toBe(true);
    }
    const all = await waitFor(async () => (await Promise.all([A, B, C].map((h) => hostSubnets(h, NET)))).every((s) => s.length === 3), 15_000, 200);
    expect(all, logs()).toBe(true);
    const seen = await hostSubnets(A, NET);
    expect(new Set(seen.map((s) => s.Subnet)).size).toBe(3);
    expect(seen.map((s) => s.Host).sort()).toEqual([A.ip, B.ip, C.ip].sort());
    expect(seen.filter((s) => s.Local).map((s) => s.Host)).toEqual([A.ip]);
    // flannel's schema: the config and one lease per host
    const keys = await w.etcd!.list(`${FLANNEL}/`);
    expect(JSON.parse(keys.get(`${FLANNEL}/config`)!)).toEqual({ Network: CLUSTER, SubnetLen: 24, Backend: { Type: 'vxlan', VNI: 1, Port: FLANNEL_PORT } });
    for (const s of seen) {
      const lease = JSON.parse(keys.get(`${FLANNEL}/subnets/${s.Subnet.replace('/', '-')}`)!) as Record<string, unknown>;
      expect(lease).toEqual({ PublicIP: s.Host, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: s.VtepMAC } });
    }
    expect(parseMetrics(await A.daemon.metrics()).get(`pontoon_overlay_host_subnets{vni="1",network="${NET}"}`)).toBe(3);
    // the first /24 of the range is left out, as flannel's SubnetMin
    expect(seen.map((s) => s.Subnet)).not.toContain(`${at(CLUSTER, 0)}/24`);

    ca = await w.connect(A, 'ca', NET);
    cb = await w.connect(B, 'cb', NET);
    cc = await w.connect(C, 'cc', NET);
    const subnetOf = (h: OverlayHost) => seen.find((s) => s.Host === h.ip)!.Subnet;
    for (const [c, h] of [[ca, A], [cb, B], [cc, C]] as const) {
      expect(at(subnetOf(h), Number(c.ip.split('.')[3]))).toBe(c.ip);
      expect(c.mtu).toBe(1450);
      // the default route is this host's gateway, the first address of its subnet
      const route = await nsExecOk(c.ns, ['ip', '-4', 'route', 'show', 'default']);
      expect(route.stdout).toContain(`via ${at(subnetOf(h), 1)}`);
    }
    // a second routed overlay on the same flannel prefix is refused
    const again = await B.daemon.cli(['network', 'create', '-d', 'overlay', '--mode', 'routed', '--subnet', '10.250.0.0/16', '--vni', '77', '-o', `pontoon.flannel_prefix=${FLANNEL}`, `dup-${randomHex(2)}`]);
    expect(again.stderr).toMatch(new RegExp(`the flannel prefix ${FLANNEL} is used by network ${NET}`));
  }, 90_000);

  it('routes across hosts without NAT: ping and iperf3, the source address unchanged at the other end (tshark in the container)', async () => {
    const file = captureFile('routed-icmp');
    const cap = await startCapture(cb.ns, 'eth0', file, 30);
    for (const [from, to] of [[ca, cb], [ca, cc], [cc, cb]] as const) {
      const r = await ping(from.ns, to.ip, { count: 3, waitS: 2 });
      expect(r.lossPercent, `${from.ns} -> ${to.ip}\n${r.stdout}${r.stderr}\n${logs()}`).toBe(0);
      // routed once on each host: TTL 64 - 2
      expect(r.replies[0]?.ttl).toBe(62);
    }
    await cap.stop();
    const requests = await readCapture(file, 'icmp.type == 8', ['ip.src', 'ip.dst', 'ip.ttl'], FLANNEL_PORT);
    expect(requests.map((f) => f[0]).sort()).toEqual([...Array(3).fill(ca.ip), ...Array(3).fill(cc.ip)].sort());
    expect(new Set(requests.map((f) => f[2]))).toEqual(new Set(['62']));
    // nothing is flooded or ARPed across hosts: no ARP inside any VXLAN datagram on the underlay
    const ulFile = captureFile('routed-underlay');
    const ulCap = await startCapture(w.ul, A.ulPort, ulFile, 30);
    await nsExec(ca.ns, ['ping', '-c', '1', '-W', '1', at(cb.ip, 77)]); // a host of B's subnet that is not there
    await ping(ca.ns, cb.ip, { count: 1, waitS: 2 });
    await ulCap.stop();
    expect(await readCapture(ulFile, 'vxlan && arp', ['arp.dst.proto_ipv4'], FLANNEL_PORT)).toEqual([]);
    // ip.dst: the outer address, then the inner one
    expect((await readCapture(ulFile, 'vxlan && icmp.type == 8', ['ip.dst'], FLANNEL_PORT)).map((f) => f[0]!.split(',')[1])).toContain(cb.ip);

    const server = startBackground(cb.ns, ['iperf3', '-s', '-1', '-B', cb.ip, '-p', '5201'], 40);
    try {
      const listening = await waitFor(async () => /:5201\b/.test((await nsExec(cb.ns, ['ss', '-Hltn'])).stdout), 10_000, 100);
      expect(listening, server.stderr()).toBe(true);
      const r = await nsExec(ca.ns, ['timeout', '-s', 'KILL', '25', 'iperf3', '-c', cb.ip, '-p', '5201', '-t', '3', '-J', '--connect-timeout', '3000'], { timeoutMs: 30_000 });
      const res = parseIperf(r.stdout);
      expect(res.error, r.stdout.slice(0, 2000)).toBeUndefined();
      expect(res.end?.sum_received?.bytes ?? 0).toBeGreaterThan(1_000_000);
      // the server saw the client's own address
      expect((await server.exited()).stdout).toContain(`Accepted connection from ${ca.ip}`);
    } finally {
      await server.stop();
    }
  }, 90_000);

  it("traffic leaving the cluster's range is masqueraded on the uplink (the container's address stays inside the range)", async () => {
    const file = captureFile('routed-uplink');
    const cap = await startCapture(outside, uplinkDevice, file, 30);
    const r = await ping(ca.ns, OUTSIDE_IP, { count: 3, waitS: 2 });
    await cap.stop();
    expect(r.lossPercent, `${r.stdout}${r.stderr}\n${logs()}`).toBe(0);
    const requests = await tsharkFields(file, 'icmp.type == 8', ['ip.src', 'ip.dst']);
    expect(requests).toEqual(Array(3).fill([UPLINK_IP, OUTSIDE_IP]));
  }, 60_000);

  it('the host reaches every container of the cluster through its TUN port, from its own address on the range, and back', async () => {
    const subnetA = (await hostSubnets(A, NET)).find((s) => s.Local)!.Subnet;
    const hostAddr = at(subnetA, 0);
    const route = await nsExecOk(A.ns, ['ip', '-4', 'route', 'show', CLUSTER]);
    expect(route.stdout).toContain(`src ${hostAddr}`);
    const file = captureFile('routed-host');
    const cap = await startCapture(cc.ns, 'eth0', file, 30);
    for (const c of [ca, cb, cc]) {
      const r = await ping(A.ns, c.ip, { count: 2, waitS: 2 });
      expect(r.lossPercent, `${c.ip}\n${r.stdout}${r.stderr}\n${logs()}`).toBe(0);
    }
    await cap.stop();
    expect((await readCapture(file, 'icmp.type == 8', ['ip.src'], FLANNEL_PORT)).map((f) => f[0])).toEqual([hostAddr, hostAddr]);
    // and a container reaches host A's address on the range
    const back = await ping(cb.ns, hostAddr, { count: 2, waitS: 2 });
    expect(back.lossPercent, logs()).toBe(0);
  }, 60_000);

  it('a restarted host keeps its subnet (its lease is not given up on stop) and its containers are reachable again', async () => {
    const before = (await hostSubnets(B, NET)).find((s) => s.Local)!;
    await B.daemon.restart();
    const up = await waitFor(async () => (await hostSubnets(B, NET)).some((s) => s.Local && s.Subnet === before.Subnet), 20_000, 200);
    expect(up, logs()).toBe(true);
    const ok = await waitFor(async () => (await ping(ca.ns, cb.ip, { count: 1, waitS: 1 })).lossPercent === 0, 20_000, 500);
    expect(ok, logs()).toBe(true);
    expect((await hostSubnets(A, NET)).find((s) => s.Host === B.ip)?.Subnet).toBe(before.Subnet);
  }, 60_000);

  it('a Linux host configured the way flannel configures one (flannel.1, onlink routes, neighbours, fdb) exchanges traffic with pontoon hosts', async () => {
    // the Linux host F and a pod behind it, on a subnet of its own lease (written as flannel writes it)
    const fSubnet = `${at(CLUSTER, 0).replace(/\.0\.0$/, '.200.0')}/24`;
    const F = await w.addFlannelHost('l', 30, fSubnet, '02:f1:00:00:c8:00');
    const pod = F.pod.ns;
    const fIp = F.ip;
    for (const s of await hostSubnets(A, NET)) await flannelRoute(F, { subnet: s.Subnet, vtepMac: s.VtepMAC, publicIp: s.Host });
    await w.etcd!.put(`${FLANNEL}/subnets/${fSubnet.replace('/', '-')}`, flannelLease(fIp, F.vtepMac));
    const known = await waitFor(async () => (await Promise.all([A, B, C].map((h) => hostSubnets(h, NET)))).every((s) => s.some((x) => x.Host === fIp)), 15_000, 200);
    expect(known, logs()).toBe(true);
    // the pod and F itself reach pontoon's containers, and back
    for (const c of [ca, cb]) {
      const fromPod = await ping(pod, c.ip, { count: 2, waitS: 2 });
      expect(fromPod.lossPercent, `pod -> ${c.ip}\n${fromPod.stdout}${fromPod.stderr}\n${logs()}`).toBe(0);
      const fromF = await ping(F.ns, c.ip, { count: 1, waitS: 2 });
      expect(fromF.lossPercent, `F -> ${c.ip}`).toBe(0);
      const toPod = await ping(c.ns, at(fSubnet, 2), { count: 2, waitS: 2 });
      expect(toPod.lossPercent, `${c.ip} -> pod`).toBe(0);
    }
    // the lease is withdrawn (flannel's host leaves): no route to it any more
    await w.etcd!.del(`${FLANNEL}/subnets/${fSubnet.replace('/', '-')}`);
    const gone = await waitFor(async () => !(await hostSubnets(A, NET)).some((x) => x.Host === fIp), 15_000, 200);
    expect(gone).toBe(true);
    expect((await ping(ca.ns, at(fSubnet, 2), { count: 1, waitS: 1 })).received).toBe(0);
  }, 90_000);

  it('with etcd down, forwarding goes on with the leases known; a new routed network waits for it (a clear error)', async () => {
    await w.etcd!.kill();
    try {
      for (let i = 0; i < 3; i++) {
        const r = await ping(ca.ns, cc.ip, { count: 2, waitS: 2 });
        expect(r.lossPercent, logs()).toBe(0);
      }
      const r = await A.daemon.cli(['network', 'create', '-d', 'overlay', '--mode', 'routed', '--subnet', '10.251.0.0/16', '--vni', '78', '-o', `pontoon.flannel_prefix=${FLANNEL}-2`, `late-${randomHex(2)}`]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/cluster store unavailable/);
      // longer than the lease TTL: the hosts' leases expire in etcd's view only once it is back
      await new Promise((res) => setTimeout(res, (LEASE_TTL + 1) * 1000));
      expect((await ping(cb.ns, ca.ip, { count: 2, waitS: 2 })).lossPercent).toBe(0);
    } finally {
      await w.etcd!.start();
    }
    // back: every host's subnet is its own again, none taken twice
    const again = await waitFor(async () => {
      const keys = await w.etcd!.list(`${FLANNEL}/subnets/`);
      return keys.size === 3;
    }, 30_000, 500);
    expect(again, logs()).toBe(true);
    const leases = [...(await w.etcd!.list(`${FLANNEL}/subnets/`)).values()].map((v) => (JSON.parse(v) as { PublicIP: string }).PublicIP);
    expect(leases.sort()).toEqual([A.ip, B.ip, C.ip].sort());
    expect((await ping(ca.ns, cb.ip, { count: 2, waitS: 2 })).lossPercent).toBe(0);
  }, 120_000);
});
