import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { internetChecksum, pseudoHeaderSum, sum16, finish } from '../../../src/wire/checksum.js';
import { VNET_GSO_TCPV4 } from '../../../src/wire/virtio-net.js';
import type { Dataplane } from '../../../src/dataplane/dataplane.js';
import { hex, makeNatWorld, SYN_C1, variant } from './fixture.js';

/** A TCP/IPv4 frame from c1 to 203.0.113.10 with `payload` bytes, its checksum left partial as a TAP hands it over. */
function partialTcp(payload: number, seq: number): Buffer {
  const base = Buffer.alloc(14 + 20 + 20 + payload);
  SYN_C1.copy(base, 0, 0, 34); // Ethernet + IPv4 header of a c1 -> 203.0.113.10 SYN
  base.writeUInt16BE(20 + 20 + payload, 16);
  base[14 + 20 + 12] = 5 << 4;
  base.writeUInt16BE(40000, 34);
  base.writeUInt16BE(80, 36);
  base.writeUInt32BE(seq >>> 0, 38);
  base[14 + 20 + 13] = 0x18; // PSH|ACK
  base.writeUInt16BE(64240, 48);
  for (let i = 0; i < payload; i++) base[54 + i] = (i * 7 + seq) & 0xff;
  const f = variant(base, {});
  // partial: the field holds the pseudo-header sum only
  const pseudo = pseudoHeaderSum(f.readUInt32BE(26), f.readUInt32BE(30), 6, 20 + payload);
  let s = pseudo;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  f.writeUInt16BE(s, 50);
  return f;
}

function withOffload(dp: Dataplane, port: number, frame: Buffer, gsoSize: number): void {
  dp.frame.needsCsum = 1;
  dp.frame.csumStart = 34;
  dp.frame.csumOffset = 16;
  dp.frame.gsoType = gsoSize > 0 ? VNET_GSO_TCPV4 : 0;
  dp.frame.gsoSize = gsoSize;
  dp.receive(port, frame);
  dp.frame.clearOffload();
}

function tcpChecksumOk(f: Buffer): boolean {
  const ihl = (f[14] & 15) * 4;
  const len = f.readUInt16BE(16) - ihl;
  return finish(sum16(f, 14 + ihl, len, pseudoHeaderSum(f.readUInt32BE(26), f.readUInt32BE(30), 6, len))) === 0;
}

describe('offloads', () => {
  it('cuts a 64 KiB super segment into MSS-sized segments with complete checksums for a port without offloads', () => {
    const w = makeNatWorld();
    const syn = SYN_C1;
    w.dp.receive(w.ids.c1, syn); // open the masquerade flow
    w.uplink.take();
    // the answer, then a super segment of 10 x 1448 bytes
    w.dp.receive(w.ids.uplink, hex('0250000000ff02005e00000108004500003c000040003406e07bcb00710ac633640200509c4000001388000003e9a012fe882ed70000020405b40402080a0000004d0000000101030307'));
    w.c1.take();
    const big = partialTcp(1448 * 10, 1001);
    withOffload(w.dp, w.ids.c1, big, 1448);
    const segs = w.uplink.take();
    expect(segs).toHaveLength(10);
    let seq = 1001;
    for (const [i, s] of segs.entries()) {
      expect(s.length).toBe(14 + 40 + 1448);
      expect(internetChecksum(s, 14, 20)).toBe(0);
      expect(tcpChecksumOk(s)).toBe(true);
      expect(s.readUInt32BE(26)).toBe(0xc6336402); // masqueraded to 198.51.100.2
      expect(s.readUInt32BE(38)).toBe(seq);
      expect(s[47] & 0x08).toBe(i === 9 ? 0x08 : 0); // PSH only on the last
      expect(s.subarray(54)).toEqual(big.subarray(54 + i * 1448, 54 + (i + 1) * 1448));
      seq += 1448;
    }
  });

  it('with offloads on, arbitrary frames never throw and every TCP packet leaves with complete checksums', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            payload: fc.integer({ min: 0, max: 9000 }),
            gso: fc.constantFrom(0, 536, 1448, 8948),
            flip: fc.option(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 255 }))),
          }),
          { maxLength: 8 },
        ),
        (inputs) => {
          const w = makeNatWorld();
          w.dp.receive(w.ids.c1, SYN_C1);
          w.uplink.take();
          let seq = 1001;
          for (const { payload, gso, flip } of inputs) {
            const f = partialTcp(payload, seq);
            seq += payload;
            // bytes 50-51 hold the pseudo-header seed of the partial checksum, which a receiver of
            // offloads trusts as Linux does: a wrong seed gives a wrong checksum, dropped at the far end
            if (flip !== null && flip[0] !== 50 && flip[0] !== 51) f[flip[0]] = flip[1];
            withOffload(w.dp, w.ids.c1, f, gso);
          }
          for (const p of w.all) {
            for (const out of p.take()) {
              if (out.length < 34 || out.readUInt16BE(12) !== 0x0800) continue;
              expect(internetChecksum(out, 14, (out[14] & 15) * 4)).toBe(0);
              if (out[23] === 6 && out.length >= 54) expect(tcpChecksumOk(out)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
