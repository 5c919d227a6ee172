// IPv6 on a network's link (issue 13): the gateway's neighbour discovery, ping of its addresses,
// anti-spoofing of sources and of NDP, and the switch between containers. Frames written with
// scapy (Ether()/IPv6()/ICMPv6ND_*) as literal bytes; what the gateway sends is compared byte for
// byte with scapy's frame for the same message.
import { describe, expect, it } from 'vitest';
import { Drop } from '../../../src/dataplane/counters.js';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import { MemoryPort } from '../../../src/ports/memory-port.js';
import { addDualStackNetwork, hex, words6 as words } from './fixture.js';

// c1 02:42:ac:14:00:02 (fd00:20::2, link-local fe80::42:acff:fe14:2), c2 02:42:ac:14:00:03
// (fd00:20::3), the gateway 02:50:00:00:00:01 (fd00:20::1 and fe80::1) on fd00:20::/64
const NS_C1_FOR_GW_LL = hex('3333ff0000010242ac14000286dd6000000000203afffe800000000000000042acfffe140002ff0200000000000000000001ff000001870022ea00000000fe80000000000000000000000000000101010242ac140002');
const NA_GW_LL_TO_C1 = hex('0242ac14000202500000000186dd6000000000203afffe800000000000000000000000000001fe800000000000000042acfffe1400028800ec74e0000000fe8000000000000000000000000000010201025000000001');
const RS_C1 = hex('3333000000020242ac14000286dd6000000000103afffe800000000000000042acfffe140002ff0200000000000000000000000000028500227d0000000001010242ac140002');
const RA_TO_C1 = hex('0242ac14000202500000000186dd6000000000403afffe800000000000000000000000000001fe800000000000000042acfffe1400028600b14b400007080000000000000000010102500000000105010000000005dc030440c0000151800000384000000000fd000020000000000000000000000000');
const ECHO_C1_TO_GW = hex('0250000000010242ac14000286dd6000000000103a40fd000020000000000000000000000002fd0000200000000000000000000000018000e1a5123400016162636465666768');
const ECHO_GW_TO_C1 = hex('0242ac14000202500000000186dd6000000000103a40fd000020000000000000000000000001fd0000200000000000000000000000028100e0a5123400016162636465666768');
const RA_FROM_C1 = hex('3333000000010242ac14000286dd6000000000183afffe800000000000000042acfffe140002ff02000000000000000000000000000186001a6600080708000000000000000001010242ac140002');
const NA_C1_FOR_C2 = hex('3333000000010242ac14000286dd6000000000203afffe800000000000000042acfffe140002ff0200000000000000000000000000018800014a20000000fd00002000000000000000000000000302010242ac140002');
const ECHO_FOREIGN_SRC = hex('0250000000010242ac14000286dd6000000000083a40fd000020000000000000000000000099fd000020000000000000000000000001800084df00010001');
const ECHO_C1_SLAAC_TO_C2 = hex('0242ac1400030242ac14000286dd6000000000083a40fd000020000000000042acfffe140002fd0000200000000000000000000000038000da1700070001');
const DAD_C1 = hex('3333ff0000020242ac14000286dd6000000000183aff00000000000000000000000000000000ff0200000000000000000001ff00000287007d8300000000fd000020000000000000000000000002');
const DAD_FOR_GW = hex('3333ff0000010242ac14000286dd6000000000183aff00000000000000000000000000000000ff0200000000000000000001ff00000187007d8500000000fd000020000000000000000000000001');
const NA_GW_DEFENDS = hex('33330000000102500000000186dd6000000000203afffd000020000000000000000000000001ff0200000000000000000000000000018800da0aa0000000fd0000200000000000000000000000010201025000000001');
const ECHO_C1_OUTSIDE = hex('0250000000010242ac14000286dd6000000000083a40fd00002000000000000000000000000220010db8000000000000000000000001800054de00010001');
const NS_C1_WITH_C2_MAC = hex('3333ff0000010242ac14000286dd6000000000203afffe800000000000000042acfffe140002ff0200000000000000000001ff000001870022e900000000fe80000000000000000000000000000101010242ac140003');

function world(ipv6 = true) {
  const dp = new Dataplane();
  dp.now = 1_000_000;
  addDualStackNetwork(dp, { ipv6 });
  const c1 = new MemoryPort();
  const c2 = new MemoryPort();
  const p1 = dp.control.addEndpoint({ name: 'c1', network: 0, mac: 0x0242ac140002, ip: 0xac140002, ...(ipv6 ? { ip6: words('fd00:20::2') } : {}) }, c1);
  const p2 = dp.control.addEndpoint({ name: 'c2', network: 0, mac: 0x0242ac140003, ip: 0xac140003, ...(ipv6 ? { ip6: words('fd00:20::3') } : {}) }, c2);
  c1.take();
  c2.take(); // the gratuitous ARPs of the attach
  return { dp, c1, c2, id1: p1.id, id2: p2.id };
}

