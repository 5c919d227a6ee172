// The data plane's tunables and their defaults: the one place a default lives (the config schema
// and the daemon take theirs from here).

import { DEFAULT_TCP_TIMEOUTS, type TcpTimeouts } from './conntrack-tcp.js';

export interface DataplaneOptions {
  macAgingMs: number;
  arpRetries: number;
  arpRetryMs: number;
  arpQueueLength: number;
  /** a neighbour not confirmed for this long goes stale (still used; probed once used) */
  neighbourReachableMs: number;
  /** a stale neighbour nothing used is deleted after this long (Linux's gc_stale_time) */
  neighbourStaleMs: number;
  neighbourFailedMs: number;
  /** frames in flight within one batch (read + generated) */
  poolSlots: number;
  parkingSlots: number;
  fdbCapacity: number;
  icmpRatePerSecond: number;
  icmpBurst: number;
  /** connection tracking: maximum entries; new flows beyond it are dropped and counted */
  conntrackMax: number;
  /** tracked connections one container may hold (0: no limit beyond conntrackMax) */
  conntrackMaxPerEndpoint: number;
  /** a TCP segment from inside that belongs to no flow may start one, established (nf_conntrack_tcp_loose) */
  tcpLoose: boolean;
  tcpTimeouts: TcpTimeouts;
  udpTimeoutMs: number; // a UDP flow that has seen no reply
  udpStreamTimeoutMs: number; // a UDP flow that has seen replies
  icmpTimeoutMs: number;
  /** masquerade ports are taken from this range when the inside port is not free */
  natPortMin: number;
  natPortMax: number;
  /** RFC 4787 filtering: false = address-and-port-dependent (default), true = endpoint-independent */
  udpEndpointIndependentFiltering: boolean;
  /** answer unsolicited inbound TCP with a RST (true) or drop it silently */
  rejectUnsolicitedTcp: boolean;
  /** coalesce TCP segments into super segments for ports that take offloads (receive offload) */
  gro: boolean;
  /** bytes for the segments and fragments cut out of larger frames before they are flushed */
  txArenaBytes: number;
  /** slots of frame memory the device I/O layer reads into itself (io_uring's provided buffers) */
  deviceRxSlots: number;
  /** bytes of frame memory the device I/O layer copies small frames into before it writes them */
  deviceTxBytes: number;
}

export const DEFAULT_DATAPLANE_OPTIONS: DataplaneOptions = {
  macAgingMs: 300_000,
  arpRetries: 3,
  arpRetryMs: 1000,
  arpQueueLength: 16,
  neighbourReachableMs: 300_000,
  neighbourStaleMs: 60_000,
  neighbourFailedMs: 20_000,
  poolSlots: 256,
  parkingSlots: 256,
  fdbCapacity: 8192,
  icmpRatePerSecond: 1000,
  icmpBurst: 50,
  conntrackMax: 262144,
  conntrackMaxPerEndpoint: 65536,
  tcpLoose: true,
  tcpTimeouts: DEFAULT_TCP_TIMEOUTS,
  udpTimeoutMs: 30_000,
  udpStreamTimeoutMs: 120_000,
  icmpTimeoutMs: 60_000, // RFC 5508 REQ-1: an ICMP query mapping lives at least 60 s
  natPortMin: 1024,
  natPortMax: 65535,
  udpEndpointIndependentFiltering: false,
  rejectUnsolicitedTcp: true,
  gro: true,
  txArenaBytes: 4 << 20,
  deviceRxSlots: 0,
  deviceTxBytes: 0,
};
