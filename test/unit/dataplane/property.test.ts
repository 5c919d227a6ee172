import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { finish, internetChecksum, ipv6AddressSum, l4PseudoSum, sum16 } from '../../../src/wire/checksum.js';
import { IPV6_GATEWAY_LINK_LOCAL, ipv6ToString, readIpv6 } from '../../../src/wire/ipv6-address.js';
import { A, A6, hex, makeNatWorld, makeWorld, receiveAccounted, SYN_C1, SYN_C1_OUT, SYNACK_AT_C1, SYNACK_X10, variant } from './fixture.js';

// Valid frames to mutate: mutations of real traffic reach deeper stages than random bytes do.
const SEEDS = [
  hex('0250000000010242ac110002080045000030123440004001d073ac110002ac1100010800ff7800770001706f6e746f6f6e2d70696e672d7061796c6f6164'),
  hex('0250000000010242ac110002080045000021000700004011c3b3ac1100020afe000104d2162e000de9ef68656c6c6f'),
  hex('0250000000010242ac11000208004500002100070000011102b4ac1100020afe000104d2162e000de9ef68656c6c6f'),
  hex('ffffffffffff0242ac110002080600010800060400010242ac110002ac110002000000000000ac110001'),
  hex('0242ac1100030242ac110002080045000030123440004001d071ac110002ac1100030800ff7800770001706f6e746f6f6e2d70696e672d7061796c6f6164'),
];
// the same over IPv6 (the dual-stack world, fixture.ts A6; scapy): c1 pings its gateway, sends UDP to
// the host, solicits fe80::1, solicits routers, advertises its own address to the gateway, pings c2
const SEEDS6 = [
  hex('0250000000010242ac11000286dd60000000000f3a40fd000011000000000000000000000002fd0000110000000000000000000000018000c93900010001706f6e746f6f6e'),
  hex('0250000000010242ac11000286dd60000000000d1140fd000011000000000000000000000002fd00ffff00000000000000000000000104d2162e000da6ec68656c6c6f'),
  hex('3333ff0000010242ac11000286dd6000000000203afffe800000000000000042acfffe110002ff0200000000000000000001ff000001870022f000000000fe80000000000000000000000000000101010242ac110002'),
  hex('3333000000020242ac11000286dd6000000000103afffe800000000000000042acfffe110002ff020000000000000000000000000002850022830000000001010242ac110002'),
  hex('0250000000010242ac11000286dd6000000000203afffd000011000000000000000000000002fd0000110000000000000000000000018800701360000000fd00001100000000000000000000000202010242ac110002'),
  hex('0242ac1100030242ac11000286dd60000000000f3a40fd000011000000000000000000000002fd0000110000000000000000000000038000c93600010002706f6e746f6f6e'),
];
const HOST_SEEDS = [
  hex('4500002400094000400183be0afe0001ac11000208006663000500026162636465666768'),
  // the host pings c1 over IPv6
  hex('6000000000103a40fd00ffff000000000000000000000001fd0000110000000000000000000000028000f406000200016162636465666768'),
];
const GATEWAYS = new Set([0xac110001, 0xac120001, 0x0afe0002]);
const GATEWAYS6 = new Set([A6.bridgeGw, A6.backendGw, A6.hostGw, IPV6_GATEWAY_LINK_LOCAL].map((a) => ipv6ToString(a)));

/** Every ICMPv6 message the gateway makes (from one of its addresses) has a valid checksum, and its packet ends where its payload ends. */
function checkIp6(pkt: Buffer): void {
  if (pkt.length < 40 || pkt[0] >> 4 !== 6) return;
  const total = 40 + pkt.readUInt16BE(4);
  expect(total).toBeLessThanOrEqual(pkt.length);
  if (pkt[6] !== 58 || !GATEWAYS6.has(ipv6ToString(readIpv6(pkt, 8)))) return;
  expect(finish(sum16(pkt, 40, total - 40, l4PseudoSum(ipv6AddressSum(pkt, 8), 58, total - 40)))).toBe(0);
}

