// The macvlan section of `npm run bench:e2e`: a container directly on a LAN, through Linux's own
// macvlan driver against pontoon's macvlan network, on a parent interface of the same kind (a veth
// into the LAN's bridge). Two worlds, built the same way but for the part under test:
//
//   LAN namespace: bridge br0, the LAN router's address .1, a LAN host .50 behind a veth
//        │ veth (trunk0 on br0 ── eth0 in the host namespace: the parent)
//   host namespace
//     kernel:  mv0 = `ip link add link eth0 type macvlan mode bridge`, moved into the container
//              namespace as its eth0
//     pontoon: a pontoon daemon (run inside the host namespace), `pontoon network create -d macvlan
//              -o parent=eth0`, the container connected with `pontoon network connect` (a TAP)
//   container namespace c1: an address of the LAN (the one pontoon's IPAM gives; the kernel world
//        copies it), default route via the LAN router
//
// The LAN host's address is an --aux-address of the pontoon network, so IPAM never hands it out.
// Every veth at MTU 1500 with the kernel's default offloads (ethtool -k is printed per world).
// Tests, alternating kernel and pontoon: iperf3 TCP c1 → LAN host and LAN host → c1 (receiver's
// Gbit/s, the sender's retransmits), iperf3 UDP 64-byte payloads c1 → LAN host at an unlimited rate
// (packets/s delivered, loss), ping c1 → LAN host (p50, p99). Each run also records the pontoon
// daemon's CPU seconds and the whole machine's system + softirq seconds (e2e-runs.ts).
//
// Every namespace is the harness's (createNetns; the veths and the macvlan device die with them),
// the daemon too (startDaemon), the iperf3 servers nat-world's startBackground: e2e.ts's cleanup
// removes them all.

import { type Daemon, createNetns, hostAddr, nsExec, nsExecOk, nsIPv4, pickSubnets, randomHex, runOk, startDaemon, waitFor } from '../test/e2e/harness.js';
import { type IperfPath, type Measurement, iperfTcp, iperfUdp64, measurementParts, pingRtts } from './e2e-measure.js';
import { type MetricDef, type SectionReport, atLeastTimesKernel, detailLine, showValues } from './e2e-report.js';
import { type BenchTest, type ProbedWorld, type SectionContext, type WorldKind, dropsNow, runAlternating } from './e2e-runs.js';
import { offloads } from './e2e-worlds.js';

/** the parent's name in the host namespace, as a host's NIC */
const PARENT = 'eth0';
const ROUTER_HOST = 1;
const LAN_HOST = 50;

/** One world: the LAN, its host, the host namespace with the parent, the container. */
class MacvlanWorld implements ProbedWorld {
  readonly lan: string;
  readonly lanHost: string;
  readonly host: string;
  readonly c1: string;
  c1Ip = '';
  daemon: Daemon | null = null;
  description = '';

  constructor(
    readonly kind: WorldKind,
    prefix: string,
    readonly subnet: string,
  ) {
    const t = kind === 'kernel' ? 'k' : 'p';
    this.lan = `${prefix}-${t}lan`;
    this.lanHost = `${prefix}-${t}lh`;
    this.host = `${prefix}-${t}host`;
    this.c1 = `${prefix}-${t}c1`;
  }

  get routerIp(): string {
    return hostAddr(this.subnet, ROUTER_HOST);
  }
  get lanHostIp(): string {
    return hostAddr(this.subnet, LAN_HOST);
  }
  get prefixLen(): string {
    return this.subnet.split('/')[1]!;
  }

  daemons(): { label: string; daemon: Daemon }[] {
    return this.daemon === null ? [] : [{ label: 'host', daemon: this.daemon }];
  }

  watchedLinks(): { label: string; ns: string; dev: string }[] {
    return [
      { label: 'c1/eth0', ns: this.c1, dev: 'eth0' },
      { label: `host/${PARENT} (parent)`, ns: this.host, dev: PARENT },
      { label: 'lanhost/eth0', ns: this.lanHost, dev: 'eth0' },
    ];
  }

