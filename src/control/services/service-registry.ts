// Services (`pontoon service`): a VIP whose new flows the data plane DNATs to one of its backends.
// The registry keeps each service's record (services.json for the networks of this host, the
// cluster store for overlay networks, so every host programs the same service), derives its
// backends from the network's endpoints (the name table holds every endpoint, local and on other
// hosts, with its aliases: a backend is one with the selector's alias, or one of the named
// containers), programs the data plane with the whole backend list whenever it changes, and gives
// the embedded DNS the service's names (NAME and NAME.NETWORK.svc: the VIP; tasks.NAME: every
// backend). A backend whose container dies leaves within a fraction of a second: the namespaces of
// local backends are watched more often than the daemon's reconcile pass looks at every endpoint.

import type { Logger } from 'pino';
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { cidrContains, cidrsOverlap, ipv4ToString, parseCidr, parseIpv4OrNull, type Ipv4Cidr } from '../../wire/ipv4-address.js';
import { MAX_BACKENDS, MAX_SERVICES, type ServiceSpec } from '../../dataplane/service-table.js';
import { SERVICE_FIELDS, SVC_ACTIVE, SVC_BACKEND_IP, SVC_BYTES, SVC_NEW_FLOWS, SVC_REFUSED_BASE } from '../../dataplane/counters.js';
import type { ServiceBackendResource, ServiceCreateRequest, ServiceResource } from '../api-types.js';
import type { ClusterStore } from '../cluster/cluster-store.js';
import { canonicalName, isDnsName, type NameEntry, type NameTable } from '../dns/name-table.js';
import { ApiFailure } from '../gateway-api.js';
import type { HostDevices } from '../host-devices.js';
import { isIpv6Only, type LiveNetwork } from '../live-network.js';
import type { LiveNetworks } from '../network/live-networks.js';
import type { ServiceDataplane } from '../network/service-dataplane.js';
import { writeFileAtomic } from '../state-store.js';
import type { ServiceClusterEvent, ServiceClusterStore } from './service-cluster.js';
import { checkPortNumber, parseAffinity, parseServicePort, type ServiceRecord, servicesFileSchema } from './service-record.js';

/** How often the namespaces of local backends are looked at (the reconcile pass runs every 2 s). */
const BACKEND_WATCH_MS = 200;
const SERVICES_FILE = 'services.json';

interface Backend {
  name: string;
  ip: string;
  /** '' for an endpoint of this host, else its VTEP */
  host: string;
  /** a local endpoint's network namespace, to notice it vanish */
  netns?: { path: string; dev: number; ino: number };
}

interface LiveService {
  record: ServiceRecord;
  /** data-plane slot */
  slot: number;
  backends: Backend[];
  /** the backend list last given to the data plane, as a key (nothing changed: nothing sent) */
  programmed: string;
}

export interface ServiceRegistryDeps {
  /** config services.cidr */
  cidr: string;
  /** where services.json is kept; null: nowhere (tests) */
  stateDir: string | null;
  networks: LiveNetworks;
  names: NameTable;
  dataplane: ServiceDataplane;
  devices: Pick<HostDevices, 'netnsExists' | 'addHostRoute' | 'hostRoutes'>;
  /** the overlay networks' cluster store (VIPs inside a subnet are claimed there) and the services' one; null: none */
  cluster: ClusterStore | null;
  serviceStore: ServiceClusterStore | null;
  /** removes endpoints whose namespace vanished (the daemon's reconcile pass) */
  reconcile: () => Promise<void>;
  log: Logger;
}

export class ServiceRegistry {
  private readonly byName = new Map<string, LiveService>();
  private readonly range: Ipv4Cidr;
  /** data-plane calls, in order */
  private chain: Promise<void> = Promise.resolve();
  private readonly dirty = new Set<string>();
  private flushing = false;
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private rangeSet = false;
  /** services being created here: their own event from the cluster store is not theirs to program */
  private readonly creating = new Map<string, string>();

  constructor(private readonly deps: ServiceRegistryDeps) {
    this.range = parseCidr(deps.cidr);
  }

  // ---- start-up -----------------------------------------------------------------------------------

