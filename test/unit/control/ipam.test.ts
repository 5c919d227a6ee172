import { describe, expect, it } from 'vitest';
import {
  AddressAllocator,
  chooseSubnet,
  DEFAULT_POOLS,
  hostRouteCidrs,
  parseSubnet,
  routeCidrsFromJson,
  routeCidrs6FromJson,
  validateNetworkRequest,
} from '../../../src/control/ipam.js';
import type { NetworkCreateRequest } from '../../../src/control/api-types.js';
import { failure } from './api-failure.js';


describe('parseSubnet', () => {
  it('parses to a uint32 network and a prefix length', () => {
    expect(parseSubnet('172.17.0.0/16')).toEqual({ addr: 0xac110000, prefixLen: 16 });
    expect(parseSubnet('255.255.255.255/32')).toEqual({ addr: 0xffffffff, prefixLen: 32 });
    expect(parseSubnet('0.0.0.0/0')).toEqual({ addr: 0, prefixLen: 0 });
  });

  it('rejects host bits like Docker', () => {
    expect(failure(() => parseSubnet('172.17.0.5/16'))).toEqual({
      status: 400,
      message: 'invalid subnet 172.17.0.5/16: it should be 172.17.0.0/16',
    });
  });

  it('rejects malformed CIDRs', () => {
    expect(failure(() => parseSubnet('172.17.0.0'))).toEqual({
      status: 400,
      message: 'invalid subnet "172.17.0.0": expected an IPv4 CIDR such as 172.18.0.0/16',
    });
    expect(failure(() => parseSubnet('172.17.0.0/33')).message).toBe(
      'invalid subnet "172.17.0.0/33": the prefix length must be between 0 and 32',
    );
    expect(failure(() => parseSubnet('172.17.0.256/24')).message).toBe(
      'invalid subnet "172.17.0.256/24": "172.17.0.256" is not an IPv4 address',
    );
    expect(failure(() => parseSubnet('10.0.0.1/8', 'ip-range')).message).toBe('invalid ip-range 10.0.0.1/8: it should be 10.0.0.0/8');
  });
});

describe('chooseSubnet', () => {
  it("walks Docker's default pools", () => {
    expect(DEFAULT_POOLS).toHaveLength(15 + 16);
    expect(DEFAULT_POOLS[0]).toBe('172.17.0.0/16');
    expect(DEFAULT_POOLS[14]).toBe('172.31.0.0/16');
    expect(DEFAULT_POOLS[15]).toBe('192.168.0.0/20');
    expect(DEFAULT_POOLS[30]).toBe('192.168.240.0/20');
    expect(chooseSubnet([])).toBe('172.17.0.0/16');
    expect(chooseSubnet(['172.17.0.0/16', '172.18.3.0/24'])).toBe('172.19.0.0/16');
    expect(chooseSubnet(['172.16.0.0/12'])).toBe('192.168.0.0/20');
    expect(chooseSubnet(['172.16.0.0/12', '192.168.1.0/24'])).toBe('192.168.16.0/20');
  });

  it('fails when every pool is taken', () => {
    expect(failure(() => chooseSubnet(['172.16.0.0/12', '192.168.0.0/16']))).toEqual({
      status: 409,
      message: 'no available subnet in the default address pools',
    });
  });
});

