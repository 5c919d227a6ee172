// Control operations: networks, ports, overlay peers, published ports. They run between batches
// (the worker applies them when the control plane asks), never inside the fast path, and leave
// the tables consistent or throw without having changed them.

import { type Ipv6Words, eui64Words, ipv6WordsHash, prefixMaskWord6 } from '../wire/ipv6-address.js';
import type { PortProtocol } from '../wire/ipv4.js';
import { ipv4ToString, prefixMask } from '../wire/ipv4-address.js';
import { macHiOf, macLoOf } from '../wire/mac.js';
import type { NeighbourDiscovery } from './neighbour-discovery.js';
import type { Datapath } from './context.js';
import { CtFlag, CtTuple, Family, type IpFamily } from './conntrack.js';
import { Gauge, SERVICE_FIELDS, SVC_BACKEND_IP, SVC_REFUSED_BASE } from './counters.js';
import { type GatewayDatagramSpec, sendGatewayDatagram } from './gateway-datagram.js';
import type { GatewayServiceName } from './gateway-services.js';
import { vtepTarget } from './mac-table.js';
import { Network, RemoteEndpoint } from './network.js';
import { type ParentIo, ParentPortIo, Port, type PortIo, PortKind, type TunnelIo } from './port.js';
import { natClass } from './nat-ports.js';
import type { AnyPublishRule } from './published-ports.js';
import { sweepUnconfirmed, sweepUnconfirmedPins } from './live-state.js';
import type { RemoteEndpoint6Spec } from './remote-endpoints6.js';
import { RouteTarget } from './route-table.js';
import { MAX_BACKENDS, type ServiceSpec } from './service-table.js';
import { isVtep6, type VtepAddress, vtepToString } from './vtep-table.js';
import { vxlanOverhead } from '../wire/vxlan.js';
import type { EndpointSpec, HostPortSpec, Ipv6NetworkSpec, Ipv6UplinkSpec, NetworkSpec, ParentPortSpec, PinSpec, RemoteEndpointSpec, RemoteSubnetSpec, UplinkSpec } from './specs.js';

/** The largest VLAN id (802.1Q: 4095 is reserved, 0 is the untagged / priority-tagged frames' slot). */
const MAX_VLAN = 4094;
import type { Transmitter } from './transmit.js';

/** One direction of a tracked connection, as the listing gives it: IPv4 addresses as uint32, IPv6 ones as words. */
export interface ConntrackTuple {
  src: number | Ipv6Words;
  dst: number | Ipv6Words;
  sport: number;
  dport: number;
}

/** One tracked connection (`conntrack ls`). */
export interface ConntrackRecord {
  family: IpFamily;
  proto: number;
  state: number;
  flags: number;
  expiresInMs: number;
  orig: ConntrackTuple;
  reply: ConntrackTuple;
  packets: [number, number];
  bytes: [number, number];
}

/** What control needs of the data plane: the stages' view plus the concrete resolver and transmit. */
export interface ControlTarget extends Datapath {
  readonly resolver: NeighbourDiscovery;
  readonly tx: Transmitter;
  endBatch(): void;
}

export class DataplaneControl {
  constructor(private readonly dp: ControlTarget) {}

  addNetwork(spec: NetworkSpec): Network {
    const t = this.dp.tables;
    if (t.networks[spec.index] !== undefined) throw new Error(`network slot ${spec.index} is in use`);
    const vni = spec.vni ?? 0;
    if (spec.routed === true && (vni === 0 || spec.ipv4 === false || spec.macvlan !== undefined)) throw new Error(`network ${spec.name}: a routed overlay network needs a VNI and an IPv4 subnet`);
    if (vni > 0 && t.vnis.has(vni)) throw new Error(`VNI ${vni} is already used by network ${t.vnis.get(vni)!.name}`);
    const o = this.dp.options;
    const net = new Network(spec, { fdbCapacity: o.fdbCapacity, arpQueueLength: o.arpQueueLength });
    t.networks[spec.index] = net;
    // an IPv6-only network has no IPv4 route (its 0/0 would take every destination); a macvlan
    // network's subnet is the LAN's, not routed here (with hostAccess its containers' own addresses are)
    if (net.macvlan === 0) {
      if (net.ipv4) t.routes.add(net.subnet, net.prefixLen, RouteTarget.Network, net.index);
      if (spec.ipv6 !== undefined) t.routes6.add6(spec.ipv6.subnet, spec.ipv6.prefixLen, RouteTarget.Network, net.index);
    }
    if (vni > 0) t.vnis.set(vni, net);
    return net;
  }

