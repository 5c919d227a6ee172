// Fakes of everything the network service works on: the host's devices and namespaces, the data
// plane, the state file, the cluster store and the containers' resolv.conf files. Each writes what
// it was asked to do, in order, to one shared journal ("tap+ c1/eth0", "port- 1", "save"...), and
// any step can be made to fail. The fake host outlives a service, as the kernel outlives a daemon.

import { type VtepAddress, vtepToString } from '../../../../src/dataplane/vtep-table.js';
import { pino } from 'pino';
import type { EndpointSpec, NetworkSpec, ParentPortSpec, RemoteEndpointSpec, RemoteSubnetSpec } from '../../../../src/dataplane/specs.js';
import type { PublishRule, PublishRule6 } from '../../../../src/dataplane/published-ports.js';
import type { ConntrackRecord, Snapshot } from '../../../../src/ports/worker-protocol.js';
import { type ClusterEvent, type ClusterStore, type ForeignPeerDef, foreignEndpointDef, type OverlayEndpointDef, type OverlayNetworkDef, type SubnetLease } from '../../../../src/control/cluster/cluster-store.js';
import { type PontoonConfig, parseConfig } from '../../../../src/control/config.js';
import { ApiFailure } from '../../../../src/control/gateway-api.js';
import type { HostDevices, InterfaceConfig, NetnsIdentityRef } from '../../../../src/control/host-devices.js';
import { ipv4ToString } from '../../../../src/wire/ipv4-address.js';
import type { NetnsRef } from '../../../../src/control/netns.js';
import type { ServiceDataplane } from '../../../../src/control/network/service-dataplane.js';
import type { StateFile } from '../../../../src/control/network/live-networks.js';
import type { ResolvConfFiles } from '../../../../src/control/network/resolv-conf-sync.js';
import { type ExplicitMappings, NetworkService } from '../../../../src/control/network-service.js';
import type { PersistedState } from '../../../../src/control/state-store.js';
import { macToString } from '../../../../src/wire/mac.js';
import { type Ipv6Words, ipv6ToString } from '../../../../src/wire/ipv6-address.js';
import type { RemoteEndpoint6Spec } from '../../../../src/dataplane/remote-endpoints6.js';
import { DataplaneCounters, SERVICE_FIELDS, SVC_BACKEND_IP } from '../../../../src/dataplane/counters.js';
import { MAX_BACKENDS, type ServiceSpec, ServiceTable } from '../../../../src/dataplane/service-table.js';

/** What was done, in order, by every fake; and the steps told to fail. */
export class Journal {
  readonly entries: string[] = [];
  private readonly failures: { step: string | RegExp; message: string; times: number }[] = [];

  /** The next `times` steps named `step` (or matching it) throw `message` instead of happening. */
  failOn(step: string | RegExp, message: string, times = Infinity): void {
    this.failures.push({ step, message, times });
  }

  clearFailures(): void {
    this.failures.length = 0;
  }

  /** Does `step`: throws if it was told to fail, else records it. */
  record(step: string): void {
    for (const f of this.failures) {
      if (f.times <= 0) continue;
      if (typeof f.step === 'string' ? f.step !== step : !f.step.test(step)) continue;
      f.times--;
      throw new Error(f.message);
    }
    this.entries.push(step);
  }

  /** Entries from `mark` (a length of `entries` taken before) on. */
  since(mark: number): string[] {
    return this.entries.slice(mark);
  }

  get mark(): number {
    return this.entries.length;
  }
}

interface FakeLink {
  persistent: boolean;
  config: InterfaceConfig | null;
  /** set by openHostTap (Docker's TAPs), else the configured one */
  mac?: string;
}

interface FakeNamespace {
  name: string;
  dev: number;
  ino: number;
  links: Map<string, FakeLink>;
}

/** Namespaces under /run/netns, their links, open TAP fds and the host's routes. */
export class FakeHostDevices implements HostDevices {
  private readonly namespaces = new Map<string, FakeNamespace>(); // by path
  private readonly fds = new Map<number, { ns: FakeNamespace; ifName: string }>();
  /** the daemon's own namespace, where Docker's TAPs are made */
  readonly host: FakeNamespace = { name: 'host', dev: 4, ino: 4026531999, links: new Map() };
  private nextIno = 4026532000;
  private nextFd = 100;
  readonly routes = new Set<string>();

  constructor(private readonly journal: Journal) {}

