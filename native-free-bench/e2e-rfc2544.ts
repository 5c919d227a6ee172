// The rfc2544 section of `npm run bench:e2e`: RFC 2544's throughput test with 64-byte frames
// through the masquerade (c1 → ext, in the NAT worlds of e2e-worlds.ts): the highest offered rate
// at which no frame is lost, found by a binary search over the offered rate; the kernel's search
// and pontoon's take turns, one trial each.
//
// Generator: trafgen (netsniff-ng) in c1, one process (-P 1), `-n COUNT -t GAP`, through the
// device's qdisc (-q, as a socket's frames go), sending UDP frames of 60 bytes (64 on a wire, with
// the FCS) from c1 to ext port 9, one flow (one conntrack entry, one NAT mapping), checksums filled
// in. Not `-b RATEpps`: trafgen 0.6 sends RATE frames back to back and then sleeps out the second,
// bursts no queue absorbs. `-t GAP` sleeps GAP after every frame, so the frames are evenly spaced;
// a sleep costs about C on top of GAP (calibrated), which bounds the paced rates at 1/(1 ns + C)
// (tens of kpps on a VM). GAP 0 does not sleep at all: the generator's maximum, far above that.
// Between the two nothing can be offered; a search that passes at the highest paced rate and fails
// at the maximum says so.
//
// Receiver: an nftables named counter in ext at prerouting, priority raw, for what comes from the
// public address to UDP port 9, which then drops it (no port-unreachable traffic flows back), read
// after a settle time. Loss = frames trafgen sent − frames counted. A trial's offered rate is what
// trafgen achieved (frames / its send loop's time). In the pontoon world frames wait on c1's TAP
// queue until pontoon reads them; what does not fit is dropped there (tx_dropped on c1's eth0). In
// the kernel world the veth hands the frame to the bridge, the forwarding and the NAT inside
// trafgen's own sendto(): that path cannot be overrun from c1, it slows the generator down instead,
// so its zero-loss rate is the rate it lets trafgen reach ("generator limited").
//
// The search: the maximum first; if nothing is lost, that is the result. Then 10 kpps; if that loses
// frames, the result is "below 10 kpps" (0). Then the highest paced rate, then the geometric
// midpoint of the highest rate that passed and the lowest that failed, until the trials are used up
// or the two are within 3%. --reps does not apply: one search per world.

import { createNetns, nsExec, nsExecOk, randomHex, runOk, sleep } from '../test/e2e/harness.js';
import { startBackground } from '../test/e2e/nat-world.js';
import type { Measurement } from './e2e-measure.js';
import type { NatWorlds } from './e2e-nat.js';
import { type MetricDef, type SectionReport, atLeastTimesKernel, detailLine, fmt } from './e2e-report.js';
import { type RunRecord, type SectionContext, dropsNow, linkStats, measureOnce } from './e2e-runs.js';
import { type BenchWorld, EXT_IP, PUBLIC_IP } from './e2e-worlds.js';

const FLOOR_PPS = 10_000;
const UDP_SPORT = 40_000;
const UDP_DPORT = 9;
const TABLE = 'pontoon_bench_rfc2544';
const SETTLE_MS = 500;
/** the search stops when the highest passing and the lowest failing rates are this close */
const RESOLUTION = 1.03;

const macBytes = (mac: string) => mac.split(':').map((b) => `0x${b}`).join(', ');
const ipBytes = (ip: string) => ip.split('.').join(', ');

/** A trafgen packet: Ethernet + IPv4 (DF, TTL 64) + UDP with 18 bytes of zeros = 60 bytes, checksums computed by trafgen. */
function udpFrame(dstMac: string, srcMac: string, srcIp: string, dstIp: string): string {
  return (
    `{ ${macBytes(dstMac)}, ${macBytes(srcMac)}, c16(0x0800), ` +
    `0x45, 0x00, c16(46), c16(0), c16(0x4000), 64, 17, csumip(14, 33), ${ipBytes(srcIp)}, ${ipBytes(dstIp)}, ` +
    `c16(${UDP_SPORT}), c16(${UDP_DPORT}), c16(26), csumudp(14, 34), fill(0x00, 18) }`
  );
}

