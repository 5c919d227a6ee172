// Published ports (DNAT), as `docker run -p`: a port of the gateway's uplink and host-link
// addresses forwarded to a container's port. One array slot per (family, protocol, host port), so
// the lookup for an inbound packet is a single index. An IPv6 rule (`-p [::]:8080:80`) publishes a
// port of the gateway's IPv6 addresses to a container's IPv6 address: the families' port spaces
// are separate, as iptables' and ip6tables' DNAT rules are. Addresses are words as in conntrack
// (hostIp/targetIp: the IPv4 address or word 0; hostIp6/targetIp6: words 1..3, 0 for IPv4).

import { IP_PROTO_TCP, IP_PROTO_UDP, type PortProtocol } from '../wire/ipv4.js';
import type { Ipv6Words } from '../wire/ipv6-address.js';
import { Family, type IpFamily } from './conntrack.js';
import { HeapMemory, type TableMemory } from './table-memory.js';

const NONE = -1;

/** Slot of (family, protocol, port): IPv4 TCP ports first, then IPv4 UDP, IPv6 TCP, IPv6 UDP. */
function key(family: number, proto: number, port: number): number {
  return (family === Family.Ipv6 ? 2 * 65536 : 0) + (proto === IP_PROTO_UDP ? 65536 : 0) + port;
}

/** An IPv4 rule (`-p 8080:80`). */
export interface PublishRule {
  family?: typeof Family.Ipv4;
  proto: PortProtocol;
  /** 0: every address of the gateway that publishes (uplink and host link), else that one */
  hostIp: number;
  hostPort: number;
  targetIp: number;
  targetPort: number;
}

/** An IPv6 rule (`-p [::]:8080:80`): the container's IPv6 address. */
export interface PublishRule6 {
  family: typeof Family.Ipv6;
  proto: PortProtocol;
  /** :: (all zero): every IPv6 address of the gateway that publishes, else that one */
  hostIp: Ipv6Words;
  hostPort: number;
  targetIp: Ipv6Words;
  targetPort: number;
}

/** A rule of either family, as the control plane gives it. */
export type AnyPublishRule = PublishRule | PublishRule6;

/** "8080/tcp", "[::]:8080/tcp" for IPv6: a rule's key in messages. */
export function publishedPortName(family: number, proto: number, hostPort: number): string {
  const name = `${hostPort}/${proto === IP_PROTO_UDP ? 'udp' : 'tcp'}`;
  return family === Family.Ipv6 ? `[::]:${name}` : name;
}

