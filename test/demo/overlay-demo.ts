/**
 * `npm run demo:overlay` (as root): one overlay network across two hosts, with the e2e overlay
 * world (test/e2e/overlay-world.ts).
 *
 *   container a ── pontoon (host A) ═╗                        ╔═ pontoon (host B) ── container b
 *                                    ╚══ VXLAN over underlay ═╝
 *                                        (a bridge, and etcd)
 *
 * Each host is a network namespace running its own daemon; etcd runs on the underlay. The network
 * is created on host A only and appears on host B by itself; a container on each host pings the
 * other. Prints what each host knows (peers, remote containers) and a few metric lines, and always
 * cleans up, also on Ctrl-C or an error. Exits non-zero if the cross-host ping fails.
 */
import { existsSync } from 'node:fs';
import {
  type PingResult,
  cleanupAll,
  cliPath,
  hostAddr,
  pickSubnets,
  ping,
  pingArgv,
  randomHex,
  run,
  waitFor,
} from '../e2e/harness.js';
import { cleanupNatWorlds } from '../e2e/nat-world.js';
import {
  ETCD_BIN,
  type OverlayContainer,
  type OverlayHost,
  type OverlayWorld,
  buildOverlayWorld,
  cleanupOverlayWorlds,
  inspectOverlay,
} from '../e2e/overlay-world.js';

const tty = process.stdout.isTTY === true;
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const green = (s: string) => (tty ? `\x1b[32m${s}\x1b[0m` : s);
const red = (s: string) => (tty ? `\x1b[31m${s}\x1b[0m` : s);

let interrupted = false;
const out = (s = '') => void process.stdout.write(`${s}\n`);
/** prints, unless Ctrl-C came: then only the clean-up speaks */
const say = (s = '') => {
  if (!interrupted) out(s);
};
const section = (title: string) => say(`\n${bold(`== ${title}`)}`);
const quote = (argv: string[]) => argv.map((a) => (/^([\w@%+=:,./-]+|&|\|)$/.test(a) ? a : `'${a}'`)).join(' ');
const showCommand = (where: string, argv: string[]) => {
  if (!interrupted) say(`${where} ${bold(`$ ${quote(argv)}`)}`);
};
const showOutput = (text: string) => {
  if (text.trim() !== '' && !interrupted) say(text.trimEnd());
};

let world: OverlayWorld | null = null;
/** "pte-<hex>-*", the names of what the demo created */
const names = (): string => `${(world as OverlayWorld | null)?.prefix ?? 'pte-<hex>'}-*`;

/** `pontoon ARGS` on a host, printed as such; throws on failure (the demo cannot go on). */
async function pontoon(h: OverlayHost, args: string[]): Promise<string> {
  showCommand(`[host ${h.name.toUpperCase()}]`, ['pontoon', ...args]);
  const r = await h.daemon.cli(args);
  showOutput(r.stdout);
  showOutput(r.stderr);
  if (r.code !== 0) throw new Error(`pontoon ${args.join(' ')} on host ${h.name.toUpperCase()} failed (exit ${r.code})`);
  return r.stdout;
}

async function showPing(from: OverlayContainer, to: OverlayContainer): Promise<PingResult> {
  const o = { count: 3, waitS: 2, intervalS: 0.3 };
  showCommand(`[host ${from.host.name.toUpperCase()}]`, ['ip', 'netns', 'exec', from.ns, ...pingArgv(to.ip, o)]);
  const p = await ping(from.ns, to.ip, o);
  showOutput(p.stdout);
  showOutput(p.stderr);
  return p;
}

