// IPv6 offloads (issue 13): a TCP/IPv6 super segment from a TAP (TSO6) passes to a TAP that takes
// offloads as it is and is cut into segments for one that does not; segments of one IPv6 flow are
// coalesced again (receive offload) for a TAP that takes offloads; what cannot be cut is refused
// and counted; the size of the packets a super segment stands for, for either family. Frames are
// scapy's (frames-offload6.ts), compared byte for byte.
import { describe, expect, it } from 'vitest';
import { Drop, Gauge } from '../../../src/dataplane/counters.js';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import { Frame } from '../../../src/dataplane/frame.js';
import { MemoryPort } from '../../../src/ports/memory-port.js';
import { parseIpv6 } from '../../../src/wire/ipv6-address.js';
import { parseMac } from '../../../src/wire/mac.js';
import { hex } from './fixture.js';
import { heapGrowth } from '../ports/heap.js';
import { SEG0, SEG1, SEG2, SUPER_COMPLETE, SUPER_DSTOPT, SUPER_HBH, SUPER_PARTIAL, V4_OPTIONS } from './frames-offload6.js';

const words = (s: string) => parseIpv6(s) as [number, number, number, number];

/** virtio-net header of the super segment as Linux writes it: NEEDS_CSUM, GSO TCPv6, header 86 bytes, gso_size 100, csum_start 54, csum_offset 16 */
const VNET_TSO6 = hex('01 04 5600 6400 3600 1000');

/**
 * c1 and c2 on a dual-stack network (fd00:20::/64) whose MTU, 200, makes a segment of 100 bytes
 * of payload fit and the 250-byte super segment not; `vnet1`/`vnet2`: the port takes offloads (a TAP).
 */
export function world6(vnet1: boolean, vnet2: boolean, mtu = 200) {
  const dp = new Dataplane();
  dp.now = 1_000_000;
  dp.control.addNetwork({
    index: 0,
    name: 'ds',
    subnet: 0xac140000,
    prefixLen: 16,
    gatewayIp: 0xac140001,
    gatewayMac: parseMac('02:50:00:00:00:01'),
    mtu,
    internal: false,
    ipv6: { subnet: words('fd00:20::'), prefixLen: 64, gatewayIp: words('fd00:20::1'), nat: true },
  });
  const c1 = new MemoryPort();
  const c2 = new MemoryPort();
  const id1 = dp.control.addEndpoint({ name: 'c1', network: 0, mac: 0x0242ac140002, ip: 0xac140002, ip6: words('fd00:20::2'), vnet: vnet1 }, c1).id;
  const id2 = dp.control.addEndpoint({ name: 'c2', network: 0, mac: 0x0242ac140003, ip: 0xac140003, ip6: words('fd00:20::3'), vnet: vnet2 }, c2).id;
  c1.take();
  c2.take(); // the gratuitous ARPs of the attach
  return { dp, c1, c2, id1, id2 };
}

/** One frame from a TAP with its virtio-net header `vnet`, as one batch. */
export function fromTap(dp: Dataplane, port: number, vnet: Buffer, frame: Buffer): void {
  dp.frame.setOffloadFromVnet(vnet, 0, 0);
  dp.receive(port, frame);
  dp.frame.clearOffload();
}

/** Frames without offloads read in one batch, the way the worker drains a port. */
export function batch(dp: Dataplane, port: number, frames: readonly Buffer[]): void {
  for (const f of frames) {
    const off = dp.pool.alloc();
    f.copy(dp.pool.slab, off);
    dp.input(port, dp.pool.slab, off, f.length);
  }
  dp.endBatch();
}