describe('host routes', () => {
  it('keeps real routes, drops default, local, broadcast and our own devices', () => {
    const json = JSON.stringify([
      { dst: 'default', gateway: '192.0.2.1', dev: 'eth0' },
      { dst: '192.0.2.0/24', dev: 'eth0' },
      { dst: '10.9.9.9', dev: 'eth0' },
      { type: 'local', dst: '127.0.0.0/8', dev: 'lo', table: 'local' },
      { type: 'broadcast', dst: '192.0.2.255', dev: 'eth0', table: 'local' },
      { dst: '172.17.0.0/16', dev: 'pontoon0' },
      { dst: '172.18.0.0/16', dev: 'pt-br1' },
      { type: 'unreachable', dst: '10.200.0.0/16' },
    ]);
    expect(routeCidrsFromJson(json, 'pt', 'pontoon0')).toEqual(['192.0.2.0/24', '10.9.9.9/32', '10.200.0.0/16']);
    expect(routeCidrsFromJson('', 'pt', 'pontoon0')).toEqual([]);
  });

  it('keeps real IPv6 routes, drops link-local, multicast, local and our own devices, adds the host link\'s subnet', () => {
    const json = JSON.stringify([
      { dst: 'default', gateway: 'fe80::1', dev: 'eth0' },
      { dst: '2001:db8:1::/64', dev: 'eth0' },
      { dst: '2001:db8:2::5', dev: 'eth0' },
      { dst: 'fe80::/64', dev: 'eth0' },
      { dst: 'ff00::/8', dev: 'eth0', table: 'local' },
      { type: 'local', dst: '::1', dev: 'lo', table: 'local' },
      { dst: 'fd00:20::/64', dev: 'pontoon0' },
      { dst: 'fd00:21::/64', dev: 'pt-br1' },
    ]);
    expect(routeCidrs6FromJson(json, 'pt', 'pontoon0', 'fd00:ffff::1/64')).toEqual(['fd00:ffff::/64', '2001:db8:1::/64', '2001:db8:2::5/128']);
    expect(routeCidrs6FromJson('', 'pt', 'pontoon0', null)).toEqual([]);
  });

  it('an IPv6 subnet may not overlap a host route; a chosen one avoids them', () => {
    const req: NetworkCreateRequest = { name: 'n6', ipv6: true, subnets: ['172.30.0.0/16', 'fd00:ffff::/64'] };
    expect(failure(() => validateNetworkRequest(req, [], [], undefined, ['fd00:ffff::/64']))).toEqual({
      status: 409,
      message: 'subnet fd00:ffff::/64 of network "n6" overlaps with host route fd00:ffff::/64',
    });
    const chosen = validateNetworkRequest({ name: 'n6', ipv6: true }, [], [], [{ base: 'fd00:1::/63', size: 64 }], ['fd00:1::/64']);
    expect(chosen.ipv6!.subnet).toBe('fd00:1:0:1::/64');
  });

  it('reads the routes of this host', async () => {
    const routes = await hostRouteCidrs('pt', 'pontoon0');
    for (const r of routes) expect(r).toMatch(/^[0-9.]+\/[0-9]+$/);
  });
});

describe('AddressAllocator', () => {
  it('hands out the lowest free address, never network, broadcast or gateway', () => {
    const a = new AddressAllocator('10.0.0.0/29', '10.0.0.1', undefined, 'small');
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4']);
    a.release('10.0.0.3');
    expect(a.has('10.0.0.3')).toBe(false);
    expect(a.allocate()).toBe('10.0.0.3');
    expect([a.allocate(), a.allocate()]).toEqual(['10.0.0.5', '10.0.0.6']);
    expect(failure(() => a.allocate())).toEqual({ status: 409, message: 'no available addresses on network "small" (subnet 10.0.0.0/29)' });
    a.release('10.0.0.2');
    expect(a.allocate()).toBe('10.0.0.2');
  });

  it('skips a gateway in the middle of the range', () => {
    const a = new AddressAllocator('10.0.0.0/29', '10.0.0.3');
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.4']);
    expect(a.has('10.0.0.3')).toBe(false);
  });

  it('allocates from the ip-range but accepts any requested address of the subnet', () => {
    const a = new AddressAllocator('172.20.0.0/16', '172.20.0.1', '172.20.5.0/24', 'r');
    expect(a.allocate()).toBe('172.20.5.0');
    expect(a.allocate()).toBe('172.20.5.1');
    expect(a.allocate('172.20.9.9')).toBe('172.20.9.9');
    expect(a.has('172.20.9.9')).toBe(true);
    const last = new AddressAllocator('172.20.0.0/24', '172.20.0.1', '172.20.0.252/30');
    expect([last.allocate(), last.allocate(), last.allocate()]).toEqual(['172.20.0.252', '172.20.0.253', '172.20.0.254']);
    expect(() => last.allocate()).toThrow(/no available addresses/);
  });

  it('checks requested addresses', () => {
    const a = new AddressAllocator('172.17.0.0/16', '172.17.0.1', undefined, 'bridge');
    expect(a.allocate('172.17.0.2')).toBe('172.17.0.2');
    expect(failure(() => a.allocate('172.17.0.2'))).toEqual({
      status: 409,
      message: 'address 172.17.0.2 is already in use on network "bridge"',
    });
    expect(failure(() => a.allocate('10.0.0.5'))).toEqual({
      status: 400,
      message: 'address 10.0.0.5 is not in subnet 172.17.0.0/16 of network "bridge"',
    });
    expect(failure(() => a.allocate('172.17.0.1'))).toEqual({
      status: 409,
      message: 'address 172.17.0.1 is already in use on network "bridge" (it is the gateway)',
    });
    expect(failure(() => a.allocate('172.17.0.0')).message).toBe(
      'address 172.17.0.0 is the network address of subnet 172.17.0.0/16 of network "bridge"',
    );
    expect(failure(() => a.allocate('172.17.255.255')).message).toBe(
      'address 172.17.255.255 is the broadcast address of subnet 172.17.0.0/16 of network "bridge"',
    );
    expect(failure(() => a.allocate('nope')).message).toBe('invalid address "nope": not an IPv4 address');
    // the requested address was taken out of the sequence
    expect(a.allocate()).toBe('172.17.0.3');
  });

  it('restores used addresses with markUsed', () => {
    const a = new AddressAllocator('172.17.0.0/16', '172.17.0.1');
    a.markUsed('172.17.0.2');
    a.markUsed('172.17.0.4');
    expect([a.allocate(), a.allocate()]).toEqual(['172.17.0.3', '172.17.0.5']);
  });

  it('allocates sequentially in a /8 without rescanning', () => {
    const a = new AddressAllocator('10.0.0.0/8', '10.0.0.1');
    const start = performance.now();
    let ip = '';
    for (let i = 0; i < 200_000; i++) ip = a.allocate();
    expect(ip).toBe('10.3.13.65');
    expect(performance.now() - start).toBeLessThan(5_000);
  });
});

