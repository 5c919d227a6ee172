// The VXLAN underlay the way the kernel's VXLAN uses its UDP socket. Sending: datagrams are queued
// during a batch and leave in one sendmmsg(2) at its end; back-to-back datagrams of equal size to
// one VTEP (the segments of a TCP super segment, which the data plane lays out that way) form a
// train that goes as ONE message with UDP_SEGMENT (UDP GSO): the kernel cuts it. Receiving:
// recvmmsg(2) into pool slots, with UDP_GRO so the kernel hands over trains of datagrams, and
// SO_RXQ_OVFL so the datagrams the socket dropped are counted, never silent. The family is the
// local address's: an IPv6 underlay is a udp6 socket (the kernel builds the outer IPv6 header and
// its UDP checksum), and every VTEP it sends to or accepts from is an IPv6 address.

import { Drop, Gauge } from '../dataplane/counters.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { FramePool } from '../dataplane/frame-pool.js';
import type { TunnelIo } from '../dataplane/port.js';
import { VXLAN_HLEN } from '../wire/vxlan.js';
import { baseAddress } from './sys/frame-io.js';
import { Errno, errno, recvmmsgAddr, sendmmsgAddr } from './sys/libc.js';
import { MessageSender, OverflowCount } from './sys/mmsg-socket.js';
import { MSG_TRUNC, MessageVector, cmsgSpace } from './sys/msghdr.js';
import { isVtep6, type VtepAddress } from '../dataplane/vtep-table.js';
import { SOL_UDP, UDP_GRO, UDP_SEGMENT, sockaddrOf, UdpSocket } from './sys/udp-socket.js';

/** Messages per sendmmsg (each a datagram or a train). */
const SEND_MESSAGES = 256;
/** Segments the kernel takes in one UDP_SEGMENT send (UDP_MAX_SEGMENTS is 64 on older kernels). */
const MAX_TRAIN_SEGMENTS = 64;
/** A train is one UDP send: its payload must fit 64 KiB with the UDP and IPv4 headers (IPv6's limit, 65535 - 8, is looser). */
const MAX_TRAIN_BYTES = 65535 - 8 - 20;
/** Waits for room in the socket's send buffer before the rest of a flush is given up. */
const SEND_RETRIES = 20;
const SEND_RETRY_MS = 1;

export interface UnderlayOptions {
  receiveBuffer?: number;
  sendBuffer?: number;
  /** UDP_SEGMENT on sends (dropped by itself when the route's device cannot do it) */
  gso?: boolean;
  /** UDP_GRO on receives */
  gro?: boolean;
}

export class VxlanSocket implements TunnelIo {
  readonly socket: UdpSocket;
  /** trains go as one message; off when asked, or after the kernel refused one */
  gso: boolean;
  /** why GSO was turned off at run time ('' while on or never asked) */
  gsoRefused = '';
  /** the underlay is IPv6: sources are read as sockaddr_in6, VTEPs are IPv6 addresses */
  readonly ipv6: boolean;
  private readonly addrs: (Buffer | undefined)[] = [];
  private readonly addrPtrs: number[] = [];
  private readonly addrLens: number[] = [];

  // the send queue: one entry per message
  private readonly tx = new MessageVector(SEND_MESSAGES, cmsgSpace(2));
  private readonly qAddr = new Float64Array(SEND_MESSAGES);
  private readonly qBytes = new Int32Array(SEND_MESSAGES);
  private readonly qSeg = new Int32Array(SEND_MESSAGES);
  private readonly qSegs = new Int32Array(SEND_MESSAGES);
  private readonly qVtep = new Int32Array(SEND_MESSAGES);
  private queued = 0;
  private readonly sender: MessageSender;

  // receiving
  private readonly rx: MessageVector;
  private readonly rxOff: Int32Array;
  /** datagrams the full receive buffer dropped */
  private readonly overflow = new OverflowCount();