  addNamespace(name: string): string {
    const path = `/run/netns/${name}`;
    this.namespaces.set(path, { name, dev: 4, ino: this.nextIno++, links: new Map([['lo', { persistent: true, config: null }]]) });
    return path;
  }

  /** The container went away: its namespace and every device in it. */
  deleteNamespace(name: string): void {
    this.namespaces.delete(`/run/netns/${name}`);
  }

  /** Interfaces in a namespace but lo, with how they are configured. */
  interfaces(name: string): Record<string, InterfaceConfig | null> {
    const ns = this.namespaces.get(`/run/netns/${name}`);
    const out: Record<string, InterfaceConfig | null> = {};
    for (const [ifName, l] of ns?.links ?? []) if (ifName !== 'lo') out[ifName] = l.config;
    return out;
  }

  /** The TAP devices open now, as "NS/IFNAME" by fd. */
  openFds(): Map<number, string> {
    return new Map([...this.fds].map(([fd, t]) => [fd, `${t.ns.name}/${t.ifName}`]));
  }

  resolveNetns(arg: string): NetnsRef {
    const path = arg.startsWith('/') ? arg : `/run/netns/${arg}`;
    const ns = this.namespaces.get(path);
    if (ns === undefined) throw new ApiFailure(404, `network namespace ${JSON.stringify(arg)} not found (no ${path})`);
    return { arg, path, name: arg, dev: ns.dev, ino: ns.ino };
  }

  netnsExists(ref: NetnsIdentityRef): boolean {
    const ns = this.namespaces.get(ref.path);
    return ns !== undefined && ns.dev === ref.dev && ns.ino === ref.ino;
  }

  private ns(path: string): FakeNamespace {
    const ns = this.namespaces.get(path);
    if (ns === undefined) throw new Error(`cannot enter network namespace ${path}: No such file or directory`);
    return ns;
  }

  async nextInterfaceName(nsPath: string): Promise<string> {
    const ns = this.ns(nsPath);
    for (let i = 0; ; i++) if (!ns.links.has(`eth${i}`)) return `eth${i}`;
  }

  async interfaceNames(nsPath: string): Promise<string[]> {
    return [...this.ns(nsPath).links.keys()];
  }

  openTap(nsPath: string, ifName: string): number {
    const ns = this.ns(nsPath);
    const existing = ns.links.get(ifName);
    this.journal.record(`${existing === undefined ? 'tap+' : 'tap-reopen'} ${ns.name}/${ifName}`);
    if (existing === undefined) ns.links.set(ifName, { persistent: true, config: null });
    const fd = this.nextFd++;
    this.fds.set(fd, { ns, ifName });
    return fd;
  }

  async openHostTap(ifName: string, link: { mac: string; mtu: number }): Promise<number> {
    this.journal.record(`host-tap+ ${ifName} ${link.mac} mtu ${link.mtu}`);
    this.host.links.set(ifName, { persistent: true, config: null, mac: link.mac });
    const fd = this.nextFd++;
    this.fds.set(fd, { ns: this.host, ifName });
    return fd;
  }

  /** What Docker does after Join: moves the host's TAP into the container's namespace under another name. */
  moveHostTap(ifName: string, nsName: string, newName: string): void {
    const link = this.host.links.get(ifName);
    const ns = this.namespaces.get(`/run/netns/${nsName}`);
    if (link === undefined || ns === undefined) throw new Error(`cannot move ${ifName} to ${nsName}`);
    this.host.links.delete(ifName);
    ns.links.set(newName, link);
    for (const t of this.fds.values()) if (t.ns === this.host && t.ifName === ifName) Object.assign(t, { ns, ifName: newName });
  }

  async findInterfaceByMac(nsPath: string, mac: string): Promise<string | null> {
    const ns = this.ns(nsPath);
    for (const [name, l] of ns.links) if ((l.mac ?? l.config?.mac) === mac) return name;
    return null;
  }

  async configureInterface(nsPath: string, ifName: string, config: InterfaceConfig): Promise<void> {
    const ns = this.ns(nsPath);
    this.journal.record(`configure ${ns.name}/${ifName} ${config.mac} ${config.cidr} mtu ${config.mtu} via ${config.gateway ?? 'none'}`);
    ns.links.get(ifName)!.config = { ...config };
  }

