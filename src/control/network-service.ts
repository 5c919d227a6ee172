// The network service: networks, endpoints and their addresses, kept in step across three
// places — the state file, the kernel (devices, addresses, routes) and the data plane — so that
// every request either happens completely or changes nothing.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { EndpointSpec } from '../dataplane/specs.js';
import type { DataplaneHost } from '../ports/dataplane-host.js';
import { withNetns } from '../ports/sys/netns.js';
import { closeFd, openTunTap, setPersist } from '../ports/sys/tuntap.js';
import { ipProtocolNumber } from '../wire/ipv4.js';
import { ipv4ToString, parseCidr, parseIpv4OrNull } from '../wire/ipv4-address.js';
import { macToString, parseMac } from '../wire/mac.js';
import type {
  ConnectRequest,
  ConntrackEntryResource,
  PortMappingResource,
  DisconnectRequest,
  EndpointResource,
  NetworkCreateRequest,
  NetworkResource,
  NetworkSummary,
  StatusReport,
} from './api-types.js';
import type { PontoonConfig } from './config.js';
import { ApiFailure, type GatewayApi } from './gateway-api.js';
import { addHostRoute, deleteHostRoute } from './host-link.js';
import { AddressAllocator, hostRouteCidrs, validateNetworkRequest } from './ipam.js';
import { configureInterface, netnsStillExists, nextInterfaceName, resolveNetns } from './netns.js';
import { type PortMapping, planPublish } from './publish.js';
import type { EndpointRecord, NetworkRecord, PersistedState, StateStore } from './state-store.js';
import type { LiveEndpoint, LiveNetwork } from './live-network.js';
import { conntrackResource, endpointResource, networkResource } from './resources.js';
import type { ClusterEvent, ClusterStore, OverlayEndpointDef, OverlayNetworkDef } from './cluster/cluster-store.js';
import { NameTable, isDnsName } from './dns/name-table.js';
import { netnsNameOf, removeContainerResolvConf, writeContainerResolvConf } from './dns/resolv-conf.js';

const VERSION = '0.1.0';

/** Gateway MAC of an overlay network: the same on every host, since each answers for the gateway. */
function overlayGatewayMac(vni: number): string {
  return macToString(0x0250 * 0x100000000 + 0xfe000000 + (vni & 0xffffff));
}

/** Addresses of a subnet (or of its ip-range) a container may get, lowest first. */
function* candidateAddresses(subnet: string, gateway: string, ipRange?: string): Generator<string> {
  const net = parseCidr(subnet);
  const range = ipRange !== undefined ? parseCidr(ipRange) : net;
  const first = range.addr;
  const last = range.addr + 2 ** (32 - range.prefixLen) - 1;
  const bcast = net.addr + 2 ** (32 - net.prefixLen) - 1;
  const gw = ipv4(gateway);
  for (let a = first; a <= last; a++) {
    if (a === net.addr || a === bcast || a === gw) continue;
    yield ipv4ToString(a);
  }
}

/** Docker's MAC scheme: 02:42 followed by the IPv4 address. */
export function macForIp(ip: string): string {
  const n = parseIpv4OrNull(ip)!;
  return macToString(0x0242 * 0x100000000 + n);
}

function ipv4(s: string): number {
  const n = parseIpv4OrNull(s);
  if (n === null) throw new Error(`invalid IPv4 address ${s}`);
  return n;
}

function randomGatewayMac(): string {
  const b = randomBytes(4);
  return macToString(0x0250 * 0x100000000 + b.readUInt32BE(0)); // 02:50: locally administered
}

export class NetworkService implements GatewayApi {
  private readonly networks = new Map<string, LiveNetwork>(); // by id
  /** the names the embedded DNS answers: every endpoint's, local and remote, kept in step here */
  readonly names = new NameTable();
  /** data-plane slots of networks being activated */
  private readonly activatingIndexes = new Set<number>();
  /** overlay networks being brought up, by id: the API's create and the cluster event it causes share one */
  private readonly adopting = new Map<string, Promise<LiveNetwork>>();
  private readonly started = Date.now();
  private reconcileTimer: NodeJS.Timeout | null = null;

  /** addresses a published port answers on: the uplink's and the host link's gateway address */
  private readonly publishAddresses: string[];

  /** applies cluster events one at a time, in order */
  private clusterQueue: Promise<void> = Promise.resolve();