export class PublishedPorts {
  private readonly slot = new Int32Array(4 * 65536).fill(NONE); // [ipv6?1:0][udp?1:0][port] -> rule
  // per rule; `used` is written last on add and first on remove, so a torn write leaves no half rule
  private readonly used: Uint8Array;
  private readonly proto: Uint8Array;
  private readonly hostPort: Uint16Array;
  private readonly hostIp: Int32Array;
  private readonly targetIp: Int32Array;
  private readonly targetPort: Uint16Array;
  private readonly family: Uint8Array;
  private readonly hostIp6: Int32Array;
  private readonly targetIp6: Int32Array;
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
    this.family = mem.u8(capacity);
    this.hostIp6 = mem.i32(capacity * 3);
    this.targetIp6 = mem.i32(capacity * 3);
    this.unconfirmed = new Uint8Array(capacity);
  }

  /** IPv4 rule for an inbound packet, or -1. */
  lookup(proto: number, dstIp: number, dstPort: number): number {
    const r = this.slot[key(Family.Ipv4, proto, dstPort)];
    if (r === NONE) return NONE;
    const h = this.hostIp[r];
    return h === 0 || h === (dstIp | 0) ? r : NONE;
  }

  /** IPv6 rule for an inbound packet to the address of words d0..d3, or -1. */
  lookup6(proto: number, d0: number, d1: number, d2: number, d3: number, dstPort: number): number {
    const r = this.slot[key(Family.Ipv6, proto, dstPort)];
    if (r === NONE) return NONE;
    const h = this.hostIp6;
    const w = r * 3;
    const h0 = this.hostIp[r];
    if ((h0 | h[w] | h[w + 1] | h[w + 2]) === 0) return r; // ::, every address
    return h0 === (d0 | 0) && h[w] === (d1 | 0) && h[w + 1] === (d2 | 0) && h[w + 2] === (d3 | 0) ? r : NONE;
  }

  /** The IPv4 target address, or word 0 of the IPv6 one. */
  targetIpOf(r: number): number {
    return this.targetIp[r] >>> 0;
  }

  /** Word i (0..3) of the target address, int32 (IPv4: word 0 is the address). */
  targetWord(r: number, i: number): number {
    return i === 0 ? this.targetIp[r] : this.targetIp6[r * 3 + i - 1];
  }

  targetPortOf(r: number): number {
    return this.targetPort[r];
  }

  familyOf(r: number): IpFamily {
    return this.family[r] === Family.Ipv6 ? Family.Ipv6 : Family.Ipv4;
  }

  /** The rule of (protocol, host port) of a family whatever its host address, or -1. */
  ruleOf(proto: number, hostPort: number, family: IpFamily = Family.Ipv4): number {
    return this.slot[key(family, proto, hostPort)];
  }

  isPublished(proto: number, hostPort: number, family: IpFamily = Family.Ipv4): boolean {
    return this.slot[key(family, proto, hostPort)] !== NONE;
  }

  /** The rule as the control plane gave it (slow path). */
  ruleAt(r: number): AnyPublishRule {
    const proto = this.proto[r] as PortProtocol;
    if (this.family[r] !== Family.Ipv6) {
      return { proto, hostIp: this.hostIp[r] >>> 0, hostPort: this.hostPort[r], targetIp: this.targetIp[r] >>> 0, targetPort: this.targetPort[r] };
    }
    const w = r * 3;
    const h = this.hostIp6;
    const t = this.targetIp6;
    return {
      family: Family.Ipv6,
      proto,
      hostIp: [this.hostIp[r] >>> 0, h[w] >>> 0, h[w + 1] >>> 0, h[w + 2] >>> 0],
      hostPort: this.hostPort[r],
      targetIp: [this.targetIp[r] >>> 0, t[w] >>> 0, t[w + 1] >>> 0, t[w + 2] >>> 0],
      targetPort: this.targetPort[r],
    };
  }

  /**
   * Publishes a rule. The same rule adopted from a previous process is confirmed (a no-op); an
   * adopted rule that differs is replaced; any other rule on the port is an error.
   */
  add(rule: AnyPublishRule): void {
    const family = rule.family === Family.Ipv6 ? Family.Ipv6 : Family.Ipv4;
    // the words of both addresses (IPv4: the address, then 0s)
    const h = rule.family === Family.Ipv6 ? rule.hostIp : [rule.hostIp, 0, 0, 0];
    const t = rule.family === Family.Ipv6 ? rule.targetIp : [rule.targetIp, 0, 0, 0];
    const k = key(family, rule.proto, rule.hostPort);
    const old = this.slot[k];
    if (old !== NONE) {
      if (this.unconfirmed[old] === 0) throw new Error(`port ${publishedPortName(family, rule.proto, rule.hostPort)} is already published`);
      this.unconfirmed[old] = 0;
      if (this.sameWords(this.hostIp, this.hostIp6, old, h) && this.sameWords(this.targetIp, this.targetIp6, old, t) && this.targetPort[old] === rule.targetPort) return;
      this.remove(rule.proto, rule.hostPort, family);
    }
    if (this.count >= this.capacity && this.free.length === 0) throw new Error(`no room for another published port (${this.capacity})`);
    const r = this.free.length > 0 ? this.free.pop()! : this.count++;
    this.family[r] = family;
    this.proto[r] = rule.proto;
    this.hostPort[r] = rule.hostPort;
    this.hostIp[r] = h[0] | 0;
    this.targetIp[r] = t[0] | 0;
    for (let i = 1; i < 4; i++) {
      this.hostIp6[r * 3 + i - 1] = h[i] | 0;
      this.targetIp6[r * 3 + i - 1] = t[i] | 0;
    }
    this.targetPort[r] = rule.targetPort;
    this.used[r] = 1;
    this.slot[k] = r;
  }

  private sameWords(w0: Int32Array, rest: Int32Array, r: number, a: readonly number[]): boolean {
    const w = r * 3;
    return w0[r] === (a[0] | 0) && rest[w] === (a[1] | 0) && rest[w + 1] === (a[2] | 0) && rest[w + 2] === (a[3] | 0);
  }

  remove(proto: number, hostPort: number, family: IpFamily = Family.Ipv4): void {
    const k = key(family, proto, hostPort);
    const r = this.slot[k];
    if (r === NONE) return;
    this.used[r] = 0;
    this.unconfirmed[r] = 0;
    this.slot[k] = NONE;
    this.free.push(r);
  }

  /**
   * Takes the rules found in the columns as this table's, each unconfirmed until add() names it
   * again; rules with a bad family, protocol or port, or on a port already taken, are cleared.
   * `each` sees every adopted rule (to reserve its port). Counts of adopted and dropped rules.
   */
  adopt(each: (proto: PortProtocol, hostPort: number, family: IpFamily) => void): { adopted: number; dropped: number } {
    this.slot.fill(NONE);
    this.free.length = 0;
    this.count = 0;
    let adopted = 0;
    let dropped = 0;
    for (let r = 0; r < this.capacity; r++) {
      if (this.used[r] === 0) continue;
      const proto = this.proto[r];
      const port = this.hostPort[r];
      const family = this.family[r];
      const w = r * 3;
      const v4Clean = (this.hostIp6[w] | this.hostIp6[w + 1] | this.hostIp6[w + 2] | this.targetIp6[w] | this.targetIp6[w + 1] | this.targetIp6[w + 2]) === 0;
      const valid =
        (family === Family.Ipv6 || (family === Family.Ipv4 && v4Clean)) &&
        (proto === IP_PROTO_TCP || proto === IP_PROTO_UDP) &&
        port !== 0 &&
        this.targetPort[r] !== 0 &&
        this.slot[key(family, proto, port)] === NONE;
      if (!valid) {
        this.used[r] = 0;
        dropped++;
        continue;
      }
      this.slot[key(family, proto, port)] = r;
      this.unconfirmed[r] = 1;
      this.count = r + 1;
      adopted++;
      each(proto, port, family);
    }
    for (let r = this.count - 1; r >= 0; r--) if (this.used[r] === 0) this.free.push(r);
    return { adopted, dropped };
  }

  /** Removes every adopted rule the control plane did not confirm; `each` sees each one removed. */
  sweepUnconfirmed(each: (proto: PortProtocol, hostPort: number, family: IpFamily) => void): number {
    let removed = 0;
    for (let r = 0; r < this.count; r++) {
      if (this.unconfirmed[r] === 0) continue;
      const proto = this.proto[r] as PortProtocol;
      const port = this.hostPort[r];
      const family = this.familyOf(r);
      this.remove(proto, port, family);
      each(proto, port, family);
      removed++;
    }
    return removed;
  }
}
