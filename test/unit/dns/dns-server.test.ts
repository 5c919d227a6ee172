import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedDns } from '../../../src/control/dns/embedded-dns.js';
import { NameTable } from '../../../src/control/dns/name-table.js';

const log = pino({ level: 'silent' });
const opened: EmbeddedDns[] = [];
afterEach(async () => {
  for (const d of opened.splice(0)) await d.close();
});

/** An embedded DNS on 127.0.0.1 (a kernel-chosen port) whose "network" is 127.0.0.0/8. */
async function server(): Promise<{ dns: EmbeddedDns; port: number }> {
  const names = new NameTable();
  names.setNetwork({ id: 'lo', name: 'lo', subnet: '127.0.0.0/8', internal: false });
  names.setEndpoint('lo', { id: 'e1', name: 'web', ip: '127.0.0.2', aliases: [] });
  const dns = new EmbeddedDns({ address: '127.0.0.1', port: 0, upstreams: [], timeoutMs: 500, cacheSize: 10, names, log });
  await dns.start();
  opened.push(dns);
  return { dns, port: dns.port };
}

function udpAsk(port: number, msg: Buffer, timeoutMs = 1000, to = '127.0.0.1'): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = createSocket(to.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(null);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.send(msg, port, to);
  });
}

/** Sends `chunks` on one TCP connection and collects `count` length-prefixed answers. */
function tcpAsk(port: number, chunks: Buffer[], count: number, to = '127.0.0.1'): Promise<dnsPacket.Packet[]> {
  return new Promise((resolve, reject) => {
    const s = connect(port, to);
    let buf = Buffer.alloc(0);
    const out: dnsPacket.Packet[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`only ${out.length} of ${count} answers`));
    }, 2000);
    s.on('connect', async () => {
      for (const c of chunks) {
        s.write(c);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(dnsPacket.streamDecode(buf)!);
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length === count) {
        clearTimeout(timer);
        s.destroy();
        resolve(out);
      }
    });
    s.on('error', reject);
  });
}

const q = (id: number, name: string) => ({ type: 'query' as const, id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A' as const }] });

describe('DnsServer', () => {
  it('answers over UDP from the client address\'s network', async () => {
    const { port } = await server();
    const reply = await udpAsk(port, dnsPacket.encode(q(1, 'web')));
    expect(dnsPacket.decode(reply!).answers).toMatchObject([{ type: 'A', data: '127.0.0.2' }]);
  });

  it('answers over TCP: pipelined queries, split across segments', async () => {
    const { port } = await server();
    const both = Buffer.concat([dnsPacket.streamEncode(q(1, 'web')), dnsPacket.streamEncode(q(2, 'nothing'))]);
    const answers = await tcpAsk(port, [both.subarray(0, 5), both.subarray(5, 30), both.subarray(30)], 2);
    const byId = new Map(answers.map((a) => [a.id, a]));
    expect(byId.get(1)!.answers).toMatchObject([{ type: 'A', data: '127.0.0.2' }]);
    expect((byId.get(2) as unknown as { rcode: string }).rcode).toBe('NXDOMAIN');
  });

  it('keeps answering after garbage', async () => {
    const { dns, port } = await server();
    expect(await udpAsk(port, Buffer.alloc(3, 7), 200)).toBeNull(); // no header: dropped
    const formerr = await udpAsk(port, Buffer.concat([Buffer.from([0, 42, 1, 0]), Buffer.alloc(60, 0xee)]));
    expect(dnsPacket.decode(formerr!)).toMatchObject({ id: 42, rcode: 'FORMERR' });
    const reply = await udpAsk(port, dnsPacket.encode(q(3, 'web')));
    expect(dnsPacket.decode(reply!).answers).toHaveLength(1);
    expect(dns.stats.dropsOf('malformed')).toBe(1);
  });

  it('serves on an IPv6 address (udp6 and TCP), scoped by the IPv6 client address', async () => {
    const names = new NameTable();
    names.setNetwork({ id: 'lo', name: 'lo', subnet: '127.0.0.0/8', subnet6: '::/120', internal: false });
    names.setEndpoint('lo', { id: 'e1', name: 'web', ip: '127.0.0.2', ip6: '::2', aliases: [] });
    const dns = new EmbeddedDns({ address: '::1', port: 0, upstreams: [], timeoutMs: 500, cacheSize: 10, names, log });
    await dns.start();
    opened.push(dns);
    const aaaa = { ...q(7, 'web'), questions: [{ name: 'web', type: 'AAAA' as const }] };
    const reply = await udpAsk(dns.port, dnsPacket.encode(aaaa), 1000, '::1');
    expect(dnsPacket.decode(reply!).answers).toMatchObject([{ type: 'AAAA', data: '::2' }]);
    const [overTcp] = await tcpAsk(dns.port, [dnsPacket.streamEncode(q(8, 'web'))], 1, '::1');
    expect(overTcp!.answers).toMatchObject([{ type: 'A', data: '127.0.0.2' }]);
    // the IPv6 socket is IPv6 only: 127.0.0.1 on that port is not it
    expect(await udpAsk(dns.port, dnsPacket.encode(q(9, 'web')), 200)).toBeNull();
    const second = new EmbeddedDns({ address: '::1', port: dns.port, upstreams: [], timeoutMs: 500, cacheSize: 10, names, log });
    await expect(second.start()).rejects.toThrow(`cannot serve DNS on udp [::1]:${dns.port}`);
  });

  it('says which address it cannot bind', async () => {
    const { port } = await server();
    const names = new NameTable();
    const second = new EmbeddedDns({ address: '127.0.0.1', port, upstreams: [], timeoutMs: 500, cacheSize: 10, names, log });
    await expect(second.start()).rejects.toThrow(`cannot serve DNS on udp 127.0.0.1:${port}`);
  });
});
