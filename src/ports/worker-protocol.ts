// Messages between the control plane (main thread) and the data-plane worker.

import type { MessagePort } from 'node:worker_threads';
import type { DataplaneOptions } from '../dataplane/options.js';
import type { EndpointSpec, HostPortSpec, NetworkSpec, UplinkSpec } from '../dataplane/specs.js';
import type { PublishRule } from '../dataplane/published-ports.js';
import type { UnderlayOptions } from './vxlan-socket.js';

/** How the worker's loop does its I/O. */
export interface WorkerIoOptions {
  /** frames drained per port per wake-up */
  batchSize: number;
  /** after traffic, poll without blocking for this long before sleeping again (0: never) */
  busyPollUs: number;
  /** the device I/O backend the daemon chose (io_uring needs the data plane's device memory) */
  backend: 'io_uring' | 'read-write';
  /** why io_uring is not used ('' when it is, or was not wanted) */
  fallbackReason: string;
}

export interface WorkerInit extends WorkerIoOptions {
  options: Partial<DataplaneOptions>;
  counters: SharedArrayBuffer;
  wakeFd: number;
  port: MessagePort;
}

export type WorkerRequest =
  | { id: number; op: 'addNetwork'; spec: NetworkSpec }
  | { id: number; op: 'removeNetwork'; index: number }
  | { id: number; op: 'addEndpoint'; spec: EndpointSpec; fd: number }
  | { id: number; op: 'addHostPort'; spec: HostPortSpec; fd: number }
  | { id: number; op: 'removePort'; portId: number }
  | { id: number; op: 'addUplink'; spec: UplinkSpec; fd: number }
  | { id: number; op: 'addPublish'; rule: PublishRule }
  | { id: number; op: 'removePublish'; proto: 6 | 17; hostPort: number }
  | { id: number; op: 'conntrackList'; limit: number }
  | { id: number; op: 'conntrackFlush' }
  | { id: number; op: 'setTunnel'; localIp: number; port: number; underlayMtu: number; underlay: UnderlayOptions }
  | { id: number; op: 'setDns'; ip: number; port: number }
  | { id: number; op: 'addPeer'; network: number; vtepIp: number }
  | { id: number; op: 'removePeer'; network: number; vtepIp: number }
  | { id: number; op: 'addRemoteEndpoint'; network: number; ip: number; mac: number; vtepIp: number }
  | { id: number; op: 'removeRemoteEndpoint'; network: number; ip: number }
  | { id: number; op: 'snapshot' }
  | { id: number; op: 'stop' };

export interface SnapshotPort {
  id: number;
  name: string;
  kind: 'tap' | 'tun' | 'uplink' | 'vxlan';
  network: number;
  lastError: number;
}

/** How the worker moves frames: chosen at start, shown by `pontoon status`. */
export interface IoSnapshot {
  /** the device I/O backend, e.g. "read/write" */
  backend: string;
  /** why a preferred backend is not in use ('' when it is) */
  fallbackReason: string;
  /** microseconds the loop polls after traffic before it blocks (0: never) */
  busyPollUs: number;
  underlay: { gso: boolean; gsoRefused: string; gro: boolean; receiveBuffer: number; sendBuffer: number } | null;
}

export interface Snapshot {
  io: IoSnapshot;
  ports: SnapshotPort[];
  neighbours: { network: number; ip: number; mac: number; state: number; ageMs: number }[];
  fdb: { network: number; mac: number; port: number; ageMs: number }[];
}

export interface ConntrackTuple {
  src: number;
  dst: number;
  sport: number;
  dport: number;
}

export interface ConntrackRecord {
  proto: number;
  state: number;
  flags: number;
  expiresInMs: number;
  orig: ConntrackTuple;
  reply: ConntrackTuple;
  packets: [number, number];
  bytes: [number, number];
}

export type WorkerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };
