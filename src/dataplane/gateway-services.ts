// The gateway's own services on every network's gateway address, declared once: the embedded DNS
// on port 53 and the NAT-PMP/PCP server on 5351. nat44 DNATs a container's packet to gateway:port
// to the daemon's socket for that service (the source untouched, so the daemon sees who asks);
// its replies come back through the same conntrack entry, from gateway:port.

import { IP_PROTO_TCP, IP_PROTO_UDP } from '../wire/ipv4.js';
import type { Ipv6Words } from '../wire/ipv6-address.js';

export const GATEWAY_SERVICES = [
  { name: 'dns', port: 53, tcp: true, udp: true },
  { name: 'pcp', port: 5351, tcp: false, udp: true },
] as const;
export type GatewayServiceName = (typeof GATEWAY_SERVICES)[number]['name'];

const COUNT = GATEWAY_SERVICES.length;
const UDP_BIT = 1;
const TCP_BIT = 2;

/** Where each service's socket is (port 0: the service is off, its packets go their usual way). */
export class GatewayServices {
  private readonly gatewayPort = new Uint16Array(COUNT);
  private readonly protos = new Uint8Array(COUNT);
  readonly targetIp = new Uint32Array(COUNT);
  readonly targetPort = new Uint16Array(COUNT);
  /** IPv6: the socket's address words (4 per service) and port, for queries to a network's IPv6 gateway address */
  readonly targetIp6 = new Uint32Array(COUNT * 4);
  readonly targetPort6 = new Uint16Array(COUNT);

  constructor() {
    for (let i = 0; i < COUNT; i++) {
      const s = GATEWAY_SERVICES[i]!;
      this.gatewayPort[i] = s.port;
      this.protos[i] = (s.udp ? UDP_BIT : 0) | (s.tcp ? TCP_BIT : 0);
    }
  }

  /** The service answering proto/dport on an IPv4 gateway address, or -1. */
  lookup(proto: number, dport: number): number {
    return this.find(proto, dport, this.targetPort);
  }

  /** The service answering proto/dport on an IPv6 gateway address, or -1. */
  lookup6(proto: number, dport: number): number {
    return this.find(proto, dport, this.targetPort6);
  }

  private find(proto: number, dport: number, target: Uint16Array): number {
    const bit = proto === IP_PROTO_UDP ? UDP_BIT : proto === IP_PROTO_TCP ? TCP_BIT : 0;
    for (let i = 0; i < COUNT; i++) {
      if (this.gatewayPort[i] === dport && (this.protos[i]! & bit) !== 0 && target[i] !== 0) return i;
    }
    return -1;
  }

  /** Sends the service's packets to ip:port (a socket of the daemon); port 0 turns it off. */
  set(name: GatewayServiceName, ip: number, port: number): void {
    const i = GATEWAY_SERVICES.findIndex((s) => s.name === name);
    if (i < 0) throw new Error(`no gateway service ${name}`);
    this.targetIp[i] = ip >>> 0;
    this.targetPort[i] = port;
  }

  /** Sends the service's IPv6 packets to [ip]:port (a socket of the daemon on the host link's IPv6 address); port 0 turns it off. */
  set6(name: GatewayServiceName, ip: Ipv6Words, port: number): void {
    const i = GATEWAY_SERVICES.findIndex((s) => s.name === name);
    if (i < 0) throw new Error(`no gateway service ${name}`);
    this.targetIp6.set(ip, i * 4);
    this.targetPort6[i] = port;
  }
}
