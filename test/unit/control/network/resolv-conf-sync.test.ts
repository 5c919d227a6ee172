// Containers' resolv.conf files follow their networks: written for the first network's gateway,
// removed at the last disconnect, a file someone else wrote left alone, none with the DNS off.

import { afterEach, describe, expect, it } from 'vitest';
import type { NetworkService } from '../../../../src/control/network-service.js';
import { FakeHost, testConfig } from './fake-host.js';

const running: NetworkService[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.shutdown();
});

async function started(host: FakeHost) {
  host.devices.addNamespace('c1');
  host.devices.addNamespace('c2');
  const d = host.daemon();
  running.push(d.service);
  await d.service.restore();
  return d.service;
}

describe('resolv.conf sync', () => {
  it('leaves a file it did not write alone, and never removes it', async () => {
    const host = new FakeHost();
    host.resolvConfs.files.set('c2', 'foreign');
    const service = await started(host);
    await service.connect('bridge', { netns: 'c1' });
    await service.connect('bridge', { netns: 'c2' });
    expect(host.resolvConfs.files).toEqual(new Map([['c2', 'foreign'], ['c1', '172.17.0.1']]));
    await service.disconnect('bridge', { netns: 'c2' });
    await service.shutdown();
    running.length = 0;
    expect(host.resolvConfs.files).toEqual(new Map([['c2', 'foreign']]));
  });

  it('writes nothing with the DNS off', async () => {
    const host = new FakeHost(testConfig({ dns: { enabled: false } }));
    const service = await started(host);
    await service.connect('bridge', { netns: 'c1' });
    expect(host.resolvConfs.files.size).toBe(0);
    expect(service.inspectNetwork('bridge').Options).not.toHaveProperty('pontoon.dns');
  });
});
