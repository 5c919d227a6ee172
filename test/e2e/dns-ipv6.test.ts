/**
 * The embedded DNS and IPv6, end to end (issue 13): on a dual-stack network, `dig AAAA` for a
 * container's name (and its alias) answers its IPv6 address, `dig -x` of that address (ip6.arpa)
 * answers its name, a name without IPv6 answers AAAA empty with NOERROR, and a name on another
 * network stays invisible. Queries go to the network's gateway over IPv4, as Docker's resolv.conf
 * points there. A name not on the network is forwarded to the daemon's only upstream, a DNS server
 * of this test's own on an IPv6 address (2001:db8:53:<run>::53) in a namespace behind a veth pair
 * from the host: the forwarder asks it over udp6 and relays its AAAA answer.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Daemon, cleanupAll, createNetns, hostAddr, nsExec, packageRoot, pickSubnets, randomHex, run, runOk, startDaemon } from './harness.js';
import { type Background, cleanupNatWorlds, startBackground } from './nat-world.js';
import { needs, root, tools } from './requirements.js';

const RUN = randomHex(3);
const WEB = `pte6d-${RUN}-web`;
const CLIENT = `pte6d-${RUN}-cli`;
const V4ONLY = `pte6d-${RUN}-v4`;
const OTHER = `pte6d-${RUN}-oth`;
const UPNS = `pte6d-${RUN}-up`; // the IPv6 upstream DNS server
const HOST_VETH = `pe6${RUN}u`;
// a group of four hex digits with no leading zero, so the address prints as written
const UPNET6 = `2001:db8:53:${(0x8000 | parseInt(randomHex(2), 16)).toString(16)}`;
const UP6 = `${UPNET6}::53`;
const HOST_SIDE6 = `${UPNET6}::1`;
const EXT_NAME = 'ext6.pontoon.test';
const EXT_IP6 = '2001:db8:77::7';

/**
 * The upstream: UDP on [ADDR]:53 (udp6), AAAA records from a JSON table (TTL 300), NXDOMAIN
 * otherwise; one line per question on stdout: "Q AAAA name from 2001:db8:53:..::1".
 */
const UPSTREAM6_JS = `
import { createSocket } from 'node:dgram';
import { createRequire } from 'node:module';
const dns = createRequire(process.env.PONTOON_ROOT + '/package.json')('dns-packet');
const [addr, table] = [process.argv[1], JSON.parse(process.argv[2])];
const udp = createSocket('udp6');
udp.on('message', (msg, r) => {
  const m = dns.decode(msg);
  const q = m.questions[0];
  console.log('Q ' + q.type + ' ' + q.name + ' from ' + r.address);
  const ips = table[q.name.toLowerCase()];
  const flags = dns.RECURSION_DESIRED | dns.RECURSION_AVAILABLE | (ips === undefined ? 3 : 0);
  const answers = ips !== undefined && q.type === 'AAAA' ? ips.map((ip) => ({ name: q.name, type: 'AAAA', ttl: 300, data: ip })) : [];
  udp.send(dns.encode({ type: 'response', id: m.id, questions: [q], flags, answers }), r.port, r.address);
});
udp.bind(53, addr, () => console.log('ready'));
`;
const group = () => (0x8000 | parseInt(randomHex(2), 16)).toString(16);
const ULA = `fd${randomHex(1)}:${group()}:${group()}`;
const FRONT6 = `${ULA}:20::/64`;
const BACK6 = `${ULA}:21::/64`;

