// The daemon's configuration file: YAML, every key optional, unknown keys rejected at every level.
// Errors are one line naming the file, the key path and the reason.
// The zod schema below is the one declaration of the config: PontoonConfig is its output type
// (transforms fill in what is derived, e.g. nat.portMin/portMax from portRange), and every default
// the data plane also has comes from src/dataplane/options.ts (in ms there, seconds here).

import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { DEFAULT_DATAPLANE_OPTIONS as DP } from '../dataplane/options.js';
import {
  cidrContains,
  cidrLastAddress,
  cidrNetwork,
  cidrsOverlap,
  formatCidr,
  ipv4ToString,
  parseCidr,
  parseCidrOrNull,
  parseIpv4OrNull,
} from '../wire/ipv4-address.js';
import {
  type Ipv6Words,
  cidr6Network,
  cidrs6Overlap,
  formatCidr6,
  inSubnet6,
  ipv6Equal,
  isLinkLocalIpv6,
  isLoopbackIpv6,
  isMulticastIpv6,
  isUnspecifiedIpv6,
  ipv6ToString,
  parseCidr6,
  parseCidr6OrNull,
  parseIpv6OrNull,
} from '../wire/ipv6-address.js';
import { NETWORK_NAME_RE } from './ipam.js';
import { canonicalVtep, vtepFamily } from './network/addresses.js';
import { MAX_SUBNET6_PREFIX, defaultHostLink6 } from './ipam6.js';
import { parseUpstream, parseUpstreamOrProblem } from './dns/resolv-conf.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const MAX_SOCKET_PATH = 107; // sun_path is 108 bytes including the terminating NUL
const IFNAMSIZ = 15;

/** A string checked by `problem`, which returns why the value is bad or null. */
function checked(problem: (s: string) => string | null) {
  return z.string().superRefine((s, ctx) => {
    const p = problem(s);
    if (p !== null) ctx.addIssue({ code: 'custom', message: p });
  });
}

function intIn(min: number, max: number) {
  return z.number().superRefine((n, ctx) => {
    if (!Number.isInteger(n) || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: `${n} is not an integer between ${min} and ${max}` });
    }
  });
}

const q = (s: string) => JSON.stringify(s);

function absolutePathProblem(s: string): string | null {
  return isAbsolute(s) ? null : `${q(s)} is not an absolute path`;
}

function socketPathProblem(s: string): string | null {
  if (!isAbsolute(s)) return `${q(s)} is not an absolute path`;
  if (Buffer.byteLength(s) > MAX_SOCKET_PATH) return `${q(s)} is longer than ${MAX_SOCKET_PATH} bytes (the limit of a unix socket path)`;
  return null;
}

function cidrProblem(s: string): string | null {
  const c = parseCidrOrNull(s);
  if (c === null) return `${q(s)} is not a valid IPv4 CIDR`;
  const network = cidrNetwork(c);
  if (network.addr !== c.addr) return `${q(s)} has host bits set: it should be ${formatCidr(network)}`;
  if (c.prefixLen > 30) return `${q(s)} is too small for a network: the prefix length must be at most /30`;
  return null;
}

function cidr6Problem(s: string): string | null {
  const c = parseCidr6OrNull(s);
  if (c === null) return `${q(s)} is not a valid IPv6 CIDR such as fd00:20::/64`;
  const network = cidr6Network(c);
  if (!ipv6Equal(network.addr, c.addr)) return `${q(s)} has host bits set: it should be ${formatCidr6(network)}`;
  if (c.prefixLen > MAX_SUBNET6_PREFIX) return `${q(s)} is too small for a network: the prefix length must be at most /${MAX_SUBNET6_PREFIX} (/64 recommended)`;
  return null;
}

function hostAddressProblem(s: string): string | null {
  const c = parseCidrOrNull(s);
  if (c === null) return `${q(s)} is not a valid IPv4 interface address such as 10.254.0.1/30`;
  if (c.prefixLen > 30) return `${q(s)}: the prefix length must be at most /30 (the gateway needs the next address)`;
  if (c.addr === cidrNetwork(c).addr) return `${q(s)} is the network address of its subnet`;
  if (c.addr + 1 >= cidrLastAddress(c)) return `${q(s)} leaves no next address in its subnet for the gateway`;
  return null;
}

