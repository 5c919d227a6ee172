import { describe, expect, it } from 'vitest';
import { requestFamilies, validateNetworkRequest } from '../../../src/control/ipam.js';
import { chooseSubnet6, defaultPool6, Ipv6AddressAllocator, parseSubnet6 } from '../../../src/control/ipam6.js';
import { failure } from './api-failure.js';

const POOLS = [{ base: 'fd12:3456:789a::/48', size: 64 }];

describe('IPv6 subnets', () => {
  it('parses a subnet and refuses host bits like the IPv4 ones', () => {
    expect(parseSubnet6('fd00:20::/64')).toEqual({ addr: [0xfd000020, 0, 0, 0], prefixLen: 64 });
    expect(failure(() => parseSubnet6('fd00:20::5/64'))).toEqual({ status: 400, message: 'invalid subnet fd00:20::5/64: it should be fd00:20::/64' });
    expect(failure(() => parseSubnet6('fd00:20::/129'))).toEqual({
      status: 400,
      message: 'invalid subnet "fd00:20::/129": the prefix length must be between 0 and 128',
    });
  });

  it('derives a stable ULA /48 from the machine id, cut into /64s', () => {
    const p = defaultPool6('0123456789abcdef0123456789abcdef');
    expect(p).toEqual(defaultPool6('0123456789abcdef0123456789abcdef'));
    expect(p.size).toBe(64);
    expect(p.base).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/48$/);
    expect(defaultPool6('another-host').base).not.toBe(p.base);
  });

  it('chooses the first free /64 of the pools', () => {
    expect(chooseSubnet6(POOLS, [])).toBe('fd12:3456:789a::/64');
    expect(chooseSubnet6(POOLS, ['fd12:3456:789a::/64', 'fd12:3456:789a:1::/64'])).toBe('fd12:3456:789a:2::/64');
    expect(chooseSubnet6(POOLS, ['fd12:3456:789a::/63'])).toBe('fd12:3456:789a:2::/64');
    expect(chooseSubnet6([{ base: 'fd00:1::/80', size: 96 }], ['fd00:1::/96'])).toBe('fd00:1::1:0:0/96');
    expect(failure(() => chooseSubnet6([{ base: 'fd00::/63', size: 64 }], ['fd00::/48']))).toEqual({
      status: 409,
      message: 'no available IPv6 subnet in the default address pools',
    });
  });
});

