// Published ports (DNAT), as `docker run -p`: a port of the gateway's uplink and host-link
// addresses forwarded to a container's port. One array slot per (protocol, host port), so the
// lookup for an inbound packet is a single index.

import { IP_PROTO_TCP, IP_PROTO_UDP, type PortProtocol } from '../wire/ipv4.js';
import { HeapMemory, type TableMemory } from './table-memory.js';

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
  // per rule; `used` is written last on add and first on remove, so a torn write leaves no half rule
  private readonly used: Uint8Array;
  private readonly proto: Uint8Array;
  private readonly hostPort: Uint16Array;
  private readonly hostIp: Int32Array;
  private readonly targetIp: Int32Array;
  private readonly targetPort: Uint16Array;
  /** 1: adopted from a previous process and not yet confirmed by the control plane */
  private readonly unconfirmed: Uint8Array;
  private readonly free: number[] = [];
  private count = 0;

  constructor(
    readonly capacity = 65536,
    mem: TableMemory = new HeapMemory(),
  ) {
    this.used = mem.u8(capacity);
    this.proto = mem.u8(capacity);
    this.hostPort = mem.u16(capacity);
    this.hostIp = mem.i32(capacity);
    this.targetIp = mem.i32(capacity);
    this.targetPort = mem.u16(capacity);
    this.unconfirmed = new Uint8Array(capacity);
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

  /**
   * Publishes a rule. The same rule adopted from a previous process is confirmed (a no-op); an
   * adopted rule that differs is replaced; any other rule on the port is an error.
   */
  add(rule: PublishRule): void {
    const k = key(rule.proto, rule.hostPort);
    const old = this.slot[k];
    if (old !== NONE) {
      if (this.unconfirmed[old] === 0) throw new Error(`port ${rule.hostPort}/${rule.proto === IP_PROTO_UDP ? 'udp' : 'tcp'} is already published`);
      this.unconfirmed[old] = 0;
      if (this.hostIp[old] === (rule.hostIp | 0) && this.targetIp[old] === (rule.targetIp | 0) && this.targetPort[old] === rule.targetPort) return;
      this.remove(rule.proto, rule.hostPort);
    }
    if (this.count >= this.capacity && this.free.length === 0) throw new Error(`no room for another published port (${this.capacity})`);
    const r = this.free.length > 0 ? this.free.pop()! : this.count++;
    this.proto[r] = rule.proto;
    this.hostPort[r] = rule.hostPort;
    this.hostIp[r] = rule.hostIp | 0;
    this.targetIp[r] = rule.targetIp | 0;
    this.targetPort[r] = rule.targetPort;
    this.used[r] = 1;
    this.slot[k] = r;
  }

  remove(proto: number, hostPort: number): void {
    const k = key(proto, hostPort);
    const r = this.slot[k];
    if (r === NONE) return;
    this.used[r] = 0;
    this.unconfirmed[r] = 0;
    this.slot[k] = NONE;
    this.free.push(r);
  }

  /**
   * Takes the rules found in the columns as this table's, each unconfirmed until add() names it
   * again; rules with a bad protocol or port, or on a port already taken, are cleared. `each` sees
   * every adopted rule (to reserve its port). Counts of adopted and dropped rules.
   */
  adopt(each: (proto: PortProtocol, hostPort: number) => void): { adopted: number; dropped: number } {
    this.slot.fill(NONE);
    this.free.length = 0;
    this.count = 0;
    let adopted = 0;
    let dropped = 0;
    for (let r = 0; r < this.capacity; r++) {
      if (this.used[r] === 0) continue;
      const proto = this.proto[r];
      const port = this.hostPort[r];
      const valid = (proto === IP_PROTO_TCP || proto === IP_PROTO_UDP) && port !== 0 && this.targetPort[r] !== 0 && this.slot[key(proto, port)] === NONE;
      if (!valid) {
        this.used[r] = 0;
        dropped++;
        continue;
      }
      this.slot[key(proto, port)] = r;
      this.unconfirmed[r] = 1;
      this.count = r + 1;
      adopted++;
      each(proto, port);
    }
    for (let r = this.count - 1; r >= 0; r--) if (this.used[r] === 0) this.free.push(r);
    return { adopted, dropped };
  }

  /** Removes every adopted rule the control plane did not confirm; `each` sees each one removed. */
  sweepUnconfirmed(each: (proto: PortProtocol, hostPort: number) => void): number {
    let removed = 0;
    for (let r = 0; r < this.count; r++) {
      if (this.unconfirmed[r] === 0) continue;
      const proto = this.proto[r] as PortProtocol;
      const port = this.hostPort[r];
      this.remove(proto, port);
      each(proto, port);
      removed++;
    }
    return removed;
  }
}