describe('IPv6 on the link', () => {
  it('answers a neighbour solicitation for fe80::1 with an advertisement (router, solicited, override, its MAC), to the asker only', () => {
    const w = world();
    w.dp.receive(w.id1, NS_C1_FOR_GW_LL);
    expect(w.c1.take()).toEqual([NA_GW_LL_TO_C1]);
    expect(w.c2.take()).toEqual([]);
  });

  it("answers a router solicitation with the prefix (on-link, autonomous), the MTU and the gateway's MAC", () => {
    const w = world();
    w.dp.receive(w.id1, RS_C1);
    expect(w.c1.take()).toEqual([RA_TO_C1]);
    expect(w.c2.take()).toEqual([]);
  });

  it("answers ping to the gateway's address", () => {
    const w = world();
    w.dp.receive(w.id1, Buffer.from(ECHO_C1_TO_GW));
    expect(w.c1.take()).toEqual([ECHO_GW_TO_C1]);
  });

  it('a ping reply carries the packet only, not what trailed it in the request frame (found by the fuzzer)', () => {
    const w = world();
    w.dp.receive(w.id1, Buffer.concat([ECHO_C1_TO_GW, Buffer.alloc(10, 0xee)]));
    expect(w.c1.take()).toEqual([ECHO_GW_TO_C1]);
  });

  it('switches between containers (a SLAAC source from the MAC is the container\'s own), and floods duplicate address detection', () => {
    const w = world();
    w.dp.receive(w.id1, ECHO_C1_SLAAC_TO_C2);
    expect(w.c2.take()).toEqual([ECHO_C1_SLAAC_TO_C2]);
    w.dp.receive(w.id1, DAD_C1);
    expect(w.c2.take()).toEqual([DAD_C1]);
    expect(w.c1.take()).toEqual([]);
  });

  it('floods a multicast listener report from :: (sent during duplicate address detection); other traffic from :: is spoofed_ip', () => {
    const w = world();
    // scapy: IPv6(src='::', dst='ff02::16', hlim=1)/IPv6ExtHdrHopByHop(options=[RouterAlert()])/ICMPv6MLReport2()
    const MLD2_FROM_UNSPECIFIED = hex('3333000000160242ac14000286dd600000000010000100000000000000000000000000000000ff0200000000000000000000000000163a000502000001008f0071a400000000');
    const ECHO_FROM_UNSPECIFIED = hex('3333000000160242ac14000286dd6000000000083a0100000000000000000000000000000000ff020000000000000000000000000016800080a400000000');
    w.dp.receive(w.id1, MLD2_FROM_UNSPECIFIED);
    expect(w.c2.take()).toEqual([MLD2_FROM_UNSPECIFIED]);
    w.dp.receive(w.id1, ECHO_FROM_UNSPECIFIED);
    expect(w.c2.take()).toEqual([]);
    expect(w.dp.counters.drops[Drop.SpoofedIp]).toBe(1);
  });

  it("defends the gateway's address against a duplicate address probe, to all nodes", () => {
    const w = world();
    w.dp.receive(w.id1, DAD_FOR_GW);
    expect(w.c1.take()).toEqual([NA_GW_DEFENDS]);
    expect(w.c2.take()).toEqual([]);
  });

  it('drops a router advertisement and an advertisement of another address from a container (spoofed_ndp), a foreign source (spoofed_ip)', () => {
    const w = world();
    w.dp.receive(w.id1, RA_FROM_C1);
    w.dp.receive(w.id1, NA_C1_FOR_C2);
    expect(w.dp.counters.drops[Drop.SpoofedNdp]).toBe(2);
    w.dp.receive(w.id1, ECHO_FOREIGN_SRC);
    expect(w.dp.counters.drops[Drop.SpoofedIp]).toBe(1);
    expect(w.c1.take()).toEqual([]);
    expect(w.c2.take()).toEqual([]);
  });

  it('a link-layer option with another MAC is spoofed; a bad checksum is bad_checksum', () => {
    const w = world();
    w.dp.receive(w.id1, NS_C1_WITH_C2_MAC);
    expect(w.dp.counters.drops[Drop.SpoofedNdp]).toBe(1);
    const bad = Buffer.from(ECHO_C1_TO_GW);
    bad[bad.length - 1] ^= 1;
    w.dp.receive(w.id1, bad);
    expect(w.dp.counters.drops[Drop.BadChecksum]).toBe(1);
    expect(w.c1.take()).toEqual([]);
  });

  it('IPv6 to an address with no route gets ICMPv6 no route from the gateway, quoting the packet; a network without IPv6 drops it as before', () => {
    const w = world();
    w.dp.receive(w.id1, ECHO_C1_OUTSIDE);
    expect(w.dp.counters.drops[Drop.NoRoute]).toBe(1);
    const [err] = w.c1.take();
    expect(err).toBeDefined();
    const e = err!;
    expect(e.subarray(0, 6)).toEqual(ECHO_C1_OUTSIDE.subarray(6, 12)); // back to c1's MAC
    expect(e.readUInt16BE(12)).toBe(0x86dd);
    expect(e[14 + 6]).toBe(58); // ICMPv6
    expect(e.subarray(22, 38)).toEqual(Buffer.from(words('fd00:20::1').flatMap((x) => [x >>> 24, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff])));
    expect(e.subarray(38, 54)).toEqual(ECHO_C1_OUTSIDE.subarray(22, 38)); // to the sender
    expect([e[54], e[55]]).toEqual([1, 0]); // destination unreachable, no route
    const quotedLen = ECHO_C1_OUTSIDE.readUInt16BE(18) + 40;
    expect(e.subarray(62)).toEqual(ECHO_C1_OUTSIDE.subarray(14, 14 + quotedLen));
    const v4 = world(false);
    v4.dp.receive(v4.id1, RS_C1);
    expect(v4.dp.counters.drops[Drop.UnsupportedEthertype]).toBe(1);
    expect(v4.c1.take()).toEqual([]);
  });
});
