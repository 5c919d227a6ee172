// Docker's containers on pontoon networks: a dockerd of the test's own (no bridge, no iptables)
// uses pontoon as its network and IPAM plugin (`docker network create -d pontoon-XXXX`). What
// Docker's users see is checked: addresses, ping by name through Docker's DNS and pontoon's, `-p`
// from outside through the uplink, connect/disconnect, container restarts, restarts of pontoon
// under running containers and of dockerd, Docker's error lines, and nothing left behind.
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';
import { busyboxRootfsTar } from './container-rootfs.js';
import { DockerEngine } from './docker-engine.js';
import { cleanupAll, createNetns, makeTempDir, nsExec, pickSubnets, randomHex, run, waitFor, hostAddr } from './harness.js';
import { type NatWorld, buildNatWorld, cleanupNatWorlds, FAR_A, UPLINK_IP } from './nat-world.js';
import { needs, root, tools } from './requirements.js';

interface DockerNetworkInspect {
  Id: string;
  Name: string;
  IPAM: { Config: { Subnet: string; Gateway: string }[] };
}

needs(root, tools('dockerd', 'busybox', 'ip', 'ping', 'curl', 'dig')).describe('Docker network and IPAM plugin', () => {
  let engine: DockerEngine;
  let world: NatWorld;
  const plugin = `pontoon-${randomHex(3)}`;
  const pluginSocket = `/run/docker/plugins/${plugin}.sock`;
  const image = `pte-bb-${randomHex(3)}`;
  let net = '';
  let subnet = '';
  let gateway = '';
  const runBefore = existsSync('/run/netns') ? readdirSync('/run/netns') : [];

  const docker = (args: string[], timeoutMs?: number) => engine.docker(args, timeoutMs);
  const dockerOk = (args: string[], timeoutMs?: number) => engine.dockerOk(args, timeoutMs);
  /** a container that runs until removed, on `network` */
  const runContainer = (name: string, network: string, extra: string[] = [], cmd = ['sleep', '3600']) =>
    dockerOk(['run', '-d', '--name', name, '--network', network, '--cap-add', 'NET_RAW', ...extra, image, ...cmd]);
  const exec = (name: string, argv: string[]) => docker(['exec', name, ...argv], 30_000);
  const ipOf = async (name: string, network: string): Promise<string> =>
    (await dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, name])).trim();

  beforeAll(async () => {
    const dir = makeTempDir('pte-dkimg-');
    engine = await DockerEngine.start();
    await engine.importImage(busyboxRootfsTar(dir), image);
    world = await buildNatWorld({
      kind: 'tap',
      set: { 'docker.enabled': true, 'docker.pluginSocket': pluginSocket, 'docker.apiSocket': engine.socket },
    });
    subnet = (await pickSubnets('10.91', 1))[0]!;
    gateway = hostAddr(subnet, 1);
    net = `pte-dn-${randomHex(2)}`;
  }, 180_000);

  afterAll(async () => {
    const problems = engine === undefined ? [] : await engine.destroy();
    problems.push(...(await cleanupNatWorlds()), ...(await cleanupAll()));
    expect(problems).toEqual([]);
    // nothing of the test left: no namespace files, no pontoon devices, no plugin socket
    expect(existsSync('/run/netns') ? readdirSync('/run/netns') : []).toEqual(runBefore);
    expect(existsSync(pluginSocket)).toBe(false);
    expect(existsSync('/etc/docker/key.json')).toBe(false);
  }, 180_000);

  needs().it('creates a pontoon network with pontoon as the IPAM driver, and pontoon shows it under its Docker name', async () => {
    await dockerOk(['network', 'create', '-d', plugin, '--ipam-driver', plugin, '--subnet', subnet, '-o', 'com.docker.network.driver.mtu=1400', net]);
    const inspect = JSON.parse(await dockerOk(['network', 'inspect', net])) as DockerNetworkInspect[];
    // Docker shows the gateway only when the user gave it; pontoon's IPAM chose the first address
    expect(inspect[0]!.IPAM.Config).toEqual([{ Subnet: subnet }]);
    // pontoon learns Docker's name from Docker's API once the call is answered
    const named = await waitFor(async () => (await world.daemon.cli(['network', 'inspect', net])).code === 0, 10_000, 200);
    expect(named, world.daemon.logTail(20)).toBe(true);
    const p = await world.daemon.inspect(net);
    expect(p.IPAM.Config[0]).toMatchObject({ Subnet: subnet, Gateway: gateway });
    expect(p.Options['com.docker.network.driver.mtu']).toBe('1400');
    expect(p.Labels['com.docker.network.id']).toBe(inspect[0]!.Id);
  });

  needs().it('puts containers on it: they ping each other by name (Docker DNS) and the gateway, with the MTU and MAC pontoon gave', async () => {
    await runContainer('pa', net);
    await runContainer('pb', net, ['--network-alias', 'bee']);
    const a = await ipOf('pa', net);
    const b = await ipOf('pb', net);
    expect(a).toBe(hostAddr(subnet, 2));
    expect(b).toBe(hostAddr(subnet, 3));
    const link = await exec('pa', ['ip', '-o', 'link', 'show', 'eth0']);
    expect(link.stdout).toMatch(/mtu 1400/);
    expect(link.stdout).toContain(`link/ether 02:42:${a.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join(':')}`);
    expect((await exec('pa', ['ping', '-c', '2', '-W', '2', gateway])).code).toBe(0);
    expect((await exec('pa', ['ping', '-c', '2', '-W', '2', 'pb'])).stdout).toContain(b);
    expect((await exec('pa', ['ping', '-c', '2', '-W', '2', 'bee'])).stdout).toContain(b);
    // pontoon's endpoint shows the container's name, once Docker's API told it
    const seen = await waitFor(async () => Object.values((await world.daemon.inspect(net)).Containers).some((c) => c.Name === 'pa'), 10_000, 200);
    expect(seen).toBe(true);
  });

  needs().it("resolves Docker containers through pontoon's DNS, and a namespace endpoint through Docker's forwarding", async () => {
    const ns = await createNetns(`${world.prefix}-dn`);
    await world.daemon.cliOk(['network', 'connect', '--name', 'nsbox', net, ns]);
    const b = await ipOf('pb', net);
    const fromNs = await waitFor(async () => (await nsExec(ns, ['dig', '+short', '+time=2', `@${gateway}`, 'pb'])).stdout.trim() === b, 10_000, 200);
    expect(fromNs).toBe(true);
    expect((await nsExec(ns, ['dig', '+short', '+time=2', `@${gateway}`, 'bee'])).stdout.trim()).toBe(b);
    // a container asking pontoon directly, and through Docker's 127.0.0.11 forwarding to --dns
    await runContainer('pc', net, ['--dns', gateway]);
    const nsIp = hostAddr(subnet, 4);
    expect((await exec('pa', ['nslookup', 'nsbox', gateway])).stdout).toContain(nsIp);
    expect((await exec('pc', ['nslookup', 'nsbox'])).stdout).toContain(nsIp);
    expect((await exec('pc', ['ping', '-c', '1', '-W', '2', 'nsbox'])).code).toBe(0);
    expect((await exec('pc', ['cat', '/etc/resolv.conf'])).stdout).toContain('nameserver 127.0.0.11');
  });

  needs().it('publishes -p through pontoon: the outside reaches the container on the uplink address', async () => {
    const port = 20000 + Math.floor(Math.random() * 10000);
    await runContainer('web', net, ['-p', `${port}:80`, '-p', `${port}:5300/udp`], ['httpd', '-f', '-p', '80', '-h', '/www']);
    const r = await waitFor(async () => (await world.curl(world.router, `http://${UPLINK_IP}:${port}/`)).stdout === 'hello from a container\n', 10_000, 200);
    expect(r).toBe(true);
    const ports = await world.daemon.cliOk(['port', (await dockerOk(['inspect', '-f', '{{.NetworkSettings.SandboxKey}}', 'web'])).trim()]);
    expect(ports.stdout).toContain(`80/tcp -> 0.0.0.0:${port}`);
    expect(ports.stdout).toContain(`5300/udp -> 0.0.0.0:${port}`);
    // outbound through the masquerade too
    expect((await exec('web', ['ping', '-c', '1', '-W', '2', FAR_A])).code).toBe(0);
    await dockerOk(['rm', '-f', 'web']);
    const gone = await world.curl(world.router, `http://${UPLINK_IP}:${port}/`, ['-m', '3']);
    expect(gone.code).not.toBe(0);
  });

  needs().it('connects and disconnects a running container to a second pontoon network', async () => {
    const subnet2 = (await pickSubnets('10.92', 1))[0]!;
    await dockerOk(['network', 'create', '-d', plugin, '--ipam-driver', plugin, '--subnet', subnet2, `${net}-2`]);
    await dockerOk(['network', 'connect', '--ip', hostAddr(subnet2, 9), `${net}-2`, 'pa']);
    const addrs = await exec('pa', ['ip', '-o', '-4', 'addr', 'show']);
    expect(addrs.stdout).toMatch(new RegExp(`eth1 +inet ${hostAddr(subnet2, 9).replace(/\./g, '\\.')}/24`));
    expect((await exec('pa', ['ping', '-c', '1', '-W', '2', hostAddr(subnet2, 1)])).code).toBe(0);
    await dockerOk(['network', 'disconnect', `${net}-2`, 'pa']);
    expect((await exec('pa', ['ip', '-o', 'link'])).stdout).not.toContain('eth1');
    expect(Object.keys((await world.daemon.inspect(`${net}-2`)).Containers)).toEqual([]);
    await dockerOk(['network', 'rm', `${net}-2`]);
    expect((await world.daemon.cli(['network', 'inspect', `${net}-2`])).code).not.toBe(0);
  });

  needs().it('publishes on the host loopback (-p 127.0.0.1:H:C) and takes the first free port of a range', async () => {
    const port = 30000 + Math.floor(Math.random() * 10000);
    await runContainer('web2', net, ['-p', `127.0.0.1:${port}:80`, '-p', `${port + 1}-${port + 3}:80`], ['httpd', '-f', '-p', '80', '-h', '/www']);
    const host = await waitFor(async () => (await world.curl(null, `http://127.0.0.1:${port}/`)).stdout === 'hello from a container\n', 10_000, 200);
    expect(host).toBe(true);
    // the loopback port is the host's only: not on the uplink
    expect((await world.curl(world.router, `http://${UPLINK_IP}:${port}/`, ['-m', '3'])).code).not.toBe(0);
    expect((await world.curl(world.router, `http://${UPLINK_IP}:${port + 1}/`)).stdout).toBe('hello from a container\n');
    await dockerOk(['rm', '-f', 'web2']);
  });

  needs().it('makes internal networks (no way out, no -p) and takes addresses from --ip-range and from Docker\'s own IPAM', async () => {
    const [s1, s2] = await pickSubnets('10.93', 2);
    await dockerOk(['network', 'create', '-d', plugin, '--ipam-driver', plugin, '--internal', '--subnet', s1!, '--ip-range', s1!.replace(/\.0\/24$/, '.128/25'), `${net}-in`]);
    await runContainer('pi', `${net}-in`);
    expect(await ipOf('pi', `${net}-in`)).toBe(hostAddr(s1!, 128));
    expect((await exec('pi', ['ip', 'route'])).stdout).not.toContain('default');
    expect((await exec('pi', ['ping', '-c', '1', '-W', '2', FAR_A])).code).not.toBe(0);
    // as on Docker's own internal bridge, -p publishes nothing (Docker does not ask the driver to)
    await runContainer('pj', `${net}-in`, ['-p', '8099:80'], ['httpd', '-f', '-p', '80', '-h', '/www']);
    expect((await world.curl(world.router, `http://${UPLINK_IP}:8099/`, ['-m', '3'])).code).not.toBe(0);
    const sandbox = (await dockerOk(['inspect', '-f', '{{.NetworkSettings.SandboxKey}}', 'pj'])).trim();
    expect((await world.daemon.cliOk(['port', sandbox])).stdout.trim()).toBe('');
    await dockerOk(['rm', '-f', 'pj', 'pi']);
    await dockerOk(['network', 'rm', `${net}-in`]);
    // Docker's default IPAM gives the addresses; pontoon takes them
    await dockerOk(['network', 'create', '-d', plugin, '--subnet', s2!, '--gateway', hostAddr(s2!, 254), `${net}-di`]);
    await runContainer('pk', `${net}-di`, ['--ip', hostAddr(s2!, 77)]);
    expect((await exec('pk', ['ping', '-c', '1', '-W', '2', hostAddr(s2!, 254)])).code).toBe(0);
    const p = await world.daemon.inspect(`${net}-di`);
    expect(Object.values(p.Containers).map((c) => c.IPv4Address)).toEqual([`${hostAddr(s2!, 77)}/24`]);
    await dockerOk(['rm', '-f', 'pk']);
    await dockerOk(['network', 'rm', `${net}-di`]);
  });

  needs().it('keeps a container on its network across a container restart', async () => {
    await dockerOk(['restart', '-t', '1', 'pb']);
    const b = await ipOf('pb', net);
    expect((await exec('pa', ['ping', '-c', '2', '-W', '2', 'pb'])).stdout).toContain(b);
  });

  needs().it('keeps running containers connected across a pontoon restart (kill -9)', async () => {
    const b = await ipOf('pb', net);
    await world.daemon.kill9();
    await world.daemon.restart();
    expect((await exec('pa', ['ping', '-c', '2', '-W', '2', b])).code).toBe(0);
    expect((await exec('pa', ['ping', '-c', '1', '-W', '2', gateway])).code).toBe(0);
    // Docker's calls work on the restored network
    await runContainer('pd', net);
    expect((await exec('pd', ['ping', '-c', '1', '-W', '2', 'pa'])).code).toBe(0);
    await dockerOk(['rm', '-f', 'pd']);
  });

  needs().it('finds its networks after a dockerd restart and starts containers on them', async () => {
    await engine.restart();
    await dockerOk(['start', 'pa', 'pb']);
    const b = await ipOf('pb', net);
    expect((await exec('pa', ['ping', '-c', '2', '-W', '2', 'pb'])).stdout).toContain(b);
  });

  needs().it('cleans up after a dockerd killed under running containers', async () => {
    await dockerOk(['run', '-d', '--restart', 'always', '--name', 'pr', '--network', net, image, 'sleep', '3600']);
    await dockerOk(['update', '--restart', 'always', 'pa', 'pb']);
    await engine.kill9();
    await engine.restart();
    // Docker kills what ran, gives the endpoints back and starts the restart-policy containers anew
    const back = await waitFor(async () => (await exec('pa', ['ping', '-c', '1', '-W', '2', 'pr'])).code === 0, 30_000, 500);
    expect(back, engine.logTail(20)).toBe(true);
    const ours = Object.values((await world.daemon.inspect(net)).Containers).filter((c) => c.Name !== 'nsbox');
    // pc had no restart policy: Docker stopped it, and its endpoint went with it
    expect(ours.map((c) => c.Name).sort()).toEqual(['pa', 'pb', 'pr']);
    await dockerOk(['rm', '-f', 'pr']);
  });

  needs().it("answers Docker's mistakes with one clear line and leaves nothing half made", async () => {
    const overlap = await docker(['network', 'create', '-d', plugin, '--ipam-driver', plugin, '--subnet', subnet, `${net}-x`]);
    expect(overlap.code).not.toBe(0);
    expect(overlap.stderr).toMatch(/overlaps with/);
    const inUse = await docker(['run', '-d', '--name', 'px', '--network', net, '--ip', await ipOf('pa', net), image, 'sleep', '60']);
    expect(inUse.code).not.toBe(0);
    expect(inUse.stderr).toMatch(/already in use/);
    await docker(['rm', '-f', 'px']);
    const badOpt = await docker(['network', 'create', '-d', plugin, '-o', 'color=blue', `${net}-y`]);
    expect(badOpt.code).not.toBe(0);
    expect(badOpt.stderr).toMatch(/unknown option "color"/);
    // this daemon has no cluster: an overlay (with --ipv6 or not) has nowhere to claim its addresses
    const v6 = await docker(['network', 'create', '-d', plugin, '--ipam-driver', plugin, '--ipv6', '-o', 'pontoon.driver=overlay', `${net}-z`]);
    expect(v6.code).not.toBe(0);
    expect(v6.stderr).toMatch(/overlay networks need cluster.advertise/);
    const names = (await world.daemon.cliOk(['network', 'ls', '--format', 'json'])).stdout;
    for (const n of [`${net}-x`, `${net}-y`, `${net}-z`]) expect(names).not.toContain(`"${n}"`);
    const links = (await run(['ip', '-o', 'link', 'show'])).stdout;
    expect(links).not.toMatch(new RegExp(`${world.daemon.config.devicePrefix}d[0-9a-f]+`));
  });

  needs().it('removes everything: containers, endpoints and the network, in Docker and in pontoon', async () => {
    await dockerOk(['rm', '-f', 'pa', 'pb', 'pc']);
    await world.daemon.cliOk(['network', 'disconnect', net, `${world.prefix}-dn`]);
    expect(Object.keys((await world.daemon.inspect(net)).Containers)).toEqual([]);
    await dockerOk(['network', 'rm', net]);
    expect((await world.daemon.cli(['network', 'inspect', net])).code).not.toBe(0);
  });
});
