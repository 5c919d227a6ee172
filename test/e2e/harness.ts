/**
 * End-to-end harness for pontoon: runs the built daemon (dist/src/cli/main.js) with a temporary
 * config, creates network namespaces for "containers", runs commands in them and parses what
 * ping / traceroute / ip / the CLI / /metrics print. Used by test/e2e/*.test.ts and by the demo
 * (test/demo/demo.ts), so it must not import vitest.
 *
 * Everything it creates (daemons, namespaces, temporary directories) is registered and removed by
 * cleanupAll(). Every process it spawns has a timeout. Needs root.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type PontoonConfig } from '../../src/control/config.js';
import * as ipv4 from '../../src/wire/ipv4-address.js';

// ---- small utilities -------------------------------------------------------------------------

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** Polls `cond` every `stepMs` until it is true or `timeoutMs` passed; returns the last result. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(stepMs);
  }
}

/** The directory holding pontoon's package.json, found from this file (works from test/ and dist/test/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'pontoon') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the pontoon package root');
    dir = parent;
  }
}

/** The built CLI; the e2e tests run what `npm run build` produced, like a user would. */
export function cliPath(): string {
  const p = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(p)) throw new Error(`${p} does not exist: run "npm run build" first`);
  return p;
}

// ---- processes -------------------------------------------------------------------------------

export interface RunResult {
  /** exit code, or null when killed by a signal */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** wall-clock milliseconds */
  ms: number;
}

export interface RunOptions {
  /** SIGKILL after this long (default 15 s) */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  input?: string;
}

/** Runs argv (no shell) and collects its output; never rejects for a non-zero exit. */
export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const started = Date.now();
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        env: opts.env ?? process.env,
      });
    } catch (e) {
      resolve({ code: null, signal: null, stdout: '', stderr: String(e), timedOut: false, ms: 0 });
      return;
    }
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(opts.input);
    }
    child.on('error', (e) => {
      stderr += `${e.message}\n`;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - started });
    });
  });
}

