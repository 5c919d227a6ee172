// Attaching a container to a network and detaching it: its address, its TAP device inside the
// container's namespace, its data-plane port, its published ports, its registration in the
// cluster store (overlay), its DNS name and its state record. Each step that makes something
// pushes its undo; a failure anywhere unwinds them, last made first, so a connect either happens
// completely or leaves nothing behind.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { EndpointSpec } from '../../dataplane/specs.js';
import type { AnyPublishRule } from '../../dataplane/published-ports.js';
import { Family } from '../../dataplane/conntrack.js';
import { parseMac } from '../../wire/mac.js';
import type { ConnectRequest, ContainerLink } from '../api-types.js';
import { checkLinks } from '../container-links.js';
import { type NameEntry, type NameTable, isDnsName } from '../dns/name-table.js';
import { ApiFailure } from '../gateway-api.js';
import type { HostDevices, InterfaceConfig } from '../host-devices.js';
import { parseCidr } from '../../wire/ipv4-address.js';
import { IPV6_GATEWAY_LINK_LOCAL, ipv6ToString, parseCidr6, parseIpv6 } from '../../wire/ipv6-address.js';
import { isIpv6Only, type LiveEndpoint, type LiveNetwork } from '../live-network.js';
import { isIpv6Text } from '../ipam6.js';
import type { NetnsRef } from '../netns.js';
import { type EndpointFamilies, isIpv6Mapping, type PortMapping, planPublish } from '../publish.js';
import { isLoopbackAddress, type LoopbackProxies } from '../loopback-proxy.js';
import type { EndpointRecord } from '../state-store.js';
import { candidateAddresses, candidateAddresses6, ipv4, macForIp, macForIpv6 } from './addresses.js';
import type { ServiceDataplane } from './service-dataplane.js';
import type { LiveNetworks } from './live-networks.js';
import type { OverlaySync } from './overlay-sync.js';
import type { ResolvConfSync } from './resolv-conf-sync.js';
import { UndoStack } from './undo-stack.js';

const protoNumber = (m: PortMapping): 6 | 17 => (m.proto === 'udp' ? 17 : 6);

/** The families an endpoint is reached by, for publishing: those of its addresses. */
function endpointFamilies(live: LiveNetwork, ep: LiveEndpoint): EndpointFamilies {
  return { ipv4: ep.record.ip !== '', ipv6: ep.record.ip6 !== undefined, network: live.record.name };
}

function publishRule(ep: EndpointRecord, m: PortMapping): AnyPublishRule {
  if (isIpv6Mapping(m)) {
    return {
      family: Family.Ipv6,
      proto: protoNumber(m),
      hostIp: parseIpv6(m.hostIp),
      hostPort: m.hostPort,
      targetIp: parseIpv6(ep.ip6!),
      targetPort: m.containerPort,
    };
  }
  return {
    proto: protoNumber(m),
    hostIp: m.hostIp === '0.0.0.0' ? 0 : ipv4(m.hostIp),
    hostPort: m.hostPort,
    targetIp: ipv4(ep.ip),
    targetPort: m.containerPort,
  };
}

function nameEntry(r: EndpointRecord): NameEntry {
  return {
    id: r.id,
    name: r.name,
    ip: r.ip,
    ...(r.ip6 !== undefined ? { ip6: r.ip6 } : {}),
    aliases: r.aliases,
    ...(r.links !== undefined ? { links: r.links } : {}),
    sandbox: `${r.netnsDev}:${r.netnsIno}`,
  };
}

/** Docker's bridge gateway on every IPv6 network: the containers' IPv6 default route goes via it. */
const GATEWAY_LINK_LOCAL = ipv6ToString(IPV6_GATEWAY_LINK_LOCAL);

function interfaceConfig(live: LiveNetwork, r: EndpointRecord): InterfaceConfig {
  const v6 = live.record.ipv6;
  // an endpoint of an IPv6-only network: no IPv4 address, no IPv4 route
  const hasIpv4 = r.ip !== '';
  return {
    mac: r.mac,
    cidr: hasIpv4 ? `${r.ip}/${parseCidr(live.record.subnet).prefixLen}` : null,
    mtu: live.record.mtu,
    gateway: live.record.internal || !hasIpv4 ? null : live.record.gateway,
    ...(v6 !== undefined && r.ip6 !== undefined
      ? { ipv6: { cidr: `${r.ip6}/${parseCidr6(v6.subnet).prefixLen}`, gateway: live.record.internal ? null : live.record.macvlan !== undefined ? v6.gateway : GATEWAY_LINK_LOCAL } }
      : {}),
  };
}

