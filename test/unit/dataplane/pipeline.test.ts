import { describe, expect, it } from 'vitest';
import { Drop } from '../../../src/dataplane/counters.js';
import { DELAY_FIRST_PROBE_MS, NeighbourState } from '../../../src/dataplane/neighbour-table.js';
import { MemoryPort } from '../../../src/ports/memory-port.js';
import { internetChecksum } from '../../../src/wire/checksum.js';
import { hex, makeWorld } from './fixture.js';

// Frames below were produced with scapy and checked with Wireshark's checksum validation.
const ECHO_REQ_C1_TO_GW = hex(
  '0250000000010242ac110002080045000030123440004001d073ac110002ac1100010800ff7800770001706f6e746f6f6e2d70696e672d7061796c6f6164',
);
const ECHO_REPLY_GW_TO_C1 = hex(
  '0242ac110002025000000001080045000030123440004001d073ac110001ac1100020000077900770001706f6e746f6f6e2d70696e672d7061796c6f6164',
);
const UDP_C1_TO_HOST = hex(
  '0250000000010242ac110002080045000021000700004011c3b3ac1100020afe000104d2162e000de9ef68656c6c6f',
);
const UDP_AT_HOST = hex('45000021000700003f11c4b3ac1100020afe000104d2162e000de9ef68656c6c6f');
const UDP_C1_TO_HOST_TTL1 = hex(
  '0250000000010242ac11000208004500002100070000011102b4ac1100020afe000104d2162e000de9ef68656c6c6f',
);
const TIME_EXCEEDED_TO_C1 = hex(
  '0242ac11000202500000000108004500003d000000004001229bac110001ac1100020b00ac30000000004500002100070000011102b4ac1100020afe000104d2162e000de9ef68656c6c6f',
);
const HOST_ECHO_TO_C1 = hex('4500002400094000400183be0afe0001ac11000208006663000500026162636465666768');
const HOST_ECHO_AT_C1 = hex(
  '0242ac110002025000000001080045000024000940003f0184be0afe0001ac11000208006663000500026162636465666768',
);
const ARP_REQ_C1_FOR_GW = hex('ffffffffffff0242ac110002080600010800060400010242ac110002ac110002000000000000ac110001');
const ARP_REPLY_GW_TO_C1 = hex('0242ac11000202500000000108060001080006040002025000000001ac1100010242ac110002ac110002');
const ARP_REQ_GW_FOR_99 = hex('ffffffffffff02500000000108060001080006040001025000000001ac110001000000000000ac110063');

