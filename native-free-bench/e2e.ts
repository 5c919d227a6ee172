// `npm run bench:e2e` (root): pontoon against the kernel doing the same job the way Docker does it,
// end to end with real tools, in network namespaces this script creates. Six sections:
//
//   nat      through the masquerade and a published port (kernel: bridge + veth + ip_forward +
//            nftables masquerade/DNAT; pontoon: TAP endpoints, TAP uplink): iperf3 TCP both ways,
//            UDP 64-byte packets/s, ping round trips, autocannon (e2e-nat.ts, e2e-worlds.ts)
//   rfc2544  the highest rate of 64-byte frames the masquerade carries without losing one, by a
//            binary search with trafgen, in the same worlds (e2e-rfc2544.ts)
//   overlay  container to container across two hosts over VXLAN (kernel: vxlan device + bridge;
//            pontoon: a daemon per host, cluster store etcd): iperf3 TCP both ways with
//            retransmits and out-of-order counts, UDP 64-byte packets/s (e2e-overlay.ts)
//   routed   the same across two hosts of a routed overlay, a subnet per host (kernel: hosts set
//            up as flannel's vxlan backend sets them up; pontoon: --mode routed) (e2e-routed.ts)
//   docker   Docker's containers in a dockerd of the section's own (kernel: a Docker bridge
//            network; pontoon: a network of pontoon as Docker's network and IPAM plugin): iperf3
//            TCP and ping container to container, the time `docker run` takes and the time to the
//            new container's first ping reply (e2e-docker.ts)
//   services HTTP through a service VIP spread over three backends (kernel: bridge + br_netfilter +
//            nftables numgen random mod 3 vmap DNAT, kube-proxy's nftables mode; pontoon: a bridge
//            network and `pontoon service create`): autocannon req/s (e2e-services.ts)
//   macvlan  a container directly on a LAN (kernel: Linux's macvlan driver on a veth parent;
//            pontoon: a macvlan network on the same kind of parent, the daemon in the host
//            namespace): iperf3 TCP both ways with the LAN host, UDP 64-byte packets/s, ping
//            round trips (e2e-macvlan.ts)
//
// The worlds of a section exist together; for each test the runs alternate kernel, pontoon,
// kernel, pontoon... and the table shows the median per world, the pontoon/kernel ratio and the
// target. The figures are not pass/fail: the exit code is 0 when every run completed, 1 when the
// setup failed, 2 when some run failed (its error is printed) or something was left behind, 130 on
// Ctrl-C. Everything created is removed at the end of a section, on error and on Ctrl-C, and
// checked to be gone.
//
//   --only LIST     sections to run, comma-separated: nat,rfc2544,overlay,routed,docker,macvlan,services (default: all)
//   --reps N        repetitions per world and test (default 3; rfc2544 always searches once)
//   --seconds S     duration of each iperf3 / autocannon run (default 5)
//   --quick         --reps 1 --seconds 2, shorter rfc2544 trials (about a minute and a half for all)
//   --pings N       pings per ping run (default 500, at -i 0.002)
//   --connections C autocannon connections (default 20)
//   --http node|python    the HTTP server in the container (default node: measured faster)
//   --kernel-offloads on|off   off: ethtool -K tx/tso/gso/gro off on the NAT kernel world's veths
//   --pontoon-set KEY=VALUE    set a config key in every pontoon daemon (dotted path, repeatable;
//                   VALUE is JSON when it parses as JSON, else a string): dataplane.batchSize=128
//   --json          one JSON object on stdout (progress still goes to stderr)

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { cleanupAll, packageRoot, run, sleep } from '../test/e2e/harness.js';
import { cleanupNatWorlds } from '../test/e2e/nat-world.js';
import { DOCKER_CLIENT } from '../test/e2e/docker-engine.js';
import { ETCD_BIN, cleanupOverlayWorlds } from '../test/e2e/overlay-world.js';
import { type NatWorlds, buildNatWorlds, natSection } from './e2e-nat.js';
import { cleanupDockerWorlds, dockerSection } from './e2e-docker.js';
import { macvlanSection } from './e2e-macvlan.js';
import { servicesSection } from './e2e-services.js';
import { overlaySection } from './e2e-overlay.js';
import { routedSection } from './e2e-routed.js';
import { type SectionReport, failedRuns, renderSection, sectionJson } from './e2e-report.js';
import { rfc2544Section } from './e2e-rfc2544.js';
import { type BenchOptions, type SectionContext, type SectionName, SECTIONS } from './e2e-runs.js';