needs(root, tools('ip', 'dig')).describe('the embedded DNS with IPv6 (e2e)', () => {
  let d: Daemon;
  let gw4 = '';
  let upstream: Background;

  beforeAll(async () => {
    const [F4, B4, V4] = (await pickSubnets(['10.216'], 3)) as [string, string, string];
    gw4 = hostAddr(F4, 1);
    // the IPv6 upstream, in its own namespace behind a veth pair (nodad: usable at once)
    await createNetns(UPNS);
    await runOk(['ip', 'link', 'add', HOST_VETH, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', UPNS]);
    await runOk(['ip', '-6', 'addr', 'add', `${HOST_SIDE6}/64`, 'dev', HOST_VETH, 'nodad']);
    await runOk(['ip', 'link', 'set', HOST_VETH, 'up']);
    await runOk(['ip', '-n', UPNS, '-6', 'addr', 'add', `${UP6}/64`, 'dev', 'eth0', 'nodad']);
    await runOk(['ip', '-n', UPNS, 'link', 'set', 'eth0', 'up']);
    process.env.PONTOON_ROOT = packageRoot();
    upstream = startBackground(UPNS, [process.execPath, '--input-type=module', '-e', UPSTREAM6_JS, UP6, JSON.stringify({ [EXT_NAME]: [EXT_IP6] })], 300);
    if (!(await upstream.waitForOutput(/^ready$/m, 10_000))) throw new Error(`upstream did not start: ${upstream.stderr()}`);
    d = await startDaemon({ extra: { dns: { upstream: [`[${UP6}]:53`], timeoutMs: 2000 } } });
    await d.cliOk(['network', 'create', '--ipv6', '--subnet', F4, '--subnet', FRONT6, 'front']);
    await d.cliOk(['network', 'create', '--ipv6', '--subnet', B4, '--subnet', BACK6, 'back']);
    await d.cliOk(['network', 'create', '--subnet', V4, 'plain']);
    for (const n of [WEB, CLIENT, V4ONLY, OTHER]) await createNetns(n);
    await d.cliOk(['network', 'connect', '--name', 'web', '--alias', 'www', '--ip6', FRONT6.replace('::/64', '::80'), 'front', WEB]);
    await d.cliOk(['network', 'connect', '--name', 'client', 'front', CLIENT]);
    await d.cliOk(['network', 'connect', '--name', 'other', 'back', OTHER]);
    // a container on a network without IPv6: its name has no IPv6 address
    await d.cliOk(['network', 'connect', '--name', 'legacy', 'plain', V4ONLY]);
  });

  afterAll(async () => {
    const problems = [...(await cleanupNatWorlds()), ...(await cleanupAll())];
    await run(['ip', 'link', 'del', 'dev', HOST_VETH]);
    if (problems.length > 0) console.warn(`cleanup problems:\n${problems.join('\n')}`);
  });

  const dig = async (from: string, server: string, ...q: string[]): Promise<string[]> => {
    const r = await nsExec(from, ['dig', '+short', '+time=2', '+tries=2', `@${server}`, ...q], { timeoutMs: 15_000 });
    expect(r.code, `${r.stdout}${r.stderr}\n${d.logTail(10)}`).toBe(0);
    return r.stdout.split('\n').filter((l) => l.trim() !== '');
  };

  it("dig AAAA gives the container's IPv6 address, for its name and its alias", async () => {
    const web6 = FRONT6.replace('::/64', '::80');
    expect(await dig(CLIENT, gw4, 'AAAA', 'web')).toEqual([web6]);
    expect(await dig(CLIENT, gw4, 'AAAA', 'www')).toEqual([web6]);
    // and A still gives the IPv4 one
    expect((await dig(CLIENT, gw4, 'A', 'web'))[0]).toMatch(/^10\.216\./);
  });

  it('dig -x of an IPv6 address (ip6.arpa) gives the name', async () => {
    expect(await dig(CLIENT, gw4, '-x', FRONT6.replace('::/64', '::80'))).toEqual(['web.']);
  });

  it('a name with no IPv6 address answers AAAA empty (NOERROR); a name on another network is NXDOMAIN', async () => {
    const gwPlain = (await nsExec(V4ONLY, ['ip', '-4', 'route', 'show', 'default'])).stdout.match(/via (\S+)/)![1]!;
    const legacy = await nsExec(V4ONLY, ['dig', '+time=2', '+tries=2', `@${gwPlain}`, 'AAAA', 'legacy'], { timeoutMs: 15_000 });
    expect(legacy.stdout).toMatch(/status: NOERROR/);
    expect(legacy.stdout).toMatch(/ANSWER: 0/);
    const other = await nsExec(CLIENT, ['dig', '+time=2', '+tries=2', `@${gw4}`, 'AAAA', 'other'], { timeoutMs: 15_000 });
    expect(other.stdout).toMatch(/status: NXDOMAIN/);
  });

  it('forwards a name not on the network to the IPv6 upstream (udp6) and relays its AAAA answer', async () => {
    expect(await dig(CLIENT, gw4, 'AAAA', EXT_NAME)).toEqual([EXT_IP6]);
    // the upstream was asked once, over IPv6, from the host's side of its link
    const asked = upstream.stdout().split('\n').filter((l) => l.includes(` AAAA ${EXT_NAME} `));
    expect(asked).toEqual([`Q AAAA ${EXT_NAME} from ${HOST_SIDE6}`]);
  });

  it("a dual-stack container's resolv.conf names the gateway's IPv4 address; over IPv6 (UDP and TCP) the gateway's address answers the same", async () => {
    // as Docker's internal resolver: the embedded DNS alone, named by its IPv4 address
    const conf = readFileSync(`/etc/netns/${CLIENT}/resolv.conf`, 'utf8');
    expect(conf.split('\n').filter((l) => l.startsWith('nameserver'))).toEqual([`nameserver ${gw4}`]);
    // queries to the network's IPv6 gateway address reach the same DNS, which knows the client by its IPv6 address
    const gw6 = (await d.inspect('front')).IPAM.Config.find((c) => c.Subnet.includes(':'))!.Gateway;
    const web6 = FRONT6.replace('::/64', '::80');
    expect(await dig(CLIENT, gw6, 'AAAA', 'web')).toEqual([web6]);
    expect(await dig(CLIENT, gw6, '+tcp', 'AAAA', 'www')).toEqual([web6]);
    expect(await dig(CLIENT, gw6, '-x', web6)).toEqual(['web.']);
    // scoped to the client's networks, as over IPv4: a name of another network is not found
    const r = await nsExec(CLIENT, ['dig', '+time=2', '+tries=1', `@${gw6}`, 'A', 'other'], { timeoutMs: 15_000 });
    expect(r.stdout).toMatch(/status: NXDOMAIN/);
  });
});
