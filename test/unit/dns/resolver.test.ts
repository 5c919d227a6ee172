import * as dnsPacket from 'dns-packet';
import type { Answer, Packet } from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { DnsCache } from '../../../src/control/dns/dns-cache.js';
import { type DnsMessage, decodeMessage } from '../../../src/control/dns/dns-message.js';
import { DnsStats } from '../../../src/control/dns/dns-stats.js';
import { NameTable } from '../../../src/control/dns/name-table.js';
import { DnsResolver, LOCAL_TTL_SECONDS } from '../../../src/control/dns/resolver.js';
import { UpstreamForwarder } from '../../../src/control/dns/upstream.js';
import { type FakeUpstream, type UpstreamMode, startFakeUpstream } from './fake-upstream.js';

const WEB = '10.1.0.2';
const CLIENT = '10.1.0.4';
const OTHER = '10.2.0.2'; // on network "back"
const SEALED = '10.3.0.2'; // on an --internal network

const opened: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
});

function names(): NameTable {
  const t = new NameTable();
  t.setNetwork({ id: 'front', name: 'front', subnet: '10.1.0.0/24', internal: false });
  t.setNetwork({ id: 'back', name: 'back', subnet: '10.2.0.0/24', internal: false });
  t.setNetwork({ id: 'sealed', name: 'sealed', subnet: '10.3.0.0/24', internal: true });
  t.setEndpoint('front', { id: 'e1', name: 'web', ip: WEB, aliases: ['www'], sandbox: '1:1' });
  t.setEndpoint('front', { id: 'e2', name: 'web2', ip: '10.1.0.3', aliases: ['www'], sandbox: '1:2' });
  t.setEndpoint('front', { id: 'e3', name: 'client', ip: CLIENT, aliases: [], sandbox: '1:3' });
  t.setEndpoint('back', { id: 'e4', name: 'other', ip: OTHER, aliases: [], sandbox: '1:4' });
  t.setEndpoint('sealed', { id: 'e5', name: 'vault', ip: SEALED, aliases: [], sandbox: '1:5' });
  return t;
}

interface World {
  resolver: DnsResolver;
  stats: DnsStats;
  cache: DnsCache;
  table: NameTable;
  up: FakeUpstream | null;
  clock: { t: number };
}

async function world(opts: { upstream?: UpstreamMode | null; timeoutMs?: number } = {}): Promise<World> {
  const clock = { t: 5_000_000 };
  const stats = new DnsStats();
  const cache = new DnsCache(100, () => clock.t);
  const table = names();
  let up: FakeUpstream | null = null;
  let forwarder: UpstreamForwarder | null = null;
  if (opts.upstream !== null) {
    up = await startFakeUpstream(opts.upstream ?? 'answer');
    up.records.set('example.org', { ips: ['192.0.2.10'], ttl: 300 });
    opened.push(up);
    forwarder = new UpstreamForwarder([{ address: '127.0.0.1', port: up.port }], { timeoutMs: opts.timeoutMs ?? 1000, stats });
    opened.push(forwarder);
  }
  return { resolver: new DnsResolver({ names: table, forwarder, cache, stats }), stats, cache, table, up, clock };
}

let nextId = 100;
function query(name: string, type: string = 'A', extra: Partial<Packet> = {}): Buffer {
  return dnsPacket.encode({ type: 'query', id: nextId++, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as 'A', class: 'IN' }], ...extra });
}

async function ask(w: World, from: string, msg: Buffer, transport: 'udp' | 'tcp' = 'udp'): Promise<DnsMessage> {
  const reply = await w.resolver.handle(msg, from, transport);
  expect(reply).not.toBeNull();
  const m = decodeMessage(reply!);
  expect(m.type).toBe('response');
  return m;
}

const data = (m: DnsMessage, type = 'A') => (m.answers ?? []).filter((a) => a.type === type).map((a) => (a as { data: unknown }).data);

