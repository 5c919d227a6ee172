import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateStore, type PersistedState } from '../../../src/control/state-store.js';

const STATE: PersistedState = {
  version: 1,
  networks: [
    {
      id: 'a'.repeat(64),
      name: 'bridge',
      driver: 'bridge',
      subnet: '172.17.0.0/16',
      gateway: '172.17.0.1',
      internal: false,
      mtu: 1500,
      gatewayMac: '02:42:ac:11:00:01',
      created: '2024-01-01T00:00:00.000Z',
      isDefault: true,
      endpoints: [
        {
          id: 'b'.repeat(64),
          name: 'c1',
          netnsPath: '/run/netns/c1',
          netnsDev: 4,
          netnsIno: 4026532317,
          ifName: 'eth0',
          mac: '02:42:ac:11:00:02',
          ip: '172.17.0.2',
          ports: [{ proto: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80 }],
          aliases: ['web'],
          created: '2024-01-01T00:00:01.000Z',
        },
      ],
    },
    {
      id: 'c'.repeat(64),
      name: 'ranged',
      driver: 'bridge',
      subnet: '10.1.0.0/24',
      gateway: '10.1.0.1',
      ipRange: '10.1.0.128/25',
      internal: true,
      mtu: 9000,
      gatewayMac: '02:42:0a:01:00:01',
      created: '2024-01-01T00:00:02.000Z',
      isDefault: false,
      endpoints: [],
    },
  ],
};

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'pontoon-state-'));
}

