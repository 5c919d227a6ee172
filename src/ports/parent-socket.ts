// The parent device of macvlan networks: one AF_PACKET socket on an existing interface (a NIC, a
// bond, a veth to a LAN), with the VLAN tag of every received frame (PACKET_AUXDATA: the kernel
// takes it off before packet taps see the frame) and a virtio-net header both ways
// (PACKET_VNET_HDR: TCP super segments cross whole). Frames of every VLAN share it: the data plane
// demultiplexes by the tag (Dataplane.inputParent) and gives each frame it sends its VLAN's tag.
//
// Sending: frames are queued and go out with one sendmmsg(2) at the end of the batch, as the
// underlay's datagrams do. A tagged frame is two iovecs, never a copy of the frame: the first is a
// header built in this socket's own memory (the virtio-net header with its offsets moved by the
// tag, the two MACs, the 802.1Q tag), the second the rest of the frame where it lies.
// Receiving: recvmmsg(2) into pool slots, the tag and the packet type read from each message.

import { Drop, Gauge } from '../dataplane/counters.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { FramePool } from '../dataplane/frame-pool.js';
import type { ParentIo } from '../dataplane/port.js';
import { ETHERTYPE_VLAN } from '../wire/ethernet.js';
import {
  VNET_CSUM_START,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TYPE,
  VNET_HDR_LEN,
  VNET_HDR_LENGTH,
  readLe16,
  writeLe16,
} from '../wire/virtio-net.js';
import { baseAddress } from './sys/frame-io.js';
import { Errno, bufferAddress, close, errno, recvmmsgAddr } from './sys/libc.js';
import { MessageSender, OverflowCount } from './sys/mmsg-socket.js';
import { MSG_TRUNC, MessageVector, cmsgSpace } from './sys/msghdr.js';

/** Messages per sendmmsg. */
const SEND_MESSAGES = 256;
/** Per queued message: room for a virtio-net header (10), two MACs (12) and a tag (4). */
const HDR_ROOM = 32;
/** The 802.1Q tag: TPID and TCI. */
const VLAN_TAG_LEN = 4;
const MACS_LEN = 12;

const SOL_PACKET = 263;
const PACKET_AUXDATA = 8;
/** struct tpacket_auxdata: tp_status u32, tp_len u32, tp_snaplen u32, tp_mac u16, tp_net u16, tp_vlan_tci u16, tp_vlan_tpid u16 */
const AUXDATA_LEN = 20;
const AUX_STATUS = 0;
const AUX_VLAN_TCI = 16;
const TP_STATUS_VLAN_VALID = 1 << 4;
/** sll_pkttype of the host's own frames (seen where PACKET_IGNORE_OUTGOING is missing) */
const PACKET_OUTGOING = 4;

export class ParentSocket implements ParentIo {
  /** last negative errno of a send or receive, for `pontoon status` */
  lastError = 0;

  private readonly tx = new MessageVector(SEND_MESSAGES, 8, 2);
  private readonly hdr = Buffer.alloc(SEND_MESSAGES * HDR_ROOM);
  private readonly hdrAddr = bufferAddress(this.hdr);
  private queued = 0;
  private readonly sender: MessageSender;

  private readonly rx: MessageVector;
  private readonly rxOff: Int32Array;
  /** room for the VLAN tag's auxiliary data and the drop count (SO_RXQ_OVFL) */
  private readonly controlSize = cmsgSpace(AUXDATA_LEN) + cmsgSpace(4);
  /** frames the full receive buffer dropped (when SO_RXQ_OVFL took) */
  private readonly overflow = new OverflowCount();

  constructor(
    private readonly dp: Dataplane,
    /** the socket: AF_PACKET, bound to the device, PACKET_AUXDATA and (when `vnet`) PACKET_VNET_HDR on */
    readonly fd: number,
    readonly device: string,
    /** index of this parent in the data plane's tables (Dataplane.inputParent) */
    readonly index: number,
    /** every frame carries a virtio-net header both ways */
    readonly vnet: boolean,
    readonly receiveBatch = 64,
  ) {
    this.rx = new MessageVector(receiveBatch, this.controlSize);
    this.rxOff = new Int32Array(receiveBatch);
    this.sender = new MessageSender(fd, this.tx, dp.counters.gauges, Gauge.ParentSendCalls);
  }

  // ---- sending --------------------------------------------------------------------------------

