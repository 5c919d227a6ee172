// This host's lease in etcd and the keys it wrote under it.
//
// The lease is granted on first use and kept alive by the etcd3 client. Every lease-bound key this
// host wrote is also recorded here; when the lease is lost (revoked, expired because etcd or the
// network was away longer than the TTL), a new one is granted and every recorded key is written
// again under it, retrying with backoff until etcd answers. An address whose key vanished and was
// claimed by another host meanwhile is not taken back (logged as an error).

import { EtcdLeaseInvalidError, type ICompare, type ITxnResponse, type Lease } from 'etcd3';
import type { Logger } from 'pino';
import { ApiFailure } from '../gateway-api.js';
import { jitter, reasonOf, type EtcdConnection } from './etcd-connection.js';
import type { EtcdKeys } from './etcd-keys.js';
import { absent, del, get, kvsOf, leaseIs, modIs, present, put, valueIs } from './etcd-txn.js';

/** A lease-bound key this host wrote, written again under the new lease when the lease is lost. */
export interface Registration {
  key: string;
  value: string;
  networkId: string;
  /** subnet: a routed overlay's host subnet, in flannel's schema (etcd-subnets.ts) */
  kind: 'vtep' | 'endpoint' | 'ipam' | 'subnet';
}

export interface HostLeaseOptions {
  conn: EtcdConnection;
  keys: EtcdKeys;
  ttlSeconds: number;
  log: Logger;
}

export class HostLease {
  private readonly conn: EtcdConnection;
  private readonly keys: EtcdKeys;
  private readonly ttl: number;
  private readonly log: Logger;

  private lease: Lease | null = null;
  private leaseId: string | null = null;
  private leaseGen = 0;
  private granting: Promise<{ id: string; gen: number }> | null = null;
  private needReregister = false;
  private reregistering: Promise<void> | null = null;
  private readonly records = new Map<string, Registration>();

  constructor(opts: HostLeaseOptions) {
    this.conn = opts.conn;
    this.keys = opts.keys;
    this.ttl = opts.ttlSeconds;
    this.log = opts.log;
  }

  // ---- the registrations -----------------------------------------------------------------------

  /** The registration recorded for `key`, if this host wrote it under its lease. */
  recorded(key: string): Registration | undefined {
    return this.records.get(key);
  }

  /** Every key this host registered under its lease. */
  registrations(): IterableIterator<Registration> {
    return this.records.values();
  }

  record(reg: Registration): void {
    this.records.set(reg.key, reg);
  }

  forget(key: string): void {
    this.records.delete(key);
  }

  /** Forgets this host's registrations on a network that no longer exists (its keys are gone). */
  forgetNetwork(networkId: string): void {
    for (const [key, reg] of this.records) if (reg.networkId === networkId) this.records.delete(key);
  }

  // ---- the lease -------------------------------------------------------------------------------

  /** The current lease (granting one if there is none). Fails with 503 when etcd does not answer. */
  current(): Promise<{ id: string; gen: number }> {
    if (this.lease !== null && this.leaseId !== null) return Promise.resolve({ id: this.leaseId, gen: this.leaseGen });
    this.granting ??= this.grant().finally(() => {
      this.granting = null;
    });
    return this.granting;
  }

  private async grant(): Promise<{ id: string; gen: number }> {
    const lease = this.conn.client.lease(this.ttl);
    lease.on('lost', (err) => this.lost(lease, err));
    lease.on('keepaliveSucceeded', () => {
      if (lease === this.lease) this.conn.markUp();
    });
    lease.on('keepaliveFailed', (err) => {
      // etcd answered that the lease is gone: 'lost' follows
      if (lease === this.lease && !(err instanceof EtcdLeaseInvalidError)) this.conn.markDown(err);
    });
    let id: string;
    try {
      id = await this.conn.call(() => lease.grant());
    } catch (err) {
      lease.release();
      throw err;
    }
    if (this.conn.closed) {
      lease.revoke({ deadline: Date.now() + 1000 }).catch(() => undefined);
      throw this.conn.unavailable('the store is closed');
    }
    if (lease.revoked()) throw this.conn.unavailable('the new lease was lost at once');
    this.lease = lease;
    this.leaseId = id;
    this.leaseGen++;
    this.log.info({ lease: id, ttlSeconds: this.ttl }, 'cluster store: lease granted');
    if (this.needReregister) this.kickReregister();
    return { id, gen: this.leaseGen };
  }

  private lost(lease: Lease, err: unknown): void {
    if (lease !== this.lease || this.conn.closed) return;
    const id = this.leaseId;
    this.lease = null;
    this.leaseId = null;
    const why =
      err instanceof EtcdLeaseInvalidError
        ? /lost connection/.test(err.message)
          ? `etcd did not answer a keepalive for ${2 * this.ttl} s`
          : 'etcd says it expired or was revoked'
        : reasonOf(err);
    if (!(err instanceof EtcdLeaseInvalidError) || why.startsWith('etcd did not answer')) this.conn.markDown(err);
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
    if (this.conn.closed || this.reregistering !== null) return;
    this.reregistering = this.reregisterLoop().finally(() => {
      this.reregistering = null;
    });
  }

