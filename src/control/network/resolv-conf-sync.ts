// Containers' resolv.conf kept in step with their networks: /etc/netns/NAME/resolv.conf of a named
// namespace (`ip netns exec` bind-mounts it) points at the gateway of the network the container
// joined first (its IPv6 gateway address on an IPv6-only network), and goes once it left every
// network; never a file pontoon did not write.

import type { Logger } from 'pino';
import { netnsNameOf, removeContainerResolvConf, writeContainerResolvConf } from '../dns/resolv-conf.js';
import { dnsAddressOf } from '../live-network.js';
import type { LiveNetworks } from './live-networks.js';

/** The files themselves, by namespace name. */
export interface ResolvConfFiles {
  /** 'foreign': a file pontoon did not write is there, and was left alone. */
  write(netnsName: string, nameserver: string): 'written' | 'unchanged' | 'foreign';
  /** Removes the file if pontoon wrote it; whether it did. */
  remove(netnsName: string): boolean;
}

/** The real files, under /etc/netns. */
export const etcNetnsResolvConfs: ResolvConfFiles = {
  write: (netnsName, nameserver) => writeContainerResolvConf(netnsName, nameserver),
  remove: (netnsName) => removeContainerResolvConf(netnsName),
};

export class ResolvConfSync {
  constructor(
    private readonly deps: {
      /** the embedded DNS is on */
      enabled: boolean;
      networks: LiveNetworks;
      files: ResolvConfFiles;
      log: Logger;
    },
  ) {}

  /**
   * The resolver of a container: the gateway of the network it joined first (the IPv6 one on an
   * IPv6-only network), or null (DNS off, or no network left).
   */
  nameserverOf(netnsPath: string): string | null {
    if (!this.deps.enabled) return null;
    let first: { created: string; gateway: string } | null = null;
    for (const { live, ep } of this.deps.networks.endpoints()) {
      // a macvlan network's gateway is the LAN's router, not the gateway's embedded DNS
      if (live.record.macvlan !== undefined) continue;
      if (ep.record.netnsPath === netnsPath && (first === null || ep.record.created < first.created)) {
        first = { created: ep.record.created, gateway: dnsAddressOf(live.record) };
      }
    }
    return first?.gateway ?? null;
  }

  /** Writes or removes the namespace's file to match its endpoints now; failures are logged. */
  sync(netnsPath: string): void {
    const name = this.deps.enabled ? netnsNameOf(netnsPath) : null;
    if (name === null) return;
    const nameserver = this.nameserverOf(netnsPath);
    if (nameserver === null) {
      this.tryRemove(name);
      return;
    }
    try {
      if (this.deps.files.write(name, nameserver) === 'foreign') {
        this.deps.log.warn({ netns: name }, `/etc/netns/${name}/resolv.conf was not written by pontoon: left alone`);
      }
    } catch (err) {
      this.deps.log.warn({ netns: name, err: (err as Error).message }, 'cannot update the container\'s resolv.conf');
    }
  }

  /** At shutdown: nobody answers at the gateways until the next start, which writes the files again. */
  removeAll(): void {
    if (!this.deps.enabled) return;
    for (const { ep } of this.deps.networks.endpoints()) {
      const name = netnsNameOf(ep.record.netnsPath);
      if (name !== null) this.tryRemove(name);
    }
  }

  private tryRemove(netnsName: string): void {
    try {
      this.deps.files.remove(netnsName);
    } catch (err) {
      this.deps.log.warn({ netns: netnsName, err: (err as Error).message }, 'cannot remove the container\'s resolv.conf');
    }
  }
}
