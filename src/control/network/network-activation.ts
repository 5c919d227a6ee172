// Bringing a network up on this host and taking it down again: its data-plane slot, the host's
// route to its subnet, its address allocators (IPv4, and IPv6 with --ipv6) and its names in the
// embedded DNS. What the network is (bridge or overlay, created here or elsewhere, restored or
// new) is the callers' business.

import type { Logger } from 'pino';
import { parseMac } from '../../wire/mac.js';
import type { NameTable } from '../dns/name-table.js';
import type { HostDevices } from '../host-devices.js';
import { cidrNetwork, parseCidr } from '../../wire/ipv4-address.js';
import { AddressAllocator, NoIpv4Addresses } from '../ipam.js';
import { Ipv6AddressAllocator } from '../ipam6.js';
import { isIpv6Only, type LiveNetwork, type LiveNetworkRecord, routedHostAddress } from '../live-network.js';
import { ipv4, ipv6NetworkSpec } from './addresses.js';
import type { ServiceDataplane } from './service-dataplane.js';
import type { LiveNetworks } from './live-networks.js';
import { UndoStack } from './undo-stack.js';
import type { MacvlanParents } from './macvlan-parents.js';

export class NetworkActivation {
  constructor(
    private readonly deps: {
      networks: LiveNetworks;
      names: NameTable;
      dataplane: ServiceDataplane;
      devices: HostDevices;
      /** macvlan networks' parent devices */
      parents: MacvlanParents;
      log: Logger;
    },
  ) {}

  /** Brings the network up with no endpoints yet; a saved record's endpoints are left out (they are re-attached one by one). */
  async activate(rec: LiveNetworkRecord & { endpoints?: unknown }): Promise<LiveNetwork> {
    const { networks } = this.deps;
    const index = networks.reserveSlot();
    try {
      return await this.activateAt(rec, index);
    } finally {
      networks.releaseSlot(index);
    }
  }

  private activateAt(rec: LiveNetworkRecord & { endpoints?: unknown }, index: number): Promise<LiveNetwork> {
    const { networks, names, dataplane, devices, log } = this.deps;
    const { endpoints: _saved, ...record } = rec;
    const fail = (what: string, err: Error): void => log.warn({ network: rec.name, err: err.message }, `cannot remove ${what}`);
    return UndoStack.run(fail, async (undo) => {
      const hasIpv4 = !isIpv6Only(record);
      // an IPv6-only network: no IPv4 side in the data plane either (ipv4 false, its fields 0)
      const subnet = hasIpv4 ? cidrNetwork(parseCidr(record.subnet)) : { addr: 0, prefixLen: 0 };
      const macvlan = record.macvlan;
      // a macvlan network's gateway is the LAN's router: the gateway owns no address there, routes nothing
      const ipv6Spec = record.ipv6 === undefined ? undefined : macvlan === undefined ? ipv6NetworkSpec(record.ipv6) : { ...ipv6NetworkSpec(record.ipv6), gatewayIp: [0, 0, 0, 0] as const, nat: false };
      await dataplane.control.addNetwork({
        index,
        name: record.name,
        subnet: subnet.addr,
        prefixLen: subnet.prefixLen,
        gatewayIp: hasIpv4 && macvlan === undefined ? ipv4(record.gateway) : 0,
        ...(hasIpv4 ? {} : { ipv4: false }),
        gatewayMac: parseMac(record.gatewayMac),
        mtu: record.mtu,
        internal: record.internal,
        ...(record.vni !== undefined ? { vni: record.vni } : {}),
        ...(ipv6Spec !== undefined ? { ipv6: ipv6Spec } : {}),
        ...(macvlan !== undefined ? { macvlan: { mode: macvlan.mode, hostAccess: macvlan.hostAccess } } : {}),
        ...(record.routed !== undefined ? { routed: true } : {}),
      });
      undo.push('the data-plane network', () => dataplane.control.removeNetwork(index));
      // internal networks get the route too: the gateway refuses the traffic (admin prohibited)
      // instead of the host sending it out of its default route; a macvlan network's subnet is the LAN's
      const routed = record.routed;
      if (routed !== undefined) {
        // the whole cluster's range through the gateway, from the host's address on it (routes back to this host)
        const hostAddr = routedHostAddress(record);
        await dataplane.control.addHostRoute(ipv4(hostAddr), 32);
        undo.push("the data plane's route to the host address", () => dataplane.control.removeHostRoute(ipv4(hostAddr), 32));
        await devices.addHostRoute(routed.cluster, hostAddr);
        undo.push('the host route', () => devices.deleteHostRoute(routed.cluster, hostAddr));
      } else if (hasIpv4 && macvlan === undefined) await devices.addHostRoute(record.subnet);
      if (record.ipv6 !== undefined && devices.routesIpv6 && macvlan === undefined) {
        const subnet6 = record.ipv6.subnet;
        await devices.addHostRoute(subnet6);
        undo.push('the host route', () => devices.deleteHostRoute(subnet6));
      }
      const live: LiveNetwork = {
        record,
        index,
        allocator: hasIpv4 ? new AddressAllocator(record.subnet, record.gateway, record.ipRange, record.name) : new NoIpv4Addresses(record.name),
        allocator6: record.ipv6 !== undefined ? new Ipv6AddressAllocator(record.ipv6.subnet, record.ipv6.gateway, record.ipv6.ipRange, record.name) : null,
        endpoints: new Map(),
        remotes: new Map(),
        peers: new Set(),
        announced: false,
        leases: new Map(),
      };
      for (const ip of Object.values(record.auxAddresses ?? {})) {
        if (ip.includes(':')) live.allocator6?.markUsed(ip);
        else live.allocator.markUsed(ip);
      }
      if (macvlan !== undefined) {
        await this.deps.parents.attach(live);
        undo.push('the network on its parent', () => this.deps.parents.detach(live));
      }
      networks.add(live);
      names.setNetwork({
        id: record.id,
        name: record.name,
        subnet: record.subnet,
        ...(record.ipv6 !== undefined ? { subnet6: record.ipv6.subnet } : {}),
        internal: record.internal,
      });
      return live;
    });
  }

  /** Takes the network down (its endpoints must be gone already). */
  async deactivate(live: LiveNetwork): Promise<void> {
    const { networks, names, dataplane, devices } = this.deps;
    networks.delete(live.record.id);
    names.deleteNetwork(live.record.id);
    await dataplane.control.removeNetwork(live.index);
    if (live.record.macvlan !== undefined) {
      await this.deps.parents.detach(live);
      return;
    }
    if (live.record.routed !== undefined) {
      const hostAddr = routedHostAddress(live.record);
      await dataplane.control.removeHostRoute(ipv4(hostAddr), 32);
      await devices.deleteHostRoute(live.record.routed.cluster, hostAddr);
    }
    else if (!isIpv6Only(live.record)) await devices.deleteHostRoute(live.record.subnet);
    if (live.record.ipv6 !== undefined && devices.routesIpv6) await devices.deleteHostRoute(live.record.ipv6.subnet);
  }
}
