// What `npm run bench:e2e` prints for each section: the table (metric, kernel, pontoon,
// pontoon/kernel, target) of the medians over the repetitions, the runs behind each median, one
// detail line per run, and the same as JSON. A target is a figure to compare with, not a pass/fail
// check: the exit code never depends on it.

import type { RunRecord, SectionName, Usage, WorldKind } from './e2e-runs.js';

export interface Target {
  /** how the table shows it: ">= 0.8x kernel" */
  text: string;
  met(kernel: number, pontoon: number): boolean;
}

/** pontoon ≥ x times the kernel (throughput). */
export const atLeastTimesKernel = (x: number): Target => ({ text: `>= ${x.toFixed(1)}x kernel`, met: (k, p) => p >= x * k });
/** pontoon ≤ x times the kernel (latency). */
export const atMostTimesKernel = (x: number): Target => ({ text: `<= ${x}x kernel`, met: (k, p) => p <= x * k });
/** pontoon ≤ the kernel + d (in the metric's unit; `dText` says it in words: "20 us"). */
export const atMostKernelPlus = (d: number, dText: string): Target => ({ text: `<= kernel + ${dText}`, met: (k, p) => p <= k + d });
/** pontoon ≤ the kernel (retransmits). */
export const atMostKernel: Target = { text: '<= kernel', met: (k, p) => p <= k };

export interface MetricDef {
  /** unique in its section: the JSON key */
  name: string;
  /** the test whose runs carry the figure, and its key in RunRecord.values */
  test: string;
  key: string;
  label: string;
  unit: string;
  digits: number;
  target?: Target;
}

export interface MedianRow {
  label: string;
  unit: string;
  kernel: number | null;
  pontoon: number | null;
  /** pontoon / kernel */
  ratio: number | null;
  target: string | null;
  /** null when there is no target or a figure is missing */
  targetMet: boolean | null;
  kernelRuns: number[];
  pontoonRuns: number[];
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function medians(records: RunRecord[], metrics: MetricDef[]): Record<string, MedianRow> {
  const out: Record<string, MedianRow> = {};
  for (const mt of metrics) {
    const runs = (w: WorldKind) => records.filter((r) => r.world === w && r.test === mt.test && r.values[mt.key] !== undefined).map((r) => r.values[mt.key]!);
    const k = runs('kernel');
    const p = runs('pontoon');
    const km = k.length > 0 ? median(k) : null;
    const pm = p.length > 0 ? median(p) : null;
    out[mt.name] = {
      label: mt.label,
      unit: mt.unit,
      kernel: km,
      pontoon: pm,
      ratio: km !== null && pm !== null && km !== 0 ? pm / km : null,
      target: mt.target?.text ?? null,
      targetMet: mt.target !== undefined && km !== null && pm !== null ? mt.target.met(km, pm) : null,
      kernelRuns: k,
      pontoonRuns: p,
    };
  }
  return out;
}

export const fmt = (v: number | null | undefined, digits: number): string =>
  v === null || v === undefined || Number.isNaN(v) ? 'n/a' : digits === 0 ? Math.round(v).toLocaleString('en-US') : v.toFixed(digits);

/** "key value, key value" of a run's figures that `metrics` know, for the progress line. */
export function showValues(rec: RunRecord, metrics: MetricDef[]): string {
  return metrics
    .filter((m) => m.test === rec.test && rec.values[m.key] !== undefined)
    .map((m) => `${m.key} ${fmt(rec.values[m.key], m.digits)}`)
    .join(', ');
}

/** The parts of a detail line every run has: interface drops, pontoon drops, CPU. */
export function usageParts(u: Usage): string[] {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(u.linkDrops)) parts.push(`${k} +${v}`);
  if (u.pontoonDrops !== undefined) {
    const labels = Object.keys(u.pontoonDrops);
    const shown = labels.map((l) => {
      const d = Object.entries(u.pontoonDrops![l]!).map(([k, v]) => `${k} +${v}`);
      return `${labels.length > 1 ? `[${l}] ` : ''}${d.length === 0 ? 'none' : d.join(' ')}`;
    });
    parts.push(`pontoon drops ${shown.join(' ')}`);
  }
  if (u.daemonCpuS !== undefined) parts.push(`daemon CPU ${Object.entries(u.daemonCpuS).map(([l, s]) => `${Object.keys(u.daemonCpuS!).length > 1 ? `${l} ` : ''}${s} s`).join(', ')}`);
  parts.push(`machine sys+softirq ${u.machineCpuS} s`);
  return parts;
}

