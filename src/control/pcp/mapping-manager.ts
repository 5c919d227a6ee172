// Explicit mappings asked for by containers (PCP MAP/PEER, NAT-PMP): their lifetimes, the limit
// per endpoint, removal when the endpoint disconnects, the epoch, and the state file that lets
// them outlive a daemon restart. The data plane holds the pins (pinMapping: an inside ip:port
// bound to one outside port of the uplink, reachable from anywhere); it has no timers for them,
// so this manager unpins each at expiry. One pin serves every mapping of the same inside ip:port.

import { ipv4ToString } from '../../wire/ipv4-address.js';
import type { MappingRemoval, PcpStats } from './pcp-stats.js';

/** The data plane's side (DataplaneControl.pinMapping/unpinMapping across the worker boundary). */
export interface MappingPins {
  pinMapping(spec: { proto: 6 | 17; insideIp: number; insidePort: number; outsidePort: number; exact: boolean; open: boolean }): Promise<number>;
  unpinMapping(proto: 6 | 17, insideIp: number, insidePort: number): Promise<void>;
}

export type MappingSource = 'pcp' | 'nat-pmp';

export interface ExplicitMapping {
  source: MappingSource;
  /** PEER mappings name their remote peer; MAP and NAT-PMP ones do not */
  opcode: 'map' | 'peer';
  proto: 6 | 17;
  internalIp: number;
  internalPort: number;
  externalPort: number;
  /** PCP's mapping nonce (hex), null for NAT-PMP */
  nonce: string | null;
  remoteIp: number;
  remotePort: number;
  /** the client's source port when it last asked (unicast ANNOUNCE goes there) */
  clientPort: number;
  /** expiry, ms on the manager's clock (wall clock: it is saved) */
  expiresAt: number;
}

export interface MapRequest {
  source: MappingSource;
  opcode: 'map' | 'peer';
  proto: 6 | 17;
  internalIp: number;
  internalPort: number;
  /** 0: any */
  suggestedPort: number;
  /** PREFER_FAILURE: the suggested port or nothing */
  exact: boolean;
  /** seconds wanted, > 0 */
  lifetime: number;
  nonce: string | null;
  remoteIp: number;
  remotePort: number;
  clientPort: number;
}

export type MapRefusal = 'not_authorized' | 'no_resources' | 'cannot_provide_external';
export type MapOutcome = { ok: true; mapping: ExplicitMapping; lifetime: number } | { ok: false; refusal: MapRefusal; message: string };

/** What the state file holds. */
export interface SavedMappings {
  version: 1;
  /** wall-clock ms the epoch counts from */
  epochStart: number;
  mappings: ExplicitMapping[];
}

export interface MappingStateFile {
  load(): SavedMappings | null;
  save(s: SavedMappings): void;
}

export interface MappingManagerOptions {
  pins: MappingPins;
  maxMappingsPerEndpoint: number;
  maxLifetimeSeconds: number;
  stats: PcpStats;
  /** ms; Date.now in the daemon, a fake in tests */
  clock?: () => number;
  /** null: nothing survives a restart */
  store?: MappingStateFile | null;
  /** a failure to save or unpin: logged, never thrown at a client */
  warn?: (msg: string, err: Error) => void;
}

const pinKey = (proto: number, ip: number, port: number): string => `${proto}/${ip >>> 0}/${port}`;

function keyOf(m: { opcode: 'map' | 'peer'; proto: number; internalIp: number; internalPort: number; remoteIp: number; remotePort: number }): string {
  const pin = pinKey(m.proto, m.internalIp, m.internalPort);
  return m.opcode === 'peer' ? `${pin}/peer/${m.remoteIp >>> 0}:${m.remotePort}` : pin;
}

/** Why pinMapping refused, from its message: which result the client gets. */
function refusalOf(err: Error, exact: boolean): MapRefusal {
  return exact && /in use|published|already mapped/i.test(err.message) ? 'cannot_provide_external' : 'no_resources';
}

