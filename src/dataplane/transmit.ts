// Transmit: the last step of every path out of the data plane. A port that takes offloads gets
// the frame as it is with a virtio-net header written in the headroom in front of it (and TCP
// segments coalesced by receive offload first); for any other port the partial checksum is
// finished or the super segment cut here. Frames for the underlay go through vxlan-output.

import { ETH_HLEN } from '../wire/ethernet.js';
import {
  VNET_CSUM_OFFSET,
  VNET_CSUM_START,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_SIZE,
  VNET_GSO_TYPE,
  VNET_HDR_LEN,
  VNET_HDR_LENGTH,
  writeLe16,
} from '../wire/virtio-net.js';
import type { Datapath, Transmit } from './context.js';
import { Drop, type DataplaneCounters } from './counters.js';
import type { Frame } from './frame.js';
import type { Network } from './network.js';
import { finishChecksum, segmentTcp } from './offload.js';
import { type Port, PortKind } from './port.js';
import type { TcpGro } from './tcp-gro.js';
import { vxlanOutput } from './vxlan-output.js';

/** Segments are sent to a port, never to a VTEP, from send(). */
const NO_VTEP = -1;

export class Transmitter implements Transmit {
  readonly ports: readonly (Port | undefined)[];
  readonly counters: DataplaneCounters;
  private readonly frame: Frame;

  constructor(
    private readonly dp: Datapath,
    readonly gro: TcpGro | null,
  ) {
    this.ports = dp.tables.ports;
    this.counters = dp.counters;
    this.frame = dp.frame;
  }

  send(portId: number, buf: Buffer, off: number, len: number): void {
    const port = this.ports[portId];
    if (port === undefined) {
      this.counters.drop(Drop.UnknownPort);
      return;
    }
    const f = this.frame;
    const l2 = port.kind === PortKind.Host ? ETH_HLEN : 0; // the host port sends from the IP header
    if (!port.vnet) {
      if (f.gsoSize !== 0 && len > port.mtu + ETH_HLEN - l2) {
        segmentTcp(this.dp, buf, off - l2, len + l2, portId, null, NO_VTEP);
        return;
      }
      if (f.needsCsum !== 0) finishChecksum(f, buf, off - l2, len + l2);
      if (port.io.send(buf, off, len)) this.counters.tx(portId, len);
      else this.counters.drop(Drop.TxError);
      return;
    }
    const gro = this.gro;
    if (gro !== null) {
      if (f.gsoSize === 0 && f.needsCsum === 0) {
        if (gro.offer(this, port, buf, off, len)) return;
      } else gro.flushPort(this, portId);
    }
    const h = off - VNET_HDR_LEN;
    if (f.needsCsum !== 0) {
      buf[h] = VNET_F_NEEDS_CSUM;
      writeLe16(buf, h + VNET_CSUM_START, f.csumStart - l2);
      writeLe16(buf, h + VNET_CSUM_OFFSET, f.csumOffset);
    } else {
      buf[h] = 0;
      writeLe16(buf, h + VNET_CSUM_START, 0);
      writeLe16(buf, h + VNET_CSUM_OFFSET, 0);
    }
    if (f.gsoSize !== 0) {
      // header length: IP (IPv4 or IPv6) + TCP headers (+ Ethernet for a TAP)
      buf[h + VNET_GSO_TYPE] = f.gsoType;
      writeLe16(buf, h + VNET_HDR_LENGTH, f.gsoHeaderLength(buf, off - l2) - l2);
      writeLe16(buf, h + VNET_GSO_SIZE, f.gsoSize);
    } else {
      buf[h + VNET_GSO_TYPE] = 0;
      writeLe16(buf, h + VNET_HDR_LENGTH, 0);
      writeLe16(buf, h + VNET_GSO_SIZE, 0);
    }
    if (port.io.send(buf, h, len + VNET_HDR_LEN)) this.counters.tx(portId, len);
    else this.counters.drop(Drop.TxError);
  }

  sendToVtep(net: Network, vtep: number, buf: Buffer, off: number, len: number, ingress: Port | null = null): void {
    vxlanOutput(this.dp, net, ingress, vtep, buf, off, len);
  }

  alloc(front: number, len: number): number {
    const arena = this.dp.arena;
    const o = arena.alloc(front, len);
    if (o >= 0) return o;
    this.flush();
    return arena.alloc(front, len);
  }

  /** Sends what is queued for the underlay and the macvlan parents; the arena is free again. */
  flush(): void {
    const t = this.dp.tables;
    if (t.tunnel !== null) t.tunnel.flush();
    const parents = t.parents;
    for (let i = 0, n = parents.length; i < n; i++) parents[i]?.flush();
    this.dp.arena.reset();
  }

  /** End of a batch: coalesced segments and queued datagrams go out. */
  endBatch(): void {
    if (this.gro !== null) this.gro.flushAll(this);
    this.flush();
  }

  /** A port leaves: nothing coalesced for it stays held. */
  forget(portId: number): void {
    this.gro?.forget(portId);
  }
}
