// The data plane's tables, in one place: networks and ports by index, routes, connection tracking
// and NAT, published ports, overlay networks by VNI and the VTEPs they reach. Stages read them;
// control operations (control.ts) change them between batches.

import { ConntrackTable } from './conntrack.js';
import { GatewayServices } from './gateway-services.js';
import { MAX_PORTS } from './counters.js';
import { NatMappings } from './nat-ports.js';
import type { Network } from './network.js';
import type { DataplaneOptions } from './options.js';
import type { ParentIo, Port, TunnelIo } from './port.js';
import { PublishedPorts } from './published-ports.js';
import { RouteTable, RouteTarget } from './route-table.js';
import { ServiceTable } from './service-table.js';
import { HeapMemory, type TableMemory } from './table-memory.js';
import { VXLAN_OVERHEAD } from '../wire/vxlan.js';
import { RemoteSubnets } from './remote-subnets.js';
import { VtepTable } from './vtep-table.js';

export class Tables {
  readonly networks: (Network | undefined)[] = [];
  readonly ports: (Port | undefined)[] = [];
  readonly routes = new RouteTable();
  readonly routes6 = new RouteTable(6);
  readonly conntrack: ConntrackTable;
  readonly mappings: NatMappings;
  readonly published: PublishedPorts;
  /** local endpoints' addresses and their port ids: whose connection a new flow is (conntrack.maxPerEndpoint) */
  readonly endpointsByIp = new Map<number, number>();
  /** the same for IPv6 addresses, keyed by ipv6WordsHash (the port's words confirm a hit) */
  readonly endpointsByIp6 = new Map<number, number>();
  /** the gateway's interface to the outside, if any: masquerade and published ports live there */
  uplink: Network | null = null;
  /** the uplink's IPv6 address (hasUplink6 false: the uplink carries no IPv6): IPv6 masquerades to it */
  hasUplink6 = false;
  readonly uplink6 = new Uint32Array(4);
  /** the gateway's own address on the host's TUN link (0: no host port) */
  hostGatewayIp = 0;
  /** the host's own address on the TUN link (hasHostIp false: no host port): macvlan networks with hostAccess reach it */
  hasHostIp = false;
  hostIp = 0;
  /** the host's own IPv6 address on the TUN link (valid when hasHostIp6) */
  readonly hostIp6 = new Uint32Array(4);
  /** the gateway's own IPv6 address on the host's TUN link (hasHostIp6 false: the link carries no IPv6) */
  hasHostIp6 = false;
  readonly hostGateway6 = new Uint32Array(4);
  /** the gateway's own services (DNS, PCP): where packets to a gateway address on their port go */
  readonly services = new GatewayServices();
  /** services (VIPs DNATed to backends: service-table.ts) */
  readonly vips = new ServiceTable();
  // overlay networks
  readonly vnis = new Map<number, Network>();
  readonly vteps = new VtepTable();
  /** routed overlay networks: the other hosts' subnets the Overlay routes point at */
  readonly remoteSubnets = new RemoteSubnets();
  /** the VXLAN underlay's port and socket (null: no overlay on this host) */
  tunnelPort: Port | null = null;
  tunnel: TunnelIo | null = null;
  underlayMtu = 1500;
  /** the underlay is IPv6 (its socket and every VTEP it reaches); false: IPv4 */
  underlayIpv6 = false;
  /** what an overlay frame carries more than the underlay's packet (vxlanOverhead of the family) */
  underlayOverhead = VXLAN_OVERHEAD;
  // macvlan networks' parent devices, by index: their I/O (flushed at the end of every batch) and,
  // per VLAN id (0: untagged), the port of the network on that VLAN (-1: none)
  readonly parents: (ParentIo | undefined)[] = [];
  readonly parentVlans: (Int32Array | undefined)[] = [];

  /** `memory` holds the entry columns of conntrack, NAT mappings and published ports (live-state.ts) */
  constructor(o: DataplaneOptions, memory: TableMemory = new HeapMemory()) {
    this.conntrack = new ConntrackTable(o.conntrackMax, memory, MAX_PORTS);
    this.mappings = new NatMappings(o.conntrackMax, o.natPortMin, o.natPortMax, memory);
    this.published = new PublishedPorts(65536, memory);
    const maps = this.mappings;
    this.conntrack.onRemove = (m) => maps.unref(m);
  }

  /** The MTU of the way route `route` (an index of `routes`) leads out: its network's, its port's, a routed overlay's. */
  routeMtu(route: number): number {
    const target = this.routes.targetOf(route);
    switch (this.routes.kindOf(route)) {
      case RouteTarget.Network:
        return this.networks[target]!.mtu;
      case RouteTarget.Overlay:
        return this.networks[this.remoteSubnets.network[target]!]!.mtu;
      default:
        return this.ports[target]!.mtu;
    }
  }

  /** The lowest unused port id. */
  freePortId(): number {
    for (let i = 0; i < MAX_PORTS; i++) if (this.ports[i] === undefined) return i;
    throw new Error(`no free port: the data plane holds at most ${MAX_PORTS} ports`);
  }
}
