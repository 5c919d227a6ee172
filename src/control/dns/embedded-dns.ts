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
  /** the host's IPv6 address on the TUN link, if it carries IPv6: queries to a network's IPv6 gateway go there */
  address6?: string;
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
  private readonly server6: DnsServer | null;

  constructor(readonly o: EmbeddedDnsOptions) {
    this.cache = new DnsCache(o.cacheSize);
    // never forward to ourselves: a loop until the timeout
    const upstreams = o.upstreams.filter((u) => !(u.address === o.address && u.port === o.port));
    this.forwarder = upstreams.length > 0 ? new UpstreamForwarder(upstreams, { timeoutMs: o.timeoutMs, stats: this.stats }) : null;
    const resolver = new DnsResolver({ names: o.names, forwarder: this.forwarder, cache: this.cache, stats: this.stats });
    this.server = new DnsServer(resolver, { address: o.address, port: o.port, log: o.log });
    this.server6 = o.address6 !== undefined ? new DnsServer(resolver, { address: o.address6, port: o.port, log: o.log }) : null;
  }

  get upstreams(): readonly Upstream[] {
    return this.forwarder?.upstreams ?? [];
  }

  /** The port bound (the kernel's pick when the options asked for 0). */
  get port(): number {
    return this.server.port;
  }

  /** The port bound on the IPv6 address (0: no IPv6 socket). */
  get port6(): number {
    return this.server6?.port ?? 0;
  }

  /** Binds the sockets (IPv4, and IPv6 when asked); rejects with one line naming the address, leaving none open. */
  async start(): Promise<void> {
    await this.server.start();
    if (this.server6 === null) return;
    try {
      await this.server6.start();
    } catch (err) {
      await this.server.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.forwarder?.close();
    await this.server.close();
    await this.server6?.close();
  }
}
