// A host whose underlay is IPv6 (cluster.advertise an IPv6 address) against a fake cluster store:
// its overlay networks get the IPv6 underlay's MTU (1500 - 70), peers and remote endpoints behind
// IPv6 VTEPs reach the data plane, and a VTEP of the other family is refused (a cluster event:
// warned and left out; `peer add`: a one-line error), as the config refuses static peers of the
// other family.

import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../../src/control/config.js';
import type { NetworkService } from '../../../../src/control/network-service.js';
import { FakeCluster, FakeHost, testConfig } from './fake-host.js';

const running: NetworkService[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.shutdown();
});

const OWN_VTEP = 'fd00:99::a';
const PEER = 'fd00:99::b';

async function inCluster() {
  const host = new FakeHost(testConfig({ cluster: { advertise: OWN_VTEP } }));
  host.devices.addNamespace('c1');
  const cluster = new FakeCluster(host.journal);
  const d = host.daemon(cluster);
  running.push(d.service);
  await d.service.restore();
  const ov = await d.service.createNetwork({ name: 'ov', driver: 'overlay', subnet: '10.10.0.0/24' });
  await d.service.clusterSettled();
  return { host, cluster, ...d, ovId: ov.Id };
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return `${(e as { status?: number }).status} ${(e as Error).message}`;
  }
  throw new Error('expected a failure');
}

function configError(text: string): string {
  try {
    parseConfig(text, 'x.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('IPv6 underlay: config', () => {
  it('takes an IPv6 advertise address and static peers of its family, in RFC 5952 form', () => {
    const c = parseConfig('cluster: { advertise: "FD00:0099:0::A", peers: [ "fd00:99:0:0::b" ] }', 'x.yaml');
    expect(c.cluster.advertise).toBe('fd00:99::a');
    expect(c.cluster.peers).toEqual(['fd00:99::b']);
    // etcd on the IPv6 underlay
    const e = parseConfig('cluster: { store: etcd, endpoints: [ "http://[fd00:99::1]:2379" ], advertise: "fd00:99::a" }', 'x.yaml');
    expect(e.cluster).toMatchObject({ store: 'etcd', endpoints: ['http://[fd00:99::1]:2379'], advertise: 'fd00:99::a' });
  });

  it('refuses a peer of the other family, and addresses no underlay socket can use', () => {
    expect(configError('cluster: { advertise: "fd00:99::a", peers: [ 192.0.2.2 ] }')).toBe(
      "x.yaml: cluster.peers.0: 192.0.2.2 is IPv4 but advertise fd00:99::a is IPv6: a cluster's underlay is one family",
    );
    expect(configError('cluster: { advertise: 192.0.2.1, peers: [ "fd00:99::b" ] }')).toBe(
      "x.yaml: cluster.peers.0: fd00:99::b is IPv6 but advertise 192.0.2.1 is IPv4: a cluster's underlay is one family",
    );
    expect(configError('cluster: { advertise: "fe80::1" }')).toBe(
      'x.yaml: cluster.advertise: "fe80::1" is not an underlay address: an IPv4 address, or an IPv6 address that is not link-local, multicast, unspecified or IPv4-mapped',
    );
    expect(configError('cluster: { advertise: "::ffff:192.0.2.1" }')).toMatch(/^x\.yaml: cluster\.advertise: "::ffff:192\.0\.2\.1" is not an underlay address/);
    expect(configError('cluster: { advertise: "ff02::1" }')).toMatch(/is not an underlay address/);
  });
});

describe('IPv6 underlay: overlay networks', () => {
  it('an overlay network defaults to the underlay MTU less 70 bytes, and refuses one that does not fit', async () => {
    const { service } = await inCluster();
    expect(service.inspectNetwork('ov').Options['com.docker.network.driver.mtu']).toBe('1430');
    expect(await failure(service.createNetwork({ name: 'ov2', driver: 'overlay', subnet: '10.11.0.0/24', mtu: 1450 }))).toBe(
      '400 MTU 1450 does not fit the underlay: at most 1430',
    );
  });

  it('peers and remote endpoints behind IPv6 VTEPs reach the data plane; an IPv4 VTEP is refused and left out', async () => {
    const { host, cluster, service, dataplane, ovId } = await inCluster();
    const mark = host.journal.mark;
    cluster.emit({ kind: 'vtep-up', networkId: ovId, vtep: PEER });
    cluster.emit({ kind: 'endpoint-up', endpoint: { id: 'r1', network: ovId, name: 'api', ip: '10.10.0.2', mac: '02:42:0a:0a:00:02', vtep: PEER, aliases: [] } });
    cluster.emit({ kind: 'vtep-up', networkId: ovId, vtep: '192.0.2.2' });
    cluster.emit({ kind: 'endpoint-up', endpoint: { id: 'r2', network: ovId, name: 'db', ip: '10.10.0.3', mac: '02:42:0a:0a:00:03', vtep: '192.0.2.2', aliases: [] } });
    await service.clusterSettled();
    expect(host.journal.since(mark)).toEqual([`peer+ 1 ${PEER}`, 'remote+ 1 10.10.0.2']);
    expect(dataplane.remotes).toEqual(new Map([['1 10.10.0.2', `02:42:0a:0a:00:02 via ${PEER}`]]));
    const inspected = service.inspectNetwork('ov');
    expect(inspected.Peers).toEqual([{ IP: PEER }]);
    expect(Object.keys(inspected.RemoteContainers ?? {})).toEqual(['r1']);

    const mark2 = host.journal.mark;
    cluster.emit({ kind: 'vtep-down', networkId: ovId, vtep: PEER });
    await service.clusterSettled();
    // the data plane forgets the VTEP's remote endpoints with it
    expect(host.journal.since(mark2)).toEqual([`peer- 1 ${PEER}`]);
    expect(service.inspectNetwork('ov').RemoteContainers ?? {}).toEqual({});
  });

  it('peer add takes an IPv6 VTEP (in its RFC 5952 form) and refuses an IPv4 one with one line', async () => {
    const { service } = await inCluster();
    const p = await service.addPeer('ov', { vtep: 'FD00:99:0::C', addresses: [] });
    expect(p.VTEP).toBe('fd00:99::c');
    expect(await failure(service.addPeer('ov', { vtep: '192.0.2.9', addresses: [] }))).toBe(
      "400 VTEP 192.0.2.9 is IPv4 but this host's underlay (cluster.advertise fd00:99::a) is IPv6: a cluster's underlay is one family",
    );
    expect(await failure(service.addPeer('ov', { vtep: 'FD00:99::A', addresses: [] }))).toBe("409 VTEP fd00:99::a is this host's own (cluster.advertise)");
    await service.removePeer('ov', 'fd00:0099::c');
    expect(await service.listPeers('ov')).toEqual([]);
  });
});
