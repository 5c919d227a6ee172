// TCP super segments across an overlay: cut into segments for the underlay without loss and in
// order however large the batch, queued datagrams left untouched until the underlay flushes them,
// and coalesced again (receive offload) into one super segment for a TAP that takes offloads.

import { describe, expect, it } from 'vitest';
import { Drop } from '../../../src/dataplane/counters.js';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import type { DataplaneOptions } from '../../../src/dataplane/options.js';
import type { TunnelIo } from '../../../src/dataplane/port.js';
import { MemoryPort } from '../../../src/ports/memory-port.js';
import { finish, fold, pseudoHeaderSum, sum16 } from '../../../src/wire/checksum.js';
import { parseIpv4 } from '../../../src/wire/ipv4-address.js';
import { parseMac } from '../../../src/wire/mac.js';
import { VNET_GSO_TCPV4 } from '../../../src/wire/virtio-net.js';
import { addOverlayNetwork, hex } from './fixture.js';

const VNI = 42;
const VTEP_A = parseIpv4('192.0.2.1');
const VTEP_B = parseIpv4('192.0.2.2');
const MAC_A = '02:42:0a:14:00:02';
const MAC_B = '02:42:0a:14:00:03';
const MSS = 1398;

/**
 * An underlay that behaves like the socket: it keeps only where each datagram lies until flush,
 * and reads the bytes then — so a buffer reused before the flush shows up as a corrupt datagram.
 */
class QueueingTunnel implements TunnelIo {
  private queue: { buf: Buffer; off: number; len: number }[] = [];
  readonly sent: Buffer[] = [];
  flushes = 0;
  sendTo(buf: Buffer, off: number, len: number): boolean {
    this.queue.push({ buf, off, len });
    return true;
  }
  flush(): void {
    this.flushes++;
    for (const q of this.queue) this.sent.push(Buffer.from(q.buf.subarray(q.off, q.off + q.len)));
    this.queue = [];
  }
  take(): Buffer[] {
    return this.sent.splice(0);
  }
}

function host(ip: string, mac: string, peerVtep: number, remote: { ip: string; mac: string }, vnet: boolean, options: Partial<DataplaneOptions> = {}) {
  const dp = new Dataplane(options);
  dp.now = 1000;
  const tunnel = new QueueingTunnel();
  dp.control.setTunnel('vxlan', tunnel, 1500);
  addOverlayNetwork(dp, VNI, '02:50:00:00:10:01');
  dp.control.addRemoteEndpoint({ network: 0, ip: parseIpv4(remote.ip), mac: parseMac(remote.mac), vtepIp: peerVtep });
  const port = new MemoryPort();
  const id = dp.control.addEndpoint({ name: 'c', network: 0, mac: parseMac(mac), ip: parseIpv4(ip), vnet }, port).id;
  tunnel.take();
  port.take();
  return { dp, tunnel, port, id };
}

/** A TCP/IPv4 frame 10.20.0.2:40000 -> 10.20.0.3:5201 with `payload` bytes and timestamps, as a TAP hands it over (partial checksum). */
function superSegment(payload: number, seq: number, flags = 0x18, id = 0x1000): Buffer {
  const f = Buffer.alloc(14 + 20 + 32 + payload);
  hex('0242 0a14 0003 0242 0a14 0002 0800').copy(f, 0);
  hex('4500 0000 0000 4000 4006 0000 0a14 0002 0a14 0003').copy(f, 14);
  f.writeUInt16BE(20 + 32 + payload, 16);
  f.writeUInt16BE(id, 18);
  f.writeUInt16BE(finish(sum16(f, 14, 20)), 24);
  hex('9c40 1451 0000 0000 0000 1389 8000 01f5 0000 0000 0101 080a 0001 e240 0000 3039').copy(f, 34);
  f.writeUInt32BE(seq >>> 0, 38);
  f[47] = flags;
  for (let i = 0; i < payload; i++) f[66 + i] = (i * 13 + (seq & 0xff)) & 0xff;
  f.writeUInt16BE(fold(pseudoHeaderSum(parseIpv4('10.20.0.2'), parseIpv4('10.20.0.3'), 6, 32 + payload)), 50);
  return f;
}

/** The same frame with its TCP checksum complete, as it crosses a wire. */
function complete(f: Buffer): Buffer {
  const c = Buffer.from(f);
  c.writeUInt16BE(0, 50);
  const len = c.length - 34;
  c.writeUInt16BE(finish(sum16(c, 34, len, pseudoHeaderSum(c.readUInt32BE(26), c.readUInt32BE(30), 6, len))), 50);
  return c;
}

function tcpChecksumOk(f: Buffer, ip: number): boolean {
  const len = f.readUInt16BE(ip + 2) - 20;
  return fold(sum16(f, ip + 20, len, pseudoHeaderSum(f.readUInt32BE(ip + 12), f.readUInt32BE(ip + 16), 6, len))) === 0xffff;
}

