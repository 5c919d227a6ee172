// An IPv6-only network in the data plane: its endpoints have no IPv4 address, so every IPv4 or
// ARP frame from them is dropped (unsupported_ethertype, as IPv6 on a network without an IPv6
// side) — a source of 0.0.0.0 must not pass as "its own address" — while IPv6 works as on a
// dual-stack network. IPv6 frames as in ipv6-link.test.ts (scapy); IPv4 and ARP frames written by
// hand with their checksums.
import { describe, expect, it } from 'vitest';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import { MemoryPort } from '../../../src/ports/memory-port.js';
import { parseMac } from '../../../src/wire/mac.js';
import { drops, hex, words6 as words } from './fixture.js';

// c1 02:42:ac:14:00:02 (fd00:20::2) pings the gateway 02:50:00:00:00:01 (fd00:20::1)
const ECHO_C1_TO_GW = hex('0250000000010242ac14000286dd6000000000103a40fd000020000000000000000000000002fd0000200000000000000000000000018000e1a5123400016162636465666768');
const ECHO_GW_TO_C1 = hex('0242ac14000202500000000186dd6000000000103a40fd000020000000000000000000000001fd0000200000000000000000000000028100e0a5123400016162636465666768');
// UDP 0.0.0.0:68 -> 255.255.255.255:67 (a DHCP client's first packet), broadcast
const UDP_FROM_ZERO = hex('ffffffffffff0242ac1400020800450000240001000040117ac900000000ffffffff0044004300100000706f6e746f6f6e21');
// ICMP echo 172.20.0.2 -> 172.20.0.1, to the gateway's MAC
const ECHO4_TO_GW = hex('0250000000010242ac14000208004500002400010000400122adac140002ac14000108005435123400016162636465666768');
// ARP probe (sender 0.0.0.0) for 172.20.0.1
const ARP_PROBE = hex('ffffffffffff0242ac140002080600010800060400010242ac14000200000000000000000000ac140001');

function world() {
  const dp = new Dataplane();
  dp.now = 1_000_000;
  const net = dp.control.addNetwork({
    index: 0,
    name: 'v6',
    subnet: 0,
    prefixLen: 0,
    gatewayIp: 0,
    ipv4: false,
    gatewayMac: parseMac('02:50:00:00:00:01'),
    mtu: 1500,
    internal: false,
    ipv6: { subnet: words('fd00:20::'), prefixLen: 64, gatewayIp: words('fd00:20::1'), nat: true },
  });
  const c1 = new MemoryPort();
  const c2 = new MemoryPort();
  const p1 = dp.control.addEndpoint({ name: 'c1', network: 0, mac: 0x0242ac140002, ip6: words('fd00:20::2') }, c1);
  const p2 = dp.control.addEndpoint({ name: 'c2', network: 0, mac: 0x0242ac140003, ip6: words('fd00:20::3') }, c2);
  return { dp, net, c1, c2, p1, p2 };
}

describe('an IPv6-only network', () => {
  it('endpoints without IPv4: no gratuitous ARP, no IPv4 neighbour or address entry', () => {
    const w = world();
    expect([w.c1.take(), w.c2.take()]).toEqual([[], []]);
    expect([w.p1.hasIp4, w.p1.ip, w.p1.hasIp6]).toEqual([false, 0, true]);
    expect(w.dp.tables.endpointsByIp.size).toBe(0);
    expect(w.net.neighbours.get(0)).toBeUndefined();
    w.dp.control.removePort(w.p1.id);
    expect(w.dp.tables.ports[w.p1.id]).toBeUndefined();
  });

  it('answers ping -6 to the gateway', () => {
    const w = world();
    w.dp.receive(w.p1.id, Buffer.from(ECHO_C1_TO_GW));
    expect(w.c1.take()).toEqual([ECHO_GW_TO_C1]);
    expect(drops(w.dp)).toEqual({});
  });

  it('drops every IPv4 and ARP frame of its ports as unsupported_ethertype, 0.0.0.0 sources among them', () => {
    const w = world();
    for (const f of [UDP_FROM_ZERO, ECHO4_TO_GW, ARP_PROBE]) w.dp.receive(w.p1.id, Buffer.from(f));
    expect(drops(w.dp)).toEqual({ unsupported_ethertype: 3 });
    expect([w.c1.take(), w.c2.take()]).toEqual([[], []]);
  });

  it('refuses an endpoint with IPv4 on it, and one without on a network with IPv4', () => {
    const w = world();
    expect(() => w.dp.control.addEndpoint({ name: 'c3', network: 0, mac: 0x0242ac140004, ip: 0xac140004, ip6: words('fd00:20::4') }, new MemoryPort())).toThrow(
      'network v6 is IPv6-only: endpoint c3 cannot have an IPv4 address',
    );
    w.dp.control.addNetwork({ index: 1, name: 'v4', subnet: 0xac150000, prefixLen: 16, gatewayIp: 0xac150001, gatewayMac: parseMac('02:50:00:00:00:02'), mtu: 1500, internal: false });
    expect(() => w.dp.control.addEndpoint({ name: 'c4', network: 1, mac: 0x0242ac150002 }, new MemoryPort())).toThrow('endpoint c4 needs an IPv4 address on network v4');
  });
});
