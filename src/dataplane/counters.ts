// Counters the fast path bumps and the control plane reads (metrics, status).
// They live in one SharedArrayBuffer so a data-plane worker thread and the main thread share them
// without messages; prom-client reads them in collect(), never per packet.

import { BACKEND_SLOTS, MAX_SERVICES } from './service-table.js';

/**
 * Why a frame was dropped, each reason declared once (as VPP declares its error counters): the
 * position is the slot in the drop counter array, `label` the `reason` label of
 * pontoon_drops_total and the key in `pontoon status`, `help` one line saying when it is counted.
 * Append new reasons at the end; `Drop` and `DROP_REASON_NAMES` are derived from this list.
 */
export const DROP_REASONS = [
  { name: 'Malformed', label: 'malformed', help: 'A header too short or inconsistent to parse (Ethernet, ARP, IPv4, ICMP, TCP, UDP, VXLAN, virtio-net), or a group MAC as the source of a VXLAN frame or of a frame from a macvlan parent.' },
  { name: 'BadChecksum', label: 'bad_checksum', help: 'An IPv4 header checksum, or the ICMP checksum of an echo request to the gateway, is wrong.' },
  { name: 'SpoofedMac', label: 'spoofed_mac', help: "A source MAC that is not the endpoint's own, or a local endpoint's MAC arriving from a remote VTEP." },
  { name: 'SpoofedIp', label: 'spoofed_ip', help: "A source address that is not the endpoint's own (IPv4; IPv6: its address, its link-local or SLAAC address from its MAC, or :: for duplicate address detection only)." },
  { name: 'SpoofedArp', label: 'spoofed_arp', help: "An ARP sender MAC or address that is not the endpoint's own." },
  { name: 'NoRoute', label: 'no_route', help: 'No route to the destination, or the route leads back out of the port it came in on (ICMP net unreachable sent).' },
  { name: 'TtlExpired', label: 'ttl_expired', help: 'The TTL (IPv6: hop limit) ran out at the gateway (ICMP / ICMPv6 time exceeded sent).' },
  { name: 'NetworkIsolation', label: 'network_isolation', help: 'Routed from one network into another, which Docker isolates (ICMP administratively prohibited sent).' },
  { name: 'InternalNetwork', label: 'internal_network', help: 'Routed into or out of an --internal network (ICMP administratively prohibited sent).' },
  { name: 'NeighbourUnreachable', label: 'neighbour_unreachable', help: 'The next hop never answered ARP or neighbour solicitations (ICMP host unreachable / ICMPv6 address unreachable sent).' },
  { name: 'ArpQueueFull', label: 'arp_queue_full', help: "No room to park a packet while its next hop is resolved (the neighbour's queue or the parking slots are full, or a TCP super segment)." },
  { name: 'FragmentationNeeded', label: 'fragmentation_needed', help: 'Larger than the egress MTU with DF set (ICMP fragmentation needed sent).' },
  { name: 'UnsupportedEthertype', label: 'unsupported_ethertype', help: 'Neither IPv4, ARP nor IPv6 (LLDP, say), IPv6 on a network without an IPv6 subnet, or IPv4 or ARP on an IPv6-only network.' },
  { name: 'UnsupportedProtocol', label: 'unsupported_protocol', help: 'For the gateway itself with an IP protocol it does not serve (TCP among them), or a fragment (it does not reassemble).' },
  { name: 'L2Hairpin', label: 'l2_hairpin', help: 'Switched to the MAC of the port it came in on: never sent back out of it.' },
  { name: 'NoBuffer', label: 'no_buffer', help: "No free frame buffer: the batch's pool, or the underlay's receive buffers, ran out." },
  { name: 'TxError', label: 'tx_error', help: 'A device or the underlay socket refused the frame, or its I/O failed.' },
  { name: 'UnknownPort', label: 'unknown_port', help: 'From or to a port, network or underlay that is not attached (any more).' },
  { name: 'NotForUs', label: 'not_for_us', help: "Neither answered nor routed: broadcast, multicast or subnet addresses, UDP or non-echo ICMP to the gateway, another host's unicast on the uplink, the gateway reached over VXLAN." },
  { name: 'Oversize', label: 'oversize', help: "Larger than the port's MTU or a frame buffer (a truncated underlay datagram among them), or a segment or fragment larger than the whole arena it is cut into." },
  { name: 'IcmpRateLimited', label: 'icmp_rate_limited', help: 'An ICMP error not sent: its token bucket (dataplane icmpRatePerSecond, icmpBurst) was empty.' },
  { name: 'InvalidState', label: 'invalid_state', help: 'Not valid for connection tracking: out of window or unexpected TCP, a new flow that is not a SYN or an echo request, a tuple already taken.' },
  { name: 'NoMapping', label: 'no_mapping', help: 'From outside with no flow or published port to translate it (ICMP errors about unknown flows among them), or untranslatable (a fragment) towards the uplink.' },
  { name: 'ConntrackFull', label: 'conntrack_full', help: 'A new flow refused: the connection tracking table is full (conntrack.max).' },
  { name: 'NatPortsExhausted', label: 'nat_ports_exhausted', help: 'A new flow refused: no masquerade port of the uplink address is free.' },
  { name: 'VxlanUnknownVni', label: 'vxlan_unknown_vni', help: 'A VXLAN datagram for a VNI that no overlay network has.' },
  { name: 'VxlanUnknownVtep', label: 'vxlan_unknown_vtep', help: 'A VXLAN datagram from a VTEP that is not a peer of its VNI.' },
  { name: 'VxlanTooBig', label: 'vxlan_too_big', help: 'Too big for the underlay MTU once encapsulated (ICMP fragmentation needed sent when DF is set).' },
  { name: 'VxlanSplitHorizon', label: 'vxlan_split_horizon', help: 'From the overlay to a MAC behind another VTEP: never relayed back into the overlay.' },
  { name: 'UnderlayOverflow', label: 'underlay_overflow', help: "Datagrams the underlay socket's full receive buffer dropped (SO_RXQ_OVFL)." },
  { name: 'EndpointConnLimit', label: 'conntrack_endpoint_limit', help: 'A new flow refused: its container already holds conntrack.maxPerEndpoint tracked connections.' },
  { name: 'Martian', label: 'martian', help: 'A loopback (127.0.0.0/8) or "this network" (0.0.0.0/8) address as source or destination: never routed, never translated.' },
  { name: 'SpoofedNdp', label: 'spoofed_ndp', help: 'An NDP message a container may not send: a router advertisement or redirect, an advertisement for an address that is not its own, or a link-layer address option with another MAC.' },
  { name: 'PacketTooBig', label: 'packet_too_big', help: 'An IPv6 packet larger than the egress MTU: a router never fragments IPv6 (ICMPv6 packet too big sent).' },
  {
    name: 'Ipv6ExtensionRefused',
    label: 'ipv6_extension_refused',
    help: 'An IPv6 extension header the gateway must refuse (RFC 8200 4): a hop-by-hop or destination option it does not know whose type says discard, or a routing header with segments left addressed to it (ICMPv6 parameter problem sent when the option asks for one).',
  },
  { name: 'VlanUnknown', label: 'vlan_unknown', help: 'A frame from a macvlan parent with a VLAN tag (or none) that no macvlan network on that parent has.' },
  {
    name: 'MacvlanMode',
    label: 'macvlan_mode',
    help: "Not delivered by its macvlan network's mode: between two containers of a private network (also when the LAN's switch sends it back), or a second container's frame on a passthru network.",
  },
  { name: 'ParentOverflow', label: 'parent_overflow', help: "Frames a macvlan parent's packet socket dropped because its receive buffer was full (SO_RXQ_OVFL)." },
  {
    name: 'OverlayTransit',
    label: 'overlay_transit',
    help: "From a host of a routed overlay network: to an address outside this host's subnet (hosts never route for each other), or from a source outside the subnets that host leases.",
  },
  { name: 'ServiceNoBackend', label: 'service_no_backend', help: 'A new flow to a service VIP (or its published port) that has no ready backend, or to an address of the services range that no service has (TCP RST or ICMP unreachable sent).' },
] as const satisfies readonly { name: string; label: string; help: string }[];

