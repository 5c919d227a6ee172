// Overlay networks kept in step with the cluster store: this host's VTEP and endpoints announced
// there, and what the store tells about the other hosts (networks, their VTEPs, their endpoints)
// applied to the data plane's peers and remote endpoints and to the embedded DNS's names.

import type { Logger } from 'pino';
import { parseMac } from '../../wire/mac.js';
import { cidr6Contains, parseCidr6, parseIpv6OrNull, type Ipv6Words } from '../../wire/ipv6-address.js';
import type { ClusterEvent, ClusterStore, OverlayEndpointDef, OverlayNetworkDef, RoutedDef, SubnetLease } from '../cluster/cluster-store.js';
import { cidrContains, cidrNetwork, cidrsOverlap, ipv4ToString, parseCidr } from '../../wire/ipv4-address.js';
import type { NameTable } from '../dns/name-table.js';
import { ApiFailure } from '../gateway-api.js';
import type { LiveNetwork } from '../live-network.js';
import type { EndpointRecord } from '../state-store.js';
import { hostSubnets, ipv4, routedVtepMac, vtepAddress, vtepFamily } from './addresses.js';
import type { ServiceDataplane } from './service-dataplane.js';
import type { LiveNetworks } from './live-networks.js';
import type { NetworkActivation } from './network-activation.js';

/** An endpoint of this host as the other hosts must see it. */
export function overlayEndpointDef(live: LiveNetwork, r: EndpointRecord, vtep: string): OverlayEndpointDef {
  return { id: r.id, network: live.record.id, name: r.name, ip: r.ip, ...(r.ip6 !== undefined ? { ip6: r.ip6 } : {}), mac: r.mac, vtep, aliases: r.aliases };
}

/**
 * A remote endpoint's IPv6 address as words, when the network has IPv6 and the address is one of
 * its subnet (a record from another host is not trusted further); null otherwise.
 */
function remoteIpv6(live: LiveNetwork, ep: OverlayEndpointDef): Ipv6Words | null {
  const v6 = live.record.ipv6;
  if (v6 === undefined || live.allocator6 === null || ep.ip6 === undefined) return null;
  const a = parseIpv6OrNull(ep.ip6);
  return a !== null && cidr6Contains(parseCidr6(v6.subnet), a) ? a : null;
}

/** Why a routed overlay cannot be had on this host's underlay. */
export const ROUTED_NEEDS_IPV4 = "routed overlay networks need an IPv4 underlay (cluster.advertise): flannel's leases name each host by its IPv4 PublicIP";

export class OverlaySync {
  /** overlay networks being brought up, by id: the API's create and the cluster event it causes share one */
  private readonly adopting = new Map<string, Promise<LiveNetwork>>();
  /** applies cluster events one at a time, in order */
  private queue: Promise<void> = Promise.resolve();
  /** VTEPs refused for their family (warned about once each) */
  private readonly otherFamily = new Set<string>();

  constructor(
    readonly cluster: ClusterStore,
    private readonly deps: {
      /** this host's underlay address (cluster.advertise); null: overlay networks cannot be created here */
      vtep: string | null;
      networks: LiveNetworks;
      names: NameTable;
      dataplane: ServiceDataplane;
      activation: NetworkActivation;
      log: Logger;
    },
  ) {}

  /** Replays the store's state and follows its changes from now on. */
  start(): Promise<void> {
    return this.cluster.start((e) => this.onEvent(e));
  }

  /** Resolves once every event received so far has been applied. */
  settled(): Promise<void> {
    return this.queue;
  }

  /** An endpoint of this host as the other hosts must see it. */
  endpointDef(live: LiveNetwork, r: EndpointRecord): OverlayEndpointDef {
    return overlayEndpointDef(live, r, this.deps.vtep!);
  }

  /** Brings an overlay network (created here or by another host) up on this host. */
  adopt(def: OverlayNetworkDef, ipRange?: string): Promise<LiveNetwork> {
    const known = this.deps.networks.get(def.id);
    if (known !== undefined) return Promise.resolve(known);
    let pending = this.adopting.get(def.id);
    if (pending === undefined) {
      pending = this.adoptNow(def, ipRange ?? def.ipRange).finally(() => this.adopting.delete(def.id));
      this.adopting.set(def.id, pending);
    }
    return pending;
  }

  private async adoptNow(def: OverlayNetworkDef, ipRange?: string): Promise<LiveNetwork> {
    if (def.routed !== undefined) return this.adoptRouted(def, def.routed);
    const { networks, activation, log } = this.deps;
    const live = await activation.activate({
      id: def.id,
      name: def.name,
      driver: 'overlay',
      subnet: def.subnet,
      gateway: def.gateway,
      ...(ipRange !== undefined ? { ipRange } : {}),
      internal: def.internal,
      mtu: def.mtu,
      gatewayMac: def.gatewayMac,
      created: def.created,
      isDefault: false,
      vni: def.vni,
      ...(def.ipv6 !== undefined ? { ipv6: def.ipv6 } : {}),
    });
    networks.save();
    await this.announce(live).catch((err: Error) => log.warn({ network: def.name, err: err.message }, 'cannot join overlay network in the cluster store yet'));
    log.info({ network: def.name, vni: def.vni, subnet: def.subnet }, 'overlay network up');
    return live;
  }

