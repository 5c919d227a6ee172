// The docker section of `npm run bench:e2e`: Docker's containers on a pontoon network against
// Docker's containers on Docker's own bridge network, in one dockerd of the section's own
// (test/e2e/docker-engine.ts: --bridge=none --iptables=false, its own data and exec roots):
//
//   kernel   `docker network create -d bridge`: Docker's bridge driver, a Linux bridge and a veth
//            per container (no NAT: container-to-container traffic never needs it)
//   pontoon  `docker network create -d pontoon-XXXX --ipam-driver pontoon-XXXX`: a pontoon daemon
//            in the same namespace as dockerd, Docker's network and IPAM plugin (docker.enabled),
//            a TAP per container handed to Docker at Join
//
// Two containers (busybox, `sleep`) on each network. The traffic tools are the host's: each
// container's network namespace (its SandboxKey) is bind-mounted under /run/netns for the run, so
// iperf3, ping and nstat run inside it exactly as in the other sections; that is the container's
// datapath, without copying binaries into the image. Tests, alternating kernel and pontoon:
//   tcp_ab   iperf3 TCP container a → container b (receiver's Gbit/s, the sender's retransmits)
//   ping     ping a → b at -i 0.002: round-trip p50 and p99
//   start    `docker run -d --network NET --ip X` of a third container, `--starts` times per run:
//            how long `docker run` takes to return, and how long from its start until a ping from
//            container a (sent every 10 ms from the moment `docker run` starts) is first answered
//            by it: Docker's own work plus the driver's (CreateEndpoint, Join, the interface handed
//            over and configured); container a has a permanent neighbour entry for the address (the
//            MAC both drivers derive from it) so ARP's 1 s retry timer is not what is measured;
//            each container removed after its start is measured.
// Everything goes at the end of the section, on error and on Ctrl-C (cleanupDockerWorlds(), from e2e.ts's cleanup).

import { DockerEngine } from '../test/e2e/docker-engine.js';
import { busyboxRootfsTar } from '../test/e2e/container-rootfs.js';
import { type Daemon, adoptNetns, deleteNetns, hostAddr, makeTempDir, nsExec, nsExecOk, pickSubnets, randomHex, run, waitFor } from '../test/e2e/harness.js';
import { buildNatWorld } from '../test/e2e/nat-world.js';
import { type Measurement, iperfTcp, pingRtts } from './e2e-measure.js';
import { type MetricDef, type SectionReport, atLeastTimesKernel, atMostKernel, atMostKernelPlus, atMostTimesKernel, detailLine, fmt, median, showValues } from './e2e-report.js';
import { type BenchTest, type ProbedWorld, type SectionContext, type WorldKind, dropsNow, runAlternating } from './e2e-runs.js';

interface Box {
  /** the container's name in Docker and in the output */
  name: string;
  /** its network namespace, bind-mounted under /run/netns */
  ns: string;
  ip: string;
}

class DockerPair implements ProbedWorld {
  constructor(
    readonly kind: WorldKind,
    readonly network: string,
    readonly subnet: string,
    readonly a: Box,
    readonly b: Box,
    readonly daemon: Daemon | null,
    readonly description: string,
  ) {}

  daemons(): { label: string; daemon: Daemon }[] {
    return this.daemon === null ? [] : [{ label: 'plugin', daemon: this.daemon }];
  }

  watchedLinks(): { label: string; ns: string; dev: string }[] {
    return [
      { label: `${this.a.name}/eth0`, ns: this.a.ns, dev: 'eth0' },
      { label: `${this.b.name}/eth0`, ns: this.b.ns, dev: 'eth0' },
    ];
  }
}

// ---- the engine, and its removal ---------------------------------------------------------------

/** engines started by the section and not yet destroyed, and the namespace names adopted from their containers */
const engines = new Set<DockerEngine>();
const adopted = new Set<string>();

/** Removes the adopted namespaces, then every container, network and directory of the section's dockerd; safe to repeat. */
export async function cleanupDockerWorlds(): Promise<string[]> {
  // first the /run/netns names: they keep the containers' namespaces (and their veth or TAP) alive
  for (const ns of [...adopted]) {
    await deleteNetns(ns);
    adopted.delete(ns);
  }
  const problems: string[] = [];
  for (const e of [...engines]) {
    problems.push(...(await e.destroy()));
    engines.delete(e);
  }
  return problems;
}

