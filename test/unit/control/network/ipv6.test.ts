// Networks with an IPv6 side over the fake host: what inspect shows, what the container's interface
// and the data plane are given, addresses handed out, fixed, freed and reused, and all of it back
// after a restart.

import { afterEach, describe, expect, it } from 'vitest';
import type { NetworkService } from '../../../../src/control/network-service.js';
import { FakeHost, testConfig } from './fake-host.js';

const running: NetworkService[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.shutdown();
});

function config(over: Partial<ReturnType<typeof testConfig>> = {}) {
  return { ...testConfig(), defaultPools6: [{ base: 'fd12:3456:789a::/48', size: 64 }], ...over };
}

async function started(host = new FakeHost(config())) {
  for (const n of ['c1', 'c2', 'c3']) host.devices.addNamespace(n);
  const d = host.daemon();
  running.push(d.service);
  await d.service.restore();
  return { host, ...d };
}

const DUAL = { name: 'dual', ipv6: true, subnets: ['172.20.0.0/16', 'fd00:20::/64'] };

describe('networks with IPv6', () => {
  it('inspect shows EnableIPv6, one IPAM.Config entry per family and each endpoint\'s IPv6Address', async () => {
    const { service } = await started();
    await service.createNetwork({ ...DUAL, gateways: ['fd00:20::1'], ipRanges: ['fd00:20::/120'] });
    const ep = await service.connect('dual', { netns: 'c1' });
    const n = service.inspectNetwork('dual');
    expect(n.EnableIPv6).toBe(true);
    expect(n.IPAM).toEqual({
      Driver: 'default',
      Options: {},
      Config: [
        { Subnet: '172.20.0.0/16', Gateway: '172.20.0.1' },
        { Subnet: 'fd00:20::/64', Gateway: 'fd00:20::1', IPRange: 'fd00:20::/120' },
      ],
    });
    expect(n.Options).toMatchObject({ 'pontoon.ipv6.nat': 'true' });
    expect(n.Containers[ep.EndpointID]).toMatchObject({ Name: 'c1', MacAddress: '02:42:ac:14:00:02', IPv4Address: '172.20.0.2/16', IPv6Address: 'fd00:20::2/64' });
    expect(service.listNetworks().find((s) => s.Name === 'dual')).toMatchObject({ IPv6: true, Subnet: '172.20.0.0/16' });
    // a network without IPv6 is unchanged
    const bridge = service.inspectNetwork('bridge');
    expect(bridge.EnableIPv6).toBe(false);
    expect(bridge.IPAM.Config).toEqual([{ Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }]);
    const onBridge = await service.connect('bridge', { netns: 'c2' });
    expect(onBridge.IPv6Address).toBe('');
    expect(service.listNetworks().find((s) => s.Name === 'bridge')).toMatchObject({ IPv6: false });
  });

  it('the interface gets its IPv6 address and a default route via fe80::1; the data plane gets both specs', async () => {
    const { host, service, dataplane } = await started();
    await service.createNetwork(DUAL);
    await service.connect('dual', { netns: 'c1' });
    expect(host.devices.interfaces('c1').eth0).toEqual({
      mac: '02:42:ac:14:00:02',
      cidr: '172.20.0.2/16',
      mtu: 1500,
      gateway: '172.20.0.1',
      ipv6: { cidr: 'fd00:20::2/64', gateway: 'fe80::1' },
    });
    expect(dataplane.networks.get(1)).toEqual({
      index: 1,
      name: 'dual',
      subnet: 0xac140000,
      prefixLen: 16,
      gatewayIp: 0xac140001,
      gatewayMac: expect.any(Number) as number,
      mtu: 1500,
      internal: false,
      ipv6: { subnet: [0xfd000020, 0, 0, 0], prefixLen: 64, gatewayIp: [0xfd000020, 0, 0, 1], nat: true },
    });
    const port = [...dataplane.ports.values()].find((p) => p.name === 'eth0@c1')!;
    expect(port.ip6).toEqual([0xfd000020, 0, 0, 2]);
    // the specs are plain data: they survive the structured clone of the worker boundary
    expect(structuredClone(dataplane.networks.get(1))).toEqual(dataplane.networks.get(1));
    expect(structuredClone(port)).toEqual(port);
  });

  it('an internal network: no default routes; a global prefix is routed (nat false) unless -o says otherwise', async () => {
    const { host, service, dataplane } = await started();
    await service.createNetwork({ name: 'g', ipv6: true, internal: true, subnets: ['172.21.0.0/16', '2001:db8:21::/64'] });
    await service.connect('g', { netns: 'c1' });
    expect(host.devices.interfaces('c1').eth0).toMatchObject({ gateway: null, ipv6: { cidr: '2001:db8:21::2/64', gateway: null } });
    expect(dataplane.networks.get(1)?.ipv6?.nat).toBe(false);
    await service.createNetwork({ name: 'g2', ipv6: true, ipv6Nat: true, subnets: ['172.22.0.0/16', '2001:db8:22::/64'] });
    expect(dataplane.networks.get(2)?.ipv6?.nat).toBe(true);
  });

  it('--ip6 fixes an address; a freed one is handed out again; refusals are one line and leave nothing', async () => {
    const { host, service } = await started();
    await service.createNetwork(DUAL);
    const a = await service.connect('dual', { netns: 'c1', ip6: 'fd00:20::99' });
    expect(a.IPv6Address).toBe('fd00:20::99/64');
    const b = await service.connect('dual', { netns: 'c2' });
    expect(b.IPv6Address).toBe('fd00:20::2/64');
    const mark = host.journal.mark;
    await expect(service.connect('dual', { netns: 'c3', ip6: 'fd00:20::99' })).rejects.toThrow('address fd00:20::99 is already in use on network "dual"');
    await expect(service.connect('dual', { netns: 'c3', ip6: 'fd00:21::1' })).rejects.toThrow('address fd00:21::1 is not in subnet fd00:20::/64 of network "dual"');
    await expect(service.connect('bridge', { netns: 'c3', ip6: 'fd00:20::5' })).rejects.toThrow(
      'network bridge has no IPv6 (it was created without --ipv6): --ip6 fd00:20::5 cannot be given',
    );
    expect(host.journal.since(mark)).toEqual([]);
    // the IPv4 address the refused connects took was given back too
    const c = await service.connect('dual', { netns: 'c3' });
    expect([c.IPv4Address, c.IPv6Address]).toEqual(['172.20.0.4/16', 'fd00:20::3/64']);
    await service.disconnect('dual', { netns: 'c2' });
    expect(host.devices.interfaces('c2')).toEqual({});
    const d = await service.connect('dual', { netns: 'c2' });
    expect(d.IPv6Address).toBe('fd00:20::2/64');
  });

  it('--ipv6 without an IPv6 subnet takes the next /64 of the pool; overlaps are refused', async () => {
    const { service } = await started();
    const a = await service.createNetwork({ name: 'a', ipv6: true });
    expect(a.IPAM.Config[1]).toEqual({ Subnet: 'fd12:3456:789a::/64', Gateway: 'fd12:3456:789a::1' });
    const b = await service.createNetwork({ name: 'b', ipv6: true });
    expect(b.IPAM.Config[1]).toEqual({ Subnet: 'fd12:3456:789a:1::/64', Gateway: 'fd12:3456:789a:1::1' });
    await expect(service.createNetwork({ name: 'c', ipv6: true, subnets: ['172.30.0.0/16', 'fd12:3456:789a::/56'] })).rejects.toThrow(
      'subnet fd12:3456:789a::/56 of network "c" overlaps with fd12:3456:789a::/64 of network "a"',
    );
    await expect(service.createNetwork({ name: 'c', subnets: ['fd00:30::/64'] })).rejects.toThrow('IPv6 subnet fd00:30::/64 needs --ipv6');
    // only an IPv6 subnet: an IPv6-only network (ipv6-only.test.ts)
    expect((await service.createNetwork({ name: 'c', ipv6: true, subnets: ['fd00:30::/64'] })).IPAM.Config).toEqual([{ Subnet: 'fd00:30::/64', Gateway: 'fd00:30::1' }]);
  });

  it('a restart brings back the IPv6 side, the addresses and the allocator\'s state', async () => {
    const { host, service } = await started();
    await service.createNetwork(DUAL);
    await service.connect('dual', { netns: 'c1' });
    await service.connect('dual', { netns: 'c2', ip6: 'fd00:20::7' });
    const saved = host.store.saved!.networks.find((n) => n.name === 'dual')!;
    expect(saved.ipv6).toEqual({ subnet: 'fd00:20::/64', gateway: 'fd00:20::1', nat: true });
    expect(saved.endpoints.map((e) => [e.name, e.ip, e.ip6])).toEqual([
      ['c1', '172.20.0.2', 'fd00:20::2'],
      ['c2', '172.20.0.3', 'fd00:20::7'],
    ]);
    await service.shutdown();
    running.splice(0);

    const again = host.daemon();
    running.push(again.service);
    const mark = host.journal.mark;
    await again.service.restore();
    expect(host.devices.interfaces('c1').eth0).toMatchObject({ ipv6: { cidr: 'fd00:20::2/64', gateway: 'fe80::1' } });
    expect(host.journal.since(mark)).toContain('port+ 2 eth0@c2 172.20.0.3');
    expect([...again.dataplane.ports.values()].map((p) => p.ip6)).toEqual([[0xfd000020, 0, 0, 2], [0xfd000020, 0, 0, 7]]);
    expect(again.service.inspectNetwork('dual').IPAM.Config[1]).toEqual({ Subnet: 'fd00:20::/64', Gateway: 'fd00:20::1' });
    const c = await again.service.connect('dual', { netns: 'c3' });
    expect(c.IPv6Address).toBe('fd00:20::3/64');
    await expect(again.service.connect('dual', { netns: 'c3', ip6: 'fd00:20::7' })).rejects.toThrow('is already connected');
  });

  it('the default network gets IPv6 from defaultNetwork.ipv6 and fixedCidrV6', async () => {
    const c = config();
    const host = new FakeHost({ ...c, defaultNetwork: { ...c.defaultNetwork!, ipv6: true, fixedCidrV6: 'fd00:17::/64' } });
    const { service } = await started(host);
    const n = service.inspectNetwork('bridge');
    expect([n.EnableIPv6, n.IPAM.Config]).toEqual([
      true,
      [
        { Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' },
        { Subnet: 'fd00:17::/64', Gateway: 'fd00:17::1' },
      ],
    ]);
    const host2 = new FakeHost({ ...c, defaultNetwork: { ...c.defaultNetwork!, ipv6: true } });
    const second = await started(host2);
    expect(second.service.inspectNetwork('bridge').IPAM.Config[1]).toEqual({ Subnet: 'fd12:3456:789a::/64', Gateway: 'fd12:3456:789a::1' });
  });
});
