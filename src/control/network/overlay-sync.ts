// Overlay networks kept in step with the cluster store: this host's VTEP and endpoints announced
// there, and what the store tells about the other hosts (networks, their VTEPs, their endpoints)
// applied to the data plane's peers and remote endpoints and to the embedded DNS's names.

import type { Logger } from 'pino';
import { parseMac } from '../../wire/mac.js';
import { cidr6Contains, parseCidr6, parseIpv6OrNull, type Ipv6Words } from '../../wire/ipv6-address.js';
import type { ClusterEvent, ClusterStore, OverlayEndpointDef, OverlayNetworkDef } from '../cluster/cluster-store.js';
import type { NameTable } from '../dns/name-table.js';
import { ApiFailure } from '../gateway-api.js';
import type { LiveNetwork } from '../live-network.js';
import type { EndpointRecord } from '../state-store.js';
import { ipv4, vtepAddress, vtepFamily } from './addresses.js';
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

  /** Registers this host's VTEP and its endpoints of an overlay network in the cluster store. */
  async announce(live: LiveNetwork): Promise<void> {
    await this.cluster.joinNetwork(live.record.id);
    for (const ep of live.endpoints.values()) {
      await this.cluster.claimAddress(live.record.id, ep.record.id, [], ep.record.ip);
      if (ep.record.ip6 !== undefined) await this.cluster.claimAddress(live.record.id, ep.record.id, [], ep.record.ip6);
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
        await activation.deactivate(live);
        networks.save();
        log.info({ network: live.record.name }, 'overlay network removed');
        return;
      }
      case 'vtep-up': {
        const live = networks.get(e.networkId);
        if (live === undefined || e.vtep === own || live.peers.has(e.vtep) || !this.sameFamily(e.vtep, live.record.name)) return;
        live.peers.add(e.vtep);
        await dataplane.control.addPeer(live.index, vtepAddress(e.vtep));
        log.info({ network: live.record.name, vtep: e.vtep }, 'overlay peer up');
        return;
      }
      case 'vtep-down': {
        const live = networks.get(e.networkId);
        if (live === undefined || !live.peers.has(e.vtep)) return;
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
