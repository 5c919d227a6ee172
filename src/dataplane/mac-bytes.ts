// MAC addresses on the fast path as two integers (top 16 bits, low 32 bits as int32), read and
// written byte by byte: a 48-bit number would be a heap-allocated double in V8.

export function macHi(buf: Buffer, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

export function macLo(buf: Buffer, off: number): number {
  return (buf[off + 2] << 24) | (buf[off + 3] << 16) | (buf[off + 4] << 8) | buf[off + 5];
}

export function putMac(buf: Buffer, off: number, hi: number, lo: number): void {
  buf[off] = hi >>> 8;
  buf[off + 1] = hi;
  buf[off + 2] = lo >>> 24;
  buf[off + 3] = lo >>> 16;
  buf[off + 4] = lo >>> 8;
  buf[off + 5] = lo;
}

/** Group bit of the first octet: broadcast or multicast. */
export function isGroupMac(buf: Buffer, off: number): boolean {
  return (buf[off] & 1) === 1;
}