export class EndpointAttach {
  /** addresses a published port answers on: the uplink's and the host link's gateway address */
  private readonly publishAddresses: string[];
  /** the same for IPv6 ([] when the gateway has no IPv6 address to publish on) */
  private readonly publishAddresses6: string[];

  constructor(
    private readonly deps: {
      /** the gateway's address on the host link, and the uplink's address ("a.b.c.d/len") if there is one */
      gatewayAddress: string;
      uplinkAddress: string | null;
      /** their IPv6 counterparts (the host link's gateway address, the uplink's "addr/len"), null when absent */
      gatewayAddress6?: string | null;
      uplinkAddress6?: string | null;
      /** TAP devices carry virtio-net headers */
      vnet: boolean;
      /** every device the daemon creates starts with this */
      devicePrefix: string;
      networks: LiveNetworks;
      names: NameTable;
      dataplane: ServiceDataplane;
      /** ports published on the host's loopback: relayed by the daemon, never in the data plane */
      loopback: LoopbackProxies;
      devices: HostDevices;
      /** null: no cluster store, overlay networks are local */
      overlay: OverlaySync | null;
      resolvConf: ResolvConfSync;
      log: Logger;
      /** the endpoint with this address left: what it asked the gateway for goes too (NAT-PMP/PCP mappings) */
      endpointGone?: (ip: number) => Promise<void>;
    },
  ) {
    this.publishAddresses = [deps.gatewayAddress];
    this.publishAddresses6 = [deps.uplinkAddress6?.split('/')[0], deps.gatewayAddress6]
      .filter((a): a is string => typeof a === 'string')
      .map((a) => ipv6ToString(parseIpv6(a)));
    if (deps.uplinkAddress !== null) this.publishAddresses.unshift(deps.uplinkAddress.split('/')[0]!);
  }

  /** `network connect`: everything or nothing. Errors are one-line ApiFailures. */
  async connect(live: LiveNetwork, req: ConnectRequest): Promise<LiveEndpoint> {
    const { devices, log } = this.deps;
    const ns = devices.resolveNetns(req.netns);
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
    const links = checkLinks(req.links ?? [], name, live);
    if (req.ifName !== undefined && (await devices.interfaceNames(ns.path)).includes(req.ifName)) {
      throw new ApiFailure(409, `interface ${req.ifName} already exists in ${ns.name}`);
    }
    if (req.ip6 !== undefined && live.allocator6 === null) {
      throw new ApiFailure(400, `network ${live.record.name} has no IPv6 (it was created without --ipv6): --ip6 ${req.ip6} cannot be given`);
    }
    const v6only = isIpv6Only(live.record);
    if (req.ip !== undefined && v6only) {
      throw new ApiFailure(400, `network ${live.record.name} has no IPv4 (it is IPv6-only): --ip ${req.ip} cannot be given (--ip6 gives its address)`);
    }
    if (live.record.macvlan !== undefined && (req.publish ?? []).length > 0) {
      throw new ApiFailure(400, `network ${live.record.name} is a macvlan network: its containers are on the LAN at their own addresses, there is no port to publish (-p ${req.publish![0]})`);
    }
    this.refusePassthruShared(live);
    const ports = this.planPublish(req.publish ?? [], name, { ipv4: !v6only, ipv6: live.allocator6 !== null, network: live.record.name });
    const endpointId = randomBytes(32).toString('hex');
    const onUndoFailure = (what: string, err: Error): void =>
      log.warn({ network: live.record.name, endpoint: name, err: err.message }, `cleanup failed: cannot remove ${what}`);
    return UndoStack.run(onUndoFailure, async (undo) => {
      // a refused address passes as it is: the allocators' refusals are one-line ApiFailures already
      const ip = v6only ? '' : await this.claimAddress(live, endpointId, req.ip, undo);
      const ip6 = await this.claimAddress6(live, endpointId, req.ip6, undo);
      try {
        return await this.attach(live, { id: endpointId, name, ns, ip, ip6, aliases, links, ports, ifName: req.ifName, containerId: req.containerId }, undo);
      } catch (err) {
        if (err instanceof ApiFailure) throw err;
        throw new ApiFailure(500, `cannot connect ${ns.name} to network ${live.record.name}: ${(err as Error).message}`);
      }
    });
  }

