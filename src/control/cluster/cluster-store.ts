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
  created: string;
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
  | { kind: 'endpoint-down'; networkId: string; endpointId: string };

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
  /** Whether the store is reachable now (for status and errors). */
  healthy(): boolean;
  close(): Promise<void>;
}
