// The JSON shapes exchanged between the CLI and the daemon over the unix-socket API.
// Field names follow `docker network` output so existing scripts and habits carry over.

import type { NeighbourStateName } from '../dataplane/neighbour-table.js';

export interface NetworkCreateRequest {
  name: string;
  driver?: string; // only 'bridge' for now
  subnet?: string; // CIDR; chosen automatically when absent
  gateway?: string; // IP inside subnet; first usable address when absent
  ipRange?: string; // CIDR inside subnet from which endpoint addresses are allocated
  /** Docker's repeated --subnet/--gateway/--ip-range, each matched to its family (one subnet per family); the single fields above count as one more */
  subnets?: string[];
  gateways?: string[];
  ipRanges?: string[];
  /** --ipv6: the network gets an IPv6 side (its subnet given, or a ULA /64 from the default pool); only IPv6 subnets: IPv6-only */
  ipv6?: boolean;
  /** -o pontoon.ipv6.nat=true|false: masquerade the IPv6 subnet to the uplink (default: a ULA subnet is, a global one is routed) */
  ipv6Nat?: boolean;
  internal?: boolean;
  mtu?: number;
  /** overlay networks: the VXLAN network identifier (chosen when absent; 1 for a routed one, flannel's) */
  vni?: number;
  /** overlay networks: --mode routed, a subnet per host routed between hosts (flannel's model); absent: one L2 segment across hosts */
  mode?: string;
  /** routed overlays: --host-subnet-size N, the prefix length of each host's subnet (default 24) */
  hostSubnetSize?: number;
  /** routed overlays: -o pontoon.flannel_prefix=/coreos.com/network, where the leases live in flannel's etcd schema */
  flannelPrefix?: string;
  /**
   * macvlan networks (-o parent=eth0 or eth0.50: VLAN 50 of eth0, tagged here unless a kernel
   * sub-interface of that name exists); absent: an internal network with no way out, as Docker's dummy parent
   */
  parent?: string;
  /** -o macvlan_mode=bridge|private|vepa|passthru (default bridge) */
  macvlanMode?: string;
  /** -o pontoon.host_access=true: the host reaches the macvlan network's containers through pontoon */
  hostAccess?: boolean;
  /** --aux-address NAME=IP: addresses of the subnet the IPAM never gives out (devices of the LAN) */
  auxAddresses?: Record<string, string>;
}

export interface IpamConfig {
  Subnet: string;
  Gateway: string;
  IPRange?: string;
  /** --aux-address NAME=IP of this family */
  AuxiliaryAddresses?: Record<string, string>;
}

export interface EndpointResource {
  Name: string; // container name: the netns name, or --name given at connect
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string; // "172.17.0.2/16"
  IPv6Address: string; // "fd00:20::2/64", or "" on a network without IPv6
  Interface: string; // name inside the container, e.g. "eth0"
  Netns: string; // path of the namespace, e.g. /run/netns/c1
  /** the runtime's container id, when the connect named one (CNI) */
  ContainerID?: string;
  Aliases: string[];
  /** Docker's legacy links of this endpoint (`--link`), as Docker prints them: "db:dbalias"; absent without links */
  Links?: string[];
  Ports: PortMappingResource[];
  /** embedded DNS on: the names this endpoint answers to on its network (container name, aliases) */
  DNSNames?: string[];
  /** embedded DNS on: the container's resolver, the gateway of the network it joined first */
  DNSServer?: string;
}

export interface NetworkResource {
  Name: string;
  Id: string; // 64 hex chars
  Created: string; // ISO time
  Scope: 'local' | 'swarm';
  Driver: string;
  EnableIPv6: boolean;
  IPAM: { Driver: 'default'; Options: Record<string, string>; Config: IpamConfig[] };
  Internal: boolean;
  Attachable: true;
  Containers: Record<string, EndpointResource>; // keyed by EndpointID
  Options: Record<string, string>; // e.g. "com.docker.network.driver.mtu": "1500"
  Labels: Record<string, string>;
  /** overlay networks: the other hosts' VTEPs */
  Peers?: { IP: string }[];
  /** routed overlays: every host's subnet lease (this host's with Local true), by subnet */
  HostSubnets?: { Subnet: string; Host: string; VtepMAC: string; Local: boolean }[];
  /** overlay networks: endpoints on other hosts, keyed by EndpointID */
  RemoteContainers?: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; Host: string }>;
}