describe('ARP', () => {
  it('answers a request for the gateway address with the gateway MAC, to the asker only', () => {
    const w = makeWorld();
    w.dp.receive(w.ids.c1, ARP_REQ_C1_FOR_GW);
    expect(w.c1.take()).toEqual([ARP_REPLY_GW_TO_C1]);
    expect(w.c2.take()).toEqual([]);
    expect(w.c3.take()).toEqual([]);
  });

  it('announces a new endpoint with a gratuitous ARP to the other ports of its network', () => {
    const w = makeWorld();
    const c4 = new MemoryPort();
    w.dp.control.addEndpoint({ name: 'c4', network: 0, mac: 0x0242ac110009, ip: 0xac110009 }, c4);
    const garp = hex('ffffffffffff0242ac110009080600010800060400010242ac110009ac110009000000000000ac110009');
    expect(w.c1.take()).toEqual([garp]);
    expect(w.c2.take()).toEqual([garp]);
    expect(w.c3.take()).toEqual([]); // another network
    expect(c4.take()).toEqual([]);
  });

  // the gateway asks c1 directly (unicast to its cached MAC), as Linux's probes do
  const PROBE_C1 = hex('0242ac110002025000000001' + '0806' + '0001080006040001' + '025000000001ac110001' + '000000000000ac110002');
  const WHO_HAS_C1 = hex('ffffffffffff02500000000108060001080006040001025000000001ac110001000000000000ac110002');
  const C1_IS_AT = hex('0250000000010242ac11000208060001080006040002' + '0242ac110002ac110002' + '025000000001ac110001');
  const state = (w: ReturnType<typeof makeWorld>, ip: number) => [...w.dp.tables.networks[0]!.neighbours.values()].find((n) => n.ip === ip)?.state;

  it('a neighbour not confirmed goes stale: frames still go out at once, unicast probes follow its use, an answer confirms it', () => {
    const w = makeWorld({ neighbourReachableMs: 1000 });
    let t = w.dp.now + 2000;
    w.dp.tick(t);
    expect(state(w, 0xac110002)).toBe(NeighbourState.Stale);
    w.dp.receive(w.ids.host, HOST_ECHO_TO_C1);
    // delivered with the cached MAC, nothing asked first
    expect(w.c1.take()).toEqual([HOST_ECHO_AT_C1]);
    expect(w.c2.take()).toEqual([]);
    expect(state(w, 0xac110002)).toBe(NeighbourState.Delay);
    t += DELAY_FIRST_PROBE_MS - 1;
    w.dp.tick(t);
    expect(w.c1.take()).toEqual([]);
    t += 1;
    w.dp.tick(t);
    expect(w.c1.take()).toEqual([PROBE_C1]);
    expect(w.c2.take()).toEqual([]); // unicast, not flooded
    expect(state(w, 0xac110002)).toBe(NeighbourState.Probe);
    w.dp.receive(w.ids.c1, C1_IS_AT, t);
    expect(state(w, 0xac110002)).toBe(NeighbourState.Reachable);
    w.dp.tick(t + 900);
    expect(w.c1.take()).toEqual([]);
  });

  it('a probed neighbour that never answers is deleted: the next frame asks by broadcast, is parked, and is sent once answered', () => {
    const w = makeWorld({ neighbourReachableMs: 1000, arpRetries: 3, arpRetryMs: 1000 });
    let t = w.dp.now + 2000;
    w.dp.tick(t);
    w.dp.receive(w.ids.host, HOST_ECHO_TO_C1, t);
    expect(w.c1.take()).toEqual([HOST_ECHO_AT_C1]);
    t += DELAY_FIRST_PROBE_MS;
    for (let i = 0; i < 3; i++) {
      w.dp.tick(t);
      expect(w.c1.take()).toEqual([PROBE_C1]);
      t += 1000;
    }
    w.dp.tick(t);
    expect(w.c1.take()).toEqual([]);
    expect(state(w, 0xac110002)).toBeUndefined();
    w.dp.receive(w.ids.host, HOST_ECHO_TO_C1, t);
    expect(w.c1.take()).toEqual([WHO_HAS_C1]);
    expect(w.c2.take()).toEqual([WHO_HAS_C1]);
    // c1 answers; the parked echo request follows
    w.dp.receive(w.ids.c1, C1_IS_AT, t);
    expect(w.c1.take()).toEqual([HOST_ECHO_AT_C1]);
  });

  it('a stale neighbour nothing uses is deleted after staleMs', () => {
    const w = makeWorld({ neighbourReachableMs: 1000, neighbourStaleMs: 5000 });
    w.dp.tick(w.dp.now + 2000);
    expect(state(w, 0xac110002)).toBe(NeighbourState.Stale);
    w.dp.tick(w.dp.now + 3900);
    expect(state(w, 0xac110002)).toBe(NeighbourState.Stale);
    w.dp.tick(w.dp.now + 200);
    expect(state(w, 0xac110002)).toBeUndefined();
  });

  it('gives up after the retries and answers ICMP host unreachable', () => {
    const w = makeWorld({ arpRetries: 3, arpRetryMs: 1000 });
    const toNowhere = hex('4500002400094000400183be0afe0001ac11000208006663000500026162636465666768');
    toNowhere.writeUInt8(0x63, 19); // 172.17.0.99
    toNowhere.writeUInt16BE(0, 10);
    toNowhere.writeUInt16BE(internetChecksum(toNowhere, 0, 20), 10);
    w.dp.receive(w.ids.host, toNowhere);
    expect(w.c1.take()).toEqual([ARP_REQ_GW_FOR_99]);
    let t = w.dp.now;
    for (let i = 0; i < 2; i++) {
      t += 1000;
      w.dp.tick(t);
      expect(w.c1.take()).toEqual([ARP_REQ_GW_FOR_99]); // retries
    }
    t += 1000;
    w.dp.tick(t);
    const sent = w.host.take();
    expect(sent).toHaveLength(1);
    const icmp = sent[0];
    expect(icmp[9]).toBe(1); // ICMP
    expect(icmp.readUInt32BE(12)).toBe(0x0afe0002); // from the gateway's host-link address
    expect(icmp.readUInt32BE(16)).toBe(0x0afe0001);
    expect([icmp[20], icmp[21]]).toEqual([3, 1]); // destination unreachable, host unreachable
    expect(w.dp.counters.drops[Drop.NeighbourUnreachable]).toBe(1);
  });

  it('drops an ARP that claims another address (anti-spoofing)', () => {
    const w = makeWorld();
    const claim = Buffer.from(ARP_REQ_C1_FOR_GW);
    claim[31] = 0x03; // sender IP 172.17.0.3 (c2's)
    w.dp.receive(w.ids.c1, claim);
    expect(w.c1.take()).toEqual([]);
    expect(w.c2.take()).toEqual([]);
    expect(w.dp.counters.drops[Drop.SpoofedArp]).toBe(1);
  });
});