  removeNetwork(index: number): void {
    const t = this.dp.tables;
    const net = t.networks[index];
    if (net === undefined) return;
    for (let i = net.portCount - 1; i >= 0; i--) this.removePort(net.ports[i]);
    this.dp.resolver.releaseAll(net);
    const v6 = net.ip6;
    if (net.macvlan === 0) {
      if (net.ipv4) t.routes.remove(net.subnet, net.prefixLen);
      if (v6 !== null) t.routes6.remove6([v6.s0, v6.s1, v6.s2, v6.s3], v6.prefixLen);
    }
    if (net.vni !== 0) t.vnis.delete(net.vni);
    if (net.routed) {
      const routes = t.routes;
      for (let r = routes.size - 1; r >= 0; r--) {
        if (routes.kindOf(r) !== RouteTarget.Overlay || t.remoteSubnets.network[routes.targetOf(r)] !== index) continue;
        t.remoteSubnets.remove(routes.targetOf(r));
        routes.removeAt(r);
      }
    }
    t.networks[index] = undefined;
    this.refreshOverlayGauges();
  }

  /**
   * Attaches the VXLAN underlay socket; `underlayMtu` is the MTU of the underlay path, `ipv6` its
   * family (every VTEP is then an IPv6 address, and an overlay frame costs 70 bytes more, not 50).
   */
  setTunnel(name: string, io: TunnelIo, underlayMtu: number, ipv6 = false): Port {
    const t = this.dp.tables;
    if (t.tunnel !== null) throw new Error('a VXLAN underlay is already attached');
    // frames reach the underlay through vxlan-output with a VTEP, never through a plain send
    const port = new Port(t.freePortId(), PortKind.Tunnel, name, { send: () => false });
    port.mtu = underlayMtu;
    this.addPort(port);
    t.tunnel = io;
    t.tunnelPort = port;
    t.underlayMtu = underlayMtu;
    t.underlayIpv6 = ipv6;
    t.underlayOverhead = vxlanOverhead(ipv6);
    return port;
  }

  /** Sends a gateway service's packets (to any gateway address) to ip:port, a socket of the daemon; port 0 turns it off. */
  setGatewayService(name: GatewayServiceName, ip: number, port: number): void {
    this.dp.tables.services.set(name, ip, port);
  }

  /** The same for IPv6: packets to a network's IPv6 gateway address go to [ip]:port. */
  setGatewayService6(name: GatewayServiceName, ip: Ipv6Words, port: number): void {
    this.dp.tables.services.set6(name, ip, port);
  }

  /** Sends one UDP datagram from a network's gateway address into the network (announcements). */
  sendDatagram(spec: GatewayDatagramSpec): void {
    sendGatewayDatagram(this.dp, spec);
    this.dp.endBatch();
  }

  private overlay(network: number): Network {
    const net = this.dp.tables.networks[network];
    if (net === undefined || net.vni === 0) throw new Error(`network slot ${network} is not an overlay network`);
    return net;
  }

  /**
   * The index of a VTEP, made on first use; refused when the VTEP is of the other family than the
   * attached underlay (its socket could never reach it).
   */
  private vtep(a: VtepAddress): number {
    const t = this.dp.tables;
    if (t.tunnel !== null && isVtep6(a) !== t.underlayIpv6) {
      const fam = (six: boolean) => (six ? 'IPv6' : 'IPv4');
      throw new Error(`VTEP ${vtepToString(a)} is ${fam(isVtep6(a))} but the underlay is ${fam(t.underlayIpv6)}: every VTEP of a cluster is of one family`);
    }
    return t.vteps.intern(a);
  }

  /** Makes `vtepIp` a peer of an overlay network: flooded to, accepted from. Returns its index. */
  addPeer(network: number, vtepIp: VtepAddress): number {
    const net = this.overlay(network);
    const v = this.vtep(vtepIp);
    net.addPeer(v);
    this.refreshOverlayGauges();
    return v;
  }

  /** The VTEP is no peer any more: its endpoints, and the MACs learned behind it, are forgotten. */
  removePeer(network: number, vtepIp: VtepAddress): void {
    const net = this.dp.tables.networks[network];
    const v = this.dp.tables.vteps.indexOf(vtepIp);
    if (net === undefined || v < 0) return;
    net.removePeer(v);
    for (const r of [...net.remotes.values()]) if (r.vtep === v) this.removeRemoteEndpoint(network, r.ip);
    this.removeRemoteEndpoints6Via(net, v);
    net.fdb.flushPort(vtepTarget(v));
    this.refreshOverlayGauges();
  }

  /** An endpoint on another host (from the control plane): static fdb entry, ARP suppression, neighbour. */
  addRemoteEndpoint(spec: RemoteEndpointSpec): void {
    const dp = this.dp;
    const { ip, mac } = spec;
    const net = this.overlay(spec.network);
    const v = this.vtep(spec.vtepIp);
    net.addPeer(v);
    const hi = macHiOf(mac);
    const lo = macLoOf(mac);
    net.fdb.setStatic(hi, lo, vtepTarget(v), dp.now);
    net.remotes.set(ip | 0, new RemoteEndpoint(ip >>> 0, hi, lo, v));
    const n = net.neighbours.get(ip) ?? net.neighbours.create(ip, dp.now);
    n.fixed = true;
    dp.resolver.resolved(net, n, hi, lo);
    this.refreshOverlayGauges();
    dp.endBatch();
  }

