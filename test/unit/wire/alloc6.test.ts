/** The IPv6 fast path allocates nothing: views, the walk, checksums, NDP checks and emitters run 50k times without the heap growing. */
import { expect, it } from 'vitest';
import { heapGrowth } from '../ports/heap.js';
import { WireError } from '../../../src/wire/error.js';
import { ICMPV6_TIME_EXCEEDED, type Icmpv6ErrorSpec, Icmpv6Packet, emitIcmpv6Error, icmpv6ErrorAllowed } from '../../../src/wire/icmpv6.js';
import { Ipv6ExtensionWalk, Ipv6Packet } from '../../../src/wire/ipv6.js';
import { NdpInvalid, NdpMessage, type NeighbourAdvertisementSpec, checkNdp, emitNeighbourAdvertisement } from '../../../src/wire/ndp.js';
import { MAC_HOST, MAC_ROUTER, NDP_NS_FRAME, TTL1_REQUEST6_FRAME, EXT_CHAIN_FRAME, V6_HOST, V6_ROUTER } from './frames6.js';

it('allocates nothing per packet', () => {
  const ip = new Ipv6Packet();
  const walk = new Ipv6ExtensionWalk();
  const icmp = new Icmpv6Packet();
  const ndp = new NdpMessage();
  const pool = Buffer.alloc(4096);
  const na: NeighbourAdvertisementSpec = { srcMac: MAC_ROUTER, dstMac: MAC_HOST, src: V6_ROUTER, dst: V6_HOST, target: V6_ROUTER, router: true, solicited: true, override: true, targetMac: MAC_ROUTER };
  const err: Icmpv6ErrorSpec = { type: ICMPV6_TIME_EXCEEDED, code: 0, param: 0, src: V6_ROUTER, hopLimit: 64 };
  const frames = [EXT_CHAIN_FRAME, TTL1_REQUEST6_FRAME];
  // an int32 sum of int32 reads: a double kept in a closure slot, or a uint32 word returned by a call
  // that is not inlined (srcWord above 2^31), would be boxed (allocated)
  let acc = 0;
  const body = (): void => {
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      if (ip.wrap(f, 14, f.length - 14) !== WireError.Ok) throw new Error('wrap');
      ip.walkExtensions(walk);
      icmp.wrap(f, walk.offset, walk.length);
      acc = (acc + (icmp.verifyChecksum(ip.addressSum()) ? ip.srcWordI32(3) + ip.dstWordI32(0) + walk.fragment + ip.flowLabel : 0)) | 0;
      if (ip.dstEquals(V6_ROUTER) && icmpv6ErrorAllowed(ip, walk, ICMPV6_TIME_EXCEEDED, 0)) acc = (acc + emitIcmpv6Error(pool, 14, err, f, 14, f.length - 14)) | 0;
    }
    ip.wrap(NDP_NS_FRAME, 14, NDP_NS_FRAME.length - 14);
    ip.walkExtensions(walk);
    if (checkNdp(ip, ndp, walk.offset, walk.length) !== NdpInvalid.Ok) throw new Error('ndp');
    if (ndp.targetEquals(V6_ROUTER)) acc = (acc + emitNeighbourAdvertisement(pool, 2000, na) + (ndp.options.sourceMac > 0 ? 1 : 0)) | 0;
  };
  // the least of three runs: the first can include the optimising compiler's own work
  const runs = [heapGrowth(body, 50_000), heapGrowth(body, 50_000), heapGrowth(body, 50_000)];
  expect(runs).not.toContain(null);
  const grown = Math.min(...(runs as number[]));
  expect(acc).not.toBe(0);
  // 50k iterations of 3 packets: one 16-byte object per packet would be 2.4 MB
  expect(grown!).toBeLessThan(256 * 1024);
});
