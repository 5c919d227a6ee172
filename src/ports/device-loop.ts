// How the data-plane thread waits for frames and moves them between the devices and the pipeline.
// Two backends: epoll with one read(2)/write(2) per frame (epoll-loop.ts), and io_uring with
// multishot reads into provided buffers and batched writes (uring-loop.ts). Both hand every frame
// to the same pipeline the same way (inputRead) and drain the VXLAN underlay with recvmmsg.

import { Drop, Gauge } from '../dataplane/counters.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import { type PortIo, PortKind } from '../dataplane/port.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { VNET_HDR_LEN } from '../wire/virtio-net.js';
import type { ParentSocket } from './parent-socket.js';
import type { VxlanSocket } from './vxlan-socket.js';

/** A device's side of a port: how the pipeline's frames are written, and the last write error. */
export interface DeviceIo extends PortIo {
  readonly fd: number;
  /** last negative errno of a write, for `pontoon status` */
  lastError: number;
}

export interface DeviceLoop {
  /** "read/write" or "io_uring" */
  readonly backend: string;
  /** The writer of a device's frames (a port is made with it first: its id comes after). */
  open(fd: number): DeviceIo;
  /** Frames of port `portId` are read from its device from now on. */
  attach(portId: number, io: DeviceIo): void;
  /** Stops reading port `portId` (the device may already be gone). */
  detach(portId: number): void;
  attachTunnel(sock: VxlanSocket): void;
  /** A macvlan parent's socket is read from now on (its frames go to Dataplane.inputParent). */
  attachParent(sock: ParentSocket): void;
  /** Stops reading parent `index` (its socket may already be closed). */
  detachParent(index: number): void;
  /**
   * Waits up to `timeoutMs` (0: does not block) for frames, control wake-ups and the underlay,
   * and handles everything ready. Sets dp.now. Returns true when frames were handled.
   */
  poll(timeoutMs: number): boolean;
  close(): void;
}

/**
 * One frame read from port `portId`'s device at slab[at, at+n): with a virtio-net header first
 * when the port takes offloads. For the host's TUN port the data is an IP packet and ETH_HLEN
 * bytes in front of it must be free (the pipeline writes an Ethernet header there).
 */
export function inputRead(dp: Dataplane, portId: number, slab: Buffer, at: number, n: number): void {
  const port = dp.tables.ports[portId];
  if (port === undefined) return;
  if (!port.vnet) {
    dp.input(portId, slab, at, n);
    return;
  }
  if (n < VNET_HDR_LEN) {
    dp.counters.drop(Drop.Malformed);
    return;
  }
  dp.frame.setOffloadFromVnet(slab, at, port.kind === PortKind.Host ? ETH_HLEN : 0);
  dp.input(portId, slab, at + VNET_HDR_LEN, n - VNET_HDR_LEN);
  dp.frame.clearOffload();
}

/**
 * Up to `batch` messages from the underlay (recvmmsg), each datagram's inner frame where any frame
 * starts; a message the kernel coalesced (UDP GRO) is a train of equal datagrams, taken one by
 * one. Ends the batch. Returns how many messages came: `batch` means more may be waiting.
 */
export function drainTunnel(dp: Dataplane, sock: VxlanSocket, batch: number): number {
  const slab = dp.pool.slab;
  const n = sock.receive(dp.pool, batch);
  let datagrams = 0;
  for (let i = 0; i < n; i++) {
    const off = sock.rxOffset(i);
    const len = sock.rxLength(i);
    const seg = sock.rxSegment(i);
    const vtep = sock.rxVtep(i);
    if (seg === 0 || len <= seg) {
      if (len > 0) dp.inputTunnel(slab, off, len, vtep);
      datagrams++;
      continue;
    }
    for (let p = 0; p < len; p += seg, datagrams++) dp.inputTunnel(slab, off + p, Math.min(seg, len - p), vtep);
  }
  dp.counters.gauges[Gauge.UnderlayRxDatagrams] += datagrams;
  dp.endBatch();
  return n;
}

/**
 * Up to `batch` frames from a macvlan parent (recvmmsg), each to the port of its VLAN, with the
 * offloads its virtio-net header gives. Ends the batch. Returns how many came: `batch` means more
 * may be waiting, -1 that the socket failed (the loop then stops reading it).
 */
export function drainParent(dp: Dataplane, sock: ParentSocket, batch: number): number {
  const slab = dp.pool.slab;
  const n = sock.receive(dp.pool, batch);
  if (n < 0) {
    dp.endBatch();
    return -1; // failed: the loop stops reading it
  }
  const vnet = sock.vnet;
  for (let i = 0; i < n; i++) {
    const len = sock.rxLength(i);
    if (len === 0) continue;
    const off = sock.rxOffset(i);
    if (!vnet) {
      dp.inputParent(sock.index, slab, off, len, sock.rxVlan(i));
      continue;
    }
    dp.frame.setOffloadFromVnet(slab, off - VNET_HDR_LEN, 0);
    dp.inputParent(sock.index, slab, off, len, sock.rxVlan(i));
    dp.frame.clearOffload();
  }
  dp.endBatch();
  return n;
}