describe('DnsResolver: names of the client\'s networks', () => {
  it('answers a container name with its address: authoritative, TTL 600, id and question echoed', async () => {
    const w = await world();
    const msg = query('web');
    const m = await ask(w, CLIENT, msg);
    expect(m.id).toBe(dnsPacket.decode(msg).id);
    expect(m.rcode).toBe('NOERROR');
    expect(m.flag_aa).toBe(true);
    expect(m.flag_rd).toBe(true);
    expect(m.flag_ra).toBe(true);
    expect(m.questions).toEqual([{ name: 'web', type: 'A', class: 'IN' }]);
    expect(m.answers).toEqual([{ name: 'web', type: 'A', class: 'IN', ttl: LOCAL_TTL_SECONDS, flush: false, data: WEB }]);
    expect(w.stats.queriesOf('A', 'local')).toBe(1);
  });

  it('answers aliases with every address, rotating the order per query', async () => {
    const w = await world();
    const first = data(await ask(w, CLIENT, query('www')));
    const second = data(await ask(w, CLIENT, query('WWW')));
    expect(first).toHaveLength(2);
    expect([...first].sort()).toEqual([WEB, '10.1.0.3']);
    expect(second).toEqual([...first].reverse());
  });

  it('answers AAAA and other types of known names empty (NOERROR, the name exists)', async () => {
    const w = await world();
    for (const type of ['AAAA', 'MX', 'TXT']) {
      const m = await ask(w, CLIENT, query('web', type));
      expect(m.rcode, type).toBe('NOERROR');
      expect(m.answers, type).toEqual([]);
      expect(m.flag_aa, type).toBe(true);
    }
    expect(w.stats.queriesOf('AAAA', 'local')).toBe(1);
    expect(w.stats.queriesOf('other', 'local')).toBe(2);
  });

  it('answers PTR for addresses of the network, NXDOMAIN for free addresses of it', async () => {
    const w = await world();
    const m = await ask(w, CLIENT, query('2.0.1.10.in-addr.arpa', 'PTR'));
    expect(m.rcode).toBe('NOERROR');
    expect(m.answers).toEqual([{ name: '2.0.1.10.in-addr.arpa', type: 'PTR', class: 'IN', ttl: LOCAL_TTL_SECONDS, flush: false, data: 'web' }]);
    const free = await ask(w, CLIENT, query('99.0.1.10.in-addr.arpa', 'PTR'));
    expect(free.rcode).toBe('NXDOMAIN');
    expect(w.up!.log).toEqual([]);
  });

  it('keeps networks apart: a name on another network is NXDOMAIN, never forwarded', async () => {
    const w = await world();
    const m = await ask(w, OTHER, query('web'));
    expect(m.rcode).toBe('NXDOMAIN');
    expect(m.answers).toEqual([]);
    expect((await ask(w, OTHER, query('2.0.1.10.in-addr.arpa', 'PTR'))).rcode).toBe('NXDOMAIN'); // forwarded, the upstream knows nothing
    expect(data(await ask(w, OTHER, query('other')))).toEqual([OTHER]);
    expect(w.up!.log).toEqual(['udp PTR 2.0.1.10.in-addr.arpa']);
    expect(w.stats.queriesOf('A', 'nxdomain')).toBe(1);
  });

  it("answers a legacy link's alias to the linking container only: A and AAAA, NXDOMAIN for the others, never forwarded", async () => {
    const w = await world();
    w.table.setNetwork({ id: 'dual', name: 'dual', subnet: '10.5.0.0/24', subnet6: 'fd00:5::/64', internal: false });
    w.table.setEndpoint('dual', { id: 'db', name: 'db', ip: '10.5.0.2', ip6: 'fd00:5::2', aliases: [], sandbox: '1:10' });
    w.table.setEndpoint('dual', { id: 'app', name: 'app', ip: '10.5.0.3', ip6: 'fd00:5::3', aliases: [], links: [{ name: 'db', alias: 'dbalias' }], sandbox: '1:11' });
    w.table.setEndpoint('dual', { id: 'bystander', name: 'bystander', ip: '10.5.0.4', aliases: [], sandbox: '1:12' });
    const a = await ask(w, '10.5.0.3', query('dbalias'));
    expect(a.rcode).toBe('NOERROR');
    expect(a.flag_aa).toBe(true);
    expect(data(a)).toEqual(['10.5.0.2']);
    expect(data(await ask(w, '10.5.0.3', query('dbalias', 'AAAA')), 'AAAA')).toEqual(['fd00:5::2']);
    expect(data(await ask(w, 'fd00:5::3', query('dbalias', 'AAAA')), 'AAAA')).toEqual(['fd00:5::2']);
    for (const type of ['A', 'AAAA']) {
      const m = await ask(w, '10.5.0.4', query('dbalias', type));
      expect(m.rcode, type).toBe('NXDOMAIN');
      expect(m.answers, type).toEqual([]);
    }
    // the linked container gone, the link is broken: NXDOMAIN for the linking container too
    w.table.deleteEndpoint('dual', 'db');
    expect((await ask(w, '10.5.0.3', query('dbalias'))).rcode).toBe('NXDOMAIN');
    expect(w.up!.log).toEqual([]);
  });

  it('forgets a disconnected endpoint', async () => {
    const w = await world();
    w.table.deleteEndpoint('front', 'e1');
    expect((await ask(w, CLIENT, query('web'))).rcode).toBe('NXDOMAIN');
    expect(data(await ask(w, CLIENT, query('www')))).toEqual(['10.1.0.3']);
  });

  it('answers an --internal network\'s names but forwards nothing for it', async () => {
    const w = await world();
    expect(data(await ask(w, SEALED, query('vault')))).toEqual([SEALED]);
    const m = await ask(w, SEALED, query('example.org'));
    expect(m.rcode).toBe('REFUSED');
    expect(m.flag_ra).toBe(false);
    expect(w.up!.log).toEqual([]);
  });

  it('refuses clients outside every network', async () => {
    const w = await world();
    const m = await ask(w, '192.0.2.77', query('web'));
    expect(m.rcode).toBe('REFUSED');
    expect(w.stats.queriesOf('A', 'refused')).toBe(1);
  });
});