  constructor(
    private readonly config: PontoonConfig,
    private readonly store: StateStore,
    private readonly dataplane: DataplaneHost,
    private readonly log: Logger,
    private readonly cluster: ClusterStore | null = null,
  ) {
    this.publishAddresses = [config.host.gatewayAddress];
    if (config.uplink !== null) this.publishAddresses.unshift(config.uplink.address.split('/')[0]!);
  }

  // ---- start-up and shutdown -----------------------------------------------------------------

  /** Brings back every saved network and endpoint (re-attaching persistent TAP devices), then the default network. */
  async restore(): Promise<void> {
    const saved: PersistedState = this.store.load() ?? { version: 1, networks: [] };
    let changed = false;
    for (const rec of saved.networks) {
      const live = await this.activateNetwork(rec);
      for (const ep of rec.endpoints) {
        try {
          await this.reattach(live, ep);
        } catch (err) {
          changed = true;
          this.log.warn({ network: rec.name, endpoint: ep.name, err: (err as Error).message }, 'endpoint dropped at start-up');
          live.allocator.release(ep.ip);
          this.syncResolvConf(ep.netnsPath);
        }
      }
    }
    const def = this.config.defaultNetwork;
    if (def !== null && this.findNetwork(def.name) === undefined) {
      await this.createNetworkNow({ name: def.name, subnet: def.subnet, gateway: def.gateway, mtu: def.mtu }, true);
      changed = false; // createNetworkNow saved
    }
    if (changed) this.save();
    if (this.cluster !== null) {
      // overlay networks were brought back from the local copy; tell the cluster we are here again
      for (const live of this.networks.values()) {
        if (live.record.driver !== 'overlay') continue;
        await this.announceNetwork(live).catch((err: Error) =>
          this.log.warn({ network: live.record.name, err: err.message }, 'cannot announce overlay network yet; will retry'),
        );
      }
      await this.cluster.start((e) => this.onClusterEvent(e));
    }
    this.reconcileTimer = setInterval(() => void this.reconcile(), 2000);
    this.reconcileTimer.unref();
  }

  private async activateNetwork(rec: NetworkRecord): Promise<LiveNetwork> {
    const index = this.freeIndex();
    // the slot is taken from now on, not only once the network is in this.networks: an API request
    // and a cluster event may activate two networks at the same time
    this.activatingIndexes.add(index);
    try {
      return await this.activateNetworkAt(rec, index);
    } finally {
      this.activatingIndexes.delete(index);
    }
  }

  private async activateNetworkAt(rec: NetworkRecord, index: number): Promise<LiveNetwork> {
    const subnet = parseCidr(rec.subnet);
    await this.dataplane.addNetwork({
      index,
      name: rec.name,
      subnet: subnet.addr,
      prefixLen: subnet.prefixLen,
      gatewayIp: ipv4(rec.gateway),
      gatewayMac: parseMac(rec.gatewayMac),
      mtu: rec.mtu,
      internal: rec.internal,
      ...(rec.vni !== undefined ? { vni: rec.vni } : {}),
    });
    // internal networks get the route too: the gateway refuses the traffic (admin prohibited)
    // instead of the host sending it out of its default route
    {
      try {
        await addHostRoute(rec.subnet, this.config.host.device);
      } catch (err) {
        await this.dataplane.removeNetwork(index);
        throw err;
      }
    }
    const allocator = new AddressAllocator(rec.subnet, rec.gateway, rec.ipRange, rec.name);
    const live: LiveNetwork = {
      record: { ...rec, endpoints: [] },
      index,
      allocator,
      endpoints: new Map(),
      remotes: new Map(),
      peers: new Set(),
      announced: false,
    };
    this.networks.set(rec.id, live);
    this.names.setNetwork({ id: rec.id, name: rec.name, subnet: rec.subnet, internal: rec.internal });
    return live;
  }

  /** Re-opens an endpoint's persistent TAP inside its namespace after a daemon restart. */
  private async reattach(live: LiveNetwork, ep: EndpointRecord): Promise<void> {
    if (!netnsStillExists({ path: ep.netnsPath, dev: ep.netnsDev, ino: ep.netnsIno })) {
      throw new Error(`network namespace ${ep.netnsPath} is gone`);
    }
    live.allocator.markUsed(ep.ip);
    const { fd } = withNetns(ep.netnsPath, () =>
      openTunTap({ mode: 'tap', name: ep.ifName, persist: true, vnetHdr: this.config.dataplane.offload }),
    );
    try {
      await configureInterface(ep.netnsPath, ep.ifName, {
        mac: ep.mac,
        cidr: `${ep.ip}/${parseCidr(live.record.subnet).prefixLen}`,
        mtu: live.record.mtu,
        gateway: live.record.internal ? null : live.record.gateway,
      });
      const portId = await this.dataplane.addEndpoint(this.endpointSpec(live, ep), fd);
      live.endpoints.set(ep.id, { record: ep, fd, portId });
      live.record.endpoints.push(ep);
      this.names.setEndpoint(live.record.id, this.nameEntry(ep));
      this.syncResolvConf(ep.netnsPath);
      for (const m of ep.ports) await this.dataplane.addPublish(this.publishRule(ep, m));
    } catch (err) {
      closeFd(fd);
      throw err;
    }
  }

