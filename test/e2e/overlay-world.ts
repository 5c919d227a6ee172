/**
 * The world the overlay end-to-end tests (test/e2e/overlay.test.ts) and the overlay demo
 * (test/demo/overlay-demo.ts) run in: several "hosts", each a network namespace running its own
 * pontoon daemon, on one underlay L2 segment, with etcd as the cluster store. Must not import vitest.
 *
 *                         underlay namespace (pte-<hex>-ul)
 *                ┌──────────────── br0 10.199.N.1/24 + etcd :2379 ────────────────┐
 *             ua │                          ub │                       uk │
 *   host A (pte-<hex>-ha)           host B (pte-<hex>-hb)        kernel peer K (pte-<hex>-k)
 *   ul0 10.199.N.10                 ul0 10.199.N.11              ul0 10.199.N.20, vx0 (kernel
 *   pontoon daemon, VTEP            pontoon daemon, VTEP         VXLAN) + br0 ── veth ── KC
 *     │ TAP                           │ TAP
 *   containers (namespaces)         containers (namespaces)
 *
 * The underlay subnet is a free 10.199.N.0/24 (checked against the host's routes), or with
 * `underlay: 'ipv6'` a ULA /64 of random groups and no IPv4 on the underlay at all (etcd, the VTEPs
 * and the VXLAN datagrams all IPv6; the hosts' IPv6 is on, without router solicitations or DAD,
 * so the underlay stays quiet). Everything the
 * world creates is registered: cleanupOverlayWorlds() stops the daemons and kills etcd (by pid),
 * then the harness's cleanupAll() deletes the namespaces (the veths and the persistent TAPs go with
 * them) and the temporary directories. Every command has a time limit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import {
  type Daemon,
  type NetworkResource,
  createNetns,
  ETCD_DATA_BASE,
  etcdArgs,
  tsharkFields,
  hostAddr,
  makeTempDir,
  nsAddrs,
  nsExec,
  nsExecOk,
  parseMetrics,
  pickSubnets,
  randomHex,
  runOk,
  sleep,
  startDaemon,
  waitFor,
} from './harness.js';

export const VXLAN_PORT = 4789;
export const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';
const ETCD_CLIENT_PORT = 2379;
const ETCD_PEER_PORT = 2380;

/** Host numbers on the underlay /24. */
const UNDERLAY_ETCD = 1;
const KERNEL_PEER = 20;

// ---- etcd ------------------------------------------------------------------------------------

const etcds = new Set<EtcdProcess>();

/** One etcd member inside a namespace, on an underlay address; restartable on the same data directory. */
export class EtcdProcess {
  private child: ChildProcess | null = null;
  private exit: Promise<void> | null = null;
  private output = '';
  readonly dataDir: string;

  constructor(
    readonly ns: string,
    readonly ip: string,
  ) {
    this.dataDir = join(makeTempDir('pte-etcd-', ETCD_DATA_BASE), 'data');
    etcds.add(this);
  }

  get url(): string {
    return `http://${this.ip.includes(':') ? `[${this.ip}]` : this.ip}:${ETCD_CLIENT_PORT}`;
  }

  get pid(): number | null {
    const c = this.child;
    return c !== null && c.exitCode === null && c.signalCode === null ? (c.pid ?? null) : null;
  }

