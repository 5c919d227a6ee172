// `--ipam-driver pontoon`: Docker asks pontoon for a network's subnet (a pool), its gateway, its
// `--aux-address`es and each endpoint's address. Pools are checked against pontoon's networks and
// the other pools; one pontoon picks avoids the host's routes too (a given subnet is checked against
// them when the network is made: a macvlan network's is the LAN's, which the host routes). Endpoint
// addresses come from the network's own allocator (and, on an overlay, the cluster store), so
// `pontoon network connect` and Docker never hand out the same address.

import type { Logger } from 'pino';
import { cidrContains, cidrInside, cidrLastAddress, cidrsOverlap, formatCidr, ipv4ToString, parseCidr, parseIpv4OrNull } from '../../wire/ipv4-address.js';
import { chooseSubnet, MAX_SUBNET_PREFIX, parseSubnet } from '../ipam.js';
import { chooseSubnet6, MAX_SUBNET6_PREFIX, parseAddress6, parseSubnet6, type Pool6 } from '../ipam6.js';
import { cidr6Contains, cidr6Host, cidr6Inside, cidrs6Overlap, formatCidr6, ipv6Equal, ipv6ToString, parseCidr6, parseIpv6OrNull } from '../../wire/ipv6-address.js';
import type { HostDevices } from '../host-devices.js';
import type { EndpointAttach } from '../network/endpoint-attach.js';
import { type DockerState, isIpv6Pool } from './docker-state.js';
import type { DockerPoolRecord } from '../state-store.js';
import {
  GATEWAY_ADDRESS_TYPE,
  PluginError,
  type releaseAddressRequest,
  type releasePoolRequest,
  type requestAddressRequest,
  type requestPoolRequest,
} from './plugin-protocol.js';
import type { z } from 'zod';

export const LOCAL_ADDRESS_SPACE = 'pontoon';
export const GLOBAL_ADDRESS_SPACE = 'pontoon-global';

const poolId = (subnet: string): string => `${LOCAL_ADDRESS_SPACE}/${subnet}`;

export class IpamDriver {
  constructor(
    private readonly deps: {
      state: DockerState;
      attach: EndpointAttach;
      devices: Pick<HostDevices, 'hostRoutes' | 'hostRoutes6'>;
      /** where IPv6 pools come from when Docker names none (config defaultPools6) */
      pools6: readonly Pool6[];
      /** config services.cidr: never a pool (its addresses are VIPs) */
      servicesCidr: string;
      log: Logger;
    },
  ) {}

  capabilities(): object {
    return { RequiresMACAddress: false, RequiresRequestReplay: false };
  }

  addressSpaces(): object {
    return { LocalDefaultAddressSpace: LOCAL_ADDRESS_SPACE, GlobalDefaultAddressSpace: GLOBAL_ADDRESS_SPACE };
  }

  async requestPool(req: z.output<typeof requestPoolRequest>): Promise<object> {
    const { state, log } = this.deps;
    if (req.V6 === true) return this.requestPool6(req);
    const taken = await this.takenSubnets(!req.Pool);
    const subnetText = req.Pool ? formatCidr(parseSubnet(req.Pool)) : chooseSubnet(taken.map((t) => t.subnet));
    const subnet = parseCidr(subnetText);
    if (subnet.prefixLen > MAX_SUBNET_PREFIX) throw new PluginError(`invalid subnet ${subnetText}: the prefix length must be at most /${MAX_SUBNET_PREFIX}`);
    for (const t of taken) {
      if (cidrsOverlap(subnet, parseCidr(t.subnet))) throw new PluginError(`subnet ${subnetText} overlaps with ${t.subnet} of ${t.holder}`);
    }
    let ipRange: string | undefined;
    if (req.SubPool) {
      const range = parseSubnet(req.SubPool, 'ip-range');
      ipRange = formatCidr(range);
      if (!cidrInside(range, subnet)) throw new PluginError(`ip-range ${ipRange} is not inside subnet ${subnetText}`);
    }
    return this.keepPool(subnetText, ipRange);
  }

  private keepPool(subnetText: string, ipRange: string | undefined): object {
    const { state, log } = this.deps;
    const id = poolId(subnetText);
    state.pools.set(id, { id, subnet: subnetText, ...(ipRange !== undefined ? { ipRange } : {}), addresses: [] });
    try {
      state.save();
    } catch (err) {
      state.pools.delete(id);
      throw err;
    }
    log.info({ pool: id, ipRange }, 'docker address pool given');
    return { PoolID: id, Pool: subnetText, Data: {} };
  }

