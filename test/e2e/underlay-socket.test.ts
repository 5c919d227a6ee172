/**
 * The VXLAN underlay socket against the kernel: two namespaces joined by a veth, a VxlanSocket in
 * each. A train of equal datagrams leaves in one system call (UDP_SEGMENT) and arrives as one
 * message (UDP_GRO) that splits back into the same datagrams; without checksum offload on the
 * device the kernel refuses GSO and the socket falls back to single datagrams, losing none; a
 * receive buffer that overflows is counted (SO_RXQ_OVFL), not silent. Needs root.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Drop, Gauge } from '../../src/dataplane/counters.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { withNetns } from '../../src/ports/sys/netns.js';
import { setInt } from '../../src/ports/sys/udp-socket.js';
import { VxlanSocket } from '../../src/ports/vxlan-socket.js';
import { parseIpv4 } from '../../src/wire/ipv4-address.js';
import { parseIpv6 } from '../../src/wire/ipv6-address.js';
import { cleanupAll, createNetns, randomHex, runOk, sleep } from './harness.js';
import { needs, root, tools } from './requirements.js';

const PORT = 4789;
const A = '192.0.2.1';
const B = '192.0.2.2';
/** the same link's IPv6 underlay addresses (a ULA), for the udp6 socket */
const A6 = 'fd00:4c6f::1';
const B6 = 'fd00:4c6f::2';
const SO_NO_CHECK = 11;

/** A data plane that knows the other side as the VTEP of one overlay network (index 0 of its VTEPs). */
function dataplane(peer: string): Dataplane {
  const dp = new Dataplane({ poolSlots: 64 });
  const six = peer.includes(':');
  dp.control.addNetwork({ index: 0, name: 'ov', subnet: parseIpv4('10.20.0.0'), prefixLen: 24, gatewayIp: parseIpv4('10.20.0.1'), gatewayMac: 0x025000001001, mtu: 1450, internal: false, vni: 42 });
  expect(dp.control.addPeer(0, six ? parseIpv6(peer) : parseIpv4(peer))).toBe(0);
  return dp;
}

/** Datagram i of a train: `size` bytes, each byte telling its datagram and position. */
function fill(slab: Buffer, off: number, i: number, size: number): void {
  for (let k = 0; k < size; k++) slab[off + k] = (i * 31 + k) & 0xff;
}

/** Everything B's socket has, split into datagrams (a coalesced message by its segment size). */
async function receiveAll(dp: Dataplane, sock: VxlanSocket, expected: number): Promise<{ datagrams: Buffer[]; messages: number; segments: number[] }> {
  const datagrams: Buffer[] = [];
  const segments: number[] = [];
  let messages = 0;
  const deadline = Date.now() + 5000;
  while (datagrams.length < expected && Date.now() < deadline) {
    const n = sock.receive(dp.pool, 64);
    for (let i = 0; i < n; i++) {
      messages++;
      const off = sock.rxOffset(i);
      const len = sock.rxLength(i);
      const seg = sock.rxSegment(i);
      segments.push(seg);
      expect(sock.rxVtep(i)).toBe(0); // A, the one VTEP B's data plane knows
      const step = seg > 0 ? seg : len;
      for (let p = 0; p < len; p += step) datagrams.push(Buffer.from(dp.pool.slab.subarray(off + p, off + Math.min(len, p + step))));
    }
    dp.endBatch();
    if (n === 0) await sleep(10);
  }
  return { datagrams, messages, segments };
}