type DropReasons = typeof DROP_REASONS;
/** A drop reason's label: the `reason` label value of pontoon_drops_total. */
export type DropLabel = DropReasons[number]['label'];

/**
 * `Drop.Malformed` etc.: the counter slot of each reason, a number constant for the fast path.
 * Built by Object.fromEntries, which (unlike keyed stores in a loop) leaves V8 a fast-properties
 * object, so `Drop.X` stays a plain property load.
 */
export const Drop = Object.freeze(Object.fromEntries(DROP_REASONS.map((r, i) => [r.name, i]))) as {
  readonly [I in keyof DropReasons & `${number}` as DropReasons[I]['name']]: I extends `${infer N extends number}` ? N : never;
};

/** Metric label of each drop counter slot, in slot order. */
export const DROP_REASON_NAMES: readonly DropLabel[] = DROP_REASONS.map((r) => r.label);

/** Largest port id + 1; ports are small integers so per-port counters are array slots. */
export const MAX_PORTS = 4096;

const PORT_FIELDS = 4; // rx packets, rx bytes, tx packets, tx bytes
const DROP_SLOTS = 64;
const GAUGE_SLOTS = 32;
const CT_STATE_SLOTS = 48; // [tcp, udp, icmp] x 16 states
/** network slots (the uplink takes the last); per network: VXLAN rx packets, rx bytes, tx packets, tx bytes */
export const MAX_NETWORKS = 4096;
/** service counters: per backend slot (service-table.ts) new flows, bytes, active flows, its address; then per service the flows refused */
export const SERVICE_FIELDS = 4;
export const SVC_NEW_FLOWS = 0;
export const SVC_BYTES = 1;
export const SVC_ACTIVE = 2;
/** the backend's address (uint32; 0: the slot is free), written when the slot is given: how the main thread finds a backend's counters */
export const SVC_BACKEND_IP = 3;
const SERVICE_SLOTS = BACKEND_SLOTS * SERVICE_FIELDS + MAX_SERVICES;
/** where the per-service refused counts start in `services` */
export const SVC_REFUSED_BASE = BACKEND_SLOTS * SERVICE_FIELDS;

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
  /** live state adopted at start (live-state.ts): flows and NAT mappings, and the restart gap in ms (-1: not known yet) */
  LiveStateFlows: 22,
  LiveStateMappings: 23,
  RestartGapMs: 24,
  /** unreplied connections evicted to make room for a new one in a full table (as Linux's early_drop) */
  ConntrackEarlyDrops: 25,
  /** new flows from a container to an outside mapping of the gateway, turned back inside (hairpinning) */
  HairpinFlows: 26,
  /** ICMPv6 errors the gateway sent, and neighbour solicitations (ARP's IPv6 counterpart: IcmpSent and ArpRequestsSent count IPv4) */
  Icmp6Sent: 27,
  NdpSolicitationsSent: 28,
  /** IPv6 neighbours (NeighbourEntries counts the IPv4 ones) */
  Neighbour6Entries: 29,
  /** macvlan parents: sendmmsg and recvmmsg calls (frames per call: batching at work) */
  ParentSendCalls: 30,
  ParentRecvCalls: 31,
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
  /** [backend slot * 4] new flows, +1 bytes (both directions), +2 active flows, +3 its address; [SVC_REFUSED_BASE + service] flows refused */
  readonly services: Float64Array;

  constructor(sab?: SharedArrayBuffer) {
    const bytes = (MAX_PORTS * PORT_FIELDS + DROP_SLOTS + GAUGE_SLOTS + CT_STATE_SLOTS + MAX_NETWORKS * 4 + SERVICE_SLOTS) * 8;
    this.sab = sab ?? new SharedArrayBuffer(bytes);
    this.ports = new Float64Array(this.sab, 0, MAX_PORTS * PORT_FIELDS);
    this.drops = new Float64Array(this.sab, MAX_PORTS * PORT_FIELDS * 8, DROP_SLOTS);
    this.gauges = new Float64Array(this.sab, (MAX_PORTS * PORT_FIELDS + DROP_SLOTS) * 8, GAUGE_SLOTS);
    this.ctStates = new Float64Array(this.sab, (MAX_PORTS * PORT_FIELDS + DROP_SLOTS + GAUGE_SLOTS) * 8, CT_STATE_SLOTS);
    this.vxlan = new Float64Array(this.sab, (MAX_PORTS * PORT_FIELDS + DROP_SLOTS + GAUGE_SLOTS + CT_STATE_SLOTS) * 8, MAX_NETWORKS * 4);
    this.services = new Float64Array(this.sab, (MAX_PORTS * PORT_FIELDS + DROP_SLOTS + GAUGE_SLOTS + CT_STATE_SLOTS + MAX_NETWORKS * 4) * 8, SERVICE_SLOTS);
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
