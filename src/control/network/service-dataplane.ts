// What the network service asks of the data plane: the worker operations it calls, by name, so a
// fake can stand in for the worker in tests.

import type { DataplaneCounters } from '../../dataplane/counters.js';
import type { Remote } from '../../ports/control-channel.js';
import type { WorkerControl } from '../../ports/worker-protocol.js';

export interface ServiceDataplane {
  readonly control: Pick<
    Remote<WorkerControl>,
    | 'addNetwork'
    | 'removeNetwork'
    | 'addEndpoint'
    | 'removePort'
    | 'addParent'
    | 'removeParent'
    | 'addParentPort'
    | 'addPublish'
    | 'addPublish6'
    | 'removePublish'
    | 'addPeer'
    | 'removePeer'
    | 'addRemoteEndpoint'
    | 'addRemoteSubnet'
    | 'removeRemoteSubnet'
    | 'addHostRoute'
    | 'removeHostRoute'
    | 'removeRemoteEndpoint'
    | 'addRemoteEndpoint6'
    | 'removeRemoteEndpoint6'
    | 'snapshot'
    | 'conntrackList'
    | 'conntrackFlush'
    | 'liveStateRestored'
    | 'setServiceRange'
    | 'setService'
    | 'removeService'
  >;
  /** shared-memory counters, read directly */
  readonly counters: Pick<DataplaneCounters, 'portStats' | 'dropsByReason' | 'gauges' | 'ctStates' | 'vxlan' | 'services'>;
}
