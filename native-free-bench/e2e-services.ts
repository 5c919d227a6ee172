// The services section of `npm run bench:e2e`: HTTP through a service VIP spread over three
// backends, pontoon's services against the kernel doing what kube-proxy's nftables mode makes it do.
// Two worlds, built alike:
//
//   kernel   a gateway namespace with a Linux bridge (its address .1 of the subnet) and a veth per
//            container (client c .2, backends s1-s3 .11-.13); ip_forward on, br_netfilter on
//            (bridge-nf-call-iptables: the backend's reply, switched to the client, passes conntrack
//            and is un-DNATed, as Kubernetes requires); nftables: the VIP's port jumps to the
//            service chain, `numgen random mod 3 vmap { 0 : goto ep-1, ... }`, each endpoint chain
//            a `dnat to IP:8080` (kube-proxy's nftables mode, without its masquerade: the client is
//            not a backend)
//   pontoon  a pontoon daemon in a namespace of its own, a bridge network, the client and the three
//            backends connected (TAPs), `pontoon service create --selector web` (the backends'
//            alias), the VIP from services.cidr
//
// The same VIP and addresses in both worlds. Test, alternating kernel and pontoon: autocannon in
// the client against http://VIP/ (req/s, latency), after one unrecorded warm-up run per world, each
// backend's HTTP server the section's usual one (e2e-worlds.ts). Everything is the harness's (createNetns, startDaemon, startBackground):
// e2e.ts's cleanup removes it.

import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { type Daemon, createNetns, hostAddr, makeTempDir, nsExec, nsExecOk, packageRoot, pickSubnets, randomHex, runOk, startDaemon, waitFor } from '../test/e2e/harness.js';
import type { Background } from '../test/e2e/nat-world.js';
import type { Measurement } from './e2e-measure.js';
import { measurementParts } from './e2e-measure.js';
import { type MetricDef, type SectionReport, atLeastTimesKernel, detailLine, showValues } from './e2e-report.js';
import { type ProbedWorld, type SectionContext, type WorldKind, dropsNow, runAlternating } from './e2e-runs.js';
import { HTTP_PORT, startHttpServer } from './e2e-worlds.js';
import { nftPath } from './e2e-nft.js';

const CLIENT = 2;
const BACKENDS = [11, 12, 13];
const SERVICE_PORT = 80;

class ServiceWorld implements ProbedWorld {
  readonly client: string;
  readonly backends: string[];
  /** the kernel world's gateway namespace, or the pontoon daemon's */
  readonly gw: string;
  vip = '';
  daemon: Daemon | null = null;
  description = '';

  constructor(
    readonly kind: WorldKind,
    prefix: string,
    readonly subnet: string,
  ) {
    const t = kind === 'kernel' ? 'k' : 'p';
    this.gw = `${prefix}-${t}gw`;
    this.client = `${prefix}-${t}c`;
    this.backends = BACKENDS.map((_, i) => `${prefix}-${t}s${i + 1}`);
  }

  daemons(): { label: string; daemon: Daemon }[] {
    return this.daemon === null ? [] : [{ label: 'gateway', daemon: this.daemon }];
  }

  watchedLinks(): { label: string; ns: string; dev: string }[] {
    return [{ label: 'c/eth0', ns: this.client, dev: 'eth0' }, ...this.backends.map((ns, i) => ({ label: `s${i + 1}/eth0`, ns, dev: 'eth0' }))];
  }

  async expectServed(): Promise<void> {
    const ok = await waitFor(async () => (await nsExec(this.client, ['curl', '-sS', '-m', '2', '-o', '/dev/null', `http://${this.vip}:${SERVICE_PORT}/`], { timeoutMs: 5000 })).code === 0, 15_000, 200);
    if (!ok) throw new Error(`services ${this.kind} world: ${this.client} gets no answer from http://${this.vip}/${this.daemon === null ? '' : `\n${this.daemon.logTail(20)}`}`);
  }
}

