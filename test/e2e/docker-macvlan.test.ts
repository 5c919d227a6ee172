/**
 * macvlan networks through Docker's plugin and through CNI, on a LAN of the test's own: a "LAN"
 * namespace with a bridge holding the LAN router's address, a LAN host behind a veth, and a veth
 * from the bridge into the daemon's namespace as the parent. A dockerd of the test's own (no
 * bridge, no iptables) makes the network with `docker network create -d PLUGIN -o
 * pontoon.driver=macvlan -o parent=...`; its containers take LAN addresses, the LAN host pings and
 * fetches from them, they ping the LAN router and see no NAT; `-p` publishes nothing, as with
 * Docker's own macvlan; bad parents are refused in pontoon's one line. Then pontoon-cni attaches a
 * namespace to a macvlan network `pontoon network create` made: the ADD result names the LAN router
 * as gateway and next hop, the LAN host reaches the namespace, CHECK passes, DEL takes it away.
 *
 * The tests run in order on one world built in beforeAll. Needs root.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { callPlugin, pluginPath } from './cni-call.js';
import { busyboxRootfsTar } from './container-rootfs.js';
import { DockerEngine } from './docker-engine.js';
import { type Daemon, cleanupAll, createNetns, hostAddr, makeTempDir, nsExec, nsIPv4, pickSubnets, ping, randomHex, run, runOk, startDaemon, waitFor } from './harness.js';
import { startBackground } from './nat-world.js';
import { compiledExecutable, needs, root, tools } from './requirements.js';

const RUN = randomHex(3);
const ns = (n: string) => `pdm${RUN}-${n}`;
const LAN = ns('lan');
const LANHOST = ns('host');
const CNI_NS = ns('cni');
/** the parent in the daemon's namespace, and its peer on the LAN's bridge */
const PARENT = `pdm${RUN}p`;
const TRUNK = `pdm${RUN}q`;

interface DockerNetworkInspect {
  Driver: string;
  IPAM: { Config: { Subnet: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> }[] };
}

