// The two worlds `npm run bench:e2e` measures, built from the same plan so they differ only in who
// forwards and translates:
//
//   kernel:   c1 ──veth── [gateway ns: bridge docker0 172.x.y.1/24, ip_forward=1,       ──veth── ext
//                          nftables masquerade + DNAT + FORWARD filter, uplink 198.51.100.2/24]    198.51.100.1/24
//   pontoon:  c1 ──TAP──  [pontoon daemon: network "bridge" 172.x.y.0/24, gw .1,        ══TAP═══ ext
//                          masquerade + published ports, uplink 198.51.100.2/24]                    198.51.100.1/24
//
// Same container subnet and address (pontoon picks it, the kernel world copies it), same MTU 1500,
// same external addresses: the worlds live in separate namespaces, so both exist at once and the
// runs alternate. The external host is the router namespace itself. The pontoon world is the NAT
// tests' world (test/e2e/nat-world.ts, uplink kind tap; its far namespace is left idle). The nat and
// rfc2544 sections both run in these worlds.

import { type Daemon, createNetns, hostAddr, nsExec, nsExecOk, randomHex, runOk, waitFor } from '../test/e2e/harness.js';
import { type Background, NatWorld, PYTHON, ROUTER_IP, UPLINK_CIDR, UPLINK_IP, ethtoolAvailable, startBackground } from '../test/e2e/nat-world.js';
import { type NatMethod, applyKernelNat } from './e2e-nft.js';
import type { HttpImpl, ProbedWorld, WorldKind } from './e2e-runs.js';

export const EXT_IP = ROUTER_IP;
export const PUBLIC_IP = UPLINK_IP;
export const IPERF_PORT = 5201;
export const HTTP_PORT = 8080;

export interface BenchWorld extends ProbedWorld {
  readonly kind: WorldKind;
  /** the container namespace */
  readonly c1: string;
  /** the external (router) namespace */
  readonly ext: string;
  readonly c1Ip: string;
  /** the external namespace's device toward the gateway */
  readonly extDevice: string;
  /** the pontoon daemon (pontoon world only) */
  readonly daemon: Daemon | null;
  /** the container's default gateway */
  readonly gatewayIp: string;
  /** IPv6 (null: the world has none): the container's address, the external host's, the gateway's uplink address (published ports) */
  readonly ipv6: { c1Ip: string; extIp: string; publicIp: string } | null;
  /** one line on how the world is built */
  describe(): string;
}

/** c1's eth0 and the external end of the uplink: where a NAT world's drops show. */
function natLinks(w: BenchWorld): { label: string; ns: string; dev: string }[] {
  return [
    { label: 'c1/eth0', ns: w.c1, dev: 'eth0' },
    { label: `ext/${w.extDevice}`, ns: w.ext, dev: w.extDevice },
  ];
}

// ---- the kernel world ------------------------------------------------------------------------

export class KernelWorld implements BenchWorld {
  readonly kind = 'kernel' as const;
  readonly daemon = null;
  readonly gw: string;
  readonly c1: string;
  readonly ext: string;
  readonly extDevice = 'gw0';
  readonly bridge = 'docker0';
  readonly uplink = 'uplink0';
  natMethod: NatMethod | null = null;
  offloadsOff = false;
  ipv6: { c1Ip: string; extIp: string; publicIp: string } | null = null;

  get gatewayIp(): string {
    return hostAddr(this.subnet, 1);
  }

  /** `v6`: the pontoon world's IPv6 plan to copy (subnet, addresses), or null */
  constructor(
    readonly subnet: string,
    readonly c1Ip: string,
    readonly dir: string,
    readonly v6: { subnet: string; c1Ip: string; extIp: string; publicIp: string } | null = null,
  ) {
    const p = `pbe-${randomHex(3)}-k`;
    this.gw = `${p}gw`;
    this.c1 = `${p}c1`;
    this.ext = `${p}ext`;
  }

  daemons(): { label: string; daemon: Daemon }[] {
    return [];
  }

  watchedLinks() {
    return natLinks(this);
  }

  describe(): string {
    return (
      `gateway netns with bridge ${this.bridge} ${this.gatewayIp}/${this.subnet.split('/')[1]}, veth to c1 ${this.c1Ip}, ` +
      `veth uplink ${UPLINK_CIDR} to ext ${EXT_IP}; ip_forward=1; NAT + FORWARD rules via ${this.natMethod ?? '?'}` +
      (this.ipv6 !== null ? `; IPv6 ${this.v6!.subnet}, c1 ${this.ipv6.c1Ip}, uplink ${this.ipv6.publicIp}, ext ${this.ipv6.extIp}, ip6 masquerade + DNAT` : '') +
      `; veth offloads ${this.offloadsOff ? 'off' : 'kernel defaults'}`
    );
  }