  /** After the networks and endpoints are back: the saved services, the cluster's, then following both. */
  async start(): Promise<void> {
    const { names, log } = this.deps;
    for (const rec of this.load()) {
      try {
        await this.program(rec);
      } catch (err) {
        log.warn({ service: rec.name, err: (err as Error).message }, 'service dropped at start-up');
      }
    }
    names.onEndpointsChanged = (networkId) => this.endpointsChanged(networkId);
    this.started = true;
    if (this.deps.serviceStore !== null) await this.deps.serviceStore.start((e) => void this.clusterEvent(e));
    this.timer = setInterval(() => this.watchBackends(), BACKEND_WATCH_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.deps.names.onEndpointsChanged = null;
    await this.deps.serviceStore?.close().catch(() => undefined);
  }

  private load(): ServiceRecord[] {
    const dir = this.deps.stateDir;
    if (dir === null) return [];
    const file = join(dir, SERVICES_FILE);
    if (!existsSync(file)) return [];
    const r = servicesFileSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!r.success) {
      this.deps.log.warn({ file }, 'services file is not valid: no service restored');
      return [];
    }
    return r.data.services as ServiceRecord[];
  }

  private save(): void {
    const dir = this.deps.stateDir;
    if (dir === null) return;
    // overlay networks' services live in the cluster store
    const services = [...this.byName.values()].map((s) => s.record).filter((r) => !this.inCluster(r));
    writeFileAtomic(dir, join(dir, SERVICES_FILE), JSON.stringify({ version: 1, services }, null, 2) + '\n');
  }

  private inCluster(r: ServiceRecord): boolean {
    return this.deps.serviceStore !== null && this.deps.networks.get(r.network)?.record.driver === 'overlay';
  }

  // ---- API ----------------------------------------------------------------------------------------

  list(): Promise<ServiceResource[]> {
    return Promise.resolve([...this.byName.values()].sort((a, b) => a.record.name.localeCompare(b.record.name)).map((s) => this.resource(s)));
  }

  inspect(name: string): ServiceResource {
    return this.resource(this.require(name));
  }

  /** The names of the services of a network (a network with services is not removed). */
  servicesOf(networkId: string): string[] {
    return [...this.byName.values()].filter((s) => s.record.network === networkId).map((s) => s.record.name);
  }

  async create(req: ServiceCreateRequest): Promise<ServiceResource> {
    const name = req.name;
    if (!isDnsName(name) || name.includes('.')) throw new ApiFailure(400, `invalid service name ${JSON.stringify(name)}: one DNS label (letters, digits, '-', '_')`);
    if (this.byName.has(name)) throw new ApiFailure(409, `service ${name} already exists`);
    const live = this.deps.networks.require(req.network);
    if (isIpv6Only(live.record) || live.record.driver === 'macvlan') {
      throw new ApiFailure(400, `service ${name}: network ${live.record.name} is ${isIpv6Only(live.record) ? 'IPv6-only' : 'a macvlan network'}: services need an IPv4 bridge or overlay network`);
    }
    const { proto, port } = parseServicePort(name, req.port);
    const targetPort = checkPortNumber(name, 'target port', req.targetPort) ?? port;
    const publish = checkPortNumber(name, 'published port', req.publish);
    const affinitySeconds = parseAffinity(name, req.affinity);
    if (req.selector !== undefined && req.backends !== undefined) throw new ApiFailure(400, `service ${name}: give --selector or --backend, not both`);
    if (req.selector !== undefined && !isDnsName(req.selector)) throw new ApiFailure(400, `service ${name}: invalid selector ${JSON.stringify(req.selector)}: an alias is a DNS name`);
    if (req.backends !== undefined && (req.backends.length === 0 || req.backends.some((b) => b === ''))) throw new ApiFailure(400, `service ${name}: --backend names a container`);
    if (publish !== undefined) this.checkPublishFree(name, proto, publish);
    const rec: ServiceRecord = {
      id: randomBytes(32).toString('hex'),
      name,
      network: live.record.id,
      proto,
      port,
      targetPort,
      vip: '',
      vipInSubnet: false,
      ...(req.selector !== undefined ? { selector: req.selector } : {}),
      ...(req.backends !== undefined ? { backends: [...req.backends] } : {}),
      affinitySeconds,
      ...(publish !== undefined ? { publish } : {}),
      created: new Date().toISOString(),
    };
    this.creating.set(name, rec.id);
    try {
      await this.claimVip(rec, live, req.vip);
      try {
        await this.program(rec);
      } catch (err) {
        await this.releaseVip(rec, live).catch(() => undefined);
        throw err instanceof ApiFailure ? err : new ApiFailure(409, `service ${name}: ${(err as Error).message}`);
      }
    } finally {
      this.creating.delete(name);
    }
    this.save();
    this.deps.log.info({ service: name, network: live.record.name, vip: rec.vip, port: `${port}/${proto}` }, 'service created');
    return this.resource(this.byName.get(name)!);
  }