/** Reads frames into pool slots and processes them as one batch, the way the worker drains a TAP. */
function batch(dp: Dataplane, port: number, frames: Buffer[], gsoSize: number): void {
  for (const f of frames) {
    const off = dp.pool.alloc();
    f.copy(dp.pool.slab, off);
    dp.frame.gsoType = gsoSize > 0 ? VNET_GSO_TCPV4 : 0;
    dp.frame.gsoSize = gsoSize;
    dp.frame.needsCsum = 1;
    dp.frame.csumStart = 34;
    dp.frame.csumOffset = 16;
    dp.input(port, dp.pool.slab, off, f.length);
    dp.frame.clearOffload();
  }
  dp.endBatch();
}

/** Delivers datagrams from the underlay as one batch (each is VXLAN header + inner frame). */
function fromUnderlay(dp: Dataplane, datagrams: Buffer[], src: number): void {
  for (const d of datagrams) {
    const off = dp.pool.alloc() - 8;
    d.copy(dp.pool.slab, off);
    dp.inputTunnel(dp.pool.slab, off, d.length, dp.tables.vteps.indexOf(src)); // the socket looks its source up
  }
  dp.endBatch();
}

describe('TCP super segments into the overlay', () => {
  it('a batch of 64 super segments leaves as 64 x 46 segments, all of them, in order, with complete checksums', () => {
    const a = host('10.20.0.2', MAC_A, VTEP_B, { ip: '10.20.0.3', mac: MAC_B }, true);
    const frames: Buffer[] = [];
    for (let i = 0; i < 64; i++) frames.push(superSegment(46 * MSS, 1 + i * 46 * MSS));
    batch(a.dp, a.id, frames, MSS);
    const sent = a.tunnel.take();
    expect(a.dp.counters.drops[Drop.NoBuffer]).toBe(0);
    expect(a.dp.counters.drops[Drop.Oversize]).toBe(0);
    expect(sent).toHaveLength(64 * 46);
    let seq = 1;
    for (const d of sent) {
      expect(d.readUInt32BE(0)).toBe(0x08000000); // VXLAN flags
      expect(d.readUInt32BE(4) >>> 8).toBe(VNI);
      const ip = 8 + 14;
      expect(d.length).toBe(8 + 14 + 20 + 32 + MSS);
      expect(d.readUInt32BE(ip + 20 + 4)).toBe(seq);
      expect(tcpChecksumOk(d, ip)).toBe(true);
      seq += MSS;
    }
    // the arena (4 MiB) filled several times: the queue was flushed before it was reused
    expect(a.tunnel.flushes).toBeGreaterThan(1);
  });

  it('a small arena is flushed whenever it fills, and no queued datagram is overwritten before its flush', () => {
    const a = host('10.20.0.2', MAC_A, VTEP_B, { ip: '10.20.0.3', mac: MAC_B }, true, { txArenaBytes: 100_000 });
    const frames = [superSegment(46 * MSS, 1), superSegment(46 * MSS, 1 + 46 * MSS)];
    batch(a.dp, a.id, frames, MSS);
    const sent = a.tunnel.take();
    expect(sent).toHaveLength(92);
    // every datagram equals the segment cut from the original at its place
    const whole = Buffer.concat(frames.map((f) => f.subarray(66)));
    sent.forEach((d, i) => {
      expect(d.subarray(8 + 66)).toEqual(whole.subarray(i * MSS, (i + 1) * MSS));
      expect(tcpChecksumOk(d, 22)).toBe(true);
    });
    expect(a.tunnel.flushes).toBeGreaterThanOrEqual(4);
  });
});