describe('TSO6: TCP/IPv6 super segments from a TAP', () => {
  it('are cut for a port without offloads into segments of gso_size bytes: lengths, sequence numbers, flags and checksums as scapy writes them', () => {
    const w = world6(true, false);
    fromTap(w.dp, w.id1, VNET_TSO6, SUPER_PARTIAL);
    // FIN and PSH on the last segment only, CWR on the first only; the payload length of each
    expect(w.c2.take()).toEqual([SEG0, SEG1, SEG2]);
    expect(w.dp.counters.drops[Drop.Malformed]).toBe(0);
  });

  it('pass to a TAP that takes offloads as they are, with a virtio-net header saying GSO TCPv6', () => {
    const w = world6(true, true);
    fromTap(w.dp, w.id1, VNET_TSO6, SUPER_PARTIAL);
    expect(w.c2.take()).toEqual([Buffer.concat([VNET_TSO6, SUPER_PARTIAL])]);
  });

  it('a super segment that fits the MTU whole goes to a port without offloads whole, its checksum finished', () => {
    const w = world6(true, false, 1500);
    fromTap(w.dp, w.id1, VNET_TSO6, SUPER_PARTIAL);
    expect(w.c2.take()).toEqual([SUPER_COMPLETE]);
  });

  it('one whose segments would not fit the link MTU is dropped as oversize', () => {
    const w = world6(true, false, 150);
    fromTap(w.dp, w.id1, VNET_TSO6, SUPER_PARTIAL);
    expect(w.c2.take()).toEqual([]);
    expect(w.dp.counters.drops[Drop.Oversize]).toBe(1);
  });

  it('what cannot be cut is refused and counted as malformed: extension headers, a TCPv4 GSO type, no segment size', () => {
    const cases: [Buffer, Buffer][] = [
      [hex('01 04 5e00 6400 3e00 1000'), SUPER_HBH], // csum_start behind the hop-by-hop header
      [hex('00 04 5e00 6400 0000 0000'), SUPER_HBH], // no partial checksum: the next header is not TCP
      [hex('01 04 5e00 6400 3e00 1000'), SUPER_DSTOPT],
      [hex('01 01 5600 6400 3600 1000'), SUPER_PARTIAL], // GSO TCPv4 on an IPv6 packet
      [hex('01 04 5600 0000 3600 1000'), SUPER_PARTIAL], // gso_size 0
      [hex('01 04 5600 6400 3600 0600'), SUPER_PARTIAL], // csum_offset of UDP on TCP
      [hex('01 04 5600 6400 3600 1000'), V4_OPTIONS], // GSO TCPv6 on an IPv4 packet
    ];
    for (const [vnet, frame] of cases) {
      const w = world6(true, false, 1500);
      fromTap(w.dp, w.id1, vnet, frame);
      expect(w.c2.take(), vnet.toString('hex')).toEqual([]);
      expect(w.dp.counters.drops[Drop.Malformed], vnet.toString('hex')).toBe(1);
    }
  });
});

describe('receive offload (GRO) for IPv6', () => {
  it('the segments of one flow become the super segment again for a TAP that takes offloads: complete checksum, GSO TCPv6 with ECN (CWR)', () => {
    const w = world6(false, true);
    batch(w.dp, w.id1, [SEG0, SEG1, SEG2]);
    // flags 0, GSO TCPv6 | ECN, header 86, gso_size 100; no partial checksum: it is complete
    expect(w.c2.take()).toEqual([Buffer.concat([hex('00 84 5600 6400 0000 0000'), SUPER_COMPLETE])]);
    expect(w.dp.counters.gauges[Gauge.GroSegments]).toBe(3);
    expect(w.dp.counters.gauges[Gauge.GroSuperSegments]).toBe(1);
  });

  it('segments that differ in flow label, traffic class or hop limit, or that leave a gap, are not merged: they leave one by one, in order', () => {
    const tweaks: [string, (f: Buffer) => void][] = [
      ['flow label', (f) => (f[14 + 3] ^= 1)],
      ['traffic class', (f) => (f[14 + 1] ^= 0x10)],
      ['hop limit', (f) => (f[14 + 7] = 63)],
      ['sequence', (f) => f.writeUInt32BE(f.readUInt32BE(14 + 40 + 4) + 1, 14 + 40 + 4)], // (checksum now wrong: not GRO's business)
    ];
    for (const [what, tweak] of tweaks) {
      const w = world6(false, true);
      const second = Buffer.from(SEG1);
      tweak(second);
      batch(w.dp, w.id1, [SEG0, second, SEG2]);
      const plain = hex('00 00 0000 0000 0000 0000');
      const out = w.c2.take();
      // SEG0 alone (the next differs); the changed one starts a flow SEG2 does not continue
      expect(out, what).toEqual([Buffer.concat([plain, SEG0]), Buffer.concat([plain, second]), Buffer.concat([plain, SEG2])]);
    }
  });

  it('a segment behind an extension header passes on its own; a port without offloads gets the segments untouched', () => {
    const w = world6(false, true, 1500);
    batch(w.dp, w.id1, [SEG0, SUPER_DSTOPT, SEG1]);
    const plain = hex('00 00 0000 0000 0000 0000');
    expect(w.c2.take()).toEqual([Buffer.concat([plain, SEG0]), Buffer.concat([plain, SUPER_DSTOPT]), Buffer.concat([plain, SEG1])]);
    const v = world6(false, false);
    batch(v.dp, v.id1, [SEG0, SEG1, SEG2]);
    expect(v.c2.take()).toEqual([SEG0, SEG1, SEG2]);
  });
});

