// The cluster store's events: start() reads the state, replays it, then watches the prefix from the
// next revision. When the watch breaks, the state is read again, the difference is emitted, and a
// new watch starts from there: the caller sees every change once, in order, without polling.
// What the keys under the prefix mean is a WatchSpace's business: the members of pontoon's own
// prefix (memberSpace), or the subnet leases of a routed overlay under flannel's (etcd-subnets.ts).

import type { IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { ClusterEvent, OverlayEndpointDef, OverlayNetworkDef } from './cluster-store.js';
import { jitter, reasonOf, type EtcdConnection } from './etcd-connection.js';
import { parseJson, type EtcdKeys, type Member } from './etcd-keys.js';
import { getUnder, kvsOf } from './etcd-txn.js';

interface Seen {
  value: string;
  mod: bigint;
}

/** The keys one watch follows and the events they make. */
/** `E`: the events the keys make (the cluster store's by default; services have their own). */
export interface WatchSpace<E extends { kind: string } = ClusterEvent> {
  /** the prefix watched, e.g. "/pontoon/" */
  readonly prefix: string;
  /** the directories read together (in one revision) when the state is read */
  readonly dirs: string[];
  /**
   * The order a key's events are replayed in after a read (null: the key makes none): the keys of
   * rank 0 appear first, then every key gone disappears, highest rank first, then the keys of
   * higher ranks appear, lowest first (networks, then their VTEPs, then their endpoints).
   */
  rank(key: string): number | null;
  /** the event of a key that appeared or changed (null: none, e.g. a value that is not JSON: logged) */
  up(key: string, value: string): E | null;
  down(key: string): E | null;
}

const MEMBER_RANK: Record<Member['kind'], number> = { network: 0, vtep: 1, endpoint: 2 };

/** pontoon's own prefix: networks, their VTEPs and endpoints (etcd-keys.ts); `onNetworkGone` runs before a network-removed event. */
export function memberSpace(keys: EtcdKeys, log: Logger, onNetworkGone: (networkId: string) => void): WatchSpace {
  return {
    prefix: `${keys.p}/`,
    dirs: keys.memberDirs(),
    rank: (key) => {
      const m = keys.classify(key);
      return m === null ? null : MEMBER_RANK[m.kind];
    },
    up: (key, value) => {
      const m = keys.classify(key);
      if (m === null) return null;
      if (m.kind === 'vtep') return { kind: 'vtep-up', networkId: m.networkId, vtep: m.vtep };
      const parsed = parseJson<OverlayNetworkDef & OverlayEndpointDef>(value);
      if (parsed === undefined || typeof parsed !== 'object' || parsed === null) {
        log.warn({ key, value }, 'cluster store: ignoring a key that is not JSON');
        return null;
      }
      return m.kind === 'network' ? { kind: 'network-added', network: parsed } : { kind: 'endpoint-up', endpoint: parsed };
    },
    down: (key) => {
      const m = keys.classify(key);
      if (m === null) return null;
      if (m.kind === 'network') {
        onNetworkGone(m.networkId);
        return { kind: 'network-removed', networkId: m.networkId };
      }
      if (m.kind === 'vtep') return { kind: 'vtep-down', networkId: m.networkId, vtep: m.vtep };
      return { kind: 'endpoint-down', networkId: m.networkId, endpointId: m.endpointId };
    },
  };
}

export interface ClusterWatchOptions<E extends { kind: string } = ClusterEvent> {
  conn: EtcdConnection;
  space: WatchSpace<E>;
  log: Logger;
}

export class ClusterWatch<E extends { kind: string } = ClusterEvent> {
  private readonly conn: EtcdConnection;
  private readonly space: WatchSpace<E>;
  private readonly log: Logger;

  private onEvent: (e: E) => void = () => undefined;

  // what the caller was told
  private known = new Map<string, Seen>();
  private syncedRev = 0n;
  private watcher: Watcher | null = null;
  private watchBroken: (() => void) | null = null;
  private watchLoopDone: Promise<void> | null = null;

  constructor(opts: ClusterWatchOptions<E>) {
    this.conn = opts.conn;
    this.space = opts.space;
    this.log = opts.log;
  }

  /** Reads and replays the state, watches from the next revision, and keeps watching until stop(). */
  async start(onEvent: (e: E) => void): Promise<void> {
    this.onEvent = onEvent;
    const rev = await this.resync();
    const w = await this.createWatcher(rev + 1n);
    this.watchLoopDone = this.watchLoop(w);
  }

  private emit(e: E): void {
    try {
      this.onEvent(e);
    } catch (err) {
      this.log.error({ err: reasonOf(err), event: e.kind }, 'cluster store: the event handler failed');
    }
  }

  /** Reads the keys in one revision, emits what differs from what the caller was told, returns the revision. */
  private async resync(): Promise<bigint> {
    const { dirs } = this.space;
    const res = await this.conn.txn([], dirs.map((d) => getUnder(d)));
    const next = new Map<string, Seen>();
    for (let i = 0; i < dirs.length; i++) {
      for (const kv of kvsOf(res, i)) {
        const key = kv.key.toString();
        if (this.space.rank(key) !== null) next.set(key, { value: kv.value.toString(), mod: BigInt(kv.mod_revision) });
      }
    }
    const prev = this.known;
    const ranked = (m: Map<string, Seen>, order: 1 | -1) =>
      [...m.entries()]
        .map(([k, s]) => ({ k, s, r: this.space.rank(k)! }))
        .sort((a, b) => (a.r !== b.r ? (a.r - b.r) * order : a.s.mod < b.s.mod ? -1 : a.s.mod > b.s.mod ? 1 : 0));
    const changed = (e: { k: string; s: Seen }) => prev.get(e.k)?.value !== e.s.value;
    const gone = (e: { k: string }) => !next.has(e.k);
    this.known = next;
    this.syncedRev = BigInt(res.header.revision);
    const ups = ranked(next, 1).filter(changed);
    for (const e of ups.filter((u) => u.r === 0)) this.emitUp(e.k, e.s.value);
    for (const e of ranked(prev, -1).filter(gone)) this.emitDown(e.k);
    for (const e of ups.filter((u) => u.r > 0)) this.emitUp(e.k, e.s.value);
    return this.syncedRev;
  }

  private emitUp(key: string, value: string): void {
    const e = this.space.up(key, value);
    if (e !== null) this.emit(e);
  }

  private emitDown(key: string): void {
    const e = this.space.down(key);
    if (e !== null) this.emit(e);
  }

  private onWatchData(w: Watcher, res: IWatchResponse): void {
    if (w !== this.watcher || this.conn.closed) return;
    try {
      for (const ev of res.events) {
        const key = ev.kv.key.toString();
        if (this.space.rank(key) === null) continue;
        const mod = BigInt(ev.kv.mod_revision);
        if (mod <= this.syncedRev) continue; // the last read already had it
        if (ev.type === 'Put') {
          const value = ev.kv.value.toString();
          const seen = this.known.get(key);
          this.known.set(key, { value, mod });
          if (seen?.value !== value) this.emitUp(key, value); // the same value under a new lease is no news
        } else if (this.known.delete(key)) {
          this.emitDown(key);
        }
      }
    } catch (err) {
      this.log.error({ err: reasonOf(err) }, 'cluster store: cannot handle a watch response');
    }
  }

  /** A watcher on the prefix from revision `from`, once etcd confirmed it. */
  private async createWatcher(from: bigint): Promise<Watcher> {
    const w = this.conn.client.watch().prefix(this.space.prefix).startRevision(from.toString()).watcher();
    this.watcher = w;
    w.on('data', (res) => this.onWatchData(w, res));
    // 'error': etcd cancelled the watch and etcd3 dropped it; otherwise it is still attached
    let settle: ((r: { err?: unknown; attached: boolean }) => void) | undefined;
    const outcome = new Promise<{ err?: unknown; attached: boolean }>((resolve) => (settle = resolve));
    w.on('connected', () => settle?.({ attached: true }));
    w.on('disconnected', (err) => {
      if (settle !== undefined) return settle({ err: err ?? new Error('disconnected'), attached: true });
      this.watcherBroke(w, err, true);
    });
    w.on('error', (err) => {
      if (settle !== undefined) return settle({ err: err ?? new Error('watch failed'), attached: false });
      this.watcherBroke(w, err, false);
    });
    const timer = setTimeout(
      () => settle?.({ err: new Error(`watch not confirmed within ${this.conn.callTimeoutMs} ms`), attached: true }),
      this.conn.callTimeoutMs,
    );
    const { err, attached } = await outcome;
    clearTimeout(timer);
    settle = undefined;
    if (err !== undefined || this.conn.closed) {
      void this.dropWatcher(w, attached);
      if (err !== undefined) this.conn.markDown(err);
      throw this.conn.unavailable(err === undefined ? 'the store is closed' : reasonOf(err));
    }
    this.conn.markUp();
    return w;
  }

  private watcherBroke(w: Watcher, err: unknown, stillAttached: boolean): void {
    if (w !== this.watcher) return;
    this.conn.markDown(err);
    this.log.warn({ err: reasonOf(err) }, 'cluster store: the etcd watch broke; reading the state again');
    void this.dropWatcher(w, stillAttached);
    this.watchBroken?.();
  }

  /**
   * Forgets a watcher. After 'disconnected' etcd3 would reattach it by itself; it is detached
   * instead, since the loop reads the state and watches again. After 'error' (etcd cancelled the
   * watch, e.g. compacted) etcd3 already dropped it, and cancel() would wait forever.
   */
  private dropWatcher(w: Watcher, stillAttached: boolean): Promise<void> {
    if (this.watcher === w) this.watcher = null;
    if (!stillAttached) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([w.cancel(), new Promise<void>((r) => (timer = setTimeout(r, 1000)))])
      .catch(() => undefined)
      .finally(() => clearTimeout(timer));
  }

  /** Until the store closes: waits for the watch to break, then reads the state again and watches from there. */
  private async watchLoop(first: Watcher): Promise<void> {
    let w: Watcher | null = first;
    let delay = 100;
    let failures = 0;
    while (!this.conn.closed) {
      if (w !== null) {
        const current = w;
        await new Promise<void>((resolve) => {
          this.watchBroken = resolve;
          if (this.watcher !== current || this.conn.closed) resolve();
        });
        this.watchBroken = null;
        w = null;
        continue;
      }
      try {
        const rev = await this.resync();
        w = await this.createWatcher(rev + 1n);
        if (failures > 0) this.log.info({ revision: String(rev) }, 'cluster store: watching etcd again');
        failures = 0;
        delay = 100;
      } catch (err) {
        if (this.conn.closed) return;
        failures++;
        const fields = { err: reasonOf(err), retryInMs: delay };
        if (failures === 1) this.log.warn(fields, 'cluster store: cannot watch etcd yet; retrying');
        else this.log.debug(fields, 'cluster store: cannot watch etcd yet; retrying');
        await this.conn.sleep(jitter(delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  /**
   * Once the connection is shut: wakes the loop and detaches the watcher (an attached watcher's
   * stream would outlive the client).
   */
  async stop(): Promise<void> {
    const w = this.watcher;
    this.watchBroken?.();
    if (w !== null) await this.dropWatcher(w, true);
  }

  /** The watch loop, settled once it has stopped. */
  loopDone(): Promise<void> {
    return this.watchLoopDone ?? Promise.resolve();
  }
}
