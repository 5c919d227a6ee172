// What the API answers, in the shapes `docker network inspect` and `conntrack -L` use.

import { trackedProtocolName } from '../wire/ipv4.js';
import { CT_STATE_NAMES, CtFlag, Family } from '../dataplane/conntrack.js';
import type { ConntrackRecord, ConntrackTuple } from '../ports/worker-protocol.js';
import { ipv4ToString, parseCidr } from '../wire/ipv4-address.js';
import { type Ipv6Words, ipv6ToString, parseCidr6 } from '../wire/ipv6-address.js';
import { IP_PROTO_ICMPV6 } from '../wire/ipv6.js';
import type { ConntrackEntryResource, EndpointResource, IpamConfig, NetworkResource } from './api-types.js';
import { dnsAddressOf, isIpv6Only, type LiveNetwork } from './live-network.js';
import type { EndpointRecord } from './state-store.js';
import { isIpv6Mapping } from './publish.js';
import { linkText } from './container-links.js';

/** An endpoint; `dnsServer` is the resolver its container uses, or null with the DNS off. */
export function endpointResource(live: LiveNetwork, r: EndpointRecord, dnsServer: string | null): EndpointResource {
  return {
    Name: r.name,
    EndpointID: r.id,
    MacAddress: r.mac,
    // an endpoint of an IPv6-only network has none: "" as Docker prints it
    IPv4Address: r.ip !== '' ? `${r.ip}/${parseCidr(live.record.subnet).prefixLen}` : '',
    IPv6Address: r.ip6 !== undefined && live.record.ipv6 !== undefined ? `${r.ip6}/${parseCidr6(live.record.ipv6.subnet).prefixLen}` : '',
    Interface: r.ifName,
    Netns: r.netnsPath,
    ...(r.containerId !== undefined ? { ContainerID: r.containerId } : {}),
    Aliases: r.aliases,
    ...(r.links !== undefined && r.links.length > 0 ? { Links: r.links.map(linkText) } : {}),
    Ports: r.ports.map((m) => ({ ...m, network: live.record.name, containerIp: isIpv6Mapping(m) ? (r.ip6 ?? '') : r.ip })),
    ...(dnsServer !== null ? { DNSNames: [r.name, ...r.aliases], DNSServer: dnsServer } : {}),
  };
}

/** One IPAM.Config entry per family, IPv4 first, as Docker's inspect. */
function ipamConfig(r: LiveNetwork['record']): IpamConfig[] {
  const entry = (c: { subnet: string; gateway: string; ipRange?: string }): IpamConfig => ({
    Subnet: c.subnet,
    Gateway: c.gateway,
    ...(c.ipRange !== undefined ? { IPRange: c.ipRange } : {}),
  });
  // Docker's AuxiliaryAddresses: each --aux-address in the entry of its family
  const aux = (v6: boolean): Pick<IpamConfig, 'AuxiliaryAddresses'> => {
    const of = Object.entries(r.auxAddresses ?? {}).filter(([, ip]) => ip.includes(':') === v6);
    return of.length > 0 ? { AuxiliaryAddresses: Object.fromEntries(of) } : {};
  };
  const out: IpamConfig[] = [];
  if (!isIpv6Only(r)) out.push({ ...entry(r), ...aux(false) });
  if (r.ipv6 !== undefined) out.push({ ...entry(r.ipv6), ...aux(true) });
  return out;
}

