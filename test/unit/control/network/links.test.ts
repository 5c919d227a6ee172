// Docker's legacy links through the network service over a fake host: `network connect --link`
// checked before anything is made, the link in the endpoint's record, in `network inspect` and in
// the embedded DNS of the linking container alone, broken while the linked container is away, and
// kept across a daemon restart.

import { afterEach, describe, expect, it } from 'vitest';
import type { NetworkService } from '../../../../src/control/network-service.js';
import { rejection } from '../api-failure.js';
import { FakeHost } from './fake-host.js';

const running: NetworkService[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) await s.shutdown();
});

/** A daemon of `host`, restored; shut down after the test. */
async function daemonOf(host: FakeHost): Promise<NetworkService> {
  const { service } = host.daemon();
  running.push(service);
  await service.restore();
  return service;
}

/** The default network "bridge" (172.17.0.0/16) with db (172.17.0.2), web linked db:dbalias (.3) and other (.4). */
async function linkedWorld() {
  const host = new FakeHost();
  for (const ns of ['db', 'web', 'other', 'late']) host.devices.addNamespace(ns);
  const service = await daemonOf(host);
  await service.connect('bridge', { netns: 'db' });
  const web = await service.connect('bridge', { netns: 'web', links: ['db:dbalias'] });
  await service.connect('bridge', { netns: 'other' });
  return { host, service, web };
}

/** What the embedded DNS answers `name` (A records) to the container with address `from`. */
function resolveFrom(service: NetworkService, from: string, name: string): string[] | null {
  return service.names.lookupName(service.names.clientScope(from)!, name);
}

