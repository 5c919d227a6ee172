// The parent devices of macvlan networks: `-o parent=eth0.50` resolved to a device and a VLAN (a
// kernel sub-interface of that name is used as it is; otherwise the data plane tags VLAN 50 on
// eth0), one packet socket per device however many networks and VLANs use it, and each network's
// port on it. A parent that vanishes while in use is reported and counted, its networks keep their
// containers (they reach each other, not the LAN), and it is attached again when it returns.

import type { Logger } from 'pino';
import { ApiFailure } from '../gateway-api.js';
import type { HostDevices } from '../host-devices.js';
import type { LiveNetwork } from '../live-network.js';
import type { MacvlanRecord } from '../state-store.js';
import type { LiveNetworks } from './live-networks.js';
import type { ServiceDataplane } from './service-dataplane.js';

const MAX_VLAN = 4094;

/** The name of a network's port on its parent: the device, and its VLAN when the data plane tags one. */
function portName(m: MacvlanRecord): string {
  return m.vlan !== 0 ? `${m.device}.${m.vlan}` : m.device;
}

interface Parent {
  index: number;
  device: string;
  /** the interface's index when the socket was opened: another of the same name is another device */
  ifindex: number;
  /** -1 while the device is gone */
  fd: number;
  /** ids of the networks on it */
  users: Set<string>;
}

export interface ParentStatus {
  device: string;
  attached: boolean;
  networks: string[];
  /** times it vanished while in use */
  lost: number;
}

export class MacvlanParents {
  private readonly parents = new Map<string, Parent>();
  private nextIndex = 0;
  private readonly lostCount = new Map<string, number>();
  /** times any parent vanished while in use (pontoon_macvlan_parent_lost_total) */
  lost = 0;

  constructor(
    private readonly deps: {
      dataplane: ServiceDataplane;
      devices: HostDevices;
      networks: LiveNetworks;
      log: Logger;
    },
  ) {}

  /**
   * What `-o parent=` names: the device frames cross and the VLAN they are tagged with. ApiFailure
   * (400) for a parent that does not exist or is down, or a VLAN outside 1-4094.
   */
  resolve(parent: string): { device: string; vlan: number; mtu: number } {
    const { devices } = this.deps;
    const own = devices.linkState(parent);
    if (own !== null) {
      if (!own.up) throw new ApiFailure(400, `-o parent interface ${parent} is down: bring it up first (ip link set ${parent} up)`);
      return { device: parent, vlan: 0, mtu: own.mtu };
    }
    const m = /^(.+)\.([0-9]+)$/.exec(parent);
    if (m === null) throw new ApiFailure(400, `-o parent interface was not found on the host: ${parent}`);
    const base = m[1]!;
    const vlan = Number(m[2]);
    if (!Number.isInteger(vlan) || vlan < 1 || vlan > MAX_VLAN) throw new ApiFailure(400, `vlan id out of range: ${m[2]}, it must be between 1 and ${MAX_VLAN} (-o parent=${parent})`);
    const link = devices.linkState(base);
    if (link === null) throw new ApiFailure(400, `-o parent interface was not found on the host: ${base} (of ${parent})`);
    if (!link.up) throw new ApiFailure(400, `-o parent interface ${base} is down: bring it up first (ip link set ${base} up)`);
    // the tag goes on top of the payload: a VLAN's frames carry as much as the device's
    return { device: base, vlan, mtu: link.mtu };
  }

  /** The network's port on its parent (opening the device's socket for its first network). No parent (internal): nothing. */
  async attach(live: LiveNetwork): Promise<void> {
    const m = live.record.macvlan;
    if (m === undefined || m.device === '') return;
    let p = this.parents.get(m.device);
    if (p === undefined) {
      p = { index: this.nextIndex++, device: m.device, ifindex: -1, fd: -1, users: new Set() };
      this.parents.set(m.device, p);
    }
    if (p.fd < 0) {
      try {
        await this.open(p);
      } catch (err) {
        // gone since it was checked (or at a restart): the network stays, without the LAN, until check() finds it back
        this.deps.log.warn({ network: live.record.name, parent: m.device, err: (err as Error).message }, 'macvlan parent missing: attached when it returns');
        p.users.add(live.record.id);
        return;
      }
    }
    try {
      await this.addPort(p, live, m);
    } catch (err) {
      if (p.users.size === 0) await this.close(p);
      throw err;
    }
    p.users.add(live.record.id);
  }

