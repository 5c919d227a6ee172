// The other hosts' subnets of routed overlay networks (flannel's model: a subnet per host, routed
// between hosts over VXLAN). A route of kind RouteTarget.Overlay points at one slot here: the
// network the subnet belongs to, the VTEP of the host that leases it, and the MAC of that host's
// VTEP, which is the inner frame's destination (flannel's vxlan backend programs the same as an
// onlink route via the peer's VTEP address, a neighbour entry for it and an fdb entry).

import { macHiOf, macLoOf } from '../wire/mac.js';

export class RemoteSubnets {
  /** network index of each slot (-1: a free slot) */
  network = new Int32Array(16).fill(-1);
  /** VTEP index of the host leasing the subnet */
  vtep = new Int32Array(16);
  /** the inner destination MAC: the peer host's VTEP MAC */
  macHi = new Int32Array(16);
  macLo = new Int32Array(16);
  private used = 0;

  /** Number of slots in use. */
  get size(): number {
    return this.used;
  }

  /** A slot for (network, vtep, mac): the index routes point at. */
  add(network: number, vtep: number, mac: number): number {
    let i = this.network.indexOf(-1);
    if (i < 0) {
      i = this.network.length;
      this.grow(i * 2);
    }
    this.network[i] = network;
    this.vtep[i] = vtep;
    this.macHi[i] = macHiOf(mac);
    this.macLo[i] = macLoOf(mac);
    this.used++;
    return i;
  }

  remove(i: number): void {
    if (i < 0 || i >= this.network.length || this.network[i] < 0) return;
    this.network[i] = -1;
    this.used--;
  }

  /** Whether a slot of `network` still goes to VTEP `vtep`. */
  vtepInUse(network: number, vtep: number): boolean {
    for (let i = 0; i < this.network.length; i++) if (this.network[i] === network && this.vtep[i] === vtep) return true;
    return false;
  }

  private grow(n: number): void {
    const widen = (a: Int32Array<ArrayBuffer>, fill: number): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(n).fill(fill);
      b.set(a);
      return b;
    };
    this.network = widen(this.network, -1);
    this.vtep = widen(this.vtep, 0);
    this.macHi = widen(this.macHi, 0);
    this.macLo = widen(this.macLo, 0);
  }
}