  private publishRule(ep: EndpointRecord, m: PortMapping) {
    return {
      proto: ipProtocolNumber(m.proto),
      hostIp: m.hostIp === '0.0.0.0' ? 0 : ipv4(m.hostIp),
      hostPort: m.hostPort,
      targetIp: ipv4(ep.ip),
      targetPort: m.containerPort,
    };
  }

  private allMappings(): { ep: EndpointRecord; network: string; m: PortMapping }[] {
    const out: { ep: EndpointRecord; network: string; m: PortMapping }[] = [];
    for (const n of this.networks.values()) for (const e of n.endpoints.values()) for (const m of e.record.ports) out.push({ ep: e.record, network: n.record.name, m });
    return out;
  }

  /** Checks `--publish` specs against every published port and picks host ports for those without one. */
  private planPublish(specs: string[], name: string): PortMapping[] {
    const published = this.allMappings().map(({ ep, network, m }) => ({ proto: m.proto, hostPort: m.hostPort, holder: `${ep.name} on network ${network}` }));
    return planPublish(specs, name, published, this.publishAddresses);
  }

  async shutdown(): Promise<void> {
    if (this.reconcileTimer !== null) clearInterval(this.reconcileTimer);
    await this.cluster?.close().catch(() => undefined);
    // endpoints stay: their TAP devices are persistent and the state file brings them back
    for (const live of this.networks.values()) {
      for (const ep of live.endpoints.values()) closeFd(ep.fd);
    }
    // nobody answers at the gateways until the next start, which writes the resolv.conf files again
    if (this.config.dns.enabled) {
      for (const live of this.networks.values()) {
        for (const ep of live.endpoints.values()) {
          const name = netnsNameOf(ep.record.netnsPath);
          if (name !== null) this.tryRemoveResolvConf(name);
        }
      }
    }
  }

  /** Endpoints whose namespace disappeared (container gone) are removed like a disconnect. */
  private reconciling = false;

  private async reconcile(): Promise<void> {
    if (this.reconciling) return;
    this.reconciling = true;
    try {
      await this.reconcileOnce();
    } finally {
      this.reconciling = false;
    }
  }

  private async reconcileOnce(): Promise<void> {
    // overlay networks that could not be announced (cluster store down at the time) are retried
    if (this.cluster !== null) {
      for (const live of this.networks.values()) {
        if (live.record.driver !== 'overlay' || live.announced) continue;
        await this.announceNetwork(live).then(
          () => this.log.info({ network: live.record.name }, 'overlay network announced in the cluster store'),
          (err: Error) => this.log.warn({ network: live.record.name, err: err.message }, 'cannot announce overlay network yet; will retry'),
        );
      }
    }
    for (const live of this.networks.values()) {
      for (const ep of [...live.endpoints.values()]) {
        const r = ep.record;
        if (netnsStillExists({ path: r.netnsPath, dev: r.netnsDev, ino: r.netnsIno })) continue;
        this.log.info({ network: live.record.name, endpoint: r.name }, 'network namespace vanished: endpoint removed');
        await this.detach(live, ep, false).catch((err: Error) => this.log.warn({ err: err.message }, 'cleanup failed'));
      }
    }
  }

  // ---- lookups -------------------------------------------------------------------------------

  private freeIndex(): number {
    const used = new Set([...this.networks.values()].map((n) => n.index));
    for (let i = 0; ; i++) if (!used.has(i) && !this.activatingIndexes.has(i)) return i;
  }

  private findNetwork(nameOrId: string): LiveNetwork | undefined {
    for (const n of this.networks.values()) if (n.record.name === nameOrId) return n;
    const byId = this.networks.get(nameOrId);
    if (byId !== undefined) return byId;
    if (nameOrId.length >= 3) {
      const matches = [...this.networks.values()].filter((n) => n.record.id.startsWith(nameOrId));
      if (matches.length === 1) return matches[0];
    }
    return undefined;
  }