// ---- the generator ---------------------------------------------------------------------------------

/** How fast trafgen goes here: unpaced, and what a paced frame costs beyond its gap. */
interface Generator {
  /** frames/s with no gap */
  maxPps: number;
  /** ns a frame costs on top of its gap (the sleep's own cost) */
  paceCostNs: number;
  /** frames/s with the smallest gap (1 ns): the highest paced rate */
  pacedMaxPps: number;
}

/** A trial's pace: the gap for a rate (0: the maximum), and the rate that gap should give. */
function pace(g: Generator, pps: number): { gapNs: number; expectedPps: number } {
  if (pps >= g.maxPps) return { gapNs: 0, expectedPps: g.maxPps };
  const gapNs = Math.max(1, Math.round(1e9 / pps - g.paceCostNs));
  return { gapNs, expectedPps: 1e9 / (gapNs + g.paceCostNs) };
}

/** trafgen on `dev` in `ns`: `count` frames, `gapNs` apart; bounded, killed with its process group. */
async function trafgen(ns: string, dev: string, frame: string, gapNs: number, count: number, expectedPps: number): Promise<{ sent: number; loopSeconds: number }> {
  // -q: through the qdisc, like a socket's frames (without it, a full TAP queue answers ENOBUFS and
  // trafgen sends the same frame again); --no-sock-mem, -Q: leave the machine's sysctls and IRQs alone
  const argv = ['trafgen', '-o', dev, '-P', '1', '-q', '--no-sock-mem', '-Q', '-n', String(count), '-t', `${gapNs}ns`, frame];
  // four times the time it should take: a path that pushes back slows trafgen down, it does not stop it
  const p = startBackground(ns, argv, Math.ceil((count / expectedPps) * 4) + 10);
  const r = await p.exited();
  const out = `${r.stdout}\n${r.stderr}`;
  const sent = /(\d+) packets outgoing/.exec(out);
  const loop = /(\d+) sec,\s*(\d+) usec on CPU\d+/.exec(out);
  if (r.code !== 0 || sent === null || loop === null) throw new Error(`trafgen in ${ns} (exit ${r.code ?? r.signal}): ${out.trim().split('\n').slice(-4).join(' | ')}`);
  return { sent: Number(sent[1]), loopSeconds: Number(loop[1]) + Number(loop[2]) / 1e6 };
}

/** Measures the generator into a veth that discards every frame: unpaced, and paced at the smallest gap. */
async function calibrate(ctx: SectionContext): Promise<Generator> {
  const ns = `pbe-${randomHex(3)}-sink`;
  ctx.own(ns);
  await createNetns(ns);
  await runOk(['ip', '-n', ns, 'link', 'add', 's0', 'type', 'veth', 'peer', 'name', 's1']);
  for (const d of ['s0', 's1']) await runOk(['ip', '-n', ns, 'link', 'set', d, 'up']);
  // addressed to a MAC nobody has: s1 discards each frame as soon as it arrives
  const frame = udpFrame('02:00:00:00:00:02', '02:00:00:00:00:01', '10.0.0.1', '10.0.0.2');
  const full = await trafgen(ns, 's0', frame, 0, 300_000, 50_000);
  const paced = await trafgen(ns, 's0', frame, 1, 20_000, 5_000);
  await runOk(['ip', 'netns', 'del', ns]);
  const perFrameNs = (paced.loopSeconds * 1e9) / paced.sent;
  return { maxPps: full.sent / full.loopSeconds, paceCostNs: Math.max(0, perFrameNs - 1), pacedMaxPps: 1e9 / perFrameNs };
}

// ---- a trial -----------------------------------------------------------------------------------

