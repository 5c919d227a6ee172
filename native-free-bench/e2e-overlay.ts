// The overlay section of `npm run bench:e2e`: container to container across two hosts over VXLAN,
// the kernel's way against pontoon's, on one underlay (test/e2e/overlay-world.ts, with the veths'
// offloads left on: a performance world, not a capture world):
//
//                      underlay namespace: bridge br0 (MTU 1500), etcd
//          ┌────────────────┬──────────────────────┬─────────────────┐
//   host a (pontoon)   host b (pontoon)      host ka (kernel)   host kb (kernel)
//   daemon, VTEP .10   daemon, VTEP .11      vx0 + br0, .20     vx0 + br0, .21
//     │ TAP              │ TAP                 │ veth             │ veth
//   container ca       container cb          container kac      container kbc
//
// pontoon: a daemon in each host namespace with cluster.store etcd, one overlay network created on
// host a (host b learns it from etcd), one container connected on each host. Kernel: on each host a
// Linux vxlan device (its own VNI, dstport 4789, nolearning) with a default fdb entry
// (00:00:00:00:00:00) and a per-MAC entry towards the other VTEP, a bridge and a veth to the
// container, MTU 1450: what Docker's overlay driver and flannel build. Both containers' MTU is 1450.
//
// Tests, alternating kernel and pontoon: iperf3 TCP a→b and b→a (receiver's Gbit/s, the sender's
// retransmits; from nstat in the containers' namespaces, the receiver's TcpExtTCPOFOQueue and the
// sender's TcpExtTCPFastRetrans and TcpRetransSegs over the run) and iperf3 UDP 64-byte payloads
// a→b at an unlimited rate (packets/s received, loss). Each run also records the CPU seconds of the
// pontoon daemons and the whole machine's system + softirq seconds (e2e-runs.ts).

import { type Daemon, hostAddr, nsExec, nsExecOk, pickSubnets, randomHex, runOk, waitFor } from '../test/e2e/harness.js';
import { type OverlayContainer, type OverlayHost, OverlayWorld, VXLAN_PORT, inspectOverlay } from '../test/e2e/overlay-world.js';
import { type Measurement, iperfTcp, iperfUdp64 } from './e2e-measure.js';
import { type MetricDef, type SectionReport, atLeastTimesKernel, atMostKernel, detailLine, fmt, showValues } from './e2e-report.js';
import { type BenchTest, type ProbedWorld, type SectionContext, type WorldKind, dropsNow, runAlternating } from './e2e-runs.js';
import { offloads } from './e2e-worlds.js';

interface Endpoint {
  /** "ca", "kac", ...: the container's name in the output */
  name: string;
  ns: string;
  ip: string;
}

/** One world of the section: a container on each of two hosts. */
export class OverlayPair implements ProbedWorld {
  constructor(
    readonly kind: WorldKind,
    readonly a: Endpoint,
    readonly b: Endpoint,
    /** the host namespaces, by label ("host a") */
    readonly hosts: { label: string; ns: string; ip: string; daemon: Daemon | null }[],
    readonly description: string,
  ) {}

  daemons(): { label: string; daemon: Daemon }[] {
    return this.hosts.flatMap((h) => (h.daemon === null ? [] : [{ label: h.label, daemon: h.daemon }]));
  }

  watchedLinks(): { label: string; ns: string; dev: string }[] {
    return [
      { label: `${this.a.name}/eth0`, ns: this.a.ns, dev: 'eth0' },
      { label: `${this.b.name}/eth0`, ns: this.b.ns, dev: 'eth0' },
      ...this.hosts.map((h) => ({ label: `${h.label}/ul0`, ns: h.ns, dev: 'ul0' })),
    ];
  }
}

// ---- building the worlds -----------------------------------------------------------------------

interface OverlayWorlds {
  kernel: OverlayPair;
  pontoon: OverlayPair;
  info: Record<string, unknown>;
  header: string[];
}

/** Fails with `what` (and the daemons' logs) unless `cond` becomes true within 15 s. */
export async function expectSoon(what: string, cond: () => Promise<boolean>, hosts: OverlayHost[]): Promise<void> {
  if (await waitFor(cond, 15_000, 200)) return;
  throw new Error(`overlay: ${what}\n${hosts.map((h) => `--- host ${h.name}:\n${h.daemon.logTail(15)}`).join('\n')}`);
}