  removeRemoteEndpoint(network: number, ip: number): void {
    const net = this.dp.tables.networks[network];
    if (net === undefined) return;
    const r = net.remotes.get(ip | 0);
    if (r === undefined) return;
    net.remotes.delete(ip | 0);
    net.fdb.remove(r.macHi, r.macLo);
    const n = net.neighbours.get(ip);
    if (n !== undefined && n.parkedCount === 0) net.neighbours.delete(ip);
    this.refreshOverlayGauges();
  }

  // ---- routed overlay networks (remote-subnets.ts, routed-overlay.ts) ---------------------------

  /**
   * Another host's subnet of a routed overlay network (its lease): packets to it are routed over
   * VXLAN to its VTEP, the inner frame addressed to its VTEP MAC; packets from that VTEP are
   * accepted when their source is in one of its subnets. A subnet already routed is replaced.
   */
  addRemoteSubnet(spec: RemoteSubnetSpec): void {
    const t = this.dp.tables;
    const net = this.overlay(spec.network);
    if (!net.routed) throw new Error(`network ${net.name} is not a routed overlay network`);
    if (!(spec.prefixLen >= 1 && spec.prefixLen <= 32)) throw new Error(`bad prefix length ${spec.prefixLen}`);
    const mask = prefixMask(spec.prefixLen);
    const subnet = (spec.subnet & mask) >>> 0;
    const shorter = Math.min(spec.prefixLen, net.prefixLen);
    if (((subnet ^ net.subnet) & prefixMask(shorter)) === 0) throw new Error(`subnet ${ipv4ToString(subnet)}/${spec.prefixLen} overlaps this host's subnet of network ${net.name}`);
    const v = this.vtep(spec.vtepIp);
    this.removeRemoteSubnet(spec.network, subnet, spec.prefixLen);
    const slot = t.remoteSubnets.add(net.index, v, spec.vtepMac);
    t.routes.add(subnet, spec.prefixLen, RouteTarget.Overlay, slot);
    net.addPeer(v);
    this.refreshOverlayGauges();
  }

  /** The subnet's lease is gone: no route to it; its VTEP is no peer once none of its subnets is left. */
  removeRemoteSubnet(network: number, subnet: number, prefixLen: number): void {
    const t = this.dp.tables;
    const r = t.routes.find(subnet, prefixLen);
    if (r < 0 || t.routes.kindOf(r) !== RouteTarget.Overlay) return;
    const rs = t.remoteSubnets;
    const slot = t.routes.targetOf(r);
    if (rs.network[slot] !== network) return;
    t.routes.removeAt(r);
    const v = rs.vtep[slot];
    rs.remove(slot);
    const net = t.networks[network];
    if (net !== undefined && !rs.vtepInUse(network, v)) net.removePeer(v);
    this.refreshOverlayGauges();
  }

  /**
   * Routes prefix/prefixLen to the host's TUN port: a routed overlay network's host address (the
   * host's source on the cluster's range, as flannel gives flannel.1 the subnet's first address).
   */
  addHostRoute(prefix: number, prefixLen: number): void {
    const t = this.dp.tables;
    const host = t.ports.find((p) => p?.kind === PortKind.Host);
    if (host === undefined) throw new Error('no host port: nothing to route to');
    t.routes.add(prefix, prefixLen, RouteTarget.Host, host.id);
  }

  removeHostRoute(prefix: number, prefixLen: number): void {
    const t = this.dp.tables;
    const r = t.routes.find(prefix, prefixLen);
    if (r >= 0 && t.routes.kindOf(r) === RouteTarget.Host) t.routes.removeAt(r);
  }

  // ---- IPv6 of remote endpoints (NDP suppression, ndp-proxy.ts) ----------------------------------

  /**
   * The IPv6 address of an endpoint on another host: neighbour solicitations for it from local
   * containers are answered with its MAC. Its MAC is reached through its VTEP (static fdb entry),
   * as addRemoteEndpoint makes it for its IPv4 address.
   */
  addRemoteEndpoint6(spec: RemoteEndpoint6Spec): void {
    const dp = this.dp;
    const net = this.overlay(spec.network);
    if (net.ip6 === null) throw new Error(`network ${net.name} has no IPv6`);
    const v = this.vtep(spec.vtepIp);
    net.addPeer(v);
    const hi = macHiOf(spec.mac);
    const lo = macLoOf(spec.mac);
    net.fdb.setStatic(hi, lo, vtepTarget(v), dp.now);
    net.remotes6.set(spec.ip6, hi, lo, v);
    // the gateway knows its MAC too, as for IPv4: routed IPv6 to it never waits for a solicitation
    // that a remote endpoint's answer (to the gateway's MAC, not_for_us on decapsulation) could not settle
    const w = [spec.ip6[0] | 0, spec.ip6[1] | 0, spec.ip6[2] | 0, spec.ip6[3] | 0] as const;
    const n = net.neighbours.get6(...w) ?? net.neighbours.create6(...w, dp.now);
    n.fixed = true;
    dp.resolver.resolved(net, n, hi, lo);
    this.refreshOverlayGauges();
    dp.endBatch();
  }

