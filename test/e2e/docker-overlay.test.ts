// A Docker overlay network across two hosts: host A runs dockerd next to its pontoon (both in A's
// namespace), host B only pontoon; etcd is the cluster store. `docker network create -d pontoon
// -o pontoon.driver=overlay` on A makes the overlay in the cluster, B adopts it, and a Docker
// container on A reaches B's endpoint over VXLAN, by address and by name through pontoon's DNS.
import { afterAll, beforeAll, expect } from 'vitest';
import { busyboxRootfsTar } from './container-rootfs.js';
import { DockerEngine } from './docker-engine.js';
import { cleanupAll, hostAddr, makeTempDir, pickSubnets, randomHex, waitFor } from './harness.js';
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
});
