// One measurement of `npm run bench:e2e`'s NAT section in one world: iperf3 TCP out (masquerade),
// TCP in (published port), UDP 64-byte packets out, ping round trips, autocannon through the
// published port. Each returns its figures and what else is worth knowing (retransmits, losses,
// errors). The iperf3 runs (iperfTcp, iperfUdp64) take any pair of namespaces: the overlay section
// uses them too. Every process is bounded; the iperf3 servers are one-shot (-1) and started per run.

import { join } from 'node:path';
import { nsExec, packageRoot, sleep } from '../test/e2e/harness.js';
import { parseIperf, startBackground } from '../test/e2e/nat-world.js';
import { fmt } from './e2e-report.js';
import { type BenchWorld, EXT_IP, HTTP_PORT, IPERF_PORT, PUBLIC_IP } from './e2e-worlds.js';

export interface Settings {
  seconds: number;
  pings: number;
  pingIntervalS: number;
  connections: number;
}

export interface Measurement {
  /** metric key → value (one run of ping gives two) */
  values: Record<string, number>;
  /** details of the run (retransmits, losses, request counts...) */
  extra: Record<string, number | string>;
}

/** iperf3 server in `ns`, one test, text mode so "Server listening" says when it is ready. */
async function iperfServer(ns: string, bind: string | null, maxSeconds: number) {
  const argv = ['iperf3', '-s', '-1', '--forceflush', '-p', String(IPERF_PORT)];
  if (bind !== null) argv.push('-B', bind);
  const srv = startBackground(ns, argv, maxSeconds);
  if (!(await srv.waitForOutput(/Server listening/, 10_000))) {
    await srv.stop(500);
    throw new Error(`iperf3 server in ${ns} did not start: ${srv.stderr().trim() || srv.stdout().trim()}`);
  }
  return srv;
}

async function iperfClient(ns: string, target: string, seconds: number, extraArgs: string[]) {
  const argv = ['iperf3', '-c', target, '-p', String(IPERF_PORT), '-t', String(seconds), '--connect-timeout', '5000', '-J', ...extraArgs];
  const r = await nsExec(ns, argv, { timeoutMs: (seconds + 20) * 1000 });
  if (r.timedOut) throw new Error(`iperf3 client in ${ns} timed out`);
  let j;
  try {
    j = parseIperf(r.stdout) as ReturnType<typeof parseIperf> & { end?: Record<string, Record<string, number>> };
  } catch {
    throw new Error(`iperf3 client in ${ns} (exit ${r.code}): ${r.stderr.trim()} ${r.stdout.slice(0, 300)}`);
  }
  if (j.error !== undefined) throw new Error(`iperf3 client in ${ns}: ${j.error}`);
  return j.end as Record<string, Record<string, number> | undefined>;
}

async function withServer<T>(ns: string, bind: string | null, seconds: number, f: () => Promise<T>): Promise<T> {
  const srv = await iperfServer(ns, bind, seconds + 30);
  try {
    return await f();
  } finally {
    // the one-shot server exits after the test; do not wait long for it
    const done = await Promise.race([srv.exited().then(() => true), sleep(2000).then(() => false)]);
    if (!done) await srv.stop(500);
  }
}

/** One iperf3 run: the one-shot server in `server` (bound to `bind`, null: any address), the client in `client` towards `target`. */
export interface IperfPath {
  server: string;
  bind: string | null;
  client: string;
  target: string;
}

/** iperf3 TCP over `p` for `seconds`: the receiver's Gbit/s, the sender's retransmits (end.sum_sent.retransmits). */
export async function iperfTcp(p: IperfPath, seconds: number): Promise<{ gbps: number; retransmits: number; bytesReceived: number }> {
  const end = await withServer(p.server, p.bind, seconds, () => iperfClient(p.client, p.target, seconds, []));
  const rx = end.sum_received;
  if (rx === undefined) throw new Error('iperf3: no sum_received');
  return { gbps: rx.bits_per_second! / 1e9, retransmits: end.sum_sent?.retransmits ?? -1, bytesReceived: rx.bytes! };
}

/**
 * iperf3 UDP over `p`, 64-byte payloads, unlimited rate (-b 0: the sender sends as fast as it
 * can): `pps` is what the receiver got per second; `extra` says what was sent and lost, and how
 * much of the loss was the receiving socket's buffer being full (lost at the receiver, not on the path).
 */