  /** The namespaces, the LAN's bridge and router address, the LAN host, and the parent veth into the host namespace (up, no address). */
  async buildLan(): Promise<void> {
    const { lan, lanHost, host } = this;
    for (const n of [lan, lanHost, host, this.c1]) await createNetns(n);
    await runOk(['ip', '-n', lan, 'link', 'add', 'br0', 'type', 'bridge']);
    await runOk(['ip', '-n', lan, 'addr', 'add', `${this.routerIp}/${this.prefixLen}`, 'dev', 'br0']);
    await runOk(['ip', '-n', lan, 'link', 'set', 'br0', 'up']);
    await runOk(['ip', 'link', 'add', 'h0', 'netns', lan, 'mtu', '1500', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lanHost]);
    await runOk(['ip', '-n', lan, 'link', 'set', 'h0', 'master', 'br0', 'up']);
    await runOk(['ip', '-n', lanHost, 'addr', 'add', `${this.lanHostIp}/${this.prefixLen}`, 'dev', 'eth0']);
    await runOk(['ip', '-n', lanHost, 'link', 'set', 'eth0', 'up']);
    await runOk(['ip', '-n', lanHost, 'route', 'add', 'default', 'via', this.routerIp]);
    await runOk(['ip', 'link', 'add', 'trunk0', 'netns', lan, 'mtu', '1500', 'type', 'veth', 'peer', 'name', PARENT, 'netns', host]);
    await runOk(['ip', '-n', lan, 'link', 'set', 'trunk0', 'master', 'br0', 'up']);
    await runOk(['ip', '-n', host, 'link', 'set', PARENT, 'up']);
  }

  /** Fails unless c1 reaches the LAN host within 10 s. */
  async expectReachable(): Promise<void> {
    const ok = await waitFor(async () => (await nsExec(this.c1, ['ping', '-n', '-c', '1', '-W', '1', this.lanHostIp], { timeoutMs: 5000 })).code === 0, 10_000, 200);
    if (!ok) throw new Error(`macvlan ${this.kind} world: ${this.c1} (${this.c1Ip}) cannot ping the LAN host ${this.lanHostIp}${this.daemon === null ? '' : `\n${this.daemon.logTail(20)}`}`);
  }
}

// ---- building the worlds -----------------------------------------------------------------------

/** pontoon: the daemon in the host namespace, a macvlan network on the parent, c1 connected to it. */
async function buildPontoon(ctx: SectionContext, w: MacvlanWorld, devicePrefix: string): Promise<void> {
  await w.buildLan();
  const d = await startDaemon({ netns: w.host, devicePrefix, defaultNetwork: null, set: ctx.o.pontoonSet });
  ctx.ownPid(d.pid);
  w.daemon = d;
  const net = `mv-${randomHex(2)}`;
  await d.cliOk(['network', 'create', '-d', 'macvlan', '--subnet', w.subnet, '--gateway', w.routerIp, '--aux-address', `lanhost=${w.lanHostIp}`, '-o', `parent=${PARENT}`, net]);
  await d.cliOk(['network', 'connect', net, w.c1]);
  const addrs = await nsIPv4(w.c1, 'eth0');
  if (addrs.length !== 1) throw new Error(`macvlan pontoon world: ${w.c1}: expected one address on eth0, got ${addrs.join(', ')}`);
  w.c1Ip = addrs[0]!.split('/')[0]!;
  await w.expectReachable();
  w.description =
    `pontoon daemon pid ${d.pid ?? '?'} in the host namespace, network ${net} -d macvlan --subnet ${w.subnet} --gateway ${w.routerIp} -o parent=${PARENT} ` +
    `(mode bridge), c1 ${w.c1Ip} on a TAP; LAN bridge with the router ${w.routerIp} and the LAN host ${w.lanHostIp}`;
}

/** Kernel: a Linux macvlan device (mode bridge) on the parent, moved into c1 as eth0, at pontoon's address. */
async function buildKernel(w: MacvlanWorld, c1Ip: string): Promise<void> {
  await w.buildLan();
  await runOk(['ip', '-n', w.host, 'link', 'add', 'link', PARENT, 'name', 'mv0', 'type', 'macvlan', 'mode', 'bridge']);
  await runOk(['ip', '-n', w.host, 'link', 'set', 'mv0', 'netns', w.c1]);
  await runOk(['ip', '-n', w.c1, 'link', 'set', 'mv0', 'name', 'eth0']);
  await runOk(['ip', '-n', w.c1, 'addr', 'add', `${c1Ip}/${w.prefixLen}`, 'dev', 'eth0']);
  await runOk(['ip', '-n', w.c1, 'link', 'set', 'eth0', 'up']);
  await runOk(['ip', '-n', w.c1, 'route', 'add', 'default', 'via', w.routerIp]);
  w.c1Ip = c1Ip;
  await w.expectReachable();
  w.description = `macvlan mv0 on ${PARENT} in the host namespace (mode bridge), moved into c1 as eth0, c1 ${c1Ip}/${w.prefixLen} default via ${w.routerIp}; LAN bridge with the router ${w.routerIp} and the LAN host ${w.lanHostIp}`;
}

interface MacvlanWorlds {
  kernel: MacvlanWorld;
  pontoon: MacvlanWorld;
  info: Record<string, unknown>;
  header: string[];
}

