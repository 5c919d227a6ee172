// config/grafana-dashboard.json names only metrics pontoon exports: the names come from the
// registry the daemon builds (metrics.ts, with DNS, PCP and an overlay on), not from a list kept here.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DnsStats } from '../../../src/control/dns/dns-stats.js';
import { buildRegistry } from '../../../src/control/metrics.js';
import { PcpStats } from '../../../src/control/pcp/pcp-stats.js';
import { PluginStats } from '../../../src/control/docker/plugin-stats.js';
import { DataplaneCounters } from '../../../src/dataplane/counters.js';

const DASHBOARD = fileURLToPath(new URL('../../../config/grafana-dashboard.json', import.meta.url));

/** Every series name the registry exports: histograms with their _bucket, _sum and _count. */
async function exportedNames(): Promise<Set<string>> {
  const registry = buildRegistry({
    counters: new DataplaneCounters(),
    portNames: () => new Map([[1, 'eth0@c1']]),
    inventory: () => ({ networks: 1, endpoints: 1 }),
    conntrackMax: 1024,
    overlays: () => [{ index: 0, vni: 42, name: 'ov' }],
    dns: new DnsStats(),
    pcp: { stats: new PcpStats(), mappings: () => 0 },
    docker: new PluginStats(),
    macvlan: { parents: () => [{ attached: true }], lost: () => 0 },
    services: () => [{ service: 'web', network: 'bridge', slot: 0, backends: [{ backend: 'c1/172.17.0.2', slot: 0 }] }],
  });
  const names = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

// PromQL words that are not metric names: aggregations' modifiers, set operators, offset, and the
// keywords of subqueries; functions and aggregations are told apart by the "(" that follows them
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects. A small tokenizer: Grafana variables, string
 * literals, label matchers ({...}), range and subquery brackets ([...]) and the label lists of
 * by/without/on/ignoring/group_* go first; every identifier left that is not a keyword, a number
 * or a function name (followed by "(") is a metric name.
 */
function metricNames(expr: string): string[] {
  let s = expr.replace(/\$\{[^}]*\}|\$\w+/g, ' ');
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  s = s.replace(/\{[^}]*\}/g, ' ');
  s = s.replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const out: string[] = [];
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const rest = s.slice(m.index + word.length);
    if (/^\s*\(/.test(rest)) continue; // a function or an aggregation
    if (KEYWORDS.has(word.toLowerCase())) continue;
    if (m.index > 0 && /[0-9.]/.test(s[m.index - 1]!)) continue; // 1e3, 5m inside a number
    out.push(word);
  }
  return out;
}

interface Target {
  expr?: string;
}
interface Panel {
  type: string;
  title: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');

/** Every query of the dashboard with where it is: panel targets and the variables' label_values(). */
function queries(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const p of panels) for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}"`, expr: t.expr ?? '' });
  for (const v of dashboard.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    // label_values(SELECTOR, LABEL): the selector is PromQL
    const inner = /^label_values\((.*),\s*\w+\)$/.exec(q.trim());
    out.push({ where: `variable $${v.name}`, expr: inner !== null ? inner[1]! : q });
  }
  return out;
}

describe('the PromQL tokenizer', () => {
  it('finds the metric names of an expression and nothing else', () => {
    expect(
      metricNames(
        'sum by (le, port) (rate(pontoon_a_total{instance=~"$instance",x="rate(b)"}[5m] offset 1h)) / on (port) group_left (n) pontoon_b * 1e3 > bool 0 and ${v} unless pontoon_c:recorded',
      ),
    ).toEqual(['pontoon_a_total', 'pontoon_b', 'pontoon_c:recorded']);
    expect(metricNames('histogram_quantile(0.99, sum by (le) (rate(x_bucket[$__rate_interval])))')).toEqual(['x_bucket']);
    expect(metricNames('max(up) == 1')).toEqual(['up']);
  });
});

describe('config/grafana-dashboard.json', () => {
  it('is a dashboard whose every panel has queries', () => {
    expect(panels.length).toBeGreaterThan(10);
    for (const p of panels) {
      expect(p.targets?.length ?? 0, `panel "${p.title}"`).toBeGreaterThan(0);
      for (const t of p.targets!) expect(metricNames(t.expr ?? '').length, `panel "${p.title}": ${t.expr}`).toBeGreaterThan(0);
    }
  });

  it('names only metrics pontoon exports', async () => {
    const exported = await exportedNames();
    const unknown: string[] = [];
    for (const q of queries()) for (const n of metricNames(q.expr)) if (!exported.has(n)) unknown.push(`${q.where}: ${n}`);
    expect(unknown).toEqual([]);
  });

  it('shows every pontoon metric family but the process defaults', async () => {
    const used = new Set(queries().flatMap((q) => metricNames(q.expr)).map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    const missing = [...(await exportedNames())].filter((n) => !n.startsWith('pontoon_process_') && !/_(bucket|sum|count)$/.test(n) && !used.has(n));
    expect(missing).toEqual([]);
  });

  it('would catch a name pontoon does not export', async () => {
    const exported = await exportedNames();
    expect(metricNames('rate(pontoon_port_rx_bytes_totl[1m])').filter((n) => !exported.has(n))).toEqual(['pontoon_port_rx_bytes_totl']);
    expect(exported.has('pontoon_process_nodejs_active_handles_total')).toBe(false);
  });
});
