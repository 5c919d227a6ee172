// `network connect` and `network disconnect` over fake devices and a fake data plane: what a
// connect makes, in order; a failure at each step unwinding everything made before it, last made
// first; and a disconnect taking it all away again.

import { afterEach, describe, expect, it } from 'vitest';
import { ApiFailure } from '../../../../src/control/gateway-api.js';
import type { NetworkService } from '../../../../src/control/network-service.js';
import { FakeHost } from './fake-host.js';

const running: NetworkService[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.shutdown();
});

/** A host whose daemon has started (default network "bridge", 172.17.0.0/16) and namespaces c1, c2. */
async function started() {
  const host = new FakeHost();
  host.devices.addNamespace('c1');
  host.devices.addNamespace('c2');
  const d = host.daemon();
  running.push(d.service);
  await d.service.restore();
  return { host, ...d };
}

/** The addresses the embedded DNS gives for `name` to a client of the default network. */
function resolve(service: NetworkService, name: string): string[] | null {
  return service.names.lookupName(service.names.clientScope('172.17.255.254')!, name);
}

async function rejection(p: Promise<unknown>): Promise<ApiFailure> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiFailure);
  return err as ApiFailure;
}

describe('network connect', () => {
  it('makes the TAP, configures it, adds the port and the published ports, names it and saves it, in that order', async () => {
    const { host, service, dataplane } = await started();
    const mark = host.journal.mark;

    const ep = await service.connect('bridge', { netns: 'c1', aliases: ['web'], publish: ['8080:80', '53/udp'] });

    expect(host.journal.since(mark)).toEqual([
      'tap+ c1/eth0',
      'configure c1/eth0 02:42:ac:11:00:02 172.17.0.2/16 mtu 1500 via 172.17.0.1',
      'port+ 1 eth0@c1 172.17.0.2',
      'publish+ tcp/8080 172.17.0.2:80',
      'publish+ udp/32768 172.17.0.2:53',
      'save',
    ]);
    expect(ep).toMatchObject({
      Name: 'c1',
      MacAddress: '02:42:ac:11:00:02',
      IPv4Address: '172.17.0.2/16',
      Interface: 'eth0',
      Netns: '/run/netns/c1',
      Aliases: ['web'],
      DNSNames: ['c1', 'web'],
      DNSServer: '172.17.0.1',
      Ports: [
        { proto: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, network: 'bridge', containerIp: '172.17.0.2' },
        { proto: 'udp', hostIp: '0.0.0.0', hostPort: 32768, containerPort: 53, network: 'bridge', containerIp: '172.17.0.2' },
      ],
    });
    // the data-plane port reads the TAP device that was made in the namespace
    const [fd, tap] = [...host.devices.openFds()][0]!;
    expect(tap).toBe('c1/eth0');
    expect(dataplane.ports.get(1)).toMatchObject({ name: 'eth0@c1', fd });
    expect(host.devices.interfaces('c1')).toEqual({ eth0: { mac: '02:42:ac:11:00:02', cidr: '172.17.0.2/16', mtu: 1500, gateway: '172.17.0.1' } });
    expect(resolve(service, 'web')).toEqual(['172.17.0.2']);
    expect(host.resolvConfs.files.get('c1')).toBe('172.17.0.1');
    expect(host.store.summary()).toEqual(['bridge: c1@172.17.0.2']);
    expect(service.listNetworks()[0]).toMatchObject({ Name: 'bridge', Endpoints: 1 });
    expect(Object.values(service.inspectNetwork('bridge').Containers)).toEqual([ep]);
    expect(service.ports('c1').map((p) => `${p.hostPort}->${p.containerPort}/${p.proto}`)).toEqual(['8080->80/tcp', '32768->53/udp']);
  });

  it('refuses, changing nothing, what cannot be: a missing namespace, a taken name, a published port in use', async () => {
    const { host, service } = await started();
    await service.connect('bridge', { netns: 'c1', publish: ['8080:80'] });
    const mark = host.journal.mark;

    expect((await rejection(service.connect('bridge', { netns: 'c9' }))).message).toBe('network namespace "c9" not found (no /run/netns/c9)');
    expect((await rejection(service.connect('bridge', { netns: 'c1' }))).message).toBe('c1 is already connected to network bridge');
    expect((await rejection(service.connect('bridge', { netns: 'c2', name: 'c1' }))).message).toBe('endpoint with name c1 already exists in network bridge');
    expect((await rejection(service.connect('bridge', { netns: 'c2', publish: ['8080:81'] }))).message).toBe('port 8080/tcp is already published by c1 on network bridge');
    expect((await rejection(service.connect('bridge', { netns: 'c2', ip: '172.17.0.2' }))).message).toBe('address 172.17.0.2 is already in use on network "bridge"');
    expect((await rejection(service.connect('nope', { netns: 'c2' }))).status).toBe(404);

    expect(host.journal.since(mark)).toEqual([]);
  });

  // A connect publishing two ports, step by step when nothing fails.
  const steps = [
    'tap+ c1/eth0',
    'configure c1/eth0 02:42:ac:11:00:02 172.17.0.2/16 mtu 1500 via 172.17.0.1',
    'port+ 1 eth0@c1 172.17.0.2',
    'publish+ tcp/8080 172.17.0.2:80',
    'publish+ tcp/8081 172.17.0.2:81',
    'save',
  ];
  // Each case fails one of them; `undone` is what must follow the failure, exactly: everything
  // made before it, taken back last made first.
  const failures: { step: string; undone: string[] }[] = [
    { step: steps[0]!, undone: [] },
    { step: steps[1]!, undone: ['tap- c1/eth0'] },
    { step: steps[2]!, undone: ['tap- c1/eth0'] },
    { step: steps[3]!, undone: ['port- 1', 'tap- c1/eth0'] },
    { step: steps[4]!, undone: ['publish- tcp/8080', 'port- 1', 'tap- c1/eth0'] },
    // the state write fails once: the record is taken back and the file written again without it
    { step: steps[5]!, undone: ['save', 'publish- tcp/8081', 'publish- tcp/8080', 'port- 1', 'tap- c1/eth0'] },
  ];

  for (const { step, undone } of failures) {
    it(`a failure at "${step.split(' ').slice(0, 2).join(' ')}" undoes everything made before it, in reverse order, and leaves nothing`, async () => {
      const { host, service, dataplane } = await started();
      const savedBefore = host.store.summary();
      host.journal.failOn(step, 'injected failure', 1);
      const mark = host.journal.mark;

      const err = await rejection(service.connect('bridge', { netns: 'c1', aliases: ['web'], publish: ['8080-8081:80-81'] }));

      expect(err.status).toBe(500);
      expect(err.message).toBe('cannot connect c1 to network bridge: injected failure');
      expect(host.journal.since(mark)).toEqual([...steps.slice(0, steps.indexOf(step)), ...undone]);
      // nothing remains: device, fd, port, published ports, DNS name, state record, resolv.conf
      expect(host.devices.interfaces('c1')).toEqual({});
      expect(host.devices.openFds().size).toBe(0);
      expect(dataplane.ports.size).toBe(0);
      expect(dataplane.publishes.size).toBe(0);
      expect(resolve(service, 'web')).toBeNull();
      expect(resolve(service, 'c1')).toBeNull();
      expect(host.store.summary()).toEqual(savedBefore);
      expect(host.resolvConfs.files.size).toBe(0);
      expect(service.listNetworks()[0]).toMatchObject({ Name: 'bridge', Endpoints: 0 });
      expect(service.inspectNetwork('bridge').Containers).toEqual({});

      // and the address and the host ports are free again
      const again = await service.connect('bridge', { netns: 'c1', aliases: ['web'], publish: ['8080-8081:80-81'] });
      expect(again).toMatchObject({ IPv4Address: '172.17.0.2/16', Interface: 'eth0' });
      expect(resolve(service, 'web')).toEqual(['172.17.0.2']);
    });
  }

  it('an undo that fails does not stop the others', async () => {
    const { host, service, dataplane } = await started();
    host.journal.failOn(/^publish\+ tcp\/8081/, 'injected failure', 1);
    host.journal.failOn('port- 1', 'worker gone', 1);
    const mark = host.journal.mark;

    await rejection(service.connect('bridge', { netns: 'c1', publish: ['8080-8081:80-81'] }));

    expect(host.journal.since(mark).slice(-2)).toEqual(['publish- tcp/8080', 'tap- c1/eth0']);
    expect(host.devices.interfaces('c1')).toEqual({});
    expect(dataplane.publishes.size).toBe(0);
  });
});