export async function canPing(from: Endpoint, to: Endpoint): Promise<boolean> {
  return (await nsExec(from.ns, ['ping', '-n', '-c', '1', '-W', '1', to.ip], { timeoutMs: 5000 })).code === 0;
}

/** pontoon: hosts a and b with their daemons, the overlay network, a container on each. */
async function buildPontoon(ctx: SectionContext, world: OverlayWorld, subnet: string, vni: number): Promise<OverlayPair> {
  const A = await world.addHost('a');
  ctx.ownPid(A.daemon.pid);
  const B = await world.addHost('b');
  ctx.ownPid(B.daemon.pid);
  const net = `ov-${randomHex(3)}`;
  await A.daemon.cliOk(['network', 'create', '--driver', 'overlay', '--subnet', subnet, '--vni', String(vni), net]);
  await expectSoon(`host b never learnt network ${net} from etcd`, async () => (await B.daemon.cli(['network', 'inspect', net])).code === 0, [A, B]);
  const ca = await world.connect(A, 'ca', net);
  const cb = await world.connect(B, 'cb', net);
  const knows = async (h: OverlayHost, ip: string) => Object.values((await inspectOverlay(h.daemon, net)).RemoteContainers ?? {}).some((e) => e.IPv4Address.startsWith(`${ip}/`));
  await expectSoon('the hosts never learnt each other\'s container', async () => (await knows(A, cb.ip)) && (await knows(B, ca.ip)), [A, B]);
  return pontoonPair(A, B, ca, cb, `cluster.store etcd (${world.etcd!.url}), overlay network ${net} VNI ${vni} ${subnet}`);
}

/** pontoon's world of a section: container ca on host A, cb on host B, once ca pings cb; `what` describes the network. */
export async function pontoonPair(A: OverlayHost, B: OverlayHost, ca: OverlayContainer, cb: OverlayContainer, what: string): Promise<OverlayPair> {
  const a = { name: 'ca', ns: ca.ns, ip: ca.ip };
  const b = { name: 'cb', ns: cb.ns, ip: cb.ip };
  await expectSoon(`ca (${ca.ip}) cannot ping cb (${cb.ip})`, () => canPing(a, b), [A, B]);
  return new OverlayPair(
    'pontoon',
    a,
    b,
    [A, B].map((h) => ({ label: `host ${h.name}`, ns: h.ns, ip: h.ip, daemon: h.daemon })),
    `pontoon daemons in hosts a (${A.ip}) and b (${B.ip}), ${what}; containers ca ${ca.ip} (TAP, MTU ${ca.mtu}) on a, cb ${cb.ip} (TAP, MTU ${cb.mtu}) on b`,
  );
}

