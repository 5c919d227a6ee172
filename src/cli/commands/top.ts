// `pontoon top`: per-port and per-network packet and byte rates, drops by reason, conntrack use and
// NAT ports, from two samples of the daemon's counters (GET /v1/counters) an interval apart;
// refreshed every interval until Ctrl-C, or printed once (--once) as a table or JSON.

import { type Command, InvalidArgumentError, Option } from 'commander';
import type { CountersReport } from '../../control/api-types.js';
import type { CliContext } from '../context.js';
import { formatTable } from '../format.js';

/** Rates per second over the interval; null for what the first sample did not have yet. */
export interface Rates {
  rxPacketsPerSecond: number | null;
  rxBytesPerSecond: number | null;
  txPacketsPerSecond: number | null;
  txBytesPerSecond: number | null;
}

interface Traffic {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
}

/** What `pontoon top` shows, and what `--once --format json` prints: the counters of the second sample plus the rates. */
export interface TopView {
  time: string;
  intervalSeconds: number;
  networks: ({ name: string; ports: number } & Rates)[];
  ports: ({ id: number; name: string; kind: string; network: string | null } & Traffic & Rates)[];
  overlays: ({ network: string; vni: number } & Traffic & Rates)[];
  drops: { reason: string; packets: number; perSecond: number }[];
  conntrack: { entries: number; max: number };
  natPorts: { tcp: number; udp: number; icmp: number };
}

function rates(before: Traffic | undefined, now: Traffic, dt: number): Rates {
  if (before === undefined || dt <= 0) return { rxPacketsPerSecond: null, rxBytesPerSecond: null, txPacketsPerSecond: null, txBytesPerSecond: null };
  // a counter that went down (a port re-created with the same id) counts from 0
  const r = (a: number, b: number) => (b >= a ? b - a : b) / dt;
  return {
    rxPacketsPerSecond: r(before.rxPackets, now.rxPackets),
    rxBytesPerSecond: r(before.rxBytes, now.rxBytes),
    txPacketsPerSecond: r(before.txPackets, now.txPackets),
    txBytesPerSecond: r(before.txBytes, now.txBytes),
  };
}

const traffic = (t: Traffic): Traffic => ({ rxPackets: t.rxPackets, rxBytes: t.rxBytes, txPackets: t.txPackets, txBytes: t.txBytes });

/** The view from two samples, `a` taken before `b`. */
export function topView(a: CountersReport, b: CountersReport): TopView {
  const dt = (b.time - a.time) / 1000;
  const portsBefore = new Map(a.ports.map((p) => [`${p.id} ${p.name}`, p]));
  const ports = b.ports.map((p) => ({ id: p.id, name: p.name, kind: p.kind, network: p.network, ...traffic(p), ...rates(portsBefore.get(`${p.id} ${p.name}`), p, dt) }));
  const byNetwork = new Map<string, { name: string; ports: number } & Rates>();
  for (const p of ports) {
    if (p.network === null) continue;
    let n = byNetwork.get(p.network);
    if (n === undefined) byNetwork.set(p.network, (n = { name: p.network, ports: 0, rxPacketsPerSecond: 0, rxBytesPerSecond: 0, txPacketsPerSecond: 0, txBytesPerSecond: 0 }));
    n.ports++;
    for (const k of ['rxPacketsPerSecond', 'rxBytesPerSecond', 'txPacketsPerSecond', 'txBytesPerSecond'] as const) {
      const v = p[k];
      if (v !== null) n[k] = (n[k] ?? 0) + v;
    }
  }
  const overlaysBefore = new Map(a.overlays.map((o) => [o.network, o]));
  const overlays = b.overlays.map((o) => ({ network: o.network, vni: o.vni, ...traffic(o), ...rates(overlaysBefore.get(o.network), o, dt) }));
  const drops = Object.entries(b.drops)
    .filter(([, n]) => n > 0)
    .map(([reason, packets]) => ({ reason, packets, perSecond: dt > 0 ? Math.max(0, packets - (a.drops[reason] ?? 0)) / dt : 0 }))
    .sort((x, y) => y.perSecond - x.perSecond || y.packets - x.packets || (x.reason < y.reason ? -1 : 1));
  return {
    time: new Date(b.time).toISOString(),
    intervalSeconds: dt,
    networks: [...byNetwork.values()].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0)),
    ports,
    overlays,
    drops,
    conntrack: b.conntrack,
    natPorts: b.natPorts,
  };
}