  /** `docker network create --ipv6 [--subnet fd00::/64]`: an IPv6 pool, given or the next /64 of the default pools. */
  private async requestPool6(req: z.output<typeof requestPoolRequest>): Promise<object> {
    const { state } = this.deps;
    const taken: { subnet: string; holder: string }[] = [];
    // a given subnet meets the host's routes at CreateNetwork, where the driver is known (see takenSubnets)
    if (!req.Pool) for (const r of await this.deps.devices.hostRoutes6()) taken.push({ subnet: r, holder: 'a host route' });
    for (const p of state.pools.values()) if (isIpv6Pool(p)) taken.push({ subnet: p.subnet, holder: `docker address pool ${p.id}` });
    for (const n of state.networks()) if (n.record.ipv6 !== undefined) taken.push({ subnet: n.record.ipv6.subnet, holder: `network ${n.record.name}` });
    const subnetText = req.Pool ? formatCidr6(parseSubnet6(req.Pool)) : chooseSubnet6(this.deps.pools6, taken.map((t) => t.subnet));
    const subnet = parseCidr6(subnetText);
    if (subnet.prefixLen > MAX_SUBNET6_PREFIX) {
      throw new PluginError(`invalid subnet ${subnetText}: the prefix length of an IPv6 subnet must be at most /${MAX_SUBNET6_PREFIX} (/64 recommended)`);
    }
    for (const t of taken) {
      if (cidrs6Overlap(subnet, parseCidr6(t.subnet))) throw new PluginError(`subnet ${subnetText} overlaps with ${t.subnet} of ${t.holder}`);
    }
    let ipRange: string | undefined;
    if (req.SubPool) {
      const range = parseSubnet6(req.SubPool, 'ip-range');
      ipRange = formatCidr6(range);
      if (!cidr6Inside(range, subnet)) throw new PluginError(`ip-range ${ipRange} is not inside subnet ${subnetText}`);
    }
    return this.keepPool(subnetText, ipRange);
  }

  /**
   * Subnets a new pool must not overlap: pontoon's networks (but the overlay a Docker network may
   * join), the pools, and for a pool pontoon picks the host's routes. A subnet Docker names meets
   * the host's routes when its network is made (CreateNetwork, `pontoon network create`'s check):
   * RequestPool does not say which driver the network is for, and a macvlan network's subnet is the LAN's.
   */
  private async takenSubnets(withHostRoutes: boolean): Promise<{ subnet: string; holder: string }[]> {
    const { state } = this.deps;
    const out: { subnet: string; holder: string }[] = [];
    for (const p of state.pools.values()) if (!isIpv6Pool(p)) out.push({ subnet: p.subnet, holder: `docker address pool ${p.id}` });
    for (const n of state.networks()) {
      // an overlay network made on another host: `docker network create -o pontoon.driver=overlay` with its subnet joins it
      if (n.record.driver === 'overlay' && n.record.dockerNetworkId === undefined) continue;
      out.push({ subnet: n.record.subnet, holder: `network ${n.record.name}` });
    }
    if (withHostRoutes) for (const r of await this.deps.devices.hostRoutes()) out.push({ subnet: r, holder: 'a host route' });
    out.push({ subnet: this.deps.servicesCidr, holder: 'the services range (services.cidr)' });
    return out;
  }

  async releasePool(req: z.output<typeof releasePoolRequest>): Promise<object> {
    const { state } = this.deps;
    const pool = state.pools.get(req.PoolID);
    if (pool === undefined) return {};
    const live = state.networkOfPool(pool);
    if (live !== undefined) for (const ip of pool.addresses) await this.releaseIn(live, pool, ip);
    state.pools.delete(pool.id);
    state.save();
    return {};
  }

  async requestAddress(req: z.output<typeof requestAddressRequest>): Promise<object> {
    const { state, attach } = this.deps;
    const pool = state.pools.get(req.PoolID);
    if (pool === undefined) throw new PluginError(`unknown address pool ${req.PoolID}`);
    if (isIpv6Pool(pool)) return this.requestAddress6(req, pool);
    const subnet = parseCidr(pool.subnet);
    const requested = req.Address ? req.Address.split('/')[0]! : undefined;
    if (req.Options?.RequestAddressType === GATEWAY_ADDRESS_TYPE) {
      const gw = requested ?? ipv4ToString(subnet.addr + 1);
      const n = parseIpv4OrNull(gw);
      if (n === null) throw new PluginError(`invalid gateway ${JSON.stringify(gw)}: not an IPv4 address`);
      if (!cidrContains(subnet, n)) throw new PluginError(`gateway ${gw} is not in subnet ${pool.subnet}`);
      if (n === subnet.addr || n === cidrLastAddress(subnet)) throw new PluginError(`gateway ${gw} is the network or broadcast address of ${pool.subnet}`);
      pool.gateway = gw;
      state.save();
      return { Address: `${gw}/${subnet.prefixLen}`, Data: {} };
    }
    const live = state.networkOfPool(pool);
    if (live === undefined) {
      if (requested !== undefined) {
        const n = parseIpv4OrNull(requested);
        return this.auxAddress(pool, requested, n !== null && cidrContains(subnet, n), subnet.prefixLen);
      }
      throw new PluginError(`address pool ${pool.id} belongs to no pontoon network: pontoon's IPAM driver serves networks of its network driver (-d pontoon)`);
    }
    const ip = await attach.allocateAddress(live, `ipam:${pool.id}`, requested);
    pool.addresses.push(ip);
    try {
      state.save();
    } catch (err) {
      pool.addresses.pop();
      await attach.releaseAddress(live, ip);
      throw err;
    }
    return { Address: `${ip}/${subnet.prefixLen}`, Data: {} };
  }