export interface NetworkSummary {
  Id: string;
  Name: string;
  Driver: string;
  Scope: 'local' | 'swarm';
  Subnet: string;
  Gateway: string;
  /** IPv6 is enabled (Docker's `network ls --format '{{.IPv6}}'`) */
  IPv6: boolean;
  Internal: boolean;
  Endpoints: number;
}

export interface ConnectRequest {
  netns: string; // a name from `ip netns`, a path such as /proc/PID/ns/net, or a PID
  ip?: string;
  /** a fixed IPv6 address on a network with IPv6 (--ip6) */
  ip6?: string;
  aliases?: string[];
  name?: string;
  /** `[HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]`, ranges allowed, as `docker run -p` */
  publish?: string[];
  /** Docker's legacy links (`--link CONTAINER[:ALIAS]`) to containers on the same network */
  links?: LinkRequest[];
  /** the interface's name inside the namespace (CNI_IFNAME); the lowest free ethN when absent */
  ifName?: string;
  /** the runtime's container id (CNI_CONTAINERID): with ifName, what a later disconnect may name */
  containerId?: string;
}

/** Docker's legacy link of an endpoint: the linked container's name on the network, and the alias its linking container knows it by. */
export interface ContainerLink {
  name: string;
  alias: string;
}

/** A link as a connect asks for it: `"CONTAINER[:ALIAS]"`, or `{ name, alias }` (the alias defaults to the name). */
export type LinkRequest = string | { name: string; alias?: string };

export interface PortMappingResource {
  proto: 'tcp' | 'udp';
  hostIp: string;
  hostPort: number;
  containerPort: number;
  network: string;
  containerIp: string;
  /** absent: published at connect (-p); else asked for by the container (NAT-PMP, PCP MAP or PEER) */
  source?: 'nat-pmp' | 'pcp' | 'pcp-peer';
  /** NAT-PMP/PCP mappings: seconds until it expires unless renewed */
  lifetimeSeconds?: number;
}