// ---- building the worlds ----------------------------------------------------------------------

interface DockerWorlds {
  engine: DockerEngine;
  image: string;
  kernel: DockerPair;
  pontoon: DockerPair;
  info: Record<string, unknown>;
  header: string[];
}

async function sandboxOf(engine: DockerEngine, container: string): Promise<string> {
  return (await engine.dockerOk(['inspect', '-f', '{{.NetworkSettings.SandboxKey}}', container])).trim();
}

/** A container on `network` at `ip`, its namespace adopted as `<prefix>-<name>`. */
async function startBox(engine: DockerEngine, image: string, network: string, name: string, ip: string, prefix: string): Promise<Box> {
  await engine.dockerOk(['run', '-d', '--name', name, '--network', network, '--ip', ip, image, 'sleep', '86400']);
  const ns = `${prefix}-${name}`;
  await adoptNetns(ns, await sandboxOf(engine, name));
  adopted.add(ns);
  return { name, ns, ip };
}

async function canPing(from: Box, to: Box): Promise<boolean> {
  return (await nsExec(from.ns, ['ping', '-n', '-c', '1', '-W', '1', to.ip], { timeoutMs: 5000 })).code === 0;
}

async function buildPair(kind: WorldKind, engine: DockerEngine, image: string, network: string, subnet: string, prefix: string, daemon: Daemon | null, description: string): Promise<DockerPair> {
  const tag = kind === 'kernel' ? 'k' : 'p';
  const a = await startBox(engine, image, network, `${prefix}-${tag}a`, hostAddr(subnet, 2), prefix);
  const b = await startBox(engine, image, network, `${prefix}-${tag}b`, hostAddr(subnet, 3), prefix);
  if (!(await waitFor(() => canPing(a, b), 10_000, 200))) {
    throw new Error(`docker: ${a.name} (${a.ip}) cannot ping ${b.name} (${b.ip}) on ${network}${daemon === null ? '' : `\n${daemon.logTail(15)}`}\n${engine.logTail(15)}`);
  }
  return new DockerPair(kind, network, subnet, a, b, daemon, `${description}; containers ${a.name} ${a.ip}, ${b.name} ${b.ip}`);
}

async function buildDockerWorlds(ctx: SectionContext): Promise<DockerWorlds> {
  ctx.log('bench:e2e: building the docker worlds: dockerd and the image...');
  const engine = DockerEngine.prepare();
  engines.add(engine);
  ctx.own(engine.dir);
  await engine.launch();
  const image = `pte-bb-${randomHex(3)}`;
  await engine.importImage(busyboxRootfsTar(makeTempDir('pte-dkimg-')), image);
  const plugin = `pontoon-${randomHex(3)}`;
  const pluginSocket = `/run/docker/plugins/${plugin}.sock`;
  ctx.log('bench:e2e: building the docker worlds: the pontoon plugin...');
  const world = await buildNatWorld({
    kind: 'tap',
    set: { ...ctx.o.pontoonSet, 'docker.enabled': true, 'docker.pluginSocket': pluginSocket, 'docker.apiSocket': engine.socket },
  });
  ctx.own(world.prefix);
  ctx.ownPid(world.daemon.pid);
  const prefix = `pte-${randomHex(3)}`;
  ctx.own(prefix);
  const [pontoonSubnet, kernelSubnet] = await pickSubnets(['10.213', '172.29'], 2);
  const pnet = `${prefix}-pn`;
  const knet = `${prefix}-kn`;
  await engine.dockerOk(['network', 'create', '-d', plugin, '--ipam-driver', plugin, '--subnet', pontoonSubnet!, pnet]);
  await engine.dockerOk(['network', 'create', '-d', 'bridge', '--subnet', kernelSubnet!, '-o', `com.docker.network.bridge.name=${prefix}-br`, knet]);
  ctx.log('bench:e2e: building the docker worlds: containers...');
  const kernel = await buildPair('kernel', engine, image, knet, kernelSubnet!, prefix, null, `Docker bridge network ${knet} ${kernelSubnet} (bridge ${prefix}-br, a veth per container)`);
  const pontoon = await buildPair(
    'pontoon',
    engine,
    image,
    pnet,
    pontoonSubnet!,
    prefix,
    world.daemon,
    `pontoon network ${pnet} ${pontoonSubnet} (plugin ${plugin}, daemon pid ${world.daemon.pid}, a TAP per container)`,
  );
  const version = (await engine.dockerOk(['version', '-f', '{{.Server.Version}}'])).trim();
  const header = [`dockerd ${version} of the section's own (--bridge=none --iptables=false), image ${image} (busybox); the host's iperf3, ping, nstat inside the containers' namespaces`];
  const info: Record<string, unknown> = { dockerd: version };
  for (const w of [kernel, pontoon]) {
    const mtu = (await run(['ip', '-n', w.a.ns, '-o', 'link', 'show', 'dev', 'eth0'])).stdout.match(/mtu (\d+)/)?.[1] ?? '?';
    info[w.kind] = { description: w.description, network: w.network, subnet: w.subnet, a: w.a, b: w.b, mtu: Number(mtu) };
    header.push(`${w.kind} world: ${w.description}, eth0 MTU ${mtu}`);
  }
  return { engine, image, kernel, pontoon, info, header };
}

