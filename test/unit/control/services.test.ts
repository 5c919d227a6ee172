// Services over fake devices and a fake data plane: a service's backends follow the network's
// endpoints (by alias or by container name), the data plane gets the whole list on every change,
// the embedded DNS answers the service's names, bad requests change nothing, and a network with
// services is not removed.

import { afterEach, describe, expect, it } from 'vitest';
import { ApiFailure } from '../../../src/control/gateway-api.js';
import type { NetworkService } from '../../../src/control/network-service.js';
import { FakeHost, testConfig } from './network/fake-host.js';

const running: NetworkService[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.shutdown();
});

async function started() {
  const host = new FakeHost();
  for (const ns of ['c1', 'c2', 'c3']) host.devices.addNamespace(ns);
  const d = host.daemon();
  running.push(d.service);
  await d.service.restore();
  return { host, ...d };
}

/** Lets the registry's backend refresh (a microtask after the name table changed) and its data-plane call run. */
const settle = () => new Promise((r) => setTimeout(r, 5));

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

describe('services', () => {
  it('follows the endpoints with the selector alias: the data plane gets the whole backend list on every change', async () => {
    const { host, service } = await started();
    const mark = host.journal.mark;
    const s = await service.createService({ name: 'web', network: 'bridge', port: '80', targetPort: 8080, selector: 'web' });
    expect(s).toMatchObject({ Name: 'web', Network: 'bridge', VIP: '10.96.0.1', Protocol: 'tcp', Port: 80, TargetPort: 8080, Selector: 'web', Affinity: 'none', Backends: [] });
    await service.connect('bridge', { netns: 'c1', aliases: ['web'] });
    await service.connect('bridge', { netns: 'c2', aliases: ['other'] });
    await service.connect('bridge', { netns: 'c3', aliases: ['WEB'] });
    await settle();
    expect(host.journal.since(mark).filter((l) => l.startsWith('service'))).toEqual([
      'service-range 10.96.0.0/16',
      'service 0 10.96.0.1:80/tcp -> :8080',
      'service 0 10.96.0.1:80/tcp -> 172.17.0.2:8080',
      'service 0 10.96.0.1:80/tcp -> 172.17.0.2,172.17.0.4:8080',
    ]);
    expect(service.inspectService('web').Backends.map((b) => [b.Name, b.IP, b.Host])).toEqual([
      ['c1', '172.17.0.2', 'local'],
      ['c3', '172.17.0.4', 'local'],
    ]);
    // DNS: the name is the VIP (also NAME.NETWORK.svc), tasks.NAME every backend
    expect(resolve(service, 'web')).toEqual(['10.96.0.1']);
    expect(resolve(service, 'web.bridge.svc')).toEqual(['10.96.0.1']);
    expect(resolve(service, 'tasks.web')?.sort()).toEqual(['172.17.0.2', '172.17.0.4']);
    const m2 = host.journal.mark;
    await service.disconnect('bridge', { netns: 'c1' });
    await settle();
    expect(host.journal.since(m2).filter((l) => l.startsWith('service'))).toEqual(['service 0 10.96.0.1:80/tcp -> 172.17.0.4:8080']);
    expect(resolve(service, 'tasks.web')).toEqual(['172.17.0.4']);
    await service.removeService('web');
    expect(resolve(service, 'web')).toEqual(['172.17.0.4']); // the alias of c3 again
    expect(await service.listServices()).toEqual([]);
  });

  it('takes named containers as backends, affinity, a VIP of the network, and a published port', async () => {
    const { host, service, dataplane } = await started();
    await service.connect('bridge', { netns: 'c1' });
    const s = await service.createService({ name: 'db', network: 'bridge', port: '5432/tcp', backends: ['c1', 'c2'], affinity: 'client-ip', vip: '172.17.0.200', publish: 30432 });
    expect(s).toMatchObject({ VIP: '172.17.0.200', Affinity: 'client-ip:10800', Publish: 30432, Containers: ['c1', 'c2'] });
    expect(s.Backends.map((b) => b.Name)).toEqual(['c1']);
    expect(dataplane.publishes.get('tcp/30432')).toMatchObject({ hostPort: 30432, targetPort: 5432 });
    // the VIP is the network's address now: no container gets it
    expect((await rejection(service.connect('bridge', { netns: 'c2', ip: '172.17.0.200' }))).message).toMatch(/already in use/);
    await service.connect('bridge', { netns: 'c2' });
    await settle();
    expect(service.inspectService('db').Backends.map((b) => b.Name)).toEqual(['c1', 'c2']);
    const mark = host.journal.mark;
    await service.removeService('db');
    expect(host.journal.since(mark)).toEqual(['publish- tcp/30432', 'service- 0']);
    await service.connect('bridge', { netns: 'c3', ip: '172.17.0.200' }); // released
  });

  it('refuses bad requests in one line and changes nothing', async () => {
    const { host, service } = await started();
    await service.createService({ name: 'web', network: 'bridge', port: '80', selector: 'web', publish: 30080 });
    const mark = host.journal.mark;
    const cases: [Parameters<NetworkService['createService']>[0], number, string][] = [
      [{ name: 'web', network: 'bridge', port: '80' }, 409, 'service web already exists'],
      [{ name: 'a.b', network: 'bridge', port: '80' }, 400, `invalid service name "a.b": one DNS label (letters, digits, '-', '_')`],
      [{ name: 'x', network: 'nope', port: '80' }, 404, 'network nope not found'],
      [{ name: 'x', network: 'bridge', port: '80/sctp' }, 400, 'service x: invalid port "80/sctp": expected PORT[/tcp|udp] with PORT 1-65535'],
      [{ name: 'x', network: 'bridge', port: '0' }, 400, 'service x: invalid port "0": expected PORT[/tcp|udp] with PORT 1-65535'],
      [{ name: 'x', network: 'bridge', port: '80', affinity: 'client-ip:0' }, 400, 'service x: invalid affinity "client-ip:0": expected none, client-ip or client-ip:SECONDS (1-86400)'],
      [{ name: 'x', network: 'bridge', port: '80', targetPort: 70000 }, 400, 'service x: invalid target port 70000: expected 1-65535'],
      [{ name: 'x', network: 'bridge', port: '80', vip: '10.97.0.1' }, 400, 'service x: VIP 10.97.0.1 is neither in services.cidr 10.96.0.0/16 nor in the subnet 172.17.0.0/16 of network bridge'],
      [{ name: 'x', network: 'bridge', port: '80', vip: '10.96.0.1' }, 409, 'service x: VIP 10.96.0.1 is already in use'],
      [{ name: 'x', network: 'bridge', port: '80', vip: 'banana' }, 400, 'service x: invalid VIP "banana": not an IPv4 address'],
      [{ name: 'x', network: 'bridge', port: '80', publish: 30080 }, 409, 'service x: port 30080/tcp is already published by service web'],
      [{ name: 'x', network: 'bridge', port: '80', selector: 'a', backends: ['b'] }, 400, 'service x: give --selector or --backend, not both'],
    ];
    for (const [req, status, message] of cases) {
      const e = await rejection(service.createService(req));
      expect([e.status, e.message]).toEqual([status, message]);
    }
    expect(host.journal.since(mark)).toEqual([]);
    expect((await service.listServices()).map((s) => s.Name)).toEqual(['web']);
    expect((await rejection(service.removeService('nope'))).status).toBe(404);
    // a network with services stays; a subnet in the services range is refused
    await service.createNetwork({ name: 'n2', subnet: '10.50.0.0/24' });
    await service.createService({ name: 'api', network: 'n2', port: '80' });
    expect((await rejection(service.removeNetwork('n2'))).message).toBe('network n2 has services: api (remove them first)');
    expect((await rejection(service.createNetwork({ name: 'n3', subnet: '10.96.128.0/24' }))).message).toBe(
      'subnet 10.96.128.0/24 overlaps with the services range 10.96.0.0/16 (services.cidr)',
    );
    expect((await rejection(service.createNetwork({ name: 'n3', driver: 'overlay', subnet: '10.0.0.0/8' }))).message).toBe(
      'subnet 10.0.0.0/8 overlaps with the services range 10.96.0.0/16 (services.cidr)',
    );
  });

  it('a network without --subnet never gets one in the services range', async () => {
    const host = new FakeHost(testConfig({ services: { cidr: '172.18.0.0/16' } }));
    const d = host.daemon();
    running.push(d.service);
    await d.service.restore();
    // 172.17.0.0/16 is the default network's; the pools' next, 172.18.0.0/16, is the services'
    expect((await d.service.createNetwork({ name: 'auto' })).IPAM.Config[0]).toMatchObject({ Subnet: '172.19.0.0/16' });
  });
});