  /**
   * Queues a frame of VLAN `vlan` (0: untagged). `withVnet`: buf[off] is the frame's virtio-net
   * header (the port takes offloads), else the Ethernet header. The bytes stay where they are until
   * flush.
   */
  sendFrame(buf: Buffer, off: number, len: number, vlan: number, withVnet: boolean): boolean {
    if (this.queued === SEND_MESSAGES) this.flush();
    const i = this.queued++;
    const v = this.tx;
    const addr = baseAddress(buf) + off;
    const vn = withVnet ? VNET_HDR_LEN : 0;
    if (len < vn + MACS_LEN) {
      this.queued--;
      return false;
    }
    v.setControl(i, 0);
    if (vlan === 0 && withVnet === this.vnet) {
      v.setBuffer(i, addr, len);
      return true;
    }
    const h = this.hdr;
    const at = i * HDR_ROOM;
    let k = at;
    if (this.vnet) {
      if (withVnet) {
        for (let j = 0; j < VNET_HDR_LEN; j++) h[k + j] = buf[off + j];
        if (vlan !== 0) {
          // the tag sits in front of the L3 header: the offsets counted from the frame's start move by it
          if ((h[k] & VNET_F_NEEDS_CSUM) !== 0) writeLe16(h, k + VNET_CSUM_START, readLe16(h, k + VNET_CSUM_START) + VLAN_TAG_LEN);
          if (h[k + VNET_GSO_TYPE] !== 0) writeLe16(h, k + VNET_HDR_LENGTH, readLe16(h, k + VNET_HDR_LENGTH) + VLAN_TAG_LEN);
        }
      } else {
        h.fill(0, k, k + VNET_HDR_LEN);
      }
      k += VNET_HDR_LEN;
    }
    if (vlan === 0) {
      // untagged, only the header differs (none written by the port, or one the socket does not take)
      v.setBuffers(i, this.hdrAddr + at, k - at, addr + vn, len - vn);
      return true;
    }
    // byte by byte: Buffer.copy between two Buffers makes a view per call
    for (let j = 0; j < MACS_LEN; j++) h[k + j] = buf[off + vn + j];
    k += MACS_LEN;
    h[k] = ETHERTYPE_VLAN >>> 8;
    h[k + 1] = ETHERTYPE_VLAN & 0xff;
    h[k + 2] = (vlan >>> 8) & 0x0f;
    h[k + 3] = vlan & 0xff;
    k += VLAN_TAG_LEN;
    v.setBuffers(i, this.hdrAddr + at, k - at, addr + vn + MACS_LEN, len - vn - MACS_LEN);
    return true;
  }

  /** Sends everything queued, in order; what the device still refuses after waits for room is counted. */
  flush(): void {
    const n = this.queued;
    if (n === 0) return;
    this.queued = 0;
    const s = this.sender;
    s.begin();
    for (let done = s.send(0, n); done < n; done = s.send(done + 1, n)) {
      // too big, the device down or gone: this frame is lost, the rest still goes
      this.lastError = -s.errno;
      this.dp.counters.drop(Drop.TxError);
    }
  }

  // ---- receiving ------------------------------------------------------------------------------

  /**
   * Receives up to `max` frames into fresh pool slots (each where a frame read from a TAP would
   * land). Returns how many (-1: the socket failed, its device down or gone); read each with
   * rxOffset/rxLength/rxVlan. The slots stay allocated until the batch ends.
   */
  receive(pool: FramePool, max: number): number {
    const v = this.rx;
    const vn = this.vnet ? VNET_HDR_LEN : 0;
    const cap = pool.frameCapacity + vn;
    const slab = baseAddress(pool.slab);
    let n = 0;
    for (; n < max && n < this.receiveBatch; n++) {
      const off = pool.alloc();
      if (off < 0) break;
      this.rxOff[n] = off;
      v.setBuffer(n, slab + off - vn, cap);
      v.setControl(n, this.controlSize);
      v.useOwnName(n);
    }
    if (n === 0) {
      this.dp.counters.drop(Drop.NoBuffer);
      return 0;
    }
    const r = recvmmsgAddr(this.fd, v.address, n, 0, null);
    this.dp.counters.gauges[Gauge.ParentRecvCalls]++;
    if (r <= 0) {
      const e = r < 0 ? errno() : 0;
      if (e === 0 || e === Errno.EAGAIN || e === Errno.EINTR) return 0;
      // the device went down or away: the socket stays readable with its error, so it is not read
      // again until the control plane attaches the parent anew (macvlan-parents.ts)
      this.lastError = -e;
      this.dp.counters.drop(Drop.TxError);
      return -1;
    }
    this.dp.counters.drops[Drop.ParentOverflow] += this.overflow.added(v, r - 1);
    return r;
  }

  /** Where frame i starts (its virtio-net header, when the socket has them, is the 10 bytes before). */
  rxOffset(i: number): number {
    return this.rxOff[i];
  }

  /** Bytes of frame i after its virtio-net header; 0 for one to skip (truncated: counted; the host's own). */
  rxLength(i: number): number {
    const v = this.rx;
    if (v.packetType(i) === PACKET_OUTGOING) return 0;
    if ((v.msgFlags(i) & MSG_TRUNC) !== 0) {
      this.dp.counters.drop(Drop.Oversize);
      return 0;
    }
    const n = v.msgLen(i) - (this.vnet ? VNET_HDR_LEN : 0);
    return n > 0 ? n : 0;
  }

  /** The VLAN id the kernel took off frame i (1-4094), 0 for a priority tag, -1 when it came untagged. */
  rxVlan(i: number): number {
    const v = this.rx;
    const at = v.findControlData(i, SOL_PACKET, PACKET_AUXDATA, AUXDATA_LEN);
    if (at < 0) return -1;
    const c = v.control;
    if ((c.readUInt32LE(at + AUX_STATUS) & TP_STATUS_VLAN_VALID) === 0) return -1;
    return c.readUInt16LE(at + AUX_VLAN_TCI) & 0x0fff;
  }

  close(): void {
    this.flush();
    close(this.fd);
  }
}
