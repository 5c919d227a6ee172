// The embedded DNS's sockets: UDP and TCP on the host's address of the TUN link. The data plane
// DNATs every query a container sends to its network's gateway on port 53 to this address and
// port, without touching the source: the client address tells the resolver who is asking. The
// address may be IPv4 or IPv6 (udp4 or udp6), so that queries over IPv6 can be served the same
// way once the data plane delivers them to the host's IPv6 address of the TUN link.

import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { type Server, type Socket, createServer, isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import type { DnsResolver } from './resolver.js';

/** DNS over TCP: each message behind its 2-byte length (RFC 1035 4.2.2). */
const TCP_LENGTH_BYTES = 2;
/** A TCP client idle this long is disconnected (RFC 7766 suggests seconds). */
const TCP_IDLE_MS = 10_000;
const MAX_TCP_CONNECTIONS = 256;
/** Queries of one TCP connection answered concurrently at most; beyond, reading pauses. */
const MAX_TCP_PIPELINE = 32;

export interface DnsServerOptions {
  address: string;
  port: number;
  log: Logger;
}

/** "::ffff:10.0.0.1" → "10.0.0.1". */
function plainIPv4(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

export class DnsServer {
  private udp: UdpSocket | null = null;
  private tcp: Server | null = null;
  private readonly connections = new Set<Socket>();

  constructor(
    private readonly resolver: DnsResolver,
    private readonly o: DnsServerOptions,
  ) {}

  /** Binds both sockets; rejects with one line naming the address when it cannot. */
  async start(): Promise<void> {
    const v6 = isIPv6(this.o.address);
    const where = v6 ? `[${this.o.address}]:${this.o.port}` : `${this.o.address}:${this.o.port}`;
    const udp = createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
    this.udp = udp;
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ address: this.o.address, port: this.o.port, exclusive: true }, () => {
        udp.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      this.udp = null;
      udp.close();
      throw new Error(`cannot serve DNS on udp ${where}: ${err.message} (set dns.port, or dns.enabled: false)`);
    });
    udp.on('error', (err) => this.o.log.warn({ err: err.message }, 'DNS UDP socket error'));
    udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address, rinfo.port));

    const tcp = createServer((s) => this.onConnection(s));
    tcp.maxConnections = MAX_TCP_CONNECTIONS;
    this.tcp = tcp;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      // the same port as UDP (the kernel's pick when port 0 was asked for)
      tcp.listen({ host: this.o.address, port: udp.address().port, exclusive: true }, () => {
        tcp.off('error', reject);
        resolve();
      });
    }).catch(async (err: Error) => {
      this.tcp = null;
      await this.close();
      throw new Error(`cannot serve DNS on tcp ${where}: ${err.message} (set dns.port, or dns.enabled: false)`);
    });
    tcp.on('error', (err) => this.o.log.warn({ err: err.message }, 'DNS TCP server error'));
  }

  /** The UDP port bound (the configured one, or the kernel's pick for port 0). */
  get port(): number {
    return this.udp?.address().port ?? 0;
  }

  async close(): Promise<void> {
    const udp = this.udp;
    this.udp = null;
    if (udp !== null) await new Promise<void>((r) => udp.close(() => r()));
    const tcp = this.tcp;
    this.tcp = null;
    for (const s of this.connections) s.destroy();
    this.connections.clear();
    if (tcp !== null) await new Promise<void>((r) => tcp.close(() => r()));
  }

  private onDatagram(msg: Buffer, address: string, port: number): void {
    void this.resolver.handle(msg, plainIPv4(address), 'udp').then(
      (reply) => {
        if (reply !== null && this.udp !== null) this.udp.send(reply, port, address);
      },
      (err: Error) => this.o.log.warn({ err: err.message }, 'DNS query failed'),
    );
  }

  private onConnection(s: Socket): void {
    this.connections.add(s);
    const client = plainIPv4(s.remoteAddress);
    let buffered: Buffer = Buffer.alloc(0);
    let inFlight = 0;
    s.setTimeout(TCP_IDLE_MS, () => s.destroy());
    s.on('error', () => s.destroy());
    s.on('close', () => this.connections.delete(s));
    s.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= TCP_LENGTH_BYTES) {
        const len = buffered.readUInt16BE(0);
        if (len === 0) {
          s.destroy(); // nothing a query can be: the stream is not DNS
          return;
        }
        if (buffered.length < TCP_LENGTH_BYTES + len) break;
        const msg = buffered.subarray(TCP_LENGTH_BYTES, TCP_LENGTH_BYTES + len);
        buffered = buffered.subarray(TCP_LENGTH_BYTES + len);
        inFlight++;
        if (inFlight >= MAX_TCP_PIPELINE) s.pause();
        void this.resolver.handle(msg, client, 'tcp').then(
          (reply) => {
            inFlight--;
            if (s.isPaused() && inFlight < MAX_TCP_PIPELINE) s.resume();
            if (reply === null || s.destroyed) return;
            const len2 = Buffer.alloc(TCP_LENGTH_BYTES);
            len2.writeUInt16BE(reply.length);
            s.write(Buffer.concat([len2, reply]));
          },
          () => {
            inFlight--;
            s.destroy();
          },
        );
      }
    });
  }
}