  async build(opts: { offloadsOff: boolean }): Promise<this> {
    const { gw, c1, ext, bridge, uplink } = this;
    const [, len] = this.subnet.split('/');
    const gwIp = this.gatewayIp;
    for (const n of [gw, c1, ext]) await createNetns(n);
    await nsExecOk(ext, ['sysctl', '-qw', 'net.ipv4.icmp_ratelimit=0']);
    await nsExecOk(gw, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    // docker0
    await runOk(['ip', '-n', gw, 'link', 'add', bridge, 'type', 'bridge']);
    await runOk(['ip', '-n', gw, 'link', 'set', bridge, 'mtu', '1500']);
    await runOk(['ip', '-n', gw, 'addr', 'add', `${gwIp}/${len}`, 'dev', bridge]);
    await runOk(['ip', '-n', gw, 'link', 'set', bridge, 'up']);
    // the container's veth pair
    await runOk(['ip', 'link', 'add', 'vethc1', 'netns', gw, 'mtu', '1500', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c1]);
    await runOk(['ip', '-n', gw, 'link', 'set', 'vethc1', 'master', bridge]);
    await runOk(['ip', '-n', gw, 'link', 'set', 'vethc1', 'up']);
    await runOk(['ip', '-n', c1, 'addr', 'add', `${this.c1Ip}/${len}`, 'dev', 'eth0']);
    await runOk(['ip', '-n', c1, 'link', 'set', 'eth0', 'up']);
    await runOk(['ip', '-n', c1, 'route', 'add', 'default', 'via', gwIp]);
    // the uplink to the external router
    await runOk(['ip', 'link', 'add', uplink, 'netns', gw, 'mtu', '1500', 'type', 'veth', 'peer', 'name', this.extDevice, 'netns', ext]);
    await runOk(['ip', '-n', gw, 'addr', 'add', UPLINK_CIDR, 'dev', uplink]);
    await runOk(['ip', '-n', gw, 'link', 'set', uplink, 'up']);
    await runOk(['ip', '-n', gw, 'route', 'add', 'default', 'via', EXT_IP]);
    await runOk(['ip', '-n', ext, 'addr', 'add', `${EXT_IP}/24`, 'dev', this.extDevice]);
    await runOk(['ip', '-n', ext, 'link', 'set', this.extDevice, 'up']);
    const v6 = this.v6;
    if (v6 !== null) {
      // the same IPv6 plan as the pontoon world's: a ULA /64 behind the bridge, masqueraded to the uplink's address
      const gw6 = v6.subnet.replace(/::\/64$/, '::1');
      await nsExecOk(gw, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
      await runOk(['ip', '-n', gw, '-6', 'addr', 'add', `${gw6}/64`, 'dev', bridge, 'nodad']);
      await runOk(['ip', '-n', c1, '-6', 'addr', 'add', `${v6.c1Ip}/64`, 'dev', 'eth0', 'nodad']);
      await runOk(['ip', '-n', c1, '-6', 'route', 'add', 'default', 'via', gw6]);
      await runOk(['ip', '-n', gw, '-6', 'addr', 'add', `${v6.publicIp}/64`, 'dev', uplink, 'nodad']);
      await runOk(['ip', '-n', ext, '-6', 'addr', 'add', `${v6.extIp}/64`, 'dev', this.extDevice, 'nodad']);
      await runOk(['ip', '-n', gw, '-6', 'route', 'add', 'default', 'via', v6.extIp]);
    }
    if (opts.offloadsOff) {
      if (!ethtoolAvailable()) throw new Error('--kernel-offloads off needs ethtool (Debian package ethtool)');
      for (const [ns, dev] of [[c1, 'eth0'], [gw, 'vethc1'], [gw, uplink], [ext, this.extDevice]] as const) {
        await nsExecOk(ns, ['ethtool', '-K', dev, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
      }
      this.offloadsOff = true;
    }
    this.natMethod = await applyKernelNat(
      gw,
      {
        bridge,
        uplink,
        subnet: this.subnet,
        publicIp: PUBLIC_IP,
        containerIp: this.c1Ip,
        tcpPorts: [IPERF_PORT, HTTP_PORT],
        ...(v6 !== null ? { ipv6: { subnet: v6.subnet, publicIp: v6.publicIp, containerIp: v6.c1Ip } } : {}),
      },
      this.dir,
    );
    if (v6 !== null) {
      this.ipv6 = { c1Ip: v6.c1Ip, extIp: v6.extIp, publicIp: v6.publicIp };
      const ok6 = await waitFor(async () => (await nsExec(c1, ['ping', '-6', '-n', '-c', '1', '-W', '1', v6.extIp], { timeoutMs: 5000 })).code === 0, 10_000, 200);
      if (!ok6) throw new Error(`kernel world: ${c1} cannot ping ${v6.extIp} through the IPv6 masquerade`);
    }
    // the router has no route to the container subnet: this answers only through masquerade
    const ok = await waitFor(async () => (await nsExec(c1, ['ping', '-n', '-c', '1', '-W', '1', EXT_IP], { timeoutMs: 5000 })).code === 0, 10_000, 200);
    if (!ok) throw new Error(`kernel world: ${c1} cannot ping ${EXT_IP} through the masquerade`);
    return this;
  }
}

// ---- the pontoon world -----------------------------------------------------------------------

export class PontoonWorld implements BenchWorld {
  readonly kind = 'pontoon' as const;
  /** the NAT tests' world: namespaces "pte-<hex>-rt" (the external host), "-far" (idle), "-c1" */
  readonly nat: NatWorld;
  c1 = '';
  c1Ip = '';
  ipv6: { c1Ip: string; extIp: string; publicIp: string } | null = null;

  /** `set`: config keys for the daemon, by dotted path; `ipv6`: dual stack (NAT66 to the uplink's IPv6 address) */
  constructor(set: Record<string, unknown>, ipv6 = true) {
    this.nat = new NatWorld({ kind: 'tap', tag: 'be', set, ipv6 });
  }

  daemons(): { label: string; daemon: Daemon }[] {
    return [{ label: 'gateway', daemon: this.daemon }];
  }

  watchedLinks() {
    return natLinks(this);
  }

  get ext(): string {
    return this.nat.router;
  }
  get extDevice(): string {
    return this.nat.routerUplinkDevice;
  }
  get daemon(): Daemon {
    return this.nat.daemon;
  }
  get gatewayIp(): string {
    return this.nat.gateway;
  }
  get subnet(): string {
    return this.nat.subnet;
  }

  describe(): string {
    return `pontoon daemon pid ${this.daemon.pid ?? '?'}, network "bridge" ${this.subnet}, c1 ${this.c1Ip} on a TAP, uplink kind tap ${UPLINK_CIDR} in ext (${EXT_IP}), published ${IPERF_PORT}/tcp ${HTTP_PORT}/tcp${this.ipv6 !== null ? ` on both families; IPv6 ${this.nat.subnet6}, c1 ${this.ipv6.c1Ip}, uplink ${this.ipv6.publicIp}, ext ${this.ipv6.extIp}, NAT66` : ''}`;
  }

  async build(): Promise<this> {
    await this.nat.build();
    const c = await this.nat.connect('c1', [`${IPERF_PORT}:${IPERF_PORT}`, `${HTTP_PORT}:${HTTP_PORT}`]);
    this.c1 = c.ns;
    this.c1Ip = c.ip;
    if (c.ip6 !== undefined) this.ipv6 = { c1Ip: c.ip6, extIp: this.nat.router6, publicIp: this.nat.uplink6 };
    const ok = await waitFor(async () => (await nsExec(this.c1, ['ping', '-n', '-c', '1', '-W', '1', EXT_IP], { timeoutMs: 5000 })).code === 0, 10_000, 200);
    if (!ok) throw new Error(`pontoon world: ${this.c1} cannot ping ${EXT_IP} through the masquerade\n${this.daemon.logTail(20)}`);
    return this;
  }
}

// ---- servers and device facts -----------------------------------------------------------------

/** Answers every request with 200 and a 3-byte body, keep-alive. */
const NODE_HTTP = `require('http').createServer((q, s) => { s.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 }); s.end('ok\\n'); })
  .listen(Number(process.argv[1]), '0.0.0.0', () => console.log('listening'));`;

const PYTHON_HTTP = `
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stalls
    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', '3')
        self.end_headers()
        self.wfile.write(b'ok\\n')
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(('0.0.0.0', int(sys.argv[1])), H)
print('listening', flush=True)
srv.serve_forever()
`;

/** The HTTP server autocannon hits, in `ns` on HTTP_PORT; resolves once it listens. */
export async function startHttpServer(ns: string, impl: HttpImpl, maxSeconds: number): Promise<Background> {
  const argv = impl === 'node' ? [process.execPath, '-e', NODE_HTTP, String(HTTP_PORT)] : [PYTHON, '-u', '-c', PYTHON_HTTP, String(HTTP_PORT)];
  const p = startBackground(ns, argv, maxSeconds);
  if (!(await p.waitForOutput(/listening/, 15_000))) throw new Error(`${impl} HTTP server in ${ns} did not start:\n${p.stderr()}`);
  return p;
}

/** `ethtool -k DEV` in `ns`: the offloads that matter here, "tx-checksumming on, tso on, ..." */
export async function offloads(ns: string, dev: string): Promise<Record<string, string>> {
  if (!ethtoolAvailable()) return {};
  const r = await nsExec(ns, ['ethtool', '-k', dev], { timeoutMs: 5000 });
  const out: Record<string, string> = {};
  const keys: Record<string, string> = {
    'tx-checksumming': 'tx-csum',
    'rx-checksumming': 'rx-csum',
    'tcp-segmentation-offload': 'tso',
    'generic-segmentation-offload': 'gso',
    'generic-receive-offload': 'gro',
  };
  for (const line of r.stdout.split('\n')) {
    const m = /^([a-z-]+): (on|off)/.exec(line);
    if (m !== null && keys[m[1]!] !== undefined) out[keys[m[1]!]!] = m[2]!;
  }
  return out;
}
