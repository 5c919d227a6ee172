// The layout of the tables' persistent columns: what the allocator handed out, in order, and a
// hash of it that changes with any column added, removed, retyped or resized.

import { describe, expect, it } from 'vitest';
import { Tables } from '../../../src/dataplane/tables.js';
import { DEFAULT_DATAPLANE_OPTIONS } from '../../../src/dataplane/options.js';
import { HeapMemory } from '../../../src/dataplane/table-memory.js';

function layout(build: (m: HeapMemory) => void): { hash: number; columns: string[] } {
  const m = new HeapMemory();
  build(m);
  return { hash: m.layoutHash(), columns: m.columns.map((c) => `${c.spec.type}:${c.spec.length}`) };
}

describe('TableMemory', () => {
  it('records the columns of conntrack, NAT mappings and published ports in declaration order', () => {
    const l = layout((m) => new Tables({ ...DEFAULT_DATAPLANE_OPTIONS, conntrackMax: 64 }, m));
    expect(l.columns).toEqual([
      // conntrack: proto, state, flags, expires, mapping, then per direction src, dst, sport, dport, TCP window, counters
      'u8:64', 'u8:64', 'u16:64', 'f64:64', 'i32:64',
      'i32:128', 'i32:128', 'u16:128', 'u16:128', 'u32:128', 'u32:128', 'u8:128', 'u32:128', 'f64:128', 'f64:128',
      // ...then the family and words 1..3 of both addresses per direction
      'u8:64', 'i32:384', 'i32:384',
      // NAT mappings: class, inside address and port, outside port, pin bits, words 1..3 of the inside address
      'u8:64', 'i32:64', 'u16:64', 'u16:64', 'u8:64', 'i32:192',
      // published ports: used, protocol, host port, host address, target address and port, family, words 1..3 of both addresses
      'u8:65536', 'u8:65536', 'u16:65536', 'i32:65536', 'i32:65536', 'u16:65536', 'u8:65536', 'i32:196608', 'i32:196608',
    ]);
  });

  it('hashes the layout: the same columns give the same hash, any change another', () => {
    const base = (m: HeapMemory) => {
      m.u8(10);
      m.f64(10);
    };
    const h = layout(base).hash;
    expect(layout(base).hash).toBe(h);
    expect(layout((m) => (base(m), m.i32(10))).hash).not.toBe(h); // a column added
    expect(layout((m) => (m.u8(10), m.u32(10))).hash).not.toBe(h); // retyped
    expect(layout((m) => (m.u8(10), m.f64(11))).hash).not.toBe(h); // resized
    expect(layout((m) => (m.f64(10), m.u8(10))).hash).not.toBe(h); // reordered
  });

  it('hands out zeroed typed arrays of the asked length', () => {
    const m = new HeapMemory();
    const a = m.u16(5);
    expect(a).toBeInstanceOf(Uint16Array);
    expect([...a]).toEqual([0, 0, 0, 0, 0]);
    expect(m.i16(3).fill(-1)).toEqual(new Int16Array([-1, -1, -1]));
    expect(m.columns.map((c) => c.spec)).toEqual([
      { type: 'u16', length: 5 },
      { type: 'i16', length: 3 },
    ]);
  });
});