/** Like run() but throws (with the output) unless the command exits 0. */
export async function runOk(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(argv, opts);
  if (r.code !== 0) {
    throw new Error(
      `${argv.join(' ')} failed (${r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`})\n${r.stderr.trim()}\n${r.stdout.trim()}`,
    );
  }
  return r;
}

/** Runs argv inside a network namespace (`ip netns exec NS argv...`). */
export function nsExec(ns: string, argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(['ip', 'netns', 'exec', ns, ...argv], opts);
}

export function nsExecOk(ns: string, argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runOk(['ip', 'netns', 'exec', ns, ...argv], opts);
}

// ---- cleanup registry ------------------------------------------------------------------------

const namespaces = new Set<string>();
const tempDirs = new Set<string>();
const daemons = new Set<Daemon>();
const background = new Set<ChildProcess>();

/** SIGKILL to a process started with `detached: true` and everything it started (tshark → dumpcap). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/** Makes a temporary directory (under `base`, the system's temporary directory by default) that cleanupAll() removes. */
export function makeTempDir(prefix = 'pte-', base = tmpdir()): string {
  const dir = mkdtempSync(join(base, prefix));
  tempDirs.add(dir);
  return dir;
}

/** Registers a path for removal by cleanupAll(). */
export function removeOnCleanup(path: string): void {
  tempDirs.add(path);
}

/**
 * Removes everything the harness created: stops the daemons (SIGTERM, then SIGKILL), deletes the
 * namespaces (their TAP devices go with them), removes the temporary directories. Never throws;
 * returns what could not be removed.
 */
export async function cleanupAll(): Promise<string[]> {
  const problems: string[] = [];
  for (const child of [...background]) {
    killGroup(child);
    background.delete(child);
  }
  for (const d of [...daemons]) {
    try {
      await d.stop();
    } catch (e) {
      problems.push(`daemon ${d.pid ?? '?'}: ${(e as Error).message}`);
    }
    daemons.delete(d);
  }
  for (const ns of [...namespaces]) {
    const r = await run(['ip', 'netns', 'del', ns], { timeoutMs: 10_000 });
    if (r.code !== 0 && !/No such file/.test(r.stderr)) problems.push(`netns ${ns}: ${r.stderr.trim()}`);
    namespaces.delete(ns);
  }
  for (const dir of [...tempDirs]) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      problems.push(`${dir}: ${(e as Error).message}`);
    }
    tempDirs.delete(dir);
  }
  return problems;
}

// ---- namespaces and links --------------------------------------------------------------------

/** `ip netns add NAME` with lo up; removed by cleanupAll(). */
export async function createNetns(name: string): Promise<string> {
  if (name.length > 200 || !/^[a-zA-Z0-9_.-]+$/.test(name)) throw new Error(`bad namespace name ${name}`);
  await runOk(['ip', 'netns', 'add', name]);
  namespaces.add(name);
  await runOk(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/**
 * Gives an existing network namespace (a container's, by the path of its nsfs file: Docker's
 * SandboxKey, /proc/PID/ns/net) the name `name` under /run/netns, so `ip netns exec` and nsExec
 * work in it; cleanupAll() (or deleteNetns) removes the name, not the namespace's owner.
 */
export async function adoptNetns(name: string, nsPath: string): Promise<string> {
  if (name.length > 200 || !/^[a-zA-Z0-9_.-]+$/.test(name)) throw new Error(`bad namespace name ${name}`);
  mkdirSync('/run/netns', { recursive: true });
  writeFileSync(`/run/netns/${name}`, '', { flag: 'wx' });
  namespaces.add(name);
  await runOk(['mount', '--bind', nsPath, `/run/netns/${name}`]);
  return name;
}

export async function deleteNetns(name: string): Promise<void> {
  await run(['ip', 'netns', 'del', name]);
  namespaces.delete(name);
}

export async function netnsExists(name: string): Promise<boolean> {
  return existsSync(`/run/netns/${name}`);
}

/** True when the device exists (in the host, or in namespace `ns`). */
export async function linkExists(dev: string, ns?: string): Promise<boolean> {
  const r = await run(['ip', ...(ns !== undefined ? ['-n', ns] : []), 'link', 'show', 'dev', dev]);
  return r.code === 0;
}

export interface IpAddrInfo {
  family: string;
  local: string;
  prefixlen: number;
}
export interface IpLink {
  ifindex: number;
  ifname: string;
  address?: string;
  mtu: number;
  flags: string[];
  operstate?: string;
  addr_info?: IpAddrInfo[];
}

async function ipJson<T>(ns: string | null, args: string[]): Promise<T> {
  const r = await runOk(['ip', ...(ns !== null ? ['-n', ns] : []), '-j', ...args]);
  return (r.stdout.trim() === '' ? [] : JSON.parse(r.stdout)) as T;
}

/** `ip -n NS -j addr`: every interface with its MAC, MTU and addresses. */
export function nsAddrs(ns: string): Promise<IpLink[]> {
  return ipJson<IpLink[]>(ns, ['addr', 'show']);
}

/** The IPv4 addresses of one interface in a namespace, as "a.b.c.d/len". */
export async function nsIPv4(ns: string, dev: string): Promise<string[]> {
  const link = (await nsAddrs(ns)).find((l) => l.ifname === dev);
  return (link?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
}

export interface NeighEntry {
  dst: string;
  dev: string;
  lladdr?: string;
  state: string[];
}

/** `ip -n NS -j neigh show IP`. */
export function nsNeigh(ns: string, ip: string): Promise<NeighEntry[]> {
  return ipJson<NeighEntry[]>(ns, ['neigh', 'show', ip]);
}

export interface RouteEntry {
  dst: string;
  gateway?: string;
  dev: string;
  protocol?: string;
  prefsrc?: string;
}

/** `ip [-n NS] -j -4 route show [args]` (ns null: the host). */
export function routes(ns: string | null, args: string[] = []): Promise<RouteEntry[]> {
  return ipJson<RouteEntry[]>(ns, ['-4', 'route', 'show', ...args]);
}

// ---- addresses: subnets that do not collide with the host's routes ---------------------------

/** "a.b.c.d/len", or a bare address (a route's `dst`) as its /32. */
function routeCidr(cidr: string): ipv4.Ipv4Cidr {
  return ipv4.parseCidr(cidr.includes('/') ? cidr : `${cidr}/32`);
}

export function cidrsOverlap(a: string, b: string): boolean {
  return ipv4.cidrsOverlap(routeCidr(a), routeCidr(b));
}

/** The n-th address of a subnet ("10.1.2.0/24", 1 → "10.1.2.1"). */
export function hostAddr(cidr: string, n: number): string {
  return ipv4.ipv4ToString(ipv4.cidrNetwork(routeCidr(cidr)).addr + n);
}

/** Destinations of every IPv4 route of the host, all tables (defaults and local entries left out). */
export async function hostRouteDestinations(): Promise<string[]> {
  const all = await ipJson<{ dst?: string; type?: string }[]>(null, ['-4', 'route', 'show', 'table', 'all']);
  return all
    .filter((r) => r.dst !== undefined && r.dst !== 'default' && !['local', 'broadcast', 'multicast', 'anycast'].includes(r.type ?? ''))
    .map((r) => r.dst!);
}

const claimed: string[] = [];

/**
 * `count` subnets "BASE.N.0/24" that overlap no host route (pontoon refuses those) and none handed
 * out before by this process. BASE is "10.211" or a list of fallbacks ("10.211", "172.27", ...)
 * tried in order, for hosts that route a whole private range elsewhere. N starts at a random
 * offset so parallel runs rarely pick the same.
 */
export async function pickSubnets(bases: string | string[], count: number): Promise<string[]> {
  const taken = [...(await hostRouteDestinations()), ...claimed];
  for (const base of typeof bases === 'string' ? [bases] : bases) {
    const start = randomBytes(1)[0]!;
    const out: string[] = [];
    for (let i = 0; i < 256 && out.length < count; i++) {
      const s = `${base}.${(start + i) % 256}.0/24`;
      if (!taken.some((t) => cidrsOverlap(s, t))) out.push(s);
    }
    if (out.length === count) {
      claimed.push(...out);
      return out;
    }
  }
  throw new Error(`not enough free /24 subnets in ${String(bases)} (host routes: ${taken.join(', ')})`);
}

/**
 * A free host link "10.254.N.0/30" (N in 16..249): the host takes .1, the gateway .2. Routes of
 * /16 or longer that overlap it rule it out; a broader aggregate (10.0.0.0/8 via some uplink) does
 * not, as the /30 is more specific.
 */
export async function pickHostLink(): Promise<{ cidr: string; host: string; gateway: string; hostCidr: string; host6: string; gateway6: string; hostCidr6: string }> {
  const taken = [...(await hostRouteDestinations()), ...claimed].filter((t) => !t.includes('/') || Number(t.split('/')[1]) >= 16);
  const start = randomBytes(1)[0]! % 234;
  for (let i = 0; i < 234; i++) {
    const n = 16 + ((start + i) % 234);
    const cidr = `10.254.${n}.0/30`;
    if (taken.some((t) => cidrsOverlap(cidr, t))) continue;
    claimed.push(cidr);
    // the IPv6 side of the same link: a /64 of a unique local prefix, numbered like the /30
    const v6 = `fd70:6f6e:0:${n.toString(16)}`;
    return { cidr, host: `10.254.${n}.1`, gateway: `10.254.${n}.2`, hostCidr: `10.254.${n}.1/30`, host6: `${v6}::1`, gateway6: `${v6}::2`, hostCidr6: `${v6}::1/64` };
  }
  throw new Error('no free 10.254.N.0/30 host link');
}

/** A TCP port on 127.0.0.1 nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

// ---- ping and traceroute ---------------------------------------------------------------------

export interface PingReply {
  from: string;
  seq: number;
  ttl: number;
  bytes: number;
}

export interface PingError {
  from: string;
  seq: number;
  /** what ping printed after the sequence number: "Packet filtered", "Time to live exceeded", ... */
  message: string;
}

export interface PingResult extends RunResult {
  transmitted: number;
  received: number;
  /** the "+N errors" of the summary line */
  errorCount: number;
  lossPercent: number;
  replies: PingReply[];
  /** "From X icmp_seq=N MESSAGE" lines: ICMP errors about the probes */
  errors: PingError[];
  /** lines ping printed on stderr ("ping: local error: message too long, mtu=1280", ...) */
  localErrors: string[];
}

export interface PingOptions {
  /** -c (default 1) */
  count?: number;
  /** -W seconds to wait for a reply (default 1) */
  waitS?: number;
  /** -i seconds between probes (default 0.2) */
  intervalS?: number;
  /** -t */
  ttl?: number;
  /** -s payload bytes */
  size?: number;
  /** -M */
  pmtudisc?: 'do' | 'dont' | 'want' | 'probe';
  /** -I source address or device */
  source?: string;
}

/** Parses the output of iputils ping. */
export function parsePing(stdout: string, stderr = ''): Omit<PingResult, keyof RunResult> {
  const replies: PingReply[] = [];
  const errors: PingError[] = [];
  for (const line of stdout.split('\n')) {
    let m = /^(\d+) bytes from ([0-9.]+): icmp_seq=(\d+) ttl=(\d+)/.exec(line);
    if (m !== null) {
      replies.push({ bytes: Number(m[1]), from: m[2]!, seq: Number(m[3]), ttl: Number(m[4]) });
      continue;
    }
    m = /^From ([0-9.]+)(?: \([0-9.]+\))?:? icmp_seq=(\d+) (.+)$/.exec(line);
    if (m !== null) errors.push({ from: m[1]!, seq: Number(m[2]), message: m[3]!.trim() });
  }
  const sum = /(\d+) packets transmitted, (\d+) received(?:, \+(\d+) errors)?(?:, \+\d+ duplicates)?, ([0-9.]+)% packet loss/.exec(stdout);
  return {
    transmitted: sum ? Number(sum[1]) : 0,
    received: sum ? Number(sum[2]) : 0,
    errorCount: sum && sum[3] !== undefined ? Number(sum[3]) : 0,
    lossPercent: sum ? Number(sum[4]) : 100,
    replies,
    errors,
    localErrors: stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('ping:')),
  };
}

/** The ping argv for `ip`; exported so the demo can print the exact command. */
export function pingArgv(ip: string, o: PingOptions = {}): string[] {
  const argv = ['ping', '-n', '-c', String(o.count ?? 1), '-W', String(o.waitS ?? 1)];
  if ((o.count ?? 1) > 1) argv.push('-i', String(o.intervalS ?? 0.2));
  if (o.ttl !== undefined) argv.push('-t', String(o.ttl));
  if (o.size !== undefined) argv.push('-s', String(o.size));
  if (o.pmtudisc !== undefined) argv.push('-M', o.pmtudisc);
  if (o.source !== undefined) argv.push('-I', o.source);
  argv.push(ip);
  return argv;
}

/** Pings `ip` from namespace `ns` (null: from the host); bounded by -c, -W and a process timeout. */
export async function ping(ns: string | null, ip: string, o: PingOptions = {}): Promise<PingResult> {
  const argv = pingArgv(ip, o);
  const count = o.count ?? 1;
  const timeoutMs = (count * (o.intervalS ?? 0.2) + (o.waitS ?? 1) + 10) * 1000;
  const r = ns === null ? await run(argv, { timeoutMs }) : await nsExec(ns, argv, { timeoutMs });
  return { ...r, ...parsePing(r.stdout, r.stderr) };
}

export interface TracerouteHop {
  hop: number;
  /** the address that answered, or null for "*" */
  address: string | null;
}

/** Parses `traceroute -n -q 1` output: one probe per hop. */
export function parseTraceroute(stdout: string): TracerouteHop[] {
  const hops: TracerouteHop[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s*(\d+)\s+(\*|[0-9.]+)/.exec(line);
    if (m !== null) hops.push({ hop: Number(m[1]), address: m[2] === '*' ? null : m[2]! });
  }
  return hops;
}

// ---- packet capture --------------------------------------------------------------------------

export interface Capture {
  /** stops tshark (SIGINT, so it finishes the file) and resolves with its output */
  stop(): Promise<RunResult>;
}

/**
 * Starts `tshark -i IFACE -w FILE` inside a namespace and resolves once it is capturing. Bounded:
 * tshark stops by itself after `maxSeconds`; cleanupAll() kills it if the test does not stop it.
 */
export async function startCapture(ns: string, iface: string, file: string, maxSeconds = 30, o: { snaplen?: number; bufferMiB?: number } = {}): Promise<Capture> {
  const started = Date.now();
  const argv = ['ip', 'netns', 'exec', ns, 'tshark', '-n', '-q', '-i', iface, '-a', `duration:${maxSeconds}`, '-w', file];
  if (o.snaplen !== undefined) argv.push('-s', String(o.snaplen));
  if (o.bufferMiB !== undefined) argv.push('-B', String(o.bufferMiB));
  // its own process group, so tshark's dumpcap child can be killed with it
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  background.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      background.delete(child);
      resolve({ code, signal });
    }),
  );
  // "Capturing on 'IFACE'" comes before dumpcap has opened the device; "Capture started." after
  const capturing = await waitFor(() => /Capture started/.test(stderr) || child.exitCode !== null, 15_000, 50);
  if (child.exitCode !== null || (!capturing && !/Capturing on/.test(stderr))) {
    killGroup(child);
    await closed;
    throw new Error(`tshark did not start capturing on ${iface} in ${ns}:\n${stderr}`);
  }
  await sleep(200);
  return {
    async stop(): Promise<RunResult> {
      let timedOut = false;
      // dumpcap reads the kernel's buffer in batches: frames of the last moment are lost on SIGINT
      await sleep(1000);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const killer = setTimeout(() => {
        timedOut = true;
        killGroup(child);
      }, 10_000);
      const { code, signal } = await closed;
      clearTimeout(killer);
      return { code, signal, stdout, stderr, timedOut, ms: Date.now() - started };
    },
  };
}

/**
 * tshark options that decode every TCP and UDP payload as bare data: a check of the IP, ICMP and
 * transport layers must not fail because random bytes (iperf3's) on some port were taken for that
 * port's protocol and found malformed (IRC, X11, R3, OMAPI... on a masqueraded port).
 */
export const PAYLOAD_AS_DATA = ['-d', 'tcp.port==1-65535,data', '-d', 'udp.port==1-65535,data'];

/** `tshark -r FILE` with checksum validation on, a display filter and -T fields (`extra`: more tshark options); one array per frame. */
export async function tsharkFields(file: string, filter: string, fields: string[], extra: string[] = []): Promise<string[][]> {
  const argv = ['tshark', '-n', '-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', ...extra, '-Y', filter, '-T', 'fields'];
  for (const f of fields) argv.push('-e', f);
  const r = await runOk(argv, { timeoutMs: 30_000 });
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.split('\t'));
}

// ---- metrics ---------------------------------------------------------------------------------

/** Prometheus text → "name{labels}" → value (label text as printed by prom-client). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (m !== null) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** Drop counters by reason from /metrics text. */
export function dropsFromMetrics(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of parseMetrics(text)) {
    const m = /^pontoon_drops_total\{reason="([a-z_0-9]+)"\}$/.exec(k);
    if (m !== null) out[m[1]!] = v;
  }
  return out;
}

// ---- the daemon ------------------------------------------------------------------------------

export interface StatusReport {
  version: string;
  uptimeSeconds: number;
  networks: number;
  endpoints: number;
  ports: { id: number; name: string; kind: string; network: string | null; rxPackets: number; rxBytes: number; txPackets: number; txBytes: number }[];
  drops: Record<string, number>;
  neighbours: { network: string; ip: string; mac: string | null; state: string; ageSeconds: number }[];
  fdb: { network: string; mac: string; port: number; ageSeconds: number }[];
}

export interface EndpointResource {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  Interface: string;
  Netns: string;
}

export interface NetworkResource {
  Name: string;
  Id: string;
  Internal: boolean;
  EnableIPv6: boolean;
  IPAM: { Config: { Subnet: string; Gateway: string; IPRange?: string }[] };
  Containers: Record<string, EndpointResource>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

export interface DaemonOptions {
  /** an existing config file (e.g. config/demo.yaml); otherwise the harness writes one */
  configFile?: string;
  /** for a written config: the host TUN device name (≤ 15 chars) */
  hostDevice?: string;
  /** for a written config: 1-6 chars, [a-z][a-z0-9]* */
  devicePrefix?: string;
  /** for a written config: the host side of the TUN link, "10.254.N.1/30" */
  hostAddress?: string;
  /** for a written config: the default network, or null for none */
  defaultNetwork?: { name: string; subnet: string; gateway?: string; mtu?: number } | null;
  /** for a written config: extra top-level keys (e.g. { dataplane: { arp: { retries: 2 } } }) */
  extra?: Record<string, unknown>;
  /** for a written config: dotted paths set last, over everything else ({ 'dataplane.batchSize': 128 }) */
  set?: Record<string, unknown>;
  logLevel?: string;
  readyTimeoutMs?: number;
  /** run the daemon under `setpriv --pdeathsig KILL` so it dies with this process (default true) */
  dieWithParent?: boolean;
  /**
   * run the daemon inside this network namespace (`ip netns exec NS ...`), as a "host" of its own;
   * metrics() then reads /metrics with curl inside that namespace (its loopback is not this one's)
   */
  netns?: string;
  /** a command the daemon's command line is appended to (e.g. seccompDenying(...)) */
  wrapper?: string[];
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Daemon {
  /** the config the daemon runs with, as pontoon parses it */
  readonly config: PontoonConfig;
  readonly configPath: string;
  /** pid of the running daemon, or null when it is not running */
  readonly pid: number | null;
  /** environment for the CLI: PONTOON_SOCKET set to this daemon's socket */
  readonly env: NodeJS.ProcessEnv;
  /** `pontoon ARGS` against this daemon */
  cli(args: string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CliResult>;
  /** `pontoon ARGS`, throwing (with the daemon's log tail) unless it exits 0 */
  cliOk(args: string[]): Promise<CliResult>;
  /** `pontoon network inspect NAME`, parsed */
  inspect(network: string): Promise<NetworkResource>;
  /** GET /metrics text */
  metrics(): Promise<string>;
  /** drop counters by reason, from /metrics */
  drops(): Promise<Record<string, number>>;
  /** `pontoon status --format json`, parsed */
  status(): Promise<StatusReport>;
  /** everything the daemon printed (all runs), for failure messages */
  logs(): string;
  /** the last `n` log lines */
  logTail(n?: number): string;
  /** SIGKILL: no shutdown at all */
  kill9(): Promise<void>;
  /** starts the daemon again with the same config (stopping it first if it runs) */
  restart(): Promise<void>;
  /** SIGTERM, then SIGKILL after 5 s; resolves with how it ended (null when it was not running) */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null>;
}

let setprivAvailable: boolean | null = null;

function hasSetpriv(): boolean {
  setprivAvailable ??= existsSync('/usr/bin/setpriv') || existsSync('/bin/setpriv');
  return setprivAvailable;
}

function tail(text: string, n: number): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-n).join('\n');
}

class DaemonProcess implements Daemon {
  private child: ChildProcess | null = null;
  private exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  private log = '';
  readonly env: NodeJS.ProcessEnv;

  constructor(
    readonly config: PontoonConfig,
    readonly configPath: string,
    private readonly opts: DaemonOptions,
  ) {
    this.env = { ...process.env, PONTOON_SOCKET: config.api.socket };
  }

  get pid(): number | null {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null ? (this.child.pid ?? null) : null;
  }

  async start(): Promise<void> {
    const argv = [...(this.opts.wrapper ?? []), process.execPath, cliPath(), 'daemon', '--config', this.configPath];
    const guarded = this.opts.dieWithParent !== false && hasSetpriv() ? ['setpriv', '--pdeathsig', 'KILL', '--', ...argv] : argv;
    // `ip netns exec` execs the command (no fork): the pid stays the daemon's, setpriv's death signal holds
    const full = this.opts.netns !== undefined ? ['ip', 'netns', 'exec', this.opts.netns, ...guarded] : guarded;
    const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    this.child = child;
    this.log += `--- daemon started (pid ${child.pid}): ${argv.slice(1).join(' ')}\n`;
    this.exit = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.log += `--- daemon exited (${code !== null ? `code ${code}` : signal})\n`;
        resolve({ code, signal });
      });
    });
    let ready = false;
    let buffered = '';
    let onReady: (() => void) | null = null;
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      this.log += s;
      buffered += s;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          if ((JSON.parse(line) as { msg?: string }).msg === 'pontoon is ready') {
            ready = true;
            onReady?.();
          }
        } catch {
          // not a JSON log line
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (this.log += s));
    const timeoutMs = this.opts.readyTimeoutMs ?? 20_000;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await new Promise<'ready' | 'exited' | 'timeout'>((resolve) => {
      if (ready) resolve('ready');
      onReady = () => resolve('ready');
      void this.exit!.then(() => resolve('exited'));
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    clearTimeout(timer);
    if (outcome === 'ready') return;
    if (outcome === 'timeout') await this.stop();
    await this.exit;
    throw new Error(
      `pontoon daemon ${outcome === 'timeout' ? `was not ready within ${timeoutMs} ms` : 'exited before it was ready'}:\n${this.logTail(30)}`,
    );
  }

  logs(): string {
    return this.log;
  }

  logTail(n = 20): string {
    return tail(this.log, n);
  }

  async cli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
    const r = await run([process.execPath, cliPath(), ...args], { env: opts.env ?? this.env, timeoutMs: opts.timeoutMs ?? 30_000 });
    if (r.timedOut) return { code: null, stdout: r.stdout, stderr: `${r.stderr}(timed out)\n` };
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  }

  async cliOk(args: string[]): Promise<CliResult> {
    const r = await this.cli(args);
    if (r.code !== 0) {
      throw new Error(`pontoon ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}\n--- daemon log:\n${this.logTail(15)}`);
    }
    return r;
  }

  async inspect(network: string): Promise<NetworkResource> {
    const r = await this.cliOk(['network', 'inspect', network]);
    return (JSON.parse(r.stdout) as NetworkResource[])[0]!;
  }

  async metrics(): Promise<string> {
    const c = this.config.metrics;
    if (!c.enabled) throw new Error('metrics are disabled in this config');
    if (this.opts.netns !== undefined) {
      const url = `http://${c.host}:${c.port}/metrics`;
      const r = await nsExec(this.opts.netns, ['curl', '-sS', '--fail', '--connect-timeout', '5', '-m', '10', url], { timeoutMs: 15_000 });
      if (r.code !== 0) throw new Error(`GET ${url} in ${this.opts.netns}: ${r.stderr.trim() || `exit ${r.code}`}`);
      return r.stdout;
    }
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 10_000);
    try {
      const res = await fetch(`http://${c.host}:${c.port}/metrics`, { signal: ctl.signal });
      if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
      return await res.text();
    } finally {
      clearTimeout(timer);
    }
  }

  async drops(): Promise<Record<string, number>> {
    return dropsFromMetrics(await this.metrics());
  }

  async status(): Promise<StatusReport> {
    const r = await this.cliOk(['status', '--format', 'json']);
    return JSON.parse(r.stdout) as StatusReport;
  }

  async kill9(): Promise<void> {
    if (this.pid === null) return;
    this.child!.kill('SIGKILL');
    await this.exit;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
    if (this.child === null || this.exit === null) return null;
    if (this.pid !== null) {
      this.child.kill('SIGTERM');
      const killer = setTimeout(() => this.child?.kill('SIGKILL'), 5000);
      const r = await this.exit;
      clearTimeout(killer);
      return r;
    }
    return this.exit;
  }
}

