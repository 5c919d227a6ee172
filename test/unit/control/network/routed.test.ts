// Routed overlays against a fake cluster store: this host's subnet lease, the host route from its
// address on the range, the other hosts' leases becoming routes in the data plane (and leaving),
// leases that may not be routed, remote endpoints as names only, and the refusals.

import { afterEach, describe, expect, it } from 'vitest';
import type { NetworkService } from '../../../../src/control/network-service.js';
import { FakeCluster, FakeHost, testConfig } from './fake-host.js';

const running: NetworkService[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.shutdown();
});

const OWN_VTEP = '192.0.2.1';

async function routedHost() {
  const host = new FakeHost(testConfig({ cluster: { advertise: OWN_VTEP } }));
  host.devices.addNamespace('c1');
  const cluster = new FakeCluster(host.journal);
  Object.assign(cluster, { kind: 'etcd' }); // leases need etcd
  const d = host.daemon(cluster);
  running.push(d.service);
  await d.service.restore();
  return { host, cluster, ...d };
}

describe('routed overlay networks', () => {
  it('leases a subnet for this host, routes the range to the host from its address on it, and routes the others\' leases', async () => {
    const { host, cluster, service, dataplane } = await routedHost();
    const mark = host.journal.mark;
    const net = await service.createNetwork({ name: 'flat', driver: 'overlay', mode: 'routed', subnet: '10.244.0.0/16' });
    await service.clusterSettled();
    expect(host.journal.since(mark)).toEqual([
      'cluster network+ flat',
      'lease 10.244.1.0/24 192.0.2.1',
      'network+ 1 flat',
      'hostroute+ 10.244.1.0/32',
      'route+ 10.244.0.0/16 src 10.244.1.0',
      'save',
      'lease 10.244.1.0/24 192.0.2.1',
      'join flat',
    ]);
    const def = cluster.networks.get(net.Id)!;
    expect(def).toMatchObject({ subnet: '10.244.0.0/16', gateway: '', vni: 1, routed: { hostSubnetSize: 24, flannelPrefix: '/coreos.com/network', port: 4789 } });
    // the network here is this host's subnet, its first address the gateway, the VTEP MAC its MAC
    const inspected = service.inspectNetwork('flat');
    expect(inspected.IPAM.Config).toEqual([{ Subnet: '10.244.1.0/24', Gateway: '10.244.1.1' }]);
    expect(inspected.Options).toMatchObject({ 'pontoon.mode': 'routed', 'pontoon.cluster_subnet': '10.244.0.0/16', 'pontoon.gateway.mac': '02:01:c0:00:02:01' });
    expect(dataplane.networks.get(1)).toMatchObject({ subnet: 0x0af40100, prefixLen: 24, vni: 1, routed: true });

    const ep = await service.connect('flat', { netns: 'c1' });
    expect(ep.IPv4Address).toBe('10.244.1.2/24');
    expect(cluster.claims.size).toBe(0); // addresses are the subnet's, never claimed cluster-wide

    const mark2 = host.journal.mark;
    const lease = (subnet: string, publicIp: string, vtepMac: string) => ({ kind: 'subnet-up' as const, networkId: net.Id, lease: { subnet, publicIp, vtepMac } });
    cluster.emit(lease('10.244.2.0/24', '192.0.2.2', '02:01:c0:00:02:02'));
    cluster.emit(lease('10.244.3.0/24', '192.0.2.3', '02:01:c0:00:02:03'));
    cluster.emit(lease('10.244.1.0/24', '192.0.2.9', '02:01:c0:00:02:09')); // another host on this host's subnet: never routed
    cluster.emit(lease('10.99.0.0/24', '192.0.2.9', '02:01:c0:00:02:09')); // outside the range
    cluster.emit(lease('10.244.1.128/25', '192.0.2.9', '02:01:c0:00:02:09')); // overlapping this host's
    cluster.emit({ kind: 'endpoint-up', endpoint: { id: 'r1', network: net.Id, name: 'api', ip: '10.244.2.2', mac: '02:42:0a:f4:02:02', vtep: '192.0.2.2', aliases: [] } });
    await service.clusterSettled();
    expect(host.journal.since(mark2)).toEqual(['subnet+ 1 10.244.2.0/24', 'subnet+ 1 10.244.3.0/24']);
    expect(dataplane.remoteSubnets).toEqual(
      new Map([
        ['1 10.244.2.0/24', '02:01:c0:00:02:02 via 192.0.2.2'],
        ['1 10.244.3.0/24', '02:01:c0:00:02:03 via 192.0.2.3'],
      ]),
    );
    expect(dataplane.remotes.size).toBe(0); // a remote endpoint is reached through its host's subnet
    expect(service.names.lookupName(service.names.clientScope('10.244.1.2')!, 'api')).toEqual(['10.244.2.2']);
    expect(service.inspectNetwork('flat').HostSubnets).toEqual([
      { Subnet: '10.244.1.0/24', Host: OWN_VTEP, VtepMAC: '02:01:c0:00:02:01', Local: true },
      { Subnet: '10.244.2.0/24', Host: '192.0.2.2', VtepMAC: '02:01:c0:00:02:02', Local: false },
      { Subnet: '10.244.3.0/24', Host: '192.0.2.3', VtepMAC: '02:01:c0:00:02:03', Local: false },
    ]);
    expect(service.inspectNetwork('flat').Peers).toEqual([{ IP: '192.0.2.2' }, { IP: '192.0.2.3' }]);

    const mark3 = host.journal.mark;
    cluster.emit({ kind: 'subnet-down', networkId: net.Id, subnet: '10.244.3.0/24' });
    cluster.emit({ kind: 'subnet-down', networkId: net.Id, subnet: '10.244.1.0/24' }); // this host's own: kept
    await service.clusterSettled();
    expect(host.journal.since(mark3)).toEqual(['subnet- 1 10.244.3.0/24']);
    expect(service.inspectNetwork('flat').Peers).toEqual([{ IP: '192.0.2.2' }]);
  });

  it('a second host takes the next free subnet; removing the network gives the lease up and drops the routes', async () => {
    const { host, cluster, service } = await routedHost();
    const net = await service.createNetwork({ name: 'flat', driver: 'overlay', mode: 'routed', subnet: '10.244.0.0/16', hostSubnetSize: 26 });
    expect(service.inspectNetwork('flat').IPAM.Config).toEqual([{ Subnet: '10.244.0.64/26', Gateway: '10.244.0.65' }]);
    await service.clusterSettled();
    const mark = host.journal.mark;
    await service.removeNetwork('flat');
    expect(host.journal.since(mark)).toEqual(['cluster network- flat', 'leave flat', 'unlease 10.244.0.64/26', 'network- 1', 'hostroute- 10.244.0.64/32', 'route- 10.244.0.0/16', 'save']);
    expect(cluster.subnets.get(net.Id)?.size).toBe(0);
  });

  it('refuses what a routed overlay cannot have, in one line, with nothing made', async () => {
    const { host, service } = await routedHost();
    const mark = host.journal.mark;
    const refused = async (req: Parameters<NetworkService['createNetwork']>[0]) => {
      const err = await service.createNetwork(req).then(
        () => null,
        (e: Error) => e.message,
      );
      expect(err).not.toBeNull();
      return err;
    };
    const r = { name: 'flat', driver: 'overlay', mode: 'routed' };
    expect(await refused({ ...r })).toMatch(/needs its cluster range/);
    expect(await refused({ ...r, subnet: '10.244.0.0/16', ipv6: true })).toMatch(/IPv4 only/);
    expect(await refused({ ...r, subnet: '10.244.0.0/16', ipRange: '10.244.1.0/24' })).toMatch(/do not apply/);
    expect(await refused({ ...r, subnet: '10.244.0.0/16', hostSubnetSize: 31 })).toMatch(/invalid --host-subnet-size 31/);
    expect(await refused({ ...r, subnet: '10.244.0.0/16', mode: 'mesh' })).toMatch(/invalid --mode "mesh": l2 or routed/);
    expect(await refused({ name: 'flat', driver: 'overlay', subnet: '10.244.0.0/24', hostSubnetSize: 26 })).toMatch(/are for routed overlays/);
    expect(await refused({ name: 'flat', subnet: '10.244.0.0/24', mode: 'routed' })).toMatch(/are for overlay networks/);
    expect(host.journal.since(mark)).toEqual([]);
  });
});
