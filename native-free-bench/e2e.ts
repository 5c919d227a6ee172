// `npm run bench:e2e` (root): pontoon against the kernel doing the same job the way Docker does it
// (bridge + veth + ip_forward + nftables masquerade/DNAT), end to end with real tools: iperf3 TCP
// out through the masquerade and in through a published port, iperf3 UDP 64-byte packets/s, ping
// round trips, autocannon requests/s through the published port. Both worlds are built in network
// namespaces this script creates (see e2e-worlds.ts) and exist together; for each metric the runs
// alternate kernel, pontoon, kernel, pontoon... and the table shows the median per world and the
// pontoon/kernel ratio. The figures are not pass/fail: the exit code is 0 when every run completed,
// 1 when the setup failed, 2 when some run failed (its error is printed), 130 on Ctrl-C.
// Everything created is removed at the end, on error and on Ctrl-C, and checked to be gone.
//
//   --reps N        repetitions per world and metric (default 3)
//   --seconds S     duration of each iperf3 / autocannon run (default 5)
//   --quick         --reps 1 --seconds 2 (about a minute)
//   --pings N       pings per ping run (default 500, at -i 0.002)
//   --connections C autocannon connections (default 20)
//   --http node|python    the HTTP server in the container (default node: measured faster)
//   --kernel-offloads on|off   off: ethtool -K tx/tso/gso/gro off on the kernel world's veths
//   --json          one JSON object on stdout (progress still goes to stderr)

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { cleanupAll, dropsFromMetrics, makeTempDir, packageRoot, run, sleep } from '../test/e2e/harness.js';
import { cleanupNatWorlds } from '../test/e2e/nat-world.js';
import { type MetricName, type Settings, TESTS } from './e2e-measure.js';
import {
  type BenchWorld,
  type HttpImpl,
  KernelWorld,
  type LinkStats,
  PontoonWorld,
  linkStats,
  offloads,
  processCpuSeconds,
  startHttpServer,
} from './e2e-worlds.js';

// ---- command line ----------------------------------------------------------------------------

interface Options extends Settings {
  reps: number;
  json: boolean;
  http: HttpImpl;
  kernelOffloadsOff: boolean;
  quick: boolean;
}

