// Connection tracking for both address families (issue 13): IPv6 tuples found from either
// direction, kept apart from IPv4 tuples whose words coincide, expired, removed without breaking
// the index for the rest; `conntrack ls` prints an IPv6 entry as conntrack -L's extended output.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatConntrackEntry } from '../../../src/cli/commands/conntrack.js';
import { conntrackResource } from '../../../src/control/resources.js';
import { ConntrackTable, CtFlag, CtState, CtTuple, Dir, Family } from '../../../src/dataplane/conntrack.js';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import { IP_PROTO_TCP, IP_PROTO_UDP } from '../../../src/wire/ipv4.js';
import { parseIpv6, type Ipv6Words } from '../../../src/wire/ipv6-address.js';

const C1 = parseIpv6('fd00:20::2');
const X = parseIpv6('2001:db8::1');

/** An entry for orig `a`:sport -> `b`:dport and its plain reply, live for an hour from `now`. */
function add(ct: ConntrackTable, proto: number, a: Ipv6Words, b: Ipv6Words, sport: number, dport: number, now = 0): number {
  const o = new CtTuple().set6Words(proto, a, b, sport, dport);
  const r = new CtTuple().set6Words(proto, b, a, dport, sport);
  const e = ct.create(o, r, proto === IP_PROTO_TCP ? CtState.Established : CtState.None, 0);
  ct.expires[e] = now + 3_600_000;
  return e;
}

