/**
 * `npm run demo` (as root): a small world built with the e2e harness and config/demo.yaml.
 *
 *   web, client ── bridge (the default network) ──┐
 *                                                 ├── pontoon ── host (TUN port)
 *   other ──────── backend ───────────────────────┘
 *
 * Starts the daemon, creates the namespaces and the backend network, then shows what works
 * (client → web, client → gateway, client → web by name through the embedded DNS, host → web)
 * and what is refused (other → web: the networks are isolated), with a summary and a few
 * metrics. Always cleans up, also on Ctrl-C or an error.
 * Exits non-zero if an expected result did not happen.
 */
import { existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { loadConfig } from '../../src/control/config.js';
import {
  type Daemon,
  type PingOptions,
  type PingResult,
  cidrsOverlap,
  cleanupAll,
  cliPath,
  createNetns,
  hostRouteDestinations,
  linkExists,
  packageRoot,
  ping,
  pingArgv,
  randomHex,
  run,
  startDaemon,
} from '../e2e/harness.js';
import { cleanupNatWorlds, startBackground } from '../e2e/nat-world.js';

const root = packageRoot();
const CONFIG = join(root, 'config', 'demo.yaml');
const tty = process.stdout.isTTY === true;
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const green = (s: string) => (tty ? `\x1b[32m${s}\x1b[0m` : s);
const red = (s: string) => (tty ? `\x1b[31m${s}\x1b[0m` : s);

const tag = randomHex(2);
const NS = { web: `demo-web-${tag}`, client: `demo-client-${tag}`, other: `demo-other-${tag}` };

let interrupted = false;
const say = (s = '') => void process.stdout.write(`${s}\n`);
const section = (title: string) => say(`\n${bold(`== ${title}`)}`);
const showCommand = (argv: string[]) => {
  if (!interrupted) say(bold(`$ ${argv.map((a) => (/^([\w@%+=:,./-]+|&|\|)$/.test(a) ? a : `'${a}'`)).join(' ')}`));
};
const showOutput = (text: string) => {
  if (text.trim() !== '' && !interrupted) say(text.trimEnd());
};

let daemon: Daemon | null = null;
let stateDir: string | null = null;

/** `pontoon ARGS`, printed as such; throws on failure (the demo cannot go on). */
async function pontoon(args: string[]): Promise<string> {
  showCommand(['pontoon', ...args]);
  const r = await daemon!.cli(args);
  showOutput(r.stdout);
  showOutput(r.stderr);
  if (r.code !== 0) throw new Error(`pontoon ${args.join(' ')} failed (exit ${r.code})`);
  return r.stdout;
}

async function showPing(ns: string | null, ip: string, o: PingOptions): Promise<PingResult> {
  showCommand([...(ns !== null ? ['ip', 'netns', 'exec', ns] : []), ...pingArgv(ip, o)]);
  const p = await ping(ns, ip, o);
  showOutput(p.stdout);
  showOutput(p.stderr);
  return p;
}

/** Is a daemon answering on this unix socket? */
function socketIsLive(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const s = connect({ path });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(true);
    }, 2000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

let cleaning: Promise<void> | null = null;
let wwwDir: string | null = null;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    const problems = [...(await cleanupNatWorlds()), ...(await cleanupAll())];
    if (wwwDir !== null) rmSync(wwwDir, { recursive: true, force: true });
    if (stateDir !== null) {
      rmSync(stateDir, { recursive: true, force: true });
      const parent = dirname(stateDir);
      try {
        if (readdirSync(parent).length === 0) rmdirSync(parent);
      } catch {
        // not there, or not empty (someone else's files): leave it
      }
    }
    for (const p of problems) say(red(`cleanup: ${p}`));
  })();
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    say(`\n${sig}: stopping the daemon, deleting ${Object.values(NS).join(', ')}`);
    void cleanup().then(() => process.exit(130));
  });
}

/**
 * A subnet for `backend` that collides with nothing: not a host route, not the demo's default
 * network, not the subnets of config/pontoon.yaml (a daemon started with it may run next to the demo
 * or start later), and not Docker's 172.17.0.0/16.
 */
