import type { PortProtocol } from '../wire/ipv4.js';
import type { Ipv6Words } from '../wire/ipv6-address.js';
import type { VtepAddress } from './vtep-table.js';

// What the control plane hands the data plane to make a network or a port: plain descriptions,
// copied into the tables when they are added.

export interface UplinkSpec {
  index: number; // network slot of the uplink
  name: string;
  ip: number; // the gateway's own address on the uplink
  prefixLen: number;
  mac: number;
  gatewayIp: number; // default next hop
  mtu: number;
  vnet?: boolean;
  /** the uplink's IPv6 side (config uplink.address6/gateway6); absent: IPv4 only */
  ipv6?: Ipv6UplinkSpec;
}

export interface Ipv6UplinkSpec {
  ip: Ipv6Words;
  prefixLen: number;
  gatewayIp: Ipv6Words;
}

/** The IPv6 side of a network (issue 13). */
export interface Ipv6NetworkSpec {
  subnet: Ipv6Words;
  prefixLen: number;
  /** the gateway's global (or ULA) address in the subnet; it also answers on fe80::1 */
  gatewayIp: Ipv6Words;
  /** masquerade to the uplink's IPv6 address (Docker's ip6tables behaviour; default for ULA), or route without NAT */
  nat: boolean;
  /** the gateway's link-local address on the link; absent: fe80::1 (the uplink's comes from its MAC) */
  linkLocal?: Ipv6Words;
}

export interface NetworkSpec {
  index: number;
  name: string;
  subnet: number;
  prefixLen: number;
  gatewayIp: number;
  gatewayMac: number;
  mtu: number;
  internal: boolean;
  /** VXLAN network identifier of an overlay network (absent or 0: a local bridge) */
  vni?: number;
  /** false: an IPv6-only network (subnet, prefixLen and gatewayIp are 0 and unused); absent: true */
  ipv4?: boolean;
  /** the network's IPv6 side; absent: IPv4 only */
  ipv6?: Ipv6NetworkSpec;
  /**
   * A macvlan network: containers directly on the LAN of a parent device, the gateway owning no
   * address on it (gatewayIp 0; gatewayMac is only the source of what the host sends them with
   * hostAccess). Absent: a bridge or overlay network.
   */
  macvlan?: MacvlanNetworkSpec;
  /**
   * A routed overlay network (issue 15, flannel's model): this host's subnet of the cluster's range,
   * the others' reached by routes over VXLAN (addRemoteSubnet), never by L2 flooding; `vni` is set,
   * and gatewayMac is this host's VTEP MAC (what the other hosts address inner frames to).
   */
  routed?: boolean;
}

/** Another host's subnet of a routed overlay network, as its lease in the cluster store tells it. */
export interface RemoteSubnetSpec {
  network: number;
  subnet: number;
  prefixLen: number;
  /** the underlay address of the host leasing it (flannel's PublicIP) */
  vtepIp: VtepAddress;
  /** that host's VTEP MAC (flannel's BackendData.VtepMAC): the inner frames' destination */
  vtepMac: number;
}

/** Docker's macvlan modes, as the kernel's macvlan driver has them. */
export type MacvlanModeName = 'bridge' | 'private' | 'vepa' | 'passthru';

export interface MacvlanNetworkSpec {
  mode: MacvlanModeName;
  /** the host reaches the containers through the host port (routes of their own addresses), and they the host */
  hostAccess: boolean;
}

/** A macvlan network's side of its parent device: the frames of one VLAN (0: the untagged ones). */
export interface ParentPortSpec {
  /** the parent device's index (DataplaneControl.addParent) */
  parent: number;
  vlan: number;
  network: number;
  name: string;
  mtu: number;
  /** the parent carries virtio-net headers (offloads) */
  vnet?: boolean;
}

export interface EndpointSpec {
  name: string;
  network: number;
  mac: number;
  /** the endpoint's IPv4 address; absent exactly on an IPv6-only network (ipv4 false) */
  ip?: number;
  /** the endpoint's IPv6 address on a network with an IPv6 side (its link-local one follows from the MAC) */
  ip6?: Ipv6Words;
  /** the device carries virtio-net headers (checksum and TSO offloads) */
  vnet?: boolean;
}

export interface HostPortSpec {
  name: string;
  /** the host's own address on the TUN link */
  hostIp: number;
  /** the gateway's address on the TUN link (answers ping, source of ICMP errors to the host) */
  gatewayIp: number;
  prefixLen: number;
  mtu: number;
  /** route everything not in a network to the host (no uplink configured) */
  defaultRoute: boolean;
  vnet?: boolean;
  /** the link's IPv6 side (config host.address6); absent: the link carries no IPv6 */
  ipv6?: {
    /** the host's own IPv6 address on the TUN link */
    hostIp: Ipv6Words;
    /** the gateway's (answers ping, source of ICMPv6 errors to the host) */
    gatewayIp: Ipv6Words;
    prefixLen: number;
  };
}

/** An endpoint on another host of an overlay network, as the cluster store tells of it. */
export interface RemoteEndpointSpec {
  network: number;
  ip: number;
  mac: number;
  /** the underlay address of the host it lives on (either family: the underlay's) */
  vtepIp: VtepAddress;
}

/** An explicit NAT mapping (PCP MAP/PEER, NAT-PMP): inside ip:port <-> one outside port of the uplink address. */
export interface PinSpec {
  proto: PortProtocol;
  insideIp: number;
  insidePort: number;
  /** the outside port wanted (0: any; the inside port is tried first) */
  outsidePort: number;
  /** fail rather than hand out another port (PCP PREFER_FAILURE) */
  exact: boolean;
  /** any outside host may open a connection to it (PCP MAP, NAT-PMP); false: it is only kept alive (PCP PEER) */
  open: boolean;
}
