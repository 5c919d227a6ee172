import * as dnsPacket from 'dns-packet';
import type { Answer, Packet } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { DnsCache, MAX_CACHE_TTL_SECONDS, cacheKey, cacheTtl } from '../../../src/control/dns/dns-cache.js';
import { type DnsMessage, Rcode, decodeMessage } from '../../../src/control/dns/dns-message.js';

/** An upstream response as it arrives: encoded by dns-packet, decoded again. */
function response(p: Omit<Packet, 'type'> & { rcode?: number }): DnsMessage {
  const { rcode = 0, flags = 0, ...rest } = p;
  return decodeMessage(dnsPacket.encode({ type: 'response', id: 1, flags: flags | dnsPacket.RECURSION_AVAILABLE | rcode, ...rest }));
}

const Q = { name: 'example.org', type: 'A', class: 'IN' } as const;
const a = (ip: string, ttl: number): Answer => ({ name: 'example.org', type: 'A', class: 'IN', ttl, data: ip });
const soa = (ttl: number, minimum: number): Answer => ({
  name: 'org',
  type: 'SOA',
  class: 'IN',
  ttl,
  data: { mname: 'ns.org', rname: 'hostmaster.org', serial: 1, refresh: 1, retry: 1, expire: 1, minimum },
});

function fakeClock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('cacheTtl', () => {
  it('positive answers live as long as their lowest TTL', () => {
    expect(cacheTtl(response({ questions: [Q], answers: [a('192.0.2.1', 300), a('192.0.2.2', 60)] }))).toBe(60);
  });

  it('negative answers live by the SOA (RFC 2308), and not at all without one', () => {
    expect(cacheTtl(response({ rcode: Rcode.NxDomain, questions: [Q], authorities: [soa(900, 120)] }))).toBe(120);
    expect(cacheTtl(response({ rcode: Rcode.NoError, questions: [Q], authorities: [soa(30, 120)] }))).toBe(30);
    expect(cacheTtl(response({ rcode: Rcode.NxDomain, questions: [Q] }))).toBeNull();
  });

  it('never caches failures, truncated answers or TTL 0, and caps long TTLs', () => {
    expect(cacheTtl(response({ rcode: Rcode.ServFail, questions: [Q] }))).toBeNull();
    expect(cacheTtl(response({ rcode: Rcode.Refused, questions: [Q] }))).toBeNull();
    expect(cacheTtl(response({ flags: dnsPacket.TRUNCATED_RESPONSE, questions: [Q], answers: [a('192.0.2.1', 300)] }))).toBeNull();
    expect(cacheTtl(response({ questions: [Q], answers: [a('192.0.2.1', 0)] }))).toBeNull();
    expect(cacheTtl(response({ questions: [Q], answers: [a('192.0.2.1', 2_000_000)] }))).toBe(MAX_CACHE_TTL_SECONDS);
  });
});

describe('DnsCache', () => {
  it('keys by type, class and the name in any case', () => {
    expect(cacheKey({ name: 'Example.ORG.', type: 'A', class: 'IN' })).toBe(cacheKey({ name: 'example.org', type: 'A' }));
    expect(cacheKey({ name: 'example.org', type: 'AAAA' })).not.toBe(cacheKey({ name: 'example.org', type: 'A' }));
  });

  it('hands out answers with TTLs aged by the time spent in the cache, until they expire', () => {
    const clock = fakeClock();
    const cache = new DnsCache(10, clock.now);
    expect(cache.put(cacheKey(Q), response({ questions: [Q], answers: [a('192.0.2.1', 100), a('192.0.2.2', 60)] }))).toBe(true);
    let hit = cache.get(cacheKey(Q))!;
    expect(hit.rcode).toBe(Rcode.NoError);
    expect(hit.answers.map((x) => [x.type === 'A' ? x.data : '', 'ttl' in x ? x.ttl : -1])).toEqual([
      ['192.0.2.1', 100],
      ['192.0.2.2', 60],
    ]);
    clock.advance(59_500);
    hit = cache.get(cacheKey(Q))!;
    expect(hit.answers.map((x) => ('ttl' in x ? x.ttl : -1))).toEqual([41, 1]);
    clock.advance(500); // 60 s: the lowest TTL is over
    expect(cache.get(cacheKey(Q))).toBeNull();
    expect(cache.size).toBe(0);
  });

  it('keeps NXDOMAIN answers with their SOA', () => {
    const clock = fakeClock();
    const cache = new DnsCache(10, clock.now);
    cache.put('k', response({ rcode: Rcode.NxDomain, questions: [Q], authorities: [soa(900, 5)] }));
    expect(cache.get('k')).toMatchObject({ rcode: Rcode.NxDomain, answers: [], authorities: [{ type: 'SOA', ttl: 900 }] });
    clock.advance(5000);
    expect(cache.get('k')).toBeNull();
  });

  it('does not keep the OPT record of the upstream', () => {
    const cache = new DnsCache(10);
    cache.put('k', response({ questions: [Q], answers: [a('192.0.2.1', 100)], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as Answer] }));
    expect(cache.get('k')!.additionals).toEqual([]);
  });

  it('is bounded: the least recently used entry goes first', () => {
    const cache = new DnsCache(3);
    const r = response({ questions: [Q], answers: [a('192.0.2.1', 100)] });
    for (const k of ['a', 'b', 'c']) cache.put(k, r);
    expect(cache.get('a')).not.toBeNull(); // a is now the most recent: b is the oldest
    cache.put('d', r);
    expect(cache.size).toBe(3);
    expect(cache.get('b')).toBeNull();
    expect(cache.get('a')).not.toBeNull();
    expect(cache.get('c')).not.toBeNull();
    expect(cache.get('d')).not.toBeNull();
    for (let i = 0; i < 1000; i++) cache.put(`k${i}`, r);
    expect(cache.size).toBe(3);
  });

  it('size 0 caches nothing', () => {
    const cache = new DnsCache(0);
    expect(cache.put('k', response({ questions: [Q], answers: [a('192.0.2.1', 100)] }))).toBe(false);
    expect(cache.get('k')).toBeNull();
  });
});
