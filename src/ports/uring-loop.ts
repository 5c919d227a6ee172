// The io_uring backend. Every device has one multishot read armed into a ring of provided buffers
// (regions of the frame slab, so a frame lands with headroom in front as in a pool slot); the
// loop's one system call, io_uring_enter, submits the writes queued since the last one and waits
// for completions, which are then read straight from the mapped ring. Small frames are copied into
// a staging slot and written by an SQE, so the frame's own buffer is free at the end of the batch
// as with write(2); a large frame (a super segment), or one that finds no slot, is written with
// write(2) after what is queued has been submitted, so a port's frames keep their order. A staging
// slot is reused only after its write's completion. Completions run in 'defer' mode: only when
// this thread enters the kernel, in one batch; busy polling spins on the ring's flags without
// system calls until there is something to collect.

import { Drop } from '../dataplane/counters.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import { copyBytes, HEADROOM, SLOT_SIZE } from '../dataplane/frame-pool.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { VNET_HDR_LEN } from '../wire/virtio-net.js';
import { type DeviceIo, type DeviceLoop, drainParent, drainTunnel, inputRead } from './device-loop.js';
import type { ParentSocket } from './parent-socket.js';
import { writeFrameAt } from './sys/frame-io.js';
import { type BufferRing, IORING_CQE_F_BUFFER, IORING_CQE_F_MORE, IoUring, POLLIN } from './sys/io-uring.js';
import { Errno } from './sys/libc.js';
import type { VxlanSocket } from './vxlan-socket.js';

/** Provided buffers for reads: one 64 KiB slot each (a TSO super segment must fit). */
export const RX_BUFFERS = 256;
/** Staging for small frames written by SQE. */
const STAGE_SLOT = 2048;
const STAGE_SLOTS = 1024;
export const STAGE_BYTES = STAGE_SLOT * STAGE_SLOTS;
/** Where a read lands in its slot: a TUN packet after its virtio-net header then sits at HEADROOM + ETH_HLEN. */
const RX_AT = HEADROOM + ETH_HLEN - VNET_HDR_LEN;
const GROUP = 0;

// user data of each kind of request (32-bit tokens): reads carry the port id and its generation
const PORT_BITS = 12;
const PORT_MASK = (1 << PORT_BITS) - 1;
const WRITE_BASE = 0x4000_0000;
const WAKE = 0x7fff_fff0;
const TUNNEL = 0x7fff_fff1;
const CANCEL = 0x7fff_fff2;
/** macvlan parents' polls: this plus their index */
const PARENT_BASE = 0x7fff_0000;
/** Frames handled between two ends of batch (flushes; buffers go back to the kernel). */
const FRAMES_PER_BATCH = 64;
/** recvmmsg rounds for one underlay wake-up before the other devices get their turn. */
const TUNNEL_ROUNDS = 8;

/** A device's writer: small frames by SQE through a staging slot, large ones by write(2). */
class UringDeviceIo implements DeviceIo {
  lastError = 0;
  constructor(
    readonly fd: number,
    private readonly loop: UringLoop,
  ) {}

  send(buf: Buffer, off: number, len: number): boolean {
    return this.loop.write(this, buf, off, len);
  }
}

export class UringLoop implements DeviceLoop {
  readonly backend = 'io_uring';
  private readonly ring: IoUring;
  private readonly buffers: BufferRing;
  private readonly slab: Buffer;
  private readonly rxBase: number;
  private readonly stageBase: number;
  private readonly devices: (UringDeviceIo | undefined)[] = [];
  /** generation of each port id, so completions of a removed port's read are not taken for its successor's */
  private readonly generation = new Int32Array(PORT_MASK + 1);
  private readonly freeStage = new Int32Array(STAGE_SLOTS);
  private freeStageCount = STAGE_SLOTS;
  /** the device each staging slot is being written to (its write errors are its own) */
  private readonly stageDev: (UringDeviceIo | undefined)[] = new Array<UringDeviceIo | undefined>(STAGE_SLOTS).fill(undefined);
  /** buffers handled since the last end of batch, given back to the kernel after it */
  private readonly used = new Int32Array(RX_BUFFERS);
  private usedCount = 0;
  private framesInBatch = 0;
  private tunnel: VxlanSocket | null = null;
  private readonly parents: (ParentSocket | undefined)[] = [];
  /** parents that reported frames (or had more than one wake-up's share) and are drained after the completions */
  private readonly parentReady: boolean[] = [];
  private parentBacklog = false;
  /** the underlay had more than one wake-up's share: drain it again without waiting */
  private tunnelBacklog = false;
  private wakeSeen = false;

