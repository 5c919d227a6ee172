// The read/write backend: epoll_wait on every device's fd, then each ready device drained with one
// read(2) per frame into a pool slot (up to batchSize), and one write(2) per frame sent. Works
// everywhere; the io_uring backend is preferred where the kernel allows it.

import { Drop } from '../dataplane/counters.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import { HEADROOM } from '../dataplane/frame-pool.js';
import { PortKind } from '../dataplane/port.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { VNET_HDR_LEN } from '../wire/virtio-net.js';
import { DevicePort } from './device-port.js';
import { type DeviceIo, type DeviceLoop, drainParent, drainTunnel, inputRead } from './device-loop.js';
import type { ParentSocket } from './parent-socket.js';
import { Epoll } from './sys/epoll.js';
import { readFrame } from './sys/frame-io.js';
import type { VxlanSocket } from './vxlan-socket.js';

const WAKE_TOKEN = 0x7fffffff;
const TUNNEL_TOKEN = 0x7ffffffe;
/** macvlan parents: this plus their index */
const PARENT_TOKEN_BASE = 0x7fff0000;

export class EpollLoop implements DeviceLoop {
  readonly backend = 'read/write';
  private readonly epoll = new Epoll(64);
  private readonly devices: (DevicePort | undefined)[] = [];
  private tunnel: VxlanSocket | null = null;
  private readonly parents: (ParentSocket | undefined)[] = [];
  // One read view per pool slot and frame start, made once, so reads allocate nothing: Ethernet
  // frames land at HEADROOM, TUN packets 14 bytes later (an Ethernet header fits in front); with a
  // virtio-net header the read starts 10 bytes earlier.
  private readonly views: Buffer[][] = [[], [], [], []];
  private readonly starts: number[][] = [[], [], [], []];

  constructor(
    private readonly dp: Dataplane,
    private readonly batchSize: number,
    wakeFd: number,
    private readonly onWake: () => void,
  ) {
    this.epoll.add(wakeFd, WAKE_TOKEN);
    const pool = dp.pool;
    for (let i = 0; i < pool.slots; i++) {
      const base = pool.slotStart(i) + HEADROOM;
      const end = pool.slotStart(i) + pool.slotSize;
      const starts = [base, base + ETH_HLEN, base - VNET_HDR_LEN, base + ETH_HLEN - VNET_HDR_LEN];
      for (let k = 0; k < 4; k++) {
        this.views[k].push(pool.slab.subarray(starts[k], end));
        this.starts[k].push(starts[k]);
      }
    }
  }

  open(fd: number): DeviceIo {
    return new DevicePort(fd);
  }

  attach(portId: number, io: DeviceIo): void {
    this.devices[portId] = io as DevicePort;
    this.epoll.add(io.fd, portId);
  }

  detach(portId: number): void {
    const dev = this.devices[portId];
    if (dev === undefined) return;
    try {
      this.epoll.remove(dev.fd);
    } catch {
      // the fd may already be gone (device deleted with its namespace)
    }
    this.devices[portId] = undefined;
  }

  attachTunnel(sock: VxlanSocket): void {
    this.tunnel = sock;
    this.epoll.add(sock.socket.fd, TUNNEL_TOKEN);
  }

  attachParent(sock: ParentSocket): void {
    this.parents[sock.index] = sock;
    this.epoll.add(sock.fd, PARENT_TOKEN_BASE + sock.index);
  }

  detachParent(index: number): void {
    const sock = this.parents[index];
    if (sock === undefined) return;
    this.parents[index] = undefined;
    try {
      this.epoll.remove(sock.fd);
    } catch {
      // closed already
    }
  }

  poll(timeoutMs: number): boolean {
    const n = this.epoll.wait(timeoutMs);
    const dp = this.dp;
    dp.now = performance.now();
    let traffic = false;
    for (let i = 0; i < n; i++) {
      const token = this.epoll.token(i);
      if (token === WAKE_TOKEN) {
        this.onWake();
      } else if (token === TUNNEL_TOKEN) {
        drainTunnel(dp, this.tunnel!, this.batchSize);
        traffic = true;
      } else if (token >= PARENT_TOKEN_BASE) {
        const sock = this.parents[token - PARENT_TOKEN_BASE];
        if (sock !== undefined && drainParent(dp, sock, this.batchSize) < 0) this.detachParent(sock.index);
        traffic = true;
      } else {
        this.drain(token);
        traffic = true;
      }
    }
    return traffic;
  }

  private drain(portId: number): void {
    const dev = this.devices[portId];
    const port = this.dp.tables.ports[portId];
    if (dev === undefined || port === undefined) return;
    const dp = this.dp;
    const pool = dp.pool;
    const kind = (port.vnet ? 2 : 0) + (port.kind === PortKind.Host ? 1 : 0);
    const views = this.views[kind];
    const starts = this.starts[kind];
    for (let k = 0; k < this.batchSize; k++) {
      const off = pool.alloc();
      if (off < 0) break;
      const slot = pool.slotOf(off);
      const view = views[slot];
      const n = readFrame(dev.fd, view, view.length);
      if (n <= 0) {
        // a device that fails (its namespace was deleted) leaves the loop at once instead of
        // waking it forever; the control plane removes the endpoint when it notices
        if (n < 0) {
          dp.counters.drop(Drop.TxError);
          this.detach(portId);
        }
        break;
      }
      inputRead(dp, portId, pool.slab, starts[slot], n);
    }
    dp.endBatch();
  }

  close(): void {
    this.epoll.close();
  }
}