  private requireNetwork(nameOrId: string): LiveNetwork {
    const n = this.findNetwork(nameOrId);
    if (n === undefined) throw new ApiFailure(404, `network ${nameOrId} not found`);
    return n;
  }

  private endpointSpec(live: LiveNetwork, ep: EndpointRecord): EndpointSpec {
    return {
      name: `${ep.ifName}@${ep.name}`,
      network: live.index,
      mac: parseMac(ep.mac),
      ip: ipv4(ep.ip),
      vnet: this.config.dataplane.offload,
    };
  }

  private save(): void {
    const state: PersistedState = { version: 1, networks: [...this.networks.values()].map((n) => n.record) };
    this.store.save(state);
  }

  // ---- API -------------------------------------------------------------------------------------

  listNetworks(): NetworkSummary[] {
    return [...this.networks.values()].map((n) => ({
      Id: n.record.id,
      Name: n.record.name,
      Driver: n.record.driver,
      Scope: n.record.driver === 'overlay' ? 'swarm' : 'local',
      Subnet: n.record.subnet,
      Gateway: n.record.gateway,
      Internal: n.record.internal,
      Endpoints: n.endpoints.size,
    }));
  }

  async createNetwork(req: NetworkCreateRequest): Promise<NetworkResource> {
    const live = await this.createNetworkNow(req, false);
    return this.networkOut(live);
  }

  private async createNetworkNow(req: NetworkCreateRequest, isDefault: boolean): Promise<LiveNetwork> {
    const existing = [...this.networks.values()].map((n) => ({ name: n.record.name, subnet: n.record.subnet }));
    const routes = await hostRouteCidrs(this.config.devicePrefix, this.config.host.device);
    if (req.driver === 'overlay') return this.createOverlay(req, existing, routes);
    if (req.vni !== undefined) throw new ApiFailure(400, '--vni is for overlay networks (--driver overlay)');
    const v = validateNetworkRequest(req, existing, routes);
    const rec: NetworkRecord = {
      id: randomBytes(32).toString('hex'),
      name: req.name,
      driver: 'bridge',
      subnet: v.subnet,
      gateway: v.gateway,
      ...(v.ipRange !== undefined ? { ipRange: v.ipRange } : {}),
      internal: v.internal,
      mtu: v.mtu,
      gatewayMac: randomGatewayMac(),
      created: new Date().toISOString(),
      isDefault,
      endpoints: [],
    };
    const live = await this.activateNetwork(rec);
    try {
      this.save();
    } catch (err) {
      await this.deactivateNetwork(live);
      throw err;
    }
    this.log.info({ network: rec.name, subnet: rec.subnet }, 'network created');
    return live;
  }

  private async createOverlay(
    req: NetworkCreateRequest,
    existing: { name: string; subnet: string }[],
    routes: string[],
  ): Promise<LiveNetwork> {
    const cluster = this.cluster;
    if (cluster === null || this.config.cluster.advertise === null) {
      throw new ApiFailure(400, 'overlay networks need cluster.advertise (this host\'s underlay address) in the daemon config');
    }
    const mtu = req.mtu ?? this.config.cluster.underlayMtu - 50;
    const v = validateNetworkRequest({ ...req, driver: 'bridge', mtu }, existing, routes);
    if (v.mtu > this.config.cluster.underlayMtu - 50) {
      throw new ApiFailure(400, `MTU ${v.mtu} does not fit the underlay: at most ${this.config.cluster.underlayMtu - 50}`);
    }
    let vni = req.vni;
    if (vni !== undefined && (!Number.isInteger(vni) || vni < 1 || vni > 0xffffff)) {
      throw new ApiFailure(400, `invalid VNI ${vni}: it must be between 1 and 16777215`);
    }
    if (vni === undefined) {
      const used = new Set([...this.networks.values()].map((n) => n.record.vni));
      vni = 4096;
      while (used.has(vni)) vni++;
    }
    const def: OverlayNetworkDef = {
      id: randomBytes(32).toString('hex'),
      name: req.name,
      subnet: v.subnet,
      gateway: v.gateway,
      gatewayMac: overlayGatewayMac(vni),
      vni,
      mtu: v.mtu,
      internal: v.internal,
      ...(v.ipRange !== undefined ? { ipRange: v.ipRange } : {}),
      created: new Date().toISOString(),
    };
    await cluster.createNetwork(def);
    try {
      return await this.adoptOverlay(def, v.ipRange);
    } catch (err) {
      await cluster.removeNetwork(def.id).catch(() => undefined);
      throw err;
    }
  }

