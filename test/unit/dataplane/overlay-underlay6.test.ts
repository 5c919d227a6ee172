// An overlay over an IPv6 underlay in the data plane: VTEPs of either family in one table (found
// from a datagram's source words without allocating), frames flooded and unicast to an IPv6 VTEP,
// decapsulated from one, the 70-byte IPv6 encapsulation against the underlay MTU (ICMP
// fragmentation needed, or ICMPv6 packet too big for inner IPv6, with the MTU that fits), and a
// VTEP of the other family refused.

import { describe, expect, it } from 'vitest';
import { Drop } from '../../../src/dataplane/counters.js';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import type { TunnelIo } from '../../../src/dataplane/port.js';
import { VtepTable, type VtepAddress, vtepToString } from '../../../src/dataplane/vtep-table.js';
import { MemoryPort } from '../../../src/ports/memory-port.js';
import { finish, internetChecksum, ipv6AddressSum, l4PseudoSum, sum16 } from '../../../src/wire/checksum.js';
import { parseIpv4 } from '../../../src/wire/ipv4-address.js';
import { parseIpv6 } from '../../../src/wire/ipv6-address.js';
import { parseMac } from '../../../src/wire/mac.js';
import { VXLAN_OVERHEAD, VXLAN_OVERHEAD6, vxlanOverhead } from '../../../src/wire/vxlan.js';
import { addOverlayNetwork, hex, words6 } from './fixture.js';

const VNI = 0x00102a;
const GW_MAC = '02:50:00:00:10:01';
const VTEP_A = parseIpv6('fd00:99::a');
const VTEP_B = parseIpv6('fd00:99::b');
/** a VTEP whose first word is above 2^31 (a signed int32 when read from the wire) */
const VTEP_HIGH = parseIpv6('fe00:1::ffff:fffe');

/** An underlay that records what is sent, per destination VTEP address as text. */
class MemoryTunnel implements TunnelIo {
  sent: { to: string; bytes: Buffer }[] = [];
  constructor(private readonly dp: () => Dataplane) {}
  sendTo(buf: Buffer, off: number, len: number, vtep: number): boolean {
    this.sent.push({ to: vtepToString(this.dp().tables.vteps.addressOf(vtep)!), bytes: Buffer.from(buf.subarray(off, off + len)) });
    return true;
  }
  flush(): void {
    // copied when queued
  }
  take(): { to: string; bytes: Buffer }[] {
    return this.sent.splice(0);
  }
}

function host(peer: VtepAddress, localIp: string, localMac: string) {
  const dp = new Dataplane();
  dp.now = 1000;
  const tunnel = new MemoryTunnel(() => dp);
  dp.control.setTunnel('vxlan', tunnel, 1500, true);
  addOverlayNetwork(dp, VNI, GW_MAC);
  dp.control.addPeer(0, peer);
  const port = new MemoryPort();
  const id = dp.control.addEndpoint({ name: 'c', network: 0, mac: parseMac(localMac), ip: parseIpv4(localIp) }, port).id;
  return { dp, tunnel, port, id };
}

/** Delivers a datagram as the IPv6 underlay socket does: the VTEP index of its source's words (signed, as read). */
function deliverFrom6(dp: Dataplane, datagram: Buffer, src: readonly number[]): void {
  const off = dp.pool.alloc() - 8;
  datagram.copy(dp.pool.slab, off);
  const vtep = dp.tables.vteps.indexOf6(src[0]! | 0, src[1]! | 0, src[2]! | 0, src[3]! | 0);
  dp.inputTunnel(dp.pool.slab, off, datagram.length, vtep);
  dp.endBatch();
}

// ARP request from 10.20.0.2 (02:42:0a:14:00:02) for 10.20.0.3
const ARP_REQ = hex('ffffffffffff02420a1400020806000108000604000102420a1400020a140002000000000000' + '0a140003');
// echo request 10.20.0.2 -> 10.20.0.3, DF (scapy)
const PING = hex(
  '02420a14000302420a14000208004500003c00004000400126950a1400020a14000308004d5a000100016162636465666768696a6b6c6d6e6f7071727374757677616263646566676869',
);