/** kube-proxy's nftables mode for one service of three endpoints (numgen random, a vmap of goto's). */
export function serviceRuleset(vip: string, port: number, endpoints: string[], targetPort: number): string {
  const vmap = endpoints.map((_, i) => `${i} : goto ep-${i + 1}`).join(', ');
  return [
    'table ip pontoon_bench_svc {',
    '  chain services {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    `    ip daddr ${vip} tcp dport ${port} goto svc-web`,
    '  }',
    '  chain svc-web {',
    `    numgen random mod ${endpoints.length} vmap { ${vmap} }`,
    '  }',
    ...endpoints.flatMap((ip, i) => [`  chain ep-${i + 1} {`, `    meta l4proto tcp dnat to ${ip}:${targetPort}`, '  }']),
    '}',
    '',
  ].join('\n');
}

async function buildKernel(w: ServiceWorld, vip: string): Promise<void> {
  const nft = nftPath();
  if (nft === undefined) throw new Error('the services section needs nft (Debian package nftables)');
  await createNetns(w.gw);
  const prefixLen = Number(w.subnet.split('/')[1]);
  await runOk(['ip', '-n', w.gw, 'link', 'add', 'br0', 'type', 'bridge']);
  await runOk(['ip', '-n', w.gw, 'addr', 'add', `${hostAddr(w.subnet, 1)}/${prefixLen}`, 'dev', 'br0']);
  await runOk(['ip', '-n', w.gw, 'link', 'set', 'br0', 'up']);
  const attach = async (ns: string, n: number, port: string) => {
    await createNetns(ns);
    await runOk(['ip', 'link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', w.gw]);
    await runOk(['ip', '-n', w.gw, 'link', 'set', port, 'master', 'br0']);
    await runOk(['ip', '-n', w.gw, 'link', 'set', port, 'up']);
    await runOk(['ip', '-n', ns, 'addr', 'add', `${hostAddr(w.subnet, n)}/${prefixLen}`, 'dev', 'eth0']);
    await runOk(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    await runOk(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    await runOk(['ip', '-n', ns, 'route', 'add', 'default', 'via', hostAddr(w.subnet, 1)]);
  };
  await attach(w.client, CLIENT, 'vc');
  for (let i = 0; i < BACKENDS.length; i++) await attach(w.backends[i]!, BACKENDS[i]!, `vs${i + 1}`);
  await nsExecOk(w.gw, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  await nsExecOk(w.gw, ['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1']);
  const file = join(makeTempDir('pbs-'), 'services.nft');
  writeFileSync(file, serviceRuleset(vip, SERVICE_PORT, BACKENDS.map((n) => hostAddr(w.subnet, n)), HTTP_PORT));
  await nsExecOk(w.gw, [nft, '-f', file]);
  w.vip = vip;
  w.description = `a Linux bridge in ${w.gw}, veths to the client and three backends, br_netfilter on, nftables numgen random mod 3 vmap to dnat chains (kube-proxy's nftables mode), VIP ${vip}`;
}

async function buildPontoon(ctx: SectionContext, w: ServiceWorld, devicePrefix: string): Promise<void> {
  await createNetns(w.gw);
  const d = await startDaemon({ netns: w.gw, devicePrefix, defaultNetwork: null, set: ctx.o.pontoonSet });
  ctx.ownPid(d.pid);
  w.daemon = d;
  const net = `svb-${randomHex(2)}`;
  await d.cliOk(['network', 'create', '--subnet', w.subnet, net]);
  await createNetns(w.client);
  await d.cliOk(['network', 'connect', '--ip', hostAddr(w.subnet, CLIENT), net, w.client]);
  for (let i = 0; i < BACKENDS.length; i++) {
    await createNetns(w.backends[i]!);
    await d.cliOk(['network', 'connect', '--ip', hostAddr(w.subnet, BACKENDS[i]!), '--alias', 'web', net, w.backends[i]!]);
  }
  w.vip = (await d.cliOk(['service', 'create', 'web', '--network', net, '--port', String(SERVICE_PORT), '--target-port', String(HTTP_PORT), '--selector', 'web'])).stdout.trim();
  w.description = `pontoon daemon pid ${d.pid ?? '?'} in ${w.gw}, bridge network ${net} ${w.subnet}, the client and three backends on TAPs, service web --selector web, VIP ${w.vip}`;
}

interface AutocannonJson {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}

async function httpViaVip(w: ServiceWorld, seconds: number, connections: number): Promise<Measurement> {
  const argv = [process.execPath, join(packageRoot(), 'node_modules', 'autocannon', 'autocannon.js'), '--json', '-d', String(seconds), '-c', String(connections), `http://${w.vip}:${SERVICE_PORT}/`];
  const r = await nsExec(w.client, argv, { timeoutMs: (seconds + 20) * 1000 });
  const start = r.stdout.indexOf('{');
  if (start < 0) throw new Error(`autocannon in ${w.client} (exit ${r.code}): no JSON\n${r.stderr.trim().slice(0, 500)}`);
  const j = JSON.parse(r.stdout.slice(start)) as AutocannonJson;
  if (j.requests.total === 0) throw new Error(`autocannon in ${w.client}: no request answered (errors ${j.errors}, timeouts ${j.timeouts})`);
  return {
    values: { http: j.requests.average, latency_p99: j.latency.p99 },
    extra: { total: j.requests.total, latency_p50_ms: j.latency.p50, latency_p99_ms: j.latency.p99, errors: j.errors, timeouts: j.timeouts, non2xx: j.non2xx },
  };
}

const METRICS: MetricDef[] = [
  { name: 'http', test: 'http_vip', key: 'http', label: 'HTTP c->VIP over 3 backends, req/s', unit: 'requests/s', digits: 0, target: atLeastTimesKernel(0.9) },
  { name: 'http_p99', test: 'http_vip', key: 'latency_p99', label: 'HTTP c->VIP latency p99, ms (lower=better)', unit: 'ms', digits: 1 },
];

export async function servicesSection(ctx: SectionContext): Promise<SectionReport> {
  const { o } = ctx;
  const prefix = `pbs-${randomHex(2)}`;
  ctx.own(prefix);
  const [subnet] = await pickSubnets(['10.215', '172.30'], 1);
  ctx.log('bench:e2e: building the services worlds: pontoon...');
  const pontoon = new ServiceWorld('pontoon', prefix, subnet!);
  const devicePrefix = `s${randomHex(2)}`;
  ctx.own(devicePrefix);
  await buildPontoon(ctx, pontoon, devicePrefix);
  ctx.log('bench:e2e: building the services worlds: kernel...');
  const kernel = new ServiceWorld('kernel', prefix, subnet!);
  await buildKernel(kernel, pontoon.vip);
  const maxSeconds = Math.ceil(o.reps * (o.seconds + 10) * 2 + 120);
  const servers: Background[] = [];
  try {
    for (const w of [kernel, pontoon]) for (const ns of w.backends) servers.push(await startHttpServer(ns, o.http, maxSeconds));
    for (const w of [kernel, pontoon]) await w.expectServed();
    // one unrecorded run per world first: the HTTP servers and the daemon compile their hot paths
    // during the first seconds of load, which would weigh on the first runs of short ones
    ctx.log('bench:e2e: services: a warm-up run per world (not recorded)...');
    for (const w of [kernel, pontoon]) await httpViaVip(w, 2, o.connections);
    const tests = [{ name: 'http_vip', run: (w: ServiceWorld) => httpViaVip(w, o.seconds, o.connections) }];
    const records = await runAlternating<ServiceWorld>(ctx, 'services', tests, [kernel, pontoon], (rec) => showValues(rec, METRICS));
    const spread = pontoon.daemon === null ? '' : (await pontoon.daemon.cliOk(['service', 'inspect', 'web'])).stdout;
    const flows = (JSON.parse(spread === '' ? '[]' : spread) as { Backends: { IP: string; NewFlows: number }[] }[])[0]?.Backends.map((b) => `${b.IP} ${b.NewFlows}`).join(', ');
    return {
      name: 'services',
      title: `services: HTTP through a VIP of 3 backends, kube-proxy's nftables DNAT against pontoon's services; ${o.reps} rep(s) per world, ${o.seconds} s per autocannon run, -c ${o.connections}, ${o.http} HTTP servers`,
      header: [`kernel world: ${kernel.description}`, `pontoon world: ${pontoon.description}`, 'each world had one 2 s autocannon run before the recorded ones (warm-up, not recorded)'],
      worlds: { kernel: { description: kernel.description }, pontoon: { description: pontoon.description } },
      metrics: METRICS,
      records,
      details: records.map((r) => detailLine(r, measurementParts(r.extra))),
      notes: [`pontoon: new flows per backend over every run: ${flows ?? '?'}`],
      pontoonDropsTotal: await dropsNow(pontoon),
    };
  } finally {
    for (const s of servers) await s.stop(500);
  }
}