describe('wireSize: the IP length of the largest packet a frame puts on the wire', () => {
  const f = new Frame();
  const size = (vnet: Buffer, frame: Buffer) => {
    f.setOffloadFromVnet(vnet, 0, 0);
    return f.wireSize(frame, 0, frame.length);
  };
  it('IPv6: fixed header + TCP header + gso_size, from csum_start (extension headers counted) or behind the fixed header', () => {
    expect(size(VNET_TSO6, SUPER_PARTIAL)).toBe(40 + 32 + 100);
    expect(size(hex('00 04 5600 6400 0000 0000'), SUPER_PARTIAL)).toBe(40 + 32 + 100);
    expect(size(hex('01 04 5e00 6400 3e00 1000'), SUPER_DSTOPT)).toBe(40 + 8 + 32 + 100);
    expect(size(hex('00 00 0000 0000 0000 0000'), SUPER_PARTIAL)).toBe(SUPER_PARTIAL.length - 14);
  });
  it('IPv4: its header with options + TCP header + gso_size, from csum_start or from the IHL', () => {
    expect(size(hex('01 01 5a00 6400 2600 1000'), V4_OPTIONS)).toBe(24 + 32 + 100);
    expect(size(hex('00 01 5a00 6400 0000 0000'), V4_OPTIONS)).toBe(24 + 32 + 100);
    expect(size(hex('00 00 0000 0000 0000 0000'), V4_OPTIONS)).toBe(V4_OPTIONS.length - 14);
  });
});

describe('IPv6 offloads allocate nothing per packet', () => {
  it('cutting TSO6 super segments and coalescing IPv6 segments again: the heap does not grow', () => {
    const cut = world6(true, false);
    const gro = world6(false, true);
    for (const p of [cut.c1, cut.c2, gro.c1, gro.c2]) p.keep = false;
    const segs = [SEG0, SEG1, SEG2];
    const body = (): void => {
      fromTap(cut.dp, cut.id1, VNET_TSO6, SUPER_PARTIAL);
      // batch()'s work without its array and iterator
      for (let i = 0; i < segs.length; i++) {
        const off = gro.dp.pool.alloc();
        segs[i]!.copy(gro.dp.pool.slab, off);
        gro.dp.input(gro.id1, gro.dp.pool.slab, off, segs[i]!.length);
      }
      gro.dp.endBatch();
    };
    const runs = [heapGrowth(body, 20_000), heapGrowth(body, 20_000), heapGrowth(body, 20_000)];
    expect(runs).not.toContain(null);
    // everything came out where it should: 3 segments per super segment, 1 super segment per 3 segments
    expect(cut.c2.count).toBe(3 * 6 * 20_000);
    expect(gro.c2.count).toBe(6 * 20_000);
    // 20k iterations of 6 packets: one 16-byte object per packet would be 1.9 MB
    expect(Math.min(...(runs as number[]))).toBeLessThan(256 * 1024);
  });
});
