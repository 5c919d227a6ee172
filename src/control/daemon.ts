// `pontoon daemon`: loads the config, starts the data-plane worker and the host's TUN port,
// restores saved networks and endpoints, and serves the API and /metrics until SIGINT/SIGTERM.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Logger, pino } from 'pino';
import { Gauge } from '../dataplane/counters.js';
import type { LiveStateReport } from '../ports/live-state-file.js';
import { DataplaneHost } from '../ports/dataplane-host.js';
import { DeviceHolder } from '../ports/device-holder.js';
import { IoUring } from '../ports/sys/io-uring.js';
import { STAGE_BYTES, RX_BUFFERS } from '../ports/uring-loop.js';
import { withNetns } from '../ports/sys/netns.js';
import { openPacketSocket } from '../ports/sys/packet-socket.js';
import { closeFd, openTunTap } from '../ports/sys/tuntap.js';
import type { Ipv6UplinkSpec } from '../dataplane/specs.js';
import { ipv4ToString, parseCidr, parseIpv4 } from '../wire/ipv4-address.js';
import { vtepAddress } from './network/addresses.js';
import { ipv6ToString, parseCidr6, parseIpv6 } from '../wire/ipv6-address.js';
import { parseMac } from '../wire/mac.js';
import { probeSocket, startApiServer } from './api-server.js';
import type { EmbeddedDns } from './dns/embedded-dns.js';
import { lockStateDir } from './state-lock.js';
import type { ClusterStore } from './cluster/cluster-store.js';
import { loadConfig, type PontoonConfig } from './config.js';
import type { PcpGateway } from './pcp/pcp-gateway.js';
import { configureHostDevice, configureHostDevice6 } from './host-link.js';
import { resolveNetns, runCommand, runInNetns } from './netns.js';

/** The uplink's IPv6 side from uplink.address6 ("2001:db8:1::2/64") and uplink.gateway6, checked by the config already. */
export function uplinkIpv6Spec(address6: string, gateway6: string): Ipv6UplinkSpec {
  const c = parseCidr6(address6);
  return { ip: c.addr, prefixLen: c.prefixLen, gatewayIp: parseIpv6(gateway6) };
}

/** The uplink's slot among the data plane's networks, out of the way of the bridge networks. */
const UPLINK_INDEX = 4095;

function dataplaneOptions(cfg: PontoonConfig) {
  const d = cfg.dataplane;
  const t = cfg.conntrack.timeouts;
  return {
    conntrackMax: cfg.conntrack.max,
    conntrackMaxPerEndpoint: cfg.conntrack.maxPerEndpoint,
    tcpLoose: cfg.conntrack.tcpLoose,
    tcpTimeouts: {
      synSent: t.tcpSynSent * 1000,
      synRecv: t.tcpSynRecv * 1000,
      established: t.tcpEstablished * 1000,
      finWait: t.tcpFinWait * 1000,
      closeWait: t.tcpCloseWait * 1000,
      lastAck: t.tcpLastAck * 1000,
      timeWait: t.tcpTimeWait * 1000,
      close: t.tcpClose * 1000,
    },
    udpTimeoutMs: t.udp * 1000,
    udpStreamTimeoutMs: t.udpStream * 1000,
    icmpTimeoutMs: t.icmp * 1000,
    natPortMin: cfg.nat.portMin,
    natPortMax: cfg.nat.portMax,
    udpEndpointIndependentFiltering: cfg.nat.udpFiltering === 'endpoint-independent',
    rejectUnsolicitedTcp: cfg.nat.unsolicitedTcp === 'reset',
    macAgingMs: d.macAgingSeconds * 1000,
    arpRetries: d.arp.retries,
    arpRetryMs: d.arp.retryMs,
    arpQueueLength: d.arp.queueLength,
    neighbourReachableMs: d.arp.reachableSeconds * 1000,
    neighbourStaleMs: d.arp.staleSeconds * 1000,
    neighbourFailedMs: d.arp.failedSeconds * 1000,
    poolSlots: Math.max(256, d.batchSize * 4),
    gro: d.gro,
  };
}

/**
 * The device I/O backend: io_uring where the kernel lets this process use it (`auto`, the
 * default), read/write otherwise or when asked. Asked for io_uring and refused: the daemon stops
 * with the reason rather than run slower than configured.
 */
