// Prometheus metrics. The data plane's counters are plain numbers in shared memory; prom-client
// reads them in collect() when /metrics is scraped, never on the packet path.

import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PluginStats } from './docker/plugin-stats.js';
import { CT_STATE_NAMES } from '../dataplane/conntrack.js';
import { Drop, DROP_REASONS, Gauge as DpGauge, type DataplaneCounters, SERVICE_FIELDS, SVC_ACTIVE, SVC_BYTES, SVC_NEW_FLOWS, SVC_REFUSED_BASE } from '../dataplane/counters.js';
import { NATPMP_RESULTS, PCP_RESULTS } from './pcp/pcp-codes.js';
import { MAPPING_REMOVALS, PCP_OPCODES, PCP_PROTOCOLS, type PcpStats } from './pcp/pcp-stats.js';
import { PCP_DROP_REASONS } from './pcp/request-decode.js';
import { DNS_DROP_REASONS, DNS_QUERY_TYPES, DNS_RESULTS, type DnsStats, UPSTREAM_BUCKETS } from './dns/dns-stats.js';

export interface MetricsSources {
  counters: DataplaneCounters;
  /** port id -> name, for the `port` label (bounded by the number of endpoints) */
  portNames(): Map<number, string>;
  inventory(): { networks: number; endpoints: number };
  conntrackMax: number;
  /** overlay networks: data-plane slot, VNI and name (bounded by the number of overlay networks) */
  overlays(): { index: number; vni: number; name: string; hostSubnets?: number }[];
  /** the embedded DNS's counters, or null when it is off */
  dns?: DnsStats | null;
  /** the NAT-PMP/PCP server's counters and its live mapping count, or null when it is off */
  pcp?: { stats: PcpStats; mappings(): number } | null;
  /** Docker's plugin calls, or null when the plugin is off */
  docker?: PluginStats | null;
  /** macvlan parents: how many are attached and detached (gone), and how many times one vanished in use */
  macvlan?: { parents(): { attached: boolean }[]; lost(): number } | null;
  /** services: their counters' slots and label values (bounded by the services and their backends) */
  services?: (() => ServiceMetricsView[]) | null;
}

/** One service as the metrics see it: `slot` its data-plane slot, each backend's "NAME/IP" and counter slot. */
export interface ServiceMetricsView {
  service: string;
  network: string;
  slot: number;
  backends: { backend: string; slot: number }[];
}

