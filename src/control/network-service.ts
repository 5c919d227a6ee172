// The network service: networks, endpoints and their addresses, kept in step across three
// places — the state file, the kernel (devices, addresses, routes) and the data plane — so that
// every request either happens completely or changes nothing. This file wires the parts in
// network/ together and answers the API; the host and the data plane come in behind interfaces.

import type { Logger } from 'pino';
import { defaultPool6 } from './ipam6.js';
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
  PeerAddRequest,
  PeerResource,
  CountersReport,
  ServiceCreateRequest,
  ServiceResource,
} from './api-types.js';
import type { ClusterStore } from './cluster/cluster-store.js';
import type { PontoonConfig } from './config.js';
import { NameTable } from './dns/name-table.js';
import { ApiFailure, type GatewayApi } from './gateway-api.js';
import type { HostDevices } from './host-devices.js';
import { isIpv6Only, type LiveEndpoint, type LiveNetwork } from './live-network.js';
import type { ServiceDataplane } from './network/service-dataplane.js';
import { LoopbackProxies } from './loopback-proxy.js';
import { EndpointAttach } from './network/endpoint-attach.js';
import { LiveNetworks, type StateFile } from './network/live-networks.js';
import { MacvlanParents } from './network/macvlan-parents.js';
import { NetworkActivation } from './network/network-activation.js';
import { NetworkLifecycle } from './network/network-lifecycle.js';
import { NetworkRestore } from './network/network-restore.js';
import { NetworkViews } from './network/network-views.js';
import { OverlaySync } from './network/overlay-sync.js';
import { ForeignPeers } from './network/foreign-peers.js';
import { type ResolvConfFiles, ResolvConfSync } from './network/resolv-conf-sync.js';
import { conntrackResource } from './resources.js';
import { ipv4 } from './network/addresses.js';
import { ipv4ToString } from '../wire/ipv4-address.js';
import type { ServiceClusterStore } from './services/service-cluster.js';
import { ServiceRegistry } from './services/service-registry.js';
import { JoinFollowUp } from './docker/join-follow-up.js';
import { DockerState } from './docker/docker-state.js';
import { IpamDriver } from './docker/ipam-driver.js';
import { NetworkDriver } from './docker/network-driver.js';
import { PluginStats } from './docker/plugin-stats.js';
import { MutationQueue } from './mutation-queue.js';

export { macForIp } from './network/addresses.js';

/** Everything the service works on: the daemon gives the real ones, tests fakes. */
export interface NetworkServiceDeps {
  config: PontoonConfig;
  store: StateFile;
  dataplane: ServiceDataplane;
  devices: HostDevices;
  resolvConfs: ResolvConfFiles;
  log: Logger;
  /** null: no cluster store (overlay networks need one) */
  cluster: ClusterStore | null;
  /** NAT-PMP/PCP mappings the containers asked for; absent or null: the server is off */
  explicitMappings?: ExplicitMappings | null;
  /** where the services of overlay networks live (etcd); absent or null: none */
  serviceStore?: ServiceClusterStore | null;
  /** where services.json is written (the state directory); absent or null: nowhere */
  servicesDir?: string | null;
}

/** The mappings containers ask the gateway for (NAT-PMP/PCP): listed with the published ports, gone with the endpoint. */
export interface ExplicitMappings {
  endpointGone(ip: number): Promise<void>;
  portsOf(ip: number, network: string): PortMappingResource[];
}

/** Docker's network and IPAM drivers over this service's networks (config docker.enabled). */
export interface DockerDrivers {
  network: NetworkDriver;
  ipam: IpamDriver;
  stats: PluginStats;
}

