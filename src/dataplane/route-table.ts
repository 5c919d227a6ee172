// Longest-prefix-match routing over a handful of prefixes (one per network, the host link, a
// default). Entries are kept sorted by prefix length, longest first, so the first match wins.

import { prefixMask } from '../wire/ipv4-address.js';

export const RouteTarget = {
  Network: 0, // a bridge network: the next hop is the destination itself, resolved by ARP
  Host: 1, // the host's TUN port: no link-layer resolution
} as const;

/** Where a packet goes: filled by RouteTable.resolve into an object reused for every packet. */
export class RouteResult {
  kind = 0;
  /** network index (RouteTarget.Network) or port id (RouteTarget.Host) */
  target = 0;
  /** address to resolve by ARP (0: the destination itself is on the link) */
  nextHop = 0;
}

export class RouteTable {
  private prefix = new Int32Array(64);
  private mask = new Int32Array(64);
  private len = new Int32Array(64);
  private kind = new Int32Array(64);
  private target = new Int32Array(64);
  private nextHop = new Int32Array(64); // 0: the destination itself is on the link
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(prefix: number, prefixLen: number, kind: number, target: number, nextHop = 0): void {
    this.remove(prefix, prefixLen);
    if (this.count === this.prefix.length) this.grow();
    const mask = prefixMask(prefixLen) | 0;
    let i = this.count++;
    // insertion sort: longest prefix first
    while (i > 0 && this.len[i - 1] < prefixLen) {
      this.copy(i - 1, i);
      i--;
    }
    this.prefix[i] = prefix & mask;
    this.mask[i] = mask;
    this.len[i] = prefixLen;
    this.kind[i] = kind;
    this.target[i] = target;
    this.nextHop[i] = nextHop | 0;
  }

  remove(prefix: number, prefixLen: number): void {
    const mask = prefixMask(prefixLen) | 0;
    for (let i = 0; i < this.count; i++) {
      if (this.len[i] === prefixLen && this.prefix[i] === (prefix & mask)) {
        this.removeAt(i);
        return;
      }
    }
  }

  removeAt(i: number): void {
    for (let j = i + 1; j < this.count; j++) this.copy(j, j - 1);
    this.count--;
  }

  /** Index of the best route for a destination, or -1. */
  lookup(dst: number): number {
    for (let i = 0; i < this.count; i++) {
      if ((dst & this.mask[i]) === this.prefix[i]) return i;
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

  kindOf(route: number): number {
    return this.kind[route];
  }

  targetOf(route: number): number {
    return this.target[route];
  }

  private copy(from: number, to: number): void {
    this.prefix[to] = this.prefix[from];
    this.mask[to] = this.mask[from];
    this.len[to] = this.len[from];
    this.kind[to] = this.kind[from];
    this.target[to] = this.target[from];
    this.nextHop[to] = this.nextHop[from];
  }

  private grow(): void {
    const n = this.prefix.length * 2;
    const widen = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.prefix = widen(this.prefix);
    this.mask = widen(this.mask);
    this.len = widen(this.len);
    this.kind = widen(this.kind);
    this.target = widen(this.target);
    this.nextHop = widen(this.nextHop);
  }
}