  /**
   * A routed overlay comes to this host: it leases a subnet of the cluster's range (the one it had
   * if its lease is still there), and the network is this host's subnet, routed to the others'.
   */
  private async adoptRouted(def: OverlayNetworkDef, routed: RoutedDef): Promise<LiveNetwork> {
    const { vtep, networks, activation, log } = this.deps;
    if (vtep === null || vtepFamily(vtep) !== 'IPv4') throw new ApiFailure(400, ROUTED_NEEDS_IPV4);
    const vtepMac = routedVtepMac(def.vni, vtep);
    const subnet = await this.cluster.leaseSubnet(def.id, hostSubnets(def.subnet, routed.hostSubnetSize), { subnet: '', publicIp: vtep, vtepMac });
    let live: LiveNetwork;
    try {
      live = await activation.activate({
        id: def.id,
        name: def.name,
        driver: 'overlay',
        subnet,
        gateway: ipv4ToString(cidrNetwork(parseCidr(subnet)).addr + 1),
        internal: def.internal,
        mtu: def.mtu,
        gatewayMac: vtepMac,
        created: def.created,
        isDefault: false,
        vni: def.vni,
        routed: { cluster: def.subnet, hostSubnetSize: routed.hostSubnetSize, flannelPrefix: routed.flannelPrefix, port: routed.port },
      });
    } catch (err) {
      await this.cluster.releaseSubnet(def.id, subnet).catch(() => undefined);
      throw err;
    }
    networks.save();
    await this.announce(live).catch((err: Error) => log.warn({ network: def.name, err: err.message }, 'cannot join overlay network in the cluster store yet'));
    log.info({ network: def.name, vni: def.vni, cluster: def.subnet, subnet }, 'routed overlay network up: this host leases its subnet');
    return live;
  }

  /** Registers this host's VTEP and its endpoints of an overlay network in the cluster store (a routed one's subnet lease first). */
  async announce(live: LiveNetwork): Promise<void> {
    const r = live.record;
    const routed = r.routed;
    if (routed !== undefined) {
      // after a restart: the same subnet again, still this host's or free; never another one under live endpoints
      const mine = { subnet: r.subnet, publicIp: this.deps.vtep!, vtepMac: r.gatewayMac };
      const got = await this.cluster.leaseSubnet(r.id, [], mine, r.subnet).catch((err: unknown) => {
        if (err instanceof ApiFailure && err.status === 409) {
          throw new ApiFailure(409, `subnet ${r.subnet} of network ${r.name} is another host's now (this host's lease expired meanwhile): disconnect its containers, remove the network here and let it be adopted again`);
        }
        throw err;
      });
      if (got !== r.subnet) throw new ApiFailure(409, `subnet ${r.subnet} of network ${r.name} is another host's now`);
      live.leases.set(r.subnet, mine);
      this.cluster.followSubnets({ id: r.id, name: r.name, subnet: routed.cluster, gateway: '', gatewayMac: r.gatewayMac, vni: r.vni!, mtu: r.mtu, internal: r.internal, created: r.created, routed: { hostSubnetSize: routed.hostSubnetSize, flannelPrefix: routed.flannelPrefix, port: routed.port } });
    }
    await this.cluster.joinNetwork(r.id);
    for (const ep of live.endpoints.values()) {
      // a routed overlay's addresses are its subnet's, which is this host's alone
      if (routed === undefined) {
        await this.cluster.claimAddress(r.id, ep.record.id, [], ep.record.ip);
        if (ep.record.ip6 !== undefined) await this.cluster.claimAddress(r.id, ep.record.id, [], ep.record.ip6);
      }
      await this.cluster.registerEndpoint(this.endpointDef(live, ep.record));
    }
    live.announced = true;
  }

  /** At start: overlay networks brought back from the state file tell the cluster we are here again. */
  async announceAll(): Promise<void> {
    for (const live of this.deps.networks.values()) {
      if (live.record.driver !== 'overlay') continue;
      await this.announce(live).catch((err: Error) =>
        this.deps.log.warn({ network: live.record.name, err: err.message }, 'cannot announce overlay network yet; will retry'),
      );
    }
  }