  /** A macvlan network in passthru mode carries one container: its parent is that container's alone. */
  private refusePassthruShared(live: LiveNetwork): void {
    if (live.record.macvlan?.mode === 'passthru' && live.endpoints.size > 0) {
      throw new ApiFailure(409, `network ${live.record.name} is macvlan_mode passthru: its parent is ${[...live.endpoints.values()][0]!.record.name}'s alone`);
    }
  }

  /**
   * Checks `--publish` specs against every published port and picks host ports for those without
   * one, for an endpoint of these families (on an IPv6-only network only IPv6 host addresses reach it).
   */
  private planPublish(specs: string[], name: string, families: EndpointFamilies): PortMapping[] {
    const published = [...this.deps.networks.mappings()].map(({ live, ep, m }) => ({
      proto: m.proto,
      hostPort: m.hostPort,
      hostIp: m.hostIp,
      holder: `${ep.record.name} on network ${live.record.name}`,
    }));
    return planPublish(specs, name, published, this.publishAddresses, this.publishAddresses6, families);
  }

  /** The endpoint's address: this host's allocator, and for an overlay network the cluster's too. */
  private async claimAddress(live: LiveNetwork, endpointId: string, requested: string | undefined, undo: UndoStack): Promise<string> {
    const local = live.allocator;
    const overlay = this.claimsOf(live);
    if (overlay === null) {
      const ip = local.allocate(requested);
      undo.push(`address ${ip}`, () => local.release(ip));
      return ip;
    }
    if (requested !== undefined) {
      local.allocate(requested); // checks subnet and local use
      undo.push(`address ${requested}`, () => local.release(requested));
    }
    const r = live.record;
    const candidates = (function* () {
      for (const a of candidateAddresses(r.subnet, r.gateway, r.ipRange)) if (!local.has(a)) yield a;
    })();
    const ip = await overlay.cluster.claimAddress(r.id, endpointId, candidates, requested);
    undo.push(`address ${ip} in the cluster store`, () => overlay.cluster.releaseAddress(r.id, ip));
    if (requested === undefined) {
      local.markUsed(ip);
      undo.push(`address ${ip}`, () => local.release(ip));
    }
    return ip;
  }

  /**
   * The endpoint's IPv6 address on a network with IPv6 (undefined without): this host's allocator,
   * and for an overlay network the cluster's too, as claimAddress does for IPv4.
   */
  private async claimAddress6(live: LiveNetwork, endpointId: string, requested: string | undefined, undo: UndoStack): Promise<string | undefined> {
    const a6 = live.allocator6;
    const v6 = live.record.ipv6;
    if (a6 === null || v6 === undefined) return undefined;
    const overlay = this.claimsOf(live);
    if (overlay === null || requested !== undefined) {
      // checks subnet and local use; the text is RFC 5952's, as the store's keys are
      const local = a6.allocate(requested);
      undo.push(`address ${local}`, () => a6.release(local));
      if (overlay === null) return local;
      requested = local;
    }
    const candidates = (function* () {
      for (const a of candidateAddresses6(v6.subnet, v6.gateway, v6.ipRange)) if (!a6.has(a)) yield a;
    })();
    const id = live.record.id;
    const ip6 = await overlay.cluster.claimAddress(id, endpointId, candidates, requested);
    undo.push(`address ${ip6} in the cluster store`, () => overlay.cluster.releaseAddress(id, ip6));
    if (requested === undefined) {
      a6.markUsed(ip6);
      undo.push(`address ${ip6}`, () => a6.release(ip6));
    }
    return ip6;
  }