  /** Forgets a remote endpoint's IPv6 address and its neighbour entry (its MAC's fdb entry goes with its IPv4 address). */
  removeRemoteEndpoint6(network: number, ip6: Ipv6Words): void {
    const net = this.dp.tables.networks[network];
    if (net === undefined) return;
    net.remotes6.delete(ip6);
    this.forgetNeighbour6(net, ip6[0] | 0, ip6[1] | 0, ip6[2] | 0, ip6[3] | 0);
  }

  private removeRemoteEndpoints6Via(net: Network, vtep: number): void {
    for (const r of net.remotes6.values()) {
      if (r.vtep !== vtep) continue;
      net.remotes6.delete([r.w0, r.w1, r.w2, r.w3]);
      this.forgetNeighbour6(net, r.w0 | 0, r.w1 | 0, r.w2 | 0, r.w3 | 0);
    }
  }

  /** Removes a remote endpoint's fixed IPv6 neighbour entry, unless frames are parked on it. */
  private forgetNeighbour6(net: Network, w0: number, w1: number, w2: number, w3: number): void {
    const n = net.neighbours.get6(w0, w1, w2, w3);
    if (n !== undefined && n.parkedCount === 0) net.neighbours.remove(n);
  }

  private refreshOverlayGauges(): void {
    let peers = 0;
    let remotes = 0;
    for (const net of this.dp.tables.vnis.values()) {
      peers += net.peerCount;
      remotes += net.remotes.size;
    }
    const g = this.dp.counters.gauges;
    g[Gauge.VxlanPeers] = peers;
    g[Gauge.RemoteEndpoints] = remotes;
  }

  private addPort(port: Port): void {
    this.dp.tables.ports[port.id] = port;
    this.dp.counters.resetPort(port.id);
  }

  /**
   * Attaches a container's port to a network and announces it with a gratuitous ARP; on an
   * IPv6-only network the port has no IPv4 address (ethernet-input drops its IPv4 and ARP).
   */
  addEndpoint(spec: EndpointSpec, io: PortIo): Port {
    const dp = this.dp;
    const t = dp.tables;
    const net = t.networks[spec.network];
    if (net === undefined) throw new Error(`no network in slot ${spec.network}`);
    if ((spec.ip !== undefined) !== net.ipv4) {
      throw new Error(net.ipv4 ? `endpoint ${spec.name} needs an IPv4 address on network ${net.name}` : `network ${net.name} is IPv6-only: endpoint ${spec.name} cannot have an IPv4 address`);
    }
    const port = new Port(t.freePortId(), PortKind.Endpoint, spec.name, io);
    port.network = net.index;
    port.macHi = macHiOf(spec.mac);
    port.macLo = macLoOf(spec.mac);
    port.hasIp4 = spec.ip !== undefined;
    port.ip = (spec.ip ?? 0) >>> 0;
    port.mac = spec.mac;
    [port.eui64w2, port.eui64w3] = eui64Words(spec.mac);
    if (spec.ip6 !== undefined) {
      port.hasIp6 = true;
      port.ip6w0 = spec.ip6[0] >>> 0;
      port.ip6w1 = spec.ip6[1] >>> 0;
      port.ip6w2 = spec.ip6[2] >>> 0;
      port.ip6w3 = spec.ip6[3] >>> 0;
    }
    port.mtu = net.mtu;
    port.vnet = spec.vnet === true;
    this.addPort(port);
    net.addPort(port.id);
    if (port.hasIp4) t.endpointsByIp.set(port.ip | 0, port.id);
    if (port.hasIp6) t.endpointsByIp6.set(ipv6WordsHash(port.ip6w0, port.ip6w1, port.ip6w2, port.ip6w3), port.id);
    this.adoptConnections(port);
    if (net.macvlan !== 0) {
      // the LAN reaches it by its MAC before it ever sends; with hostAccess the host reaches its addresses
      net.fdb.setStatic(port.macHi, port.macLo, port.id, dp.now);
      if (net.hostAccess) {
        if (port.hasIp4) t.routes.add(port.ip, 32, RouteTarget.Network, net.index);
        if (port.hasIp6) t.routes6.add6([port.ip6w0, port.ip6w1, port.ip6w2, port.ip6w3], 128, RouteTarget.Network, net.index);
      }
    }
    net.fdb.learn(port.macHi, port.macLo, port.id, dp.now);
    if (port.hasIp4) {
      // the gateway knows the endpoint: no ARP needed for its first packet
      const n = net.neighbours.get(port.ip) ?? net.neighbours.create(port.ip, dp.now);
      dp.resolver.resolved(net, n, port.macHi, port.macLo);
    }
    if (port.hasIp6) {
      const w = [port.ip6w0, port.ip6w1, port.ip6w2, port.ip6w3] as const;
      const n6 = net.neighbours.get6(...w) ?? net.neighbours.create6(...w, dp.now);
      dp.resolver.resolved(net, n6, port.macHi, port.macLo);
    }
    // gratuitous ARP on the endpoint's behalf: stale caches of its address get its new MAC
    if (port.hasIp4) dp.resolver.announce(net, spec.mac, port.ip, port, false);
    dp.endBatch();
    return port;
  }