  /** Brings an overlay network (created here or by another host) up on this host. */
  private adoptOverlay(def: OverlayNetworkDef, ipRange?: string): Promise<LiveNetwork> {
    const known = this.networks.get(def.id);
    if (known !== undefined) return Promise.resolve(known);
    let pending = this.adopting.get(def.id);
    if (pending === undefined) {
      pending = this.adoptOverlayNow(def, ipRange ?? def.ipRange).finally(() => this.adopting.delete(def.id));
      this.adopting.set(def.id, pending);
    }
    return pending;
  }

  private async adoptOverlayNow(def: OverlayNetworkDef, ipRange?: string): Promise<LiveNetwork> {
    const rec: NetworkRecord = {
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
      endpoints: [],
      vni: def.vni,
    };
    const live = await this.activateNetwork(rec);
    this.save();
    await this.announceNetwork(live).catch((err: Error) => this.log.warn({ network: def.name, err: err.message }, 'cannot join overlay network in the cluster store yet'));
    this.log.info({ network: def.name, vni: def.vni, subnet: def.subnet }, 'overlay network up');
    return live;
  }

  /** Registers this host's VTEP and its endpoints of an overlay network in the cluster store. */
  private async announceNetwork(live: LiveNetwork): Promise<void> {
    const cluster = this.cluster!;
    await cluster.joinNetwork(live.record.id);
    for (const ep of live.endpoints.values()) {
      await cluster.claimAddress(live.record.id, ep.record.id, [], ep.record.ip);
      await cluster.registerEndpoint(this.overlayEndpointDef(live, ep.record));
    }
    live.announced = true;
  }

  private overlayEndpointDef(live: LiveNetwork, r: EndpointRecord): OverlayEndpointDef {
    return {
      id: r.id,
      network: live.record.id,
      name: r.name,
      ip: r.ip,
      mac: r.mac,
      vtep: this.config.cluster.advertise!,
      aliases: r.aliases,
    };
  }

  private onClusterEvent(e: ClusterEvent): void {
    this.clusterQueue = this.clusterQueue
      .then(() => this.applyClusterEvent(e))
      .catch((err: Error) => this.log.warn({ event: e.kind, err: err.message }, 'cluster event not applied'));
  }

  private async applyClusterEvent(e: ClusterEvent): Promise<void> {
    const own = this.config.cluster.advertise;
    switch (e.kind) {
      case 'network-added':
        await this.adoptOverlay(e.network);
        return;
      case 'network-removed': {
        const live = this.networks.get(e.networkId);
        if (live === undefined) return;
        if (live.endpoints.size > 0) {
          this.log.warn({ network: live.record.name }, 'overlay network removed elsewhere while it has local endpoints: kept');
          return;
        }
        await this.deactivateNetwork(live);
        this.save();
        this.log.info({ network: live.record.name }, 'overlay network removed');
        return;
      }
      case 'vtep-up': {
        const live = this.networks.get(e.networkId);
        if (live === undefined || e.vtep === own || live.peers.has(e.vtep)) return;
        live.peers.add(e.vtep);
        await this.dataplane.addPeer(live.index, ipv4(e.vtep));
        this.log.info({ network: live.record.name, vtep: e.vtep }, 'overlay peer up');
        return;
      }
      case 'vtep-down': {
        const live = this.networks.get(e.networkId);
        if (live === undefined || !live.peers.has(e.vtep)) return;
        live.peers.delete(e.vtep);
        for (const [id, r] of live.remotes) {
          if (r.vtep !== e.vtep) continue;
          live.remotes.delete(id);
          this.names.deleteEndpoint(live.record.id, id);
        }
        await this.dataplane.removePeer(live.index, ipv4(e.vtep));
        this.log.info({ network: live.record.name, vtep: e.vtep }, 'overlay peer down');
        return;
      }
      case 'endpoint-up': {
        const ep = e.endpoint;
        const live = this.networks.get(ep.network);
        if (live === undefined || ep.vtep === own) return;
        live.remotes.set(ep.id, ep);
        this.names.setEndpoint(live.record.id, { id: ep.id, name: ep.name, ip: ep.ip, aliases: ep.aliases ?? [] });
        live.allocator.markUsed(ep.ip);
        live.peers.add(ep.vtep);
        await this.dataplane.addRemoteEndpoint(live.index, ipv4(ep.ip), parseMac(ep.mac), ipv4(ep.vtep));
        return;
      }
      case 'endpoint-down': {
        const live = this.networks.get(e.networkId);
        const ep = live?.remotes.get(e.endpointId);
        if (live === undefined || ep === undefined) return;
        live.remotes.delete(e.endpointId);
        this.names.deleteEndpoint(live.record.id, e.endpointId);
        if (live.allocator.has(ep.ip)) live.allocator.release(ep.ip);
        await this.dataplane.removeRemoteEndpoint(live.index, ipv4(ep.ip));
        return;
      }
    }
  }