needs(root, tools('dockerd', 'busybox', 'ip', 'ping', 'curl', 'nsenter', 'python3'), compiledExecutable(pluginPath())).describe('macvlan networks through Docker and CNI (e2e)', () => {
  let engine: DockerEngine;
  let d: Daemon;
  let lan = '';
  /** a subnet of no network, for the refused creates */
  let spare = '';
  const at = (n: number) => hostAddr(lan, n);
  const plugin = `pontoon-${RUN}`;
  const pluginSocket = `/run/docker/plugins/${plugin}.sock`;
  const image = `pdm-bb-${RUN}`;
  const net = `pdm-${RUN}`;
  let dir = '';

  const docker = (args: string[], timeoutMs?: number) => engine.docker(args, timeoutMs);
  const dockerOk = (args: string[], timeoutMs?: number) => engine.dockerOk(args, timeoutMs);
  const exec = (name: string, argv: string[]) => docker(['exec', name, ...argv], 30_000);
  const ipOf = async (name: string): Promise<string> => (await dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, name])).trim();
  const reaches = async (from: string, to: string, count = 2): Promise<boolean> => (await ping(from, to, { count, intervalS: 0.2, waitS: 2 })).received === count;

  beforeAll(async () => {
    dir = makeTempDir('pdm-');
    [lan, spare] = (await pickSubnets('10.93', 2)) as [string, string];
    engine = DockerEngine.prepare();
    d = await startDaemon({
      defaultNetwork: null,
      set: { 'docker.enabled': true, 'docker.pluginSocket': pluginSocket, 'docker.apiSocket': engine.socket },
    });
    await engine.launch();
    await engine.importImage(busyboxRootfsTar(dir), image);
    for (const n of [LAN, LANHOST, CNI_NS]) await createNetns(n);
    // the LAN: a bridge with the router's address, the LAN host on it, the trunk to the daemon's namespace
    await runOk(['ip', '-n', LAN, 'link', 'add', 'br0', 'type', 'bridge']);
    await runOk(['ip', '-n', LAN, 'addr', 'add', `${at(1)}/24`, 'dev', 'br0']);
    await runOk(['ip', '-n', LAN, 'link', 'set', 'br0', 'up']);
    await runOk(['ip', '-n', LAN, 'link', 'add', 'h0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', LANHOST]);
    await runOk(['ip', '-n', LAN, 'link', 'set', 'h0', 'master', 'br0', 'up']);
    await runOk(['ip', '-n', LANHOST, 'addr', 'add', `${at(50)}/24`, 'dev', 'eth0']);
    await runOk(['ip', '-n', LANHOST, 'link', 'set', 'eth0', 'up']);
    await runOk(['ip', '-n', LANHOST, 'route', 'add', 'default', 'via', at(1)]);
    await runOk(['ip', '-n', LAN, 'link', 'add', TRUNK, 'type', 'veth', 'peer', 'name', PARENT, 'netns', '1']);
    await runOk(['ip', '-n', LAN, 'link', 'set', TRUNK, 'master', 'br0', 'up']);
    await runOk(['ip', 'link', 'set', PARENT, 'up']);
  }, 180_000);

  afterAll(async () => {
    const problems = engine === undefined ? [] : await engine.destroy();
    problems.push(...(await cleanupAll()));
    // the LAN namespace took the trunk and with it its peer, the parent; a failed setup may have left it
    if ((await run(['ip', 'link', 'show', 'dev', PARENT])).code === 0) await run(['ip', 'link', 'del', PARENT]);
    expect(problems).toEqual([]);
    expect(existsSync(pluginSocket)).toBe(false);
  }, 180_000);

  it('docker network create -o pontoon.driver=macvlan -o parent=... --aux-address: a pontoon macvlan network on the LAN, the router its gateway, the aux address reserved', async () => {
    await dockerOk([
      'network', 'create', '-d', plugin, '--ipam-driver', plugin,
      '--subnet', lan, '--gateway', at(1), '--aux-address', `lanhost=${at(50)}`,
      '-o', 'pontoon.driver=macvlan', '-o', `parent=${PARENT}`, '-o', 'macvlan_mode=bridge', net,
    ]);
    const inDocker = (JSON.parse(await dockerOk(['network', 'inspect', net])) as DockerNetworkInspect[])[0]!;
    expect(inDocker.IPAM.Config).toEqual([{ Subnet: lan, Gateway: at(1), AuxiliaryAddresses: { lanhost: at(50) } }]);
    // pontoon learns Docker's name from Docker's API once the call is answered
    expect(await waitFor(async () => (await d.cli(['network', 'inspect', net])).code === 0, 10_000, 200), d.logTail(20)).toBe(true);
    // the harness's NetworkResource leaves Driver out
    const p = (await d.inspect(net)) as Awaited<ReturnType<Daemon['inspect']>> & { Driver: string };
    expect([p.Driver, p.Internal, p.Options['parent'], p.Options['macvlan_mode']]).toEqual(['macvlan', false, PARENT, 'bridge']);
    expect(p.IPAM.Config).toEqual([{ Subnet: lan, Gateway: at(1), AuxiliaryAddresses: { lanhost: at(50) } }]);
    // the LAN's subnet is not routed to pontoon: the host reaches the LAN through nobody
    expect((await runOk(['ip', '-4', 'route', 'show', lan])).stdout.trim()).toBe('');
  });

  it('a container gets a LAN address and the LAN router as default gateway; the LAN host pings and fetches from it; it pings the router', async () => {
    // -p as a compose file may carry it: Docker's macvlan publishes nothing and runs the container
    await dockerOk(['run', '-d', '--name', 'ma', '--network', net, '--cap-add', 'NET_RAW', '-p', '8080:80', image, 'httpd', '-f', '-p', '80', '-h', '/www']);
    const a = await ipOf('ma');
    // .1 is the router, .50 the LAN host (reserved): the first free address
    expect(a).toBe(at(2));
    expect((await exec('ma', ['ip', '-4', 'route', 'show', 'default'])).stdout).toContain(`default via ${at(1)} dev eth0`);
    expect(await reaches(LANHOST, a)).toBe(true);
    const page = await nsExec(LANHOST, ['curl', '-sS', '-m', '5', `http://${a}/`]);
    expect(page.stdout).toBe('hello from a container\n');
    expect((await exec('ma', ['ping', '-c', '2', '-W', '2', at(1)])).code).toBe(0);
    // nothing published: the container is reached at its own address
    const sandbox = (await dockerOk(['inspect', '-f', '{{.NetworkSettings.SandboxKey}}', 'ma'])).trim();
    expect((await d.cliOk(['port', sandbox])).stdout.trim()).toBe('');
  });

  it('the LAN host sees the container\'s own address (no NAT), and two containers reach each other (bridge mode)', async () => {
    writeFileSync(join(dir, 'index.html'), 'lan\n');
    const srv = startBackground(LANHOST, ['python3', '-m', 'http.server', '8081', '--bind', at(50), '--directory', dir]);
    expect(await srv.waitForOutput(/Serving HTTP/)).toBe(true);
    expect((await exec('ma', ['wget', '-q', '-O', '-', `http://${at(50)}:8081/index.html`])).stdout).toBe('lan\n');
    await waitFor(() => /GET \//.test(srv.stderr()), 3000);
    expect(srv.stderr()).toMatch(new RegExp(`^${at(2).replace(/\./g, '\\.')} - - `, 'm'));
    await srv.stop();
    await dockerOk(['run', '-d', '--name', 'mb', '--network', net, '--cap-add', 'NET_RAW', image, 'sleep', '3600']);
    const b = await ipOf('mb');
    expect(b).toBe(at(3));
    expect((await exec('ma', ['ping', '-c', '2', '-W', '2', b])).code).toBe(0);
    expect((await exec('mb', ['ping', '-c', '2', '-W', '2', at(50)])).code).toBe(0);
  });

  it("refuses a parent that is not there, a VLAN out of range and macvlan options on a bridge in pontoon's one line, making nothing", async () => {
    const refused = async (opts: string[], re: RegExp) => {
      const r = await docker(['network', 'create', '-d', plugin, '--ipam-driver', plugin, '--subnet', spare, ...opts, `${net}-x`]);
      expect(r.code, r.stdout).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    };
    await refused(['-o', 'pontoon.driver=macvlan', '-o', `parent=nosuch${RUN}`], new RegExp(`parent interface was not found on the host: nosuch${RUN}$`, 'm'));
    await refused(['-o', 'pontoon.driver=macvlan', '-o', `parent=${PARENT}.4095`], /vlan id out of range: 4095/);
    await refused(['-o', 'pontoon.driver=macvlan', '-o', `parent=${PARENT}`, '-o', 'macvlan_mode=source'], /macvlan_mode "source" is not supported/);
    await refused(['-o', `parent=${PARENT}`], /option parent is for macvlan networks \(-o pontoon.driver=macvlan\), not bridge/);
    expect((await docker(['network', 'inspect', `${net}-x`])).code).not.toBe(0);
    expect((await d.cliOk(['network', 'ls', '--format', 'json'])).stdout).not.toContain(`${net}-x`);
  });

  it('removes the containers and the network, in Docker and in pontoon', async () => {
    await dockerOk(['rm', '-f', 'ma', 'mb']);
    await dockerOk(['network', 'rm', net]);
    expect((await d.cli(['network', 'inspect', net])).code).not.toBe(0);
  });

  it('pontoon-cni on a macvlan network: ADD answers the LAN router as gateway and next hop, the LAN host reaches the namespace; CHECK passes; DEL takes it away', async () => {
    await d.cliOk(['network', 'create', '-d', 'macvlan', '--subnet', lan, '--gateway', at(1), '--aux-address', `lanhost=${at(50)}`, '-o', `parent=${PARENT}`, 'lancni']);
    const conflist = JSON.parse((await d.cliOk(['cni', 'conflist', 'lancni'])).stdout) as { plugins: { capabilities: Record<string, boolean> }[] };
    expect(conflist.plugins[0]!.capabilities).toEqual({ ips: true, aliases: true });
    const conf = { cniVersion: '1.0.0', name: 'lancni', type: 'pontoon-cni', network: 'lancni', socket: d.config.api.socket, master: PARENT, mode: 'bridge' };
    const id = randomHex(32);
    const netns = `/run/netns/${CNI_NS}`;
    const add = await callPlugin({ command: 'ADD', containerId: id, netns, ifName: 'eth0', config: conf });
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const [addr] = await nsIPv4(CNI_NS, 'eth0');
    expect(addr).toBe(`${at(2)}/24`);
    const mac = (await nsExec(CNI_NS, ['cat', '/sys/class/net/eth0/address'])).stdout.trim();
    expect(add.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac, sandbox: netns }],
      ips: [{ interface: 0, address: addr, gateway: at(1) }],
      routes: [{ dst: '0.0.0.0/0', gw: at(1) }],
      dns: {},
    });
    expect(await reaches(LANHOST, at(2))).toBe(true);
    expect(await reaches(CNI_NS, at(1))).toBe(true);
    const check = await callPlugin({ command: 'CHECK', containerId: id, netns, ifName: 'eth0', config: { ...conf, prevResult: add.json } });
    expect(check).toMatchObject({ code: 0, stdout: '', stderr: '' });
    // a config that names another parent is a mistake, said in the CNI error JSON
    const other = await callPlugin({ command: 'CHECK', containerId: id, netns, ifName: 'eth0', config: { ...conf, master: 'eth9', prevResult: add.json } });
    expect(other.code).toBe(1);
    expect(other.json).toMatchObject({ code: 7, msg: `invalid network configuration: "master" is "eth9", network lancni has parent ${PARENT} (pontoon network create -o parent= decides it)` });
    const del = await callPlugin({ command: 'DEL', containerId: id, netns, ifName: 'eth0', config: conf });
    expect(del).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect((await nsExec(CNI_NS, ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
    expect(await reaches(LANHOST, at(2), 1)).toBe(false);
    expect(Object.keys((await d.inspect('lancni')).Containers)).toEqual([]);
    await d.cliOk(['network', 'rm', 'lancni']);
  });
});