  /** The gateway (::1 unless Docker names one) or an endpoint's address in an IPv6 pool. */
  private async requestAddress6(req: z.output<typeof requestAddressRequest>, pool: DockerPoolRecord): Promise<object> {
    const { state, attach } = this.deps;
    const subnet = parseCidr6(pool.subnet);
    const requested = req.Address ? req.Address.split('/')[0]! : undefined;
    if (req.Options?.RequestAddressType === GATEWAY_ADDRESS_TYPE) {
      const gw = requested === undefined ? cidr6Host(subnet, 1) : this.address6(requested, 'gateway');
      if (!cidr6Contains(subnet, gw)) throw new PluginError(`gateway ${requested} is not in subnet ${pool.subnet}`);
      if (ipv6Equal(gw, subnet.addr)) throw new PluginError(`gateway ${requested} is the network address of ${pool.subnet}`);
      pool.gateway = ipv6ToString(gw);
      state.save();
      return { Address: `${pool.gateway}/${subnet.prefixLen}`, Data: {} };
    }
    const live = state.networkOfPool(pool);
    if (live === undefined) {
      if (requested !== undefined) {
        const a = parseIpv6OrNull(requested);
        return this.auxAddress(pool, a === null ? requested : ipv6ToString(a), a !== null && cidr6Contains(subnet, a), subnet.prefixLen);
      }
      throw new PluginError(`address pool ${pool.id} belongs to no pontoon network: pontoon's IPAM driver serves networks of its network driver (-d pontoon)`);
    }
    const ip = await attach.allocateAddress6(live, `ipam:${pool.id}`, requested);
    pool.addresses.push(ip);
    try {
      state.save();
    } catch (err) {
      pool.addresses.pop();
      await attach.releaseAddress6(live, ip);
      throw err;
    }
    return { Address: `${ip}/${subnet.prefixLen}`, Data: {} };
  }

  /**
   * An address asked for before the pool's network exists: an `--aux-address` (libnetwork reserves
   * each between the gateway and CreateNetwork). Answered, not taken: CreateNetwork brings it in
   * IPv4Data/IPv6Data's AuxAddresses, and the network never gives it out from then on.
   */
  private auxAddress(pool: DockerPoolRecord, ip: string, inSubnet: boolean, prefixLen: number): object {
    if (!inSubnet) throw new PluginError(`aux-address ${ip} is not in subnet ${pool.subnet}`);
    return { Address: `${ip}/${prefixLen}`, Data: {} };
  }

  private address6(s: string, what: string) {
    try {
      return parseAddress6(s, what);
    } catch (err) {
      throw new PluginError((err as Error).message);
    }
  }

  /** An address of a pool back to its network's allocator of that family. */
  private async releaseIn(live: NonNullable<ReturnType<DockerState['networkOfPool']>>, pool: DockerPoolRecord, ip: string): Promise<void> {
    if (isIpv6Pool(pool)) await this.deps.attach.releaseAddress6(live, ip);
    else await this.deps.attach.releaseAddress(live, ip);
  }

  async releaseAddress(req: z.output<typeof releaseAddressRequest>): Promise<object> {
    const { state } = this.deps;
    const pool = state.pools.get(req.PoolID);
    if (pool === undefined) return {};
    const ip = isIpv6Pool(pool) ? this.canonical6(req.Address.split('/')[0]!) : req.Address.split('/')[0]!;
    if (ip === pool.gateway) {
      delete pool.gateway;
    } else {
      const i = pool.addresses.indexOf(ip);
      if (i < 0) return {};
      pool.addresses.splice(i, 1);
      const live = state.networkOfPool(pool);
      if (live !== undefined) await this.releaseIn(live, pool, ip);
    }
    state.save();
    return {};
  }

  /** Docker may print an IPv6 address otherwise than pontoon did: compared in RFC 5952 form. */
  private canonical6(s: string): string {
    const a = parseIpv6OrNull(s);
    return a === null ? s : ipv6ToString(a);
  }
}
