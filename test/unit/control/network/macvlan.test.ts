// macvlan networks over the fake host: `-o parent=` resolved (a device, or VLAN N of one), one
// packet socket per device whatever the networks and VLANs on it, each network's port on it; the
// LAN router as the containers' gateway (IPv4 and IPv6), no host route for the LAN's subnet, host
// routes of the containers' own addresses with host access; the refusals in one line; passthru
// alone; a parent that vanishes let go of and taken back; all of it back after a restart.

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

const LAN = { name: 'lan', driver: 'macvlan', subnet: '192.168.40.0/24', gateway: '192.168.40.1', parent: 'eth0' };

describe('macvlan networks', () => {
  it('create: the parent opened once, the network on it untagged; inspect shows driver, parent, mode and aux addresses; no host route', async () => {
    const { host, service, dataplane } = await started();
    const n = await service.createNetwork({ ...LAN, auxAddresses: { router2: '192.168.40.2' } });
    expect([n.Driver, n.Internal, n.Options['parent'], n.Options['macvlan_mode'], n.Options['pontoon.host_access'], n.Options['pontoon.dns']]).toEqual([
      'macvlan',
      false,
      'eth0',
      'bridge',
      'false',
      undefined,
    ]);
    expect(n.IPAM.Config).toEqual([{ Subnet: '192.168.40.0/24', Gateway: '192.168.40.1', AuxiliaryAddresses: { router2: '192.168.40.2' } }]);
    // the gateway owns no address on the LAN
    expect(dataplane.networks.get(1)).toMatchObject({ name: 'lan', gatewayIp: 0, macvlan: { mode: 'bridge', hostAccess: false } });
    expect([...dataplane.parentPorts.values()]).toEqual([{ parent: 0, vlan: 0, network: 1, name: 'eth0', mtu: 1500, vnet: true }]);
    expect(host.journal.entries.filter((e) => e.startsWith('parent'))).toEqual(['parent-socket+ eth0', 'parent+ 0 eth0 fd 9000 vnet', 'parent-port+ 1 eth0 vlan 0 network 1']);
    expect([...host.devices.routes]).toEqual(['172.17.0.0/16']);
    // a second network on VLAN 50 of the same device: the same socket, a port of its own
    await service.createNetwork({ name: 'lan50', driver: 'macvlan', subnet: '192.168.50.0/24', parent: 'eth0.50' });
    expect(host.journal.entries.filter((e) => e === 'parent-socket+ eth0')).toHaveLength(1);
    expect([...dataplane.parentPorts.values()].map((p) => [p.name, p.vlan])).toEqual([
      ['eth0', 0],
      ['eth0.50', 50],
    ]);
    await service.removeNetwork('lan');
    expect(host.journal.entries.some((e) => e.startsWith('parent-socket-'))).toBe(false);
    await service.removeNetwork('lan50');
    expect(host.journal.entries.filter((e) => e.startsWith('parent-socket-') || e.startsWith('parent- '))).toEqual(['parent- 0', 'parent-socket- 9000']);
  });

  it('connect: a LAN address, the LAN router as default gateway for both families, no resolv.conf; the aux address is never given out', async () => {
    const { host, service } = await started();
    const { subnet: _s, gateway: _g, ...lan } = LAN;
    await service.createNetwork({ ...lan, ipv6: true, subnets: ['192.168.40.0/24', 'fd00:40::/64'], gateways: ['192.168.40.1', 'fd00:40::1'], auxAddresses: { r: '192.168.40.2' } });
    const a = await service.connect('lan', { netns: 'c1' });
    expect([a.IPv4Address, a.IPv6Address]).toEqual(['192.168.40.3/24', 'fd00:40::2/64']);
    expect(host.devices.interfaces('c1').eth0).toMatchObject({ cidr: '192.168.40.3/24', gateway: '192.168.40.1', ipv6: { cidr: 'fd00:40::2/64', gateway: 'fd00:40::1' } });
    expect(host.resolvConfs.files.has('c1')).toBe(false);
    // and inspect names no DNS server for it (the gateway is the LAN's router)
    expect([a.DNSServer, a.DNSNames]).toEqual([undefined, undefined]);
  });

  it('with host access: host routes of the containers\' own addresses, gone at disconnect', async () => {
    const { host, service } = await started();
    await service.createNetwork({ ...LAN, hostAccess: true });
    await service.connect('lan', { netns: 'c1' });
    expect([...host.devices.routes]).toEqual(['172.17.0.0/16', '192.168.40.2/32']);
    await service.disconnect('lan', { netns: 'c1' });
    expect([...host.devices.routes]).toEqual(['172.17.0.0/16']);
  });

  it('refuses in one line, making nothing: a missing or down parent, a VLAN out of range, an unknown mode, macvlan options on a bridge, publishing, passthru shared', async () => {
    const { host, service, dataplane } = await started();
    host.devices.links.set('eth9', { ifindex: 9, up: false, mtu: 1500 });
    const refused = async (req: Record<string, unknown>, re: RegExp) => {
      await expect(service.createNetwork({ name: 'x', driver: 'macvlan', subnet: '192.0.2.0/24', ...req } as never)).rejects.toThrow(re);
    };
    await refused({ parent: 'nosuch0' }, /-o parent interface was not found on the host: nosuch0$/);
    await refused({ parent: 'nosuch0.5' }, /not found on the host: nosuch0 \(of nosuch0.5\)/);
    await refused({ parent: 'eth9' }, /-o parent interface eth9 is down/);
    await refused({ parent: 'eth0.4095' }, /vlan id out of range: 4095/);
    await refused({ parent: 'eth0.0' }, /vlan id out of range: 0/);
    await refused({ parent: 'eth0', macvlanMode: 'source' }, /macvlan_mode "source" is not supported \(supported: bridge, private, vepa, passthru\)/);
    await refused({ parent: 'eth0.7', mtu: 9000 }, /MTU 9000 is larger than the parent eth0.7's 1500/);
    await expect(service.createNetwork({ name: 'b', parent: 'eth0' })).rejects.toThrow(/option parent is for macvlan networks \(--driver macvlan\), not bridge/);
    // the parent's MTU unless given: eth1's is 9000
    const pt = await service.createNetwork({ name: 'pt', driver: 'macvlan', subnet: '198.51.100.0/24', parent: 'eth1', macvlanMode: 'passthru' });
    expect(pt.Options['com.docker.network.driver.mtu']).toBe('9000');
    await refused({ parent: 'eth1' }, /parent eth1 is network pt's alone \(macvlan_mode passthru\)/);
    await service.createNetwork({ ...LAN });
    await refused({ parent: 'eth0', macvlanMode: 'passthru' }, /passthru needs its parent alone: eth0 already carries network lan/);
    await service.connect('pt', { netns: 'c1' });
    await expect(service.connect('pt', { netns: 'c2' })).rejects.toThrow(/network pt is macvlan_mode passthru: its parent is c1's alone/);
    await expect(service.connect('lan', { netns: 'c2', publish: ['8080:80'] })).rejects.toThrow(/lan is a macvlan network: .* no port to publish \(-p 8080:80\)/);
    expect(service.listNetworks().map((n) => n.Name).sort()).toEqual(['bridge', 'lan', 'pt']);
    expect([...dataplane.ports.values()].map((p) => p.name)).toEqual(['eth0@c1']);
  });

  it('without a parent, or --internal: internal, containers among themselves, no socket', async () => {
    const { host, service, dataplane } = await started();
    const n = await service.createNetwork({ name: 'solo', driver: 'macvlan', subnet: '192.168.60.0/24' });
    expect([n.Internal, n.Options['parent']]).toEqual([true, undefined]);
    expect(dataplane.parentPorts.size).toBe(0);
    expect(host.journal.entries.some((e) => e.startsWith('parent'))).toBe(false);
    // --internal with a parent: the same (Docker's dummy parent)
    const i = await service.createNetwork({ name: 'inner', driver: 'macvlan', subnet: '192.168.61.0/24', parent: 'eth0', internal: true });
    expect([i.Internal, i.Options['parent']]).toEqual([true, undefined]);
    expect(dataplane.parentPorts.size).toBe(0);
  });

  it('a parent that vanishes is let go of and counted; when it returns its networks are on it again', async () => {
    const { host, service, dataplane } = await started();
    await service.createNetwork({ ...LAN });
    await service.createNetwork({ name: 'lan50', driver: 'macvlan', subnet: '192.168.50.0/24', parent: 'eth0.50' });
    await service.connect('lan', { netns: 'c1' });
    host.devices.links.delete('eth0');
    await service.reconcile();
    expect([dataplane.parents.size, dataplane.parentPorts.size, service.parents.lost]).toEqual([0, 0, 1]);
    expect(service.parents.status()).toEqual([{ device: 'eth0', attached: false, networks: ['lan', 'lan50'], lost: 1 }]);
    // the containers stay
    expect([...dataplane.ports.values()].map((p) => p.name)).toEqual(['eth0@c1']);
    // another interface of the same name is another device: it is attached when it comes (up)
    host.devices.links.set('eth0', { ifindex: 22, up: false, mtu: 1500 });
    await service.reconcile();
    expect(dataplane.parents.size).toBe(0);
    host.devices.links.set('eth0', { ifindex: 22, up: true, mtu: 1500 });
    await service.reconcile();
    expect([...dataplane.parentPorts.values()].map((p) => [p.name, p.vlan]).sort()).toEqual([
      ['eth0', 0],
      ['eth0.50', 50],
    ]);
    expect(service.parents.status()).toEqual([{ device: 'eth0', attached: true, networks: ['lan', 'lan50'], lost: 1 }]);
    // down is lost too (its socket fails once and is not read again), up again is back
    host.devices.links.set('eth0', { ifindex: 22, up: false, mtu: 1500 });
    await service.reconcile();
    expect([dataplane.parents.size, service.parents.lost]).toEqual([0, 2]);
    host.devices.links.set('eth0', { ifindex: 22, up: true, mtu: 1500 });
    await service.reconcile();
    expect([dataplane.parents.size, dataplane.parentPorts.size]).toEqual([1, 2]);
  });

  it('a restart brings the network and its endpoint back on the parent, and one whose parent is gone back without it', async () => {
    const host = new FakeHost(testConfig());
    const first = await started(host);
    await first.service.createNetwork({ ...LAN, hostAccess: true });
    await first.service.createNetwork({ name: 'other', driver: 'macvlan', subnet: '192.168.70.0/24', parent: 'eth1' });
    await first.service.connect('lan', { netns: 'c1' });
    await first.service.shutdown();
    running.splice(0);
    host.devices.links.delete('eth1');
    const d = host.daemon();
    running.push(d.service);
    await d.service.restore();
    expect(d.service.inspectNetwork('lan').Options).toMatchObject({ parent: 'eth0', 'pontoon.host_access': 'true' });
    expect([...d.dataplane.parentPorts.values()].map((p) => p.name)).toEqual(['eth0']);
    expect(d.service.parents.status().map((s) => [s.device, s.attached])).toEqual([
      ['eth0', true],
      ['eth1', false],
    ]);
    expect([...d.dataplane.ports.values()].map((p) => p.name)).toEqual(['eth0@c1']);
  });
});
