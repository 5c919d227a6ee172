// Longest-prefix-match routing over a handful of prefixes (one per network, the host link, a
// default). Entries are kept sorted by prefix length, longest first, so the first match wins.
// One class for both families: an IPv4 table keys on one 32-bit word per entry, an IPv6 table
// (Tables.routes6) on four; the entries' columns are the same.

import { prefixMask } from '../wire/ipv4-address.js';
import { prefixMaskWord6, type Ipv6Words } from '../wire/ipv6-address.js';
import { readI32 } from '../wire/ipv6.js';

export const RouteTarget = {
  Network: 0, // a bridge network: the next hop is the destination itself, resolved by ARP
  Host: 1, // the host's TUN port: no link-layer resolution
  Overlay: 2, // another host's subnet of a routed overlay network: a slot of Tables.remoteSubnets
} as const;

/** Where a packet goes: filled by RouteTable.resolve into an object reused for every packet. */
export class RouteResult {
  kind = 0;
  /** network index (RouteTarget.Network), port id (RouteTarget.Host) or remote subnet slot (RouteTarget.Overlay) */
  target = 0;
  /** address to resolve by ARP (0: the destination itself is on the link) */
  nextHop = 0;
  /** IPv6: the next hop's words to resolve by NDP; all 0: the destination itself is on the link */
  readonly nextHop6 = new Int32Array(4);
}

export class RouteTable {
  /** words per prefix: 1 (IPv4) or 4 (IPv6) */
  private readonly width: number;
  private prefix: Int32Array<ArrayBuffer>;
  private mask: Int32Array<ArrayBuffer>;
  private nextHop: Int32Array<ArrayBuffer>; // all 0: the destination itself is on the link
  private len = new Int32Array(64);
  private kind = new Int32Array(64);
  private target = new Int32Array(64);
  private count = 0;

  constructor(family: 4 | 6 = 4) {
    this.width = family === 6 ? 4 : 1;
    this.prefix = new Int32Array(64 * this.width);
    this.mask = new Int32Array(64 * this.width);
    this.nextHop = new Int32Array(64 * this.width);
  }

  get size(): number {
    return this.count;
  }

  add(prefix: number, prefixLen: number, kind: number, target: number, nextHop = 0): void {
    this.insert([prefix, 0, 0, 0], prefixLen, kind, target, [nextHop, 0, 0, 0]);
  }

  /** An IPv6 route; `nextHop` null: on the link. */
  add6(prefix: Ipv6Words, prefixLen: number, kind: number, target: number, nextHop: Ipv6Words | null = null): void {
    this.insert(prefix, prefixLen, kind, target, nextHop ?? [0, 0, 0, 0]);
  }

  private insert(prefix: Ipv6Words, prefixLen: number, kind: number, target: number, nextHop: Ipv6Words): void {
    this.removeWords(prefix, prefixLen);
    if (this.count === this.len.length) this.grow();
    let i = this.count++;
    // insertion sort: longest prefix first
    while (i > 0 && this.len[i - 1] < prefixLen) {
      this.copy(i - 1, i);
      i--;
    }
    const w = this.width;
    for (let k = 0; k < w; k++) {
      const mask = this.maskWord(prefixLen, k);
      this.prefix[i * w + k] = prefix[k] & mask;
      this.mask[i * w + k] = mask;
      this.nextHop[i * w + k] = nextHop[k] | 0;
    }
    this.len[i] = prefixLen;
    this.kind[i] = kind;
    this.target[i] = target;
  }

  private maskWord(prefixLen: number, k: number): number {
    return (this.width === 1 ? prefixMask(prefixLen) : prefixMaskWord6(prefixLen, k)) | 0;
  }

  remove(prefix: number, prefixLen: number): void {
    this.removeWords([prefix, 0, 0, 0], prefixLen);
  }

  remove6(prefix: Ipv6Words, prefixLen: number): void {
    this.removeWords(prefix, prefixLen);
  }

  private removeWords(prefix: Ipv6Words, prefixLen: number): void {
    const w = this.width;
    for (let i = 0; i < this.count; i++) {
      if (this.len[i] !== prefixLen) continue;
      let same = true;
      for (let k = 0; k < w; k++) if (this.prefix[i * w + k] !== (prefix[k] & this.mask[i * w + k])) same = false;
      if (same) {
        this.removeAt(i);
        return;
      }
    }
  }

  /** Index of the route to exactly prefix/prefixLen (an IPv4 table), or -1. */
  find(prefix: number, prefixLen: number): number {
    const mask = prefixMask(prefixLen) | 0;
    for (let i = 0; i < this.count; i++) if (this.len[i] === prefixLen && this.prefix[i] === (prefix & mask)) return i;
    return -1;
  }

  removeAt(i: number): void {
    for (let j = i + 1; j < this.count; j++) this.copy(j, j - 1);
    this.count--;
  }

  /** Index of the best route for a destination, or -1 (an IPv4 table). */
  lookup(dst: number): number {
    for (let i = 0; i < this.count; i++) {
      if ((dst & this.mask[i]) === this.prefix[i]) return i;
    }
    return -1;
  }

  /** Index of the best route for the IPv6 destination w0..w3 (int32 words), or -1 (an IPv6 table). */
  lookup6(w0: number, w1: number, w2: number, w3: number): number {
    const p = this.prefix;
    const m = this.mask;
    for (let i = 0, b = 0; i < this.count; i++, b += 4) {
      if ((w0 & m[b]) === p[b] && (w1 & m[b + 1]) === p[b + 1] && (w2 & m[b + 2]) === p[b + 2] && (w3 & m[b + 3]) === p[b + 3]) return i;
    }
    return -1;
  }

  /** Fills `out` with the best route for `dst`; false when there is none. */
  resolve(dst: number, out: RouteResult): boolean {
    const i = this.lookup(dst);
    if (i < 0) return false;
    out.kind = this.kind[i];
    out.target = this.target[i];
    out.nextHop = this.nextHop[i] >>> 0;
    return true;
  }

  /** Fills `out` with the best IPv6 route for the 16 bytes at buf[o]; false when there is none. */
  resolve6At(buf: Buffer, o: number, out: RouteResult): boolean {
    const i = this.lookup6(readI32(buf, o), readI32(buf, o + 4), readI32(buf, o + 8), readI32(buf, o + 12));
    if (i < 0) return false;
    out.kind = this.kind[i];
    out.target = this.target[i];
    out.nextHop = 0;
    const nh = out.nextHop6;
    for (let k = 0; k < 4; k++) nh[k] = this.nextHop[i * 4 + k];
    return true;
  }

  kindOf(route: number): number {
    return this.kind[route];
  }

  targetOf(route: number): number {
    return this.target[route];
  }

  private copy(from: number, to: number): void {
    const w = this.width;
    for (let k = 0; k < w; k++) {
      this.prefix[to * w + k] = this.prefix[from * w + k];
      this.mask[to * w + k] = this.mask[from * w + k];
      this.nextHop[to * w + k] = this.nextHop[from * w + k];
    }
    this.len[to] = this.len[from];
    this.kind[to] = this.kind[from];
    this.target[to] = this.target[from];
  }

  private grow(): void {
    const n = this.len.length * 2;
    const widen = (a: Int32Array<ArrayBuffer>, size: number): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(size);
      b.set(a);
      return b;
    };
    this.prefix = widen(this.prefix, n * this.width);
    this.mask = widen(this.mask, n * this.width);
    this.nextHop = widen(this.nextHop, n * this.width);
    this.len = widen(this.len, n);
    this.kind = widen(this.kind, n);
    this.target = widen(this.target, n);
  }
}
