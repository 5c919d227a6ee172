// Canned API answers and a fake client for the CLI tests.

import type { NetworkResource, NetworkSummary, StatusReport } from '../../../src/control/api-types.js';
import { ApiRequestError, type ApiClientLike } from '../../../src/cli/api-client.js';

export const BRIDGE_ID = '9f2c1d0b8a7e6f5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918f7e6d5c';
export const BACKEND_ID = '0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9';

export const SUMMARIES: NetworkSummary[] = [
  { Id: BRIDGE_ID, Name: 'bridge', Driver: 'bridge', Scope: 'local', Subnet: '172.17.0.0/16', Gateway: '172.17.0.1', IPv6: false, Internal: false, Endpoints: 2 },
  { Id: BACKEND_ID, Name: 'backend', Driver: 'bridge', Scope: 'local', Subnet: '172.18.0.0/16', Gateway: '172.18.0.1', IPv6: false, Internal: true, Endpoints: 0 },
];

export const BACKEND: NetworkResource = {
  Name: 'backend',
  Id: BACKEND_ID,
  Created: '2024-05-01T10:00:00.000Z',
  Scope: 'local',
  Driver: 'bridge',
  EnableIPv6: false,
  IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }] },
  Internal: true,
  Attachable: true,
  Containers: {},
  Options: { 'com.docker.network.driver.mtu': '1500' },
  Labels: {},
};

export const STATUS: StatusReport = {
  version: '0.1.0',
  uptimeSeconds: 3725.4,
  io: {
    backend: 'io_uring',
    fallbackReason: '',
    busyPollUs: 50,
    underlay: { family: 'IPv6', gso: true, gsoRefused: '', gro: true, receiveBuffer: 16777216, sendBuffer: 8388608 },
  },
  networks: 2,
  endpoints: 1,
  ports: [
    { id: 0, name: 'pontoon0', kind: 'tun', network: null, rxPackets: 10, rxBytes: 840, txPackets: 12, txBytes: 1008 },
    { id: 1, name: 'eth0@c1', kind: 'tap', network: 'bridge', rxPackets: 1234567, rxBytes: 98765432, txPackets: 7, txBytes: 588 },
  ],
  drops: { 'no-route': 3, malformed: 0, 'spoofed-ip': 12 },
  neighbours: [
    { network: 'bridge', ip: '172.17.0.2', mac: '02:42:ac:11:00:02', state: 'reachable', ageSeconds: 4.7 },
    { network: 'bridge', ip: '172.17.0.9', mac: null, state: 'incomplete', ageSeconds: 0 },
  ],
  fdb: [{ network: 'bridge', mac: '02:42:ac:11:00:02', port: 1, ageSeconds: 12 }],
};

export interface Call {
  socket: string;
  method: string;
  path: string;
  body?: unknown;
}

/** A client answering from `answer`; every request is recorded in `calls`. */
export function fakeClients(answer: (method: string, path: string, body: unknown) => unknown) {
  const calls: Call[] = [];
  const factory = (socket: string): ApiClientLike => ({
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      calls.push(body === undefined ? { socket, method, path } : { socket, method, path, body });
      return answer(method, path, body) as T;
    },
  });
  return { calls, factory };
}

export { ApiRequestError };