describe('ConntrackTable with IPv6 tuples', () => {
  it('finds an entry from both directions, and a tuple read in place from a packet finds it too', () => {
    const ct = new ConntrackTable(64);
    const e = add(ct, IP_PROTO_TCP, C1, X, 40000, 80);
    expect(ct.find(new CtTuple().set6Words(IP_PROTO_TCP, C1, X, 40000, 80), 1)).toBe(e * 2 + Dir.Original);
    expect(ct.find(new CtTuple().set6Words(IP_PROTO_TCP, X, C1, 80, 40000), 1)).toBe(e * 2 + Dir.Reply);
    // the addresses of an IPv6 header: source at 8, destination at 24
    const hdr = Buffer.alloc(40);
    Buffer.from('fd000020000000000000000000000002', 'hex').copy(hdr, 8);
    Buffer.from('20010db8000000000000000000000001', 'hex').copy(hdr, 24);
    expect(ct.find(new CtTuple().set6(IP_PROTO_TCP, hdr, 8, 24, 40000, 80), 1)).toBe(e * 2);
    // another port, another protocol, another last word: not it
    expect(ct.find(new CtTuple().set6Words(IP_PROTO_TCP, C1, X, 40001, 80), 1)).toBe(-1);
    expect(ct.find(new CtTuple().set6Words(IP_PROTO_UDP, C1, X, 40000, 80), 1)).toBe(-1);
    expect(ct.find(new CtTuple().set6Words(IP_PROTO_TCP, parseIpv6('fd00:20::3'), X, 40000, 80), 1)).toBe(-1);
    expect(ct.tupleOf(e * 2 + Dir.Reply, new CtTuple()).srcWords()).toEqual(X);
  });

  it('keeps apart an IPv4 tuple and an IPv6 tuple whose words coincide (word 0 the IPv4 address, the rest 0)', () => {
    const ct = new ConntrackTable(64);
    const v6a: Ipv6Words = [0xac110002, 0, 0, 0];
    const v6b: Ipv6Words = [0xcb00710a, 0, 0, 0];
    const e6 = add(ct, IP_PROTO_TCP, v6a, v6b, 40000, 80);
    expect(ct.lookup(IP_PROTO_TCP, 0xac110002, 0xcb00710a, 40000, 80, 1)).toBe(-1);
    const o = new CtTuple().set4(IP_PROTO_TCP, 0xac110002, 0xcb00710a, 40000, 80);
    const r = new CtTuple().set4(IP_PROTO_TCP, 0xcb00710a, 0xac110002, 80, 40000);
    expect(ct.takenTuple(o, 1)).toBe(false);
    const e4 = ct.create(o, r, CtState.Established, 0);
    ct.expires[e4] = 3_600_000;
    expect(ct.lookup(IP_PROTO_TCP, 0xac110002, 0xcb00710a, 40000, 80, 1)).toBe(e4 * 2);
    expect(ct.find(new CtTuple().set6Words(IP_PROTO_TCP, v6a, v6b, 40000, 80), 1)).toBe(e6 * 2);
    expect([ct.family[e4], ct.family[e6]]).toEqual([Family.Ipv4, Family.Ipv6]);
  });

  it('an expired entry is not found, and goes', () => {
    const ct = new ConntrackTable(64);
    add(ct, IP_PROTO_UDP, C1, X, 5353, 53, 0);
    expect(ct.size).toBe(1);
    expect(ct.find(new CtTuple().set6Words(IP_PROTO_UDP, C1, X, 5353, 53), 3_600_000)).toBe(-1);
    expect(ct.size).toBe(0);
  });

  it('property: any mix of IPv4 and IPv6 flows, half removed, the rest still found from both sides (the index survives removals)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 65535 })), { minLength: 1, maxLength: 200 }), (flows) => {
        const ct = new ConntrackTable(512);
        const made: { v6: boolean; a: Ipv6Words; b: Ipv6Words; sport: number; e: number }[] = [];
        for (const [v6, low, sport] of flows) {
          // addresses that share everything but their last word, so hashes and probes collide often
          const a: Ipv6Words = v6 ? [0xfd000020, 0, 0, low] : [0xac110000 + low, 0, 0, 0];
          const b: Ipv6Words = v6 ? [0x20010db8, 0, 0, 1] : [0xcb00710a, 0, 0, 0];
          const t = v6 ? new CtTuple().set6Words(IP_PROTO_TCP, a, b, sport, 80) : new CtTuple().set4(IP_PROTO_TCP, a[0], b[0], sport, 80);
          if (ct.takenTuple(t, 1)) continue;
          const r = v6 ? new CtTuple().set6Words(IP_PROTO_TCP, b, a, 80, sport) : new CtTuple().set4(IP_PROTO_TCP, b[0], a[0], 80, sport);
          const e = ct.create(t, r, CtState.Established, 0);
          ct.expires[e] = 3_600_000;
          made.push({ v6, a, b, sport, e });
        }
        for (let i = 0; i < made.length; i += 2) ct.remove(made[i]!.e);
        for (const [i, m] of made.entries()) {
          const fwd = m.v6 ? new CtTuple().set6Words(IP_PROTO_TCP, m.a, m.b, m.sport, 80) : new CtTuple().set4(IP_PROTO_TCP, m.a[0], m.b[0], m.sport, 80);
          const back = m.v6 ? new CtTuple().set6Words(IP_PROTO_TCP, m.b, m.a, 80, m.sport) : new CtTuple().set4(IP_PROTO_TCP, m.b[0], m.a[0], 80, m.sport);
          const gone = i % 2 === 0;
          expect(ct.find(fwd, 1)).toBe(gone ? -1 : m.e * 2);
          expect(ct.find(back, 1)).toBe(gone ? -1 : m.e * 2 + 1);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('conntrack ls for IPv6 entries', () => {
  it("prints conntrack -L's extended line: ipv6 10, the protocol, the addresses in RFC 5952 text", () => {
    const dp = new Dataplane();
    dp.now = 1_000_000;
    const ct = dp.tables.conntrack;
    const e = add(ct, IP_PROTO_TCP, C1, X, 40000, 80, dp.now);
    ct.flags[e] = CtFlag.SeenReply | CtFlag.Assured;
    const [rec] = dp.control.conntrackList(10);
    expect(formatConntrackEntry(conntrackResource(rec!))).toBe(
      'ipv6     10 tcp      6 3600 ESTABLISHED src=fd00:20::2 dst=2001:db8::1 sport=40000 dport=80 packets=0 bytes=0 src=2001:db8::1 dst=fd00:20::2 sport=80 dport=40000 packets=0 bytes=0 [ASSURED]',
    );
  });
});

describe('published ports and NAT port spaces per family', () => {
  it('an IPv6 rule ([::]:8080) lives beside the IPv4 rule of the same port: found by address, removed alone', () => {
    const dp = new Dataplane();
    const p = dp.tables.published;
    dp.control.addPublish({ proto: 6, hostIp: 0, hostPort: 8080, targetIp: 0xac110002, targetPort: 80 });
    dp.control.addPublish({ family: Family.Ipv6, proto: 6, hostIp: [0, 0, 0, 0], hostPort: 8080, targetIp: C1, targetPort: 80 });
    const up6 = parseIpv6('2001:db8:1::2');
    const r6 = p.lookup6(6, up6[0], up6[1], up6[2], up6[3], 8080);
    expect(r6).toBeGreaterThanOrEqual(0);
    expect([0, 1, 2, 3].map((i) => p.targetWord(r6, i) >>> 0)).toEqual(C1);
    expect(p.lookup(6, 0xc6336402, 8080)).toBeGreaterThanOrEqual(0);
    // the same port twice in one family is refused, in the other family it is another rule
    expect(() => dp.control.addPublish({ family: Family.Ipv6, proto: 6, hostIp: [0, 0, 0, 0], hostPort: 8080, targetIp: C1, targetPort: 81 })).toThrow(/8080/);
    dp.control.removePublish(6, 8080, Family.Ipv6);
    expect(p.lookup6(6, up6[0], up6[1], up6[2], up6[3], 8080)).toBe(-1);
    expect(p.lookup(6, 0xc6336402, 8080)).toBeGreaterThanOrEqual(0);
  });
});