/** Every IPv4 packet leaving the gateway has a valid header checksum, and its own ICMP messages a valid ICMP checksum. */
function checkIp(pkt: Buffer): void {
  if (pkt.length < 20 || pkt[0] >> 4 !== 4) return;
  const ihl = (pkt[0] & 0x0f) * 4;
  expect(internetChecksum(pkt, 0, ihl)).toBe(0);
  const total = pkt.readUInt16BE(2);
  if (pkt[9] === 1 && GATEWAYS.has(pkt.readUInt32BE(12)) && (pkt.readUInt16BE(6) & 0x3fff) === 0) {
    expect(internetChecksum(pkt, ihl, total - ihl)).toBe(0);
  }
}

const mutated = (seeds: Buffer[]) =>
  fc
    .record({
      seed: fc.integer({ min: 0, max: seeds.length - 1 }),
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      cut: fc.option(fc.nat()),
    })
    .map(({ seed, flips, cut }) => {
      const b = Buffer.from(seeds[seed]);
      for (const [at, v] of flips) b[at % b.length] = v;
      return cut === null ? b : b.subarray(0, cut % (b.length + 1));
    });

describe('the pipeline under arbitrary input', () => {
  it('never throws and never emits a frame with a bad checksum, IPv4 or IPv6', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ port: fc.constantFrom('c1', 'c2', 'c3'), frame: fc.oneof(fc.uint8Array({ maxLength: 200 }).map(Buffer.from), mutated(SEEDS), mutated(SEEDS6)) }),
            fc.record({ port: fc.constant('host'), frame: fc.oneof(fc.uint8Array({ maxLength: 200 }).map(Buffer.from), mutated(HOST_SEEDS)) }),
            fc.record({ port: fc.constant('tick'), frame: fc.constant(Buffer.alloc(0)) }),
          ),
          { maxLength: 30 },
        ),
        (inputs) => {
          const w = makeWorld({ arpRetryMs: 10, conntrackMax: 1024 }, 1500, undefined, { ipv6: true }); // a small table: a world per run
          let t = w.dp.now;
          for (const { port, frame } of inputs) {
            if (port === 'tick') {
              w.dp.tick((t += 500));
              continue;
            }
            // every frame is accounted for: counted in, then sent on, dropped by a reason, or taken in
            // by the gateway (ARP, parked waiting for ARP: both answer or count later)
            const parked = w.dp.parking.slots - (w.dp.parking as unknown as { freeCount: number }).freeCount;
            const r = receiveAccounted(w.dp, w.ids[port as 'c1' | 'c2' | 'c3' | 'host'], frame);
            expect(r.rx).toBe(1);
            // neighbour discovery for the gateway is taken in as ARP is: an advertisement teaches it a neighbour
            const ndp = frame.length >= 55 && frame.readUInt16BE(12) === 0x86dd && frame[20] === 58 && (frame[54] === 135 || frame[54] === 136);
            const takenIn = (frame.length >= 14 && frame.readUInt16BE(12) === 0x0806) || ndp || w.dp.parking.slots - (w.dp.parking as unknown as { freeCount: number }).freeCount > parked;
            if (!takenIn) expect(r.sent + r.dropped).toBeGreaterThan(0);
          }
          for (const f of w.host.take()) {
            checkIp(f);
            checkIp6(f);
          }
          for (const p of [w.c1, w.c2, w.c3]) {
            for (const f of p.take()) {
              expect(f.length).toBeGreaterThanOrEqual(14);
              if (f.readUInt16BE(12) === 0x0800) checkIp(f.subarray(14));
              if (f.readUInt16BE(12) === 0x86dd) checkIp6(f.subarray(14));
            }
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('valid frames are delivered', () => {
  // a pipeline that drops everything passes the property above: these must arrive, byte for byte
  it('switches, answers, routes and masquerades the seed frames, each accounted for', () => {
    const w = makeWorld();
    // c1 pings c2 on the same bridge: switched as it came
    expect(receiveAccounted(w.dp, w.ids.c1, SEEDS[4])).toEqual({ rx: 1, sent: 1, dropped: 0 });
    expect(w.c2.take()).toEqual([SEEDS[4]]);
    // c1 asks for its gateway: the gateway's ARP reply
    expect(receiveAccounted(w.dp, w.ids.c1, SEEDS[3])).toEqual({ rx: 1, sent: 1, dropped: 0 });
    expect(w.c1.take()).toEqual([hex('0242ac110002025000000001080600010800060400020250000000' + '01ac1100010242ac110002ac110002')]);
    // c1 pings its gateway: the echo reply
    expect(receiveAccounted(w.dp, w.ids.c1, SEEDS[0])).toEqual({ rx: 1, sent: 1, dropped: 0 });
    const reply = w.c1.take();
    expect(reply).toHaveLength(1);
    expect(reply[0]!.subarray(0, 12)).toEqual(hex('0242ac110002025000000001'));
    expect(reply[0]!.readUInt32BE(26)).toBe(0xac110001);
    // the host pings c1: routed, TTL 63, every checksum right
    expect(receiveAccounted(w.dp, w.ids.host, HOST_SEEDS[0])).toEqual({ rx: 1, sent: 1, dropped: 0 });
    expect(w.c1.take()).toEqual([variant(Buffer.concat([hex('0242ac110002025000000001' + '0800'), HOST_SEEDS[0]]), { ttl: 63 })]);
    // c1 to the host's UDP port: routed to the host port (bare IPv4, TTL 63)
    expect(receiveAccounted(w.dp, w.ids.c1, SEEDS[1])).toEqual({ rx: 1, sent: 1, dropped: 0 });
    expect(w.host.take()).toEqual([variant(SEEDS[1], { ttl: 63 }).subarray(14)]);
    // TTL 1 towards the host: dropped by a reason, answered with time exceeded
    expect(receiveAccounted(w.dp, w.ids.c1, SEEDS[2])).toEqual({ rx: 1, sent: 1, dropped: 1 });
    expect(w.c1.take()[0]![14 + 20]).toBe(11);

    const n = makeNatWorld();
    expect(receiveAccounted(n.dp, n.ids.c1, SYN_C1)).toEqual({ rx: 1, sent: 1, dropped: 0 });
    expect(n.uplink.take()).toEqual([SYN_C1_OUT]);
    expect(receiveAccounted(n.dp, n.ids.uplink, SYNACK_X10)).toEqual({ rx: 1, sent: 1, dropped: 0 });
    expect(n.c1.take()).toEqual([SYNACK_AT_C1]);
    expect(A.uplink).toBe(0xc6336402);
  });

  it('the IPv6 seeds too: switched, answered, routed, each accounted for', () => {
    const w = makeWorld({}, 1500, undefined, { ipv6: true });
    // c1 pings c2: switched as it came
    expect(receiveAccounted(w.dp, w.ids.c1, SEEDS6[5])).toEqual({ rx: 1, sent: 1, dropped: 0 });
    expect(w.c2.take()).toEqual([SEEDS6[5]]);
    // c1 pings its gateway: an echo reply from fd00:11::1
    expect(receiveAccounted(w.dp, w.ids.c1, SEEDS6[0])).toEqual({ rx: 1, sent: 1, dropped: 0 });
    const [reply] = w.c1.take();
    expect(reply!.subarray(0, 12)).toEqual(hex('0242ac110002025000000001'));
    expect(reply![54]).toBe(129);
    checkIp6(reply!.subarray(14));
    // c1's solicitation of fe80::1 and of routers: an advertisement each
    for (const i of [2, 3]) {
      expect(receiveAccounted(w.dp, w.ids.c1, SEEDS6[i]!)).toEqual({ rx: 1, sent: 1, dropped: 0 });
      expect(w.c1.take()[0]![54]).toBe(i === 2 ? 136 : 134);
    }
    // c1's UDP to the host: routed, hop limit 63, bare IPv6 on the TUN port
    expect(receiveAccounted(w.dp, w.ids.c1, SEEDS6[1])).toEqual({ rx: 1, sent: 1, dropped: 0 });
    const routed = Buffer.from(SEEDS6[1]!.subarray(14));
    routed[7] = 63;
    expect(w.host.take()).toEqual([routed]);
    // the host pings c1: to c1's MAC from the gateway's, hop limit 63
    expect(receiveAccounted(w.dp, w.ids.host, HOST_SEEDS[1]!)).toEqual({ rx: 1, sent: 1, dropped: 0 });
    const toC1 = Buffer.concat([hex('0242ac110002025000000001' + '86dd'), HOST_SEEDS[1]!]);
    toC1[14 + 7] = 63;
    expect(w.c1.take()).toEqual([toC1]);
  });
});