describe('validateNetworkRequest with IPv6', () => {
  const existing = [
    { name: 'bridge', subnet: '172.17.0.0/16' },
    { name: 'v6net', subnet: '172.19.0.0/16', subnet6: 'fd00:19::/64' },
  ];
  const v = (req: Parameters<typeof validateNetworkRequest>[0]) => validateNetworkRequest(req, existing, [], POOLS);

  it('matches each subnet, gateway and ip-range to its family', () => {
    expect(
      v({ name: 'dual', ipv6: true, subnets: ['172.20.0.0/16', 'fd00:20::/64'], gateways: ['172.20.0.1', 'fd00:20::fe'], ipRanges: ['fd00:20::100/120'] }),
    ).toEqual({
      subnet: '172.20.0.0/16',
      gateway: '172.20.0.1',
      mtu: 1500,
      internal: false,
      ipv4: true,
      ipv6: { subnet: 'fd00:20::/64', gateway: 'fd00:20::fe', ipRange: 'fd00:20::100/120', nat: true },
    });
    // the single fields of older CLIs count as one more of each
    expect(v({ name: 'dual', ipv6: true, subnet: '172.20.0.0/16', subnets: ['fd00:20::/64'] })).toMatchObject({
      subnet: '172.20.0.0/16',
      gateway: '172.20.0.1',
      ipv6: { subnet: 'fd00:20::/64', gateway: 'fd00:20::1', nat: true },
    });
  });

  it('--ipv6 alone: an IPv4 subnet of the default pools and a ULA /64 of the IPv6 pool', () => {
    expect(v({ name: 'auto', ipv6: true })).toMatchObject({
      subnet: '172.18.0.0/16',
      gateway: '172.18.0.1',
      ipv4: true,
      ipv6: { subnet: 'fd12:3456:789a::/64', gateway: 'fd12:3456:789a::1', nat: true },
    });
  });

  it('NAT: ULA masqueraded, a global prefix routed, -o pontoon.ipv6.nat overrides', () => {
    expect(v({ name: 'g', ipv6: true, subnets: ['172.20.0.0/16', '2001:db8:20::/64'] }).ipv6?.nat).toBe(false);
    expect(v({ name: 'g', ipv6: true, subnets: ['172.20.0.0/16', '2001:db8:20::/64'], ipv6Nat: true }).ipv6?.nat).toBe(true);
    expect(v({ name: 'u', ipv6: true, subnets: ['172.20.0.0/16', 'fd00:20::/64'], ipv6Nat: false }).ipv6?.nat).toBe(false);
  });

  it('only IPv6 subnets: an IPv6-only network', () => {
    expect(v({ name: 'only6', ipv6: true, subnet: 'fd00:20::/64' })).toEqual({
      subnet: '',
      gateway: '',
      mtu: 1500,
      internal: false,
      ipv4: false,
      ipv6: { subnet: 'fd00:20::/64', gateway: 'fd00:20::1', nat: true },
    });
  });

  const cases: [string, Parameters<typeof validateNetworkRequest>[0], number, string][] = [
    ['IPv6 subnet without --ipv6', { name: 'a', subnets: ['172.20.0.0/16', 'fd00:20::/64'] }, 400, 'IPv6 subnet fd00:20::/64 needs --ipv6 (IPv6 is not enabled on network "a")'],
    ['IPv6 gateway for an IPv4-only request', { name: 'a', subnet: '172.20.0.0/16', gateway: 'fd00:20::1' }, 400, 'no matching subnet for gateway fd00:20::1'],
    ['IPv4 gateway on an IPv6-only request', { name: 'a', ipv6: true, subnet: 'fd00:20::/64', gateway: '172.20.0.1' }, 400, 'no matching subnet for gateway 172.20.0.1'],
    ['IPv6 range without its subnet', { name: 'a', ipv6: true, subnet: '172.20.0.0/16', ipRange: 'fd00:20::/80' }, 400, 'no matching subnet for range fd00:20::/80'],
    ['two IPv6 subnets', { name: 'a', ipv6: true, subnets: ['fd00:20::/64', 'fd00:21::/64'] }, 400, 'only one IPv6 subnet per network is supported (got fd00:20::/64 and fd00:21::/64)'],
    ['two IPv6 gateways', { name: 'a', ipv6: true, subnets: ['fd00:20::/64'], gateways: ['fd00:20::1', 'fd00:20::2'] }, 400, 'cannot configure multiple gateways (fd00:20::1, fd00:20::2) for the same subnet (fd00:20::/64)'],
    ['/128', { name: 'a', ipv6: true, subnets: ['172.20.0.0/16', 'fd00:20::1/128'] }, 400, 'invalid subnet fd00:20::1/128: the prefix length of an IPv6 subnet must be at most /126 (/64 recommended)'],
    ['/127', { name: 'a', ipv6: true, subnets: ['172.20.0.0/16', 'fd00:20::/127'] }, 400, 'invalid subnet fd00:20::/127: the prefix length of an IPv6 subnet must be at most /126 (/64 recommended)'],
    ['host bits', { name: 'a', ipv6: true, subnets: ['172.20.0.0/16', 'fd00:20::1/64'] }, 400, 'invalid subnet fd00:20::1/64: it should be fd00:20::/64'],
    ['overlap', { name: 'a', ipv6: true, subnets: ['172.20.0.0/16', 'fd00:19::/48'] }, 409, 'subnet fd00:19::/48 of network "a" overlaps with fd00:19::/64 of network "v6net"'],
    ['gateway outside', { name: 'a', ipv6: true, subnets: ['172.20.0.0/16', 'fd00:20::/64'], gateway: 'fd00:21::1' }, 400, 'gateway fd00:21::1 is not in subnet fd00:20::/64'],
    ['gateway network address', { name: 'a', ipv6: true, subnets: ['172.20.0.0/16', 'fd00:20::/64'], gateway: 'fd00:20::' }, 400, 'gateway fd00:20:: is the network address of subnet fd00:20::/64'],
    ['gateway bad', { name: 'a', ipv6: true, subnets: ['172.20.0.0/16', 'fd00:20::/64'], gateway: 'fd00::zz' }, 400, 'invalid gateway "fd00::zz": not an IPv6 address'],
    ['ip-range outside', { name: 'a', ipv6: true, subnets: ['172.20.0.0/16', 'fd00:20::/64'], ipRange: 'fd00:21::/80' }, 400, 'ip-range fd00:21::/80 is not inside subnet fd00:20::/64'],
    ['nat without --ipv6', { name: 'a', ipv6Nat: false }, 400, 'option pontoon.ipv6.nat needs --ipv6'],
    ['gateway without subnet', { name: 'a', ipv6: true, gateway: 'fd00:20::1' }, 400, 'every ip-range or gateway must have a corresponding subnet'],
  ];
  it.each(cases)('rejects in one line: %s', (_label, req, status, message) => {
    expect(failure(() => v(req))).toEqual({ status, message });
  });

  it('sorts by family without checking the addresses', () => {
    expect(requestFamilies({ name: 'a', subnets: ['fd00::/64', '10.0.0.0/24'], gateway: '10.0.0.9' })).toEqual({
      v4: { subnet: '10.0.0.0/24', gateway: '10.0.0.9' },
      v6: { subnet: 'fd00::/64' },
      anySubnet: true,
    });
  });
});