/** Frame memory the io_uring backend reads into and stages small writes in. */
const URING_MEMORY = { deviceRxSlots: RX_BUFFERS, deviceTxBytes: STAGE_BYTES };

function chooseIoBackend(wanted: PontoonConfig['dataplane']['io']): { backend: 'io_uring' | 'read-write'; fallbackReason: string } {
  if (wanted === 'read-write') return { backend: 'read-write', fallbackReason: '' };
  const probe = IoUring.probe();
  if (probe.ok) return { backend: 'io_uring', fallbackReason: '' };
  if (wanted === 'io_uring') throw new Error(`dataplane.io is io_uring, but ${probe.reason}`);
  return { backend: 'read-write', fallbackReason: probe.reason };
}

/**
 * Opens the uplink: a persistent TAP device (created inside `netns` when given, so an "external"
 * namespace keeps its side across daemon restarts) or an AF_PACKET socket on an existing interface.
 */
/** The uplink's descriptor: the device holder's from the previous daemon when there is one (its queue kept what came meanwhile), else opened. */
async function openUplink(up: NonNullable<PontoonConfig['uplink']>, offload: boolean, holder: DeviceHolder | null): Promise<number> {
  const key = `uplink:${up.kind}:${up.netns ?? ''}:${up.device}`;
  let fd = holder?.claim(key) ?? -1;
  if (fd < 0) fd = await openUplinkDevice(up, offload);
  if (holder !== null) void holder.take(key, fd);
  return fd;
}

async function openUplinkDevice(up: NonNullable<PontoonConfig['uplink']>, offload: boolean): Promise<number> {
  if (up.kind === 'afpacket') return openPacketSocket(up.device).fd;
  if (up.netns === null) {
    const { fd } = openTunTap({ mode: 'tap', name: up.device, persist: true, vnetHdr: offload });
    await runCommand('ip', ['link', 'set', 'dev', up.device, 'up']);
    return fd;
  }
  const ns = resolveNetns(up.netns);
  const { fd } = withNetns(ns.path, () => openTunTap({ mode: 'tap', name: up.device, persist: true, vnetHdr: offload }));
  try {
    await runInNetns(ns.path, ['ip', 'link', 'set', 'dev', up.device, 'up']);
  } catch (err) {
    closeFd(fd);
    throw err;
  }
  return fd;
}

/**
 * The control plane's modules that the start needs only once the data plane runs: loaded while the
 * data-plane worker starts (its own module loading and table set-up), not before it.
 */
/**
 * Gives the host link its IPv6 address (host.address6); null when it has none or the kernel
 * refuses it (IPv6 off on the host): the host link then carries IPv4 only, and says why.
 */
async function hostLinkIpv6(dev: string, address6: string | null, log: Logger): Promise<string | null> {
  if (address6 === null) return null;
  try {
    await configureHostDevice6(dev, address6);
    return address6;
  } catch (err) {
    log.warn({ device: dev, address6, err: (err as Error).message }, 'the host link has no IPv6: the host reaches containers over IPv4 only');
    return null;
  }
}

async function controlPlaneModules() {
  const [staticStore, dns, resolvConf, hostDevices, metrics, networkService, resolvConfSync, stateStore, pcpGateway] = await Promise.all([
    import('./cluster/static-store.js'),
    import('./dns/embedded-dns.js'),
    import('./dns/resolv-conf.js'),
    import('./host-devices.js'),
    import('./metrics.js'),
    import('./network-service.js'),
    import('./network/resolv-conf-sync.js'),
    import('./state-store.js'),
    import('./pcp/pcp-gateway.js'),
  ]);
  return {
    ...staticStore,
    ...dns,
    ...resolvConf,
    ...hostDevices,
    ...metrics,
    ...networkService,
    ...resolvConfSync,
    ...stateStore,
    ...pcpGateway,
  };
}

/**
 * The one adoption line, once the gap is known: from the old process's last heartbeat to the first
 * frame this one read after its restore (or, with no frame within 10 s, to the end of the restore).
 */