  async remove(name: string): Promise<void> {
    const svc = this.require(name);
    await this.unprogram(svc);
    const live = this.deps.networks.get(svc.record.network);
    await this.releaseVip(svc.record, live).catch((err: Error) => this.deps.log.warn({ service: name, err: err.message }, 'VIP not released'));
    this.save();
    this.deps.log.info({ service: name }, 'service removed');
  }

  private require(name: string): LiveService {
    const s = this.byName.get(name);
    if (s === undefined) throw new ApiFailure(404, `no such service: ${name}`);
    return s;
  }

  private checkPublishFree(name: string, proto: 'tcp' | 'udp', port: number): void {
    for (const { m } of this.deps.networks.mappings()) {
      if (m.proto === proto && m.hostPort === port) throw new ApiFailure(409, `service ${name}: port ${port}/${proto} is already published`);
    }
    for (const s of this.byName.values()) {
      if (s.record.publish === port && s.record.proto === proto) throw new ApiFailure(409, `service ${name}: port ${port}/${proto} is already published by service ${s.record.name}`);
    }
  }

  // ---- VIPs ----------------------------------------------------------------------------------------

  /** The VIP: the one asked for (in services.cidr, or in the network's subnet, claimed there), or the lowest free one of services.cidr. */
  private async claimVip(rec: ServiceRecord, live: LiveNetwork, asked: string | undefined): Promise<void> {
    const store = this.inCluster(rec) ? this.deps.serviceStore : null;
    const taken = new Set([...this.byName.values()].map((s) => s.record.vip));
    if (asked !== undefined) {
      const n = parseIpv4OrNull(asked);
      if (n === null) throw new ApiFailure(400, `service ${rec.name}: invalid VIP ${JSON.stringify(asked)}: not an IPv4 address`);
      rec.vip = ipv4ToString(n);
      if (cidrContains(parseCidr(live.record.subnet), n)) {
        rec.vipInSubnet = true;
        const cluster = live.record.driver === 'overlay' ? this.deps.cluster : null;
        if (cluster !== null) {
          live.allocator.markUsed(await cluster.claimAddress(live.record.id, `service:${rec.name}`, [rec.vip], rec.vip));
        } else {
          live.allocator.allocate(rec.vip); // the network's address: no container gets it (409 when one has)
        }
      } else if (!cidrContains(this.range, n) || n === this.range.addr || n === (this.range.addr | ~maskOf(this.range.prefixLen)) >>> 0) {
        throw new ApiFailure(400, `service ${rec.name}: VIP ${rec.vip} is neither in services.cidr ${this.deps.cidr} nor in the subnet ${live.record.subnet} of network ${live.record.name}`);
      } else if (taken.has(rec.vip)) {
        throw new ApiFailure(409, `service ${rec.name}: VIP ${rec.vip} is already in use`);
      }
      if (store !== null && (await store.create(rec)) === 'vipTaken') {
        if (rec.vipInSubnet) await this.releaseVip({ ...rec }, live, false);
        throw new ApiFailure(409, `service ${rec.name}: VIP ${rec.vip} is already in use`);
      }
      return;
    }
    const last = (this.range.addr | ~maskOf(this.range.prefixLen)) >>> 0;
    for (let n = this.range.addr + 1; n < last; n++) {
      const ip = ipv4ToString(n);
      if (taken.has(ip)) continue;
      rec.vip = ip;
      if (store === null || (await store.create(rec)) === 'ok') return;
    }
    throw new ApiFailure(409, `service ${rec.name}: no free VIP in services.cidr ${this.deps.cidr}`);
  }

