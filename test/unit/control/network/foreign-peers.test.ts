// Foreign VTEPs (`pontoon peer add|rm|ls`) against a fake cluster store: what is checked before the
// store is asked, what the store's events then put in the data plane, and the static store's own
// keeping of them (a file, the events, its address allocation).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterEvent } from '../../../../src/control/cluster/cluster-store.js';
import { StaticStore } from '../../../../src/control/cluster/static-store.js';
import type { NetworkService } from '../../../../src/control/network-service.js';
import { FakeCluster, FakeHost, testConfig } from './fake-host.js';

const running: NetworkService[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.shutdown();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const OWN_VTEP = '192.0.2.1';
const FOREIGN = '192.0.2.9';

async function inCluster() {
  const host = new FakeHost(testConfig({ cluster: { advertise: OWN_VTEP } }));
  host.devices.addNamespace('c1');
  const cluster = new FakeCluster(host.journal);
  const d = host.daemon(cluster);
  running.push(d.service);
  await d.service.restore();
  const ov = await d.service.createNetwork({ name: 'ov', driver: 'overlay', subnet: '10.10.0.0/24' });
  await d.service.createNetwork({ name: 'br', subnet: '10.20.0.0/24' });
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

describe('foreign peers', () => {
  it('registers a VTEP in the store; its events make it a peer and its address with a MAC a remote endpoint', async () => {
    const { host, cluster, service, dataplane, ovId } = await inCluster();
    const mark = host.journal.mark;
    const p = await service.addPeer('ov', { vtep: FOREIGN, addresses: [{ ip: '10.10.0.200', mac: '02:AA:00:00:00:C8' }, { ip: '10.10.0.201' }] });
    await service.clusterSettled();
    expect(p).toEqual({
      Network: 'ov',
      NetworkID: ovId,
      VTEP: FOREIGN,
      Addresses: [
        { IP: '10.10.0.200', MacAddress: '02:aa:00:00:00:c8' },
        { IP: '10.10.0.201', MacAddress: '' },
      ],
      Created: expect.any(String),
    });
    expect(host.journal.since(mark)).toEqual([`foreign+ ${FOREIGN} 10.10.0.200,10.10.0.201`, `peer+ 1 ${FOREIGN}`, 'remote+ 1 10.10.0.200']);
    expect(dataplane.remotes.get('1 10.10.0.200')).toBe(`02:aa:00:00:00:c8 via ${FOREIGN}`);
    expect(await service.listPeers('ov')).toEqual([p]);
    expect(await service.listPeers(null)).toEqual([p]);
    // no DNS name for it; both addresses are taken for containers
    expect(service.inspectNetwork('ov').RemoteContainers?.[`peer-${FOREIGN}-10.10.0.200`]).toMatchObject({ Name: '', Host: FOREIGN });
    expect(await failure(service.connect('ov', { netns: 'c1', ip: '10.10.0.200' }))).toMatch(/^409 address 10\.10\.0\.200 is already in use/);
    expect(await failure(service.connect('ov', { netns: 'c1', ip: '10.10.0.201' }))).toMatch(/^409 address 10\.10\.0\.201 is already in use/);

    const mark2 = host.journal.mark;
    await service.removePeer('ov', FOREIGN);
    await service.clusterSettled();
    expect(host.journal.since(mark2)).toEqual([`foreign- ${FOREIGN}`, 'remote- 1 10.10.0.200', `peer- 1 ${FOREIGN}`]);
    expect(await service.listPeers('ov')).toEqual([]);
    expect(await failure(service.removePeer('ov', FOREIGN))).toBe(`404 VTEP ${FOREIGN} is not a foreign peer of network ov`);
    // the addresses are free again
    expect(await service.connect('ov', { netns: 'c1', ip: '10.10.0.201' })).toMatchObject({ IPv4Address: '10.10.0.201/24' });
    expect(cluster.foreign.size).toBe(0);
  });

  it('refuses with one line, changing nothing: a bridge network, its own VTEP, a bad VTEP, MAC or address, a duplicate', async () => {
    const { host, service } = await inCluster();
    const mark = host.journal.mark;
    const add = (network: string, vtep: string, addresses: { ip: string; mac?: string }[] = []) => failure(service.addPeer(network, { vtep, addresses }));
    expect(await add('br', FOREIGN)).toBe('400 network br is not an overlay network: foreign VTEPs join overlay networks only');
    expect(await add('nope', FOREIGN)).toMatch(/^404 /);
    expect(await add('ov', OWN_VTEP)).toBe(`409 VTEP ${OWN_VTEP} is this host's own (cluster.advertise)`);
    expect(await add('ov', '192.0.2')).toBe('400 invalid VTEP "192.0.2": not an IPv4 address or a usable IPv6 one');
    expect(await add('ov', FOREIGN, [{ ip: '10.10.1.5' }])).toMatch(/^400 address 10\.10\.1\.5 is not in subnet 10\.10\.0\.0\/24/);
    expect(await add('ov', FOREIGN, [{ ip: '10.10.0.1' }])).toMatch(/^409 address 10\.10\.0\.1 is already in use .*\(it is the gateway\)$/);
    expect(await add('ov', FOREIGN, [{ ip: '10.10.0.5', mac: 'zz' }])).toBe('400 invalid MAC address "zz" for 10.10.0.5');
    expect(await add('ov', FOREIGN, [{ ip: '10.10.0.5', mac: '01:00:5e:00:00:01' }])).toBe('400 MAC address 01:00:5e:00:00:01 for 10.10.0.5 is not a unicast address');
    expect(await add('ov', FOREIGN, [{ ip: '10.10.0.5' }, { ip: '10.10.0.5' }])).toBe('400 address 10.10.0.5 is given twice');
    expect(host.journal.since(mark)).toEqual([]);
    await service.addPeer('ov', { vtep: FOREIGN });
    expect(await add('ov', FOREIGN)).toMatch(`409 VTEP ${FOREIGN} is already a member of network ov`);
  });
});

describe('the static store keeps foreign peers', () => {
  it('in a file, announces them once the network is joined, keeps their addresses out of its allocations', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pontoon-peers-'));
    dirs.push(dir);
    const file = join(dir, 'foreign-peers.json');
    const events: ClusterEvent[] = [];
    const store = new StaticStore(['192.0.2.2'], file);
    await store.start((e) => events.push(e));
    const def = { network: 'n1', vtep: FOREIGN, addresses: [{ ip: '10.0.0.9', mac: '02:00:00:00:00:09' }, { ip: '10.0.0.10' }], created: '2026-12-02T00:00:00.000Z' };
    await store.addForeignPeer(def);
    expect(events).toEqual([]); // not joined yet
    await store.joinNetwork('n1');
    expect(events.splice(0)).toEqual([
      { kind: 'vtep-up', networkId: 'n1', vtep: '192.0.2.2' },
      { kind: 'vtep-up', networkId: 'n1', vtep: FOREIGN },
      { kind: 'endpoint-up', endpoint: { id: `peer-${FOREIGN}-10.0.0.9`, network: 'n1', name: '', ip: '10.0.0.9', mac: '02:00:00:00:00:09', vtep: FOREIGN, aliases: [] } },
    ]);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual([def]);
    expect(await failure(store.addForeignPeer({ ...def, vtep: '192.0.2.2' }))).toBe('409 VTEP 192.0.2.2 is already a peer of every network (cluster.peers)');
    expect(await store.claimAddress('n1', 'x', ['10.0.0.9', '10.0.0.10', '10.0.0.11'])).toBe('10.0.0.11');
    expect(await failure(store.claimAddress('n1', 'x', [], '10.0.0.10'))).toBe('409 address 10.0.0.10 is already in use (behind a foreign VTEP)');

    // a new daemon reads them back
    const again = new StaticStore([], file);
    expect(await again.foreignPeers('n1')).toEqual([def]);

    await store.removeForeignPeer('n1', FOREIGN);
    expect(events.splice(0)).toEqual([
      { kind: 'endpoint-down', networkId: 'n1', endpointId: `peer-${FOREIGN}-10.0.0.9` },
      { kind: 'vtep-down', networkId: 'n1', vtep: FOREIGN },
    ]);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual([]);
  });
});
