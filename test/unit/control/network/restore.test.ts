// The daemon starting again over the same host and state file: endpoints re-attached to their
// persistent TAP devices, those whose namespace vanished meanwhile dropped, and a namespace that
// vanishes while the daemon runs cleaned up like a disconnect.

import { afterEach, describe, expect, it } from 'vitest';
import type { NetworkService } from '../../../../src/control/network-service.js';
import { FakeHost } from './fake-host.js';

const running: NetworkService[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.shutdown();
});

function daemon(host: FakeHost) {
  const d = host.daemon();
  running.push(d.service);
  return d;
}

/** A host whose first daemon connected c1 (publishing 8080) and c2 (publishing 9090), then stopped. */
async function afterFirstRun() {
  const host = new FakeHost();
  host.devices.addNamespace('c1');
  host.devices.addNamespace('c2');
  host.devices.addNamespace('c3');
  const first = host.daemon();
  await first.service.restore();
  await first.service.connect('bridge', { netns: 'c1', aliases: ['web'], publish: ['8080:80'] });
  await first.service.connect('bridge', { netns: 'c2', aliases: ['db'], publish: ['9090:90'] });
  const mark = host.journal.mark;
  await first.service.shutdown();
  // the devices stay (persistent), only the daemon's fds close; resolv.conf goes with the resolver
  expect(host.journal.since(mark)).toEqual(['tap-close c1/eth0', 'tap-close c2/eth0']);
  expect(host.devices.interfaces('c1')).toHaveProperty('eth0');
  expect(host.resolvConfs.files.size).toBe(0);
  return host;
}

describe('restore at start', () => {
  it('re-attaches every endpoint to its persistent TAP device, as it was', async () => {
    const host = await afterFirstRun();
    const before = host.store.summary();
    const { service, dataplane } = daemon(host);
    const mark = host.journal.mark;

    await service.restore();

    expect(host.journal.since(mark)).toEqual([
      'network+ 0 bridge',
      'route+ 172.17.0.0/16',
      'tap-reopen c1/eth0',
      'configure c1/eth0 02:42:ac:11:00:02 172.17.0.2/16 mtu 1500 via 172.17.0.1',
      'port+ 1 eth0@c1 172.17.0.2',
      'publish+ tcp/8080 172.17.0.2:80',
      'tap-reopen c2/eth0',
      'configure c2/eth0 02:42:ac:11:00:03 172.17.0.3/16 mtu 1500 via 172.17.0.1',
      'port+ 2 eth0@c2 172.17.0.3',
      'publish+ tcp/9090 172.17.0.3:90',
      // last: adopted published ports no endpoint re-added are swept only now
      'live-state restored',
    ]);
    expect(host.store.summary()).toEqual(before);
    expect(Object.values(service.inspectNetwork('bridge').Containers).map((c) => `${c.Name} ${c.IPv4Address} ${c.Interface}`)).toEqual([
      'c1 172.17.0.2/16 eth0',
      'c2 172.17.0.3/16 eth0',
    ]);
    expect([...dataplane.publishes.keys()]).toEqual(['tcp/8080', 'tcp/9090']);
    expect(host.resolvConfs.files.get('c1')).toBe('172.17.0.1');
    expect(service.names.lookupName(service.names.clientScope('172.17.0.2')!, 'db')).toEqual(['172.17.0.3']);
  });

  it('drops an endpoint whose namespace vanished while the daemon was down, and frees its address and ports', async () => {
    const host = await afterFirstRun();
    host.devices.deleteNamespace('c2');
    host.resolvConfs.files.set('c2', '172.17.0.1'); // left over from before
    const { service, dataplane } = daemon(host);
    const mark = host.journal.mark;

    await service.restore();

    expect(host.journal.since(mark)).toEqual([
      'network+ 0 bridge',
      'route+ 172.17.0.0/16',
      'tap-reopen c1/eth0',
      'configure c1/eth0 02:42:ac:11:00:02 172.17.0.2/16 mtu 1500 via 172.17.0.1',
      'port+ 1 eth0@c1 172.17.0.2',
      'publish+ tcp/8080 172.17.0.2:80',
      'save',
      'live-state restored',
    ]);
    expect(host.store.summary()).toEqual(['bridge: c1@172.17.0.2']);
    expect(service.listNetworks()).toEqual([expect.objectContaining({ Name: 'bridge', Endpoints: 1 })]);
    expect(Object.values(service.inspectNetwork('bridge').Containers).map((c) => c.Name)).toEqual(['c1']);
    expect([...dataplane.publishes.keys()]).toEqual(['tcp/8080']);
    expect(service.names.lookupName(service.names.clientScope('172.17.0.2')!, 'db')).toBeNull();
    expect(host.resolvConfs.files.has('c2')).toBe(false);
    // c2's address and published port are free for the next container
    expect(await service.connect('bridge', { netns: 'c3', publish: ['9090:90'] })).toMatchObject({ Name: 'c3', IPv4Address: '172.17.0.3/16' });
  });

  it('an endpoint that cannot be re-attached leaves nothing registered, and its device stays', async () => {
    const host = await afterFirstRun();
    host.journal.failOn(/^publish\+ tcp\/9090/, 'injected failure', 1);
    const { service, dataplane } = daemon(host);
    const mark = host.journal.mark;

    await service.restore();

    expect(host.journal.since(mark).slice(-7)).toEqual([
      'tap-reopen c2/eth0',
      'configure c2/eth0 02:42:ac:11:00:03 172.17.0.3/16 mtu 1500 via 172.17.0.1',
      'port+ 2 eth0@c2 172.17.0.3',
      'port- 2',
      'tap-close c2/eth0',
      'save',
      'live-state restored',
    ]);
    expect([...dataplane.ports.keys()]).toEqual([1]);
    expect([...host.devices.openFds().values()]).toEqual(['c1/eth0']);
    expect(host.devices.interfaces('c2')).toHaveProperty('eth0');
    expect(host.store.summary()).toEqual(['bridge: c1@172.17.0.2']);
    expect(service.inventory()).toEqual({ networks: 1, endpoints: 1 });
    expect(service.portNames()).toEqual(new Map([[1, 'eth0@c1']]));
  });

  it('removes an endpoint whose namespace vanishes while the daemon runs', async () => {
    const host = await afterFirstRun();
    const { service, dataplane } = daemon(host);
    await service.restore();
    host.devices.deleteNamespace('c1');
    const mark = host.journal.mark;

    await service.reconcile();

    expect(host.journal.since(mark)).toEqual(['publish- tcp/8080', 'port- 1', 'tap- c1/eth0', 'save']);
    expect(host.store.summary()).toEqual(['bridge: c2@172.17.0.3']);
    expect([...dataplane.ports.keys()]).toEqual([2]);
    expect(host.resolvConfs.files.has('c1')).toBe(false);
    expect((await service.status()).endpoints).toBe(1);
  });
});