  addHostPort(spec: HostPortSpec, io: PortIo): Port {
    const t = this.dp.tables;
    const port = new Port(t.freePortId(), PortKind.Host, spec.name, io);
    port.mtu = spec.mtu;
    port.vnet = spec.vnet === true;
    this.addPort(port);
    t.hostGatewayIp = spec.gatewayIp >>> 0;
    t.hostIp = spec.hostIp >>> 0;
    t.hasHostIp = true;
    t.routes.add(spec.hostIp, spec.prefixLen, RouteTarget.Host, port.id);
    if (spec.defaultRoute) t.routes.add(0, 0, RouteTarget.Host, port.id);
    const v6 = spec.ipv6;
    if (v6 !== undefined) {
      t.hasHostIp6 = true;
      t.hostGateway6.set(v6.gatewayIp);
      t.hostIp6.set(v6.hostIp);
      t.routes6.add6(v6.hostIp, v6.prefixLen, RouteTarget.Host, port.id);
      if (spec.defaultRoute) t.routes6.add6([0, 0, 0, 0], 0, RouteTarget.Host, port.id);
    }
    return port;
  }

  /** A macvlan parent device under `index` (ParentPortSpec.parent): its ports are added with addParentPort. */
  addParent(index: number, io: ParentIo): void {
    const t = this.dp.tables;
    if (t.parents[index] !== undefined) throw new Error(`parent slot ${index} is in use`);
    t.parents[index] = io;
    t.parentVlans[index] = new Int32Array(MAX_VLAN + 1).fill(-1);
  }

  /** The parent device goes (its ports first: their networks keep only their containers). */
  removeParent(index: number): void {
    const t = this.dp.tables;
    const vlans = t.parentVlans[index];
    if (vlans === undefined) return;
    for (let v = 0; v < vlans.length; v++) while (vlans[v] >= 0) this.removePort(vlans[v]);
    t.parentVlans[index] = undefined;
    t.parents[index] = undefined;
  }

  /** A macvlan network's port on a parent device: the frames of one VLAN of it (0: the untagged ones). */
  addParentPort(spec: ParentPortSpec): Port {
    const t = this.dp.tables;
    const io = t.parents[spec.parent];
    const vlans = t.parentVlans[spec.parent];
    if (io === undefined || vlans === undefined) throw new Error(`no parent in slot ${spec.parent}`);
    const net = t.networks[spec.network];
    if (net === undefined || net.macvlan === 0) throw new Error(`network slot ${spec.network} is not a macvlan network`);
    if (spec.vlan < 0 || spec.vlan > MAX_VLAN) throw new Error(`VLAN ${spec.vlan} is outside 0-${MAX_VLAN}`);
    if (net.parentPort >= 0) throw new Error(`network ${net.name} already has its parent`);
    const pio = new ParentPortIo(io, spec.vlan);
    pio.vnet = spec.vnet === true;
    const port = new Port(t.freePortId(), PortKind.Parent, spec.name, pio);
    port.network = net.index;
    port.mtu = spec.mtu;
    port.vnet = pio.vnet;
    this.addPort(port);
    net.addPort(port.id);
    net.parentPort = port.id;
    // several networks may share a VLAN of a parent (disjoint subnets): the list of its ports
    port.vlanNext = vlans[spec.vlan];
    vlans[spec.vlan] = port.id;
    return port;
  }

  /** The gateway's own interface to the outside: default route through `gatewayIp`, masquerade. */
  addUplink(spec: UplinkSpec, io: PortIo): Port {
    const dp = this.dp;
    const t = dp.tables;
    if (t.uplink !== null) throw new Error('an uplink is already attached');
    const net = this.addNetwork({
      index: spec.index,
      name: spec.name,
      subnet: (spec.ip & prefixMask(spec.prefixLen)) >>> 0,
      prefixLen: spec.prefixLen,
      gatewayIp: spec.ip,
      gatewayMac: spec.mac,
      mtu: spec.mtu,
      internal: false,
      ...(spec.ipv6 !== undefined ? { ipv6: uplinkNetwork6(spec.ipv6, spec.mac) } : {}),
    });
    net.isUplink = true;
    const port = new Port(t.freePortId(), PortKind.Uplink, spec.name, io);
    port.network = net.index;
    port.macHi = net.gatewayMacHi;
    port.macLo = net.gatewayMacLo;
    port.ip = spec.ip >>> 0;
    port.mtu = spec.mtu;
    port.vnet = spec.vnet === true;
    this.addPort(port);
    net.addPort(port.id);
    t.uplink = net;
    // everything not in a network goes out of the uplink now, not to the host
    t.routes.remove(0, 0);
    t.routes.add(0, 0, RouteTarget.Network, net.index, spec.gatewayIp);
    const v6 = spec.ipv6;
    if (v6 !== undefined) {
      // IPv6 too: masquerade to the uplink's address, everything else through gateway6
      t.uplink6.set(v6.ip);
      t.hasUplink6 = true;
      t.routes6.remove6([0, 0, 0, 0], 0);
      t.routes6.add6([0, 0, 0, 0], 0, RouteTarget.Network, net.index, v6.gatewayIp);
    }
    // announce the address (gratuitous ARP), as a host does when it comes up
    dp.resolver.announce(net, spec.mac, spec.ip, port, true);
    dp.endBatch();
    return port;
  }