  constructor(
    private readonly dp: Dataplane,
    private readonly batchSize: number,
    private readonly wakeFd: number,
    private readonly onWake: () => void,
  ) {
    if (dp.options.deviceRxSlots < RX_BUFFERS || dp.options.deviceTxBytes < STAGE_BYTES) {
      throw new Error(`the io_uring backend needs deviceRxSlots >= ${RX_BUFFERS} and deviceTxBytes >= ${STAGE_BYTES}`);
    }
    this.slab = dp.memory.slab;
    this.rxBase = dp.deviceRxBase;
    this.stageBase = dp.deviceTxBase;
    for (let i = 0; i < STAGE_SLOTS; i++) this.freeStage[i] = STAGE_SLOTS - 1 - i;
    // CQ room for every buffer's completion and every write in flight
    this.ring = IoUring.open(1024, { cqEntries: 8192, taskRun: 'defer' });
    try {
      this.buffers = this.ring.registerBufferRing(GROUP, this.slab, this.rxBase + RX_AT, SLOT_SIZE, SLOT_SIZE - RX_AT, RX_BUFFERS);
      this.armWake();
    } catch (err) {
      this.ring.close();
      throw err;
    }
  }

  open(fd: number): DeviceIo {
    return new UringDeviceIo(fd, this);
  }

  attach(portId: number, io: DeviceIo): void {
    if (portId > PORT_MASK) throw new Error(`port ${portId} beyond the io_uring backend's ${PORT_MASK + 1} ports`);
    this.devices[portId] = io as UringDeviceIo;
    this.generation[portId] = (this.generation[portId] + 1) & 0x3fff;
    this.arm(portId);
  }

  detach(portId: number): void {
    const dev = this.devices[portId];
    if (dev === undefined) return;
    const armed = this.token(portId);
    this.devices[portId] = undefined;
    // its read ends with -ECANCELED; frames of it still in the ring are recognised by the
    // generation and only give their buffers back. By user data: the fd may be closed already.
    this.generation[portId] = (this.generation[portId] + 1) & 0x3fff;
    this.queue(() => this.ring.cancel(armed, CANCEL));
    this.ring.submit();
  }

  attachTunnel(sock: VxlanSocket): void {
    this.tunnel = sock;
    this.queue(() => this.ring.pollAdd(sock.socket.fd, POLLIN, TUNNEL, true));
  }

  attachParent(sock: ParentSocket): void {
    this.parents[sock.index] = sock;
    this.queue(() => this.ring.pollAdd(sock.fd, POLLIN, PARENT_BASE + sock.index, true));
  }

  detachParent(index: number): void {
    if (this.parents[index] === undefined) return;
    this.parents[index] = undefined;
    this.parentReady[index] = false;
    this.queue(() => this.ring.cancel(PARENT_BASE + index, CANCEL));
    this.ring.submit();
  }

  private token(portId: number): number {
    return portId | (this.generation[portId] << PORT_BITS);
  }

  private arm(portId: number): void {
    const dev = this.devices[portId];
    if (dev === undefined) return;
    const t = this.token(portId);
    this.queue(() => this.ring.readMultishot(dev.fd, GROUP, t));
  }

  private armWake(): void {
    this.queue(() => this.ring.pollAdd(this.wakeFd, POLLIN, WAKE, true));
  }

  /** Queues an SQE, submitting what is queued first when the SQ ring is full. */
  private queue(prep: () => boolean): void {
    if (prep()) return;
    this.ring.submit();
    if (!prep()) throw new Error('io_uring: the submission queue stays full');
  }

  write(dev: UringDeviceIo, buf: Buffer, off: number, len: number): boolean {
    if (len <= STAGE_SLOT && this.freeStageCount > 0 && this.ring.sqSpace() > 0) {
      const slot = this.freeStage[--this.freeStageCount];
      const at = this.stageBase + slot * STAGE_SLOT;
      copyBytes(buf, off, off + len, this.slab, at);
      this.stageDev[slot] = dev;
      this.ring.write(dev.fd, this.slab, at, len, WRITE_BASE + slot);
      return true;
    }
    // what is queued goes first (TAP writes complete within the submit), then this frame
    if (this.ring.sqPending() > 0) this.ring.submit();
    const n = writeFrameAt(dev.fd, buf, off, len);
    if (n >= 0) return true;
    dev.lastError = n;
    return false;
  }

