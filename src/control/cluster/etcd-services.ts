// The services of overlay networks in etcd (services/service-cluster.ts), beside the cluster
// store's keys and under the same prefix, written without a lease (a service outlives the host that
// made it, as a network does):
//   <prefix>/services/<name>        ServiceRecord
//   <prefix>/service-vips/<vip>     "<name>"
// A service and its VIP are written and removed in one transaction, so names and VIPs are unique
// cluster-wide. The cluster store's watch (etcd-watch.ts) replays the services at start and
// follows them; when it breaks, the services are read again and the difference is told.

import type { Logger } from 'pino';
import { ApiFailure } from '../gateway-api.js';
import type { ServiceClusterEvent, ServiceClusterStore } from '../services/service-cluster.js';
import { type ServiceRecord, serviceRecordSchema } from '../services/service-record.js';
import { EtcdConnection } from './etcd-connection.js';
import { parseJson } from './etcd-keys.js';
import { absent, del, get, kvsOf, put } from './etcd-txn.js';
import { ClusterWatch, type WatchSpace } from './etcd-watch.js';

export interface EtcdServicesOptions {
  endpoints: string[];
  prefix: string;
  log: Logger;
  callTimeoutMs?: number;
}

/** The services' keys as events: a record that is not a service (or not under its own name) is logged and ignored. */
function serviceSpace(dir: string, log: Logger): WatchSpace<ServiceClusterEvent> {
  const nameOf = (key: string) => key.slice(dir.length);
  return {
    prefix: dir,
    dirs: [dir],
    rank: (key) => (key.startsWith(dir) && nameOf(key) !== '' && !nameOf(key).includes('/') ? 1 : null),
    up: (key, value) => {
      const r = serviceRecordSchema.safeParse(parseJson(value));
      if (!r.success || r.data.name !== nameOf(key)) {
        log.warn({ key }, 'services: a record in the cluster store is not a service; ignored');
        return null;
      }
      return { kind: 'service-up', service: r.data as ServiceRecord };
    },
    down: (key) => ({ kind: 'service-down', name: nameOf(key) }),
  };
}

export class EtcdServices implements ServiceClusterStore {
  private readonly conn: EtcdConnection;
  private readonly dir: string;
  private readonly vipDir: string;
  private readonly watch: ClusterWatch<ServiceClusterEvent>;

  constructor(opts: EtcdServicesOptions) {
    const p = opts.prefix.replace(/\/+$/, '');
    this.dir = `${p}/services/`;
    this.vipDir = `${p}/service-vips/`;
    this.conn = new EtcdConnection({ endpoints: opts.endpoints, log: opts.log, callTimeoutMs: opts.callTimeoutMs ?? 3000 });
    this.watch = new ClusterWatch({ conn: this.conn, log: opts.log, space: serviceSpace(this.dir, opts.log) });
  }

  start(onEvent: (e: ServiceClusterEvent) => void): Promise<void> {
    return this.watch.start(onEvent);
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
    if (this.conn.closed) return;
    this.conn.shut();
    await this.watch.stop();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.watch.loopDone(), new Promise((r) => (timer = setTimeout(r, 500)))]).finally(() => clearTimeout(timer));
    this.conn.closeClient();
  }
}
