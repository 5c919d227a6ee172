// What a stage sees of the data plane: the tables, the frame being processed, the frame memory,
// the counters, and three services (transmit, neighbour resolution, the ICMP rate limit) through
// narrow interfaces. Stages import this file's types only, never the Dataplane that runs them, so
// no stage imports a file that imports it (smoltcp's Interface/InterfaceInner split).

import type { DataplaneCounters } from './counters.js';
import type { Frame } from './frame.js';
import type { FramePool, ParkingPool, TxArena } from './frame-pool.js';
import type { Network } from './network.js';
import type { Neighbour } from './neighbour-table.js';
import type { DataplaneOptions } from './options.js';
import type { Port } from './port.js';
import type { Tables } from './tables.js';

/** Leaving the data plane (transmit.ts). */
export interface Transmit {
  /**
   * Sends the frame at buf[off] (an Ethernet frame; for the host port, its IP packet) out of
   * port `portId` with the current frame's offloads (a virtio-net header for a port that takes
   * them, finished or segmented here for one that does not).
   */
  send(portId: number, buf: Buffer, off: number, len: number): void;
  /** Encapsulates the frame to one VTEP of an overlay network (offloads resolved first); `ingress` hears of a frame too big for the underlay. */
  sendToVtep(net: Network, vtep: number, buf: Buffer, off: number, len: number, ingress?: Port | null): void;
  /** Room in the transmit arena for a frame cut out of another, `front` bytes in front; -1 when it can never fit. */
  alloc(front: number, len: number): number;
}

/** ARP and NDP on behalf of the gateway (neighbour-discovery.ts). */
export interface NeighbourResolver {
  /** Asks the network who has the entry's address: a broadcast ARP request, or a neighbour solicitation to its solicited-node group. */
  request(net: Network, n: Neighbour): void;
  /** A neighbour's MAC became known: remember it and release the frames parked on it. */
  resolved(net: Network, n: Neighbour, hi: number, lo: number): void;
}

/** ICMP errors the gateway may send now (icmp-rate-limit.ts). */
export interface IcmpLimiter {
  take(now: number): boolean;
}

export interface Datapath {
  readonly options: DataplaneOptions;
  readonly counters: DataplaneCounters;
  readonly tables: Tables;
  /** the frame being processed */
  readonly frame: Frame;
  /** frames made while a batch runs (answers, errors); every slot is free again at the end of the batch */
  readonly pool: FramePool;
  /** segments and fragments cut out of a frame: valid until the queued output is flushed */
  readonly arena: TxArena;
  /** frames waiting for ARP */
  readonly parking: ParkingPool;
  readonly tx: Transmit;
  readonly resolver: NeighbourResolver;
  readonly icmpLimit: IcmpLimiter;
  /** time of the current batch, ms */
  now: number;
}