describe('switching', () => {
  it('floods a broadcast inside the network only, never back to the sender', () => {
    const w = makeWorld();
    const arpForC2 = Buffer.from(ARP_REQ_C1_FOR_GW);
    arpForC2[41] = 0x03;
    w.dp.receive(w.ids.c1, arpForC2);
    expect(w.c2.take()).toEqual([arpForC2]);
    expect(w.c1.take()).toEqual([]);
    expect(w.c3.take()).toEqual([]);
    expect(w.host.take()).toEqual([]);
  });

  it('forwards unicast to the learned port unchanged', () => {
    const w = makeWorld();
    const frame = hex('0242ac1100030242ac110002080045000030123440004001d071ac110002ac1100030800ff7800770001706f6e746f6f6e2d70696e672d7061796c6f6164');
    w.dp.receive(w.ids.c1, frame);
    expect(w.c2.take()).toEqual([frame]);
    expect(w.c1.take()).toEqual([]);
  });

  it('floods unknown unicast after the MAC ages out', () => {
    const w = makeWorld({ macAgingMs: 1000 });
    w.dp.tick(w.dp.now + 5000);
    const frame = hex('0242ac1100030242ac110002080045000030123440004001d071ac110002ac1100030800ff7800770001706f6e746f6f6e2d70696e672d7061796c6f6164');
    w.dp.receive(w.ids.c1, frame);
    expect(w.c2.take()).toEqual([frame]);
    expect(w.c1.take()).toEqual([]);
    expect(w.dp.tables.networks[0]!.fdb.lookup(0x0242, 0xac110002 | 0)).toBe(w.ids.c1); // relearned
  });

  it('drops frames with a source MAC or IP that is not the endpoint', () => {
    const w = makeWorld();
    const badMac = Buffer.from(ECHO_REQ_C1_TO_GW);
    badMac[11] = 0x99;
    w.dp.receive(w.ids.c1, badMac);
    expect(w.dp.counters.drops[Drop.SpoofedMac]).toBe(1);
    w.dp.receive(w.ids.c2, ECHO_REQ_C1_TO_GW); // c1's frame sent from c2's port
    expect(w.dp.counters.drops[Drop.SpoofedMac]).toBe(2);
    const badIp = hex('0250000000010242ac110002080045000030123440004001d071ac110004ac1100010800ff7800770001706f6e746f6f6e2d70696e672d7061796c6f6164');
    w.dp.receive(w.ids.c1, badIp);
    expect(w.dp.counters.drops[Drop.SpoofedIp]).toBe(1);
    expect([w.c1.take(), w.c2.take(), w.host.take()]).toEqual([[], [], []]);
  });
});

