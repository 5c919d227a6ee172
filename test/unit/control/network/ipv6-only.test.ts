// IPv6-only bridge networks over the fake host: created from an IPv6 --subnet alone, shown as
// Docker shows them, their endpoints without IPv4 (interface, data plane, DNS, resolv.conf), the
// refusals (--ip, IPv4 publishing, no IPv6 side in a corrupt record), and all of it back after a
// restart.

import { afterEach, describe, expect, it } from 'vitest';
import type { NetworkService } from '../../../../src/control/network-service.js';
import { FakeHost, testConfig } from './fake-host.js';

const running: NetworkService[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.shutdown();
});

async function started(host = new FakeHost(testConfig())) {
  for (const n of ['c1', 'c2', 'c3']) host.devices.addNamespace(n);
  const d = host.daemon();
  running.push(d.service);
  await d.service.restore();
  return { host, ...d };
}

const ONLY6 = { name: 'v6', ipv6: true, subnets: ['fd00:20::/64'] };

describe('IPv6-only networks', () => {
  it('create: inspect has only the IPv6 IPAM.Config entry and EnableIPv6; ls shows no IPv4 subnet; no IPv4 host route', async () => {
    const { host, service, dataplane } = await started();
    const n = await service.createNetwork(ONLY6);
    expect(n.EnableIPv6).toBe(true);
    expect(n.IPAM.Config).toEqual([{ Subnet: 'fd00:20::/64', Gateway: 'fd00:20::1' }]);
    expect(n.Options).toMatchObject({ 'pontoon.dns': 'fd00:20::1', 'pontoon.ipv6.nat': 'true' });
    expect(service.listNetworks().find((s) => s.Name === 'v6')).toMatchObject({ IPv6: true, Subnet: '', Gateway: '' });
    expect(dataplane.networks.get(1)).toMatchObject({ name: 'v6', ipv4: false, subnet: 0, prefixLen: 0, gatewayIp: 0, ipv6: { subnet: [0xfd000020, 0, 0, 0], prefixLen: 64 } });
    expect([...host.devices.routes]).toEqual(['172.17.0.0/16', 'fd00:20::/64']);
    // a gateway of its own, and the pool's /64 for a second one
    const g = await service.createNetwork({ name: 'g', ipv6: true, subnets: ['fd00:21::/64'], gateways: ['fd00:21::fe'] });
    expect(g.IPAM.Config).toEqual([{ Subnet: 'fd00:21::/64', Gateway: 'fd00:21::fe' }]);
    await service.removeNetwork('g');
    await service.removeNetwork('v6');
    expect([...host.devices.routes]).toEqual(['172.17.0.0/16']);
    expect(dataplane.networks.has(1)).toBe(false);
  });

  it('connect: no IPv4 address, its IPv6 one, a default route via fe80::1 only; the data plane port has no IPv4', async () => {
    const { host, service, dataplane } = await started();
    await service.createNetwork(ONLY6);
    const a = await service.connect('v6', { netns: 'c1' });
    const b = await service.connect('v6', { netns: 'c2', ip6: 'fd00:20::1:0:0:2' });
    expect([a.IPv4Address, a.IPv6Address, a.MacAddress]).toEqual(['', 'fd00:20::2/64', '02:42:00:00:00:02']);
    // the MAC from the last 32 bits of the address is taken: another one
    expect([b.IPv4Address, b.IPv6Address]).toEqual(['', 'fd00:20::1:0:0:2/64']);
    expect(b.MacAddress).toMatch(/^02:42:/);
    expect(b.MacAddress).not.toBe(a.MacAddress);
    expect(host.devices.interfaces('c1').eth0).toEqual({
      mac: '02:42:00:00:00:02',
      cidr: null,
      mtu: 1500,
      gateway: null,
      ipv6: { cidr: 'fd00:20::2/64', gateway: 'fe80::1' },
    });
    const port = [...dataplane.ports.values()].find((p) => p.name === 'eth0@c1')!;
    expect('ip' in port).toBe(false);
    expect(port.ip6).toEqual([0xfd000020, 0, 0, 2]);
    expect(host.journal.since(0)).toContain('port+ 1 eth0@c1 fd00:20::2');
    const n = service.inspectNetwork('v6');
    expect(n.Containers[a.EndpointID]).toMatchObject({ IPv4Address: '', IPv6Address: 'fd00:20::2/64', DNSServer: 'fd00:20::1' });
  });

  it('DNS: the name has AAAA only; resolv.conf names the IPv6 gateway', async () => {
    const { host, service } = await started();
    await service.createNetwork(ONLY6);
    await service.connect('v6', { netns: 'c1', aliases: ['web'] });
    await service.connect('v6', { netns: 'c2' });
    const scope = service.names.clientScope('fd00:20::3')!;
    expect(scope.network.name).toBe('v6');
    expect(service.names.lookupName(scope, 'c1', 6)).toEqual(['fd00:20::2']);
    expect(service.names.lookupName(scope, 'web', 6)).toEqual(['fd00:20::2']);
    expect(service.names.lookupName(scope, 'c1', 4)).toEqual([]);
    expect(service.names.lookupAddress(scope, 'fd00:20::2')).toBe('c1');
    expect(service.names.clientScope('172.17.0.2')?.network.name).toBe('bridge');
    expect(host.resolvConfs.files.get('c1')).toBe('fd00:20::1');
    // a container that joined the dual-stack default network first keeps its IPv4 resolver
    await service.connect('bridge', { netns: 'c3' });
    await service.connect('v6', { netns: 'c3' });
    expect(host.resolvConfs.files.get('c3')).toBe('172.17.0.1');
    await service.disconnect('v6', { netns: 'c1' });
    expect(host.resolvConfs.files.has('c1')).toBe(false);
  });

  it('refusals are one line and leave nothing: --ip, IPv4 publishing, --ip6 on an IPv4-only network', async () => {
    const { host, service } = await started();
    await service.createNetwork(ONLY6);
    const mark = host.journal.mark;
    await expect(service.connect('v6', { netns: 'c1', ip: '172.20.0.5' })).rejects.toThrow(
      'network v6 has no IPv4 (it is IPv6-only): --ip 172.20.0.5 cannot be given (--ip6 gives its address)',
    );
    await expect(service.connect('v6', { netns: 'c1', publish: ['0.0.0.0:8080:80'] })).rejects.toThrow(
      'network v6 is IPv6-only: cannot publish 80/tcp of c1 on IPv4 address 0.0.0.0 (publish on an IPv6 address: [::]:HOSTPORT:80)',
    );

    await expect(service.connect('v6', { netns: 'c1', publish: ['127.0.0.1:8080:80/udp'] })).rejects.toThrow(
      'network v6 is IPv6-only: cannot publish 80/udp of c1 on IPv4 address 127.0.0.1',
    );
    expect(host.journal.since(mark)).toEqual([]);
    // the refused connects took no IPv6 address; without a host address a port is published on [::] alone
    const a = await service.connect('v6', { netns: 'c1', publish: ['8080:80'] });
    expect(a.IPv6Address).toBe('fd00:20::2/64');
    expect(a.Ports.map((m) => [m.hostIp, m.hostPort, m.containerIp])).toEqual([['::', 8080, 'fd00:20::2']]);
    expect(host.journal.since(mark).filter((l) => l.startsWith('publish'))).toEqual(['publish+ [::]:tcp/8080 [fd00:20::2]:80']);
    await expect(service.createNetwork({ name: 'x', subnets: ['fd00:30::/64'] })).rejects.toThrow('IPv6 subnet fd00:30::/64 needs --ipv6');
    await expect(service.createNetwork({ name: 'x', ipv6: true, subnets: ['fd00:20:0:0:1::/80'] })).rejects.toThrow(
      'subnet fd00:20:0:0:1::/80 of network "x" overlaps with fd00:20::/64 of network "v6"',
    );
  });

  it('a restart brings the network and its endpoints back without IPv4; the next endpoint takes the next address', async () => {
    const { host, service } = await started();
    await service.createNetwork(ONLY6);
    await service.connect('v6', { netns: 'c1' });
    await service.connect('v6', { netns: 'c2', ip6: 'fd00:20::7' });
    const saved = host.store.saved!.networks.find((n) => n.name === 'v6')!;
    expect([saved.subnet, saved.gateway, saved.ipv6]).toEqual(['', '', { subnet: 'fd00:20::/64', gateway: 'fd00:20::1', nat: true }]);
    expect(saved.endpoints.map((e) => [e.name, e.ip, e.ip6])).toEqual([
      ['c1', '', 'fd00:20::2'],
      ['c2', '', 'fd00:20::7'],
    ]);
    await service.shutdown();
    running.splice(0);

    const again = host.daemon();
    running.push(again.service);
    const mark = host.journal.mark;
    await again.service.restore();
    expect(host.journal.since(mark)).toContain('port+ 2 eth0@c2 fd00:20::7');
    expect(host.devices.interfaces('c1').eth0).toMatchObject({ cidr: null, gateway: null, ipv6: { cidr: 'fd00:20::2/64', gateway: 'fe80::1' } });
    expect(again.service.inspectNetwork('v6').IPAM.Config).toEqual([{ Subnet: 'fd00:20::/64', Gateway: 'fd00:20::1' }]);
    expect(host.resolvConfs.files.get('c2')).toBe('fd00:20::1');
    const c = await again.service.connect('v6', { netns: 'c3' });
    expect([c.IPv4Address, c.IPv6Address]).toEqual(['', 'fd00:20::3/64']);
  });
});
