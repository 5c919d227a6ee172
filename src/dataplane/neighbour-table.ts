// ARP state of one network: IPv4 address -> MAC, with the frames waiting for an answer.
// Keys are the address as a signed 32-bit integer (a V8 small integer), so lookups allocate nothing.

export const NeighbourState = {
  Incomplete: 0, // ARP request sent, no answer yet; frames are parked
  Reachable: 1,
  Failed: 2, // never answered: new frames get ICMP host unreachable until the entry expires
} as const;

export class Neighbour {
  macHi = 0;
  macLo = 0;
  state: number = NeighbourState.Incomplete;
  updated = 0; // ms
  probes = 0; // ARP requests sent while incomplete
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
