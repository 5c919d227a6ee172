/**
 * The embedded DNS end to end, as a container sees it: dig, getent and ping inside network
 * namespaces ask the gateway of their network (port 53, UDP and TCP); the data plane sends the
 * queries to the daemon's sockets on the host's TUN address, and the answers come back from the
 * gateway. Names not on the network go to an upstream DNS server this test runs in a namespace of
 * its own, reached from the host through a veth pair; nothing leaves the machine.
 *
 * World A: networks front (web, web2, client) and back (other), upstream UP:53.
 * World B: a second daemon whose only upstream is an address nobody answers (dropped).
 * Needs root.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as dnsPacket from 'dns-packet';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RESOLV_CONF_MARKER } from '../../src/control/dns/resolv-conf.js';
import {
  type Daemon,
  type NetworkResource,
  cleanupAll,
  createNetns,
  hostAddr,
  nsExec,
  packageRoot,
  parseMetrics,
  pickSubnets,
  ping,
  randomHex,
  run,
  runOk,
  startDaemon,
} from './harness.js';
import { type Background, cleanupNatWorlds, startBackground } from './nat-world.js';
import { needs, root, tools } from './requirements.js';

const RUN = randomHex(2);
const ns = (n: string) => `pte-${RUN}-${n}`;
const WEB = ns('web'); // front, --name web --alias frontend --alias www
const WEB2 = ns('web2'); // front, --name web2 --alias www
const CLIENT = ns('cli'); // front, --name client
const OTHER = ns('oth'); // back, --name other
const MOVER = ns('mov'); // back then front: resolv.conf follows its first network
const FOREIGN = ns('frn'); // has a resolv.conf of its own
const UPNS = ns('up'); // the upstream DNS server
const LONELY = ns('lon'); // world B
const HOST_VETH = `pe${RUN}u`;
const EXT_NAME = 'ext.pontoon.test';
const EXT_IP = '198.51.100.7';

/**
 * The upstream: UDP and TCP on ADDR:53, A records from a JSON table (TTL 300), NXDOMAIN with an SOA
 * otherwise; one line per question on stdout: "Q udp A name from 10.1.2.3".
 */
const UPSTREAM_JS = `
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
const dns = createRequire(process.env.PONTOON_ROOT + '/package.json')('dns-packet');
const [addr, table] = [process.argv[1], JSON.parse(process.argv[2])];
function answer(m) {
  const q = m.questions[0];
  const ips = table[q.name.toLowerCase()];
  const base = { type: 'response', id: m.id, questions: [q], flags: dns.RECURSION_DESIRED | dns.RECURSION_AVAILABLE };
  if (ips === undefined) {
    const soa = { name: 'test', type: 'SOA', ttl: 300, data: { mname: 'ns.test', rname: 'h.test', serial: 1, refresh: 60, retry: 60, expire: 60, minimum: 60 } };
    return dns.encode({ ...base, flags: base.flags | 3, authorities: [soa] });
  }
  return dns.encode({ ...base, answers: q.type === 'A' ? ips.map((ip) => ({ name: q.name, type: 'A', ttl: 300, data: ip })) : [] });
}
const udp = createSocket('udp4');
udp.on('message', (msg, r) => {
  const m = dns.decode(msg);
  console.log('Q udp ' + m.questions[0].type + ' ' + m.questions[0].name + ' from ' + r.address);
  udp.send(answer(m), r.port, r.address);
});
const tcp = createServer((s) => s.on('data', (d) => {
  const m = dns.streamDecode(d);
  console.log('Q tcp ' + m.questions[0].type + ' ' + m.questions[0].name + ' from ' + s.remoteAddress);
  s.end(dns.streamEncode(dns.decode(answer(m))));
}));
udp.bind(53, addr, () => tcp.listen(53, addr, () => console.log('ready')));
`;

