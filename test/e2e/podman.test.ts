/**
 * Podman 4.3 on its CNI backend as the real runtime of pontoon networks: the test gives Podman its
 * own configuration (CONTAINERS_CONF: network_backend "cni", a network_config_dir holding the
 * conflists `pontoon cni conflist` printed, a cni_plugin_dirs holding a link to the built
 * pontoon-cni) and its own storage (CONTAINERS_STORAGE_CONF), imports a busybox image with no
 * registry, and runs containers on pontoon networks: addresses, ping, names through pontoon's
 * DNS, `-p` from outside through the uplink, `podman network connect/disconnect`, `podman
 * restart`; and afterwards nothing is left (namespaces, links, files).
 */
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pluginPath } from './cni-call.js';
import { busyboxRootfsTar } from './container-rootfs.js';
import { cleanupAll, createNetns, hostAddr, nsIPv4, pickSubnets, ping, randomHex, runOk } from './harness.js';
import { type NatWorld, UPLINK_IP, buildNatWorld, cleanupNatWorlds } from './nat-world.js';
import { PODMAN_SIDE_PATHS, PodmanEngine } from './podman-engine.js';
import { compiledExecutable, needs, root, tools } from './requirements.js';

const suite = needs(root, tools('podman', 'busybox', 'ip', 'ping', 'curl', 'nsenter', 'timeout'), compiledExecutable(pluginPath()));

let world: NatWorld;
let engine: PodmanEngine;
const tag = randomHex(3);
const IMAGE = `localhost/pte-busybox-${tag}`;
const NET_A = `pte${tag}a`;
const NET_B = `pte${tag}b`;
const C1 = `pte-${tag}-c1`;
const C2 = `pte-${tag}-c2`;
const ALIAS = `web-${tag}`;
let gwA = '';
let gwB = '';
let before: { netns: string[]; links: string[]; etcNetns: string[]; sidePaths: string[] };

const podman = (args: string[], timeoutMs = 60_000) => engine.podman(args, timeoutMs);
const podmanOk = (args: string[], timeoutMs = 60_000) => engine.podmanOk(args, timeoutMs, world.daemon.logTail(20));
const containerAddress = (name: string, ifName = 'eth0') => engine.address(name, ifName);

const ls = (d: string): string[] => (existsSync(d) ? readdirSync(d).sort() : []);
const hostLinks = async (): Promise<string[]> =>
  (JSON.parse((await runOk(['ip', '-j', 'link', 'show'])).stdout) as { ifname: string }[]).map((l) => l.ifname).sort();

async function snapshot(): Promise<typeof before> {
  return { netns: ls('/run/netns'), links: await hostLinks(), etcNetns: ls('/etc/netns'), sidePaths: PODMAN_SIDE_PATHS.filter((p) => existsSync(p)) };
}

