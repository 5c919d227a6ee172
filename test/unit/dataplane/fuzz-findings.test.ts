// Frames the fuzzer (test/fuzz, `npm run fuzz`) found the data plane mishandling, as it found them
// (literal bytes of the reproducers), with what the pipeline does with them now.
import { describe, expect, it } from 'vitest';
import { inputRead } from '../../../src/ports/device-loop.js';
import { internetChecksum } from '../../../src/wire/checksum.js';
import { fromUnderlay, hex } from './fixture.js';
import { makeFuzzWorld, type FuzzWorld } from '../../fuzz/world.js';
import { runPipeline } from '../../fuzz/pipeline-harness.js';

/** A frame read from the port that takes offloads (cv), virtio-net header first, as the device loop hands it over. */
function fromCv(w: FuzzWorld, bytes: Buffer): void {
  const dp = w.dp;
  const off = dp.pool.alloc();
  bytes.copy(dp.pool.slab, off);
  inputRead(dp, w.ids.cv, dp.pool.slab, off, bytes.length);
  dp.endBatch();
}

function sent(w: FuzzWorld): Record<string, Buffer[]> {
  const out: Record<string, Buffer[]> = {};
  for (const [name, p] of Object.entries(w.ports)) {
    const frames = p.take();
    if (frames.length > 0) out[name] = frames;
  }
  const u = w.tunnel.sent.splice(0);
  if (u.length > 0) out.underlay = u.map((s) => s.bytes);
  return out;
}

function drops(w: FuzzWorld): Record<string, number> {
  return Object.fromEntries(Object.entries(w.dp.counters.dropsByReason()).filter(([, n]) => n !== 0));
}

describe('offload metadata from a virtio-net header is checked before it is trusted', () => {
  // A SYN from cv with NEEDS_CSUM, csum_start 5, csum_offset 0: finishing the "checksum" for a port
  // without offloads wrote it over the Ethernet header, and the frame left with a group source MAC
  // (the anti-spoofing check had passed before). Found as "frame sent with a group source MAC".
  const CSUM_IN_MAC_HEADER = hex(
    'fffe6433c600050000000250000008010242ac11000408004500003c100040004006429cac110004cb00710a9c400050000003e800000000a002faf0c475000002040521b40402080a0000000100000040004006429c0100000000000029ac00002a025000000001c3024200000011000000ac00020806000107fa06042d21010242ac110002ac11000202ac500000110001030307',
  );
  // The same with csum_start 32: written into the IPv4 header ("IPv4 header checksum wrong").
  const CSUM_IN_IP_HEADER = hex(
    'fffe6433c600200000000250000008010242ac11000408004500003c100040004006429cac110004cb00710a9c400050000003e800000000a002faf0c475000002040521b40402080a0000000100000040004006429c0100000000000029ac00002a025000000001c30242ac1100020806000107fa06042d21010242ac110002ac11000202ac500000110001030307',
  );

  it('a partial checksum that is not the TCP or UDP checksum of the packet: malformed, nothing sent', () => {
    for (const frame of [CSUM_IN_MAC_HEADER, CSUM_IN_IP_HEADER]) {
      const w = makeFuzzWorld();
      fromCv(w, frame);
      expect(sent(w)).toEqual({});
      expect(drops(w)).toEqual({ malformed: 1 });
    }
  });

  it('the same frame with a well-formed partial checksum is switched, its checksum completed', () => {
    const w = makeFuzzWorld();
    const good = Buffer.from(CSUM_IN_MAC_HEADER);
    good.fill(0, 0, 10);
    good[0] = 1; // NEEDS_CSUM
    good.writeUInt16LE(34, 6); // csum_start: the TCP header
    good.writeUInt16LE(16, 8); // csum_offset: the TCP checksum
    fromCv(w, good);
    const out = sent(w);
    // flooded (unknown unicast 02:50:00:00:08:01) to the bridge's other ports; c1 takes no offloads
    expect(Object.keys(out).sort()).toEqual(['c1', 'c2']);
    const f = out.c1![0]!;
    expect(f.subarray(0, 12)).toEqual(good.subarray(10, 22)); // both MACs as they came
    expect(internetChecksum(f, 14, 20)).toBe(0);
  });

  // A TCP super segment from cv with gso_size 2984 on a 1500-byte bridge, switched to ports without
  // offloads: cut into 2984-byte segments, 3054-byte frames left c1 and c2.
  const SEG_A = hex('000000000000000000000250000000010242ac11000408004500003c100040004006429cac110004cb00710a9c410050000003e800000000a002faf0c4740000020405b40402080a000000010000000001030307');
  it('a super segment whose segments exceed the ingress MTU is oversize', () => {
    const w = makeFuzzWorld();
    fromCv(w, SEG_A);
    sent(w);
    const big = Buffer.alloc(10 + 14 + 40 + 3000);
    big[0] = 1;
    big[1] = 1; // GSO TCPv4
    big.writeUInt16LE(54, 2);
    big.writeUInt16LE(2984, 4);
    big.writeUInt16LE(34, 6);
    big.writeUInt16LE(16, 8);
    hex('0200005000010242ac110004080045000be010004000400636f8ac110004cb00710a9c417e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b4249500050000003e9000000005018faf03594').copy(big, 10);
    big.writeUInt16BE(40 + 3000, 10 + 16);
    const before = drops(w);
    fromCv(w, big);
    expect(sent(w)).toEqual({});
    expect(drops(w)).toEqual({ ...before, oversize: (before.oversize ?? 0) + 1 });
  });
});

