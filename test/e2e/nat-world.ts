/**
 * The world the NAT end-to-end tests (test/e2e/nat.test.ts) run in: a pontoon daemon with an
 * uplink, an "external" side made of namespaces, containers connected to the default network, and
 * the small servers and clients the tests drive. Must not import vitest.
 *
 *   container ns ──TAP── pontoon ══uplink══ router ns ──veth── far ns
 *   172.x.y.N/24         gw 172.x.y.1       198.51.100.1        203.0.113.10, 203.0.113.20
 *                        198.51.100.2       203.0.113.1
 *
 * The uplink is either a TAP device the daemon creates inside the router namespace (kind: tap) or a
 * veth pair whose host end the daemon opens with an AF_PACKET socket (kind: afpacket). The router
 * has no route back to the container subnets: they never appear outside the gateway.
 *
 * Everything is registered for removal: the harness's cleanupAll() removes namespaces, daemons and
 * temporary directories; cleanupNatWorlds() kills the background processes started here and
 * deletes the host end of the afpacket veth pairs. Every process has a time limit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Daemon,
  type RunResult,
  createNetns,
  hostAddr,
  makeTempDir,
  nsExec,
  nsExecOk,
  nsAddrs,
  nsIPv4,
  packageRoot,
  parseMetrics,
  pickSubnets,
  randomHex,
  run,
  runOk,
  SCAPY_PYTHON,
  startDaemon,
  waitFor,
} from './harness.js';

export const UPLINK_IP = '198.51.100.2';
export const UPLINK_CIDR = `${UPLINK_IP}/24`;
export const ROUTER_IP = '198.51.100.1';
export const FAR_GW = '203.0.113.1';
export const FAR_A = '203.0.113.10';
export const FAR_B = '203.0.113.20';

/** The system python: its start-up does not go through a pyenv shim. */
export const PYTHON = SCAPY_PYTHON;

// ---- background processes --------------------------------------------------------------------

export interface Background {
  readonly argv: string[];
  stdout(): string;
  stderr(): string;
  /** true while it runs */
  running(): boolean;
  /** waits until stdout+stderr match `re` (or it exits, or `timeoutMs` passes) */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<boolean>;
  /** resolves when it exits by itself (bounded by its own time limit) */
  exited(): Promise<RunResult>;
  /** SIGTERM to its process group, SIGKILL after `graceMs`; resolves with what it printed */
  stop(graceMs?: number): Promise<RunResult>;
}

const background = new Set<ChildProcess>();
const hostLinks = new Set<string>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

/**
 * Starts argv inside namespace `ns` (null: the host) in its own process group, under
 * `timeout -s KILL maxSeconds`, so it dies by itself even if nobody stops it.
 */
export function startBackground(ns: string | null, argv: string[], maxSeconds = 120): Background {
  const bounded = ['timeout', '-s', 'KILL', String(maxSeconds), ...argv];
  const full = ns === null ? bounded : ['ip', 'netns', 'exec', ns, ...bounded];
  const started = Date.now();
  const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  background.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  child.on('error', (e) => (err += `${e.message}\n`));
  const closed = new Promise<RunResult>((resolve) =>
    child.on('close', (code, signal) => {
      background.delete(child);
      resolve({ code, signal, stdout: out, stderr: err, timedOut: false, ms: Date.now() - started });
    }),
  );
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    argv: full,
    stdout: () => out,
    stderr: () => err,
    running,
    waitForOutput: (re, timeoutMs = 10_000) => waitFor(() => re.test(out + err) || !running(), timeoutMs, 50).then(() => re.test(out + err)),
    exited: () => closed,
    async stop(graceMs = 3000) {
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      const r = await closed;
      clearTimeout(timer);
      return r;
    },
  };
}

/** Kills every background process started here and deletes the host ends of veth pairs. */
export async function cleanupNatWorlds(): Promise<string[]> {
  const problems: string[] = [];
  for (const child of [...background]) {
    killGroup(child, 'SIGKILL');
    background.delete(child);
  }
  for (const dev of [...hostLinks]) {
    const r = await run(['ip', 'link', 'del', 'dev', dev], { timeoutMs: 10_000 });
    if (r.code !== 0 && !/Cannot find device|does not exist/.test(r.stderr)) problems.push(`link ${dev}: ${r.stderr.trim()}`);
    hostLinks.delete(dev);
  }
  return problems;
}

