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

import type { ICompare, IRequestOp } from 'etcd3';
import type { Logger } from 'pino';
import { ApiFailure } from '../gateway-api.js';
import { type ClusterEvent, type ClusterStore, type ForeignPeerDef, foreignEndpointDef, type OverlayEndpointDef, type OverlayNetworkDef, type RoutedDef, type SubnetLease } from './cluster-store.js';
import { EtcdConnection, jitter, reasonOf } from './etcd-connection.js';
import { FlannelKeys, flannelConfig, flannelConfigProblem, flannelLeaseValue, routedClaimKey, subnetSpace } from './etcd-subnets.js';
import { EtcdKeys, parseJson } from './etcd-keys.js';
import { HostLease, type Registration } from './etcd-lease.js';
import { absent, countUnder, del, delUnder, get, getUnder, kvsOf, modIs, nothingUnder, present, put, valueIs } from './etcd-txn.js';
import { ClusterWatch, memberSpace } from './etcd-watch.js';

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
  private onEvent: (e: ClusterEvent) => void = () => undefined;
  /** routed overlays' subnet leases, one watch per network (its flannel prefix) */
  private readonly subnetWatches = new Map<string, ClusterWatch>();
  /** followed before start(): watched once the store's own watch runs */
  private readonly subnetsToFollow = new Map<string, OverlayNetworkDef>();
  private following = false;

  constructor(opts: EtcdStoreOptions) {
    if (opts.endpoints.length === 0) throw new Error('EtcdStore needs at least one etcd endpoint');
    if (!(opts.leaseTtlSeconds >= 1)) throw new Error(`lease TTL must be at least 1 s, got ${opts.leaseTtlSeconds}`);
    this.log = opts.log;
    this.hostId = opts.hostId;
    this.keys = new EtcdKeys(opts.prefix);
    this.conn = new EtcdConnection({ endpoints: opts.endpoints, log: opts.log, callTimeoutMs: opts.callTimeoutMs ?? 3000 });
    this.lease = new HostLease({ conn: this.conn, keys: this.keys, ttlSeconds: opts.leaseTtlSeconds, log: opts.log });
    this.watch = new ClusterWatch({ conn: this.conn, log: opts.log, space: memberSpace(this.keys, opts.log, (id) => this.lease.forgetNetwork(id)) });
  }

  // ---- networks --------------------------------------------------------------------------------

  async createNetwork(def: OverlayNetworkDef): Promise<void> {
    const net = this.keys.networkKey(def.id);
    const name = this.keys.nameKey(def.name);
    const vni = this.keys.vniKey(def.vni);
    const routed = def.routed !== undefined ? await this.routedKeys({ ...def, routed: def.routed }) : { compare: [], success: [] };
    const res = await this.conn.txn(
      [absent(net), absent(name), absent(vni), ...routed.compare],
      [put(net, JSON.stringify(def)), put(name, JSON.stringify(def.id)), put(vni, JSON.stringify(def.id)), ...routed.success],
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
    if (def.routed !== undefined) {
      // the flannel prefix was taken, or its config written, meanwhile: the reason is in the next try
      await this.routedKeys({ ...def, routed: def.routed });
      throw new ApiFailure(409, `the flannel prefix ${def.routed.flannelPrefix} changed meanwhile; try again`);
    }
    throw new ApiFailure(409, `network ${def.id} already exists`);
  }

  /**
   * A routed overlay's flannel prefix: no other network of pontoon's uses it, and its config is
   * written with the network, or is already there and says the same (flannel's hosts made it).
   * The compares and writes that go into the network's creating transaction.
   */
  private async routedKeys(def: OverlayNetworkDef & { routed: RoutedDef }): Promise<{ compare: ICompare[]; success: IRequestOp[] }> {
    const fk = new FlannelKeys(def.routed.flannelPrefix);
    const claim = routedClaimKey(this.keys.p, def.routed.flannelPrefix);
    const res = await this.conn.txn([], [get(claim), get(fk.configKey())]);
    const holder = kvsOf(res, 0)[0];
    if (holder !== undefined) {
      const otherId = parseJson<string>(holder.value.toString()) ?? holder.value.toString();
      const other = await this.readNetwork(otherId).catch(() => undefined);
      throw new ApiFailure(409, `the flannel prefix ${def.routed.flannelPrefix} is used by network ${other?.def.name ?? otherId}: give another (-o pontoon.flannel_prefix=)`);
    }
    const config = kvsOf(res, 1)[0];
    if (config !== undefined) {
      const problem = flannelConfigProblem(config.value.toString(), def);
      if (problem !== null) throw new ApiFailure(409, problem);
      return { compare: [absent(claim), modIs(fk.configKey(), config.mod_revision)], success: [put(claim, JSON.stringify(def.id))] };
    }
    return { compare: [absent(claim), absent(fk.configKey())], success: [put(claim, JSON.stringify(def.id)), put(fk.configKey(), flannelConfig(def))] };
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
      // a routed overlay gives its flannel prefix up; flannel's config stays for flannel's hosts
      const routed = def.routed !== undefined ? [del(routedClaimKey(this.keys.p, def.routed.flannelPrefix))] : [];
      const res = await this.conn.txn(
        [modIs(net, mod), nothingUnder(eps)],
        [delUnder(this.keys.vtepDir(networkId)), delUnder(this.keys.peerDir(networkId)), delUnder(this.keys.ipamDir(networkId)), ...routed, del(this.keys.nameKey(def.name)), del(this.keys.vniKey(def.vni)), del(net)],
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

  // ---- routed overlays: subnet leases in flannel's schema (etcd-subnets.ts) ---------------------

  async leaseSubnet(networkId: string, candidates: Iterable<string>, lease: SubnetLease, preferred?: string): Promise<string> {
    const cur = await this.readNetwork(networkId);
    if (cur === undefined) throw new ApiFailure(404, `network ${networkId} not found`);
    const { def } = cur;
    if (def.routed === undefined) throw new ApiFailure(400, `network ${def.name} is not a routed overlay network`);
    const fk = new FlannelKeys(def.routed.flannelPrefix);
    const value = flannelLeaseValue(lease, def.vni);
    const tryLease = (subnet: string, mode: 'claim' | 'reclaim') =>
      this.conn.withKeyLock(fk.subnetKey(subnet), async () => {
        const reg: Registration = { key: fk.subnetKey(subnet), value, networkId, kind: 'subnet' };
        const outcome = await this.lease.writeLeased(reg, mode);
        if (outcome === 'no-network') throw new ApiFailure(404, `network ${def.name} not found`);
        if (outcome === 'ok') this.lease.record(reg);
        return outcome === 'ok';
      });
    // the subnet this host had (a restart): still its own, or free again
    if (preferred !== undefined && (await tryLease(preferred, 'reclaim'))) return preferred;
    const res = await this.conn.txn([], [getUnder(fk.subnetDir())]);
    const kvs = kvsOf(res, 0);
    // a lease of this very host's (it lost its state, not its lease): that one again
    const own = kvs.find((kv) => kv.value.toString() === value);
    const ownSubnet = own === undefined ? null : fk.subnetOf(own.key.toString());
    if (preferred === undefined && ownSubnet !== null && (await tryLease(ownSubnet, 'reclaim'))) return ownSubnet;
    const taken = new Set(kvs.map((kv) => fk.subnetOf(kv.key.toString())));
    for (const subnet of candidates) {
      if (taken.has(subnet)) continue;
      if (await tryLease(subnet, 'claim')) return subnet;
      taken.add(subnet);
    }
    throw new ApiFailure(409, `network ${def.name}: no free /${def.routed.hostSubnetSize} left in ${def.subnet} for this host`);
  }

  async releaseSubnet(networkId: string, subnet: string): Promise<void> {
    const reg = [...this.lease.registrations()].find((r) => r.kind === 'subnet' && r.networkId === networkId && r.key.endsWith(FlannelKeys.subnetTail(subnet)));
    if (reg === undefined) return;
    await this.conn.withKeyLock(reg.key, async () => {
      this.lease.forget(reg.key);
      await this.deleteOrLater(reg.key, [valueIs(reg.key, reg.value)]);
    });
  }

  followSubnets(def: OverlayNetworkDef): void {
    if (def.routed === undefined || this.subnetWatches.has(def.id) || this.subnetsToFollow.has(def.id)) return;
    // before start() the events would have nowhere to go: the watch begins with the others'
    if (!this.following) {
      this.subnetsToFollow.set(def.id, def);
      return;
    }
    const watch = new ClusterWatch({ conn: this.conn, log: this.log, space: subnetSpace(new FlannelKeys(def.routed.flannelPrefix), def.id, this.log) });
    this.subnetWatches.set(def.id, watch);
    void (async () => {
      // until the first read and watch succeed (etcd may be away now); then the watch's own loop keeps it
      let delay = 200;
      while (!this.conn.closed && this.subnetWatches.get(def.id) === watch) {
        try {
          await watch.start((e) => {
            if (this.subnetWatches.get(def.id) === watch) this.onEvent(e);
          });
          return;
        } catch (err) {
          this.log.debug({ network: def.name, err: reasonOf(err) }, 'cluster store: cannot read the subnet leases yet; retrying');
          await this.conn.sleep(jitter(delay));
          delay = Math.min(delay * 2, 2000);
        }
      }
    })();
  }

  unfollowSubnets(networkId: string): void {
    this.subnetsToFollow.delete(networkId);
    const watch = this.subnetWatches.get(networkId);
    if (watch === undefined) return;
    this.subnetWatches.delete(networkId);
    void watch.stop();
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
    this.onEvent = onEvent;
    try {
      await this.lease.current();
      await this.watch.start(onEvent);
      this.following = true;
      const pending = [...this.subnetsToFollow.values()];
      this.subnetsToFollow.clear();
      for (const def of pending) this.followSubnets(def);
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
    const subnetWatches = [...this.subnetWatches.values()];
    this.subnetWatches.clear();
    await Promise.all(subnetWatches.map((w) => w.stop()));
    await this.lease.end(opts.revokeLease !== false);
    // the loops stop at their next step; a call in flight ends by its deadline
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([this.watch.loopDone(), ...subnetWatches.map((w) => w.loopDone()), ...this.lease.inFlight()]),
      new Promise((r) => (timer = setTimeout(r, 500))),
    ]).finally(() => clearTimeout(timer));
    this.conn.closeClient();
  }
}
