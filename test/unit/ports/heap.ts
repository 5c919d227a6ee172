// Allocation checks for the sys-layer tests: heap growth over many calls, after full collections.

import v8 from 'node:v8';
import vm from 'node:vm';

/** A gc() function even without --expose-gc (flag set at runtime, fetched from a fresh context). */
export function getGc(): (() => void) | null {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn = vm.runInNewContext('gc') as unknown;
    return typeof fn === 'function' ? (fn as () => void) : null;
  } catch {
    return null;
  }
}

/**
 * Runs `body` 2×`iterations` times (warm-up, then measured) and returns the heap growth
 * (bytes) over the measured half, after a full GC. null when gc is unavailable.
 */
export function heapGrowth(body: () => void, iterations: number): number | null {
  const gc = getGc();
  for (let i = 0; i < iterations; i++) body(); // warm up / JIT
  if (!gc) return null;
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < iterations; i++) body();
  return process.memoryUsage().heapUsed - before;
}