// ---- helper scripts --------------------------------------------------------------------------

/**
 * UDP listener: binds every ADDR:PORT argument, prints one JSON line per datagram
 * ({local, from, data}) and, with --echo, answers "echo:DATA" from the same socket.
 */
const UDP_LISTEN_PY = String.raw`
import json, selectors, socket, sys
args = sys.argv[1:]
echo = '--echo' in args
sel = selectors.DefaultSelector()
for spec in (a for a in args if a != '--echo'):
    host, port = spec.rsplit(':', 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    sel.register(s, selectors.EVENT_READ, spec)
print(json.dumps({'listening': [a for a in args if a != '--echo']}), flush=True)
while True:
    for key, _ in sel.select():
        data, peer = key.fileobj.recvfrom(65535)
        print(json.dumps({'local': key.data, 'from': '%s:%d' % peer, 'data': data.decode(errors='replace')}), flush=True)
        if echo:
            key.fileobj.sendto(b'echo:' + data, peer)
`;

/**
 * UDP client: --bind ADDR:PORT, then every --send DST:PORT:TEXT in order, then prints one JSON
 * line per datagram received ({from, data}) for --listen SECONDS or until --count N arrived.
 */
const UDP_CLIENT_PY = String.raw`
import argparse, json, socket, time
p = argparse.ArgumentParser()
p.add_argument('--bind', default='0.0.0.0:0')
p.add_argument('--send', action='append', default=[])
p.add_argument('--listen', type=float, default=0)
p.add_argument('--count', type=int, default=0)
a = p.parse_args()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
host, port = a.bind.rsplit(':', 1)
s.bind((host, int(port)))
print(json.dumps({'bound': '%s:%d' % s.getsockname()}), flush=True)
for spec in a.send:
    dst, dport, text = spec.split(':', 2)
    s.sendto(text.encode(), (dst, int(dport)))
deadline = time.time() + a.listen
got = 0
while True:
    left = deadline - time.time()
    if left <= 0 or (a.count and got >= a.count):
        break
    s.settimeout(left)
    try:
        data, peer = s.recvfrom(65535)
    except socket.timeout:
        break
    got += 1
    print(json.dumps({'from': '%s:%d' % peer, 'data': data.decode(errors='replace')}), flush=True)
`;

/** HTTP server: serves files of DIR on HOST:PORT (keep-alive), logs "CLIENT_IP CLIENT_PORT METHOD URL". */
const HTTP_SERVER_MJS = String.raw`
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
const [dir, host, port] = process.argv.slice(2);
let logged = 0;
const server = createServer((req, res) => {
  if (logged++ < 200) console.log(req.socket.remoteAddress + ' ' + req.socket.remotePort + ' ' + req.method + ' ' + req.url);
  const name = req.url === '/' ? 'index.html' : basename(req.url ?? '');
  let body;
  try {
    body = readFileSync(join(dir, name));
  } catch {
    res.writeHead(404).end('not found\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body);
});
server.listen(Number(port), host, () => console.log('listening on ' + host + ':' + port));
`;

/** Writes a helper script into `dir` (once) and returns its path. */
function script(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  if (!existsSync(p)) writeFileSync(p, text);
  return p;
}

/**
 * Turns off checksum and segmentation offloads (ethtool -K DEV tx off tso off gso off gro off):
 * a frame read from an AF_PACKET socket must be a complete Ethernet frame with final checksums.
 * Uses ethtool when installed; otherwise the same SIOCETHTOOL requests from python.
 */
const ETHTOOL_K_PY = String.raw`
import ctypes, fcntl, socket, struct, sys
SIOCETHTOOL = 0x8946
# legacy get/set command pairs of include/uapi/linux/ethtool.h
CMDS = {'tx': (0x16, 0x17), 'tso': (0x1e, 0x1f), 'gso': (0x23, 0x24), 'gro': (0x2b, 0x2c)}
def call(s, dev, cmd, data=0):
    ev = ctypes.create_string_buffer(struct.pack('II', cmd, data), 8)
    ifr = struct.pack('16sP', dev.encode(), ctypes.addressof(ev)) + b'\0' * 16
    fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)
    return struct.unpack('II', ev.raw)[1]
dev = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for name, (get, set_) in CMDS.items():
    call(s, dev, set_, 0)
state = {name: call(s, dev, get) for name, (get, _) in CMDS.items()}
print(state)
sys.exit(1 if any(state.values()) else 0)
`;