async function buildMacvlanWorlds(ctx: SectionContext): Promise<MacvlanWorlds> {
  const hex = randomHex(3);
  const prefix = `bmv${hex}`;
  // the daemon's devices (its host link): 6 characters at most
  const devicePrefix = `bm${hex.slice(0, 4)}`;
  ctx.own(prefix, devicePrefix);
  const subnet = (await pickSubnets('10.98', 1))[0]!;
  ctx.log('bench:e2e: building the macvlan worlds: pontoon...');
  const pontoon = new MacvlanWorld('pontoon', prefix, subnet);
  await buildPontoon(ctx, pontoon, devicePrefix);
  ctx.log('bench:e2e: building the macvlan worlds: kernel...');
  const kernel = new MacvlanWorld('kernel', prefix, subnet);
  await buildKernel(kernel, pontoon.c1Ip);
  const info: Record<string, unknown> = {};
  const header = [`LAN ${subnet}: a namespace with bridge br0 (router ${hostAddr(subnet, ROUTER_HOST)}), the LAN host ${hostAddr(subnet, LAN_HOST)} behind a veth, a veth into the host namespace as the parent ${PARENT}; MTU 1500, veth offloads at kernel defaults`];
  for (const w of [kernel, pontoon]) {
    const off = { c1_eth0: await offloads(w.c1, 'eth0'), parent: await offloads(w.host, PARENT), lanhost_eth0: await offloads(w.lanHost, 'eth0') };
    info[w.kind] = { description: w.description, lan: w.lan, lanHost: w.lanHost, host: w.host, c1: w.c1, c1Ip: w.c1Ip, lanHostIp: w.lanHostIp, pid: w.daemon?.pid ?? null, offloads: off };
    const show = (x: Record<string, string>) => Object.entries(x).map(([k, v]) => `${k} ${v}`).join(' ');
    header.push(`${w.kind} world: ${w.description}`, `  offloads: c1 eth0 [${show(off.c1_eth0)}], parent ${PARENT} [${show(off.parent)}], LAN host eth0 [${show(off.lanhost_eth0)}]`);
  }
  return { kernel, pontoon, info, header };
}

// ---- the tests ---------------------------------------------------------------------------------