/** One detail line: the test, the repetition, the world, then the parts (an error first). */
export function detailLine(rec: RunRecord, parts: string[]): string {
  const all = [...(rec.error !== undefined ? [`ERROR ${rec.error.split('\n')[0]}`] : []), ...parts, ...usageParts(rec.usage)];
  return `  ${rec.test.padEnd(10)} ${String(rec.rep).padStart(2)} ${rec.world.padEnd(7)} ${all.join('; ')}`;
}

export interface SectionReport {
  name: SectionName;
  /** the section's heading */
  title: string;
  /** lines under the heading: how each world is built, what the figures mean */
  header: string[];
  /** the same, for the JSON */
  worlds: Record<string, unknown>;
  metrics: MetricDef[];
  records: RunRecord[];
  /** one line per run (detailLine) */
  details: string[];
  /** lines after the details */
  notes: string[];
  /** non-zero pontoon_drops_total after the section's runs, by daemon label */
  pontoonDropsTotal: Record<string, Record<string, number>>;
}

export function failedRuns(r: SectionReport): number {
  return r.records.filter((x) => x.error !== undefined).length;
}

export function renderSection(r: SectionReport): string[] {
  const med = medians(r.records, r.metrics);
  const out: string[] = ['', `== ${r.title} ==`, ...r.header, ''];
  const w = Math.max(44, ...r.metrics.map((m) => m.label.length));
  out.push(`${'METRIC'.padEnd(w)} ${'KERNEL'.padStart(12)} ${'PONTOON'.padStart(12)} ${'PONTOON/KERNEL'.padStart(15)}  TARGET`);
  for (const mt of r.metrics) {
    const x = med[mt.name]!;
    const target = x.target === null ? '' : `${x.target}${x.targetMet === null ? '' : x.targetMet ? ': met' : ': not met'}`;
    out.push(`${mt.label.padEnd(w)} ${fmt(x.kernel, mt.digits).padStart(12)} ${fmt(x.pontoon, mt.digits).padStart(12)} ${(x.ratio === null ? 'n/a' : x.ratio.toFixed(3)).padStart(15)}  ${target}`);
  }
  out.push('');
  out.push('runs (kernel | pontoon):');
  for (const mt of r.metrics) {
    const x = med[mt.name]!;
    out.push(`  ${mt.name.padEnd(24)} ${x.kernelRuns.map((v) => fmt(v, mt.digits)).join(', ')} | ${x.pontoonRuns.map((v) => fmt(v, mt.digits)).join(', ')}`);
  }
  out.push('details per run:');
  out.push(...r.details);
  const drops = Object.entries(r.pontoonDropsTotal).flatMap(([label, d]) =>
    Object.entries(d).map(([k, v]) => `${Object.keys(r.pontoonDropsTotal).length > 1 ? `[${label}] ` : ''}pontoon_drops_total{reason="${k}"} ${v}`),
  );
  out.push(`pontoon_drops_total, non-zero, after the section: ${drops.length === 0 ? 'none' : drops.join(', ')}`);
  out.push(...r.notes);
  return out;
}

export function sectionJson(r: SectionReport): Record<string, unknown> {
  return {
    title: r.title,
    worlds: r.worlds,
    medians: medians(r.records, r.metrics),
    runs: r.records,
    pontoonDropsTotal: r.pontoonDropsTotal,
    notes: r.notes,
    failedRuns: failedRuns(r),
  };
}
