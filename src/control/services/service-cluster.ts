// Where the services of overlay networks live so that every host programs the same VIP, ports and
// selector: the cluster store (etcd: cluster/etcd-services.ts). Backends are not stored: every host
// derives them from the network's endpoints, local and remote, which the cluster store already holds.

import type { ServiceRecord } from './service-record.js';

export type ServiceClusterEvent = { kind: 'service-up'; service: ServiceRecord } | { kind: 'service-down'; name: string };

export interface ServiceClusterStore {
  /** Reads and replays every service, then keeps calling `onEvent` for every change until close(). */
  start(onEvent: (e: ServiceClusterEvent) => void): Promise<void>;
  /**
   * Writes a service and claims its VIP cluster-wide, in one transaction: ApiFailure(409) when the
   * name is taken; `vipTaken` when only the VIP is (the caller tries the next one).
   */
  create(rec: ServiceRecord): Promise<'ok' | 'vipTaken'>;
  remove(rec: ServiceRecord): Promise<void>;
  close(): Promise<void>;
}