/** The drops of the packet sockets in `ns` so far (`ss -0 -m`: skmem's d, the socket's receive queue full). */
async function packetSocketDrops(ns: string): Promise<number> {
  const r = await nsExecOk(ns, ['ss', '-0', '-m', '-H'], { timeoutMs: 5000 });
  return [...r.stdout.matchAll(/skmem:\([^)]*\bd(\d+)\)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

/**
 * `test`, and in the pontoon world the drops of its parent's packet socket over the run: frames
 * the kernel could not queue to pontoon show on no interface counter and not in pontoon_drops_total.
 */
function withParentDrops(test: BenchTest<MacvlanWorld>): BenchTest<MacvlanWorld> {
  return {
    name: test.name,
    async run(w): Promise<Measurement> {
      if (w.daemon === null) return test.run(w);
      const d0 = await packetSocketDrops(w.host);
      const m = await test.run(w);
      const drops = (await packetSocketDrops(w.host)) - d0;
      return { values: { ...m.values, parent_drops: drops }, extra: { ...m.extra, parent_socket_drops: drops } };
    },
  };
}

const toLanHost = (w: MacvlanWorld): IperfPath => ({ server: w.lanHost, bind: w.lanHostIp, client: w.c1, target: w.lanHostIp });
const fromLanHost = (w: MacvlanWorld): IperfPath => ({ server: w.c1, bind: w.c1Ip, client: w.lanHost, target: w.c1Ip });

function tcpTest(name: string, path: (w: MacvlanWorld) => IperfPath, seconds: number): BenchTest<MacvlanWorld> {
  return {
    name,
    async run(w): Promise<Measurement> {
      const r = await iperfTcp(path(w), seconds);
      return { values: { gbps: r.gbps, retransmits: r.retransmits }, extra: { retransmits: r.retransmits, bytes_received: r.bytesReceived } };
    },
  };
}

function udpTest(seconds: number): BenchTest<MacvlanWorld> {
  return {
    name: 'udp64_out',
    async run(w): Promise<Measurement> {
      const r = await iperfUdp64(toLanHost(w), seconds);
      return { values: { pps: r.pps, loss_pct: r.lostPercent }, extra: r.extra };
    },
  };
}

/** The CPU rows of a test: the whole machine's system + softirq, the pontoon daemon's. */
function cpuMetrics(test: string, what: string): MetricDef[] {
  return [
    { name: `${test}_cpu_machine`, test, key: 'cpu_machine_s', label: `${what}, machine sys+softirq CPU s`, unit: 's', digits: 2 },
    { name: `${test}_cpu_daemon`, test, key: 'cpu_daemon_s', label: `${what}, pontoon daemon CPU s`, unit: 's', digits: 2 },
  ];
}

function tcpMetrics(test: string, what: string): MetricDef[] {
  return [
    { name: `${test}_gbps`, test, key: 'gbps', label: `${what}, Gbit/s`, unit: 'Gbit/s', digits: 2, target: atLeastTimesKernel(0.8) },
    { name: `${test}_retransmits`, test, key: 'retransmits', label: `${what}, retransmits (lower=better)`, unit: 'segments', digits: 0 },
    { name: `${test}_parent_drops`, test, key: 'parent_drops', label: `${what}, pontoon parent socket drops`, unit: 'frames', digits: 0 },
    ...cpuMetrics(test, what),
  ];
}

const METRICS: MetricDef[] = [
  ...tcpMetrics('tcp_out', 'TCP c1->LAN host'),
  ...tcpMetrics('tcp_in', 'TCP LAN host->c1'),
  { name: 'udp64_out_pps', test: 'udp64_out', key: 'pps', label: 'UDP 64 B c1->LAN host delivered, packets/s', unit: 'packets/s', digits: 0, target: atLeastTimesKernel(0.8) },
  { name: 'udp64_out_loss', test: 'udp64_out', key: 'loss_pct', label: 'UDP 64 B c1->LAN host loss, % (lower=better)', unit: '%', digits: 2 },
  { name: 'udp64_out_parent_drops', test: 'udp64_out', key: 'parent_drops', label: 'UDP 64 B c1->LAN host, pontoon parent socket drops', unit: 'frames', digits: 0 },
  ...cpuMetrics('udp64_out', 'UDP 64 B c1->LAN host'),
  { name: 'ping_p50', test: 'ping', key: 'ping_p50', label: 'ping c1->LAN host RTT p50, ms (lower=better)', unit: 'ms', digits: 3 },
  { name: 'ping_p99', test: 'ping', key: 'ping_p99', label: 'ping c1->LAN host RTT p99, ms (lower=better)', unit: 'ms', digits: 3 },
];

/** The daemon's warnings and errors (pino levels 40 and 50), each message once with its count. */
function daemonComplaints(d: Daemon | null): string[] {
  if (d === null) return [];
  const seen = new Map<string, number>();
  for (const line of d.logs().split('\n')) {
    let j: { level?: number; msg?: string };
    try {
      j = JSON.parse(line) as { level?: number; msg?: string };
    } catch {
      continue;
    }
    if ((j.level ?? 0) < 40) continue;
    const key = `${j.level === 40 ? 'warn' : 'error'}: ${j.msg ?? '?'}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return [...seen].map(([k, n]) => (n > 1 ? `${k} (x${n})` : k));
}

export async function macvlanSection(ctx: SectionContext): Promise<SectionReport> {
  const { o } = ctx;
  const worlds = await buildMacvlanWorlds(ctx);
  const tests = [
    tcpTest('tcp_out', toLanHost, o.seconds),
    tcpTest('tcp_in', fromLanHost, o.seconds),
    udpTest(o.seconds),
    { name: 'ping', run: (w: MacvlanWorld) => pingRtts(w.c1, w.lanHostIp, o) },
  ].map(withParentDrops);
  const records = await runAlternating<MacvlanWorld>(ctx, 'macvlan', tests, [worlds.kernel, worlds.pontoon], (rec) => showValues(rec, METRICS));
  const complaints = daemonComplaints(worlds.pontoon.daemon);
  return {
    name: 'macvlan',
    title: `macvlan: a container directly on a LAN, Linux's macvlan driver against pontoon's; ${o.reps} rep(s) per world, ${o.seconds} s per iperf3 run, ${o.pings} pings at ${o.pingIntervalS} s`,
    header: worlds.header,
    worlds: worlds.info,
    metrics: METRICS,
    records,
    details: records.map((r) => detailLine(r, [...measurementParts(r.extra), ...(r.extra.parent_socket_drops !== undefined ? [`parent socket drops +${r.extra.parent_socket_drops}`] : [])])),
    notes: [
      `pontoon daemon log, warnings and errors: ${complaints.length === 0 ? 'none' : complaints.join('; ')}`,
      "parent socket drops: frames the kernel dropped because the receive queue of pontoon's packet socket on the parent was full (ss -0 -m, skmem d), seen on no interface counter; a TCP super segment is one frame",
      'pontoon drops unsupported_ethertype: IPv6 frames from the LAN (neighbour discovery, MLD) for a network without IPv6',
      "CPU: pontoon daemon = its utime+stime (/proc/PID/stat); machine sys+softirq = the whole machine (/proc/stat) for either world: the kernel's macvlan work cannot be attributed to a process, and the figure also holds iperf3's own system time and whatever else ran",
    ],
    pontoonDropsTotal: await dropsNow(worlds.pontoon),
  };
}
