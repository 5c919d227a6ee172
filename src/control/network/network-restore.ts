// At start: every saved network and endpoint brought back (endpoints whose namespace went away
// while the daemon was down are dropped), then the default network, then the cluster store
// followed. While running: endpoints whose namespace disappeared are removed like a disconnect,
// and overlay networks not yet announced are announced again.

import type { Logger } from 'pino';
import type { PontoonConfig } from '../config.js';
import type { HostDevices } from '../host-devices.js';
import type { MacvlanParents } from './macvlan-parents.js';
import type { LiveNetworks } from './live-networks.js';
import type { EndpointAttach } from './endpoint-attach.js';
import type { NetworkActivation } from './network-activation.js';
import type { NetworkLifecycle } from './network-lifecycle.js';
import type { OverlaySync } from './overlay-sync.js';
import type { ResolvConfSync } from './resolv-conf-sync.js';
import type { ServiceDataplane } from './service-dataplane.js';

const RECONCILE_INTERVAL_MS = 2000;

export class NetworkRestore {
  private timer: NodeJS.Timeout | null = null;
  private reconciling = false;

  constructor(
    private readonly deps: {
      /** created at start unless a network of that name exists */
      defaultNetwork: PontoonConfig['defaultNetwork'];
      networks: LiveNetworks;
      activation: NetworkActivation;
      attach: EndpointAttach;
      lifecycle: NetworkLifecycle;
      overlay: OverlaySync | null;
      resolvConf: ResolvConfSync;
      devices: HostDevices;
      /** macvlan parents: let go of when they vanish, taken back when they return */
      parents: MacvlanParents;
      /** told when every saved endpoint (and its published ports) is back */
      dataplane: Pick<ServiceDataplane['control'], 'liveStateRestored'>;
      log: Logger;
    },
  ) {}

  /** Brings back every saved network and endpoint (re-attaching persistent TAP devices), then the default network. */
  async restore(): Promise<void> {
    const { defaultNetwork: def, networks, activation, attach, lifecycle, overlay, resolvConf, log } = this.deps;
    const saved = networks.load();
    let changed = false;
    for (const rec of saved.networks) {
      const live = await activation.activate(rec);
      for (const ep of rec.endpoints) {
        try {
          await attach.reattach(live, ep);
        } catch (err) {
          changed = true;
          log.warn({ network: rec.name, endpoint: ep.name, err: (err as Error).message }, 'endpoint dropped at start-up');
          resolvConf.sync(ep.netnsPath);
        }
      }
    }
    if (def !== null && networks.find(def.name) === undefined) {
      await lifecycle.create(
        {
          name: def.name,
          subnet: def.subnet,
          gateway: def.gateway,
          mtu: def.mtu,
          ...(def.ipv6 ? { ipv6: true, ...(def.fixedCidrV6 !== undefined ? { subnets: [def.fixedCidrV6] } : {}) } : {}),
        },
        true,
      );
      changed = false; // create saved
    }
    if (changed) networks.save();
    // published ports the previous process left in the live-state file and no endpoint re-added go now
    const swept = await this.deps.dataplane.liveStateRestored();
    if (swept > 0) log.info({ removed: swept }, 'adopted published ports no endpoint claims were removed');
    if (overlay !== null) {
      await overlay.announceAll();
      await overlay.start();
    }
    this.timer = setInterval(() => void this.reconcile(), RECONCILE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass over the networks; a pass still running makes this one a no-op. */
  async reconcile(): Promise<void> {
    if (this.reconciling) return;
    this.reconciling = true;
    try {
      await this.reconcileOnce();
    } finally {
      this.reconciling = false;
    }
  }

  private async reconcileOnce(): Promise<void> {
    const { networks, attach, overlay, devices, parents, log } = this.deps;
    if (overlay !== null) await overlay.retryAnnounce();
    await parents.check();
    for (const live of networks.values()) {
      for (const ep of [...live.endpoints.values()]) {
        const r = ep.record;
        if (r.netnsIno === 0) continue; // a Docker container not started yet: Docker calls Leave if it never does
        if (devices.netnsExists({ path: r.netnsPath, dev: r.netnsDev, ino: r.netnsIno })) continue;
        log.info({ network: live.record.name, endpoint: r.name }, 'network namespace vanished: endpoint removed');
        await attach.detach(live, ep, false).catch((err: Error) => log.warn({ err: err.message }, 'cleanup failed'));
      }
    }
  }
}