// ---- the tests --------------------------------------------------------------------------------

function tcpTest(seconds: number): BenchTest<DockerPair> {
  return {
    name: 'tcp_ab',
    async run(w): Promise<Measurement> {
      const r = await iperfTcp({ server: w.b.ns, bind: w.b.ip, client: w.a.ns, target: w.b.ip }, seconds);
      return { values: { gbps: r.gbps, retransmits: r.retransmits }, extra: { bytes_received: r.bytesReceived } };
    },
  };
}

function pingTest(pings: number, intervalS: number): BenchTest<DockerPair> {
  return { name: 'ping', run: (w) => pingRtts(w.a.ns, w.b.ip, { pings, pingIntervalS: intervalS }) };
}

/** How long a start may take before it counts as failed. */
const START_LIMIT_S = 20;

/**
 * `starts` times: `docker run -d` of a container at a fixed address while container a pings that
 * address every 10 ms; the medians of the time `docker run` took and of the time to the first reply.
 */
function startTest(engine: DockerEngine, image: string, starts: number): BenchTest<DockerPair> {
  let serial = 0;
  return {
    name: 'start',
    async run(w): Promise<Measurement> {
      const runMs: number[] = [];
      const replyMs: number[] = [];
      const ip = hostAddr(w.subnet, 50);
      // container a knows the new container's MAC (both drivers derive it from the address:
      // 02:42 and the four octets): ARP's retry timer (1 s in Linux) stays out of the figure
      const mac = `02:42:${ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join(':')}`;
      await nsExecOk(w.a.ns, ['ip', 'neigh', 'replace', ip, 'lladdr', mac, 'nud', 'permanent', 'dev', 'eth0'], { timeoutMs: 5000 });
      for (let i = 0; i < starts; i++) {
        const name = `${w.a.name.slice(0, -1)}s${++serial}`;
        const t0 = performance.now();
        let replied = -1;
        // -c 1 -w: ping stops at the first reply, sending every 10 ms until then (no address yet: unanswered)
        const pinger = nsExec(w.a.ns, ['ping', '-n', '-c', '1', '-i', '0.01', '-w', String(START_LIMIT_S), ip], { timeoutMs: (START_LIMIT_S + 5) * 1000 }).then((r) => {
          replied = r.code === 0 ? performance.now() - t0 : -1;
          return r;
        });
        try {
          await engine.dockerOk(['run', '-d', '--name', name, '--network', w.network, '--ip', ip, image, 'sleep', '86400'], START_LIMIT_S * 1000);
          runMs.push(performance.now() - t0);
          const r = await pinger;
          if (replied < 0) throw new Error(`${name} (${ip}) never answered a ping within ${START_LIMIT_S} s (exit ${r.code})`);
          replyMs.push(replied);
        } finally {
          await pinger;
          await engine.docker(['rm', '-f', name], 30_000);
        }
      }
      return {
        values: { run_ms: median(runMs), reply_ms: median(replyMs) },
        extra: { starts, run_ms: runMs.map((x) => Math.round(x)).join(' '), reply_ms: replyMs.map((x) => Math.round(x)).join(' ') },
      };
    },
  };
}