async function backendSubnet(demoDefault: string | undefined): Promise<string> {
  const avoid = [...(await hostRouteDestinations()), '172.17.0.0/16'];
  if (demoDefault !== undefined) avoid.push(demoDefault);
  try {
    const main = loadConfig(join(root, 'config', 'pontoon.yaml'));
    avoid.push(main.host.address);
    if (main.defaultNetwork !== null) avoid.push(main.defaultNetwork.subnet);
  } catch {
    // no usable config/pontoon.yaml: nothing more to avoid
  }
  const candidates = ['172.31.0.0/16', '172.29.0.0/16', '172.28.0.0/16', '10.231.0.0/16', '10.232.0.0/16', '192.168.231.0/24'];
  const free = candidates.find((c) => !avoid.some((a) => cidrsOverlap(c, a)));
  if (free === undefined) throw new Error(`no free subnet for the backend network among ${candidates.join(', ')}`);
  return free;
}

interface Check {
  what: string;
  expected: string;
  result: string;
  ok: boolean;
}

const replies = (p: PingResult) => `${p.received}/${p.transmitted} replies`;

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    say('the demo needs root: it creates network namespaces and TUN/TAP devices (sudo npm run demo)');
    return 1;
  }
  cliPath(); // fails early with "run npm run build first"
  const started = Date.now();

  // the demo's own config: its own socket, state, devices and subnets (not config/pontoon.yaml's)
  const cfg = loadConfig(CONFIG);
  if (await socketIsLive(cfg.api.socket)) {
    say(`a pontoon daemon already answers on ${cfg.api.socket}: is another demo running? Stop it first.`);
    return 1;
  }
  if (await linkExists(cfg.host.device)) {
    say(`the device ${cfg.host.device} already exists: is another demo running? Stop it first.`);
    return 1;
  }
  stateDir = cfg.stateDir;
  rmSync(stateDir, { recursive: true, force: true }); // the demo always starts from scratch

  const rel = relative(process.cwd(), CONFIG) || CONFIG;
  say(bold('pontoon demo: a userspace docker0 in one process'));
  say(`(pontoon = node ${relative(process.cwd(), cliPath())}, talking to ${cfg.api.socket})`);

  // the "outside world": a namespace holding the other end of the uplink (198.51.100.1, TEST-NET-2)
  const up = cfg.uplink!;
  const ext = up.netns!;
  if (existsSync(`/run/netns/${ext}`)) {
    say(`the namespace ${ext} already exists: is another demo running? Stop it first.`);
    return 1;
  }
  section('1. Start the daemon');
  showCommand(['ip', 'netns', 'add', ext]);
  await createNetns(ext);
  showCommand(['pontoon', 'daemon', '--config', rel, '&']);
  daemon = await startDaemon({ configFile: CONFIG });
  const extIp = up.gateway;
  const uplinkIp = up.address.split('/')[0]!;
  for (const argv of [
    ['ip', '-n', ext, 'addr', 'add', `${extIp}/24`, 'dev', up.device],
    ['ip', '-n', ext, 'link', 'set', 'lo', 'up'],
  ]) {
    showCommand(argv);
    const r = await run(argv);
    if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr.trim()}`);
  }
  const dn = cfg.defaultNetwork!;
  say(
    `pontoon is ready: host TUN ${cfg.host.device} ${cfg.host.address} (gateway side ${cfg.host.gatewayAddress}), ` +
      `default network ${dn.name} ${dn.subnet}, metrics on ${cfg.metrics.listen}`,
  );

  section('2. Three containers (network namespaces) on two networks');
  for (const ns of Object.values(NS)) {
    showCommand(['ip', 'netns', 'add', ns]);
    await createNetns(ns);
  }
  await pontoon(['network', 'create', '--subnet', await backendSubnet(cfg.defaultNetwork?.subnet), 'backend']);
  await pontoon(['network', 'connect', '--name', 'web', '-p', '8080:80', 'bridge', NS.web]);
  await pontoon(['network', 'connect', '--name', 'client', 'bridge', NS.client]);
  await pontoon(['network', 'connect', '--name', 'other', 'backend', NS.other]);
  await pontoon(['network', 'ls']);
  const bridge = await daemon.inspect('bridge');
  const backend = await daemon.inspect('backend');
  const ipOf = (net: typeof bridge, name: string) => Object.values(net.Containers).find((c) => c.Name === name)!.IPv4Address.split('/')[0]!;
  const web = ipOf(bridge, 'web');
  const gateway = bridge.IPAM.Config[0]!.Gateway;
  const backendGateway = backend.IPAM.Config[0]!.Gateway;
  say(`web is ${web}, client is ${ipOf(bridge, 'client')} (bridge, gateway ${gateway}); other is ${ipOf(backend, 'other')} (backend ${backend.IPAM.Config[0]!.Subnet}, gateway ${backendGateway})`);
  showCommand(['ip', '-n', NS.web, '-br', 'addr', 'show', 'eth0']);
  showOutput((await run(['ip', '-n', NS.web, '-br', 'addr', 'show', 'eth0'])).stdout);

  section('3. Traffic');
  const checks: Check[] = [];
  const opts: PingOptions = { count: 2, waitS: 1, intervalS: 0.2 };

  let p = await showPing(NS.client, web, opts);
  checks.push({ what: 'client → web (same network)', expected: '2/2 replies', result: replies(p), ok: p.received === 2 });

  p = await showPing(NS.client, gateway, opts);
  checks.push({ what: 'client → gateway', expected: '2/2 replies', result: replies(p), ok: p.received === 2 });

  // by name: pontoon wrote /etc/netns/<client>/resolv.conf (nameserver = the gateway), which
  // `ip netns exec` mounts as /etc/resolv.conf; the gateway's embedded DNS knows "web"
  p = await showPing(NS.client, 'web', opts);
  checks.push({
    what: 'client → web by name (embedded DNS)',
    expected: `2/2 replies from ${web}`,
    result: p.replies.length > 0 ? `${replies(p)} from ${p.replies[0]!.from}` : replies(p),
    ok: p.received === 2 && p.replies.every((r) => r.from === web),
  });

  p = await showPing(NS.other, web, opts);
  const filtered = p.errors.length > 0 && p.errors.every((e) => e.message === 'Packet filtered' && e.from === backendGateway);
  checks.push({
    what: 'other → web (other network)',
    expected: `"Packet filtered" from ${backendGateway}`,
    result: p.errors.length > 0 ? `"${p.errors[0]!.message}" from ${p.errors[0]!.from}, ${replies(p)}` : replies(p),
    ok: p.received === 0 && filtered,
  });

  p = await showPing(null, web, opts);
  checks.push({ what: 'host → web (through the TUN port)', expected: '2/2 replies', result: replies(p), ok: p.received === 2 });

  section('4. NAT: out through the uplink, in through a published port');
  wwwDir = mkdtempSync(join(tmpdir(), 'pontoon-demo-www-'));
  writeFileSync(join(wwwDir, 'index.html'), 'hello from the outside world\n');
  writeFileSync(join(wwwDir, 'web.html'), 'hello from the web container\n');
  const extHttp = startBackground(ext, ['python3', '-m', 'http.server', '80', '--bind', extIp, '-d', wwwDir], 60);
  const webHttp = startBackground(NS.web, ['python3', '-m', 'http.server', '80', '-d', wwwDir], 60);
  await extHttp.waitForOutput(/Serving HTTP/, 5000);
  await webHttp.waitForOutput(/Serving HTTP/, 5000);
  const curl = async (ns: string, url: string): Promise<string> => {
    const argv = ['ip', 'netns', 'exec', ns, 'curl', '-s', '-m', '5', url];
    showCommand(argv);
    const r = await run(argv, { timeoutMs: 8000 });
    showOutput(r.stdout);
    return r.stdout.trim();
  };
  let body = await curl(NS.client, `http://${extIp}/`);
  const seenFrom = /^(\S+) - -/m.exec(extHttp.stderr())?.[1] ?? '?';
  say(`(the server in ${ext} saw the request come from ${seenFrom}: masqueraded to the uplink address)`);
  checks.push({
    what: 'client → outside HTTP (masquerade)',
    expected: `page, seen from ${uplinkIp}`,
    result: `${body === 'hello from the outside world' ? 'page' : JSON.stringify(body)}, seen from ${seenFrom}`,
    ok: body === 'hello from the outside world' && seenFrom === uplinkIp,
  });
  await pontoon(['port', NS.web]);
  body = await curl(ext, `http://${uplinkIp}:8080/web.html`);
  checks.push({
    what: 'outside → web:80 via published 8080',
    expected: 'page',
    result: body === 'hello from the web container' ? 'page' : JSON.stringify(body),
    ok: body === 'hello from the web container',
  });
  const iperfServer = startBackground(ext, ['iperf3', '-s', '-1', '-B', extIp], 30);
  await iperfServer.waitForOutput(/listening/i, 3000);
  const iperfArgv = ['ip', 'netns', 'exec', NS.client, 'iperf3', '-c', extIp, '-t', '3', '-f', 'g'];
  showCommand(iperfArgv);
  const ip3 = await run(iperfArgv, { timeoutMs: 15_000 });
  const receiver = ip3.stdout.split('\n').find((l) => /receiver/.test(l)) ?? '';
  say(receiver.trim());
  const gbits = /([0-9.]+) Gbits\/sec/.exec(receiver)?.[1];
  checks.push({
    what: 'iperf3 client → outside, 3 s (masquerade)',
    expected: 'completes',
    result: gbits !== undefined ? `${gbits} Gbit/s` : 'no result',
    ok: ip3.code === 0 && gbits !== undefined,
  });
  await pontoon(['conntrack', 'ls']);

  section('Summary');
  const rows = [['CHECK', 'EXPECTED', 'RESULT', ''], ...checks.map((c) => [c.what, c.expected, c.result, c.ok ? green('ok') : red('FAILED')])];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)) + 3);
  for (const r of rows) say(r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('').trimEnd());

  section('Metrics');
  showCommand(['curl', '-s', `http://${cfg.metrics.listen}/metrics`, '|', 'grep', '-E', '^pontoon_(port_.*eth0@(web|client)|drops_total)']);
  const text = await daemon.metrics();
  for (const line of text.split('\n')) {
    if (/^pontoon_port_[a-z_]+\{port="eth0@(web|client)"\}/.test(line)) say(line);
    if (/^pontoon_conntrack_new_flows_total|^pontoon_nat_ports_in_use/.test(line)) say(line);
  }
  const drops = text.split('\n').filter((l) => /^pontoon_drops_total\{/.test(l) && !/ 0$/.test(l));
  for (const line of drops) say(line);
  const isolationCounted = drops.some((l) => /reason="network_isolation"\} [1-9]/.test(l));
  checks.push({ what: 'metrics count the refusal', expected: 'network_isolation > 0', result: '', ok: isolationCounted });
  if (!isolationCounted) say(red('pontoon_drops_total{reason="network_isolation"} should be non-zero'));

  const failed = checks.filter((c) => !c.ok);
  say();
  say(
    failed.length === 0
      ? green(`all ${checks.length} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`)
      : red(`${failed.length} of ${checks.length} checks FAILED: ${failed.map((c) => c.what).join('; ')}`),
  );
  return failed.length === 0 ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  if (!interrupted) {
    // (a Ctrl-C also reaches the daemon and the commands: their failures are not news)
    const message = e instanceof Error ? e.message : String(e);
    say(red(`\ndemo failed: ${message}`));
    const d = daemon as Daemon | null; // assigned inside main()
    if (d !== null && !message.includes('--- daemon log')) say(`daemon log (last lines):\n${d.logTail(15)}`);
  }
  code = 1;
}
if (!interrupted) {
  section('Cleaning up');
  say(`stopping the daemon, deleting ${Object.values(NS).join(', ')}`);
}
await cleanup();
process.exit(interrupted ? 130 : code);
