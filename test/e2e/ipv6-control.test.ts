/**
 * IPv6 in the control plane, end to end, as a user sees it: `network create --ipv6` with a subnet
 * per family, `network inspect`, and a namespace connected to it showing (with `ip -6`) its IPv6
 * address without DAD, its EUI-64 link-local address and a default route via fe80::1; `--ip6`;
 * the default network's IPv6 side from the config; a kill -9 and restart keeping everything;
 * disconnect leaving nothing. No traffic is asserted: the data plane does not forward IPv6 yet.
 *
 * The same through Docker: `docker network create --ipv6 -d pontoon --ipam-driver pontoon` and a
 * container on it, seen from inside its namespace.
 *
 * The tests run in order on one world built in beforeAll. Needs root (and dockerd for Docker's part).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { callPlugin, pluginPath } from './cni-call.js';
import { busyboxRootfsTar } from './container-rootfs.js';
import { DockerEngine } from './docker-engine.js';
import { type Daemon, cleanupAll, createNetns, hostAddr, makeTempDir, nsExecOk, pickHostLink, pickSubnets, randomHex, runOk, startDaemon, waitFor } from './harness.js';
import { compiledExecutable, needs, root, tools } from './requirements.js';

const RUN = randomHex(3);
const ns = (n: string) => `pte6-${RUN}-${n}`;
const C1 = ns('c1');
const C2 = ns('c2');
const C3 = ns('c3');
const C4 = ns('c4'); // on the default network
const C5 = ns('c5'); // attached by pontoon-cni

// unique local prefixes of this run (RFC 4193: fd + a random 40-bit global id)
// (groups with their top bit set: no leading zeros, so they read the same as `ip` prints them)
const group = () => (0x8000 | parseInt(randomHex(2), 16)).toString(16);
const ULA = `fd${randomHex(1)}:${group()}:${group()}`;
const V0 = `${ULA}:10::/64`; // the default network's (fixedCidrV6)
const V1 = `${ULA}:20::/64`; // dual's

interface Endpoint6 {
  Name: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}
interface Network6 {
  Name: string;
  EnableIPv6: boolean;
  IPAM: { Config: { Subnet: string; Gateway: string; IPRange?: string }[] };
  Containers: Record<string, Endpoint6>;
  Options: Record<string, string>;
}
interface Addr6 {
  family: string;
  local: string;
  prefixlen: number;
  scope: string;
  nodad?: boolean;
  tentative?: boolean;
  dadfailed?: boolean;
}

/** Docker's MAC scheme: 02:42 followed by the IPv4 address. */
function macForIp(ip: string): string {
  return ['02', '42', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** The EUI-64 link-local address of a MAC (RFC 4291 appendix A), as `ip` prints it. */
function linkLocalOf(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  b[0] = b[0]! ^ 0x02;
  const g = [(b[0] << 8) | b[1]!, (b[2]! << 8) | 0xff, (0xfe << 8) | b[3]!, (b[4]! << 8) | b[5]!];
  return `fe80::${g.map((x) => x.toString(16)).join(':')}`;
}

needs(root, tools('ip'), compiledExecutable(pluginPath())).describe('IPv6 in the control plane (e2e)', () => {
  let d: Daemon;
  let S0: string;
  let S1: string;

  const inspect = async (name: string): Promise<Network6> => JSON.parse((await d.cliOk(['network', 'inspect', name])).stdout)[0] as Network6;
  const endpointOf = (net: Network6, netns: string): Endpoint6 => {
    const ep = Object.values(net.Containers).find((c) => c.Name === netns);
    if (ep === undefined) throw new Error(`${netns} is not in network ${net.Name}: ${JSON.stringify(net.Containers)}`);
    return ep;
  };
  /** `ip -j -6 addr show dev eth0` in the namespace: the addresses with their flags */
  const addrs6 = async (n: string, dev = 'eth0'): Promise<Addr6[]> => {
    const out = (await runOk(['ip', '-n', n, '-j', '-6', 'addr', 'show', 'dev', dev])).stdout;
    return ((JSON.parse(out) as { addr_info?: Addr6[] }[])[0]?.addr_info ?? []).filter((a) => a.family === 'inet6');
  };
  const routes6 = async (n: string): Promise<string> => (await runOk(['ip', '-n', n, '-6', 'route', 'show'])).stdout;

  beforeAll(async () => {
    [S0, S1] = (await pickSubnets(['10.212', '172.26'], 2)) as [string, string];
    const link = await pickHostLink();
    d = await startDaemon({
      hostAddress: link.hostCidr,
      defaultNetwork: { name: 'bridge', subnet: S0, gateway: hostAddr(S0, 1) },
      set: { 'defaultNetwork.ipv6': true, 'defaultNetwork.fixedCidrV6': V0 },
    });
    for (const n of [C1, C2, C3, C4, C5]) await createNetns(n);
  });

  afterAll(async () => {
    const problems = await cleanupAll();
    if (problems.length > 0) console.warn(`cleanup problems:\n${problems.join('\n')}`);
  });

  it('network create --ipv6 with a subnet per family; inspect shows EnableIPv6 and one IPAM.Config entry per family', async () => {
    await d.cliOk(['network', 'create', '--ipv6', '--subnet', S1, '--subnet', V1, '--gateway', `${ULA}:20::1`, 'dual']);
    const dual = await inspect('dual');
    expect(dual.EnableIPv6).toBe(true);
    expect(dual.IPAM.Config).toEqual([
      { Subnet: S1, Gateway: hostAddr(S1, 1) },
      { Subnet: V1, Gateway: `${ULA}:20::1` },
    ]);
    expect(dual.Options['pontoon.ipv6.nat']).toBe('true');
    const bridge = await inspect('bridge');
    expect([bridge.EnableIPv6, bridge.IPAM.Config]).toEqual([
      true,
      [
        { Subnet: S0, Gateway: hostAddr(S0, 1) },
        { Subnet: V0, Gateway: `${ULA}:10::1` },
      ],
    ]);
    const ls = (await d.cliOk(['network', 'ls', '--format', 'json'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { Name: string; IPv6: boolean });
    expect(ls.map((n) => [n.Name, n.IPv6])).toEqual([
      ['bridge', true],
      ['dual', true],
    ]);
  });

  it('refuses in one line: an IPv6 subnet without --ipv6, an overlap, a /128, a gateway of the wrong family', async () => {
    const refused = async (args: string[]) => {
      const r = await d.cli(args);
      expect(r.code).toBe(1);
      return r.stderr;
    };
    expect(await refused(['network', 'create', '--subnet', `${ULA}:30::/64`, 'x'])).toBe(`Error: IPv6 subnet ${ULA}:30::/64 needs --ipv6 (IPv6 is not enabled on network "x")\n`);
    expect(await refused(['network', 'create', '--ipv6', '--subnet', `${ULA}::/48`, 'x'])).toBe(
      `Error: subnet ${ULA}::/48 of network "x" overlaps with ${V0} of network "bridge"\n`,
    );
    expect(await refused(['network', 'create', '--ipv6', '--subnet', `${ULA}:30::1/128`, 'x'])).toBe(
      `Error: invalid subnet ${ULA}:30::1/128: the prefix length of an IPv6 subnet must be at most /126 (/64 recommended)\n`,
    );
    expect(await refused(['network', 'create', '--subnet', '10.213.0.0/24', '--gateway', `${ULA}:30::1`, 'x'])).toBe(`Error: no matching subnet for gateway ${ULA}:30::1\n`);
    expect((await d.cli(['network', 'inspect', 'x'])).code).toBe(1);
  });

  it('connect: the namespace has its IPv6 address (nodad), its EUI-64 link-local address and a default route via fe80::1', async () => {
    await d.cliOk(['network', 'connect', 'dual', C1]);
    const ep = endpointOf(await inspect('dual'), C1);
    const ip4 = hostAddr(S1, 2);
    expect(ep).toMatchObject({ IPv4Address: `${ip4}/24`, IPv6Address: `${ULA}:20::2/64`, MacAddress: macForIp(ip4) });
    // the link-local address goes through DAD (about a second): nothing answers for it
    const settled = await waitFor(async () => (await addrs6(C1)).every((a) => a.tentative !== true), 5000);
    const addrs = await addrs6(C1);
    expect(settled, JSON.stringify(addrs)).toBe(true);
    expect(addrs.map((a) => ({ addr: `${a.local}/${a.prefixlen}`, scope: a.scope, nodad: a.nodad === true, dadfailed: a.dadfailed === true }))).toEqual([
      { addr: `${ULA}:20::2/64`, scope: 'global', nodad: true, dadfailed: false },
      { addr: `${linkLocalOf(macForIp(ip4))}/64`, scope: 'link', nodad: false, dadfailed: false },
    ]);
    const text = (await nsExecOk(C1, ['ip', '-6', 'addr', 'show', 'dev', 'eth0'])).stdout;
    expect(text).toContain(`inet6 ${ULA}:20::2/64 scope global nodad`);
    expect(text).not.toMatch(/tentative|dadfailed/);
    expect(await routes6(C1)).toMatch(/^default via fe80::1 dev eth0 /m);
    expect(await routes6(C1)).toMatch(new RegExp(`^${ULA}:20::/64 dev eth0 `, 'm'));
  });

  it('--ip6 gives a fixed address; one in use is refused in one line, changing nothing', async () => {
    await d.cliOk(['network', 'connect', '--ip6', `${ULA}:20::99`, 'dual', C2]);
    expect(endpointOf(await inspect('dual'), C2).IPv6Address).toBe(`${ULA}:20::99/64`);
    expect((await addrs6(C2)).find((a) => a.scope === 'global')).toMatchObject({ local: `${ULA}:20::99`, prefixlen: 64, nodad: true });
    const r = await d.cli(['network', 'connect', '--ip6', `${ULA}:20::99`, 'dual', C3]);
    expect([r.code, r.stderr]).toEqual([1, `Error: address ${ULA}:20::99 is already in use on network "dual"\n`]);
    expect((await runOk(['ip', '-n', C3, '-o', 'link', 'show'])).stdout).not.toContain('eth0');
    // the default network's IPv6 side (defaultNetwork.ipv6, fixedCidrV6)
    await d.cliOk(['network', 'connect', 'bridge', C4]);
    expect(endpointOf(await inspect('bridge'), C4).IPv6Address).toBe(`${ULA}:10::2/64`);
    expect(await routes6(C4)).toMatch(/^default via fe80::1 dev eth0 /m);
  });

  it('kill -9 and restart: the IPv6 side, the addresses and the routes are kept', async () => {
    const before = await inspect('dual');
    const addrsBefore = await addrs6(C1);
    await d.kill9();
    await d.restart();
    expect(await inspect('dual')).toEqual(before);
    expect(await addrs6(C1)).toEqual(addrsBefore);
    expect(await routes6(C1)).toMatch(/^default via fe80::1 dev eth0 /m);
    // the allocator knows what was handed out before the restart
    await d.cliOk(['network', 'connect', 'dual', C3]);
    expect(endpointOf(await inspect('dual'), C3).IPv6Address).toBe(`${ULA}:20::3/64`);
  });

  it('pontoon-cni ADD answers the IPv6 address and route, honours IP= per family; CHECK passes; DEL removes it', async () => {
    const conf = { cniVersion: '1.0.0', name: 'dual', type: 'pontoon-cni', network: 'dual', socket: d.config.api.socket };
    const id = randomHex(32);
    const call = { containerId: id, netns: `/run/netns/${C5}`, ifName: 'eth0' };
    const add = await callPlugin({ ...call, command: 'ADD', args: `IgnoreUnknown=1;IP=${ULA}:20::77`, config: conf });
    expect([add.code, add.stderr]).toEqual([0, '']);
    const ip4 = endpointOf(await inspect('dual'), id.slice(0, 12)).IPv4Address;
    expect(add.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: macForIp(ip4.split('/')[0]!), sandbox: `/run/netns/${C5}` }],
      ips: [
        { interface: 0, address: ip4, gateway: hostAddr(S1, 1) },
        { interface: 0, address: `${ULA}:20::77/64`, gateway: `${ULA}:20::1` },
      ],
      routes: [
        { dst: '0.0.0.0/0', gw: hostAddr(S1, 1) },
        { dst: '::/0', gw: 'fe80::1' },
      ],
      dns: { nameservers: [hostAddr(S1, 1)] },
    });
    expect((await addrs6(C5)).find((a) => a.scope === 'global')).toMatchObject({ local: `${ULA}:20::77`, prefixlen: 64, nodad: true });
    expect(await routes6(C5)).toMatch(/^default via fe80::1 dev eth0 /m);
    expect(await callPlugin({ ...call, command: 'CHECK', config: { ...conf, prevResult: add.json } })).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await callPlugin({ ...call, command: 'DEL', config: conf })).toMatchObject({ code: 0, stdout: '' });
    expect((await runOk(['ip', '-n', C5, '-o', 'link', 'show'])).stdout).not.toContain('eth0');
  });

  it('disconnect leaves nothing: no interface, no IPv6 address, no IPv6 route; the address is handed out again', async () => {
    await d.cliOk(['network', 'disconnect', 'dual', C1]);
    expect((await runOk(['ip', '-n', C1, '-o', 'link', 'show'])).stdout).not.toContain('eth0');
    const all = (await runOk(['ip', '-n', C1, '-j', '-6', 'addr', 'show'])).stdout;
    expect((JSON.parse(all) as { ifname: string; addr_info: Addr6[] }[]).flatMap((l) => l.addr_info.map((a) => `${l.ifname} ${a.local}`))).toEqual(['lo ::1']);
    expect((await routes6(C1)).trim()).toMatch(/^(::1 dev lo [^\n]*)?$/);
    await d.cliOk(['network', 'connect', 'dual', C1]);
    expect(endpointOf(await inspect('dual'), C1).IPv6Address).toBe(`${ULA}:20::2/64`);
    for (const n of [C1, C2, C3]) await d.cliOk(['network', 'disconnect', 'dual', n]);
    await d.cliOk(['network', 'rm', 'dual']);
    expect((await d.cli(['network', 'inspect', 'dual'])).code).toBe(1);
  });
});

