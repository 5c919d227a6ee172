// `docker network create -d pontoon`: Docker's network driver calls, each mapped onto what
// `pontoon network create/connect` do. CreateNetwork makes a pontoon network (bridge, overlay or
// macvlan); CreateEndpoint takes the address (and MAC); Join makes the TAP in the host's namespace,
// which Docker moves into the container; ProgramExternalConnectivity publishes `-p` through
// pontoon's NAT (Docker's own docker-proxy and iptables do nothing for a remote driver); Leave,
// Revoke and DeleteEndpoint take it back. A call Docker repeats, or makes for something already gone, is
// answered as if it had just worked: after a restart of either daemon they do come.

import type { Logger } from 'pino';
import { parseMac, macToString } from '../../wire/mac.js';
import { IPV6_GATEWAY_LINK_LOCAL, ipv6ToString, parseIpv6OrNull } from '../../wire/ipv6-address.js';
import { parseIpv4OrNull } from '../../wire/ipv4-address.js';
import type { NetworkCreateRequest } from '../api-types.js';
import { ApiFailure } from '../gateway-api.js';
import type { LiveEndpoint, LiveNetwork } from '../live-network.js';
import { macForIp } from '../network/addresses.js';
import type { EndpointAttach } from '../network/endpoint-attach.js';
import type { NetworkLifecycle } from '../network/network-lifecycle.js';
import type { DockerEndpointRecord } from '../state-store.js';
import type { DockerState } from './docker-state.js';
import {
  GENERIC_OPTION,
  INTERNAL_OPTION,
  MTU_OPTION,
  PORTMAP_OPTION,
  type IpamData,
  PluginError,
  type PortBinding,
  parseRequest,
  portBinding,
  type createEndpointRequest,
  type createNetworkRequest,
  type endpointRequest,
  type externalConnectivityRequest,
  type joinRequest,
  type deleteNetworkRequest,
} from './plugin-protocol.js';
import { z } from 'zod';

/** The driver's own options (`docker network create -o KEY=VALUE`), with what each takes. */
const DRIVER_OPTIONS: Record<string, string> = {
  [MTU_OPTION]: 'the MTU of the network (68-65535)',
  'pontoon.driver': 'bridge (the default), overlay or macvlan',
  'pontoon.vni': 'the VXLAN network identifier of an overlay network',
  'pontoon.name': "the network's name in pontoon (default: Docker's name, once pontoon learns it)",
  // Docker's own macvlan driver's names, so `docker network create -d macvlan` commands carry over
  parent: "a macvlan network's parent: DEV, or DEV.VLAN for an 802.1Q VLAN of DEV",
  macvlan_mode: 'bridge (the default), private, vepa or passthru',
  'pontoon.host_access': "true: the host reaches the macvlan network's containers through pontoon",
};

/** The options of a macvlan network alone, by the request field each sets. */
const MACVLAN_OPTIONS = ['parent', 'macvlan_mode', 'pontoon.host_access'] as const;

/** What the options ask of `network create`: the driver, the name, and the request's own fields. */
interface DriverOptions {
  driver: 'bridge' | 'overlay' | 'macvlan';
  name?: string;
  settings: Pick<NetworkCreateRequest, 'mtu' | 'vni' | 'parent' | 'macvlanMode' | 'hostAccess'>;
}