const DEFAULT_METRICS_PREFIX = 'pontoon_process_';
/** prom-client's default gauges with a `_total` suffix, left out */
const REDUNDANT_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function buildRegistry(src: MetricsSources): Registry {
  const registry = new Registry();
  // the event-loop delay monitor samples every 100 ms, not prom-client's 10: an idle daemon stays idle
  collectDefaultMetrics({ register: registry, prefix: DEFAULT_METRICS_PREFIX, eventLoopMonitoringPrecision: 100 });
  // gauges named like counters (promtool: "non-counter metrics should not have _total suffix"); each
  // is the sum over the `type` label of the gauge without the suffix, which stays
  for (const name of REDUNDANT_DEFAULT_GAUGES) registry.removeSingleMetric(DEFAULT_METRICS_PREFIX + name);
  const c = src.counters;

  const portCounter = (name: string, help: string, field: 'rxPackets' | 'rxBytes' | 'txPackets' | 'txBytes'): void => {
    new Counter({
      name,
      help,
      labelNames: ['port'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [id, port] of src.portNames()) this.inc({ port }, c.portStats(id)[field]);
      },
    });
  };
  portCounter('pontoon_port_rx_packets_total', 'Frames received from a port.', 'rxPackets');
  portCounter('pontoon_port_rx_bytes_total', 'Bytes received from a port.', 'rxBytes');
  portCounter('pontoon_port_tx_packets_total', 'Frames sent to a port.', 'txPackets');
  portCounter('pontoon_port_tx_bytes_total', 'Bytes sent to a port.', 'txBytes');

  new Counter({
    name: 'pontoon_drops_total',
    help: 'Frames dropped by the data plane, by reason.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (let i = 0; i < DROP_REASONS.length; i++) this.inc({ reason: DROP_REASONS[i].label }, c.drops[i]);
    },
  });

  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  gauge('pontoon_fdb_entries', 'MAC addresses in the forwarding databases of all networks.', () => c.gauges[DpGauge.FdbEntries]);
  new Gauge({
    name: 'pontoon_neighbour_entries',
    help: 'Entries in the neighbour tables of all networks, by family (ipv4: learnt by ARP, ipv6: by neighbour discovery).',
    labelNames: ['family'],
    registers: [registry],
    collect() {
      this.set({ family: 'ipv4' }, c.gauges[DpGauge.NeighbourEntries]);
      this.set({ family: 'ipv6' }, c.gauges[DpGauge.Neighbour6Entries]);
    },
  });
  gauge('pontoon_arp_queued_frames', 'Frames parked while their next hop is resolved by ARP or neighbour discovery.', () => c.gauges[DpGauge.ArpQueued]);
  gauge('pontoon_networks', 'Networks configured.', () => src.inventory().networks);
  gauge('pontoon_endpoints', 'Container endpoints attached.', () => src.inventory().endpoints);

  const counter = (name: string, help: string, read: () => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  };
  new Gauge({
    name: 'pontoon_conntrack_entries',
    help: 'Tracked connections, by protocol and state.',
    labelNames: ['protocol', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      const protos = ['tcp', 'udp', 'icmp'];
      for (let p = 0; p < 3; p++) {
        for (let st = 0; st < CT_STATE_NAMES.length; st++) {
          const n = c.ctStates[p * 16 + st];
          if (n > 0 || (p === 0 && st > 0) || (p > 0 && st === 0)) {
            this.set({ protocol: protos[p]!, state: p === 0 ? CT_STATE_NAMES[st]!.toLowerCase() : 'none' }, n);
          }
        }
      }
    },
  });
  new Counter({
    name: 'pontoon_conntrack_new_flows_total',
    help: 'Connections created in the tracking table, by protocol.',
    labelNames: ['protocol'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ protocol: 'tcp' }, c.gauges[DpGauge.NewFlowsTcp]);
      this.inc({ protocol: 'udp' }, c.gauges[DpGauge.NewFlowsUdp]);
      this.inc({ protocol: 'icmp' }, c.gauges[DpGauge.NewFlowsIcmp]);
    },
  });
  new Gauge({
    name: 'pontoon_nat_ports_in_use',
    help: 'Outside ports (ICMP: identifiers) of the uplink address held by masquerade mappings.',
    labelNames: ['protocol'],
    registers: [registry],
    collect() {
      this.set({ protocol: 'tcp' }, c.gauges[DpGauge.NatPortsTcp]);
      this.set({ protocol: 'udp' }, c.gauges[DpGauge.NatPortsUdp]);
      this.set({ protocol: 'icmp' }, c.gauges[DpGauge.NatPortsIcmp]);
    },
  });
  const vxlanCounter = (name: string, help: string, field: number): void => {
    new Counter({
      name,
      help,
      labelNames: ['vni', 'network'],
      registers: [registry],
      collect() {
        this.reset();
        for (const o of src.overlays()) this.inc({ vni: String(o.vni), network: o.name }, c.vxlan[o.index * 4 + field]);
      },
    });
  };
  vxlanCounter('pontoon_vxlan_rx_packets_total', 'Frames decapsulated from the VXLAN underlay, per VNI.', 0);
  vxlanCounter('pontoon_vxlan_rx_bytes_total', 'Bytes of inner frames decapsulated, per VNI.', 1);
  vxlanCounter('pontoon_vxlan_tx_packets_total', 'Frames encapsulated to a VTEP (each replica counts), per VNI.', 2);
  vxlanCounter('pontoon_vxlan_tx_bytes_total', 'Bytes of inner frames encapsulated, per VNI.', 3);
  new Gauge({
    name: 'pontoon_overlay_host_subnets',
    help: "Routed overlay networks: the hosts' subnet leases known (this host's included), per network.",
    labelNames: ['vni', 'network'],
    registers: [registry],
    collect() {
      this.reset();
      for (const o of src.overlays()) if (o.hostSubnets !== undefined) this.set({ vni: String(o.vni), network: o.name }, o.hostSubnets);
    },
  });
  gauge('pontoon_vxlan_peers', 'Peer VTEPs summed over the overlay networks.', () => c.gauges[DpGauge.VxlanPeers]);
  gauge('pontoon_vxlan_remote_endpoints', 'Endpoints on other hosts known from the control plane.', () => c.gauges[DpGauge.RemoteEndpoints]);
  gauge('pontoon_live_state_adopted_flows', 'Connections adopted from the live-state file at this start (a restart after kill -9, a crash or an upgrade).', () => c.gauges[DpGauge.LiveStateFlows]);
  gauge('pontoon_live_state_adopted_mappings', 'NAT port mappings adopted from the live-state file at this start.', () => c.gauges[DpGauge.LiveStateMappings]);
  gauge('pontoon_restart_gap_seconds', "From the previous daemon's last heartbeat to the first frame this one read after restoring its ports; 0 when this start adopted nothing or no frame came yet.", () =>
    Math.max(0, c.gauges[DpGauge.RestartGapMs]) / 1000,
  );
  gauge('pontoon_conntrack_max', `Maximum tracked connections; new flows beyond it are dropped (reason ${DROP_REASONS[Drop.ConntrackFull].label}).`, () => src.conntrackMax);
  counter('pontoon_conntrack_early_drops_total', 'Unreplied connections (an unanswered SYN or datagram) evicted to make room for a new one when the table was full (as Linux\'s early_drop).', () => c.gauges[DpGauge.ConntrackEarlyDrops]);
  counter('pontoon_nat_hairpin_flows_total', 'New flows from a container to an outside mapping or published port of the uplink address, turned back inside (hairpinning).', () => c.gauges[DpGauge.HairpinFlows]);
  counter('pontoon_icmp_errors_sent_total', 'ICMP error messages the gateway sent.', () => c.gauges[DpGauge.IcmpSent]);
  counter('pontoon_arp_requests_sent_total', 'ARP requests the gateway sent.', () => c.gauges[DpGauge.ArpRequestsSent]);
  counter('pontoon_icmpv6_errors_sent_total', 'ICMPv6 error messages the gateway sent.', () => c.gauges[DpGauge.Icmp6Sent]);
  counter('pontoon_ndp_solicitations_sent_total', 'Neighbour solicitations the gateway sent (IPv6 address resolution and probes).', () => c.gauges[DpGauge.NdpSolicitationsSent]);
  counter('pontoon_fragments_created_total', 'IPv4 fragments the gateway created.', () => c.gauges[DpGauge.FragmentsCreated]);
  counter('pontoon_gro_segments_total', 'TCP segments coalesced by receive offload into super segments for ports that take offloads.', () => c.gauges[DpGauge.GroSegments]);
  counter('pontoon_gro_super_segments_total', 'Super segments receive offload wrote (each replaces pontoon_gro_segments_total / this many writes).', () => c.gauges[DpGauge.GroSuperSegments]);
  new Gauge({
    name: 'pontoon_dataplane_io_backend',
    help: "The data plane's device I/O backend: 1 for the one in use (io_uring, or read/write where io_uring is unavailable or refused).",
    labelNames: ['backend'],
    registers: [registry],
    collect() {
      const uring = c.gauges[DpGauge.IoBackendUring] === 1;
      this.set({ backend: 'io_uring' }, uring ? 1 : 0);
      this.set({ backend: 'read_write' }, uring ? 0 : 1);
    },
  });
  const underlay = (name: string, help: string, tx: number, rx: number): void => {
    new Counter({
      name,
      help,
      labelNames: ['direction'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ direction: 'tx' }, c.gauges[tx]);
        this.inc({ direction: 'rx' }, c.gauges[rx]);
      },
    });
  };
  underlay('pontoon_underlay_datagrams_total', 'VXLAN datagrams sent to and received from the underlay socket.', DpGauge.UnderlayDatagrams, DpGauge.UnderlayRxDatagrams);
  underlay('pontoon_underlay_syscalls_total', 'sendmmsg/recvmmsg calls on the underlay socket (datagrams per call: batching and GSO/GRO at work).', DpGauge.UnderlaySendCalls, DpGauge.UnderlayRecvCalls);
  underlay('pontoon_parent_syscalls_total', 'sendmmsg/recvmmsg calls on the macvlan parents\' packet sockets (frames per call: batching at work).', DpGauge.ParentSendCalls, DpGauge.ParentRecvCalls);
  if (src.macvlan != null) {
    const mv = src.macvlan;
    new Gauge({
      name: 'pontoon_macvlan_parents',
      help: 'Parent devices of macvlan networks in use, attached or detached (vanished, waiting for it to return).',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const all = mv.parents();
        this.set({ state: 'attached' }, all.filter((p) => p.attached).length);
        this.set({ state: 'detached' }, all.filter((p) => !p.attached).length);
      },
    });
    new Counter({
      name: 'pontoon_macvlan_parent_lost_total',
      help: 'Times a macvlan parent vanished (or was replaced by another interface of its name) while networks used it.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(mv.lost());
      },
    });
  }
  if (src.services != null) registerServiceMetrics(registry, src.services, c);
  if (src.dns != null) registerDnsMetrics(registry, src.dns);
  if (src.pcp != null) registerPcpMetrics(registry, src.pcp.stats, src.pcp.mappings);
  if (src.docker != null) {
    const docker = src.docker;
    new Counter({
      name: 'pontoon_docker_plugin_calls_total',
      help: "Docker's network and IPAM plugin calls, by call and outcome (ok, refused: Docker printed the reason, failed: an unexpected error, logged).",
      labelNames: ['call', 'outcome'],
      registers: [registry],
      collect() {
        this.reset();
        for (const e of docker.entries()) this.inc({ call: e.call, outcome: e.outcome }, e.count);
      },
    });
  }
  return registry;
}

