// The control plane's handle on the data-plane worker: its operations (WorkerControl) become
// messages through the control channel, the worker is woken through an eventfd, and counters are
// shared memory read directly.

import type { PortProtocol } from '../wire/ipv4.js';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { DataplaneCounters } from '../dataplane/counters.js';
import type { DataplaneOptions } from '../dataplane/options.js';
import type { EndpointSpec, HostPortSpec, NetworkSpec, RemoteEndpointSpec, UplinkSpec } from '../dataplane/specs.js';
import type { PublishRule } from '../dataplane/published-ports.js';
import { type ControlReply, ControlClient, type Remote } from './control-channel.js';
import { EventFd } from './sys/eventfd.js';
import type {
  ConntrackRecord,
  Snapshot,
  TunnelSpec,
  WorkerControl,
  WorkerInit,
  WorkerIoOptions,
} from './worker-protocol.js';

export class DataplaneHost implements Remote<WorkerControl> {
  readonly counters = new DataplaneCounters();
  private readonly worker: Worker;
  private readonly wake = new EventFd();
  private readonly port: MessagePort;
  private readonly client: ControlClient<WorkerControl>;
  /** the worker's operations, each resolving once the worker has applied it */
  private readonly control: Remote<WorkerControl>;
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
    this.client = new ControlClient<WorkerControl>((request) => {
      if (this.exited) throw new Error('the data-plane worker is not running');
      this.port.postMessage(request);
      this.wake.signal();
    });
    this.control = this.client.remote;
    channel.port1.on('message', (reply: ControlReply) => this.client.receive(reply));
    channel.port1.unref();
    this.worker.on('error', (err) => this.client.failAll(err));
    this.worker.on('exit', (code) => {
      this.exited = true;
      this.client.failAll(new Error(`data-plane worker exited (code ${code})`));
    });
  }

  // Each operation as declared in WorkerControl; `implements Remote<WorkerControl>` keeps these in step.

  addNetwork(spec: NetworkSpec): Promise<void> {
    return this.control.addNetwork(spec);
  }

  removeNetwork(index: number): Promise<void> {
    return this.control.removeNetwork(index);
  }

  addEndpoint(spec: EndpointSpec, fd: number): Promise<number> {
    return this.control.addEndpoint(spec, fd);
  }

  addHostPort(spec: HostPortSpec, fd: number): Promise<number> {
    return this.control.addHostPort(spec, fd);
  }

  removePort(portId: number): Promise<void> {
    return this.control.removePort(portId);
  }

  addUplink(spec: UplinkSpec, fd: number): Promise<number> {
    return this.control.addUplink(spec, fd);
  }

  addPublish(rule: PublishRule): Promise<void> {
    return this.control.addPublish(rule);
  }

  removePublish(proto: PortProtocol, hostPort: number): Promise<void> {
    return this.control.removePublish(proto, hostPort);
  }

  conntrackList(limit: number): Promise<ConntrackRecord[]> {
    return this.control.conntrackList(limit);
  }

  conntrackFlush(): Promise<number> {
    return this.control.conntrackFlush();
  }

  setTunnel(spec: TunnelSpec): Promise<number> {
    return this.control.setTunnel(spec);
  }

  /** Sends DNS queries to gateway addresses to ip:port (a socket of the daemon); port 0 turns it off. */
  setDns(ip: number, port: number): Promise<void> {
    return this.control.setDns(ip, port);
  }

  addPeer(network: number, vtepIp: number): Promise<void> {
    return this.control.addPeer(network, vtepIp);
  }

  removePeer(network: number, vtepIp: number): Promise<void> {
    return this.control.removePeer(network, vtepIp);
  }

  addRemoteEndpoint(spec: RemoteEndpointSpec): Promise<void> {
    return this.control.addRemoteEndpoint(spec);
  }

  removeRemoteEndpoint(network: number, ip: number): Promise<void> {
    return this.control.removeRemoteEndpoint(network, ip);
  }

  snapshot(): Promise<Snapshot> {
    return this.control.snapshot();
  }

  /** Stops the worker and waits for its thread to end. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    await this.control.stop().catch(() => undefined);
    await exited;
    this.wake.close();
  }
}
