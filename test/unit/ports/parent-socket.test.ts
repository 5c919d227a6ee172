/**
 * The macvlan parent's socket on the real kernel: two ParentSockets on the ends of a veth pair in a
 * network namespace. What one sends tagged arrives on the other with the tag the kernel read off
 * the wire (PACKET_AUXDATA), the frame itself untagged and byte for byte; untagged stays untagged;
 * a TCP super segment with its virtio-net header crosses whole, tagged, its checksum offsets still
 * pointing at the TCP header; a batch leaves in order with one sendmmsg; the host's own frames on
 * the parent are not taken for the LAN's.
 *
 * Needs root (a namespace, veths, AF_PACKET); skipped with one line otherwise (a failure in CI).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect } from 'vitest';
import { cleanupAll, createNetns, run, runOk } from '../../e2e/harness.js';
import { needs, root, tools } from '../../e2e/requirements.js';
import { Gauge } from '../../../src/dataplane/counters.js';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import { ParentSocket } from '../../../src/ports/parent-socket.js';
import { withNetns } from '../../../src/ports/sys/netns.js';
import { openPacketSocket } from '../../../src/ports/sys/packet-socket.js';
import { VNET_CSUM_OFFSET, VNET_CSUM_START, VNET_GSO_SIZE, VNET_GSO_TCPV4, VNET_GSO_TYPE, VNET_HDR_LEN, VNET_HDR_LENGTH, VNET_F_NEEDS_CSUM, readLe16, writeLe16 } from '../../../src/wire/virtio-net.js';

const ETHERTYPE_TEST = 0x88b5; // IEEE local experimental: the namespace's stack ignores it

/** A 60-byte test frame from `src` to a unicast MAC, ethertype 0x88b5, a sequence number in it. */
function testFrame(seq: number): Buffer {
  const f = Buffer.alloc(60, 0xab);
  Buffer.from([0x02, 0x00, 0x00, 0x00, 0x00, 0x0b]).copy(f, 0);
  Buffer.from([0x02, 0x00, 0x00, 0x00, 0x00, 0x0a]).copy(f, 6);
  f.writeUInt16BE(ETHERTYPE_TEST, 12);
  f.writeUInt32BE(seq, 14);
  return f;
}