  private async deactivateNetwork(live: LiveNetwork): Promise<void> {
    this.networks.delete(live.record.id);
    this.names.deleteNetwork(live.record.id);
    await this.dataplane.removeNetwork(live.index);
    await deleteHostRoute(live.record.subnet, this.config.host.device);
  }

  inspectNetwork(nameOrId: string): NetworkResource {
    return this.networkOut(this.requireNetwork(nameOrId));
  }

  async removeNetwork(nameOrId: string): Promise<void> {
    const live = this.requireNetwork(nameOrId);
    if (live.record.isDefault) {
      throw new ApiFailure(403, `${live.record.name} is a pre-defined network and cannot be removed`);
    }
    if (live.endpoints.size > 0) {
      throw new ApiFailure(409, `network ${live.record.name} has active endpoints (${live.endpoints.size})`);
    }
    if (live.record.driver === 'overlay' && this.cluster !== null) {
      if (live.remotes.size > 0) {
        throw new ApiFailure(409, `network ${live.record.name} has active endpoints on other hosts (${live.remotes.size})`);
      }
      await this.cluster.removeNetwork(live.record.id);
      await this.cluster.leaveNetwork(live.record.id).catch(() => undefined);
    }
    await this.deactivateNetwork(live);
    this.save();
    this.log.info({ network: live.record.name }, 'network removed');
  }

  async connect(network: string, req: ConnectRequest): Promise<EndpointResource> {
    const live = this.requireNetwork(network);
    const ns = resolveNetns(req.netns);
    const name = req.name ?? ns.name;
    for (const ep of live.endpoints.values()) {
      if (ep.record.netnsDev === ns.dev && ep.record.netnsIno === ns.ino) {
        throw new ApiFailure(409, `${ns.name} is already connected to network ${live.record.name}`);
      }
      if (ep.record.name === name) {
        throw new ApiFailure(409, `endpoint with name ${name} already exists in network ${live.record.name}`);
      }
    }
    const aliases = req.aliases ?? [];
    for (const a of aliases) {
      if (!isDnsName(a)) throw new ApiFailure(400, `invalid alias ${JSON.stringify(a)}: it must be a DNS name (labels of letters, digits, '-' and '_')`);
    }
    const ports = this.planPublish(req.publish ?? [], name);
    const endpointId = randomBytes(32).toString('hex');
    const overlay = live.record.driver === 'overlay' && this.cluster !== null;
    let ip: string;
    if (overlay) {
      if (req.ip !== undefined) live.allocator.allocate(req.ip); // checks subnet and local use
      const r = live.record;
      const local = live.allocator;
      const candidates = (function* () {
        for (const a of candidateAddresses(r.subnet, r.gateway, r.ipRange)) if (!local.has(a)) yield a;
      })();
      try {
        ip = await this.cluster!.claimAddress(r.id, endpointId, candidates, req.ip);
      } catch (err) {
        if (req.ip !== undefined) local.release(req.ip);
        throw err;
      }
      if (req.ip === undefined) local.markUsed(ip);
    } else {
      ip = live.allocator.allocate(req.ip);
    }
    let portId = -1;
    const published: PortMapping[] = [];
    let fd = -1;
    try {
      const ifName = await nextInterfaceName(ns.path);
      const mac = macForIp(ip);
      fd = withNetns(ns.path, () => openTunTap({ mode: 'tap', name: ifName, persist: true, vnetHdr: this.config.dataplane.offload })).fd;
      await configureInterface(ns.path, ifName, {
        mac,
        cidr: `${ip}/${parseCidr(live.record.subnet).prefixLen}`,
        mtu: live.record.mtu,
        gateway: live.record.internal ? null : live.record.gateway,
      });
      const record: EndpointRecord = {
        id: endpointId,
        name,
        netnsPath: ns.path,
        netnsDev: ns.dev,
        netnsIno: ns.ino,
        ifName,
        mac,
        ip,
        aliases,
        created: new Date().toISOString(),
        ports,
      };
      portId = await this.dataplane.addEndpoint(this.endpointSpec(live, record), fd);
      for (const m of ports) {
        await this.dataplane.addPublish(this.publishRule(record, m));
        published.push(m);
      }
      if (overlay) await this.cluster!.registerEndpoint(this.overlayEndpointDef(live, record));
      const ep: LiveEndpoint = { record, fd, portId };
      live.endpoints.set(record.id, ep);
      live.record.endpoints.push(record);
      this.names.setEndpoint(live.record.id, this.nameEntry(record));
      try {
        this.save();
      } catch (err) {
        await this.detach(live, ep, false);
        fd = -1;
        throw err;
      }
      this.log.info({ network: live.record.name, endpoint: name, ip, ifName }, 'endpoint connected');
      this.syncResolvConf(ns.path);
      return this.endpointOut(live, record);
    } catch (err) {
      for (const m of published) await this.dataplane.removePublish(ipProtocolNumber(m.proto), m.hostPort).catch(() => undefined);
      if (portId >= 0) await this.dataplane.removePort(portId).catch(() => undefined);
      if (fd >= 0) {
        setPersist(fd, false); // the device disappears with its last fd
        closeFd(fd);
      }
      if (live.allocator.has(ip)) live.allocator.release(ip);
      if (overlay) {
        await this.cluster!.unregisterEndpoint(live.record.id, endpointId).catch(() => undefined);
        await this.cluster!.releaseAddress(live.record.id, ip).catch(() => undefined);
      }
      if (err instanceof ApiFailure) throw err;
      throw new ApiFailure(500, `cannot connect ${ns.name} to network ${live.record.name}: ${(err as Error).message}`);
    }
  }

