// The VTEPs of overlay networks (the other hosts' underlay addresses) as small indexes: what the
// fdb, the peers of a network and the remote endpoints hold, and what the underlay socket finds a
// datagram's source as. Either family, as the underlay is.

import { ipv4ToString } from '../wire/ipv4-address.js';
import { type Ipv6Words, ipv6ToString, ipv6WordsHash } from '../wire/ipv6-address.js';

/**
 * A VTEP's underlay address: an IPv4 address as a number, or an IPv6 address as words (the
 * underlay's family is a choice of the host: cluster.advertise).
 */
export type VtepAddress = number | Ipv6Words;

/** true when the VTEP address is an IPv6 one. */
export function isVtep6(a: VtepAddress): a is Ipv6Words {
  return typeof a !== 'number';
}

/** A VTEP address as text (messages, the control plane's records). */
export function vtepToString(a: VtepAddress): string {
  return isVtep6(a) ? ipv6ToString(a) : ipv4ToString(a);
}

/**
 * VTEP addresses (other hosts of overlay networks) as small indexes, so tables hold integers.
 * Either family: IPv4 addresses in a Map by their number; IPv6 ones by a 30-bit hash of their
 * words, each bucket a chain of indexes compared word by word, so the underlay's receive path
 * finds a datagram's source without allocating.
 */
export class VtepTable {
  private readonly addrs: VtepAddress[] = [];
  private readonly byIp = new Map<number, number>();
  /** IPv6 VTEPs: the first index of each hash bucket; `next6[i]` the next of the same hash (-1: none) */
  private readonly byHash6 = new Map<number, number>();
  private readonly next6: number[] = [];
  /** the words of each IPv6 VTEP as Int32 (Smis, never boxed), four per index (0 for IPv4 ones) */
  private readonly words6: number[] = [];

  /** Index of a VTEP address, made on first use. */
  intern(a: VtepAddress): number {
    const known = this.indexOf(a);
    if (known >= 0) return known;
    const v = this.addrs.length;
    if (isVtep6(a)) {
      const w: Ipv6Words = [a[0] >>> 0, a[1] >>> 0, a[2] >>> 0, a[3] >>> 0];
      this.addrs.push(w);
      this.words6.push(w[0] | 0, w[1] | 0, w[2] | 0, w[3] | 0);
      const h = ipv6WordsHash(w[0], w[1], w[2], w[3]);
      this.next6.push(this.byHash6.get(h) ?? -1);
      this.byHash6.set(h, v);
    } else {
      this.addrs.push(a >>> 0);
      this.words6.push(0, 0, 0, 0);
      this.next6.push(-1);
      this.byIp.set(a | 0, v);
    }
    return v;
  }

  /** Index of a known VTEP address, or -1. */
  indexOf(a: VtepAddress): number {
    return isVtep6(a) ? this.indexOf6(a[0], a[1], a[2], a[3]) : this.indexOf4(a);
  }

  /** Index of a known IPv4 VTEP, or -1 (fast path). */
  indexOf4(ip: number): number {
    const v = this.byIp.get(ip | 0);
    return v === undefined ? -1 : v;
  }

  /** Index of a known IPv6 VTEP by its words (signed or unsigned), or -1 (fast path: allocates nothing). */
  indexOf6(w0: number, w1: number, w2: number, w3: number): number {
    const h = ipv6WordsHash(w0, w1, w2, w3);
    const w = this.words6;
    for (let v = this.byHash6.get(h) ?? -1; v >= 0; v = this.next6[v]!) {
      const k = v * 4;
      if (w[k] === (w0 | 0) && w[k + 1] === (w1 | 0) && w[k + 2] === (w2 | 0) && w[k + 3] === (w3 | 0)) return v;
    }
    return -1;
  }

  /** The address of VTEP `index` (undefined: no such index). */
  addressOf(index: number): VtepAddress | undefined {
    return this.addrs[index];
  }

  /** The IPv4 address of VTEP `index`; 0 for an IPv6 one or an unknown index. */
  ipOf(index: number): number {
    const a = this.addrs[index];
    return a === undefined || isVtep6(a) ? 0 : a;
  }
}