function registerPcpMetrics(registry: Registry, pcp: PcpStats, mappings: () => number): void {
  new Counter({
    name: 'pontoon_pcp_requests_total',
    help: 'NAT-PMP and PCP requests the gateway read, by protocol and opcode.',
    labelNames: ['protocol', 'opcode'],
    registers: [registry],
    collect() {
      this.reset();
      for (const protocol of PCP_PROTOCOLS) for (const opcode of PCP_OPCODES) this.inc({ protocol, opcode }, pcp.requestsOf(protocol, opcode));
    },
  });
  new Counter({
    name: 'pontoon_pcp_responses_total',
    help: 'NAT-PMP and PCP responses the gateway sent, by protocol and result code.',
    labelNames: ['protocol', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const result of PCP_RESULTS) this.inc({ protocol: 'pcp', result }, pcp.resultsOf('pcp', result));
      for (const result of NATPMP_RESULTS) this.inc({ protocol: 'natpmp', result }, pcp.resultsOf('natpmp', result));
    },
  });
  new Counter({
    name: 'pontoon_pcp_dropped_total',
    help: 'Datagrams to gateway:5351 left unanswered: shorter than 2 bytes or than the header, a response, or the server failed.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const reason of PCP_DROP_REASONS) this.inc({ reason }, pcp.dropsOf(reason));
    },
  });
  new Counter({
    name: 'pontoon_pcp_mappings_created_total',
    help: 'NAT-PMP/PCP mappings created (renewals not counted).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(pcp.created);
    },
  });
  new Counter({
    name: 'pontoon_pcp_mappings_removed_total',
    help: 'NAT-PMP/PCP mappings removed: deleted by the client, expired, its endpoint disconnected, lost across a restart.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const reason of MAPPING_REMOVALS) this.inc({ reason }, pcp.removalsOf(reason));
    },
  });
  new Gauge({
    name: 'pontoon_pcp_mappings',
    help: 'NAT-PMP/PCP mappings held now.',
    registers: [registry],
    collect() {
      this.set(mappings());
    },
  });
}