async function reportRestartGap(dataplane: DataplaneHost, live: LiveStateReport, log: Logger): Promise<void> {
  const restoredAt = Date.now();
  const gauges = dataplane.counters.gauges;
  for (let waited = 0; gauges[Gauge.RestartGapMs] < 0 && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10).unref());
  const firstFrame = gauges[Gauge.RestartGapMs] >= 0;
  const gapMs = firstFrame ? gauges[Gauge.RestartGapMs] : restoredAt - live.previousHeartbeat;
  log.info(
    {
      flows: live.flows,
      mappings: live.mappings,
      published: live.published,
      expired: live.expired,
      dropped: live.dropped,
      gapMs: Math.round(gapMs),
      firstFrame,
      adoptMs: Math.round(live.adoptMs * 10) / 10,
      previousPid: live.previousPid,
      generation: live.generation,
    },
    `live state adopted: ${live.flows} flows, ${live.mappings} mappings, ${live.dropped} dropped, gap ${Math.round(gapMs)} ms`,
  );
}

export async function runDaemon(configPath: string): Promise<void> {
  const cfg = loadConfig(configPath);
  const log = pino({ level: cfg.log.level, base: { name: 'pontoon' } });
  if (process.getuid !== undefined && process.getuid() !== 0) {
    throw new Error('pontoon daemon must run as root (it creates TUN/TAP devices and enters network namespaces)');
  }
  // before touching anything: no other daemon may be using this socket or this state
  if ((await probeSocket(cfg.api.socket)) === 'live') {
    throw new Error(`another pontoon daemon is already listening on ${cfg.api.socket}`);
  }
  const releaseLock = lockStateDir(cfg.stateDir);
  const hostCidr = parseCidr(cfg.host.address);
  let tun: { fd: number };
  let io: ReturnType<typeof chooseIoBackend>;
  try {
    io = chooseIoBackend(cfg.dataplane.io);
    tun = openTunTap({ mode: 'tun', name: cfg.host.device, vnetHdr: cfg.dataplane.offload });
  } catch (err) {
    releaseLock();
    throw err;
  }
  if (io.backend === 'read-write' && cfg.dataplane.io === 'auto') log.warn({ reason: io.fallbackReason }, 'io_uring unavailable: frames move with read(2)/write(2)');
  const options = dataplaneOptions(cfg);
  if (io.backend === 'io_uring') Object.assign(options, URING_MEMORY);
  const livePath = cfg.liveState.enabled ? cfg.liveState.path : null;
  if (livePath !== null) mkdirSync(dirname(livePath), { recursive: true, mode: 0o755 });
  const dataplane = new DataplaneHost(options, { batchSize: cfg.dataplane.batchSize, busyPollUs: cfg.dataplane.busyPollUs, ...io }, livePath);
  log.info({ io: io.backend, busyPollUs: cfg.dataplane.busyPollUs }, 'data plane started');
  const modules = controlPlaneModules();
  modules.catch(() => undefined); // awaited below; a failure surfaces there
  const cleanups: (() => Promise<void> | void)[] = [releaseLock, () => dataplane.stop(), () => closeFd(tun.fd)];
  const stop = async (): Promise<void> => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'error during shutdown');
      }
    }
  };
  try {
    // the host link is configured while the worker starts (and adopts the live state)
    const [live] = await Promise.all([dataplane.control.liveState(), configureHostDevice(cfg.host.device, cfg.host.address, 1500)]);
    const { StaticStore, EmbeddedDns, hostNameservers, formatUpstream, KernelHostDevices, buildRegistry, startMetricsServer, NetworkService, etcNetnsResolvConfs, StateStore, PcpGateway } =
      await modules;
    if (live !== null && live.outcome === 'unavailable') log.warn({ path: live.path, reason: live.reason }, 'live state unavailable: tables kept in memory only');
    if (live !== null && live.outcome === 'set-aside') {
      log.warn({ path: live.path, reason: live.reason, movedTo: live.movedTo }, 'live-state file set aside: starting with empty tables');
    }
    let holder: DeviceHolder | null = null;
    if (livePath !== null && cfg.liveState.holdDevices) {
      try {
        holder = await DeviceHolder.connect(`${livePath}.holder`);
        log.info({ pid: holder.holderPid, taken: holder.inheritedCount }, 'device holder ready: device queues stay attached across restarts');
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'no device holder: device queues drop frames while no daemon runs');
      }
    }
    let uplinkPortId = -1;
    const hostLink6 = await hostLinkIpv6(cfg.host.device, cfg.host.address6, log);
    const hostPortId = await dataplane.control.addHostPort(
      {
        name: cfg.host.device,
        hostIp: hostCidr.addr,
        gatewayIp: parseIpv4(cfg.host.gatewayAddress),
        prefixLen: hostCidr.prefixLen,
        mtu: 1500,
        defaultRoute: cfg.uplink === null,
        vnet: cfg.dataplane.offload,
        ...(hostLink6 !== null
          ? { ipv6: { hostIp: parseCidr6(hostLink6).addr, gatewayIp: parseIpv6(cfg.host.gatewayAddress6!), prefixLen: parseCidr6(hostLink6).prefixLen } }
          : {}),
      },
      tun.fd,
    );
    if (cfg.uplink !== null) {
      const up = cfg.uplink;
      const cidr = parseCidr(up.address);
      const fd = await openUplink(up, cfg.dataplane.offload, holder);
      cleanups.push(() => closeFd(fd));
      uplinkPortId = await dataplane.control.addUplink(
        {
          index: UPLINK_INDEX,
          name: up.device,
          ip: cidr.addr,
          prefixLen: cidr.prefixLen,
          mac: parseMac(up.mac ?? `02:70:${ipv4ToString(cidr.addr).split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`),
          gatewayIp: parseIpv4(up.gateway),
          mtu: up.mtu,
          vnet: up.kind === 'tap' && cfg.dataplane.offload,
          ...(up.address6 !== null && up.gateway6 !== null ? { ipv6: uplinkIpv6Spec(up.address6, up.gateway6) } : {}),
        },
        fd,
      );
      log.info(
        { kind: up.kind, device: up.device, address: up.address, gateway: up.gateway, ...(up.address6 !== null ? { address6: up.address6, gateway6: up.gateway6 } : {}) },
        'uplink attached',
      );
    }
    let cluster: ClusterStore | null = null;
    const cl = cfg.cluster;
    if (cl.advertise !== null) {
      // overlay networks: the VXLAN underlay socket on this host's underlay address
      await dataplane.control.setTunnel({
        localIp: vtepAddress(cl.advertise),
        port: cl.vxlanPort,
        underlayMtu: cl.underlayMtu,
        underlay: { gso: cl.udpGso, gro: cl.udpGro, receiveBuffer: cl.socketReceiveBuffer, sendBuffer: cl.socketSendBuffer },
      });
      // loaded only when used: the etcd client (gRPC) is most of the daemon's module-loading time
      const { EtcdStore } = cl.store === 'etcd' ? await import('./cluster/etcd-store.js') : { EtcdStore: null };
      cluster =
        EtcdStore !== null
          ? new EtcdStore({ endpoints: cl.endpoints, prefix: cl.prefix, hostId: cl.advertise, leaseTtlSeconds: cl.leaseTtlSeconds, log })
          : new StaticStore(cl.peers, join(cfg.stateDir, 'foreign-peers.json'));
      log.info({ advertise: cl.advertise, port: cl.vxlanPort, store: cluster.kind }, 'VXLAN underlay ready');
    }
    // NAT-PMP/PCP: made before the service (which tells it of endpoints that leave), started after restore
    let pcp: PcpGateway | null = null;
    if (cfg.nat.pcp.enabled && cfg.uplink !== null) {
      pcp = new PcpGateway({
        address: ipv4ToString(hostCidr.addr),
        externalAddress: parseCidr(cfg.uplink.address).addr,
        maxMappingsPerEndpoint: cfg.nat.pcp.maxMappingsPerEndpoint,
        maxLifetimeSeconds: cfg.nat.pcp.maxLifetimeSeconds,
        stateDir: cfg.stateDir,
        control: dataplane.control,
        log,
      });
    } else if (cfg.nat.pcp.enabled) {
      log.warn('nat.pcp.enabled, but there is no uplink: no NAT-PMP/PCP server');
    }
    const service = new NetworkService({
      config: cfg,
      store: new StateStore(cfg.stateDir),
      dataplane,
      devices: new KernelHostDevices({ hostDevice: cfg.host.device, devicePrefix: cfg.devicePrefix, vnetHdr: cfg.dataplane.offload, holder, hostLink6 }),
      resolvConfs: etcNetnsResolvConfs,
      log,
      cluster,
      explicitMappings: pcp,
      serviceStore: cl.store === 'etcd' ? new (await import('./cluster/etcd-services.js')).EtcdServices({ endpoints: cl.endpoints, prefix: cl.prefix, log }) : null,
      servicesDir: cfg.stateDir,
    });
    cleanups.push(() => service.shutdown());
    let dns: EmbeddedDns | null = null;
    if (cfg.dns.enabled) {
      // sockets on the host's TUN address; the data plane DNATs queries to any gateway:53 there
      const hostIp6 = hostLink6 !== null ? parseCidr6(hostLink6).addr : null;
      const embedded = new EmbeddedDns({
        address: ipv4ToString(hostCidr.addr),
        ...(hostIp6 !== null ? { address6: ipv6ToString(hostIp6) } : {}),
        port: cfg.dns.port,
        upstreams: cfg.dns.upstream ?? hostNameservers(),
        timeoutMs: cfg.dns.timeoutMs,
        cacheSize: cfg.dns.cacheSize,
        names: service.names,
        log,
      });
      await embedded.start();
      cleanups.push(() => embedded.close());
      await dataplane.control.setGatewayService('dns', hostCidr.addr, embedded.port);
      if (hostIp6 !== null) await dataplane.control.setGatewayService6('dns', hostIp6, embedded.port6);
      dns = embedded;
      log.info(
        {
          listen: `${ipv4ToString(hostCidr.addr)}:${embedded.port}`,
          ...(hostIp6 !== null ? { listen6: `[${ipv6ToString(hostIp6)}]:${embedded.port6}` } : {}),
          upstreams: embedded.upstreams.map(formatUpstream),
        },
        'embedded DNS ready',
      );
    }
    await service.restore();
    holder?.releaseUnclaimed(); // devices of endpoints that did not come back
    if (live !== null && live.outcome === 'adopted') void reportRestartGap(dataplane, live, log);
    if (pcp !== null) {
      const gateway = pcp;
      const port = await gateway.start({ endpointOf: (ip) => service.endpointOf(ip), masqueradingNetworks: () => service.masqueradingNetworks() });
      cleanups.push(async () => {
        await dataplane.control.setGatewayService('pcp', 0, 0);
        await gateway.close();
      });
      await dataplane.control.setGatewayService('pcp', hostCidr.addr, port);
      gateway.announce();
    }
    // pins adopted from the live state that the PCP server did not take back (or all, without one) go
    const unpinned = await dataplane.control.pinsRestored();
    if (unpinned > 0) log.info({ unpinned }, 'adopted NAT-PMP/PCP pins not taken back: unpinned');
    const api = await startApiServer(cfg.api.socket, service, log, service.queue);
    cleanups.push(() => api.close());
    if (service.docker !== null) {
      const { pluginDispatcher, startPluginServer } = await import('./docker/plugin-server.js');
      const plugin = await startPluginServer(cfg.docker.pluginSocket, pluginDispatcher(service.docker.network, service.docker.ipam, service.queue, log, service.docker.stats), log);
      cleanups.push(() => plugin.close());
    }
    if (cfg.metrics.enabled) {
      const registry = buildRegistry({
        counters: dataplane.counters,
        portNames: () => {
          const names = service.portNames();
          names.set(hostPortId, cfg.host.device);
          if (uplinkPortId >= 0 && cfg.uplink !== null) names.set(uplinkPortId, cfg.uplink.device);
          return names;
        },
        inventory: () => service.inventory(),
        conntrackMax: cfg.conntrack.max,
        overlays: () => service.overlays(),
        dns: dns?.stats ?? null,
        pcp: pcp === null ? null : { stats: pcp.stats, mappings: () => pcp.manager.size },
        docker: service.docker?.stats ?? null,
        macvlan: { parents: () => service.parents.status(), lost: () => service.parents.lost },
        services: () => service.services.metricsView(),
      });
      const server = await startMetricsServer(registry, cfg.metrics.host, cfg.metrics.port);
      cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    }
    log.info({ config: configPath, socket: cfg.api.socket, metrics: cfg.metrics.enabled ? cfg.metrics.listen : null }, 'pontoon is ready');
  } catch (err) {
    await stop();
    throw err;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string): void => {
      log.info({ signal: sig }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  await stop();
}
