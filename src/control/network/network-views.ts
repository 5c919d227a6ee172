// What `network ls`, `network inspect`, `port` and `status` show, and the counts and names the
// metrics use: read from the live networks and the data plane, changing nothing.

import { ipv6ToString } from '../../wire/ipv6-address.js';
import { macToString } from '../../wire/mac.js';
import type { CountersReport, EndpointResource, NetworkResource, NetworkSummary, PortMappingResource, StatusReport } from '../api-types.js';
import { Gauge } from '../../dataplane/counters.js';
import type { HostDevices } from '../host-devices.js';
import { ipv4ToString } from '../../wire/ipv4-address.js';
import { dnsAddressOf, type LiveNetwork } from '../live-network.js';
import { hasMac, NEIGHBOUR_STATE_NAMES } from '../../dataplane/neighbour-table.js';
import { endpointResource, networkResource } from '../resources.js';
import { isIpv6Mapping } from '../publish.js';
import type { EndpointRecord } from '../state-store.js';
import type { ServiceDataplane } from './service-dataplane.js';
import type { MacvlanParents } from './macvlan-parents.js';
import type { LiveNetworks } from './live-networks.js';
import type { ResolvConfSync } from './resolv-conf-sync.js';

const VERSION = '0.1.0';

export class NetworkViews {
  private readonly started = Date.now();

  constructor(
    private readonly deps: {
      dnsEnabled: boolean;
      networks: LiveNetworks;
      dataplane: ServiceDataplane;
      devices: HostDevices;
      resolvConf: ResolvConfSync;
      /** conntrack.max */
      conntrackMax: number;
      /** macvlan parents, for status */
      parents?: Pick<MacvlanParents, 'status'>;
    },
  ) {}

  list(): NetworkSummary[] {
    return [...this.deps.networks.values()].map((n) => ({
      Id: n.record.id,
      Name: n.record.name,
      Driver: n.record.driver,
      Scope: n.record.driver === 'overlay' ? 'swarm' : 'local',
      Subnet: n.record.subnet,
      Gateway: n.record.gateway,
      IPv6: n.record.ipv6 !== undefined,
      Internal: n.record.internal,
      Endpoints: n.endpoints.size,
    }));
  }

  network(live: LiveNetwork): NetworkResource {
    return networkResource(live, this.deps.dnsEnabled, (r) => this.endpoint(live, r));
  }

  endpoint(live: LiveNetwork, r: EndpointRecord): EndpointResource {
    const { dnsEnabled, resolvConf } = this.deps;
    // a macvlan network's gateway is the LAN's router, not the embedded DNS: its resolver only if another network gives one
    const fallback = live.record.macvlan === undefined ? dnsAddressOf(live.record) : null;
    return endpointResource(live, r, dnsEnabled ? (resolvConf.nameserverOf(r.netnsPath) ?? fallback) : null);
  }

  /** Published ports of a namespace (`pontoon port`). */
  ports(netns: string): PortMappingResource[] {
    const ns = this.deps.devices.resolveNetns(netns);
    const out: PortMappingResource[] = [];
    for (const { live, ep } of this.deps.networks.endpoints()) {
      const r = ep.record;
      if (r.netnsDev !== ns.dev || r.netnsIno !== ns.ino) continue;
      for (const m of r.ports) out.push({ ...m, network: live.record.name, containerIp: isIpv6Mapping(m) ? (r.ip6 ?? '') : r.ip });
    }
    return out;
  }

  async status(): Promise<StatusReport> {
    const { networks, dataplane } = this.deps;
    const snap = await dataplane.control.snapshot();
    const netName = (index: number): string => {
      for (const n of networks.values()) if (n.index === index) return n.record.name;
      return '';
    };
    const c = dataplane.counters;
    return {
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
      io: snap.io,
      networks: networks.size,
      endpoints: this.inventory().endpoints,
      ports: snap.ports.map((p) => ({
        id: p.id,
        name: p.name,
        kind: p.kind,
        network: p.network >= 0 ? netName(p.network) : null,
        ...c.portStats(p.id),
      })),
      drops: c.dropsByReason(),
      parents: this.deps.parents?.status() ?? [],
      neighbours: snap.neighbours.map((n) => ({
        network: netName(n.network),
        ip: n.ip6 !== undefined ? ipv6ToString(n.ip6) : ipv4ToString(n.ip),
        mac: hasMac(n.state) ? macToString(n.mac) : null,
        state: NEIGHBOUR_STATE_NAMES[n.state] ?? 'incomplete',
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

  /** The counters `pontoon top` samples: ports, drops, conntrack and NAT use, overlay traffic. */
  async counters(): Promise<CountersReport> {
    const { networks, dataplane, conntrackMax } = this.deps;
    const snap = await dataplane.control.snapshot();
    const time = Date.now();
    const c = dataplane.counters;
    const names = new Map<number, string>();
    for (const n of networks.values()) names.set(n.index, n.record.name);
    let entries = 0;
    for (let i = 0; i < c.ctStates.length; i++) entries += c.ctStates[i]!;
    return {
      time,
      ports: snap.ports.map((p) => ({ id: p.id, name: p.name, kind: p.kind, network: p.network >= 0 ? (names.get(p.network) ?? '') : null, ...c.portStats(p.id) })),
      drops: c.dropsByReason(),
      conntrack: { entries, max: conntrackMax },
      natPorts: { tcp: c.gauges[Gauge.NatPortsTcp]!, udp: c.gauges[Gauge.NatPortsUdp]!, icmp: c.gauges[Gauge.NatPortsIcmp]! },
      overlays: this.overlays().map((o) => {
        const v = c.vxlan;
        const i = o.index * 4;
        return { network: o.name, vni: o.vni, rxPackets: v[i]!, rxBytes: v[i + 1]!, txPackets: v[i + 2]!, txBytes: v[i + 3]! };
      }),
    };
  }

  /** Counts for metrics. */
  inventory(): { networks: number; endpoints: number } {
    let endpoints = 0;
    for (const n of this.deps.networks.values()) endpoints += n.endpoints.size;
    return { networks: this.deps.networks.size, endpoints };
  }

  overlays(): { index: number; vni: number; name: string; hostSubnets?: number }[] {
    const out: { index: number; vni: number; name: string; hostSubnets?: number }[] = [];
    for (const n of this.deps.networks.values()) {
      if (n.record.vni === undefined) continue;
      out.push({ index: n.index, vni: n.record.vni, name: n.record.name, ...(n.record.routed !== undefined ? { hostSubnets: n.leases.size } : {}) });
    }
    return out;
  }

  /** Data-plane port id → "IFNAME@ENDPOINT", for the metrics' labels. */
  portNames(): Map<number, string> {
    const m = new Map<number, string>();
    for (const { ep } of this.deps.networks.endpoints()) m.set(ep.portId, `${ep.record.ifName}@${ep.record.name}`);
    return m;
  }
}
