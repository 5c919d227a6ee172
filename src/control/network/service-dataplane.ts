// What the network service asks of the data plane: DataplaneHost's methods it calls, by name, so
// a fake can stand in for the worker in tests.

import type { DataplaneCounters } from '../../dataplane/counters.js';
import type { DataplaneHost } from '../../ports/dataplane-host.js';

export type ServiceDataplane = Pick<
  DataplaneHost,
  | 'addNetwork'
  | 'removeNetwork'
  | 'addEndpoint'
  | 'removePort'
  | 'addPublish'
  | 'removePublish'
  | 'addPeer'
  | 'removePeer'
  | 'addRemoteEndpoint'
  | 'removeRemoteEndpoint'
  | 'snapshot'
  | 'conntrackList'
  | 'conntrackFlush'
> & {
  /** shared-memory counters, read directly */
  readonly counters: Pick<DataplaneCounters, 'portStats' | 'dropsByReason'>;
};
