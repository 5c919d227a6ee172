// The cluster store's events: start() reads the state, replays it, then watches the prefix from the
// next revision. When the watch breaks, the state is read again, the difference is emitted, and a
// new watch starts from there: the caller sees every change once, in order, without polling.

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

export interface ClusterWatchOptions {
  conn: EtcdConnection;
  keys: EtcdKeys;
  log: Logger;
  /** called when a network is gone, before its network-removed event */
  onNetworkGone: (networkId: string) => void;
}

export class ClusterWatch {
  private readonly conn: EtcdConnection;
  private readonly keys: EtcdKeys;
  private readonly log: Logger;
  private readonly onNetworkGone: (networkId: string) => void;

  private onEvent: (e: ClusterEvent) => void = () => undefined;

  // what the caller was told
  private known = new Map<string, Seen>();
  private syncedRev = 0n;
  private watcher: Watcher | null = null;
  private watchBroken: (() => void) | null = null;
  private watchLoopDone: Promise<void> | null = null;

  constructor(opts: ClusterWatchOptions) {
    this.conn = opts.conn;
    this.keys = opts.keys;
    this.log = opts.log;
    this.onNetworkGone = opts.onNetworkGone;
  }

  /** Reads and replays the state, watches from the next revision, and keeps watching until stop(). */
  async start(onEvent: (e: ClusterEvent) => void): Promise<void> {
    this.onEvent = onEvent;
    const rev = await this.resync();
    const w = await this.createWatcher(rev + 1n);
    this.watchLoopDone = this.watchLoop(w);
  }

  private emit(e: ClusterEvent): void {
    try {
      this.onEvent(e);
    } catch (err) {
      this.log.error({ err: reasonOf(err), event: e.kind }, 'cluster store: the event handler failed');
    }
  }

  /** Reads the members in one revision, emits what differs from what the caller was told, returns the revision. */
  private async resync(): Promise<bigint> {
    const dirs = this.keys.memberDirs();
    const res = await this.conn.txn([], dirs.map((d) => getUnder(d)));
    const next = new Map<string, Seen>();
    for (let i = 0; i < dirs.length; i++) {
      for (const kv of kvsOf(res, i)) {
        const key = kv.key.toString();
        if (this.keys.classify(key) !== null) next.set(key, { value: kv.value.toString(), mod: BigInt(kv.mod_revision) });
      }
    }
    const prev = this.known;
    const byKind = (m: Map<string, Seen>, kind: Member['kind']) =>
      [...m.entries()].filter(([k]) => this.keys.classify(k)?.kind === kind).sort((a, b) => (a[1].mod < b[1].mod ? -1 : a[1].mod > b[1].mod ? 1 : 0));
    const changed = ([k, s]: [string, Seen]) => prev.get(k)?.value !== s.value;
    const gone = ([k]: [string, Seen]) => !next.has(k);
    this.known = next;
    this.syncedRev = BigInt(res.header.revision);
    for (const [k, s] of byKind(next, 'network').filter(changed)) this.emitUp(k, s.value);
    for (const [k] of byKind(prev, 'endpoint').filter(gone)) this.emitDown(k);
    for (const [k] of byKind(prev, 'vtep').filter(gone)) this.emitDown(k);
    for (const [k] of byKind(prev, 'network').filter(gone)) this.emitDown(k);
    for (const [k, s] of byKind(next, 'vtep').filter(changed)) this.emitUp(k, s.value);
    for (const [k, s] of byKind(next, 'endpoint').filter(changed)) this.emitUp(k, s.value);
    return this.syncedRev;
  }

  private emitUp(key: string, value: string): void {
    const m = this.keys.classify(key);
    if (m === null) return;
    if (m.kind === 'vtep') return this.emit({ kind: 'vtep-up', networkId: m.networkId, vtep: m.vtep });
    const parsed = parseJson<OverlayNetworkDef & OverlayEndpointDef>(value);
    if (parsed === undefined || typeof parsed !== 'object') {
      this.log.warn({ key, value }, 'cluster store: ignoring a key that is not JSON');
      return;
    }
    if (m.kind === 'network') this.emit({ kind: 'network-added', network: parsed });
    else this.emit({ kind: 'endpoint-up', endpoint: parsed });
  }

  private emitDown(key: string): void {
    const m = this.keys.classify(key);
    if (m === null) return;
    if (m.kind === 'network') {
      this.onNetworkGone(m.networkId);
      this.emit({ kind: 'network-removed', networkId: m.networkId });
    } else if (m.kind === 'vtep') {
      this.emit({ kind: 'vtep-down', networkId: m.networkId, vtep: m.vtep });
    } else {
      this.emit({ kind: 'endpoint-down', networkId: m.networkId, endpointId: m.endpointId });
    }
  }

  private onWatchData(w: Watcher, res: IWatchResponse): void {
    if (w !== this.watcher || this.conn.closed) return;
    try {
      for (const ev of res.events) {
        const key = ev.kv.key.toString();
        if (this.keys.classify(key) === null) continue;
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
    const w = this.conn.client.watch().prefix(`${this.keys.p}/`).startRevision(from.toString()).watcher();
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
