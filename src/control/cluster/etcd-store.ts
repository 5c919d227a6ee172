// The cluster store in etcd (v3 API), as flannel and Docker's classic overlay keep theirs: the
// overlay networks, their address allocations and their members (VTEPs, endpoints) are keys under
// one prefix; what a host registers lives under that host's lease, so it vanishes from the other
// hosts within the lease TTL when the host dies.
//
// Keys (values are JSON):
//   <prefix>/networks/<id>              OverlayNetworkDef                    no lease
//   <prefix>/names/<name>               "<id>"                               no lease
//   <prefix>/vnis/<vni>                 "<id>"                               no lease
//   <prefix>/ipam/<network>/<ip>        {"owner": ..., "host": <hostId>}     this host's lease
//   <prefix>/vteps/<network>/<vtep>     {"vtep": <vtep>}                     this host's lease
//   <prefix>/endpoints/<network>/<id>   OverlayEndpointDef                   this host's lease
//
// A network, its name and its VNI are created and removed in one transaction, so names and VNIs are
// unique cluster-wide; an address is claimed with "put if the key does not exist yet", so two hosts
// never get the same one; an endpoint, a VTEP or an address is only written while its network
// exists, and a network is only removed while no endpoint key exists under it (same transaction).
//
// The host's lease: granted on first use, kept alive by the etcd3 client. Every lease-bound key this
// host wrote is also recorded here; when the lease is lost (revoked, expired because etcd or the
// network was away longer than the TTL), a new one is granted and every recorded key is written
// again under it, retrying with backoff until etcd answers. An address whose key vanished and was
// claimed by another host meanwhile is not taken back (logged as an error).
//
// Events: start() reads the state, replays it, then watches the prefix from the next revision. When
// the watch breaks, the state is read again, the difference is emitted, and a new watch starts from
// there: the caller sees every change once, in order, without polling.