  /** Overlay networks that could not be announced (cluster store down at the time) are tried again. */
  async retryAnnounce(): Promise<void> {
    const { networks, log } = this.deps;
    for (const live of networks.values()) {
      if (live.record.driver !== 'overlay' || live.announced) continue;
      await this.announce(live).then(
        () => log.info({ network: live.record.name }, 'overlay network announced in the cluster store'),
        (err: Error) => log.warn({ network: live.record.name, err: err.message }, 'cannot announce overlay network yet; will retry'),
      );
    }
  }

  /** Before the network goes: refused while other hosts have endpoints on it. */
  async withdraw(live: LiveNetwork): Promise<void> {
    if (live.remotes.size > 0) {
      throw new ApiFailure(409, `network ${live.record.name} has active endpoints on other hosts (${live.remotes.size})`);
    }
    await this.cluster.removeNetwork(live.record.id);
    await this.cluster.leaveNetwork(live.record.id).catch(() => undefined);
    await this.leaveRouted(live);
  }

  /** A routed overlay leaves this host: its subnet's lease goes, the others' are no longer followed. */
  private async leaveRouted(live: LiveNetwork): Promise<void> {
    if (live.record.routed === undefined) return;
    this.cluster.unfollowSubnets(live.record.id);
    await this.cluster.releaseSubnet(live.record.id, live.record.subnet).catch((err: Error) => this.deps.log.warn({ network: live.record.name, err: err.message }, 'cannot give the subnet lease up; it expires with the lease'));
  }

  /** Another host's subnet lease (or this host's own, seen back): routed to its VTEP. */
  private async subnetUp(live: LiveNetwork, lease: SubnetLease): Promise<void> {
    const { vtep: own, dataplane, log } = this.deps;
    const r = live.record;
    const cluster = parseCidr(r.routed!.cluster);
    const c = parseCidr(lease.subnet);
    const inside = c.prefixLen >= cluster.prefixLen && cidrContains(cluster, c.addr) && cidrNetwork(c).addr === c.addr;
    if (!inside) {
      log.warn({ network: r.name, subnet: lease.subnet, cluster: r.routed!.cluster }, 'subnet lease outside the cluster range: not routed');
      return;
    }
    if (lease.publicIp === own) {
      // this host's: its own subnet, or a lease it held before it lost its state (left to expire)
      if (lease.subnet === r.subnet) live.leases.set(lease.subnet, lease);
      return;
    }
    if (cidrsOverlap(c, parseCidr(r.subnet))) {
      log.error({ network: r.name, subnet: lease.subnet, host: lease.publicIp }, "another host's subnet lease overlaps this host's subnet: not routed");
      return;
    }
    const before = live.leases.get(lease.subnet);
    live.leases.set(lease.subnet, lease);
    live.peers.add(lease.publicIp);
    await dataplane.control.addRemoteSubnet({ network: live.index, subnet: c.addr, prefixLen: c.prefixLen, vtepIp: vtepAddress(lease.publicIp), vtepMac: parseMac(lease.vtepMac) });
    if (before?.publicIp !== lease.publicIp) log.info({ network: r.name, subnet: lease.subnet, host: lease.publicIp }, 'routed overlay: subnet of another host routed');
    if (before !== undefined && before.publicIp !== lease.publicIp) this.forgetPeerUnlessUsed(live, before.publicIp);
  }

  private async subnetDown(live: LiveNetwork, subnet: string): Promise<void> {
    const lease = live.leases.get(subnet);
    if (lease === undefined || subnet === live.record.subnet) return;
    live.leases.delete(subnet);
    const c = parseCidr(subnet);
    await this.deps.dataplane.control.removeRemoteSubnet(live.index, c.addr, c.prefixLen);
    this.forgetPeerUnlessUsed(live, lease.publicIp);
    this.deps.log.info({ network: live.record.name, subnet, host: lease.publicIp }, 'routed overlay: subnet lease gone');
  }

  private forgetPeerUnlessUsed(live: LiveNetwork, vtep: string): void {
    if (![...live.leases.values()].some((l) => l.publicIp === vtep && l.subnet !== live.record.subnet)) live.peers.delete(vtep);
  }

  private onEvent(e: ClusterEvent): void {
    this.queue = this.queue
      .then(() => this.apply(e))
      .catch((err: Error) => this.deps.log.warn({ event: e.kind, err: err.message }, 'cluster event not applied'));
  }

  /**
   * A VTEP of the other underlay family than this host's (an IPv6 underlay here, an IPv4 one
   * there, or the other way): this host's socket can never reach it, so it is refused, with one
   * warning per VTEP. True when `vtep` is of this host's family.
   */
  private sameFamily(vtep: string, network: string): boolean {
    const own = this.deps.vtep;
    if (own === null || vtepFamily(vtep) === vtepFamily(own)) return true;
    if (!this.otherFamily.has(vtep)) {
      this.otherFamily.add(vtep);
      this.deps.log.warn(
        { network, vtep },
        `overlay peer refused: VTEP ${vtep} is ${vtepFamily(vtep)} but this host's underlay (cluster.advertise ${own}) is ${vtepFamily(own)}; a cluster's underlay is one family`,
      );
    }
    return false;
  }

