// Docker's network and IPAM driver calls as Docker 20.10 makes them (bodies copied from a real
// dockerd's requests), through the plugin's dispatcher, over fake devices and a fake data plane:
// what each call makes, in order; the answers in the protocol's shape; errors as {"Err"} and
// {"Error"}; calls repeated or made for what is gone; and a daemon restart under it all.

import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { pluginDispatcher } from '../../../../src/control/docker/plugin-server.js';
import { PluginStats } from '../../../../src/control/docker/plugin-stats.js';
import type { NetworkService } from '../../../../src/control/network-service.js';
import { FakeCluster, FakeHost, testConfig } from '../network/fake-host.js';

const NET = '854441cc2e5beebce3dfa6e7fb3ed6175f6a976d8f8737f445d3ee9b82a2bc18';
const EP = '0880cf9961015a64d6c5872f10a5381b270459964137c09b39cc6f3407d6e2a5';
const EP2 = 'c122c814062f62ff05358eb44a44ed337529c5a99dabf69aa0fe944ba1f14ad7';
const SANDBOX = '/run/netns/sbx';

const running: NetworkService[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.shutdown();
});

async function started(host = newHost()) {
  const d = host.daemon();
  running.push(d.service);
  await d.service.restore();
  const dispatch = pluginDispatcher(d.service.docker!.network, d.service.docker!.ipam, d.service.queue, pino({ level: 'silent' }));
  const call = async (path: string, body: unknown = {}): Promise<Record<string, unknown>> => {
    const r = await dispatch(path, async () => body);
    expect(r.status).toBe(200);
    return r.body as Record<string, unknown>;
  };
  return { host, ...d, call };
}

function newHost(): FakeHost {
  // no Docker API to ask for names: the follow-up only learns the sandbox and the device
  // the sandbox's namespace appears when Docker starts the container, after Join (startContainer)
  const host = new FakeHost(testConfig({ docker: { enabled: true, apiSocket: null } }));
  host.devices.addNamespace('c1');
  return host;
}

const portmap = (hostPort: number, end = hostPort) => ({
  'com.docker.network.endpoint.exposedports': [{ Proto: 6, Port: 80 }],
  'com.docker.network.portmap': [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: hostPort, HostPortEnd: end }],
});

/** What Docker does after Join: the container's namespace, and the TAP moved into it as eth0. */
function startContainer(host: FakeHost, tap = 'ptd0880cf996101', ifName = 'eth0'): void {
  try {
    host.devices.resolveNetns(SANDBOX);
  } catch {
    host.devices.addNamespace('sbx');
  }
  host.devices.moveHostTap(tap, 'sbx', ifName);
}

/** What `docker network create -d pontoon --ipam-driver pontoon [--subnet S] NAME` does. */
async function createNetwork(call: (p: string, b?: unknown) => Promise<Record<string, unknown>>, pool = '', options: Record<string, unknown> = {}) {
  const p = await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: pool, SubPool: '', Options: {}, V6: false });
  const gw = await call('/IpamDriver.RequestAddress', { PoolID: p.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  const created = await call('/NetworkDriver.CreateNetwork', {
    NetworkID: NET,
    Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': options },
    IPv4Data: [{ AddressSpace: 'pontoon', Gateway: gw.Address, Pool: p.Pool }],
    IPv6Data: [],
  });
  return { pool: p, gateway: gw, created };
}

/** What `docker run --network NAME [-p ...]` does, up to the container's start. */
async function runContainer(call: (p: string, b?: unknown) => Promise<Record<string, unknown>>, poolId: unknown, id = EP, options: Record<string, unknown> = {}) {
  const addr = await call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: null });
  const ep = await call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: id, Interface: { Address: addr.Address, AddressIPv6: '', MacAddress: '' }, Options: options });
  const join = await call('/NetworkDriver.Join', { NetworkID: NET, EndpointID: id, SandboxKey: SANDBOX, Options: options });
  const pec = await call('/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: id, Options: options });
  return { addr, ep, join, pec };
}

