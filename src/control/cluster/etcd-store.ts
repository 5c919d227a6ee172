// The cluster store in etcd (v3 API), as flannel and Docker's classic overlay keep theirs: the
// overlay networks, their address allocations and their members (VTEPs, endpoints) are keys under
// one prefix (etcd-keys.ts); what a host registers lives under that host's lease (etcd-lease.ts), so
// it vanishes from the other hosts within the lease TTL when the host dies; the caller hears of every
// change from one watch (etcd-watch.ts); every call to etcd goes through one connection
// (etcd-connection.ts).
//
// A network, its name and its VNI are created and removed in one transaction, so names and VNIs are
// unique cluster-wide; an address is claimed with "put if the key does not exist yet", so two hosts
// never get the same one; an endpoint, a VTEP or an address is only written while its network
// exists, and a network is only removed while no endpoint key exists under it (same transaction).

import type { ICompare } from 'etcd3';
import type { Logger } from 'pino';
import { ApiFailure } from '../gateway-api.js';
import { type ClusterEvent, type ClusterStore, type ForeignPeerDef, foreignEndpointDef, type OverlayEndpointDef, type OverlayNetworkDef } from './cluster-store.js';
import { EtcdConnection } from './etcd-connection.js';
import { EtcdKeys, parseJson } from './etcd-keys.js';
import { HostLease, type Registration } from './etcd-lease.js';
import { absent, countUnder, del, delUnder, get, getUnder, kvsOf, modIs, nothingUnder, present, put, valueIs } from './etcd-txn.js';
import { ClusterWatch } from './etcd-watch.js';

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

export class EtcdStore implements ClusterStore {
  readonly kind = 'etcd';

  private readonly log: Logger;
  private readonly hostId: string;
  private readonly keys: EtcdKeys;
  private readonly conn: EtcdConnection;
  private readonly lease: HostLease;
  private readonly watch: ClusterWatch;
  private started = false;

  constructor(opts: EtcdStoreOptions) {
    if (opts.endpoints.length === 0) throw new Error('EtcdStore needs at least one etcd endpoint');
    if (!(opts.leaseTtlSeconds >= 1)) throw new Error(`lease TTL must be at least 1 s, got ${opts.leaseTtlSeconds}`);
    this.log = opts.log;
    this.hostId = opts.hostId;
    this.keys = new EtcdKeys(opts.prefix);
    this.conn = new EtcdConnection({ endpoints: opts.endpoints, log: opts.log, callTimeoutMs: opts.callTimeoutMs ?? 3000 });
    this.lease = new HostLease({ conn: this.conn, keys: this.keys, ttlSeconds: opts.leaseTtlSeconds, log: opts.log });
    this.watch = new ClusterWatch({ conn: this.conn, keys: this.keys, log: opts.log, onNetworkGone: (id) => this.lease.forgetNetwork(id) });
  }

  // ---- networks --------------------------------------------------------------------------------

  async createNetwork(def: OverlayNetworkDef): Promise<void> {
    const net = this.keys.networkKey(def.id);
    const name = this.keys.nameKey(def.name);
    const vni = this.keys.vniKey(def.vni);
    const res = await this.conn.txn(
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
    const res = await this.conn.txn([], [get(this.keys.networkKey(id))]);
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
      const net = this.keys.networkKey(networkId);
      const eps = this.keys.endpointDir(networkId);
      // the members go first, so a watcher sees vtep-down before network-removed
      const res = await this.conn.txn(
        [modIs(net, mod), nothingUnder(eps)],
        [delUnder(this.keys.vtepDir(networkId)), delUnder(this.keys.peerDir(networkId)), delUnder(this.keys.ipamDir(networkId)), del(this.keys.nameKey(def.name)), del(this.keys.vniKey(def.vni)), del(net)],
        [get(net), countUnder(eps)],
      );
      if (res.succeeded) {
        this.lease.forgetNetwork(networkId);
        return;
      }
      const stillSame = kvsOf(res, 0)[0]?.mod_revision === mod;
      const endpoints = Number(res.responses[1]?.response_range?.count ?? 0);
      if (stillSame && endpoints > 0) throw new ApiFailure(409, `network ${def.name} has active endpoints`);
      // the network changed meanwhile: look again
    }
    throw this.conn.unavailable(`network ${networkId} keeps changing; not removed`);
  }