let cleaning: Promise<void> | null = null;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await cleanupOverlayWorlds();
    const problems = [...(await cleanupNatWorlds()), ...(await cleanupAll())];
    for (const p of problems) out(red(`cleanup: ${p}`));
  })();
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    out(`\n${sig}: stopping the daemons and etcd, deleting the namespaces ${names()}`);
    void cleanup().then(() => process.exit(130));
  });
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    say('the demo needs root: it creates network namespaces and TUN/TAP devices (sudo npm run demo:overlay)');
    return 1;
  }
  cliPath(); // fails early with "run npm run build first"
  if (!existsSync(ETCD_BIN)) {
    say(`the demo needs etcd at ${ETCD_BIN} (Debian: apt-get install etcd-server), or ETCD_BIN=/path/to/etcd`);
    return 1;
  }
  const started = Date.now();
  say(bold('pontoon overlay demo: one network across two hosts, VXLAN underneath, etcd as the cluster store'));

  section('1. Two hosts on an underlay, and etcd');
  world = await buildOverlayWorld({ store: 'etcd', leaseTtlSeconds: 5 });
  const w = world;
  say(`underlay ${w.subnet}: a Linux bridge in namespace ${w.ul}, etcd at ${w.etcd!.url}`);
  const A = await w.addHost('a');
  const B = await w.addHost('b');
  for (const h of [A, B]) {
    say(
      `host ${h.name.toUpperCase()}: namespace ${h.ns}, underlay address (VTEP) ${h.ip}, ` +
        `\`ip netns exec ${h.ns} pontoon daemon --config ${h.daemon.configPath}\``,
    );
  }
  const cl = A.daemon.config.cluster;
  say(`cluster config: { store: ${cl.store}, endpoints: [${cl.endpoints.join(', ')}], advertise: ${A.ip}, vxlanPort: ${cl.vxlanPort}, leaseTtlSeconds: ${cl.leaseTtlSeconds} }`);

  section('2. An overlay network, created on host A only');
  const subnet = (await pickSubnets(['10.211', '172.27'], 1))[0]!;
  const net = `demo-overlay-${randomHex(2)}`;
  await pontoon(A, ['network', 'create', '--driver', 'overlay', '--subnet', subnet, net]);
  const appeared = await waitFor(async () => (await B.daemon.cli(['network', 'inspect', net])).code === 0, 10_000, 200);
  if (!appeared) throw new Error(`network ${net} did not appear on host B\n${B.daemon.logTail(10)}`);
  await pontoon(B, ['network', 'ls']);

  section('3. A container on each host');
  const connect = async (h: OverlayHost, name: string): Promise<OverlayContainer> => {
    const ns = `${w.prefix}-${name}`;
    showCommand(`[host ${h.name.toUpperCase()}]`, ['ip', 'netns', 'add', ns]);
    showCommand(`[host ${h.name.toUpperCase()}]`, ['pontoon', 'network', 'connect', net, ns]);
    return w.connect(h, name, net);
  };
  const a = await connect(A, 'a1');
  const b = await connect(B, 'b1');
  for (const c of [a, b]) {
    const r = await run(['ip', '-n', c.ns, '-br', 'link', 'show', 'eth0']);
    const addr = await run(['ip', '-n', c.ns, '-br', '-4', 'addr', 'show', 'eth0']);
    say(`${c.ns} (host ${c.host.name.toUpperCase()}): ${addr.stdout.trim().replace(/\s+/g, ' ')}, mtu ${c.mtu}, ${r.stdout.trim().split(/\s+/)[2] ?? ''}`);
  }
  await waitFor(async () => Object.keys((await inspectOverlay(A.daemon, net)).RemoteContainers ?? {}).length === 1, 10_000, 200);

  section('4. Across the hosts');
  const p1 = await showPing(a, b);
  const p2 = await showPing(b, a);

  section('5. What host A knows');
  const r = await inspectOverlay(A.daemon, net);
  say(`Peers: ${JSON.stringify(r.Peers)}`);
  for (const e of Object.values(r.RemoteContainers ?? {})) say(`RemoteContainers: ${e.Name} ${e.IPv4Address} ${e.MacAddress} on host ${e.Host}`);
  const vni = r.Options['com.docker.network.driver.overlay.vxlanid_list'];
  say(`VNI ${vni}, gateway ${hostAddr(subnet, 1)} (anycast: the same address and MAC on every host)`);

  section('Metrics of host A');
  showCommand('[host A]', ['ip', 'netns', 'exec', A.ns, 'curl', '-s', `http://${A.daemon.config.metrics.listen}/metrics`, '|', 'grep', '-E', '^pontoon_(vxlan|fdb)']);
  const text = await A.daemon.metrics();
  for (const line of text.split('\n')) if (/^pontoon_(vxlan_|fdb_entries)/.test(line)) say(line);

  const ok = p1.received === p1.transmitted && p1.transmitted > 0 && p2.received === p2.transmitted && p2.transmitted > 0;
  say();
  say(
    ok
      ? green(`cross-host pings: ${p1.received}/${p1.transmitted} and ${p2.received}/${p2.transmitted} replies, in ${((Date.now() - started) / 1000).toFixed(1)} s`)
      : red(`cross-host ping FAILED: ${p1.received}/${p1.transmitted} and ${p2.received}/${p2.transmitted} replies\n--- host A:\n${A.daemon.logTail(10)}\n--- host B:\n${B.daemon.logTail(10)}`),
  );
  return ok ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  if (!interrupted) {
    const message = e instanceof Error ? e.message : String(e);
    say(red(`\ndemo failed: ${message}`));
  }
  code = 1;
}
if (!interrupted) {
  section('Cleaning up');
  say(`stopping the daemons and etcd, deleting the namespaces ${names()}`);
}
await cleanup();
process.exit(interrupted ? 130 : code);
