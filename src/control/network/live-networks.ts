// The networks while the daemon runs, found by name, id or id prefix, and the state file they are
// saved to: what it keeps is derived from them on every save, never kept beside them.

import type { Logger } from 'pino';
import { ApiFailure } from '../gateway-api.js';
import { type LiveEndpoint, type LiveNetwork, networkRecord } from '../live-network.js';
import type { PortMapping } from '../publish.js';
import type { DockerState, PersistedState, StateStore } from '../state-store.js';

/** What the service needs of the state store. */
export type StateFile = Pick<StateStore, 'load' | 'save'>;

export class LiveNetworks {
  private readonly byId = new Map<string, LiveNetwork>();
  /** data-plane slots of networks being activated, not yet in byId */
  private readonly reservedSlots = new Set<number>();
  /** what Docker's drivers keep: as loaded until the drivers give theirs (kept even with them off) */
  private docker: DockerState | (() => DockerState) | undefined;

  constructor(
    private readonly store: StateFile,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.byId.size;
  }

  values(): IterableIterator<LiveNetwork> {
    return this.byId.values();
  }

  get(id: string): LiveNetwork | undefined {
    return this.byId.get(id);
  }

  /** By name, then by id (pontoon's or Docker's), then by an unambiguous prefix of at least 3 characters of either. */
  find(nameOrId: string): LiveNetwork | undefined {
    for (const n of this.byId.values()) if (n.record.name === nameOrId) return n;
    const byId = this.byId.get(nameOrId);
    if (byId !== undefined) return byId;
    for (const n of this.byId.values()) if (n.record.dockerNetworkId === nameOrId) return n;
    if (nameOrId.length >= 3) {
      const matches = [...this.byId.values()].filter((n) => n.record.id.startsWith(nameOrId) || n.record.dockerNetworkId?.startsWith(nameOrId) === true);
      if (matches.length === 1) return matches[0];
    }
    return undefined;
  }

  require(nameOrId: string): LiveNetwork {
    const n = this.find(nameOrId);
    if (n === undefined) throw new ApiFailure(404, `network ${nameOrId} not found`);
    return n;
  }

  add(live: LiveNetwork): void {
    this.byId.set(live.record.id, live);
  }

  delete(id: string): void {
    this.byId.delete(id);
  }

  /**
   * A free data-plane slot, taken until releaseSlot: an API request and a cluster event may
   * activate two networks at the same time.
   */
  reserveSlot(): number {
    const used = new Set([...this.byId.values()].map((n) => n.index));
    for (let i = 0; ; i++) {
      if (used.has(i) || this.reservedSlots.has(i)) continue;
      this.reservedSlots.add(i);
      return i;
    }
  }

  releaseSlot(index: number): void {
    this.reservedSlots.delete(index);
  }

  /** Every endpoint of every network, with its network. */
  *endpoints(): Generator<{ live: LiveNetwork; ep: LiveEndpoint }> {
    for (const live of this.byId.values()) for (const ep of live.endpoints.values()) yield { live, ep };
  }

  /** Every published port, with the endpoint and the network that hold it. */
  *mappings(): Generator<{ live: LiveNetwork; ep: LiveEndpoint; m: PortMapping }> {
    for (const { live, ep } of this.endpoints()) for (const m of ep.record.ports) yield { live, ep, m };
  }

  /** What the state file holds; nothing saved yet: no networks. */
  load(): PersistedState {
    const state = this.store.load() ?? { version: 1, networks: [] };
    this.docker ??= state.docker;
    return state;
  }

  /** The Docker section of the state file as loaded (before the drivers keep their own). */
  savedDockerState(): DockerState | undefined {
    return typeof this.docker === 'function' ? undefined : this.docker;
  }

  /** From now on the state file's Docker section is what `current` gives at each save. */
  keepDockerState(current: () => DockerState): void {
    this.docker = current;
  }

  /** Writes every network and its endpoints (and Docker's drivers' state) to the state file; throws when it cannot. */
  save(): void {
    const docker = typeof this.docker === 'function' ? this.docker() : this.docker;
    this.store.save({ version: 1, networks: [...this.byId.values()].map(networkRecord), ...(docker !== undefined ? { docker } : {}) });
  }

  /** save(), with a failure logged instead of thrown: for clean-ups that must go on. */
  trySave(): void {
    try {
      this.save();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'cannot save state');
    }
  }
}