  // ---- addresses -------------------------------------------------------------------------------

  async claimAddress(networkId: string, owner: string, candidates: Iterable<string>, requested?: string): Promise<string> {
    // one read for the network's name and the addresses already taken, so the loop below does not
    // try them one by one
    const res = await this.conn.txn([], [get(this.keys.networkKey(networkId)), getUnder(this.keys.ipamDir(networkId), true)]);
    const netKv = kvsOf(res, 0)[0];
    if (netKv === undefined) throw new ApiFailure(404, `network ${networkId} not found`);
    const name = parseJson<OverlayNetworkDef>(netKv.value.toString())?.name ?? networkId;
    const dir = this.keys.ipamDir(networkId);
    const taken = new Set(kvsOf(res, 1).map((kv) => kv.key.toString().slice(dir.length)));
    const value = JSON.stringify({ owner, host: this.hostId });

    const tryClaim = (ip: string, mode: 'claim' | 'reclaim' = 'claim') =>
      this.conn.withKeyLock(dir + ip, async () => {
        const reg: Registration = { key: dir + ip, value, networkId, kind: 'ipam' };
        const outcome = await this.lease.writeLeased(reg, mode);
        if (outcome === 'no-network') throw new ApiFailure(404, `network ${name} not found`);
        if (outcome === 'ok') this.lease.record(reg);
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
    const key = this.keys.ipamDir(networkId) + ip;
    await this.conn.withKeyLock(key, async () => {
      const reg = this.lease.recorded(key);
      if (reg !== undefined) {
        this.lease.forget(key);
        await this.deleteOrLater(key, [valueIs(key, reg.value)]);
        return;
      }
      // not claimed by this process: release it only if this host holds it (e.g. before a restart)
      const res = await this.conn.txn([], [get(key)]);
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
      await this.conn.txn(guard, [del(key)]);
    } catch (err) {
      this.lease.cleanUpLater(key, guard, null);
      throw err;
    }
  }

  // ---- members ---------------------------------------------------------------------------------

  async joinNetwork(networkId: string): Promise<void> {
    const reg: Registration = { key: this.keys.vtepDir(networkId) + this.hostId, value: JSON.stringify({ vtep: this.hostId }), networkId, kind: 'vtep' };
    await this.register(reg);
  }

  async leaveNetwork(networkId: string): Promise<void> {
    await this.unregister(this.keys.vtepDir(networkId) + this.hostId);
  }

  async registerEndpoint(ep: OverlayEndpointDef): Promise<void> {
    const reg: Registration = { key: this.keys.endpointDir(ep.network) + ep.id, value: JSON.stringify(ep), networkId: ep.network, kind: 'endpoint' };
    await this.register(reg);
  }

  async unregisterEndpoint(networkId: string, endpointId: string): Promise<void> {
    await this.unregister(this.keys.endpointDir(networkId) + endpointId);
  }

  private async register(reg: Registration): Promise<void> {
    await this.conn.withKeyLock(reg.key, async () => {
      const outcome = await this.lease.writeLeased(reg, 'put');
      if (outcome === 'no-network') throw new ApiFailure(404, `network ${reg.networkId} not found`);
      this.lease.record(reg);
    });
  }

  private async unregister(key: string): Promise<void> {
    await this.conn.withKeyLock(key, async () => {
      this.lease.forget(key);
      await this.deleteOrLater(key, []);
    });
  }

  // ---- foreign peers ---------------------------------------------------------------------------

  /** The keys a foreign peer is made of, with their values: written and deleted together. */
  private foreignKeys(def: ForeignPeerDef): { key: string; value: string }[] {
    const owner = JSON.stringify({ owner: `peer:${def.vtep}`, host: def.vtep, foreign: true });
    const keys = [
      { key: this.keys.peerDir(def.network) + def.vtep, value: JSON.stringify(def) },
      { key: this.keys.vtepDir(def.network) + def.vtep, value: JSON.stringify({ vtep: def.vtep, foreign: true }) },
    ];
    for (const a of def.addresses) {
      keys.push({ key: this.keys.ipamDir(def.network) + a.ip, value: owner });
      if (a.mac !== undefined) {
        const ep = foreignEndpointDef(def, { ip: a.ip, mac: a.mac });
        keys.push({ key: this.keys.endpointDir(def.network) + ep.id, value: JSON.stringify(ep) });
      }
    }
    return keys;
  }

  async addForeignPeer(def: ForeignPeerDef): Promise<void> {
    const net = this.keys.networkKey(def.network);
    const keys = this.foreignKeys(def);
    // one transaction: the network exists, the VTEP is no member yet, every address is free
    const res = await this.conn.txn(
      [present(net), ...keys.map((k) => absent(k.key))],
      keys.map((k) => put(k.key, k.value)),
      [get(net), ...keys.map((k) => get(k.key))],
    );
    if (res.succeeded) return;
    const netKv = kvsOf(res, 0)[0];
    if (netKv === undefined) throw new ApiFailure(404, `network ${def.network} not found`);
    const name = parseJson<OverlayNetworkDef>(netKv.value.toString())?.name ?? def.network;
    if (kvsOf(res, 1).length > 0 || kvsOf(res, 2).length > 0) {
      throw new ApiFailure(409, `VTEP ${def.vtep} is already a member of network ${name}`);
    }
    for (const a of def.addresses) {
      const i = keys.findIndex((k) => k.key === this.keys.ipamDir(def.network) + a.ip);
      if (kvsOf(res, i + 1).length > 0) throw new ApiFailure(409, `address ${a.ip} is already in use on network ${name}`);
    }
    throw new ApiFailure(409, `VTEP ${def.vtep} cannot be added to network ${name}: its keys changed meanwhile`);
  }

  async removeForeignPeer(networkId: string, vtep: string): Promise<void> {
    const peerKey = this.keys.peerDir(networkId) + vtep;
    const res = await this.conn.txn([], [get(peerKey)]);
    const kv = kvsOf(res, 0)[0];
    const def = kv === undefined ? undefined : parseJson<ForeignPeerDef>(kv.value.toString());
    if (kv === undefined || def === undefined) throw new ApiFailure(404, `VTEP ${vtep} is not a peer of network ${networkId}`);
    // the endpoints go before the VTEP, so a watcher sees endpoint-down before vtep-down
    const keys = this.foreignKeys(def).reverse();
    const done = await this.conn.txn([modIs(peerKey, kv.mod_revision)], keys.map((k) => del(k.key)));
    if (!done.succeeded) throw new ApiFailure(409, `VTEP ${vtep} of network ${networkId} changed meanwhile; try again`);
  }

  async foreignPeers(networkId: string): Promise<ForeignPeerDef[]> {
    const res = await this.conn.txn([], [getUnder(this.keys.peerDir(networkId))]);
    return kvsOf(res, 0)
      .map((kv) => parseJson<ForeignPeerDef>(kv.value.toString()))
      .filter((d): d is ForeignPeerDef => d !== undefined);
  }

  // ---- events --------------------------------------------------------------------------------

  async start(onEvent: (e: ClusterEvent) => void): Promise<void> {
    if (this.started) throw new Error('EtcdStore.start() called twice');
    if (this.conn.closed) throw this.conn.unavailable('the store is closed');
    this.started = true;
    try {
      await this.lease.current();
      await this.watch.start(onEvent);
    } catch (err) {
      this.started = false;
      throw err;
    }
  }

  // ---- status and shutdown ---------------------------------------------------------------------

  healthy(): boolean {
    return this.conn.healthy();
  }

  /**
   * Stops watching, revokes this host's lease (its VTEPs, endpoints and addresses vanish from the
   * other hosts at once) and closes the client. `revokeLease: false` leaves the lease to expire
   * after its TTL instead: what the other hosts see when this host dies.
   */
  async close(opts: { revokeLease?: boolean } = {}): Promise<void> {
    if (this.conn.closed) return;
    this.conn.shut();
    await this.watch.stop();
    await this.lease.end(opts.revokeLease !== false);
    // the loops stop at their next step; a call in flight ends by its deadline
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([this.watch.loopDone(), ...this.lease.inFlight()]),
      new Promise((r) => (timer = setTimeout(r, 500))),
    ]).finally(() => clearTimeout(timer));
    this.conn.closeClient();
  }
}