  /** After the network left the data plane (its port with it): the device's socket closes with its last network. */
  async detach(live: LiveNetwork): Promise<void> {
    const m = live.record.macvlan;
    if (m === undefined || m.device === '') return;
    const p = this.parents.get(m.device);
    if (p === undefined) return;
    p.users.delete(live.record.id);
    this.ports.delete(live.record.id);
    if (p.users.size > 0) return;
    await this.close(p);
    this.parents.delete(m.device);
  }

  /**
   * Parents that vanished, were replaced by another interface of the same name or went down are
   * let go of: their networks keep their containers. Those that came back up are attached again.
   */
  async check(): Promise<void> {
    const { devices, log } = this.deps;
    for (const p of this.parents.values()) {
      const link = devices.linkState(p.device);
      // gone, replaced by another interface of its name, or down (its socket then fails once and is
      // not read again): let go of, and opened anew once it is back and up
      if (p.fd >= 0 && (link === null || link.ifindex !== p.ifindex || !link.up)) {
        this.lost++;
        this.lostCount.set(p.device, (this.lostCount.get(p.device) ?? 0) + 1);
        log.warn({ parent: p.device, networks: this.networkNames(p), ...(link !== null && !link.up ? { state: 'down' } : {}) }, 'macvlan parent vanished: its networks reach no LAN until it returns');
        await this.close(p);
      }
      if (p.fd < 0 && link !== null && link.up) {
        try {
          await this.open(p);
          for (const id of p.users) {
            const live = this.deps.networks.get(id);
            if (live?.record.macvlan !== undefined) await this.addPort(p, live, live.record.macvlan);
          }
          log.info({ parent: p.device, networks: this.networkNames(p) }, 'macvlan parent is back: attached again');
        } catch (err) {
          log.warn({ parent: p.device, err: (err as Error).message }, 'macvlan parent is back but cannot be attached yet');
          await this.close(p);
        }
      }
    }
  }

  status(): ParentStatus[] {
    return [...this.parents.values()].map((p) => ({ device: p.device, attached: p.fd >= 0, networks: this.networkNames(p), lost: this.lostCount.get(p.device) ?? 0 }));
  }

  /** The networks on parent device `device` (whatever their VLANs). */
  users(device: string): LiveNetwork[] {
    const p = this.parents.get(device);
    if (p === undefined) return [];
    return [...p.users].flatMap((id) => this.deps.networks.get(id) ?? []);
  }

  async closeAll(): Promise<void> {
    for (const p of this.parents.values()) await this.close(p);
    this.parents.clear();
  }

  private networkNames(p: Parent): string[] {
    return [...p.users].map((id) => this.deps.networks.get(id)?.record.name ?? id);
  }

  private async open(p: Parent): Promise<void> {
    const { devices, dataplane } = this.deps;
    const link = devices.linkState(p.device);
    if (link === null) throw new ApiFailure(400, `-o parent interface was not found on the host: ${p.device}`);
    const fd = devices.openParentSocket(p.device);
    try {
      await dataplane.control.addParent(p.index, fd, p.device, true);
    } catch (err) {
      devices.closeParentSocket(fd);
      throw err;
    }
    p.fd = fd;
    p.ifindex = link.ifindex;
  }

  private async close(p: Parent): Promise<void> {
    if (p.fd < 0) return;
    const fd = p.fd;
    p.fd = -1;
    for (const id of p.users) this.ports.delete(id); // their ports go with the parent
    await this.deps.dataplane.control.removeParent(p.index).catch((err: Error) => this.deps.log.warn({ parent: p.device, err: err.message }, 'cannot detach the macvlan parent'));
    this.deps.devices.closeParentSocket(fd);
  }

  /** The networks' ports on their parents, by port id: `eth0.50@lan` (the `port` label of the port metrics). */
  portNames(): Map<number, string> {
    const out = new Map<number, string>();
    for (const [id, port] of this.ports) {
      const live = this.deps.networks.get(id);
      if (live?.record.macvlan !== undefined) out.set(port, `${portName(live.record.macvlan)}@${live.record.name}`);
    }
    return out;
  }

  /** network id → its port on its parent (while attached) */
  private readonly ports = new Map<string, number>();

  private async addPort(p: Parent, live: LiveNetwork, m: MacvlanRecord): Promise<void> {
    const id = await this.deps.dataplane.control.addParentPort({
      parent: p.index,
      vlan: m.vlan,
      network: live.index,
      name: portName(m),
      mtu: live.record.mtu,
      vnet: true,
    });
    this.ports.set(live.record.id, id);
  }
}