/** Sends 64 bytes of garbage (a readable header: id 0xbeef, then junk) and prints the answer in hex, or "none". */
const GARBAGE_JS = `
import { createSocket } from 'node:dgram';
const s = createSocket('udp4');
const junk = Buffer.alloc(64, 0xa5);
junk.writeUInt16BE(0xbeef, 0);
junk.writeUInt16BE(0x0100, 2);
const t = setTimeout(() => { console.log('none'); s.close(); }, 1500);
s.on('message', (m) => { clearTimeout(t); console.log(m.toString('hex')); s.close(); });
s.send(junk, 53, process.argv[1]);
`;

interface Dig {
  status: string;
  answers: string[];
  flags: string;
  ms: number;
  raw: string;
}

/** `dig` inside a namespace, one try, bounded; the status line and the answer section. */
async function dig(netns: string, server: string, args: string[], timeS = 3): Promise<Dig> {
  const r = await nsExec(netns, ['dig', `@${server}`, `+time=${timeS}`, '+tries=1', '+noall', '+comments', '+answer', ...args], {
    timeoutMs: (timeS + 5) * 1000,
  });
  const status = /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? `none (exit ${r.code}: ${r.stdout.trim()} ${r.stderr.trim()})`;
  const flags = /;; flags: ([a-z ]*);/.exec(r.stdout)?.[1] ?? '';
  const answers = r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith(';'))
    .map((l) => l.trim().split(/\s+/).slice(-1)[0]!);
  return { status, answers, flags, ms: r.ms, raw: r.stdout + r.stderr };
}

function endpointOf(net: NetworkResource, name: string) {
  const ep = Object.values(net.Containers).find((c) => c.Name === name);
  if (ep === undefined) throw new Error(`${name} is not in network ${net.Name}`);
  return ep as typeof ep & { DNSNames?: string[]; DNSServer?: string };
}

const resolvConf = (netns: string) => `/etc/netns/${netns}/resolv.conf`;

async function cleanup(): Promise<void> {
  const problems = [...(await cleanupNatWorlds()), ...(await cleanupAll())];
  await run(['ip', 'link', 'del', 'dev', HOST_VETH]);
  // pontoon removes its own files at disconnect and shutdown; the foreign one is ours
  for (const n of [WEB, WEB2, CLIENT, OTHER, MOVER, FOREIGN, UPNS, LONELY]) {
    const f = resolvConf(n);
    if (existsSync(f) && readFileSync(f, 'utf8').startsWith(RESOLV_CONF_MARKER)) problems.push(`${f} left behind by pontoon`);
    rmSync(`/etc/netns/${n}`, { recursive: true, force: true });
  }
  if (problems.length > 0) throw new Error(`cleanup left things behind:\n${problems.join('\n')}`);
}

