// A port is where frames enter and leave the data plane: a container's TAP, the host's TUN, an
// in-memory port in tests. The pipeline sees only this interface, never how bytes move.

/** Sends one frame (buf[off, off+len)); returns false when the device refused it. */
export interface PortIo {
  send(buf: Buffer, off: number, len: number): boolean;
}

export const PortKind = {
  Endpoint: 0, // a container's Ethernet port on one network; anti-spoofing applies
  Host: 1, // the host's L3 (TUN) port: IPv4 and IPv6 packets without an Ethernet header
  Uplink: 2, // the gateway's own Ethernet interface to the outside: its MAC and address, no anti-spoofing
  Tunnel: 3, // the VXLAN underlay socket: frames of every overlay network, to and from other hosts
  Parent: 4, // a macvlan network's side of its parent device (one VLAN of it, or its untagged frames): the LAN
} as const;

/**
 * The underlay of overlay networks. `sendTo` queues an encapsulated frame for one VTEP (false when
 * it cannot even be queued); the bytes must stay as they are until `flush`, which the data plane
 * calls at the end of every batch, before it reuses any buffer.
 */
export interface TunnelIo {
  sendTo(buf: Buffer, off: number, len: number, vtep: number): boolean;
  flush(): void;
}

/**
 * A macvlan parent device (parent-socket.ts): the frames of its ports, each with its VLAN id (0:
 * untagged) and whether buf[off] is a virtio-net header; queued until `flush`, which the data
 * plane calls at the end of every batch, before it reuses any buffer.
 */
export interface ParentIo {
  sendFrame(buf: Buffer, off: number, len: number, vlan: number, withVnet: boolean): boolean;
  flush(): void;
}

/** The PortIo of a parent's port: its frames go to the parent with the port's VLAN. */
export class ParentPortIo implements PortIo {
  /** set once the port exists: whether the frames handed over start with a virtio-net header */
  vnet = false;

  constructor(
    readonly parent: ParentIo,
    readonly vlan: number,
  ) {}

  send(buf: Buffer, off: number, len: number): boolean {
    return this.parent.sendFrame(buf, off, len, this.vlan, this.vnet);
  }
}

export class Port {
  /** the network an endpoint or the uplink is on (-1 for the host and tunnel ports) */
  network = -1;
  macHi = 0;
  macLo = 0;
  /** the MAC as one number (mac.ts), as NDP's link-layer options read it */
  mac = 0;
  /** the port's own IPv4 address: an endpoint's (anti-spoofing) or the uplink's; 0 for the host and tunnel ports and an endpoint of an IPv6-only network */
  ip = 0;
  /** an endpoint has its IPv4 address `ip` (false: an endpoint of an IPv6-only network; the other kinds do not use it) */
  hasIp4 = false;
  /** an endpoint's own IPv6 address as words (hasIp6 false: none), for anti-spoofing */
  hasIp6 = false;
  ip6w0 = 0;
  ip6w1 = 0;
  ip6w2 = 0;
  ip6w3 = 0;
  /** the modified EUI-64 interface identifier of the MAC (words 2 and 3): its link-local and SLAAC addresses */
  eui64w2 = 0;
  eui64w3 = 0;
  mtu = 1500;
  /** the device carries a virtio-net header on every frame and takes checksum and TSO offloads */
  vnet = false;
  /** a parent's port: the next port (another macvlan network) on the same VLAN of the same parent, -1: none */
  vlanNext = -1;

  constructor(
    readonly id: number,
    readonly kind: number,
    readonly name: string,
    readonly io: PortIo,
  ) {}
}
