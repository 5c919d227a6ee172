// Services (kube-proxy's ClusterIP, Swarm's VIP): a virtual address, protocol and port whose new
// flows are DNATed to one ready backend, chosen uniformly (a cheap PRNG) or, under client-ip
// affinity, the client's previous backend while it is ready and its timeout has not run out.
// Typed arrays throughout: the lookups on a flow's first packet and the backend check on a
// switched frame allocate nothing. The control plane replaces a service whole (setService); the
// indexes are rebuilt then, never on the fast path.

import { IP_PROTO_UDP, type PortProtocol } from '../wire/ipv4.js';
import { ipv4ToString } from '../wire/ipv4-address.js';

/** Services the data plane holds at most, and backends per service. */
export const MAX_SERVICES = 256;
export const MAX_BACKENDS = 64;
/** Backend slots: service s's backend i is slot s * MAX_BACKENDS + i (per-backend counters live there). */
export const BACKEND_SLOTS = MAX_SERVICES * MAX_BACKENDS;

/** Client-ip affinity entries: 4-way sets, the oldest of a full set replaced (a bounded table). */
const AFFINITY_WAYS = 4;
const AFFINITY_SETS = 8192;

/** One backend as the control plane gives it. */
export interface ServiceBackendSpec {
  ip: number;
  /** an endpoint of this host (published and host traffic only goes to those: see nat44) */
  local: boolean;
}

/** A service as the control plane gives it (slot: its place, 0..MAX_SERVICES-1, chosen by control). */
export interface ServiceSpec {
  slot: number;
  /** the data-plane network slot whose containers are its clients (and its backends) */
  network: number;
  proto: PortProtocol;
  vip: number;
  port: number;
  targetPort: number;
  /** client-ip affinity timeout, ms (0: none) */
  affinityMs: number;
  backends: ServiceBackendSpec[];
}

/** Open-addressing index size for (vip, proto, port) keys and for address sets: a power of two, load <= 1/4. */
const KEY_SLOTS = 1024;
const ADDRESS_SLOTS = 32768;

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

export class ServiceTable {
  /** live services */
  count = 0;
  readonly used = new Uint8Array(MAX_SERVICES);
  readonly network = new Int32Array(MAX_SERVICES);
  readonly proto = new Uint8Array(MAX_SERVICES);
  readonly vip = new Int32Array(MAX_SERVICES);
  readonly port = new Uint16Array(MAX_SERVICES);
  readonly targetPort = new Uint16Array(MAX_SERVICES);
  readonly affinityMs = new Float64Array(MAX_SERVICES);
  // per backend slot
  readonly backendIp = new Int32Array(BACKEND_SLOTS);
  readonly backendUsed = new Uint8Array(BACKEND_SLOTS);
  readonly backendLocal = new Uint8Array(BACKEND_SLOTS);
  /** per service: the ready backends' slots, dense (the uniform choice indexes it), and the local ones */
  readonly ready = new Int32Array(BACKEND_SLOTS);
  readonly readyCount = new Int32Array(MAX_SERVICES);
  readonly localReady = new Int32Array(BACKEND_SLOTS);
  readonly localCount = new Int32Array(MAX_SERVICES);
  /** the services range (config services.cidr): new flows to an address in it that no service has are refused */
  rangeBase = 0;
  rangeMask = 0;
  hasRange = false;

  // (vip, proto, port) -> service, open addressing (rebuilt on every change)
  private readonly keyIndex = new Int32Array(KEY_SLOTS).fill(-1);
  // VIP addresses and backend addresses: sets of int32 (0 is no address, the empty mark)
  private readonly vipSet = new Int32Array(ADDRESS_SLOTS);
  private readonly backendSet = new Int32Array(ADDRESS_SLOTS);
  private backendAddresses = 0;
  // xorshift32 state: the uniform choice
  private rng = 0x2545f491;
  // client-ip affinity: per entry the service (-1 free), client, backend slot and expiry
  private readonly affService = new Int16Array(AFFINITY_SETS * AFFINITY_WAYS).fill(-1);
  private readonly affClient = new Int32Array(AFFINITY_SETS * AFFINITY_WAYS);
  private readonly affBackend = new Int32Array(AFFINITY_SETS * AFFINITY_WAYS);
  private readonly affExpires = new Float64Array(AFFINITY_SETS * AFFINITY_WAYS);

