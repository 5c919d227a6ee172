// Where overlay networks, their address allocations and their members (VTEPs and endpoints) live
// when they span several hosts: an existing distributed store (etcd), as flannel and Docker's
// classic overlay do, or a static list of peers for small fixed setups.

/** An overlay network as every host must see it. */
export interface OverlayNetworkDef {
  id: string;
  name: string;
  subnet: string;
  gateway: string;
  /** identical on every host: the gateway is anycast, answered locally everywhere */
  gatewayMac: string;
  vni: number;
  mtu: number;
  internal: boolean;
  /** where containers get their addresses (--ip-range), on every host; absent: the whole subnet */
  ipRange?: string;
  /**
   * the IPv6 side (--ipv6), the same on every host: subnet, gateway (every host answers for it and
   * for fe80::1), ip-range, NAT; absent: IPv4 only (and in records written before overlays had IPv6)
   */
  ipv6?: OverlayIpv6Def;
  /**
   * A routed overlay (--mode routed, issue 15): `subnet` is the cluster's range, `gateway` '' and
   * `gatewayMac` unused; each host leases a subnet of it (flannel's schema, etcd-subnets.ts) and
   * routes to the others'. Absent: one L2 segment stretched across hosts (Docker's overlay).
   */
  routed?: RoutedDef;
  created: string;
}

/** A routed overlay's settings, the same on every host. */
export interface RoutedDef {
  /** the prefix length of each host's subnet (flannel's SubnetLen) */
  hostSubnetSize: number;
  /** where the leases live in flannel's schema, e.g. "/coreos.com/network" */
  flannelPrefix: string;
  /** the VXLAN UDP port (flannel's Backend.Port): every host's underlay socket's */
  port: number;
}

/** One host's subnet of a routed overlay, as its lease in flannel's schema tells it. */
export interface SubnetLease {
  /** e.g. "10.244.1.0/24" */
  subnet: string;
  /** the host's underlay address (flannel's PublicIP): its VTEP */
  publicIp: string;
  /** its VTEP's MAC (flannel's BackendData.VtepMAC): what inner frames to it are addressed to */
  vtepMac: string;
}

/** The IPv6 side of an overlay network, as the state file keeps a network's (Ipv6NetworkRecord). */
export interface OverlayIpv6Def {
  subnet: string;
  gateway: string;
  ipRange?: string;
  nat: boolean;
}

/** An endpoint as the other hosts must see it. */
export interface OverlayEndpointDef {
  id: string;
  network: string; // network id
  name: string;
  ip: string;
  /** its IPv6 address on a network with IPv6 (claimed cluster-wide as `ip` is); absent: none */
  ip6?: string;
  mac: string;
  /** underlay address of the host it is on */
  vtep: string;
  aliases: string[];
}

/**
 * A VTEP pontoon does not run on (a Linux VXLAN device, another vendor's VTEP), registered by hand
 * (`pontoon peer add`) for one overlay network, with the addresses behind it. It is a member like a
 * host's VTEP; its addresses are claimed in the network's IPAM; an address given with its MAC is a
 * remote endpoint too (ARP answered here, unicast to the VTEP), one without is learned from the
 * frames the VTEP sends. Kept until removed: no lease.
 */
export interface ForeignPeerDef {
  network: string; // network id
  vtep: string;
  addresses: { ip: string; mac?: string }[];
  created: string;
}

/** The remote endpoint a foreign peer's address with a MAC is, as every host sees it. */
export function foreignEndpointDef(def: ForeignPeerDef, a: { ip: string; mac: string }): OverlayEndpointDef {
  return { id: `peer-${def.vtep}-${a.ip}`, network: def.network, name: '', ip: a.ip, mac: a.mac, vtep: def.vtep, aliases: [] };
}

export type ClusterEvent =
  | { kind: 'network-added'; network: OverlayNetworkDef }
  | { kind: 'network-removed'; networkId: string }
  | { kind: 'vtep-up'; networkId: string; vtep: string }
  | { kind: 'vtep-down'; networkId: string; vtep: string }
  | { kind: 'endpoint-up'; endpoint: OverlayEndpointDef }
  | { kind: 'endpoint-down'; networkId: string; endpointId: string }
  | { kind: 'subnet-up'; networkId: string; lease: SubnetLease }
  | { kind: 'subnet-down'; networkId: string; subnet: string };

export interface ClusterStore {
  /** `store` for messages: "etcd", "static" */
  readonly kind: string;
  /**
   * Connects, replays the current state through `onEvent` (networks first, then VTEPs and
   * endpoints), then keeps calling it for every change until close(). Never polls.
   */
  start(onEvent: (e: ClusterEvent) => void): Promise<void>;
  /** Fails with ApiFailure(409) when the name or the VNI is taken. */
  createNetwork(def: OverlayNetworkDef): Promise<void>;
  /** Fails with ApiFailure(409) while any host has an endpoint on it. */
  removeNetwork(networkId: string): Promise<void>;
  /**
   * Reserves an address of the network for `owner` cluster-wide (a transaction: two hosts never get
   * the same one). `requested` must be free; otherwise the lowest free address. `candidates`
   * yields the addresses to try in order.
   */
  claimAddress(networkId: string, owner: string, candidates: Iterable<string>, requested?: string): Promise<string>;
  releaseAddress(networkId: string, ip: string): Promise<void>;
  /** This host takes part in the network: its VTEP is registered (under this host's lease). */
  joinNetwork(networkId: string): Promise<void>;
  leaveNetwork(networkId: string): Promise<void>;
  /** Published under this host's lease: it disappears when the host does. */
  registerEndpoint(ep: OverlayEndpointDef): Promise<void>;
  unregisterEndpoint(networkId: string, endpointId: string): Promise<void>;
  /**
   * Registers a foreign VTEP and its addresses (claimed, like an endpoint's). Fails with
   * ApiFailure(409) when the VTEP is already a member of the network or an address is taken.
   */
  addForeignPeer(def: ForeignPeerDef): Promise<void>;
  /** Fails with ApiFailure(404) when the VTEP is not a foreign peer of the network. */
  removeForeignPeer(networkId: string, vtep: string): Promise<void>;
  foreignPeers(networkId: string): Promise<ForeignPeerDef[]>;
  /**
   * Routed overlays: leases a subnet of the network's range for this host (a transaction: never two
   * hosts on one subnet), under this host's lease, written in flannel's schema. `preferred` (the
   * one this host had, from its state file) is taken again when it is free or still this host's;
   * otherwise the first free of `candidates`. Fails with ApiFailure(409) when none is free.
   */
  leaseSubnet(networkId: string, candidates: Iterable<string>, lease: SubnetLease, preferred?: string): Promise<string>;
  /** Gives the subnet up (the network leaves this host). */
  releaseSubnet(networkId: string, subnet: string): Promise<void>;
  /** From now on, the network's subnet leases (every host's, this one's too) arrive as subnet-up/down events. */
  followSubnets(def: OverlayNetworkDef): void;
  unfollowSubnets(networkId: string): void;
  /** Whether the store is reachable now (for status and errors). */
  healthy(): boolean;
  /** `revokeLease: false`: this host's registrations stay until its lease expires (a routed overlay's subnet kept over a restart). */
  close(opts?: { revokeLease?: boolean }): Promise<void>;
}