describe('IPv4', () => {
  it('answers an echo request to the gateway in place', () => {
    const w = makeWorld();
    w.dp.receive(w.ids.c1, ECHO_REQ_C1_TO_GW);
    expect(w.c1.take()).toEqual([ECHO_REPLY_GW_TO_C1]);
  });

  it('routes to the host port with TTL decremented and the checksum updated', () => {
    const w = makeWorld();
    w.dp.receive(w.ids.c1, UDP_C1_TO_HOST);
    expect(w.host.take()).toEqual([UDP_AT_HOST]);
  });

  it('routes from the host port into a network', () => {
    const w = makeWorld();
    w.dp.receive(w.ids.host, HOST_ECHO_TO_C1);
    expect(w.c1.take()).toEqual([HOST_ECHO_AT_C1]);
    expect(w.c2.take()).toEqual([]);
  });

  it('answers TTL 1 with ICMP time exceeded quoting the packet', () => {
    const w = makeWorld();
    w.dp.receive(w.ids.c1, UDP_C1_TO_HOST_TTL1);
    expect(w.c1.take()).toEqual([TIME_EXCEEDED_TO_C1]);
    expect(w.host.take()).toEqual([]);
    expect(w.dp.counters.drops[Drop.TtlExpired]).toBe(1);
  });

  it('refuses traffic between networks with ICMP administratively prohibited', () => {
    const w = makeWorld();
    const toC3 = Buffer.from(UDP_C1_TO_HOST);
    toC3.writeUInt32BE(0xac120002, 30); // 172.18.0.2
    toC3.writeUInt16BE(0, 24);
    toC3.writeUInt16BE(internetChecksum(toC3, 14, 20), 24);
    w.dp.receive(w.ids.c1, toC3);
    expect(w.c3.take()).toEqual([]);
    const [err] = w.c1.take();
    expect(err.subarray(0, 12).toString('hex')).toBe('0242ac110002025000000001');
    expect(err.readUInt32BE(26)).toBe(0xac110001);
    expect([err[34], err[35]]).toEqual([3, 13]);
    expect(w.dp.counters.drops[Drop.NetworkIsolation]).toBe(1);
  });

  it('sends fragmentation needed for a DF packet larger than the egress MTU', () => {
    const w = makeWorld({}, 1280);
    const big = Buffer.alloc(1400);
    HOST_ECHO_TO_C1.copy(big);
    big.writeUInt16BE(1400, 2);
    big.writeUInt16BE(0, 10);
    big.writeUInt16BE(internetChecksum(big, 0, 20), 10);
    w.dp.receive(w.ids.host, big);
    expect(w.c1.take()).toEqual([]);
    const [err] = w.host.take();
    expect([err[20], err[21]]).toEqual([3, 4]);
    expect(err.readUInt16BE(26)).toBe(1280); // next-hop MTU
    expect(w.dp.counters.drops[Drop.FragmentationNeeded]).toBe(1);
  });

  it('fragments a packet without DF to fit the egress MTU', () => {
    const w = makeWorld({}, 1280);
    const big = Buffer.alloc(1400);
    HOST_ECHO_TO_C1.copy(big);
    big.writeUInt16BE(1400, 2);
    big.writeUInt16BE(0, 6); // DF clear
    for (let i = 28; i < 1400; i++) big[i] = i & 0xff;
    big.writeUInt16BE(0, 10);
    big.writeUInt16BE(internetChecksum(big, 0, 20), 10);
    w.dp.receive(w.ids.host, big);
    const frags = w.c1.take();
    expect(frags).toHaveLength(2);
    const [a, b] = frags.map((f) => f.subarray(14));
    expect(a.readUInt16BE(2)).toBe(1276); // 20 + 1256 (a multiple of 8)
    expect(a.readUInt16BE(6)).toBe(0x2000); // MF, offset 0
    expect(b.readUInt16BE(2)).toBe(20 + 1380 - 1256);
    expect(b.readUInt16BE(6)).toBe(1256 / 8);
    expect(internetChecksum(a, 0, 20)).toBe(0);
    expect(internetChecksum(b, 0, 20)).toBe(0);
    expect(Buffer.concat([a.subarray(20), b.subarray(20)])).toEqual(big.subarray(20));
    expect(a[8]).toBe(63);
  });

  it('drops a packet with a bad header checksum', () => {
    const w = makeWorld();
    const bad = Buffer.from(ECHO_REQ_C1_TO_GW);
    bad[24] ^= 0xff;
    w.dp.receive(w.ids.c1, bad);
    expect(w.c1.take()).toEqual([]);
    expect(w.dp.counters.drops[Drop.BadChecksum]).toBe(1);
  });

  it('counts received and sent frames per port', () => {
    const w = makeWorld();
    const before = w.dp.counters.portStats(w.ids.c1); // includes c2's gratuitous ARP
    w.dp.receive(w.ids.c1, ECHO_REQ_C1_TO_GW);
    expect(w.dp.counters.portStats(w.ids.c1)).toEqual({
      rxPackets: before.rxPackets + 1,
      rxBytes: before.rxBytes + ECHO_REQ_C1_TO_GW.length,
      txPackets: before.txPackets + 1,
      txBytes: before.txBytes + ECHO_REPLY_GW_TO_C1.length,
    });
  });
});