  private async apply(e: ClusterEvent): Promise<void> {
    const { vtep: own, networks, names, dataplane, activation, log } = this.deps;
    switch (e.kind) {
      case 'network-added':
        await this.adopt(e.network);
        return;
      case 'network-removed': {
        const live = networks.get(e.networkId);
        if (live === undefined) return;
        if (live.endpoints.size > 0) {
          log.warn({ network: live.record.name }, 'overlay network removed elsewhere while it has local endpoints: kept');
          return;
        }
        await this.leaveRouted(live);
        await activation.deactivate(live);
        networks.save();
        log.info({ network: live.record.name }, 'overlay network removed');
        return;
      }
      case 'subnet-up': {
        const live = networks.get(e.networkId);
        if (live !== undefined && live.record.routed !== undefined) await this.subnetUp(live, e.lease);
        return;
      }
      case 'subnet-down': {
        const live = networks.get(e.networkId);
        if (live !== undefined && live.record.routed !== undefined) await this.subnetDown(live, e.subnet);
        return;
      }
      case 'vtep-up': {
        const live = networks.get(e.networkId);
        // a routed overlay's peers are the hosts that lease subnets
        if (live === undefined || live.record.routed !== undefined || e.vtep === own || live.peers.has(e.vtep) || !this.sameFamily(e.vtep, live.record.name)) return;
        live.peers.add(e.vtep);
        await dataplane.control.addPeer(live.index, vtepAddress(e.vtep));
        log.info({ network: live.record.name, vtep: e.vtep }, 'overlay peer up');
        return;
      }
      case 'vtep-down': {
        const live = networks.get(e.networkId);
        if (live === undefined || live.record.routed !== undefined || !live.peers.has(e.vtep)) return;
        live.peers.delete(e.vtep);
        for (const [id, r] of live.remotes) {
          if (r.vtep !== e.vtep) continue;
          live.remotes.delete(id);
          names.deleteEndpoint(live.record.id, id);
          // its addresses are free for local containers again, as on endpoint-down
          if (live.allocator.has(r.ip)) live.allocator.release(r.ip);
          const ip6 = remoteIpv6(live, r);
          if (ip6 !== null) {
            if (live.allocator6!.has(r.ip6!)) live.allocator6!.release(r.ip6!);
            await dataplane.control.removeRemoteEndpoint6(live.index, ip6);
          }
        }
        await dataplane.control.removePeer(live.index, vtepAddress(e.vtep));
        log.info({ network: live.record.name, vtep: e.vtep }, 'overlay peer down');
        return;
      }
      case 'endpoint-up': {
        const ep = e.endpoint;
        const live = networks.get(ep.network);
        if (live === undefined || ep.vtep === own) return;
        if (!this.sameFamily(ep.vtep, live.record.name)) return;
        live.remotes.set(ep.id, ep);
        // a foreign peer's address has no name (pontoon peer add)
        if (ep.name !== '') names.setEndpoint(live.record.id, { id: ep.id, name: ep.name, ip: ep.ip, aliases: ep.aliases ?? [] });
        // a routed overlay reaches it through its host's subnet: a name, no switching
        if (live.record.routed !== undefined) return;
        live.allocator.markUsed(ep.ip);
        live.peers.add(ep.vtep);
        await dataplane.control.addRemoteEndpoint({ network: live.index, ip: ipv4(ep.ip), mac: parseMac(ep.mac), vtepIp: vtepAddress(ep.vtep) });
        const ip6 = remoteIpv6(live, ep);
        if (ip6 !== null) {
          live.allocator6!.markUsed(ep.ip6!);
          await dataplane.control.addRemoteEndpoint6({ network: live.index, ip6, mac: parseMac(ep.mac), vtepIp: vtepAddress(ep.vtep) });
        }
        return;
      }
      case 'endpoint-down': {
        const live = networks.get(e.networkId);
        const ep = live?.remotes.get(e.endpointId);
        if (live === undefined || ep === undefined) return;
        live.remotes.delete(e.endpointId);
        names.deleteEndpoint(live.record.id, e.endpointId);
        if (live.record.routed !== undefined) return;
        if (live.allocator.has(ep.ip)) live.allocator.release(ep.ip);
        await dataplane.control.removeRemoteEndpoint(live.index, ipv4(ep.ip));
        const ip6 = remoteIpv6(live, ep);
        if (ip6 !== null) {
          if (live.allocator6!.has(ep.ip6!)) live.allocator6!.release(ep.ip6!);
          await dataplane.control.removeRemoteEndpoint6(live.index, ip6);
        }
        return;
      }
    }
  }
}