describe('DnsResolver: forwarding', () => {
  it('forwards other names, then answers them from the cache with aged TTLs', async () => {
    const w = await world();
    const m1 = await ask(w, CLIENT, query('example.org'));
    expect(m1.rcode).toBe('NOERROR');
    expect(m1.flag_aa).toBe(false);
    expect(m1.answers).toMatchObject([{ name: 'example.org', type: 'A', ttl: 300, data: '192.0.2.10' }]);
    w.clock.t += 100_000;
    const m2 = await ask(w, WEB, query('Example.Org'));
    expect(m2.questions![0]!.name).toBe('Example.Org');
    expect(m2.answers).toMatchObject([{ type: 'A', ttl: 200, data: '192.0.2.10' }]);
    expect(w.up!.log).toEqual(['udp A example.org']);
    expect(w.stats.cacheHits).toBe(1);
    expect(w.stats.queriesOf('A', 'forwarded')).toBe(2);
  });

  it('relays and caches NXDOMAIN', async () => {
    const w = await world();
    expect((await ask(w, CLIENT, query('nope.example'))).rcode).toBe('NXDOMAIN');
    expect((await ask(w, CLIENT, query('nope.example'))).rcode).toBe('NXDOMAIN');
    expect(w.up!.log).toHaveLength(1);
    expect(w.stats.queriesOf('A', 'nxdomain')).toBe(2);
  });

  it('answers SERVFAIL within the timeout when the upstream is silent', async () => {
    const w = await world({ upstream: 'silent', timeoutMs: 300 });
    const started = Date.now();
    const m = await ask(w, CLIENT, query('example.org'));
    expect(m.rcode).toBe('SERVFAIL');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(w.stats.queriesOf('A', 'servfail')).toBe(1);
    // and the failure is not cached
    w.up!.mode = 'answer';
    expect(data(await ask(w, CLIENT, query('example.org')))).toEqual(['192.0.2.10']);
  });

  it('without upstreams: REFUSED, and RA clear', async () => {
    const w = await world({ upstream: null });
    const m = await ask(w, CLIENT, query('example.org'));
    expect(m.rcode).toBe('REFUSED');
    expect(m.flag_ra).toBe(false);
    expect((await ask(w, CLIENT, query('web'))).flag_ra).toBe(false);
    expect((await ask(w, CLIENT, query('nothing'))).rcode).toBe('NXDOMAIN'); // single label: ours to deny
  });
});

