import { prefixMask } from '../wire/ipv4-address.js';
import { IPV6_GATEWAY_LINK_LOCAL, prefixMaskWord6 } from '../wire/ipv6-address.js';
import { macHiOf, macLoOf } from '../wire/mac.js';
import { MacTable } from './mac-table.js';
import { NeighbourTable } from './neighbour-table.js';
import { RemoteEndpoints6 } from './remote-endpoints6.js';
import type { Ipv6NetworkSpec, MacvlanModeName, NetworkSpec } from './specs.js';

/** Table sizes every network gets (from the data plane's options). */
export interface NetworkLimits {
  fdbCapacity: number;
  arpQueueLength: number;
}

export class RemoteEndpoint {
  constructor(
    readonly ip: number,
    readonly macHi: number,
    readonly macLo: number,
    readonly vtep: number,
  ) {}
}

/**
 * The IPv6 side of a network: its prefix and the gateway's address in it as words (the gateway
 * also answers on fe80::1), compared word by word on the fast path.
 */
export class NetworkIpv6 {
  readonly s0: number;
  readonly s1: number;
  readonly s2: number;
  readonly s3: number;
  readonly m0: number;
  readonly m1: number;
  readonly m2: number;
  readonly m3: number;
  readonly g0: number;
  readonly g1: number;
  readonly g2: number;
  readonly g3: number;
  readonly prefixLen: number;
  /** masqueraded to the uplink's IPv6 address (a ULA prefix), or routed as it is */
  readonly nat: boolean;
  /** the gateway's link-local address on the link: fe80::1 on a bridge (Docker's), from its MAC on the uplink */
  readonly ll0: number;
  readonly ll1: number;
  readonly ll2: number;
  readonly ll3: number;

  constructor(spec: Ipv6NetworkSpec) {
    const m = (i: number) => prefixMaskWord6(spec.prefixLen, i);
    this.m0 = m(0);
    this.m1 = m(1);
    this.m2 = m(2);
    this.m3 = m(3);
    this.s0 = (spec.subnet[0] & this.m0) >>> 0;
    this.s1 = (spec.subnet[1] & this.m1) >>> 0;
    this.s2 = (spec.subnet[2] & this.m2) >>> 0;
    this.s3 = (spec.subnet[3] & this.m3) >>> 0;
    this.g0 = spec.gatewayIp[0] >>> 0;
    this.g1 = spec.gatewayIp[1] >>> 0;
    this.g2 = spec.gatewayIp[2] >>> 0;
    this.g3 = spec.gatewayIp[3] >>> 0;
    this.prefixLen = spec.prefixLen;
    this.nat = spec.nat;
    const ll = spec.linkLocal ?? IPV6_GATEWAY_LINK_LOCAL;
    this.ll0 = ll[0] >>> 0;
    this.ll1 = ll[1] >>> 0;
    this.ll2 = ll[2] >>> 0;
    this.ll3 = ll[3] >>> 0;
  }

  isLinkLocal(w0: number, w1: number, w2: number, w3: number): boolean {
    return w0 >>> 0 === this.ll0 && w1 >>> 0 === this.ll1 && w2 >>> 0 === this.ll2 && w3 >>> 0 === this.ll3;
  }

  contains(w0: number, w1: number, w2: number, w3: number): boolean {
    return (
      ((w0 & this.m0) >>> 0) === this.s0 && ((w1 & this.m1) >>> 0) === this.s1 && ((w2 & this.m2) >>> 0) === this.s2 && ((w3 & this.m3) >>> 0) === this.s3
    );
  }

  isGateway(w0: number, w1: number, w2: number, w3: number): boolean {
    return w0 >>> 0 === this.g0 && w1 >>> 0 === this.g1 && w2 >>> 0 === this.g2 && w3 >>> 0 === this.g3;
  }
}

/** A network's macvlan mode (0: not a macvlan network), as Network.macvlan holds it. */
export const MacvlanMode = { None: 0, Bridge: 1, Private: 2, Vepa: 3, Passthru: 4 } as const;

const MACVLAN_MODES: Record<MacvlanModeName, number> = { bridge: MacvlanMode.Bridge, private: MacvlanMode.Private, vepa: MacvlanMode.Vepa, passthru: MacvlanMode.Passthru };