/**
 * Sets each dotted path of `set` in a config object ("dataplane.arp.retries" → cfg.dataplane.arp.retries),
 * creating the mappings on the way; a path through a value that is not a mapping is an error.
 */
export function setConfigPaths(cfg: Record<string, unknown>, set: Record<string, unknown>): void {
  for (const [path, value] of Object.entries(set)) {
    const keys = path.split('.');
    if (keys.some((k) => k === '')) throw new Error(`bad config path "${path}"`);
    let at: Record<string, unknown> = cfg;
    for (const k of keys.slice(0, -1)) {
      const next = at[k] ?? (at[k] = {});
      if (typeof next !== 'object' || next === null || Array.isArray(next)) throw new Error(`config path "${path}": "${k}" is not a mapping`);
      at = next as Record<string, unknown>;
    }
    at[keys[keys.length - 1]!] = value;
  }
}

/**
 * Starts `pontoon daemon` with a config file (given, or written to a temporary directory from
 * `opts`) and resolves once it logged "pontoon is ready". cleanupAll() stops it.
 */
export async function startDaemon(opts: DaemonOptions = {}): Promise<Daemon> {
  let configPath: string;
  if (opts.configFile !== undefined) {
    configPath = opts.configFile;
  } else {
    const dir = makeTempDir('pte-d-');
    const prefix = opts.devicePrefix ?? `pe${randomHex(2)}`;
    const picked = await pickHostLink();
    const link = opts.hostAddress ?? picked.hostCidr;
    const base: Record<string, unknown> = {
      stateDir: join(dir, 'state'),
      // each daemon its own live-state file: never another test's conntrack table
      liveState: { path: join(dir, 'live-state') },
      devicePrefix: prefix,
      api: { socket: join(dir, 'pontoon.sock') },
      metrics: { listen: `127.0.0.1:${await freePort()}` },
      host: { device: opts.hostDevice ?? `${prefix}0`, address: link, address6: picked.hostCidr6 },
      defaultNetwork: opts.defaultNetwork === undefined ? null : opts.defaultNetwork,
      log: { level: opts.logLevel ?? 'info' },
      // never forward a container's DNS query to the host's real resolvers: tests stay on this machine
      dns: { upstream: [] },
      ...opts.extra,
    };
    // a copy: the dotted paths must not change the caller's objects (defaultNetwork, extra)
    const cfg = structuredClone(base);
    // PONTOON_TEST_IO=read-write runs every test daemon on the read/write backend (CI runs the
    // end-to-end suites on both backends); a test's own dataplane.io comes first
    const io = process.env.PONTOON_TEST_IO;
    if (io !== undefined && io !== '') cfg.dataplane = { io, ...(cfg.dataplane as Record<string, unknown> | undefined) };
    setConfigPaths(cfg, opts.set ?? {});
    configPath = join(dir, 'pontoon.yaml');
    // JSON is YAML
    writeFileSync(configPath, `# written by test/e2e/harness.ts\n${JSON.stringify(cfg, null, 2)}\n`);
  }
  const config = loadConfig(configPath);
  mkdirSync(dirname(config.api.socket), { recursive: true });
  const d = new DaemonProcess(config, configPath, opts);
  daemons.add(d);
  await d.start();
  return d;
}