const METRICS: MetricDef[] = [
  // the NAT section's targets for the same kinds of figures, with the same reasons
  { name: 'tcp_ab_gbps', test: 'tcp_ab', key: 'gbps', label: 'TCP container a->b, Gbit/s', unit: 'Gbit/s', digits: 2, target: atLeastTimesKernel(0.9) },
  { name: 'tcp_ab_retransmits', test: 'tcp_ab', key: 'retransmits', label: 'TCP container a->b, retransmits (lower=better)', unit: 'segments', digits: 0, target: atMostKernel },
  { name: 'tcp_ab_cpu_daemon', test: 'tcp_ab', key: 'cpu_daemon_s', label: 'TCP container a->b, pontoon daemon CPU s', unit: 's', digits: 2 },
  { name: 'ping_p50', test: 'ping', key: 'ping_p50', label: 'ping a->b RTT p50, ms (lower=better)', unit: 'ms', digits: 3, target: atMostKernelPlus(0.02, '20 us') },
  { name: 'ping_p99', test: 'ping', key: 'ping_p99', label: 'ping a->b RTT p99, ms (lower=better)', unit: 'ms', digits: 3, target: atMostTimesKernel(3) },
  // a plugin's calls cross a unix socket and pontoon's mutation queue: a tenth of a second is what a user would not notice
  { name: 'start_run_ms', test: 'start', key: 'run_ms', label: '`docker run -d` returns, ms (lower=better)', unit: 'ms', digits: 0, target: atMostKernelPlus(100, '100 ms') },
  { name: 'start_reply_ms', test: 'start', key: 'reply_ms', label: 'docker run to the first ping reply, ms (lower=better)', unit: 'ms', digits: 0, target: atMostKernelPlus(100, '100 ms') },
];

function dockerParts(r: { values: Record<string, number>; extra: Record<string, number | string> }): string[] {
  const v = r.values;
  const e = r.extra;
  if (v.gbps !== undefined) return [`retransmits ${v.retransmits}`];
  if (v.ping_p50 !== undefined) return [`received ${e.sent === e.received ? 'all' : `${e.received}/${e.sent}`}, max ${fmt(Number(e.max_ms), 3)} ms`];
  if (v.run_ms !== undefined) return [`docker run ms: ${e.run_ms}; first reply ms: ${e.reply_ms}`];
  return [];
}

export async function dockerSection(ctx: SectionContext): Promise<SectionReport> {
  const { o } = ctx;
  const starts = o.quick ? 1 : 3;
  const worlds = await buildDockerWorlds(ctx);
  const tests = [tcpTest(o.seconds), pingTest(o.pings, o.pingIntervalS), startTest(worlds.engine, worlds.image, starts)];
  const records = await runAlternating<DockerPair>(ctx, 'docker', tests, [worlds.kernel, worlds.pontoon], (rec) => showValues(rec, METRICS));
  return {
    name: 'docker',
    title: `docker: Docker containers on a pontoon network against Docker's bridge network; ${o.reps} rep(s) per world, ${o.seconds} s per iperf3 run, ${o.pings} pings at ${o.pingIntervalS} s, ${starts} container start(s) per run`,
    header: worlds.header,
    worlds: worlds.info,
    metrics: METRICS,
    records,
    details: records.map((r) => detailLine(r, dockerParts(r))),
    notes: [
      'start: the medians of the starts in a run; the ping is sent from container a every 10 ms from the moment `docker run` starts, so the first reply is at most 10 ms late',
      "CPU: the pontoon daemon's utime+stime (/proc/PID/stat); dockerd's and containerd's own work is in neither figure",
    ],
    pontoonDropsTotal: await dropsNow(worlds.pontoon),
  };
}