/** `host.address6`: "auto", or the host's side of the TUN link's IPv6 subnet ("fd00:ffff::1/64"). */
function hostAddress6Problem(s: string): string | null {
  if (s === 'auto') return null;
  const c = parseCidr6OrNull(s);
  if (c === null) return `${q(s)} is neither "auto" nor a valid IPv6 interface address such as fd00:ffff::1/64`;
  const p = interfaceAddress6Problem(s);
  if (p !== null) return p;
  if (c.prefixLen > 126) return `${q(s)}: the prefix length must be at most /126 (the gateway needs the next address)`;
  const next = nextIpv6(c.addr);
  if (next === null || !inSubnet6(next, cidr6Network(c).addr, c.prefixLen)) return `${q(s)} leaves no next address in its subnet for the gateway`;
  return null;
}

/** The address after `a`, or null after ffff:...:ffff. */
function nextIpv6(a: Ipv6Words): Ipv6Words | null {
  const out = [a[0], a[1], a[2], a[3]];
  for (let i = 3; i >= 0; i--) {
    out[i] = (out[i]! + 1) >>> 0;
    if (out[i] !== 0) return [out[0]!, out[1]!, out[2]!, out[3]!];
  }
  return null;
}

function ipv4Problem(s: string): string | null {
  return parseIpv4OrNull(s) === null ? `${q(s)} is not a valid IPv4 address` : null;
}

/** "host:port" or "[v6]:port"; returns the parts or why not. */
function splitListen(s: string): { host: string; port: number } | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([a-zA-Z0-9.-]+)):([0-9]{1,5})$/.exec(s);
  if (m === null) return `${q(s)} is not a "host:port" address`;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return `${q(s)}: port ${port} is out of range (1..65535)`;
  return { host: m[1] ?? m[2]!, port };
}

/** An optional key that reads as null when absent. */
const orNull = <T extends z.ZodType>(schema: T) => schema.optional().transform((v) => v ?? null);

/** A default of the data plane (options.ts, in ms) as the seconds the config counts in. */
const inSeconds = (ms: number): number => ms / 1000;

const arpSchema = z.strictObject({
  retries: intIn(1, 100).default(DP.arpRetries),
  retryMs: intIn(10, 60_000).default(DP.arpRetryMs),
  /** frames held per unresolved neighbour */
  queueLength: intIn(1, 65_536).default(DP.arpQueueLength),
  reachableSeconds: intIn(1, 86_400).default(inSeconds(DP.neighbourReachableMs)),
  staleSeconds: intIn(1, 86_400).default(inSeconds(DP.neighbourStaleMs)),
  failedSeconds: intIn(1, 86_400).default(inSeconds(DP.neighbourFailedMs)),
});

/** The network created at start-up when absent from the state; the gateway defaults to the subnet's first address. */
const defaultNetworkSchema = z
  .strictObject({
    name: checked((s) => (NETWORK_NAME_RE.test(s) ? null : `${q(s)} is not a valid network name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)`)).default(
      'bridge',
    ),
    subnet: checked(cidrProblem).default('172.17.0.0/16'),
    gateway: checked(ipv4Problem).optional(),
    mtu: intIn(68, 65535).default(1500),
    /** the default network gets an IPv6 side (Docker's daemon.json "ipv6") */
    ipv6: z.boolean().default(false),
    /** its IPv6 subnet (Docker's --fixed-cidr-v6); absent: a /64 of defaultPools6 */
    fixedCidrV6: checked(cidr6Problem).optional(),
  })
  .superRefine((n, ctx) => {
    if (n.fixedCidrV6 !== undefined && !n.ipv6) ctx.addIssue({ code: 'custom', message: 'fixedCidrV6 needs ipv6: true', path: ['fixedCidrV6'] });
    if (n.gateway === undefined || cidrProblem(n.subnet) !== null || ipv4Problem(n.gateway) !== null) return;
    const c = parseCidr(n.subnet);
    const gw = parseIpv4OrNull(n.gateway)!;
    let problem: string | null = null;
    if (!cidrContains(c, gw)) problem = `${n.gateway} is not in subnet ${n.subnet}`;
    else if (gw === c.addr) problem = `${n.gateway} is the network address of subnet ${n.subnet}`;
    else if (gw === cidrLastAddress(c)) problem = `${n.gateway} is the broadcast address of subnet ${n.subnet}`;
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem, path: ['gateway'] });
  })
  .transform((n) => ({ ...n, gateway: n.gateway ?? ipv4ToString(parseCidr(n.subnet).addr + 1) }));