/** 0, 12, 999, 1.2k, 34.5M, 1.0G: SI prefixes, three significant digits at most. */
export function formatRate(n: number | null): string {
  if (n === null) return '-';
  if (n < 1000) return n < 10 && n > 0 && !Number.isInteger(n) ? n.toFixed(1) : String(Math.round(n));
  for (const [limit, unit] of [[1e6, 'k'], [1e9, 'M'], [1e12, 'G']] as const) {
    if (n < limit) {
      const v = n / (limit / 1000);
      return `${v < 100 ? v.toFixed(1) : Math.round(v)}${unit}`;
    }
  }
  return `${(n / 1e12).toFixed(1)}T`;
}

const RATE_HEADERS = ['RX-PKT/S', 'RX-B/S', 'TX-PKT/S', 'TX-B/S'];
const rateCells = (r: Rates): string[] => [r.rxPacketsPerSecond, r.rxBytesPerSecond, r.txPacketsPerSecond, r.txBytesPerSecond].map(formatRate);

export function formatTop(v: TopView): string {
  const ct = v.conntrack;
  const pct = ct.max > 0 ? ((100 * ct.entries) / ct.max).toFixed(1) : '0.0';
  let out = `pontoon top: ${v.time}, rates over ${v.intervalSeconds.toFixed(1)} s\n`;
  out += `Conntrack: ${ct.entries} of ${ct.max} entries (${pct}%)   NAT ports in use: tcp ${v.natPorts.tcp}, udp ${v.natPorts.udp}, icmp ${v.natPorts.icmp}\n`;
  const section = (title: string, headers: string[], rows: string[][]) => {
    out += rows.length === 0 ? `\n${title}: none\n` : `\n${formatTable(headers, rows)}`;
  };
  section('Networks', ['NETWORK', 'PORTS', ...RATE_HEADERS], v.networks.map((n) => [n.name, String(n.ports), ...rateCells(n)]));
  section('Ports', ['PORT', 'KIND', 'NETWORK', ...RATE_HEADERS], v.ports.map((p) => [p.name, p.kind, p.network ?? '-', ...rateCells(p)]));
  if (v.overlays.length > 0) section('Overlays', ['OVERLAY', 'VNI', ...RATE_HEADERS], v.overlays.map((o) => [o.network, String(o.vni), ...rateCells(o)]));
  section('Drops', ['DROP-REASON', 'PKT/S', 'TOTAL'], v.drops.map((d) => [d.reason, formatRate(d.perSecond), String(d.packets)]));
  return out;
}

function parseInterval(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value) || n < 0.1 || n > 3600) throw new InvalidArgumentError('Expected seconds between 0.1 and 3600.');
  return n;
}

const CLEAR = '\x1b[H\x1b[2J';

export function topCommand(ctx: CliContext, parent: Command): Command {
  return parent
    .command('top')
    .description('Live per-port and per-network rates, drops, conntrack and NAT use, refreshed every second')
    .option('--once', 'take two samples an interval apart, print once and exit')
    .option('-n, --interval <seconds>', 'seconds between samples', parseInterval, 1)
    .addOption(new Option('--format <format>', 'output format (json: with --once)').choices(['table', 'json']).default('table'))
    .action(async (o: { once?: boolean; interval: number; format: string }, cmd: Command) => {
      if (o.format === 'json' && o.once !== true) throw new Error('--format json needs --once (one JSON object per run)');
      const client = ctx.client(cmd);
      const sample = () => client.request<CountersReport>('GET', '/v1/counters');
      const wait = (ms: number, stop?: Promise<void>) => Promise.race([new Promise<void>((r) => setTimeout(r, ms)), ...(stop ? [stop] : [])]);
      let prev = await sample();
      if (o.once === true) {
        await wait(o.interval * 1000);
        const view = topView(prev, await sample());
        ctx.io.out(o.format === 'json' ? JSON.stringify(view) + '\n' : formatTop(view));
        return;
      }
      // live: until Ctrl-C (or SIGTERM); the screen is cleared before each frame on a terminal
      let stopped = false;
      let onSignal = (): void => undefined;
      const stop = new Promise<void>((resolve) => {
        onSignal = () => {
          stopped = true;
          resolve();
        };
      });
      // on, not once: a second signal (a process group and a supervisor both sending SIGTERM) must not kill the last frame
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const tty = process.stdout.isTTY === true;
      for (;;) {
        await wait(o.interval * 1000, stop);
        if (stopped) break;
        const cur = await sample();
        ctx.io.out((tty ? CLEAR : '') + formatTop(topView(prev, cur)) + (tty ? '' : '\n'));
        prev = cur;
      }
      // the handlers stay until the process exits: a signal sent twice (`timeout` forwards its own
      // to the command it runs) may arrive after the loop ended, and must not kill it then
    });
}
