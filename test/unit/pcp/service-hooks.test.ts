// What the network service does for the NAT-PMP/PCP server: tells it when an endpoint leaves
// (before its port goes), lists its mappings after the published ports in `pontoon port`, and
// answers who an address is.

import { afterEach, describe, expect, it } from 'vitest';
import type { PortMappingResource } from '../../../src/control/api-types.js';
import type { ExplicitMappings, NetworkService } from '../../../src/control/network-service.js';
import { parseIpv4 } from '../../../src/wire/ipv4-address.js';
import { FakeHost } from '../control/network/fake-host.js';

const running: NetworkService[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.shutdown();
});

async function started() {
  const host = new FakeHost();
  host.devices.addNamespace('c1');
  host.devices.addNamespace('c2');
  const gone: number[] = [];
  const explicit: ExplicitMappings = {
    async endpointGone(ip) {
      host.journal.record(`pcp-gone ${ip}`);
      gone.push(ip);
    },
    portsOf(ip, network): PortMappingResource[] {
      return ip === parseIpv4('172.17.0.2')
        ? [{ proto: 'tcp', hostIp: '198.51.100.2', hostPort: 4000, containerPort: 4000, network, containerIp: '172.17.0.2', source: 'nat-pmp', lifetimeSeconds: 42 }]
        : [];
    },
  };
  const d = host.daemon(null, explicit);
  running.push(d.service);
  await d.service.restore();
  return { host, gone, ...d };
}

describe('the network service and the NAT-PMP/PCP server', () => {
  it('a disconnect removes the mappings first, then the published ports and the port', async () => {
    const { host, service, gone } = await started();
    await service.connect('bridge', { netns: 'c1', publish: ['8080:80'] });
    const mark = host.journal.mark;
    await service.disconnect('bridge', { netns: 'c1' });
    expect(host.journal.since(mark)).toEqual([`pcp-gone ${parseIpv4('172.17.0.2')}`, 'publish- tcp/8080', 'port- 1', 'tap- c1/eth0', 'save']);
    expect(gone).toEqual([parseIpv4('172.17.0.2')]);
  });

  it('pontoon port lists the mappings after the published ports', async () => {
    const { service } = await started();
    await service.connect('bridge', { netns: 'c1', publish: ['8080:80'] });
    await service.connect('bridge', { netns: 'c2' });
    expect(service.ports('c1')).toEqual([
      { proto: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, network: 'bridge', containerIp: '172.17.0.2' },
      { proto: 'tcp', hostIp: '198.51.100.2', hostPort: 4000, containerPort: 4000, network: 'bridge', containerIp: '172.17.0.2', source: 'nat-pmp', lifetimeSeconds: 42 },
    ]);
    expect(service.ports('c2')).toEqual([]);
  });

  it('names the endpoint of an address and the networks that masquerade', async () => {
    const { service } = await started();
    await service.createNetwork({ name: 'back', subnet: '10.20.0.0/24', internal: true });
    await service.connect('bridge', { netns: 'c1' });
    await service.connect('back', { netns: 'c2' });
    const bridge = service.endpointOf(parseIpv4('172.17.0.2'));
    expect(bridge).toMatchObject({ masquerading: true });
    const back = service.endpointOf(parseIpv4('10.20.0.2'));
    expect(back).toMatchObject({ masquerading: false });
    expect(back!.network).not.toBe(bridge!.network);
    expect(service.endpointOf(parseIpv4('10.9.9.9'))).toBeNull();
    expect(service.masqueradingNetworks()).toEqual([bridge!.network]);
  });
});