  private async releaseVip(rec: ServiceRecord, live: LiveNetwork | undefined, fromStore = true): Promise<void> {
    if (fromStore && this.inCluster(rec)) await this.deps.serviceStore!.remove(rec);
    if (!rec.vipInSubnet || live === undefined) return;
    live.allocator.release(rec.vip);
    if (live.record.driver === 'overlay' && this.deps.cluster !== null) await this.deps.cluster.releaseAddress(live.record.id, rec.vip);
  }

  // ---- the data plane -------------------------------------------------------------------------------

  /**
   * With the first service: the data plane refuses the services range's addresses that no service
   * has, and the host reaches VIPs through the gateway (its flows get this host's backends).
   */
  private async ensureRange(): Promise<void> {
    if (this.rangeSet) return;
    this.rangeSet = true;
    await this.inOrder(() => this.deps.dataplane.control.setServiceRange(this.range.addr, this.range.prefixLen));
    // never over a route of the host's own (a real cluster's service range, say)
    const taken = await this.deps.devices.hostRoutes().catch(() => [] as string[]);
    const clash = taken.find((r) => r !== this.deps.cidr && cidrsOverlap(parseCidr(r), this.range));
    if (clash !== undefined) {
      this.deps.log.warn({ cidr: this.deps.cidr, route: clash }, 'the host has a route into the services range: the host does not reach VIPs');
      return;
    }
    await this.deps.devices.addHostRoute(this.deps.cidr).catch((err: Error) => this.deps.log.warn({ cidr: this.deps.cidr, err: err.message }, 'no host route to the services range'));
  }

  /** Gives a service a slot, its backends and its published port in the data plane; throws, changing nothing, when refused. */
  private async program(rec: ServiceRecord): Promise<void> {
    await this.ensureRange();
    const live = this.deps.networks.get(rec.network);
    if (live === undefined) throw new Error(`network ${rec.network} does not exist`);
    const used = new Set([...this.byName.values()].map((s) => s.slot));
    let slot = 0;
    while (used.has(slot)) slot++;
    if (slot >= MAX_SERVICES) throw new ApiFailure(409, `service ${rec.name}: the data plane holds at most ${MAX_SERVICES} services`);
    const svc: LiveService = { record: rec, slot, backends: this.backendsOf(rec, live), programmed: '' };
    const control = this.deps.dataplane.control;
    await this.inOrder(() => control.setService(this.spec(svc, live)));
    svc.programmed = backendKey(svc.backends);
    if (rec.publish !== undefined) {
      try {
        await this.inOrder(() => control.addPublish({ proto: protoNumber(rec.proto), hostIp: 0, hostPort: rec.publish!, targetIp: parseIpv4OrNull(rec.vip)!, targetPort: rec.port }));
      } catch (err) {
        await this.inOrder(() => control.removeService(slot));
        throw new ApiFailure(409, `service ${rec.name}: ${(err as Error).message}`);
      }
    }
    this.byName.set(rec.name, svc);
    this.refreshNames(rec.network);
  }

  private async unprogram(svc: LiveService): Promise<void> {
    const control = this.deps.dataplane.control;
    this.byName.delete(svc.record.name);
    if (svc.record.publish !== undefined) await this.inOrder(() => control.removePublish(protoNumber(svc.record.proto), svc.record.publish!));
    await this.inOrder(() => control.removeService(svc.slot));
    this.refreshNames(svc.record.network);
  }

  private spec(svc: LiveService, live: LiveNetwork): ServiceSpec {
    const r = svc.record;
    return {
      slot: svc.slot,
      network: live.index,
      proto: protoNumber(r.proto),
      vip: parseIpv4OrNull(r.vip)!,
      port: r.port,
      targetPort: r.targetPort,
      affinityMs: r.affinitySeconds * 1000,
      backends: svc.backends.map((b) => ({ ip: parseIpv4OrNull(b.ip)!, local: b.host === '' })),
    };
  }

