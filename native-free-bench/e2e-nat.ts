// The nat section of `npm run bench:e2e`: through the masquerade and a published port, the tests
// of e2e-measure.ts (iperf3 TCP both ways, UDP 64 B packets/s, ping p50/p99, autocannon), alternating
// the kernel world and the pontoon world of e2e-worlds.ts. Also builds those two worlds, once, for
// this section and the rfc2544 one.

import { makeTempDir } from '../test/e2e/harness.js';
import { TESTS, measurementParts } from './e2e-measure.js';
import {
  type MetricDef,
  type SectionReport,
  atLeastTimesKernel,
  atMostKernelPlus,
  atMostTimesKernel,
  detailLine,
  showValues,
} from './e2e-report.js';
import { type BenchTest, type SectionContext, type WorldKind, dropsNow, runAlternating } from './e2e-runs.js';
import { type BenchWorld, KernelWorld, PontoonWorld, offloads, startHttpServer } from './e2e-worlds.js';
import { nftPath } from './e2e-nft.js';

export interface NatWorlds {
  kernel: KernelWorld;
  pontoon: PontoonWorld;
  /** how each world is built, for the JSON */
  info: Record<WorldKind, Record<string, unknown>>;
  /** the same in lines, for the table's header */
  header: string[];
}

/** Builds the pontoon world (it picks the subnet and c1's address), then the kernel world with the same. */
export async function buildNatWorlds(ctx: SectionContext): Promise<NatWorlds> {
  ctx.log('bench:e2e: building the NAT worlds: pontoon...');
  // IPv6 against the kernel's ip6 nat rules, which go in with nft only
  const ipv6 = nftPath() !== undefined;
  const pontoon = new PontoonWorld(ctx.o.pontoonSet, ipv6);
  ctx.own(pontoon.nat.prefix, pontoon.nat.uplinkDevice.slice(0, 10));
  await pontoon.build();
  ctx.own(pontoon.daemon.config.host.device);
  ctx.ownPid(pontoon.daemon.pid);
  ctx.log('bench:e2e: building the NAT worlds: kernel...');
  const p6 = pontoon.ipv6;
  const kernel = new KernelWorld(pontoon.subnet, pontoon.c1Ip, makeTempDir('pbe-'), p6 !== null ? { subnet: pontoon.nat.subnet6, ...p6 } : null);
  ctx.own(kernel.gw.slice(0, 11));
  await kernel.build({ offloadsOff: ctx.o.kernelOffloadsOff });
  if (kernel.natMethod !== 'nft -f') {
    ctx.log(`bench:e2e: nft is not installed (Debian package nftables); kernel NAT rules applied with: ${kernel.natMethod}`);
  }
  const info = {} as Record<WorldKind, Record<string, unknown>>;
  const header: string[] = [];
  for (const w of [kernel, pontoon] as BenchWorld[]) {
    const off = { c1_eth0: await offloads(w.c1, 'eth0'), ext_uplink: await offloads(w.ext, w.extDevice) };
    info[w.kind] = { description: w.describe(), c1: w.c1, ext: w.ext, c1Ip: w.c1Ip, offloads: off };
    const show = (x: Record<string, string>) => Object.entries(x).map(([k, v]) => `${k} ${v}`).join(' ');
    header.push(`${w.kind} world: ${w.describe()}`, `  offloads: c1 eth0 [${show(off.c1_eth0)}], ext uplink [${show(off.ext_uplink)}]`);
  }
  if (kernel.natMethod !== 'nft -f') {
    header.push(`note: nft is not installed (Debian package nftables): the kernel world's rules went in with ${kernel.natMethod ?? '?'}, and IPv6 is not measured`);
  }
  info.kernel.nat = kernel.natMethod;
  return { kernel, pontoon, info, header };
}

const METRICS: MetricDef[] = [
  { name: 'tcp_out', test: 'tcp_out', key: 'tcp_out', label: 'TCP c1->ext via masquerade, Gbit/s', unit: 'Gbit/s', digits: 2, target: atLeastTimesKernel(0.9) },
  { name: 'tcp_in', test: 'tcp_in', key: 'tcp_in', label: 'TCP ext->c1 via published port, Gbit/s', unit: 'Gbit/s', digits: 2, target: atLeastTimesKernel(0.9) },
  { name: 'tcp6_out', test: 'tcp6_out', key: 'tcp6_out', label: 'TCP over IPv6 c1->ext via NAT66 / ip6 masquerade, Gbit/s', unit: 'Gbit/s', digits: 2, target: atLeastTimesKernel(0.9) },
  { name: 'tcp6_in', test: 'tcp6_in', key: 'tcp6_in', label: 'TCP over IPv6 ext->c1 via published [::] port, Gbit/s', unit: 'Gbit/s', digits: 2, target: atLeastTimesKernel(0.9) },
  { name: 'udp64_out', test: 'udp64_out', key: 'udp64_out', label: 'UDP 64 B c1->ext delivered, packets/s', unit: 'packets/s', digits: 0 },
  { name: 'ping_p50', test: 'ping', key: 'ping_p50', label: 'ping c1->ext RTT p50, ms (lower=better)', unit: 'ms', digits: 3, target: atMostKernelPlus(0.02, '20 us') },
  { name: 'ping_p99', test: 'ping', key: 'ping_p99', label: 'ping c1->ext RTT p99, ms (lower=better)', unit: 'ms', digits: 3, target: atMostTimesKernel(3) },
  { name: 'http', test: 'http', key: 'http', label: 'HTTP ext->c1 via published port, req/s', unit: 'requests/s', digits: 0, target: atLeastTimesKernel(1) },
];

export async function natSection(ctx: SectionContext, worlds: NatWorlds): Promise<SectionReport> {
  const { o } = ctx;
  const { kernel, pontoon } = worlds;
  const maxSeconds = Math.ceil(o.reps * (TESTS.length * (o.seconds + 6) + o.pings * o.pingIntervalS + 5) * 2 + 120);
  const servers = [];
  for (const w of [kernel, pontoon]) servers.push(await startHttpServer(w.c1, o.http, maxSeconds));
  const withV6 = kernel.ipv6 !== null && pontoon.ipv6 !== null;
  const tests: BenchTest<BenchWorld>[] = TESTS.filter((t) => withV6 || !t.ipv6).map((t) => ({ name: t.name, run: (w: BenchWorld) => t.run(w, o) }));
  let records;
  try {
    records = await runAlternating<BenchWorld>(ctx, 'nat', tests, [kernel, pontoon], (rec) => showValues(rec, METRICS));
  } finally {
    for (const s of servers) await s.stop(500);
  }
  return {
    name: 'nat',
    title: `nat: masquerade and published ports; ${o.reps} rep(s) per world, ${o.seconds} s per iperf3/autocannon run, ${o.pings} pings at ${o.pingIntervalS} s, autocannon -c ${o.connections}, ${o.http} HTTP server`,
    header: [
      ...worlds.header,
      'PONTOON/KERNEL: the ratio of the medians (throughput: below 1 means pontoon is slower; latency: above 1 means pontoon is slower)',
    ],
    worlds: worlds.info,
    metrics: METRICS,
    records,
    details: records.map((r) => detailLine(r, measurementParts(r.extra))),
    notes: ['machine sys+softirq: system + softirq CPU seconds of the whole machine during the run (/proc/stat), for either world'],
    pontoonDropsTotal: await dropsNow(pontoon),
  };
}
