// The IPv6 sides of the data plane's tables, from the specs the control plane sends (issue 13).
import { describe, expect, it } from 'vitest';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import { MemoryPort } from '../../../src/ports/memory-port.js';
import { addDualStackNetwork, words6 as words } from './fixture.js';
import { parseMac } from '../../../src/wire/mac.js';

describe('dual-stack tables', () => {
  it('a network keeps its IPv6 prefix and gateway; an endpoint its IPv6 address', () => {
    const dp = new Dataplane();
    const net = addDualStackNetwork(dp);
    expect(net.ipv4).toBe(true);
    const v6 = net.ip6!;
    expect(v6.contains(...words('fd00:20::abcd'))).toBe(true);
    expect(v6.contains(...words('fd00:20:0:1::2'))).toBe(false);
    expect(v6.contains(...words('fd00:21::2'))).toBe(false);
    expect(v6.isGateway(...words('fd00:20::1'))).toBe(true);
    expect(v6.isGateway(...words('fd00:20::2'))).toBe(false);
    expect(v6.nat).toBe(true);
    const port = dp.control.addEndpoint({ name: 'c1', network: 0, mac: 0x0242ac140002, ip: 0xac140002, ip6: words('fd00:20::2') }, new MemoryPort());
    expect([port.hasIp6, port.ip6w0, port.ip6w1, port.ip6w2, port.ip6w3]).toEqual([true, 0xfd000020, 0, 0, 2]);
  });

  it('an IPv4-only network has no IPv6 side; an IPv6-only one says so', () => {
    const dp = new Dataplane();
    const base = { name: 'x', subnet: 0, prefixLen: 0, gatewayIp: 0, gatewayMac: parseMac('02:50:00:00:00:01'), mtu: 1500, internal: false };
    expect(dp.control.addNetwork({ ...base, index: 0, subnet: 0xac150000, prefixLen: 16, gatewayIp: 0xac150001 }).ip6).toBeNull();
    const only6 = dp.control.addNetwork({ ...base, index: 1, ipv4: false, ipv6: { subnet: words('2001:db8:1::'), prefixLen: 48, gatewayIp: words('2001:db8:1::1'), nat: false } });
    expect(only6.ipv4).toBe(false);
    expect(only6.ip6!.contains(...words('2001:db8:1:ffff::9'))).toBe(true);
    expect(only6.ip6!.nat).toBe(false);
    // no IPv4 route: IPv4 destinations outside the first network find no network
    expect(dp.tables.routes.lookup(0x0a000001)).toBe(-1);
    dp.control.removeNetwork(1);
    expect(dp.tables.networks[1]).toBeUndefined();
  });
});