needs(root, tools('ip', 'ping', 'dig', 'getent', 'timeout')).describe('embedded DNS (e2e)', () => {
  let a: Daemon;
  let b: Daemon;
  let FRONT: string;
  let BACK: string;
  let UPLINK: string; // host ↔ upstream
  let LONE: string; // world B's network
  let upstream: Background;
  const gw = (subnet: string) => hostAddr(subnet, 1);
  const ip: Record<string, string> = {};
  let UP: string;
  let HOST_SIDE: string;

  async function connect(d: Daemon, net: string, netns: string, name: string, aliases: string[] = []): Promise<string> {
    await d.cliOk(['network', 'connect', '--name', name, ...aliases.flatMap((x) => ['--alias', x]), net, netns]);
    return endpointOf(await d.inspect(net), name).IPv4Address.split('/')[0]!;
  }

  beforeAll(async () => {
    [FRONT, BACK, UPLINK, LONE] = (await pickSubnets(['10.211', '172.27'], 4)) as [string, string, string, string];
    HOST_SIDE = hostAddr(UPLINK, 1);
    UP = hostAddr(UPLINK, 2);
    const prefix = UPLINK.split('/')[1];

    // the upstream DNS server, in its own namespace behind a veth pair
    await createNetns(UPNS);
    await runOk(['ip', 'link', 'add', HOST_VETH, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', UPNS]);
    await runOk(['ip', 'addr', 'add', `${HOST_SIDE}/${prefix}`, 'dev', HOST_VETH]);
    await runOk(['ip', 'link', 'set', HOST_VETH, 'up']);
    await runOk(['ip', '-n', UPNS, 'addr', 'add', `${UP}/${prefix}`, 'dev', 'eth0']);
    await runOk(['ip', '-n', UPNS, 'link', 'set', 'eth0', 'up']);
    process.env.PONTOON_ROOT = packageRoot();
    upstream = startBackground(UPNS, [process.execPath, '--input-type=module', '-e', UPSTREAM_JS, UP, JSON.stringify({ [EXT_NAME]: [EXT_IP] })], 300);
    if (!(await upstream.waitForOutput(/^ready$/m, 10_000))) throw new Error(`upstream did not start: ${upstream.stderr()}`);

    a = await startDaemon({ extra: { dns: { upstream: [`${UP}:53`], timeoutMs: 2000 } } });
    await a.cliOk(['network', 'create', '--subnet', FRONT, 'front']);
    await a.cliOk(['network', 'create', '--subnet', BACK, 'back']);
    for (const n of [WEB, WEB2, CLIENT, OTHER, MOVER, FOREIGN]) await createNetns(n);
    ip.web = await connect(a, 'front', WEB, 'web', ['frontend', 'www']);
    ip.web2 = await connect(a, 'front', WEB2, 'web2', ['www']);
    ip.client = await connect(a, 'front', CLIENT, 'client');
    ip.other = await connect(a, 'back', OTHER, 'other');

    // world B: nobody answers at its upstream (an unassigned address of the upstream's link)
    b = await startDaemon({ extra: { dns: { upstream: [hostAddr(UPLINK, 3)], timeoutMs: 2000 } } });
    await b.cliOk(['network', 'create', '--subnet', LONE, 'lone']);
    await createNetns(LONELY);
    ip.lonely = await connect(b, 'lone', LONELY, 'lonely');
  });

  afterAll(cleanup);

  it('resolves a container name on the same network: dig +short @gateway web', async () => {
    const r = await nsExec(CLIENT, ['dig', '+short', '+time=3', '+tries=1', `@${gw(FRONT)}`, 'web'], { timeoutMs: 10_000 });
    expect(r.stdout.trim(), r.stderr).toBe(ip.web);
    const full = await dig(CLIENT, gw(FRONT), ['web']);
    expect(full.status).toBe('NOERROR');
    expect(full.flags.split(' ')).toEqual(expect.arrayContaining(['qr', 'aa', 'rd', 'ra']));
    // the answer comes from the gateway, port 53
    expect(full.raw).not.toContain('reply from unexpected source');
  });

  it('resolves an alias', async () => {
    expect((await dig(CLIENT, gw(FRONT), ['frontend'])).answers).toEqual([ip.web]);
    expect((await dig(WEB2, gw(FRONT), ['client'])).answers).toEqual([ip.client]);
  });

  it('answers a shared alias with every address, rotating the order per query', async () => {
    const orders = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await dig(CLIENT, gw(FRONT), ['www']);
      expect([...r.answers].sort()).toEqual([ip.web, ip.web2].sort());
      orders.add(r.answers.join(','));
    }
    expect(orders.size).toBe(2);
  });

  it('keeps networks apart: from another network, web is NXDOMAIN', async () => {
    for (const name of ['web', 'www', 'frontend']) {
      const r = await dig(OTHER, gw(BACK), [name]);
      expect(r.status, name).toBe('NXDOMAIN');
      expect(r.answers, name).toEqual([]);
    }
    expect((await dig(OTHER, gw(BACK), ['other'])).answers).toEqual([ip.other]);
    expect((await dig(CLIENT, gw(FRONT), ['other'])).status).toBe('NXDOMAIN');
  });

  it('answers PTR for the network\'s addresses (dig -x)', async () => {
    const r = await nsExec(CLIENT, ['dig', '+short', '+time=3', '+tries=1', `@${gw(FRONT)}`, '-x', ip.web!], { timeoutMs: 10_000 });
    expect(r.stdout.trim()).toBe('web.');
    expect((await dig(CLIENT, gw(FRONT), ['-x', hostAddr(FRONT, 200)])).status).toBe('NXDOMAIN');
  });

  it('answers AAAA of a known name empty, NOERROR', async () => {
    const r = await dig(CLIENT, gw(FRONT), ['AAAA', 'web']);
    expect(r.status).toBe('NOERROR');
    expect(r.answers).toEqual([]);
  });

  it('answers over TCP (dig +tcp)', async () => {
    const r = await dig(CLIENT, gw(FRONT), ['+tcp', 'web']);
    expect(r.status).toBe('NOERROR');
    expect(r.answers).toEqual([ip.web]);
    expect(r.raw).not.toMatch(/connection refused|timed out/);
  });

  it('writes /etc/netns/NAME/resolv.conf: getent and ping resolve by name', async () => {
    expect(readFileSync(resolvConf(CLIENT), 'utf8')).toBe(`${RESOLV_CONF_MARKER}\nnameserver ${gw(FRONT)}\noptions ndots:0\n`);
    expect(readFileSync(resolvConf(OTHER), 'utf8')).toContain(`nameserver ${gw(BACK)}\n`);
    const g = await nsExec(CLIENT, ['getent', 'hosts', 'web'], { timeoutMs: 15_000 });
    expect(g.stdout.trim().split(/\s+/)).toEqual([ip.web, 'web']);
    const p = await ping(CLIENT, 'web', { count: 1, waitS: 2 });
    expect(p.received, p.stdout + p.stderr).toBe(1);
    expect(p.replies[0]!.from).toBe(ip.web);
    expect((await nsExec(OTHER, ['getent', 'hosts', 'web'], { timeoutMs: 15_000 })).code).not.toBe(0);
  });

  it('reports the resolver in network inspect', async () => {
    const front = await a.inspect('front');
    expect(front.Options['pontoon.dns']).toBe(gw(FRONT));
    const web = endpointOf(front, 'web');
    expect(web.DNSNames).toEqual(['web', 'frontend', 'www']);
    expect(web.DNSServer).toBe(gw(FRONT));
  });

  it('forwards other names to the upstream, and answers the second query from the cache', async () => {
    const before = parseMetrics(await a.metrics()).get('pontoon_dns_cache_hits_total') ?? 0;
    const first = await dig(CLIENT, gw(FRONT), [EXT_NAME]);
    expect(first.status).toBe('NOERROR');
    expect(first.answers).toEqual([EXT_IP]);
    const second = await dig(WEB, gw(FRONT), [EXT_NAME]);
    expect(second.answers).toEqual([EXT_IP]);
    const asked = upstream.stdout().split('\n').filter((l) => l.includes(` A ${EXT_NAME} `));
    expect(asked).toEqual([`Q udp A ${EXT_NAME} from ${HOST_SIDE}`]); // once, from the host
    const m = parseMetrics(await a.metrics());
    expect(m.get('pontoon_dns_cache_hits_total')! - before).toBe(1);
    expect(m.get('pontoon_dns_queries_total{type="A",result="forwarded"}')).toBeGreaterThanOrEqual(2);
    expect(m.get('pontoon_dns_upstream_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    // the upstream's NXDOMAIN is relayed; TCP clients are answered too
    expect((await dig(CLIENT, gw(FRONT), ['nope.pontoon.test'])).status).toBe('NXDOMAIN');
    expect((await dig(CLIENT, gw(FRONT), ['+tcp', EXT_NAME])).answers).toEqual([EXT_IP]);
    // names of one label are never forwarded
    expect((await dig(CLIENT, gw(FRONT), ['nosuchcontainer'])).status).toBe('NXDOMAIN');
    expect(upstream.stdout()).not.toContain('nosuchcontainer');
  });

  it('answers SERVFAIL within the timeout when the upstream is unreachable', async () => {
    const r = await dig(LONELY, gw(LONE), [EXT_NAME], 8);
    expect(r.status).toBe('SERVFAIL');
    expect(r.ms).toBeGreaterThan(1500);
    expect(r.ms).toBeLessThan(4000);
    // local names do not wait for anything
    const local = await dig(LONELY, gw(LONE), ['lonely']);
    expect(local.answers).toEqual([ip.lonely]);
    expect(parseMetrics(await b.metrics()).get('pontoon_dns_queries_total{type="A",result="servfail"}')).toBe(1);
  });

  it('survives a 64-byte garbage datagram and answers the next query', async () => {
    const r = await nsExec(CLIENT, [process.execPath, '--input-type=module', '-e', GARBAGE_JS, gw(FRONT)], { timeoutMs: 10_000 });
    const reply = r.stdout.trim();
    expect(reply, r.stderr).not.toBe('none');
    expect(dnsPacket.decode(Buffer.from(reply, 'hex'))).toMatchObject({ id: 0xbeef, type: 'response', rcode: 'FORMERR' });
    expect((await dig(CLIENT, gw(FRONT), ['web'])).answers).toEqual([ip.web]);
    expect(parseMetrics(await a.metrics()).get('pontoon_dns_queries_total{type="other",result="formerr"}')).toBeGreaterThanOrEqual(1);
  });

  it('follows the first network in resolv.conf and removes it at the last disconnect', async () => {
    const file = resolvConf(MOVER);
    expect(existsSync(file)).toBe(false);
    await connect(a, 'back', MOVER, 'mover');
    await connect(a, 'front', MOVER, 'mover');
    expect(readFileSync(file, 'utf8')).toContain(`nameserver ${gw(BACK)}\n`); // joined back first
    await a.cliOk(['network', 'disconnect', 'back', MOVER]);
    expect(readFileSync(file, 'utf8')).toContain(`nameserver ${gw(FRONT)}\n`);
    expect((await nsExec(MOVER, ['getent', 'hosts', 'web'], { timeoutMs: 15_000 })).stdout).toContain(ip.web!);
    await a.cliOk(['network', 'disconnect', 'front', MOVER]);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`/etc/netns/${MOVER}`)).toBe(false);
  });

  it('leaves a resolv.conf it did not write alone', async () => {
    mkdirSync(`/etc/netns/${FOREIGN}`, { recursive: true });
    writeFileSync(resolvConf(FOREIGN), 'nameserver 192.0.2.53\n');
    await connect(a, 'front', FOREIGN, 'foreign');
    expect(readFileSync(resolvConf(FOREIGN), 'utf8')).toBe('nameserver 192.0.2.53\n');
    await a.cliOk(['network', 'disconnect', 'front', FOREIGN]);
    expect(readFileSync(resolvConf(FOREIGN), 'utf8')).toBe('nameserver 192.0.2.53\n');
  });

  it('forgets a disconnected container\'s names', async () => {
    await a.cliOk(['network', 'disconnect', 'front', WEB2]);
    expect((await dig(CLIENT, gw(FRONT), ['web2'])).status).toBe('NXDOMAIN');
    expect((await dig(CLIENT, gw(FRONT), ['www'])).answers).toEqual([ip.web]);
    expect((await dig(CLIENT, gw(FRONT), ['-x', ip.web2!])).status).toBe('NXDOMAIN');
    expect(existsSync(resolvConf(WEB2))).toBe(false);
  });

  it('removes the resolv.conf files it wrote when the daemon stops', async () => {
    expect(existsSync(resolvConf(CLIENT))).toBe(true);
    await a.stop();
    await b.stop();
    for (const n of [WEB, CLIENT, OTHER, LONELY]) expect(existsSync(resolvConf(n)), n).toBe(false);
  });
});
