// Overlay networks against a fake cluster store: what the store tells about other hosts (VTEPs,
// endpoints, networks) reaching the data plane, the DNS names and `network inspect`; this host's
// endpoints registered there; a failed registration unwinding the connect.

import { afterEach, describe, expect, it } from 'vitest';
import type { OverlayEndpointDef } from '../../../../src/control/cluster/cluster-store.js';
import type { NetworkService } from '../../../../src/control/network-service.js';
import { FakeCluster, FakeHost, testConfig } from './fake-host.js';

const running: NetworkService[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.shutdown();
});

const OWN_VTEP = '192.0.2.1';

/** A started host in a cluster, with the overlay network "ov" (10.10.0.0/24) created here. */
async function inCluster() {
  const host = new FakeHost(testConfig({ cluster: { advertise: OWN_VTEP } }));
  host.devices.addNamespace('c1');
  const cluster = new FakeCluster(host.journal);
  const d = host.daemon(cluster);
  running.push(d.service);
  await d.service.restore();
  const mark = host.journal.mark;
  const ov = await d.service.createNetwork({ name: 'ov', driver: 'overlay', subnet: '10.10.0.0/24' });
  await d.service.clusterSettled(); // the store's own "network-added" for it changes nothing
  expect(host.journal.since(mark)).toEqual(['cluster network+ ov', 'network+ 1 ov', 'route+ 10.10.0.0/24', 'save', 'join ov']);
  return { host, cluster, ...d, ovId: ov.Id };
}

function remote(networkId: string, id: string, name: string, ip: string, vtep: string): OverlayEndpointDef {
  return { id, network: networkId, name, ip, mac: `02:42:0a:0a:00:0${ip.split('.')[3]}`, vtep, aliases: [`${name}-alias`] };
}

