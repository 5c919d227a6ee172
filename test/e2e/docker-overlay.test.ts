// A Docker overlay network across two hosts: host A runs dockerd next to its pontoon (both in A's
// namespace), host B only pontoon; etcd is the cluster store. `docker network create -d pontoon
// -o pontoon.driver=overlay` on A makes the overlay in the cluster, B adopts it, and a Docker
// container on A reaches B's endpoint over VXLAN, by address and by name through pontoon's DNS.
import { afterAll, beforeAll, expect } from 'vitest';
import { busyboxRootfsTar } from './container-rootfs.js';
import { DockerEngine } from './docker-engine.js';
import { cleanupAll, hostAddr, makeTempDir, nsExecOk, pickSubnets, randomHex, waitFor } from './harness.js';
import { type OverlayHost, type OverlayWorld, buildOverlayWorld, cleanupOverlayWorlds, ETCD_BIN } from './overlay-world.js';
import { etcdServer, needs, root, tools } from './requirements.js';

needs(root, tools('dockerd', 'busybox', 'ip', 'ping', 'ethtool'), etcdServer(ETCD_BIN)).describe('Docker overlay networks across hosts', () => {
  let world: OverlayWorld;
  let engine: DockerEngine;
  let a: OverlayHost;
  let b: OverlayHost;
  const plugin = `pontoon-${randomHex(3)}`;
  const image = `pte-bb-${randomHex(3)}`;
  const net = `pte-ov-${randomHex(2)}`;

  beforeAll(async () => {
    world = await buildOverlayWorld({ store: 'etcd' });
    engine = DockerEngine.prepare();
    a = await world.addHost('a', {
      set: { 'docker.enabled': true, 'docker.pluginSocket': `/run/docker/plugins/${plugin}.sock`, 'docker.apiSocket': engine.socket },
    });
    b = await world.addHost('b');
    await engine.launch(a.ns);
    await engine.importImage(busyboxRootfsTar(makeTempDir('pte-dkimg-')), image);
  }, 180_000);

  afterAll(async () => {
    const problems = engine === undefined ? [] : await engine.destroy();
    await cleanupOverlayWorlds();
    problems.push(...(await cleanupAll()));
    expect(problems).toEqual([]);
  }, 180_000);

  needs().it('makes the overlay in the cluster; the other host adopts it and its endpoint is reached from a Docker container', async () => {
    const subnet = (await pickSubnets('10.94', 1))[0]!;
    const gateway = hostAddr(subnet, 1);
    await engine.dockerOk(['network', 'create', '-d', plugin, '--ipam-driver', plugin, '--subnet', subnet, '-o', 'pontoon.driver=overlay', '-o', `pontoon.name=${net}`, net]);
    const adopted = await waitFor(async () => (await b.daemon.cli(['network', 'inspect', net])).code === 0, 15_000, 200);
    expect(adopted, b.daemon.logTail(20)).toBe(true);
    const onA = await a.daemon.inspect(net);
    expect(onA.Labels['com.docker.network.id']).toMatch(/^[0-9a-f]{64}$/);
    expect(onA.Options['com.docker.network.driver.mtu']).toBe('1450');
    const c1 = await world.connect(b, 'c1', net, ['--name', 'c1']);
    await engine.dockerOk(['run', '-d', '--name', 'oa', '--network', net, '--cap-add', 'NET_RAW', '--dns', gateway, image, 'sleep', '3600']);
    const ip = (await engine.dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, 'oa'])).trim();
    // the cluster's allocator gave it an address no other host has
    expect(ip).not.toBe(c1.ip);
    expect((await engine.docker(['exec', 'oa', 'ip', '-o', 'link', 'show', 'eth0'])).stdout).toMatch(/mtu 1450/);
    const reached = await waitFor(async () => (await engine.docker(['exec', 'oa', 'ping', '-c', '1', '-W', '1', c1.ip])).code === 0, 15_000, 300);
    expect(reached, a.daemon.logTail(20)).toBe(true);
    // B's endpoint by its name: Docker's DNS forwards to --dns, pontoon's gateway on A, which knows the cluster's names
    const byName = await engine.docker(['exec', 'oa', 'ping', '-c', '1', '-W', '2', 'c1']);
    expect(byName.stdout).toContain(c1.ip);
    await engine.dockerOk(['rm', '-f', 'oa']);
    await b.daemon.cliOk(['network', 'disconnect', net, c1.ns]);
    await engine.dockerOk(['network', 'rm', net]);
    const gone = await waitFor(async () => (await b.daemon.cli(['network', 'inspect', net])).code !== 0, 15_000, 200);
    expect(gone).toBe(true);
  });

  needs().it('with --ipv6: the other host adopts the IPv6 side, addresses are claimed cluster-wide, and ping -6 crosses from a Docker container', async () => {
    const subnet = (await pickSubnets('10.95', 1))[0]!;
    const group = () => (0x8000 | parseInt(randomHex(2), 16)).toString(16);
    const subnet6 = `fd${randomHex(1)}:${group()}:${group()}:${group()}::/64`;
    const net6 = `${net}-6`;
    await engine.dockerOk(['network', 'create', '-d', plugin, '--ipam-driver', plugin, '--ipv6', '--subnet', subnet, '--subnet', subnet6, '-o', 'pontoon.driver=overlay', '-o', `pontoon.name=${net6}`, net6]);
    const adopted = await waitFor(async () => (await b.daemon.cli(['network', 'inspect', net6])).code === 0, 15_000, 200);
    expect(adopted, b.daemon.logTail(20)).toBe(true);
    const onB = await b.daemon.inspect(net6);
    expect(onB.EnableIPv6).toBe(true);
    expect(onB.IPAM.Config.map((c) => c.Subnet)).toEqual([subnet, subnet6]);
    const c1 = await world.connect(b, 'c6', net6);
    const c1ip6 = (await nsExecOk(c1.ns, ['ip', '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'])).stdout.match(/inet6 ([0-9a-f:]+)\//)![1]!;
    await engine.dockerOk(['run', '-d', '--name', 'oa6', '--network', net6, '--cap-add', 'NET_RAW', image, 'sleep', '3600']);
    const ip6 = (await engine.dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net6}").GlobalIPv6Address}}`, 'oa6'])).trim();
    // the cluster's allocator: an IPv6 address of the subnet that the other host's endpoint does not have
    expect(ip6.startsWith(subnet6.split('::')[0]!)).toBe(true);
    expect(ip6).not.toBe(c1ip6);
    const reached = await waitFor(async () => (await engine.docker(['exec', 'oa6', 'ping', '-6', '-c', '1', '-W', '1', c1ip6])).code === 0, 15_000, 300);
    expect(reached, a.daemon.logTail(20)).toBe(true);
    await engine.dockerOk(['rm', '-f', 'oa6']);
    await b.daemon.cliOk(['network', 'disconnect', net6, c1.ns]);
    await engine.dockerOk(['network', 'rm', net6]);
    expect(await waitFor(async () => (await b.daemon.cli(['network', 'inspect', net6])).code !== 0, 15_000, 200)).toBe(true);
  });
});