  /** Runs data-plane calls one after another (a backend change must not overtake the service's creation). */
  private inOrder<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** The service's backends now: the network's endpoints with the selector's alias, or the named containers, in address order. */
  private backendsOf(rec: ServiceRecord, live: LiveNetwork): Backend[] {
    const selector = rec.selector !== undefined ? canonicalName(rec.selector) : null;
    const named = new Set(rec.backends ?? []);
    const out: Backend[] = [];
    for (const e of this.deps.names.endpointsOf(rec.network)) {
      if (e.ip === '') continue;
      const chosen = selector !== null ? e.aliases.some((a) => canonicalName(a) === selector) : named.has(e.name);
      if (chosen) out.push(this.backend(e, live));
    }
    out.sort((a, b) => parseIpv4OrNull(a.ip)! - parseIpv4OrNull(b.ip)!);
    if (out.length > MAX_BACKENDS) {
      this.deps.log.warn({ service: rec.name, backends: out.length }, `a service has at most ${MAX_BACKENDS} backends: the first ones by address are used`);
      out.length = MAX_BACKENDS;
    }
    return out;
  }

  private backend(e: NameEntry, live: LiveNetwork): Backend {
    const local = live.endpoints.get(e.id);
    if (local !== undefined) {
      const r = local.record;
      return { name: e.name, ip: e.ip, host: '', netns: { path: r.netnsPath, dev: r.netnsDev, ino: r.netnsIno } };
    }
    return { name: e.name, ip: e.ip, host: live.remotes.get(e.id)?.vtep ?? '?' };
  }

  /** An endpoint of the network came, went or changed: its services' backends are worked out again (once per turn of the event loop). */
  private endpointsChanged(networkId: string): void {
    this.dirty.add(networkId);
    if (this.flushing) return;
    this.flushing = true;
    queueMicrotask(() => {
      this.flushing = false;
      const networks = [...this.dirty];
      this.dirty.clear();
      for (const id of networks) this.refreshBackends(id);
    });
  }

  private refreshBackends(networkId: string): void {
    const live = this.deps.networks.get(networkId);
    if (live === undefined) return;
    for (const svc of this.byName.values()) {
      if (svc.record.network !== networkId) continue;
      const backends = this.backendsOf(svc.record, live);
      const key = backendKey(backends);
      svc.backends = backends;
      if (key === svc.programmed) continue;
      svc.programmed = key;
      const spec = this.spec(svc, live);
      this.deps.log.info({ service: svc.record.name, backends: backends.map((b) => b.ip) }, 'service backends changed');
      void this.inOrder(() => this.deps.dataplane.control.setService(spec)).catch((err: Error) =>
        this.deps.log.error({ service: svc.record.name, err: err.message }, 'service backends not programmed'),
      );
    }
    this.refreshNames(networkId);
  }

  /** NAME and NAME.NETWORK.svc → the VIP, tasks.NAME (and tasks.NAME.NETWORK.svc) → every backend. */
  private refreshNames(networkId: string): void {
    const live = this.deps.networks.get(networkId);
    const names = new Map<string, string[]>();
    for (const s of this.byName.values()) {
      if (s.record.network !== networkId || live === undefined) continue;
      const n = canonicalName(s.record.name);
      const svc = `${n}.${canonicalName(live.record.name)}.svc`;
      const tasks = s.backends.map((b) => b.ip);
      names.set(n, [s.record.vip]);
      names.set(svc, [s.record.vip]);
      names.set(`tasks.${n}`, tasks);
      names.set(`tasks.${svc}`, tasks);
    }
    this.deps.names.setServiceNames(networkId, names);
  }

  /** A local backend's namespace vanished (its container died): the reconcile pass removes its endpoint now, not within 2 s. */
  private watchBackends(): void {
    for (const s of this.byName.values()) {
      for (const b of s.backends) {
        if (b.netns === undefined || b.netns.ino === 0) continue;
        if (this.deps.devices.netnsExists(b.netns)) continue;
        void this.deps.reconcile();
        return;
      }
    }
  }

  // ---- the cluster store ------------------------------------------------------------------------------