  removeTap(fd: number): void {
    const t = this.fds.get(fd);
    if (t === undefined) throw new Error(`close fd ${fd}: Bad file descriptor`);
    this.journal.record(`tap- ${t.ns.name}/${t.ifName}`);
    this.fds.delete(fd);
    t.ns.links.delete(t.ifName);
  }

  closeTap(fd: number): void {
    const t = this.fds.get(fd);
    if (t === undefined) throw new Error(`close fd ${fd}: Bad file descriptor`);
    this.journal.record(`tap-close ${t.ns.name}/${t.ifName}`);
    this.fds.delete(fd);
  }

  async hostRoutes(): Promise<string[]> {
    return ['192.0.2.0/24'];
  }

  /** A route of the host's and the host link's subnet, as hostRouteCidrs6 lists them. */
  async hostRoutes6(): Promise<string[]> {
    return ['2001:db8:ffff::/64', 'fd00:ffff::/64'];
  }

  readonly routesIpv6 = true;

  async addHostRoute(subnet: string, src?: string): Promise<void> {
    this.journal.record(`route+ ${subnet}${src !== undefined ? ` src ${src}` : ''}`);
    this.routes.add(subnet);
  }

  async deleteHostRoute(subnet: string): Promise<void> {
    this.journal.record(`route- ${subnet}`);
    this.routes.delete(subnet);
  }

  /** the daemon's namespace's interfaces a macvlan parent may be: name → index and state (tests change it) */
  readonly links = new Map<string, { ifindex: number; up: boolean; mtu: number }>([
    ['eth0', { ifindex: 2, up: true, mtu: 1500 }],
    ['eth1', { ifindex: 3, up: true, mtu: 9000 }],
  ]);
  private nextParentFd = 9000;

  linkState(device: string): { ifindex: number; up: boolean; mtu: number } | null {
    return this.links.get(device) ?? null;
  }

  openParentSocket(device: string): number {
    const fd = this.nextParentFd++;
    this.journal.record(`parent-socket+ ${device}`);
    return fd;
  }

  closeParentSocket(fd: number): void {
    this.journal.record(`parent-socket- ${fd}`);
  }
}

const protoName = (p: number): string => (p === 17 ? 'udp' : 'tcp');

/** The data plane's tables as the service filled them. */
export class FakeDataplane implements ServiceDataplane {
  readonly networks = new Map<number, NetworkSpec>();
  readonly ports = new Map<number, EndpointSpec & { fd: number }>();
  readonly publishes = new Map<string, PublishRule>();
  readonly publishes6 = new Map<string, PublishRule6>();
  readonly peers = new Set<string>(); // "index vtep"
  readonly remotes = new Map<string, string>(); // "index ip" → "mac via vtep"
  private nextPort = 1;
  readonly counters = {
    portStats: (_port: number) => ({ rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0 }),
    dropsByReason: (): Record<string, number> => ({}),
    gauges: new Float64Array(64),
    ctStates: new Float64Array(48),
    vxlan: new Float64Array(64 * 4),
    services: new DataplaneCounters().services,
  };
  /** services as the data plane would hold them (its slots, written beside the counters as it does) */
  readonly serviceTable = new ServiceTable();

  /** the operations are this object's own methods */
  get control(): this {
    return this;
  }

  constructor(private readonly journal: Journal) {}

  /** adopted rules swept at the end of a restore */
  async liveStateRestored(): Promise<number> {
    this.journal.record('live-state restored');
    return 0;
  }

  async addNetwork(spec: NetworkSpec): Promise<void> {
    this.journal.record(`network+ ${spec.index} ${spec.name}`);
    this.networks.set(spec.index, spec);
  }

  async removeNetwork(index: number): Promise<void> {
    this.journal.record(`network- ${index}`);
    this.networks.delete(index);
    for (const [id, p] of this.parentPorts) if (p.network === index) this.parentPorts.delete(id);
  }

  async addEndpoint(spec: EndpointSpec, fd: number): Promise<number> {
    const id = this.nextPort;
    this.journal.record(`port+ ${id} ${spec.name} ${spec.ip !== undefined ? ipv4ToString(spec.ip) : ipv6ToString(spec.ip6!)}`);
    this.nextPort++;
    this.ports.set(id, { ...spec, fd });
    return id;
  }

  async removePort(portId: number): Promise<void> {
    this.journal.record(`port- ${portId}`);
    this.ports.delete(portId);
  }