function registerDnsMetrics(registry: Registry, dns: DnsStats): void {
  new Counter({
    name: 'pontoon_dns_queries_total',
    help: 'Queries the embedded DNS answered, by query type and result.',
    labelNames: ['type', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const type of DNS_QUERY_TYPES) for (const result of DNS_RESULTS) this.inc({ type, result }, dns.queriesOf(type, result));
    },
  });
  new Counter({
    name: 'pontoon_dns_cache_hits_total',
    help: 'Forwarded names answered from the cache of upstream answers.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(dns.cacheHits);
    },
  });
  new Counter({
    name: 'pontoon_dns_dropped_total',
    help: 'Messages to the embedded DNS left unanswered: malformed (no readable header) or not a query.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const reason of DNS_DROP_REASONS) this.inc({ reason }, dns.dropsOf(reason));
    },
  });
  // observed once per upstream exchange (cache misses only), not per query
  const upstream = new Histogram({
    name: 'pontoon_dns_upstream_duration_seconds',
    help: 'Time upstream resolvers took to answer a forwarded question.',
    buckets: UPSTREAM_BUCKETS,
    registers: [registry],
  });
  dns.upstreamObserver = (seconds) => upstream.observe(seconds);
}

/** Per service and backend: new flows, bytes, active flows; per service: backends, refused flows. */
function registerServiceMetrics(registry: Registry, view: () => ServiceMetricsView[], c: DataplaneCounters): void {
  const perBackend = (Kind: typeof Counter | typeof Gauge, name: string, help: string, field: number): void => {
    new Kind({
      name,
      help,
      labelNames: ['service', 'network', 'backend'],
      registers: [registry],
      collect(this: Counter | Gauge) {
        this.reset();
        for (const s of view()) {
          for (const b of s.backends) {
            const v = c.services[b.slot * SERVICE_FIELDS + field]!;
            const labels = { service: s.service, network: s.network, backend: b.backend };
            if (this instanceof Counter) this.inc(labels, v);
            else this.set(labels, v);
          }
        }
      },
    });
  };
  perBackend(Counter, 'pontoon_service_new_flows_total', 'New flows a service sent to a backend.', SVC_NEW_FLOWS);
  perBackend(Counter, 'pontoon_service_bytes_total', "Bytes of a service's flows through a backend, both directions (IP packets).", SVC_BYTES);
  perBackend(Gauge, 'pontoon_service_active_flows', "A service's tracked flows through a backend now.", SVC_ACTIVE);
  new Gauge({
    name: 'pontoon_service_backends',
    help: 'Ready backends of a service (on every host of its network).',
    labelNames: ['service', 'network'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of view()) this.set({ service: s.service, network: s.network }, s.backends.length);
    },
  });
  new Counter({
    name: 'pontoon_service_refused_flows_total',
    help: 'New flows to a service refused for want of a ready backend (TCP RST, ICMP port unreachable).',
    labelNames: ['service', 'network'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of view()) this.inc({ service: s.service, network: s.network }, c.services[SVC_REFUSED_BASE + s.slot]!);
    },
  });
}

/** Serves GET /metrics on host:port. */
export function startMetricsServer(registry: Registry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot serve metrics on ${host}:${port}: ${err.message}`)));
    server.listen(port, host, () => resolve(server));
  });
}