/** null stands for an empty mapping (`log:` with every line under it commented out). */
const section = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === null ? undefined : v), schema);

const deviceName = checked((s) =>
  s.length >= 1 && s.length <= IFNAMSIZ && /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(s)
    ? null
    : `${q(s)} is not a valid device name (1-${IFNAMSIZ} characters of [a-zA-Z0-9_.-])`,
);

function interfaceAddressProblem(s: string): string | null {
  const c = parseCidrOrNull(s);
  if (c === null) return `${q(s)} is not a valid IPv4 interface address such as 198.51.100.2/24`;
  if (c.prefixLen > 30) return `${q(s)}: the prefix length must be at most /30`;
  return null;
}

function interfaceAddress6Problem(s: string): string | null {
  const c = parseCidr6OrNull(s);
  if (c === null) return `${q(s)} is not a valid IPv6 interface address such as 2001:db8:1::2/64`;
  if (c.prefixLen > 127) return `${q(s)}: the prefix length must be at most /127`;
  if (ipv6Equal(cidr6Network(c).addr, c.addr)) return `${q(s)} is the subnet-router anycast address of its subnet`;
  if (isLinkLocalIpv6(c.addr) || isMulticastIpv6(c.addr) || isLoopbackIpv6(c.addr)) return `${q(s)} is not a global or unique local address`;
  return null;
}

function ipv6Problem(s: string): string | null {
  const a = parseIpv6OrNull(s);
  if (a === null) return `${q(s)} is not a valid IPv6 address`;
  if (isMulticastIpv6(a) || isUnspecifiedIpv6(a) || isLoopbackIpv6(a)) return `${q(s)} cannot be a next hop`;
  return null;
}

/** The gateway's own interface to the outside; without one, containers reach only the host. */
const uplinkSchema = z
  .strictObject({
    kind: z.enum(['tap', 'afpacket']),
    device: deviceName,
    /** the gateway's own address on the uplink, e.g. 198.51.100.2/24 */
    address: checked(interfaceAddressProblem),
    /** the default next hop */
    gateway: checked(ipv4Problem),
    /** the gateway's own IPv6 address on the uplink, e.g. 2001:db8:1::2/64; null: IPv4 only */
    address6: orNull(checked(interfaceAddress6Problem)),
    /** the IPv6 default next hop: in address6's subnet, or a link-local address (a router's fe80::1) */
    gateway6: orNull(checked(ipv6Problem)),
    /** tap only: the namespace the device is moved into */
    netns: orNull(z.string().min(1)),
    /** the gateway's MAC on the uplink (lower case); null: derived from the address */
    mac: checked((s) => (/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(s) && (parseInt(s.slice(0, 2), 16) & 1) === 0 ? null : `${q(s)} is not a unicast MAC address`))
      .optional()
      .transform((s) => s?.toLowerCase() ?? null),
    mtu: intIn(576, 65535).default(1500),
  })
  .superRefine((u, ctx) => {
    if (interfaceAddressProblem(u.address) !== null || ipv4Problem(u.gateway) !== null) return;
    const c = parseCidr(u.address);
    const net = cidrNetwork(c);
    const gw = parseIpv4OrNull(u.gateway)!;
    if (!cidrContains(net, gw)) ctx.addIssue({ code: 'custom', message: `${u.gateway} is not in the uplink's subnet ${formatCidr(net)}`, path: ['gateway'] });
    else if (gw === c.addr) ctx.addIssue({ code: 'custom', message: `${u.gateway} is the uplink's own address`, path: ['gateway'] });
    if (u.netns !== null && u.kind !== 'tap') ctx.addIssue({ code: 'custom', message: 'netns is only for kind: tap', path: ['netns'] });
    if ((u.address6 === null) !== (u.gateway6 === null)) {
      ctx.addIssue({ code: 'custom', message: 'address6 and gateway6 go together', path: [u.address6 === null ? 'address6' : 'gateway6'] });
      return;
    }
    if (u.address6 === null || u.gateway6 === null || interfaceAddress6Problem(u.address6) !== null || ipv6Problem(u.gateway6) !== null) return;
    const c6 = parseCidr6OrNull(u.address6)!;
    const gw6 = parseIpv6OrNull(u.gateway6)!;
    if (ipv6Equal(gw6, c6.addr)) ctx.addIssue({ code: 'custom', message: `${u.gateway6} is the uplink's own address`, path: ['gateway6'] });
    else if (!isLinkLocalIpv6(gw6) && !inSubnet6(gw6, c6.addr, c6.prefixLen)) {
      ctx.addIssue({ code: 'custom', message: `${u.gateway6} is neither in the uplink's subnet ${formatCidr6(cidr6Network(c6))} nor link-local`, path: ['gateway6'] });
    }
  });

