// The ADD result, built from what the daemon answered: one interface inside the sandbox, its
// IPv4 address (and IPv6 address on a network with IPv6; only that on an IPv6-only network), the
// default routes (none on an internal network; IPv6's via fe80::1, the gateway's link-local
// address, as the container has it) and the embedded DNS (the network's gateway, the IPv6 one on
// an IPv6-only network, when the daemon's DNS is on). On a macvlan network the gateway is the
// LAN's router, for both families, and the DNS is the LAN's: pontoon's does not answer there.

import type { EndpointResource, NetworkResource } from '../control/api-types.js';
import { type CniVersion, ipsCarryVersion } from './cni-version.js';

export interface CniInterface {
  name: string;
  mac: string;
  sandbox: string;
}

export interface CniIp {
  version?: '4' | '6';
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

/** The IPv6 default route's next hop inside the container: the gateway's link-local address. */
const GATEWAY_LINK_LOCAL = 'fe80::1';

export function addResult(version: CniVersion, net: NetworkResource, ep: EndpointResource, sandbox: string): CniResult {
  const v4 = net.IPAM.Config.find((c) => !c.Subnet.includes(':'));
  const v6 = net.IPAM.Config.find((c) => c.Subnet.includes(':'));
  const gateway = v4?.Gateway ?? '';
  const macvlan = net.Driver === 'macvlan';
  // the gateway owns no address on a macvlan network: no embedded DNS to name
  const nameserver = macvlan ? undefined : (v4?.Gateway ?? v6?.Gateway);
  const ip = (family: '4' | '6', address: string, gw: string): CniIp => ({
    ...(ipsCarryVersion(version) ? { version: family } : {}),
    interface: 0,
    address,
    gateway: gw,
  });
  const ips: CniIp[] = [];
  const routes: { dst: string; gw: string }[] = [];
  if (v4 !== undefined && ep.IPv4Address !== '') {
    ips.push(ip('4', ep.IPv4Address, gateway));
    if (!net.Internal) routes.push({ dst: '0.0.0.0/0', gw: gateway });
  }
  if (v6 !== undefined && ep.IPv6Address !== '') {
    ips.push(ip('6', ep.IPv6Address, v6.Gateway));
    if (!net.Internal) routes.push({ dst: '::/0', gw: macvlan ? v6.Gateway : GATEWAY_LINK_LOCAL });
  }
  return {
    cniVersion: version,
    interfaces: [{ name: ep.Interface, mac: ep.MacAddress, sandbox }],
    ips,
    routes,
    // this network's own gateway (the embedded DNS answers on each; the IPv6 one on an IPv6-only
    // network): a runtime that drops a network's nameservers when it leaves it (Podman) keeps those of the others
    dns: ep.DNSServer !== undefined && nameserver !== undefined ? { nameservers: [nameserver] } : {},
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