export function networkResource(live: LiveNetwork, dnsEnabled: boolean, endpoint: (r: EndpointRecord) => EndpointResource): NetworkResource {
  const r = live.record;
  const containers: Record<string, EndpointResource> = {};
  for (const ep of live.endpoints.values()) containers[ep.record.id] = endpoint(ep.record);
  return {
    Name: r.name,
    Id: r.id,
    Created: r.created,
    Scope: r.driver === 'overlay' ? 'swarm' : 'local',
    Driver: r.driver,
    EnableIPv6: r.ipv6 !== undefined,
    IPAM: {
      Driver: 'default',
      Options: {},
      Config: ipamConfig(r),
    },
    Internal: r.internal,
    Attachable: true,
    Containers: containers,
    Options: {
      'com.docker.network.driver.mtu': String(r.mtu),
      'pontoon.gateway.mac': r.gatewayMac,
      ...(dnsEnabled && r.macvlan === undefined ? { 'pontoon.dns': dnsAddressOf(r) } : {}),
      ...(r.macvlan !== undefined
        ? {
            ...(r.macvlan.parent !== '' ? { parent: r.macvlan.parent } : {}),
            macvlan_mode: r.macvlan.mode,
            'pontoon.host_access': String(r.macvlan.hostAccess),
          }
        : {}),
      ...(r.ipv6 !== undefined ? { 'pontoon.ipv6.nat': String(r.ipv6.nat) } : {}),
      ...(r.isDefault ? { 'com.docker.network.bridge.default_bridge': 'true' } : {}),
      ...(r.vni !== undefined ? { 'com.docker.network.driver.overlay.vxlanid_list': String(r.vni) } : {}),
      ...(r.routed !== undefined
        ? {
            'pontoon.mode': 'routed',
            'pontoon.cluster_subnet': r.routed.cluster,
            'pontoon.host_subnet_size': String(r.routed.hostSubnetSize),
            'pontoon.flannel_prefix': r.routed.flannelPrefix,
            'pontoon.vxlan_port': String(r.routed.port),
          }
        : {}),
    },
    ...(r.routed !== undefined
      ? {
          HostSubnets: [...live.leases.values()]
            .sort((a, b) => parseCidr(a.subnet).addr - parseCidr(b.subnet).addr)
            .map((l) => ({ Subnet: l.subnet, Host: l.publicIp, VtepMAC: l.vtepMac, Local: l.subnet === r.subnet })),
        }
      : {}),
    ...(r.driver === 'overlay'
      ? {
          Peers: [...live.peers].sort().map((ip) => ({ IP: ip })),
          RemoteContainers: Object.fromEntries(
            [...live.remotes.values()].map((e) => [
              e.id,
              { Name: e.name, EndpointID: e.id, MacAddress: e.mac, IPv4Address: `${e.ip}/${parseCidr(r.subnet).prefixLen}`, Host: e.vtep },
            ]),
          ),
        }
      : {}),
    Labels: r.dockerNetworkId !== undefined ? { 'com.docker.network.id': r.dockerNetworkId } : {},
  };
}

const address = (a: number | Ipv6Words): string => (typeof a === 'number' ? ipv4ToString(a) : ipv6ToString(a));

const tuple = (t: ConntrackTuple) => ({
  src: address(t.src),
  dst: address(t.dst),
  sport: t.sport,
  dport: t.dport,
});

export function conntrackResource(c: ConntrackRecord): ConntrackEntryResource {
  const v6 = c.family === Family.Ipv6;
  const proto = v6 && c.proto === IP_PROTO_ICMPV6 ? 'icmpv6' : trackedProtocolName(c.proto);
  const flags: string[] = [];
  if ((c.flags & CtFlag.SeenReply) === 0) flags.push('UNREPLIED');
  if ((c.flags & CtFlag.Assured) !== 0) flags.push('ASSURED');
  if ((c.flags & CtFlag.Snat) !== 0) flags.push('SNAT');
  if ((c.flags & CtFlag.Dnat) !== 0) flags.push('DNAT');
  if ((c.flags & CtFlag.Liberal) !== 0) flags.push('PICKED_UP'); // mid-stream (tcpLoose): windows not checked
  return {
    family: v6 ? 'ipv6' : 'ipv4',
    proto,
    protoNumber: c.proto,
    timeoutSeconds: Math.max(0, Math.round(c.expiresInMs / 1000)),
    state: proto === 'tcp' ? (CT_STATE_NAMES[c.state] ?? '') : '',
    orig: tuple(c.orig),
    reply: tuple(c.reply),
    flags,
    packets: c.packets,
    bytes: c.bytes,
  };
}
