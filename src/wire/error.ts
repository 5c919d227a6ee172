/**
 * Result codes returned by every `wrap`: plain numbers, so a rejected packet
 * costs no allocation (no Error object, no stack capture) on the hot path.
 */
export const WireError = {
  Ok: 0,
  Truncated: 1,
  Malformed: 2,
  BadChecksum: 3,
} as const;

export type WireError = (typeof WireError)[keyof typeof WireError];

const NAMES = ['Ok', 'Truncated', 'Malformed', 'BadChecksum'] as const;

/** Name of a WireError code, for logs and metric labels (slow path). */
export function wireErrorName(code: number): string {
  return NAMES[code] ?? `Unknown(${code})`;
}

/**
 * Slow-path guard for the Repr emit() functions: typed-array writes past the
 * end are silently dropped, which would hide a too-small output buffer.
 */
export function checkRoom(buf: Buffer, off: number, need: number): void {
  if (off < 0 || off + need > buf.length) {
    throw new RangeError(`emit needs ${need} bytes at offset ${off}, buffer has ${buf.length}`);
  }
}
