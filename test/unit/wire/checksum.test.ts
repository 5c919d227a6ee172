import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  finish,
  fold,
  internetChecksum,
  pseudoHeaderSum,
  sum16,
  update16,
  update32,
} from '../../../src/wire/checksum.js';
import { hex, refChecksum, refL4Checksum } from './frames.js';

/** Full recomputation with the checksum field at `at` treated as zero. */
function recompute(b: Buffer, at: number): number {
  const saved = b.readUInt16BE(at);
  b.writeUInt16BE(0, at);
  const c = internetChecksum(b, 0, b.length);
  b.writeUInt16BE(saved, at);
  return c;
}

function allZeroExcept(b: Buffer, at: number, width: number): boolean {
  for (let i = 0; i < b.length; i++) if ((i < at || i >= at + width) && b[i] !== 0) return false;
  return true;
}

describe('sum16 / fold / finish', () => {
  it('matches the RFC 1071 section 3 worked example', () => {
    // 00 01 f2 03 f4 f5 f6 f7: sum 0x2ddf0, folded 0xddf2, checksum ~0xddf2 = 0x220d.
    const b = hex('0001 f203 f4f5 f6f7');
    expect(sum16(b, 0, 8)).toBe(0x2ddf0);
    expect(fold(0x2ddf0)).toBe(0xddf2);
    expect(finish(0x2ddf0)).toBe(0x220d);
    expect(internetChecksum(b, 0, 8)).toBe(0x220d);
  });

  it('pads an odd trailing byte with zero', () => {
    const b = hex('0102 03');
    expect(sum16(b, 0, 3)).toBe(0x0102 + 0x0300);
    expect(internetChecksum(b, 0, 3)).toBe(internetChecksum(hex('0102 0300'), 0, 4));
  });

  it('honours off and initial', () => {
    const b = hex('ffff 0001 0002 ffff');
    expect(sum16(b, 2, 4, 0x10)).toBe(0x10 + 1 + 2);
    expect(sum16(b, 2, 0, 7)).toBe(7);
  });

  it('finish of an all-zero region is 0xffff, fold never complements', () => {
    expect(internetChecksum(Buffer.alloc(10), 0, 10)).toBe(0xffff);
    expect(fold(0)).toBe(0);
    expect(fold(0xffff)).toBe(0xffff);
    expect(fold(0x1fffe)).toBe(0xffff);
    expect(finish(0xffff)).toBe(0);
  });

  it('fold handles sums far above 32 bits', () => {
    expect(fold(0xffff * 2 ** 30)).toBe(0xffff);
    expect(fold(2 ** 40 + 5)).toBe(fold((2 ** 40) % 0xffff) + 5);
  });

  it('equals the reference on random data at random offsets', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(7), (data, pre) => {
        const b = Buffer.concat([Buffer.alloc(pre, 0xaa), Buffer.from(data), Buffer.alloc(3, 0x55)]);
        expect(internetChecksum(b, pre, data.length)).toBe(refChecksum(data));
      }),
      { numRuns: 1000 },
    );
  });

  it('long runs (the word path) equal the reference at every alignment, inside a large slab', () => {
    // a slab of its own, like the frame pool's, and sub-Buffers of it (byteOffset not a multiple of 4)
    const slab = Buffer.alloc(70_000);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 128, maxLength: 66_000 }), fc.nat(63), fc.nat(3), (data, pre, sub) => {
        const view = slab.subarray(sub);
        view.fill(0xa5);
        view.set(data, pre);
        expect(internetChecksum(view, pre, data.length)).toBe(refChecksum(data));
        expect(fold(sum16(view, pre, data.length, 0x1234))).toBe(fold(0x1234 + sum16(Buffer.from(data), 0, data.length)));
      }),
      { numRuns: 300 },
    );
  });

  it('pseudoHeaderSum + segment equals the reference pseudo-header checksum', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.constantFrom(6, 17),
        fc.uint8Array({ minLength: 8, maxLength: 100 }),
        (src, dst, proto, seg) => {
          const b = Buffer.from(seg);
          const c = finish(sum16(b, 0, b.length, pseudoHeaderSum(src, dst, proto, b.length)));
          expect(c).toBe(refL4Checksum(src, dst, proto, seg));
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('RFC 1624 incremental updates', () => {
  it('RFC 1624 section 4 corner case: eqn 3 yields 0x0000, not 0xffff', () => {
    // HC = 0xdd2f over a header whose word 0x5555 becomes 0x3285: sum becomes 0xffff (-0).
    expect(update16(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });

  it('update16 equals full recomputation on random data', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4, maxLength: 80 }).map((a) => Buffer.from(a.length % 2 ? a.subarray(1) : a)),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 0xffff }),
        (b, ci, wi, newWord) => {
          const words = b.length / 2;
          const at = 2 * (ci % words);
          let w = 2 * (wi % words);
          if (w === at) w = (w + 2) % b.length;
          b.writeUInt16BE(recompute(b, at), at);
          const oldWord = b.readUInt16BE(w);
          b.writeUInt16BE(newWord, w);
          const inc = update16(b.readUInt16BE(at), oldWord, newWord);
          const full = recompute(b, at);
          if (allZeroExcept(b, at, 2)) {
            // Degenerate all-zero data (impossible in IP/TCP/UDP/ICMP headers): eqn 3
            // yields 0x0000, the other ones-complement zero, where recomputation gives 0xffff.
            expect(inc).toBe(0);
            expect(full).toBe(0xffff);
          } else {
            expect(inc).toBe(full);
            b.writeUInt16BE(inc, at);
            expect(refChecksum(b)).toBe(0);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('update32 equals full recomputation on random data', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 6, maxLength: 80 }).map((a) => Buffer.from(a.length % 2 ? a.subarray(1) : a)),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 0xffffffff }),
        (b, ci, fi, newVal) => {
          const words = b.length / 2;
          const at = 2 * (ci % words);
          // A 4-byte field on an even offset that does not overlap the checksum.
          const starts: number[] = [];
          for (let s = 0; s + 4 <= b.length; s += 2) if (s + 4 <= at || s >= at + 2) starts.push(s);
          fc.pre(starts.length > 0);
          const f = starts[fi % starts.length];
          b.writeUInt16BE(recompute(b, at), at);
          const oldVal = b.readUInt32BE(f);
          b.writeUInt32BE(newVal, f);
          const inc = update32(b.readUInt16BE(at), oldVal, newVal);
          const full = recompute(b, at);
          if (allZeroExcept(b, at, 2)) {
            expect(inc).toBe(0);
          } else {
            expect(inc).toBe(full);
          }
          // Equivalent to two chained 16-bit updates.
          expect(inc).toBe(
            update16(update16(b.readUInt16BE(at), oldVal >>> 16, newVal >>> 16), oldVal & 0xffff, newVal & 0xffff),
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('update16 with no change leaves a non-0xffff checksum unchanged', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xfffe }), fc.integer({ min: 0, max: 0xffff }), (c, w) => {
        expect(update16(c, w, w)).toBe(c);
      }),
      { numRuns: 1000 },
    );
  });
});
