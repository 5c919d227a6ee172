// Ports published on the host's loopback (`-p 127.0.0.1:8080:80`), as Docker's docker-proxy does
// them: the daemon listens on the host's 127.0.0.1:8080 itself and relays each connection (TCP) or
// each client's datagrams (UDP) to the container through the host link. Nothing of it lives in
// the data plane, so no packet from the uplink can ever reach such a port, whatever it claims.

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { ApiFailure } from './gateway-api.js';

export interface LoopbackForward {
  proto: 'tcp' | 'udp';
  /** a loopback address of the host (127.0.0.0/8) */
  hostIp: string;
  hostPort: number;
  targetIp: string;
  targetPort: number;
}

/** A UDP client's relay socket is closed after this long without a datagram either way (docker-proxy: 90 s). */
const UDP_IDLE_MS = 90_000;

/** 127.0.0.0/8, written as a dotted quad. */
export function isLoopbackAddress(ip: string): boolean {
  return /^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$/.test(ip);
}

interface Relay {
  close(): Promise<void>;
}

const key = (proto: string, hostIp: string, hostPort: number): string => `${proto}/${hostIp}:${hostPort}`;

export class LoopbackProxies {
  private readonly relays = new Map<string, Relay>();

  constructor(private readonly log: Logger) {}

  /** Starts relaying; a port the host already uses is a 409 naming it. */
  async start(f: LoopbackForward): Promise<void> {
    const k = key(f.proto, f.hostIp, f.hostPort);
    if (this.relays.has(k)) throw new ApiFailure(409, `${f.hostIp}:${f.hostPort}/${f.proto} is already published`);
    try {
      this.relays.set(k, f.proto === 'tcp' ? await this.tcp(f) : await this.udp(f));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EADDRINUSE') throw new ApiFailure(409, `cannot publish on ${f.hostIp}:${f.hostPort}/${f.proto}: the host already uses that port`);
      throw new ApiFailure(500, `cannot publish on ${f.hostIp}:${f.hostPort}/${f.proto}: ${e.message}`);
    }
  }

  async stop(proto: 'tcp' | 'udp', hostIp: string, hostPort: number): Promise<void> {
    const k = key(proto, hostIp, hostPort);
    const r = this.relays.get(k);
    if (r === undefined) return;
    this.relays.delete(k);
    await r.close();
  }

  async stopAll(): Promise<void> {
    const all = [...this.relays.values()];
    this.relays.clear();
    await Promise.all(all.map((r) => r.close()));
  }

  private tcp(f: LoopbackForward): Promise<Relay> {
    const conns = new Set<Socket>();
    const server: Server = createServer((client) => {
      const up = createConnection({ host: f.targetIp, port: f.targetPort });
      conns.add(client);
      conns.add(up);
      const end = (): void => {
        client.destroy();
        up.destroy();
        conns.delete(client);
        conns.delete(up);
      };
      client.on('error', end).on('close', end);
      up.on('error', end).on('close', end);
      client.pipe(up).pipe(client);
    });
    server.on('error', (err) => this.log.warn({ err: err.message, port: f.hostPort }, 'loopback proxy error'));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: f.hostIp, port: f.hostPort, exclusive: true }, () => {
        server.off('error', reject);
        resolve({
          close: () =>
            new Promise<void>((done) => {
              for (const c of conns) c.destroy();
              server.close(() => done());
            }),
        });
      });
    });
  }

  private udp(f: LoopbackForward): Promise<Relay> {
    const sock: UdpSocket = createSocket('udp4');
    const clients = new Map<string, { up: UdpSocket; timer: NodeJS.Timeout }>();
    const forget = (k: string): void => {
      const c = clients.get(k);
      if (c === undefined) return;
      clients.delete(k);
      clearTimeout(c.timer);
      c.up.close();
    };
    sock.on('message', (msg, rinfo) => {
      const k = `${rinfo.address}:${rinfo.port}`;
      let c = clients.get(k);
      if (c === undefined) {
        const up = createSocket('udp4');
        const entry = { up, timer: setTimeout(() => forget(k), UDP_IDLE_MS).unref() };
        up.on('message', (back, from) => {
          if (from.address !== f.targetIp || from.port !== f.targetPort) return; // only the container answers
          sock.send(back, rinfo.port, rinfo.address);
          entry.timer.refresh();
        });
        up.on('error', () => forget(k));
        clients.set(k, entry);
        c = entry;
      }
      c.timer.refresh();
      c.up.send(msg, f.targetPort, f.targetIp);
    });
    sock.on('error', (err) => this.log.warn({ err: err.message, port: f.hostPort }, 'loopback proxy error'));
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address: f.hostIp, port: f.hostPort, exclusive: true }, () => {
        sock.off('error', reject);
        resolve({
          close: () =>
            new Promise<void>((done) => {
              for (const k of [...clients.keys()]) forget(k);
              sock.close(() => done());
            }),
        });
      });
    });
  }
}