describe('the overlay switches what a bridge port switches', () => {
  // An echo request 10.20.0.3 -> 10.20.0.2 from the remote endpoint's VTEP with ethertype 0x0828:
  // it was switched to the local endpoint, while a local port drops anything but IPv4 and ARP.
  const ODD_ETHERTYPE = hex('0800000000102a0002420a14000202420a14000308284500003c00004000400126950a1400030a14000208004d5a000100016162636465666768696a6b6c6d6e6f7071727374757677616263646566676869');
  const REMOTE_VTEP = 0xc0000203; // 192.0.2.3

  it('another ethertype is unsupported, and an IPv4 header that does not check is dropped', () => {
    const w = makeFuzzWorld();
    fromUnderlay(w.dp, ODD_ETHERTYPE, REMOTE_VTEP);
    expect(sent(w)).toEqual({});
    expect(drops(w)).toEqual({ unsupported_ethertype: 1 });
    const badSum = Buffer.from(ODD_ETHERTYPE);
    badSum.writeUInt16BE(0x0800, 20);
    badSum[8 + 14 + 10] ^= 0xff; // header checksum
    fromUnderlay(w.dp, badSum, REMOTE_VTEP);
    expect(sent(w)).toEqual({});
    expect(drops(w)).toEqual({ unsupported_ethertype: 1, bad_checksum: 1 });
  });

  it('an inner frame larger than the overlay MTU is oversize, not switched', () => {
    // found: a 1791-byte datagram from the remote endpoint's VTEP, an ARP request with 1737 bytes
    // trailing it (the reproducer's first bytes; the rest of the trailer does not matter), left
    // the local endpoint's port as a 1783-byte frame on a network of MTU 1450
    const head = hex('0800000000102a00ffffffff00140aff42ff02260806000108000604000102420a1400030a140003000000000027000852000000');
    const datagram = Buffer.concat([head, Buffer.alloc(1791 - head.length, 0x5a)]);
    const w = makeFuzzWorld();
    fromUnderlay(w.dp, datagram, REMOTE_VTEP);
    expect(sent(w)).toEqual({});
    expect(drops(w)).toEqual({ oversize: 1 });
    // the same ARP request within the MTU is switched (flooded to the local endpoint)
    fromUnderlay(w.dp, datagram.subarray(0, 8 + 14 + 1450), REMOTE_VTEP);
    expect(Object.keys(sent(w))).toEqual(['ov']);
  });

  it('the same echo request as IPv4 reaches the local endpoint unchanged', () => {
    const w = makeFuzzWorld();
    const ping = Buffer.from(ODD_ETHERTYPE);
    ping.writeUInt16BE(0x0800, 20);
    fromUnderlay(w.dp, ping, REMOTE_VTEP);
    expect(sent(w)).toEqual({ ov: [ping.subarray(8)] });
  });
});