describe('receive offload (GRO) for a TAP that takes offloads', () => {
  it('the segments of one super segment, across the overlay, become that super segment again, byte for byte', () => {
    const a = host('10.20.0.2', MAC_A, VTEP_B, { ip: '10.20.0.3', mac: MAC_B }, true);
    const b = host('10.20.0.3', MAC_B, VTEP_A, { ip: '10.20.0.2', mac: MAC_A }, true);
    const original = superSegment(46 * MSS, 7777);
    batch(a.dp, a.id, [original], MSS);
    const datagrams = a.tunnel.take();
    expect(datagrams).toHaveLength(46);
    fromUnderlay(b.dp, datagrams, VTEP_A);
    const out = b.port.take();
    expect(out).toHaveLength(1);
    // virtio-net header: TCPv4 GSO, header 66 bytes, gso_size 1398; the checksum is complete (the
    // receiving kernel checks it), built from the segments' own fields: the payload was never read
    expect(out[0].subarray(0, 10)).toEqual(hex('00 01 4200 7605 0000 0000'));
    expect(out[0].subarray(10)).toEqual(complete(original));
    expect(tcpChecksumOk(out[0], 10 + 14)).toBe(true);
    expect(b.dp.counters.gauges[15]).toBe(46); // GroSegments
  });

  it('a super segment of odd-sized segments, one of them corrupted on the way, fails the receiver\'s check; the others pass', () => {
    const b = host('10.20.0.3', MAC_B, VTEP_A, { ip: '10.20.0.2', mac: MAC_A }, true);
    const vx = (f: Buffer) => Buffer.concat([hex('0800000000002a00'), f]);
    const odd = 1397;
    const burst = (seq0: number, corrupt: number) =>
      [0, 1, 2, 3].map((k) => {
        const f = complete(superSegment(odd, seq0 + k * odd, k === 3 ? 0x18 : 0x10));
        if (k === corrupt) f[200] ^= 0x5a;
        return f;
      });
    fromUnderlay(b.dp, [...burst(1, -1), ...burst(1 + 4 * odd, 2)].map(vx), VTEP_A);
    const out = b.port.take();
    expect(out).toHaveLength(2);
    expect(out[0].readUInt16BE(10 + 16)).toBe(20 + 32 + 4 * odd);
    expect(tcpChecksumOk(out[0], 24)).toBe(true);
    expect(tcpChecksumOk(out[1], 24)).toBe(false);
  });

  it('keeps the order of everything bound for the port: other frames, other flows and gaps are never merged across', () => {
    const b = host('10.20.0.3', MAC_B, VTEP_A, { ip: '10.20.0.2', mac: MAC_A }, true);
    const seg = (seq: number, flags = 0x10) => complete(superSegment(MSS, seq, flags));
    const s1 = seg(1);
    const s2 = seg(1 + MSS);
    const s3 = seg(1 + 2 * MSS);
    const gap = seg(1 + 4 * MSS); // a hole before it
    const bad = seg(1 + 5 * MSS);
    bad[100] ^= 0xff; // corrupted on the way: its checksum no longer matches
    const otherFlow = complete(superSegment(MSS, 9));
    otherFlow.writeUInt16BE(40001, 34); // another source port
    otherFlow.writeUInt16BE(0, 50);
    const fixed = complete(otherFlow);
    const arp = hex('ffffffffffff02420a1400020806000108000604000102420a1400020a140002000000000000' + '0a140003');
    const vx = (f: Buffer) => Buffer.concat([hex('0800000000002a00'), f]);
    fromUnderlay(b.dp, [s1, s2, fixed, s3, arp, gap, bad].map(vx), VTEP_A);
    const out = b.port.take().map((f) => f.subarray(10));
    // s1+s2 merged; the other flow; s3 alone (it followed another flow); the ARP; the gap and the
    // (corrupted) next one merged: the receiver's checksum check drops the pair
    expect(out).toHaveLength(5);
    expect(out[0].readUInt16BE(16)).toBe(20 + 32 + 2 * MSS);
    expect(out[0].subarray(66)).toEqual(Buffer.concat([s1.subarray(66), s2.subarray(66)]));
    expect(out[1]).toEqual(fixed);
    expect(out[2]).toEqual(s3);
    expect(out[3]).toEqual(arp);
    expect(out[4].subarray(66)).toEqual(Buffer.concat([gap.subarray(66), bad.subarray(66)]));
    expect(tcpChecksumOk(out[4], 14)).toBe(false);
    expect(tcpChecksumOk(out[0], 14)).toBe(true);
  });

  it('a segment with PSH ends the super segment at once; SYN and RST pass on their own', () => {
    const b = host('10.20.0.3', MAC_B, VTEP_A, { ip: '10.20.0.2', mac: MAC_A }, true);
    const vx = (f: Buffer) => Buffer.concat([hex('0800000000002a00'), f]);
    const s1 = complete(superSegment(MSS, 1, 0x10));
    const s2 = complete(superSegment(MSS, 1 + MSS, 0x18)); // PSH
    const s3 = complete(superSegment(MSS, 1 + 2 * MSS, 0x10));
    const rst = complete(superSegment(MSS, 1 + 3 * MSS, 0x14));
    fromUnderlay(b.dp, [s1, s2, s3, rst].map(vx), VTEP_A);
    const out = b.port.take();
    expect(out).toHaveLength(3);
    expect(out[0][1]).toBe(VNET_GSO_TCPV4);
    expect(out[0][10 + 47]).toBe(0x18); // the merged segment carries PSH
    expect(out[1].subarray(10)).toEqual(s3);
    expect(out[2].subarray(10)).toEqual(rst);
  });

  it('a port without offloads gets the segments one by one, untouched', () => {
    const b = host('10.20.0.3', MAC_B, VTEP_A, { ip: '10.20.0.2', mac: MAC_A }, false);
    const segs = [1, 1 + MSS, 1 + 2 * MSS].map((s) => complete(superSegment(MSS, s, 0x10)));
    fromUnderlay(b.dp, segs.map((f) => Buffer.concat([hex('0800000000002a00'), f])), VTEP_A);
    expect(b.port.take()).toEqual(segs);
  });
});