/** The receiver's counter in `w.ext`: counts and drops what the masquerade delivers to UDP port 9. */
async function installCounter(w: BenchWorld): Promise<void> {
  const ruleset = [
    `table ip ${TABLE} {`,
    '  counter received { }',
    '  chain prerouting {',
    '    type filter hook prerouting priority raw; policy accept;',
    `    ip saddr ${PUBLIC_IP} ip daddr ${EXT_IP} udp dport ${UDP_DPORT} counter name "received" drop`,
    '  }',
    '}',
    '',
  ].join('\n');
  await nsExecOk(w.ext, ['nft', '-f', '-'], { input: ruleset });
}

async function received(w: BenchWorld): Promise<number> {
  const r = await nsExecOk(w.ext, ['nft', '-j', 'list', 'counter', 'ip', TABLE, 'received'], { timeoutMs: 5000 });
  const items = (JSON.parse(r.stdout) as { nftables: { counter?: { packets: number } }[] }).nftables;
  const c = items.find((x) => x.counter !== undefined)?.counter;
  if (c === undefined) throw new Error(`no counter ${TABLE} received in ${w.ext}`);
  return c.packets;
}

/** The MAC c1 sends to for its default gateway (resolved by a ping when the cache has none). */
async function gatewayMac(w: BenchWorld): Promise<string> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await nsExec(w.c1, ['ip', '-j', 'neigh', 'show', w.gatewayIp], { timeoutMs: 5000 });
    const mac = (JSON.parse(r.stdout || '[]') as { lladdr?: string }[])[0]?.lladdr;
    if (mac !== undefined) return mac;
    await nsExec(w.c1, ['ping', '-n', '-c', '1', '-W', '1', w.gatewayIp], { timeoutMs: 5000 });
  }
  throw new Error(`${w.c1} cannot resolve its gateway ${w.gatewayIp}`);
}

async function ownMac(ns: string, dev: string): Promise<string> {
  const r = await nsExecOk(ns, ['ip', '-j', 'link', 'show', 'dev', dev]);
  return (JSON.parse(r.stdout) as { address: string }[])[0]!.address;
}

async function txDropped(w: BenchWorld): Promise<number> {
  const s = await linkStats(w.c1, 'eth0');
  if (s === null) throw new Error(`no counters for eth0 in ${w.c1}`);
  return s.txDropped;
}

/** One trial: `pps` asked for about `seconds`; offered (achieved) rate, sent, received, lost. */
async function trial(g: Generator, w: BenchWorld, frame: string, pps: number, seconds: number): Promise<Measurement> {
  const p = pace(g, pps);
  const count = Math.max(1000, Math.round(p.expectedPps * seconds));
  const rx0 = await received(w);
  const drop0 = await txDropped(w);
  const t = await trafgen(w.c1, 'eth0', frame, p.gapNs, count, p.expectedPps);
  await sleep(SETTLE_MS);
  const got = (await received(w)) - rx0;
  const lost = t.sent - got;
  return {
    values: { offered_pps: t.sent / t.loopSeconds, requested_pps: pps, gap_ns: p.gapNs, sent: t.sent, received: got, lost, eth0_tx_dropped: (await txDropped(w)) - drop0 },
    extra: { loop_seconds: Math.round(t.loopSeconds * 1000) / 1000, outcome: lost <= 0 ? 'pass' : 'loss' },
  };
}

// ---- the search ----------------------------------------------------------------------------------

/** One world's search: the rates tried so far and what came of them. */
class Search {
  /** highest requested rate with no loss, lowest with loss */
  lo: number | null = null;
  hi: number | null = null;
  best: RunRecord | null = null;
  trials: RunRecord[] = [];
  done = false;
  /** passed at the highest paced rate and lost at the maximum: nothing in between can be offered */
  pacingGap = false;
  error: string | null = null;

  constructor(
    readonly w: BenchWorld,
    readonly frame: string,
    readonly g: Generator,
  ) {}

