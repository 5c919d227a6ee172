// What the network service does to the host's kernel, behind one interface: containers' network
// namespaces, the persistent TAP device of each endpoint inside them (with its MAC, MTU, address
// and default route) and the host's routes to the networks. KernelHostDevices does it for real,
// through netns.ts, host-link.ts and the TUN/TAP ioctls; tests give the service a fake.

import { readFileSync } from 'node:fs';
import { openPacketSocket } from '../ports/sys/packet-socket.js';
import { withNetns } from '../ports/sys/netns.js';
import type { DeviceHolder } from '../ports/device-holder.js';
import { closeFd, openTunTap, setPersist } from '../ports/sys/tuntap.js';
import { addHostRoute, deleteHostRoute } from './host-link.js';
import { hostRouteCidrs, hostRouteCidrs6 } from './ipam.js';
import { type NetnsRef, configureInterface, interfaceNames, interfaceWithMac, netnsStillExists, nextInterfaceName, resolveNetns, runCommand } from './netns.js';

/** How an endpoint's interface is set up inside its namespace. */
export interface InterfaceConfig {
  mac: string;
  /** the IPv4 address with the network's prefix, e.g. "172.17.0.2/16"; null: none (an IPv6-only network) */
  cidr: string | null;
  mtu: number;
  /** the IPv4 default route's next hop, added when the namespace has none yet; null: no default route */
  gateway: string | null;
  /** on a network with IPv6: the address with its prefix ("fd00:20::2/64", without DAD) and the IPv6 default route's next hop (fe80::1), null: none */
  ipv6?: { cidr: string; gateway: string | null };
}

/** A namespace as the service remembers it: the path and what identifies it if the path is reused. */
export interface NetnsIdentityRef {
  path: string;
  dev: number;
  ino: number;
}

export interface HostDevices {
  /** The namespace a user named (an `ip netns` name, a path or a PID); ApiFailure when there is none. */
  resolveNetns(arg: string): NetnsRef;
  /** True while the namespace file exists and still is the same namespace. */
  netnsExists(ns: NetnsIdentityRef): boolean;
  /** The lowest ethN not present in the namespace. */
  nextInterfaceName(nsPath: string): Promise<string>;
  /** The names of the interfaces inside the namespace. */
  interfaceNames(nsPath: string): Promise<string[]>;
  /** Creates the persistent TAP `ifName` inside the namespace, or re-opens it after a restart; returns its fd. */
  openTap(nsPath: string, ifName: string): number;
  /**
   * Creates the persistent TAP `ifName` in the host's namespace with its MAC and MTU (down, no
   * address): for Docker, which moves it into the container and configures it there.
   */
  openHostTap(ifName: string, link: { mac: string; mtu: number }): Promise<number>;
  /** The name of the interface with this MAC inside the namespace, or null when it has none. */
  findInterfaceByMac(nsPath: string, mac: string): Promise<string | null>;
  /** Sets the TAP's MAC, MTU and address, brings it up and adds the default route. */
  configureInterface(nsPath: string, ifName: string, config: InterfaceConfig): Promise<void>;
  /** Closes the fd and lets the device go with it, and its address and routes with the device. */
  removeTap(fd: number): void;
  /** Closes the fd only: the persistent device stays in its namespace for the next start. */
  closeTap(fd: number): void;
  /** Destinations of the host's routes that a new network must not overlap (the gateway's own left out). */
  hostRoutes(): Promise<string[]>;
  /** The same for IPv6: the host's IPv6 routes and the host link's own IPv6 subnet. */
  hostRoutes6(): Promise<string[]>;
  /** The host link carries IPv6 (host.address6 is set and took): IPv6 subnets get host routes too. */
  readonly routesIpv6: boolean;
  /** Routes a network's subnet (either family) to the gateway's host device; `src`: the host's own address for it (a routed overlay's). */
  addHostRoute(subnet: string, src?: string): Promise<void>;
  /** Removes that route (and the address); a route already gone is fine. */
  deleteHostRoute(subnet: string, src?: string): Promise<void>;
  /** An interface of the daemon's namespace (a macvlan parent): its index, whether it is up, its MTU; null when there is none. */
  linkState(device: string): { ifindex: number; up: boolean; mtu: number } | null;
  /** Opens a macvlan parent's packet socket on the interface (VLAN tags and virtio-net headers): its fd. */
  openParentSocket(device: string): number;
  /** Closes a parent's socket. */
  closeParentSocket(fd: number): void;
}

/** A macvlan parent's socket buffers, each way. */
const PARENT_SOCKET_BUFFER = 8 * 1024 * 1024;

/** IFF_UP in /sys/class/net/DEV/flags */
const IFF_UP = 0x1;

