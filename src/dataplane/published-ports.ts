// Published ports (DNAT), as `docker run -p`: a port of the gateway's uplink and host-link
// addresses forwarded to a container's port. One array slot per (protocol, host port), so the
// lookup for an inbound packet is a single index.

import { IP_PROTO_UDP, type PortProtocol } from '../wire/ipv4.js';

const NONE = -1;

/** Slot of (protocol, port): TCP ports first, then UDP ports. */
function key(proto: number, port: number): number {
  return (proto === IP_PROTO_UDP ? 65536 : 0) + port;
}

export interface PublishRule {
  proto: PortProtocol;
  /** 0: every address of the gateway that publishes (uplink and host link), else that one */
  hostIp: number;
  hostPort: number;
  targetIp: number;
  targetPort: number;
}

export class PublishedPorts {
  private readonly slot = new Int32Array(2 * 65536).fill(NONE); // [udp?1:0][port] -> rule
  private readonly hostIp: Int32Array;
  private readonly targetIp: Int32Array;
  private readonly targetPort: Uint16Array;
  private readonly free: number[] = [];
  private count = 0;

  constructor(readonly capacity = 65536) {
    this.hostIp = new Int32Array(capacity);
    this.targetIp = new Int32Array(capacity);
    this.targetPort = new Uint16Array(capacity);
  }

  /** Rule for an inbound packet, or -1. */
  lookup(proto: number, dstIp: number, dstPort: number): number {
    const r = this.slot[key(proto, dstPort)];
    if (r === NONE) return NONE;
    const h = this.hostIp[r];
    return h === 0 || h === (dstIp | 0) ? r : NONE;
  }

  targetIpOf(r: number): number {
    return this.targetIp[r] >>> 0;
  }

  targetPortOf(r: number): number {
    return this.targetPort[r];
  }

  /** The rule of (protocol, host port) whatever its host address, or -1. */
  ruleOf(proto: number, hostPort: number): number {
    return this.slot[key(proto, hostPort)];
  }

  isPublished(proto: number, hostPort: number): boolean {
    return this.slot[key(proto, hostPort)] !== NONE;
  }

  add(rule: PublishRule): void {
    const k = key(rule.proto, rule.hostPort);
    if (this.slot[k] !== NONE) throw new Error(`port ${rule.hostPort}/${rule.proto === IP_PROTO_UDP ? 'udp' : 'tcp'} is already published`);
    const r = this.free.length > 0 ? this.free.pop()! : this.count++;
    this.hostIp[r] = rule.hostIp | 0;
    this.targetIp[r] = rule.targetIp | 0;
    this.targetPort[r] = rule.targetPort;
    this.slot[k] = r;
  }

  remove(proto: number, hostPort: number): void {
    const k = key(proto, hostPort);
    const r = this.slot[k];
    if (r === NONE) return;
    this.slot[k] = NONE;
    this.free.push(r);
  }
}