  private async attach(
    live: LiveNetwork,
    ep: { id: string; name: string; ns: NetnsRef; ip: string; ip6?: string; aliases: string[]; links: ContainerLink[]; ports: PortMapping[]; ifName?: string; containerId?: string },
    undo: UndoStack,
  ): Promise<LiveEndpoint> {
    const { networks, names, devices, resolvConf, log } = this.deps;
    const ifName = ep.ifName ?? (await devices.nextInterfaceName(ep.ns.path));
    const record: EndpointRecord = {
      id: ep.id,
      name: ep.name,
      netnsPath: ep.ns.path,
      netnsDev: ep.ns.dev,
      netnsIno: ep.ns.ino,
      ifName,
      ...(ep.containerId !== undefined ? { containerId: ep.containerId } : {}),
      mac: ep.ip !== '' ? macForIp(ep.ip) : macForIpv6(ep.ip6!, new Set([...live.endpoints.values()].map((e) => e.record.mac))),
      ip: ep.ip,
      ...(ep.ip6 !== undefined ? { ip6: ep.ip6 } : {}),
      aliases: ep.aliases,
      ...(ep.links.length > 0 ? { links: ep.links } : {}),
      created: new Date().toISOString(),
      ports: ep.ports,
    };
    const fd = devices.openTap(record.netnsPath, ifName);
    undo.push(`TAP device ${ifName}`, () => devices.removeTap(fd));
    // the address and the default route go with the device: no undo of their own
    await devices.configureInterface(record.netnsPath, ifName, interfaceConfig(live, record));
    const portId = await this.addPort(live, record, fd, undo);
    const endpoint = await this.register(live, { record, fd, portId }, undo);
    log.info({ network: live.record.name, endpoint: record.name, ...(record.ip !== '' ? { ip: record.ip } : {}), ...(record.ip6 !== undefined ? { ip6: record.ip6 } : {}), ifName }, 'endpoint connected');
    resolvConf.sync(record.netnsPath);
    return endpoint;
  }

  /** The endpoint in the cluster store (overlay), in the DNS and in the state file. */
  private async register(live: LiveNetwork, endpoint: LiveEndpoint, undo: UndoStack): Promise<LiveEndpoint> {
    const { networks, names } = this.deps;
    const record = endpoint.record;
    const overlay = this.overlayOf(live);
    if (overlay !== null) {
      await overlay.cluster.registerEndpoint(overlay.endpointDef(live, record));
      undo.push('the endpoint in the cluster store', () => overlay.cluster.unregisterEndpoint(live.record.id, record.id));
    }
    names.setEndpoint(live.record.id, nameEntry(record));
    undo.push('the DNS name', () => names.deleteEndpoint(live.record.id, record.id));
    live.endpoints.set(record.id, endpoint);
    undo.push('the state record', () => {
      live.endpoints.delete(record.id);
      networks.trySave(); // the file may hold the record when only the directory's fsync failed
    });
    networks.save();
    return endpoint;
  }

  // ---- for Docker's drivers: the same steps, called one by one as Docker asks ---------------

  /** An address of the network for `owner` (Docker's IPAM and endpoints), claimed as a connect claims one. */
  allocateAddress(live: LiveNetwork, owner: string, requested?: string): Promise<string> {
    return UndoStack.run(this.undoLogger(live, owner), (undo) => this.claimAddress(live, owner, requested, undo));
  }

  /**
   * An IPv6 address of the network for `owner` (Docker's IPAM and endpoints), claimed as a connect
   * claims one (for an overlay, in the cluster store: no other host gives it out); 400 on a network without IPv6.
   */
  async allocateAddress6(live: LiveNetwork, owner: string, requested?: string): Promise<string> {
    if (live.allocator6 === null) throw new ApiFailure(400, `network ${live.record.name} has no IPv6 (it was created without --ipv6)`);
    const ip6 = await UndoStack.run(this.undoLogger(live, owner), (undo) => this.claimAddress6(live, owner, requested, undo));
    return ip6!;
  }

  /** Gives an IPv6 address back, to the network and (overlay) to the cluster store. */
  async releaseAddress6(live: LiveNetwork, ip6: string): Promise<void> {
    live.allocator6?.release(ip6);
    const overlay = this.claimsOf(live);
    if (overlay !== null) {
      await overlay.cluster.releaseAddress(live.record.id, ip6).catch((err: Error) => this.deps.log.warn({ err: err.message }, 'cannot release address'));
    }
  }

