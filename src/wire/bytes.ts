// Big-endian words read and written byte by byte (no bounds check): V8 inlines these into the fast
// path, where a call to Buffer#readInt32BE or #writeUInt16BE is a method load on the buffer (an
// inline cache the profile shows) and a call that checks its arguments.

/** The big-endian 32-bit word at buf[off], as a signed int32 (compare two without boxing a number). */
export function readI32(buf: Uint8Array, off: number): number {
  return (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
}

/** Writes the low 32 bits of `v` big-endian at buf[off]. */
export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/** Writes the low 16 bits of `v` big-endian at buf[off]. */
export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}