  async disconnect(network: string, req: DisconnectRequest): Promise<void> {
    const live = this.requireNetwork(network);
    let target: LiveEndpoint | undefined;
    let ns: { dev: number; ino: number } | null = null;
    try {
      ns = resolveNetns(req.netns);
    } catch {
      ns = null; // the namespace may already be gone; match by name below
    }
    for (const ep of live.endpoints.values()) {
      const r = ep.record;
      if ((ns !== null && r.netnsDev === ns.dev && r.netnsIno === ns.ino) || r.name === req.netns) target = ep;
    }
    if (target === undefined) {
      throw new ApiFailure(404, `${req.netns} is not connected to network ${live.record.name}`);
    }
    await this.detach(live, target, true);
    this.log.info({ network: live.record.name, endpoint: target.record.name }, 'endpoint disconnected');
  }

  private async detach(live: LiveNetwork, ep: LiveEndpoint, save: boolean): Promise<void> {
    for (const m of ep.record.ports) await this.dataplane.removePublish(ipProtocolNumber(m.proto), m.hostPort);
    await this.dataplane.removePort(ep.portId);
    try {
      setPersist(ep.fd, false);
    } catch {
      // device already gone with its namespace
    }
    closeFd(ep.fd);
    live.endpoints.delete(ep.record.id);
    this.names.deleteEndpoint(live.record.id, ep.record.id);
    this.syncResolvConf(ep.record.netnsPath);
    live.record.endpoints = live.record.endpoints.filter((r) => r.id !== ep.record.id);
    live.allocator.release(ep.record.ip);
    if (live.record.driver === 'overlay' && this.cluster !== null) {
      const cluster = this.cluster;
      await cluster.unregisterEndpoint(live.record.id, ep.record.id).catch((err: Error) => this.log.warn({ err: err.message }, 'cannot unregister endpoint'));
      await cluster.releaseAddress(live.record.id, ep.record.ip).catch((err: Error) => this.log.warn({ err: err.message }, 'cannot release address'));
    }
    if (save) this.save();
    else this.trySave();
  }

  private nameEntry(r: EndpointRecord) {
    return { id: r.id, name: r.name, ip: r.ip, aliases: r.aliases, sandbox: `${r.netnsDev}:${r.netnsIno}` };
  }

  /** The resolver of a container: the gateway of the network it joined first, or null (DNS off, or no network left). */
  private containerNameserver(netnsPath: string): string | null {
    if (!this.config.dns.enabled) return null;
    let first: { created: string; gateway: string } | null = null;
    for (const n of this.networks.values()) {
      for (const e of n.endpoints.values()) {
        if (e.record.netnsPath === netnsPath && (first === null || e.record.created < first.created)) {
          first = { created: e.record.created, gateway: n.record.gateway };
        }
      }
    }
    return first?.gateway ?? null;
  }

