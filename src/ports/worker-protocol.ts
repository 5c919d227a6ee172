// What the control plane (main thread) and the data-plane worker say to each other: the worker's
// start-up data and its control operations.

import type { PortProtocol } from '../wire/ipv4.js';
import type { MessagePort } from 'node:worker_threads';
import type { DataplaneOptions } from '../dataplane/options.js';
import type { EndpointSpec, HostPortSpec, NetworkSpec, ParentPortSpec, PinSpec, RemoteEndpointSpec, RemoteSubnetSpec, UplinkSpec } from '../dataplane/specs.js';
import type { PublishRule, PublishRule6 } from '../dataplane/published-ports.js';
import type { IpFamily } from '../dataplane/conntrack.js';
import type { VtepAddress } from '../dataplane/vtep-table.js';
import type { ConntrackRecord } from '../dataplane/control.js';
import type { RemoteEndpoint6Spec } from '../dataplane/remote-endpoints6.js';
import type { Ipv6Words } from '../wire/ipv6-address.js';
import type { GatewayServiceName } from '../dataplane/gateway-services.js';
import type { GatewayDatagramSpec } from '../dataplane/gateway-datagram.js';
import type { ServiceSpec } from '../dataplane/service-table.js';
import type { UnderlayOptions } from './vxlan-socket.js';
import type { LiveStateStatus } from './live-state-file.js';

/** How the worker's loop does its I/O. */
export interface WorkerIoOptions {
  /** frames drained per port per wake-up */
  batchSize: number;
  /** after traffic, poll without blocking for this long before sleeping again (0: never) */
  busyPollUs: number;
  /** the device I/O backend the daemon chose (io_uring needs the data plane's device memory) */
  backend: 'io_uring' | 'read-write';
  /** why io_uring is not used ('' when it is, or was not wanted) */
  fallbackReason: string;
}

export interface WorkerInit extends WorkerIoOptions {
  options: Partial<DataplaneOptions>;
  /** the file holding conntrack, NAT mappings and published ports across restarts; null: memory only */
  liveStatePath: string | null;
  counters: SharedArrayBuffer;
  wakeFd: number;
  port: MessagePort;
}

/** The VXLAN underlay: this host's socket and the MTU of the network under it. */
export interface TunnelSpec {
  /** this host's underlay address (cluster.advertise): a number for IPv4, words for IPv6; the underlay is its family */
  localIp: VtepAddress;
  /** UDP port of the VXLAN socket */
  port: number;
  underlayMtu: number;
  underlay?: UnderlayOptions;
}

/** An endpoint of an overlay network that lives on another host. */
/**
 * Every control operation the data-plane worker answers, declared once: the worker implements it,
 * DataplaneHost calls it as Remote<WorkerControl> (see control-channel.ts).
 */