import { Etcd3, EtcdLeaseInvalidError, type ICompare, type IKeyValue, type IOptions, type IRequestOp, type ITxnResponse, type IWatchResponse, type Lease, type Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { ApiFailure } from '../gateway-api.js';
import type { ClusterEvent, ClusterStore, OverlayEndpointDef, OverlayNetworkDef } from './cluster-store.js';

export interface EtcdStoreOptions {
  /** etcd client URLs, e.g. http://192.0.2.10:2379 */
  endpoints: string[];
  /** key prefix, e.g. "/pontoon" */
  prefix: string;
  /** this host's underlay address: its VTEP */
  hostId: string;
  leaseTtlSeconds: number;
  log: Logger;
  /** deadline of each call to etcd (default 3000 ms) */
  callTimeoutMs?: number;
}

/** A lease-bound key this host wrote, written again under the new lease when the lease is lost. */
interface Registration {
  key: string;
  value: string;
  networkId: string;
  kind: 'vtep' | 'endpoint' | 'ipam';
}

type Member =
  | { kind: 'network'; networkId: string }
  | { kind: 'vtep'; networkId: string; vtep: string }
  | { kind: 'endpoint'; networkId: string; endpointId: string };

interface Seen {
  value: string;
  mod: bigint;
}

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type Policy = NonNullable<FaultHandling['global']>;

/**
 * A fault-handling policy that just runs the call. etcd3's defaults retry failed calls three times
 * (a transaction that timed out but was applied would run twice, and a dead etcd would take three
 * deadlines to report) and open a circuit breaker for 5 s after three failures (the host stays
 * unusable for 5 s after etcd is back). This store retries in its background loops instead.
 */
const JUST_RUN = {
  execute: async (fn: (context: { signal: AbortSignal }) => unknown) => fn({ signal: new AbortController().signal }),
} as unknown as Policy;

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

/** The end of the key range holding every key that starts with `p`. */
function prefixEnd(p: Buffer): Buffer {
  const end = Buffer.from(p);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

const absent = (key: string): ICompare => ({ key: enc(key), target: 'Version', result: 'Equal', version: 0 });
const present = (key: string): ICompare => ({ key: enc(key), target: 'Version', result: 'Greater', version: 0 });
const modIs = (key: string, rev: string): ICompare => ({ key: enc(key), target: 'Mod', result: 'Equal', mod_revision: rev });
const valueIs = (key: string, value: string): ICompare => ({ key: enc(key), target: 'Value', result: 'Equal', value: enc(value) });
const leaseIs = (key: string, lease: string): ICompare => ({ key: enc(key), target: 'Lease', result: 'Equal', lease });
/** true when no key starts with `dir` (a range compare: every key in the range must match). */
const nothingUnder = (dir: string): ICompare => ({ key: enc(dir), range_end: prefixEnd(enc(dir)), target: 'Version', result: 'Equal', version: 0 });

const put = (key: string, value: string, lease?: string): IRequestOp => ({
  request_put: lease === undefined ? { key: enc(key), value: enc(value) } : { key: enc(key), value: enc(value), lease },
});
const get = (key: string): IRequestOp => ({ request_range: { key: enc(key) } });
const getUnder = (dir: string, keysOnly = false): IRequestOp => ({ request_range: { key: enc(dir), range_end: prefixEnd(enc(dir)), keys_only: keysOnly } });
const countUnder = (dir: string): IRequestOp => ({ request_range: { key: enc(dir), range_end: prefixEnd(enc(dir)), count_only: true } });
const del = (key: string): IRequestOp => ({ request_delete_range: { key: enc(key) } });
const delUnder = (dir: string): IRequestOp => ({ request_delete_range: { key: enc(dir), range_end: prefixEnd(enc(dir)) } });

/** The key-values the i-th (range) operation of a transaction returned. */
function kvsOf(res: ITxnResponse, i: number): IKeyValue[] {
  return res.responses[i]?.response_range?.kvs ?? [];
}

/** One readable line from an etcd3 / gRPC error ("14 UNAVAILABLE: No connection established. Last error: ..."). */
function reasonOf(err: unknown): string {
  const msg = (err instanceof Error ? err.message : String(err))
    .split('\n')[0]!
    .replace(/\s*Resolution note:.*$/, '')
    .trim();
  const noConnection = /^14 UNAVAILABLE: No connection established\. Last error: (?:Error: )?(.*?)\.?$/.exec(msg);
  if (noConnection) return noConnection[1] && noConnection[1] !== 'null' ? `no connection (${noConnection[1]})` : 'no connection';
  const deadline = /^4 DEADLINE_EXCEEDED: Deadline exceeded after ([0-9.]+s)/.exec(msg);
  if (deadline) return `no answer within ${deadline[1]}`;
  return msg.replace(/^\d+ ([A-Z_]+): (.*)$/, '$2 ($1)') || 'unknown error';
}

function parseJson<T>(s: string): T | undefined {
  try {
    return JSON.parse(s) as T;
  } catch {
    return undefined;
  }
}

const jitter = (ms: number): number => ms + Math.floor(Math.random() * ms * 0.2);

export class EtcdStore implements ClusterStore {
  readonly kind = 'etcd';

  private readonly client: Etcd3;
  private readonly log: Logger;
  private readonly p: string;
  private readonly hostId: string;
  private readonly ttl: number;
  private readonly callTimeoutMs: number;
  private readonly where: string;

  private onEvent: (e: ClusterEvent) => void = () => undefined;
  private started = false;
  private closed = false;
  private up = false;
  private downLogged = false;

  // the host's lease
  private lease: Lease | null = null;
  private leaseId: string | null = null;
  private leaseGen = 0;
  private granting: Promise<{ id: string; gen: number }> | null = null;
  private needReregister = false;
  private reregistering: Promise<void> | null = null;
  private readonly records = new Map<string, Registration>();
  private readonly keyLocks = new Map<string, Promise<void>>();

  // what the caller was told
  private known = new Map<string, Seen>();
  private syncedRev = 0n;
  private watcher: Watcher | null = null;
  private watchBroken: (() => void) | null = null;
  private watchLoopDone: Promise<void> | null = null;

  private readonly sleepers = new Set<() => void>();

  constructor(opts: EtcdStoreOptions) {
    if (opts.endpoints.length === 0) throw new Error('EtcdStore needs at least one etcd endpoint');
    if (!(opts.leaseTtlSeconds >= 1)) throw new Error(`lease TTL must be at least 1 s, got ${opts.leaseTtlSeconds}`);
    const hosts = opts.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.log = opts.log;
    this.p = opts.prefix.replace(/\/+$/, '');
    this.hostId = opts.hostId;
    this.ttl = opts.leaseTtlSeconds;
    this.callTimeoutMs = opts.callTimeoutMs ?? 3000;
    this.where = hosts.join(', ');
    this.client = new Etcd3({
      hosts,
      // every unary call has a deadline; streams (watch, lease keepalive) have none
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.callTimeoutMs }),
      faultHandling: { global: JUST_RUN, host: () => JUST_RUN },
      grpcOptions: {
        // notice a dead peer under an idle stream; etcd refuses pings more often than every 5 s
        'grpc.keepalive_time_ms': 15_000,
        'grpc.keepalive_timeout_ms': 5_000,
        // reconnect soon after etcd is back (gRPC's default backoff grows to 2 minutes)
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1_000,
        // the state read at start and after a broken watch can be large
        'grpc.max_receive_message_length': 256 * 1024 * 1024,
      },
    });
  }

  // ---- keys ------------------------------------------------------------------------------------

  private networkKey = (id: string) => `${this.p}/networks/${id}`;
  private nameKey = (name: string) => `${this.p}/names/${name}`;
  private vniKey = (vni: number) => `${this.p}/vnis/${vni}`;
  private ipamDir = (net: string) => `${this.p}/ipam/${net}/`;
  private vtepDir = (net: string) => `${this.p}/vteps/${net}/`;
  private endpointDir = (net: string) => `${this.p}/endpoints/${net}/`;

  /** Which member a key describes; null for the keys that produce no events (names, vnis, ipam). */
  private classify(key: string): Member | null {
    if (!key.startsWith(`${this.p}/`)) return null;
    const parts = key.slice(this.p.length + 1).split('/');
    if (parts[0] === 'networks' && parts.length === 2 && parts[1]) return { kind: 'network', networkId: parts[1] };
    if (parts[0] === 'vteps' && parts.length === 3 && parts[1] && parts[2]) return { kind: 'vtep', networkId: parts[1], vtep: parts[2] };
    if (parts[0] === 'endpoints' && parts.length === 3 && parts[1] && parts[2]) return { kind: 'endpoint', networkId: parts[1], endpointId: parts[2] };
    return null;
  }

  // ---- calls -----------------------------------------------------------------------------------

  private unavailable(reason: string): ApiFailure {
    return new ApiFailure(503, `cluster store unavailable (etcd at ${this.where}): ${reason}`);
  }

  /** Runs one call to etcd, bounded in time; any failure becomes ApiFailure(503) with the reason (the original as `cause`). */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw this.unavailable('the store is closed');
    let timer: NodeJS.Timeout | undefined;
    const limit = this.callTimeoutMs + 1000; // the gRPC deadline should come first
    try {
      const result = await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${limit} ms`)), limit);
        }),
      ]);
      this.markUp();
      return result;
    } catch (err) {
      if (err instanceof ApiFailure) throw err;
      // etcd answered: it just does not know the lease any more (handled by the caller)
      if (err instanceof EtcdLeaseInvalidError) this.markUp();
      else this.markDown(err);
      const failure = this.unavailable(reasonOf(err));
      failure.cause = err;
      throw failure;
    } finally {
      clearTimeout(timer);
    }
  }

  private txn(compare: ICompare[], success: IRequestOp[], failure: IRequestOp[] = []): Promise<ITxnResponse> {
    return this.call(() => this.client.kv.txn({ compare, success, failure }));
  }

  private markUp(): void {
    if (this.closed) return;
    if (!this.up && this.downLogged) this.log.info({ etcd: this.where }, 'cluster store: etcd answers again');
    this.up = true;
    this.downLogged = false;
  }

  private markDown(err: unknown): void {
    if (this.closed) return;
    if (!this.downLogged) this.log.warn({ etcd: this.where, err: reasonOf(err) }, 'cluster store: etcd does not answer');
    this.up = false;
    this.downLogged = true;
  }

  /** Sleeps, or returns at once when the store closes. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  /** Runs fn when every earlier fn for the same key has finished. */
  private async withKeyLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.keyLocks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.keyLocks.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.keyLocks.get(key) === tail) this.keyLocks.delete(key);
    }
  }

  // ---- the lease -------------------------------------------------------------------------------

  /** The current lease (granting one if there is none). Fails with 503 when etcd does not answer. */
  private currentLease(): Promise<{ id: string; gen: number }> {
    if (this.lease !== null && this.leaseId !== null) return Promise.resolve({ id: this.leaseId, gen: this.leaseGen });
    this.granting ??= this.grantLease().finally(() => {
      this.granting = null;
    });
    return this.granting;
  }

  private async grantLease(): Promise<{ id: string; gen: number }> {
    const lease = this.client.lease(this.ttl);
    lease.on('lost', (err) => this.leaseLost(lease, err));
    lease.on('keepaliveSucceeded', () => {
      if (lease === this.lease) this.markUp();
    });
    lease.on('keepaliveFailed', (err) => {
      // etcd answered that the lease is gone: 'lost' follows
      if (lease === this.lease && !(err instanceof EtcdLeaseInvalidError)) this.markDown(err);
    });
    let id: string;
    try {
      id = await this.call(() => lease.grant());
    } catch (err) {
      lease.release();
      throw err;
    }
    if (this.closed) {
      lease.revoke({ deadline: Date.now() + 1000 }).catch(() => undefined);
      throw this.unavailable('the store is closed');
    }
    if (lease.revoked()) throw this.unavailable('the new lease was lost at once');
    this.lease = lease;
    this.leaseId = id;
    this.leaseGen++;
    this.log.info({ lease: id, ttlSeconds: this.ttl }, 'cluster store: lease granted');
    if (this.needReregister) this.kickReregister();
    return { id, gen: this.leaseGen };
  }

  private leaseLost(lease: Lease, err: unknown): void {
    if (lease !== this.lease || this.closed) return;
    const id = this.leaseId;
    this.lease = null;
    this.leaseId = null;
    const why =
      err instanceof EtcdLeaseInvalidError
        ? /lost connection/.test(err.message)
          ? `etcd did not answer a keepalive for ${2 * this.ttl} s`
          : 'etcd says it expired or was revoked'
        : reasonOf(err);
    if (!(err instanceof EtcdLeaseInvalidError) || why.startsWith('etcd did not answer')) this.markDown(err);
    this.log.warn(
      { lease: id, reason: why, registrations: this.records.size },
      "cluster store: this host's etcd lease is lost; granting a new one and registering again",
    );
    // Not revoked: if it is in fact still alive, its keys stay until they are written under the
    // new lease, and then it expires on its own.
    lease.release();
    this.needReregister = true;
    this.kickReregister();
  }

  private kickReregister(): void {
    if (this.closed || this.reregistering !== null) return;
    this.reregistering = this.reregisterLoop().finally(() => {
      this.reregistering = null;
    });
  }

  /** Grants a lease and writes every recorded key under it, until done or closed. Never throws. */
  private async reregisterLoop(): Promise<void> {
    let delay = 200;
    let failures = 0;
    while (!this.closed && this.needReregister) {
      try {
        const { id, gen } = await this.currentLease();
        this.needReregister = false; // a loss from now on sets it again
        const n = await this.writeAllAgain();
        if (gen !== this.leaseGen) {
          this.needReregister = true;
          continue;
        }
        this.log.info({ lease: id, registrations: n }, "cluster store: this host's keys are registered again under the new lease");
        return;
      } catch (err) {
        if (this.closed) return;
        this.needReregister = true;
        failures++;
        const fields = { err: reasonOf(err), retryInMs: delay };
        if (failures === 1) this.log.warn(fields, 'cluster store: cannot register this host again yet; retrying');
        else this.log.debug(fields, 'cluster store: cannot register this host again yet; retrying');
        await this.sleep(jitter(delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  /**
   * Writes every recorded key under the current lease: the addresses first (if their keys expired,
   * another host may be about to claim them), then the VTEPs, then the endpoints.
   */
  private async writeAllAgain(): Promise<number> {
    const order = { ipam: 0, vtep: 1, endpoint: 2 };
    const regs = [...this.records.values()].sort((a, b) => order[a.kind] - order[b.kind]);
    let n = 0;
    for (const r0 of regs) {
      await this.withKeyLock(r0.key, async () => {
        const reg = this.records.get(r0.key);
        if (reg === undefined) return; // removed meanwhile
        const outcome = await this.writeLeased(reg, reg.kind === 'ipam' ? 'reclaim' : 'put');
        if (outcome === 'ok') {
          n++;
        } else if (outcome === 'no-network') {
          this.records.delete(reg.key);
          this.log.warn({ key: reg.key }, 'cluster store: not registered again: its network was removed meanwhile');
        } else {
          this.records.delete(reg.key);
          this.log.error(
            { key: reg.key },
            "cluster store: an address this host held was claimed by another host while this host's lease was lost; it is no longer this host's",
          );
        }
      });
    }
    return n;
  }

  /**
   * Writes `reg` under the current lease, only while its network exists. `claim`: only if the key
   * does not exist; `reclaim`: also if it still holds this very value (this host's, under a lost
   * lease); `put`: in any case. Writes again if the lease changed meanwhile.
   */
  private async writeLeased(reg: Registration, mode: 'claim' | 'reclaim' | 'put'): Promise<'ok' | 'no-network' | 'taken'> {
    const netKey = this.networkKey(reg.networkId);
    for (let attempt = 1; ; attempt++) {
      if (attempt > 5) throw this.unavailable(`the lease keeps changing while writing ${reg.key}`);
      const { id, gen } = await this.currentLease();
      let res: ITxnResponse;
      try {
        const compare = mode === 'put' ? [present(netKey)] : [present(netKey), absent(reg.key)];
        res = await this.txn(compare, [put(reg.key, reg.value, id)], [get(netKey), get(reg.key)]);
        if (!res.succeeded && kvsOf(res, 0).length > 0 && mode === 'reclaim') {
          const cur = kvsOf(res, 1)[0];
          if (cur === undefined) continue; // gone since: try again
          if (cur.value.toString() !== reg.value) return 'taken';
          res = await this.txn([present(netKey), modIs(reg.key, cur.mod_revision)], [put(reg.key, reg.value, id)], [get(netKey)]);
          if (!res.succeeded && kvsOf(res, 0).length > 0) continue; // changed since: look again
        }
      } catch (err) {
        if (err instanceof ApiFailure && err.cause instanceof EtcdLeaseInvalidError) {
          // etcd no longer knows the lease: the keepalive will notice too, but do not wait for it
          if (this.lease !== null && this.leaseId === id) this.leaseLost(this.lease, err.cause);
          continue;
        }
        // a timeout may hide a write that was applied: take it back unless it becomes ours for real
        this.cleanUpLater(reg.key, [valueIs(reg.key, reg.value), leaseIs(reg.key, id)], id);
        throw err;
      }
      if (!res.succeeded) return kvsOf(res, 0).length === 0 ? 'no-network' : 'taken';
      if (gen !== this.leaseGen) continue; // written under a lease that was lost meanwhile
      return 'ok';
    }
  }

  /**
   * In the background, until etcd answers: deletes `key` if `guard` holds and this host has not
   * registered the key (again) meanwhile. Stops when the lease `leaseId` is gone (so are its keys).
   */
  private cleanUpLater(key: string, guard: ICompare[], leaseId: string | null): void {
    void (async () => {
      let delay = 250;
      while (!this.closed && (leaseId === null || this.leaseId === leaseId)) {
        await this.sleep(jitter(delay));
        if (this.closed) return;
        try {
          await this.withKeyLock(key, async () => {
            if (this.records.has(key)) return;
            await this.txn(guard, [del(key)]);
          });
          return;
        } catch {
          delay = Math.min(delay * 2, 5000);
        }
      }
    })();
  }

  // ---- networks --------------------------------------------------------------------------------

  async createNetwork(def: OverlayNetworkDef): Promise<void> {
    const net = this.networkKey(def.id);
    const name = this.nameKey(def.name);
    const vni = this.vniKey(def.vni);
    const res = await this.txn(
      [absent(net), absent(name), absent(vni)],
      [put(net, JSON.stringify(def)), put(name, JSON.stringify(def.id)), put(vni, JSON.stringify(def.id))],
      [get(name), get(vni), get(net)],
    );
    if (res.succeeded) return;
    if (kvsOf(res, 0).length > 0) throw new ApiFailure(409, `network with name ${def.name} already exists`);
    const byVni = kvsOf(res, 1)[0];
    if (byVni !== undefined) {
      const otherId = parseJson<string>(byVni.value.toString()) ?? byVni.value.toString();
      const other = await this.readNetwork(otherId).catch(() => undefined);
      throw new ApiFailure(409, `VNI ${def.vni} is already used by network ${other?.def.name ?? otherId}`);
    }
    throw new ApiFailure(409, `network ${def.id} already exists`);
  }

  private async readNetwork(id: string): Promise<{ def: OverlayNetworkDef; mod: string } | undefined> {
    const res = await this.txn([], [get(this.networkKey(id))]);
    const kv = kvsOf(res, 0)[0];
    if (kv === undefined) return undefined;
    const def = parseJson<OverlayNetworkDef>(kv.value.toString());
    return def === undefined ? undefined : { def, mod: kv.mod_revision };
  }

  async removeNetwork(networkId: string): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await this.readNetwork(networkId);
      if (cur === undefined) return; // already gone
      const { def, mod } = cur;
      const net = this.networkKey(networkId);
      const eps = this.endpointDir(networkId);
      // the members go first, so a watcher sees vtep-down before network-removed
      const res = await this.txn(
        [modIs(net, mod), nothingUnder(eps)],
        [delUnder(this.vtepDir(networkId)), delUnder(this.ipamDir(networkId)), del(this.nameKey(def.name)), del(this.vniKey(def.vni)), del(net)],
        [get(net), countUnder(eps)],
      );
      if (res.succeeded) {
        this.forgetNetwork(networkId);
        return;
      }
      const stillSame = kvsOf(res, 0)[0]?.mod_revision === mod;
      const endpoints = Number(res.responses[1]?.response_range?.count ?? 0);
      if (stillSame && endpoints > 0) throw new ApiFailure(409, `network ${def.name} has active endpoints`);
      // the network changed meanwhile: look again
    }
    throw this.unavailable(`network ${networkId} keeps changing; not removed`);
  }

  /** Forgets this host's registrations on a network that no longer exists (its keys are gone). */
  private forgetNetwork(networkId: string): void {
    for (const [key, reg] of this.records) if (reg.networkId === networkId) this.records.delete(key);
  }

  // ---- addresses -------------------------------------------------------------------------------

  async claimAddress(networkId: string, owner: string, candidates: Iterable<string>, requested?: string): Promise<string> {
    // one read for the network's name and the addresses already taken, so the loop below does not
    // try them one by one
    const res = await this.txn([], [get(this.networkKey(networkId)), getUnder(this.ipamDir(networkId), true)]);
    const netKv = kvsOf(res, 0)[0];
    if (netKv === undefined) throw new ApiFailure(404, `network ${networkId} not found`);
    const name = parseJson<OverlayNetworkDef>(netKv.value.toString())?.name ?? networkId;
    const dir = this.ipamDir(networkId);
    const taken = new Set(kvsOf(res, 1).map((kv) => kv.key.toString().slice(dir.length)));
    const value = JSON.stringify({ owner, host: this.hostId });

    const tryClaim = (ip: string, mode: 'claim' | 'reclaim' = 'claim') =>
      this.withKeyLock(dir + ip, async () => {
        const reg: Registration = { key: dir + ip, value, networkId, kind: 'ipam' };
        const outcome = await this.writeLeased(reg, mode);
        if (outcome === 'no-network') throw new ApiFailure(404, `network ${name} not found`);
        if (outcome === 'ok') this.records.set(reg.key, reg);
        return outcome === 'ok';
      });

    if (requested !== undefined) {
      // the same owner claiming again (a daemon restarted before its old lease expired) gets it back
      if (!(await tryClaim(requested, 'reclaim'))) {
        throw new ApiFailure(409, `address ${requested} is already in use on network ${name}`);
      }
      return requested;
    }
    for (const ip of candidates) {
      if (taken.has(ip)) continue;
      if (await tryClaim(ip)) return ip;
      taken.add(ip);
    }
    throw new ApiFailure(409, `no available addresses on network ${name}`);
  }

  async releaseAddress(networkId: string, ip: string): Promise<void> {
    const key = this.ipamDir(networkId) + ip;
    await this.withKeyLock(key, async () => {
      const reg = this.records.get(key);
      if (reg !== undefined) {
        this.records.delete(key);
        await this.deleteOrLater(key, [valueIs(key, reg.value)]);
        return;
      }
      // not claimed by this process: release it only if this host holds it (e.g. before a restart)
      const res = await this.txn([], [get(key)]);
      const kv = kvsOf(res, 0)[0];
      if (kv === undefined) return;
      const holder = parseJson<{ host?: string }>(kv.value.toString());
      if (holder?.host !== this.hostId) {
        this.log.warn({ network: networkId, ip, holder: kv.value.toString() }, 'cluster store: not releasing an address another host holds');
        return;
      }
      await this.deleteOrLater(key, [modIs(key, kv.mod_revision)]);
    });
  }

  /** Deletes a key this host no longer registers; if etcd does not answer, keeps trying in the background (and fails with 503). */
  private async deleteOrLater(key: string, guard: ICompare[]): Promise<void> {
    try {
      await this.txn(guard, [del(key)]);
    } catch (err) {
      this.cleanUpLater(key, guard, null);
      throw err;
    }
  }

  // ---- members ---------------------------------------------------------------------------------

  async joinNetwork(networkId: string): Promise<void> {
    const reg: Registration = { key: this.vtepDir(networkId) + this.hostId, value: JSON.stringify({ vtep: this.hostId }), networkId, kind: 'vtep' };
    await this.register(reg);
  }

  async leaveNetwork(networkId: string): Promise<void> {
    await this.unregister(this.vtepDir(networkId) + this.hostId);
  }

  async registerEndpoint(ep: OverlayEndpointDef): Promise<void> {
    const reg: Registration = { key: this.endpointDir(ep.network) + ep.id, value: JSON.stringify(ep), networkId: ep.network, kind: 'endpoint' };
    await this.register(reg);
  }

  async unregisterEndpoint(networkId: string, endpointId: string): Promise<void> {
    await this.unregister(this.endpointDir(networkId) + endpointId);
  }

  private async register(reg: Registration): Promise<void> {
    await this.withKeyLock(reg.key, async () => {
      const outcome = await this.writeLeased(reg, 'put');
      if (outcome === 'no-network') throw new ApiFailure(404, `network ${reg.networkId} not found`);
      this.records.set(reg.key, reg);
    });
  }

  private async unregister(key: string): Promise<void> {
    await this.withKeyLock(key, async () => {
      this.records.delete(key);
      await this.deleteOrLater(key, []);
    });
  }

  // ---- events ----------------------------------------------------------------------------------

  async start(onEvent: (e: ClusterEvent) => void): Promise<void> {
    if (this.started) throw new Error('EtcdStore.start() called twice');
    if (this.closed) throw this.unavailable('the store is closed');
    this.started = true;
    this.onEvent = onEvent;
    try {
      await this.currentLease();
      const rev = await this.resync();
      const w = await this.createWatcher(rev + 1n);
      this.watchLoopDone = this.watchLoop(w);
    } catch (err) {
      this.started = false;
      throw err;
    }
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
    const dirs = [`${this.p}/networks/`, `${this.p}/vteps/`, `${this.p}/endpoints/`];
    const res = await this.txn([], dirs.map((d) => getUnder(d)));
    const next = new Map<string, Seen>();
    for (let i = 0; i < dirs.length; i++) {
      for (const kv of kvsOf(res, i)) {
        const key = kv.key.toString();
        if (this.classify(key) !== null) next.set(key, { value: kv.value.toString(), mod: BigInt(kv.mod_revision) });
      }
    }
    const prev = this.known;
    const byKind = (m: Map<string, Seen>, kind: Member['kind']) =>
      [...m.entries()].filter(([k]) => this.classify(k)?.kind === kind).sort((a, b) => (a[1].mod < b[1].mod ? -1 : a[1].mod > b[1].mod ? 1 : 0));
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
    const m = this.classify(key);
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
    const m = this.classify(key);
    if (m === null) return;
    if (m.kind === 'network') {
      this.forgetNetwork(m.networkId);
      this.emit({ kind: 'network-removed', networkId: m.networkId });
    } else if (m.kind === 'vtep') {
      this.emit({ kind: 'vtep-down', networkId: m.networkId, vtep: m.vtep });
    } else {
      this.emit({ kind: 'endpoint-down', networkId: m.networkId, endpointId: m.endpointId });
    }
  }

  private onWatchData(w: Watcher, res: IWatchResponse): void {
    if (w !== this.watcher || this.closed) return;
    try {
      for (const ev of res.events) {
        const key = ev.kv.key.toString();
        if (this.classify(key) === null) continue;
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
    const w = this.client.watch().prefix(`${this.p}/`).startRevision(from.toString()).watcher();
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
    const timer = setTimeout(() => settle?.({ err: new Error(`watch not confirmed within ${this.callTimeoutMs} ms`), attached: true }), this.callTimeoutMs);
    const { err, attached } = await outcome;
    clearTimeout(timer);
    settle = undefined;
    if (err !== undefined || this.closed) {
      void this.dropWatcher(w, attached);
      if (err !== undefined) this.markDown(err);
      throw this.unavailable(err === undefined ? 'the store is closed' : reasonOf(err));
    }
    this.markUp();
    return w;
  }

  private watcherBroke(w: Watcher, err: unknown, stillAttached: boolean): void {
    if (w !== this.watcher) return;
    this.markDown(err);
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

  /** Until close(): waits for the watch to break, then reads the state again and watches from there. */
  private async watchLoop(first: Watcher): Promise<void> {
    let w: Watcher | null = first;
    let delay = 100;
    let failures = 0;
    while (!this.closed) {
      if (w !== null) {
        const current = w;
        await new Promise<void>((resolve) => {
          this.watchBroken = resolve;
          if (this.watcher !== current || this.closed) resolve();
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
        if (this.closed) return;
        failures++;
        const fields = { err: reasonOf(err), retryInMs: delay };
        if (failures === 1) this.log.warn(fields, 'cluster store: cannot watch etcd yet; retrying');
        else this.log.debug(fields, 'cluster store: cannot watch etcd yet; retrying');
        await this.sleep(jitter(delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  // ---- status and shutdown ---------------------------------------------------------------------

  healthy(): boolean {
    return this.up && !this.closed;
  }

  /**
   * Stops watching, revokes this host's lease (its VTEPs, endpoints and addresses vanish from the
   * other hosts at once) and closes the client. `revokeLease: false` leaves the lease to expire
   * after its TTL instead: what the other hosts see when this host dies.
   */
  async close(opts: { revokeLease?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.up = false;
    for (const wake of [...this.sleepers]) wake();
    const w = this.watcher;
    this.watchBroken?.();
    // an attached watcher's stream would outlive the client
    if (w !== null) await this.dropWatcher(w, true);
    const lease = this.lease;
    this.lease = null;
    this.leaseId = null;
    if (lease !== null) {
      if (opts.revokeLease === false) {
        lease.release();
      } else {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([lease.revoke({ deadline: Date.now() + 1000 }), new Promise((r) => (timer = setTimeout(r, 1500)))])
          .catch((err: unknown) => this.log.debug({ err: reasonOf(err) }, 'cluster store: cannot revoke the lease; it expires on its own'))
          .finally(() => clearTimeout(timer));
      }
    }
    // the loops stop at their next step; a call in flight ends by its deadline
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([this.watchLoopDone, this.reregistering, this.granting]),
      new Promise((r) => (timer = setTimeout(r, 500))),
    ]).finally(() => clearTimeout(timer));
    this.client.close();
  }
}
