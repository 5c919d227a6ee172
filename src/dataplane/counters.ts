// Counters the fast path bumps and the control plane reads (metrics, status).
// They live in one SharedArrayBuffer so a data-plane worker thread and the main thread share them
// without messages; prom-client reads them in collect(), never per packet.

/** Why a frame was dropped. The index is the slot in the drop counter array; the name is the metric label. */
export const Drop = {
  Malformed: 0,
  BadChecksum: 1,
  SpoofedMac: 2,
  SpoofedIp: 3,
  SpoofedArp: 4,
  NoRoute: 5,
  TtlExpired: 6,
  NetworkIsolation: 7,
  InternalNetwork: 8,
  NeighbourUnreachable: 9,
  ArpQueueFull: 10,
  FragmentationNeeded: 11,
  UnsupportedEthertype: 12,
  UnsupportedProtocol: 13,
  L2Hairpin: 14,
  NoBuffer: 15,
  TxError: 16,
  UnknownPort: 17,
  NotForUs: 18,
  Oversize: 19,
  IcmpRateLimited: 20,
  InvalidState: 21,
  NoMapping: 22,
  ConntrackFull: 23,
  NatPortsExhausted: 24,
  VxlanUnknownVni: 25,
  VxlanUnknownVtep: 26,
  VxlanTooBig: 27,
  VxlanSplitHorizon: 28,
  UnderlayOverflow: 29,
} as const;

export const DROP_REASON_NAMES: readonly string[] = [
  'malformed',
  'bad_checksum',
  'spoofed_mac',
  'spoofed_ip',
  'spoofed_arp',
  'no_route',
  'ttl_expired',
  'network_isolation',
  'internal_network',
  'neighbour_unreachable',
  'arp_queue_full',
  'fragmentation_needed',
  'unsupported_ethertype',
  'unsupported_protocol',
  'l2_hairpin',
  'no_buffer',
  'tx_error',
  'unknown_port',
  'not_for_us',
  'oversize',
  'icmp_rate_limited',
  'invalid_state',
  'no_mapping',
  'conntrack_full',
  'nat_ports_exhausted',
  'vxlan_unknown_vni',
  'vxlan_unknown_vtep',
  'vxlan_too_big',
  'vxlan_split_horizon',
  'underlay_overflow',
];

/** Largest port id + 1; ports are small integers so per-port counters are array slots. */
export const MAX_PORTS = 4096;

const PORT_FIELDS = 4; // rx packets, rx bytes, tx packets, tx bytes
const DROP_SLOTS = 64;
const GAUGE_SLOTS = 32;
const CT_STATE_SLOTS = 48; // [tcp, udp, icmp] x 16 states
/** network slots (the uplink takes the last); per network: VXLAN rx packets, rx bytes, tx packets, tx bytes */
export const MAX_NETWORKS = 4096;

/** Gauges the data plane refreshes on its timer (not per packet). */
export const Gauge = {
  FdbEntries: 0,
  NeighbourEntries: 1,
  ArpQueued: 2,
  IcmpSent: 3,
  ArpRequestsSent: 4,
  FragmentsCreated: 5,
  VxlanPeers: 13,
  RemoteEndpoints: 14,
  NewFlowsTcp: 6,
  NewFlowsUdp: 7,
  NewFlowsIcmp: 8,
  ConntrackEntries: 9,
  NatPortsTcp: 10,
  NatPortsUdp: 11,
  NatPortsIcmp: 12,
  /** segments coalesced by receive offload, and the super segments they became */
  GroSegments: 15,
  GroSuperSegments: 16,
  /** underlay sends: datagrams, and system calls that carried them */
  UnderlayDatagrams: 17,
  UnderlaySendCalls: 18,
  /** underlay receives: datagrams, and system calls that brought them */
  UnderlayRxDatagrams: 19,
  UnderlayRecvCalls: 20,
  /** the worker's device I/O backend: 1 io_uring, 0 read/write */
  IoBackendUring: 21,
} as const;

export class DataplaneCounters {
  readonly sab: SharedArrayBuffer;
  /** [port*4 + 0] rx packets, +1 rx bytes, +2 tx packets, +3 tx bytes */
  readonly ports: Float64Array;
  readonly drops: Float64Array;
  readonly gauges: Float64Array;
  /** live conntrack entries by protocol class (tcp 0, udp 1, icmp 2) * 16 + state */
  readonly ctStates: Float64Array;
  /** [network * 4] VXLAN rx packets, +1 rx bytes, +2 tx packets, +3 tx bytes */
  readonly vxlan: Float64Array;

  constructor(sab?: SharedArrayBuffer) {
    const bytes = (MAX_PORTS * PORT_FIELDS + DROP_SLOTS + GAUGE_SLOTS + CT_STATE_SLOTS + MAX_NETWORKS * 4) * 8;
    this.sab = sab ?? new SharedArrayBuffer(bytes);
    this.ports = new Float64Array(this.sab, 0, MAX_PORTS * PORT_FIELDS);
    this.drops = new Float64Array(this.sab, MAX_PORTS * PORT_FIELDS * 8, DROP_SLOTS);
    this.gauges = new Float64Array(this.sab, (MAX_PORTS * PORT_FIELDS + DROP_SLOTS) * 8, GAUGE_SLOTS);
    this.ctStates = new Float64Array(this.sab, (MAX_PORTS * PORT_FIELDS + DROP_SLOTS + GAUGE_SLOTS) * 8, CT_STATE_SLOTS);
    this.vxlan = new Float64Array(this.sab, (MAX_PORTS * PORT_FIELDS + DROP_SLOTS + GAUGE_SLOTS + CT_STATE_SLOTS) * 8, MAX_NETWORKS * 4);
  }

  rx(port: number, bytes: number): void {
    const i = port * PORT_FIELDS;
    this.ports[i]++;
    this.ports[i + 1] += bytes;
  }

  tx(port: number, bytes: number): void {
    const i = port * PORT_FIELDS + 2;
    this.ports[i]++;
    this.ports[i + 1] += bytes;
  }

  drop(reason: number): void {
    this.drops[reason]++;
  }

  resetPort(port: number): void {
    this.ports.fill(0, port * PORT_FIELDS, port * PORT_FIELDS + PORT_FIELDS);
  }

  portStats(port: number): { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number } {
    const i = port * PORT_FIELDS;
    const p = this.ports;
    return { rxPackets: p[i], rxBytes: p[i + 1], txPackets: p[i + 2], txBytes: p[i + 3] };
  }

  dropsByReason(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < DROP_REASON_NAMES.length; i++) out[DROP_REASON_NAMES[i]] = this.drops[i];
    return out;
  }
}
