// The connection tracking table: lookups from both directions, deletion that keeps probe chains
// intact (checked against a Map model), memory per entry, and the data plane's behaviour when
// the table is full (unreplied flows evicted for new ones, answered ones kept, incremental reclaiming).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConntrackTable, CtFlag, CtState, CtTuple } from '../../../src/dataplane/conntrack.js';
import { Drop, Gauge } from '../../../src/dataplane/counters.js';
import { NatMappings } from '../../../src/dataplane/nat-ports.js';
import { TCP_ACK, TCP_SYN } from '../../../src/wire/tcp.js';
import { A, ACK_C1, drain, makeNatWorld, SYN_C1, SYNACK_X10, variant } from './fixture.js';

type Tuple = readonly [proto: number, src: number, dst: number, sport: number, dport: number];
const FOREVER = 1e15;

function create(ct: ConntrackTable, o: Tuple, r: Tuple, expires = FOREVER, state: number = CtState.None): number {
  const e = ct.create(new CtTuple().set(...o), new CtTuple().set(o[0], r[1], r[2], r[3], r[4]), state, 0);
  if (e >= 0) ct.expires[e] = expires;
  return e;
}
const find = (ct: ConntrackTable, t: Tuple, now = 0): number => ct.lookup(t[0], t[1], t[2], t[3], t[4], now);

/** Bytes held by the typed arrays of an object (its own enumerable fields). */
function typedBytes(o: object): number {
  let n = 0;
  for (const v of Object.values(o)) if (ArrayBuffer.isView(v)) n += v.byteLength;
  return n;
}

