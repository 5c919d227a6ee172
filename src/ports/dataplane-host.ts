// The control plane's handle on the data-plane worker: its operations (WorkerControl) become
// messages through the control channel, the worker is woken through an eventfd, and counters are
// shared memory read directly.

import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { DataplaneCounters } from '../dataplane/counters.js';
import type { DataplaneOptions } from '../dataplane/options.js';
import { type ControlReply, ControlClient, type Remote } from './control-channel.js';
import { EventFd } from './sys/eventfd.js';
import type { WorkerControl, WorkerInit, WorkerIoOptions } from './worker-protocol.js';

export class DataplaneHost {
  readonly counters = new DataplaneCounters();
  private readonly worker: Worker;
  private readonly wake = new EventFd();
  private readonly port: MessagePort;
  private readonly client: ControlClient<WorkerControl>;
  /** the worker's operations as WorkerControl declares them, each resolving once the worker has applied it */
  readonly control: Remote<WorkerControl>;
  private exited = false;

  constructor(options: Partial<DataplaneOptions>, io: WorkerIoOptions, liveStatePath: string | null = null) {
    const channel = new MessageChannel();
    this.port = channel.port1;
    const init: WorkerInit = {
      ...io,
      options,
      liveStatePath,
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

  /** Stops the worker and waits for its thread to end. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    await this.control.stop().catch(() => undefined);
    await exited;
    this.wake.close();
  }
}