  /** The rate to try next, or null when the search is over. */
  next(): number | null {
    if (this.done) return null;
    if (this.trials.length === 0) return this.g.maxPps;
    if (this.lo === null) return FLOOR_PPS;
    const paced = Math.floor(this.g.pacedMaxPps);
    if (this.hi === this.g.maxPps && paced > this.lo) return paced;
    if (this.hi === null || this.hi / this.lo <= RESOLUTION) return null;
    return Math.round(Math.sqrt(this.lo * this.hi));
  }

  record(rate: number, rec: RunRecord): void {
    this.trials.push(rec);
    if (rec.error !== undefined) {
      this.error = rec.error;
      this.done = true;
      return;
    }
    if (rec.values.lost! <= 0) {
      this.lo = rate;
      if (this.best === null || rec.values.offered_pps! > this.best.values.offered_pps!) this.best = rec;
      if (rate === this.g.maxPps) this.done = true;
      if (this.hi === this.g.maxPps && rate >= Math.floor(this.g.pacedMaxPps)) {
        this.pacingGap = true;
        this.done = true;
      }
    } else {
      this.hi = rate;
      if (rate === FLOOR_PPS) this.done = true;
    }
  }

  /** The search's outcome as a run record of test "zero_loss". */
  result(): RunRecord {
    const b = this.best;
    const values: Record<string, number> = { pps: b === null ? 0 : b.values.offered_pps! };
    const extra: Record<string, number | string> = { trials: this.trials.length };
    if (b !== null) {
      const mpkt = b.values.received! / 1e6;
      values.machine_cpu_s_per_mpkt = b.usage.machineCpuS / mpkt;
      if (b.values.cpu_daemon_s !== undefined) values.daemon_cpu_s_per_mpkt = b.values.cpu_daemon_s / mpkt;
      extra.requested_pps = b.values.requested_pps!;
      extra.gap_ns = b.values.gap_ns!;
      // the path held the generator back: the maximum asked, well under it achieved, nothing lost
      extra.generator_limited = b.values.gap_ns === 0 && b.values.offered_pps! < 0.9 * this.g.maxPps ? 'yes' : 'no';
      extra.pacing_gap = this.pacingGap ? 'yes' : 'no';
    } else {
      extra.below_pps = FLOOR_PPS;
    }
    const rec: RunRecord = { section: 'rfc2544', test: 'zero_loss', rep: 1, world: this.w.kind, values, extra, usage: b?.usage ?? { linkDrops: {}, machineCpuS: 0 }, seconds: 0 };
    if (this.error !== null) rec.error = this.error;
    return rec;
  }
}

const METRICS: MetricDef[] = [
  { name: 'zero_loss_pps', test: 'zero_loss', key: 'pps', label: 'zero-loss 64 B frames c1->ext, packets/s', unit: 'packets/s', digits: 0, target: atLeastTimesKernel(0.8) },
  { name: 'machine_cpu_per_mpkt', test: 'zero_loss', key: 'machine_cpu_s_per_mpkt', label: 'machine sys+softirq CPU s/Mpacket (lower=better)', unit: 's/Mpacket', digits: 2 },
  { name: 'daemon_cpu_per_mpkt', test: 'zero_loss', key: 'daemon_cpu_s_per_mpkt', label: 'pontoon daemon CPU s/Mpacket (lower=better)', unit: 's/Mpacket', digits: 2 },
];

function trialParts(r: RunRecord): string[] {
  const v = r.values;
  const e = r.extra;
  if (r.test === 'zero_loss') {
    if (e.below_pps !== undefined) return [`no rate without loss (below ${fmt(Number(e.below_pps), 0)} pkt/s), after ${e.trials} trials`];
    const why = e.generator_limited === 'yes' ? ' (generator limited: the path held trafgen back)' : e.pacing_gap === 'yes' ? ' (lost at the maximum: no rate between the highest paced rate and it can be offered)' : '';
    return [`zero-loss ${fmt(v.pps, 0)} pkt/s${why}, after ${e.trials} trials`];
  }
  if (v.sent === undefined) return [];
  return [
    `asked ${fmt(v.requested_pps, 0)} pkt/s (gap ${v.gap_ns} ns), offered ${fmt(v.offered_pps, 0)}; sent ${fmt(v.sent, 0)}, received ${fmt(v.received, 0)}, lost ${fmt(v.lost, 0)}: ${e.outcome}`,
  ];
}