needs(root, tools('ip')).describe('the macvlan parent socket (AF_PACKET, VLAN tags, virtio-net headers)', () => {
  const NS = `pt-par-${randomBytes(3).toString('hex')}`;
  const NS_PATH = `/var/run/netns/${NS}`;
  const dp = new Dataplane();
  let a: ParentSocket;
  let b: ParentSocket;

  beforeAll(async () => {
    await createNetns(NS);
    await run(['ip', 'netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    await runOk(['ip', '-n', NS, 'link', 'add', 'pa', 'type', 'veth', 'peer', 'name', 'pb']);
    await runOk(['ip', '-n', NS, 'link', 'set', 'pa', 'up']);
    await runOk(['ip', '-n', NS, 'link', 'set', 'pb', 'up']);
    const open = (dev: string, index: number) =>
      new ParentSocket(dp, withNetns(NS_PATH, () => openPacketSocket(dev, { auxdata: true, vnetHdr: true })).fd, dev, index, true);
    a = open('pa', 0);
    b = open('pb', 1);
  });

  afterAll(async () => {
    a?.close();
    b?.close();
    const problems = await cleanupAll();
    expect(problems).toEqual([]);
  });

  /** Frames of the test ethertype `sock` receives within timeoutMs: [vlan, frame, its virtio-net header]. */
  async function receive(sock: ParentSocket, want: number, timeoutMs = 2000): Promise<[number, Buffer, Buffer][]> {
    const out: [number, Buffer, Buffer][] = [];
    const deadline = Date.now() + timeoutMs;
    while (out.length < want && Date.now() < deadline) {
      const n = sock.receive(dp.pool, 64);
      for (let i = 0; i < n; i++) {
        const len = sock.rxLength(i);
        const off = sock.rxOffset(i);
        const frame = Buffer.from(dp.pool.slab.subarray(off, off + len));
        if (len >= 14 && frame.readUInt16BE(12) === ETHERTYPE_TEST || (len >= 14 && frame.readUInt16BE(12) === 0x0800 && frame[23] === 6)) {
          out.push([sock.rxVlan(i), frame, Buffer.from(dp.pool.slab.subarray(off - VNET_HDR_LEN, off))]);
        }
      }
      dp.pool.reset();
      if (n === 0) await new Promise((r) => setTimeout(r, 5));
    }
    return out;
  }

  /** `frame` in a pool slot with a zeroed virtio-net header before it; the offset of the header. */
  function staged(frame: Buffer): number {
    const off = dp.pool.alloc();
    dp.pool.slab.fill(0, off - VNET_HDR_LEN, off);
    frame.copy(dp.pool.slab, off);
    return off - VNET_HDR_LEN;
  }

  needs().it('a frame sent on VLAN 50 arrives with tag 50 in the auxiliary data and the frame itself byte for byte; untagged stays untagged', async () => {
    const f1 = testFrame(1);
    const f2 = testFrame(2);
    a.sendFrame(dp.pool.slab, staged(f1), VNET_HDR_LEN + f1.length, 50, true);
    a.sendFrame(dp.pool.slab, staged(f2), VNET_HDR_LEN + f2.length, 0, true);
    a.flush();
    dp.pool.reset();
    const got = await receive(b, 2);
    expect(got.map(([vlan, f]) => [vlan, f.toString('hex')])).toEqual([
      [50, f1.toString('hex')],
      [-1, f2.toString('hex')],
    ]);
  });

  needs().it('a frame without a virtio-net header (a port without offloads) gets a zeroed one, tagged or not', async () => {
    const f3 = testFrame(3);
    const f4 = testFrame(4);
    const o3 = staged(f3) + VNET_HDR_LEN;
    const o4 = staged(f4) + VNET_HDR_LEN;
    a.sendFrame(dp.pool.slab, o3, f3.length, 4094, false);
    a.sendFrame(dp.pool.slab, o4, f4.length, 0, false);
    a.flush();
    dp.pool.reset();
    const got = await receive(b, 2);
    expect(got.map(([vlan, f]) => [vlan, f.toString('hex')])).toEqual([
      [4094, f3.toString('hex')],
      [-1, f4.toString('hex')],
    ]);
  });

  needs().it('64 tagged frames go in order with one sendmmsg', async () => {
    const calls = dp.counters.gauges[Gauge.ParentSendCalls];
    for (let i = 0; i < 64; i++) {
      const f = testFrame(100 + i);
      a.sendFrame(dp.pool.slab, staged(f), VNET_HDR_LEN + f.length, 7, true);
    }
    a.flush();
    dp.pool.reset();
    expect(dp.counters.gauges[Gauge.ParentSendCalls] - calls).toBe(1);
    const got = await receive(b, 64);
    expect(got.map(([vlan, f]) => `${vlan}:${f.readUInt32BE(14)}`)).toEqual(Array.from({ length: 64 }, (_, i) => `7:${100 + i}`));
  });

  needs().it('a TCP super segment crosses whole on VLAN 50: its GSO size kept, its checksum offsets still at the TCP header of the untagged frame', async () => {
    // Ethernet + IPv4 (20) + TCP (20) + 3 x 1000 bytes, the TCP checksum left partial (as a TAP hands it over)
    const payload = 3000;
    const f = Buffer.alloc(14 + 20 + 20 + payload, 0x5a);
    Buffer.from([0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x08, 0x00]).copy(f, 0);
    const ip = Buffer.from('450000000001400040060000c0a8280ac0a82832', 'hex');
    ip.writeUInt16BE(20 + 20 + payload, 2);
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    ip.writeUInt16BE(~sum & 0xffff, 10);
    ip.copy(f, 14);
    const tcp = Buffer.from('9c40005000000001000000005010ffff00000000', 'hex');
    tcp.copy(f, 34);
    const h = staged(f);
    const s = dp.pool.slab;
    s[h] = VNET_F_NEEDS_CSUM;
    s[h + VNET_GSO_TYPE] = VNET_GSO_TCPV4;
    writeLe16(s, h + VNET_HDR_LENGTH, 54);
    writeLe16(s, h + VNET_GSO_SIZE, 1000);
    writeLe16(s, h + VNET_CSUM_START, 34);
    writeLe16(s, h + VNET_CSUM_OFFSET, 16);
    a.sendFrame(s, h, VNET_HDR_LEN + f.length, 50, true);
    a.flush();
    dp.pool.reset();
    const got = await receive(b, 1);
    expect(got).toHaveLength(1);
    const [vlan, frame, vnet] = got[0]!;
    expect([vlan, frame.length, vnet[VNET_GSO_TYPE] & 0x7f, readLe16(vnet, VNET_GSO_SIZE), readLe16(vnet, VNET_CSUM_START), readLe16(vnet, VNET_CSUM_OFFSET)]).toEqual([
      50,
      f.length,
      VNET_GSO_TCPV4,
      1000,
      34,
      16,
    ]);
    // everything but the TCP checksum field (the kernel may have put the pseudo-header sum there) as sent
    expect(Buffer.concat([frame.subarray(0, 50), frame.subarray(52)]).toString('hex')).toBe(Buffer.concat([f.subarray(0, 50), f.subarray(52)]).toString('hex'));
  });
});
