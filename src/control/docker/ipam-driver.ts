// `--ipam-driver pontoon`: Docker asks pontoon for a network's subnet (a pool), its gateway and
// each endpoint's address. Pools are checked against pontoon's networks, the other pools and the
// host's routes; endpoint addresses come from the network's own allocator (and, on an overlay, the
// cluster store), so `pontoon network connect` and Docker never hand out the same address.

import type { Logger } from 'pino';
import { cidrContains, cidrInside, cidrLastAddress, cidrsOverlap, formatCidr, ipv4ToString, parseCidr, parseIpv4OrNull } from '../../wire/ipv4-address.js';
import { chooseSubnet, MAX_SUBNET_PREFIX, parseSubnet } from '../ipam.js';
import type { HostDevices } from '../host-devices.js';
import type { EndpointAttach } from '../network/endpoint-attach.js';
import type { DockerState } from './docker-state.js';
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
      devices: Pick<HostDevices, 'hostRoutes'>;
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
    if (req.V6 === true) throw new PluginError('pontoon does not hand out IPv6 pools yet');
    const taken = await this.takenSubnets();
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

  /** Subnets a new pool must not overlap: pontoon's networks (but the overlay a Docker network may join), the pools, the host's routes. */
  private async takenSubnets(): Promise<{ subnet: string; holder: string }[]> {
    const { state } = this.deps;
    const out: { subnet: string; holder: string }[] = [];
    for (const p of state.pools.values()) out.push({ subnet: p.subnet, holder: `docker address pool ${p.id}` });
    for (const n of state.networks()) {
      // an overlay network made on another host: `docker network create -o pontoon.driver=overlay` with its subnet joins it
      if (n.record.driver === 'overlay' && n.record.dockerNetworkId === undefined) continue;
      out.push({ subnet: n.record.subnet, holder: `network ${n.record.name}` });
    }
    for (const r of await this.deps.devices.hostRoutes()) out.push({ subnet: r, holder: 'a host route' });
    return out;
  }

  async releasePool(req: z.output<typeof releasePoolRequest>): Promise<object> {
    const { state } = this.deps;
    const pool = state.pools.get(req.PoolID);
    if (pool === undefined) return {};
    const live = state.networkOfPool(pool);
    if (live !== undefined) for (const ip of pool.addresses) await this.deps.attach.releaseAddress(live, ip);
    state.pools.delete(pool.id);
    state.save();
    return {};
  }

  async requestAddress(req: z.output<typeof requestAddressRequest>): Promise<object> {
    const { state, attach } = this.deps;
    const pool = state.pools.get(req.PoolID);
    if (pool === undefined) throw new PluginError(`unknown address pool ${req.PoolID}`);
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
    if (live === undefined) throw new PluginError(`address pool ${pool.id} belongs to no pontoon network: pontoon's IPAM driver serves networks of its network driver (-d pontoon)`);
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

  async releaseAddress(req: z.output<typeof releaseAddressRequest>): Promise<object> {
    const { state } = this.deps;
    const pool = state.pools.get(req.PoolID);
    if (pool === undefined) return {};
    const ip = req.Address.split('/')[0]!;
    if (ip === pool.gateway) {
      delete pool.gateway;
    } else {
      const i = pool.addresses.indexOf(ip);
      if (i < 0) return {};
      pool.addresses.splice(i, 1);
      const live = state.networkOfPool(pool);
      if (live !== undefined) await this.deps.attach.releaseAddress(live, ip);
    }
    state.save();
    return {};
  }
}