  /** macvlan parents: index → device, and their ports (one per network) */
  readonly parents = new Map<number, string>();
  readonly parentPorts = new Map<number, ParentPortSpec>();

  async addParent(index: number, fd: number, device: string, vnet: boolean): Promise<void> {
    this.journal.record(`parent+ ${index} ${device} fd ${fd}${vnet ? ' vnet' : ''}`);
    this.parents.set(index, device);
  }

  async removeParent(index: number): Promise<void> {
    this.journal.record(`parent- ${index}`);
    this.parents.delete(index);
    for (const [id, p] of this.parentPorts) if (p.parent === index) this.parentPorts.delete(id);
  }

  async addParentPort(spec: ParentPortSpec): Promise<number> {
    const id = this.nextPort++;
    this.journal.record(`parent-port+ ${id} ${spec.name} vlan ${spec.vlan} network ${spec.network}`);
    this.parentPorts.set(id, spec);
    return id;
  }

  async addPublish(rule: PublishRule): Promise<void> {
    this.journal.record(`publish+ ${protoName(rule.proto)}/${rule.hostPort} ${ipv4ToString(rule.targetIp)}:${rule.targetPort}`);
    this.publishes.set(`${protoName(rule.proto)}/${rule.hostPort}`, rule);
  }

  async addPublish6(rule: PublishRule6): Promise<void> {
    this.journal.record(`publish+ [::]:${protoName(rule.proto)}/${rule.hostPort} [${ipv6ToString(rule.targetIp)}]:${rule.targetPort}`);
    this.publishes6.set(`${protoName(rule.proto)}/${rule.hostPort}`, rule);
  }

  async setServiceRange(base: number, prefixLen: number): Promise<void> {
    this.journal.record(`service-range ${ipv4ToString(base)}/${prefixLen}`);
  }

  async setService(spec: ServiceSpec): Promise<void> {
    this.serviceTable.set(spec);
    this.journal.record(`service ${spec.slot} ${ipv4ToString(spec.vip)}:${spec.port}/${protoName(spec.proto)} -> ${spec.backends.map((b) => `${ipv4ToString(b.ip)}${b.local ? '' : '@'}`).join(',')}:${spec.targetPort}`);
    const t = this.serviceTable;
    for (let b = spec.slot * MAX_BACKENDS; b < (spec.slot + 1) * MAX_BACKENDS; b++) {
      this.counters.services[b * SERVICE_FIELDS + SVC_BACKEND_IP] = t.backendUsed[b] !== 0 ? t.backendIp[b]! >>> 0 : 0;
    }
  }

  async removeService(slot: number): Promise<void> {
    this.serviceTable.remove(slot);
    this.journal.record(`service- ${slot}`);
  }

  async removePublish(proto: 6 | 17, hostPort: number, family?: 4 | 6): Promise<void> {
    if (family === 6) {
      this.journal.record(`publish- [::]:${protoName(proto)}/${hostPort}`);
      this.publishes6.delete(`${protoName(proto)}/${hostPort}`);
      return;
    }
    this.journal.record(`publish- ${protoName(proto)}/${hostPort}`);
    this.publishes.delete(`${protoName(proto)}/${hostPort}`);
  }

  async addPeer(network: number, vtepIp: VtepAddress): Promise<void> {
    this.journal.record(`peer+ ${network} ${vtepToString(vtepIp)}`);
    this.peers.add(`${network} ${vtepToString(vtepIp)}`);
  }

  async removePeer(network: number, vtepIp: VtepAddress): Promise<void> {
    this.journal.record(`peer- ${network} ${vtepToString(vtepIp)}`);
    this.peers.delete(`${network} ${vtepToString(vtepIp)}`);
  }

  async addRemoteEndpoint({ network, ip, mac, vtepIp }: RemoteEndpointSpec): Promise<void> {
    this.journal.record(`remote+ ${network} ${ipv4ToString(ip)}`);
    this.remotes.set(`${network} ${ipv4ToString(ip)}`, `${macToString(mac)} via ${vtepToString(vtepIp)}`);
  }

  async removeRemoteEndpoint(network: number, ip: number): Promise<void> {
    this.journal.record(`remote- ${network} ${ipv4ToString(ip)}`);
    this.remotes.delete(`${network} ${ipv4ToString(ip)}`);
  }

  /** routed overlays: "network subnet/len" -> "mac via vtep" */
  readonly remoteSubnets = new Map<string, string>();
  readonly hostRoutes = new Set<string>();

