// The routed section of `npm run bench:e2e` (issue 15): container to container across two hosts
// of a routed overlay (a subnet per host, routed over VXLAN), the kernel's way against pontoon's,
// on one underlay (test/e2e/overlay-world.ts, veth offloads on):
//
//   pontoon: hosts a and b, each a daemon with cluster.store etcd; one routed overlay network
//   (--mode routed, a /24 of a /16 per host); container ca on a, cb on b, each on its host's TAP.
//   kernel: hosts fa and fb set up as flannel's vxlan backend sets a host up: flannel.1 (VNI 1,
//   the same UDP port, nolearning) with the subnet's own address as a /32, an onlink route to the
//   other host's subnet via its VTEP address, a permanent neighbour and an fdb entry for it; the
//   pod behind a veth, routed by the host (flannel's cni0 bridge would add a bridge hop).
//
// The tests and figures are the overlay section's (e2e-overlay.ts): iperf3 TCP a→b and b→a, UDP
// 64-byte payloads a→b, alternating kernel and pontoon.

import { randomHex } from '../test/e2e/harness.js';
import { type OverlayHost, OverlayWorld, flannelRoute } from '../test/e2e/overlay-world.js';
import { type SectionReport, detailLine, showValues } from './e2e-report.js';
import { type SectionContext, dropsNow, runAlternating } from './e2e-runs.js';
import { offloads } from './e2e-worlds.js';
import { OverlayPair, canPing, expectSoon, overlayMetricDefs, overlayParts, pontoonPair, tcpTest, udpTest } from './e2e-overlay.js';

interface HostSubnet {
  Subnet: string;
  Host: string;
  VtepMAC: string;
}

async function hostSubnets(h: OverlayHost, net: string): Promise<HostSubnet[]> {
  return ((await h.daemon.inspect(net)) as unknown as { HostSubnets?: HostSubnet[] }).HostSubnets ?? [];
}

async function buildPontoon(ctx: SectionContext, world: OverlayWorld, cluster: string): Promise<OverlayPair> {
  const A = await world.addHost('a');
  ctx.ownPid(A.daemon.pid);
  const B = await world.addHost('b');
  ctx.ownPid(B.daemon.pid);
  const net = `flat-${randomHex(3)}`;
  await A.daemon.cliOk(['network', 'create', '--driver', 'overlay', '--mode', 'routed', '--subnet', cluster, '-o', `pontoon.flannel_prefix=${world.etcdPrefix}-flannel`, net]);
  await expectSoon(`host b never learnt network ${net} from etcd`, async () => (await B.daemon.cli(['network', 'inspect', net])).code === 0, [A, B]);
  await expectSoon('the hosts never learnt each other\'s subnet', async () => (await hostSubnets(A, net)).length === 2 && (await hostSubnets(B, net)).length === 2, [A, B]);
  const ca = await world.connect(A, 'ca', net);
  const cb = await world.connect(B, 'cb', net);
  return pontoonPair(A, B, ca, cb, `cluster.store etcd, routed overlay ${net} ${cluster} (a /24 per host)`);
}

async function buildKernel(world: OverlayWorld, cluster: string): Promise<OverlayPair> {
  const sub = (k: number) => `${cluster.split('.').slice(0, 2).join('.')}.${k}.0/24`;
  const FA = await world.addFlannelHost('a', 40, sub(1), '02:f1:00:00:00:0a');
  const FB = await world.addFlannelHost('b', 41, sub(2), '02:f1:00:00:00:0b');
  await flannelRoute(FA, { subnet: FB.subnet, vtepMac: FB.vtepMac, publicIp: FB.ip });
  await flannelRoute(FB, { subnet: FA.subnet, vtepMac: FA.vtepMac, publicIp: FA.ip });
  const a = { name: 'fac', ns: FA.pod.ns, ip: FA.pod.ip };
  const b = { name: 'fbc', ns: FB.pod.ns, ip: FB.pod.ip };
  if (!(await canPing(a, b)) && !(await canPing(a, b))) throw new Error(`routed: fac (${a.ip}) cannot ping fbc (${b.ip}) over the kernel's flannel-style VXLAN`);
  return new OverlayPair(
    'kernel',
    a,
    b,
    [FA, FB].map((f, i) => ({ label: `host f${'ab'[i]}`, ns: f.ns, ip: f.ip, daemon: null })),
    `hosts fa (${FA.ip}, ${FA.subnet}) and fb (${FB.ip}, ${FB.subnet}) as flannel's vxlan backend sets them up: flannel.1 VNI 1, onlink route via the peer's VTEP address, ` +
      `permanent neighbour and fdb entry; the pod on a veth routed by its host (MTU 1450): fac ${a.ip}, fbc ${b.ip}`,
  );
}

export async function routedSection(ctx: SectionContext): Promise<SectionReport> {
  const { o } = ctx;
  ctx.log('bench:e2e: building the routed overlay worlds: underlay and etcd...');
  const world = new OverlayWorld({ store: 'etcd', set: ctx.o.pontoonSet, offloads: true });
  ctx.own(world.prefix);
  await world.build();
  ctx.ownPid(world.etcd!.pid);
  const pick = 200 + (parseInt(randomHex(1), 16) % 20);
  ctx.log('bench:e2e: building the routed overlay worlds: pontoon...');
  const pontoon = await buildPontoon(ctx, world, `10.${pick}.0.0/16`);
  ctx.log('bench:e2e: building the routed overlay worlds: kernel...');
  const kernel = await buildKernel(world, `10.${pick + 20}.0.0/16`);
  const header = [`underlay: namespace ${world.ul}, bridge br0 ${world.subnet} MTU 1500, veth offloads on; etcd and both worlds' hosts on it`];
  const info: Record<string, unknown> = { underlay: { ns: world.ul, subnet: world.subnet } };
  for (const w of [kernel, pontoon]) {
    const off = { container_eth0: await offloads(w.a.ns, 'eth0'), host_ul0: await offloads(w.hosts[0]!.ns, 'ul0') };
    info[w.kind] = { description: w.description, a: w.a, b: w.b, offloads: off };
    header.push(`${w.kind} world: ${w.description}`);
  }
  const metrics = overlayMetricDefs('routed overlay');
  const tests = [tcpTest('tcp_ab', 'a', o.seconds), tcpTest('tcp_ba', 'b', o.seconds), udpTest(o.seconds)];
  const records = await runAlternating<OverlayPair>(ctx, 'routed', tests, [kernel, pontoon], (rec) => showValues(rec, metrics));
  return {
    name: 'routed',
    title: `routed: container to container across two hosts of a routed overlay (a subnet per host, as flannel's vxlan backend); ${o.reps} rep(s) per world, ${o.seconds} s per iperf3 run`,
    header,
    worlds: info,
    metrics,
    records,
    details: records.map((r) => detailLine(r, overlayParts(r))),
    notes: ["CPU: as in the overlay section (both hosts' daemons; the whole machine's sys+softirq)"],
    pontoonDropsTotal: await dropsNow(pontoon),
  };
}