  /** Gives an address back, to the network and (overlay) to the cluster store. */
  async releaseAddress(live: LiveNetwork, ip: string): Promise<void> {
    live.allocator.release(ip);
    const overlay = this.claimsOf(live);
    if (overlay !== null) {
      await overlay.cluster.releaseAddress(live.record.id, ip).catch((err: Error) => this.deps.log.warn({ err: err.message }, 'cannot release address'));
    }
  }

  /**
   * Docker's Join: the endpoint's TAP made in the host's namespace with its MAC and MTU (Docker
   * moves it into the sandbox, names it and gives it its address), its data-plane port, its name.
   */
  joinDocker(live: LiveNetwork, ep: { id: string; name: string; ip: string; ip6?: string; mac: string; sandboxKey: string }): Promise<LiveEndpoint> {
    const { devices, log } = this.deps;
    this.refusePassthruShared(live);
    return UndoStack.run(this.undoLogger(live, ep.name), async (undo) => {
      // the TAP's name in the host's namespace until Docker renames it: unique by endpoint id
      const ifName = `${this.deps.devicePrefix}d${ep.id.slice(0, 14 - this.deps.devicePrefix.length)}`;
      const fd = await devices.openHostTap(ifName, { mac: ep.mac, mtu: live.record.mtu });
      undo.push(`TAP device ${ifName}`, () => devices.removeTap(fd));
      const record: EndpointRecord = {
        id: ep.id,
        name: ep.name,
        // the sandbox's namespace appears when the container starts, after Join: learnt then (sandboxKnown)
        netnsPath: ep.sandboxKey,
        netnsDev: 0,
        netnsIno: 0,
        ifName,
        mac: ep.mac,
        ip: ep.ip,
        ...(ep.ip6 !== undefined ? { ip6: ep.ip6 } : {}),
        aliases: [],
        created: new Date().toISOString(),
        ports: [],
        engine: 'docker',
      };
      const portId = await this.addPort(live, record, fd, undo);
      const endpoint = await this.register(live, { record, fd, portId }, undo);
      log.info({ network: live.record.name, endpoint: record.id.slice(0, 12), ip: record.ip, ifName, sandbox: record.netnsPath }, 'docker endpoint joined');
      return endpoint;
    });
  }

  /** The ports `specs` would publish for `name`, checked against those published already; changes nothing. */
  planPorts(live: LiveNetwork, ep: LiveEndpoint, specs: string[]): PortMapping[] {
    return this.planPublish(specs, ep.record.name, endpointFamilies(live, ep));
  }

  /** Publishes an endpoint's ports (Docker's ProgramExternalConnectivity); replaces any it had. */
  async publishPorts(live: LiveNetwork, ep: LiveEndpoint, specs: string[]): Promise<void> {
    await this.unpublishPorts(live, ep);
    const ports = this.planPublish(specs, ep.record.name, endpointFamilies(live, ep));
    await UndoStack.run(this.undoLogger(live, ep.record.name), async (undo) => {
      await this.addPublished(ep.record, ports, undo);
      ep.record.ports = ports;
      undo.push('the published ports in the state record', () => {
        ep.record.ports = [];
      });
      this.deps.networks.save();
    });
  }

  /** Takes an endpoint's published ports away (Docker's RevokeExternalConnectivity). */
  async unpublishPorts(live: LiveNetwork, ep: LiveEndpoint): Promise<void> {
    if (ep.record.ports.length === 0) return;
    await this.removePublished(ep.record);
    ep.record.ports = [];
    this.deps.networks.save();
  }

  /** The container's namespace appeared at the endpoint's sandbox key (after Join, when Docker started it). */
  sandboxKnown(ep: LiveEndpoint, ns: { dev: number; ino: number }): void {
    ep.record.netnsDev = ns.dev;
    ep.record.netnsIno = ns.ino;
    this.deps.networks.trySave();
  }

  /** What Docker's API told of an endpoint after its Join: its container's name and aliases, its device's name. */
  rename(live: LiveNetwork, ep: LiveEndpoint, change: { name?: string; aliases?: string[]; ifName?: string }): void {
    const r = ep.record;
    if (change.name !== undefined) r.name = change.name;
    if (change.aliases !== undefined) r.aliases = change.aliases;
    if (change.ifName !== undefined) r.ifName = change.ifName;
    this.deps.names.setEndpoint(live.record.id, nameEntry(r));
    this.deps.networks.trySave();
    this.deps.log.info({ network: live.record.name, endpoint: r.name, aliases: r.aliases, ifName: r.ifName }, 'docker endpoint named');
  }