/** `portRange` ("1024-65535") reads as portMin and portMax. */
const natSchema = z
  .strictObject({
    portRange: checked((s) => {
      const m = /^([0-9]{1,5})-([0-9]{1,5})$/.exec(s);
      if (m === null) return `${q(s)} is not a port range such as 1024-65535`;
      const a = Number(m[1]);
      const b = Number(m[2]);
      return a >= 1 && b <= 65535 && a <= b ? null : `${q(s)} is not a range of ports within 1-65535`;
    }).default(`${DP.natPortMin}-${DP.natPortMax}`),
    udpFiltering: z
      .enum(['address-and-port-dependent', 'endpoint-independent'])
      .default(DP.udpEndpointIndependentFiltering ? 'endpoint-independent' : 'address-and-port-dependent'),
    unsolicitedTcp: z.enum(['reset', 'drop']).default(DP.rejectUnsolicitedTcp ? 'reset' : 'drop'),
    /** NAT-PMP (RFC 6886) and PCP (RFC 6887) on every gateway address, UDP 5351 (needs an uplink) */
    pcp: z
      .strictObject({
        /** off by default: a container that maps a port opens it to the outside world */
        enabled: z.boolean().default(false),
        /** mappings one container may hold at once; beyond: NO_RESOURCES */
        maxMappingsPerEndpoint: intIn(1, 65535).default(16),
        /** longer lifetimes asked for are granted this long (the client renews) */
        maxLifetimeSeconds: intIn(1, 0xffffffff).default(7200),
      })
      .prefault({}),
  })
  .transform(({ portRange, ...rest }) => {
    const [portMin, portMax] = portRange.split('-').map(Number) as [number, number];
    return { portMin, portMax, ...rest };
  });

/** A VTEP's underlay address: IPv4, or an IPv6 address a socket can bind and send to; kept in its canonical text form (hosts compare them as text). */
const underlayAddress = checked((s) =>
  canonicalVtep(s) !== null ? null : `${q(s)} is not an underlay address: an IPv4 address, or an IPv6 address that is not link-local, multicast, unspecified or IPv4-mapped`,
).transform((s) => canonicalVtep(s)!);

/** Overlay networks across hosts: the underlay and where the shared state lives. */
const clusterSchema = z
  .strictObject({
    store: z.enum(['none', 'etcd']).default('none'),
    /** etcd client URLs */
    endpoints: z
      .array(checked((s) => (/^https?:\/\/[^\s/]+(:[0-9]+)?\/?$/.test(s) ? null : `${q(s)} is not an etcd client URL such as http://192.0.2.10:2379`)))
      .default([]),
    /**
     * this host's underlay address: the VTEP, the source of VXLAN datagrams; its family (IPv4 or
     * IPv6) is the underlay's, the same on every host of the cluster; null: no overlays
     */
    advertise: orNull(underlayAddress),
    vxlanPort: intIn(1, 65535).default(4789),
    /** static peer VTEPs (store: none): every overlay network floods to them; of advertise's family */
    peers: z.array(underlayAddress).default([]),
    /** this host's registrations vanish from the others this long after it dies */
    leaseTtlSeconds: intIn(2, 3600).default(10),
    /** MTU of the underlay path; overlay networks default to 50 bytes less (70 over an IPv6 underlay) */
    underlayMtu: intIn(576, 65535).default(1500),
    /** etcd key prefix */
    prefix: checked((s) => (/^\/[A-Za-z0-9_.\/-]*[A-Za-z0-9_.-]$/.test(s) ? null : `${q(s)} is not a key prefix such as /pontoon`)).default('/pontoon'),
    /** the segments of a TCP super segment leave as one UDP_SEGMENT send (UDP GSO) */
    udpGso: z.boolean().default(true),
    /** the kernel coalesces received VXLAN datagrams (UDP_GRO) */
    udpGro: z.boolean().default(true),
    /** SO_RCVBUF / SO_SNDBUF of the underlay socket, bytes */
    socketReceiveBuffer: intIn(0, 1 << 30).default(8 << 20),
    socketSendBuffer: intIn(0, 1 << 30).default(4 << 20),
  })
  .superRefine((c, ctx) => {
    if (c.store === 'etcd' && c.endpoints.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'store etcd needs at least one endpoint', path: ['endpoints'] });
    }
    if (c.store === 'etcd' && c.advertise === null) {
      ctx.addIssue({ code: 'custom', message: "store etcd needs this host's underlay address", path: ['advertise'] });
    }
    if (c.peers.length > 0 && c.store === 'etcd') {
      ctx.addIssue({ code: 'custom', message: 'static peers are for store: none (etcd tells the peers)', path: ['peers'] });
    }
    if (c.peers.length > 0 && c.advertise === null) {
      ctx.addIssue({ code: 'custom', message: "static peers need this host's underlay address", path: ['advertise'] });
    }
    if (c.advertise !== null) {
      const own = vtepFamily(c.advertise);
      c.peers.forEach((p, i) => {
        if (vtepFamily(p) !== own) {
          ctx.addIssue({ code: 'custom', message: `${p} is ${vtepFamily(p)} but advertise ${c.advertise} is ${own}: a cluster's underlay is one family`, path: ['peers', i] });
        }
      });
    }
  });

