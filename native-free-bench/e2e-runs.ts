// How `npm run bench:e2e` runs a measurement, for every section (nat, rfc2544, overlay, docker, macvlan): a probe
// around each run records what the run cost, as deltas — the pontoon daemons' CPU seconds
// (utime + stime from /proc/PID/stat, every thread), the whole machine's system + softirq seconds
// (/proc/stat; the kernel's forwarding cannot be attributed to one process, so both worlds get the
// machine-wide figure, which also holds the traffic tools' own system time), pontoon_drops_total by
// reason and the interfaces' drop counters — and the runner alternates the worlds: per test, per
// repetition, kernel then pontoon, a failed run retried once.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Daemon, run } from '../test/e2e/harness.js';
import type { Measurement, Settings } from './e2e-measure.js';

export type WorldKind = 'kernel' | 'pontoon';

/** The sections, in the order they run (nat and rfc2544 share the NAT worlds). */
export const SECTIONS = ['nat', 'rfc2544', 'overlay', 'routed', 'docker', 'macvlan', 'services'] as const;
export type SectionName = (typeof SECTIONS)[number];

/** What a run's probe looks at in a world. */
export interface ProbedWorld {
  readonly kind: WorldKind;
  /** the world's pontoon daemons, by label ("gateway", "host a"); none in the kernel world */
  daemons(): { label: string; daemon: Daemon }[];
  /** interfaces whose drop counters each run records, by label ("c1/eth0") */
  watchedLinks(): { label: string; ns: string; dev: string }[];
}

export type HttpImpl = 'node' | 'python';

export interface BenchOptions extends Settings {
  reps: number;
  quick: boolean;
  json: boolean;
  http: HttpImpl;
  kernelOffloadsOff: boolean;
  /** the sections to run */
  only: SectionName[];
  /** config keys set in every pontoon daemon, by dotted path (--pontoon-set KEY=VALUE) */
  pontoonSet: Record<string, unknown>;
}

/** What main() gives a section. */
export interface SectionContext {
  readonly o: BenchOptions;
  /** a progress line on stderr */
  log(line: string): void;
  interrupted(): boolean;
  /** name prefixes of namespaces, links and processes that must be gone after the cleanup */
  own(...names: string[]): void;
  /** a process (daemon, etcd) that must be gone after the cleanup */
  ownPid(pid: number | null): void;
}

// ---- what a run cost -----------------------------------------------------------------------------

export interface Usage {
  /** non-zero deltas of interface drop counters ("c1/eth0 tx_dropped") */
  linkDrops: Record<string, number>;
  /** pontoon world: non-zero deltas of pontoon_drops_total, by daemon label, then reason */
  pontoonDrops?: Record<string, Record<string, number>>;
  /** pontoon world: CPU seconds (user + system) of each daemon, by label */
  daemonCpuS?: Record<string, number>;
  /** system + softirq CPU seconds of the whole machine, all cores */
  machineCpuS: number;
}

export interface LinkStats {
  rxPackets: number;
  rxDropped: number;
  txPackets: number;
  txDropped: number;
}