describe('validateNetworkRequest', () => {
  const existing = [{ name: 'bridge', subnet: '172.17.0.0/16' }];

  it('fills subnet, gateway, mtu and internal', () => {
    expect(validateNetworkRequest({ name: 'a' }, existing, [])).toEqual({
      subnet: '172.18.0.0/16',
      gateway: '172.18.0.1',
      mtu: 1500,
      internal: false,
      ipv4: true,
    });
    expect(validateNetworkRequest({ name: 'a' }, existing, ['172.18.0.0/24'])).toMatchObject({ subnet: '172.19.0.0/16' });
    expect(
      validateNetworkRequest(
        { name: 'a.b_c-1', driver: 'bridge', subnet: '10.1.0.0/24', gateway: '10.1.0.254', ipRange: '10.1.0.128/25', internal: true, mtu: 9000 },
        existing,
        [],
      ),
    ).toEqual({ subnet: '10.1.0.0/24', gateway: '10.1.0.254', ipRange: '10.1.0.128/25', mtu: 9000, internal: true, ipv4: true });
  });

  const cases: [string, Parameters<typeof validateNetworkRequest>[0], number, string][] = [
    ['bad name', { name: '-a' }, 400, 'invalid network name "-a": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'],
    ['duplicate', { name: 'bridge' }, 409, 'network with name bridge already exists'],
    ['driver', { name: 'a', driver: 'ipvlan' }, 400, 'driver "ipvlan" is not supported (supported: bridge, overlay, macvlan)'],
    ['mtu', { name: 'a', mtu: 67 }, 400, 'invalid mtu 67: it must be between 68 and 65535'],
    ['mtu high', { name: 'a', mtu: 65536 }, 400, 'invalid mtu 65536: it must be between 68 and 65535'],
    ['cidr', { name: 'a', subnet: '10.0.0.0/33' }, 400, 'invalid subnet "10.0.0.0/33": the prefix length must be between 0 and 32'],
    ['host bits', { name: 'a', subnet: '172.18.0.5/16' }, 400, 'invalid subnet 172.18.0.5/16: it should be 172.18.0.0/16'],
    ['too small', { name: 'a', subnet: '10.0.0.0/31' }, 400, 'invalid subnet 10.0.0.0/31: the prefix length must be at most /30'],
    [
      'overlap',
      { name: 'a', subnet: '172.17.5.0/24' },
      409,
      'subnet 172.17.5.0/24 of network "a" overlaps with 172.17.0.0/16 of network "bridge"',
    ],
    ['route', { name: 'a', subnet: '192.0.2.0/25' }, 409, 'subnet 192.0.2.0/25 of network "a" overlaps with host route 192.0.2.0/24'],
    ['gateway outside', { name: 'a', subnet: '10.1.0.0/24', gateway: '10.2.0.1' }, 400, 'gateway 10.2.0.1 is not in subnet 10.1.0.0/24'],
    ['gateway bad', { name: 'a', subnet: '10.1.0.0/24', gateway: 'x' }, 400, 'invalid gateway "x": not an IPv4 address'],
    ['gateway network', { name: 'a', subnet: '10.1.0.0/24', gateway: '10.1.0.0' }, 400, 'gateway 10.1.0.0 is the network address of subnet 10.1.0.0/24'],
    ['ip-range outside', { name: 'a', subnet: '10.1.0.0/24', ipRange: '10.1.1.0/25' }, 400, 'ip-range 10.1.1.0/25 is not inside subnet 10.1.0.0/24'],
    ['ip-range host bits', { name: 'a', subnet: '10.1.0.0/24', ipRange: '10.1.0.1/25' }, 400, 'invalid ip-range 10.1.0.1/25: it should be 10.1.0.0/25'],
    ['gateway without subnet', { name: 'a', gateway: '10.1.0.1' }, 400, 'every ip-range or gateway must have a corresponding subnet'],
  ];
  it.each(cases)('rejects: %s', (_label, req, status, message) => {
    expect(failure(() => validateNetworkRequest(req, existing, ['192.0.2.0/24']))).toEqual({ status, message });
  });
});