const seconds = (d: number) => intIn(1, 10_000_000).default(d);
const tcp = DP.tcpTimeouts;
const conntrackSchema = z.strictObject({
  max: intIn(64, 16_777_216).default(DP.conntrackMax),
  /** tracked connections one container may hold; 0: no limit but max */
  maxPerEndpoint: intIn(0, 16_777_216).default(DP.conntrackMaxPerEndpoint),
  /** a TCP segment from inside that belongs to no flow may start one, established (Linux's nf_conntrack_tcp_loose) */
  tcpLoose: z.boolean().default(DP.tcpLoose),
  /** seconds */
  timeouts: section(
    z
      .strictObject({
        tcpSynSent: seconds(inSeconds(tcp.synSent)),
        tcpSynRecv: seconds(inSeconds(tcp.synRecv)),
        tcpEstablished: seconds(inSeconds(tcp.established)),
        tcpFinWait: seconds(inSeconds(tcp.finWait)),
        tcpCloseWait: seconds(inSeconds(tcp.closeWait)),
        tcpLastAck: seconds(inSeconds(tcp.lastAck)),
        tcpTimeWait: seconds(inSeconds(tcp.timeWait)),
        tcpClose: seconds(inSeconds(tcp.close)),
        udp: seconds(inSeconds(DP.udpTimeoutMs)),
        udpStream: seconds(inSeconds(DP.udpStreamTimeoutMs)),
        icmp: seconds(inSeconds(DP.icmpTimeoutMs)),
      })
      .prefault({}),
  ),
});

/** Docker's network and IPAM driver (`docker network create -d pontoon --ipam-driver pontoon`). */
const dockerSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Docker finds plugins in /run/docker/plugins; the file's name is the plugin's (pontoon) */
  pluginSocket: checked(socketPathProblem).default('/run/docker/plugins/pontoon.sock'),
  /** Docker's API, asked (after each call is answered) for the names of networks and containers; null: never */
  apiSocket: checked(socketPathProblem).nullable().default('/run/docker.sock'),
});

/** The embedded DNS, answering on every network's gateway address, port 53. */
const dnsSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** the port of the daemon's sockets on the host's TUN address (queries to gateway:53 are sent there) */
  port: intIn(1, 65535).default(53),
  /**
   * where names that are not containers' go, in order (IPv4, IPv4:port, IPv6, [IPv6]:port, a
   * link-local fe80::1%eth0); null: the host's /etc/resolv.conf, read at start; []: nowhere (REFUSED)
   */
  upstream: z
    .array(
      checked((s) => {
        const up = parseUpstreamOrProblem(s);
        return 'problem' in up ? `${q(s)} ${up.problem}` : null;
      }),
    )
    .max(8)
    .optional()
    .transform((list) => (list === undefined ? null : list.map((s) => parseUpstream(s)!))),
  /** time for one forwarded question across every upstream, then SERVFAIL */
  timeoutMs: intIn(100, 60_000).default(2000),
  /** upstream answers cached at most; 0: no cache */
  cacheSize: intIn(0, 10_000_000).default(10_000),
});

