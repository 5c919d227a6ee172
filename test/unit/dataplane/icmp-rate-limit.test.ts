// The ICMP error token bucket (options icmpRatePerSecond, icmpBurst): a burst of packets that each
// provoke an error gets icmpBurst errors, the rest are counted icmp_rate_limited, and tokens come
// back with time at icmpRatePerSecond, never more than icmpBurst of them.

import { describe, expect, it } from 'vitest';
import { Gauge } from '../../../src/dataplane/counters.js';
import { drops, hex, makeWorld, taken } from './fixture.js';

// Frames produced with scapy (/usr/bin/python3); fromC1, toC1, fromC2, toC2 as in fixture.ts.
// scapy: u = IP(src=C1, dst=HOST, ttl=1, id=7)/UDP(sport=1234, dport=5678)/b'hello'; fromC1(u)
const UDP_C1_TO_HOST_TTL1 = hex('0250000000010242ac11000208004500002100070000011102b4ac1100020afe000104d2162e000de9ef68656c6c6f');
// scapy: toC1(IP(src=GW1IP, dst=C1, ttl=64, id=0)/ICMP(type=11, code=0)/raw(u))
const TIME_EXCEEDED_TO_C1 = hex(
  '0242ac11000202500000000108004500003d000000004001229bac110001ac1100020b00ac30000000004500002100070000011102b4ac1100020afe000104d2162e000de9ef68656c6c6f',
);
// scapy: u = IP(src=C2, dst=GW1IP, ttl=64, id=0x22)/UDP(sport=40000, dport=54)/b'ping?'; fromC2(u)
const UDP_C2_TO_GW_54 = hex('0250000000010242ac1100030800450000210022000040112284ac110003ac1100019c400036000ded6570696e673f');
// scapy: toC2(IP(src=GW1IP, dst=C2, ttl=64, id=0)/ICMP(type=3, code=3)/raw(u))
const PORT_UNREACH_TO_C2 = hex(
  '0242ac11000302500000000108004500003d000000004001229aac110001ac1100030303554200000000450000210022000040112284ac110003ac1100019c400036000ded6570696e673f',
);

const times = (n: number, f: Buffer): Buffer[] => Array.from({ length: n }, () => f);

describe('ICMP error rate limit', () => {
  it('a burst of 5 packets that each provoke an error gets icmpBurst (3) errors; the other 2 are counted icmp_rate_limited', () => {
    const w = makeWorld({ icmpBurst: 3, icmpRatePerSecond: 10 });
    for (let i = 0; i < 5; i++) w.dp.receive(w.ids.c1, UDP_C1_TO_HOST_TTL1);
    expect(taken(w)).toEqual({ host: [], c1: times(3, TIME_EXCEEDED_TO_C1), c2: [], c3: [] });
    // every packet is dropped for its own reason; only the answer is rate limited
    expect(drops(w.dp)).toEqual({ ttl_expired: 5, icmp_rate_limited: 2 });
    expect(w.dp.counters.gauges[Gauge.IcmpSent]).toBe(3);
  });

  it('tokens come back at icmpRatePerSecond (10/s: one per 100 ms, fractions kept) as time passes with tick', () => {
    const w = makeWorld({ icmpBurst: 3, icmpRatePerSecond: 10 });
    let t = w.dp.now;
    for (let i = 0; i < 3; i++) w.dp.receive(w.ids.c1, UDP_C1_TO_HOST_TTL1);
    expect(w.c1.take()).toEqual(times(3, TIME_EXCEEDED_TO_C1)); // the bucket is empty now
    w.dp.tick((t += 50)); // half a token
    w.dp.receive(w.ids.c1, UDP_C1_TO_HOST_TTL1);
    expect(w.c1.take()).toEqual([]);
    expect(drops(w.dp)).toEqual({ ttl_expired: 4, icmp_rate_limited: 1 });
    w.dp.tick((t += 50)); // the other half: one token
    w.dp.receive(w.ids.c1, UDP_C1_TO_HOST_TTL1);
    w.dp.receive(w.ids.c1, UDP_C1_TO_HOST_TTL1);
    expect(w.c1.take()).toEqual([TIME_EXCEEDED_TO_C1]);
    expect(drops(w.dp)).toEqual({ ttl_expired: 6, icmp_rate_limited: 2 });
    expect(taken(w)).toEqual({ host: [], c1: [], c2: [], c3: [] });
  });

  it('a long quiet spell refills the bucket to icmpBurst, no further', () => {
    const w = makeWorld({ icmpBurst: 3, icmpRatePerSecond: 10 });
    for (let i = 0; i < 3; i++) w.dp.receive(w.ids.c1, UDP_C1_TO_HOST_TTL1);
    w.c1.take();
    w.dp.tick(w.dp.now + 60_000); // 600 tokens' worth of time
    for (let i = 0; i < 5; i++) w.dp.receive(w.ids.c1, UDP_C1_TO_HOST_TTL1);
    expect(taken(w)).toEqual({ host: [], c1: times(3, TIME_EXCEEDED_TO_C1), c2: [], c3: [] });
    expect(drops(w.dp)).toEqual({ ttl_expired: 8, icmp_rate_limited: 2 });
    expect(w.dp.counters.gauges[Gauge.IcmpSent]).toBe(6);
  });

  it('one bucket for the whole data plane: errors of every kind, to every port, draw from it', () => {
    const w = makeWorld({ icmpBurst: 3, icmpRatePerSecond: 10 });
    w.dp.receive(w.ids.c1, UDP_C1_TO_HOST_TTL1); // time exceeded
    w.dp.receive(w.ids.c2, UDP_C2_TO_GW_54); // port unreachable
    w.dp.receive(w.ids.c1, UDP_C1_TO_HOST_TTL1);
    w.dp.receive(w.ids.c2, UDP_C2_TO_GW_54); // the fourth error: no token left
    expect(taken(w)).toEqual({ host: [], c1: times(2, TIME_EXCEEDED_TO_C1), c2: [PORT_UNREACH_TO_C2], c3: [] });
    expect(drops(w.dp)).toEqual({ ttl_expired: 2, not_for_us: 2, icmp_rate_limited: 1 });
  });
});