  async addRemoteSubnet({ network, subnet, prefixLen, vtepIp, vtepMac }: RemoteSubnetSpec): Promise<void> {
    this.journal.record(`subnet+ ${network} ${ipv4ToString(subnet)}/${prefixLen}`);
    this.remoteSubnets.set(`${network} ${ipv4ToString(subnet)}/${prefixLen}`, `${macToString(vtepMac)} via ${vtepToString(vtepIp)}`);
  }

  async removeRemoteSubnet(network: number, subnet: number, prefixLen: number): Promise<void> {
    this.journal.record(`subnet- ${network} ${ipv4ToString(subnet)}/${prefixLen}`);
    this.remoteSubnets.delete(`${network} ${ipv4ToString(subnet)}/${prefixLen}`);
  }

  async addHostRoute(prefix: number, prefixLen: number): Promise<void> {
    this.journal.record(`hostroute+ ${ipv4ToString(prefix)}/${prefixLen}`);
    this.hostRoutes.add(`${ipv4ToString(prefix)}/${prefixLen}`);
  }

  async removeHostRoute(prefix: number, prefixLen: number): Promise<void> {
    this.journal.record(`hostroute- ${ipv4ToString(prefix)}/${prefixLen}`);
    this.hostRoutes.delete(`${ipv4ToString(prefix)}/${prefixLen}`);
  }

  async addRemoteEndpoint6({ network, ip6, mac, vtepIp }: RemoteEndpoint6Spec): Promise<void> {
    this.journal.record(`remote6+ ${network} ${ipv6ToString(ip6)}`);
    this.remotes.set(`${network} ${ipv6ToString(ip6)}`, `${macToString(mac)} via ${vtepToString(vtepIp)}`);
  }

  async removeRemoteEndpoint6(network: number, ip6: Ipv6Words): Promise<void> {
    this.journal.record(`remote6- ${network} ${ipv6ToString(ip6)}`);
    this.remotes.delete(`${network} ${ipv6ToString(ip6)}`);
  }

  async snapshot(): Promise<Snapshot> {
    return {
      io: { backend: 'read/write', fallbackReason: '', busyPollUs: 0, underlay: null },
      ports: [...this.ports].map(([id, p]) => ({ id, name: p.name, kind: 'tap' as const, network: p.network, lastError: 0 })),
      neighbours: [],
      fdb: [],
    };
  }

  async conntrackList(_limit: number): Promise<ConntrackRecord[]> {
    return [];
  }

  async conntrackFlush(): Promise<number> {
    return 0;
  }
}

/** The state file: what was last written, as a copy. */
export class FakeStateFile implements StateFile {
  saved: PersistedState | null = null;

  constructor(private readonly journal: Journal) {}

  load(): PersistedState | null {
    return this.saved === null ? null : structuredClone(this.saved);
  }

  save(state: PersistedState): void {
    this.journal.record('save');
    this.saved = structuredClone(state);
  }

  /** "NETWORK: ENDPOINT@IP ..." of every saved network. */
  summary(): string[] {
    return (this.saved?.networks ?? []).map((n) => `${n.name}: ${n.endpoints.map((e) => `${e.name}@${e.ip}`).join(' ')}`.trimEnd());
  }
}

/** A cluster store shared by every host in a test: networks, address claims, endpoints; events by hand. */
export class FakeCluster implements ClusterStore {
  readonly kind: string = 'fake';
  readonly networks = new Map<string, OverlayNetworkDef>();
  /** network id → ip → owner */
  readonly claims = new Map<string, Map<string, string>>();
  readonly endpoints = new Map<string, OverlayEndpointDef>();
  readonly joined = new Set<string>();
  private onEvent: ((e: ClusterEvent) => void) | null = null;

  constructor(private readonly journal: Journal) {}

  /** Tells the service about a change, as the store's watch would. */
  emit(e: ClusterEvent): void {
    this.onEvent?.(e);
  }

  async start(onEvent: (e: ClusterEvent) => void): Promise<void> {
    this.onEvent = onEvent;
  }

  async createNetwork(def: OverlayNetworkDef): Promise<void> {
    this.journal.record(`cluster network+ ${def.name}`);
    this.networks.set(def.id, def);
    // the store's watch reports the new network to this host too, soon after
    queueMicrotask(() => this.emit({ kind: 'network-added', network: def }));
  }

