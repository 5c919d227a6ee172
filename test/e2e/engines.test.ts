// Docker's and Podman's containers on one pontoon network: Docker made the network (pontoon as its
// network and IPAM plugin), Podman joins it through pontoon-cni. They ping each other, find each
// other by name (Podman's through pontoon's DNS; Docker's through its 127.0.0.11, which forwards to
// the gateway given as --dns), and both engines' -p are reached from outside through the uplink.
import { afterAll, beforeAll, expect } from 'vitest';
import { pluginPath } from './cni-call.js';
import { busyboxRootfsTar } from './container-rootfs.js';
import { DockerEngine } from './docker-engine.js';
import { cleanupAll, hostAddr, makeTempDir, pickSubnets, randomHex, waitFor } from './harness.js';
import { type NatWorld, UPLINK_IP, buildNatWorld, cleanupNatWorlds } from './nat-world.js';
import { PodmanEngine } from './podman-engine.js';
import { compiledExecutable, needs, root, tools } from './requirements.js';

needs(root, tools('dockerd', 'podman', 'busybox', 'ip', 'ping', 'curl', 'nsenter'), compiledExecutable(pluginPath())).describe(
  'Docker and Podman containers on one pontoon network',
  () => {
    let world: NatWorld;
    let docker: DockerEngine;
    let podman: PodmanEngine;
    const tag = randomHex(3);
    const plugin = `pontoon-${tag}`;
    const dockerImage = `pte-bb-${tag}`;
    const podmanImage = `localhost/pte-bb-${tag}`;
    const net = `pte-mix-${tag}`;
    const dk = `pte-${tag}-dk`;
    const pm = `pte-${tag}-pm`;
    let gateway = '';

    beforeAll(async () => {
      docker = await DockerEngine.start();
      world = await buildNatWorld({
        kind: 'tap',
        set: { 'docker.enabled': true, 'docker.pluginSocket': `/run/docker/plugins/${plugin}.sock`, 'docker.apiSocket': docker.socket },
      });
      const tar = busyboxRootfsTar(makeTempDir('pte-img-'));
      await docker.importImage(tar, dockerImage);
      podman = new PodmanEngine();
      await podman.podmanOk(['import', tar, podmanImage]);
      const subnet = (await pickSubnets('10.95', 1))[0]!;
      gateway = hostAddr(subnet, 1);
      await docker.dockerOk(['network', 'create', '-d', plugin, '--ipam-driver', plugin, '--subnet', subnet, net]);
      // pontoon names it after Docker's network, then Podman gets its conflist
      const named = await waitFor(async () => (await world.daemon.cli(['network', 'inspect', net])).code === 0, 10_000, 200);
      if (!named) throw new Error(`pontoon never learnt Docker's name ${net}:\n${world.daemon.logTail(20)}`);
      await podman.addNetwork(world.daemon, net);
    }, 180_000);

    afterAll(async () => {
      const problems = docker === undefined ? [] : await docker.destroy();
      await podman?.destroy();
      problems.push(...(await cleanupNatWorlds()), ...(await cleanupAll()));
      expect(problems).toEqual([]);
    }, 180_000);

    needs().it('ping each other by address and by name, each through its own resolver', async () => {
      await docker.dockerOk(['run', '-d', '--name', dk, '--network', net, '--dns', gateway, '--cap-add', 'NET_RAW', '-p', '18091:80', dockerImage, 'httpd', '-f', '-p', '80', '-h', '/www']);
      await podman.podmanOk(['run', '-d', '--name', pm, '--network', net, '--cap-add', 'NET_RAW', '-p', '18092:80', podmanImage, 'httpd', '-f', '-p', '80', '-h', '/www']);
      const dkIp = (await docker.dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, dk])).trim();
      const pmIp = (await podman.address(pm)).split('/')[0]!;
      expect(dkIp).not.toBe(pmIp);
      expect((await docker.docker(['exec', dk, 'ping', '-c', '2', '-W', '2', pmIp])).code).toBe(0);
      expect((await podman.podman(['exec', pm, 'ping', '-c', '2', '-W', '2', dkIp])).code).toBe(0);
      // Podman's container asks pontoon's DNS, which learnt the Docker container's name from Docker's API
      const fromPodman = await waitFor(async () => (await podman.podman(['exec', pm, 'ping', '-c', '1', '-W', '2', dk])).stdout.includes(dkIp), 10_000, 300);
      expect(fromPodman, world.daemon.logTail(20)).toBe(true);
      // Docker's 127.0.0.11 does not know the Podman container: it forwards to --dns, pontoon's gateway
      const fromDocker = await docker.docker(['exec', dk, 'ping', '-c', '1', '-W', '2', pm]);
      expect(fromDocker.stdout).toContain(pmIp);
      // pontoon shows both engines' endpoints under their containers' names
      const names = Object.values((await world.daemon.inspect(net)).Containers).map((c) => c.Name).sort();
      expect(names).toEqual([dk, pm].sort());
    });

    needs().it("publishes both engines' -p through pontoon's NAT, reached from outside", async () => {
      expect((await world.curl(world.router, `http://${UPLINK_IP}:18091/`)).stdout).toBe('hello from a container\n');
      expect((await world.curl(world.router, `http://${UPLINK_IP}:18092/`)).stdout).toBe('hello from a container\n');
      await docker.dockerOk(['rm', '-f', dk]);
      await podman.podmanOk(['rm', '-f', '-t', '0', pm]);
      expect(Object.keys((await world.daemon.inspect(net)).Containers)).toEqual([]);
      await docker.dockerOk(['network', 'rm', net]);
      expect((await world.daemon.cli(['network', 'inspect', net])).code).not.toBe(0);
    });
  },
);