needs(root, tools('ip', 'dockerd', 'busybox', 'nsenter')).describe('IPv6 through Docker\'s network and IPAM plugin (e2e)', () => {
  let engine: DockerEngine;
  let d: Daemon;
  const plugin = `pontoon-${randomHex(3)}`;
  const pluginSocket = `/run/docker/plugins/${plugin}.sock`;
  const image = `pte-bb6-${randomHex(3)}`;
  const net = `pte-d6-${randomHex(2)}`;
  const V = `${ULA}:40::/64`;
  let S = '';

  beforeAll(async () => {
    S = (await pickSubnets('10.93', 1))[0]!;
    engine = await DockerEngine.start();
    await engine.importImage(busyboxRootfsTar(makeTempDir('pte-dkimg6-')), image);
    const link = await pickHostLink();
    d = await startDaemon({
      hostAddress: link.hostCidr,
      defaultNetwork: null,
      set: { 'docker.enabled': true, 'docker.pluginSocket': pluginSocket, 'docker.apiSocket': engine.socket },
    });
  }, 180_000);

  afterAll(async () => {
    const problems = engine === undefined ? [] : await engine.destroy();
    problems.push(...(await cleanupAll()));
    expect(problems).toEqual([]);
  }, 180_000);

  it('docker network create --ipv6 --subnet S4 --subnet fd..::/64: a container gets its IPv6 address and the default route via fe80::1', async () => {
    await engine.dockerOk(['network', 'create', '--ipv6', '-d', plugin, '--ipam-driver', plugin, '--subnet', S, '--subnet', V, net]);
    const named = await waitFor(async () => (await d.cli(['network', 'inspect', net])).code === 0, 10_000, 200);
    expect(named, d.logTail(20)).toBe(true);
    const p = JSON.parse((await d.cliOk(['network', 'inspect', net])).stdout)[0] as Network6;
    expect([p.EnableIPv6, p.IPAM.Config]).toEqual([
      true,
      [
        { Subnet: S, Gateway: hostAddr(S, 1) },
        { Subnet: V, Gateway: `${ULA}:40::1` },
      ],
    ]);
    await engine.dockerOk(['run', '-d', '--name', 'p6', '--network', net, image, 'sleep', '3600']);
    const ip6 = (await engine.dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").GlobalIPv6Address}}`, 'p6'])).trim();
    expect(ip6).toBe(`${ULA}:40::2`);
    const pid = (await engine.dockerOk(['inspect', '-f', '{{.State.Pid}}', 'p6'])).trim();
    const inside = async (args: string[]) => (await runOk(['nsenter', '-t', pid, '-n', 'ip', ...args])).stdout;
    const addrs = JSON.parse(await inside(['-j', '-6', 'addr', 'show', 'dev', 'eth0'])) as { addr_info: Addr6[] }[];
    expect(addrs[0]!.addr_info.find((a) => a.scope === 'global')).toMatchObject({ local: `${ULA}:40::2`, prefixlen: 64 });
    expect(await inside(['-6', 'route', 'show'])).toMatch(/^default via fe80::1 dev eth0 /m);
    const after = JSON.parse((await d.cliOk(['network', 'inspect', net])).stdout)[0] as Network6;
    expect(Object.values(after.Containers).map((c) => c.IPv6Address)).toEqual([`${ULA}:40::2/64`]);
    await engine.dockerOk(['rm', '-f', 'p6']);
    await engine.dockerOk(['network', 'rm', net]);
    expect((await d.cli(['network', 'inspect', net])).code).toBe(1);
  }, 120_000);
});