  /**
   * Points /etc/netns/NAME/resolv.conf of a named namespace (`ip netns exec` bind-mounts it) at the
   * embedded DNS, and removes it once the container left every network; never a file pontoon did not write.
   */
  private syncResolvConf(netnsPath: string): void {
    const name = this.config.dns.enabled ? netnsNameOf(netnsPath) : null;
    if (name === null) return;
    const nameserver = this.containerNameserver(netnsPath);
    if (nameserver === null) {
      this.tryRemoveResolvConf(name);
      return;
    }
    try {
      if (writeContainerResolvConf(name, nameserver) === 'foreign') {
        this.log.warn({ netns: name }, `/etc/netns/${name}/resolv.conf was not written by pontoon: left alone`);
      }
    } catch (err) {
      this.log.warn({ netns: name, err: (err as Error).message }, 'cannot update the container\'s resolv.conf');
    }
  }

  private tryRemoveResolvConf(netnsName: string): void {
    try {
      removeContainerResolvConf(netnsName);
    } catch (err) {
      this.log.warn({ netns: netnsName, err: (err as Error).message }, 'cannot remove the container\'s resolv.conf');
    }
  }

  private trySave(): void {
    try {
      this.save();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'cannot save state');
    }
  }

  async status(): Promise<StatusReport> {
    const snap = await this.dataplane.snapshot();
    const netName = (index: number): string => {
      for (const n of this.networks.values()) if (n.index === index) return n.record.name;
      return '';
    };
    const c = this.dataplane.counters;
    let endpoints = 0;
    for (const n of this.networks.values()) endpoints += n.endpoints.size;
    const states = ['incomplete', 'reachable', 'failed'] as const;
    return {
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
      io: snap.io,
      networks: this.networks.size,
      endpoints,
      ports: snap.ports.map((p) => ({
        id: p.id,
        name: p.name,
        kind: p.kind,
        network: p.network >= 0 ? netName(p.network) : null,
        ...c.portStats(p.id),
      })),
      drops: c.dropsByReason(),
      neighbours: snap.neighbours.map((n) => ({
        network: netName(n.network),
        ip: ipv4ToString(n.ip),
        mac: n.state === 1 ? macToString(n.mac) : null,
        state: states[n.state] ?? 'incomplete',
        ageSeconds: Math.round(n.ageMs / 1000),
      })),
      fdb: snap.fdb.map((f) => ({
        network: netName(f.network),
        mac: macToString(f.mac),
        port: f.port,
        ageSeconds: Math.round(f.ageMs / 1000),
      })),
    };
  }

  ports(netns: string): PortMappingResource[] {
    const ns = resolveNetns(netns);
    const out: PortMappingResource[] = [];
    for (const n of this.networks.values()) {
      for (const e of n.endpoints.values()) {
        const r = e.record;
        if (r.netnsDev !== ns.dev || r.netnsIno !== ns.ino) continue;
        for (const m of r.ports) out.push({ ...m, network: n.record.name, containerIp: r.ip });
      }
    }
    return out;
  }

  async conntrackList(): Promise<ConntrackEntryResource[]> {
    return (await this.dataplane.conntrackList(100_000)).map(conntrackResource);
  }

  conntrackFlush(): Promise<number> {
    return this.dataplane.conntrackFlush();
  }

  private endpointOut(live: LiveNetwork, r: EndpointRecord): EndpointResource {
    return endpointResource(live, r, this.config.dns.enabled ? (this.containerNameserver(r.netnsPath) ?? live.record.gateway) : null);
  }

  private networkOut(live: LiveNetwork): NetworkResource {
    return networkResource(live, this.config.dns.enabled, (r) => this.endpointOut(live, r));
  }

  /** Counts for metrics. */
  inventory(): { networks: number; endpoints: number } {
    let endpoints = 0;
    for (const n of this.networks.values()) endpoints += n.endpoints.size;
    return { networks: this.networks.size, endpoints };
  }

  overlays(): { index: number; vni: number; name: string }[] {
    const out: { index: number; vni: number; name: string }[] = [];
    for (const n of this.networks.values()) if (n.record.vni !== undefined) out.push({ index: n.index, vni: n.record.vni, name: n.record.name });
    return out;
  }

  portNames(): Map<number, string> {
    const m = new Map<number, string>();
    for (const n of this.networks.values()) for (const ep of n.endpoints.values()) m.set(ep.portId, `${ep.record.ifName}@${ep.record.name}`);
    return m;
  }
}