  /** Starts etcd (under `setpriv --pdeathsig KILL`, so it dies with this process) and waits until it is healthy. */
  async start(): Promise<void> {
    if (this.pid !== null) throw new Error('etcd is already running');
    const peer = `http://127.0.0.1:${ETCD_PEER_PORT}`;
    const argv = [
      'ip', 'netns', 'exec', this.ns, 'setpriv', '--pdeathsig', 'KILL', '--', ETCD_BIN,
      ...etcdArgs(this.dataDir, this.url, peer),
    ];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (b: Buffer) => {
      this.output = (this.output + b.toString()).slice(-20_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exit = new Promise((resolve) => child.on('close', () => resolve()));
    const ok = await waitFor(async () => this.pid === null || (await this.healthy()), 20_000, 100);
    if (!ok || this.pid === null) {
      await this.kill();
      throw new Error(`etcd in ${this.ns} did not become healthy (${ok ? 'it exited' : 'timeout'}):\n${this.output}`);
    }
  }

  async healthy(): Promise<boolean> {
    const r = await nsExec(this.ns, ['curl', '-gsS', '-m', '2', `${this.url}/health`], { timeoutMs: 5000 });
    return r.code === 0 && /"health":\s*"true"/.test(r.stdout);
  }

  /** SIGSTOP: etcd keeps its sockets open but answers nothing (a hung store, not a refused one). */
  pause(): void {
    if (this.pid !== null) process.kill(this.pid, 'SIGSTOP');
  }

  resume(): void {
    if (this.pid !== null) process.kill(this.pid, 'SIGCONT');
  }

  /** SIGKILL (also when paused) and wait for the exit. */
  async kill(): Promise<void> {
    const pid = this.pid;
    if (pid === null) return;
    try {
      process.kill(pid, 'SIGKILL');
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exit, new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
  }

  logTail(): string {
    return this.output.split('\n').slice(-20).join('\n');
  }

  /** The v3 JSON gateway (etcd 3.4: /v3/...), called with curl inside the namespace. */
  private async gateway(path: string, body: Record<string, unknown>): Promise<unknown> {
    const r = await nsExecOk(this.ns, ['curl', '-gsS', '--fail', '-m', '5', '-X', 'POST', `${this.url}${path}`, '-d', JSON.stringify(body)], {
      timeoutMs: 10_000,
    });
    return JSON.parse(r.stdout) as unknown;
  }

  /** Writes a key (no lease: it stays until deleted). */
  async put(key: string, value: string): Promise<void> {
    await this.gateway('/v3/kv/put', { key: b64(key), value: b64(value) });
  }

  async del(key: string): Promise<void> {
    await this.gateway('/v3/kv/deleterange', { key: b64(key) });
  }

  /** Every key (and its value) under `prefix`. */
  async list(prefix: string): Promise<Map<string, string>> {
    const res = (await this.gateway('/v3/kv/range', { key: b64(prefix), range_end: b64(prefixEnd(prefix)) })) as {
      kvs?: { key: string; value?: string }[];
    };
    const out = new Map<string, string>();
    for (const kv of res.kvs ?? []) out.set(unb64(kv.key), kv.value === undefined ? '' : unb64(kv.value));
    return out;
  }
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

function prefixEnd(p: string): string {
  return p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1);
}

// ---- the world -------------------------------------------------------------------------------

export interface OverlayHost {
  /** "a", "b", ... */
  name: string;
  /** the host's namespace, where its daemon runs */
  ns: string;
  /** underlay address: the VTEP */
  ip: string;
  /** its port on the underlay bridge (inside the underlay namespace): where captures see its traffic */
  ulPort: string;
  daemon: Daemon;
}

export interface OverlayContainer {
  ns: string;
  ip: string;
  mac: string;
  /** eth0's MTU right after the connect */
  mtu: number;
  /** the host it is connected through */
  host: OverlayHost;
}

export interface KernelPeer {
  /** the namespace holding vx0 (kernel VXLAN) and br0 */
  ns: string;
  /** the underlay address of K: its VTEP */
  ip: string;
  /** the container behind the kernel VXLAN device */
  container: { ns: string; ip: string; mac: string };
}

export interface OverlayWorldOptions {
  store: 'etcd' | 'none';
  /** the config's cluster.leaseTtlSeconds (etcd) */
  leaseTtlSeconds?: number;
  /** the config's cluster.underlayMtu */
  underlayMtu?: number;
  /** the config's log.level */
  logLevel?: string;
  /** config keys set last in every daemon, by dotted path (the harness's DaemonOptions.set) */
  set?: Record<string, unknown>;
  /**
   * true: the veths keep the kernel's offloads (a performance world); false (default): checksum
   * and segmentation offloads off, so captures see final checksums
   */
  offloads?: boolean;
  /** the underlay's family (default ipv4): with ipv6 the hosts talk VXLAN over UDP/IPv6 only */
  underlay?: 'ipv4' | 'ipv6';
  /** the daemons' cluster.vxlanPort, the kernel peers' and flannel-style hosts' too (default VXLAN_PORT, IANA's 4789) */
  vxlanPort?: number;
}

export interface HostOptions {
  /** static peer VTEPs (store none) */
  peers?: string[];
  /** this host's cluster.underlayMtu (default: the world's, else 1500) */
  underlayMtu?: number;
  /** config keys of this host's daemon, by dotted path, after the world's `set` */
  set?: Record<string, unknown>;
}

const worlds = new Set<OverlayWorld>();

export class OverlayWorld {
  /** "pte-<hex>" */
  readonly prefix: string;
  /** the underlay namespace: the bridge, and etcd */
  readonly ul: string;
  /** the underlay /24, or the /64 of an IPv6 underlay */
  subnet = '';
  /** the etcd key prefix of this world ("/pte-<hex>"), so runs never share keys */
  readonly etcdPrefix: string;
  etcd: EtcdProcess | null = null;
  readonly hosts = new Map<string, OverlayHost>();
  private nextHost = 10;
  private nextKernelPeer = KERNEL_PEER;
  private readonly hex: string;

  constructor(readonly opts: OverlayWorldOptions) {
    this.hex = randomHex(3);
    this.prefix = `pte-${this.hex}`;
    this.ul = `${this.prefix}-ul`;
    this.etcdPrefix = `/${this.prefix}`;
    worlds.add(this);
  }

  get ipv6(): boolean {
    return this.opts.underlay === 'ipv6';
  }

  /** Creates the underlay namespace and bridge, and starts etcd (store etcd). */
  async build(): Promise<this> {
    // a ULA /64 from random groups, printed as tools print it (toString(16): no leading zeros)
    const group = () => (1 + Math.floor(Math.random() * 0xfffe)).toString(16);
    this.subnet = this.ipv6 ? `fd${randomHex(1)}:${group()}:${group()}::/64` : (await pickSubnets(['10.199', '10.198', '172.26'], 1))[0]!;
    await createNetns(this.ul);
    await this.quietUnderlay(this.ul);
    // a MAC of its own: a bridge without one takes its lowest port's, and changes it when a port
    // joins (a kernel peer added later), leaving the hosts' neighbour entries for etcd stale
    const h = this.hex;
    await runOk(['ip', '-n', this.ul, 'link', 'add', 'br0', 'address', `02:50:ee:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`, 'type', 'bridge']);
    await runOk(['ip', '-n', this.ul, 'addr', 'add', this.underlayCidr(UNDERLAY_ETCD), 'dev', 'br0', ...this.nodad()]);
    await runOk(['ip', '-n', this.ul, 'link', 'set', 'br0', 'up']);
    if (this.opts.store === 'etcd') {
      this.etcd = new EtcdProcess(this.ul, this.underlayAddr(UNDERLAY_ETCD));
      await this.etcd.start();
    }
    return this;
  }

  /** The address of host number n on the underlay. */
  underlayAddr(n: number): string {
    return this.ipv6 ? `${this.subnet.split('::')[0]}::${n.toString(16)}` : hostAddr(this.subnet, n);
  }

  /** Host n's address with the underlay's prefix length, for `ip addr add`. */
  private underlayCidr(n: number): string {
    return `${this.underlayAddr(n)}/${this.ipv6 ? 64 : 24}`;
  }

  /** IPv6 underlay addresses skip duplicate address detection: usable (bindable) at once. */
  private nodad(): string[] {
    return this.ipv6 ? ['nodad'] : [];
  }

  /** An IPv4 underlay's namespace has no IPv6 at all; an IPv6 one's sends no router solicitations. */
  private async quietUnderlay(ns: string): Promise<void> {
    if (!this.ipv6) return quiet(ns);
    for (const k of ['all', 'default']) {
      await nsExec(ns, ['sysctl', '-qw', `net.ipv6.conf.${k}.router_solicitations=0`]);
      await nsExec(ns, ['sysctl', '-qw', `net.ipv6.conf.${k}.accept_ra=0`]);
      await nsExec(ns, ['sysctl', '-qw', `net.ipv6.conf.${k}.accept_dad=0`]);
    }
  }

  /**
   * Creates namespace `pte-<hex>-NAME` with a veth `ul0` to the underlay bridge (its port there:
   * `uNAME`), checksum offload off unless the world keeps offloads (captures then see final
   * checksums), and the address `ip`.
   */
  private async attachToUnderlay(ns: string, port: string, ip: string): Promise<void> {
    await runOk(['ip', 'link', 'add', 'ul0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', this.ul]);
    await runOk(['ip', '-n', this.ul, 'link', 'set', port, 'master', 'br0']);
    await runOk(['ip', '-n', this.ul, 'link', 'set', port, 'up']);
    await this.offloadsOff(ns, 'ul0');
    await runOk(['ip', '-n', ns, 'addr', 'add', `${ip}/${this.ipv6 ? 64 : 24}`, 'dev', 'ul0', ...this.nodad()]);
    await runOk(['ip', '-n', ns, 'link', 'set', 'ul0', 'up']);
  }

  /** ethtool -K DEV tx off tso off gso off in `ns`, unless the world keeps the offloads. */
  private async offloadsOff(ns: string, dev: string): Promise<void> {
    if (this.opts.offloads !== true) await nsExecOk(ns, ['ethtool', '-K', dev, 'tx', 'off', 'tso', 'off', 'gso', 'off']);
  }

  /** The UDP port every VTEP of this world listens on. */
  get vxlanPort(): number {
    return this.opts.vxlanPort ?? VXLAN_PORT;
  }

  /** The daemon config's cluster section for a host at `ip`. */
  clusterConfig(ip: string, o: HostOptions = {}): Record<string, unknown> {
    const peers = o.peers ?? [];
    const c: Record<string, unknown> = {
      store: this.opts.store,
      advertise: ip,
      vxlanPort: this.vxlanPort,
      underlayMtu: o.underlayMtu ?? this.opts.underlayMtu ?? 1500,
      prefix: this.etcdPrefix,
    };
    if (this.opts.store === 'etcd') {
      c.endpoints = [this.etcd!.url];
      c.leaseTtlSeconds = this.opts.leaseTtlSeconds ?? 10;
    } else {
      c.peers = peers;
    }
    return c;
  }

  /**
   * A host: namespace, underlay link, and a pontoon daemon running inside it (no default network).
   * With `underlayMtu`, the host's underlay link has that MTU too.
   */
  async addHost(name: string, o: HostOptions = {}): Promise<OverlayHost> {
    const ns = await createNetns(`${this.prefix}-h${name}`);
    await this.quietUnderlay(ns);
    const ip = this.underlayAddr(this.nextHost++);
    const ulPort = `u${name}`;
    await this.attachToUnderlay(ns, ulPort, ip);
    if (o.underlayMtu !== undefined) await runOk(['ip', '-n', ns, 'link', 'set', 'ul0', 'mtu', String(o.underlayMtu)]);
    const daemon = await startDaemon({
      netns: ns,
      devicePrefix: `p${name}${this.hex.slice(0, 4)}`,
      defaultNetwork: null,
      logLevel: this.opts.logLevel ?? 'info',
      extra: { cluster: this.clusterConfig(ip, o) },
      set: { ...this.opts.set, ...o.set },
    });
    const host: OverlayHost = { name, ns, ip, ulPort, daemon };
    this.hosts.set(name, host);
    return host;
  }

  host(name: string): OverlayHost {
    const h = this.hosts.get(name);
    if (h === undefined) throw new Error(`no host ${name}`);
    return h;
  }

  /** Creates namespace `pte-<hex>-NAME` and connects it to `network` with host's CLI. */
  async connect(host: OverlayHost, name: string, network: string, extra: string[] = []): Promise<OverlayContainer> {
    const ns = await createNetns(`${this.prefix}-${name}`);
    await host.daemon.cliOk(['network', 'connect', ...extra, network, ns]);
    return { ...(await containerAddress(ns)), host };
  }

  /**
   * A kernel VXLAN VTEP "K" on the underlay: vx0 (VNI `vni`, nolearning) and a veth to container
   * namespace KC in bridge br0, with head-end replication entries towards `remotes`. More than one:
   * give each a `name` (namespaces `pte-<hex>-kNAME` and `-kNAMEc`; none: `-k` and `-kc`).
   */
  async addKernelPeer(vni: number, kcCidr: string, remotes: string[], name = ''): Promise<KernelPeer> {
    const ns = await createNetns(`${this.prefix}-k${name}`);
    await this.quietUnderlay(ns);
    const ip = this.underlayAddr(this.nextKernelPeer++);
    await this.attachToUnderlay(ns, `uk${name}`, ip);
    const kc = await createNetns(`${this.prefix}-k${name}c`);
    await quiet(kc);
    const ipK = (args: string[]) => runOk(['ip', '-n', ns, ...args]);
    await ipK(['link', 'add', 'vx0', 'type', 'vxlan', 'id', String(vni), 'dstport', String(this.vxlanPort), 'local', ip, 'dev', 'ul0', 'nolearning']);
    await ipK(['link', 'add', 'br0', 'type', 'bridge']);
    await ipK(['link', 'set', 'vx0', 'master', 'br0']);
    await runOk(['ip', 'link', 'add', 'eth0', 'netns', kc, 'type', 'veth', 'peer', 'name', 'kc0', 'netns', ns]);
    await ipK(['link', 'set', 'kc0', 'master', 'br0']);
    for (const dev of ['vx0', 'kc0', 'br0']) await ipK(['link', 'set', dev, 'up']);
    for (const r of remotes) await runOk(['bridge', '-n', ns, 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vx0', 'dst', r]);
    await this.offloadsOff(kc, 'eth0');
    await runOk(['ip', '-n', kc, 'link', 'set', 'eth0', 'mtu', '1450']);
    await runOk(['ip', '-n', kc, 'addr', 'add', kcCidr, 'dev', 'eth0']);
    await runOk(['ip', '-n', kc, 'link', 'set', 'eth0', 'up']);
    const c = await containerAddress(kc);
    return { ns, ip, container: { ns: kc, ip: c.ip, mac: c.mac } };
  }

  /**
   * A Linux host set up the way flannel's vxlan backend sets one up, with a pod behind it:
   * namespace `pte-<hex>-fNAME` on the underlay (host number `n`) with `flannel.1` (VNI `vni`,
   * dstport `port`, nolearning, MAC `vtepMac`) holding the subnet's own address as a /32, and a pod
   * namespace `-fNAMEpod` on a veth (the subnet's .1 on F's side, as cni0 would hold it; .2 the pod's,
   * MTU 1450). Routes to other hosts are added with flannelRoute(), as flannel does for each lease.
   */
  async addFlannelHost(name: string, n: number, subnet: string, vtepMac: string, vni = 1, port = this.vxlanPort): Promise<FlannelHost> {
    const ns = await createNetns(`${this.prefix}-f${name}`);
    const pod = await createNetns(`${this.prefix}-f${name}pod`);
    await quiet(ns);
    await quiet(pod);
    const ip = this.underlayAddr(n);
    await this.attachToUnderlay(ns, `uf${name}`, ip);
    const ipF = (args: string[]) => runOk(['ip', '-n', ns, ...args]);
    const addr = (k: number) => hostAddr(subnet, k);
    await ipF(['link', 'add', 'flannel.1', 'address', vtepMac, 'type', 'vxlan', 'id', String(vni), 'local', ip, 'dev', 'ul0', 'dstport', String(port), 'nolearning']);
    await ipF(['addr', 'add', `${addr(0)}/32`, 'dev', 'flannel.1']);
    await ipF(['link', 'set', 'flannel.1', 'mtu', '1450', 'up']);
    await runOk(['ip', 'link', 'add', 'eth0', 'netns', pod, 'type', 'veth', 'peer', 'name', 'pod0', 'netns', ns]);
    await this.offloadsOff(pod, 'eth0');
    await ipF(['addr', 'add', `${addr(1)}/24`, 'dev', 'pod0']);
    await ipF(['link', 'set', 'pod0', 'up']);
    await nsExecOk(ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await runOk(['ip', '-n', pod, 'addr', 'add', `${addr(2)}/24`, 'dev', 'eth0']);
    await runOk(['ip', '-n', pod, 'link', 'set', 'eth0', 'mtu', '1450', 'up']);
    await runOk(['ip', '-n', pod, 'route', 'add', 'default', 'via', addr(1)]);
    return { ns, ip, subnet, vtepMac, pod: { ns: pod, ip: addr(2) } };
  }

  /** Stops the daemons (SIGTERM, then SIGKILL) and etcd; the namespaces are left to cleanupAll(). */
  async destroy(): Promise<void> {
    for (const h of this.hosts.values()) await h.daemon.stop().catch(() => undefined);
    await this.etcd?.kill();
  }
}

/** A Linux host as flannel's vxlan backend sets one up (OverlayWorld.addFlannelHost). */
export interface FlannelHost {
  ns: string;
  /** its underlay address: flannel's PublicIP */
  ip: string;
  /** its lease, e.g. 10.244.3.0/24 */
  subnet: string;
  vtepMac: string;
  pod: { ns: string; ip: string };
}

/** What flannel programs on `host` for another host's lease: an onlink route via the lease's first address, a permanent neighbour for it, an fdb entry. */
export async function flannelRoute(host: { ns: string }, lease: { subnet: string; vtepMac: string; publicIp: string }): Promise<void> {
  const gw = hostAddr(lease.subnet, 0);
  await runOk(['ip', '-n', host.ns, 'route', 'add', lease.subnet, 'via', gw, 'dev', 'flannel.1', 'onlink']);
  await runOk(['ip', '-n', host.ns, 'neigh', 'add', gw, 'lladdr', lease.vtepMac, 'dev', 'flannel.1', 'nud', 'permanent']);
  await runOk(['bridge', '-n', host.ns, 'fdb', 'add', lease.vtepMac, 'dev', 'flannel.1', 'dst', lease.publicIp]);
}

/** A lease's value in flannel's schema, as flannel writes it. */
export function flannelLease(publicIp: string, vtepMac: string, vni = 1): string {
  return JSON.stringify({ PublicIP: publicIp, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: vni, VtepMAC: vtepMac } });
}

export async function buildOverlayWorld(opts: OverlayWorldOptions): Promise<OverlayWorld> {
  return new OverlayWorld(opts).build();
}

/** Stops what every world started (daemons, etcd); call before the harness's cleanupAll(). */
export async function cleanupOverlayWorlds(): Promise<void> {
  for (const w of [...worlds]) {
    await w.destroy();
    worlds.delete(w);
  }
  for (const e of [...etcds]) {
    await e.kill();
    etcds.delete(e);
  }
}

/** No IPv6 (router solicitations, MLD) in a namespace: the underlay and the captures stay quiet. */
async function quiet(ns: string): Promise<void> {
  for (const k of ['all', 'default']) await nsExec(ns, ['sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
}

/** eth0's IPv4 address and MAC in a namespace. */
export async function containerAddress(ns: string, dev = 'eth0'): Promise<{ ns: string; ip: string; mac: string; mtu: number }> {
  const link = (await nsAddrs(ns)).find((l) => l.ifname === dev);
  const inet = (link?.addr_info ?? []).filter((a) => a.family === 'inet');
  if (link === undefined || inet.length !== 1) throw new Error(`${ns}: expected one IPv4 address on ${dev}, got ${JSON.stringify(link ?? null)}`);
  return { ns, ip: inet[0]!.local, mac: link.address ?? '', mtu: link.mtu };
}

// ---- what the tests read ---------------------------------------------------------------------

export interface OverlayResource extends NetworkResource {
  Driver: string;
  Scope: string;
  Peers?: { IP: string }[];
  RemoteContainers?: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; Host: string }>;
}

export async function inspectOverlay(d: Daemon, network: string): Promise<OverlayResource> {
  return (await d.inspect(network)) as OverlayResource;
}

/** Overlay metrics of a daemon: VXLAN counters of one VNI, the gauges and the drops. */
export async function overlayMetrics(d: Daemon, vni?: number) {
  const m = parseMetrics(await d.metrics());
  const perVni = (name: string) => {
    let sum = 0;
    for (const [k, v] of m) if (k.startsWith(`${name}{`) && (vni === undefined || k.includes(`vni="${vni}"`))) sum += v;
    return sum;
  };
  const drops: Record<string, number> = {};
  for (const [k, v] of m) {
    const x = /^pontoon_drops_total\{reason="([a-z_0-9]+)"\}$/.exec(k);
    if (x !== null) drops[x[1]!] = v;
  }
  return {
    rxPackets: perVni('pontoon_vxlan_rx_packets_total'),
    txPackets: perVni('pontoon_vxlan_tx_packets_total'),
    rxBytes: perVni('pontoon_vxlan_rx_bytes_total'),
    txBytes: perVni('pontoon_vxlan_tx_bytes_total'),
    peers: m.get('pontoon_vxlan_peers') ?? -1,
    remoteEndpoints: m.get('pontoon_vxlan_remote_endpoints') ?? -1,
    fdbEntries: m.get('pontoon_fdb_entries') ?? -1,
    drops,
    raw: m,
  };
}

/**
 * Reads a capture with tshark, VXLAN decoded on its port, checksums verified; one array of
 * fields per frame matching `filter`.
 */
export function readCapture(file: string, filter: string, fields: string[], vxlanPort = VXLAN_PORT): Promise<string[][]> {
  return tsharkFields(file, filter, fields, ['-d', `udp.port==${vxlanPort},vxlan`, '-E', 'occurrence=a', '-E', 'aggregator=,']);
}

/** A tshark capture file in a temporary directory. */
export function captureFile(name: string): string {
  return join(makeTempDir('pte-cap-'), `${name}.pcapng`);
}

/** Calls fn until its result has code 0 or `timeoutMs` passed; returns the last result. */
export async function retry<T extends { code: number | null }>(fn: () => Promise<T>, timeoutMs: number, stepMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await fn();
    if (r.code === 0 || Date.now() >= deadline) return r;
    await sleep(stepMs);
  }
}
