// The gateway's neighbour cache of one network: address -> MAC, with the frames waiting for an
// answer. The states are RFC 4861's (7.3.2), for ARP as for NDP, as Linux keeps them for both:
//   INCOMPLETE  asked (broadcast ARP / multicast NS), no answer yet: frames are parked
//   REACHABLE   confirmed lately (an answer, or any ARP/NDP message from it)
//   STALE       not confirmed for reachableMs: still used, and its first use starts DELAY
//   DELAY       used while stale: a unicast probe follows after DELAY_FIRST_PROBE_MS
//   PROBE       unicast probes sent (frames still go to the cached MAC); unanswered: deleted
//   FAILED      never answered while INCOMPLETE: frames get ICMP host unreachable until it expires
// Keys are the IPv4 address as a signed 32-bit integer (a V8 small integer), so lookups allocate nothing.

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
    readonly ip: number,
    queueLength: number,
  ) {
    this.parked = new Int32Array(queueLength);
  }

  /** A frame goes to the entry's MAC now: a stale entry starts its delay (RFC 4861 7.3.3). */
  use(now: number): void {
    if (this.state === NeighbourState.Stale) {
      this.state = NeighbourState.Delay;
      this.nextProbe = now + DELAY_FIRST_PROBE_MS;
    }
  }
}

export class NeighbourTable {
  private readonly map = new Map<number, Neighbour>();

  constructor(readonly queueLength: number) {}

  get size(): number {
    return this.map.size;
  }

  get(ip: number): Neighbour | undefined {
    return this.map.get(ip | 0);
  }

  /** Creates an incomplete entry (slow path: once per new neighbour). */
  create(ip: number, now: number): Neighbour {
    const n = new Neighbour(ip >>> 0, this.queueLength);
    n.updated = now;
    this.map.set(ip | 0, n);
    return n;
  }

  delete(ip: number): void {
    this.map.delete(ip | 0);
  }

  values(): IterableIterator<Neighbour> {
    return this.map.values();
  }
}