let ethtoolPath: string | null | undefined;

export function ethtoolAvailable(): boolean {
  ethtoolPath ??= ['/usr/sbin/ethtool', '/sbin/ethtool', '/usr/bin/ethtool'].find((p) => existsSync(p)) ?? null;
  return ethtoolPath !== null;
}

async function disableOffloads(ns: string | null, dev: string, dir: string): Promise<void> {
  const argv = ethtoolAvailable()
    ? [ethtoolPath!, '-K', dev, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']
    : [PYTHON, script(dir, 'ethtool_k.py', ETHTOOL_K_PY), dev];
  if (ns === null) await runOk(argv);
  else await nsExecOk(ns, argv);
}

// ---- the world -------------------------------------------------------------------------------

export interface NatWorldOptions {
  kind: 'tap' | 'afpacket';
  /** the config's nat section */
  nat?: Record<string, unknown>;
  /** the config's conntrack section */
  conntrack?: Record<string, unknown>;
  /** two letters naming the world in device names (default random) */
  tag?: string;
  /** config keys set last, by dotted path (the harness's DaemonOptions.set) */
  set?: Record<string, unknown>;
  /**
   * dual stack: the uplink gets address6 in a 2001:db8 /64 of the world's own (gateway6 the
   * router's fe80::1: the gateway must not answer for it), the far side another /64, and the
   * default network a ULA /64 (masqueraded, as Docker's ip6tables does)
   */
  ipv6?: boolean;
}

/** A group of four hex digits with no leading zero: addresses print as they are written. */
const group = (): string => (0x8000 | parseInt(randomHex(2), 16)).toString(16);

export interface Container {
  ns: string;
  ip: string;
  /** its IPv6 address, in a world with ipv6 */
  ip6?: string;
}

export interface ConntrackTuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

export interface ConntrackEntry {
  proto: 'tcp' | 'udp' | 'icmp';
  protoNumber: number;
  timeoutSeconds: number;
  state: string;
  orig: ConntrackTuple;
  reply: ConntrackTuple;
  flags: string[];
  packets: number[];
  bytes: number[];
}

export class NatWorld {
  /** "pte-<hex>" */
  readonly prefix: string;
  readonly router: string;
  readonly far: string;
  /** the uplink device (the TAP in the router namespace, or the host end of the veth) */
  readonly uplinkDevice: string;
  /** the router's end of the uplink */
  readonly routerUplinkDevice: string;
  /** the router's side of the router-far veth, and the far side */
  readonly routerFarDevice: string;
  readonly farDevice: string;
  readonly dir: string;
  daemon!: Daemon;
  subnet = '';
  gateway = '';
  /** the gateway's address on the host link (host.address + 1): published ports answer there too */
  hostGateway = '';
  /** with ipv6: the uplink's address, the router's global address on the uplink, the far hosts, the default network's ULA /64 */
  uplink6 = '';
  router6 = '';
  far6A = '';
  far6B = '';
  farGw6 = '';
  subnet6 = '';

  constructor(readonly opts: NatWorldOptions) {
    const hex = randomHex(3);
    const tag = opts.tag ?? randomHex(1);
    this.prefix = `pte-${hex}`;
    this.router = `${this.prefix}-rt`;
    this.far = `${this.prefix}-far`;
    // ≤ 15 characters: "pt" + tag + hex + 2
    this.uplinkDevice = `pt${tag}${hex}up`;
    this.routerUplinkDevice = opts.kind === 'tap' ? this.uplinkDevice : `pt${tag}${hex}ru`;
    this.routerFarDevice = `pt${tag}${hex}rf`;
    this.farDevice = `pt${tag}${hex}fr`;
    this.dir = makeTempDir('pte-nat-');
  }

  /** Creates the namespaces and links, starts the daemon and waits until the uplink answers. */
  async build(): Promise<this> {
    const { router, far } = this;
    await createNetns(router);
    await createNetns(far);
    for (const n of [router, far]) {
      // deterministic ICMP errors for traceroute and path-MTU discovery: no rate limit
      await nsExecOk(n, ['sysctl', '-qw', 'net.ipv4.icmp_ratelimit=0']);
    }
    await nsExecOk(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await runOk(['ip', 'link', 'add', this.routerFarDevice, 'netns', router, 'type', 'veth', 'peer', 'name', this.farDevice, 'netns', far]);
    await runOk(['ip', '-n', router, 'addr', 'add', `${FAR_GW}/24`, 'dev', this.routerFarDevice]);
    await runOk(['ip', '-n', router, 'link', 'set', this.routerFarDevice, 'up']);
    await runOk(['ip', '-n', far, 'addr', 'add', `${FAR_A}/24`, 'dev', this.farDevice]);
    await runOk(['ip', '-n', far, 'addr', 'add', `${FAR_B}/24`, 'dev', this.farDevice]);
    await runOk(['ip', '-n', far, 'link', 'set', this.farDevice, 'up']);
    await runOk(['ip', '-n', far, 'route', 'add', 'default', 'via', FAR_GW]);

    const v6 = this.opts.ipv6 === true;
    if (v6) {
      const up = `2001:db8:${group()}:${group()}`;
      const farNet = `2001:db8:${group()}:${group()}`;
      this.uplink6 = `${up}::2`;
      this.router6 = `${up}::1`;
      this.farGw6 = `${farNet}::1`;
      this.far6A = `${farNet}::10`;
      this.far6B = `${farNet}::20`;
      this.subnet6 = `fd${randomHex(1)}:${group()}:${group()}:${group()}::/64`;
      await nsExecOk(router, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
      for (const n of [router, far]) await nsExecOk(n, ['sysctl', '-qw', 'net.ipv6.icmp.ratelimit=0']);
      await runOk(['ip', '-n', router, '-6', 'addr', 'add', `${this.farGw6}/64`, 'dev', this.routerFarDevice, 'nodad']);
      await runOk(['ip', '-n', far, '-6', 'addr', 'add', `${this.far6A}/64`, 'dev', this.farDevice, 'nodad']);
      await runOk(['ip', '-n', far, '-6', 'addr', 'add', `${this.far6B}/64`, 'dev', this.farDevice, 'nodad']);
      await runOk(['ip', '-n', far, '-6', 'route', 'add', 'default', 'via', this.farGw6]);
    }
    const uplink6 = v6 ? { address6: `${this.uplink6}/64`, gateway6: 'fe80::1' } : {};
    let uplink: Record<string, unknown>;
    if (this.opts.kind === 'afpacket') {
      hostLinks.add(this.uplinkDevice);
      await runOk(['ip', 'link', 'add', this.uplinkDevice, 'type', 'veth', 'peer', 'name', this.routerUplinkDevice, 'netns', router]);
      // the host end carries no address: only pontoon speaks on it; keep IPv6 chatter off it too
      await run(['sysctl', '-qw', `net.ipv6.conf.${this.uplinkDevice}.disable_ipv6=1`]);
      await disableOffloads(null, this.uplinkDevice, this.dir);
      await disableOffloads(router, this.routerUplinkDevice, this.dir);
      await runOk(['ip', 'link', 'set', this.uplinkDevice, 'up']);
      await runOk(['ip', '-n', router, 'addr', 'add', `${ROUTER_IP}/24`, 'dev', this.routerUplinkDevice]);
      await runOk(['ip', '-n', router, 'link', 'set', this.routerUplinkDevice, 'up']);
      uplink = { kind: 'afpacket', device: this.uplinkDevice, address: UPLINK_CIDR, gateway: ROUTER_IP, ...uplink6 };
    } else {
      uplink = { kind: 'tap', device: this.uplinkDevice, address: UPLINK_CIDR, gateway: ROUTER_IP, netns: router, ...uplink6 };
    }

    this.subnet = (await pickSubnets('172.30', 1))[0]!;
    this.gateway = hostAddr(this.subnet, 1);
    const extra: Record<string, unknown> = { uplink };
    if (this.opts.nat !== undefined) extra.nat = this.opts.nat;
    if (this.opts.conntrack !== undefined) extra.conntrack = this.opts.conntrack;
    const set = { ...(v6 ? { 'defaultNetwork.ipv6': true, 'defaultNetwork.fixedCidrV6': this.subnet6 } : {}), ...this.opts.set };
    this.daemon = await startDaemon({ defaultNetwork: { name: 'bridge', subnet: this.subnet, gateway: this.gateway }, extra, set });
    this.hostGateway = this.daemon.config.host.gatewayAddress;

    if (this.opts.kind === 'tap') {
      // the daemon created the TAP inside the router namespace and set it up: give the router its side
      await runOk(['ip', '-n', router, 'addr', 'add', `${ROUTER_IP}/24`, 'dev', this.uplinkDevice]);
    }
    if (v6) {
      // the router's side of the uplink: fe80::1 (as many routers have it) and its global address
      const dev = this.routerUplinkDevice;
      await runOk(['ip', '-n', router, '-6', 'addr', 'add', 'fe80::1/64', 'dev', dev, 'nodad']);
      await runOk(['ip', '-n', router, '-6', 'addr', 'add', `${this.router6}/64`, 'dev', dev, 'nodad']);
    }
    // the gateway answers ping on its uplink address once the uplink works
    const up = await waitFor(async () => (await nsExec(router, ['ping', '-n', '-c', '1', '-W', '1', UPLINK_IP], { timeoutMs: 5000 })).code === 0, 15_000, 200);
    if (!up) throw new Error(`the router cannot ping ${UPLINK_IP} over the ${this.opts.kind} uplink\n${this.daemon.logTail(20)}`);
    if (v6) {
      const up6 = await waitFor(async () => (await nsExec(router, ['ping', '-6', '-n', '-c', '1', '-W', '1', this.uplink6], { timeoutMs: 5000 })).code === 0, 15_000, 200);
      if (!up6) throw new Error(`the router cannot ping ${this.uplink6} over the ${this.opts.kind} uplink\n${this.daemon.logTail(20)}`);
    }
    return this;
  }

  /** Creates namespace `pte-<hex>-NAME` and connects it to the network (`-p SPEC` for each spec). */
  connect(name: string, publish: string[] = []): Promise<Container> {
    return this.connectAt(name, publish, null);
  }

  /** As connect, on address `ip` of the network (null: the one IPAM picks). */
  async connectAt(name: string, publish: string[], ip: string | null): Promise<Container> {
    const ns = await createNetns(`${this.prefix}-${name}`);
    const at = ip === null ? [] : ['--ip', ip];
    await this.daemon.cliOk(['network', 'connect', ...at, ...publish.flatMap((p) => ['-p', p]), 'bridge', ns]);
    const addrs = await nsIPv4(ns, 'eth0');
    if (addrs.length !== 1) throw new Error(`${ns}: expected one address on eth0, got ${addrs.join(', ')}`);
    const c: Container = { ns, ip: addrs[0]!.split('/')[0]! };
    if (this.opts.ipv6 === true) {
      const a6 = (await nsAddrs(ns)).flatMap((l) => (l.ifname === 'eth0' ? (l.addr_info ?? []) : [])).filter((a) => a.family === 'inet6' && !a.local.startsWith('fe80:'));
      if (a6.length !== 1) throw new Error(`${ns}: expected one global IPv6 address on eth0, got ${JSON.stringify(a6)}`);
      c.ip6 = a6[0]!.local;
    }
    return c;
  }

  /** Writes a helper script into the world's directory; its path. */
  script(name: string, text: string): string {
    return script(this.dir, name, text);
  }

  /** A directory of files for an HTTP server: index.html holding `page`, plus `files`. */
  webRoot(name: string, page: string, files: Record<string, string | Buffer> = {}): string {
    const d = join(this.dir, `www-${name}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'index.html'), page);
    for (const [f, body] of Object.entries(files)) writeFileSync(join(d, f), body);
    return d;
  }

  /** The node HTTP server of this file on host:port in `ns`, serving `root`; resolves once listening. */
  async httpServer(ns: string, host: string, port: number, root: string, maxSeconds = 300): Promise<Background> {
    const p = startBackground(ns, [process.execPath, script(this.dir, 'http-server.mjs', HTTP_SERVER_MJS), root, host, String(port)], maxSeconds);
    if (!(await p.waitForOutput(/listening on/, 15_000))) throw new Error(`HTTP server in ${ns} did not start:\n${p.stderr()}`);
    return p;
  }

  /** `python3 -m http.server PORT --bind HOST` in `ns` (its log, on stderr, names each client). */
  async pythonHttpServer(ns: string, host: string, port: number, root: string, maxSeconds = 300): Promise<Background> {
    const p = startBackground(ns, [PYTHON, '-u', '-m', 'http.server', String(port), '--bind', host, '--directory', root], maxSeconds);
    if (!(await p.waitForOutput(/Serving HTTP on/, 15_000))) throw new Error(`python http.server in ${ns} did not start:\n${p.stderr()}`);
    return p;
  }

  /** UDP listener on each "addr:port"; resolves once bound. */
  async udpListener(ns: string, binds: string[], echo: boolean, maxSeconds = 120): Promise<Background> {
    const argv = [PYTHON, '-u', script(this.dir, 'udp_listen.py', UDP_LISTEN_PY), ...binds];
    if (echo) argv.push('--echo');
    const p = startBackground(ns, argv, maxSeconds);
    if (!(await p.waitForOutput(/"listening"/, 15_000))) throw new Error(`UDP listener in ${ns} did not start:\n${p.stderr()}`);
    return p;
  }

  /** The UDP client (see UDP_CLIENT_PY) in the background. */
  udpClient(ns: string, o: { bind?: string; send: string[]; listenS?: number; count?: number }): Background {
    const argv = [PYTHON, '-u', script(this.dir, 'udp_client.py', UDP_CLIENT_PY), '--bind', o.bind ?? '0.0.0.0:0'];
    for (const s of o.send) argv.push('--send', s);
    if (o.listenS !== undefined) argv.push('--listen', String(o.listenS));
    if (o.count !== undefined) argv.push('--count', String(o.count));
    return startBackground(ns, argv, Math.ceil((o.listenS ?? 0) + 30));
  }

  /** curl in `ns` (null: the host); bounded. */
  curl(ns: string | null, url: string, extra: string[] = []): Promise<RunResult> {
    const argv = ['curl', '-sS', '--connect-timeout', '5', '-m', '20', ...extra, url];
    return ns === null ? run(argv, { timeoutMs: 30_000 }) : nsExec(ns, argv, { timeoutMs: 30_000 });
  }

  /** `pontoon conntrack ls --format json`, parsed. */
  async conntrack(): Promise<ConntrackEntry[]> {
    const r = await this.daemon.cliOk(['conntrack', 'ls', '--format', 'json']);
    return JSON.parse(r.stdout) as ConntrackEntry[];
  }

  /** Sums of the NAT gauges from /metrics. */
  async natGauges(): Promise<{ conntrackEntries: number; byProtocol: Record<string, number>; natPorts: Record<string, number> }> {
    const m = parseMetrics(await this.daemon.metrics());
    let conntrackEntries = 0;
    const byProtocol: Record<string, number> = {};
    const natPorts: Record<string, number> = {};
    for (const [k, v] of m) {
      let x = /^pontoon_conntrack_entries\{protocol="([a-z]+)",state="[a-z_]+"\}$/.exec(k);
      if (x !== null) {
        conntrackEntries += v;
        byProtocol[x[1]!] = (byProtocol[x[1]!] ?? 0) + v;
        continue;
      }
      x = /^pontoon_nat_ports_in_use\{protocol="([a-z]+)"\}$/.exec(k);
      if (x !== null) natPorts[x[1]!] = v;
    }
    return { conntrackEntries, byProtocol, natPorts };
  }
}

/** Builds a world; on failure everything registered so far is left for the cleanup functions. */
export async function buildNatWorld(opts: NatWorldOptions): Promise<NatWorld> {
  return new NatWorld(opts).build();
}

/** Parses JSON lines, ignoring anything else. */
export function jsonLines<T>(text: string): T[] {
  const out: T[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      out.push(JSON.parse(t) as T);
    } catch {
      // a partial line
    }
  }
  return out;
}

/** iperf3 --json output (the parts the tests read). */
export interface IperfResult {
  error?: string;
  intervals?: { sum: { bytes: number; seconds: number } }[];
  end?: {
    sum_received?: { bytes: number; bits_per_second?: number; packets?: number; lost_packets?: number; lost_percent?: number };
    sum_sent?: { bytes: number; retransmits?: number };
  };
}

export function parseIperf(text: string): IperfResult {
  const start = text.indexOf('{');
  if (start < 0) throw new Error(`no JSON in iperf3 output:\n${text}`);
  return JSON.parse(text.slice(start)) as IperfResult;
}