describe('VTEP table (either family)', () => {
  it('holds IPv4 and IPv6 VTEPs in one index space; IPv6 ones are found by their words, signed or unsigned', () => {
    const t = new VtepTable();
    expect(t.intern(parseIpv4('192.0.2.1'))).toBe(0);
    expect(t.intern(VTEP_A)).toBe(1);
    expect(t.intern(VTEP_HIGH)).toBe(2);
    expect(t.intern(VTEP_A)).toBe(1); // made once
    expect(t.indexOf(VTEP_B)).toBe(-1);
    expect(t.indexOf6(0xfd000099, 0, 0, 0xa)).toBe(1);
    expect(t.indexOf6(0xfe000001 | 0, 0, 0, 0xfffffffe | 0)).toBe(2);
    expect(t.indexOf6(0xfe000001, 0, 0, 0xfffffffe)).toBe(2);
    expect(t.indexOf4(parseIpv4('192.0.2.1'))).toBe(0);
    // an IPv4 address and the IPv6 address whose last word has the same bits are different VTEPs
    expect(t.indexOf6(0, 0, 0, parseIpv4('192.0.2.1'))).toBe(-1);
    expect(t.indexOf4(0xa)).toBe(-1);
    expect(vtepToString(t.addressOf(1)!)).toBe('fd00:99::a');
    expect(vtepToString(t.addressOf(0)!)).toBe('192.0.2.1');
    expect(t.ipOf(1)).toBe(0);
    expect(t.addressOf(7)).toBeUndefined();
  });

  it('keeps many IPv6 VTEPs apart (hash buckets chained word by word)', () => {
    const t = new VtepTable();
    for (let i = 0; i < 5000; i++) expect(t.intern([0x20010db8, i >>> 3, i & 7, i])).toBe(i);
    for (let i = 0; i < 5000; i++) expect(t.indexOf6(0x20010db8, i >>> 3, i & 7, i)).toBe(i);
    expect(t.indexOf6(0x20010db8, 0, 0, 5000)).toBe(-1);
  });
});