describe('an echo reply of the gateway is the message alone', () => {
  // An echo request to the gateway (fd00:11::1) behind a destination options header of skippable
  // options: the reply in place kept the header, reflecting options meant for the gateway back to
  // the sender. Found as "the gateway sent IPv6 next header 60".
  it('drops the request\'s extension headers from the reply', () => {
    const w = makeFuzzWorld();
    const rq = hex('0250000000010242ac11000286dd6000000000103c40fd000011000000000000000000000002fd0000110000000000000000000000013a000004000000008000859600000000');
    w.dp.receive(w.ids.c1, rq);
    // fd00:11::1 -> fd00:11::2, echo reply id 0 seq 0, no extension header, hop limit 64
    expect(sent(w)).toEqual({ c1: [hex('0242ac11000202500000000186dd6000000000083a40fd000011000000000000000000000001fd0000110000000000000000000000028100849600000000')] });
  });
});

describe("the uplink's link-local address is the gateway's own", () => {
  // From a host on the uplink's link (fe80::24:1:fe80:0, MAC 02:00:5e:14:00:03), hop limit 1: a
  // hop-by-hop header whose next header is a hop-by-hop header again (RFC 8200 4.3: only right
  // after the IPv6 header). The gateway's parameter problem (code 1, pointer 40) comes from the
  // uplink's EUI-64 link-local address, which the harness did not count as the gateway's. Found as
  // "IPv6 packet routed with hop limit 64".
  const HBH_TWICE = hex(
    '0250000000ff02005e14000386dd6000000000240001fe8000000000000000240001fe8000000000000000420afffe140003ff0200000000000000000000000000163a000502000001008f002122232425262728292a2b2c2d2e2f30313233343536',
  );

  it('a hop-by-hop header not first: parameter problem from fe80::50:ff:fe00:ff to the sender, nothing forwarded', () => {
    const w = makeFuzzWorld();
    w.dp.receive(w.ids.uplink, HBH_TWICE);
    const out = sent(w);
    expect(Object.keys(out)).toEqual(['uplink']);
    const [err] = out.uplink!;
    // Ether(dst=the sender, src=the uplink)/IPv6(src='fe80::50:ff:fe00:ff', dst='fe80::24:1:fe80:0', hlim=64)/ICMPv6ParamProblem(code=1, ptr=40)/the whole packet (it fits in 1280 bytes)
    expect(err!.subarray(0, 62)).toEqual(hex('02005e1400030250000000ff86dd6000000000543a40fe80000000000000005000fffe0000fffe8000000000000000240001fe8000000401b87700000028'));
    expect(err!.subarray(62)).toEqual(HBH_TWICE.subarray(14, 14 + 40 + 36));
  });
});

describe('the fuzz harness on the reproducers', () => {
  it('finds nothing wrong with them any more', () => {
    for (const rec of [
      '0600' + '95' + 'fffe6433c600050000000250000008010242ac11000408004500003c100040004006429cac110004cb00710a9c400050000003e800000000a002faf0c475000002040521b40402080a0000000100000040004006429c0100000000000029ac00002a025000000001c3024200000011000000ac00020806000107fa06042d21010242ac110002ac11000202ac500000110001030307',
      '2700520800000000102a0002420a14000202420a14000308284500003c00004000400126950a1400030a14000208004d5a000100016162636465666768696a6b6c6d6e6f7071727374757677616263646566676869',
      '0000460250000000010242ac11000286dd6000000000103c40fd000011000000000000000000000002fd0000110000000000000000000000013a000004000000008000859600000000',
      '0600620250000000ff02005e14000386dd6000000000240001fe8000000000000000240001fe8000000000000000420afffe140003ff0200000000000000000000000000163a000502000001008f002122232425262728292a2b2c2d2e2f3031323334353637',
    ]) {
      expect(() => runPipeline(hex(rec))).not.toThrow();
    }
  });
});
