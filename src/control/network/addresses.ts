// The addresses the network service makes up: containers' and gateways' MACs, the candidates an
// overlay network's cluster-wide allocation tries, and dotted text checked into a number.

import { randomBytes } from 'node:crypto';
import { macToString } from '../../wire/mac.js';
import { formatIPv4, parseCidr, parseIPv4 } from '../ipam.js';

/** A dotted-quad address as a number; throws on anything else (records hold checked addresses). */
export function ipv4(s: string): number {
  const n = parseIPv4(s);
  if (n === null) throw new Error(`invalid IPv4 address ${s}`);
  return n;
}

/** Docker's MAC scheme: 02:42 followed by the IPv4 address. */
export function macForIp(ip: string): string {
  return macToString(0x0242 * 0x100000000 + ipv4(ip));
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

/** Addresses of a subnet (or of its ip-range) a container may get, lowest first. */
export function* candidateAddresses(subnet: string, gateway: string, ipRange?: string): Generator<string> {
  const net = parseCidr(subnet);
  const range = ipRange !== undefined ? parseCidr(ipRange) : net;
  const first = range.network;
  const last = range.network + 2 ** (32 - range.prefix) - 1;
  const bcast = net.network + 2 ** (32 - net.prefix) - 1;
  const gw = ipv4(gateway);
  for (let a = first; a <= last; a++) {
    if (a === net.network || a === bcast || a === gw) continue;
    yield formatIPv4(a);
  }
}
