// Overlay networks with IPv6 (issue 13) against a fake cluster store: the network record carries
// the IPv6 side to every host, endpoints' IPv6 addresses are claimed cluster-wide and published
// with the endpoint, and what the store tells of other hosts' IPv6 addresses reaches the data
// plane's remote endpoints (NDP suppression) and the allocator.

import { afterEach, describe, expect, it } from 'vitest';
import type { OverlayEndpointDef, OverlayNetworkDef } from '../../../../src/control/cluster/cluster-store.js';
import type { NetworkService } from '../../../../src/control/network-service.js';
import { FakeCluster, FakeHost, testConfig } from './fake-host.js';

const running: NetworkService[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.shutdown();
});

const OWN_VTEP = '192.0.2.1';
const DUAL = { name: 'ov', driver: 'overlay', ipv6: true, subnets: ['10.10.0.0/24', 'fd00:30::/64'] };

/** A started host in a cluster (a store of `kind`); nothing created yet. */
async function host(kind = 'fake') {
  const h = new FakeHost(testConfig({ cluster: { advertise: OWN_VTEP } }));
  for (const n of ['c1', 'c2']) h.devices.addNamespace(n);
  const cluster = new FakeCluster(h.journal);
  Object.defineProperty(cluster, 'kind', { value: kind });
  const d = h.daemon(cluster);
  running.push(d.service);
  await d.service.restore();
  return { host: h, cluster, ...d };
}

function remote(networkId: string, id: string, ip: string, ip6: string | undefined, vtep: string): OverlayEndpointDef {
  const n = ip.split('.')[3];
  return { id, network: networkId, name: id, ip, ...(ip6 !== undefined ? { ip6 } : {}), mac: `02:42:0a:0a:00:0${n}`, vtep, aliases: [] };
}