  /** The service of (proto, vip, port), or -1. */
  lookup(proto: number, vip: number, port: number): number {
    const key = KEY_SLOTS - 1;
    let i = mix(vip, (proto << 16) | port) & key;
    for (;;) {
      const s = this.keyIndex[i];
      if (s < 0) return -1;
      if (this.vip[s] === (vip | 0) && this.port[s] === port && this.proto[s] === proto) return s;
      i = (i + 1) & key;
    }
  }

  /** Whether `ip` is a service's VIP (any port). */
  isVip(ip: number): boolean {
    return ServiceTable.has(this.vipSet, ip | 0);
  }

  /** Whether new flows to `ip` are the services' to answer: a VIP, or an address of the services range. */
  covers(ip: number): boolean {
    return (this.hasRange && (ip & this.rangeMask) === this.rangeBase) || ServiceTable.has(this.vipSet, ip | 0);
  }

  /** Whether `ip` is some service's backend: its frames switched inside a network may be service replies. */
  isBackend(ip: number): boolean {
    return this.backendAddresses !== 0 && ServiceTable.has(this.backendSet, ip | 0);
  }

  private static has(set: Int32Array, ip: number): boolean {
    if (ip === 0) return false;
    const m = ADDRESS_SLOTS - 1;
    let i = mix(ip, 0) & m;
    for (;;) {
      const k = set[i];
      if (k === 0) return false;
      if (k === ip) return true;
      i = (i + 1) & m;
    }
  }

  private static add(set: Int32Array, ip: number): void {
    if (ip === 0) return;
    const m = ADDRESS_SLOTS - 1;
    let i = mix(ip, 0) & m;
    for (;;) {
      const k = set[i];
      if (k === ip) return;
      if (k === 0) {
        set[i] = ip;
        return;
      }
      i = (i + 1) & m;
    }
  }

  /**
   * A ready backend slot for a new flow of `client` to service s, or -1 when it has none (only
   * this host's endpoints when `localOnly`): the client's previous one under affinity, else a
   * uniform choice.
   */
  choose(s: number, client: number, now: number, localOnly: boolean): number {
    const n = localOnly ? this.localCount[s] : this.readyCount[s];
    if (n === 0) return -1;
    const affinity = this.affinityMs[s];
    let set = -1;
    if (affinity > 0) {
      set = (mix(client, s) & (AFFINITY_SETS - 1)) * AFFINITY_WAYS;
      for (let w = set; w < set + AFFINITY_WAYS; w++) {
        if (this.affService[w] !== s || this.affClient[w] !== (client | 0)) continue;
        const b = this.affBackend[w];
        if (this.affExpires[w] > now && this.backendUsed[b] !== 0 && (!localOnly || this.backendLocal[b] !== 0)) {
          this.affExpires[w] = now + affinity;
          return b;
        }
        this.affService[w] = -1; // timed out, or its backend left
        break;
      }
    }
    // xorshift32, then a multiply-shift onto 0..n-1 (no modulo bias worth speaking of for n <= 64)
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x;
    const k = Math.floor(((x >>> 0) * n) / 4294967296);
    const b = localOnly ? this.localReady[s * MAX_BACKENDS + k] : this.ready[s * MAX_BACKENDS + k];
    if (set >= 0) this.remember(set, s, client, b, now + affinity);
    return b;
  }

  private remember(set: number, s: number, client: number, b: number, expires: number): void {
    let victim = set;
    for (let w = set; w < set + AFFINITY_WAYS; w++) {
      if (this.affService[w] < 0 || this.affExpires[w] <= expires - this.affinityMs[s]) {
        victim = w;
        break;
      }
      if (this.affExpires[w] < this.affExpires[victim]) victim = w;
    }
    this.affService[victim] = s;
    this.affClient[victim] = client | 0;
    this.affBackend[victim] = b;
    this.affExpires[victim] = expires;
  }

  // ---- control path ----------------------------------------------------------------------------

  /** The services range (config services.cidr); prefixLen 0 with base 0: none. */
  setRange(base: number, mask: number, on: boolean): void {
    this.rangeBase = base & mask;
    this.rangeMask = mask | 0;
    this.hasRange = on;
  }