  constructor(
    private readonly dp: Dataplane,
    /** this host's underlay address: its family is the underlay's */
    localIp: VtepAddress,
    private readonly port: number,
    o: UnderlayOptions = {},
    /** messages per recvmmsg */
    readonly receiveBatch = 64,
  ) {
    this.ipv6 = isVtep6(localIp);
    this.socket = new UdpSocket(localIp, port, {
      receiveBuffer: o.receiveBuffer,
      sendBuffer: o.sendBuffer,
      gro: o.gro !== false,
      overflowCount: true,
    });
    this.gso = o.gso !== false;
    this.rx = new MessageVector(receiveBatch, 64);
    this.rxOff = new Int32Array(receiveBatch);
    for (let i = 0; i < receiveBatch; i++) this.rx.useOwnName(i);
    this.sender = new MessageSender(this.socket.fd, this.tx, dp.counters.gauges, Gauge.UnderlaySendCalls, SEND_RETRIES, SEND_RETRY_MS);
  }

  /** The sockaddr of VTEP `vtep` (made once per VTEP, then reused); its length in addrLens. */
  private sockaddr(vtep: number): number {
    let p = this.addrPtrs[vtep];
    if (p === undefined) {
      // the control plane refuses VTEPs of the other family (control.ts), so this is the socket's
      const a = sockaddrOf(this.dp.tables.vteps.addressOf(vtep) ?? 0, this.port);
      this.addrs[vtep] = a;
      this.addrLens[vtep] = a.length;
      p = this.addrPtrs[vtep] = baseAddress(a);
    }
    return p;
  }

  /** Queues buf[off, off+len) for `vtep`; it joins the previous message as a train when it can. */
  sendTo(buf: Buffer, off: number, len: number, vtep: number): boolean {
    const addr = baseAddress(buf) + off;
    let n = this.queued;
    if (n > 0 && this.gso) {
      const i = n - 1;
      const seg = this.qSeg[i];
      const bytes = this.qBytes[i];
      if (
        this.qVtep[i] === vtep &&
        this.qAddr[i] + bytes === addr &&
        len <= seg &&
        bytes === seg * this.qSegs[i] && // the train so far has no short datagram (that ends a train)
        this.qSegs[i] < MAX_TRAIN_SEGMENTS &&
        bytes + len <= MAX_TRAIN_BYTES
      ) {
        this.qBytes[i] = bytes + len;
        this.qSegs[i]++;
        return true;
      }
    }
    if (n === SEND_MESSAGES) {
      this.flush();
      n = 0;
    }
    this.qAddr[n] = addr;
    this.qBytes[n] = len;
    this.qSeg[n] = len;
    this.qSegs[n] = 1;
    this.qVtep[n] = vtep;
    this.queued = n + 1;
    return true;
  }

  /** Sends everything queued, in order. */
  flush(): void {
    const n = this.queued;
    if (n === 0) return;
    this.queued = 0;
    for (let i = 0; i < n; i++) this.prepare(i, i);
    const g = this.dp.counters.gauges;
    const s = this.sender;
    s.begin();
    let from = 0;
    while (from < n) {
      const done = s.send(from, n);
      for (let i = from; i < done; i++) g[Gauge.UnderlayDatagrams] += this.qSegs[i];
      if (done === n) return;
      const e = s.errno;
      if (this.qSegs[done] > 1 && (e === Errno.EIO || e === Errno.EINVAL || e === Errno.EOPNOTSUPP)) {
        // the kernel refused UDP_SEGMENT (before Linux 6.5: a device without checksum offload;
        // SO_NO_CHECK): trains go as single datagrams from now on
        this.gso = false;
        this.gsoRefused = `UDP_SEGMENT refused (errno ${e})`;
        this.sendSplit(done);
        from = done + 1;
        for (let i = from; i < n; i++) this.prepare(i, i);
        continue;
      }
      // unreachable, too big, or still no room after the waits: this message is lost, the rest
      // still goes (without waiting again: a send buffer that stays full costs one wait per flush)
      this.dp.counters.drops[Drop.TxError] += this.qSegs[done];
      from = done + 1;
    }
  }

