// `network create`, `network rm`, `ls`, `inspect` and `status` over fake devices and a fake data
// plane: the host route and the data-plane network come and go together.

import { afterEach, describe, expect, it } from 'vitest';
import { ApiFailure } from '../../../../src/control/gateway-api.js';
import type { NetworkService } from '../../../../src/control/network-service.js';
import { FakeHost, testConfig } from './fake-host.js';

const running: NetworkService[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.shutdown();
});

async function started(host = new FakeHost()) {
  host.devices.addNamespace('c1');
  const d = host.daemon();
  running.push(d.service);
  await d.service.restore();
  return { host, ...d };
}

describe('networks', () => {
  it('creates the default network at the first start, with its route and data-plane slot', async () => {
    const host = new FakeHost();
    const mark = host.journal.mark;
    const { service, dataplane } = await started(host);
    expect(host.journal.since(mark)).toEqual(['network+ 0 bridge', 'route+ 172.17.0.0/16', 'save', 'live-state restored']);
    expect(dataplane.networks.get(0)).toMatchObject({ name: 'bridge', prefixLen: 16, mtu: 1500, internal: false });
    expect(service.listNetworks()).toEqual([
      expect.objectContaining({ Name: 'bridge', Driver: 'bridge', Scope: 'local', Subnet: '172.17.0.0/16', Gateway: '172.17.0.1', Endpoints: 0 }),
    ]);
    expect(service.inspectNetwork('bridge').Options).toMatchObject({ 'com.docker.network.bridge.default_bridge': 'true', 'pontoon.dns': '172.17.0.1' });
  });

  it('creates and removes a network; refuses to remove one with endpoints or the default one', async () => {
    const { host, service } = await started();
    const mark = host.journal.mark;
    const created = await service.createNetwork({ name: 'back', subnet: '10.20.0.0/24', internal: true });
    expect(host.journal.since(mark)).toEqual(['network+ 1 back', 'route+ 10.20.0.0/24', 'save']);
    expect(created).toMatchObject({ Name: 'back', Internal: true, IPAM: { Config: [{ Subnet: '10.20.0.0/24', Gateway: '10.20.0.1' }] } });
    expect(service.inspectNetwork(created.Id.slice(0, 6)).Name).toBe('back');

    const ep = await service.connect('back', { netns: 'c1' });
    expect(host.devices.interfaces('c1').eth0).toMatchObject({ gateway: null }); // internal: no default route
    await expect(service.removeNetwork('back')).rejects.toThrow('network back has active endpoints (1)');
    await expect(service.removeNetwork('bridge')).rejects.toThrow('bridge is a pre-defined network and cannot be removed');
    await service.disconnect('back', { netns: ep.Name });

    const mark2 = host.journal.mark;
    await service.removeNetwork('back');
    expect(host.journal.since(mark2)).toEqual(['network- 1', 'route- 10.20.0.0/24', 'save']);
    expect(host.devices.routes).toEqual(new Set(['172.17.0.0/16']));
    await expect(service.removeNetwork('back')).rejects.toThrow('network back not found');
  });

  it('a create whose host route fails leaves no data-plane network behind', async () => {
    const { host, service, dataplane } = await started();
    host.journal.failOn('route+ 10.20.0.0/24', 'RTNETLINK answers: File exists', 1);
    await expect(service.createNetwork({ name: 'back', subnet: '10.20.0.0/24' })).rejects.toThrow('RTNETLINK answers: File exists');
    expect([...dataplane.networks.keys()]).toEqual([0]);
    expect(service.listNetworks().map((n) => n.Name)).toEqual(['bridge']);
    // the slot is free again
    await service.createNetwork({ name: 'back', subnet: '10.20.0.0/24' });
    expect([...dataplane.networks.keys()]).toEqual([0, 1]);
  });

  it('refuses what cannot be created, changing nothing', async () => {
    const { host, service } = await started();
    const mark = host.journal.mark;
    const refusal = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => (e instanceof ApiFailure ? `${e.status} ${e.message}` : String(e)));
    expect(await refusal(service.createNetwork({ name: 'bridge' }))).toBe('409 network with name bridge already exists');
    expect(await refusal(service.createNetwork({ name: 'x', subnet: '192.0.2.0/25' }))).toBe(
      '409 subnet 192.0.2.0/25 of network "x" overlaps with host route 192.0.2.0/24',
    );
    expect(await refusal(service.createNetwork({ name: 'x', vni: 5 }))).toBe('400 --vni is for overlay networks (--driver overlay)');
    expect(await refusal(service.createNetwork({ name: 'x', driver: 'overlay' }))).toBe(
      '400 overlay networks need cluster.advertise (this host\'s underlay address) in the daemon config',
    );
    expect(host.journal.since(mark)).toEqual([]);
  });

  it('status counts the networks and endpoints and names each port\'s network', async () => {
    const { service } = await started(new FakeHost(testConfig({ dns: { enabled: false } })));
    const ep = await service.connect('bridge', { netns: 'c1' });
    expect(ep.DNSServer).toBeUndefined(); // DNS off
    const st = await service.status();
    expect(st).toMatchObject({ version: '0.1.0', networks: 1, endpoints: 1 });
    expect(st.ports).toEqual([{ id: 1, name: 'eth0@c1', kind: 'tap', network: 'bridge', rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0 }]);
  });
});