  /** Publishes a port (DNAT) of either family; the uplink port is kept out of that family's masquerade. */
  addPublish(rule: AnyPublishRule): void {
    const t = this.dp.tables;
    t.published.add(rule);
    t.mappings.reserve(natClass(rule.family ?? Family.Ipv4, rule.proto), rule.hostPort, true);
  }

  /** The control plane has re-added everything it owns: adopted rules it did not name again go. The number removed. */
  liveStateRestored(): number {
    return sweepUnconfirmed(this.dp.tables);
  }

  /** The pins' owner (the NAT-PMP/PCP server, or nobody) has pinned again what it keeps: adopted pins it did not go. The number removed. */
  pinsRestored(): number {
    return sweepUnconfirmedPins(this.dp.tables);
  }

  /** Unpublishes a port of a family; the connections it made go at once (no stale flow outlives its rule). */
  removePublish(proto: PortProtocol, hostPort: number, family: IpFamily = Family.Ipv4): void {
    const t = this.dp.tables;
    const rule = t.published.ruleOf(proto, hostPort, family);
    if (rule < 0) return;
    const p = t.published;
    const target = [p.targetWord(rule, 0), p.targetWord(rule, 1), p.targetWord(rule, 2), p.targetWord(rule, 3)] as const;
    const targetPort = p.targetPortOf(rule);
    p.remove(proto, hostPort, family);
    t.mappings.reserve(natClass(family, proto), hostPort, false);
    const ct = t.conntrack;
    const reply = (e: number) => e * 2 + 1;
    const isTarget = family === Family.Ipv6 ? (e: number) => ct.isAddress6(reply(e), false, target) : (e: number) => ct.isAddress4(reply(e), false, target[0]);
    ct.removeWhere(
      (e) => (ct.flags[e] & CtFlag.Dnat) !== 0 && ct.proto[e] === proto && ct.dport[e * 2] === hostPort && isTarget(e) && ct.sport[e * 2 + 1] === targetPort,
    );
  }

  // ---- services (service-table.ts) ---------------------------------------------------------------

  /** The services range (config services.cidr): new flows to an address in it that no service has are refused. */
  setServiceRange(base: number, prefixLen: number): void {
    this.dp.tables.vips.setRange(base, prefixMask(prefixLen), prefixLen > 0);
  }

  /**
   * Makes a service (slot spec.slot) what the spec says: its VIP, ports, affinity and whole
   * backend list. A backend that left takes its flows with it at once; one that stays keeps them.
   * Throws, changing nothing, on a bad spec.
   */
  setService(spec: ServiceSpec): void {
    const t = this.dp.tables;
    const net = t.networks[spec.network];
    if (net === undefined) throw new Error(`no network in slot ${spec.network}`);
    const vips = t.vips;
    const before = vips.used[spec.slot] !== 0 ? vips.network[spec.slot] : -1;
    const left = vips.set(spec);
    this.forgetBackends(left, spec.vip, spec.port);
    const c = this.dp.counters.services;
    for (let b = spec.slot * MAX_BACKENDS; b < (spec.slot + 1) * MAX_BACKENDS; b++) {
      if (vips.backendUsed[b] !== 0) c[b * SERVICE_FIELDS + SVC_BACKEND_IP] = vips.backendIp[b] >>> 0;
    }
    if (before !== spec.network) {
      if (before >= 0 && t.networks[before] !== undefined) t.networks[before]!.services--;
      net.services++;
    }
    this.linkServiceFlows(spec.slot);
  }

  /** Removes a service and every flow it made. */
  removeService(slot: number): void {
    const t = this.dp.tables;
    const vips = t.vips;
    if (slot < 0 || slot >= vips.used.length || vips.used[slot] === 0) return;
    const network = vips.network[slot];
    const vip = vips.vip[slot];
    const port = vips.port[slot];
    this.forgetBackends(vips.remove(slot), vip, port);
    const net = t.networks[network];
    if (net !== undefined) net.services--;
    this.dp.counters.services[SVC_REFUSED_BASE + slot] = 0;
  }