describe('overlay over an IPv6 underlay', () => {
  it('costs 70 bytes of encapsulation, not 50', () => {
    expect(vxlanOverhead(true)).toBe(VXLAN_OVERHEAD6);
    expect(VXLAN_OVERHEAD6).toBe(40 + 8 + 8 + 14);
    expect(vxlanOverhead(false)).toBe(VXLAN_OVERHEAD);
    const a = host(VTEP_B, '10.20.0.2', '02:42:0a:14:00:02');
    expect(a.dp.tables.underlayIpv6).toBe(true);
    expect(a.dp.tables.underlayOverhead).toBe(70);
  });

  it('floods ARP to the IPv6 VTEP and unicasts to a remote endpoint behind it, the frame unchanged behind the VXLAN header', () => {
    const a = host(VTEP_B, '10.20.0.2', '02:42:0a:14:00:02');
    a.tunnel.take();
    a.dp.receive(a.id, ARP_REQ);
    expect(a.tunnel.take()).toEqual([{ to: 'fd00:99::b', bytes: Buffer.concat([hex('0800000000102a00'), ARP_REQ]) }]);
    a.dp.control.addRemoteEndpoint({ network: 0, ip: parseIpv4('10.20.0.3'), mac: parseMac('02:42:0a:14:00:03'), vtepIp: VTEP_B });
    a.tunnel.take();
    a.dp.receive(a.id, PING);
    expect(a.tunnel.take()).toEqual([{ to: 'fd00:99::b', bytes: Buffer.concat([hex('0800000000102a00'), PING]) }]);
  });

  it('decapsulates from the IPv6 VTEP (a first word above 2^31 too), learns the MAC behind it; an unknown IPv6 source is dropped and counted', () => {
    const b = host(VTEP_HIGH, '10.20.0.3', '02:42:0a:14:00:03');
    b.tunnel.take();
    b.port.take();
    deliverFrom6(b.dp, Buffer.concat([hex('0800000000102a00'), ARP_REQ]), VTEP_HIGH);
    expect(b.port.take()).toEqual([ARP_REQ]);
    const reply = hex('02420a14000202420a1400030806000108000604000202420a1400030a14000302420a1400020a140002');
    b.dp.receive(b.id, reply);
    expect(b.tunnel.take().map((s) => s.to)).toEqual(['fe00:1::ffff:fffe']);
    deliverFrom6(b.dp, Buffer.concat([hex('0800000000102a00'), ARP_REQ]), VTEP_A);
    expect(b.port.take()).toEqual([]);
    expect(b.dp.counters.drops[Drop.VxlanUnknownVtep]).toBe(1);
  });

  it('refuses a frame larger than underlay MTU - 70 with ICMP fragmentation needed for 1430; one that fits goes', () => {
    const a = host(VTEP_B, '10.20.0.2', '02:42:0a:14:00:02');
    a.dp.control.addRemoteEndpoint({ network: 0, ip: parseIpv4('10.20.0.3'), mac: parseMac('02:42:0a:14:00:03'), vtepIp: VTEP_B });
    const frame = (ipLen: number) => {
      const f = Buffer.alloc(14 + ipLen);
      PING.copy(f, 0, 0, 34);
      f.writeUInt16BE(ipLen, 16);
      f.writeUInt16BE(0, 24);
      f.writeUInt16BE(internetChecksum(f, 14, 20), 24);
      return f;
    };
    a.tunnel.take();
    a.port.take();
    a.dp.receive(a.id, frame(1430));
    expect(a.tunnel.take()).toHaveLength(1);
    a.dp.receive(a.id, frame(1431));
    expect(a.tunnel.take()).toEqual([]);
    const [err] = a.port.take();
    expect([err![34], err![35]]).toEqual([3, 4]);
    expect(err!.readUInt16BE(40)).toBe(1430); // underlay 1500 - 70
    expect(a.dp.counters.drops[Drop.VxlanTooBig]).toBe(1);
  });

  it('refuses a VTEP of the other family, naming it, and changes nothing', () => {
    const a = host(VTEP_B, '10.20.0.2', '02:42:0a:14:00:02');
    expect(() => a.dp.control.addPeer(0, parseIpv4('192.0.2.7'))).toThrow(
      'VTEP 192.0.2.7 is IPv4 but the underlay is IPv6: every VTEP of a cluster is of one family',
    );
    expect(() =>
      a.dp.control.addRemoteEndpoint({ network: 0, ip: parseIpv4('10.20.0.9'), mac: parseMac('02:42:0a:14:00:09'), vtepIp: parseIpv4('192.0.2.7') }),
    ).toThrow('VTEP 192.0.2.7 is IPv4 but the underlay is IPv6');
    expect(a.dp.tables.vteps.indexOf(parseIpv4('192.0.2.7'))).toBe(-1);
    expect(a.dp.tables.networks[0]!.remotes.size).toBe(0);
    // and the other way round on an IPv4 underlay
    const dp = new Dataplane();
    dp.control.setTunnel('vxlan', new MemoryTunnel(() => dp), 1500);
    addOverlayNetwork(dp, VNI, GW_MAC);
    expect(() => dp.control.addPeer(0, VTEP_A)).toThrow('VTEP fd00:99::a is IPv6 but the underlay is IPv4: every VTEP of a cluster is of one family');
  });

  it('an inner IPv6 packet larger than underlay MTU - 70 gets ICMPv6 packet too big for 1430 from the gateway; one that fits goes', () => {
    const dp = new Dataplane();
    dp.now = 1000;
    const tunnel = new MemoryTunnel(() => dp);
    dp.control.setTunnel('vxlan', tunnel, 1500, true);
    dp.control.addNetwork({
      index: 0,
      name: 'ov',
      subnet: parseIpv4('10.20.0.0'),
      prefixLen: 24,
      gatewayIp: parseIpv4('10.20.0.1'),
      gatewayMac: parseMac(GW_MAC),
      mtu: 1450, // too large for this underlay: the data plane still refuses what does not fit
      internal: false,
      vni: VNI,
      ipv6: { subnet: words6('fd00:20::'), prefixLen: 64, gatewayIp: words6('fd00:20::1'), nat: true },
    });
    const port = new MemoryPort();
    const id = dp.control.addEndpoint({ name: 'c', network: 0, mac: parseMac('02:42:0a:14:00:02'), ip: parseIpv4('10.20.0.2'), ip6: words6('fd00:20::2') }, port).id;
    dp.control.addRemoteEndpoint({ network: 0, ip: parseIpv4('10.20.0.3'), mac: parseMac('02:42:0a:14:00:03'), vtepIp: VTEP_B });
    dp.control.addRemoteEndpoint6({ network: 0, ip6: words6('fd00:20::3'), mac: parseMac('02:42:0a:14:00:03'), vtepIp: VTEP_B });
    /** an echo request fd00:20::2 -> fd00:20::3 whose IPv6 packet is `ipLen` bytes, its checksum right */
    const echo6 = (ipLen: number) => {
      const f = Buffer.alloc(14 + ipLen);
      hex('02420a14000302420a14000286dd').copy(f, 0);
      hex('60000000').copy(f, 14);
      f.writeUInt16BE(ipLen - 40, 18);
      f[20] = 58;
      f[21] = 64;
      hex('fd000020000000000000000000000002fd000020000000000000000000000003').copy(f, 22);
      f[54] = 128; // echo request, code 0, checksum, id 1, seq 1
      f.writeUInt16BE(1, 58);
      f.writeUInt16BE(1, 60);
      f.writeUInt16BE(finish(sum16(f, 54, ipLen - 40, l4PseudoSum(ipv6AddressSum(f, 22), 58, ipLen - 40))), 56);
      return f;
    };
    tunnel.take();
    port.take();
    dp.receive(id, echo6(1430));
    expect(tunnel.take().map((t) => [t.to, t.bytes.length])).toEqual([['fd00:99::b', 8 + 14 + 1430]]);
    const big = echo6(1431);
    dp.receive(id, big);
    expect(tunnel.take()).toEqual([]);
    const [err] = port.take();
    expect(err).toBeDefined();
    expect(err!.readUInt16BE(12)).toBe(0x86dd);
    expect(err!.subarray(22, 38)).toEqual(hex('fd000020000000000000000000000001')); // from the gateway's address
    expect(err!.subarray(38, 54)).toEqual(hex('fd000020000000000000000000000002'));
    expect([err![54], err![55]]).toEqual([2, 0]); // packet too big
    expect(err!.readUInt32BE(58)).toBe(1430); // underlay 1500 - 70
    // the offending packet follows, from its IPv6 header on, within the minimum MTU
    expect(err!.subarray(62, 62 + 40)).toEqual(big.subarray(14, 54));
    expect(err!.length).toBeLessThanOrEqual(14 + 1280);
    expect(finish(sum16(err!, 54, err!.length - 54, l4PseudoSum(ipv6AddressSum(err!, 22), 58, err!.length - 54)))).toBe(0);
    expect(dp.counters.drops[Drop.VxlanTooBig]).toBe(1);
  });
});