export class NetworkService implements GatewayApi {
  /** the names the embedded DNS answers: every endpoint's, local and remote, kept in step here */
  readonly names = new NameTable();
  /** every change to networks and endpoints runs in it: the API's, Docker's, the follow-ups' */
  readonly queue = new MutationQueue();
  /** null: docker.enabled is off */
  readonly docker: DockerDrivers | null = null;
  private readonly dockerState: DockerState | null = null;
  private readonly dockerFollowUp: JoinFollowUp | null = null;
  private readonly networks: LiveNetworks;
  private readonly overlay: OverlaySync | null;
  private readonly resolvConf: ResolvConfSync;
  private readonly attach: EndpointAttach;
  /** macvlan networks' parent devices */
  readonly parents: MacvlanParents;
  private readonly lifecycle: NetworkLifecycle;
  private readonly restorer: NetworkRestore;
  private readonly views: NetworkViews;
  private readonly loopback: LoopbackProxies;
  private readonly foreignPeers: ForeignPeers;
  /** services (`pontoon service`): VIPs and their backends */
  readonly services: ServiceRegistry;

  constructor(private readonly deps: NetworkServiceDeps) {
    const { config, store, dataplane, devices, resolvConfs, log, cluster } = deps;
    const names = this.names;
    const pools6 = config.defaultPools6.length > 0 ? config.defaultPools6 : [defaultPool6()];
    this.loopback = new LoopbackProxies(log);
    const networks = new LiveNetworks(store, log);
    const parents = new MacvlanParents({ dataplane, devices, networks, log });
    this.parents = parents;
    const activation = new NetworkActivation({ networks, names, dataplane, devices, parents, log });
    const overlay = cluster === null ? null : new OverlaySync(cluster, { vtep: config.cluster.advertise, networks, names, dataplane, activation, log });
    const resolvConf = new ResolvConfSync({ enabled: config.dns.enabled, networks, files: resolvConfs, log });
    const attach = new EndpointAttach({
      gatewayAddress: config.host.gatewayAddress,
      uplinkAddress: config.uplink?.address ?? null,
      gatewayAddress6: config.host.address6 !== null ? config.host.gatewayAddress6 : null,
      uplinkAddress6: config.uplink?.address6 ?? null,
      vnet: config.dataplane.offload,
      devicePrefix: config.devicePrefix,
      networks,
      names,
      dataplane,
      loopback: this.loopback,
      devices,
      overlay,
      resolvConf,
      log,
      endpointGone: deps.explicitMappings == null ? undefined : (ip) => deps.explicitMappings!.endpointGone(ip),
    });
    const lifecycle = new NetworkLifecycle({
      advertise: config.cluster.advertise,
      underlayMtu: config.cluster.underlayMtu,
      vxlanPort: config.cluster.vxlanPort,
      servicesCidr: config.services.cidr,
      pools6,
      networks,
      activation,
      overlay,
      devices,
      parents,
      log,
    });
    this.networks = networks;
    this.overlay = overlay;
    this.resolvConf = resolvConf;
    this.attach = attach;
    this.lifecycle = lifecycle;
    this.restorer = new NetworkRestore({
      defaultNetwork: config.defaultNetwork,
      networks,
      activation,
      attach,
      lifecycle,
      overlay,
      resolvConf,
      devices,
      parents,
      dataplane: dataplane.control,
      log,
    });
    this.foreignPeers = new ForeignPeers({ overlay, advertise: config.cluster.advertise });
    this.services = new ServiceRegistry({
      cidr: config.services.cidr,
      stateDir: deps.servicesDir ?? null,
      networks,
      names,
      dataplane,
      devices,
      cluster,
      serviceStore: deps.serviceStore ?? null,
      reconcile: () => this.restorer.reconcile(),
      log,
    });
    this.views = new NetworkViews({ dnsEnabled: config.dns.enabled, networks, dataplane, devices, resolvConf, conntrackMax: config.conntrack.max, parents });
    if (config.docker.enabled) {
      const state = new DockerState(networks);
      const followUp = new JoinFollowUp({ apiSocket: config.docker.apiSocket, queue: this.queue, networks, attach, devices, log });
      this.dockerState = state;
      this.dockerFollowUp = followUp;
      this.docker = {
        network: new NetworkDriver({
          state,
          lifecycle,
          attach,
          log,
          created: (live) => followUp.networkCreated(live),
          joined: (live, ep) => followUp.joined(live, ep),
        }),
        ipam: new IpamDriver({ state, attach, devices, pools6, servicesCidr: config.services.cidr, log }),
        stats: new PluginStats(),
      };
    }
  }