  /** Fills message slot `slot` from queue entry i. */
  private prepare(slot: number, i: number): void {
    const v = this.tx;
    v.setBuffer(slot, this.qAddr[i], this.qBytes[i]);
    v.setName(slot, this.sockaddr(this.qVtep[i]), this.addrLens[this.qVtep[i]]!);
    if (this.qSegs[i] > 1 && this.gso) v.setControl(slot, v.putControl(slot, SOL_UDP, UDP_SEGMENT, this.qSeg[i], 2));
    else v.setControl(slot, 0);
  }

  /** Sends the train of queue entry i as single datagrams (once, when GSO was refused). */
  private sendSplit(i: number): void {
    const v = this.tx;
    const seg = this.qSeg[i];
    const total = this.qBytes[i];
    let k = 0;
    for (let p = 0; p < total; p += seg, k++) {
      v.setBuffer(k, this.qAddr[i] + p, Math.min(seg, total - p));
      v.setName(k, this.sockaddr(this.qVtep[i]), this.addrLens[this.qVtep[i]]!);
      v.setControl(k, 0);
    }
    let done = 0;
    while (done < k) {
      const r = sendmmsgAddr(this.socket.fd, v.address + done * 64, k - done, 0);
      if (r > 0) done += r;
      else {
        this.dp.counters.drops[Drop.TxError] += k - done;
        break;
      }
    }
    this.dp.counters.gauges[Gauge.UnderlayDatagrams] += done;
  }

  // ---- receiving ------------------------------------------------------------------------------

  /**
   * Receives up to `max` messages into fresh pool slots (each datagram's inner frame lands where a
   * frame read from a port would). Returns how many; read each with rxOffset/rxLength/rxSegment/
   * rxVtep. The slots stay allocated until the batch ends.
   */
  receive(pool: FramePool, max: number): number {
    const v = this.rx;
    let n = 0;
    const cap = pool.frameCapacity + VXLAN_HLEN;
    const slab = baseAddress(pool.slab);
    for (; n < max && n < this.receiveBatch; n++) {
      const off = pool.alloc();
      if (off < 0) break;
      this.rxOff[n] = off - VXLAN_HLEN;
      v.setBuffer(n, slab + off - VXLAN_HLEN, cap);
      v.setControl(n, 64);
      v.useOwnName(n);
    }
    if (n === 0) {
      this.dp.counters.drop(Drop.NoBuffer);
      return 0;
    }
    const r = recvmmsgAddr(this.socket.fd, v.address, n, 0, null);
    this.dp.counters.gauges[Gauge.UnderlayRecvCalls]++;
    if (r <= 0) {
      const e = r < 0 ? errno() : 0;
      if (e !== 0 && e !== Errno.EAGAIN && e !== Errno.EINTR) this.dp.counters.drop(Drop.TxError);
      return 0;
    }
    this.dp.counters.drops[Drop.UnderlayOverflow] += this.overflow.added(v, r - 1);
    return r;
  }

  rxOffset(i: number): number {
    return this.rxOff[i];
  }

  /** Bytes of message i; 0 for one the kernel truncated (counted as oversize). */
  rxLength(i: number): number {
    if ((this.rx.msgFlags(i) & MSG_TRUNC) !== 0) {
      this.dp.counters.drop(Drop.Oversize);
      return 0;
    }
    return this.rx.msgLen(i);
  }

  /** Size of each datagram in message i when the kernel coalesced several (UDP_GRO), else 0. */
  rxSegment(i: number): number {
    const s = this.rx.findControl(i, SOL_UDP, UDP_GRO);
    return s > 0 ? s : 0;
  }

  /** The VTEP index of message i's source address (-1: no VTEP has it), looked up in the socket's family. */
  rxVtep(i: number): number {
    const rx = this.rx;
    const vteps = this.dp.tables.vteps;
    if (!this.ipv6) return vteps.indexOf4(rx.sourceIp(i));
    return vteps.indexOf6(rx.sourceWord6(i, 0), rx.sourceWord6(i, 1), rx.sourceWord6(i, 2), rx.sourceWord6(i, 3));
  }
}