/** `ip -s link show DEV` counters in `ns`. */
export async function linkStats(ns: string, dev: string): Promise<LinkStats | null> {
  const r = await run(['ip', '-n', ns, '-j', '-s', 'link', 'show', 'dev', dev], { timeoutMs: 5000 });
  if (r.code !== 0) return null;
  try {
    const l = (JSON.parse(r.stdout) as { stats64?: { rx: Record<string, number>; tx: Record<string, number> } }[])[0];
    if (l?.stats64 === undefined) return null;
    return { rxPackets: l.stats64.rx.packets!, rxDropped: l.stats64.rx.dropped!, txPackets: l.stats64.tx.packets!, txDropped: l.stats64.tx.dropped! };
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) of a process so far, from /proc; null when it is gone. */
export function processCpuSeconds(pid: number | null): number | null {
  if (pid === null) return null;
  const f = join('/proc', String(pid), 'stat');
  if (!existsSync(f)) return null;
  try {
    // fields after the ")" of the command (from field 3, state): utime and stime are fields 14 and 15; USER_HZ 100
    const text = readFileSync(f, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return null;
  }
}

/** System + softirq CPU seconds of the whole machine so far (the "cpu" line of /proc/stat, USER_HZ 100). */
export function machineSysSoftirqSeconds(): number {
  // cpu  user nice system idle iowait irq softirq steal ...
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  return (Number(f[3]) + Number(f[7])) / 100;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** Starts a probe of `w`; the function it returns ends it and gives the deltas. */
export async function startProbe(w: ProbedWorld): Promise<() => Promise<Usage>> {
  const links = w.watchedLinks();
  const daemons = w.daemons();
  const linkStatsAll = () => Promise.all(links.map((l) => linkStats(l.ns, l.dev)));
  const dropsAll = () => Promise.all(daemons.map((d) => d.daemon.drops().catch(() => ({}) as Record<string, number>)));
  const links0 = await linkStatsAll();
  const drops0 = await dropsAll();
  const cpu0 = daemons.map((d) => processCpuSeconds(d.daemon.pid));
  // the machine's counters last before the run and first after it: the probe's own commands stay out
  const machine0 = machineSysSoftirqSeconds();
  return async () => {
    const machine1 = machineSysSoftirqSeconds();
    const cpu1 = daemons.map((d) => processCpuSeconds(d.daemon.pid));
    const links1 = await linkStatsAll();
    const drops1 = await dropsAll();
    const u: Usage = { linkDrops: {}, machineCpuS: round2(machine1 - machine0) };
    links.forEach((l, i) => {
      const a = links0[i];
      const b = links1[i];
      if (a === null || a === undefined || b === null || b === undefined) return;
      if (b.rxDropped > a.rxDropped) u.linkDrops[`${l.label} rx_dropped`] = b.rxDropped - a.rxDropped;
      if (b.txDropped > a.txDropped) u.linkDrops[`${l.label} tx_dropped`] = b.txDropped - a.txDropped;
    });
    if (daemons.length > 0) {
      u.pontoonDrops = {};
      u.daemonCpuS = {};
      daemons.forEach((d, i) => {
        const before = drops0[i]!;
        const delta: Record<string, number> = {};
        for (const [reason, v] of Object.entries(drops1[i]!)) if (v > (before[reason] ?? 0)) delta[reason] = v - (before[reason] ?? 0);
        u.pontoonDrops![d.label] = delta;
        const c0 = cpu0[i];
        const c1 = cpu1[i];
        if (c0 !== null && c0 !== undefined && c1 !== null && c1 !== undefined) u.daemonCpuS![d.label] = round2(c1 - c0);
      });
    }
    return u;
  };
}

/** The daemons' CPU seconds together (undefined in the kernel world). */
export function daemonCpuTotal(u: Usage): number | undefined {
  if (u.daemonCpuS === undefined) return undefined;
  return round2(Object.values(u.daemonCpuS).reduce((a, b) => a + b, 0));
}

/** pontoon_drops_total of each daemon now, non-zero only. */
export async function dropsNow(w: ProbedWorld): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  for (const d of w.daemons()) {
    const all = await d.daemon.drops().catch(() => ({}) as Record<string, number>);
    out[d.label] = Object.fromEntries(Object.entries(all).filter(([, v]) => v > 0));
  }
  return out;
}

// ---- the runs ------------------------------------------------------------------------------------

export interface BenchTest<W> {
  name: string;
  run(w: W): Promise<Measurement>;
}

export interface RunRecord {
  section: SectionName;
  test: string;
  rep: number;
  world: WorldKind;
  /**
   * the test's figures, plus cpu_machine_s (system + softirq of the whole machine during the run)
   * and, in the pontoon world, cpu_daemon_s (the daemons' CPU seconds together)
   */
  values: Record<string, number>;
  extra: Record<string, number | string>;
  usage: Usage;
  error?: string;
  /** wall-clock seconds of the run, probes included */
  seconds: number;
}

/** One run of `test` in `w` under a probe; a failure is retried once, then recorded as the error. */
export async function measureOnce<W extends ProbedWorld>(ctx: SectionContext, section: SectionName, test: BenchTest<W>, rep: number, w: W): Promise<RunRecord> {
  const rec: RunRecord = { section, test: test.name, rep, world: w.kind, values: {}, extra: {}, usage: { linkDrops: {}, machineCpuS: 0 }, seconds: 0 };
  const started = Date.now();
  const stop = await startProbe(w);
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      const r = await test.run(w);
      rec.values = { ...r.values };
      rec.extra = r.extra;
      delete rec.error;
      break;
    } catch (e) {
      rec.error = `${(e as Error).message}`.trim();
      if (ctx.interrupted()) break;
      if (attempt === 1) ctx.log(`  ${section} ${test.name} ${w.kind} rep ${rep} failed, retrying once: ${rec.error.split('\n')[0]}`);
    }
  }
  rec.usage = await stop();
  rec.values.cpu_machine_s = rec.usage.machineCpuS;
  const daemonCpu = daemonCpuTotal(rec.usage);
  if (daemonCpu !== undefined) rec.values.cpu_daemon_s = daemonCpu;
  rec.seconds = Math.round((Date.now() - started) / 100) / 10;
  return rec;
}

/**
 * Every test `reps` times in every world, alternating: test 1 rep 1 kernel, pontoon, rep 2 kernel,
 * pontoon, ...; `show` renders a finished run's figures for the progress line.
 */
export async function runAlternating<W extends ProbedWorld>(
  ctx: SectionContext,
  section: SectionName,
  tests: BenchTest<W>[],
  worlds: W[],
  show: (rec: RunRecord) => string,
): Promise<RunRecord[]> {
  const records: RunRecord[] = [];
  const total = tests.length * ctx.o.reps * worlds.length;
  for (const test of tests) {
    for (let rep = 1; rep <= ctx.o.reps; rep++) {
      for (const w of worlds) {
        if (ctx.interrupted()) return records;
        const rec = await measureOnce(ctx, section, test, rep, w);
        if (ctx.interrupted()) return records;
        records.push(rec);
        const shown = rec.error !== undefined ? `FAILED: ${rec.error.split('\n')[0]}` : show(rec);
        ctx.log(`  [${section} ${records.length}/${total}] ${test.name} rep ${rep} ${w.kind.padEnd(7)} ${shown}`);
      }
    }
  }
  return records;
}
