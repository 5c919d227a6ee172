import { describe, expect, it } from 'vitest';
import { NeighbourTable } from '../../../src/dataplane/neighbour-table.js';

describe('NeighbourTable', () => {
  it('holds both families; values() hands out every entry once, even as the caller removes them, hash chains included', () => {
    const t = new NeighbourTable(4);
    const N = 200_000; // enough IPv6 addresses for several 32-bit hash collisions, hence chains
    for (let i = 0; i < 1000; i++) t.create(0xac110000 + i, 1);
    for (let i = 0; i < N; i++) t.create6(0xfd000000 | 0, 0x20, i >>> 16, (i * 2654435761) | 0, 1);
    const chains = N - (t as unknown as { map6: Map<number, unknown> }).map6.size;
    expect(chains).toBeGreaterThan(0);
    expect([t.size, t.size6]).toEqual([1000 + N, N]);
    let seen = 0;
    let k = 0;
    for (const n of t.values()) {
      seen++;
      if (k++ % 2 === 0) t.remove(n);
    }
    expect(seen).toBe(1000 + N);
    expect(t.size).toBe(1000 + N - Math.ceil((1000 + N) / 2));
    // what is left is found, what went is not
    let found = 0;
    for (let i = 0; i < N; i++) if (t.get6(0xfd000000 | 0, 0x20, i >>> 16, (i * 2654435761) | 0) !== undefined) found++;
    for (let i = 0; i < 1000; i++) if (t.get(0xac110000 + i) !== undefined) found++;
    expect(found).toBe(t.size);
    expect([...t.values()].length).toBe(t.size);
  });
});