  private readonly removedNames = new Map<string, string>();

  async removeNetwork(networkId: string): Promise<void> {
    this.journal.record(`cluster network- ${this.networks.get(networkId)?.name}`);
    const name = this.networks.get(networkId)?.name;
    if (name !== undefined) this.removedNames.set(networkId, name);
    this.networks.delete(networkId);
  }

  async claimAddress(networkId: string, owner: string, candidates: Iterable<string>, requested?: string): Promise<string> {
    const claims = this.claims.get(networkId) ?? new Map<string, string>();
    let ip = requested;
    if (ip !== undefined && claims.has(ip) && claims.get(ip) !== owner) throw new ApiFailure(409, `address ${ip} is already in use`);
    if (ip === undefined) {
      // lazily, as the real stores: an IPv6 subnet's candidates are a generator over 2^53 addresses
      for (const c of candidates) {
        if (!claims.has(c)) {
          ip = c;
          break;
        }
      }
    }
    if (ip === undefined) throw new ApiFailure(409, 'no available addresses');
    this.journal.record(`claim ${ip}`);
    claims.set(ip, owner);
    this.claims.set(networkId, claims);
    return ip;
  }

  async releaseAddress(networkId: string, ip: string): Promise<void> {
    this.journal.record(`release ${ip}`);
    this.claims.get(networkId)?.delete(ip);
  }

  /** routed overlays: network id → subnet → lease */
  readonly subnets = new Map<string, Map<string, SubnetLease>>();
  private readonly following = new Set<string>();

  async leaseSubnet(networkId: string, candidates: Iterable<string>, lease: SubnetLease, preferred?: string): Promise<string> {
    const leases = this.subnets.get(networkId) ?? new Map<string, SubnetLease>();
    this.subnets.set(networkId, leases);
    const free = (c: string) => !leases.has(c) || leases.get(c)!.publicIp === lease.publicIp;
    let subnet = preferred !== undefined && free(preferred) ? preferred : undefined;
    if (subnet === undefined) {
      for (const c of candidates) {
        if (free(c)) {
          subnet = c;
          break;
        }
      }
    }
    if (subnet === undefined) throw new ApiFailure(409, 'no free host subnet');
    this.journal.record(`lease ${subnet} ${lease.publicIp}`);
    const l = { ...lease, subnet };
    leases.set(subnet, l);
    if (this.following.has(networkId)) queueMicrotask(() => this.emit({ kind: 'subnet-up', networkId, lease: l }));
    return subnet;
  }

  async releaseSubnet(networkId: string, subnet: string): Promise<void> {
    this.journal.record(`unlease ${subnet}`);
    this.subnets.get(networkId)?.delete(subnet);
  }

  followSubnets(def: OverlayNetworkDef): void {
    this.following.add(def.id);
    const leases = [...(this.subnets.get(def.id)?.values() ?? [])];
    queueMicrotask(() => {
      for (const lease of leases) this.emit({ kind: 'subnet-up', networkId: def.id, lease });
    });
  }

  unfollowSubnets(networkId: string): void {
    this.following.delete(networkId);
  }

  async joinNetwork(networkId: string): Promise<void> {
    this.journal.record(`join ${this.networks.get(networkId)?.name}`);
    this.joined.add(networkId);
  }

  async leaveNetwork(networkId: string): Promise<void> {
    // after removeNetwork too: the name it had
    this.journal.record(`leave ${this.networks.get(networkId)?.name ?? this.removedNames.get(networkId)}`);
    this.joined.delete(networkId);
  }

  async registerEndpoint(ep: OverlayEndpointDef): Promise<void> {
    this.journal.record(`register ${ep.name} ${ep.ip} at ${ep.vtep}`);
    this.endpoints.set(ep.id, ep);
  }

  async unregisterEndpoint(_networkId: string, endpointId: string): Promise<void> {
    this.journal.record(`unregister ${this.endpoints.get(endpointId)?.name}`);
    this.endpoints.delete(endpointId);
  }

  /** foreign peers, by "network id/vtep" */
  readonly foreign = new Map<string, ForeignPeerDef>();