/** The real host: the calls the network service made directly before it had this interface. */
export class KernelHostDevices implements HostDevices {
  constructor(
    private readonly opts: {
      /** the gateway's TUN device on the host, which the networks' routes point at */
      hostDevice: string;
      /** devices starting with this are the gateway's own (their routes never conflict) */
      devicePrefix: string;
      /** TAP devices carry virtio-net headers */
      vnetHdr: boolean;
      /** the host link's IPv6 address ("fd..:ffff::1/64"), null: the host link is IPv4 only */
      hostLink6?: string | null;
      /** keeps the TAP queues attached across restarts (liveState.holdDevices) */
      holder?: DeviceHolder | null;
    },
  ) {}

  /** holder key of each TAP descriptor the holder has a copy of */
  private readonly heldKeys = new Map<number, string>();

  resolveNetns(arg: string): NetnsRef {
    return resolveNetns(arg);
  }

  netnsExists(ns: NetnsIdentityRef): boolean {
    return netnsStillExists(ns);
  }

  nextInterfaceName(nsPath: string): Promise<string> {
    return nextInterfaceName(nsPath);
  }

  interfaceNames(nsPath: string): Promise<string[]> {
    return interfaceNames(nsPath);
  }

  openTap(nsPath: string, ifName: string): number {
    const holder = this.opts.holder ?? null;
    const key = `tap:${nsPath}:${ifName}`;
    // after a restart with a device holder, the previous daemon's descriptor: its queue kept what came meanwhile
    let fd = holder?.claim(key) ?? -1;
    if (fd < 0) fd = withNetns(nsPath, () => openTunTap({ mode: 'tap', name: ifName, persist: true, vnetHdr: this.opts.vnetHdr })).fd;
    if (holder !== null) {
      this.heldKeys.set(fd, key);
      void holder.take(key, fd);
    }
    return fd;
  }

  async openHostTap(ifName: string, link: { mac: string; mtu: number }): Promise<number> {
    const { fd } = openTunTap({ mode: 'tap', name: ifName, persist: true, vnetHdr: this.opts.vnetHdr });
    try {
      await runCommand('ip', ['link', 'set', 'dev', ifName, 'address', link.mac, 'mtu', String(link.mtu)]);
    } catch (err) {
      this.removeTap(fd);
      throw err;
    }
    return fd;
  }

  findInterfaceByMac(nsPath: string, mac: string): Promise<string | null> {
    return interfaceWithMac(nsPath, mac);
  }

  configureInterface(nsPath: string, ifName: string, config: InterfaceConfig): Promise<void> {
    return configureInterface(nsPath, ifName, config);
  }

  removeTap(fd: number): void {
    try {
      setPersist(fd, false); // the device disappears with its last fd
    } catch {
      // device already gone with its namespace
    }
    closeFd(fd);
    const key = this.heldKeys.get(fd);
    this.heldKeys.delete(fd);
    if (key !== undefined) void this.opts.holder?.drop(key); // the holder's copy was the last
  }

  /** Closes this process's descriptor; a device holder keeps its own for the next start. */
  closeTap(fd: number): void {
    this.heldKeys.delete(fd);
    closeFd(fd);
  }

  hostRoutes(): Promise<string[]> {
    return hostRouteCidrs(this.opts.devicePrefix, this.opts.hostDevice);
  }

  hostRoutes6(): Promise<string[]> {
    return hostRouteCidrs6(this.opts.devicePrefix, this.opts.hostDevice, this.opts.hostLink6 ?? null);
  }

  get routesIpv6(): boolean {
    return (this.opts.hostLink6 ?? null) !== null;
  }

  addHostRoute(subnet: string, src?: string): Promise<void> {
    return addHostRoute(subnet, this.opts.hostDevice, src);
  }

  deleteHostRoute(subnet: string, src?: string): Promise<void> {
    return deleteHostRoute(subnet, this.opts.hostDevice, src);
  }

  linkState(device: string): { ifindex: number; up: boolean; mtu: number } | null {
    // /sys/class/net is the daemon's namespace's: a name that is no interface has no directory
    if (!/^[^\s/]{1,15}$/.test(device) || device === '.' || device === '..') return null;
    try {
      const ifindex = Number(readFileSync(`/sys/class/net/${device}/ifindex`, 'utf8').trim());
      const flags = Number.parseInt(readFileSync(`/sys/class/net/${device}/flags`, 'utf8').trim(), 16);
      const mtu = Number(readFileSync(`/sys/class/net/${device}/mtu`, 'utf8').trim());
      return { ifindex, up: (flags & IFF_UP) !== 0, mtu };
    } catch {
      return null;
    }
  }

  openParentSocket(device: string): number {
    // room for a burst of TCP super segments from the LAN (the default ~208 KiB holds three)
    return openPacketSocket(device, { auxdata: true, vnetHdr: true, receiveBuffer: PARENT_SOCKET_BUFFER, sendBuffer: PARENT_SOCKET_BUFFER, overflowCount: true }).fd;
  }

  closeParentSocket(fd: number): void {
    closeFd(fd);
  }
}