  // ---- start-up and shutdown -----------------------------------------------------------------

  /** Brings back every saved network and endpoint, then the default network; follows the cluster store. */
  async restore(): Promise<void> {
    await this.restorer.restore();
    await this.services.start();
    this.dockerState?.restore();
    this.dockerFollowUp?.resume();
  }

  /** Removes the endpoints whose namespace vanished, lets go of macvlan parents that vanished and takes back those that returned (also every 2 s after restore). */
  reconcile(): Promise<void> {
    return this.restorer.reconcile();
  }

  /** Resolves once every cluster event received so far has been applied. */
  clusterSettled(): Promise<void> {
    return this.overlay?.settled() ?? Promise.resolve();
  }

  async shutdown(): Promise<void> {
    this.restorer.stop();
    await this.services.stop();
    this.dockerFollowUp?.stop();
    await this.loopback.stopAll();
    // a routed overlay's subnet is this host's until its lease expires: kept over a restart, not revoked
    const routed = [...this.networks.values()].some((n) => n.record.routed !== undefined);
    await this.deps.cluster?.close({ revokeLease: !routed }).catch(() => undefined);
    // endpoints stay: their TAP devices are persistent and the state file brings them back
    for (const { ep } of this.networks.endpoints()) this.deps.devices.closeTap(ep.fd);
    this.resolvConf.removeAll();
  }

  // ---- API -------------------------------------------------------------------------------------

  listNetworks(): NetworkSummary[] {
    return this.views.list();
  }

  async createNetwork(req: NetworkCreateRequest): Promise<NetworkResource> {
    return this.views.network(await this.lifecycle.create(req, false));
  }

  inspectNetwork(nameOrId: string): NetworkResource {
    return this.views.network(this.networks.require(nameOrId));
  }

  async removeNetwork(nameOrId: string): Promise<void> {
    const live = this.networks.require(nameOrId);
    if (live.record.dockerNetworkId !== undefined) {
      throw new ApiFailure(409, `network ${live.record.name} belongs to Docker: remove it with docker network rm`);
    }
    const services = this.services.servicesOf(live.record.id);
    if (services.length > 0) throw new ApiFailure(409, `network ${live.record.name} has services: ${services.join(', ')} (remove them first)`);
    return this.lifecycle.remove(live.record.id);
  }

  async connect(network: string, req: ConnectRequest): Promise<EndpointResource> {
    const live = this.networks.require(network);
    const ep = await this.attach.connect(live, req);
    return this.views.endpoint(live, ep.record);
  }

  async disconnect(network: string, req: DisconnectRequest): Promise<void> {
    const live = this.networks.require(network);
    const target = 'netns' in req ? this.endpointInNetns(live, req.netns) : this.endpointOfContainer(live, req.containerId, req.ifName);
    if (target === undefined) {
      const what = 'netns' in req ? req.netns : `container ${req.containerId} (${req.ifName})`;
      throw new ApiFailure(404, `${what} is not connected to network ${live.record.name}`);
    }
    if (target.record.engine === 'docker') {
      throw new ApiFailure(409, `${target.record.name} was connected by Docker: disconnect it with docker network disconnect`);
    }
    await this.attach.detach(live, target, true);
    this.deps.log.info({ network: live.record.name, endpoint: target.record.name }, 'endpoint disconnected');
  }