export class MappingManager {
  private readonly mappings = new Map<string, ExplicitMapping>();
  private readonly clock: () => number;
  private epochStart: number;
  /** operations one at a time: each awaits the data plane, and two must not pick one port */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: MappingManagerOptions) {
    this.clock = o.clock ?? Date.now;
    this.epochStart = this.clock();
  }

  /** Seconds since the mapping state began (RFC 6887 §8.5, RFC 6886 §3.6). */
  epoch(): number {
    return Math.max(0, Math.floor((this.clock() - this.epochStart) / 1000)) >>> 0;
  }

  get size(): number {
    return this.mappings.size;
  }

  list(): ExplicitMapping[] {
    return [...this.mappings.values()];
  }

  mappingsOf(ip: number): ExplicitMapping[] {
    return this.list().filter((m) => m.internalIp === ip >>> 0);
  }

  /** Seconds left of a mapping (0 once due). */
  remaining(m: ExplicitMapping): number {
    return Math.max(0, Math.ceil((m.expiresAt - this.clock()) / 1000));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Creates or renews a mapping; the lifetime granted is at most maxLifetimeSeconds. */
  request(req: MapRequest): Promise<MapOutcome> {
    return this.serial(async () => {
      const key = keyOf({ ...req, internalIp: req.internalIp >>> 0 });
      const lifetime = Math.min(req.lifetime, this.o.maxLifetimeSeconds);
      const expiresAt = this.clock() + lifetime * 1000;
      const old = this.mappings.get(key);
      if (old !== undefined) {
        // PCP: only the nonce that made a mapping renews it (RFC 6887 §11.3); NAT-PMP has none
        if (req.nonce !== null && old.nonce !== null && old.nonce !== req.nonce) {
          return { ok: false, refusal: 'not_authorized', message: 'the mapping belongs to another nonce' };
        }
        if (req.nonce !== null) old.nonce = req.nonce;
        old.expiresAt = expiresAt;
        old.clientPort = req.clientPort;
        this.save();
        return { ok: true, mapping: old, lifetime };
      }
      if (this.mappingsOf(req.internalIp).length >= this.o.maxMappingsPerEndpoint) {
        return { ok: false, refusal: 'no_resources', message: `${ipv4ToString(req.internalIp)} holds ${this.o.maxMappingsPerEndpoint} mappings already` };
      }
      let externalPort: number;
      try {
        externalPort = await this.o.pins.pinMapping({
          proto: req.proto,
          insideIp: req.internalIp >>> 0,
          insidePort: req.internalPort,
          outsidePort: req.suggestedPort,
          exact: req.exact,
          // a PEER mapping is only kept alive: its filtering stays the masquerade's (RFC 6887 §12)
          open: req.opcode === 'map' || this.opensPin(pinKey(req.proto, req.internalIp >>> 0, req.internalPort)),
        });
      } catch (err) {
        return { ok: false, refusal: refusalOf(err as Error, req.exact), message: (err as Error).message };
      }
      const m: ExplicitMapping = {
        source: req.source,
        opcode: req.opcode,
        proto: req.proto,
        internalIp: req.internalIp >>> 0,
        internalPort: req.internalPort,
        externalPort,
        nonce: req.nonce,
        remoteIp: req.remoteIp >>> 0,
        remotePort: req.remotePort,
        clientPort: req.clientPort,
        expiresAt,
      };
      this.mappings.set(key, m);
      this.o.stats.created++;
      this.save();
      return { ok: true, mapping: m, lifetime };
    });
  }

  /**
   * Deletes the mapping of one inside port (lifetime 0). PCP's nonce must match when the mapping
   * has one. Deleting what does not exist succeeds (RFC 6887 §15: the client wants it gone).
   */
  delete(q: { opcode: 'map' | 'peer'; proto: 6 | 17; internalIp: number; internalPort: number; nonce: string | null; remoteIp?: number; remotePort?: number }): Promise<'deleted' | 'not_authorized'> {
    return this.serial(async () => {
      const key = keyOf({ ...q, internalIp: q.internalIp >>> 0, remoteIp: q.remoteIp ?? 0, remotePort: q.remotePort ?? 0 });
      const m = this.mappings.get(key);
      if (m === undefined) return 'deleted';
      if (q.nonce !== null && m.nonce !== null && m.nonce !== q.nonce) return 'not_authorized';
      await this.drop([key], 'deleted');
      return 'deleted';
    });
  }

  /** Deletes every mapping of a client (NAT-PMP internal port 0 / PCP "all ports"); proto 0: all protocols. */
  deleteAll(internalIp: number, proto: number, nonce: string | null): Promise<number> {
    return this.serial(async () => {
      const keys: string[] = [];
      for (const [k, m] of this.mappings) {
        if (m.internalIp !== internalIp >>> 0 || (proto !== 0 && m.proto !== proto)) continue;
        if (nonce !== null && m.nonce !== null && m.nonce !== nonce) continue;
        keys.push(k);
      }
      await this.drop(keys, 'deleted');
      return keys.length;
    });
  }

  /** The endpoint left its network: its mappings go with it. */
  endpointGone(ip: number): Promise<void> {
    return this.serial(async () => {
      const keys = [...this.mappings].filter(([, m]) => m.internalIp === ip >>> 0).map(([k]) => k);
      await this.drop(keys, 'disconnected');
    });
  }

  /** Removes the mappings whose lifetime ran out (the daemon calls this every second). */
  sweep(): Promise<number> {
    return this.serial(async () => {
      const now = this.clock();
      const keys = [...this.mappings].filter(([, m]) => m.expiresAt <= now).map(([k]) => k);
      await this.drop(keys, 'expired');
      return keys.length;
    });
  }

  private async drop(keys: string[], reason: MappingRemoval): Promise<void> {
    if (keys.length === 0) return;
    const gone: ExplicitMapping[] = [];
    for (const k of keys) {
      const m = this.mappings.get(k);
      if (m === undefined) continue;
      this.mappings.delete(k);
      gone.push(m);
    }
    this.o.stats.removed(reason, gone.length);
    const pins = new Set<string>();
    for (const m of gone) pins.add(pinKey(m.proto, m.internalIp, m.internalPort));
    // a pin stays while another mapping (a MAP beside a PEER) of the same inside port holds it
    for (const m of this.mappings.values()) pins.delete(pinKey(m.proto, m.internalIp, m.internalPort));
    for (const m of gone) {
      const p = pinKey(m.proto, m.internalIp, m.internalPort);
      if (pins.delete(p)) {
        await this.o.pins.unpinMapping(m.proto, m.internalIp, m.internalPort).catch((err: Error) => this.o.warn?.('cannot unpin a mapping', err));
      } else if (m.opcode === 'map' && !this.opensPin(p)) {
        // the PEER mappings left keep the port alive, no longer open to every outside host
        await this.o.pins
          .pinMapping({ proto: m.proto, insideIp: m.internalIp, insidePort: m.internalPort, outsidePort: m.externalPort, exact: true, open: false })
          .catch((err: Error) => this.o.warn?.('cannot close a mapping', err));
      }
    }
    this.save();
  }

  /** True when a MAP (or NAT-PMP) mapping holds the pin `key`: it is open to every outside host. */
  private opensPin(key: string): boolean {
    for (const m of this.mappings.values()) if (m.opcode === 'map' && pinKey(m.proto, m.internalIp, m.internalPort) === key) return true;
    return false;
  }

  /**
   * At start: takes back the saved mappings still alive whose endpoints are still attached
   * (`attached`), pinning each on its old port. The epoch continues when all came back and
   * restarts at 0 when any was lost (clients then refresh theirs, RFC 6887 §8.5). Returns the
   * clients known (for unicast ANNOUNCE).
   */
  restore(attached: (ip: number) => boolean): Promise<{ adopted: number; lost: number; clients: { ip: number; port: number }[] }> {
    return this.serial(async () => {
      const saved = this.o.store?.load() ?? null;
      const now = this.clock();
      let adopted = 0;
      let lost = 0;
      const clients = new Map<number, number>();
      // the data plane's tables may have survived the restart: what is not taken back is unpinned
      const release = (m: ExplicitMapping): Promise<void> =>
        this.o.pins.unpinMapping(m.proto, m.internalIp, m.internalPort).catch((err: Error) => this.o.warn?.('cannot unpin a mapping', err));
      for (const m of saved?.mappings ?? []) {
        if (m.expiresAt <= now) {
          await release(m);
          continue;
        }
        clients.set(m.internalIp, m.clientPort);
        if (!attached(m.internalIp)) {
          await release(m);
          lost++;
          continue;
        }
        try {
          const key = pinKey(m.proto, m.internalIp, m.internalPort);
          const open = m.opcode === 'map' || (saved?.mappings ?? []).some((o) => o.opcode === 'map' && o.expiresAt > now && pinKey(o.proto, o.internalIp, o.internalPort) === key);
          const port = await this.o.pins.pinMapping({ proto: m.proto, insideIp: m.internalIp, insidePort: m.internalPort, outsidePort: m.externalPort, exact: true, open });
          if (port !== m.externalPort) throw new Error(`pinned on ${port}, not ${m.externalPort}`);
          this.mappings.set(keyOf(m), { ...m });
          adopted++;
        } catch (err) {
          this.o.warn?.('cannot take back a saved mapping', err as Error);
          lost++;
        }
      }
      if (lost > 0) this.o.stats.removed('lost', lost);
      this.epochStart = saved !== null && lost === 0 ? saved.epochStart : now;
      this.save();
      return { adopted, lost, clients: [...clients].map(([ip, port]) => ({ ip, port })) };
    });
  }

  private save(): void {
    const store = this.o.store;
    if (store == null) return;
    try {
      store.save({ version: 1, epochStart: this.epochStart, mappings: this.list() });
    } catch (err) {
      this.o.warn?.('cannot save the PCP mappings', err as Error);
    }
  }
}