export async function iperfUdp64(p: IperfPath, seconds: number): Promise<{ pps: number; lostPercent: number; extra: Record<string, number> }> {
  const snmp0 = await udpSnmp(p.server);
  const end = await withServer(p.server, p.bind, seconds, () => iperfClient(p.client, p.target, seconds, ['-u', '-l', '64', '-b', '0']));
  const snmp1 = await udpSnmp(p.server);
  const rx = end.sum_received ?? end.sum;
  const tx = end.sum_sent;
  if (rx === undefined || rx.packets === undefined) throw new Error('iperf3: no UDP receiver summary');
  const delivered = rx.packets - (rx.lost_packets ?? 0);
  const lostPercent = Math.round((rx.lost_percent ?? -1) * 100) / 100;
  return {
    pps: delivered / (rx.seconds ?? seconds),
    lostPercent,
    extra: {
      sent_packets: tx?.packets ?? -1,
      sent_pps: tx?.packets !== undefined ? Math.round(tx.packets / (tx.seconds ?? seconds)) : -1,
      delivered_packets: delivered,
      lost_packets: rx.lost_packets ?? -1,
      lost_percent: lostPercent,
      receiver_rcvbuf_errors: snmp0 !== null && snmp1 !== null ? snmp1.RcvbufErrors! - snmp0.RcvbufErrors! : -1,
    },
  };
}

/** TCP container → external host through the masquerade; receiver's Gbit/s. */
export async function tcpOut(w: BenchWorld, s: Settings): Promise<Measurement> {
  const r = await iperfTcp({ server: w.ext, bind: EXT_IP, client: w.c1, target: EXT_IP }, s.seconds);
  return { values: { tcp_out: r.gbps }, extra: { retransmits: r.retransmits, bytes_received: r.bytesReceived } };
}

/** TCP external host → container through the published port; receiver's Gbit/s. */
export async function tcpIn(w: BenchWorld, s: Settings): Promise<Measurement> {
  const r = await iperfTcp({ server: w.c1, bind: null, client: w.ext, target: PUBLIC_IP }, s.seconds);
  return { values: { tcp_in: r.gbps }, extra: { retransmits: r.retransmits, bytes_received: r.bytesReceived } };
}

/** The world's IPv6 addresses; the test runs only in worlds that have them. */
function v6(w: BenchWorld): NonNullable<BenchWorld['ipv6']> {
  if (w.ipv6 === null) throw new Error(`${w.kind} world has no IPv6`);
  return w.ipv6;
}

/** TCP over IPv6, container → external host through NAT66 (the kernel's ip6 masquerade); receiver's Gbit/s. */
export async function tcp6Out(w: BenchWorld, s: Settings): Promise<Measurement> {
  const a = v6(w);
  const r = await iperfTcp({ server: w.ext, bind: a.extIp, client: w.c1, target: a.extIp }, s.seconds);
  return { values: { tcp6_out: r.gbps }, extra: { retransmits: r.retransmits, bytes_received: r.bytesReceived } };
}

/** TCP over IPv6, external host → container through the port published on [::]; receiver's Gbit/s. */
export async function tcp6In(w: BenchWorld, s: Settings): Promise<Measurement> {
  const a = v6(w);
  const r = await iperfTcp({ server: w.c1, bind: null, client: w.ext, target: a.publicIp }, s.seconds);
  return { values: { tcp6_in: r.gbps }, extra: { retransmits: r.retransmits, bytes_received: r.bytesReceived } };
}

/** UDP, 64-byte payloads, unlimited rate, container → external: packets/s the receiver got. */
export async function udpOut(w: BenchWorld, s: Settings): Promise<Measurement> {
  const r = await iperfUdp64({ server: w.ext, bind: EXT_IP, client: w.c1, target: EXT_IP }, s.seconds);
  return { values: { udp64_out: r.pps }, extra: r.extra };
}

/** The Udp: line of /proc/net/snmp in `ns` (InDatagrams, RcvbufErrors, ...). */
async function udpSnmp(ns: string): Promise<Record<string, number> | null> {
  const r = await nsExec(ns, ['cat', '/proc/net/snmp'], { timeoutMs: 5000 });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  if (lines.length < 2) return null;
  const keys = lines[0]!.split(/\s+/).slice(1);
  const vals = lines[1]!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(keys.map((k, i) => [k, vals[i]!]));
}