describe('overlay sync', () => {
  it('adds and removes the peers and remote endpoints the cluster store tells about', async () => {
    const { host, cluster, service, dataplane, ovId } = await inCluster();
    const names = () => service.names.clientScope('10.10.0.254')!;
    const mark = host.journal.mark;

    cluster.emit({ kind: 'vtep-up', networkId: ovId, vtep: OWN_VTEP }); // this host: ignored
    cluster.emit({ kind: 'vtep-up', networkId: ovId, vtep: '192.0.2.2' });
    cluster.emit({ kind: 'endpoint-up', endpoint: remote(ovId, 'r1', 'api', '10.10.0.2', '192.0.2.2') });
    cluster.emit({ kind: 'endpoint-up', endpoint: remote(ovId, 'r2', 'db', '10.10.0.3', '192.0.2.3') });
    await service.clusterSettled();

    expect(host.journal.since(mark)).toEqual(['peer+ 1 192.0.2.2', 'remote+ 1 10.10.0.2', 'remote+ 1 10.10.0.3']);
    expect(dataplane.remotes).toEqual(
      new Map([
        ['1 10.10.0.2', '02:42:0a:0a:00:02 via 192.0.2.2'],
        ['1 10.10.0.3', '02:42:0a:0a:00:03 via 192.0.2.3'],
      ]),
    );
    const inspected = service.inspectNetwork('ov');
    expect(inspected.Peers).toEqual([{ IP: '192.0.2.2' }, { IP: '192.0.2.3' }]);
    expect(inspected.RemoteContainers).toEqual({
      r1: { Name: 'api', EndpointID: 'r1', MacAddress: '02:42:0a:0a:00:02', IPv4Address: '10.10.0.2/24', Host: '192.0.2.2' },
      r2: { Name: 'db', EndpointID: 'r2', MacAddress: '02:42:0a:0a:00:03', IPv4Address: '10.10.0.3/24', Host: '192.0.2.3' },
    });
    expect(service.names.lookupName(names(), 'api-alias')).toEqual(['10.10.0.2']);

    // a local container gets an address no other host has
    const ep = await service.connect('ov', { netns: 'c1' });
    expect(ep).toMatchObject({ IPv4Address: '10.10.0.4/24', MacAddress: '02:42:0a:0a:00:04' });
    expect(cluster.endpoints.get(ep.EndpointID)).toMatchObject({ name: 'c1', ip: '10.10.0.4', vtep: OWN_VTEP });

    const mark2 = host.journal.mark;
    cluster.emit({ kind: 'endpoint-down', networkId: ovId, endpointId: 'r1' });
    cluster.emit({ kind: 'vtep-down', networkId: ovId, vtep: '192.0.2.3' });
    await service.clusterSettled();

    expect(host.journal.since(mark2)).toEqual(['remote- 1 10.10.0.2', 'peer- 1 192.0.2.3']);
    expect(service.inspectNetwork('ov').RemoteContainers).toEqual({});
    expect(service.inspectNetwork('ov').Peers).toEqual([{ IP: '192.0.2.2' }]);
    expect(service.names.lookupName(names(), 'api')).toBeNull();
    expect(service.names.lookupName(names(), 'db')).toBeNull();
    // the address of the endpoint that left is free for a local container again
    host.devices.addNamespace('c2');
    expect(await service.connect('ov', { netns: 'c2' })).toMatchObject({ IPv4Address: '10.10.0.2/24' });
  });

  it("a VTEP that goes down frees its endpoints' addresses for local containers", async () => {
    const { host, cluster, service, ovId } = await inCluster();
    cluster.emit({ kind: 'endpoint-up', endpoint: remote(ovId, 'r1', 'api', '10.10.0.2', '192.0.2.2') });
    cluster.emit({ kind: 'endpoint-up', endpoint: remote(ovId, 'r2', 'db', '10.10.0.3', '192.0.2.2') });
    await service.clusterSettled();
    cluster.emit({ kind: 'vtep-down', networkId: ovId, vtep: '192.0.2.2' });
    await service.clusterSettled();
    expect(service.inspectNetwork('ov').RemoteContainers).toEqual({});
    host.devices.addNamespace('c2');
    expect(await service.connect('ov', { netns: 'c1' })).toMatchObject({ IPv4Address: '10.10.0.2/24' });
    expect(await service.connect('ov', { netns: 'c2' })).toMatchObject({ IPv4Address: '10.10.0.3/24' });
  });

  it('a connect whose registration in the store fails is undone, the cluster-wide address too', async () => {
    const { host, cluster, service, dataplane } = await inCluster();
    host.journal.failOn(/^register/, 'etcd unavailable', 1);
    const mark = host.journal.mark;

    await expect(service.connect('ov', { netns: 'c1', publish: ['8080:80'] })).rejects.toThrow(
      'cannot connect c1 to network ov: etcd unavailable',
    );

    expect(host.journal.since(mark)).toEqual([
      'claim 10.10.0.2',
      'tap+ c1/eth0',
      'configure c1/eth0 02:42:0a:0a:00:02 10.10.0.2/24 mtu 1450 via 10.10.0.1',
      'port+ 1 eth0@c1 10.10.0.2',
      'publish+ tcp/8080 10.10.0.2:80',
      'publish- tcp/8080',
      'port- 1',
      'tap- c1/eth0',
      'release 10.10.0.2',
    ]);
    expect(cluster.claims.get(service.inspectNetwork('ov').Id)?.size).toBe(0);
    expect(cluster.endpoints.size).toBe(0);
    expect(dataplane.ports.size).toBe(0);
    expect(service.inspectNetwork('ov').Containers).toEqual({});
  });

  it('adopts a network another host created, and drops it when it is removed there', async () => {
    const { host, cluster, service } = await inCluster();
    const def = {
      id: 'f'.repeat(64),
      name: 'far',
      subnet: '10.30.0.0/24',
      gateway: '10.30.0.1',
      gatewayMac: '02:50:fe:00:20:00',
      vni: 8192,
      mtu: 1450,
      internal: false,
      created: '2024-01-01T00:00:00.000Z',
    };
    cluster.networks.set(def.id, def); // another host created it in the store
    const mark = host.journal.mark;

    cluster.emit({ kind: 'network-added', network: def });
    await service.clusterSettled();

    expect(host.journal.since(mark)).toEqual(['network+ 2 far', 'route+ 10.30.0.0/24', 'save', 'join far']);
    expect(service.listNetworks().map((n) => `${n.Name} ${n.Driver} ${n.Scope}`)).toEqual(['bridge bridge local', 'ov overlay swarm', 'far overlay swarm']);
    expect(service.overlays().map((o) => `${o.name} ${o.vni}`)).toEqual(['ov 4096', 'far 8192']);

    const mark2 = host.journal.mark;
    cluster.emit({ kind: 'network-removed', networkId: def.id });
    await service.clusterSettled();

    expect(host.journal.since(mark2)).toEqual(['network- 2', 'route- 10.30.0.0/24', 'save']);
    expect(service.listNetworks().map((n) => n.Name)).toEqual(['bridge', 'ov']);
  });

  it('announces its endpoints again after a restart', async () => {
    const { host, cluster, service } = await inCluster();
    const ep = await service.connect('ov', { netns: 'c1' });
    await service.shutdown();
    running.splice(running.indexOf(service), 1);
    cluster.endpoints.clear(); // the store forgot this host when its lease ran out

    const again = host.daemon(cluster);
    running.push(again.service);
    const mark = host.journal.mark;
    await again.service.restore();

    expect(host.journal.since(mark).slice(-3)).toEqual(['join ov', 'claim 10.10.0.2', 'register c1 10.10.0.2 at 192.0.2.1']);
    expect(cluster.endpoints.get(ep.EndpointID)).toMatchObject({ name: 'c1', ip: '10.10.0.2' });
    // the state file keeps its layout: the endpoints after isDefault, the VNI last
    expect(Object.keys(host.store.saved!.networks[1]!).slice(-3)).toEqual(['isDefault', 'endpoints', 'vni']);
  });
});
