// The gateway's neighbour cache of one network: address -> MAC, with the frames waiting for an
// answer. The states are RFC 4861's (7.3.2), for ARP as for NDP, as Linux keeps them for both:
//   INCOMPLETE  asked (broadcast ARP / multicast NS), no answer yet: frames are parked
//   REACHABLE   confirmed lately (an answer, or any ARP/NDP message from it)
//   STALE       not confirmed for reachableMs: still used, and its first use starts DELAY
//   DELAY       used while stale: a unicast probe follows after DELAY_FIRST_PROBE_MS
//   PROBE       unicast probes sent (frames still go to the cached MAC); unanswered: deleted
//   FAILED      never answered while INCOMPLETE: frames get ICMP host unreachable until it expires
// One table holds both families (gVisor's one neighbour cache for ARP and NDP): an IPv4 entry is
// keyed by its address as a signed 32-bit integer (a V8 small integer), an IPv6 entry by a hash of
// its four words with a chain for collisions, so lookups allocate nothing.

import { ipv6WordsHash } from '../wire/ipv6-address.js';

export const NeighbourState = {
  Incomplete: 0,
  Reachable: 1,
  Failed: 2,
  Stale: 3,
  Delay: 4,
  Probe: 5,
} as const;

/** The states' names, by number: what `pontoon status` and the API show. */
export const NEIGHBOUR_STATE_NAMES = ['incomplete', 'reachable', 'failed', 'stale', 'delay', 'probe'] as const;
export type NeighbourStateName = (typeof NEIGHBOUR_STATE_NAMES)[number];

/** RFC 4861 10: a stale entry in use is probed this long after its first use. */
export const DELAY_FIRST_PROBE_MS = 5000;

/** True when frames may go to the entry's MAC (reachable, stale, delay, probe). */
export function hasMac(state: number): boolean {
  return state === NeighbourState.Reachable || state >= NeighbourState.Stale;
}

export class Neighbour {
  /** the IPv6 address's other words (ip is its first); all 0 for IPv4 */
  ip1 = 0;
  ip2 = 0;
  ip3 = 0;
  /** resolved by NDP (an IPv6 address), else by ARP */
  v6 = false;
  /** the next IPv6 entry whose words hash alike */
  next6: Neighbour | null = null;
  macHi = 0;
  macLo = 0;
  state: number = NeighbourState.Incomplete;
  updated = 0; // ms: last confirmation (or creation)
  probes = 0; // requests sent while incomplete, unicast probes while probing
  nextProbe = 0; // ms
  /** set by the control plane (a remote overlay endpoint): never expires */
  fixed = false;
  readonly parked: Int32Array; // parking-pool slots, oldest first
  parkedCount = 0;

  constructor(
    /** the IPv4 address, or an IPv6 address's first word (uint32) */
    readonly ip: number,
    queueLength: number,
  ) {
    this.parked = new Int32Array(queueLength);
  }

  /** A frame goes to the entry's MAC now: a stale entry starts its delay (RFC 4861 7.3.3). */
  /** True when the entry is the IPv6 address w0..w3 (int32 or uint32 words alike). */
  is6(w0: number, w1: number, w2: number, w3: number): boolean {
    return this.v6 && (this.ip | 0) === (w0 | 0) && (this.ip1 | 0) === (w1 | 0) && (this.ip2 | 0) === (w2 | 0) && (this.ip3 | 0) === (w3 | 0);
  }

  use(now: number): void {
    if (this.state === NeighbourState.Stale) {
      this.state = NeighbourState.Delay;
      this.nextProbe = now + DELAY_FIRST_PROBE_MS;
    }
  }
}

export class NeighbourTable {
  private readonly map = new Map<number, Neighbour>();
  /** IPv6 entries by hash6 of their words: the first of a chain linked by next6 */
  private readonly map6 = new Map<number, Neighbour>();
  private count6 = 0;

  constructor(readonly queueLength: number) {}

  get size(): number {
    return this.map.size + this.count6;
  }

  /** The IPv6 entries among them. */
  get size6(): number {
    return this.count6;
  }

  get(ip: number): Neighbour | undefined {
    return this.map.get(ip | 0);
  }

  /** The IPv6 entry of w0..w3, or undefined. */
  get6(w0: number, w1: number, w2: number, w3: number): Neighbour | undefined {
    let n = this.map6.get(ipv6WordsHash(w0 | 0, w1 | 0, w2 | 0, w3 | 0)) ?? null;
    while (n !== null && !n.is6(w0, w1, w2, w3)) n = n.next6;
    return n ?? undefined;
  }

  /** Creates an incomplete entry (slow path: once per new neighbour). */
  create(ip: number, now: number): Neighbour {
    const n = new Neighbour(ip >>> 0, this.queueLength);
    n.updated = now;
    this.map.set(ip | 0, n);
    return n;
  }

  /** Creates an incomplete IPv6 entry (slow path); the caller has found none for the address. */
  create6(w0: number, w1: number, w2: number, w3: number, now: number): Neighbour {
    const n = new Neighbour(w0 >>> 0, this.queueLength);
    n.ip1 = w1 >>> 0;
    n.ip2 = w2 >>> 0;
    n.ip3 = w3 >>> 0;
    n.v6 = true;
    n.updated = now;
    const h = ipv6WordsHash(w0 | 0, w1 | 0, w2 | 0, w3 | 0);
    n.next6 = this.map6.get(h) ?? null;
    this.map6.set(h, n);
    this.count6++;
    return n;
  }

  delete(ip: number): void {
    this.map.delete(ip | 0);
  }

  /** Removes an entry of either family. */
  remove(n: Neighbour): void {
    if (!n.v6) {
      if (this.map.get(n.ip | 0) === n) this.map.delete(n.ip | 0);
      return;
    }
    const h = ipv6WordsHash(n.ip | 0, n.ip1 | 0, n.ip2 | 0, n.ip3 | 0);
    let c = this.map6.get(h) ?? null;
    if (c === n) {
      if (n.next6 === null) this.map6.delete(h);
      else this.map6.set(h, n.next6);
      this.count6--;
      return;
    }
    while (c !== null && c.next6 !== n) c = c.next6;
    if (c === null) return;
    c.next6 = n.next6;
    this.count6--;
  }

  /**
   * Every entry, IPv4 first (a control operation or the timer: not the fast path). The caller may
   * remove the entry it was given: a Map's iteration survives deletions and updates of its keys,
   * and a chain is walked with its next link taken before the entry is handed out.
   */
  *values(): IterableIterator<Neighbour> {
    yield* this.map.values();
    for (const head of this.map6.values()) {
      for (let n: Neighbour | null = head; n !== null; ) {
        const next: Neighbour | null = n.next6;
        yield n;
        n = next;
      }
    }
  }
}