export function percentile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** `ping -i INTERVAL -c N` from namespace `ns` to `target`: p50 and p99 of the per-packet RTTs (ms). */
export async function pingRtts(ns: string, target: string, s: Pick<Settings, 'pings' | 'pingIntervalS'>): Promise<Measurement> {
  const argv = ['ping', '-n', '-c', String(s.pings), '-i', String(s.pingIntervalS), '-W', '1', target];
  const r = await nsExec(ns, argv, { timeoutMs: (s.pings * s.pingIntervalS + 15) * 1000 });
  const rtts = [...r.stdout.matchAll(/ icmp_seq=\d+ ttl=\d+ time=([0-9.]+) ms/g)].map((m) => Number(m[1]));
  if (rtts.length === 0) throw new Error(`ping from ${ns} to ${target}: no replies (exit ${r.code})\n${r.stderr.trim()}`);
  return {
    values: { ping_p50: percentile(rtts, 50), ping_p99: percentile(rtts, 99) },
    extra: { sent: s.pings, received: rtts.length, max_ms: Math.max(...rtts), min_ms: Math.min(...rtts) },
  };
}

/** Ping round trips container → external host. */
export function pingRtt(w: BenchWorld, s: Settings): Promise<Measurement> {
  return pingRtts(w.c1, EXT_IP, s);
}

interface AutocannonJson {
  requests: { average: number; total: number; sent?: number };
  latency: { p50: number; p99: number; average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}

/** autocannon from the external host against the HTTP server behind the published port: req/s. */
export async function http(w: BenchWorld, s: Settings): Promise<Measurement> {
  const url = `http://${PUBLIC_IP}:${HTTP_PORT}/`;
  const argv = [process.execPath, join(packageRoot(), 'node_modules', 'autocannon', 'autocannon.js'), '--json', '-d', String(s.seconds), '-c', String(s.connections), url];
  const r = await nsExec(w.ext, argv, { timeoutMs: (s.seconds + 20) * 1000 });
  if (r.timedOut) throw new Error(`autocannon in ${w.ext} timed out`);
  const start = r.stdout.indexOf('{');
  if (start < 0) throw new Error(`autocannon in ${w.ext} (exit ${r.code}): no JSON\n${r.stderr.trim().slice(0, 500)}`);
  const j = JSON.parse(r.stdout.slice(start)) as AutocannonJson;
  if (j.requests.total === 0) throw new Error(`autocannon in ${w.ext}: no request answered (errors ${j.errors}, timeouts ${j.timeouts})`);
  return {
    values: { http: j.requests.average },
    extra: { total: j.requests.total, latency_p50_ms: j.latency.p50, latency_p99_ms: j.latency.p99, errors: j.errors, timeouts: j.timeouts, non2xx: j.non2xx },
  };
}

/** The NAT section's tests, in the order they run. */
export const TESTS: { name: string; ipv6?: boolean; run: (w: BenchWorld, s: Settings) => Promise<Measurement> }[] = [
  { name: 'tcp_out', run: tcpOut },
  { name: 'tcp_in', run: tcpIn },
  { name: 'tcp6_out', ipv6: true, run: tcp6Out },
  { name: 'tcp6_in', ipv6: true, run: tcp6In },
  { name: 'udp64_out', run: udpOut },
  { name: 'ping', run: pingRtt },
  { name: 'http', run: http },
];

/** What the extra figures of these measurements say (retransmits, UDP losses, ping replies, HTTP counts), for a run's detail line. */
export function measurementParts(e: Record<string, number | string>): string[] {
  const parts: string[] = [];
  if (e.retransmits !== undefined) parts.push(`retransmits ${e.retransmits}`);
  if (e.lost_percent !== undefined) {
    parts.push(`sent ${fmt(Number(e.sent_pps), 0)} pkt/s, lost ${e.lost_percent}% (of which receiver socket full: ${fmt(Number(e.receiver_rcvbuf_errors), 0)})`);
  }
  if (e.received !== undefined) parts.push(`replies ${e.received}/${e.sent}, max ${e.max_ms} ms`);
  if (e.total !== undefined) parts.push(`requests ${e.total}, errors ${e.errors}, timeouts ${e.timeouts}, non2xx ${e.non2xx}, latency p99 ${e.latency_p99_ms} ms`);
  return parts;
}