  private undoLogger(live: LiveNetwork, endpoint: string): (what: string, err: Error) => void {
    return (what, err) => this.deps.log.warn({ network: live.record.name, endpoint, err: err.message }, `cleanup failed: cannot remove ${what}`);
  }

  /** The data-plane port of the TAP device and the endpoint's published ports. */
  private async addPort(live: LiveNetwork, record: EndpointRecord, fd: number, undo: UndoStack): Promise<number> {
    const { dataplane } = this.deps;
    const portId = await dataplane.control.addEndpoint(this.endpointSpec(live, record), fd);
    undo.push(`data-plane port ${portId}`, () => dataplane.control.removePort(portId));
    await this.addPublished(record, record.ports, undo);
    for (const route of this.hostAccessRoutes(live, record)) {
      await this.deps.devices.addHostRoute(route);
      undo.push(`the host route ${route}`, () => this.deps.devices.deleteHostRoute(route));
    }
    return portId;
  }

  /** A container of a macvlan network with host access: the host's routes to its own addresses, through the host link. */
  private hostAccessRoutes(live: LiveNetwork, r: EndpointRecord): string[] {
    if (live.record.macvlan?.hostAccess !== true) return [];
    return [...(r.ip !== '' ? [`${r.ip}/32`] : []), ...(r.ip6 !== undefined && this.deps.devices.routesIpv6 ? [`${r.ip6}/128`] : [])];
  }

  /** Published ports of an endpoint: in the data plane, or relayed by the daemon for a loopback address. */
  private async addPublished(record: EndpointRecord, ports: PortMapping[], undo: UndoStack): Promise<void> {
    const { dataplane, loopback } = this.deps;
    for (const m of ports) {
      if (isLoopbackAddress(m.hostIp)) {
        await loopback.start({ proto: m.proto, hostIp: m.hostIp, hostPort: m.hostPort, targetIp: record.ip, targetPort: m.containerPort });
        undo.push(`published port ${m.hostIp}:${m.hostPort}/${m.proto}`, () => loopback.stop(m.proto, m.hostIp, m.hostPort));
        continue;
      }
      const rule = publishRule(record, m);
      const family = rule.family ?? Family.Ipv4;
      if (rule.family === Family.Ipv6) await dataplane.control.addPublish6(rule);
      else await dataplane.control.addPublish(rule);
      undo.push(`published port ${m.hostPort}/${m.proto}`, () => dataplane.control.removePublish(protoNumber(m), m.hostPort, family));
    }
  }

  private async removePublished(record: EndpointRecord): Promise<void> {
    for (const m of record.ports) {
      if (isLoopbackAddress(m.hostIp)) await this.deps.loopback.stop(m.proto, m.hostIp, m.hostPort);
      else await this.deps.dataplane.control.removePublish(protoNumber(m), m.hostPort, isIpv6Mapping(m) ? Family.Ipv6 : Family.Ipv4);
    }
  }

