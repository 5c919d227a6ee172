import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Rcode, rcodeOf } from '../../../src/control/dns/dns-message.js';
import { DnsStats } from '../../../src/control/dns/dns-stats.js';
import { UpstreamForwarder } from '../../../src/control/dns/upstream.js';
import { type FakeUpstream, type UpstreamMode, startFakeUpstream } from './fake-upstream.js';

const opened: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
});

async function upstream(mode: UpstreamMode = 'answer'): Promise<FakeUpstream> {
  const up = await startFakeUpstream(mode);
  up.records.set('example.org', { ips: ['192.0.2.10', '192.0.2.11'], ttl: 300 });
  opened.push(up);
  return up;
}

function forwarder(ups: FakeUpstream[] | number[], timeoutMs = 1000, stats?: DnsStats): UpstreamForwarder {
  const f = new UpstreamForwarder(
    ups.map((u) => ({ address: '127.0.0.1', port: typeof u === 'number' ? u : u.port })),
    { timeoutMs, ...(stats !== undefined ? { stats } : {}) },
  );
  opened.push(f);
  return f;
}

/** A UDP port on 127.0.0.1 nobody listens on (the kernel answers ICMP port unreachable). */
async function closedPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const Q = { name: 'example.org', type: 'A', class: 'IN' } as const;
const ips = (m: { answers?: { type: string; data?: unknown }[] } | null) => (m?.answers ?? []).filter((a) => a.type === 'A').map((a) => a.data);

describe('UpstreamForwarder', () => {
  it('asks the upstream over UDP and returns its answer, timing the exchange', async () => {
    const up = await upstream();
    const stats = new DnsStats();
    const seen: number[] = [];
    stats.upstreamObserver = (s) => seen.push(s);
    const m = await forwarder([up], 1000, stats).resolve({ name: 'Example.ORG', type: 'A', class: 'IN' });
    expect(ips(m)).toEqual(['192.0.2.10', '192.0.2.11']);
    expect(up.log).toEqual(['udp A Example.ORG']);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeGreaterThan(0);
    expect(seen[0]).toBeLessThan(1);
  });

  it('relays NXDOMAIN as an answer', async () => {
    const up = await upstream();
    const m = await forwarder([up]).resolve({ name: 'nope.example', type: 'A', class: 'IN' });
    expect(rcodeOf(m!)).toBe(Rcode.NxDomain);
  });

  it('gives up (null) within the timeout when the upstream never answers', async () => {
    const up = await upstream('silent');
    const started = Date.now();
    expect(await forwarder([up], 300).resolve(Q)).toBeNull();
    const ms = Date.now() - started;
    expect(ms).toBeGreaterThanOrEqual(280);
    expect(ms).toBeLessThan(1000);
    expect(up.log).toEqual(['udp A example.org']);
  });

  it('fails fast when nobody listens on the upstream port', async () => {
    const started = Date.now();
    expect(await forwarder([await closedPort()], 2000).resolve(Q)).toBeNull();
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('asks again over TCP when the UDP answer is truncated', async () => {
    const up = await upstream('truncate');
    const m = await forwarder([up]).resolve(Q);
    expect(ips(m)).toEqual(['192.0.2.10', '192.0.2.11']);
    expect(m!.flag_tc).toBe(false);
    expect(up.log).toEqual(['udp A example.org', 'tcp A example.org']);
  });

  it('ignores answers with the wrong id', async () => {
    const up = await upstream('spoof');
    expect(ips(await forwarder([up]).resolve(Q))).toEqual(['192.0.2.10', '192.0.2.11']);
  });

  it('tries the next upstream after a SERVFAIL or a dead one, within the one deadline', async () => {
    const failing = await upstream('servfail');
    const dead = await upstream('silent');
    const good = await upstream();
    const started = Date.now();
    const m = await forwarder([failing, dead, good], 900).resolve(Q);
    expect(ips(m)).toEqual(['192.0.2.10', '192.0.2.11']);
    expect(Date.now() - started).toBeLessThan(900);
    expect([failing.log, dead.log, good.log]).toEqual([['udp A example.org'], ['udp A example.org'], ['udp A example.org']]);
  });

  it('relays the last SERVFAIL when no upstream does better', async () => {
    const m = await forwarder([await upstream('servfail')]).resolve(Q);
    expect(rcodeOf(m!)).toBe(Rcode.ServFail);
  });

  it('asks once for identical questions in flight', async () => {
    const up = await upstream();
    const f = forwarder([up]);
    const [a, b] = await Promise.all([f.resolve(Q), f.resolve({ ...Q, name: 'EXAMPLE.org' })]);
    expect(ips(a)).toEqual(ips(b));
    expect(up.log).toHaveLength(1);
  });

  it('answers null at once with no upstreams or after close()', async () => {
    expect(await forwarder([]).resolve(Q)).toBeNull();
    const up = await upstream('silent');
    const f = forwarder([up], 5000);
    const pending = f.resolve(Q);
    await new Promise((r) => setTimeout(r, 50));
    f.close();
    expect(await pending).toBeNull();
    expect(await f.resolve(Q)).toBeNull();
  });

  it('forwards to an IPv6 upstream (bound on ::1) over udp6, and over TCP when truncated', async () => {
    const up = await startFakeUpstream('answer', 20, '::1');
    opened.push(up);
    up.records.set('example.org', { ips: ['192.0.2.10'], ttl: 300 });
    const f = new UpstreamForwarder([{ address: '::1', port: up.port }], { timeoutMs: 1000 });
    opened.push(f);
    expect(ips(await f.resolve(Q))).toEqual(['192.0.2.10']);
    expect(up.log).toEqual(['udp A example.org']);
    up.mode = 'truncate';
    expect(ips(await f.resolve({ ...Q, name: 'EXAMPLE.org' }))).toEqual(['192.0.2.10']);
    expect(up.log).toEqual(['udp A example.org', 'udp A EXAMPLE.org', 'tcp A EXAMPLE.org']);
  });

  it('goes from a dead IPv4 upstream to an IPv6 one within the deadline', async () => {
    const dead = await upstream('silent');
    const up6 = await startFakeUpstream('answer', 20, '::1');
    opened.push(up6);
    up6.records.set('example.org', { ips: ['192.0.2.11'], ttl: 300 });
    const f = new UpstreamForwarder(
      [
        { address: '127.0.0.1', port: dead.port },
        { address: '::1', port: up6.port },
      ],
      { timeoutMs: 600 },
    );
    opened.push(f);
    expect(ips(await f.resolve(Q))).toEqual(['192.0.2.11']);
    expect(up6.log).toEqual(['udp A example.org']);
  });
});