function usage(msg?: string): never {
  if (msg !== undefined) console.error(`bench:e2e: ${msg}`);
  console.error('usage: node dist/native-free-bench/e2e.js [--reps N] [--seconds S] [--quick] [--pings N] [--connections C] [--http node|python] [--kernel-offloads on|off] [--json]');
  process.exit(msg === undefined ? 0 : 1);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { reps: 3, seconds: 5, pings: 500, pingIntervalS: 0.002, connections: 20, json: false, http: 'node', kernelOffloadsOff: false, quick: false };
  let reps: number | null = null;
  let seconds: number | null = null;
  const int = (name: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min || n > max) usage(`${name} wants an integer from ${min} to ${max}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '--reps':
        reps = int(a, argv[++i], 1, 50);
        break;
      case '--seconds':
        seconds = int(a, argv[++i], 1, 120);
        break;
      case '--quick':
        o.quick = true;
        break;
      case '--pings':
        o.pings = int(a, argv[++i], 10, 100_000);
        break;
      case '--connections':
        o.connections = int(a, argv[++i], 1, 1000);
        break;
      case '--http': {
        const v = argv[++i];
        if (v !== 'node' && v !== 'python') usage('--http is node or python');
        o.http = v;
        break;
      }
      case '--kernel-offloads': {
        const v = argv[++i];
        if (v !== 'on' && v !== 'off') usage('--kernel-offloads is on or off');
        o.kernelOffloadsOff = v === 'off';
        break;
      }
      case '--json':
        o.json = true;
        break;
      case '-h':
      case '--help':
        usage();
      default:
        usage(`unknown argument ${a}`);
    }
  }
  o.reps = reps ?? (o.quick ? 1 : 3);
  o.seconds = seconds ?? (o.quick ? 2 : 5);
  return o;
}

// ---- the machine -----------------------------------------------------------------------------

function machine() {
  let cpu = 'unknown CPU';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux?
  }
  let nproc = availableParallelism();
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || nproc;
  } catch {
    // keep node's figure
  }
  let iperf3 = '';
  try {
    iperf3 = /iperf ([0-9.]+)/.exec(execFileSync('iperf3', ['--version'], { encoding: 'utf8' }))?.[1] ?? '';
  } catch {
    // checked before
  }
  return { nproc, cpu, kernel: release(), node: process.version, iperf3 };
}

/** How busy all the CPUs were (percent, from /proc/stat) over the next `ms`. */
async function cpuBusyPercent(ms: number): Promise<number> {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3]! + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  try {
    const a = read();
    await sleep(ms);
    const b = read();
    return Math.round((100 * (1 - (b.idle - a.idle) / Math.max(1, b.total - a.total))) * 10) / 10;
  } catch {
    return NaN;
  }
}

/** The tools the script runs; missing ones stop it before anything is created. */
function missingTools(): string[] {
  const missing: string[] = [];
  const onPath = (t: string) => (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => existsSync(join(d, t)));
  for (const [tool, pkg] of [
    ['ip', 'iproute2'],
    ['iperf3', 'iperf3'],
    ['ping', 'iputils-ping'],
    ['timeout', 'coreutils'],
  ] as const) {
    if (!onPath(tool)) missing.push(`${tool} (Debian package ${pkg})`);
  }
  if (!existsSync(join(packageRoot(), 'node_modules', 'autocannon', 'autocannon.js'))) missing.push('autocannon (npm ci)');
  return missing;
}

// ---- cleanup ---------------------------------------------------------------------------------

const ourNames: string[] = [];
let daemonPid: number | null = null;
let interrupted = false;
/** settles when main() has stopped starting things (after an interruption: at its next check) */
let mainSettled: Promise<unknown> = Promise.resolve();

/** Stops every process and removes every namespace and directory registered so far; safe to repeat. */
async function cleanup(): Promise<string[]> {
  return [...(await cleanupNatWorlds()), ...(await cleanupAll())];
}

/** SIGINT/SIGTERM/SIGHUP: remove everything at once, again once main() stopped, check, exit 130. */
async function onSignal(sig: NodeJS.Signals): Promise<void> {
  if (interrupted) return;
  interrupted = true;
  process.stderr.write(`bench:e2e: ${sig}: removing everything it created...\n`);
  const problems = await cleanup();
  // a run in flight may start one more process before it sees the flag: sweep again after it stopped
  await Promise.race([mainSettled, sleep(5000)]);
  problems.push(...(await cleanup()));
  const left = [...problems, ...(await leftovers(daemonPid))];
  process.stderr.write(`bench:e2e: interrupted; ${left.length === 0 ? 'nothing left behind' : `left behind: ${left.join('; ')}`}\n`);
  process.exit(130);
}

/** What is still there after cleanup: namespaces, links, processes naming our namespaces. */
async function leftovers(daemonPid: number | null): Promise<string[]> {
  const out: string[] = [];
  if (ourNames.length === 0) return out;
  const ns = await run(['ip', 'netns', 'list'], { timeoutMs: 5000 });
  for (const line of ns.stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (name !== '' && ourNames.some((p) => name.startsWith(p))) out.push(`netns ${name}`);
  }
  const links = await run(['ip', '-br', 'link'], { timeoutMs: 5000 });
  for (const line of links.stdout.split('\n')) {
    const dev = (line.split(/\s+/)[0] ?? '').split('@')[0]!;
    if (dev !== '' && ourNames.some((p) => dev.startsWith(p))) out.push(`link ${dev}`);
  }
  const ps = await run(['ps', '-eo', 'pid=,args='], { timeoutMs: 5000 });
  for (const line of ps.stdout.split('\n')) {
    if (ourNames.some((p) => line.includes(p)) && !line.includes(' ps -eo')) out.push(`process ${line.trim()}`);
  }
  if (daemonPid !== null) {
    try {
      process.kill(daemonPid, 0);
      out.push(`pontoon daemon pid ${daemonPid}`);
    } catch {
      // gone
    }
  }
  return out;
}

function stopIfInterrupted(): void {
  if (interrupted) throw new Error('interrupted');
}

// ---- statistics and output -------------------------------------------------------------------

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const METRICS: { name: MetricName; label: string; unit: string; digits: number }[] = [
  { name: 'tcp_out', label: 'TCP c1->ext via masquerade, Gbit/s', unit: 'Gbit/s', digits: 2 },
  { name: 'tcp_in', label: 'TCP ext->c1 via published port, Gbit/s', unit: 'Gbit/s', digits: 2 },
  { name: 'udp64_out', label: 'UDP 64 B c1->ext delivered, packets/s', unit: 'packets/s', digits: 0 },
  { name: 'ping_p50', label: 'ping c1->ext RTT p50, ms (lower=better)', unit: 'ms', digits: 3 },
  { name: 'ping_p99', label: 'ping c1->ext RTT p99, ms (lower=better)', unit: 'ms', digits: 3 },
  { name: 'http', label: 'HTTP ext->c1 via published port, req/s', unit: 'requests/s', digits: 0 },
];

interface RunRecord {
  test: string;
  rep: number;
  world: 'kernel' | 'pontoon';
  values: Partial<Record<MetricName, number>>;
  extra: Record<string, number | string>;
  /** non-zero deltas of interface drop counters during the run ("ns/dev rx_dropped") */
  linkDrops: Record<string, number>;
  /** pontoon only: non-zero deltas of pontoon_drops_total by reason, and the daemon's CPU seconds */
  pontoonDrops?: Record<string, number>;
  daemonCpuS?: number;
  error?: string;
  seconds: number;
}

const fmt = (v: number | null | undefined, digits: number): string =>
  v === null || v === undefined || Number.isNaN(v) ? 'n/a' : digits === 0 ? Math.round(v).toLocaleString('en-US') : v.toFixed(digits);

// ---- main ------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const t0 = Date.now();
  const o = parseArgs(process.argv.slice(2));
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const fail = (msg: string): number => {
    console.error(`bench:e2e: ${msg}`);
    if (o.json) console.log(JSON.stringify({ error: msg }));
    return 1;
  };
  if (process.getuid?.() !== 0) return fail('needs root (network namespaces, TAP devices, nftables)');
  const missing = missingTools();
  if (missing.length > 0) return fail(`missing tools: ${missing.join(', ')}`);
  const m = machine();
  const machineLine = `${m.nproc} cores, ${m.cpu}, Linux ${m.kernel}, node ${m.node}, iperf3 ${m.iperf3}`;
  // other work on the machine skews everything: say how busy it was
  const loadStart = loadavg().map((x) => Math.round(x * 100) / 100);
  const busyBefore = await cpuBusyPercent(1000);
  log(`bench:e2e: ${o.reps} rep(s) x ${o.seconds} s, ${o.pings} pings; machine: ${machineLine}`);

  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, (s) => void onSignal(s));

  const pontoon = new PontoonWorld();
  let kernel: KernelWorld | null = null;
  const records: RunRecord[] = [];
  const worldInfo: Record<string, unknown> = {};
  let finalDrops: Record<string, number> = {};
  let setupError: string | null = null;
  try {
    // ---- setup: pontoon first (it picks the subnet and c1's address), then the kernel world with the same
    log('bench:e2e: building the pontoon world...');
    ourNames.push(pontoon.nat.prefix, pontoon.nat.uplinkDevice.slice(0, 10));
    await pontoon.build();
    ourNames.push(pontoon.daemon.config.host.device);
    daemonPid = pontoon.daemon.pid;
    stopIfInterrupted();
    log('bench:e2e: building the kernel world...');
    const dir = makeTempDir('pbe-');
    kernel = new KernelWorld(pontoon.subnet, pontoon.c1Ip, dir);
    ourNames.push(kernel.gw.slice(0, 11));
    await kernel.build({ offloadsOff: o.kernelOffloadsOff });
    stopIfInterrupted();
    const maxSeconds = Math.ceil(o.reps * (5 * (o.seconds + 6) + o.pings * o.pingIntervalS + 5) * 2 + 120);
    for (const w of [kernel, pontoon] as BenchWorld[]) {
      stopIfInterrupted();
      await startHttpServer(w.c1, o.http, maxSeconds);
    }
    for (const w of [kernel, pontoon] as BenchWorld[]) {
      worldInfo[w.kind] = {
        description: w.describe(),
        c1: w.c1,
        ext: w.ext,
        c1Ip: w.c1Ip,
        offloads: { c1_eth0: await offloads(w.c1, 'eth0'), ext_uplink: await offloads(w.ext, w.extDevice) },
      };
    }
    if (kernel.natMethod !== 'nft -f') {
      log(`bench:e2e: nft is not installed (Debian package nftables); kernel NAT rules applied with: ${kernel.natMethod}`);
    }
  } catch (e) {
    setupError = (e as Error).message;
  }

  let failedRuns = 0;
  if (setupError === null && kernel !== null && !interrupted) {
    // ---- the runs: per test, per repetition, kernel then pontoon
    const worlds: BenchWorld[] = [kernel, pontoon];
    const total = TESTS.length * o.reps * 2;
    let n = 0;
    const statsOf = async (w: BenchWorld): Promise<Record<string, LinkStats | null>> => ({
      [`c1/eth0`]: await linkStats(w.c1, 'eth0'),
      [`ext/${w.extDevice}`]: await linkStats(w.ext, w.extDevice),
    });
    for (const test of TESTS) {
      for (let rep = 1; rep <= o.reps; rep++) {
        for (const w of worlds) {
          if (interrupted) break;
          n++;
          const rec: RunRecord = { test: test.name, rep, world: w.kind, values: {}, extra: {}, linkDrops: {}, seconds: 0 };
          const started = Date.now();
          const before = await statsOf(w);
          const drops0 = w.daemon !== null ? await w.daemon.drops().catch(() => ({}) as Record<string, number>) : null;
          const cpu0 = w.daemon !== null ? processCpuSeconds(w.daemon.pid) : null;
          for (let attempt = 1; attempt <= 2; attempt++) {
            try {
              const r = await test.run(w, o);
              rec.values = r.values;
              rec.extra = r.extra;
              delete rec.error;
              break;
            } catch (e) {
              rec.error = `${(e as Error).message}`.trim();
              if (interrupted) break;
              if (attempt === 1) log(`  ${test.name} ${w.kind} rep ${rep} failed, retrying once: ${rec.error.split('\n')[0]}`);
            }
          }
          if (interrupted) break;
          const after = await statsOf(w);
          for (const [k, b] of Object.entries(before)) {
            const a = after[k];
            if (a === null || b === null || a === undefined) continue;
            if (a.rxDropped > b.rxDropped) rec.linkDrops[`${k} rx_dropped`] = a.rxDropped - b.rxDropped;
            if (a.txDropped > b.txDropped) rec.linkDrops[`${k} tx_dropped`] = a.txDropped - b.txDropped;
          }
          if (w.daemon !== null && drops0 !== null) {
            const drops1 = await w.daemon.drops().catch(() => ({}) as Record<string, number>);
            rec.pontoonDrops = {};
            for (const [reason, v] of Object.entries(drops1)) if (v > (drops0[reason] ?? 0)) rec.pontoonDrops[reason] = v - (drops0[reason] ?? 0);
            const cpu1 = processCpuSeconds(w.daemon.pid);
            if (cpu0 !== null && cpu1 !== null) rec.daemonCpuS = Math.round((cpu1 - cpu0) * 100) / 100;
          }
          rec.seconds = Math.round((Date.now() - started) / 100) / 10;
          records.push(rec);
          if (rec.error !== undefined) failedRuns++;
          const shown = Object.entries(rec.values)
            .map(([k, v]) => `${k} ${fmt(v, METRICS.find((x) => x.name === k)!.digits)}`)
            .join(', ');
          log(`  [${n}/${total}] ${test.name} rep ${rep} ${w.kind.padEnd(7)} ${rec.error !== undefined ? `FAILED: ${rec.error.split('\n')[0]}` : shown}`);
        }
      }
    }
    if (!interrupted) {
      try {
        finalDrops = dropsFromMetrics(await pontoon.daemon.metrics());
      } catch (e) {
        log(`bench:e2e: could not read pontoon's /metrics at the end: ${(e as Error).message}`);
      }
    }
  }

  // ---- teardown, and a check that it is all gone
  if (interrupted) return 130; // onSignal() cleans up and exits
  const problems = await cleanup();
  const left = [...problems, ...(await leftovers(daemonPid))];
  const elapsedS = Math.round((Date.now() - t0) / 100) / 10;
  const loadEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  const loadLine =
    `CPU busy in the second before the start: ${busyBefore}% of all cores; load average (1, 5, 15 min) at start ${loadStart.join(', ')}, at end ${loadEnd.join(', ')}` +
    (busyBefore > 20 ? ' -- other work was running: the figures are disturbed' : '');
  if (setupError !== null) {
    const msg = `setup failed: ${setupError}${left.length > 0 ? `\nleft behind: ${left.join('; ')}` : ''}`;
    return fail(msg);
  }

  // ---- medians and output
  const medians: Record<string, { kernel: number | null; pontoon: number | null; ratio: number | null; unit: string; kernelRuns: number[]; pontoonRuns: number[] }> = {};
  for (const mt of METRICS) {
    const runs = (w: string) => records.filter((r) => r.world === w && r.values[mt.name] !== undefined).map((r) => r.values[mt.name]!);
    const k = runs('kernel');
    const p = runs('pontoon');
    const km = k.length > 0 ? median(k) : null;
    const pm = p.length > 0 ? median(p) : null;
    medians[mt.name] = { kernel: km, pontoon: pm, ratio: km !== null && pm !== null && km !== 0 ? pm / km : null, unit: mt.unit, kernelRuns: k, pontoonRuns: p };
  }
  const nonZeroDrops = Object.fromEntries(Object.entries(finalDrops).filter(([, v]) => v > 0));
  if (o.json) {
    console.log(
      JSON.stringify({
        machine: { ...m, cpuBusyPercentBefore: busyBefore, loadStart, loadEnd },
        settings: { reps: o.reps, seconds: o.seconds, pings: o.pings, pingIntervalS: o.pingIntervalS, connections: o.connections, http: o.http, kernelOffloads: o.kernelOffloadsOff ? 'off' : 'on' },
        worlds: { ...worldInfo, kernelNat: kernel?.natMethod ?? null },
        medians,
        runs: records,
        pontoonDropsTotal: nonZeroDrops,
        failedRuns,
        leftovers: left,
        elapsedS,
      }),
    );
  } else {
    const out: string[] = [];
    out.push(`pontoon bench:e2e: ${o.reps} rep(s) per world, ${o.seconds} s per iperf3/autocannon run, ${o.pings} pings at ${o.pingIntervalS} s, autocannon -c ${o.connections}, ${o.http} HTTP server; runs alternate kernel/pontoon; medians`);
    out.push(`machine: ${machineLine}`);
    out.push(loadLine);
    for (const w of ['kernel', 'pontoon']) {
      const info = worldInfo[w] as { description: string; offloads: { c1_eth0: Record<string, string>; ext_uplink: Record<string, string> } } | undefined;
      if (info === undefined) continue;
      const off = (x: Record<string, string>) => Object.entries(x).map(([k, v]) => `${k} ${v}`).join(' ');
      out.push(`${w} world: ${info.description}`);
      out.push(`  offloads: c1 eth0 [${off(info.offloads.c1_eth0)}], ext uplink [${off(info.offloads.ext_uplink)}]`);
    }
    out.push('');
    out.push('PONTOON/KERNEL: the ratio of the medians (throughput: below 1 means pontoon is slower; latency: above 1 means pontoon is slower)');
    out.push(`${'METRIC'.padEnd(42)} ${'KERNEL'.padStart(12)} ${'PONTOON'.padStart(12)} ${'PONTOON/KERNEL'.padStart(15)}`);
    for (const mt of METRICS) {
      const x = medians[mt.name]!;
      out.push(`${mt.label.padEnd(42)} ${fmt(x.kernel, mt.digits).padStart(12)} ${fmt(x.pontoon, mt.digits).padStart(12)} ${(x.ratio === null ? 'n/a' : x.ratio.toFixed(3)).padStart(15)}`);
    }
    out.push('');
    out.push('runs (kernel | pontoon):');
    for (const mt of METRICS) {
      const x = medians[mt.name]!;
      out.push(`  ${mt.name.padEnd(10)} ${x.kernelRuns.map((v) => fmt(v, mt.digits)).join(', ')} | ${x.pontoonRuns.map((v) => fmt(v, mt.digits)).join(', ')}`);
    }
    out.push('details per run (retransmits, UDP loss, HTTP errors, interface drops; pontoon: drops by reason, daemon CPU s):');
    for (const r of records) {
      const parts: string[] = [];
      if (r.error !== undefined) parts.push(`ERROR ${r.error.split('\n')[0]}`);
      const e = r.extra;
      if (e.retransmits !== undefined) parts.push(`retransmits ${e.retransmits}`);
      if (e.lost_percent !== undefined) {
        parts.push(`sent ${fmt(Number(e.sent_pps), 0)} pkt/s, lost ${e.lost_percent}% (of which receiver socket full: ${fmt(Number(e.receiver_rcvbuf_errors), 0)})`);
      }
      if (e.received !== undefined) parts.push(`replies ${e.received}/${e.sent}, max ${e.max_ms} ms`);
      if (e.total !== undefined) parts.push(`requests ${e.total}, errors ${e.errors}, timeouts ${e.timeouts}, non2xx ${e.non2xx}, latency p99 ${e.latency_p99_ms} ms`);
      for (const [k, v] of Object.entries(r.linkDrops)) parts.push(`${k} +${v}`);
      if (r.pontoonDrops !== undefined) {
        const d = Object.entries(r.pontoonDrops);
        parts.push(`pontoon drops ${d.length === 0 ? 'none' : d.map(([k, v]) => `${k} +${v}`).join(' ')}`);
      }
      if (r.daemonCpuS !== undefined) parts.push(`daemon CPU ${r.daemonCpuS} s`);
      out.push(`  ${r.test.padEnd(9)} ${String(r.rep).padStart(2)} ${r.world.padEnd(7)} ${parts.join('; ')}`);
    }
    out.push('');
    const dropLines = Object.entries(nonZeroDrops).map(([k, v]) => `pontoon_drops_total{reason="${k}"} ${v}`);
    out.push(`pontoon_drops_total, non-zero, after all the runs: ${dropLines.length === 0 ? 'none' : dropLines.join(', ')}`);
    if (kernel?.natMethod !== 'nft -f') out.push(`note: nft is not installed (Debian package nftables): the kernel world's rules went in with ${kernel?.natMethod ?? '?'}`);
    out.push(`cleanup: ${left.length === 0 ? 'nothing left (namespaces, links, processes)' : `LEFT BEHIND: ${left.join('; ')}`}`);
    out.push(`elapsed: ${elapsedS} s${failedRuns > 0 ? `; ${failedRuns} run(s) FAILED` : ''}`);
    console.log(out.join('\n'));
  }
  if (failedRuns > 0) {
    console.error(`bench:e2e: ${failedRuns} run(s) failed (see the errors above)`);
    return 2;
  }
  return left.length > 0 ? 2 : 0;
}

const mainPromise = main();
mainSettled = mainPromise.catch(() => undefined);
mainPromise.then(
  (code) => {
    if (!interrupted) process.exit(code); // else onSignal() exits once it has swept
  },
  async (e: unknown) => {
    if (interrupted) return;
    console.error(`bench:e2e: ${(e as Error).stack ?? String(e)}`);
    await cleanup();
    process.exit(1);
  },
);
