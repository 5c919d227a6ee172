// The services of overlay networks in etcd (services/service-cluster.ts), beside the cluster
// store's keys and under the same prefix, written without a lease (a service outlives the host that
// made it, as a network does):
//   <prefix>/services/<name>        ServiceRecord
//   <prefix>/service-vips/<vip>     "<name>"
// A service and its VIP are written and removed in one transaction, so names and VIPs are unique
// cluster-wide. The watch replays the services at start and follows them; when it breaks, the
// services are read again and the difference is told.

import type { IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { ApiFailure } from '../gateway-api.js';
import type { ServiceClusterEvent, ServiceClusterStore } from '../services/service-cluster.js';
import { type ServiceRecord, serviceRecordSchema } from '../services/service-record.js';
import { EtcdConnection, jitter, reasonOf } from './etcd-connection.js';
import { parseJson } from './etcd-keys.js';
import { absent, del, get, getUnder, kvsOf, put } from './etcd-txn.js';

export interface EtcdServicesOptions {
  endpoints: string[];
  prefix: string;
  log: Logger;
  callTimeoutMs?: number;
}

export class EtcdServices implements ServiceClusterStore {
  private readonly conn: EtcdConnection;
  private readonly log: Logger;
  private readonly dir: string;
  private readonly vipDir: string;
  private onEvent: (e: ServiceClusterEvent) => void = () => undefined;
  /** what the caller was told: name → the record's JSON */
  private known = new Map<string, string>();
  private watcher: Watcher | null = null;
  private loop: Promise<void> | null = null;

  constructor(opts: EtcdServicesOptions) {
    const p = opts.prefix.replace(/\/+$/, '');
    this.dir = `${p}/services/`;
    this.vipDir = `${p}/service-vips/`;
    this.log = opts.log;
    this.conn = new EtcdConnection({ endpoints: opts.endpoints, log: opts.log, callTimeoutMs: opts.callTimeoutMs ?? 3000 });
  }

  async start(onEvent: (e: ServiceClusterEvent) => void): Promise<void> {
    this.onEvent = onEvent;
    const rev = await this.resync();
    this.loop = this.follow(rev);
  }

  async create(rec: ServiceRecord): Promise<'ok' | 'vipTaken'> {
    const key = this.dir + rec.name;
    const vipKey = this.vipDir + rec.vip;
    const res = await this.conn.txn([absent(key), absent(vipKey)], [put(key, JSON.stringify(rec)), put(vipKey, JSON.stringify(rec.name))], [get(key)]);
    if (res.succeeded) return 'ok';
    if (kvsOf(res, 0).length > 0) throw new ApiFailure(409, `service ${rec.name} already exists`);
    return 'vipTaken';
  }

  async remove(rec: ServiceRecord): Promise<void> {
    await this.conn.txn([], [del(this.dir + rec.name), del(this.vipDir + rec.vip)]);
  }

  async close(): Promise<void> {
    this.conn.shut();
    const w = this.watcher;
    this.watcher = null;
    await w?.cancel().catch(() => undefined);
    await this.loop?.catch(() => undefined);
    this.conn.closeClient();
  }

  private emit(e: ServiceClusterEvent): void {
    try {
      this.onEvent(e);
    } catch (err) {
      this.log.error({ err: reasonOf(err) }, 'services: the event handler failed');
    }
  }

  private up(key: string, value: string): void {
    const name = key.slice(this.dir.length);
    if (this.known.get(name) === value) return;
    const r = serviceRecordSchema.safeParse(parseJson(value));
    if (!r.success || r.data.name !== name) {
      this.log.warn({ key }, 'services: a record in the cluster store is not a service; ignored');
      return;
    }
    this.known.set(name, value);
    this.emit({ kind: 'service-up', service: r.data as ServiceRecord });
  }

  private down(key: string): void {
    const name = key.slice(this.dir.length);
    if (!this.known.delete(name)) return;
    this.emit({ kind: 'service-down', name });
  }

  /** Reads every service, tells what changed since the caller was last told; the revision read. */
  private async resync(): Promise<bigint> {
    const res = await this.conn.txn([], [getUnder(this.dir)]);
    const seen = new Set<string>();
    for (const kv of kvsOf(res, 0)) {
      const key = kv.key.toString();
      seen.add(key.slice(this.dir.length));
      this.up(key, kv.value.toString());
    }
    for (const name of [...this.known.keys()]) if (!seen.has(name)) this.down(this.dir + name);
    return BigInt(res.header.revision);
  }

  /** Watches from the revision read; a broken watch is followed by a resync and a new watch. */
  private async follow(from: bigint): Promise<void> {
    let rev = from;
    while (!this.conn.closed) {
      try {
        if (rev === 0n) rev = await this.resync();
        const broken = new Promise<void>((resolve) => {
          const w = this.conn.client.watch().prefix(this.dir).startRevision((rev + 1n).toString()).watcher();
          this.watcher = w;
          w.on('data', (res: IWatchResponse) => {
            for (const ev of res.events) {
              const key = ev.kv.key.toString();
              if (ev.type === 'Put') this.up(key, ev.kv.value.toString());
              else this.down(key);
              rev = BigInt(ev.kv.mod_revision);
            }
          });
          w.on('error', () => resolve());
          w.on('disconnected', () => resolve());
        });
        await broken;
        await this.watcher?.cancel().catch(() => undefined);
        rev = 0n;
      } catch (err) {
        if (!this.conn.closed) this.log.debug({ err: reasonOf(err) }, 'services: watch failed, retrying');
        rev = 0n;
      }
      if (!this.conn.closed) await this.conn.sleep(jitter(500));
    }
  }
}