export async function rfc2544Section(ctx: SectionContext, worlds: NatWorlds): Promise<SectionReport> {
  const { o } = ctx;
  const seconds = o.quick ? 1 : 3;
  const steps = o.quick ? 6 : 8;
  ctx.log('bench:e2e: rfc2544: calibrating trafgen...');
  const g = await calibrate(ctx);
  const genLine = `trafgen offers up to ${fmt(g.maxPps, 0)} frames/s unpaced, ${fmt(g.pacedMaxPps, 0)} frames/s paced (a sleep costs ${fmt(g.paceCostNs / 1000, 1)} us on top of the gap)`;
  ctx.log(`bench:e2e: rfc2544: ${genLine}; up to ${steps} trials of ${seconds} s per world`);
  const searches: Search[] = [];
  for (const w of [worlds.kernel, worlds.pontoon]) {
    await installCounter(w);
    searches.push(new Search(w, udpFrame(await gatewayMac(w), await ownMac(w.c1, 'eth0'), w.c1Ip, EXT_IP), g));
  }
  const records: RunRecord[] = [];
  for (let step = 1; step <= steps; step++) {
    for (const s of searches) {
      const rate = s.next();
      if (rate === null || ctx.interrupted()) continue;
      const rec = await measureOnce(ctx, 'rfc2544', { name: 'trial', run: (w) => trial(g, w, s.frame, rate, seconds) }, step, s.w);
      s.record(rate, rec);
      records.push(rec);
      ctx.log(`  [rfc2544 trial ${step}/${steps}] ${s.w.kind.padEnd(7)} ${rec.error !== undefined ? `FAILED: ${rec.error.split('\n')[0]}` : trialParts(rec).join('; ')}`);
    }
  }
  const results = searches.map((s) => s.result());
  records.push(...results);
  // a figure the generator bounded is a lower bound: say so beside the table
  const bounds = results.flatMap((r) =>
    r.extra.pacing_gap === 'yes'
      ? [`${r.world}: at least ${fmt(r.values.pps, 0)} pkt/s: no loss at the highest paced rate, loss unpaced (${fmt(g.maxPps, 0)} asked); trafgen cannot offer the rates in between`]
      : r.extra.generator_limited === 'yes'
        ? [`${r.world}: ${fmt(r.values.pps, 0)} pkt/s is what the path let trafgen reach unpaced, with no loss`]
        : [],
  );
  return {
    name: 'rfc2544',
    title: `rfc2544: zero-loss rate of 64-byte frames through the masquerade (c1 -> ext), binary search, up to ${steps} trials of ${seconds} s per world`,
    header: [
      ...worlds.header,
      `generator: trafgen in c1 (-P 1 -q -t GAP), UDP 60 B + FCS, one flow; here ${genLine}`,
      'receiver: nftables counter in ext (prerouting, priority raw); lost = sent - counted after 0.5 s; offered = what trafgen achieved',
    ],
    worlds: { ...worlds.info, generator: g, trialSeconds: seconds, steps },
    metrics: METRICS,
    records,
    details: records.map((r) => detailLine(r, trialParts(r))),
    notes: [
      ...bounds,
      "CPU per Mpacket at the highest zero-loss trial: pontoon daemon utime+stime; machine sys+softirq = the whole machine (/proc/stat), which holds the kernel's forwarding and trafgen's own sendto() and sleeps in both worlds (paced trials cost more per frame than unpaced ones)",
      "in the kernel world the forwarding runs inside trafgen's sendto() (veth -> bridge -> NAT): the path slows the generator rather than dropping, so its result is the rate it let trafgen reach",
    ],
    pontoonDropsTotal: await dropsNow(worlds.pontoon),
  };
}