describe('DnsResolver: message handling', () => {
  it('answers EDNS queries with an OPT record, others without', async () => {
    const w = await world();
    const withOpt = await ask(w, CLIENT, query('web', 'A', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as Answer] }));
    expect(withOpt.additionals).toMatchObject([{ type: 'OPT', udpPayloadSize: 1232 }]);
    expect((await ask(w, CLIENT, query('web'))).additionals).toEqual([]);
  });

  it('truncates UDP answers larger than the client takes; TCP gets them whole', async () => {
    const w = await world();
    for (let i = 10; i < 50; i++) w.table.setEndpoint('front', { id: `x${i}`, name: `x${i}`, ip: `10.1.0.${i}`, aliases: ['many'] });
    const udp = await ask(w, CLIENT, query('many'), 'udp');
    expect(udp.flag_tc).toBe(true);
    expect(udp.answers).toEqual([]);
    const big = await ask(w, CLIENT, query('many', 'A', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as Answer] }), 'udp');
    expect(big.flag_tc).toBe(false);
    expect(big.answers).toHaveLength(40);
    const tcp = await ask(w, CLIENT, query('many'), 'tcp');
    expect(tcp.flag_tc).toBe(false);
    expect(tcp.answers).toHaveLength(40);
  });

  it('answers FORMERR to garbage with a readable header, keeping the id', async () => {
    const w = await world();
    const garbage = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]), Buffer.alloc(52, 0xff)]);
    const m = await ask(w, CLIENT, garbage);
    expect(m.id).toBe(0x1234);
    expect(m.rcode).toBe('FORMERR');
    expect(m.flag_rd).toBe(true);
    expect(m.questions).toEqual([]);
    expect(w.stats.queriesOf('other', 'formerr')).toBe(1);
  });

  it('answers FORMERR to a query with two questions', async () => {
    const w = await world();
    const two = dnsPacket.encode({ type: 'query', id: 9, questions: [{ name: 'web', type: 'A' }, { name: 'www', type: 'A' }] });
    expect((await ask(w, CLIENT, two)).rcode).toBe('FORMERR');
    const none = dnsPacket.encode({ type: 'query', id: 9, questions: [] });
    expect((await ask(w, CLIENT, none)).rcode).toBe('FORMERR');
  });

  it('answers FORMERR, without echoing it, to a question whose name would not encode back', async () => {
    const w = await world();
    // a 63-byte label of invalid UTF-8: decodes to 63 U+FFFD characters, 189 bytes
    const wire = Buffer.concat([
      Buffer.from([0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63]),
      Buffer.alloc(63, 0xff),
      Buffer.from([0, 0, 1, 0, 1]),
    ]);
    const m = await ask(w, CLIENT, wire);
    expect(m).toMatchObject({ id: 7, rcode: 'FORMERR', questions: [] });
  });

  it('answers NOTIMP to opcodes other than QUERY', async () => {
    const w = await world();
    const notify = dnsPacket.encode({ type: 'query', id: 9, flags: 4 << 11, questions: [{ name: 'web', type: 'SOA' }] });
    const m = await ask(w, CLIENT, notify);
    expect(m.rcode).toBe('NOTIMP');
    expect(m.opcode).toBe('NOTIFY');
  });

  it('drops and counts what has no header, and responses', async () => {
    const w = await world();
    expect(await w.resolver.handle(Buffer.from([1, 2, 3]), CLIENT, 'udp')).toBeNull();
    expect(await w.resolver.handle(Buffer.alloc(0), CLIENT, 'udp')).toBeNull();
    const response = dnsPacket.encode({ type: 'response', id: 1, questions: [{ name: 'web', type: 'A' }] });
    expect(await w.resolver.handle(response, CLIENT, 'udp')).toBeNull();
    expect(await w.resolver.handle(Buffer.alloc(64, 0xff), CLIENT, 'udp')).toBeNull(); // QR set: a "response"
    expect(w.stats.dropsOf('malformed')).toBe(2);
    expect(w.stats.dropsOf('not_query')).toBe(2);
  });

  it('never throws, whatever the bytes', async () => {
    const w = await world({ upstream: null });
    let seed = 1;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 2000; i++) {
      const len = rand() % 80;
      const buf = Buffer.alloc(len);
      for (let j = 0; j < len; j++) buf[j] = rand();
      if (len > 2) buf[2]! &= 0x7f; // mostly queries
      const reply = await w.resolver.handle(buf, CLIENT, i % 2 === 0 ? 'udp' : 'tcp');
      if (reply !== null) expect(() => decodeMessage(reply)).not.toThrow();
    }
  });
});

