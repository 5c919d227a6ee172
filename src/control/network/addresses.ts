// The addresses the network service makes up: containers' and gateways' MACs, the candidates an
// overlay network's cluster-wide allocation tries, and dotted text checked into a number.

import { randomBytes } from 'node:crypto';
import { macToString } from '../../wire/mac.js';
import { cidrLastAddress, cidrNetwork, ipv4ToString, parseCidr, parseIpv4, parseIpv4OrNull } from '../../wire/ipv4-address.js';
import {
  cidr6Host,
  cidr6Network,
  ipv6Equal,
  ipv6ToString,
  isIpv4MappedIpv6,
  isLinkLocalIpv6,
  isMulticastIpv6,
  isUnspecifiedIpv6,
  parseCidr6,
  parseIpv6,
  parseIpv6OrNull,
} from '../../wire/ipv6-address.js';
import type { VtepAddress } from '../../dataplane/vtep-table.js';
import type { Ipv6NetworkSpec } from '../../dataplane/specs.js';
import type { Ipv6NetworkRecord } from '../state-store.js';

/** A dotted-quad address as a number; throws on anything else (records hold checked addresses). */
export function ipv4(s: string): number {
  return parseIpv4(s);
}

/** A VTEP's underlay address (IPv4 or IPv6 text) as the data plane takes it; throws on anything else. */
export function vtepAddress(s: string): VtepAddress {
  return s.includes(':') ? parseIpv6(s) : parseIpv4(s);
}

/** The underlay family of a VTEP address (text): 'IPv6' or 'IPv4'. */
export function vtepFamily(s: string): 'IPv4' | 'IPv6' {
  return s.includes(':') ? 'IPv6' : 'IPv4';
}

/**
 * A VTEP's underlay address in the one text form every host compares (dotted quad, or RFC 5952
 * IPv6), or null when it is neither, or an IPv6 address no underlay socket can use (link-local
 * without a scope, multicast, unspecified, IPv4-mapped).
 */
export function canonicalVtep(s: string): string | null {
  if (parseIpv4OrNull(s) !== null) return s;
  const a = parseIpv6OrNull(s);
  if (a === null || isLinkLocalIpv6(a) || isMulticastIpv6(a) || isUnspecifiedIpv6(a) || isIpv4MappedIpv6(a)) return null;
  return ipv6ToString(a);
}

/** Docker's MAC scheme: 02:42 followed by the IPv4 address. */
export function macForIp(ip: string): string {
  return macToString(0x0242 * 0x100000000 + ipv4(ip));
}

/**
 * The MAC of an endpoint without IPv4 (an IPv6-only network): 02:42 followed by the last 32 bits
 * of its IPv6 address, unless an endpoint in `taken` has that one already (two addresses that
 * differ only above their last 32 bits); then a random 02:42 MAC that none has.
 */
export function macForIpv6(ip6: string, taken: ReadonlySet<string>): string {
  const w = parseIpv6(ip6);
  let mac = macToString(0x0242 * 0x100000000 + (w[3] >>> 0));
  while (taken.has(mac)) mac = macToString(0x0242 * 0x100000000 + randomBytes(4).readUInt32BE(0));
  return mac;
}

/** Gateway MAC of a bridge network: random, locally administered (02:50). */
export function randomGatewayMac(): string {
  const b = randomBytes(4);
  return macToString(0x0250 * 0x100000000 + b.readUInt32BE(0));
}

/** Gateway MAC of an overlay network: the same on every host, since each answers for the gateway. */
export function overlayGatewayMac(vni: number): string {
  return macToString(0x0250 * 0x100000000 + 0xfe000000 + (vni & 0xffffff));
}

/**
 * A routed overlay host's VTEP MAC: 02, the VNI's low byte, then the host's IPv4 underlay address,
 * so that the host finds its own lease again after losing its state (the lease's value is the same).
 */
export function routedVtepMac(vni: number, vtep: string): string {
  return macToString(0x02 * 0x10000000000 + (vni & 0xff) * 0x100000000 + ipv4(vtep));
}

/** The subnets of size /`size` of `cluster` a host may lease, lowest first, the first one left out (flannel's SubnetMin). */
export function* hostSubnets(cluster: string, size: number): Generator<string> {
  const c = cidrNetwork(parseCidr(cluster));
  const step = 2 ** (32 - size);
  const count = 2 ** (size - c.prefixLen);
  for (let i = 1; i < count; i++) yield `${ipv4ToString(c.addr + i * step)}/${size}`;
}

/** Addresses of a subnet (or of its ip-range) a container may get, lowest first. */
export function* candidateAddresses(subnet: string, gateway: string, ipRange?: string): Generator<string> {
  const net = cidrNetwork(parseCidr(subnet));
  const range = ipRange !== undefined ? cidrNetwork(parseCidr(ipRange)) : net;
  const last = cidrLastAddress(range);
  const bcast = cidrLastAddress(net);
  const gw = ipv4(gateway);
  for (let a = range.addr; a <= last; a++) {
    if (a === net.addr || a === bcast || a === gw) continue;
    yield ipv4ToString(a);
  }
}

/**
 * IPv6 addresses of a subnet (or of its ip-range) a container may get, lowest first, in RFC 5952
 * form: never the subnet-router anycast address (the subnet's first) nor the gateway. Lazy: a /64
 * is walked only as far as the caller reads (at most 2^53 host numbers, as the allocator).
 */
export function* candidateAddresses6(subnet: string, gateway: string, ipRange?: string): Generator<string> {
  const net = cidr6Network(parseCidr6(subnet));
  const range = ipRange !== undefined ? cidr6Network(parseCidr6(ipRange)) : net;
  const gw = parseIpv6(gateway);
  const hostBits = 128 - range.prefixLen;
  const last = hostBits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** hostBits - 1;
  for (let n = 0; n <= last; n++) {
    const a = cidr6Host(range, n);
    if (ipv6Equal(a, net.addr) || ipv6Equal(a, gw)) continue;
    yield ipv6ToString(a);
  }
}

/** The IPv6 side of a network as the data plane takes it (plain words: it crosses the worker boundary). */
export function ipv6NetworkSpec(r: Ipv6NetworkRecord): Ipv6NetworkSpec {
  const net = cidr6Network(parseCidr6(r.subnet));
  return { subnet: net.addr, prefixLen: net.prefixLen, gatewayIp: parseIpv6(r.gateway), nat: r.nat };
}
