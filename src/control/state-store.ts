// Networks and endpoints persisted as one JSON file, replaced atomically (write, fsync, rename,
// fsync the directory) so a crash leaves either the old state or the new one, never a mix.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { ContainerLink } from './api-types.js';
import type { PortMapping } from './publish.js';

export interface EndpointRecord {
  id: string;
  name: string;
  netnsPath: string;
  netnsDev: number;
  netnsIno: number;
  ifName: string;
  /** the runtime's container id (CNI_CONTAINERID), when the connect named one */
  containerId?: string;
  mac: string;
  /** the endpoint's IPv4 address; '' on an IPv6-only network (Docker's IPv4Address "") */
  ip: string;
  /** the endpoint's IPv6 address on a network with IPv6 (no prefix length); its link-local one follows from the MAC */
  ip6?: string;
  aliases: string[];
  /** Docker's legacy links (`--link`) to containers on the same network; absent without links */
  links?: ContainerLink[];
  created: string;
  /** published ports (host port already chosen) */
  ports: PortMapping[];
  /**
   * Who attached it: absent for `network connect`; 'docker' for Docker's network driver, which
   * got the TAP device in the host's namespace and moved it into the container under a name of
   * its own (found again by its MAC after a restart).
   */
  engine?: 'docker';
}

export interface NetworkRecord {
  id: string;
  name: string;
  driver: string;
  /** the IPv4 subnet and gateway; both '' on an IPv6-only network (isIpv6Only), which then has `ipv6` */
  subnet: string;
  gateway: string;
  ipRange?: string;
  internal: boolean;
  mtu: number;
  gatewayMac: string;
  created: string;
  isDefault: boolean;
  /** the network's IPv6 side (network create --ipv6); absent: IPv4 only */
  ipv6?: Ipv6NetworkRecord;
  endpoints: EndpointRecord[];
  /** overlay networks: the VXLAN network identifier */
  vni?: number;
  /** made by `docker network create -d pontoon`: Docker's id of the network */
  dockerNetworkId?: string;
  /** a macvlan network (driver 'macvlan'): its parent and mode */
  macvlan?: MacvlanRecord;
  /** --aux-address: name → address, never given out */
  auxAddresses?: Record<string, string>;
  /** a routed overlay network (driver 'overlay', --mode routed): `subnet` is this host's lease of the cluster's range */
  routed?: RoutedRecord;
}

/**
 * A routed overlay network on this host: the cluster's range and its settings; the record's subnet
 * is the subnet this host leases (taken again after a restart), its gateway the subnet's first
 * host address, its gatewayMac this host's VTEP MAC, and the subnet's own address the host's
 * source on the cluster's range (flannel.1's address).
 */
export interface RoutedRecord {
  cluster: string;
  hostSubnetSize: number;
  flannelPrefix: string;
  port: number;
}

/** A macvlan network's parent as given (-o parent=eth0.50) and as it was found: the device frames go through and the VLAN tag they get. */
export interface MacvlanRecord {
  /** as given; '' for an internal network without one (Docker's dummy parent) */
  parent: string;
  /** the interface the frames cross ('' without a parent) */
  device: string;
  /** the 802.1Q VLAN the data plane tags (1-4094), 0: untagged (a plain parent, or a kernel sub-interface used as it is) */
  vlan: number;
  mode: 'bridge' | 'private' | 'vepa' | 'passthru';
  hostAccess: boolean;
}

/** The IPv6 side of a network: subnet, gateway (in the subnet; the gateway also answers on fe80::1), ip-range, NAT. */
export interface Ipv6NetworkRecord {
  subnet: string;
  gateway: string;
  ipRange?: string;
  /** masqueraded to the uplink's IPv6 address (a ULA subnet by default), or routed */
  nat: boolean;
}

/** An address pool handed out by pontoon's Docker IPAM driver (`--ipam-driver pontoon`). */
export interface DockerPoolRecord {
  id: string;
  subnet: string;
  ipRange?: string;
  /** the gateway Docker asked for, once it has */
  gateway?: string;
  /** endpoint addresses the IPAM driver gave out */
  addresses: string[];
}

/** An endpoint Docker created (CreateEndpoint), joined to a container or not. */
export interface DockerEndpointRecord {
  id: string;
  /** pontoon's id of the network */
  networkId: string;
  ip: string;
  mac: string;
  /** the address was allocated for the endpoint itself (another IPAM driver than pontoon's gave it) */
  ownsAddress: boolean;
  /** on a network with IPv6: its IPv6 address, and whether it was allocated for the endpoint itself (given by no IPAM driver, or another's) */
  ip6?: string;
  ownsAddress6?: boolean;
}

/** What Docker's network and IPAM drivers keep between calls: Docker never replays them. */
export interface DockerState {
  pools: DockerPoolRecord[];
  endpoints: DockerEndpointRecord[];
}