suite.describe('Podman 4.3 on pontoon networks through pontoon-cni (e2e)', () => {
  beforeAll(async () => {
    before = await snapshot();
    world = await buildNatWorld({ kind: 'tap' });
    const [subA, subB] = await pickSubnets('10.77', 2);
    gwA = hostAddr(subA!, 1);
    gwB = hostAddr(subB!, 1);
    await world.daemon.cliOk(['network', 'create', '--subnet', subA!, NET_A]);
    await world.daemon.cliOk(['network', 'create', '--subnet', subB!, NET_B]);

    engine = new PodmanEngine();
    for (const net of [NET_A, NET_B]) await engine.addNetwork(world.daemon, net);
    await podmanOk(['import', busyboxRootfsTar(engine.dir), IMAGE]);
  }, 120_000);

  afterAll(async () => {
    await engine?.destroy();
    await cleanupNatWorlds();
    await cleanupAll();
  }, 120_000);

  it('`podman run --network NET` gets an address of the network and pings the gateway and a namespace endpoint', async () => {
    await podmanOk(['run', '-d', '--name', C1, '--network', NET_A, '--network-alias', ALIAS, '--cap-add', 'NET_RAW', '-p', '18081:80', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www']);
    const addr = await containerAddress(C1);
    expect(addr.startsWith(gwA.replace(/\.1$/, '.'))).toBe(true);
    const inspect = await world.daemon.inspect(NET_A);
    const ep = Object.values(inspect.Containers).find((c) => c.Name === C1);
    expect(ep).toMatchObject({ IPv4Address: addr, Interface: 'eth0' });
    expect((await podmanOk(['exec', C1, 'ping', '-c', '2', '-W', '2', gwA])).stdout).toMatch(/2 packets received/);

    const ns = await createNetns(`${world.prefix}-pn`);
    await world.daemon.cliOk(['network', 'connect', NET_A, ns]);
    const [nsAddr] = await nsIPv4(ns, 'eth0');
    expect((await podmanOk(['exec', C1, 'ping', '-c', '2', '-W', '2', nsAddr!.split('/')[0]!])).stdout).toMatch(/2 packets received/);
    expect((await ping(ns, addr.split('/')[0]!, { count: 2 })).received).toBe(2);
    await world.daemon.cliOk(['network', 'disconnect', NET_A, ns]);
  }, 120_000);

  it('two Podman containers reach each other by name and alias through pontoon\'s DNS; --ip is honoured', async () => {
    const fixed = gwA.replace(/\.1$/, '.50');
    await podmanOk(['run', '-d', '--name', C2, '--network', NET_A, '--ip', fixed, '--cap-add', 'NET_RAW', IMAGE, 'sleep', '600']);
    expect(await containerAddress(C2)).toBe(`${fixed}/24`);
    const resolv = (await podmanOk(['exec', C2, 'cat', '/etc/resolv.conf'])).stdout;
    expect(resolv.split('\n')[0]).toBe(`nameserver ${gwA}`);
    const c1 = (await containerAddress(C1)).split('/')[0]!;
    const lookup = await podmanOk(['exec', C2, 'nslookup', C1, gwA]);
    expect(lookup.stdout).toContain(`Address: ${c1}`);
    expect((await podmanOk(['exec', C2, 'ping', '-c', '2', '-W', '2', C1])).stdout).toContain(`bytes from ${c1}`);
    expect((await podmanOk(['exec', C2, 'nslookup', ALIAS, gwA])).stdout).toContain(`Address: ${c1}`);
    // and back: the container of the first one resolves the second
    expect((await podmanOk(['exec', C1, 'nslookup', C2, gwA])).stdout).toContain(`Address: ${fixed}`);
  }, 120_000);

  it('`-p` is published through pontoon\'s NAT: reachable from outside through the uplink', async () => {
    const r = await world.curl(world.router, `http://${UPLINK_IP}:18081/`);
    expect(r.stdout).toBe('hello from a container\n');
  }, 60_000);

  it('`podman network connect/disconnect` of a second pontoon network', async () => {
    await podmanOk(['network', 'connect', NET_B, C2]);
    const addr = await containerAddress(C2, 'eth1');
    expect(Object.values((await world.daemon.inspect(NET_B)).Containers).map((c) => [c.Name, c.IPv4Address, c.Interface])).toEqual([[C2, addr, 'eth1']]);
    expect((await podmanOk(['exec', C2, 'ping', '-c', '2', '-W', '2', gwB])).stdout).toMatch(/2 packets received/);
    await podmanOk(['network', 'disconnect', NET_B, C2]);
    // Podman drops the left network's nameserver from resolv.conf: the first network's stays
    expect((await podmanOk(['exec', C2, 'cat', '/etc/resolv.conf'])).stdout.split('\n')[0]).toBe(`nameserver ${gwA}`);
    expect((await podman(['exec', C2, 'ip', 'link', 'show', 'eth1'])).code).not.toBe(0);
    expect(Object.keys((await world.daemon.inspect(NET_B)).Containers)).toEqual([]);
  }, 120_000);

  it('`podman restart` keeps the container on its network, its name and its published port', async () => {
    await podmanOk(['restart', '-t', '0', C1], 120_000);
    const addr = await containerAddress(C1);
    const eps = Object.values((await world.daemon.inspect(NET_A)).Containers).filter((c) => c.Name === C1);
    expect(eps.map((c) => c.IPv4Address)).toEqual([addr]);
    expect((await podmanOk(['exec', C2, 'ping', '-c', '2', '-W', '2', C1])).stdout).toContain(`bytes from ${addr.split('/')[0]}`);
    expect((await world.curl(world.router, `http://${UPLINK_IP}:18081/`)).stdout).toBe('hello from a container\n');
  }, 180_000);

  it('removing the containers leaves no endpoint, namespace, link or file behind', async () => {
    await podmanOk(['rm', '-f', '-t', '0', C1, C2], 120_000);
    expect(Object.keys((await world.daemon.inspect(NET_A)).Containers)).toEqual([]);
    const gone = await world.curl(world.router, `http://${UPLINK_IP}:18081/`, ['--connect-timeout', '2']);
    expect(gone.code).not.toBe(0);
    const now = await snapshot();
    expect(now.netns.filter((n) => !before.netns.includes(n) && !n.startsWith(world.prefix))).toEqual([]);
    expect(now.etcNetns.filter((n) => !before.etcNetns.includes(n))).toEqual([]);
    // the world's own devices (prefixes "pt" + its tag, the daemon's "pe") are removed by its cleanup
    const daemonPrefix = world.daemon.config.devicePrefix;
    expect(now.links.filter((l) => !before.links.includes(l) && !l.startsWith(daemonPrefix) && l !== world.uplinkDevice)).toEqual([]);
    expect(ls('/etc/cni/net.d').filter((f) => f.includes(tag))).toEqual([]);
  }, 120_000);
});