const dataplaneSchema = z.strictObject({
  /** frames drained per port per wake-up */
  batchSize: intIn(1, 1024).default(64),
  /** TUN/TAP devices with virtio-net headers: partial checksums and 64 KiB TCP super segments */
  offload: z.boolean().default(true),
  /** coalesce TCP segments into super segments for devices that take offloads (receive offload) */
  gro: z.boolean().default(DP.gro),
  /** after traffic the data-plane thread polls for this long before it sleeps (0: off) */
  busyPollUs: intIn(0, 100_000).default(50),
  /** device I/O: io_uring when available (auto), or forced either way */
  io: z.enum(['auto', 'io_uring', 'read-write']).default('auto'),
  /** forwarding database entries expire after this long without traffic */
  macAgingSeconds: intIn(1, 1_000_000).default(inSeconds(DP.macAgingMs)),
  arp: section(arpSchema.prefault({})),
});

const configSchema = z
  .strictObject({
    /** where networks and endpoints are persisted (state.json, written atomically) */
    stateDir: checked(absolutePathProblem).default('/var/lib/pontoon'),
    /**
     * Connection tracking, NAT mappings and published ports kept in a memory-mapped file, so a
     * restarted daemon (after kill -9, a crash or an upgrade of the same layout) adopts them. On
     * /run (tmpfs) the file survives a daemon restart and not a reboot.
     */
    liveState: section(
      z
        .strictObject({
          enabled: z.boolean().default(true),
          path: checked(absolutePathProblem).default('/run/pontoon/live-state'),
          /** a holder process keeps the TAP queues attached while no daemon runs (frames wait instead of being dropped) */
          holdDevices: z.boolean().default(false),
        })
        .prefault({}),
    ),
    /** every device the daemon creates starts with this (1-6 chars, [a-z][a-z0-9]*) */
    devicePrefix: checked((s) =>
      /^[a-z][a-z0-9]{0,5}$/.test(s) ? null : `${q(s)} must be 1-6 characters: a lowercase letter, then lowercase letters or digits`,
    ).default('pt'),
    /** JSON HTTP API on a unix socket (mode 0660) */
    api: section(z.strictObject({ socket: checked(socketPathProblem).default('/run/pontoon/pontoon.sock') }).prefault({})),
    /** Prometheus /metrics; host and port are `listen` split */
    metrics: section(
      z
        .strictObject({
          enabled: z.boolean().default(true),
          listen: checked((s) => {
            const r = splitListen(s);
            return typeof r === 'string' ? r : null;
          }).default('127.0.0.1:9477'),
        })
        .prefault({})
        .transform((m) => ({ ...m, ...(splitListen(m.listen) as { host: string; port: number }) })),
    ),
    /**
     * The TUN port to the host: `address` is the host's side ("10.254.0.1/30"); the gateway takes
     * the next address of that subnet, `gatewayAddress` ("10.254.0.2", no prefix). `address6` is
     * the same for IPv6: "auto" (default) takes ffff::1/64 of the machine's unique local /48 (the
     * one defaultPools6 defaults to, which then never hands out that /64); null: the host link is
     * IPv4 only (the host does not reach containers over IPv6).
     */
    host: section(
      z
        .strictObject({
          device: deviceName.default('pontoon0'),
          address: checked(hostAddressProblem).default('10.254.0.1/30'),
          address6: checked(hostAddress6Problem).nullable().default('auto'),
        })
        .prefault({})
        .transform((h) => {
          const address6 = h.address6 === 'auto' ? defaultHostLink6() : h.address6;
          const gatewayAddress6 = address6 === null ? null : ipv6ToString(nextIpv6(parseCidr6(address6).addr)!);
          return { ...h, gatewayAddress: ipv4ToString(parseCidr(h.address).addr + 1), address6, gatewayAddress6 };
        }),
    ),
    /** null: no default network */
    defaultNetwork: defaultNetworkSchema.nullable().prefault({}),
    /**
     * Where the IPv6 subnets of `network create --ipv6` without an IPv6 --subnet come from, as
     * Docker's default-address-pools: each base cut into /size pieces. []: a unique local /48
     * derived from /etc/machine-id, cut into /64s (Docker 27's default).
     */
    defaultPools6: z
      .array(
        z
          .strictObject({ base: checked(cidr6Problem), size: intIn(1, MAX_SUBNET6_PREFIX).default(64) })
          .superRefine((p, ctx) => {
            const c = parseCidr6OrNull(p.base);
            if (c !== null && p.size < c.prefixLen) ctx.addIssue({ code: 'custom', message: `size /${p.size} is larger than the pool ${p.base}`, path: ['size'] });
          }),
      )
      .default([]),
    log: section(z.strictObject({ level: z.enum(LOG_LEVELS).default('info') }).prefault({})),
    uplink: uplinkSchema.nullable().default(null),
    nat: section(natSchema.prefault({})),
    conntrack: section(conntrackSchema.prefault({})),
    cluster: section(clusterSchema.prefault({})),
    dns: section(dnsSchema.prefault({})),
    docker: section(dockerSchema.prefault({})),
    dataplane: section(dataplaneSchema.prefault({})),
    /** services (`pontoon service create`): where their VIPs come from unless --vip gives one in the network's subnet */
    services: section(z.strictObject({ cidr: checked(cidrProblem).default('10.96.0.0/16') }).prefault({})),
  })
  .superRefine((c, ctx) => {
    if (cidrProblem(c.services.cidr) === null && hostAddressProblem(c.host.address) === null) {
      const svc = parseCidr(c.services.cidr);
      if (cidrsOverlap(svc, parseCidr(c.host.address))) ctx.addIssue({ code: 'custom', message: `${c.services.cidr} overlaps with host.address ${c.host.address}`, path: ['services', 'cidr'] });
      const dn = c.defaultNetwork;
      if (dn !== null && cidrProblem(dn.subnet) === null && cidrsOverlap(svc, parseCidr(dn.subnet))) {
        ctx.addIssue({ code: 'custom', message: `${c.services.cidr} overlaps with the default network's subnet ${dn.subnet}`, path: ['services', 'cidr'] });
      }
    }
    const dn = c.defaultNetwork;
    const v6 = dn?.fixedCidrV6 !== undefined ? parseCidr6OrNull(dn.fixedCidrV6) : null;
    if (v6 !== null && c.host.address6 !== null && cidrs6Overlap(v6, parseCidr6(c.host.address6))) {
      ctx.addIssue({ code: 'custom', message: `${dn!.fixedCidrV6} overlaps with host.address6 ${c.host.address6}`, path: ['defaultNetwork', 'fixedCidrV6'] });
    }
    if (dn === null || cidrProblem(dn.subnet) !== null || hostAddressProblem(c.host.address) !== null) return;
    if (cidrsOverlap(parseCidr(dn.subnet), parseCidr(c.host.address))) {
      ctx.addIssue({
        code: 'custom',
        message: `${dn.subnet} overlaps with host.address ${c.host.address}`,
        path: ['defaultNetwork', 'subnet'],
      });
    }
  });