describe('Ipv6AddressAllocator', () => {
  it('hands out ::2 upward (::1 is the gateway), reuses freed addresses lowest first', () => {
    const a = new Ipv6AddressAllocator('fd00:20::/64', 'fd00:20::1', undefined, 'dual');
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual(['fd00:20::2', 'fd00:20::3', 'fd00:20::4']);
    a.release('fd00:20::3');
    a.release('fd00:20:0:0::2'); // any spelling of the address
    expect(a.has('fd00:20::3')).toBe(false);
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual(['fd00:20::2', 'fd00:20::3', 'fd00:20::5']);
  });

  it('skips the gateway wherever it is, and addresses taken by a fixed request', () => {
    const a = new Ipv6AddressAllocator('fd00:20::/64', 'fd00:20::3');
    expect(a.allocate('FD00:20::4')).toBe('fd00:20::4');
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual(['fd00:20::1', 'fd00:20::2', 'fd00:20::5']);
  });

  it('refuses fixed addresses outside, in use, the gateway or the subnet-router anycast address', () => {
    const a = new Ipv6AddressAllocator('fd00:20::/64', 'fd00:20::1', undefined, 'dual');
    a.allocate('fd00:20::9');
    expect(failure(() => a.allocate('fd00:21::9'))).toEqual({ status: 400, message: 'address fd00:21::9 is not in subnet fd00:20::/64 of network "dual"' });
    expect(failure(() => a.allocate('fd00:20::9'))).toEqual({ status: 409, message: 'address fd00:20::9 is already in use on network "dual"' });
    expect(failure(() => a.allocate('fd00:20::1'))).toEqual({ status: 409, message: 'address fd00:20::1 is already in use on network "dual" (it is the gateway)' });
    expect(failure(() => a.allocate('fd00:20::'))).toEqual({
      status: 400,
      message: 'address fd00:20:: is the subnet-router anycast address of subnet fd00:20::/64 of network "dual"',
    });
    expect(failure(() => a.allocate('10.0.0.1'))).toEqual({ status: 400, message: 'invalid IPv6 address "10.0.0.1": not an IPv6 address' });
  });

  it('hands out only the ip-range, and says so when it is exhausted', () => {
    const a = new Ipv6AddressAllocator('fd00:20::/64', 'fd00:20::1', 'fd00:20::100/126', 'small');
    expect([a.allocate(), a.allocate(), a.allocate(), a.allocate()]).toEqual(['fd00:20::100', 'fd00:20::101', 'fd00:20::102', 'fd00:20::103']);
    expect(failure(() => a.allocate())).toEqual({ status: 409, message: 'no available IPv6 addresses on network "small" (ip-range fd00:20::100/126)' });
    a.release('fd00:20::102');
    expect(a.allocate()).toBe('fd00:20::102');
    // a range at the subnet's start: its first address (the subnet's) and the gateway are never handed out
    const b = new Ipv6AddressAllocator('fd00:20::/64', 'fd00:20::1', 'fd00:20::/126', 'small');
    expect([b.allocate(), b.allocate()]).toEqual(['fd00:20::2', 'fd00:20::3']);
    expect(failure(() => b.allocate())).toEqual({ status: 409, message: 'no available IPv6 addresses on network "small" (ip-range fd00:20::/126)' });
  });

  it('restored addresses are marked used without checks; a /64 is never enumerated', () => {
    const a = new Ipv6AddressAllocator('2001:db8::/32', '2001:db8::1');
    a.markUsed('2001:db8::2');
    a.markUsed('2001:db8:ffff::5');
    expect(a.allocate()).toBe('2001:db8::3');
    const start = performance.now();
    const c = new Ipv6AddressAllocator('fd00::/64', 'fd00::1');
    for (let i = 0; i < 1000; i++) c.allocate();
    expect(c.allocate()).toBe('fd00::3ea');
    expect(performance.now() - start).toBeLessThan(2000);
  });
});