  /** Backend slots that left: their flows go (as kube-proxy deletes a removed endpoint's conntrack entries) and their counters restart. */
  private forgetBackends(left: number[], vip: number, port: number): void {
    if (left.length === 0) return;
    const ct = this.dp.tables.conntrack;
    const c = this.dp.counters.services;
    const gone = new Set(left);
    const ips = new Set(left.map((b) => this.dp.tables.vips.backendIp[b]));
    ct.removeWhere((e) => {
      if ((ct.flags[e] & CtFlag.Service) === 0) return false;
      const b = ct.backend[e];
      if (b >= 0) return gone.has(b);
      // a flow adopted from a previous process and not linked again: known by its addresses
      return ips.has(ct.src[e * 2 + 1]) && ((ct.dst[e * 2] === (vip | 0) && ct.dport[e * 2] === port) || (ct.flags[e] & CtFlag.Inbound) !== 0);
    });
    for (const b of left) c.fill(0, b * SERVICE_FIELDS, b * SERVICE_FIELDS + SERVICE_FIELDS);
  }

  /** Flows adopted from a previous process (no backend slot) of this service are counted as its backends' again. */
  private linkServiceFlows(s: number): void {
    const t = this.dp.tables;
    const ct = t.conntrack;
    if (ct.size === 0) return;
    const vips = t.vips;
    const byIp = new Map<number, number>();
    for (let k = 0; k < vips.readyCount[s]; k++) byIp.set(vips.backendIp[vips.ready[s * MAX_BACKENDS + k]], vips.ready[s * MAX_BACKENDS + k]);
    for (let e = 0; e < ct.capacity; e++) {
      if (ct.proto[e] === 0 || ct.backend[e] >= 0 || (ct.flags[e] & CtFlag.Service) === 0) continue;
      if (ct.proto[e] !== vips.proto[s] || ct.sport[e * 2 + 1] !== vips.targetPort[s]) continue;
      const b = byIp.get(ct.src[e * 2 + 1]);
      if (b !== undefined && ((ct.dst[e * 2] === vips.vip[s] && ct.dport[e * 2] === vips.port[s]) || (ct.flags[e] & CtFlag.Inbound) !== 0)) ct.serve(e, b);
    }
  }

  /**
   * Pins the masquerade mapping of an inside endpoint (PCP, NAT-PMP): it lives without flows and,
   * when `open`, any outside host may reach it. Returns the outside port; throws, changing nothing, when the
   * uplink is missing, the port is published or taken (with `exact`), or no port is free.
   */
  pinMapping(spec: PinSpec): number {
    const t = this.dp.tables;
    if (t.uplink === null) throw new Error('no uplink: there is no outside address to map to');
    const cls = natClass(Family.Ipv4, spec.proto);
    if (spec.exact && spec.outsidePort !== 0 && t.published.isPublished(spec.proto, spec.outsidePort)) {
      throw new Error(`outside port ${spec.outsidePort} is published`);
    }
    const m = t.mappings.pin(cls, spec.insideIp, spec.insidePort, spec.outsidePort, spec.exact, spec.open);
    return t.mappings.outPort[m];
  }

  /** Unpins a mapping: it stays while flows use it and goes with the last one. */
  unpinMapping(proto: PortProtocol, insideIp: number, insidePort: number): void {
    this.dp.tables.mappings.unpin(natClass(Family.Ipv4, proto), insideIp, insidePort);
  }

  /** Counts the connections already tracked for a (re-)attached endpoint (either of its addresses) against it. */
  private adoptConnections(port: Port): void {
    const ct = this.dp.tables.conntrack;
    if (ct.size === 0) return;
    const ip6 = port.hasIp6 ? ([port.ip6w0, port.ip6w1, port.ip6w2, port.ip6w3] as const) : null;
    for (let e = 0; e < ct.capacity; e++) {
      if (ct.proto[e] === 0 || ct.owner[e] >= 0) continue;
      const inside = (ct.flags[e] & CtFlag.Dnat) !== 0 ? e * 2 + 1 : e * 2;
      if ((port.hasIp4 && ct.isAddress4(inside, false, port.ip)) || (ip6 !== null && ct.isAddress6(inside, false, ip6))) ct.own(e, port.id);
    }
  }