  /** As etcd's watch reports a foreign peer's keys: its VTEP, then its endpoints (addresses with a MAC). */
  async addForeignPeer(def: ForeignPeerDef): Promise<void> {
    const key = `${def.network}/${def.vtep}`;
    if (this.foreign.has(key)) throw new ApiFailure(409, `VTEP ${def.vtep} is already a member of network ${def.network}`);
    const claims = this.claims.get(def.network) ?? new Map<string, string>();
    for (const a of def.addresses) if (claims.has(a.ip)) throw new ApiFailure(409, `address ${a.ip} is already in use`);
    this.journal.record(`foreign+ ${def.vtep} ${def.addresses.map((a) => a.ip).join(',')}`);
    for (const a of def.addresses) claims.set(a.ip, `peer:${def.vtep}`);
    this.claims.set(def.network, claims);
    this.foreign.set(key, def);
    queueMicrotask(() => {
      this.emit({ kind: 'vtep-up', networkId: def.network, vtep: def.vtep });
      for (const a of def.addresses) if (a.mac !== undefined) this.emit({ kind: 'endpoint-up', endpoint: foreignEndpointDef(def, { ip: a.ip, mac: a.mac }) });
    });
  }

  async removeForeignPeer(networkId: string, vtep: string): Promise<void> {
    const def = this.foreign.get(`${networkId}/${vtep}`);
    if (def === undefined) throw new ApiFailure(404, `VTEP ${vtep} is not a peer of network ${networkId}`);
    this.journal.record(`foreign- ${vtep}`);
    this.foreign.delete(`${networkId}/${vtep}`);
    for (const a of def.addresses) this.claims.get(networkId)?.delete(a.ip);
    queueMicrotask(() => {
      for (const a of def.addresses) if (a.mac !== undefined) this.emit({ kind: 'endpoint-down', networkId, endpointId: foreignEndpointDef(def, { ip: a.ip, mac: a.mac }).id });
      this.emit({ kind: 'vtep-down', networkId, vtep });
    });
  }

  async foreignPeers(networkId: string): Promise<ForeignPeerDef[]> {
    return [...this.foreign.values()].filter((d) => d.network === networkId);
  }

  healthy(): boolean {
    return true;
  }

  async close(): Promise<void> {
    this.onEvent = null;
  }
}

/** /etc/netns/NAME/resolv.conf, by namespace name: the nameserver pontoon wrote, or 'foreign'. */
export class FakeResolvConfs implements ResolvConfFiles {
  readonly files = new Map<string, string>();

  write(netnsName: string, nameserver: string): 'written' | 'unchanged' | 'foreign' {
    const existing = this.files.get(netnsName);
    if (existing === 'foreign') return 'foreign';
    if (existing === nameserver) return 'unchanged';
    this.files.set(netnsName, nameserver);
    return 'written';
  }

  remove(netnsName: string): boolean {
    if (this.files.get(netnsName) === 'foreign') return false;
    return this.files.delete(netnsName);
  }
}

/** The daemon's defaults, with `overrides` on top of sections. */
export function testConfig(
  overrides: {
    cluster?: Partial<PontoonConfig['cluster']>;
    dns?: Partial<PontoonConfig['dns']>;
    docker?: Partial<PontoonConfig['docker']>;
    services?: Partial<PontoonConfig['services']>;
  } = {},
): PontoonConfig {
  const c = parseConfig('', 'test.yaml');
  return {
    ...c,
    cluster: { ...c.cluster, ...overrides.cluster },
    dns: { ...c.dns, ...overrides.dns },
    docker: { ...c.docker, ...overrides.docker },
    services: { ...c.services, ...overrides.services },
  };
}

/** One host: the kernel side, which outlives daemons, and the daemon's state file. */
export class FakeHost {
  readonly journal = new Journal();
  readonly devices = new FakeHostDevices(this.journal);
  readonly store = new FakeStateFile(this.journal);
  readonly resolvConfs = new FakeResolvConfs();

  constructor(readonly config: PontoonConfig = testConfig()) {}

  /** A daemon on this host: a fresh service and data plane over the same devices and state file. */
  daemon(cluster: FakeCluster | null = null, explicitMappings: ExplicitMappings | null = null): { service: NetworkService; dataplane: FakeDataplane } {
    const dataplane = new FakeDataplane(this.journal);
    const service = new NetworkService({
      config: this.config,
      store: this.store,
      dataplane,
      devices: this.devices,
      resolvConfs: this.resolvConfs,
      log: pino({ level: 'silent' }),
      cluster,
      explicitMappings,
    });
    return { service, dataplane };
  }
}