describe('overlay networks with IPv6', () => {
  it('--ipv6 on an overlay: the store\'s record carries the IPv6 side, the data plane and inspect get it', async () => {
    const { cluster, service, dataplane } = await host();
    const ov = await service.createNetwork(DUAL);
    await service.clusterSettled();
    expect(cluster.networks.get(ov.Id)?.ipv6).toEqual({ subnet: 'fd00:30::/64', gateway: 'fd00:30::1', nat: true });
    expect(dataplane.networks.get(1)).toMatchObject({ vni: 4096, ipv6: { subnet: [0xfd000030, 0, 0, 0], prefixLen: 64, gatewayIp: [0xfd000030, 0, 0, 1] } });
    const n = service.inspectNetwork('ov');
    expect(n.EnableIPv6).toBe(true);
    expect(n.IPAM.Config).toEqual([
      { Subnet: '10.10.0.0/24', Gateway: '10.10.0.1' },
      { Subnet: 'fd00:30::/64', Gateway: 'fd00:30::1' },
    ]);
  });

  it("an endpoint's IPv6 address is claimed cluster-wide, past other hosts' claims, and published with it; released on disconnect", async () => {
    const { host: h, cluster, service, dataplane } = await host();
    const ov = await service.createNetwork(DUAL);
    await service.clusterSettled();
    // another host's endpoint (known from its event) and an address claimed elsewhere (no event yet)
    cluster.emit({ kind: 'endpoint-up', endpoint: remote(ov.Id, 'r2', '10.10.0.2', 'fd00:30::2', '192.0.2.2') });
    await service.clusterSettled();
    cluster.claims.get(ov.Id)?.set('fd00:30::3', 'elsewhere') ?? cluster.claims.set(ov.Id, new Map([['fd00:30::3', 'elsewhere']]));
    const mark = h.journal.mark;
    const ep = await service.connect('ov', { netns: 'c1' });
    expect(ep).toMatchObject({ IPv4Address: '10.10.0.3/24', IPv6Address: 'fd00:30::4/64' });
    expect(h.journal.since(mark).filter((e) => /^(claim|register)/.test(e))).toEqual(['claim 10.10.0.3', 'claim fd00:30::4', 'register c1 10.10.0.3 at 192.0.2.1']);
    expect(cluster.endpoints.get(ep.EndpointID)).toMatchObject({ ip: '10.10.0.3', ip6: 'fd00:30::4', mac: '02:42:0a:0a:00:03', vtep: OWN_VTEP });
    expect(cluster.claims.get(ov.Id)?.get('fd00:30::4')).toBe(ep.EndpointID);
    expect(dataplane.ports.get(1)?.ip6).toEqual([0xfd000030, 0, 0, 4]);

    // --ip6 given: checked here, claimed there
    const fixed = await service.connect('ov', { netns: 'c2', ip6: 'fd00:30:0:0::99' });
    expect(fixed.IPv6Address).toBe('fd00:30::99/64');
    expect(cluster.claims.get(ov.Id)?.get('fd00:30::99')).toBe(fixed.EndpointID);

    const mark2 = h.journal.mark;
    await service.disconnect('ov', { netns: 'c1' });
    expect(h.journal.since(mark2).filter((e) => e.startsWith('release'))).toEqual(['release 10.10.0.3', 'release fd00:30::4']);
    expect(cluster.claims.get(ov.Id)?.has('fd00:30::4')).toBe(false);
  });

  it('a connect refused by the store for its IPv6 address leaves nothing: both claims are undone', async () => {
    const { host: h, cluster, service } = await host();
    const ov = await service.createNetwork(DUAL);
    await service.clusterSettled();
    cluster.claims.get(ov.Id)?.set('fd00:30::7', 'elsewhere') ?? cluster.claims.set(ov.Id, new Map([['fd00:30::7', 'elsewhere']]));
    const mark = h.journal.mark;
    await expect(service.connect('ov', { netns: 'c1', ip6: 'fd00:30::7' })).rejects.toThrow('address fd00:30::7 is already in use');
    expect(h.journal.since(mark)).toEqual(['claim 10.10.0.2', 'release 10.10.0.2']);
    expect([...(cluster.claims.get(ov.Id)?.keys() ?? [])]).toEqual(['fd00:30::7']);
    // and the address is free locally again
    expect((await service.connect('ov', { netns: 'c1' })).IPv6Address).toBe('fd00:30::2/64');
  });

  it("other hosts' IPv6 addresses reach the data plane (NDP suppression) and leave with the endpoint or its VTEP", async () => {
    const { host: h, cluster, service, dataplane } = await host();
    const ov = await service.createNetwork(DUAL);
    await service.clusterSettled();
    const mark = h.journal.mark;
    cluster.emit({ kind: 'endpoint-up', endpoint: remote(ov.Id, 'r2', '10.10.0.2', 'fd00:30::2', '192.0.2.2') });
    cluster.emit({ kind: 'endpoint-up', endpoint: remote(ov.Id, 'r3', '10.10.0.3', 'fd00:30:0::3', '192.0.2.3') });
    // no IPv6 (a host of an older version), and one outside the subnet: IPv4 only
    cluster.emit({ kind: 'endpoint-up', endpoint: remote(ov.Id, 'r4', '10.10.0.4', undefined, '192.0.2.3') });
    cluster.emit({ kind: 'endpoint-up', endpoint: remote(ov.Id, 'r5', '10.10.0.5', 'fd00:99::5', '192.0.2.3') });
    await service.clusterSettled();
    expect(h.journal.since(mark)).toEqual([
      'remote+ 1 10.10.0.2',
      'remote6+ 1 fd00:30::2',
      'remote+ 1 10.10.0.3',
      'remote6+ 1 fd00:30::3',
      'remote+ 1 10.10.0.4',
      'remote+ 1 10.10.0.5',
    ]);
    expect(dataplane.remotes.get('1 fd00:30::2')).toBe('02:42:0a:0a:00:02 via 192.0.2.2');
    // the allocator knows them: a local container gets the next free one
    expect((await service.connect('ov', { netns: 'c1' })).IPv6Address).toBe('fd00:30::4/64');

    const mark2 = h.journal.mark;
    cluster.emit({ kind: 'endpoint-down', networkId: ov.Id, endpointId: 'r2' });
    cluster.emit({ kind: 'vtep-down', networkId: ov.Id, vtep: '192.0.2.3' });
    await service.clusterSettled();
    expect(h.journal.since(mark2)).toEqual(['remote- 1 10.10.0.2', 'remote6- 1 fd00:30::2', 'remote6- 1 fd00:30::3', 'peer- 1 192.0.2.3']);
    expect([...dataplane.remotes.keys()].filter((k) => k.includes(':'))).toEqual([]);
    // the addresses of the endpoint that left and of the VTEP that went down are free again
    expect((await service.connect('ov', { netns: 'c2' })).IPv6Address).toBe('fd00:30::2/64');
    h.devices.addNamespace('c3');
    expect((await service.connect('ov', { netns: 'c3' })).IPv6Address).toBe('fd00:30::3/64');
  });

  it("adopts another host's network with its IPv6 side; a record without one (an older version's) stays IPv4 only", async () => {
    const { host: h, cluster, service, dataplane } = await host();
    const base: OverlayNetworkDef = {
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
    const dual: OverlayNetworkDef = { ...base, ipv6: { subnet: 'fd00:31::/64', gateway: 'fd00:31::1', ipRange: 'fd00:31::100/120', nat: false } };
    const old: OverlayNetworkDef = { ...base, id: 'e'.repeat(64), name: 'old', subnet: '10.31.0.0/24', gateway: '10.31.0.1', vni: 8193 };
    cluster.emit({ kind: 'network-added', network: JSON.parse(JSON.stringify(dual)) as OverlayNetworkDef });
    cluster.emit({ kind: 'network-added', network: JSON.parse(JSON.stringify(old)) as OverlayNetworkDef });
    await service.clusterSettled();
    expect(dataplane.networks.get(1)?.ipv6).toEqual({ subnet: [0xfd000031, 0, 0, 0], prefixLen: 64, gatewayIp: [0xfd000031, 0, 0, 1], nat: false });
    expect(dataplane.networks.get(2)?.ipv6).toBeUndefined();
    expect(service.inspectNetwork('far').IPAM.Config[1]).toEqual({ Subnet: 'fd00:31::/64', Gateway: 'fd00:31::1', IPRange: 'fd00:31::100/120' });
    expect(service.inspectNetwork('old').EnableIPv6).toBe(false);
    // the creator's ip-range on this host too
    expect((await service.connect('far', { netns: 'c1' })).IPv6Address).toBe('fd00:31::100/64');
    expect((await service.connect('old', { netns: 'c2' })).IPv6Address).toBe('');
    // both kept across a restart, as the state file has them
    expect(h.store.saved!.networks.find((n) => n.name === 'far')?.ipv6).toEqual(dual.ipv6);
  });

  it('announces its endpoints\' IPv6 addresses again after a restart', async () => {
    const { host: h, cluster, service } = await host();
    await service.createNetwork(DUAL);
    await service.clusterSettled();
    const ep = await service.connect('ov', { netns: 'c1' });
    await service.shutdown();
    running.splice(running.indexOf(service), 1);
    cluster.endpoints.clear();
    const again = h.daemon(cluster);
    running.push(again.service);
    const mark = h.journal.mark;
    await again.service.restore();
    expect(h.journal.since(mark).slice(-4)).toEqual(['join ov', 'claim 10.10.0.2', 'claim fd00:30::2', 'register c1 10.10.0.2 at 192.0.2.1']);
    expect(cluster.endpoints.get(ep.EndpointID)).toMatchObject({ ip6: 'fd00:30::2' });
  });

  it('refusals: an IPv6-only overlay; with the static store, --ipv6 without its IPv6 subnet (no store to share the pool\'s choice)', async () => {
    const { service } = await host();
    await expect(service.createNetwork({ name: 'v6only', driver: 'overlay', ipv6: true, subnets: ['fd00:40::/64'] })).rejects.toThrow(
      'network v6only: IPv6-only overlay networks are not supported: give an IPv4 subnet too (--subnet)',
    );
    const s = await host('static');
    await expect(s.service.createNetwork({ name: 'auto', driver: 'overlay', ipv6: true, subnet: '10.40.0.0/24' })).rejects.toThrow(
      'network auto: an overlay network with --ipv6 and cluster.store none needs its IPv6 --subnet, the same on every host',
    );
    expect((await s.service.createNetwork({ ...DUAL, name: 'given' })).EnableIPv6).toBe(true);
  });
});