describe("Docker's plugin calls", () => {
  it('activates as a network and an IPAM driver of local scope', async () => {
    const { call } = await started();
    expect(await call('/Plugin.Activate')).toEqual({ Implements: ['NetworkDriver', 'IpamDriver'] });
    expect(await call('/NetworkDriver.GetCapabilities')).toEqual({ Scope: 'local', ConnectivityScope: 'local' });
    expect(await call('/IpamDriver.GetDefaultAddressSpaces')).toEqual({ LocalDefaultAddressSpace: 'pontoon', GlobalDefaultAddressSpace: 'pontoon-global' });
  });

  it('gives a free pool, the gateway, makes the network and names it after Docker until told better', async () => {
    const { host, service, call } = await started();
    const mark = host.journal.mark;
    const { pool, gateway } = await createNetwork(call, '', { 'com.docker.network.driver.mtu': '1400' });
    // the default network has 172.17.0.0/16: the next default pool
    expect(pool).toEqual({ PoolID: 'pontoon/172.18.0.0/16', Pool: '172.18.0.0/16', Data: {} });
    expect(gateway).toEqual({ Address: '172.18.0.1/16', Data: {} });
    expect(host.journal.since(mark)).toEqual(['save', 'save', 'network+ 1 docker-854441cc2e5b', 'route+ 172.18.0.0/16', 'save', 'save']);
    const n = service.inspectNetwork('docker-854441cc2e5b');
    expect(n.Labels).toEqual({ 'com.docker.network.id': NET });
    expect(n.Options['com.docker.network.driver.mtu']).toBe('1400');
    expect(n.IPAM.Config).toEqual([{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }]);
  });

  it('joins a container: the TAP in the host namespace with its MAC and MTU, the port, then -p through the NAT', async () => {
    const { host, service, call } = await started();
    const { pool } = await createNetwork(call);
    const mark = host.journal.mark;
    const { addr, ep, join, pec } = await runContainer(call, pool.PoolID, EP, portmap(8080));
    expect(addr).toEqual({ Address: '172.18.0.2/16', Data: {} });
    expect(ep).toEqual({ Interface: { MacAddress: '02:42:ac:12:00:02' } });
    expect(join).toEqual({ InterfaceName: { SrcName: 'ptd0880cf996101', DstPrefix: 'eth' }, Gateway: '172.18.0.1', DisableGatewayService: false });
    expect(pec).toEqual({});
    expect(host.journal.since(mark)).toEqual([
      'save',
      'save',
      'host-tap+ ptd0880cf996101 02:42:ac:12:00:02 mtu 1500',
      'port+ 1 ptd0880cf996101@0880cf996101 172.18.0.2',
      'save',
      'publish+ tcp/8080 172.18.0.2:80',
      'save',
    ]);
    // Docker moves it in and names it eth0; the follow-up learns both
    startContainer(host);
    await expect.poll(() => service.inspectNetwork(NET).Containers[EP]?.Interface, { timeout: 3000 }).toBe('eth0');
    await expect.poll(() => service.ports(SANDBOX), { timeout: 3000 }).toEqual([{ proto: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, network: 'docker-854441cc2e5b', containerIp: '172.18.0.2' }]);
  });

  it('takes it all back on Revoke, Leave, DeleteEndpoint, ReleaseAddress, ReleasePool and DeleteNetwork', async () => {
    const { host, service, call } = await started();
    const { pool } = await createNetwork(call);
    await runContainer(call, pool.PoolID, EP, portmap(8080));
    startContainer(host);
    const mark = host.journal.mark;
    for (const [path, body] of [
      ['/NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET, EndpointID: EP }],
      ['/NetworkDriver.Leave', { NetworkID: NET, EndpointID: EP }],
      ['/NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP }],
      ['/IpamDriver.ReleaseAddress', { PoolID: pool.PoolID, Address: '172.18.0.2' }],
      ['/IpamDriver.ReleaseAddress', { PoolID: pool.PoolID, Address: '172.18.0.1' }],
      ['/IpamDriver.ReleasePool', { PoolID: pool.PoolID }],
      ['/NetworkDriver.DeleteNetwork', { NetworkID: NET }],
    ] as const) {
      expect(await call(path, body)).toEqual({});
    }
    expect(host.journal.since(mark)).toEqual([
      'publish- tcp/8080',
      'save',
      'port- 1',
      'tap- sbx/eth0',
      'save',
      'save',
      'save',
      'save',
      'save',
      'network- 1',
      'route- 172.18.0.0/16',
      'save',
    ]);
    expect(service.listNetworks().map((n) => n.Name)).toEqual(['bridge']);
    // the same calls again (after a restart of either daemon they come): nothing to do, no error
    expect(await call('/NetworkDriver.Leave', { NetworkID: NET, EndpointID: EP })).toEqual({});
    expect(await call('/NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP })).toEqual({});
    expect(await call('/IpamDriver.ReleasePool', { PoolID: pool.PoolID })).toEqual({});
    expect(await call('/NetworkDriver.DeleteNetwork', { NetworkID: NET })).toEqual({});
  });

  it('picks the first free host port of a range (-p 8000-8001:80)', async () => {
    const { host, service, call } = await started();
    await service.connect('bridge', { netns: 'c1', publish: ['8000:81'] });
    const { pool } = await createNetwork(call);
    await runContainer(call, pool.PoolID, EP, portmap(8000, 8001));
    startContainer(host);
    await expect.poll(() => service.ports(SANDBOX).map((m) => `${m.hostPort}:${m.containerPort}`), { timeout: 3000 }).toEqual(['8001:80']);
  });

  it('takes the address of another IPAM driver (Docker default) and refuses one in use', async () => {
    const { call } = await started();
    await call('/NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: {},
      IPv4Data: [{ AddressSpace: 'LocalDefault', Gateway: '10.88.0.1/24', Pool: '10.88.0.0/24' }],
      IPv6Data: [],
    });
    const iface = { Address: '10.88.0.5/24', AddressIPv6: '', MacAddress: '' };
    expect(await call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: iface, Options: {} })).toEqual({
      Interface: { MacAddress: '02:42:0a:58:00:05' },
    });
    expect(await call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP2, Interface: iface, Options: {} })).toEqual({
      Err: 'address 10.88.0.5 is already in use on network "docker-854441cc2e5b"',
    });
    // a MAC Docker gave (--mac-address) is kept and not answered back
    await call('/NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP });
    expect(
      await call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP2, Interface: { ...iface, MacAddress: '02:00:00:00:00:aa' }, Options: {} }),
    ).toEqual({ Interface: {} });
  });

  it('never gives a pool of the services range: the next free one instead', async () => {
    const host = new FakeHost(testConfig({ docker: { enabled: true, apiSocket: null }, services: { cidr: '172.18.0.0/16' } }));
    const { call } = await started(host);
    // 172.17.0.0/16 is the default network's, 172.18.0.0/16 the services'
    expect(await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: '', SubPool: '', Options: {}, V6: false })).toMatchObject({ Pool: '172.19.0.0/16' });
  });

  it('counts the calls by outcome for /metrics', async () => {
    const { service } = await started();
    const stats = new PluginStats();
    const dispatch = pluginDispatcher(service.docker!.network, service.docker!.ipam, service.queue, pino({ level: 'silent' }), stats);
    await dispatch('/Plugin.Activate', async () => ({}));
    await dispatch('/IpamDriver.RequestPool', async () => ({ Pool: '10.1.0.0/16' }));
    await dispatch('/IpamDriver.RequestPool', async () => ({ Pool: '10.1.0.0/24' }));
    await dispatch('/NetworkDriver.Frobnicate', async () => ({}));
    expect(stats.entries()).toEqual([
      { call: 'Plugin.Activate', outcome: 'ok', count: 1 },
      { call: 'IpamDriver.RequestPool', outcome: 'ok', count: 1 },
      { call: 'IpamDriver.RequestPool', outcome: 'refused', count: 1 },
      { call: 'unknown', outcome: 'refused', count: 1 },
    ]);
  });

  it('answers mistakes in the protocol shape: {"Err"} for the network driver, {"Error"} for IPAM', async () => {
    const { call } = await started();
    const { pool } = await createNetwork(call, '10.77.0.0/24');
    expect(await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: '10.77.0.0/16', V6: false })).toEqual({
      Error: 'subnet 10.77.0.0/16 overlaps with 10.77.0.0/24 of docker address pool pontoon/10.77.0.0/24',
    });
    expect(await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: '172.17.5.0/24', V6: false })).toEqual({
      Error: 'subnet 172.17.5.0/24 overlaps with 172.17.0.0/16 of network bridge',
    });
    expect(await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: '10.96.4.0/24', V6: false })).toEqual({
      Error: 'subnet 10.96.4.0/24 overlaps with 10.96.0.0/16 of the services range (services.cidr)',
    });
    expect(await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: '10.0.0.0/8', V6: true })).toEqual({
      Error: 'invalid subnet "10.0.0.0/8": "10.0.0.0" is not an IPv6 address',
    });
    expect(await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: 'fd00:77::/127', V6: true })).toEqual({
      Error: 'invalid subnet fd00:77::/127: the prefix length of an IPv6 subnet must be at most /126 (/64 recommended)',
    });
    expect(await call('/IpamDriver.RequestAddress', { PoolID: 'pontoon/10.9.9.0/24', Address: '' })).toEqual({ Error: 'unknown address pool pontoon/10.9.9.0/24' });
    expect(await call('/IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '10.78.0.1' })).toEqual({
      Error: 'address 10.78.0.1 is not in subnet 10.77.0.0/24 of network "docker-854441cc2e5b"',
    });
    const other = 'f'.repeat(64);
    expect(await call('/NetworkDriver.CreateNetwork', { NetworkID: other, Options: { 'com.docker.network.generic': { color: 'blue' } }, IPv4Data: [{ Pool: '10.79.0.0/24' }] })).toEqual({
      Err: 'unknown option "color" (pontoon takes com.docker.network.driver.mtu, pontoon.driver, pontoon.vni, pontoon.name, parent, macvlan_mode, pontoon.host_access)',
    });
    expect(await call('/NetworkDriver.CreateNetwork', { NetworkID: 'abc' })).toEqual({ Err: 'invalid CreateNetwork request: NetworkID: expected a 64-hex-digit id' });
    expect(await call('/NetworkDriver.Join', { NetworkID: other, EndpointID: EP, SandboxKey: SANDBOX })).toEqual({
      Err: 'network ffffffffffff is not a pontoon network (pontoon has no record of it)',
    });
    expect(await call('/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: SANDBOX })).toEqual({
      Err: 'endpoint 0880cf996101 not found on network docker-854441cc2e5b',
    });
  });

  it('refuses a port another endpoint publishes, and leaves the endpoint joined without it', async () => {
    const { service, call } = await started();
    await service.connect('bridge', { netns: 'c1', publish: ['8080:80'] });
    const { pool } = await createNetwork(call);
    const addr = await call('/IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: null });
    await call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: addr.Address }, Options: {} });
    await call('/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: SANDBOX, Options: {} });
    expect(await call('/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: portmap(8080) })).toEqual({
      Err: 'port 8080/tcp is already published by c1 on network bridge',
    });
    expect(service.inspectNetwork(NET).Containers[EP]!.Ports).toEqual([]);
  });

  it('keeps pools, endpoints and joined containers across a daemon restart (Docker replays nothing)', async () => {
    const first = await started();
    const { pool } = await createNetwork(first.call);
    await runContainer(first.call, pool.PoolID, EP, portmap(8080));
    startContainer(first.host);
    await expect.poll(() => first.service.inspectNetwork(NET).Containers[EP]?.Interface, { timeout: 3000 }).toBe('eth0');
    // an endpoint created and not joined yet holds its address too
    const addr2 = await first.call('/IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: null });
    await first.call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP2, Interface: { Address: addr2.Address }, Options: {} });
    await first.service.shutdown();
    running.splice(0);

    const mark = first.host.journal.mark;
    const second = await started(first.host);
    expect(first.host.journal.since(mark)).toContain('tap-reopen sbx/eth0');
    expect(first.host.journal.since(mark)).toContain('publish+ tcp/8080 172.18.0.2:80');
    expect(second.service.inspectNetwork(NET).Containers[EP]).toMatchObject({ Interface: 'eth0', IPv4Address: '172.18.0.2/16' });
    // the pool and both addresses are still held: the next one is .4
    expect(await second.call('/IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: null })).toEqual({ Address: '172.18.0.4/16', Data: {} });
    expect(await second.call('/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP2, SandboxKey: SANDBOX, Options: {} })).toMatchObject({
      InterfaceName: { SrcName: 'ptdc122c814062f', DstPrefix: 'eth' },
    });
  });

  it('makes an overlay in the cluster store, joins one another host made, and lets go of it while other hosts use it', async () => {
    const host = new FakeHost(testConfig({ docker: { enabled: true, apiSocket: null }, cluster: { advertise: '192.0.2.1' } }));
    const cluster = new FakeCluster(host.journal);
    const d = host.daemon(cluster);
    running.push(d.service);
    await d.service.restore();
    const dispatch = pluginDispatcher(d.service.docker!.network, d.service.docker!.ipam, d.service.queue, pino({ level: 'silent' }));
    const call = async (path: string, body: unknown = {}) => (await dispatch(path, async () => body)).body as Record<string, unknown>;
    const { pool } = await createNetwork(call, '10.10.0.0/24', { 'pontoon.driver': 'overlay', 'pontoon.name': 'ov' });
    await d.service.clusterSettled();
    expect([...cluster.networks.values()].map((n) => [n.name, n.subnet, n.mtu])).toEqual([['ov', '10.10.0.0/24', 1450]]);
    // the cluster's allocator gives the endpoint's address, as for `pontoon network connect`
    expect(await call('/IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: null })).toEqual({ Address: '10.10.0.2/24', Data: {} });
    expect([...cluster.claims.get(d.service.inspectNetwork('ov').Id)!.keys()]).toEqual(['10.10.0.2']);

    // another host made "ov2": this host's `docker network create` with its subnet joins it
    const other = { id: 'e'.repeat(64), name: 'ov2', subnet: '10.20.0.0/24', gateway: '10.20.0.1', gatewayMac: '02:50:fe:00:10:01', vni: 4097, mtu: 1450, internal: false, created: new Date(0).toISOString() };
    cluster.emit({ kind: 'network-added', network: other });
    await d.service.clusterSettled();
    const second = 'd'.repeat(64);
    expect(await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: '10.20.0.0/24', V6: false })).toMatchObject({ Pool: '10.20.0.0/24' });
    expect(
      await call('/NetworkDriver.CreateNetwork', {
        NetworkID: second,
        Options: { 'com.docker.network.generic': { 'pontoon.driver': 'overlay' } },
        IPv4Data: [{ Pool: '10.20.0.0/24', Gateway: '10.20.0.1/24' }],
      }),
    ).toEqual({});
    expect(d.service.inspectNetwork(second)).toMatchObject({ Name: 'ov2', Labels: { 'com.docker.network.id': second } });
    // joined, not made anew: the store has only the one this host made
    expect([...cluster.networks.values()].map((n) => n.name)).toEqual(['ov']);
    // a container of another host on it: removing the Docker network lets go of it, the overlay stays
    cluster.emit({ kind: 'endpoint-up', endpoint: { id: 'r1', network: other.id, name: 'far', ip: '10.20.0.9', mac: '02:42:0a:14:00:09', vtep: '192.0.2.2', aliases: [] } });
    await d.service.clusterSettled();
    expect(await call('/NetworkDriver.DeleteNetwork', { NetworkID: second })).toEqual({});
    expect(d.service.inspectNetwork('ov2').Labels).toEqual({});
    expect(host.journal.entries).not.toContain('cluster network- ov2');
  });
});

