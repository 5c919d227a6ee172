/**
 * pontoon-cni called as cnitool calls a plugin (environment + network configuration on stdin)
 * against a daemon with an uplink (the NAT world): ADD gives a namespace an address, a route and
 * the embedded DNS; CHECK; DEL (twice, with an empty CNI_NETNS, after the namespace vanished);
 * runtimeConfig port mappings reachable from outside; CNI_ARGS IP=; and the error JSON for bad
 * configurations, an unknown network and a daemon that is down.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { callPlugin, pluginPath } from './cni-call.js';
import { cleanupAll, createNetns, deleteNetns, freePort, hostAddr, makeTempDir, nsExec, nsIPv4, ping, randomHex } from './harness.js';
import { type NatWorld, UPLINK_IP, buildNatWorld, cleanupNatWorlds } from './nat-world.js';
import { compiledExecutable, needs, root, tools } from './requirements.js';

const suite = needs(root, tools('ip', 'ping', 'dig', 'curl', 'nsenter', 'timeout'), compiledExecutable(pluginPath()));

let world: NatWorld;
let prefix: string;
const cid = (): string => randomHex(32);

function conf(o: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.0.0', name: 'bridge', type: 'pontoon-cni', network: 'bridge', socket: world.daemon.config.api.socket, ...o };
}

const nsPath = (ns: string): string => `/run/netns/${ns}`;

suite.describe('pontoon-cni called directly (e2e)', () => {
  beforeAll(async () => {
    world = await buildNatWorld({ kind: 'tap' });
    prefix = world.prefix;
  }, 60_000);

  afterAll(async () => {
    await cleanupNatWorlds();
    await cleanupAll();
  });

  it('ADD attaches the namespace, which pings the gateway and is found by name; CHECK passes; DEL twice and with an empty CNI_NETNS succeed', async () => {
    const ns = await createNetns(`${prefix}-c1`);
    const id = cid();
    const add = await callPlugin({ command: 'ADD', containerId: id, netns: nsPath(ns), ifName: 'eth0', args: 'IgnoreUnknown=1;K8S_POD_NAME=web1', config: conf({ runtimeConfig: { aliases: { bridge: ['www1'] } } }) });
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const [addr] = await nsIPv4(ns, 'eth0');
    expect(addr).toMatch(/^172\.30\./);
    const mac = (await nsExec(ns, ['cat', '/sys/class/net/eth0/address'])).stdout.trim();
    expect(add.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac, sandbox: nsPath(ns) }],
      ips: [{ interface: 0, address: addr, gateway: world.gateway }],
      routes: [{ dst: '0.0.0.0/0', gw: world.gateway }],
      dns: { nameservers: [world.gateway] },
    });
    expect((await ping(ns, world.gateway, { count: 2 })).received).toBe(2);

    // another container on the network resolves it by its name and its alias
    const other = await world.connect('peer');
    const ip = addr!.split('/')[0]!;
    for (const name of ['web1', 'www1']) {
      const r = await nsExec(other.ns, ['dig', '+short', '+time=3', '+tries=1', `@${world.gateway}`, name], { timeoutMs: 10_000 });
      expect(r.stdout.trim(), name).toBe(ip);
    }
    expect((await ping(other.ns, ip, { count: 2 })).received).toBe(2);
    const listed = Object.values((await world.daemon.inspect('bridge')).Containers).find((c) => c.Name === 'web1') as { ContainerID?: string; Interface: string } | undefined;
    expect(listed).toMatchObject({ ContainerID: id, Interface: 'eth0' });

    const check = await callPlugin({ command: 'CHECK', containerId: id, netns: nsPath(ns), ifName: 'eth0', config: conf({ prevResult: add.json }) });
    expect(check).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const wrong = await callPlugin({ command: 'CHECK', containerId: id, netns: nsPath(ns), ifName: 'eth0', config: conf({ prevResult: { ...(add.json as object), ips: [{ address: '172.30.255.250/24' }] } }) });
    expect(wrong.code).toBe(1);
    expect(wrong.json).toEqual({ cniVersion: '1.0.0', code: 102, msg: `container ${id} (eth0) has ${addr} on network bridge, the previous result says 172.30.255.250/24` });

    const del = await callPlugin({ command: 'DEL', containerId: id, netns: nsPath(ns), ifName: 'eth0', config: conf({ prevResult: add.json }) });
    expect(del).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect((await nsExec(ns, ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
    const empty = await nsExec(other.ns, ['dig', '+short', '+time=3', '+tries=1', `@${world.gateway}`, 'web1'], { timeoutMs: 10_000 });
    expect(empty.stdout.trim()).toBe('');
    expect(await callPlugin({ command: 'DEL', containerId: id, netns: nsPath(ns), ifName: 'eth0', config: conf() })).toMatchObject({ code: 0, stdout: '' });
    expect(await callPlugin({ command: 'DEL', containerId: id, netns: '', ifName: 'eth0', config: conf() })).toMatchObject({ code: 0, stdout: '' });
    const after = await callPlugin({ command: 'CHECK', containerId: id, netns: nsPath(ns), ifName: 'eth0', config: conf({ prevResult: add.json }) });
    expect(after.json).toEqual({ cniVersion: '1.0.0', code: 102, msg: `container ${id} (eth0) is not connected to network bridge` });
  }, 60_000);

  it('publishes runtimeConfig port mappings through the NAT: reachable from outside on the uplink; hostIP 127.0.0.1 on the host only', async () => {
    const ns = await createNetns(`${prefix}-c2`);
    const id = cid();
    const local = await freePort();
    const add = await callPlugin({
      command: 'ADD',
      containerId: id,
      netns: nsPath(ns),
      ifName: 'eth0',
      config: conf({ cniVersion: '0.4.0', runtimeConfig: { portMappings: [
        { hostPort: 18080, containerPort: 8080, protocol: 'tcp' },
        { hostPort: local, containerPort: 8080, protocol: 'tcp', hostIP: '127.0.0.1' },
      ] } }),
    });
    expect(add.code, add.stdout).toBe(0);
    expect((add.json as { ips: unknown[] }).ips).toEqual([{ version: '4', interface: 0, address: expect.stringMatching(/^172\.30\./), gateway: world.gateway }]);
    const server = await world.httpServer(ns, '0.0.0.0', 8080, world.webRoot('c2', 'published through pontoon-cni\n'));
    const r = await world.curl(world.router, `http://${UPLINK_IP}:18080/`);
    expect(r.stdout).toBe('published through pontoon-cni\n');
    expect((await world.curl(null, `http://127.0.0.1:${local}/`)).stdout).toBe('published through pontoon-cni\n');
    expect((await world.curl(world.router, `http://${UPLINK_IP}:${local}/`, ['--connect-timeout', '2'])).code).not.toBe(0);
    await server.stop();
    expect((await callPlugin({ command: 'DEL', containerId: id, netns: nsPath(ns), ifName: 'eth0', config: conf({ cniVersion: '0.4.0' }) })).code).toBe(0);
    const gone = await world.curl(world.router, `http://${UPLINK_IP}:18080/`, ['--connect-timeout', '2']);
    expect(gone.code).not.toBe(0);
  }, 60_000);

  it('honours CNI_ARGS IP= and the interface name', async () => {
    const ns = await createNetns(`${prefix}-c3`);
    const id = cid();
    const want = hostAddr(world.subnet, 77);
    const add = await callPlugin({ command: 'ADD', containerId: id, netns: nsPath(ns), ifName: 'net7', args: `IP=${want}`, config: conf() });
    expect(add.code, add.stdout).toBe(0);
    expect(await nsIPv4(ns, 'net7')).toEqual([`${want}/24`]);
    expect((add.json as { interfaces: { name: string }[] }).interfaces[0]!.name).toBe('net7');
    // the same address again: the daemon's refusal, as pontoon's code 100
    const ns2 = await createNetns(`${prefix}-c4`);
    const taken = await callPlugin({ command: 'ADD', containerId: cid(), netns: nsPath(ns2), ifName: 'eth0', args: `IP=${want}`, config: conf() });
    expect(taken.code).toBe(1);
    expect(taken.json).toMatchObject({ cniVersion: '1.0.0', code: 100, msg: expect.stringContaining(want) });
    expect((await callPlugin({ command: 'DEL', containerId: id, netns: nsPath(ns), ifName: 'net7', config: conf() })).code).toBe(0);
  }, 60_000);

  it('DEL after the namespace vanished removes the endpoint; ADD into a vanished namespace is code 3', async () => {
    const ns = await createNetns(`${prefix}-c5`);
    const id = cid();
    expect((await callPlugin({ command: 'ADD', containerId: id, netns: nsPath(ns), ifName: 'eth0', args: 'K8S_POD_NAME=gone1', config: conf() })).code).toBe(0);
    await deleteNetns(ns);
    const del = await callPlugin({ command: 'DEL', containerId: id, netns: nsPath(ns), ifName: 'eth0', config: conf() });
    expect(del).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(Object.values((await world.daemon.inspect('bridge')).Containers).map((c) => c.Name)).not.toContain('gone1');
    const add = await callPlugin({ command: 'ADD', containerId: id, netns: nsPath(ns), ifName: 'eth0', config: conf() });
    expect(add).toMatchObject({ code: 1, stderr: '' });
    expect(add.json).toEqual({ cniVersion: '1.0.0', code: 3, msg: `network namespace ${nsPath(ns)} does not exist` });
  }, 60_000);

  it('answers bad configurations, an unknown network and a daemon that is down with the CNI error JSON', async () => {
    const ns = await createNetns(`${prefix}-c6`);
    const base = { command: 'ADD', containerId: cid(), netns: nsPath(ns), ifName: 'eth0' };
    const cases: [Record<string, unknown> | string, unknown][] = [
      [{ cniVersion: '1.0.0', name: 'x', type: 'pontoon-cni' }, { cniVersion: '1.0.0', code: 7, msg: 'invalid network configuration: "network" is missing' }],
      [conf({ type: 'bridge' }), { cniVersion: '1.0.0', code: 7, msg: 'invalid network configuration: "type" is "bridge", this plugin is "pontoon-cni"' }],
      ['{"cniVersion": "1.0.0", "name": ', { cniVersion: '1.0.0', code: 6, msg: 'cannot decode the network configuration: it is not JSON', details: expect.any(String) }],
      [conf({ network: 'nope' }), { cniVersion: '1.0.0', code: 101, msg: 'network nope not found' }],
      [conf({ socket: `${makeTempDir('pte-cni-')}/absent.sock` }), { cniVersion: '1.0.0', code: 11, msg: expect.stringMatching(/^cannot reach the pontoon daemon at .*absent\.sock: is it running\? \(ENOENT\)$/) }],
    ];
    for (const [config, json] of cases) {
      const r = await callPlugin({ ...base, config });
      expect(r, JSON.stringify(config)).toMatchObject({ code: 1, stderr: '' });
      expect(r.json).toEqual(json);
    }
    expect((await nsExec(ns, ['ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
    const v = await callPlugin({ command: 'VERSION', config: { cniVersion: '1.0.0' } });
    expect(v).toMatchObject({ code: 0, stderr: '' });
    expect(v.json).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] });
  }, 60_000);
});