  private endpointInNetns(live: LiveNetwork, netns: string): LiveEndpoint | undefined {
    let ns: { dev: number; ino: number } | null;
    try {
      ns = this.deps.devices.resolveNetns(netns);
    } catch {
      ns = null; // the namespace may already be gone; match by name below
    }
    let target: LiveEndpoint | undefined;
    for (const ep of live.endpoints.values()) {
      const r = ep.record;
      if ((ns !== null && r.netnsDev === ns.dev && r.netnsIno === ns.ino) || r.name === netns) target = ep;
    }
    return target;
  }

  private endpointOfContainer(live: LiveNetwork, containerId: string, ifName: string): LiveEndpoint | undefined {
    for (const ep of live.endpoints.values()) if (ep.record.containerId === containerId && ep.record.ifName === ifName) return ep;
    return undefined;
  }

  status(): Promise<StatusReport> {
    return this.views.status();
  }

  ports(netns: string): PortMappingResource[] {
    const published = this.views.ports(netns);
    const explicit = this.deps.explicitMappings;
    if (explicit == null) return published;
    const ns = this.deps.devices.resolveNetns(netns);
    const asked: PortMappingResource[] = [];
    for (const { live, ep } of this.networks.endpoints()) {
      const r = ep.record;
      if (r.netnsDev === ns.dev && r.netnsIno === ns.ino && r.ip !== '') asked.push(...explicit.portsOf(ipv4(r.ip), live.record.name));
    }
    return [...published, ...asked];
  }

  /** The endpoint with this address (local ones): its data-plane network slot, whether that masquerades. */
  endpointOf(ip: number): { network: number; masquerading: boolean } | null {
    const s = ipv4ToString(ip);
    for (const { live, ep } of this.networks.endpoints()) {
      if (ep.record.ip === s) return { network: live.index, masquerading: !live.record.internal };
    }
    return null;
  }

  /** Data-plane slots of the networks that masquerade IPv4 through the uplink (not internal, not IPv6-only). */
  masqueradingNetworks(): number[] {
    return [...this.networks.values()].filter((n) => !n.record.internal && !isIpv6Only(n.record)).map((n) => n.index);
  }

  async conntrackList(): Promise<ConntrackEntryResource[]> {
    return (await this.deps.dataplane.control.conntrackList(100_000)).map(conntrackResource);
  }

  conntrackFlush(): Promise<number> {
    return this.deps.dataplane.control.conntrackFlush();
  }

  // ---- foreign VTEPs ---------------------------------------------------------------------------

  async listPeers(network: string | null): Promise<PeerResource[]> {
    if (network !== null) return this.foreignPeers.list(this.networks.require(network));
    const out: PeerResource[] = [];
    for (const live of this.networks.values()) if (live.record.driver === 'overlay') out.push(...(await this.foreignPeers.list(live)));
    return out;
  }

  async addPeer(network: string, req: PeerAddRequest): Promise<PeerResource> {
    return this.foreignPeers.add(this.networks.require(network), req);
  }

  async removePeer(network: string, vtep: string): Promise<void> {
    return this.foreignPeers.remove(this.networks.require(network), vtep);
  }

  counters(): Promise<CountersReport> {
    return this.views.counters();
  }

  // ---- services --------------------------------------------------------------------------------

  listServices(): Promise<ServiceResource[]> {
    return this.services.list();
  }

  createService(req: ServiceCreateRequest): Promise<ServiceResource> {
    return this.services.create(req);
  }

  inspectService(name: string): ServiceResource {
    return this.services.inspect(name);
  }

  removeService(name: string): Promise<void> {
    return this.services.remove(name);
  }

  // ---- metrics ---------------------------------------------------------------------------------

  /** Counts for metrics. */
  inventory(): { networks: number; endpoints: number } {
    return this.views.inventory();
  }

  overlays(): { index: number; vni: number; name: string }[] {
    return this.views.overlays();
  }

  portNames(): Map<number, string> {
    const names = this.views.portNames();
    for (const [id, name] of this.parents.portNames()) names.set(id, name);
    return names;
  }
}