describe("Docker's plugin calls for an overlay with --ipv6", () => {
  it("makes the overlay with its IPv6 side in the cluster store, and Docker's IPv6 addresses are claimed there (never one another host holds)", async () => {
    const host = new FakeHost(testConfig({ docker: { enabled: true, apiSocket: null }, cluster: { advertise: 'fd00:99::a' } }));
    const cluster = new FakeCluster(host.journal);
    const d = host.daemon(cluster);
    running.push(d.service);
    await d.service.restore();
    const dispatch = pluginDispatcher(d.service.docker!.network, d.service.docker!.ipam, d.service.queue, pino({ level: 'silent' }));
    const call = async (path: string, body: unknown = {}) => (await dispatch(path, async () => body)).body as Record<string, unknown>;
    const p4 = await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: '10.10.0.0/24', SubPool: '', Options: {}, V6: false });
    const p6 = await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: 'fd00:77::/64', SubPool: '', Options: {}, V6: true });
    const created = await call('/NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: { 'com.docker.network.enable_ipv6': true, 'com.docker.network.generic': { 'pontoon.driver': 'overlay', 'pontoon.name': 'ov6' } },
      IPv4Data: [{ AddressSpace: 'pontoon', Gateway: '10.10.0.1/24', Pool: p4.Pool }],
      IPv6Data: [{ AddressSpace: 'pontoon', Gateway: 'fd00:77::1/64', Pool: p6.Pool }],
    });
    expect(created).toEqual({});
    await d.service.clusterSettled();
    const [def] = [...cluster.networks.values()];
    expect([def?.name, def?.subnet, def?.ipv6?.subnet, def?.ipv6?.gateway]).toEqual(['ov6', '10.10.0.0/24', 'fd00:77::/64', 'fd00:77::1']);
    // another host's container already holds fd00:77::2
    cluster.claims.set(def!.id, new Map([...(cluster.claims.get(def!.id) ?? []), ['fd00:77::2', 'far-endpoint']]));
    const a6 = await call('/IpamDriver.RequestAddress', { PoolID: p6.PoolID, Address: '', Options: {} });
    expect(a6).toEqual({ Address: 'fd00:77::3/64', Data: {} });
    expect(cluster.claims.get(def!.id)!.get('fd00:77::3')).toBe(`ipam:${p6.PoolID}`);
    // asking for the one another host holds: refused, and nothing taken here
    const taken = await call('/IpamDriver.RequestAddress', { PoolID: p6.PoolID, Address: 'fd00:77::2', Options: {} });
    expect(taken.Error).toMatch(/fd00:77::2 is already in use/);
    expect(await call('/IpamDriver.ReleaseAddress', { PoolID: p6.PoolID, Address: 'fd00:77::3' })).toEqual({});
    expect(cluster.claims.get(def!.id)!.has('fd00:77::3')).toBe(false);
    expect(cluster.claims.get(def!.id)!.get('fd00:77::2')).toBe('far-endpoint');
  });
});