// ---- seccomp ---------------------------------------------------------------------------------

/**
 * A command prefix that runs its command with a seccomp filter answering system call `nr` with
 * `err` (as a container runtime's profile does for io_uring): python3 installs the filter, then
 * execs the rest of the command line.
 */
export function seccompDenying(nr: number, err: number): string[] {
  const script = [
    'import ctypes, os, struct, sys',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'nr, err = int(sys.argv[1]), int(sys.argv[2])',
    // BPF: A = seccomp_data.nr; if A == nr return ERRNO|err; return ALLOW
    'prog = [(0x20, 0, 0, 0), (0x15, 0, 1, nr), (0x06, 0, 0, 0x00050000 | err), (0x06, 0, 0, 0x7fff0000)]',
    "code = ctypes.create_string_buffer(b''.join(struct.pack('HBBI', *i) for i in prog))",
    "class Fprog(ctypes.Structure): _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]",
    'fp = Fprog(len(prog), ctypes.cast(code, ctypes.c_void_p))',
    'assert libc.prctl(38, 1, 0, 0, 0) == 0', // PR_SET_NO_NEW_PRIVS
    'assert libc.prctl(22, 2, ctypes.byref(fp), 0, 0) == 0', // PR_SET_SECCOMP, SECCOMP_MODE_FILTER
    'os.execvp(sys.argv[3], sys.argv[3:])',
  ].join('\n');
  return [SCAPY_PYTHON, '-c', script, String(nr), String(err)];
}