describe('network disconnect', () => {
  it('removes the published ports, the port and the TAP, forgets the name and saves', async () => {
    const { host, service, dataplane } = await started();
    await service.connect('bridge', { netns: 'c1', aliases: ['web'], publish: ['8080:80'] });
    await service.connect('bridge', { netns: 'c2' });
    const mark = host.journal.mark;

    await service.disconnect('bridge', { netns: 'c1' });

    expect(host.journal.since(mark)).toEqual(['publish- tcp/8080', 'port- 1', 'tap- c1/eth0', 'save']);
    expect(host.devices.interfaces('c1')).toEqual({});
    expect([...dataplane.ports.keys()]).toEqual([2]);
    expect(dataplane.publishes.size).toBe(0);
    expect(resolve(service, 'web')).toBeNull();
    expect(resolve(service, 'c2')).toEqual(['172.17.0.3']);
    expect(host.resolvConfs.files.has('c1')).toBe(false);
    expect(host.store.summary()).toEqual(['bridge: c2@172.17.0.3']);
    expect(Object.values(service.inspectNetwork('bridge').Containers).map((c) => c.Name)).toEqual(['c2']);
    // the address is free again
    expect(await service.connect('bridge', { netns: 'c1' })).toMatchObject({ IPv4Address: '172.17.0.2/16' });
  });

  it('finds the endpoint by name once its namespace is gone, and says when nothing is connected', async () => {
    const { host, service } = await started();
    await service.connect('bridge', { netns: 'c1' });
    host.devices.deleteNamespace('c1');

    await service.disconnect('bridge', { netns: 'c1' });
    expect(service.listNetworks()[0]).toMatchObject({ Endpoints: 0 });

    const err = await rejection(service.disconnect('bridge', { netns: 'c1' }));
    expect(err.status).toBe(404);
    expect(err.message).toBe('c1 is not connected to network bridge');
  });

  it('a container on two networks keeps the first one\'s resolver until it leaves it', async () => {
    const { host, service } = await started();
    await service.createNetwork({ name: 'back', subnet: '10.20.0.0/24' });
    await service.connect('bridge', { netns: 'c1' });
    const second = await service.connect('back', { netns: 'c1' });
    expect(second).toMatchObject({ Interface: 'eth1', DNSServer: '172.17.0.1' });
    expect(host.devices.interfaces('c1').eth1).toMatchObject({ cidr: '10.20.0.2/24', gateway: '10.20.0.1' });

    await service.disconnect('bridge', { netns: 'c1' });
    expect(host.resolvConfs.files.get('c1')).toBe('10.20.0.1');
    await service.disconnect('back', { netns: 'c1' });
    expect(host.resolvConfs.files.has('c1')).toBe(false);
  });
});