describe("Docker's plugin calls on a network with IPv6", () => {
  /** `docker network create --ipv6 -d pontoon --ipam-driver pontoon [--subnet S4] [--subnet S6] NAME` */
  async function createDual(call: (p: string, b?: unknown) => Promise<Record<string, unknown>>, pool6 = '') {
    const p4 = await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: '', SubPool: '', Options: {}, V6: false });
    const p6 = await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: pool6, SubPool: '', Options: {}, V6: true });
    const gw4 = await call('/IpamDriver.RequestAddress', { PoolID: p4.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
    const gw6 = await call('/IpamDriver.RequestAddress', { PoolID: p6.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
    const created = await call('/NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: { 'com.docker.network.enable_ipv6': true, 'com.docker.network.generic': {} },
      IPv4Data: [{ AddressSpace: 'pontoon', Gateway: gw4.Address, Pool: p4.Pool }],
      IPv6Data: [{ AddressSpace: 'pontoon', Gateway: gw6.Address, Pool: p6.Pool }],
    });
    return { p4, p6, gw4, gw6, created };
  }

  it('hands out an IPv6 pool (given, or a /64 of defaultPools6), its gateway and each endpoint\'s IPv6 address', async () => {
    const host = new FakeHost({ ...testConfig({ docker: { enabled: true, apiSocket: null } }), defaultPools6: [{ base: 'fd12:3456:789a::/48', size: 64 }] });
    const { service, call } = await started(host);
    const { p6, gw6, created } = await createDual(call);
    expect(p6).toEqual({ PoolID: 'pontoon/fd12:3456:789a::/64', Pool: 'fd12:3456:789a::/64', Data: {} });
    expect(gw6).toEqual({ Address: 'fd12:3456:789a::1/64', Data: {} });
    expect(created).toEqual({});
    const n = service.inspectNetwork('docker-854441cc2e5b');
    expect([n.EnableIPv6, n.IPAM.Config]).toEqual([
      true,
      [
        { Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' },
        { Subnet: 'fd12:3456:789a::/64', Gateway: 'fd12:3456:789a::1' },
      ],
    ]);
    // a second IPv6 pool overlapping the first is refused
    expect(await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: 'fd12:3456:789a::/56', V6: true })).toEqual({
      Error: 'subnet fd12:3456:789a::/56 overlaps with fd12:3456:789a::/64 of docker address pool pontoon/fd12:3456:789a::/64',
    });

    // docker run: an address of each pool, then the endpoint with both; Join gives the IPv6 gateway
    const a6 = await call('/IpamDriver.RequestAddress', { PoolID: p6.PoolID, Address: '', Options: null });
    expect(a6).toEqual({ Address: 'fd12:3456:789a::2/64', Data: {} });
    const a4 = await call('/IpamDriver.RequestAddress', { PoolID: 'pontoon/172.18.0.0/16', Address: '', Options: null });
    const ep = await call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: a4.Address, AddressIPv6: a6.Address, MacAddress: '' } });
    expect(ep).toEqual({ Interface: { MacAddress: '02:42:ac:12:00:02' } });
    const join = await call('/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: SANDBOX, Options: {} });
    expect(join).toEqual({ InterfaceName: { SrcName: 'ptd0880cf996101', DstPrefix: 'eth' }, Gateway: '172.18.0.1', GatewayIPv6: 'fe80::1', DisableGatewayService: false });
    const [container] = Object.values(service.inspectNetwork('docker-854441cc2e5b').Containers);
    expect(container).toMatchObject({ IPv4Address: '172.18.0.2/16', IPv6Address: 'fd12:3456:789a::2/64' });

    // Docker gives the address back (in its own spelling): handed out again
    await call('/NetworkDriver.Leave', { NetworkID: NET, EndpointID: EP });
    await call('/NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP });
    expect(await call('/IpamDriver.ReleaseAddress', { PoolID: p6.PoolID, Address: 'fd12:3456:789a:0:0:0:0:2' })).toEqual({});
    expect(await call('/IpamDriver.RequestAddress', { PoolID: p6.PoolID, Address: '', Options: null })).toEqual({ Address: 'fd12:3456:789a::2/64', Data: {} });
  });

  it('answers AddressIPv6 when Docker gives none (another IPAM driver), keeps it over a restart, frees it on DeleteEndpoint', async () => {
    const host = newHost();
    const { service, call } = await started(host);
    await call('/NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: { 'com.docker.network.enable_ipv6': true, 'com.docker.network.generic': {} },
      IPv4Data: [{ AddressSpace: 'LocalDefault', Gateway: '10.88.0.1/24', Pool: '10.88.0.0/24' }],
      IPv6Data: [{ AddressSpace: 'LocalDefault', Gateway: 'fd00:88::1/64', Pool: 'fd00:88::/64' }],
    });
    const ep = await call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.88.0.5/24', AddressIPv6: '', MacAddress: '' } });
    expect(ep).toEqual({ Interface: { MacAddress: '02:42:0a:58:00:05', AddressIPv6: 'fd00:88::2/64' } });
    // Docker repeats the call: the same answer
    expect(await call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.88.0.5/24', AddressIPv6: '', MacAddress: '' } })).toEqual(ep);
    // another endpoint with Docker's own IPv6 address
    expect(await call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP2, Interface: { Address: '10.88.0.6/24', AddressIPv6: 'fd00:88::3/64', MacAddress: '' } })).toEqual({
      Interface: { MacAddress: '02:42:0a:58:00:06' },
    });
    expect(await call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: 'd'.repeat(64), Interface: { Address: '10.88.0.7/24', AddressIPv6: 'fd00:88::3/64', MacAddress: '' } })).toEqual({
      Err: 'address fd00:88::3 is already in use on network "docker-854441cc2e5b"',
    });
    await service.shutdown();
    running.splice(0);

    const again = await started(host);
    await again.call('/NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP2 });
    // ::2 is still Docker's endpoint's after the restart; ::3 was freed
    const next = await again.call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: 'd'.repeat(64), Interface: { Address: '10.88.0.7/24', AddressIPv6: '', MacAddress: '' } });
    expect(next).toEqual({ Interface: { MacAddress: '02:42:0a:58:00:07', AddressIPv6: 'fd00:88::3/64' } });
    expect(host.store.saved!.docker!.endpoints.map((e) => [e.ip, e.ip6, e.ownsAddress6])).toEqual([
      ['10.88.0.5', 'fd00:88::2', true],
      ['10.88.0.7', 'fd00:88::3', true],
    ]);
  });

  it('refuses an IPv6 address on a network without IPv6', async () => {
    const { call } = await started();
    await createNetwork(call);
    expect(await call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '172.18.0.5/16', AddressIPv6: 'fd00::5/64', MacAddress: '' } })).toEqual({
      Err: 'network docker-854441cc2e5b has no IPv6 (create it with --ipv6): no IPv6 address can be given',
    });
  });
});