/** Kernel: hosts ka and kb, each a vxlan device, a bridge and a veth to its container, fdb entries towards the other. */
async function buildKernel(world: OverlayWorld, subnet: string, vni: number): Promise<OverlayPair> {
  const KA = await world.addKernelPeer(vni, `${hostAddr(subnet, 2)}/24`, [], 'a');
  const KB = await world.addKernelPeer(vni, `${hostAddr(subnet, 3)}/24`, [], 'b');
  for (const [self, other] of [[KA, KB], [KB, KA]] as const) {
    await runOk(['bridge', '-n', self.ns, 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vx0', 'dst', other.ip]);
    await runOk(['bridge', '-n', self.ns, 'fdb', 'add', other.container.mac, 'dev', 'vx0', 'dst', other.ip, 'self', 'permanent']);
  }
  const a = { name: 'kac', ns: KA.container.ns, ip: KA.container.ip };
  const b = { name: 'kbc', ns: KB.container.ns, ip: KB.container.ip };
  if (!(await waitFor(() => canPing(a, b), 10_000, 200))) throw new Error(`overlay: kac (${a.ip}) cannot ping kbc (${b.ip}) over the kernel's VXLAN`);
  return new OverlayPair(
    'kernel',
    a,
    b,
    [KA, KB].map((k, i) => ({ label: `host k${'ab'[i]}`, ns: k.ns, ip: k.ip, daemon: null })),
    `hosts ka (${KA.ip}) and kb (${KB.ip}): vxlan vx0 VNI ${vni} dstport ${VXLAN_PORT} nolearning, fdb 00:00:00:00:00:00 and per-MAC entries ` +
      `towards the other VTEP, bridge br0, veth to the container (MTU 1450): kac ${a.ip}, kbc ${b.ip}`,
  );
}

async function buildOverlayWorlds(ctx: SectionContext): Promise<OverlayWorlds> {
  ctx.log('bench:e2e: building the overlay worlds: underlay and etcd...');
  const world = new OverlayWorld({ store: 'etcd', set: ctx.o.pontoonSet, offloads: true });
  ctx.own(world.prefix);
  await world.build();
  ctx.ownPid(world.etcd!.pid);
  const [pontoonSubnet, kernelSubnet] = await pickSubnets(['10.211', '172.27'], 2);
  const vni = 5000 + (parseInt(randomHex(2), 16) % 50_000);
  ctx.log('bench:e2e: building the overlay worlds: pontoon...');
  const pontoon = await buildPontoon(ctx, world, pontoonSubnet!, vni);
  ctx.log('bench:e2e: building the overlay worlds: kernel...');
  const kernel = await buildKernel(world, kernelSubnet!, vni + 1);
  const info: Record<string, unknown> = { underlay: { ns: world.ul, subnet: world.subnet, bridge: 'br0', mtu: 1500 } };
  const header = [`underlay: namespace ${world.ul}, bridge br0 ${world.subnet} MTU 1500, veth offloads on; etcd and both worlds' hosts on it`];
  for (const w of [kernel, pontoon]) {
    const off = { container_eth0: await offloads(w.a.ns, 'eth0'), host_ul0: await offloads(w.hosts[0]!.ns, 'ul0') };
    info[w.kind] = { description: w.description, a: w.a, b: w.b, hosts: w.hosts.map((h) => ({ label: h.label, ns: h.ns, ip: h.ip, pid: h.daemon?.pid ?? null })), offloads: off };
    const show = (x: Record<string, string>) => Object.entries(x).map(([k, v]) => `${k} ${v}`).join(' ');
    header.push(`${w.kind} world: ${w.description}`, `  offloads: ${w.a.name} eth0 [${show(off.container_eth0)}], ${w.hosts[0]!.label} ul0 [${show(off.host_ul0)}]`);
  }
  return { kernel, pontoon, info, header };
}

// ---- the tests -----------------------------------------------------------------------------------

const TCP_COUNTERS = ['TcpExtTCPOFOQueue', 'TcpExtTCPFastRetrans', 'TcpRetransSegs'] as const;
type TcpCounters = Record<(typeof TCP_COUNTERS)[number], number>;

/** `nstat -asz` in `ns`: absolute values, without reading or updating nstat's history file. */
async function tcpCounters(ns: string): Promise<TcpCounters> {
  const r = await nsExecOk(ns, ['nstat', '-asz', ...TCP_COUNTERS], { timeoutMs: 5000 });
  const out = {} as TcpCounters;
  for (const name of TCP_COUNTERS) {
    const m = new RegExp(`^${name}\\s+(\\d+)`, 'm').exec(r.stdout);
    if (m === null) throw new Error(`nstat in ${ns}: no ${name}`);
    out[name] = Number(m[1]);
  }
  return out;
}

/** iperf3 TCP from one container to the other, with the receiver's and the sender's TCP counters over the run. */
export function tcpTest(name: string, from: 'a' | 'b', seconds: number): BenchTest<OverlayPair> {
  return {
    name,
    async run(w): Promise<Measurement> {
      const [snd, rcv] = from === 'a' ? [w.a, w.b] : [w.b, w.a];
      const s0 = await tcpCounters(snd.ns);
      const r0 = await tcpCounters(rcv.ns);
      const r = await iperfTcp({ server: rcv.ns, bind: rcv.ip, client: snd.ns, target: rcv.ip }, seconds);
      const s1 = await tcpCounters(snd.ns);
      const r1 = await tcpCounters(rcv.ns);
      return {
        values: {
          gbps: r.gbps,
          retransmits: r.retransmits,
          ofo: r1.TcpExtTCPOFOQueue - r0.TcpExtTCPOFOQueue,
          fast_retrans: s1.TcpExtTCPFastRetrans - s0.TcpExtTCPFastRetrans,
          retrans_segs: s1.TcpRetransSegs - s0.TcpRetransSegs,
        },
        extra: { bytes_received: r.bytesReceived, from: snd.name, to: rcv.name },
      };
    },
  };
}

export function udpTest(seconds: number): BenchTest<OverlayPair> {
  return {
    name: 'udp64_ab',
    async run(w): Promise<Measurement> {
      const r = await iperfUdp64({ server: w.b.ns, bind: w.b.ip, client: w.a.ns, target: w.b.ip }, seconds);
      return { values: { pps: r.pps, loss_pct: r.lostPercent }, extra: r.extra };
    },
  };
}

function tcpMetrics(what: string, test: string, dir: string): MetricDef[] {
  return [
    { name: `${test}_gbps`, test, key: 'gbps', label: `${what} TCP ${dir}, Gbit/s`, unit: 'Gbit/s', digits: 2, target: atLeastTimesKernel(0.8) },
    { name: `${test}_retransmits`, test, key: 'retransmits', label: `${what} TCP ${dir}, retransmits (lower=better)`, unit: 'segments', digits: 0, target: atMostKernel },
    { name: `${test}_ofo`, test, key: 'ofo', label: `${what} TCP ${dir}, receiver TCPOFOQueue`, unit: 'segments', digits: 0 },
    { name: `${test}_cpu_machine`, test, key: 'cpu_machine_s', label: `${what} TCP ${dir}, machine sys+softirq CPU s`, unit: 's', digits: 2 },
    { name: `${test}_cpu_daemon`, test, key: 'cpu_daemon_s', label: `${what} TCP ${dir}, pontoon daemons CPU s`, unit: 's', digits: 2 },
  ];
}

/** The section's metrics: TCP both ways, UDP 64 B a→b; `what` names the section in the labels ("overlay", "routed overlay"). */
export function overlayMetricDefs(what: string): MetricDef[] {
  return [
    ...tcpMetrics(what, 'tcp_ab', 'a->b'),
    ...tcpMetrics(what, 'tcp_ba', 'b->a'),
    { name: 'udp64_ab_pps', test: 'udp64_ab', key: 'pps', label: `${what} UDP 64 B a->b received, packets/s`, unit: 'packets/s', digits: 0 },
    { name: 'udp64_ab_loss', test: 'udp64_ab', key: 'loss_pct', label: `${what} UDP 64 B a->b loss, % (lower=better)`, unit: '%', digits: 2 },
    { name: 'udp64_ab_cpu_machine', test: 'udp64_ab', key: 'cpu_machine_s', label: `${what} UDP 64 B a->b, machine sys+softirq CPU s`, unit: 's', digits: 2 },
    { name: 'udp64_ab_cpu_daemon', test: 'udp64_ab', key: 'cpu_daemon_s', label: `${what} UDP 64 B a->b, pontoon daemons CPU s`, unit: 's', digits: 2 },
  ];
}

const METRICS = overlayMetricDefs('overlay');

export function overlayParts(r: { values: Record<string, number>; extra: Record<string, number | string> }): string[] {
  const v = r.values;
  const e = r.extra;
  if (v.gbps !== undefined) return [`${e.from}->${e.to} retransmits ${v.retransmits}, receiver TCPOFOQueue +${v.ofo}, sender TCPFastRetrans +${v.fast_retrans} TcpRetransSegs +${v.retrans_segs}`];
  if (v.pps !== undefined) return [`sent ${fmt(Number(e.sent_pps), 0)} pkt/s, lost ${e.lost_percent}% (of which receiver socket full: ${fmt(Number(e.receiver_rcvbuf_errors), 0)})`];
  return [];
}

export async function overlaySection(ctx: SectionContext): Promise<SectionReport> {
  const { o } = ctx;
  const worlds = await buildOverlayWorlds(ctx);
  const tests = [tcpTest('tcp_ab', 'a', o.seconds), tcpTest('tcp_ba', 'b', o.seconds), udpTest(o.seconds)];
  const records = await runAlternating<OverlayPair>(ctx, 'overlay', tests, [worlds.kernel, worlds.pontoon], (rec) => showValues(rec, METRICS));
  return {
    name: 'overlay',
    title: `overlay: container to container across two hosts over VXLAN; ${o.reps} rep(s) per world, ${o.seconds} s per iperf3 run`,
    header: worlds.header,
    worlds: worlds.info,
    metrics: METRICS,
    records,
    details: records.map((r) => detailLine(r, overlayParts(r))),
    notes: [
      "CPU: pontoon daemons = utime+stime of both hosts' daemons (/proc/PID/stat); machine sys+softirq = the whole machine (/proc/stat) for either world: the kernel's VXLAN work cannot be attributed to a process, and the figure also holds iperf3's own system time and whatever else ran",
    ],
    pontoonDropsTotal: await dropsNow(worlds.pontoon),
  };
}
