/**
 * A DNS server for the tests to forward to: UDP (and TCP on the same port) on 127.0.0.1, answering
 * A questions from a table (on `address`, 127.0.0.1 unless given: ::1 for IPv6), NXDOMAIN with an SOA for the rest, and counting what it was asked.
 * `mode` makes it misbehave: silent (never answers), servfail, truncate (TC over UDP, the full
 * answer over TCP), spoof (answers with a wrong id first).
 */
import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { type Server, createServer } from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { Answer, Question } from 'dns-packet';

export type UpstreamMode = 'answer' | 'silent' | 'servfail' | 'truncate' | 'spoof';

export interface FakeUpstream {
  port: number;
  /** questions received, "udp A example.org" */
  log: string[];
  mode: UpstreamMode;
  /** name (lower case) → addresses and TTL */
  records: Map<string, { ips: string[]; ttl: number }>;
  close(): Promise<void>;
}

function answerTo(up: FakeUpstream, id: number, q: Question, transport: 'udp' | 'tcp'): Buffer {
  const rec = up.records.get(q.name.toLowerCase());
  const base = { type: 'response' as const, id, questions: [q] };
  const ra = dnsPacket.RECURSION_AVAILABLE | dnsPacket.RECURSION_DESIRED;
  if (up.mode === 'servfail') return dnsPacket.encode({ ...base, flags: ra | 2 });
  if (rec === undefined) {
    const soa: Answer = {
      name: 'example',
      type: 'SOA',
      ttl: 300,
      data: { mname: 'ns.example', rname: 'hostmaster.example', serial: 1, refresh: 60, retry: 60, expire: 60, minimum: 60 },
    };
    return dnsPacket.encode({ ...base, flags: ra | 3, authorities: [soa] });
  }
  const answers: Answer[] = q.type === 'A' ? rec.ips.map((ip) => ({ name: q.name, type: 'A', ttl: rec.ttl, data: ip })) : [];
  if (up.mode === 'truncate' && transport === 'udp') return dnsPacket.encode({ ...base, flags: ra | dnsPacket.TRUNCATED_RESPONSE });
  return dnsPacket.encode({ ...base, flags: ra, answers });
}

export async function startFakeUpstream(mode: UpstreamMode = 'answer', attempts = 20, address = '127.0.0.1'): Promise<FakeUpstream> {
  const udp: UdpSocket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((r) => udp.bind(0, address, () => r()));
  const port = udp.address().port;
  // TCP on the same port: another process may hold it for TCP (then try another UDP port)
  const tcpFree = await new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, address, () => probe.close(() => resolve(true)));
  });
  if (!tcpFree && attempts > 1) {
    await new Promise<void>((r) => udp.close(() => r()));
    return startFakeUpstream(mode, attempts - 1, address);
  }
  const tcp: Server = createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('error', () => undefined);
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const m = dnsPacket.streamDecode(buf)!;
      const q = m.questions![0]!;
      up.log.push(`tcp ${q.type} ${q.name}`);
      const reply = answerTo(up, m.id!, q, 'tcp');
      const len = Buffer.alloc(2);
      len.writeUInt16BE(reply.length);
      s.end(Buffer.concat([len, reply]));
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, address, () => resolve());
  });
  const up: FakeUpstream = {
    port,
    log: [],
    mode,
    records: new Map(),
    close: async () => {
      await new Promise<void>((r) => udp.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
  udp.on('message', (msg, rinfo) => {
    const m = dnsPacket.decode(msg);
    const q = m.questions![0]!;
    up.log.push(`udp ${q.type} ${q.name}`);
    if (up.mode === 'silent') return;
    if (up.mode === 'spoof') udp.send(answerTo(up, (m.id! + 1) & 0xffff, q, 'udp'), rinfo.port, rinfo.address);
    udp.send(answerTo(up, m.id!, q, 'udp'), rinfo.port, rinfo.address);
  });
  return up;
}