describe("Docker's plugin calls for a macvlan network (-o pontoon.driver=macvlan)", () => {
  // the fake host routes 192.0.2.0/24 (its LAN) and fd00:ffff::/64: a macvlan network's subnet is the LAN's
  const LAN = '192.0.2.0/24';
  const macvlan = (extra: Record<string, string> = {}) => ({ 'pontoon.driver': 'macvlan', parent: 'eth0', ...extra });

  /** `docker network create -d pontoon --ipam-driver pontoon --subnet LAN --gateway .1 [--aux-address lanhost=.2] -o pontoon.driver=macvlan ...` */
  async function createMacvlan(call: (p: string, b?: unknown) => Promise<Record<string, unknown>>, options: Record<string, string>, aux: Record<string, string> = {}) {
    const p = await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: LAN, SubPool: '', Options: {}, V6: false });
    const gw = await call('/IpamDriver.RequestAddress', { PoolID: p.PoolID, Address: '192.0.2.1', Options: { RequestAddressType: 'com.docker.network.gateway' } });
    // libnetwork reserves each --aux-address in the pool before the network is made
    const reserved: Record<string, unknown> = {};
    for (const [name, ip] of Object.entries(aux)) reserved[name] = (await call('/IpamDriver.RequestAddress', { PoolID: p.PoolID, Address: ip, Options: null })).Address;
    const created = await call('/NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': options },
      IPv4Data: [{ AddressSpace: 'pontoon', Gateway: gw.Address, Pool: p.Pool, ...(Object.keys(aux).length > 0 ? { AuxAddresses: reserved } : {}) }],
      IPv6Data: [],
    });
    return { pool: p, gateway: gw, reserved, created };
  }

  it("makes it on the LAN's subnet with Docker's option names: the parent opened, no host route, the aux address reserved; inspect shows it", async () => {
    const { host, service, dataplane, call } = await started();
    const mark = host.journal.mark;
    const { reserved, created } = await createMacvlan(call, macvlan({ macvlan_mode: 'bridge' }), { lanhost: '192.0.2.2' });
    expect([reserved, created]).toEqual([{ lanhost: '192.0.2.2/24' }, {}]);
    const made = host.journal.since(mark);
    expect(made.filter((e) => e.startsWith('parent'))).toEqual(['parent-socket+ eth0', 'parent+ 0 eth0 fd 9000 vnet', 'parent-port+ 1 eth0 vlan 0 network 1']);
    expect(made.some((e) => e.startsWith('route+'))).toBe(false);
    // the gateway is the LAN's router: pontoon owns no address there
    expect(dataplane.networks.get(1)).toMatchObject({ gatewayIp: 0, macvlan: { mode: 'bridge', hostAccess: false } });
    const n = service.inspectNetwork(NET);
    expect([n.Driver, n.Internal, n.Options['parent'], n.Options['macvlan_mode'], n.IPAM.Config]).toEqual([
      'macvlan',
      false,
      'eth0',
      'bridge',
      [{ Subnet: LAN, Gateway: '192.0.2.1', AuxiliaryAddresses: { lanhost: '192.0.2.2' } }],
    ]);
  });

  it('gives a container a LAN address past the aux address, the LAN router as Join\'s Gateway, and publishes nothing for -p (as Docker\'s macvlan)', async () => {
    const { host, service, call } = await started();
    const { pool } = await createMacvlan(call, macvlan(), { lanhost: '192.0.2.2' });
    const mark = host.journal.mark;
    const { addr, join, pec } = await runContainer(call, pool.PoolID, EP, portmap(8080));
    expect(addr).toEqual({ Address: '192.0.2.3/24', Data: {} });
    expect(join).toEqual({ InterfaceName: { SrcName: 'ptd0880cf996101', DstPrefix: 'eth' }, Gateway: '192.0.2.1', DisableGatewayService: false });
    expect(pec).toEqual({});
    expect(host.journal.since(mark).filter((e) => !e.startsWith('save'))).toEqual([
      'host-tap+ ptd0880cf996101 02:42:c0:00:02:03 mtu 1500',
      // port 1 is the network's on its parent
      'port+ 2 ptd0880cf996101@0880cf996101 192.0.2.3',
    ]);
    startContainer(host);
    await expect.poll(() => service.inspectNetwork(NET).Containers[EP]?.Interface, { timeout: 3000 }).toBe('eth0');
    expect(service.ports(SANDBOX)).toEqual([]);
    // Docker takes it all back, the aux address and the gateway last (after DeleteNetwork): answered as done
    for (const [path, body] of [
      ['/NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET, EndpointID: EP }],
      ['/NetworkDriver.Leave', { NetworkID: NET, EndpointID: EP }],
      ['/NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP }],
      ['/IpamDriver.ReleaseAddress', { PoolID: pool.PoolID, Address: '192.0.2.3' }],
      ['/NetworkDriver.DeleteNetwork', { NetworkID: NET }],
      ['/IpamDriver.ReleaseAddress', { PoolID: pool.PoolID, Address: '192.0.2.1' }],
      ['/IpamDriver.ReleaseAddress', { PoolID: pool.PoolID, Address: '192.0.2.2' }],
      ['/IpamDriver.ReleasePool', { PoolID: pool.PoolID }],
    ] as const) {
      expect(await call(path, body), path).toEqual({});
    }
    expect(service.listNetworks().map((x) => x.Name)).toEqual(['bridge']);
    expect(host.journal.entries.filter((e) => e.startsWith('parent-socket-'))).toEqual(['parent-socket- 9000']);
  });

  it("with host access: the host's route to the container's own address while it is joined; with IPv6 the LAN's IPv6 router is GatewayIPv6", async () => {
    const { host, call } = await started();
    const p4 = await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: LAN, SubPool: '', Options: {}, V6: false });
    // fd00:ffff::/64 is a host route too: the IPv6 side of the LAN
    const p6 = await call('/IpamDriver.RequestPool', { AddressSpace: 'pontoon', Pool: 'fd00:ffff::/64', SubPool: '', Options: {}, V6: true });
    expect(p6).toMatchObject({ Pool: 'fd00:ffff::/64' });
    const created = await call('/NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: { 'com.docker.network.enable_ipv6': true, 'com.docker.network.generic': macvlan({ 'pontoon.host_access': 'true' }) },
      IPv4Data: [{ AddressSpace: 'pontoon', Gateway: '192.0.2.1/24', Pool: p4.Pool }],
      IPv6Data: [{ AddressSpace: 'pontoon', Gateway: 'fd00:ffff::1/64', Pool: p6.Pool }],
    });
    expect(created).toEqual({});
    const a4 = await call('/IpamDriver.RequestAddress', { PoolID: p4.PoolID, Address: '', Options: null });
    const a6 = await call('/IpamDriver.RequestAddress', { PoolID: p6.PoolID, Address: '', Options: null });
    await call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: a4.Address, AddressIPv6: a6.Address, MacAddress: '' } });
    const join = await call('/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: SANDBOX, Options: {} });
    expect(join).toMatchObject({ Gateway: '192.0.2.1', GatewayIPv6: 'fd00:ffff::1' });
    expect([...host.devices.routes]).toEqual(['172.17.0.0/16', '192.0.2.2/32', 'fd00:ffff::2/128']);
    await call('/NetworkDriver.Leave', { NetworkID: NET, EndpointID: EP });
    expect([...host.devices.routes]).toEqual(['172.17.0.0/16']);
  });

  it("takes the parent's MTU (eth1's 9000) unless Docker's mtu option gives a smaller one; --internal attaches no parent", async () => {
    const { host, service, call } = await started();
    await createMacvlan(call, macvlan({ parent: 'eth1' }));
    expect(service.inspectNetwork(NET).Options['com.docker.network.driver.mtu']).toBe('9000');
    const other = 'f'.repeat(64);
    const internal = await call('/NetworkDriver.CreateNetwork', {
      NetworkID: other,
      Options: { 'com.docker.network.internal': true, 'com.docker.network.generic': macvlan({ 'com.docker.network.driver.mtu': '1400' }) },
      IPv4Data: [{ AddressSpace: 'LocalDefault', Gateway: '198.51.100.1/24', Pool: '198.51.100.0/24' }],
    });
    expect(internal).toEqual({});
    const n = service.inspectNetwork(other);
    expect([n.Internal, n.Options['parent'], n.Options['com.docker.network.driver.mtu']]).toEqual([true, undefined, '1400']);
    expect(host.journal.entries.filter((e) => e.startsWith('parent-socket+'))).toEqual(['parent-socket+ eth1']);
  });

  it('passthru: the parent is the first container\'s alone, a second one\'s Join is refused', async () => {
    const { call } = await started();
    const { pool } = await createMacvlan(call, macvlan({ macvlan_mode: 'passthru' }));
    await runContainer(call, pool.PoolID, EP);
    const addr = await call('/IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: null });
    await call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP2, Interface: { Address: addr.Address }, Options: {} });
    expect(await call('/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP2, SandboxKey: SANDBOX, Options: {} })).toEqual({
      Err: "network docker-854441cc2e5b is macvlan_mode passthru: its parent is 0880cf996101's alone",
    });
  });

  it("takes Docker's default IPAM's aux addresses, leaving out one it kept outside its --ip-range (\"<nil>\")", async () => {
    const { service, call } = await started();
    await call('/NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: { 'com.docker.network.generic': macvlan() },
      IPv4Data: [{ AddressSpace: 'LocalDefault', Gateway: '192.0.2.1/24', Pool: LAN, AuxAddresses: { inrange: '192.0.2.130/24', outside: '<nil>' } }],
      IPv6Data: [],
    });
    expect(service.inspectNetwork(NET).IPAM.Config[0]!.AuxiliaryAddresses).toEqual({ inrange: '192.0.2.130' });
    expect(await call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '192.0.2.130/24' } })).toEqual({
      Err: 'address 192.0.2.130 is already in use on network "docker-854441cc2e5b"',
    });
  });

  it("refuses bad input in pontoon's one line, making nothing: a parent not found or out of VLAN range, an unknown mode, macvlan options on a bridge, a bad host_access", async () => {
    const { host, service, call } = await started();
    const refused = async (options: Record<string, string>) => {
      const { pool, created } = await createMacvlan(call, options);
      // Docker gives the pool back when CreateNetwork fails
      await call('/IpamDriver.ReleasePool', { PoolID: pool.PoolID });
      return created;
    };
    expect(await refused(macvlan({ parent: 'nosuch0' }))).toEqual({ Err: '-o parent interface was not found on the host: nosuch0' });
    expect(await refused(macvlan({ parent: 'eth0.4095' }))).toEqual({ Err: 'vlan id out of range: 4095, it must be between 1 and 4094 (-o parent=eth0.4095)' });
    expect(await refused(macvlan({ macvlan_mode: 'source' }))).toEqual({ Err: 'macvlan_mode "source" is not supported (supported: bridge, private, vepa, passthru)' });
    expect(await refused({ parent: 'eth0' })).toEqual({ Err: 'option parent is for macvlan networks (-o pontoon.driver=macvlan), not bridge' });
    expect(await refused(macvlan({ 'pontoon.host_access': 'yes' }))).toEqual({ Err: 'invalid value "yes" for pontoon.host_access: true or false' });
    // a bridge network's subnet still meets the host's routes, once CreateNetwork tells the driver
    expect(await refused({})).toEqual({ Err: 'subnet 192.0.2.0/24 of network "docker-854441cc2e5b" overlaps with host route 192.0.2.0/24' });
    expect(service.listNetworks().map((n) => n.Name)).toEqual(['bridge']);
    expect(host.journal.entries.some((e) => e.startsWith('parent'))).toBe(false);
  });
});
