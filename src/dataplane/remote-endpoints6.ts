// The IPv6 addresses of an overlay network's endpoints on other hosts, as the control plane knows
// them (NDP suppression, ndp-proxy.ts): IPv6 address -> MAC. Looked up with the address's four
// words read from the frame, so a lookup allocates nothing: a Map keyed by a 32-bit hash of the
// words, each bucket a short chain compared word by word.

import { type Ipv6Words, ipv6WordsHash } from '../wire/ipv6-address.js';
import type { VtepAddress } from './vtep-table.js';

/** An endpoint on another host, as the cluster store tells of it: its IPv6 address and MAC, the VTEP it is behind. */
export interface RemoteEndpoint6Spec {
  network: number;
  ip6: Ipv6Words;
  mac: number;
  /** the underlay address of the host it lives on (either family: the underlay's) */
  vtepIp: VtepAddress;
}

export class RemoteEndpoint6 {
  /** the next endpoint whose address has the same hash */
  next: RemoteEndpoint6 | null = null;

  constructor(
    readonly w0: number,
    readonly w1: number,
    readonly w2: number,
    readonly w3: number,
    readonly macHi: number,
    readonly macLo: number,
    /** VTEP index */
    readonly vtep: number,
  ) {}

  is(w0: number, w1: number, w2: number, w3: number): boolean {
    return this.w0 === w0 >>> 0 && this.w1 === w1 >>> 0 && this.w2 === w2 >>> 0 && this.w3 === w3 >>> 0;
  }
}

export class RemoteEndpoints6 {
  private readonly buckets = new Map<number, RemoteEndpoint6>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The endpoint with this address, or undefined (fast path: allocates nothing). */
  get(w0: number, w1: number, w2: number, w3: number): RemoteEndpoint6 | undefined {
    let e: RemoteEndpoint6 | null = this.buckets.get(ipv6WordsHash(w0, w1, w2, w3)) ?? null;
    for (; e !== null; e = e.next) if (e.is(w0, w1, w2, w3)) return e;
    return undefined;
  }

  /** Adds or replaces the endpoint with this address. */
  set(ip6: Ipv6Words, macHi: number, macLo: number, vtep: number): void {
    this.delete(ip6);
    const e = new RemoteEndpoint6(ip6[0] >>> 0, ip6[1] >>> 0, ip6[2] >>> 0, ip6[3] >>> 0, macHi, macLo, vtep);
    const h = ipv6WordsHash(e.w0, e.w1, e.w2, e.w3);
    e.next = this.buckets.get(h) ?? null;
    this.buckets.set(h, e);
    this.count++;
  }

  /** Removes the endpoint with this address; false when there was none. */
  delete(ip6: Ipv6Words): boolean {
    const h = ipv6WordsHash(ip6[0], ip6[1], ip6[2], ip6[3]);
    let prev: RemoteEndpoint6 | null = null;
    for (let e = this.buckets.get(h) ?? null; e !== null; prev = e, e = e.next) {
      if (!e.is(ip6[0], ip6[1], ip6[2], ip6[3])) continue;
      if (prev !== null) prev.next = e.next;
      else if (e.next !== null) this.buckets.set(h, e.next);
      else this.buckets.delete(h);
      this.count--;
      return true;
    }
    return false;
  }

  /** Every endpoint (control operations only). */
  values(): RemoteEndpoint6[] {
    const out: RemoteEndpoint6[] = [];
    for (const head of this.buckets.values()) for (let e: RemoteEndpoint6 | null = head; e !== null; e = e.next) out.push(e);
    return out;
  }
}