export interface WorkerControl {
  addNetwork(spec: NetworkSpec): void;
  /** detaches the network's ports too */
  removeNetwork(index: number): void;
  /** the new port's id */
  addEndpoint(spec: EndpointSpec, fd: number): number;
  addHostPort(spec: HostPortSpec, fd: number): number;
  removePort(portId: number): void;
  addUplink(spec: UplinkSpec, fd: number): number;
  /**
   * A macvlan parent device: `fd` an AF_PACKET socket bound to `device` with PACKET_AUXDATA (and
   * PACKET_VNET_HDR when `vnet`), read from now on under `index`. The control plane keeps the fd
   * and closes it after removeParent.
   */
  addParent(index: number, fd: number, device: string, vnet: boolean): void;
  /** stops reading the parent and removes its ports (their networks keep their containers) */
  removeParent(index: number): void;
  /** a macvlan network's port on a parent (one VLAN of it); the port's id */
  addParentPort(spec: ParentPortSpec): number;
  addPublish(rule: PublishRule): void;
  /** publishes an IPv6 port (`-p [::]:8080:80`): the gateway's IPv6 addresses to the container's IPv6 address */
  addPublish6(rule: PublishRule6): void;
  /** unpublishes (of IPv4 unless `family` says 6); the connections it made go too */
  removePublish(proto: PortProtocol, hostPort: number, family?: IpFamily): void;
  /** pins the mapping of an inside endpoint (PCP, NAT-PMP); the outside port. Throws, changing nothing, when it cannot */
  pinMapping(spec: PinSpec): number;
  /** the mapping stays while flows use it */
  unpinMapping(proto: PortProtocol, insideIp: number, insidePort: number): void;
  /** the services range (config services.cidr): new flows to its addresses that no service has are refused */
  setServiceRange(base: number, prefixLen: number): void;
  /** a service (VIP DNAT) with its whole backend list; backends that left take their flows with them */
  setService(spec: ServiceSpec): void;
  /** removes a service and its flows */
  removeService(slot: number): void;
  /** up to limit live connections */
  conntrackList(limit: number): ConntrackRecord[];
  /** the number of connections dropped */
  conntrackFlush(): number;
  /** opens the VXLAN socket; the tunnel port's id */
  setTunnel(spec: TunnelSpec): number;
  /** a gateway service's packets (DNS, PCP) to gateway addresses go to ip:port (a socket of the daemon); port 0 turns it off */
  setGatewayService(name: GatewayServiceName, ip: number, port: number): void;
  /** the same for IPv6 (queries to a network's IPv6 gateway address) */
  setGatewayService6(name: GatewayServiceName, ip: Ipv6Words, port: number): void;
  /** one UDP datagram from a network's gateway address into the network (NAT-PMP/PCP announcements) */
  sendDatagram(spec: GatewayDatagramSpec): void;
  addPeer(network: number, vtepIp: VtepAddress): void;
  removePeer(network: number, vtepIp: VtepAddress): void;
  /** another host's subnet of a routed overlay network (its lease), routed to its VTEP */
  addRemoteSubnet(spec: RemoteSubnetSpec): void;
  removeRemoteSubnet(network: number, subnet: number, prefixLen: number): void;
  /** prefix/prefixLen routed to the host's TUN port (a routed overlay network's host address) */
  addHostRoute(prefix: number, prefixLen: number): void;
  removeHostRoute(prefix: number, prefixLen: number): void;
  addRemoteEndpoint(spec: RemoteEndpointSpec): void;
  removeRemoteEndpoint(network: number, ip: number): void;
  /** the IPv6 address of a remote endpoint (NDP suppression), after addRemoteEndpoint of its IPv4 one */
  addRemoteEndpoint6(spec: RemoteEndpoint6Spec): void;
  removeRemoteEndpoint6(network: number, ip6: Ipv6Words): void;
  snapshot(): Snapshot;
  /** what the worker found in the live-state file at start (null: not used) */
  liveState(): LiveStateStatus | null;
  /**
   * The control plane has restored its networks, endpoints and published ports: adopted rules it
   * did not re-add are removed (the number removed), and the restart gap is measured at the next frame.
   */
  liveStateRestored(): number;
  /** the NAT-PMP/PCP server (or nobody) has pinned again the mappings it keeps: adopted pins it did not are unpinned (the number) */
  pinsRestored(): number;
  /** the worker leaves its loop after this reply */
  stop(): void;
}

export interface SnapshotPort {
  id: number;
  name: string;
  kind: 'tap' | 'tun' | 'uplink' | 'vxlan' | 'parent';
  network: number;
  lastError: number;
}

/** How the worker moves frames: chosen at start, shown by `pontoon status`. */
export interface IoSnapshot {
  /** the device I/O backend, e.g. "read/write" */
  backend: string;
  /** why a preferred backend is not in use ('' when it is) */
  fallbackReason: string;
  /** microseconds the loop polls after traffic before it blocks (0: never) */
  busyPollUs: number;
  underlay: { family: 'IPv4' | 'IPv6'; gso: boolean; gsoRefused: string; gro: boolean; receiveBuffer: number; sendBuffer: number } | null;
}

export interface Snapshot {
  io: IoSnapshot;
  ports: SnapshotPort[];
  /** ip6: an IPv6 neighbour's words (ip is then its first) */
  neighbours: { network: number; ip: number; ip6?: [number, number, number, number]; mac: number; state: number; ageMs: number }[];
  fdb: { network: number; mac: number; port: number; ageMs: number }[];
}

export type { ConntrackRecord, ConntrackTuple } from '../dataplane/control.js';