function driverOptions(generic: unknown): DriverOptions {
  const out: DriverOptions = { driver: 'bridge', settings: {} };
  if (generic === undefined || generic === null) return out;
  if (typeof generic !== 'object' || Array.isArray(generic)) throw new PluginError('invalid driver options: expected key=value pairs');
  const settings = out.settings;
  for (const [key, value] of Object.entries(generic as Record<string, unknown>)) {
    const v = String(value);
    switch (key) {
      case MTU_OPTION:
        if (!/^[0-9]{1,5}$/.test(v)) throw new PluginError(`invalid ${MTU_OPTION} ${JSON.stringify(v)}: expected a number`);
        settings.mtu = Number(v);
        break;
      case 'pontoon.driver':
        if (v !== 'bridge' && v !== 'overlay' && v !== 'macvlan') throw new PluginError(`invalid pontoon.driver ${JSON.stringify(v)}: expected bridge, overlay or macvlan`);
        out.driver = v;
        break;
      case 'pontoon.vni':
        if (!/^[0-9]{1,8}$/.test(v)) throw new PluginError(`invalid pontoon.vni ${JSON.stringify(v)}: expected a number`);
        settings.vni = Number(v);
        break;
      case 'pontoon.name':
        out.name = v;
        break;
      // the parent and the mode are checked as `pontoon network create` checks them, in one line
      case 'parent':
        settings.parent = v;
        break;
      case 'macvlan_mode':
        settings.macvlanMode = v;
        break;
      case 'pontoon.host_access':
        if (v !== 'true' && v !== 'false') throw new PluginError(`invalid value ${JSON.stringify(v)} for pontoon.host_access: true or false`);
        settings.hostAccess = v === 'true';
        break;
      default:
        throw new PluginError(`unknown option ${JSON.stringify(key)} (pontoon takes ${Object.keys(DRIVER_OPTIONS).join(', ')})`);
    }
  }
  const misplaced = MACVLAN_OPTIONS.find((k) => k in (generic as Record<string, unknown>));
  if (out.driver !== 'macvlan' && misplaced !== undefined) {
    throw new PluginError(`option ${misplaced} is for macvlan networks (-o pontoon.driver=macvlan), not ${out.driver}`);
  }
  return out;
}

/**
 * `--aux-address` NAME=IP of both families, as the IPAM driver answered them ("a.b.c.d/len").
 * One Docker's own IPAM left outside its --ip-range comes as "<nil>": pontoon never gives out an
 * address outside the range either, so it is left out.
 */