// ---- command line ----------------------------------------------------------------------------

function usage(msg?: string): never {
  if (msg !== undefined) console.error(`bench:e2e: ${msg}`);
  console.error(
    'usage: node dist/native-free-bench/e2e.js [--only nat,rfc2544,overlay,routed,docker,macvlan,services] [--reps N] [--seconds S] [--quick] [--pings N] [--connections C] ' +
      '[--http node|python] [--kernel-offloads on|off] [--pontoon-set KEY=VALUE]... [--json]',
  );
  process.exit(msg === undefined ? 0 : 1);
}

/** "dataplane.batchSize=128" → ["dataplane.batchSize", 128]; the value is JSON when it parses, else the text. */
function parseSetting(v: string | undefined): [string, unknown] {
  const m = v === undefined ? null : /^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)=(.*)$/s.exec(v);
  if (m === null) usage('--pontoon-set wants KEY=VALUE, KEY a dotted path into the config (dataplane.batchSize=128)');
  let value: unknown = m[2]!;
  try {
    value = JSON.parse(m[2]!);
  } catch {
    // a plain string
  }
  return [m[1]!, value];
}

function parseArgs(argv: string[]): BenchOptions {
  const o: BenchOptions = {
    reps: 3,
    seconds: 5,
    pings: 500,
    pingIntervalS: 0.002,
    connections: 20,
    json: false,
    http: 'node',
    kernelOffloadsOff: false,
    quick: false,
    only: [...SECTIONS],
    pontoonSet: {},
  };
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
      case '--only': {
        const names = (argv[++i] ?? '').split(',').filter((x) => x !== '');
        const bad = names.filter((x) => !(SECTIONS as readonly string[]).includes(x));
        if (names.length === 0 || bad.length > 0) usage(`--only takes a comma-separated list of ${SECTIONS.join(', ')}${bad.length > 0 ? ` (not ${bad.join(', ')})` : ''}`);
        o.only = SECTIONS.filter((x) => names.includes(x));
        break;
      }
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
      case '--pontoon-set': {
        const [k, v] = parseSetting(argv[++i]);
        o.pontoonSet[k] = v;
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
  // whatever the exit status (trafgen --version exits 1)
  const version = (argv: string[], re: RegExp): string => {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 5000 });
    return re.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`)?.[1] ?? '';
  };
  return {
    nproc,
    cpu,
    kernel: release(),
    node: process.version,
    iperf3: version(['iperf3', '--version'], /iperf ([0-9.]+)/),
    trafgen: version(['trafgen', '--version'], /trafgen ([0-9.]+)/),
  };
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

/** The tools the selected sections run; missing ones stop the script before anything is created. */
function missingTools(only: SectionName[]): string[] {
  const missing: string[] = [];
  const onPath = (t: string) => (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => existsSync(join(d, t)));
  const need: [string, string][] = [
    ['ip', 'iproute2'],
    ['iperf3', 'iperf3'],
    ['ping', 'iputils-ping'],
    ['timeout', 'coreutils'],
  ];
  if (only.includes('rfc2544')) need.push(['trafgen', 'netsniff-ng'], ['nft', 'nftables']);
  if (only.includes('overlay') || only.includes('routed')) need.push(['bridge', 'iproute2'], ['nstat', 'iproute2'], ['curl', 'curl'], ['setpriv', 'util-linux']);
  // the daemon runs in a namespace of its own: its /metrics is read with curl inside it
  if (only.includes('macvlan')) need.push(['curl', 'curl'], ['ss', 'iproute2']);
  if (only.includes('docker')) need.push(['dockerd', 'docker.io'], ['runc', 'runc'], ['busybox', 'busybox-static'], ['findmnt', 'util-linux'], ['nsenter', 'util-linux']);
  for (const [tool, pkg] of need) if (!onPath(tool)) missing.push(`${tool} (Debian package ${pkg})`);
  if (only.includes('services')) need.push(['nft', 'nftables'], ['curl', 'curl']);
  if ((only.includes('nat') || only.includes('services')) && !existsSync(join(packageRoot(), 'node_modules', 'autocannon', 'autocannon.js'))) missing.push('autocannon (npm ci)');
  if (only.includes('docker') && !existsSync(DOCKER_CLIENT)) missing.push(`${DOCKER_CLIENT} (Debian package docker.io)`);
  if ((only.includes('overlay') || only.includes('routed')) && !existsSync(ETCD_BIN)) missing.push(`${ETCD_BIN} (Debian package etcd-server, or set ETCD_BIN)`);
  return missing;
}

// ---- cleanup ---------------------------------------------------------------------------------

/** name prefixes of what this run created (namespaces, links, processes), and the pids of its daemons and etcd */
const ourNames: string[] = [];
const ourPids: number[] = [];
let interrupted = false;
/** settles when main() has stopped starting things (after an interruption: at its next check) */
let mainSettled: Promise<unknown> = Promise.resolve();

/** Stops every process and removes every namespace and directory registered so far; safe to repeat. */
async function cleanup(): Promise<string[]> {
  const docker = await cleanupDockerWorlds();
  await cleanupOverlayWorlds();
  return [...docker, ...(await cleanupNatWorlds()), ...(await cleanupAll())];
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
  const left = [...problems, ...(await leftovers())];
  process.stderr.write(`bench:e2e: interrupted; ${left.length === 0 ? 'nothing left behind' : `left behind: ${left.join('; ')}`}\n`);
  process.exit(130);
}

/** What is still there after cleanup: namespaces, links, processes naming our namespaces, our daemons and etcd. */
async function leftovers(): Promise<string[]> {
  const out: string[] = [];
  if (ourNames.length > 0) {
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
  }
  for (const pid of ourPids) {
    try {
      process.kill(pid, 0);
      out.push(`process ${pid} (a pontoon daemon or etcd)`);
    } catch {
      // gone
    }
  }
  return out;
}

function stopIfInterrupted(): void {
  if (interrupted) throw new Error('interrupted');
}

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
  const missing = missingTools(o.only);
  if (missing.length > 0) return fail(`missing tools: ${missing.join(', ')}`);
  const m = machine();
  const machineLine = `${m.nproc} cores, ${m.cpu}, Linux ${m.kernel}, node ${m.node}, iperf3 ${m.iperf3}${o.only.includes('rfc2544') ? `, trafgen ${m.trafgen}` : ''}`;
  const settingsLine = Object.keys(o.pontoonSet).length === 0 ? 'pontoon config: defaults' : `pontoon config: ${Object.entries(o.pontoonSet).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`;
  // other work on the machine skews everything: say how busy it was
  const loadStart = loadavg().map((x) => Math.round(x * 100) / 100);
  const busyBefore = await cpuBusyPercent(1000);
  log(`bench:e2e: sections ${o.only.join(', ')}; ${o.reps} rep(s) x ${o.seconds} s; ${settingsLine}; machine: ${machineLine}`);

  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, (s) => void onSignal(s));

  const ctx: SectionContext = {
    o,
    log,
    interrupted: () => interrupted,
    own: (...names) => ourNames.push(...names),
    ownPid: (pid) => {
      if (pid !== null) ourPids.push(pid);
    },
  };
  const reports: SectionReport[] = [];
  const problems: string[] = [];
  /** sections that could not be set up (or stopped by an error outside a run), and why */
  const setupErrors: Record<string, string> = {};

  // nat and rfc2544 share the NAT worlds: built once, removed when both are done
  const sections: { name: SectionName; run: (nat: () => Promise<NatWorlds>) => Promise<SectionReport> }[] = [
    { name: 'nat', run: async (nat) => natSection(ctx, await nat()) },
    { name: 'rfc2544', run: async (nat) => rfc2544Section(ctx, await nat()) },
    { name: 'overlay', run: () => overlaySection(ctx) },
    { name: 'routed', run: () => routedSection(ctx) },
    { name: 'docker', run: () => dockerSection(ctx) },
    { name: 'macvlan', run: () => macvlanSection(ctx) },
    { name: 'services', run: () => servicesSection(ctx) },
  ];
  let natWorlds: Promise<NatWorlds> | null = null;
  const nat = () => (natWorlds ??= buildNatWorlds(ctx));
  for (const s of sections) {
    if (!o.only.includes(s.name) || interrupted) continue;
    let ok = false;
    try {
      stopIfInterrupted();
      reports.push(await s.run(nat));
      ok = true;
    } catch (e) {
      if (interrupted) break;
      setupErrors[s.name] = (e as Error).message;
      log(`bench:e2e: ${s.name}: setup failed: ${(e as Error).message}`);
    }
    // the NAT worlds go once no later section needs them (after a failure, rfc2544 builds its own); the overlay worlds at once
    const natStillNeeded = ok && s.name === 'nat' && o.only.includes('rfc2544');
    if (!natStillNeeded) {
      problems.push(...(await cleanup()));
      natWorlds = null;
    }
  }

  // ---- teardown, and a check that it is all gone
  if (interrupted) return 130; // onSignal() cleans up and exits
  problems.push(...(await cleanup()));
  const left = [...problems, ...(await leftovers())];
  const elapsedS = Math.round((Date.now() - t0) / 100) / 10;
  const loadEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  const loadLine =
    `CPU busy in the second before the start: ${busyBefore}% of all cores; load average (1, 5, 15 min) at start ${loadStart.join(', ')}, at end ${loadEnd.join(', ')}` +
    (busyBefore > 20 ? ' -- other work was running: the figures are disturbed' : '');
  const setupFailed = Object.entries(setupErrors).map(([k, v]) => `${k}: ${v}`);

  const failed = reports.reduce((n, r) => n + failedRuns(r), 0);
  if (o.json) {
    console.log(
      JSON.stringify({
        machine: { ...m, cpuBusyPercentBefore: busyBefore, loadStart, loadEnd },
        settings: {
          only: o.only,
          reps: o.reps,
          seconds: o.seconds,
          quick: o.quick,
          pings: o.pings,
          pingIntervalS: o.pingIntervalS,
          connections: o.connections,
          http: o.http,
          kernelOffloads: o.kernelOffloadsOff ? 'off' : 'on',
          pontoonSet: o.pontoonSet,
        },
        sections: Object.fromEntries(reports.map((r) => [r.name, sectionJson(r)])),
        ...(setupFailed.length > 0 ? { error: `setup failed: ${setupFailed.join('; ')}`, setupErrors } : {}),
        failedRuns: failed,
        leftovers: left,
        elapsedS,
      }),
    );
  } else {
    const out: string[] = [];
    out.push(`pontoon bench:e2e: sections ${o.only.join(', ')}; runs alternate kernel/pontoon; medians`);
    out.push(settingsLine);
    out.push(`machine: ${machineLine}`);
    out.push(loadLine);
    for (const r of reports) out.push(...renderSection(r));
    out.push('');
    for (const e of setupFailed) out.push(`SETUP FAILED: ${e}`);
    out.push(`cleanup: ${left.length === 0 ? 'nothing left (namespaces, links, processes)' : `LEFT BEHIND: ${left.join('; ')}`}`);
    out.push(`elapsed: ${elapsedS} s${failed > 0 ? `; ${failed} run(s) FAILED` : ''}`);
    console.log(out.join('\n'));
  }
  if (setupFailed.length > 0) {
    console.error(`bench:e2e: setup failed: ${setupFailed.join('; ')}`);
    return 1;
  }
  if (failed > 0) {
    console.error(`bench:e2e: ${failed} run(s) failed (see the errors above)`);
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
