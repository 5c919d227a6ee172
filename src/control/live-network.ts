// A network and its endpoints as the network service holds them while the daemon runs: the saved
// record plus what exists only at run time (the data-plane slot, the TAP descriptors, what the
// cluster store told about other hosts).

import type { OverlayEndpointDef, SubnetLease } from './cluster/cluster-store.js';
import type { Ipv4Allocator } from './ipam.js';
import type { Ipv6AddressAllocator } from './ipam6.js';
import type { EndpointRecord, NetworkRecord } from './state-store.js';

export interface LiveEndpoint {
  record: EndpointRecord;
  fd: number;
  portId: number;
}

/** A network's saved record without its endpoints: the `endpoints` map holds them, the one copy. */
export type LiveNetworkRecord = Omit<NetworkRecord, 'endpoints'>;

export interface LiveNetwork {
  record: LiveNetworkRecord;
  index: number; // data-plane slot
  /** the IPv4 side's addresses (NoIpv4Addresses on an IPv6-only network) */
  allocator: Ipv4Allocator;
  /** the IPv6 side's addresses; null on a network without IPv6 */
  allocator6: Ipv6AddressAllocator | null;
  /** by endpoint id, in the order they joined */
  endpoints: Map<string, LiveEndpoint>;
  /** overlay: endpoints on other hosts, by endpoint id */
  remotes: Map<string, OverlayEndpointDef>;
  /** overlay: VTEPs of the other hosts */
  peers: Set<string>;
  /** overlay: this host's VTEP and endpoints are registered in the cluster store */
  announced: boolean;
  /** routed overlay: every host's subnet lease (this host's too), by subnet */
  leases: Map<string, SubnetLease>;
}

/** A routed overlay's host address: its subnet's own address (10.244.1.0 of 10.244.1.0/24), the host's source on the cluster's range. */
export function routedHostAddress(r: Pick<NetworkRecord, 'subnet'>): string {
  return r.subnet.slice(0, r.subnet.indexOf('/'));
}

/** An IPv6-only network: no IPv4 subnet (the record's subnet and gateway are ''), only its IPv6 side. */
export function isIpv6Only(r: Pick<NetworkRecord, 'subnet'>): boolean {
  return r.subnet === '';
}

/** The gateway address containers of the network ask the embedded DNS at: the IPv4 gateway, or the IPv6 one on an IPv6-only network. */
export function dnsAddressOf(r: Pick<NetworkRecord, 'subnet' | 'gateway' | 'ipv6'>): string {
  return isIpv6Only(r) && r.ipv6 !== undefined ? r.ipv6.gateway : r.gateway;
}

/** The network as the state file keeps it, its endpoints in the order they joined (keys in the file's order). */
export function networkRecord(live: LiveNetwork): NetworkRecord {
  const { vni, ...rest } = live.record;
  const endpoints = [...live.endpoints.values()].map((e) => e.record);
  return { ...rest, endpoints, ...(vni !== undefined ? { vni } : {}) };
}