  /**
   * Makes the service of spec.slot what the spec says. Backends already there keep their slots
   * (and counters); the slots of those that left are returned, for their flows to be removed.
   * Throws, changing nothing, on a bad spec or a (vip, proto, port) another service has.
   */
  set(spec: ServiceSpec): number[] {
    const s = spec.slot;
    if (!Number.isInteger(s) || s < 0 || s >= MAX_SERVICES) throw new Error(`service slot ${s} is outside 0-${MAX_SERVICES - 1}`);
    if (spec.backends.length > MAX_BACKENDS) throw new Error(`a service has at most ${MAX_BACKENDS} backends, not ${spec.backends.length}`);
    const other = this.lookup(spec.proto, spec.vip, spec.port);
    if (other >= 0 && other !== s) throw new Error(`${spec.port}/${spec.proto === IP_PROTO_UDP ? 'udp' : 'tcp'} of ${ipv4ToString(spec.vip)} is already a service`);
    const base = s * MAX_BACKENDS;
    const wanted = new Map<number, boolean>();
    for (const b of spec.backends) wanted.set(b.ip | 0, b.local);
    const same = this.used[s] !== 0 && this.vip[s] === (spec.vip | 0) && this.port[s] === spec.port && this.proto[s] === spec.proto && this.targetPort[s] === spec.targetPort;
    const left: number[] = [];
    for (let i = 0; i < MAX_BACKENDS; i++) {
      const b = base + i;
      if (this.backendUsed[b] === 0) continue;
      if (!same || !wanted.has(this.backendIp[b])) {
        this.backendUsed[b] = 0;
        left.push(b);
      } else {
        this.backendLocal[b] = wanted.get(this.backendIp[b]) ? 1 : 0;
        wanted.delete(this.backendIp[b]);
      }
    }
    for (const [ip, local] of wanted) {
      let i = 0;
      while (this.backendUsed[base + i] !== 0) i++;
      this.backendIp[base + i] = ip;
      this.backendLocal[base + i] = local ? 1 : 0;
      this.backendUsed[base + i] = 1;
    }
    if (this.used[s] === 0) this.count++;
    this.used[s] = 1;
    this.network[s] = spec.network;
    this.proto[s] = spec.proto;
    this.vip[s] = spec.vip | 0;
    this.port[s] = spec.port;
    this.targetPort[s] = spec.targetPort;
    this.affinityMs[s] = spec.affinityMs;
    this.rebuild();
    return left;
  }

  /** Removes a service; the slots of its backends, for their flows to be removed. */
  remove(s: number): number[] {
    if (s < 0 || s >= MAX_SERVICES || this.used[s] === 0) return [];
    const left: number[] = [];
    for (let b = s * MAX_BACKENDS; b < (s + 1) * MAX_BACKENDS; b++) {
      if (this.backendUsed[b] === 0) continue;
      this.backendUsed[b] = 0;
      left.push(b);
    }
    this.used[s] = 0;
    this.count--;
    this.rebuild();
    return left;
  }

  /** The service a backend slot belongs to. */
  static serviceOf(b: number): number {
    return Math.floor(b / MAX_BACKENDS);
  }

  /** Number of services on network slot `network`. */
  servicesOn(network: number): number {
    let n = 0;
    for (let s = 0; s < MAX_SERVICES; s++) if (this.used[s] !== 0 && this.network[s] === network) n++;
    return n;
  }

  private rebuild(): void {
    this.keyIndex.fill(-1);
    this.vipSet.fill(0);
    this.backendSet.fill(0);
    this.backendAddresses = 0;
    for (let s = 0; s < MAX_SERVICES; s++) {
      this.readyCount[s] = 0;
      this.localCount[s] = 0;
      if (this.used[s] === 0) continue;
      let i = mix(this.vip[s], (this.proto[s] << 16) | this.port[s]) & (KEY_SLOTS - 1);
      while (this.keyIndex[i] >= 0) i = (i + 1) & (KEY_SLOTS - 1);
      this.keyIndex[i] = s;
      ServiceTable.add(this.vipSet, this.vip[s]);
      const base = s * MAX_BACKENDS;
      for (let k = 0; k < MAX_BACKENDS; k++) {
        const b = base + k;
        if (this.backendUsed[b] === 0) continue;
        this.ready[base + this.readyCount[s]++] = b;
        if (this.backendLocal[b] !== 0) this.localReady[base + this.localCount[s]++] = b;
        ServiceTable.add(this.backendSet, this.backendIp[b]);
        this.backendAddresses++;
      }
    }
  }
}