// ---- scapy -----------------------------------------------------------------------------------

/** The system python (apt's python3-scapy); a pyenv/venv python3 first on PATH may lack scapy. */
export const SCAPY_PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Runs a python script using scapy inside a namespace; throws with its output if it fails. */
export async function scapyInNetns(ns: string, script: string, timeoutMs = 20_000): Promise<RunResult> {
  const prelude = 'import logging\nlogging.getLogger("scapy.runtime").setLevel(logging.ERROR)\nfrom scapy.all import *\n';
  return nsExecOk(ns, [SCAPY_PYTHON, '-c', prelude + script], { timeoutMs });
}

// ---- etcd ------------------------------------------------------------------------------------

/**
 * Where a test's etcd keeps its data: tmpfs when there is one, so that its fsyncs cost nothing and
 * a lease expires on time even while the disk is busy (a lease revocation is a raft write).
 */
export const ETCD_DATA_BASE = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

/** Arguments for a single-member etcd the tests run themselves (fast elections, quiet logs). */
export function etcdArgs(dataDir: string, clientUrl: string, peerUrl: string): string[] {
  return [
    '--name=default',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=default=${peerUrl}`,
    '--heartbeat-interval=50',
    '--election-timeout=500',
    '--logger=zap',
    '--log-level=warn',
  ];
}
