// ICMP echo through the masquerade allocates nothing per packet: addresses above 2^31 (172.17/16,
// 198.51.100/24, 203.0.113/24) are read as int32 (Ipv4Packet.srcI32/dstI32), never returned as a
// boxed uint32 by a getter V8 does not inline (12 bytes per packet before).
import { expect, it } from 'vitest';
import { heapGrowth } from '../ports/heap.js';
import { hex, makeNatWorld } from './fixture.js';

// scapy: Ether(dst='02:50:00:00:00:01', src='02:42:ac:11:00:02')/IP(src='172.17.0.2', dst='203.0.113.10')/ICMP(id=77, seq=1)/(b'x'*56)
const ECHO_OUT = hex('0250000000010242ac110002080045000054000100004001928aac110002cb00710a0800ca84004d00017878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878');
// scapy: Ether(dst='02:50:00:00:00:ff', src='02:00:5e:00:00:01')/IP(src='203.0.113.10', dst='198.51.100.2')/ICMP(type=0, id=77, seq=1)/(b'x'*56)
const ECHO_BACK = hex('0250000000ff02005e0000010800450000540001000040011468cb00710ac63364020000d284004d00017878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878');

it('an echo request out through the masquerade and its reply back allocate nothing', () => {
  const w = makeNatWorld();
  for (const p of w.all) p.keep = false;
  const dp = w.dp;
  const feed = (port: number, f: Buffer): void => {
    const off = dp.pool.alloc();
    f.copy(dp.pool.slab, off);
    dp.input(port, dp.pool.slab, off, f.length);
  };
  const body = (): void => {
    feed(w.ids.c1, ECHO_OUT);
    feed(w.ids.uplink, ECHO_BACK);
    dp.endBatch();
  };
  const runs = [heapGrowth(body, 50_000), heapGrowth(body, 50_000), heapGrowth(body, 50_000)];
  expect(runs).not.toContain(null);
  expect(w.uplink.count).toBeGreaterThanOrEqual(150_000);
  expect(w.c1.count).toBeGreaterThanOrEqual(150_000);
  // 50k rounds of 2 packets: one 12-byte heap number per packet would be 1.2 MB
  expect(Math.min(...(runs as number[]))).toBeLessThan(256 * 1024);
});