/** The daemon's configuration: the file's keys with every default filled in, as the schema gives it. */
export type PontoonConfig = z.output<typeof configSchema>;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return q(v);
  return String(v);
}

const EXPECTED: Record<string, string> = {
  object: 'a mapping',
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
};

function issueMessage(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  const at = path === '' ? '' : `${path}: `;
  switch (issue.code) {
    case 'unrecognized_keys': {
      const keys = issue.keys.map(q).join(', ');
      const where = path === '' ? 'at top level' : `in ${path}`;
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${keys} (${where})`;
    }
    case 'invalid_type':
      return `${at}expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${describe(issue.input)}`;
    case 'invalid_value':
      return `${at}${describe(issue.input)} is not one of ${issue.values.map((v) => String(v)).join(', ')}`;
    default:
      return `${at}${issue.message}`;
  }
}

/** Parses the text of a config file; `source` names it in errors. */
export function parseConfig(text: string, source: string): PontoonConfig {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!.message.split('\n')[0]!.replace(/:$/, '');
    throw new ConfigError(`${source}: invalid YAML: ${first}`);
  }
  let raw: unknown = doc.toJS();
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`${source}: expected a mapping at top level, got ${describe(raw)}`);
  }
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(`${source}: ${issueMessage(result.error.issues[0]!)}`);
  return result.data;
}

/** Reads and parses a config file; errors name `path` as given. */
export function loadConfig(path: string): PontoonConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const reason = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new ConfigError(`${path}: cannot read the config file: ${reason}`);
  }
  return parseConfig(text, path);
}