export interface PersistedState {
  version: 1;
  networks: NetworkRecord[];
  docker?: DockerState;
}

const endpointSchema = z.object({
  id: z.string(),
  name: z.string(),
  netnsPath: z.string(),
  netnsDev: z.number(),
  netnsIno: z.number(),
  ifName: z.string(),
  containerId: z.string().optional(),
  mac: z.string(),
  ip: z.string(),
  ip6: z.string().optional(),
  aliases: z.array(z.string()),
  links: z.array(z.object({ name: z.string().min(1), alias: z.string().min(1) })).optional(),
  created: z.string(),
  ports: z
    .array(
      z.object({
        proto: z.enum(['tcp', 'udp']),
        hostIp: z.string(),
        hostPort: z.number().int().min(1).max(65535),
        containerPort: z.number().int().min(1).max(65535),
      }),
    )
    .default([]),
  engine: z.literal('docker').optional(),
});

const networkSchema = z.object({
  id: z.string(),
  name: z.string(),
  driver: z.string(),
  subnet: z.string(),
  gateway: z.string(),
  ipRange: z.string().optional(),
  internal: z.boolean(),
  mtu: z.number(),
  gatewayMac: z.string(),
  created: z.string(),
  isDefault: z.boolean(),
  ipv6: z.object({ subnet: z.string(), gateway: z.string(), ipRange: z.string().optional(), nat: z.boolean() }).optional(),
  endpoints: z.array(endpointSchema),
  vni: z.number().int().min(1).max(0xffffff).optional(),
  dockerNetworkId: z.string().optional(),
  macvlan: z
    .object({
      parent: z.string(),
      device: z.string(),
      vlan: z.number().int().min(0).max(4094),
      mode: z.enum(['bridge', 'private', 'vepa', 'passthru']),
      hostAccess: z.boolean(),
    })
    .optional(),
  auxAddresses: z.record(z.string(), z.string()).optional(),
  routed: z.object({ cluster: z.string(), hostSubnetSize: z.number().int().min(8).max(30), flannelPrefix: z.string(), port: z.number().int().min(1).max(65535) }).optional(),
})
  // an IPv6-only network (subnet '') has its IPv6 side, and its endpoints have IPv6 addresses
  .refine((n) => n.subnet !== '' || n.ipv6 !== undefined, { message: 'a network without an IPv4 subnet needs its IPv6 side (ipv6)', path: ['subnet'] })
  .refine((n) => n.endpoints.every((e) => (e.ip === '') === (n.subnet === '') && (e.ip !== '' || e.ip6 !== undefined)), {
    message: "an endpoint's ip is '' exactly on a network without an IPv4 subnet, and then it has its ip6",
    path: ['endpoints'],
  });

const dockerSchema = z.object({
  pools: z.array(
    z.object({
      id: z.string(),
      subnet: z.string(),
      ipRange: z.string().optional(),
      gateway: z.string().optional(),
      addresses: z.array(z.string()),
    }),
  ),
  endpoints: z.array(
    z.object({
      id: z.string(),
      networkId: z.string(),
      ip: z.string(),
      mac: z.string(),
      ownsAddress: z.boolean(),
      ip6: z.string().optional(),
      ownsAddress6: z.boolean().optional(),
    }),
  ),
});

const stateSchema = z.object({
  version: z.literal(1),
  networks: z.array(networkSchema),
  docker: dockerSchema.optional(),
});

export const STATE_FILE = 'state.json';

/**
 * Replaces `file` (in `dir`, created with mode 0700 if needed) with `data`: written to a temporary
 * file, fsynced, renamed over it, the directory fsynced, so a crash leaves the old or the new one.
 */
export function writeFileAtomic(dir: string, file: string, data: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeFileSync(fd, data); // loops until every byte is written
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, file);
  // the rename is durable only once the directory entry is
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

export class StateStore {
  readonly file: string;

  constructor(readonly dir: string) {
    this.file = join(dir, STATE_FILE);
  }

  /** The saved state, or null when nothing was saved yet. A corrupt file throws, naming it. */
  load(): PersistedState | null {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new Error(`cannot read state file ${this.file}: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new Error(`state file ${this.file} is corrupt: ${(e as Error).message}`);
    }
    const r = stateSchema.safeParse(json);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      const path = issue.path.map(String).join('.');
      throw new Error(`state file ${this.file} is corrupt: ${path === '' ? '' : `${path}: `}${issue.message}`);
    }
    return r.data as PersistedState;
  }

  /** Replaces the saved state atomically; creates the directory (mode 0700) if needed. */
  save(state: PersistedState): void {
    writeFileAtomic(this.dir, this.file, JSON.stringify(state, null, 2) + '\n');
  }
}
