// The ADD result, built from what the daemon answered: one interface inside the sandbox, its
// IPv4 address, the default route (none on an internal network) and the embedded DNS (the
// network's gateway, when the daemon's DNS is on).

import type { EndpointResource, NetworkResource } from '../control/api-types.js';
import { type CniVersion, ipsCarryVersion } from './cni-version.js';

export interface CniInterface {
  name: string;
  mac: string;
  sandbox: string;
}

export interface CniIp {
  version?: '4';
  interface: number;
  address: string;
  gateway: string;
}

export interface CniResult {
  cniVersion: CniVersion;
  interfaces: CniInterface[];
  ips: CniIp[];
  routes: { dst: string; gw: string }[];
  dns: { nameservers?: string[] };
}

export function addResult(version: CniVersion, net: NetworkResource, ep: EndpointResource, sandbox: string): CniResult {
  const gateway = net.IPAM.Config[0]!.Gateway;
  return {
    cniVersion: version,
    interfaces: [{ name: ep.Interface, mac: ep.MacAddress, sandbox }],
    ips: [{ ...(ipsCarryVersion(version) ? { version: '4' as const } : {}), interface: 0, address: ep.IPv4Address, gateway }],
    routes: net.Internal ? [] : [{ dst: '0.0.0.0/0', gw: gateway }],
    // this network's own gateway (the embedded DNS answers on each): a runtime that drops a
    // network's nameservers when it leaves it (Podman) keeps those of the others
    dns: ep.DNSServer !== undefined ? { nameservers: [gateway] } : {},
  };
}

interface PrevResultShape {
  interfaces?: CniInterface[];
  ips?: CniIp[];
  routes?: { dst: string; gw: string }[];
  dns?: { nameservers?: string[] };
}

/**
 * A plugin later in a chain passes on what came before: the earlier plugins' interfaces, addresses
 * and routes first, then this one's (its address pointing at its interface's new index).
 */
export function chainedResult(prev: unknown, ours: CniResult): CniResult {
  if (typeof prev !== 'object' || prev === null) return ours;
  const p = prev as PrevResultShape;
  const before = Array.isArray(p.interfaces) ? p.interfaces : [];
  const nameservers = [...new Set([...(p.dns?.nameservers ?? []), ...(ours.dns.nameservers ?? [])])];
  return {
    cniVersion: ours.cniVersion,
    interfaces: [...before, ...ours.interfaces],
    ips: [...(Array.isArray(p.ips) ? p.ips : []), ...ours.ips.map((ip) => ({ ...ip, interface: ip.interface + before.length }))],
    routes: [...(Array.isArray(p.routes) ? p.routes : []), ...ours.routes],
    dns: nameservers.length > 0 ? { nameservers } : {},
  };
}