function auxAddresses(...data: (IpamData | undefined)[]): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const d of data) {
    for (const [name, cidr] of Object.entries(d?.AuxAddresses ?? {})) {
      const ip = cidr.split('/')[0]!;
      if (parseIpv4OrNull(ip) !== null || parseIpv6OrNull(ip) !== null) out[name] = ip;
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

const GATEWAY_LINK_LOCAL = ipv6ToString(IPV6_GATEWAY_LINK_LOCAL);

/** The name of a Docker network in pontoon until pontoon learns Docker's name for it. */
export const placeholderName = (dockerId: string): string => `docker-${dockerId.slice(0, 12)}`;

const protoName = (proto: number): 'tcp' | 'udp' => {
  if (proto === 6) return 'tcp';
  if (proto === 17) return 'udp';
  throw new PluginError(`cannot publish ports of IP protocol ${proto}: pontoon publishes tcp and udp`);
};

export class NetworkDriver {
  constructor(
    private readonly deps: {
      state: DockerState;
      lifecycle: NetworkLifecycle;
      attach: EndpointAttach;
      log: Logger;
      /** told (never awaited) once a network is made and once a container joined: to learn their names */
      created?: (live: LiveNetwork) => void;
      joined?: (live: LiveNetwork, ep: LiveEndpoint) => void;
    },
  ) {}

  capabilities(): object {
    // local: each host's Docker has its networks of its own; an overlay spans hosts through pontoon's cluster store
    return { Scope: 'local', ConnectivityScope: 'local' };
  }

  async createNetwork(req: z.output<typeof createNetworkRequest>): Promise<object> {
    const { state, lifecycle, log } = this.deps;
    if (state.network(req.NetworkID) !== undefined) return {};
    const v4 = req.IPv4Data ?? [];
    if (v4.length !== 1) throw new PluginError(`a pontoon network has exactly one IPv4 subnet (Docker gave ${v4.length})`);
    const v6 = req.IPv6Data ?? [];
    if (v6.length > 1) throw new PluginError(`a pontoon network has at most one IPv6 subnet (Docker gave ${v6.length})`);
    const subnet6 = v6[0]?.Pool;
    const gateway6 = v6[0]?.Gateway ? v6[0].Gateway.split('/')[0] : undefined;
    const pool6 = subnet6 === undefined ? undefined : [...state.pools.values()].find((p) => p.subnet === subnet6);
    const opts = driverOptions(req.Options?.[GENERIC_OPTION]);
    const internal = req.Options?.[INTERNAL_OPTION] === true;
    const subnet = v4[0]!.Pool;
    const gateway = v4[0]!.Gateway ? v4[0]!.Gateway.split('/')[0] : undefined;
    const pool = [...state.pools.values()].find((p) => p.subnet === subnet);
    if (opts.driver === 'overlay') {
      // another host made it: this host's Docker network joins the same overlay
      const made = [...state.networks()].find((n) => n.record.driver === 'overlay' && n.record.dockerNetworkId === undefined && n.record.subnet === subnet);
      if (made !== undefined) {
        // the same overlay: its IPv6 side too (IPv6 addresses are claimed cluster-wide, as IPv4 ones)
        if ((made.record.ipv6?.subnet ?? undefined) !== subnet6) {
          throw new PluginError(
            `network ${made.record.name}: the overlay another host made has ${made.record.ipv6 !== undefined ? `IPv6 subnet ${made.record.ipv6.subnet}` : 'no IPv6'}, Docker asks for ${subnet6 !== undefined ? `IPv6 subnet ${subnet6}` : 'none'}`,
          );
        }
        made.record.dockerNetworkId = req.NetworkID;
        state.save();
        log.info({ network: made.record.name, docker: req.NetworkID.slice(0, 12) }, 'docker network joins an existing overlay network');
        return {};
      }
    }
    const aux = auxAddresses(v4[0], v6[0]);
    const live = await lifecycle.create(
      {
        name: opts.name ?? placeholderName(req.NetworkID),
        driver: opts.driver,
        subnet,
        ...(gateway !== undefined ? { gateway } : {}),
        ...(pool?.ipRange !== undefined ? { ipRange: pool.ipRange } : {}),
        ...(subnet6 !== undefined
          ? {
              ipv6: true,
              subnets: [subnet6],
              ...(gateway6 !== undefined ? { gateways: [gateway6] } : {}),
              ...(pool6?.ipRange !== undefined ? { ipRanges: [pool6.ipRange] } : {}),
            }
          : {}),
        internal,
        ...opts.settings,
        ...(aux !== undefined ? { auxAddresses: aux } : {}),
      },
      false,
    );
    live.record.dockerNetworkId = req.NetworkID;
    try {
      state.save();
    } catch (err) {
      await lifecycle.remove(live.record.id).catch(() => undefined);
      throw err;
    }
    this.deps.created?.(live);
    return {};
  }

  async deleteNetwork(req: z.output<typeof deleteNetworkRequest>): Promise<object> {
    const { state, lifecycle, attach, log } = this.deps;
    const live = state.network(req.NetworkID);
    if (live === undefined) return {};
    // endpoints Docker forgot to delete (it deletes them first): their addresses go back
    for (const e of [...state.endpoints.values()]) {
      if (e.networkId !== live.record.id) continue;
      const joined = live.endpoints.get(e.id);
      if (joined !== undefined) await attach.detach(live, joined, true);
      if (e.ownsAddress) await attach.releaseAddress(live, e.ip);
      if (e.ownsAddress6 === true && e.ip6 !== undefined) await attach.releaseAddress6(live, e.ip6);
      state.endpoints.delete(e.id);
    }
    if (live.record.driver === 'overlay' && live.remotes.size > 0) {
      // other hosts still use the overlay: only this host's Docker lets go of it
      delete live.record.dockerNetworkId;
      state.save();
      log.info({ network: live.record.name }, 'docker network removed; the overlay stays for the other hosts');
      return {};
    }
    await lifecycle.remove(live.record.id);
    return {};
  }

  async createEndpoint(req: z.output<typeof createEndpointRequest>): Promise<object> {
    const { state, attach, log } = this.deps;
    const live = this.network(req.NetworkID);
    const iface = req.Interface ?? {};
    const existing = state.endpoints.get(req.EndpointID);
    if (existing !== undefined) return { Interface: this.answeredInterface(live, iface, existing.mac, existing.ip6) };
    if (iface.AddressIPv6 && live.allocator6 === null) {
      throw new PluginError(`network ${live.record.name} has no IPv6 (create it with --ipv6): no IPv6 address can be given`);
    }
    if (!iface.Address) throw new PluginError('pontoon needs an IPv4 address for every endpoint, and the IPAM driver gave none');
    const ip = iface.Address.split('/')[0]!;
    let mac: string;
    try {
      mac = iface.MacAddress ? macToString(parseMac(iface.MacAddress)) : macForIp(ip);
    } catch {
      throw new PluginError(`invalid MAC address ${JSON.stringify(iface.MacAddress)}`);
    }
    // pontoon's IPAM driver allocated it already; another IPAM driver's address is taken here
    const pool = state.poolOfNetwork(live);
    const ownsAddress = pool === undefined || !pool.addresses.includes(ip);
    if (ownsAddress) await attach.allocateAddress(live, req.EndpointID, ip);
    let v6: { ip6: string; ownsAddress6: boolean } | undefined;
    try {
      v6 = await this.endpointAddress6(live, req.EndpointID, iface.AddressIPv6 ?? undefined);
    } catch (err) {
      if (ownsAddress) await attach.releaseAddress(live, ip);
      throw err;
    }
    const rec: DockerEndpointRecord = { id: req.EndpointID, networkId: live.record.id, ip, mac, ownsAddress, ...(v6 ?? {}) };
    state.endpoints.set(rec.id, rec);
    try {
      state.save();
    } catch (err) {
      state.endpoints.delete(rec.id);
      if (ownsAddress) await attach.releaseAddress(live, ip);
      if (v6?.ownsAddress6 === true) await attach.releaseAddress6(live, v6.ip6);
      throw err;
    }
    log.info({ network: live.record.name, endpoint: rec.id.slice(0, 12), ip, ...(v6 !== undefined ? { ip6: v6.ip6 } : {}), mac }, 'docker endpoint created');
    return { Interface: this.answeredInterface(live, iface, mac, rec.ip6) };
  }

  /** On a network with IPv6: Docker's IPv6 address (taken here unless pontoon's IPAM gave it), or one pontoon allocates. */
  private async endpointAddress6(live: LiveNetwork, owner: string, given: string | undefined): Promise<{ ip6: string; ownsAddress6: boolean } | undefined> {
    if (live.allocator6 === null) return undefined;
    if (!given) return { ip6: await this.deps.attach.allocateAddress6(live, owner), ownsAddress6: true };
    const a = parseIpv6OrNull(given.split('/')[0]!);
    if (a === null) throw new PluginError(`invalid IPv6 address ${JSON.stringify(given)}`);
    const ip6 = ipv6ToString(a);
    const pool6 = this.deps.state.pool6OfNetwork(live);
    const ownsAddress6 = pool6 === undefined || !pool6.addresses.includes(ip6);
    if (ownsAddress6) await this.deps.attach.allocateAddress6(live, owner, ip6);
    return { ip6, ownsAddress6 };
  }

  /** What CreateEndpoint answers: the MAC and the IPv6 address pontoon chose, only those Docker did not give (Docker refuses changes). */
  private answeredInterface(live: LiveNetwork, iface: { MacAddress?: string | null; AddressIPv6?: string | null }, mac: string, ip6: string | undefined): object {
    const prefixLen6 = live.record.ipv6?.subnet.split('/')[1];
    return {
      ...(iface.MacAddress ? {} : { MacAddress: mac }),
      ...(!iface.AddressIPv6 && ip6 !== undefined && prefixLen6 !== undefined ? { AddressIPv6: `${ip6}/${prefixLen6}` } : {}),
    };
  }

  async deleteEndpoint(req: z.output<typeof endpointRequest>): Promise<object> {
    const { state, attach } = this.deps;
    const rec = state.endpoints.get(req.EndpointID);
    if (rec === undefined) return {};
    const live = state.network(req.NetworkID);
    if (live !== undefined) {
      const joined = live.endpoints.get(rec.id);
      if (joined !== undefined) await attach.detach(live, joined, true);
      if (rec.ownsAddress) await attach.releaseAddress(live, rec.ip);
      if (rec.ownsAddress6 === true && rec.ip6 !== undefined) await attach.releaseAddress6(live, rec.ip6);
    }
    state.endpoints.delete(rec.id);
    state.save();
    return {};
  }

  async join(req: z.output<typeof joinRequest>): Promise<object> {
    const { state, attach } = this.deps;
    const live = this.network(req.NetworkID);
    const rec = state.endpoints.get(req.EndpointID);
    if (rec === undefined) throw new PluginError(`endpoint ${req.EndpointID.slice(0, 12)} not found on network ${live.record.name}`);
    let ep = live.endpoints.get(rec.id);
    if (ep === undefined) {
      ep = await attach.joinDocker(live, {
        id: rec.id,
        name: rec.id.slice(0, 12),
        ip: rec.ip,
        ...(rec.ip6 !== undefined ? { ip6: rec.ip6 } : {}),
        mac: rec.mac,
        sandboxKey: req.SandboxKey,
      });
      this.deps.joined?.(live, ep);
    }
    const r = live.record;
    return {
      InterfaceName: { SrcName: ep.record.ifName, DstPrefix: 'eth' },
      // a macvlan network's gateway is the LAN's router (IPv4Data's Gateway), which pontoon never claims
      ...(r.internal ? {} : { Gateway: r.gateway }),
      // the IPv6 default route via the gateway's link-local address, as `network connect` gives it; on a macvlan network via the LAN's router
      ...(r.internal || r.ipv6 === undefined ? {} : { GatewayIPv6: r.macvlan !== undefined ? r.ipv6.gateway : GATEWAY_LINK_LOCAL }),
      DisableGatewayService: false,
    };
  }

  async leave(req: z.output<typeof endpointRequest>): Promise<object> {
    const live = this.deps.state.network(req.NetworkID);
    const ep = live?.endpoints.get(req.EndpointID);
    if (live !== undefined && ep !== undefined) await this.deps.attach.detach(live, ep, true);
    return {};
  }

  async programExternalConnectivity(req: z.output<typeof externalConnectivityRequest>): Promise<object> {
    const live = this.network(req.NetworkID);
    const ep = live.endpoints.get(req.EndpointID);
    if (ep === undefined) throw new PluginError(`endpoint ${req.EndpointID.slice(0, 12)} has not joined a container`);
    const raw = req.Options?.[PORTMAP_OPTION] ?? [];
    const bindings = parseRequest(z.array(portBinding), raw, `${PORTMAP_OPTION} of ProgramExternalConnectivity`);
    if (live.record.macvlan !== undefined) {
      // as Docker's own macvlan driver: -p publishes nothing, and `docker run -p` (a compose file's
      // ports:) still runs; the container is on the LAN at its own address, every port reachable
      if (bindings.length > 0) this.deps.log.info({ network: live.record.name, endpoint: ep.record.name }, 'macvlan network: -p publishes nothing, the container is reached at its LAN address');
      return {};
    }
    if (live.record.internal && bindings.length > 0) throw new PluginError(`network ${live.record.name} is internal: no port can be published`);
    await this.deps.attach.publishPorts(live, ep, this.publishSpecs(bindings, live, ep));
    return {};
  }

  /**
   * `--publish` specs of Docker's port bindings. A host range (`-p 8000-8010:80`) means any one
   * free port of it, as Docker takes it: the first that no other mapping holds.
   */
  private publishSpecs(bindings: PortBinding[], live: LiveNetwork, ep: LiveEndpoint): string[] {
    const specs: string[] = [];
    for (const b of bindings) {
      const proto = protoName(b.Proto);
      // an IPv6 host address in brackets, as -p takes it ([::]:8080:80)
      const hostIp = b.HostIP ? (b.HostIP.includes(':') ? `[${b.HostIP}]` : b.HostIP) : '0.0.0.0';
      const end = b.HostPortEnd ?? 0;
      if (b.HostPort === 0 || end <= b.HostPort) {
        specs.push(`${hostIp}:${b.HostPort === 0 ? '' : b.HostPort}:${b.Port}/${proto}`);
        continue;
      }
      let chosen: string | null = null;
      for (let p = b.HostPort; p <= end && chosen === null; p++) {
        const spec = `${hostIp}:${p}:${b.Port}/${proto}`;
        try {
          this.deps.attach.planPorts(live, ep, [...specs, spec]);
          chosen = spec;
        } catch (err) {
          if (!(err instanceof ApiFailure) || err.status !== 409) throw err;
        }
      }
      if (chosen === null) throw new PluginError(`no free host port in ${b.HostPort}-${end}/${proto} for ${b.Port}/${proto}`);
      specs.push(chosen);
    }
    return specs;
  }

  async revokeExternalConnectivity(req: z.output<typeof endpointRequest>): Promise<object> {
    const live = this.deps.state.network(req.NetworkID);
    const ep = live?.endpoints.get(req.EndpointID);
    if (live !== undefined && ep !== undefined) await this.deps.attach.unpublishPorts(live, ep);
    return {};
  }

  endpointOperInfo(): object {
    return { Value: {} };
  }

  private network(dockerId: string): LiveNetwork {
    const live = this.deps.state.network(dockerId);
    if (live === undefined) throw new PluginError(`network ${dockerId.slice(0, 12)} is not a pontoon network (pontoon has no record of it)`);
    return live;
  }
}
