// The embedded DNS put together: the name table (kept by the network service), the cache, the
// upstream forwarder, the resolver and its sockets.

import type { Logger } from 'pino';
import { DnsCache } from './dns-cache.js';
import { DnsServer } from './dns-server.js';
import { DnsStats } from './dns-stats.js';
import type { NameTable } from './name-table.js';
import { DnsResolver } from './resolver.js';
import { type Upstream, UpstreamForwarder } from './upstream.js';

export interface EmbeddedDnsOptions {
  /** the host's address on the TUN link: where the data plane sends the queries */
  address: string;
  port: number;
  /** [] forwards nothing */
  upstreams: Upstream[];
  timeoutMs: number;
  cacheSize: number;
  names: NameTable;
  log: Logger;
}

export class EmbeddedDns {
  readonly stats = new DnsStats();
  readonly cache: DnsCache;
  private readonly forwarder: UpstreamForwarder | null;
  private readonly server: DnsServer;

  constructor(readonly o: EmbeddedDnsOptions) {
    this.cache = new DnsCache(o.cacheSize);
    // never forward to ourselves: a loop until the timeout
    const upstreams = o.upstreams.filter((u) => !(u.address === o.address && u.port === o.port));
    this.forwarder = upstreams.length > 0 ? new UpstreamForwarder(upstreams, { timeoutMs: o.timeoutMs, stats: this.stats }) : null;
    const resolver = new DnsResolver({ names: o.names, forwarder: this.forwarder, cache: this.cache, stats: this.stats });
    this.server = new DnsServer(resolver, { address: o.address, port: o.port, log: o.log });
  }

  get upstreams(): readonly Upstream[] {
    return this.forwarder?.upstreams ?? [];
  }

  /** The port bound (the kernel's pick when the options asked for 0). */
  get port(): number {
    return this.server.port;
  }

  start(): Promise<void> {
    return this.server.start();
  }

  async close(): Promise<void> {
    this.forwarder?.close();
    await this.server.close();
  }
}