/** One bridge network: an isolated L2 segment plus the gateway's L3 interface on it. */
export class Network {
  readonly mask: number;
  readonly broadcast: number;
  readonly gatewayMacHi: number;
  readonly gatewayMacLo: number;
  /** the uplink is a network of one port on which the gateway owns `gatewayIp` */
  isUplink = false;
  /** VXLAN network identifier of an overlay network; 0 for a local bridge */
  readonly vni: number;
  /** VTEP indexes of the other hosts of an overlay network (head-end replication list) */
  peers = new Int32Array(8);
  peerCount = 0;
  /** endpoints on other hosts, known from the control plane (ARP suppression): IPv4 -> MAC */
  readonly remotes = new Map<number, RemoteEndpoint>();
  /** their IPv6 addresses, on an overlay network with IPv6 (NDP suppression, ndp-proxy): IPv6 -> MAC */
  readonly remotes6 = new RemoteEndpoints6();
  ports = new Int32Array(16);
  portCount = 0;
  readonly fdb: MacTable;
  readonly neighbours: NeighbourTable;

  readonly index: number;
  readonly name: string;
  readonly subnet: number;
  readonly prefixLen: number;
  readonly gatewayIp: number;
  readonly gatewayMac: number;
  readonly mtu: number;
  readonly internal: boolean;
  /** false: an IPv6-only network (the IPv4 fields are 0 and unused) */
  readonly ipv4: boolean;
  /** the network's IPv6 side; null: IPv4 only */
  readonly ip6: NetworkIpv6 | null;
  /** MacvlanMode of a macvlan network (0: a bridge or overlay network) */
  readonly macvlan: number;
  /** a macvlan network the host reaches through the host port */
  readonly hostAccess: boolean;
  /** a routed overlay network: the other hosts' subnets are routes (Tables.remoteSubnets), no frame is flooded across hosts */
  readonly routed: boolean;
  /** a macvlan network's port on its parent device (-1: none attached: an internal one, or the parent is gone) */
  parentPort = -1;
  /** services whose clients and backends are on this network: its switched frames from a backend are checked for service replies */
  services = 0;

  constructor(spec: NetworkSpec, limits: NetworkLimits) {
    this.index = spec.index;
    this.name = spec.name;
    this.subnet = spec.subnet >>> 0;
    this.prefixLen = spec.prefixLen;
    this.gatewayIp = spec.gatewayIp >>> 0;
    this.gatewayMac = spec.gatewayMac;
    this.mtu = spec.mtu;
    this.internal = spec.internal;
    this.vni = spec.vni ?? 0;
    this.ipv4 = spec.ipv4 !== false;
    this.ip6 = spec.ipv6 === undefined ? null : new NetworkIpv6(spec.ipv6);
    this.macvlan = spec.macvlan === undefined ? MacvlanMode.None : MACVLAN_MODES[spec.macvlan.mode];
    this.hostAccess = spec.macvlan?.hostAccess === true;
    this.routed = spec.routed === true;
    this.mask = prefixMask(spec.prefixLen);
    this.broadcast = ((this.subnet & this.mask) | (~this.mask >>> 0)) >>> 0;
    this.gatewayMacHi = macHiOf(spec.gatewayMac);
    this.gatewayMacLo = macLoOf(spec.gatewayMac);
    this.fdb = new MacTable(limits.fdbCapacity);
    this.neighbours = new NeighbourTable(limits.arpQueueLength);
  }

  contains(ip: number): boolean {
    return ((ip & this.mask) >>> 0) === this.subnet >>> 0;
  }

  addPort(id: number): void {
    if (this.portCount === this.ports.length) {
      const p = new Int32Array(this.ports.length * 2);
      p.set(this.ports);
      this.ports = p;
    }
    this.ports[this.portCount++] = id;
  }

  hasPeer(vtep: number): boolean {
    for (let i = 0; i < this.peerCount; i++) if (this.peers[i] === vtep) return true;
    return false;
  }

  addPeer(vtep: number): void {
    if (this.hasPeer(vtep)) return;
    if (this.peerCount === this.peers.length) {
      const p = new Int32Array(this.peers.length * 2);
      p.set(this.peers);
      this.peers = p;
    }
    this.peers[this.peerCount++] = vtep;
  }

  removePeer(vtep: number): void {
    for (let i = 0; i < this.peerCount; i++) {
      if (this.peers[i] === vtep) {
        this.peers[i] = this.peers[--this.peerCount];
        return;
      }
    }
  }

  removePort(id: number): void {
    for (let i = 0; i < this.portCount; i++) {
      if (this.ports[i] === id) {
        this.ports[i] = this.ports[--this.portCount];
        return;
      }
    }
  }
}