describe('ConntrackTable', () => {
  it('finds an entry from either direction, as original (even slot) and reply (odd slot)', () => {
    const ct = new ConntrackTable(8);
    const orig: Tuple = [6, A.c1, A.x10, 40000, 80];
    const reply: Tuple = [6, A.x10, A.uplink, 80, 40000];
    const e = create(ct, orig, reply);
    expect(find(ct, orig)).toBe(e * 2);
    expect(find(ct, reply)).toBe(e * 2 + 1);
    expect(find(ct, [17, A.c1, A.x10, 40000, 80])).toBe(-1); // another protocol
    expect(find(ct, [6, A.x10, A.c1, 80, 40000])).toBe(-1); // the untranslated inverse is no tuple of it
    expect(ct.takenTuple(new CtTuple().set(6, A.x10, A.uplink, 80, 40000), 0)).toBe(true);
    expect(ct.size).toBe(1);
    ct.remove(e);
    expect(find(ct, orig)).toBe(-1);
    expect(find(ct, reply)).toBe(-1);
    expect(ct.size).toBe(0);
  });

  it('does not find an expired entry, and removes it (releasing its NAT mapping) when it meets it', () => {
    const ct = new ConntrackTable(8);
    const released: number[] = [];
    ct.onRemove = (m) => released.push(m);
    const e = create(ct, [17, A.c1, A.x10, 5000, 53], [17, A.x10, A.uplink, 53, 5000], 1000);
    ct.mapping[e] = 7;
    expect(find(ct, [17, A.c1, A.x10, 5000, 53], 999)).toBe(e * 2);
    expect(find(ct, [17, A.x10, A.uplink, 53, 5000], 1000)).toBe(-1);
    expect(ct.size).toBe(0);
    expect(released).toEqual([7]);
  });

  it('refuses a new entry when full', () => {
    const ct = new ConntrackTable(4);
    for (let i = 0; i < 4; i++) expect(create(ct, [17, A.c1, A.x10, 1000 + i, 53], [17, A.x10, A.uplink, 53, 1000 + i])).toBeGreaterThanOrEqual(0);
    expect(create(ct, [17, A.c1, A.x10, 2000, 53], [17, A.x10, A.uplink, 53, 2000])).toBe(-1);
    expect(ct.size).toBe(4);
  });

  it('keeps every other key findable when an entry in the middle of a wrapping probe chain goes', () => {
    const ct = new ConntrackTable(16); // index of 64 buckets
    const hash = ConntrackTable['hash'] as (p: number, s: number, d: number, sp: number, dp: number) => number;
    const mask = 63;
    // original tuples that all hash to the last bucket, so their chain wraps around to bucket 0
    // (the destination port varies: the hash mixes it into every bit of the bucket number)
    const homeLast: Tuple[] = [];
    for (let p = 1; homeLast.length < 6 && p < 65536; p++) {
      if ((hash(17, A.c1, A.x10, 5000, p) & mask) === mask) homeLast.push([17, A.c1, A.x10, 5000, p]);
    }
    // and some whose home is bucket 0 or 1, in the way of the wrapped chain
    const homeLow: Tuple[] = [];
    for (let p = 1; homeLow.length < 4 && p < 65536; p++) {
      if ((hash(17, A.c2, A.x10, 5000, p) & mask) <= 1) homeLow.push([17, A.c2, A.x10, 5000, p]);
    }
    expect([homeLast.length, homeLow.length]).toEqual([6, 4]);
    const reply = (t: Tuple): Tuple => [17, A.x20, A.uplink, t[4], t[1] === A.c1 ? 1 : 2];
    const all = [...homeLast.slice(0, 3), ...homeLow.slice(0, 2), ...homeLast.slice(3), ...homeLow.slice(2)];
    const entries = all.map((t) => create(ct, t, reply(t)));
    const removed = new Set<number>();
    for (const victim of [0, 3, 5, 1, 8]) {
      ct.remove(entries[victim]);
      removed.add(victim);
      all.forEach((t, i) => {
        expect(find(ct, t)).toBe(removed.has(i) ? -1 : entries[i] * 2);
        expect(find(ct, reply(t))).toBe(removed.has(i) ? -1 : entries[i] * 2 + 1);
      });
    }
  });

  it('agrees with a Map model under random inserts and removes (backward-shift deletion)', () => {
    const ADDR = [0xac110002, 0xcb00710a, 0xc6336402, 0x0a000001]; // two above 2^31
    const CAP = 24;
    const op = fc.oneof(
      {
        arbitrary: fc.record({
          add: fc.constant(true as const),
          proto: fc.constantFrom(6, 17, 1),
          a: fc.nat(3),
          b: fc.nat(3),
          sp: fc.nat(5),
          dp: fc.nat(5),
          rp: fc.nat(5),
        }),
        weight: 3,
      },
      { arbitrary: fc.record({ add: fc.constant(false as const), pick: fc.nat() }), weight: 2 },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const ct = new ConntrackTable(CAP);
        const model = new Map<number, [Tuple, Tuple]>(); // entry -> its two tuples
        const slots = new Map<string, [Tuple, number]>(); // tuple -> slot
        const gone = new Map<string, Tuple>(); // tuples removed and not reused
        for (const o of ops) {
          if (o.add) {
            const orig: Tuple = [o.proto, ADDR[o.a], ADDR[o.b], 1000 + o.sp, 80 + o.dp];
            const reply: Tuple = [o.proto, ADDR[o.b], ADDR[(o.a + 1) % 4], 80 + o.dp, 2000 + o.rp];
            if (slots.has(String(orig)) || slots.has(String(reply))) continue; // the caller's check
            const e = create(ct, orig, reply);
            if (model.size === CAP) {
              expect(e).toBe(-1);
              continue;
            }
            expect(e).toBeGreaterThanOrEqual(0);
            expect(model.has(e)).toBe(false);
            model.set(e, [orig, reply]);
            slots.set(String(orig), [orig, e * 2]);
            slots.set(String(reply), [reply, e * 2 + 1]);
            gone.delete(String(orig));
            gone.delete(String(reply));
          } else if (model.size > 0) {
            const keys = [...model.keys()];
            const e = keys[o.pick % keys.length];
            ct.remove(e);
            for (const t of model.get(e)!) {
              slots.delete(String(t));
              gone.set(String(t), t);
            }
            model.delete(e);
          }
          for (const [t, slot] of slots.values()) expect(find(ct, t)).toBe(slot);
          for (const t of gone.values()) expect(find(ct, t)).toBe(-1);
          expect(ct.size).toBe(model.size);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('counts live entries per protocol and state', () => {
    const ct = new ConntrackTable(8);
    const e = create(ct, [6, A.c1, A.x10, 1, 80], [6, A.x10, A.uplink, 80, 1], FOREVER, CtState.SynSent);
    create(ct, [17, A.c1, A.x10, 1, 53], [17, A.x10, A.uplink, 53, 1]);
    expect([ct.live[CtState.SynSent], ct.live[16 + CtState.None]]).toEqual([1, 1]);
    ct.setState(e, CtState.Established);
    expect([ct.live[CtState.SynSent], ct.live[CtState.Established]]).toEqual([0, 1]);
    ct.remove(e);
    expect(ct.live[CtState.Established]).toBe(0);
  });

  it('sweeps expired entries incrementally, at most `budget` entries looked at per call', () => {
    const ct = new ConntrackTable(64);
    for (let i = 0; i < 64; i++) create(ct, [17, A.c1, A.x10, 1000 + i, 53], [17, A.x10, A.uplink, 53, 1000 + i], i % 2 === 0 ? 1000 : FOREVER);
    expect(ct.sweep(999, 64)).toBe(0);
    expect(ct.sweep(1000, 16)).toBe(8);
    expect(ct.size).toBe(56);
    expect(ct.sweep(1000, 16)).toBe(8);
    expect(ct.sweep(1000, 32)).toBe(16);
    expect(ct.size).toBe(32);
    expect(ct.sweep(1000, 64)).toBe(0);
  });

  it('holds a million entries in under 256 MB of typed arrays', () => {
    const ct = new ConntrackTable(1_000_000);
    const bytes = typedBytes(ct);
    expect(bytes).toBeLessThan(256 * 2 ** 20);
    // the port mappings the data plane sizes with it
    expect(bytes + typedBytes(new NatMappings(1_000_000, 1024, 65535))).toBeLessThan(256 * 2 ** 20);
  });
});

describe('the data plane with the conntrack table full', () => {
  const syn = (sport: number, dst = A.x10): Buffer => variant(SYN_C1, { sport, dst });

  it('evicts unreplied flows for new ones (early drop), never an answered one, and reclaims expired entries', () => {
    const w = makeNatWorld({ conntrackMax: 64 });
    w.dp.control.addPublish({ proto: 6, hostIp: 0, hostPort: 8080, targetIp: A.c2, targetPort: 80 });
    const ct = w.dp.tables.conntrack;
    const t0 = w.dp.now;
    // the flow from 30000 completes its handshake, then 63 half-open flows fill the table
    w.dp.receive(w.ids.c1, syn(30000));
    w.dp.receive(w.ids.uplink, variant(SYNACK_X10, { dport: 30000 }));
    w.dp.receive(w.ids.c1, variant(ACK_C1, { sport: 30000 }));
    expect(w.uplink.take()).toHaveLength(2);
    expect(w.c1.take()).toHaveLength(1);
    const e = find(ct, [6, A.c1, A.x10, 30000, 80], w.dp.now) >> 1;
    expect(ct.state[e]).toBe(CtState.Established);
    expect(ct.flags[e] & CtFlag.Assured).toBe(CtFlag.Assured);
    for (let i = 1; i < 64; i++) w.dp.receive(w.ids.c1, syn(30000 + i));
    expect(w.uplink.take()).toHaveLength(63);
    expect(ct.size).toBe(64);
    // a 65th flow: from a new port, from a port with a mapping, and from outside to a published
    // port: each takes the place of the oldest half-open flow (30001, 30002, 30003)
    w.dp.receive(w.ids.c1, syn(30064));
    w.dp.receive(w.ids.c1, syn(30000, A.x20));
    w.dp.receive(w.ids.uplink, variant(SYNACK_X10, { sport: 50000, dport: 8080, flags: TCP_SYN, ack: 0 }));
    expect(w.uplink.take()).toHaveLength(2);
    expect(w.c2.take()).toHaveLength(1);
    expect(w.dp.counters.drops[Drop.ConntrackFull]).toBe(0);
    expect(w.dp.counters.gauges[Gauge.ConntrackEarlyDrops]).toBe(3);
    expect(ct.size).toBe(64);
    for (const gone of [30001, 30002, 30003]) expect(find(ct, [6, A.c1, A.x10, gone, 80], w.dp.now)).toBe(-1);
    expect(w.dp.tables.mappings.inUse[0]).toBe(62); // the evicted flows' ports are free again
    // the answered flow passes both ways
    w.dp.receive(w.ids.uplink, variant(SYNACK_X10, { dport: 30000, flags: TCP_ACK, seq: 5001 }));
    expect(w.c1.take()).toHaveLength(1);
    expect(drain(w)).toBe(0);
    // the half-open flows time out (SYN_SENT: 120 s); the tick reclaims them
    w.dp.tick(t0 + 119_999);
    expect(ct.size).toBe(64);
    w.dp.tick(t0 + 120_000);
    expect(ct.size).toBe(1);
    expect(w.dp.tables.mappings.inUse[0]).toBe(1);
  });

  it('refuses a new flow (conntrack_full) when every entry has been answered, half-open ones too', () => {
    const w = makeNatWorld({ conntrackMax: 4 });
    const ct = w.dp.tables.conntrack;
    for (let i = 0; i < 4; i++) {
      w.dp.receive(w.ids.c1, syn(31000 + i));
      w.dp.receive(w.ids.uplink, variant(SYNACK_X10, { dport: 31000 + i }));
      if (i < 2) w.dp.receive(w.ids.c1, variant(ACK_C1, { sport: 31000 + i }));
    }
    expect(w.uplink.take()).toHaveLength(6);
    expect(w.c1.take()).toHaveLength(4);
    w.dp.receive(w.ids.c1, syn(31004));
    expect(drain(w)).toBe(0);
    expect(w.dp.counters.drops[Drop.ConntrackFull]).toBe(1);
    expect(w.dp.counters.gauges[Gauge.ConntrackEarlyDrops]).toBe(0);
    expect(ct.size).toBe(4);
    expect(w.dp.tables.mappings.inUse[0]).toBe(4); // nothing leaked by the refused flow
  });

  it('reclaims a large table a slice per tick', () => {
    const w = makeNatWorld({ conntrackMax: 2048 }); // sweep budget: 1024 entries per tick
    const ct = w.dp.tables.conntrack;
    const t0 = w.dp.now;
    for (let i = 0; i < 2048; i++) w.dp.receive(w.ids.c1, syn(20000 + i));
    expect(w.uplink.take()).toHaveLength(2048);
    expect(ct.size).toBe(2048);
    w.dp.tick(t0 + 120_000);
    expect(ct.size).toBe(1024);
    w.dp.receive(w.ids.c1, syn(10000));
    expect(w.uplink.take()).toHaveLength(1);
    w.dp.tick(t0 + 120_100);
    expect(ct.size).toBe(1);
    expect(w.dp.tables.mappings.inUse[0]).toBe(1);
  });
});