  /** Grants a lease and writes every recorded key under it, until done or closed. Never throws. */
  private async reregisterLoop(): Promise<void> {
    let delay = 200;
    let failures = 0;
    while (!this.conn.closed && this.needReregister) {
      try {
        const { id, gen } = await this.current();
        this.needReregister = false; // a loss from now on sets it again
        const n = await this.writeAllAgain();
        if (gen !== this.leaseGen) {
          this.needReregister = true;
          continue;
        }
        this.log.info({ lease: id, registrations: n }, "cluster store: this host's keys are registered again under the new lease");
        return;
      } catch (err) {
        if (this.conn.closed) return;
        this.needReregister = true;
        failures++;
        const fields = { err: reasonOf(err), retryInMs: delay };
        if (failures === 1) this.log.warn(fields, 'cluster store: cannot register this host again yet; retrying');
        else this.log.debug(fields, 'cluster store: cannot register this host again yet; retrying');
        await this.conn.sleep(jitter(delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  /**
   * Writes every recorded key under the current lease: the addresses and subnets first (if their keys expired,
   * another host may be about to claim them), then the VTEPs, then the endpoints.
   */
  private async writeAllAgain(): Promise<number> {
    const order = { subnet: 0, ipam: 0, vtep: 1, endpoint: 2 };
    const regs = [...this.records.values()].sort((a, b) => order[a.kind] - order[b.kind]);
    let n = 0;
    for (const r0 of regs) {
      await this.conn.withKeyLock(r0.key, async () => {
        const reg = this.records.get(r0.key);
        if (reg === undefined) return; // removed meanwhile
        const outcome = await this.writeLeased(reg, reg.kind === 'ipam' || reg.kind === 'subnet' ? 'reclaim' : 'put');
        if (outcome === 'ok') {
          n++;
        } else if (outcome === 'no-network') {
          this.records.delete(reg.key);
          this.log.warn({ key: reg.key }, 'cluster store: not registered again: its network was removed meanwhile');
        } else {
          this.records.delete(reg.key);
          this.log.error(
            { key: reg.key },
            `cluster store: ${reg.kind === 'subnet' ? 'a subnet' : 'an address'} this host held was claimed by another host while this host's lease was lost; it is no longer this host's`,
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
  async writeLeased(reg: Registration, mode: 'claim' | 'reclaim' | 'put'): Promise<'ok' | 'no-network' | 'taken'> {
    const netKey = this.keys.networkKey(reg.networkId);
    for (let attempt = 1; ; attempt++) {
      if (attempt > 5) throw this.conn.unavailable(`the lease keeps changing while writing ${reg.key}`);
      const { id, gen } = await this.current();
      let res: ITxnResponse;
      try {
        const compare = mode === 'put' ? [present(netKey)] : [present(netKey), absent(reg.key)];
        res = await this.conn.txn(compare, [put(reg.key, reg.value, id)], [get(netKey), get(reg.key)]);
        if (!res.succeeded && kvsOf(res, 0).length > 0 && mode === 'reclaim') {
          const cur = kvsOf(res, 1)[0];
          if (cur === undefined) continue; // gone since: try again
          if (cur.value.toString() !== reg.value) return 'taken';
          res = await this.conn.txn([present(netKey), modIs(reg.key, cur.mod_revision)], [put(reg.key, reg.value, id)], [get(netKey)]);
          if (!res.succeeded && kvsOf(res, 0).length > 0) continue; // changed since: look again
        }
      } catch (err) {
        if (err instanceof ApiFailure && err.cause instanceof EtcdLeaseInvalidError) {
          // etcd no longer knows the lease: the keepalive will notice too, but do not wait for it
          if (this.lease !== null && this.leaseId === id) this.lost(this.lease, err.cause);
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
  cleanUpLater(key: string, guard: ICompare[], leaseId: string | null): void {
    void (async () => {
      let delay = 250;
      while (!this.conn.closed && (leaseId === null || this.leaseId === leaseId)) {
        await this.conn.sleep(jitter(delay));
        if (this.conn.closed) return;
        try {
          await this.conn.withKeyLock(key, async () => {
            if (this.records.has(key)) return;
            await this.conn.txn(guard, [del(key)]);
          });
          return;
        } catch {
          delay = Math.min(delay * 2, 5000);
        }
      }
    })();
  }

  // ---- shutdown --------------------------------------------------------------------------------

  /**
   * Gives the lease up when the store closes: revoked (its keys vanish from the other hosts at
   * once), or with `revoke: false` left to expire after its TTL.
   */
  async end(revoke: boolean): Promise<void> {
    const lease = this.lease;
    this.lease = null;
    this.leaseId = null;
    if (lease === null) return;
    if (!revoke) {
      lease.release();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([lease.revoke({ deadline: Date.now() + 1000 }), new Promise((r) => (timer = setTimeout(r, 1500)))])
      .catch((err: unknown) => this.log.debug({ err: reasonOf(err) }, 'cluster store: cannot revoke the lease; it expires on its own'))
      .finally(() => clearTimeout(timer));
  }

  /** What is still running in the background: a grant, a round of registering again. */
  inFlight(): Promise<unknown>[] {
    return [this.reregistering ?? Promise.resolve(), this.granting ?? Promise.resolve()];
  }
}