describe('StateStore', () => {
  it('returns null when nothing was saved', () => {
    expect(new StateStore(join(tempDir(), 'none')).load()).toBeNull();
  });

  it('round-trips the state, creating the directory with mode 0700', () => {
    const dir = join(tempDir(), 'nested', 'state');
    const store = new StateStore(dir);
    store.save(STATE);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(new StateStore(dir).load()).toEqual(STATE);
    expect(readdirSync(dir)).toEqual(['state.json']); // no temporary file left behind
  });

  it('replaces the previous state', () => {
    const dir = tempDir();
    const store = new StateStore(dir);
    store.save(STATE);
    store.save({ version: 1, networks: [] });
    expect(store.load()).toEqual({ version: 1, networks: [] });
    expect(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'))).toEqual({ version: 1, networks: [] });
  });

  it('names the file when it is corrupt', () => {
    const dir = tempDir();
    const file = join(dir, 'state.json');
    writeFileSync(file, '{"version": 1, "networks": [');
    expect(() => new StateStore(dir).load()).toThrow(new RegExp(`^state file ${file} is corrupt: `));
    writeFileSync(file, JSON.stringify({ version: 2, networks: [] }));
    expect(() => new StateStore(dir).load()).toThrow(new RegExp(`^state file ${file} is corrupt: version: `));
    writeFileSync(file, JSON.stringify({ version: 1, networks: [{ ...STATE.networks[0], mtu: 'big' }] }));
    expect(() => new StateStore(dir).load()).toThrow(new RegExp(`^state file ${file} is corrupt: networks\\.0\\.mtu: `));
  });
});

describe('StateStore with legacy links', () => {
  const LINKED: PersistedState = {
    version: 1,
    networks: [
      {
        ...STATE.networks[0]!,
        endpoints: [{ ...STATE.networks[0]!.endpoints[0]!, links: [{ name: 'db', alias: 'dbalias' }, { name: 'cache', alias: 'cache' }] }],
      },
    ],
  };

  it("keeps an endpoint's links", () => {
    const store = new StateStore(tempDir());
    store.save(LINKED);
    expect(store.load()).toEqual(LINKED);
    const raw = JSON.parse(readFileSync(store.file, 'utf8')) as PersistedState;
    expect(raw.networks[0]!.endpoints[0]!.links).toEqual([{ name: 'db', alias: 'dbalias' }, { name: 'cache', alias: 'cache' }]);
  });

  it('loads a file written before links unchanged: no links key appears', () => {
    const store = new StateStore(tempDir());
    writeFileSync(store.file, JSON.stringify(STATE));
    const loaded = store.load()!;
    expect(loaded).toEqual(STATE);
    expect('links' in loaded.networks[0]!.endpoints[0]!).toBe(false);
  });

  it('names a malformed link', () => {
    const store = new StateStore(tempDir());
    writeFileSync(store.file, JSON.stringify({ ...LINKED, networks: [{ ...LINKED.networks[0]!, endpoints: [{ ...LINKED.networks[0]!.endpoints[0]!, links: [{ name: 'db' }] }] }] }));
    expect(() => store.load()).toThrow(/is corrupt: networks\.0\.endpoints\.0\.links\.0\.alias: /);
  });
});

describe('StateStore with IPv6', () => {
  const DUAL: PersistedState = {
    version: 1,
    networks: [
      {
        ...STATE.networks[1]!,
        name: 'dual',
        ipv6: { subnet: 'fd00:20::/64', gateway: 'fd00:20::1', ipRange: 'fd00:20::/120', nat: true },
        endpoints: [{ ...STATE.networks[0]!.endpoints[0]!, ip: '10.1.0.128', ip6: 'fd00:20::2' }],
      },
    ],
  };

  it('keeps the IPv6 subnet, gateway, ip-range, NAT and each endpoint\'s IPv6 address', () => {
    const store = new StateStore(tempDir());
    store.save(DUAL);
    expect(store.load()).toEqual(DUAL);
    const raw = JSON.parse(readFileSync(store.file, 'utf8')) as PersistedState;
    expect(raw.networks[0]!.ipv6).toEqual({ subnet: 'fd00:20::/64', gateway: 'fd00:20::1', ipRange: 'fd00:20::/120', nat: true });
    expect(raw.networks[0]!.endpoints[0]!.ip6).toBe('fd00:20::2');
  });

  it('loads a file written before IPv6 unchanged: no ipv6 keys appear', () => {
    const dir = tempDir();
    const store = new StateStore(dir);
    writeFileSync(store.file, JSON.stringify(STATE));
    const loaded = store.load()!;
    expect(loaded).toEqual(STATE);
    expect('ipv6' in loaded.networks[0]!).toBe(false);
    expect('ip6' in loaded.networks[0]!.endpoints[0]!).toBe(false);
  });

  const ONLY6: PersistedState = {
    version: 1,
    networks: [
      {
        ...STATE.networks[1]!,
        name: 'v6only',
        subnet: '',
        gateway: '',
        ipRange: undefined,
        ipv6: { subnet: 'fd00:20::/64', gateway: 'fd00:20::1', nat: true },
        endpoints: [{ ...STATE.networks[0]!.endpoints[0]!, ports: [], mac: '02:42:00:00:00:02', ip: '', ip6: 'fd00:20::2' }],
      },
    ],
  };
  delete ONLY6.networks[0]!.ipRange;

  it('keeps an IPv6-only network: no IPv4 subnet or gateway (\'\'), an endpoint without an IPv4 address', () => {
    const store = new StateStore(tempDir());
    store.save(ONLY6);
    expect(store.load()).toEqual(ONLY6);
    const raw = JSON.parse(readFileSync(store.file, 'utf8')) as PersistedState;
    expect([raw.networks[0]!.subnet, raw.networks[0]!.gateway, raw.networks[0]!.endpoints[0]!.ip]).toEqual(['', '', '']);
  });

  it('names a network without either family, or an endpoint whose IPv4 address does not fit its network, in one line', () => {
    const store = new StateStore(tempDir());
    const noFamily = structuredClone(ONLY6);
    delete noFamily.networks[0]!.ipv6;
    writeFileSync(store.file, JSON.stringify(noFamily));
    expect(() => store.load()).toThrow(`state file ${store.file} is corrupt: networks.0.subnet: a network without an IPv4 subnet needs its IPv6 side (ipv6)`);
    const withIp = structuredClone(ONLY6);
    withIp.networks[0]!.endpoints[0]!.ip = '172.17.0.2';
    writeFileSync(store.file, JSON.stringify(withIp));
    const endpointMessage = `state file ${store.file} is corrupt: networks.0.endpoints: an endpoint's ip is '' exactly on a network without an IPv4 subnet, and then it has its ip6`;
    expect(() => store.load()).toThrow(endpointMessage);
    const noIp = structuredClone(STATE);
    noIp.networks[0]!.endpoints[0]!.ip = '';
    writeFileSync(store.file, JSON.stringify(noIp));
    expect(() => store.load()).toThrow(endpointMessage);
  });

  it('names a malformed IPv6 side in one line', () => {
    const store = new StateStore(tempDir());
    const bad = structuredClone(DUAL) as unknown as { networks: { ipv6: { nat: unknown } }[] };
    bad.networks[0]!.ipv6.nat = 'yes';
    writeFileSync(store.file, JSON.stringify(bad));
    expect(() => store.load()).toThrow(`state file ${store.file} is corrupt: networks.0.ipv6.nat: Invalid input: expected boolean, received string`);
  });
});
