// Forwarding to upstream resolvers, IPv4 or IPv6: one question at a time per upstream, over a fresh
// connected UDP socket of the upstream's family (a random source port and id per exchange, and the
// kernel drops datagrams from anyone else), over TCP when the answer comes back truncated. Upstreams are tried in order within one
// overall deadline; identical questions in flight share one exchange. Never rejects: a failure is
// null, which the resolver turns into SERVFAIL.

import { randomInt } from 'node:crypto';
import { Socket as UdpSocket, createSocket } from 'node:dgram';
import { connect, isIPv6, type Socket as TcpSocket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { cacheKey } from './dns-cache.js';
import {
  type DnsMessage,
  Flag,
  type Packet,
  type Question,
  Rcode,
  decodeMessage,
  ednsRecord,
  encodeMessage,
  encodeStreamMessage,
  rcodeOf,
} from './dns-message.js';
import type { DnsStats } from './dns-stats.js';
import { canonicalName } from './name-table.js';

export interface Upstream {
  /** IPv4, or IPv6 in RFC 5952 text (a link-local one with its zone: "fe80::1%eth0") */
  address: string;
  port: number;
}

export interface ForwarderOptions {
  /** overall time for one question, across every upstream */
  timeoutMs: number;
  /** exchanges in flight at most (each holds a socket); beyond, questions fail at once */
  maxInFlight?: number;
  stats?: DnsStats;
}

/** DNS over TCP: each message behind its 2-byte length (RFC 1035 4.2.2). */
const TCP_LENGTH_BYTES = 2;

function sameQuestion(m: DnsMessage, q: Question): boolean {
  const a = m.questions?.[0];
  return (
    m.questions?.length === 1 &&
    a !== undefined &&
    a.type === q.type &&
    (a.class ?? 'IN') === (q.class ?? 'IN') &&
    canonicalName(a.name) === canonicalName(q.name)
  );
}

export class UpstreamForwarder {
  private readonly pending = new Map<string, Promise<DnsMessage | null>>();
  private readonly sockets = new Set<UdpSocket | TcpSocket>();
  private readonly maxInFlight: number;
  private closed = false;

  constructor(
    readonly upstreams: readonly Upstream[],
    private readonly options: ForwarderOptions,
  ) {
    this.maxInFlight = options.maxInFlight ?? 512;
  }

  /** The first usable upstream answer to `q`, or null when none came in time. */
  resolve(q: Question): Promise<DnsMessage | null> {
    if (this.upstreams.length === 0 || this.closed) return Promise.resolve(null);
    const key = cacheKey(q);
    const known = this.pending.get(key);
    if (known !== undefined) return known;
    if (this.pending.size >= this.maxInFlight) return Promise.resolve(null);
    const p = this.exchange({ name: q.name, type: q.type, class: q.class ?? 'IN' }).finally(() => this.pending.delete(key));
    this.pending.set(key, p);
    return p;
  }

  /** Stops: exchanges in flight end now with null. */
  close(): void {
    this.closed = true;
    for (const s of this.sockets) {
      if (s instanceof UdpSocket) s.close();
      else s.destroy();
    }
    this.sockets.clear();
  }

  private async exchange(q: Question): Promise<DnsMessage | null> {
    const deadline = Date.now() + this.options.timeoutMs;
    const n = this.upstreams.length;
    let fallback: DnsMessage | null = null;
    for (let i = 0; i < n && !this.closed; i++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const up = this.upstreams[i]!;
      // an equal share of what is left, so a dead first upstream leaves time for the others
      const budget = i === n - 1 ? remaining : Math.ceil(remaining / (n - i));
      const started = performance.now();
      let m = await this.overUdp(up, q, budget);
      if (m !== null && m.flag_tc) m = await this.overTcp(up, q, Math.max(1, deadline - Date.now()));
      if (m === null) continue;
      this.options.stats?.upstreamDuration((performance.now() - started) / 1000);
      const rcode = rcodeOf(m);
      if ((rcode === Rcode.ServFail || rcode === Rcode.Refused) && i < n - 1) {
        fallback = m; // another upstream may know better
        continue;
      }
      return m;
    }
    return fallback;
  }

  private query(id: number, q: Question): Packet {
    return { type: 'query', id, flags: Flag.RD, questions: [q], additionals: [ednsRecord()] };
  }

  private overUdp(up: Upstream, q: Question, timeoutMs: number): Promise<DnsMessage | null> {
    return new Promise((resolve) => {
      const id = randomInt(0x10000);
      // an IPv6 upstream (a link-local one with its zone) over udp6, an IPv4 one over udp4
      const sock = createSocket(isIPv6(up.address) ? 'udp6' : 'udp4');
      this.sockets.add(sock);
      let finished = false;
      const finish = (m: DnsMessage | null): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        this.sockets.delete(sock);
        try {
          sock.close();
        } catch {
          // already closed by close()
        }
        resolve(m);
      };
      const timer = setTimeout(() => finish(null), timeoutMs);
      sock.on('close', () => finish(null));
      // ECONNREFUSED (ICMP port unreachable) arrives here on a connected socket: fail fast
      sock.on('error', () => finish(null));
      sock.on('message', (msg) => {
        let m: DnsMessage;
        try {
          m = decodeMessage(msg);
        } catch {
          return; // garbage: keep waiting for the real answer
        }
        if (m.type === 'response' && m.id === id && sameQuestion(m, q)) finish(m);
      });
      sock.connect(up.port, up.address, () => {
        if (finished) return;
        sock.send(encodeMessage(this.query(id, q)), (err) => {
          if (err) finish(null);
        });
      });
    });
  }

  private overTcp(up: Upstream, q: Question, timeoutMs: number): Promise<DnsMessage | null> {
    return new Promise((resolve) => {
      const id = randomInt(0x10000);
      const sock = connect({ host: up.address, port: up.port });
      this.sockets.add(sock);
      let finished = false;
      let buffered: Buffer = Buffer.alloc(0);
      const finish = (m: DnsMessage | null): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        this.sockets.delete(sock);
        sock.destroy();
        resolve(m);
      };
      const timer = setTimeout(() => finish(null), timeoutMs);
      sock.on('error', () => finish(null));
      sock.on('close', () => finish(null));
      sock.on('connect', () => sock.write(encodeStreamMessage(this.query(id, q))));
      sock.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (buffered.length < TCP_LENGTH_BYTES) return;
        const len = buffered.readUInt16BE(0);
        if (buffered.length < TCP_LENGTH_BYTES + len) return;
        try {
          const m = decodeMessage(buffered.subarray(TCP_LENGTH_BYTES, TCP_LENGTH_BYTES + len));
          finish(m.type === 'response' && m.id === id && sameQuestion(m, q) ? m : null);
        } catch {
          finish(null);
        }
      });
    });
  }
}