  /**
   * After a daemon restart: re-opens the endpoint's persistent TAP inside its namespace and gives
   * it back its port, its published ports and its name. Fails (leaving nothing registered) when the
   * namespace is gone; the device, if any, stays for whoever owns the namespace.
   */
  reattach(live: LiveNetwork, record: EndpointRecord): Promise<void> {
    const { names, devices, resolvConf, log } = this.deps;
    const onUndoFailure = (what: string, err: Error): void =>
      log.warn({ network: live.record.name, endpoint: record.name, err: err.message }, `cleanup failed: cannot remove ${what}`);
    return UndoStack.run(onUndoFailure, async (undo) => {
      if (record.netnsIno !== 0 && !devices.netnsExists({ path: record.netnsPath, dev: record.netnsDev, ino: record.netnsIno })) {
        throw new Error(`network namespace ${record.netnsPath} is gone`);
      }
      if (record.ip !== '') {
        live.allocator.markUsed(record.ip);
        undo.push(`address ${record.ip}`, () => live.allocator.release(record.ip));
      }
      const a6 = live.allocator6;
      const ip6 = record.ip6;
      if (a6 !== null && ip6 !== undefined) {
        a6.markUsed(ip6);
        undo.push(`address ${ip6}`, () => a6.release(ip6));
      }
      if (record.engine === 'docker') {
        if (record.netnsIno === 0) {
          // the daemon stopped before the container's namespace appeared: it is there now, or the endpoint goes
          const ns = devices.resolveNetns(record.netnsPath);
          record.netnsDev = ns.dev;
          record.netnsIno = ns.ino;
        }
        // Docker named the device in the sandbox: found by its MAC, and configured by Docker
        const ifName = await devices.findInterfaceByMac(record.netnsPath, record.mac);
        if (ifName === null) throw new Error(`no interface with MAC ${record.mac} in ${record.netnsPath}`);
        record.ifName = ifName;
      }
      const fd = devices.openTap(record.netnsPath, record.ifName);
      undo.push(`fd of TAP device ${record.ifName}`, () => devices.closeTap(fd));
      if (record.engine === undefined) await devices.configureInterface(record.netnsPath, record.ifName, interfaceConfig(live, record));
      const portId = await this.addPort(live, record, fd, undo);
      names.setEndpoint(live.record.id, nameEntry(record));
      undo.push('the DNS name', () => names.deleteEndpoint(live.record.id, record.id));
      live.endpoints.set(record.id, { record, fd, portId });
      if (record.engine === undefined) resolvConf.sync(record.netnsPath);
    });
  }

  /**
   * `network disconnect`, and the clean-up of an endpoint whose namespace vanished (`save` false:
   * a state file that cannot be written is logged, not thrown).
   */
  async detach(live: LiveNetwork, ep: LiveEndpoint, save: boolean): Promise<void> {
    const { networks, names, dataplane, devices, resolvConf, log } = this.deps;
    const r = ep.record;
    if (r.ip !== '') await this.deps.endpointGone?.(ipv4(r.ip)).catch((err: Error) => log.warn({ err: err.message }, 'cannot remove the NAT-PMP/PCP mappings'));
    await this.removePublished(r);
    await dataplane.control.removePort(ep.portId);
    for (const route of this.hostAccessRoutes(live, r)) await devices.deleteHostRoute(route).catch((err: Error) => log.warn({ route, err: err.message }, 'cannot remove the host route'));
    devices.removeTap(ep.fd);
    live.endpoints.delete(r.id);
    names.deleteEndpoint(live.record.id, r.id);
    const overlay = this.overlayOf(live);
    if (overlay !== null) {
      await overlay.cluster.unregisterEndpoint(live.record.id, r.id).catch((err: Error) => log.warn({ err: err.message }, 'cannot unregister endpoint'));
    }
    // a Docker endpoint keeps its address until Docker deletes it (DeleteEndpoint, ReleaseAddress)
    if (r.engine === undefined) {
      resolvConf.sync(r.netnsPath);
      if (r.ip !== '') await this.releaseAddress(live, r.ip);
      if (r.ip6 !== undefined) await this.releaseAddress6(live, r.ip6);
    }
    if (save) networks.save();
    else networks.trySave();
  }

  private endpointSpec(live: LiveNetwork, r: EndpointRecord): EndpointSpec {
    return {
      name: `${r.ifName}@${r.name}`,
      network: live.index,
      mac: parseMac(r.mac),
      ...(r.ip !== '' ? { ip: ipv4(r.ip) } : {}),
      ...(r.ip6 !== undefined ? { ip6: parseIpv6(r.ip6) } : {}),
      vnet: this.deps.vnet,
    };
  }

  /** The cluster side of an overlay network's endpoints; null for a bridge, or without a cluster store. */
  private overlayOf(live: LiveNetwork): OverlaySync | null {
    return live.record.driver === 'overlay' ? this.deps.overlay : null;
  }

  /** Where the network's addresses are claimed cluster-wide: an L2 overlay's, in the store; a routed one's subnet is this host's alone. */
  private claimsOf(live: LiveNetwork): OverlaySync | null {
    return live.record.routed === undefined ? this.overlayOf(live) : null;
  }
}