  poll(timeoutMs: number): boolean {
    const ring = this.ring;
    const backlog = this.tunnelBacklog || this.parentBacklog;
    if (timeoutMs === 0 && !backlog && ring.cqReady() === 0 && !ring.taskWorkPending() && ring.sqPending() === 0) {
      // busy polling: nothing has arrived, and finding that out cost no system call
      this.dp.now = performance.now();
      return false;
    }
    const r = ring.submitAndWait(timeoutMs === 0 || backlog ? 0 : 1, timeoutMs === 0 || backlog ? -1 : timeoutMs);
    if (r < 0 && r !== -Errno.EBUSY) this.dp.counters.drop(Drop.TxError);
    const dp = this.dp;
    dp.now = performance.now();
    let traffic = backlog;
    if (this.tunnelBacklog) this.drainUnderlay();
    if (this.parentBacklog) this.drainParents();
    const n = ring.cqReady();
    for (let i = 0; i < n; i++) {
      const data = ring.cqeUserData(i);
      const res = ring.cqeRes(i);
      const flags = ring.cqeFlags(i);
      if (data < WRITE_BASE) {
        this.completeRead(data, res, flags);
        traffic = true;
      } else if (data >= PARENT_BASE && data < WAKE) {
        const index = data - PARENT_BASE;
        const sock = this.parents[index];
        if (sock !== undefined) {
          if ((flags & IORING_CQE_F_MORE) === 0) this.queue(() => ring.pollAdd(sock.fd, POLLIN, data, true));
          this.parentReady[index] = true;
          this.parentBacklog = true;
          traffic = true;
        }
      } else if (data < WAKE) {
        this.completeWrite(data - WRITE_BASE, res);
      } else if (data === WAKE) {
        this.wakeSeen = true;
        if ((flags & IORING_CQE_F_MORE) === 0) this.armWake();
      } else if (data === TUNNEL) {
        if ((flags & IORING_CQE_F_MORE) === 0) this.queue(() => ring.pollAdd(this.tunnel!.socket.fd, POLLIN, TUNNEL, true));
        this.tunnelBacklog = true;
        traffic = true;
      }
      // CANCEL: nothing to do
    }
    ring.advance(n);
    this.endBatch();
    if (this.tunnelBacklog) this.drainUnderlay();
    if (this.parentBacklog) this.drainParents();
    if (this.wakeSeen) {
      this.wakeSeen = false;
      this.onWake();
    }
    return traffic;
  }

  private completeRead(data: number, res: number, flags: number): void {
    const portId = data & PORT_MASK;
    const current = data === this.token(portId) && this.devices[portId] !== undefined;
    if ((flags & IORING_CQE_F_BUFFER) !== 0) {
      if (current && res > 0) inputRead(this.dp, portId, this.slab, this.rxBase + (flags >>> 16) * SLOT_SIZE + RX_AT, res);
      this.used[this.usedCount++] = flags >>> 16;
      if (++this.framesInBatch === FRAMES_PER_BATCH) this.endBatch();
    }
    if ((flags & IORING_CQE_F_MORE) !== 0 || !current) return;
    // the read ended: out of buffers (the frames wait in the device and are read once buffers are
    // back), a full completion ring, or the device failed
    if (res > 0 || res === -Errno.ENOBUFS || res === -Errno.EINTR || res === -Errno.EAGAIN) {
      this.rearm[this.rearmCount++] = data;
      return;
    }
    if (res === -Errno.ECANCELED) return;
    // a device that fails (deleted) leaves the loop at once; the control plane removes the port
    this.dp.counters.drop(Drop.TxError);
    this.devices[portId]!.lastError = res;
    this.devices[portId] = undefined;
  }

  /** tokens of reads that ended and are armed again at the end of the batch */
  private readonly rearm = new Int32Array(PORT_MASK + 1);
  private rearmCount = 0;

  private completeWrite(slot: number, res: number): void {
    this.freeStage[this.freeStageCount++] = slot;
    if (res < 0) {
      this.dp.counters.drop(Drop.TxError);
      this.stageDev[slot]!.lastError = res;
    }
  }

  /** End of a batch: flushes, then the buffers go back to the kernel and ended reads are re-armed. */
  private endBatch(): void {
    this.dp.endBatch();
    this.framesInBatch = 0;
    if (this.usedCount > 0) {
      for (let i = 0; i < this.usedCount; i++) this.buffers.recycle(this.used[i]);
      this.usedCount = 0;
      this.buffers.commit();
    }
    if (this.rearmCount > 0) {
      // only reads that are still the port's own: a port re-attached meanwhile has its new read
      for (let i = 0; i < this.rearmCount; i++) {
        const t = this.rearm[i];
        if (t === this.token(t & PORT_MASK)) this.arm(t & PORT_MASK);
      }
      this.rearmCount = 0;
    }
  }

  /** Each parent that has frames, up to TUNNEL_ROUNDS batches; one with more stays ready for the next poll. */
  private drainParents(): void {
    this.parentBacklog = false;
    const ready = this.parentReady;
    for (let i = 0; i < ready.length; i++) {
      if (!ready[i]) continue;
      ready[i] = false;
      const sock = this.parents[i];
      if (sock === undefined) continue;
      let more = true;
      let failed = false;
      for (let r = 0; r < TUNNEL_ROUNDS && more; r++) {
        const got = drainParent(this.dp, sock, this.batchSize);
        failed = got < 0;
        more = got === this.batchSize;
      }
      if (failed) {
        this.detachParent(i); // its device is down or gone: read again once the control plane attaches it anew
        continue;
      }
      if (more) {
        ready[i] = true;
        this.parentBacklog = true;
      }
    }
  }

  private drainUnderlay(): void {
    const sock = this.tunnel;
    this.tunnelBacklog = false;
    if (sock === null) return;
    for (let r = 0; r < TUNNEL_ROUNDS; r++) {
      if (drainTunnel(this.dp, sock, this.batchSize) < this.batchSize) return;
    }
    this.tunnelBacklog = true;
  }

  close(): void {
    this.ring.close();
  }
}