needs(root, tools('ip')).describe('the VXLAN underlay socket (UDP GSO, GRO, overflow counting)', () => {
  let nsA = '';
  let nsB = '';

  beforeAll(async () => {
    const hex = randomHex(3);
    nsA = await createNetns(`ptu-${hex}-a`);
    nsB = await createNetns(`ptu-${hex}-b`);
    await runOk(['ip', 'link', 'add', 'ul0', 'netns', nsA, 'type', 'veth', 'peer', 'name', 'ul0', 'netns', nsB]);
    await runOk(['ip', '-n', nsA, 'addr', 'add', `${A}/24`, 'dev', 'ul0']);
    await runOk(['ip', '-n', nsB, 'addr', 'add', `${B}/24`, 'dev', 'ul0']);
    await runOk(['ip', '-n', nsA, 'addr', 'add', `${A6}/64`, 'dev', 'ul0', 'nodad']);
    await runOk(['ip', '-n', nsB, 'addr', 'add', `${B6}/64`, 'dev', 'ul0', 'nodad']);
    await runOk(['ip', '-n', nsA, 'link', 'set', 'ul0', 'up']);
    await runOk(['ip', '-n', nsB, 'link', 'set', 'ul0', 'up']);
  }, 30_000);

  afterAll(async () => {
    expect(await cleanupAll()).toEqual([]);
  }, 30_000);

  const open = (ns: string, dp: Dataplane, ip: string, o = {}) =>
    withNetns(`/run/netns/${ns}`, () => new VxlanSocket(dp, ip.includes(':') ? parseIpv6(ip) : parseIpv4(ip), PORT, o));

  it('a train of 20 equal datagrams and a short one leaves in one system call and arrives as one coalesced message of the same datagrams', async () => {
    const dpA = dataplane(B);
    const dpB = dataplane(A);
    const tx = open(nsA, dpA, A);
    const rx = open(nsB, dpB, B);
    try {
      expect(rx.socket.gro).toBe(true);
      const slab = dpA.pool.slab;
      const base = dpA.pool.alloc();
      const sizes = [...Array<number>(20).fill(1000), 300];
      let off = base;
      sizes.forEach((size, i) => {
        fill(slab, off, i, size);
        tx.sendTo(slab, off, size, 0);
        off += size;
      });
      tx.flush();
      expect(dpA.counters.gauges[Gauge.UnderlaySendCalls]).toBe(1);
      expect(dpA.counters.gauges[Gauge.UnderlayDatagrams]).toBe(21);
      expect(tx.gso).toBe(true);
      const got = await receiveAll(dpB, rx, 21);
      expect(got.datagrams.map((d) => d.length)).toEqual(sizes);
      got.datagrams.forEach((d, i) => {
        const want = Buffer.alloc(sizes[i]!);
        fill(want, 0, i, sizes[i]!);
        expect(d).toEqual(want);
      });
      expect(got.messages).toBe(1);
      expect(got.segments).toEqual([1000]);
    } finally {
      tx.socket.close();
      rx.socket.close();
    }
  });

  it('over IPv6 (a udp6 socket): the same train leaves in one system call and arrives as one coalesced message, its source found as the IPv6 VTEP', async () => {
    const dpA = dataplane(B6);
    const dpB = dataplane(A6);
    // the setTunnel the worker makes: the family of the socket is the underlay's
    const tx = open(nsA, dpA, A6);
    const rx = open(nsB, dpB, B6);
    dpB.control.setTunnel('vxlan', rx, 1500, rx.ipv6);
    try {
      expect(tx.ipv6).toBe(true);
      expect(rx.socket.gro).toBe(true);
      const slab = dpA.pool.slab;
      let off = dpA.pool.alloc();
      const sizes = [...Array<number>(20).fill(1000), 300];
      sizes.forEach((size, i) => {
        fill(slab, off, i, size);
        tx.sendTo(slab, off, size, 0);
        off += size;
      });
      tx.flush();
      expect(dpA.counters.gauges[Gauge.UnderlaySendCalls]).toBe(1);
      expect(dpA.counters.gauges[Gauge.UnderlayDatagrams]).toBe(21);
      expect(dpA.counters.drops[Drop.TxError]).toBe(0);
      expect(tx.gso).toBe(true);
      const got = await receiveAll(dpB, rx, 21); // each message's source: VTEP 0, A6
      expect(got.datagrams.map((d) => d.length)).toEqual(sizes);
      got.datagrams.forEach((d, i) => {
        const want = Buffer.alloc(sizes[i]!);
        fill(want, 0, i, sizes[i]!);
        expect(d).toEqual(want);
      });
      expect(got.messages).toBe(1);
      expect(got.segments).toEqual([1000]);
      // the IPv4 socket's VTEP is refused on this IPv6 underlay
      expect(() => dpB.control.addPeer(0, parseIpv4(A))).toThrow('VTEP 192.0.2.1 is IPv4 but the underlay is IPv6');
    } finally {
      tx.socket.close();
      rx.socket.close();
    }
  });

  it('an IPv6 datagram from an address that is no VTEP has no VTEP index', async () => {
    const dpA = dataplane(B6);
    const dpB = dataplane('fd00:4c6f::99'); // B knows another VTEP, not A6
    const tx = open(nsA, dpA, A6);
    const rx = open(nsB, dpB, B6);
    try {
      const off = dpA.pool.alloc();
      fill(dpA.pool.slab, off, 0, 100);
      tx.sendTo(dpA.pool.slab, off, 100, 0);
      tx.flush();
      let n = 0;
      const deadline = Date.now() + 5000;
      while (n === 0 && Date.now() < deadline) {
        n = rx.receive(dpB.pool, 64);
        if (n === 0) await sleep(10);
      }
      expect(n).toBe(1);
      expect(rx.rxLength(0)).toBe(100);
      expect(rx.rxVtep(0)).toBe(-1);
      dpB.endBatch();
    } finally {
      tx.socket.close();
      rx.socket.close();
    }
  });

  it('when the kernel refuses UDP_SEGMENT the socket says so and sends every datagram on its own', async () => {
    const dpA = dataplane(B);
    const dpB = dataplane(A);
    const tx = open(nsA, dpA, A);
    const rx = open(nsB, dpB, B);
    // GSO cannot honour SO_NO_CHECK (EINVAL); kernels before 6.5 also refuse it (EIO) on devices without checksum offload
    expect(setInt(tx.socket.fd, 1, SO_NO_CHECK, 1)).toBe(true);
    try {
      const slab = dpA.pool.slab;
      let off = dpA.pool.alloc();
      for (let i = 0; i < 10; i++, off += 800) {
        fill(slab, off, i, 800);
        tx.sendTo(slab, off, 800, 0);
      }
      tx.flush();
      expect(tx.gso).toBe(false);
      expect(tx.gsoRefused).toMatch(/UDP_SEGMENT refused/);
      expect(dpA.counters.drops[Drop.TxError]).toBe(0);
      const got = await receiveAll(dpB, rx, 10);
      expect(got.datagrams).toHaveLength(10);
      got.datagrams.forEach((d, i) => {
        const want = Buffer.alloc(800);
        fill(want, 0, i, 800);
        expect(d).toEqual(want);
      });
    } finally {
      tx.socket.close();
      rx.socket.close();
    }
  });

  it('datagrams a full receive buffer drops are counted as underlay_overflow', async () => {
    const dpA = dataplane(B);
    const dpB = dataplane(A);
    const tx = open(nsA, dpA, A, { gso: false });
    // the smallest buffer the kernel grants (it rounds up to about 4.5 KiB): a few datagrams fit
    const rx = open(nsB, dpB, B, { receiveBuffer: 1, gro: false });
    try {
      const slab = dpA.pool.slab;
      const off = dpA.pool.alloc();
      fill(slab, off, 0, 1200);
      for (let i = 0; i < 200; i++) tx.sendTo(slab, off, 1200, 0);
      tx.flush();
      expect(dpA.counters.gauges[Gauge.UnderlayDatagrams]).toBe(200);
      await sleep(100);
      let received = 0;
      for (let k = 0; k < 50; k++) {
        const n = rx.receive(dpB.pool, 64);
        received += n;
        dpB.endBatch();
        if (n === 0) break;
      }
      // one more datagram brings the latest count, if the last read did not
      tx.sendTo(slab, off, 1200, 0);
      tx.flush();
      await sleep(50);
      received += rx.receive(dpB.pool, 64);
      dpB.endBatch();
      const dropped = dpB.counters.drops[Drop.UnderlayOverflow];
      expect(received).toBeLessThan(201);
      expect(dropped).toBeGreaterThan(0);
      expect(received + dropped).toBe(201);
    } finally {
      tx.socket.close();
      rx.socket.close();
    }
  });
});