describe('network connect --link', () => {
  it("resolves the alias for the linking container alone, and shows the link in inspect and the state file", async () => {
    const { host, service, web } = await linkedWorld();
    expect(resolveFrom(service, '172.17.0.3', 'dbalias')).toEqual(['172.17.0.2']);
    expect(resolveFrom(service, '172.17.0.3', 'db')).toEqual(['172.17.0.2']);
    expect(resolveFrom(service, '172.17.0.4', 'dbalias')).toBeNull();
    expect(resolveFrom(service, '172.17.0.2', 'dbalias')).toBeNull();

    expect(web.Links).toEqual(['db:dbalias']);
    const containers = Object.values(service.inspectNetwork('bridge').Containers);
    expect(containers.map((c) => [c.Name, c.Links])).toEqual([
      ['db', undefined],
      ['web', ['db:dbalias']],
      ['other', undefined],
    ]);
    // the alias is the linking container's, not a DNS name of db's
    expect(containers.find((c) => c.Name === 'db')!.DNSNames).toEqual(['db']);
    const saved = host.store.saved!.networks[0]!.endpoints;
    expect(saved.map((e) => e.links)).toEqual([undefined, [{ name: 'db', alias: 'dbalias' }], undefined]);
  });

  it('takes links as strings or objects; the alias defaults to the container name', async () => {
    const { service } = await linkedWorld();
    const late = await service.connect('bridge', { netns: 'late', links: ['db', { name: 'other', alias: 'o' }, { name: 'web' }] });
    expect(late.Links).toEqual(['db:db', 'other:o', 'web:web']);
    expect(resolveFrom(service, '172.17.0.5', 'o')).toEqual(['172.17.0.4']);
    expect(resolveFrom(service, '172.17.0.3', 'o')).toBeNull();
  });

  it('refuses a bad link with one line, changing nothing', async () => {
    const { host, service } = await linkedWorld();
    const mark = host.journal.mark;
    const saved = structuredClone(host.store.saved);
    const refused = async (links: unknown[], name?: string) => {
      const e = await rejection(service.connect('bridge', { netns: 'late', links: links as string[], ...(name !== undefined ? { name } : {}) }));
      return `${e.status} ${e.message}`;
    };
    expect(await refused(['nope:x'])).toBe('404 could not get container for nope: no container nope on network bridge');
    expect(await refused(['a:b:c'])).toBe('400 invalid link "a:b:c": bad format for links (expected CONTAINER[:ALIAS])');
    expect(await refused(['db:'])).toBe('400 invalid link "db:": empty alias');
    expect(await refused([':x'])).toBe('400 invalid link ":x": no container name');
    expect(await refused([''])).toBe('400 invalid link "": empty string specified for links');
    expect(await refused(['db:a.b'])).toBe(`400 invalid link "db:a.b": alias "a.b" is not a DNS label (1 to 63 letters, digits, '-' and '_')`);
    expect(await refused(['db:-x'])).toMatch(/^400 invalid link "db:-x": alias "-x" is not a DNS label/);
    expect(await refused([{ name: 'db', alias: 'x'.repeat(64) }])).toMatch(/is not a DNS label/);
    expect(await refused([{ name: 'db', alias: '' }])).toBe('400 invalid link "db:": empty alias');
    expect(await refused(['db:x', 'other:X'])).toBe('400 invalid link "other:X": alias X already links db');
    expect(await refused(['late:me'])).toBe('400 invalid link "late:me": late cannot link to itself');
    expect(await refused(['me'], 'me')).toBe('400 invalid link "me": me cannot link to itself');
    // a name only an alias has is no container
    await service.connect('bridge', { netns: 'late', aliases: ['cache'] });
    await service.disconnect('bridge', { netns: 'late' });
    const mark2 = host.journal.mark;
    expect(await refused(['cache'])).toBe('404 could not get container for cache: no container cache on network bridge');
    expect(host.journal.since(mark2)).toEqual([]);
    expect(host.journal.since(mark).filter((s) => s === 'tap+ late/eth0')).toHaveLength(1); // only the good connect made a device
    expect(host.store.saved).toEqual(saved);
  });

  it("breaks while the linked container is away and works again when it comes back under its name", async () => {
    const { host, service } = await linkedWorld();
    await service.disconnect('bridge', { netns: 'db' });
    expect(resolveFrom(service, '172.17.0.3', 'dbalias')).toBeNull();
    expect(resolveFrom(service, '172.17.0.3', 'db')).toBeNull();
    // the link stays the linking container's, broken, as Docker keeps it
    expect(Object.values(service.inspectNetwork('bridge').Containers).find((c) => c.Name === 'web')!.Links).toEqual(['db:dbalias']);
    // another namespace comes under the name db, with another address
    await service.connect('bridge', { netns: 'late', ip: '172.17.0.99', name: 'db' });
    expect(resolveFrom(service, '172.17.0.3', 'dbalias')).toEqual(['172.17.0.99']);
    expect(resolveFrom(service, '172.17.0.4', 'dbalias')).toBeNull();
    expect(host.store.saved!.networks[0]!.endpoints.find((e) => e.name === 'web')!.links).toEqual([{ name: 'db', alias: 'dbalias' }]);
  });

  it('goes with the linking endpoint when it disconnects', async () => {
    const { service } = await linkedWorld();
    await service.disconnect('bridge', { netns: 'web' });
    await service.connect('bridge', { netns: 'web' });
    const ip = Object.values(service.inspectNetwork('bridge').Containers).find((c) => c.Name === 'web')!.IPv4Address.split('/')[0]!;
    expect(resolveFrom(service, ip, 'dbalias')).toBeNull();
  });

  it('keeps the links across a daemon restart', async () => {
    const { host, service } = await linkedWorld();
    await service.shutdown();
    running.splice(running.indexOf(service), 1);
    const again = await daemonOf(host);
    expect(resolveFrom(again, '172.17.0.3', 'dbalias')).toEqual(['172.17.0.2']);
    expect(resolveFrom(again, '172.17.0.4', 'dbalias')).toBeNull();
    expect(Object.values(again.inspectNetwork('bridge').Containers).map((c) => c.Links)).toEqual([undefined, ['db:dbalias'], undefined]);
  });
});