  removePort(id: number): void {
    const t = this.dp.tables;
    const port = t.ports[id];
    if (port === undefined) return;
    this.dp.tx.forget(id);
    if (port.kind === PortKind.Endpoint) {
      const net = t.networks[port.network];
      if (net !== undefined) {
        net.removePort(id);
        net.fdb.flushPort(id);
        if (net.macvlan !== 0 && net.hostAccess) {
          if (port.hasIp4) t.routes.remove(port.ip, 32);
          if (port.hasIp6) t.routes6.remove6([port.ip6w0, port.ip6w1, port.ip6w2, port.ip6w3], 128);
        }
        const n = port.hasIp4 ? net.neighbours.get(port.ip) : undefined;
        if (n !== undefined && n.parkedCount === 0) net.neighbours.delete(port.ip);
        const n6 = port.hasIp6 ? net.neighbours.get6(port.ip6w0, port.ip6w1, port.ip6w2, port.ip6w3) : undefined;
        if (n6 !== undefined && n6.parkedCount === 0) net.neighbours.remove(n6);
      }
      // its connections and mappings go at once: a container that comes back on the same
      // address must not find stale flows (or their outside ports) black-holing it
      const ip = port.ip | 0;
      const hasIp4 = port.hasIp4;
      if (hasIp4 && t.endpointsByIp.get(ip) === id) t.endpointsByIp.delete(ip);
      const h6 = port.hasIp6 ? ipv6WordsHash(port.ip6w0, port.ip6w1, port.ip6w2, port.ip6w3) : -1;
      if (h6 >= 0 && t.endpointsByIp6.get(h6) === id) t.endpointsByIp6.delete(h6);
      const ct = t.conntrack;
      const ip6 = port.hasIp6 ? ([port.ip6w0, port.ip6w1, port.ip6w2, port.ip6w3] as const) : null;
      const mine = (slot: number) => (hasIp4 && ct.isAddress4(slot, false, ip)) || (ip6 !== null && ct.isAddress6(slot, false, ip6));
      if (ct.size > 0) ct.removeWhere((e) => ct.owner[e] === id || mine(e * 2) || mine(e * 2 + 1));
      if (hasIp4) t.mappings.unpinAll(ip);
      if (ip6 !== null) t.mappings.unpinAllOf(Family.Ipv6, ip6);
    } else if (port.kind === PortKind.Parent) {
      const net = t.networks[port.network];
      if (net !== undefined) {
        net.removePort(id);
        if (net.parentPort === id) net.parentPort = -1;
      }
      // out of its VLAN's list of ports
      const io = port.io as ParentPortIo;
      for (const vlans of t.parentVlans) {
        if (vlans === undefined) continue;
        if (vlans[io.vlan] === id) vlans[io.vlan] = port.vlanNext;
        else {
          for (let p = vlans[io.vlan]; p >= 0; p = t.ports[p]!.vlanNext) {
            if (t.ports[p]!.vlanNext === id) {
              t.ports[p]!.vlanNext = port.vlanNext;
              break;
            }
          }
        }
      }
    } else {
      for (const routes of [t.routes, t.routes6]) {
        for (let r = routes.size - 1; r >= 0; r--) {
          if (routes.kindOf(r) === RouteTarget.Host && routes.targetOf(r) === id) routes.removeAt(r);
        }
      }
      t.hostGatewayIp = 0;
      t.hasHostIp = false;
      t.hasHostIp6 = false;
    }
    t.ports[id] = undefined;
  }

  /** Up to `limit` live connections, in table order. */
  conntrackList(limit: number): ConntrackRecord[] {
    const ct = this.dp.tables.conntrack;
    const out: ConntrackRecord[] = [];
    const now = this.dp.now;
    const t = new CtTuple();
    const side = (slot: number): ConntrackTuple => {
      ct.tupleOf(slot, t);
      const v6 = t.family === Family.Ipv6;
      return { src: v6 ? t.srcWords() : t.src >>> 0, dst: v6 ? t.dstWords() : t.dst >>> 0, sport: t.sport, dport: t.dport };
    };
    for (let e = 0; e < ct.capacity && out.length < limit; e++) {
      if (!ct.isLive(e) || ct.expires[e] <= now) continue;
      const o = e * 2;
      const r = o + 1;
      out.push({
        family: ct.family[e] === Family.Ipv6 ? Family.Ipv6 : Family.Ipv4,
        proto: ct.proto[e],
        state: ct.state[e],
        flags: ct.flags[e],
        expiresInMs: ct.expires[e] - now,
        orig: side(o),
        reply: side(r),
        packets: [ct.packets[o], ct.packets[r]],
        bytes: [ct.bytes[o], ct.bytes[r]],
      });
    }
    return out;
  }

  /** Forgets every tracked connection; returns how many there were. */
  conntrackFlush(): number {
    const ct = this.dp.tables.conntrack;
    const n = ct.size;
    ct.flush();
    return n;
  }
}

/** The uplink's IPv6 side as a network's: its prefix on the link, its address, routed (never masqueraded into), its link-local address from its MAC. */
function uplinkNetwork6(v6: Ipv6UplinkSpec, mac: number): Ipv6NetworkSpec {
  const subnet: Ipv6Words = [0, 1, 2, 3].map((i) => (v6.ip[i]! & prefixMaskWord6(v6.prefixLen, i)) >>> 0) as unknown as Ipv6Words;
  const [e2, e3] = eui64Words(mac);
  return { subnet, prefixLen: v6.prefixLen, gatewayIp: v6.ip, nat: false, linkLocal: [0xfe800000, 0, e2, e3] };
}
