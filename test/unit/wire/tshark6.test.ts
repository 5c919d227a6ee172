/**
 * What the IPv6 emitters write, decoded by tshark with checksum validation on: every frame must
 * come out as the protocol it is meant to be, with a good checksum, and nothing malformed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { needs, tools } from '../../e2e/requirements.js';
import { ipv6AddressSumWords } from '../../../src/wire/checksum.js';
import { ETHERTYPE_IPV6, EthernetRepr } from '../../../src/wire/ethernet.js';
import { ICMPV6_PACKET_TOO_BIG, ICMPV6_PARAM_PROBLEM, ICMPV6_TIME_EXCEEDED, Icmpv6Repr, emitIcmpv6Error } from '../../../src/wire/icmpv6.js';
import { IPV6_ALL_NODES, multicastMacIpv6 } from '../../../src/wire/ipv6-address.js';
import { IPV6_NH_ICMPV6, IPV6_NH_TCP, IPV6_NH_UDP, Ipv6Repr } from '../../../src/wire/ipv6.js';
import { emitNeighbourAdvertisement, emitNeighbourSolicitation, emitRouterAdvertisement } from '../../../src/wire/ndp.js';
import { TcpRepr } from '../../../src/wire/tcp.js';
import { UdpRepr } from '../../../src/wire/udp.js';
import { BIG_REQUEST6_FRAME, MAC_HOST, MAC_ROUTER, RH0_FRAME, TTL1_REQUEST6_FRAME, V6_HOST, V6_ROUTER, V6_ROUTER_LL } from './frames6.js';

/** A classic pcap file (LINKTYPE_ETHERNET) of the frames. */
function pcap(frames: Buffer[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20);
  const parts: Buffer[] = [head];
  frames.forEach((f, i) => {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1_700_000_000 + i, 0);
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    parts.push(rec, f);
  });
  return Buffer.concat(parts);
}

/** Ethernet + IPv6 header + an upper layer written by `body` at offset 54; returns the frame. */
function frame6(nh: number, len: number, body: (b: Buffer, sum: number) => void, src = V6_HOST, dst = V6_ROUTER): Buffer {
  const b = Buffer.alloc(54 + len);
  EthernetRepr.emit({ dst: MAC_ROUTER, src: MAC_HOST, etherType: ETHERTYPE_IPV6 }, b, 0);
  Ipv6Repr.emit({ src, dst, nextHeader: nh, hopLimit: 64, payloadLength: len }, b, 14);
  body(b, ipv6AddressSumWords(src, dst));
  return b;
}

function emitted(): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  const slot = (n: number, write: (b: Buffer) => number): Buffer => {
    const b = Buffer.alloc(n);
    return b.subarray(0, write(b));
  };
  out.push(['ICMPv6 Neighbor Advertisement', slot(100, (b) => emitNeighbourAdvertisement(b, 0, { srcMac: MAC_ROUTER, dstMac: MAC_HOST, src: V6_ROUTER, dst: V6_HOST, target: V6_ROUTER, router: true, solicited: true, override: true, targetMac: MAC_ROUTER }))]);
  out.push(['ICMPv6 Neighbor Solicitation', slot(100, (b) => emitNeighbourSolicitation(b, 0, { srcMac: MAC_ROUTER, src: V6_ROUTER, target: V6_HOST }))]);
  out.push(['ICMPv6 Router Advertisement', slot(200, (b) => emitRouterAdvertisement(b, 0, {
    srcMac: MAC_ROUTER, dstMac: multicastMacIpv6(IPV6_ALL_NODES), src: V6_ROUTER_LL, dst: IPV6_ALL_NODES, curHopLimit: 64, managed: false, otherConfig: false,
    routerLifetime: 1800, reachableTime: 0, retransTimer: 0, mtu: 1500, prefix: [0xfd000020, 0, 0, 0], prefixLength: 64, validLifetime: 86400, preferredLifetime: 14400,
  }))]);
  const error = (type: number, code: number, param: number, bad: Buffer): Buffer =>
    slot(1400, (b) => {
      EthernetRepr.emit({ dst: MAC_HOST, src: MAC_ROUTER, etherType: ETHERTYPE_IPV6 }, b, 0);
      return 14 + emitIcmpv6Error(b, 14, { type, code, param, src: V6_ROUTER }, bad, 14, bad.length - 14);
    });
  out.push(['ICMPv6 Time Exceeded', error(ICMPV6_TIME_EXCEEDED, 0, 0, TTL1_REQUEST6_FRAME)]);
  out.push(['ICMPv6 Packet Too Big', error(ICMPV6_PACKET_TOO_BIG, 0, 1280, BIG_REQUEST6_FRAME)]);
  out.push(['ICMPv6 Parameter Problem', error(ICMPV6_PARAM_PROBLEM, 0, 42, RH0_FRAME)]);
  const echo = { kind: 'echoReply' as const, ident: 0x1234, seq: 7, data: Buffer.from('pontoon') };
  out.push(['ICMPv6 Echo (ping) reply', frame6(IPV6_NH_ICMPV6, Icmpv6Repr.bufferLen(echo), (b) => Icmpv6Repr.emit(echo, b, 54, V6_HOST, V6_ROUTER))]);
  const udp = { srcPort: 40000, dstPort: 7, payload: Buffer.from('pontoon over ipv6') };
  // to the echo port: a free port would be claimed by some heuristic dissector and called malformed
  out.push(['UDP', frame6(IPV6_NH_UDP, UdpRepr.bufferLen(udp), (b, s) => UdpRepr.emitWith(udp, b, 54, s))]);
  const syn = { srcPort: 40001, dstPort: 8080, seq: 1, ack: 0, flags: 0x02, window: 64800, mss: 1440, sackPermitted: true, windowScale: 7, payload: Buffer.alloc(0) };
  out.push(['TCP', frame6(IPV6_NH_TCP, TcpRepr.bufferLen(syn), (b, s) => TcpRepr.emitWith(syn, b, 54, s))]);
  return out;
}

needs(tools('tshark')).it('tshark decodes every emitted IPv6 frame with good checksums, nothing malformed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pontoon-v6wire-'));
  try {
    const frames = emitted();
    const file = join(dir, 'emitted.pcap');
    writeFileSync(file, pcap(frames.map(([, f]) => f)));
    const r = spawnSync(
      'tshark',
      ['-n', '-r', file, '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|',
        '-e', '_ws.col.Protocol', '-e', '_ws.col.Info', '-e', 'icmpv6.checksum.status', '-e', 'udp.checksum.status', '-e', 'tcp.checksum.status', '-e', '_ws.expert.severity', '-e', '_ws.malformed'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('|'));
    expect(rows).toHaveLength(frames.length);
    rows.forEach(([proto, info, icmpSum, udpSum, tcpSum, , malformed], i) => {
      const [what] = frames[i]!;
      const line = `${frames[i]![0]}: ${rows[i]!.join(' | ')}`;
      if (what.startsWith('ICMPv6')) expect(`${proto} ${info}`, line).toContain(what.slice(7));
      else expect(proto, line).toBe(what === 'UDP' ? 'ECHO' : 'TCP');
      expect(info, line).not.toMatch(/incorrect|malformed/i);
      expect(malformed, line).toBe('');
      // checksum status 1 = good (the first of them, for the outer message)
      const status = what === 'UDP' ? udpSum : what === 'TCP' ? tcpSum : icmpSum;
      expect(status!.split(',')[0], line).toBe('1');
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