describe('DnsResolver: IPv6 (AAAA, ip6.arpa)', () => {
  /** "front" and "back" made dual stack: web and client with IPv6 on front, other on back; web2 has none */
  async function world6(): Promise<World> {
    const w = await world();
    w.table.setNetwork({ id: 'front', name: 'front', subnet: '10.1.0.0/24', subnet6: 'fd00:1::/64', internal: false });
    w.table.setNetwork({ id: 'back', name: 'back', subnet: '10.2.0.0/24', subnet6: 'fd00:2::/64', internal: false });
    w.table.setEndpoint('front', { id: 'e1', name: 'web', ip: WEB, ip6: 'fd00:1:0:0::2', aliases: ['www'], sandbox: '1:1' });
    w.table.setEndpoint('front', { id: 'e3', name: 'client', ip: CLIENT, ip6: 'fd00:1::4', aliases: [], sandbox: '1:3' });
    w.table.setEndpoint('back', { id: 'e4', name: 'other', ip: OTHER, ip6: 'fd00:2::2', aliases: [], sandbox: '1:4' });
    return w;
  }
  const WEB_PTR6 = '2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa';

  it('answers AAAA with the endpoint\'s IPv6 address (RFC 5952 text), asked over IPv4 or IPv6', async () => {
    const w = await world6();
    for (const from of [CLIENT, 'fd00:1::4']) {
      const m = await ask(w, from, query('web', 'AAAA'));
      expect(m.rcode, from).toBe('NOERROR');
      expect(m.answers, from).toEqual([{ name: 'web', type: 'AAAA', class: 'IN', ttl: LOCAL_TTL_SECONDS, flush: false, data: 'fd00:1::2' }]);
    }
    // the alias too; A is unchanged
    expect(data(await ask(w, CLIENT, query('www', 'AAAA')), 'AAAA')).toEqual(['fd00:1::2']);
    expect(data(await ask(w, 'fd00:1::4', query('web')))).toEqual([WEB]);
    expect(w.stats.queriesOf('AAAA', 'local')).toBe(3);
  });

  it('a name without an IPv6 address: AAAA is empty, NOERROR (the name exists)', async () => {
    const w = await world6();
    const m = await ask(w, CLIENT, query('web2', 'AAAA'));
    expect(m.rcode).toBe('NOERROR');
    expect(m.answers).toEqual([]);
  });

  it('answers ip6.arpa PTR for the IPv6 addresses of the network, NXDOMAIN for free ones; malformed reverse names are not ours', async () => {
    const w = await world6();
    const m = await ask(w, CLIENT, query(WEB_PTR6, 'PTR'));
    expect(m.rcode).toBe('NOERROR');
    expect(m.answers).toEqual([{ name: WEB_PTR6, type: 'PTR', class: 'IN', ttl: LOCAL_TTL_SECONDS, flush: false, data: 'web' }]);
    const free = await ask(w, CLIENT, query(WEB_PTR6.replace(/^2/, '9'), 'PTR'));
    expect(free.rcode).toBe('NXDOMAIN');
    expect(w.up!.log).toEqual([]);
    // 31 nibbles: not the reverse name of an address, forwarded like any other name
    const short = WEB_PTR6.slice(2);
    await ask(w, CLIENT, query(short, 'PTR'));
    expect(w.up!.log).toEqual([`udp PTR ${short}`]);
  });

  it('answers AAAA on the wire: header, question echoed, one answer of 16 address bytes', async () => {
    const w = await world6();
    // id 0x1234, RD, one question: web AAAA IN
    const q = Buffer.from('123401000001000000000000' + '03776562' + '00' + '001c0001', 'hex');
    const reply = await w.resolver.handle(q, CLIENT, 'udp');
    expect(reply!.toString('hex')).toBe(
      '1234' + '8580' + '0001' + '0001' + '0000' + '0000' + // response, AA, RD, RA, NOERROR; 1 question, 1 answer
        '0377656200' + '001c0001' + // the question
        '0377656200' + '001c0001' + (LOCAL_TTL_SECONDS).toString(16).padStart(8, '0') + '0010' + 'fd000001000000000000000000000002',
    );
  });

  it('answers AAAA of an alias shared by two endpoints with both IPv6 addresses, rotated per query', async () => {
    const w = await world6();
    w.table.setEndpoint('front', { id: 'e2', name: 'web2', ip: '10.1.0.3', ip6: 'fd00:1::3', aliases: ['www'], sandbox: '1:2' });
    const first = data(await ask(w, CLIENT, query('www', 'AAAA')), 'AAAA');
    const second = data(await ask(w, CLIENT, query('www', 'AAAA')), 'AAAA');
    expect([...first].sort()).toEqual(['fd00:1::2', 'fd00:1::3']);
    expect(second).toEqual([...first].reverse());
  });

  it('a malformed ip6.arpa name is forwarded, as a malformed in-addr.arpa name is; an upper-case one is ours', async () => {
    const w = await world6();
    const upper = await ask(w, CLIENT, query(WEB_PTR6.toUpperCase(), 'PTR'));
    expect(data(upper, 'PTR')).toEqual(['web']);
    const badNibble = WEB_PTR6.replace(/^2/, 'g');
    const badV4 = '0.1.10.in-addr.arpa';
    await ask(w, CLIENT, query(badNibble, 'PTR'));
    await ask(w, CLIENT, query(badV4, 'PTR'));
    expect(w.up!.log).toEqual([`udp PTR ${badNibble}`, `udp PTR ${badV4}`]);
  });

  it('keeps networks apart for IPv6 too: another network\'s AAAA is NXDOMAIN, its reverse name forwarded', async () => {
    const w = await world6();
    expect((await ask(w, 'fd00:2::2', query('web', 'AAAA'))).rcode).toBe('NXDOMAIN');
    expect(data(await ask(w, 'fd00:2::2', query('other', 'AAAA')), 'AAAA')).toEqual(['fd00:2::2']);
    await ask(w, 'fd00:2::2', query(WEB_PTR6, 'PTR'));
    expect(w.up!.log).toEqual([`udp PTR ${WEB_PTR6}`]);
  });
});
