/**
 * MAC addresses as 48-bit integers held in a JS number (hi 16 bits * 2**32 +
 * lo 32 bits): exact below 2**53, comparable with ===, usable as Map keys,
 * and never allocated on the hot path.
 */

const TWO32 = 0x1_0000_0000;

export const MAC_BROADCAST = 0xffff_ffff_ffff;
export const MAC_ZERO = 0;

/** Read 6 bytes at `off` as a 48-bit MAC number. */
export function readMac(buf: Buffer, off: number): number {
  // Split 16+32 so every partial stays inside int32/uint32 arithmetic.
  const hi = (buf[off] << 8) | buf[off + 1];
  const lo = ((buf[off + 2] << 24) | (buf[off + 3] << 16) | (buf[off + 4] << 8) | buf[off + 5]) >>> 0;
  return hi * TWO32 + lo;
}

/** Write a 48-bit MAC number as 6 bytes at `off`. */
export function writeMac(buf: Buffer, off: number, mac: number): void {
  // Division then |0 truncates to the top 16 bits; >>> 0 is mac mod 2**32.
  const hi = (mac / TWO32) | 0;
  const lo = mac >>> 0;
  buf[off] = (hi >>> 8) & 0xff;
  buf[off + 1] = hi & 0xff;
  buf[off + 2] = lo >>> 24;
  buf[off + 3] = (lo >>> 16) & 0xff;
  buf[off + 4] = (lo >>> 8) & 0xff;
  buf[off + 5] = lo & 0xff;
}

/** True for group addresses: the I/G bit is the low bit of the first octet. */
export function isMulticastMac(mac: number): boolean {
  return ((mac / TWO32) & 0x0100) !== 0;
}

export function isBroadcastMac(mac: number): boolean {
  return mac === MAC_BROADCAST;
}

export function isUnicastMac(mac: number): boolean {
  return ((mac / TWO32) & 0x0100) === 0;
}

/** "02:42:ac:11:00:02" (lower-case, zero-padded). Slow path. */
export function macToString(mac: number): string {
  const hi = (mac / TWO32) | 0;
  const lo = mac >>> 0;
  const octets = [hi >>> 8, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff];
  return octets.map((o) => o.toString(16).padStart(2, '0')).join(':');
}

// Six two-digit hex groups with one consistent separator (':' or '-').
const MAC_RE = /^([0-9a-f]{2})([:-])([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})$/i;

/** Parse "02:42:ac:11:00:02" (or dash-separated); throws Error on anything else. */
export function parseMac(s: string): number {
  const m = MAC_RE.exec(s);
  if (m === null) throw new Error(`invalid MAC address: ${JSON.stringify(s)}`);
  const hi = (parseInt(m[1], 16) << 8) | parseInt(m[3], 16);
  const lo =
    ((parseInt(m[4], 16) << 24) | (parseInt(m[5], 16) << 16) | (parseInt(m[6], 16) << 8) | parseInt(m[7], 16)) >>> 0;
  return hi * TWO32 + lo;
}

// On the fast path a MAC is two integers (top 16 bits, low 32 bits as int32), read and written
// byte by byte: a 48-bit number would be a heap-allocated double in V8 across calls.

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

/** The top 16 bits of a 48-bit MAC number (the tables' `hi`). Slow path: the number is a double. */
export function macHiOf(mac: number): number {
  return Math.floor(mac / TWO32);
}

/** The low 32 bits of a 48-bit MAC number, as int32 (the tables' `lo`). */
export function macLoOf(mac: number): number {
  return mac % TWO32 | 0;
}

/** The 48-bit MAC number of a (hi, lo) pair. */
export function macOf(hi: number, lo: number): number {
  return hi * TWO32 + (lo >>> 0);
}

/** Group bit of the first octet: broadcast or multicast. */
export function isGroupMac(buf: Buffer, off: number): boolean {
  return (buf[off] & 1) === 1;
}
