// Big-endian words read byte by byte: V8 inlines these into the fast path, where a call to
// Buffer#readInt32BE is a method load on the buffer (an inline cache the profile shows) and a call
// that checks its argument.

/** The big-endian 32-bit word at buf[o], as a signed int32 (compare two without boxing a number). */
export function i32(buf: Uint8Array, o: number): number {
  return (buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3];
}

/** Writes v (0..0xffff) at buf[o] big-endian. */
export function setU16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

/** Writes the low 32 bits of v at buf[o] big-endian. */
export function setU32(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 24;
  buf[o + 1] = v >>> 16;
  buf[o + 2] = v >>> 8;
  buf[o + 3] = v;
}