export interface ConntrackTupleResource {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

/** One tracked connection, as `conntrack -L` shows it. */
export interface ConntrackEntryResource {
  /** the daemon always says; absent (a daemon before IPv6 tracking): ipv4 */
  family?: 'ipv4' | 'ipv6';
  proto: 'tcp' | 'udp' | 'icmp' | 'icmpv6';
  protoNumber: number;
  timeoutSeconds: number;
  state: string; // TCP state name, or "" for UDP/ICMP
  orig: ConntrackTupleResource;
  reply: ConntrackTupleResource;
  flags: string[]; // ASSURED, UNREPLIED, SNAT, DNAT
  packets: [number, number];
  bytes: [number, number];
}

/** The endpoint by its namespace, or by the container id and interface name it was connected with (CNI DEL). */
export type DisconnectRequest = { netns: string } | { containerId: string; ifName: string };

export interface PortStatus {
  id: number;
  name: string; // device name, e.g. "eth0@c1" or "pontoon0"
  kind: 'tap' | 'tun' | 'uplink' | 'vxlan' | 'parent';
  network: string | null;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
}

export interface NeighbourStatus {
  network: string;
  ip: string;
  mac: string | null;
  /** RFC 4861's states, for ARP and NDP alike */
  state: NeighbourStateName;
  ageSeconds: number;
}

export interface FdbStatus {
  network: string;
  mac: string;
  port: number;
  ageSeconds: number;
}

export interface IoStatus {
  /** the device I/O backend of the data plane */
  backend: string;
  fallbackReason: string;
  busyPollUs: number;
  /** the VXLAN underlay socket (null without overlays): its family (cluster.advertise's), GSO/GRO, buffers */
  underlay: { family: 'IPv4' | 'IPv6'; gso: boolean; gsoRefused: string; gro: boolean; receiveBuffer: number; sendBuffer: number } | null;
}

export interface StatusReport {
  version: string;
  uptimeSeconds: number;
  io: IoStatus;
  networks: number;
  endpoints: number;
  ports: PortStatus[];
  drops: Record<string, number>; // reason -> count
  neighbours: NeighbourStatus[];
  fdb: FdbStatus[];
  /** macvlan networks' parent devices; absent from daemons before them */
  parents?: ParentDeviceStatus[];
}

export interface ParentDeviceStatus {
  device: string;
  /** false: it vanished, and is attached again when it returns */
  attached: boolean;
  networks: string[];
  /** times it vanished while in use */
  lost: number;
}

/** Every error answer of the API has this body and a 4xx/5xx status. */
export interface ApiError {
  message: string;
}

// ---- foreign VTEPs (`pontoon peer`) ------------------------------------------------------------

/** An address behind a foreign VTEP; with its MAC, ARP for it is answered here (unicast to the VTEP). */
export interface PeerAddress {
  ip: string;
  mac?: string;
}

export interface PeerAddRequest {
  /** the foreign VTEP's underlay address */
  vtep: string;
  addresses?: PeerAddress[];
}

/** A foreign VTEP of an overlay network, as `pontoon peer ls` shows it. */
export interface PeerResource {
  Network: string;
  NetworkID: string;
  VTEP: string;
  Addresses: { IP: string; MacAddress: string }[]; // MacAddress "" when learned from its frames
  Created: string;
}

// ---- counters (`pontoon top`) ------------------------------------------------------------------

/** The data plane's counters at one instant: `pontoon top` takes two and shows the rates. */
export interface CountersReport {
  /** when they were read, ms since the epoch (the rates' time base) */
  time: number;
  ports: PortStatus[];
  drops: Record<string, number>; // reason -> count
  conntrack: { entries: number; max: number };
  /** outside ports (ICMP: identifiers) held by masquerade mappings */
  natPorts: { tcp: number; udp: number; icmp: number };
  /** overlay networks: frames and bytes through the VXLAN underlay */
  overlays: { network: string; vni: number; rxPackets: number; rxBytes: number; txPackets: number; txBytes: number }[];
}

/** `POST /v1/services` (`pontoon service create`): what the CLI sends. */
export interface ServiceCreateRequest {
  name: string;
  network: string;
  /** "80", "80/tcp" or "53/udp" */
  port: string;
  /** the backends' port (default: the service's) */
  targetPort?: number;
  /** the VIP: in services.cidr or in the network's subnet; absent: the lowest free one of services.cidr */
  vip?: string;
  /** every endpoint of the network with this alias is a backend */
  selector?: string;
  /** or the containers of these names on the network */
  backends?: string[];
  /** "none", "client-ip" or "client-ip:SECONDS" (default timeout 10800 s, as Kubernetes') */
  affinity?: string;
  /** the uplink's (and the host link's) port that reaches the service, like a Kubernetes NodePort */
  publish?: number;
}

/** One backend of a service as `service inspect` shows it. */
export interface ServiceBackendResource {
  /** its container name */
  Name: string;
  IP: string;
  /** "local", or the VTEP of the host it is on */
  Host: string;
  NewFlows: number;
  Bytes: number;
  ActiveFlows: number;
}

export interface ServiceResource {
  Name: string;
  Id: string;
  Network: string;
  NetworkID: string;
  VIP: string;
  Protocol: 'tcp' | 'udp';
  Port: number;
  TargetPort: number;
  Selector: string | null;
  /** the containers named by --backend ([] with a selector) */
  Containers: string[];
  /** "none", or "client-ip:SECONDS" */
  Affinity: string;
  /** the published host port, or null */
  Publish: number | null;
  Backends: ServiceBackendResource[];
  /** new flows refused for want of a backend */
  Refused: number;
  Created: string;
}
