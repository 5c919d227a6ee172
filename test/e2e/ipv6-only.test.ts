/**
 * IPv6-only bridge networks, end to end, as a user sees them: `network create --ipv6 --subnet
 * ULA::/64` without an IPv4 subnet, `network inspect` and `ls` as Docker prints them, two
 * namespaces connected to it that have no IPv4 address and no IPv4 route (`ip -4`), their IPv6
 * address and a default route via fe80::1; `ping -6` between them, to fe80::1 and to the
 * gateway's address; resolv.conf naming the IPv6 gateway; `--ip` and IPv4 publishing refused;
 * pontoon-cni's ADD result with only the IPv6 address and route; a kill -9 and restart keeping
 * the network and the endpoints reachable; disconnect and rm leaving nothing.
 *
 * The tests run in order on one world built in beforeAll. Needs root.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { callPlugin, pluginPath } from './cni-call.js';
import { type Daemon, cleanupAll, createNetns, nsExec, pickHostLink, randomHex, runOk, startDaemon, waitFor } from './harness.js';
import { compiledExecutable, needs, root, tools } from './requirements.js';

const RUN = randomHex(3);
const ns = (n: string) => `pte6o-${RUN}-${n}`;
const C1 = ns('c1');
const C2 = ns('c2');
const C3 = ns('c3'); // refused connects
const C4 = ns('c4'); // attached by pontoon-cni
const NET = `v6o-${RUN}`;

// a unique local prefix of this run (RFC 4193); groups with their top bit set have no leading
// zeros, so they read the same as `ip` and ping print them
const group = () => (0x8000 | parseInt(randomHex(2), 16)).toString(16);
const PREFIX = `fd${randomHex(1)}:${group()}:${group()}:60`;
const V6 = `${PREFIX}::/64`;
const GW6 = `${PREFIX}::1`;

interface Endpoint {
  Name: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
  DNSServer?: string;
}
interface Network {
  Name: string;
  EnableIPv6: boolean;
  IPAM: { Config: { Subnet: string; Gateway: string }[] };
  Containers: Record<string, Endpoint>;
  Options: Record<string, string>;
}

needs(root, tools('ip', 'ping'), compiledExecutable(pluginPath())).describe('IPv6-only networks (e2e)', () => {
  let d: Daemon;

  const inspect = async (): Promise<Network> => JSON.parse((await d.cliOk(['network', 'inspect', NET])).stdout)[0] as Network;
  const endpointOf = (net: Network, name: string): Endpoint => {
    const ep = Object.values(net.Containers).find((c) => c.Name === name);
    if (ep === undefined) throw new Error(`${name} is not in network ${net.Name}: ${JSON.stringify(net.Containers)}`);
    return ep;
  };
  const ping6 = async (from: string, to: string): Promise<void> => {
    const r = await nsExec(from, ['ping', '-6', '-n', '-c', '2', '-W', '2', to], { timeoutMs: 15_000 });
    expect(r.code, `${from} -> ${to}: ${r.stdout}${r.stderr}\n${d.logTail(10)}`).toBe(0);
    expect(r.stdout).toMatch(/2 packets transmitted, 2 received/);
  };
  const ip = async (n: string, args: string[]): Promise<string> => (await runOk(['ip', '-n', n, ...args])).stdout;

  beforeAll(async () => {
    const link = await pickHostLink();
    d = await startDaemon({ hostAddress: link.hostCidr, defaultNetwork: null });
    for (const n of [C1, C2, C3, C4]) await createNetns(n);
  });

  afterAll(async () => {
    const problems = await cleanupAll();
    if (problems.length > 0) console.warn(`cleanup problems:\n${problems.join('\n')}`);
  });

  it('network create with only an IPv6 subnet: inspect shows EnableIPv6 and only the IPv6 IPAM.Config entry; ls has no IPv4 subnet', async () => {
    const created = await d.cliOk(['network', 'create', '--ipv6', '--subnet', V6, NET]);
    expect(created.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const n = await inspect();
    expect([n.Name, n.EnableIPv6, n.IPAM.Config]).toEqual([NET, true, [{ Subnet: V6, Gateway: GW6 }]]);
    expect(n.Options).toMatchObject({ 'pontoon.dns': GW6, 'pontoon.ipv6.nat': 'true' });
    const ls = (await d.cliOk(['network', 'ls', '--format', 'json'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(ls.find((l) => l.Name === NET)).toMatchObject({ Driver: 'bridge', Subnet: '', Gateway: '', IPv6: true, Endpoints: 0 });
    // the host reaches the network over IPv6 only: a route to the IPv6 subnet, none of IPv4
    expect(await runOk(['ip', '-6', 'route', 'show', V6]).then((r) => r.stdout)).toContain(`${V6} dev ${d.config.host.device}`);
  });

  it('connect: no IPv4 address or route inside, the IPv6 address (nodad) and a default route via fe80::1; inspect says IPv4Address ""', async () => {
    await d.cliOk(['network', 'connect', NET, C1]);
    await d.cliOk(['network', 'connect', NET, C2]);
    const n = await inspect();
    expect(endpointOf(n, C1)).toMatchObject({ IPv4Address: '', IPv6Address: `${PREFIX}::2/64`, MacAddress: '02:42:00:00:00:02', DNSServer: GW6 });
    expect(endpointOf(n, C2)).toMatchObject({ IPv4Address: '', IPv6Address: `${PREFIX}::3/64`, MacAddress: '02:42:00:00:00:03' });
    for (const c of [C1, C2]) {
      expect((await ip(c, ['-4', 'addr', 'show', 'dev', 'eth0'])).trim()).toBe('');
      expect((await ip(c, ['-4', 'route', 'show'])).trim()).toBe('');
      expect(await ip(c, ['-6', 'route', 'show'])).toMatch(/^default via fe80::1 dev eth0 /m);
      expect(await ip(c, ['link', 'show', 'dev', 'eth0'])).toMatch(/<[A-Z_,]*\bUP\b[A-Z_,]*>/);
    }
    expect(await ip(C1, ['-6', 'addr', 'show', 'dev', 'eth0'])).toContain(`inet6 ${PREFIX}::2/64 scope global nodad`);
  });

  it('ping -6 reaches the other namespace, fe80::1 and the gateway\'s address', async () => {
    // the link-local addresses go through DAD first (about a second): ping from a settled interface
    await waitFor(async () => !(await ip(C1, ['-6', 'addr', 'show', 'dev', 'eth0'])).includes('tentative'), 5000);
    await waitFor(async () => !(await ip(C2, ['-6', 'addr', 'show', 'dev', 'eth0'])).includes('tentative'), 5000);
    await ping6(C1, `${PREFIX}::3`);
    await ping6(C2, `${PREFIX}::2`);
    await ping6(C1, 'fe80::1%eth0');
    await ping6(C1, GW6);
  });

  it('resolv.conf names the network\'s IPv6 gateway as nameserver', () => {
    const text = readFileSync(`/etc/netns/${C1}/resolv.conf`, 'utf8');
    expect(text.split('\n').filter((l) => l.startsWith('nameserver'))).toEqual([`nameserver ${GW6}`]);
  });

  it('refuses --ip and a port published on an IPv4 address in one line, leaving nothing in the namespace', async () => {
    const r = await d.cli(['network', 'connect', '--ip', '10.1.2.3', NET, C3]);
    expect([r.code, r.stderr]).toEqual([1, `Error: network ${NET} has no IPv4 (it is IPv6-only): --ip 10.1.2.3 cannot be given (--ip6 gives its address)\n`]);
    const p = await d.cli(['network', 'connect', '-p', '0.0.0.0:8080:80', NET, C3]);
    expect([p.code, p.stderr]).toEqual([
      1,
      `Error: network ${NET} is IPv6-only: cannot publish 80/tcp of ${C3} on IPv4 address 0.0.0.0 (publish on an IPv6 address: [::]:HOSTPORT:80)\n`,
    ]);
    expect(await ip(C3, ['-o', 'link', 'show'])).not.toContain('eth0');
    expect(Object.keys((await inspect()).Containers)).toHaveLength(2);
  });

  it('pontoon-cni ADD answers only the IPv6 address and route (CNI_ARGS IP= an IPv6 address); CHECK passes; DEL removes it', async () => {
    const conf = { cniVersion: '1.0.0', name: NET, type: 'pontoon-cni', network: NET, socket: d.config.api.socket };
    const id = randomHex(32);
    const call = { containerId: id, netns: `/run/netns/${C4}`, ifName: 'eth0' };
    const add = await callPlugin({ ...call, command: 'ADD', args: `IgnoreUnknown=1;IP=${PREFIX}::77`, config: conf });
    expect([add.code, add.stderr]).toEqual([0, '']);
    expect(add.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '02:42:00:00:00:77', sandbox: `/run/netns/${C4}` }],
      ips: [{ interface: 0, address: `${PREFIX}::77/64`, gateway: GW6 }],
      routes: [{ dst: '::/0', gw: 'fe80::1' }],
      dns: { nameservers: [GW6] },
    });
    expect((await ip(C4, ['-4', 'addr', 'show', 'dev', 'eth0'])).trim()).toBe('');
    expect(await ip(C4, ['-6', 'addr', 'show', 'dev', 'eth0'])).toContain(`inet6 ${PREFIX}::77/64 scope global nodad`);
    expect(await callPlugin({ ...call, command: 'CHECK', config: { ...conf, prevResult: add.json } })).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await callPlugin({ ...call, command: 'DEL', config: conf })).toMatchObject({ code: 0, stdout: '' });
    expect(await ip(C4, ['-o', 'link', 'show'])).not.toContain('eth0');
  });

  it('kill -9 and restart: the network and its endpoints are back, still without IPv4, and reachable', async () => {
    const before = await inspect();
    await d.kill9();
    await d.restart();
    expect(await inspect()).toEqual(before);
    expect((await ip(C1, ['-4', 'addr', 'show', 'dev', 'eth0'])).trim()).toBe('');
    expect(await ip(C1, ['-6', 'route', 'show'])).toMatch(/^default via fe80::1 dev eth0 /m);
    await ping6(C1, `${PREFIX}::3`);
    await ping6(C2, GW6);
    // the allocator knows what was handed out before the restart
    await d.cliOk(['network', 'connect', NET, C3]);
    expect(endpointOf(await inspect(), C3).IPv6Address).toBe(`${PREFIX}::4/64`);
  });

  it('disconnect and rm leave nothing: no interface, no resolv.conf, no host route', async () => {
    for (const c of [C1, C2, C3]) await d.cliOk(['network', 'disconnect', NET, c]);
    expect(await ip(C1, ['-o', 'link', 'show'])).not.toContain('eth0');
    expect(() => readFileSync(`/etc/netns/${C1}/resolv.conf`, 'utf8')).toThrow(/ENOENT/);
    await d.cliOk(['network', 'rm', NET]);
    expect((await d.cli(['network', 'inspect', NET])).code).toBe(1);
    expect((await runOk(['ip', '-6', 'route', 'show', V6])).stdout.trim()).toBe('');
  });
});
