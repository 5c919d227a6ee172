// The control plane's handle on the data-plane worker: requests become messages, the worker is
// woken through an eventfd, and counters are shared memory read directly.

import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { DataplaneCounters } from '../dataplane/counters.js';
import type { DataplaneOptions } from '../dataplane/options.js';
import type { EndpointSpec, HostPortSpec, NetworkSpec, UplinkSpec } from '../dataplane/specs.js';
import type { PublishRule } from '../dataplane/published-ports.js';
import type { UnderlayOptions } from './vxlan-socket.js';
import { EventFd } from './sys/eventfd.js';
import type { ConntrackRecord, Snapshot, WorkerInit, WorkerIoOptions, WorkerReply, WorkerRequest } from './worker-protocol.js';

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };
// distributive Omit, so each request keeps its own fields
type RequestBody = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

export class DataplaneHost {
  readonly counters = new DataplaneCounters();
  private readonly worker: Worker;
  private readonly wake = new EventFd();
  private readonly port: MessagePort;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited = false;

  constructor(options: Partial<DataplaneOptions>, io: WorkerIoOptions) {
    const channel = new MessageChannel();
    this.port = channel.port1;
    const init: WorkerInit = {
      ...io,
      options,
      counters: this.counters.sab,
      wakeFd: this.wake.fd,
      port: channel.port2,
    };
    this.worker = new Worker(new URL('./dataplane-worker.js', import.meta.url), {
      workerData: init,
      transferList: [channel.port2],
    });
    channel.port1.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(new Error(reply.error));
    });
    channel.port1.unref();
    this.worker.on('error', (err) => this.failAll(err));
    this.worker.on('exit', (code) => {
      this.exited = true;
      this.failAll(new Error(`data-plane worker exited (code ${code})`));
    });
  }

  /** Resolves once the worker has applied the request. */
  private call<T>(body: RequestBody): Promise<T> {
    if (this.exited) return Promise.reject(new Error('the data-plane worker is not running'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.port.postMessage({ ...body, id });
      this.wake.signal();
    });
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  addNetwork(spec: NetworkSpec): Promise<void> {
    return this.call({ op: 'addNetwork', spec });
  }

  removeNetwork(index: number): Promise<void> {
    return this.call({ op: 'removeNetwork', index });
  }

  addEndpoint(spec: EndpointSpec, fd: number): Promise<number> {
    return this.call({ op: 'addEndpoint', spec, fd });
  }

  addHostPort(spec: HostPortSpec, fd: number): Promise<number> {
    return this.call({ op: 'addHostPort', spec, fd });
  }

  removePort(portId: number): Promise<void> {
    return this.call({ op: 'removePort', portId });
  }

  addUplink(spec: UplinkSpec, fd: number): Promise<number> {
    return this.call({ op: 'addUplink', spec, fd });
  }

  addPublish(rule: PublishRule): Promise<void> {
    return this.call({ op: 'addPublish', rule });
  }

  removePublish(proto: 6 | 17, hostPort: number): Promise<void> {
    return this.call({ op: 'removePublish', proto, hostPort });
  }

  conntrackList(limit: number): Promise<ConntrackRecord[]> {
    return this.call({ op: 'conntrackList', limit });
  }

  conntrackFlush(): Promise<number> {
    return this.call({ op: 'conntrackFlush' });
  }

  setTunnel(localIp: number, port: number, underlayMtu: number, underlay: UnderlayOptions = {}): Promise<number> {
    return this.call({ op: 'setTunnel', localIp, port, underlayMtu, underlay });
  }

  /** Sends DNS queries to gateway addresses to ip:port (a socket of the daemon); port 0 turns it off. */
  setDns(ip: number, port: number): Promise<void> {
    return this.call({ op: 'setDns', ip, port });
  }

  addPeer(network: number, vtepIp: number): Promise<void> {
    return this.call({ op: 'addPeer', network, vtepIp });
  }

  removePeer(network: number, vtepIp: number): Promise<void> {
    return this.call({ op: 'removePeer', network, vtepIp });
  }

  addRemoteEndpoint(network: number, ip: number, mac: number, vtepIp: number): Promise<void> {
    return this.call({ op: 'addRemoteEndpoint', network, ip, mac, vtepIp });
  }

  removeRemoteEndpoint(network: number, ip: number): Promise<void> {
    return this.call({ op: 'removeRemoteEndpoint', network, ip });
  }

  snapshot(): Promise<Snapshot> {
    return this.call({ op: 'snapshot' });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    await this.call({ op: 'stop' }).catch(() => undefined);
    await exited;
    this.wake.close();
  }
}