  private async clusterEvent(e: ServiceClusterEvent): Promise<void> {
    const log = this.deps.log;
    try {
      if (e.kind === 'service-down') {
        const svc = this.byName.get(e.name);
        if (svc !== undefined && this.inCluster(svc.record)) await this.unprogram(svc);
        return;
      }
      const rec = e.service;
      if (this.creating.get(rec.name) === rec.id) return; // being created here
      const known = this.byName.get(rec.name);
      if (known !== undefined) {
        if (known.record.id === rec.id) return; // ours, or already programmed
        if (!this.inCluster(known.record)) {
          log.warn({ service: rec.name }, 'a service of the cluster has the name of one of this host: not programmed here');
          return;
        }
        await this.unprogram(known);
      }
      if (this.deps.networks.get(rec.network) === undefined) {
        log.warn({ service: rec.name, network: rec.network }, 'a service of the cluster is on a network this host does not have: not programmed');
        return;
      }
      await this.program(rec);
      log.info({ service: rec.name, vip: rec.vip }, 'service of the cluster programmed');
    } catch (err) {
      log.error({ service: e.kind === 'service-up' ? e.service.name : e.name, err: (err as Error).message }, 'service of the cluster not programmed');
    }
  }

  // ---- views and metrics --------------------------------------------------------------------------------

  private resource(s: LiveService): ServiceResource {
    const r = s.record;
    const live = this.deps.networks.get(r.network);
    const c = this.deps.dataplane.counters.services;
    // backend slots keep their counters as long as the backend stays: found by address
    const stats = this.slotsOf(s);
    const backends: ServiceBackendResource[] = s.backends.map((b) => {
      const slot = stats.get(b.ip);
      const at = slot === undefined ? -1 : slot * SERVICE_FIELDS;
      return {
        Name: b.name,
        IP: b.ip,
        Host: b.host === '' ? 'local' : b.host,
        NewFlows: at < 0 ? 0 : c[at + SVC_NEW_FLOWS]!,
        Bytes: at < 0 ? 0 : c[at + SVC_BYTES]!,
        ActiveFlows: at < 0 ? 0 : c[at + SVC_ACTIVE]!,
      };
    });
    return {
      Name: r.name,
      Id: r.id,
      Network: live?.record.name ?? r.network,
      NetworkID: r.network,
      VIP: r.vip,
      Protocol: r.proto,
      Port: r.port,
      TargetPort: r.targetPort,
      Selector: r.selector ?? null,
      Containers: r.backends ?? [],
      Affinity: r.affinitySeconds === 0 ? 'none' : `client-ip:${r.affinitySeconds}`,
      Publish: r.publish ?? null,
      Backends: backends,
      Refused: c[SVC_REFUSED_BASE + s.slot]!,
      Created: r.created,
    };
  }

  /** Backend address → its data-plane slot (the data plane writes each slot's address beside its counters). */
  private slotsOf(s: LiveService): Map<string, number> {
    const out = new Map<string, number>();
    const c = this.deps.dataplane.counters.services;
    for (let i = 0; i < MAX_BACKENDS; i++) {
      const b = s.slot * MAX_BACKENDS + i;
      const ip = c[b * SERVICE_FIELDS + SVC_BACKEND_IP]!;
      if (ip !== 0) out.set(ipv4ToString(ip), b);
    }
    return out;
  }

  /** Per service and backend, for the metrics: labels and the counters' slots. */
  metricsView(): { service: string; network: string; slot: number; backends: { backend: string; slot: number }[] }[] {
    return [...this.byName.values()].map((s) => {
      const slots = this.slotsOf(s);
      return {
        service: s.record.name,
        network: this.deps.networks.get(s.record.network)?.record.name ?? s.record.network,
        slot: s.slot,
        backends: s.backends.filter((b) => slots.has(b.ip)).map((b) => ({ backend: `${b.name}/${b.ip}`, slot: slots.get(b.ip)! })),
      };
    });
  }

  /** Whether the registry follows endpoints yet (tests). */
  get running(): boolean {
    return this.started;
  }
}

function maskOf(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (~0 << (32 - prefixLen)) >>> 0;
}

function protoNumber(p: 'tcp' | 'udp'): 6 | 17 {
  return p === 'udp' ? 17 : 6;
}

function backendKey(b: Backend[]): string {
  return b.map((x) => `${x.ip}${x.host === '' ? '' : '@'}`).join(',');
}
