// `pontoon daemon`: loads the config, starts the data-plane worker and the host's TUN port,
// restores saved networks and endpoints, and serves the API and /metrics until SIGINT/SIGTERM.

import { pino } from 'pino';
import { DataplaneHost } from '../ports/dataplane-host.js';
import { closeFd, openTunTap } from '../ports/sys/tuntap.js';
import { startApiServer } from './api-server.js';
import { loadConfig, type PontoonConfig } from './config.js';
import { configureHostDevice } from './host-link.js';
import { parseIPv4, parseInterfaceCidr } from './ipam.js';
import { buildRegistry, startMetricsServer } from './metrics.js';
import { NetworkService } from './network-service.js';
import { StateStore } from './state-store.js';

function dataplaneOptions(cfg: PontoonConfig) {
  const d = cfg.dataplane;
  return {
    macAgingMs: d.macAgingSeconds * 1000,
    arpRetries: d.arp.retries,
    arpRetryMs: d.arp.retryMs,
    arpQueueLength: d.arp.queueLength,
    neighbourReachableMs: d.arp.reachableSeconds * 1000,
    neighbourFailedMs: d.arp.failedSeconds * 1000,
    poolSlots: Math.max(256, d.batchSize * 4),
  };
}

export async function runDaemon(configPath: string): Promise<void> {
  const cfg = loadConfig(configPath);
  const log = pino({ level: cfg.log.level, base: { name: 'pontoon' } });
  if (process.getuid !== undefined && process.getuid() !== 0) {
    throw new Error('pontoon daemon must run as root (it creates TUN/TAP devices and enters network namespaces)');
  }
  const dataplane = new DataplaneHost(dataplaneOptions(cfg), cfg.dataplane.batchSize);
  const hostCidr = parseInterfaceCidr(cfg.host.address)!;
  const tun = openTunTap({ mode: 'tun', name: cfg.host.device });
  const cleanups: (() => Promise<void> | void)[] = [() => dataplane.stop(), () => closeFd(tun.fd)];
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
    await configureHostDevice(cfg.host.device, cfg.host.address, 1500);
    const hostPortId = await dataplane.addHostPort(
      {
        name: cfg.host.device,
        hostIp: hostCidr.address,
        gatewayIp: parseIPv4(cfg.host.gatewayAddress)!,
        prefixLen: hostCidr.prefix,
        mtu: 1500,
        defaultRoute: true,
      },
      tun.fd,
    );
    const service = new NetworkService(cfg, new StateStore(cfg.stateDir), dataplane, log);
    cleanups.push(() => service.shutdown());
    await service.restore();
    const api = await startApiServer(cfg.api.socket, service, log);
    cleanups.push(() => api.close());
    if (cfg.metrics.enabled) {
      const registry = buildRegistry({
        counters: dataplane.counters,
        portNames: () => {
          const names = service.portNames();
          names.set(hostPortId, cfg.host.device);
          return names;
        },
        inventory: () => service.inventory(),
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