describe('a connect naming the interface and the container (CNI)', () => {
  it('makes the TAP under the given name, shows the container id, and a disconnect by container id and interface finds it', async () => {
    const { host, service } = await started();
    const mark = host.journal.mark;

    const ep = await service.connect('bridge', { netns: 'c1', ifName: 'net1', containerId: 'abc123' });

    expect(host.journal.since(mark).slice(0, 1)).toEqual(['tap+ c1/net1']);
    expect(ep).toMatchObject({ Interface: 'net1', ContainerID: 'abc123' });
    expect(Object.values(service.inspectNetwork('bridge').Containers)[0]).toMatchObject({ Interface: 'net1', ContainerID: 'abc123' });

    const wrongIf = await rejection(service.disconnect('bridge', { containerId: 'abc123', ifName: 'eth0' }));
    expect(wrongIf.status).toBe(404);
    expect(wrongIf.message).toBe('container abc123 (eth0) is not connected to network bridge');

    host.devices.deleteNamespace('c1'); // CNI DEL may come after the namespace went
    await service.disconnect('bridge', { containerId: 'abc123', ifName: 'net1' });
    expect(service.listNetworks()[0]).toMatchObject({ Endpoints: 0 });
    const again = await rejection(service.disconnect('bridge', { containerId: 'abc123', ifName: 'net1' }));
    expect(again.status).toBe(404);
  });

  it('refuses an interface name the namespace already has, leaving nothing behind', async () => {
    const { host, service, dataplane } = await started();
    await service.connect('bridge', { netns: 'c1', ifName: 'eth0' });
    await service.createNetwork({ name: 'back', subnet: '10.20.0.0/24' });
    const mark = host.journal.mark;

    const err = await rejection(service.connect('back', { netns: 'c1', ifName: 'eth0' }));

    expect(err.status).toBe(409);
    expect(err.message).toBe('interface eth0 already exists in c1');
    expect(host.journal.since(mark)).toEqual([]);
    expect([...dataplane.ports.keys()]).toEqual([1]);
    expect(await service.connect('back', { netns: 'c1', ifName: 'eth1' })).toMatchObject({ IPv4Address: '10.20.0.2/24' });
  });
});
